"""
The package searched for txregistry plugins (storage drivers, event sinks
and access controllers).

Other distributions add modules to a C{txregistry/plugins/} directory of their
own, without an C{__init__.py}; L{twisted.plugin.pluginPackagePaths} makes
them part of this package.

A storage driver plugin provides L{txregistry.storage.interfaces.IStorageDriverFactory},
whose drivers provide L{txregistry.storage.interfaces.IStorageDriver}; a
driver with nothing faster than one read at a time can mix in
L{txregistry.storage.derived.DerivedReads} for the combined reads.
"""

from twisted.plugin import pluginPackagePaths

__path__.extend(pluginPackagePaths(__name__))  # type: ignore[name-defined]  # noqa: F821
__all__: list[str] = []

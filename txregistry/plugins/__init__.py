"""
The package searched for txregistry plugins (storage drivers, event sinks
and, later, access controllers).

Other distributions add modules to a C{txregistry/plugins/} directory of their
own, without an C{__init__.py}; L{twisted.plugin.pluginPackagePaths} makes
them part of this package.
"""

from twisted.plugin import pluginPackagePaths

__path__.extend(pluginPackagePaths(__name__))  # type: ignore[name-defined]  # noqa: F821
__all__: list[str] = []

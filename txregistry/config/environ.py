"""
Distribution's C{REGISTRY_*} environment overrides.

Each variable C{REGISTRY_A_B_C} names a path through the configuration tree,
one segment per C{_}-separated part.  The variables are applied in lexical
order of their names, so C{REGISTRY_STORAGE} replaces the storage section
before C{REGISTRY_STORAGE_S3_BUCKET} adds to it.  How a segment is matched
depends on the node it meets (see L{Node.locate}): a fixed-key section
matches Go field names case-insensitively, a free map matches existing keys
case-insensitively or creates a lower-case one, a list takes an index (the
length appends).  The value is read as YAML.

Two things Distribution does are not copied: it cannot descend into a
mapping nested in untyped data (driver parameters, C{storage.maintenance})
that came from the file, and it cannot set a list entry that is a scalar
(C{..._HOSTS_0}); here both work.
"""

from __future__ import annotations

from collections.abc import Mapping

from txregistry.config.errors import ConfigError
from txregistry.config.nodes import BadIndex, Node, Warnings

PREFIX = "REGISTRY_"
PATH_VARIABLE = "REGISTRY_CONFIGURATION_PATH"
"""Names the configuration file; not an override."""
VERSION_VARIABLE = "REGISTRY_VERSION"
"""Would override the version, which Distribution does not allow."""


def apply_environment(
    document: dict, schema: Node, environ: Mapping[str, str], warnings: Warnings
) -> None:
    """
    Apply the overrides found in C{environ} to C{document}, in place.

    @param document: the configuration as plain data.
    @param schema: the node for the whole document.
    @param warnings: gets a line for each variable that names nothing.
    @raise ConfigError: naming the variable, when its value is not YAML or it
        names a list entry that cannot be reached.
    """
    for name in sorted(environ):
        if not name.startswith(PREFIX) or name == PATH_VARIABLE:
            continue
        if name == VERSION_VARIABLE:
            warnings.append(f"ignoring {name}: the version cannot be overridden")
            continue
        try:
            _overwrite(schema, document, name.split("_")[1:], environ[name], name, warnings)
        except BadIndex as error:
            raise ConfigError(name, str(error)) from None


def _overwrite(
    node: Node, container: dict | list, path: list[str], payload: str, name: str,
    warnings: Warnings,
) -> None:
    """
    Set C{payload} at C{path} below C{container}, the current value of
    C{node}.
    """
    found = node.locate(path[0], container, len(path) == 1)
    if found is None:
        warnings.append(f"ignoring unrecognized environment variable {name}")
        return
    key, child = found
    if len(path) == 1:
        container[key] = child.from_env(payload, name)
        return
    inner = child.adopt(container.get(key) if isinstance(container, dict) else container[key])
    if inner is None and child.container is not None:
        inner = child.container()
    if not isinstance(inner, (dict, list)):
        warnings.append(f"ignoring environment variable {name}: it names a key inside a value")
        return
    container[key] = inner
    _overwrite(child, inner, path[1:], payload, name, warnings)

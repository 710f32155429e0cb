"""
Reading a configuration: the file (or the built-in default), then the
C{REGISTRY_*} environment overrides, then the checks.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import attrs
import yaml

from txregistry.config.environ import apply_environment
from txregistry.config.errors import ConfigError
from txregistry.config.model import SCHEMA, VERSION, Config
from txregistry.config.nodes import expected, plain
from txregistry.config.unsupported import check_supported


def default_root_directory(environ: Mapping[str, str]) -> str:
    """
    Where the built-in default configuration keeps its data:
    C{$XDG_DATA_HOME/txregistry}, or C{~/.local/share/txregistry}.
    """
    data_home = environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
    return os.path.join(data_home, "txregistry")


DEFAULT_ROOT_DIRECTORY = default_root_directory(os.environ)
"""The filesystem root used when no configuration file is given."""


def default_document() -> dict:
    """
    The configuration used when no file is given: filesystem storage under
    L{DEFAULT_ROOT_DIRECTORY}, listening on 127.0.0.1:5000 only.
    """
    return {
        "version": VERSION,
        "log": {"level": "info"},
        "storage": {"filesystem": {"rootdirectory": DEFAULT_ROOT_DIRECTORY}},
        "http": {"addr": "127.0.0.1:5000"},
    }


def read_document(path: str) -> object:
    """
    Read a YAML file into plain data.

    @raise ConfigError: keyed by C{path}, when the file cannot be read or is
        not YAML.
    """
    try:
        with open(path, "rb") as stream:
            return yaml.safe_load(stream)
    except OSError as error:
        raise ConfigError(path, f"cannot read the configuration: {error.strerror}") from None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(path, f"invalid YAML{where}: {error.problem or error.context}") from None
    except yaml.YAMLError as error:
        raise ConfigError(path, f"invalid YAML: {error}") from None


def parse_config(document: object, environ: Mapping[str, str] | None = None,
                 supported_only: bool = True) -> Config:
    """
    Check a configuration document, after applying environment overrides.

    @param document: the configuration as plain data (as C{yaml.safe_load}
        gives it); not changed.
    @param environ: the environment to take C{REGISTRY_*} overrides from;
        C{None} for C{os.environ}.
    @param supported_only: refuse features txregistry does not implement
        (L{check_supported}); commands that only use the storage section
        (garbage collection) pass C{False}.
    @raise ConfigError: naming the key at fault, or the environment variable.
    """
    if document is None:
        document = {}
    if not isinstance(document, Mapping):
        raise expected("", "a mapping at the top of the configuration", document)
    raw = plain(document)
    warnings: list[str] = []
    apply_environment(raw, SCHEMA, os.environ if environ is None else environ, warnings)
    config = SCHEMA.validate(raw, "", warnings)
    config = attrs.evolve(config, raw=raw, warnings=warnings)
    if supported_only:
        check_supported(config)
    return config


def load_config(path: str | None = None, environ: Mapping[str, str] | None = None,
                supported_only: bool = True) -> Config:
    """
    Load a configuration file, or the built-in default.

    @param path: the YAML file; C{None} for L{default_document}.  (Choosing
        the path, e.g. from C{REGISTRY_CONFIGURATION_PATH}, is the caller's
        business.)
    @param environ: see L{parse_config}.
    @param supported_only: see L{parse_config}.
    @raise ConfigError: see L{read_document} and L{parse_config}.
    """
    document = default_document() if path is None else read_document(path)
    return parse_config(document, environ, supported_only)

"""
The configuration: Distribution's YAML format, with its C{REGISTRY_*}
environment overrides, checked into frozen attrs classes.

Errors name the key at fault (L{ConfigError}); features not implemented yet are
refused at load time (L{txregistry.config.unsupported}); unknown keys are
ignored, as Distribution ignores them, and listed in L{Config.warnings}.
"""

from txregistry.config.duration import parse_duration
from txregistry.config.errors import ConfigError
from txregistry.config.loader import (
    DEFAULT_ROOT_DIRECTORY,
    default_root_directory,
    load_config,
    parse_config,
)
from txregistry.config.model import (
    AuthConfig,
    CatalogConfig,
    Config,
    EndpointConfig,
    HealthConfig,
    HTTPConfig,
    LogConfig,
    NotificationsConfig,
    StorageConfig,
    TagsConfig,
    ValidationConfig,
)

__all__ = [
    "DEFAULT_ROOT_DIRECTORY",
    "AuthConfig",
    "CatalogConfig",
    "Config",
    "ConfigError",
    "EndpointConfig",
    "HTTPConfig",
    "HealthConfig",
    "LogConfig",
    "NotificationsConfig",
    "StorageConfig",
    "TagsConfig",
    "ValidationConfig",
    "default_root_directory",
    "load_config",
    "parse_config",
    "parse_duration",
]

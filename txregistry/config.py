"""
The configuration file: Distribution's YAML format with REGISTRY_* overrides.

(Placeholder: the loader is being written; only the error type exists yet.)
"""


class ConfigError(Exception):
    """
    The configuration is invalid.

    @ivar key: the dotted key at fault, e.g. C{storage.filesystem.maxthreads}.
    """

    def __init__(self, key: str, message: str):
        self.key = key
        super().__init__(f"{key}: {message}" if key else message)

"""
The error raised for an invalid configuration.
"""


class ConfigError(Exception):
    """
    The configuration is invalid.

    @ivar key: the dotted key at fault, e.g. C{storage.filesystem.maxthreads}
        or C{notifications.endpoints[0].url}; the name of the environment
        variable when the fault is in a C{REGISTRY_*} override; the file's path
        when the file cannot be read or is not YAML; C{""} for the document as
        a whole.
    @ivar message: what is wrong, without the key.
    """

    def __init__(self, key: str, message: str):
        self.key = key
        self.message = message
        super().__init__(f"{key}: {message}" if key else message)

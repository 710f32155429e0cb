"""
Log output as the C{log} section asks: level, text or JSON lines, and static
fields on every event.  Everything logs through L{twisted.logger}.
"""

import sys

from twisted.logger import (
    FileLogObserver,
    FilteringLogObserver,
    LogLevel,
    LogLevelFilterPredicate,
    formatEventAsClassicLogText,
    jsonFileLogObserver,
)
from twisted.python import logfile

LEVELS = {  # the log.level names
    "debug": LogLevel.debug,
    "info": LogLevel.info,
    "warn": LogLevel.warn,
    "error": LogLevel.error,
}


def _text_with_fields(fields: dict):
    suffix = "".join(f" {key}={value}" for key, value in sorted(fields.items()))

    def format_event(event):
        text = formatEventAsClassicLogText(event)
        if text is None or not suffix:
            return text
        return text[:-1] + suffix + "\n"

    return format_event


def _with_fields(observer, fields: dict):
    def observe(event):
        for key, value in fields.items():
            event.setdefault(key, value)
        observer(event)

    return observe


def make_observer(log_config, out):
    """
    A log observer writing to the file object C{out}.

    @param log_config: the C{log} section of the configuration.
    """
    fields = dict(log_config.fields)
    if log_config.formatter == "json":
        # One JSON object per line, as Distribution writes, without the RFC
        # 7464 record separator Twisted puts before each by default.
        observer = _with_fields(jsonFileLogObserver(out, recordSeparator=""), fields)
    else:
        observer = FileLogObserver(out, _text_with_fields(fields))
    predicate = LogLevelFilterPredicate(defaultLogLevel=LEVELS[log_config.level])
    return FilteringLogObserver(observer, [predicate])


def twistd_log_file(twistd_options):
    """
    The file twistd would log to for these options: standard output when
    not daemonized without C{--logfile}, or with C{--logfile=-}; else the
    (rotated) log file, C{twistd.log} by default.
    """
    name = twistd_options.get("logfile")
    if name == "-" or (twistd_options.get("nodaemon") and not name):
        return sys.stdout
    return logfile.LogFile.fromFullPath(name or "twistd.log")

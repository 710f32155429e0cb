"""
Tests for L{txregistry.logs}: the observers the C{log} section asks for.
"""

import io
import json

from twisted.logger import Logger
from twisted.trial.unittest import SynchronousTestCase

from txregistry.config import parse_config
from txregistry.logs import make_observer


def log_section(**log):
    """
    The C{log} section of a configuration with these keys.
    """
    return parse_config({"version": "0.1", "log": log, "storage": {"inmemory": {}}}, {}).log


class MakeObserverTests(SynchronousTestCase):
    """
    L{make_observer} writes events as text or JSON, with the static fields.
    """

    def emit(self, **log) -> str:
        """
        Log one info and one debug event through an observer for this
        C{log} section; return what it wrote.
        """
        out = io.StringIO()
        logger = Logger(namespace="test", observer=make_observer(log_section(**log), out))
        logger.info("hello {who}", who="world")
        logger.debug("not at info level")
        return out.getvalue()

    def test_json_lines(self):
        """
        C{formatter: json} writes one JSON object per line, nothing before
        it, with the C{fields}.
        """
        written = self.emit(level="info", formatter="json", fields={"service": "registry"})
        [line] = written.splitlines()
        event = json.loads(line)
        self.assertEqual((event["who"], event["service"]), ("world", "registry"))
        self.assertEqual(event["log_format"], "hello {who}")

    def test_text(self):
        """
        The text formatter writes the message with the fields appended.
        """
        written = self.emit(level="info", fields={"service": "registry"})
        [line] = written.splitlines()
        self.assertTrue(line.endswith("hello world service=registry"), line)

    def test_level(self):
        """
        C{level} filters: debug events appear only at C{debug}; at C{error},
        info events are dropped too.
        """
        self.assertIn("not at info level", self.emit(level="debug"))
        self.assertNotIn("not at info level", self.emit(level="info"))
        self.assertEqual(self.emit(level="error"), "")
        self.assertNotIn("hello world", self.emit(level="warn"))
        self.assertIn("hello world", self.emit(level="INFO"))

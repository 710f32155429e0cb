"""
Tests for L{txregistry.web.request}.
"""

import uuid

from twisted.trial.unittest import SynchronousTestCase
from twisted.web.test.requesthelper import DummyChannel

from txregistry.web.request import RegistryRequest


class RequestIdTests(SynchronousTestCase):
    """
    Every request gets an id of its own, shaped as a UUID.
    """

    def test_ids(self):
        """
        Ids parse as version 4 UUIDs and differ from one request to the next.
        """
        ids = [RegistryRequest(DummyChannel()).request_id for _ in range(3)]
        for request_id in ids:
            self.assertEqual(str(uuid.UUID(request_id)), request_id)
            self.assertEqual(uuid.UUID(request_id).version, 4)
        self.assertEqual(len(set(ids)), 3)

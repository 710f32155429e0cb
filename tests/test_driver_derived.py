"""
Tests for L{txregistry.storage.derived}: the shared driver suite against a
driver whose combined reads come from L{DerivedReads}.
"""

from twisted.trial.unittest import TestCase

from tests.driver_suite import DriverTests
from txregistry.storage.derived import DerivedReads
from txregistry.storage.drivers.inmemory import InMemoryDriver


class DerivedReadsDriver(DerivedReads, InMemoryDriver):
    """
    The in-memory driver with its combined reads replaced by the derived
    ones, as a third-party driver with only the basic reads would have them.
    """


class DerivedReadsTests(DriverTests, TestCase):
    """
    A driver built on L{DerivedReads} keeps the driver contract.
    """

    def make_driver(self) -> DerivedReadsDriver:
        return DerivedReadsDriver()

"""
L{txregistry.gc.claims}: claims, pins and deletion windows.
"""

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from txregistry.gc.claims import NO_CLAIMS, Claims
from txregistry.registry.reference import Digest

D = Digest.of(b"d")
E = Digest.of(b"e")


class ClaimsTests(SynchronousTestCase):
    """
    L{Claims} protects what was claimed since a cutoff and what is pinned,
    and makes claims wait for a deletion in progress.
    """

    def setUp(self):
        self.clock = Clock()
        self.clock.advance(1000)
        self.claims = Claims(self.clock)

    def test_claimProtectsSinceCutoff(self):
        """
        A claim protects its digest from runs whose cutoff is at or before
        the claim; a deletion window then does not open.
        """
        self.successResultOf(self.claims.claim(D))
        self.assertTrue(self.claims.protected(D, cutoff=1000))
        self.assertFalse(self.claims.protected(D, cutoff=1000.5))
        self.assertFalse(self.claims.protected(E, cutoff=0))
        self.assertFalse(self.claims.begin_delete(D, cutoff=999))
        self.assertTrue(self.claims.begin_delete(D, cutoff=1001))

    def test_pinsLastUntilReleased(self):
        """
        A pinned digest is protected whatever the cutoff, until its last
        hold is released; it is then claimed as of the release.
        """
        first = self.claims.hold(D)
        with self.claims.hold() as second:
            second.pin([D, E])
            self.clock.advance(100)
            self.assertTrue(self.claims.protected(D, cutoff=2000))
        self.assertTrue(self.claims.protected(D, cutoff=2000))
        self.assertFalse(self.claims.protected(E, cutoff=1101))
        self.assertTrue(self.claims.protected(E, cutoff=1100))
        self.clock.advance(10)
        first.release()
        self.assertFalse(self.claims.protected(D, cutoff=1111))
        self.assertTrue(self.claims.protected(D, cutoff=1110))

    def test_claimWaitsForDeletion(self):
        """
        A claim made while its digest's deletion window is open fires when
        the window closes; other digests are not held up.
        """
        self.assertTrue(self.claims.begin_delete(D, cutoff=2000))
        self.assertFalse(self.claims.begin_delete(D, cutoff=2000))
        waiting = self.claims.claim(D)
        self.assertNoResult(waiting)
        self.successResultOf(self.claims.claim(E))
        self.claims.end_delete(D)
        self.successResultOf(waiting)

    def test_forget(self):
        """
        Claims made before the given time are dropped, pinned ones are not.
        """
        self.claims.claim(D)
        hold = self.claims.hold(E)
        self.clock.advance(50)
        self.claims.forget(before=1010)
        self.assertFalse(self.claims.protected(D, cutoff=0))
        self.assertTrue(self.claims.protected(E, cutoff=5000))
        hold.release()

    def test_noClaims(self):
        """
        L{NO_CLAIMS} records nothing and never holds a deletion back.
        """
        self.successResultOf(NO_CLAIMS.claim(D))
        with NO_CLAIMS.hold(D) as hold:
            hold.pin([E])
            self.assertFalse(NO_CLAIMS.protected(D, cutoff=0))
            self.assertTrue(NO_CLAIMS.begin_delete(D, cutoff=0))
        NO_CLAIMS.end_delete(D)
        NO_CLAIMS.forget(0)

# -*- test-case-name: tests.test_gc_claims -*-
"""
Claims: what the API is using right now, so that online garbage collection
leaves it alone.

Every API path that relies on a digest's content staying in storage (a blob
C{HEAD} or C{GET}, a mount, an upload completing, a manifest push checking
its references) first I{claims} the digest, synchronously, and only then
looks at storage.  A claim is a timestamp; a I{pin} is a claim that lasts
until it is released (a manifest push pins everything it refers to while it
checks and stores it).

Digests are keys as strings, whether given as strings or as
L{txregistry.registry.reference.Digest}s.

Garbage collection deletes what belongs to a digest (its blob, the links to
it, a manifest revision) only inside a I{deletion window} for that digest,
opened with L{Claims.begin_delete}.  The window opens only if the digest is
neither pinned nor claimed since the run's cutoff, and the check and the
opening happen in the same reactor turn.  A claim made while a window is
open waits (L{Claims.claim} returns a L{Deferred}) until the window closes,
so the claimer then sees storage without the deleted content.  So for any
digest, either the claim comes first and no window opens for it within the
grace period, or the window comes first and the claimer sees the deletion
complete: never a reader that saw content which is then deleted under it.

The argument in full, and how this extends to several processes, is in
C{docs/gc.md}.
"""

import collections

from twisted.internet.defer import Deferred, succeed


class Hold:
    """
    Digests pinned by one operation (see L{Claims.hold}).
    """

    def __init__(self, claims: "Claims"):
        self._claims = claims
        self._pinned = []

    def pin(self, digests) -> None:
        """
        Pin each of C{digests} (an iterable) until L{release}.
        """
        for digest in digests:
            self._claims._pin(digest)
            self._pinned.append(digest)

    def release(self) -> None:
        """
        Unpin everything; each digest stays claimed as of now.
        """
        pinned, self._pinned = self._pinned, []
        for digest in pinned:
            self._claims._unpin(digest)

    def __enter__(self) -> "Hold":
        return self

    def __exit__(self, *exc_info) -> None:
        self.release()


class Claims:
    """
    The claims of this process, for the online garbage collector.
    """

    def __init__(self, clock):
        """
        @param clock: an L{IReactorTime} giving the time claims are made.
        """
        self._clock = clock
        self._claimed = {}
        self._pins = collections.Counter()
        self._deleting = {}

    def claim(self, digest) -> Deferred:
        """
        Claim C{digest} as of now.

        @return: a L{Deferred} that fires once no deletion of C{digest} is in
            progress (at once, usually).
        """
        digest = str(digest)
        self._claimed[digest] = self._clock.seconds()
        waiting = self._deleting.get(digest)
        if waiting is None:
            return succeed(None)
        done = Deferred()
        waiting.append(done)
        return done

    def hold(self, *digests) -> Hold:
        """
        Pin C{digests} (and whatever is later pinned through the result)
        until the result is released; it is also a context manager.
        """
        hold = Hold(self)
        hold.pin(digests)
        return hold

    def _pin(self, digest) -> None:
        digest = str(digest)
        self._pins[digest] += 1
        self._claimed[digest] = self._clock.seconds()

    def _unpin(self, digest) -> None:
        digest = str(digest)
        self._pins[digest] -= 1
        if not self._pins[digest]:
            del self._pins[digest]
        self._claimed[digest] = self._clock.seconds()

    def protected(self, digest, cutoff: float) -> bool:
        """
        Whether C{digest} is pinned, or was claimed at or after C{cutoff}.
        """
        digest = str(digest)
        return digest in self._pins or self._claimed.get(digest, cutoff - 1) >= cutoff

    def begin_delete(self, digest, cutoff: float) -> bool:
        """
        Open the deletion window of C{digest}, unless it is protected (see
        L{protected}) or its window is open already.

        @return: whether the window was opened; if so the caller must call
            L{end_delete} when its deletions are done.
        """
        digest = str(digest)
        if digest in self._deleting or self.protected(digest, cutoff):
            return False
        self._deleting[digest] = []
        return True

    def end_delete(self, digest) -> None:
        """
        Close the deletion window of C{digest}: claims waiting for it go on.
        """
        for waiting in self._deleting.pop(str(digest)):
            waiting.callback(None)

    def forget(self, before: float) -> None:
        """
        Drop unpinned claims made before C{before}: no later run can be
        protecting them (its cutoff is later).
        """
        self._claimed = {
            digest: when
            for digest, when in self._claimed.items()
            if when >= before or digest in self._pins
        }


class NoClaims:
    """
    The claims of a registry that runs no online garbage collection (or of
    the offline collector, which runs alone): nothing is recorded and every
    deletion window opens.
    """

    def claim(self, digest) -> Deferred:
        """
        See L{Claims.claim}: fires at once.
        """
        return succeed(None)

    def hold(self, *digests) -> Hold:
        """
        See L{Claims.hold}: pins nothing.
        """
        return _NO_HOLD

    def protected(self, digest, cutoff: float) -> bool:
        """
        See L{Claims.protected}: never.
        """
        return False

    def begin_delete(self, digest, cutoff: float) -> bool:
        """
        See L{Claims.begin_delete}: always.
        """
        return True

    def end_delete(self, digest) -> None:
        """
        See L{Claims.end_delete}.
        """

    def forget(self, before: float) -> None:
        """
        See L{Claims.forget}.
        """


class _NoHold(Hold):
    """
    The hold of L{NoClaims}: pins nothing.
    """

    def __init__(self):
        super().__init__(None)

    def pin(self, digests) -> None:
        """
        Pin nothing.
        """

    def release(self) -> None:
        """
        Nothing to release.
        """


_NO_HOLD = _NoHold()

#: The claims of a registry without online garbage collection.
NO_CLAIMS = NoClaims()

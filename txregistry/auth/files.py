# -*- test-case-name: tests.test_auth_htpasswd -*-
"""
Files access control reads while serving (htpasswd files, ACLs): read in a
thread, and read again when they change.
"""

import os
from collections.abc import Callable
from functools import partial

from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.threads import deferToThreadPool

#: Seconds during which a file is not looked at again.
CHECK_INTERVAL = 1.0


def in_thread(reactor) -> Callable[..., Deferred]:
    """
    Run blocking calls in C{reactor}'s thread pool: C{run(f, *args)}
    returns a L{Deferred} of C{f(*args)}.
    """
    return partial(deferToThreadPool, reactor, reactor.getThreadPool())


def inline(f, *args) -> Deferred:
    """
    Run C{f(*args)} now, as L{in_thread}'s result would (for tests and
    calls known to be quick).
    """
    return maybeDeferred(f, *args)


class FileProblem(Exception):
    """
    A watched file cannot be read or does not parse.
    """


def _signature(path: str) -> tuple:
    status = os.stat(path)
    return (status.st_ino, status.st_size, status.st_mtime_ns)


class WatchedFile:
    """
    The parsed content of a file, parsed again when the file changes (its
    inode, size or modification time), looked at most once per
    L{CHECK_INTERVAL}.

    While the file is missing or does not parse, L{current} fails with
    L{FileProblem}: whatever depends on it refuses rather than serves from
    a file that is gone.
    """

    def __init__(self, path: str, parse: Callable[[bytes], object], clock,
                 run_blocking: Callable[..., Deferred]):
        """
        @param parse: turns the file's bytes into its value; raises
            L{ValueError} with a message for content it refuses.
        @param clock: an L{IReactorTime}.
        @param run_blocking: runs file I/O off the reactor thread (see
            L{in_thread}).
        """
        self.path = path
        self._parse = parse
        self._clock = clock
        self._run = run_blocking
        self._signature = None
        self._value = None
        self._problem = None
        self._checked_at = None
        self._waiting = None

    def current(self) -> Deferred:
        """
        @return: a L{Deferred} of the parsed content.
        """
        now = self._clock.seconds()
        if self._checked_at is not None and now - self._checked_at < CHECK_INTERVAL:
            return self._outcome()
        d = Deferred()
        if self._waiting is None:
            self._waiting = [d]
            loading = self._run(self._load, self._signature)
            loading.addErrback(lambda f: (None, None, f"{self.path}: {f.getErrorMessage()}"))
            loading.addCallback(self._loaded, now)
        else:
            self._waiting.append(d)
        return d

    def _outcome(self) -> Deferred:
        d = Deferred()
        if self._problem is not None:
            d.errback(FileProblem(self._problem))
        else:
            d.callback(self._value)
        return d

    def _load(self, known):
        # In a thread: nothing is parsed again while the file is unchanged.
        try:
            signature = _signature(self.path)
            if signature == known:
                return signature, None, None
            with open(self.path, "rb") as f:
                content = f.read()
            return signature, self._parse(content), None
        except OSError as e:
            return None, None, f"{self.path}: {e.strerror}"
        except ValueError as e:
            return None, None, f"{self.path}: {e}"

    def _loaded(self, result, now) -> None:
        signature, value, problem = result
        if problem is not None or signature != self._signature:
            self._signature, self._value, self._problem = signature, value, problem
        self._checked_at = now
        waiting, self._waiting = self._waiting, None
        for d in waiting:
            self._outcome().chainDeferred(d)

"""
Upload purging (C{storage.maintenance.uploadpurging}): remove upload
sessions started more than C{age} ago, as Distribution's purger does.

Sessions are found by walking C{repositories/} and descending only into
C{_uploads}; a session's age is its C{startedat}.  A session without a
readable C{startedat} is never purged (Distribution treats it as started in
the far future).
"""

import random
from datetime import datetime, timezone

from twisted.application.service import Service
from twisted.internet.defer import ensureDeferred
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from txregistry.registry.uploads import is_upload_id
from txregistry.storage import layout
from txregistry.storage.interfaces import SKIP_DIR, PathNotFoundError

_log = Logger()


def _parse_started_at(content: bytes) -> float | None:
    try:
        text = content.decode("ascii").strip()
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (UnicodeDecodeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


async def find_sessions(driver) -> list[str]:
    """
    The directories of every upload session in the store.
    """
    sessions = []

    def visit(info):
        if not info.is_dir:
            return None
        parent, _, leaf = info.path.rpartition("/")
        if parent.endswith("/_uploads"):
            if is_upload_id(leaf):
                sessions.append(info.path)
            return SKIP_DIR
        if leaf.startswith("_") and leaf != "_uploads":
            return SKIP_DIR
        return None

    try:
        await driver.walk(layout.REPOSITORIES, visit)
    except PathNotFoundError:
        pass
    return sessions


async def purge_uploads(driver, now: float, age: float, dry_run: bool = False) -> list[str]:
    """
    Remove sessions started before C{now - age}.

    @return: the session directories removed (or that would be, in a dry run).
    """
    removed = []
    for session in await find_sessions(driver):
        try:
            started = _parse_started_at(await driver.get_content(f"{session}/startedat"))
        except PathNotFoundError:
            started = None
        if started is None:
            _log.warn("upload session {session} has no valid startedat; kept", session=session)
            continue
        if started > now - age:
            continue
        removed.append(session)
        if dry_run:
            _log.info("would purge upload session {session}", session=session)
            continue
        try:
            await driver.delete(session)
        except PathNotFoundError:
            continue
        _log.info("purged upload session {session}", session=session)
    return removed


class UploadPurger(Service):
    """
    Runs L{purge_uploads} every C{interval} seconds, the first time after a
    random delay of up to an hour (so that replicas do not purge together),
    as Distribution does.
    """

    def __init__(self, driver, clock, age: float, interval: float, dry_run: bool,
                 first_delay: float | None = None):
        self._driver = driver
        self._clock = clock
        self._age = age
        self._interval = interval
        self._dry_run = dry_run
        self._first_delay = random.uniform(0, 3600) if first_delay is None else first_delay
        self._loop = None
        self._loop_done = None
        self._start_call = None

    def _run(self):
        return ensureDeferred(
            purge_uploads(self._driver, self._clock.seconds(), self._age, self._dry_run)
        ).addErrback(lambda f: _log.failure("upload purging failed", f))

    def _start_loop(self):
        self._start_call = None
        self._loop = LoopingCall(self._run)
        self._loop.clock = self._clock
        self._loop_done = self._loop.start(self._interval, now=True)

    def startService(self):
        """
        Schedule the first run.
        """
        super().startService()
        self._start_call = self._clock.callLater(self._first_delay, self._start_loop)

    def stopService(self):
        """
        Stop purging; wait for a run in progress.
        """
        super().stopService()
        if self._start_call is not None:
            self._start_call.cancel()
            self._start_call = None
        if self._loop is not None and self._loop.running:
            self._loop.stop()
            return self._loop_done
        return None

"""
Upload purging (C{storage.maintenance.uploadpurging}): remove upload
sessions abandoned for more than C{age}, as Distribution's purger does.

Sessions are found by walking C{repositories/} and descending only into
C{_uploads}.  Distribution purges a session C{age} after its C{startedat},
even while a client still sends it data; here a session's age counts from
its last activity (its C{startedat} or the last write to its data,
whichever is later), and a session a request of this process holds is never
purged.  A session without a readable C{startedat} is never purged
(Distribution treats it as started in the far future).
"""

import random
from datetime import datetime, timezone

from twisted.application.service import Service
from twisted.internet.defer import ensureDeferred
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from txregistry.registry.uploads import is_upload_id, remove_session
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


def _session_name(session: str) -> tuple[str, str]:
    """
    The repository name and upload id of a session directory.
    """
    repository, _, upload_id = session[len(layout.REPOSITORIES) + 1:].rpartition("/_uploads/")
    return repository, upload_id


async def _last_activity(driver, session: str) -> float | None:
    """
    When the session was last used: its C{startedat}, or the last write to
    its data if later; C{None} without a valid C{startedat}.
    """
    try:
        started = _parse_started_at(await driver.get_content(f"{session}/startedat"))
    except PathNotFoundError:
        return None
    if started is None:
        return None
    try:
        written = (await driver.stat(f"{session}/data")).mtime
    except PathNotFoundError:
        return started
    return max(started, written)


async def purge_uploads(driver, now: float, age: float, dry_run: bool = False,
                        uploads=None) -> list[str]:
    """
    Remove sessions not used since C{now - age}.

    @param uploads: the L{UploadStore} whose requests may be using sessions
        (those are kept), if any.
    @return: the session directories removed (or that would be, in a dry run).
    """
    removed = []
    for session in await find_sessions(driver):
        last = await _last_activity(driver, session)
        if last is None:
            _log.warn("upload session {session} has no valid startedat; kept", session=session)
            continue
        if last > now - age:
            continue
        if dry_run:
            removed.append(session)
            _log.info("would purge upload session {session}", session=session)
            continue
        if await _remove_idle(driver, session, now - age, uploads):
            removed.append(session)
            _log.info("purged upload session {session}", session=session)
    return removed


async def _remove_idle(driver, session: str, cutoff: float, uploads) -> bool:
    release = None if uploads is None else uploads.try_lock(*_session_name(session))
    if uploads is not None and release is None:
        return False  # a request is using it right now
    try:
        if uploads is not None:
            # Used between the first look and the lock?
            last = await _last_activity(driver, session)
            if last is None or last > cutoff:
                return False
        await remove_session(driver, session)
    except PathNotFoundError:
        return False
    finally:
        if release is not None:
            release()
    return True


class UploadPurger(Service):
    """
    Runs L{purge_uploads} every C{interval} seconds, the first time after a
    random delay (so that replicas do not purge together) of up to an hour,
    as Distribution does, or up to C{interval} if that is shorter.
    """

    def __init__(self, driver, clock, age: float, interval: float, dry_run: bool,
                 first_delay: float | None = None, uploads=None):
        """
        @param uploads: the L{UploadStore} serving requests, whose sessions
            in use are kept.
        """
        self._driver = driver
        self._clock = clock
        self._age = age
        self._interval = interval
        self._dry_run = dry_run
        self._uploads = uploads
        if first_delay is None:
            first_delay = random.uniform(0, min(3600, interval))
        self._first_delay = first_delay
        self._loop = None
        self._loop_done = None
        self._start_call = None

    def _run(self):
        return ensureDeferred(
            purge_uploads(
                self._driver, self._clock.seconds(), self._age, self._dry_run, self._uploads
            )
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

"""
Blob upload sessions, kept in storage the way Distribution keeps them.

A session is the directory C{_uploads/<uuid>} of a repository, holding
C{startedat} (its existence is the session's existence) and C{data}, the
bytes received so far.  Everything a later request needs lives there, so a
session survives a restart and can be continued by another process.

C{data} is removed before the rest of a session, so while it exists so does
C{startedat}: a request that finds C{data} needs no second look.

The running digest of each session is kept in this process only, keyed by
session and offset; when it is missing or stale (a restart, another
process, a failed write) the stored prefix is hashed again, in pieces.
"""

import collections
import uuid
from datetime import datetime, timezone

from twisted.internet.defer import DeferredLock

from txregistry.registry import errors
from txregistry.registry.blobs import BlobDescriptor, BlobStore, RepositoryBlobs
from txregistry.registry.reference import Digest
from txregistry.storage import layout
from txregistry.storage.interfaces import PathNotFoundError

#: The size of each piece read back when a stored prefix must be hashed again.
REHASH_PIECE = 1024 * 1024
_UUID_LENGTH = 36


def is_upload_id(text: str) -> bool:
    """
    Whether C{text} is an upload id this registry could have made: a
    lowercase RFC 4122 UUID string (what Distribution makes too).
    """
    if len(text) != _UUID_LENGTH or text != text.lower():
        return False
    try:
        return str(uuid.UUID(text)) == text
    except ValueError:
        return False


def rfc3339_now(clock) -> str:
    """
    The current time as Distribution writes C{startedat}: RFC 3339, UTC,
    whole seconds.
    """
    moment = datetime.fromtimestamp(int(clock.seconds()), tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


async def hash_stored(driver, path: str, algorithm: str, size: int):
    """
    Hash the first C{size} bytes stored at C{path}, in pieces of at most
    L{REHASH_PIECE} so no single step holds the reactor long.

    @return: the hashlib object after those bytes.
    """
    hasher = Digest(algorithm, "").hasher()
    if size == 0:
        return hasher
    reader = await driver.reader(path, 0)
    try:
        remaining = size
        while remaining:
            piece = await reader.read(min(REHASH_PIECE, remaining))
            if not piece:
                raise errors.RegistryError(
                    errors.BLOB_UPLOAD_INVALID, detail="upload data shorter than expected"
                )
            hasher.update(piece)
            remaining -= len(piece)
    finally:
        await reader.close()
    return hasher


async def remove_session(driver, session: str, data_kept: bool = True) -> None:
    """
    Remove the session directory C{session}: its C{data} first (unless
    C{data_kept} is false), then the rest, so that C{data} never outlives
    C{startedat}, even if the process dies in between.

    @raise PathNotFoundError: if the session is gone.
    """
    if data_kept:
        try:
            await driver.delete(f"{session}/data")
        except PathNotFoundError:
            pass
    await driver.delete(session)


class _HashStates:
    """
    The running sha256 of recently used sessions, bounded in number.
    """

    def __init__(self, capacity: int = 4096):
        self._states = collections.OrderedDict()
        self._capacity = capacity

    def take(self, key, offset: int):
        """
        Remove and return the hash of session C{key} if it covers exactly
        C{offset} bytes, else C{None}.
        """
        state = self._states.pop(key, None)
        if state is not None and state[0] == offset:
            return state[1]
        return None

    def put(self, key, offset: int, hasher) -> None:
        """
        Remember that C{hasher} covers the first C{offset} bytes of C{key}.
        """
        self._states[key] = (offset, hasher)
        self._states.move_to_end(key)
        while len(self._states) > self._capacity:
            self._states.popitem(last=False)

    def forget(self, key) -> None:
        """
        Drop what is known of C{key}.
        """
        self._states.pop(key, None)


class _Locks:
    """
    One lock per session, so two requests to the same session in this
    process take turns instead of interleaving their bytes.
    """

    def __init__(self):
        self._locks = {}

    async def acquire(self, key):
        """
        Wait for the session's lock.

        @return: a callable that releases it.
        """
        lock = self._locks.setdefault(key, DeferredLock())
        await lock.acquire()
        return self._releaser(key, lock)

    def try_acquire(self, key):
        """
        Take the session's lock if it is free.

        @return: a callable that releases it, or C{None} if it is held.
        """
        lock = self._locks.setdefault(key, DeferredLock())
        if lock.locked:
            return None
        lock.acquire()
        return self._releaser(key, lock)

    def _releaser(self, key, lock):
        def release():
            lock.release()
            if not lock.locked and not lock.waiting:
                self._locks.pop(key, None)

        return release


class Appender:
    """
    Appends request body bytes to one session, hashing them on the way.

    Obtained from L{UploadStore.open}; holds the session's lock until
    L{close}, L{abort} or L{complete}.
    """

    def __init__(self, store, name, upload_id, writer, hasher, release):
        self._store = store
        self._name = name
        self._upload_id = upload_id
        self._writer = writer
        self._hasher = hasher
        self._release = release
        self._failed = False
        self.initial_offset = writer.size

    @property
    def offset(self) -> int:
        """
        The size of the session's data including everything written so far.
        """
        return self._writer.size

    def write(self, data: bytes):
        """
        Hash and append C{data}.  The storage driver hashes it where it
        writes it (away from the reactor, for the filesystem driver), so the
        hash is only read once every write has fired.

        @return: a L{Deferred} that fires when the bytes are stored.
        """
        d = self._writer.write(data, self._hasher)
        d.addErrback(self._write_failed)
        return d

    def _write_failed(self, failure):
        # The hash now covers bytes that may not be stored: never reuse it.
        self._failed = True
        return failure

    def _remember(self) -> None:
        key = (self._name, self._upload_id)
        if self._failed:
            self._store._states.forget(key)
        else:
            self._store._states.put(key, self._writer.size, self._hasher)

    async def close(self) -> int:
        """
        Persist what was appended and end this request's hold on the session.

        @return: the session's new size.
        """
        try:
            await self._writer.close()
            self._remember()
            return self._writer.size
        finally:
            self._release()

    async def abort(self) -> None:
        """
        The request went away: keep what was stored, release the session.
        """
        try:
            await self._writer.close()
        except Exception:
            self._failed = True
        finally:
            self._remember()
            self._release()

    async def complete(self, expected: Digest) -> BlobDescriptor:
        """
        Finish the session as the blob C{expected}: verify the digest of
        everything received, move the bytes into the blob store (unless the
        blob is there already), link it into the repository and remove the
        session.  Nothing is visible before the digest is verified.

        @raise errors.RegistryError: C{DIGEST_INVALID} if the bytes do not
            match; the session is cancelled, as Distribution does.
        """
        try:
            await self._writer.commit()
            if self._failed:
                raise errors.RegistryError(
                    errors.BLOB_UPLOAD_INVALID, detail="a write to storage failed"
                )
            return await self._store._finish(
                self._name, self._upload_id, self._writer.size, self._hasher, expected
            )
        finally:
            self._store._states.forget((self._name, self._upload_id))
            self._release()


class UploadStore:
    """
    Upload sessions of all repositories.
    """

    def __init__(self, driver, blobs: BlobStore, clock):
        self._driver = driver
        self._blobs = blobs
        self._clock = clock
        self._states = _HashStates()
        self._locks = _Locks()

    async def start(self, name: str) -> str:
        """
        Create a session.

        @return: its id.
        """
        upload_id = str(uuid.uuid4())
        await self._driver.put_content(
            layout.upload_started_at(name, upload_id),
            rfc3339_now(self._clock).encode("ascii"),
        )
        return upload_id

    async def start_open(self, name: str) -> Appender:
        """
        Create a session and take it to append to it (for a blob sent in
        one request).
        """
        upload_id = await self.start(name)
        release = await self._locks.acquire((name, upload_id))
        try:
            writer = await self._driver.writer(layout.upload_data(name, upload_id))
        except BaseException:
            release()
            raise
        return Appender(self, name, upload_id, writer, Digest("sha256", "").hasher(), release)

    @staticmethod
    def _check_id(upload_id: str) -> None:
        if not is_upload_id(upload_id):
            raise errors.RegistryError(errors.BLOB_UPLOAD_UNKNOWN, detail=upload_id)

    async def _require(self, name: str, upload_id: str) -> None:
        self._check_id(upload_id)
        try:
            await self._driver.stat(layout.upload_started_at(name, upload_id))
        except PathNotFoundError:
            raise errors.RegistryError(errors.BLOB_UPLOAD_UNKNOWN, detail=upload_id)

    async def offset(self, name: str, upload_id: str) -> int:
        """
        How many bytes the session holds.

        @raise errors.RegistryError: C{BLOB_UPLOAD_UNKNOWN}.
        """
        await self._require(name, upload_id)
        try:
            info = await self._driver.stat(layout.upload_data(name, upload_id))
        except PathNotFoundError:
            return 0
        return info.size

    async def open(self, name: str, upload_id: str) -> Appender:
        """
        Take the session to append to it.

        @raise errors.RegistryError: C{BLOB_UPLOAD_UNKNOWN}.
        """
        key = (name, upload_id)
        release = await self._locks.acquire(key)
        try:
            # Checked with the lock held: a request that held it may have
            # completed or cancelled the session.
            self._check_id(upload_id)
            path = layout.upload_data(name, upload_id)
            try:
                # Data there means the session is there (see the module's
                # docstring): one look instead of two.
                writer = await self._driver.writer(path, append=True, create=False)
            except PathNotFoundError:
                await self._require(name, upload_id)
                writer = await self._driver.writer(path, append=True)
            hasher = self._states.take(key, writer.size)
            if hasher is None:
                try:
                    hasher = await hash_stored(self._driver, path, "sha256", writer.size)
                except BaseException:
                    await writer.close()
                    raise
        except BaseException:
            release()
            raise
        return Appender(self, name, upload_id, writer, hasher, release)

    def try_lock(self, name: str, upload_id: str):
        """
        Take a session that no request of this process is using, so that
        none can start using it until released (for upload purging).

        @return: a callable releasing it, or C{None} if it is in use.
        """
        return self._locks.try_acquire((name, upload_id))

    async def cancel(self, name: str, upload_id: str) -> None:
        """
        Delete the session and its data.

        @raise errors.RegistryError: C{BLOB_UPLOAD_UNKNOWN}.
        """
        await self._require(name, upload_id)
        key = (name, upload_id)
        release = await self._locks.acquire(key)
        try:
            await self._delete(name, upload_id)
        finally:
            release()

    async def _delete(self, name: str, upload_id: str, data_kept: bool = True) -> None:
        """
        Remove a session, its data first.

        @param data_kept: whether C{data} may still be there (not when it
            was just moved into the blob store).
        """
        self._states.forget((name, upload_id))
        try:
            await remove_session(self._driver, layout.upload_dir(name, upload_id), data_kept)
        except PathNotFoundError:
            pass

    async def _finish(self, name, upload_id, size, hasher, expected) -> BlobDescriptor:
        canonical = Digest("sha256", hasher.hexdigest())
        # Online garbage collection must not remove the blob while it is put
        # in place and linked.
        with self._blobs.claims.hold(canonical, expected):
            return await self._finish_held(name, upload_id, size, hasher, expected, canonical)

    async def _finish_held(self, name, upload_id, size, hasher, expected, canonical):
        data_path = layout.upload_data(name, upload_id)
        if expected.algorithm == "sha256":
            actual = canonical
        else:
            other = await hash_stored(self._driver, data_path, expected.algorithm, size)
            actual = Digest(expected.algorithm, other.hexdigest())
        if actual != expected:
            await self._delete(name, upload_id)
            raise errors.RegistryError(errors.DIGEST_INVALID, detail=str(expected))
        data_kept = True
        if await self._blobs.stat(canonical) is None:
            try:
                await self._driver.move(data_path, layout.blob_data(canonical))
            except PathNotFoundError:
                # No data file at all: the empty blob.
                await self._driver.put_content(layout.blob_data(canonical), b"")
            data_kept = False
        repository = RepositoryBlobs(self._driver, self._blobs, name)
        await repository.link(canonical, canonical)
        if expected != canonical:
            await repository.link(expected, canonical)
        await self._delete(name, upload_id, data_kept)
        return BlobDescriptor(canonical, size)

"""
The storage driver boundary.

A driver stores opaque bytes under slash-separated paths; it knows nothing of
manifests, repositories or digests.  It is modelled on Distribution's
C{StorageDriver} so that object stores fit behind it: every call returns a
L{Deferred}, a writer owns its buffering (so that S3 multipart parts, Azure
blocks or GCS resumable sessions can stand behind C{append=True}), and a
reader is pulled in pieces so that a response producer can apply
back-pressure.

Paths are absolute, C{/}-separated and match L{PATH_RE}; directories are
implicit (created on write, and object stores have no empty ones).
"""

import re

import attrs
from twisted.plugin import IPlugin
from zope.interface import Attribute, Interface

#: The path grammar every driver accepts (Distribution's).
PATH_RE = re.compile(r"(?:/[A-Za-z0-9._-]+)+\Z")


class StorageError(Exception):
    """
    A storage driver failed.  Subclasses say how.

    @ivar path: the path the failed call was about, if any.
    """

    def __init__(self, path: str | None = None, message: str | None = None):
        self.path = path
        super().__init__(message or path)


class PathNotFoundError(StorageError):
    """
    Nothing is stored at the path.
    """


class InvalidPathError(StorageError):
    """
    The path does not match L{PATH_RE} or would leave the driver's root.
    """


class InvalidOffsetError(StorageError):
    """
    A read was asked to start before 0 or past the end of the content.
    """


class DriverUnavailableError(StorageError):
    """
    The backing store cannot be reached or refused the operation.
    """


def check_path(path: str, allow_root: bool = False) -> str:
    """
    Return C{path} if it is a valid driver path.

    @param allow_root: accept C{/} too (for listing, walking and stat).
    @raise InvalidPathError: otherwise.
    """
    if not isinstance(path, str) or not (
        PATH_RE.match(path) or (allow_root and path == "/")
    ):
        raise InvalidPathError(path, f"invalid path {path!r}")
    if any(part in (".", "..") for part in path.split("/")):
        raise InvalidPathError(path, f"invalid path {path!r}")
    return path


@attrs.frozen
class FileInfo:
    """
    What L{IStorageDriver.stat} and L{IStorageDriver.walk} report.

    @ivar path: the driver path.
    @ivar size: the size in bytes (0 for a directory).
    @ivar mtime: the modification time in seconds since the epoch.
    @ivar is_dir: whether the path is a directory (a prefix, for object stores).
    """

    path: str
    size: int
    mtime: float
    is_dir: bool


#: Values a L{IStorageDriver.walk} visitor may return besides C{None}.
SKIP_DIR = "skip-dir"
STOP_WALK = "stop-walk"


class IFileReader(Interface):
    """
    Sequential access to stored content, pulled in pieces.
    """

    size = Attribute("The total size of the content in bytes (not only what is left).")

    def read(max_bytes):
        """
        Read up to C{max_bytes} more bytes.

        @return: a L{Deferred} that fires with the next piece, C{b""} at the end.
        """

    def close():
        """
        Release the reader's resources.  Safe to call more than once.

        @return: a L{Deferred} that fires when done.
        """


class IFileSender(IFileReader):
    """
    A reader that can copy its content straight to a socket, inside the
    kernel (C{sendfile(2)}), so the bytes never pass through the process.
    """

    def send_to(socket_fd, max_bytes):
        """
        Copy up to C{max_bytes} more bytes to the non-blocking stream socket
        C{socket_fd}, stopping early when the socket has no room.  Calls are
        applied in order with C{read}s.

        @return: a L{Deferred} firing with the number of bytes copied (0 if
            the socket had no room); failing with L{EOFError} if the content
            is at its end, with a C{ConnectionError} if the peer is gone, or
            with L{NotImplementedError}, nothing copied, if this content or
            socket cannot be copied so (the caller reads instead).
        """


class IFileWriter(Interface):
    """
    Content being written: appended to by C{write}, then either committed,
    closed for a later append, or cancelled.

    Back-pressure: C{write} returns a L{Deferred} that fires once the data has
    been persisted (or handed to the backing store).  A caller keeps a bounded
    number of bytes in flight and waits on those Deferreds before writing
    more; calls may overlap and are applied in order.
    """

    size = Attribute("Total bytes written, including content that existed before an append.")

    def write(data, hasher=None):
        """
        Append C{data}.

        @param hasher: if given, an object whose C{update(data)} is called
            with C{data} (a hashlib object), in the order of the writes, at
            latest before the returned L{Deferred} fires.  It may be called
            in another thread, so the caller leaves C{hasher} alone until
            every write given it has fired.  Keeping the hashing beside the
            write lets a driver do both away from the reactor.
        @return: a L{Deferred} that fires when C{data} is persisted.
        """

    def close():
        """
        Persist what was written so that a later C{writer(path, append=True)}
        can continue it.  The content need not be readable yet.

        @return: a L{Deferred}.
        """

    def commit():
        """
        Persist and make the content readable at the writer's path; the writer
        is closed afterwards.

        @return: a L{Deferred}.
        """

    def cancel():
        """
        Discard the content; the writer is closed afterwards.

        @return: a L{Deferred}.
        """


class IStorageDriver(Interface):
    """
    A place to keep bytes under paths.  Every method returns a L{Deferred};
    failures are L{StorageError} subclasses.
    """

    name = Attribute("The driver's configuration name, e.g. C{filesystem}.")

    def get_content(path):
        """
        The whole content at C{path}, for small objects.

        @return: a L{Deferred} firing with L{bytes}; L{PathNotFoundError} if
            missing.
        """

    def get_contents(paths):
        """
        The whole contents of several small objects, read together (a
        filesystem driver reads them all in one thread call).

        @param paths: a sequence of paths.
        @return: a L{Deferred} firing with a L{list} holding, for each path
            in order, its L{bytes}, or C{None} if nothing is stored there.
        """

    def get_content_chain(path, follow):
        """
        Read C{path}, then the path C{follow} names, and so on, in one go
        (a filesystem driver makes one thread call): a tag's link, the
        revision link it leads to, the manifest that leads to.

        @param follow: called as C{follow(contents)} with the contents read
            so far (a L{list} of L{bytes}); returns the next path to read,
            or C{None} to stop.  It may run in any thread, so it must not
            touch the reactor or state shared with it.
        @return: a L{Deferred} firing with the L{list} of contents read, in
            order; it ends early, without an error, at the first path where
            nothing is stored.  L{InvalidPathError} if C{path} or a path
            C{follow} returns is invalid.
        """

    def put_content(path, content):
        """
        Store C{content} at C{path}, replacing anything there, atomically for
        readers; parent directories are created.
        """

    def reader(path, offset=0):
        """
        Open C{path} for reading from C{offset}.

        @return: a L{Deferred} firing with an L{IFileReader};
            L{PathNotFoundError} if missing, L{InvalidOffsetError} if
            C{offset} is negative or past the end.
        """

    def writer(path, append=False, create=True):
        """
        Open C{path} for writing.

        @param append: continue content left by a previous writer's C{close}
            instead of starting anew.
        @param create: make the file if nothing is there; if false, nothing
            is created and the result is L{PathNotFoundError} instead.
        @return: a L{Deferred} firing with an L{IFileWriter}.
        """

    def stat(path):
        """
        @return: a L{Deferred} firing with a L{FileInfo}; L{PathNotFoundError}
            if nothing is there.
        """

    def list(path):
        """
        The direct children of the directory C{path}, as full paths, unsorted.

        @return: a L{Deferred} firing with a L{list} of L{str};
            L{PathNotFoundError} if the directory does not exist.
        """

    def move(source, destination):
        """
        Move C{source} to C{destination}, replacing it; the source is gone
        afterwards.  Atomic where the store allows it.
        """

    def delete(path):
        """
        Delete C{path} and, if it is a directory, everything under it.

        @return: a L{Deferred}; L{PathNotFoundError} if nothing was there.
        """

    def walk(path, visit):
        """
        Visit every file and directory below C{path}, depth first, in lexical
        order of names, calling C{visit(FileInfo)} on the reactor thread.
        C{visit} may return L{SKIP_DIR} (do not descend into this directory),
        L{STOP_WALK} (end the walk), or C{None}; or a L{Deferred} of those,
        which the walk waits for.  Entries that vanish during the walk are
        skipped.

        @return: a L{Deferred} that fires when the walk ends;
            L{PathNotFoundError} if C{path} does not exist.
        """

    def walk_directories(path, visit):
        """
        Visit every directory below C{path} (not files), depth first, in
        lexical order of names, calling C{visit(path)} with each directory's
        path.  C{visit} returns L{SKIP_DIR} (do not descend into this
        directory), L{STOP_WALK} (end the walk) or C{None}, synchronously:
        it may run in any thread, so it must not touch the reactor or state
        shared with it.  A driver can then do the whole walk in one go,
        without describing every entry as L{walk} does.  Directories that
        vanish during the walk are skipped.

        @return: a L{Deferred} that fires when the walk ends;
            L{PathNotFoundError} if C{path} does not exist.
        """

    def redirect_url(path, method):
        """
        A URL from which a client may fetch C{path} directly, or C{None} to
        have the registry serve the bytes.

        @return: a L{Deferred} firing with a L{str} or C{None}.
        """

    def close():
        """
        Release the driver's resources (thread pools, connections).

        @return: a L{Deferred}.
        """


class IStorageDriverFactory(IPlugin):
    """
    Makes storage drivers of one kind; found with L{twisted.plugin.getPlugins}
    in the L{txregistry.plugins} package, so other distributions can add
    drivers.
    """

    name = Attribute("The key naming this driver under C{storage:} in the config.")

    shared_between_processes = Attribute(
        "Whether drivers made from the same parameters in different processes "
        "see the same content, so that several server processes (C{http.workers}) "
        "can serve one registry.  A factory without it counts as C{False}."
    )

    def validate(parameters):
        """
        Check the driver's parameters from the config.

        @param parameters: the mapping under C{storage.<name>} (may be empty).
        @raise txregistry.config.ConfigError: naming the offending key, e.g.
            C{storage.filesystem.maxthreads}.
        """

    def create(parameters, reactor):
        """
        @param parameters: the validated mapping under C{storage.<name>}.
        @return: an L{IStorageDriver}.
        """

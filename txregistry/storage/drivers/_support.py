# -*- test-case-name: tests.test_driver_inmemory,tests.test_driver_filesystem -*-
"""
Pieces of the driver contract that every built-in driver implements the same
way: turning a method's exceptions into failed L{Deferred}s, taking a private
copy of the bytes a caller hands over, and the order in which
L{IStorageDriver.walk} visits a tree.
"""

import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from twisted.internet.defer import Deferred, maybeDeferred

from txregistry.storage.interfaces import (
    SKIP_DIR,
    STOP_WALK,
    FileInfo,
    PathNotFoundError,
)


def returns_deferred(method: Callable[..., Any]) -> Callable[..., Deferred[Any]]:
    """
    Make C{method} always return a L{Deferred}: a plain result becomes a fired
    one, a coroutine is run with L{Deferred.fromCoroutine} and an exception
    becomes a failed one, as the driver interfaces promise.

    @param method: the method to wrap.
    @return: the wrapped method.
    """

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Deferred[Any]:
        return maybeDeferred(method, *args, **kwargs)

    return wrapper


def as_bytes(data: Any) -> bytes:
    """
    Return C{data} as L{bytes}, copying any other bytes-like object so that a
    caller changing its buffer afterwards cannot change what gets stored.

    @param data: a bytes-like object.
    @raise TypeError: if C{data} is not bytes-like.
    """
    if type(data) is bytes:
        return data
    return bytes(memoryview(data))


async def walk_tree(
    path: str,
    visit: Callable[[FileInfo], Any],
    children: Callable[[str], Awaitable[list[FileInfo]]],
) -> None:
    """
    Visit everything below the directory C{path} depth first, pre-order, in
    the order C{children} lists each directory, honouring the visitor's
    L{SKIP_DIR} and L{STOP_WALK}, as L{IStorageDriver.walk} describes.

    The walk keeps its own stack instead of recursing, so a deep tree cannot
    exhaust Python's stack; with a C{children} and C{visit} that return fired
    L{Deferred}s the whole walk runs synchronously.

    @param path: the directory to walk.
    @param visit: the caller's visitor; it may return C{None}, L{SKIP_DIR},
        L{STOP_WALK} or a L{Deferred} (or coroutine) of one of those.
    @param children: returns the entries directly in a directory, sorted
        lexically by name; it fails with L{PathNotFoundError} if the directory
        does not exist (any more).
    @raise PathNotFoundError: if C{path} does not exist.
    @raise ValueError: if the visitor returns anything else.
    """
    stack = [iter(await children(path))]
    while stack:
        info = next(stack[-1], None)
        if info is None:
            stack.pop()
            continue
        action = visit(info)
        if inspect.isawaitable(action):
            action = await action
        if action == STOP_WALK:
            return
        if action not in (None, SKIP_DIR):
            raise ValueError(f"walk visitor returned {action!r} for {info.path}")
        if info.is_dir and action is None:
            try:
                entries = await children(info.path)
            except PathNotFoundError:
                # Deleted since it was listed (perhaps by the visitor).
                continue
            stack.append(iter(entries))

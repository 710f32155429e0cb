"""
The catalog: every repository in the store, in Distribution's order.

A repository is a directory under C{repositories/} with a C{_manifests}
child; repositories may nest (C{a} and C{a/b}).  Names come in the order of
a depth-first walk with sorted entries, as Distribution lists them.  The
walk visits directories only, and a driver may run it all in one go away
from the reactor.
"""

from txregistry.storage import layout
from txregistry.storage.interfaces import SKIP_DIR, STOP_WALK, PathNotFoundError

_PREFIX = layout.REPOSITORIES + "/"


def _order_key(name: str) -> list[str]:
    # A repository is found when the walk reaches its _manifests directory,
    # so that is where it sits in the order (a/0 comes before a).
    return name.split("/") + ["_manifests"]


async def repositories(driver, limit: int | None = None, last: str | None = None) -> list[str]:
    """
    Repository names in catalog order.

    @param limit: stop after this many names.
    @param last: start strictly after this name in that order.
    """
    found = []
    after = _order_key(last) if last else None

    # Only the walk's thread touches found until the walk ends.
    def visit(path):
        relative = path[len(_PREFIX):]
        head, _, leaf = relative.rpartition("/")
        if leaf == "_manifests":
            if head and (after is None or _order_key(head) > after):
                found.append(head)
                if limit is not None and len(found) >= limit:
                    return STOP_WALK
            return SKIP_DIR
        if leaf.startswith("_"):
            return SKIP_DIR
        if after is not None:
            components = relative.split("/")
            # Nothing under a directory that sorts before the start point and
            # is not one of its ancestors can come after it.
            if components < after[: len(components)]:
                return SKIP_DIR
        return None

    try:
        await driver.walk_directories(layout.REPOSITORIES, visit)
    except PathNotFoundError:
        return []
    return found

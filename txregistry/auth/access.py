# -*- test-case-name: tests.test_auth_access -*-
"""
What a request needs: access records (type, name, action) as Distribution
computes them, the scope strings token servers read and write, and the
grant an access controller answers with.

 - C{GET}/C{HEAD} on a repository: C{pull};
 - C{POST}/C{PUT}/C{PATCH}: C{pull} and C{push};
 - C{DELETE}: C{delete};
 - the catalog: C{registry:catalog:*};
 - C{/v2/}: authentication only;
 - a request naming a mount source (C{from=}) would like C{pull} there:
   asked for in challenges, but not required (without it the mount becomes
   an ordinary upload).
"""

from __future__ import annotations

import attrs

from txregistry.registry import errors
from txregistry.registry.reference import validate_name

PULL = "pull"
PUSH = "push"
DELETE = "delete"
ALL = "*"
ACTIONS = (PULL, PUSH, DELETE, ALL)
"""The actions known to scopes and ACLs."""

REPOSITORY = "repository"
REGISTRY = "registry"

#: How a route is protected (the C{access} of a route in the API's table).
PUBLIC = "public"
AUTHENTICATED = "authenticated"
CATALOG = "catalog"
REPOSITORY_ROUTE = "repository"

_METHOD_ACTIONS = {
    "GET": (PULL,),
    "HEAD": (PULL,),
    "POST": (PULL, PUSH),
    "PUT": (PULL, PUSH),
    "PATCH": (PULL, PUSH),
    "DELETE": (DELETE,),
}


@attrs.frozen
class Access:
    """
    One action on one resource.

    @ivar type: C{repository} or C{registry}.
    @ivar name: the repository name, or C{catalog}.
    @ivar action: C{pull}, C{push}, C{delete} or C{*}.
    """

    type: str
    name: str
    action: str

    def to_json(self) -> dict:
        """
        The record as Distribution puts it in a 401's C{detail}.
        """
        return {"Type": self.type, "Class": "", "Name": self.name, "Action": self.action}


@attrs.frozen
class Requirements:
    """
    The access a request asks for.

    @ivar required: what it must be granted.
    @ivar wanted: what it would use if granted (a mount's source).
    """

    required: tuple[Access, ...] = ()
    wanted: tuple[Access, ...] = ()

    @property
    def asked(self) -> tuple[Access, ...]:
        """
        Everything a challenge asks a token for.
        """
        return self.required + self.wanted


def requirements(kind: str, method: str, name: str | None = None,
                 mount_source: str | None = None) -> Requirements | None:
    """
    The access a request needs.

    @param kind: how its route is protected: L{PUBLIC}, L{AUTHENTICATED},
        L{CATALOG} or L{REPOSITORY_ROUTE}.
    @param method: the HTTP method.
    @param name: the repository named in the path.
    @param mount_source: the C{from} query argument, if any.
    @return: C{None} for a public route.
    """
    if kind == PUBLIC:
        return None
    if kind == AUTHENTICATED:
        return Requirements()
    if kind == CATALOG:
        return Requirements((Access(REGISTRY, "catalog", ALL),))
    required = tuple(Access(REPOSITORY, name, action) for action in _METHOD_ACTIONS[method])
    wanted = ()
    if mount_source and mount_source != name:
        try:
            wanted = (Access(REPOSITORY, validate_name(mount_source), PULL),)
        except errors.RegistryError:
            pass
    return Requirements(required, wanted)


def scope(records) -> str:
    """
    The C{scope} of a challenge or token request: one
    C{type:name:action,...} per resource, space-separated, in order of
    first appearance.
    """
    resources: dict[tuple[str, str], list[str]] = {}
    for record in records:
        actions = resources.setdefault((record.type, record.name), [])
        if record.action not in actions:
            actions.append(record.action)
    return " ".join(f"{t}:{n}:{','.join(a)}" for (t, n), a in resources.items())


def parse_scope(text: str) -> list[tuple[str, str, tuple[str, ...]]]:
    """
    Read a scope: resource scopes separated by spaces, each
    C{type:name:actions} where the name may hold a C{:} (a registry's
    port).  A resource class (C{repository(plugin)}) is dropped.

    @return: C{(type, name, actions)} per resource scope.
    @raise ValueError: for a resource scope that does not parse.
    """
    parsed = []
    for item in text.split():
        kind, _, rest = item.partition(":")
        name, _, actions = rest.rpartition(":")
        if not kind or not name:
            raise ValueError(f"invalid scope {item!r}")
        kind = kind.split("(", 1)[0]
        parsed.append((kind, name, tuple(a for a in actions.split(",") if a)))
    return parsed


@attrs.frozen
class Grant:
    """
    What an access controller allowed a request.

    @ivar account: the authenticated account, or C{None} (anonymous).
    @ivar resources: the access granted, an action of C{*} standing for all
        actions on its resource; C{None} for everything (htpasswd, silly).
    """

    account: str | None
    resources: frozenset[Access] | None = None

    def allows(self, access: Access) -> bool:
        """
        Whether C{access} is granted.
        """
        if self.resources is None:
            return True
        return (access in self.resources
                or attrs.evolve(access, action=ALL) in self.resources)

    def missing(self, records) -> list[Access]:
        """
        The records among C{records} not granted.
        """
        return [record for record in records if not self.allows(record)]

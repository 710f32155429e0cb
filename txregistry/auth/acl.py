# -*- test-case-name: tests.test_auth_acl -*-
"""
The built-in token server's access control list: a YAML list of rules,
checked in order; the first rule matching the account and the resource
decides, and grants what was asked among the actions it allows.  The
format is described in docs/auth.md.
"""

from __future__ import annotations

import functools
import re

import attrs
import yaml

from txregistry.auth.access import ACTIONS, ALL, REGISTRY, REPOSITORY

#: The account of a rule that matches requests without credentials.
ANONYMOUS = "anonymous"
#: The account of a rule that matches every authenticated account.
ANY_ACCOUNT = "*"
_ACCOUNT_VARIABLE = "${account}"
_KEYS = frozenset(("account", "type", "name", "actions", "comment"))


@functools.lru_cache(maxsize=1024)
def _pattern(glob: str, account: str | None) -> re.Pattern | None:
    """
    A rule's name as a regular expression for C{account}: C{*} is any run
    of characters (C{/} included), C{?} any one, C{${account}} the
    account's name (literally); C{None} if the name needs an account and
    there is none.
    """
    if _ACCOUNT_VARIABLE in glob and account is None:
        return None
    pieces = []
    for index, part in enumerate(glob.split(_ACCOUNT_VARIABLE)):
        if index:
            pieces.append(re.escape(account))
        pieces.append("".join(
            ".*" if c == "*" else "." if c == "?" else re.escape(c) for c in part))
    return re.compile("".join(pieces), re.DOTALL)


@attrs.frozen
class Rule:
    """
    One entry of the list.

    @ivar account: an account name, L{ANY_ACCOUNT} or L{ANONYMOUS}.
    @ivar type: C{repository} or C{registry}.
    @ivar name: a glob of resource names.
    @ivar actions: those allowed (C{*}: all).
    """

    account: str
    type: str
    name: str
    actions: frozenset[str]

    def matches(self, account: str | None, kind: str, name: str) -> bool:
        """
        Whether this rule speaks for C{account} (C{None}: anonymous) asking
        for the resource C{kind:name}.
        """
        if self.account == ANONYMOUS:
            if account is not None:
                return False
        elif account is None or self.account not in (ANY_ACCOUNT, account):
            return False
        if kind != self.type:
            return False
        pattern = _pattern(self.name, account)
        return pattern is not None and pattern.fullmatch(name) is not None

    def allow(self, asked: frozenset[str]) -> frozenset[str]:
        """
        The actions granted among C{asked}.
        """
        if ALL in self.actions:
            return asked
        if ALL in asked:
            return self.actions
        return asked & self.actions


def _rule(index: int, entry: object) -> Rule:
    where = f"rule {index + 1}"
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: expected a mapping")
    unknown = sorted(set(map(str, entry)) - _KEYS)
    if unknown:
        raise ValueError(f"{where}: unknown key {unknown[0]}")
    account, kind = entry.get("account"), entry.get("type", REPOSITORY)
    name, actions = entry.get("name"), entry.get("actions")
    for key, value in (("account", account), ("name", name)):
        if not isinstance(value, str) or not value:
            raise ValueError(f"{where}: {key} must be a non-empty string")
    if kind not in (REPOSITORY, REGISTRY):
        raise ValueError(f"{where}: type must be {REPOSITORY} or {REGISTRY}")
    if not isinstance(actions, list) or not all(a in ACTIONS for a in actions):
        raise ValueError(f"{where}: actions must be a list of {', '.join(ACTIONS)}")
    return Rule(account, kind, name, frozenset(actions))


def parse_acl(content: bytes) -> tuple[Rule, ...]:
    """
    Read an ACL file.

    @raise ValueError: naming the rule at fault.
    """
    try:
        document = yaml.safe_load(content)
    except yaml.YAMLError as e:
        raise ValueError(f"invalid YAML: {e}") from None
    if document is None:
        return ()
    if not isinstance(document, list):
        raise ValueError("expected a list of rules")
    return tuple(_rule(index, entry) for index, entry in enumerate(document))


def granted(rules, account: str | None, kind: str, name: str,
            asked: frozenset[str]) -> frozenset[str]:
    """
    The actions the first rule matching C{account} and C{kind:name} grants
    among C{asked}; nothing if no rule matches.
    """
    for rule in rules:
        if rule.matches(account, kind, name):
            return rule.allow(asked)
    return frozenset()

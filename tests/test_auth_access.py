"""
Tests for L{txregistry.auth.access}: the access each request needs, and
scopes.
"""

from twisted.trial.unittest import SynchronousTestCase

from txregistry.auth.access import (
    AUTHENTICATED,
    CATALOG,
    PUBLIC,
    REPOSITORY_ROUTE,
    Access,
    Grant,
    Requirements,
    parse_scope,
    requirements,
    scope,
)


def _repo(name, action):
    return Access("repository", name, action)


class RequirementsTests(SynchronousTestCase):
    """
    Distribution's table of what each request needs.
    """

    def test_methods(self):
        """
        GET/HEAD pull; POST/PUT/PATCH pull and push; DELETE delete.
        """
        for method, actions in (("GET", ["pull"]), ("HEAD", ["pull"]),
                                ("POST", ["pull", "push"]), ("PUT", ["pull", "push"]),
                                ("PATCH", ["pull", "push"]), ("DELETE", ["delete"])):
            self.assertEqual(requirements(REPOSITORY_ROUTE, method, "a/b"),
                             Requirements(tuple(_repo("a/b", a) for a in actions)))

    def test_kinds(self):
        """
        Public routes need nothing at all; C{/v2/} authentication only; the
        catalog C{registry:catalog:*}.
        """
        self.assertIsNone(requirements(PUBLIC, "GET"))
        self.assertEqual(requirements(AUTHENTICATED, "GET"), Requirements())
        self.assertEqual(requirements(CATALOG, "GET"),
                         Requirements((Access("registry", "catalog", "*"),)))

    def test_mountSource(self):
        """
        A mount source is wanted (pull), not required; an invalid name is
        ignored.
        """
        self.assertEqual(requirements(REPOSITORY_ROUTE, "POST", "dst", "src").wanted,
                         (_repo("src", "pull"),))
        self.assertEqual(requirements(REPOSITORY_ROUTE, "POST", "dst", "Bad Name!").wanted, ())


class ScopeTests(SynchronousTestCase):
    """
    Scopes as token servers read and write them.
    """

    def test_write(self):
        """
        One item per resource, actions joined by commas, items by spaces.
        """
        self.assertEqual(
            scope([_repo("dst", "pull"), _repo("dst", "push"), _repo("src", "pull")]),
            "repository:dst:pull,push repository:src:pull")

    def test_read(self):
        """
        A name may hold a port's colon; a resource class is dropped.
        """
        self.assertEqual(
            parse_scope("repository:host:5000/app:pull,push repository(plugin):p:pull "
                        "registry:catalog:*"),
            [("repository", "host:5000/app", ("pull", "push")),
             ("repository", "p", ("pull",)), ("registry", "catalog", ("*",))])
        self.assertEqual(parse_scope("repository:app:"), [("repository", "app", ())])

    def test_readInvalid(self):
        """
        A scope without a name is refused.
        """
        for text in ("repository", "repository:pull", ":a:pull"):
            self.assertRaises(ValueError, parse_scope, text)


class GrantTests(SynchronousTestCase):
    """
    What a L{Grant} allows.
    """

    def test_everything(self):
        """
        A grant without resources allows everything.
        """
        self.assertTrue(Grant("u").allows(_repo("any", "delete")))

    def test_resources(self):
        """
        A grant allows its actions, or all of them with C{*}.
        """
        grant = Grant("u", frozenset({_repo("a", "pull"), _repo("b", "*")}))
        self.assertTrue(grant.allows(_repo("a", "pull")))
        self.assertFalse(grant.allows(_repo("a", "push")))
        self.assertTrue(grant.allows(_repo("b", "delete")))
        self.assertEqual(grant.missing([_repo("a", "pull"), _repo("c", "pull")]),
                         [_repo("c", "pull")])

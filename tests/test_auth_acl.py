"""
Tests for L{txregistry.auth.acl}: the built-in token server's rules.
"""

from twisted.trial.unittest import SynchronousTestCase

from txregistry.auth.acl import granted, parse_acl

#: The example of the issue and of docs/auth.md.
EXAMPLE = b"""
- account: alice
  name: "team/*"
  actions: [pull, push]
- account: "*"
  name: "${account}/*"
  actions: ["*"]
- account: anonymous
  name: "public/*"
  actions: [pull]
- account: "*"
  name: "public/*"
  actions: [pull, push]
- account: admin
  type: registry
  name: catalog
  actions: ["*"]
"""

ALL = frozenset({"pull", "push", "delete"})


class RuleTests(SynchronousTestCase):
    """
    What the example rules grant.
    """

    def setUp(self):
        self.rules = parse_acl(EXAMPLE)

    def grant(self, account, name, actions=ALL, kind="repository"):
        """
        The actions granted to C{account} on C{name} among C{actions}.
        """
        return granted(self.rules, account, kind, name, frozenset(actions))

    def test_firstMatchWins(self):
        """
        alice gets pull and push on team/*, not delete: the later C{*}
        rules never count for a name the first rule matched.
        """
        self.assertEqual(self.grant("alice", "team/app"), {"pull", "push"})
        self.assertEqual(self.grant("alice", "team/app", {"delete"}), set())

    def test_globs(self):
        """
        C{*} matches any run of characters, C{/} included, and nothing
        outside the pattern.
        """
        self.assertEqual(self.grant("alice", "team/a/b/c"), {"pull", "push"})
        self.assertEqual(self.grant("alice", "team"), set())
        self.assertEqual(self.grant("alice", "teams/app"), set())
        self.assertEqual(self.grant("alice", "other/team/app"), set())

    def test_questionMark(self):
        """
        C{?} matches exactly one character.
        """
        rules = parse_acl(b"- {account: bob, name: 'app-v?', actions: [pull]}")
        self.assertEqual(granted(rules, "bob", "repository", "app-v1", ALL), {"pull"})
        self.assertEqual(granted(rules, "bob", "repository", "app-v10", ALL), set())

    def test_accountExpansion(self):
        """
        C{${account}} is the account asking: each user owns their own
        namespace, and nobody else's.
        """
        self.assertEqual(self.grant("bob", "bob/tool"), ALL)
        self.assertEqual(self.grant("bob", "alice/tool"), set())
        self.assertEqual(self.grant("alice", "alice/tool"), ALL)

    def test_accountIsLiteral(self):
        """
        An account name holding glob characters matches only itself.
        """
        self.assertEqual(self.grant("b*", "b*/tool"), ALL)
        self.assertEqual(self.grant("b*", "bob/tool"), set())

    def test_anonymousPullAuthenticatedPush(self):
        """
        Without credentials public/* may be pulled; any authenticated
        account may also push there.
        """
        self.assertEqual(self.grant(None, "public/base"), {"pull"})
        self.assertEqual(self.grant("carol", "public/base"), {"pull", "push"})

    def test_anonymousNeedsAccount(self):
        """
        Rules for C{*} or C{${account}} never match anonymous requests.
        """
        self.assertEqual(self.grant(None, "team/app"), set())
        self.assertEqual(self.grant(None, "anonymous/x"), set())

    def test_noMatch(self):
        """
        No matching rule grants nothing.
        """
        self.assertEqual(self.grant("dave", "elsewhere/app"), set())

    def test_catalog(self):
        """
        The registry-type rule grants the catalog to admin only.
        """
        self.assertEqual(self.grant("admin", "catalog", {"*"}, "registry"), {"*"})
        self.assertEqual(self.grant("alice", "catalog", {"*"}, "registry"), set())

    def test_wildcardAsked(self):
        """
        Asking for C{*} gets the rule's actions.
        """
        self.assertEqual(self.grant("alice", "team/app", {"*"}), {"pull", "push"})


class ParseTests(SynchronousTestCase):
    """
    Invalid ACL files are refused, naming the rule.
    """

    def test_invalid(self):
        """
        Each mistake is named.
        """
        for content, message in (
            (b"{}", "expected a list of rules"),
            (b"- 1", "rule 1: expected a mapping"),
            (b"- {account: a, name: b, actions: [pull], acount: c}", "rule 1: unknown key acount"),
            (b"- {name: b, actions: [pull]}", "rule 1: account must be"),
            (b"- {account: a, actions: [pull]}", "rule 1: name must be"),
            (b"- {account: a, name: b, actions: [pull]}\n"
             b"- {account: a, name: b, actions: [pull, write]}", "rule 2: actions must be"),
            (b"- {account: a, name: b, actions: pull}", "rule 1: actions must be"),
            (b"- {account: a, name: b, type: image, actions: [pull]}", "rule 1: type must be"),
            (b"- [", "invalid YAML"),
        ):
            error = self.assertRaises(ValueError, parse_acl, content)
            self.assertIn(message, str(error))

    def test_empty(self):
        """
        An empty file grants nothing.
        """
        self.assertEqual(parse_acl(b""), ())

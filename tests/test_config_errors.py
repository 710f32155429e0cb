"""
Tests for what the configuration loader refuses or ignores: wrong values,
features not implemented yet, unknown keys.
"""

from twisted.trial.unittest import SynchronousTestCase

from tests.configdocs import document, parse
from txregistry.auth.setup import check_auth
from txregistry.config import ConfigError

ENDPOINT = {"name": "hook", "url": "https://hooks.example/registry"}


class InvalidValueTests(SynchronousTestCase):
    """
    A wrong type or value is an error naming the full dotted key.
    """

    def assertRejected(self, doc, key):
        """
        Parsing C{doc} fails with an error naming C{key}.
        """
        error = self.assertRaises(ConfigError, parse, doc)
        self.assertEqual(error.key, key, str(error))
        self.assertTrue(error.message)
        return error

    def test_notAMapping(self):
        """
        The document must be a mapping.
        """
        self.assertRejected(["version", "0.1"], "")

    def test_version(self):
        """
        Only version 0.1 is read.
        """
        error = self.assertRejected(document(version="0.2"), "version")
        self.assertIn("unsupported version '0.2'", error.message)

    def test_versionMissing(self):
        """
        The version is required.
        """
        self.assertRejected({"storage": "inmemory"}, "version")

    def test_logLevel(self):
        """
        Log levels are error, warn, info and debug.
        """
        self.assertRejected(document(log={"level": "verbose"}), "log.level")

    def test_deprecatedLoglevel(self):
        """
        The deprecated C{loglevel} is checked under its own name.
        """
        self.assertRejected(document(loglevel="loud"), "loglevel")

    def test_logFormatter(self):
        """
        Formatters are text and json.
        """
        self.assertRejected(document(log={"formatter": "xml"}), "log.formatter")

    def test_logSection(self):
        """
        C{log} must be a mapping.
        """
        self.assertRejected(document(log="debug"), "log")

    def test_logField(self):
        """
        Log fields are strings.
        """
        self.assertRejected(document(log={"fields": {"tags": ["a"]}}), "log.fields.tags")

    def test_accessLog(self):
        """
        C{log.accesslog.disabled} is a boolean, not a string.
        """
        self.assertRejected(document(log={"accesslog": {"disabled": "no"}}),
                            "log.accesslog.disabled")

    def test_noStorage(self):
        """
        A storage driver is required.
        """
        self.assertRejected({"version": "0.1"}, "storage")
        self.assertRejected(document(storage={"delete": {"enabled": True}}), "storage")

    def test_twoDrivers(self):
        """
        Only one storage driver may be named.
        """
        error = self.assertRejected(document(storage={"s3": {}, "filesystem": {}}), "storage")
        self.assertIn("filesystem, s3", error.message)

    def test_driverName(self):
        """
        The driver's name must be a string.
        """
        self.assertRejected(document(storage={1: {}}), "storage")

    def test_driverParameters(self):
        """
        Driver parameters are a mapping.
        """
        self.assertRejected(document(storage={"filesystem": "/srv"}), "storage.filesystem")

    def test_deleteEnabled(self):
        """
        C{storage.delete.enabled} is a boolean.
        """
        self.assertRejected(document(storage={"inmemory": None, "delete": {"enabled": "yes"}}),
                            "storage.delete.enabled")

    def test_redirectDisable(self):
        """
        C{storage.redirect.disable} is a boolean.
        """
        self.assertRejected(document(storage={"inmemory": None, "redirect": {"disable": 1}}),
                            "storage.redirect.disable")

    def test_purgingAge(self):
        """
        The upload purging age is a duration.
        """
        self.assertRejected(
            document(storage={"inmemory": None,
                              "maintenance": {"uploadpurging": {"age": "forever"}}}),
            "storage.maintenance.uploadpurging.age",
        )

    def test_purgingInterval(self):
        """
        The upload purging interval is positive.
        """
        self.assertRejected(
            document(storage={"inmemory": None,
                              "maintenance": {"uploadpurging": {"interval": "0s"}}}),
            "storage.maintenance.uploadpurging.interval",
        )

    def test_purgingSection(self):
        """
        C{uploadpurging} must be a mapping.
        """
        self.assertRejected(
            document(storage={"inmemory": None, "maintenance": {"uploadpurging": False}}),
            "storage.maintenance.uploadpurging",
        )

    def test_tagConcurrency(self):
        """
        C{storage.tag.concurrencylimit} is positive.
        """
        self.assertRejected(document(storage={"inmemory": None, "tag": {"concurrencylimit": 0}}),
                            "storage.tag.concurrencylimit")

    def test_httpAddr(self):
        """
        A TCP address needs a port.
        """
        self.assertRejected(document(http={"addr": "5000"}), "http.addr")
        self.assertRejected(document(http={"addr": "localhost:99999"}), "http.addr")

    def test_httpNet(self):
        """
        C{http.net} is a network Go can listen on.
        """
        self.assertRejected(document(http={"net": "udp"}), "http.net")

    def test_httpPrefix(self):
        """
        C{http.prefix} is a string.
        """
        self.assertRejected(document(http={"prefix": ["v2"]}), "http.prefix")

    def test_httpHostScheme(self):
        """
        C{http.host} is an absolute http or https URL.
        """
        self.assertRejected(document(http={"host": "registry.example.com"}), "http.host")
        self.assertRejected(document(http={"host": "ftp://registry.example.com"}), "http.host")

    def test_httpHostPath(self):
        """
        C{http.host} has no path or query.
        """
        self.assertRejected(document(http={"host": "https://r.example/v2"}), "http.host")
        self.assertRejected(document(http={"host": "https://r.example/?a=b"}), "http.host")

    def test_httpHeader(self):
        """
        Header values are strings or lists of strings.
        """
        self.assertRejected(document(http={"headers": {"X-Foo": {"a": "b"}}}),
                            "http.headers.X-Foo")
        self.assertRejected(document(http={"headers": {"X-Foo": ["a", ["b"]]}}),
                            "http.headers.X-Foo[1]")

    def test_drainTimeout(self):
        """
        C{http.draintimeout} is a duration with a unit.
        """
        self.assertRejected(document(http={"draintimeout": "10"}), "http.draintimeout")

    def test_tlsKeyWithoutCertificate(self):
        """
        A TLS certificate needs its key.
        """
        self.assertRejected(document(http={"tls": {"certificate": "/c.pem"}}), "http.tls.key")

    def test_minimumTLS(self):
        """
        C{http.tls.minimumtls} is one of Go's TLS versions.
        """
        self.assertRejected(document(http={"tls": {"minimumtls": "tls0.9"}}),
                            "http.tls.minimumtls")

    def test_letsEncryptEmail(self):
        """
        ACME needs an email address.
        """
        self.assertRejected(document(http={"tls": {"letsencrypt": {"cachefile": "/c"}}}),
                            "http.tls.letsencrypt.email")

    def test_prometheusPath(self):
        """
        The metrics path is absolute.
        """
        self.assertRejected(document(http={"debug": {"prometheus": {"path": "metrics"}}}),
                            "http.debug.prometheus.path")

    def test_endpointURL(self):
        """
        An endpoint's URL is absolute.
        """
        self.assertRejected(
            document(notifications={"endpoints": [{**ENDPOINT, "url": "not a url"}]}),
            "notifications.endpoints[0].url",
        )

    def test_endpointName(self):
        """
        An enabled endpoint needs a name.
        """
        self.assertRejected(
            document(notifications={"endpoints": [{"url": ENDPOINT["url"]}]}),
            "notifications.endpoints[0].name",
        )

    def test_endpointsList(self):
        """
        C{notifications.endpoints} is a list.
        """
        self.assertRejected(document(notifications={"endpoints": ENDPOINT}),
                            "notifications.endpoints")

    def test_endpointIgnoredAction(self):
        """
        Ignored actions are pull, push, mount and delete.
        """
        self.assertRejected(
            document(notifications={"endpoints": [
                {"disabled": True},
                {"disabled": True, "ignore": {"actions": ["pul"]}},
            ]}),
            "notifications.endpoints[1].ignore.actions[0]",
        )

    def test_endpointThreshold(self):
        """
        An endpoint's threshold is an integer.
        """
        self.assertRejected(
            document(notifications={"endpoints": [{"disabled": True, "threshold": 1.5}]}),
            "notifications.endpoints[0].threshold",
        )

    def test_twoAuthProviders(self):
        """
        Only one auth provider may be named.
        """
        self.assertRejected(document(auth={"silly": {}, "htpasswd": {}}), "auth")

    def test_unknownAuthProvider(self):
        """
        An auth provider no plugin provides is refused when access control
        is checked at start, naming the providers available.
        """
        config = parse(document(auth={"ldap": {"server": "ldap.example"}}))
        self.assertEqual(config.auth.options, {"server": "ldap.example"})
        error = self.assertRaises(ConfigError, check_auth, config.auth)
        self.assertEqual(error.key, "auth.ldap")
        self.assertIn("available: htpasswd, silly, token", error.message)

    def test_tokenServerKey(self):
        """
        The built-in token server needs a signing key.
        """
        self.assertRejected(
            document(auth={"token": {"realm": "https://a.example/auth", "service": "s",
                                     "issuer": "i", "rootcertbundle": "/b.pem",
                                     "server": {"htpasswd": "/h", "acl": "/a"}}}),
            "auth.token.server.key",
        )

    def test_tokenServerBundle(self):
        """
        The built-in token server's certificate is in rootcertbundle, which
        is then required.
        """
        self.assertRejected(
            document(auth={"token": {"realm": "https://a.example/auth", "service": "s",
                                     "issuer": "i", "jwks": "/j.json",
                                     "server": {"key": "/k", "htpasswd": "/h", "acl": "/a"}}}),
            "auth.token.rootcertbundle",
        )

    def test_tokenServerPath(self):
        """
        The built-in token server cannot answer under C{/v2/} or at C{/}.
        """
        server = {"key": "/k", "htpasswd": "/h", "acl": "/a"}
        for realm in ("https://a.example/v2/token", "https://a.example/", "https://a.example"):
            self.assertRejected(
                document(auth={"token": {"realm": realm, "service": "s", "issuer": "i",
                                         "rootcertbundle": "/b.pem", "server": server}}),
                "auth.token.realm",
            )
        self.assertRejected(
            document(auth={"token": {"realm": "https://a.example/auth", "service": "s",
                                     "issuer": "i", "rootcertbundle": "/b.pem",
                                     "autoredirect": True, "autoredirectpath": "/v2",
                                     "server": server}}),
            "auth.token.autoredirectpath",
        )

    def test_tokenServerExpiration(self):
        """
        A token's lifetime is positive.
        """
        server = {"key": "/k", "htpasswd": "/h", "acl": "/a", "expiration": 0}
        self.assertRejected(
            document(auth={"token": {"realm": "https://a.example/auth", "service": "s",
                                     "issuer": "i", "rootcertbundle": "/b.pem",
                                     "server": server}}),
            "auth.token.server.expiration",
        )

    def test_insecureMinimumTLS(self):
        """
        TLS 1.0 and 1.1 are refused, under either name of the setting.
        """
        for name in ("minimumtls", "minimumversion"):
            for version in ("tls1.0", "tls1.1"):
                error = self.assertRejected(document(http={"tls": {name: version}}),
                                            f"http.tls.{name}")
                self.assertIn("insecure", error.message)

    def test_tokenIssuer(self):
        """
        Token auth needs an issuer.
        """
        self.assertRejected(
            document(auth={"token": {"realm": "https://auth.example/token", "service": "r",
                                     "rootcertbundle": "/b.pem"}}),
            "auth.token.issuer",
        )

    def test_tokenKeys(self):
        """
        Token auth needs a certificate bundle or a JWKS.
        """
        self.assertRejected(
            document(auth={"token": {"realm": "https://auth.example/token", "service": "r",
                                     "issuer": "i"}}),
            "auth.token.rootcertbundle",
        )

    def test_htpasswdRealm(self):
        """
        The htpasswd realm is a string.
        """
        self.assertRejected(document(auth={"htpasswd": {"realm": [], "path": "/p"}}),
                            "auth.htpasswd.realm")

    def test_catalogMaxEntries(self):
        """
        C{catalog.maxentries} is an integer.
        """
        self.assertRejected(document(catalog={"maxentries": "many"}), "catalog.maxentries")

    def test_negativeMaxTags(self):
        """
        C{tags.maxtags} may not be negative.
        """
        self.assertRejected(document(tags={"maxtags": -1}), "tags.maxtags")

    def test_urlPattern(self):
        """
        URL patterns must compile.
        """
        self.assertRejected(
            document(validation={"manifests": {"urls": {"allow": ["^https://", "("]}}}),
            "validation.manifests.urls.allow[1]",
        )

    def test_platforms(self):
        """
        Index platform checking is all, none or list.
        """
        self.assertRejected(
            document(validation={"manifests": {"indexes": {"platforms": "some"}}}),
            "validation.manifests.indexes.platforms",
        )

    def test_healthThreshold(self):
        """
        The storage driver check's threshold may not be negative.
        """
        self.assertRejected(document(health={"storagedriver": {"threshold": -1}}),
                            "health.storagedriver.threshold")

    def test_fileCheckerFile(self):
        """
        A file checker needs its file.
        """
        self.assertRejected(document(health={"file": [{"interval": "5s"}]}), "health.file[0].file")

    def test_middlewareName(self):
        """
        A middleware needs a name.
        """
        self.assertRejected(document(middleware={"storage": [{"options": {}}]}),
                            "middleware.storage[0].name")

    def test_proxyTTL(self):
        """
        C{proxy.ttl} is a duration.
        """
        self.assertRejected(document(proxy={"ttl": "1 day"}), "proxy.ttl")

    def test_redisSection(self):
        """
        C{redis} is a mapping.
        """
        self.assertRejected(document(redis="localhost:6379"), "redis")


class UnsupportedTests(SynchronousTestCase):
    """
    Features not implemented yet are refused at load time, naming their key.
    """

    def assertUnsupported(self, doc, key):
        """
        Parsing C{doc} fails with a "not supported yet" error naming C{key}.
        """
        error = self.assertRaises(ConfigError, parse, doc)
        self.assertEqual(error.key, key, str(error))
        self.assertIn("is not supported yet by txregistry", error.message)
        return error

    def test_letsEncrypt(self):
        """
        ACME certificates.
        """
        error = self.assertUnsupported(
            document(http={"tls": {"letsencrypt": {"cachefile": "/c", "email": "a@b.example"}}}),
            "http.tls.letsencrypt",
        )
        self.assertIn("http.tls.certificate and http.tls.key", error.message)

    def test_debugListener(self):
        """
        The debug listener.
        """
        self.assertUnsupported(document(http={"debug": {"addr": "localhost:5001"}}),
                               "http.debug.addr")

    def test_network(self):
        """
        Networks other than tcp and unix.
        """
        self.assertUnsupported(document(http={"net": "tcp6"}), "http.net")

    def test_h2c(self):
        """
        Cleartext HTTP/2.
        """
        self.assertUnsupported(document(http={"h2c": {"enabled": True}}), "http.h2c.enabled")

    def test_redis(self):
        """
        A redis server, in either version's spelling.
        """
        self.assertUnsupported(document(redis={"addrs": ["localhost:6379"]}), "redis.addrs")
        self.assertUnsupported(document(redis={"addr": "localhost:6379"}), "redis.addr")

    def test_redisCache(self):
        """
        The redis blob descriptor cache.
        """
        self.assertUnsupported(
            document(storage={"inmemory": None, "cache": {"blobdescriptor": "redis"}}),
            "storage.cache.blobdescriptor",
        )

    def test_proxy(self):
        """
        Pull-through proxy mode.
        """
        self.assertUnsupported(document(proxy={"remoteurl": "https://registry-1.example"}),
                               "proxy.remoteurl")

    def test_middleware(self):
        """
        Any middleware.
        """
        self.assertUnsupported(
            document(middleware={"registry": [{"name": "x"}], "storage": []}),
            "middleware.registry",
        )

    def test_policy(self):
        """
        Repository class policy.
        """
        self.assertUnsupported(document(policy={"repository": {"classes": ["image"]}}),
                               "policy.repository.classes")

    def test_schema1(self):
        """
        schema1 pushes.
        """
        self.assertUnsupported(document(compatibility={"schema1": {"enabled": True}}),
                               "compatibility.schema1.enabled")

    def test_reporting(self):
        """
        Bugsnag and New Relic reporting.
        """
        self.assertUnsupported(document(reporting={"bugsnag": {"apikey": "k"}}),
                               "reporting.bugsnag")
        self.assertUnsupported(document(reporting={"newrelic": {"licensekey": "k"}}),
                               "reporting.newrelic")

    def test_healthCheckers(self):
        """
        File, HTTP and TCP health checkers.
        """
        self.assertUnsupported(document(health={"file": [{"file": "/drain"}]}), "health.file")
        self.assertUnsupported(document(health={"http": [{"uri": "http://a.example/"}]}),
                               "health.http")
        self.assertUnsupported(document(health={"tcp": [{"addr": "db:5432"}]}), "health.tcp")

    def test_logstash(self):
        """
        The logstash formatter.
        """
        self.assertUnsupported(document(log={"formatter": "logstash"}), "log.formatter")

    def test_logHooks(self):
        """
        Log hooks.
        """
        self.assertUnsupported(
            document(log={"hooks": [{"type": "mail", "options": {"to": ["a@b.example"]}}]}),
            "log.hooks",
        )


class UnknownKeyTests(SynchronousTestCase):
    """
    Unknown keys are ignored, as Distribution ignores them, with a warning.
    """

    def test_topLevel(self):
        """
        An unknown top-level section.
        """
        config = parse(document(otel={"exporter": "none"}))
        self.assertEqual(config.warnings, ["unknown key otel ignored"])

    def test_nested(self):
        """
        Unknown keys at every depth are named in full; known ones still load.
        """
        config = parse(document(
            http={"addr": ":6000", "bogus": 1, "tls": {"minversion": "tls1.2"}},
            log={"accesslog": {"disabled": True, "format": "combined"}},
            storage={"inmemory": None, "delete": {"enabled": True, "soft": True},
                     "maintenance": {"vacuum": {}}},
            notifications={"endpoints": [{"disabled": True, "retries": 3}]},
        ))
        self.assertEqual(config.http.addr, ":6000")
        self.assertTrue(config.log.accesslog_disabled)
        self.assertTrue(config.storage.delete_enabled)
        self.assertEqual(sorted(config.warnings), [
            "unknown key http.bogus ignored",
            "unknown key http.tls.minversion ignored",
            "unknown key log.accesslog.format ignored",
            "unknown key notifications.endpoints[0].retries ignored",
            "unknown key storage.delete.soft ignored",
            "unknown key storage.maintenance.vacuum ignored",
        ])

    def test_caseSensitive(self):
        """
        Keys are case-sensitive, as in Distribution.
        """
        config = parse(document(log={"Level": "debug"}))
        self.assertEqual(config.log.level, "info")
        self.assertEqual(config.warnings, ["unknown key log.Level ignored"])

    def test_driverParameters(self):
        """
        Driver parameters are not checked here: no warnings.
        """
        config = parse(document(storage={"filesystem": {"anything": {"goes": 1}}}))
        self.assertEqual(config.warnings, [])

"""
Tests for loading configurations: files, the built-in default and the
defaults of every section.
"""

import os
import shutil
import tempfile

import yaml
from twisted.trial.unittest import SynchronousTestCase

from tests.configdocs import FIXTURES, SAMPLE, document, parse
from txregistry.config import (
    DEFAULT_ROOT_DIRECTORY,
    ConfigError,
    default_root_directory,
    load_config,
    parse_config,
)


class FileTests(SynchronousTestCase):
    """
    L{load_config} reads YAML files.
    """

    def setUp(self):
        self.directory = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.directory)

    def write(self, text):
        """
        Write C{text} to a new file and return its path.
        """
        path = os.path.join(self.directory, "config.yml")
        with open(path, "w", encoding="utf-8") as stream:
            stream.write(text)
        return path

    def test_file(self):
        """
        A file is read, with C{0.1} given as a YAML number.
        """
        config = load_config(
            self.write("version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /srv\n"), {}
        )
        self.assertEqual(config.version, "0.1")
        self.assertEqual(config.storage.driver, "filesystem")
        self.assertEqual(config.storage.parameters, {"rootdirectory": "/srv"})

    def test_missingFile(self):
        """
        A file that does not exist is an error keyed by its path.
        """
        path = os.path.join(self.directory, "missing.yml")
        error = self.assertRaises(ConfigError, load_config, path, {})
        self.assertEqual(error.key, path)
        self.assertIn("No such file", error.message)

    def test_yamlSyntax(self):
        """
        A YAML syntax error is keyed by the path and gives the line.
        """
        path = self.write("version: 0.1\nstorage:\n  inmemory: [\n")
        error = self.assertRaises(ConfigError, load_config, path, {})
        self.assertEqual(error.key, path)
        self.assertIn("invalid YAML at line 4", error.message)

    def test_yamlStructure(self):
        """
        A document whose structure YAML refuses names the line too.
        """
        path = self.write("version: 0.1\nstorage: inmemory\n  bad: indent\n")
        error = self.assertRaises(ConfigError, load_config, path, {})
        self.assertIn("line 3", error.message)

    def test_emptyFile(self):
        """
        An empty file lacks the version.
        """
        error = self.assertRaises(ConfigError, load_config, self.write(""), {})
        self.assertEqual(error.key, "version")

    def test_debianWithAuth(self):
        """
        The Debian package's configuration loads with its htpasswd auth.
        """
        config = load_config(os.path.join(FIXTURES, "debian-config.yml"), {})
        self.assertEqual(config.auth.provider, "htpasswd")
        self.assertEqual(config.auth.options.path, "/etc/docker/registry")

    def test_debianWithoutAuth(self):
        """
        Without its auth section the Debian package's configuration loads.
        """
        with open(os.path.join(FIXTURES, "debian-config.yml"), "rb") as stream:
            doc = yaml.safe_load(stream)
        del doc["auth"]
        config = parse(doc)
        self.assertEqual(config.log.fields, {"service": "registry"})
        self.assertEqual(config.storage.driver, "filesystem")
        self.assertEqual(config.storage.parameters, {"rootdirectory": "/var/lib/docker-registry"})
        self.assertEqual(config.storage.cache_blobdescriptor, "inmemory")
        self.assertTrue(config.storage.delete_enabled)
        self.assertEqual(config.http.addr, ":5000")
        self.assertEqual(config.http.headers, {"X-Content-Type-Options": ["nosniff"]})
        self.assertEqual(
            (config.health.storagedriver.enabled, config.health.storagedriver.interval,
             config.health.storagedriver.threshold),
            (True, 10.0, 3),
        )
        self.assertEqual(config.warnings, [])

    def test_sample(self):
        """
        The sample configuration shipped in C{etc/} loads and says what its
        comments say.
        """
        config = load_config(SAMPLE, {})
        self.assertEqual(config.storage.driver, "filesystem")
        self.assertEqual(config.storage.parameters, {"rootdirectory": "/var/lib/registry"})
        self.assertTrue(config.storage.delete_enabled)
        self.assertEqual(config.http.addr, ":5000")
        self.assertEqual(config.http.headers, {"X-Content-Type-Options": ["nosniff"]})
        self.assertEqual(config.http.draintimeout, 60.0)
        self.assertEqual(config.log.fields, {"service": "registry"})
        purging = config.storage.maintenance.uploadpurging
        self.assertEqual((purging.enabled, purging.age, purging.interval), (True, 604800, 86400))
        self.assertEqual(config.warnings, [])


class BuiltinDefaultTests(SynchronousTestCase):
    """
    Without a file, L{load_config} uses the built-in default.
    """

    def test_default(self):
        """
        Filesystem storage under the default root, local-only listener, info
        logging, deletes off.
        """
        config = load_config(None, {})
        self.assertEqual(config.version, "0.1")
        self.assertEqual(config.storage.driver, "filesystem")
        self.assertEqual(config.storage.parameters, {"rootdirectory": DEFAULT_ROOT_DIRECTORY})
        self.assertEqual(config.http.addr, "127.0.0.1:5000")
        self.assertEqual(config.log.level, "info")
        self.assertFalse(config.storage.delete_enabled)
        self.assertIsNone(config.auth)
        self.assertEqual(config.warnings, [])

    def test_defaultWithEnvironment(self):
        """
        Environment overrides apply to the built-in default too.
        """
        config = load_config(None, {"REGISTRY_STORAGE": "inmemory"})
        self.assertEqual((config.storage.driver, config.storage.parameters), ("inmemory", {}))

    def test_rootDirectory(self):
        """
        The default root is C{$XDG_DATA_HOME/txregistry}, or under
        C{~/.local/share}.
        """
        self.assertEqual(
            default_root_directory({"XDG_DATA_HOME": "/data"}), "/data/txregistry"
        )
        self.assertEqual(
            default_root_directory({}),
            os.path.join(os.path.expanduser("~"), ".local", "share", "txregistry"),
        )
        self.assertEqual(DEFAULT_ROOT_DIRECTORY, default_root_directory(os.environ))

    def test_processEnvironment(self):
        """
        With no environment given, the process's is used.
        """
        self.patch(os, "environ", {"REGISTRY_HTTP_ADDR": ":7000"})
        self.assertEqual(load_config().http.addr, ":7000")


class DefaultsTests(SynchronousTestCase):
    """
    Every section has Distribution's defaults when absent.
    """

    def setUp(self):
        self.config = parse(document())

    def test_log(self):
        """
        Info level, text format, no fields, access log on, no hooks.
        """
        log = self.config.log
        self.assertEqual(
            (log.level, log.formatter, log.fields, log.accesslog_disabled, log.reportcaller,
             log.hooks),
            ("info", "text", {}, False, False, []),
        )

    def test_storage(self):
        """
        Deletes off, redirects on, no cache, a week's upload purging daily,
        writable.
        """
        storage = self.config.storage
        self.assertEqual((storage.driver, storage.parameters), ("inmemory", {}))
        self.assertFalse(storage.delete_enabled)
        self.assertFalse(storage.redirect_disabled)
        self.assertIsNone(storage.cache_blobdescriptor)
        self.assertEqual(storage.cache_blobdescriptorsize, 10000)
        self.assertIsNone(storage.tag_concurrencylimit)
        purging = storage.maintenance.uploadpurging
        self.assertEqual(
            (purging.enabled, purging.age, purging.interval, purging.dryrun),
            (True, 168 * 3600, 24 * 3600, False),
        )
        self.assertFalse(storage.maintenance.readonly_enabled)

    def test_http(self):
        """
        C{:5000} over TCP at the root, no host, a random secret, absolute
        URLs, immediate shutdown, no headers, no TLS, no debug listener.
        """
        http = self.config.http
        self.assertEqual(
            (http.addr, http.net, http.prefix, http.host, http.secret, http.relativeurls,
             http.draintimeout, http.headers, http.http2_disabled, http.h2c_enabled),
            (":5000", "tcp", "/", None, None, False, 0.0, {}, False, False),
        )
        self.assertIsNone(http.tls.certificate)
        self.assertEqual(http.tls.minimumtls, "tls1.2")
        self.assertEqual(http.tls.clientauth, "require-and-verify-client-cert")
        self.assertIsNone(http.debug.addr)
        self.assertEqual((http.debug.prometheus.enabled, http.debug.prometheus.path),
                         (False, "/metrics"))

    def test_auth(self):
        """
        No auth.
        """
        self.assertIsNone(self.config.auth)

    def test_notifications(self):
        """
        No endpoints, no references in events.
        """
        self.assertEqual(self.config.notifications.endpoints, [])
        self.assertFalse(self.config.notifications.events_includereferences)

    def test_endpointDefaults(self):
        """
        An endpoint's timeout, threshold and backoff default to 1s, 10 and
        1s, also when given as zero.
        """
        config = parse(document(notifications={"endpoints": [
            {"name": "a", "url": "http://a.example/", "disabled": True},
            {"name": "b", "url": "http://b.example/", "disabled": True,
             "timeout": 0, "threshold": 0, "backoff": "0s"},
        ]}))
        for endpoint in config.notifications.endpoints:
            self.assertEqual((endpoint.timeout, endpoint.threshold, endpoint.backoff),
                             (1.0, 10, 1.0))

    def test_health(self):
        """
        The storage driver check is off, every 10s, failing at once; no
        other checkers.
        """
        health = self.config.health
        self.assertEqual(
            (health.storagedriver.enabled, health.storagedriver.interval,
             health.storagedriver.threshold),
            (False, 10.0, 0),
        )
        self.assertEqual((health.file, health.http, health.tcp), ([], [], []))

    def test_catalogAndTags(self):
        """
        A thousand entries per catalog page and per tag list.
        """
        self.assertEqual(self.config.catalog.maxentries, 1000)
        self.assertEqual(self.config.tags.maxtags, 1000)

    def test_validation(self):
        """
        Validation on, no URLs allowed or denied, every index child checked.
        """
        validation = self.config.validation
        self.assertFalse(validation.disabled)
        self.assertEqual(validation.url_allow, [])
        self.assertEqual(validation.url_deny, [])
        self.assertEqual(validation.index_platforms, "all")
        self.assertEqual(validation.platform_list, [])

    def test_rest(self):
        """
        No redis, proxy, middleware, policy, schema1 or reporting.
        """
        config = self.config
        self.assertEqual(config.redis, {})
        self.assertIsNone(config.proxy.remoteurl)
        self.assertEqual(config.proxy.ttl, 168 * 3600)
        self.assertEqual(config.middleware, {})
        self.assertEqual(config.policy.repository_classes, [])
        self.assertFalse(config.compatibility.schema1_enabled)
        self.assertIsNone(config.reporting.bugsnag.apikey)

    def test_raw(self):
        """
        The raw document is kept, and the caller's document is not changed.
        """
        doc = document(http={"addr": ":6000"})
        config = parse(doc, {"REGISTRY_HTTP_ADDR": ":7000"})
        self.assertEqual(config.raw["http"], {"addr": ":7000"})
        self.assertEqual(doc["http"], {"addr": ":6000"})


class ValuesTests(SynchronousTestCase):
    """
    Values are normalised as Distribution reads them.
    """

    def test_versionString(self):
        """
        The version may be a string.
        """
        self.assertEqual(parse({"version": "0.1", "storage": "inmemory"}).version, "0.1")

    def test_bareStorage(self):
        """
        A bare driver name is a driver without parameters.
        """
        config = parse({"version": 0.1, "storage": "inmemory"})
        self.assertEqual((config.storage.driver, config.storage.parameters), ("inmemory", {}))

    def test_storageReservedKeys(self):
        """
        The reserved keys beside the driver are read.
        """
        storage = parse(document(storage={
            "filesystem": {"rootdirectory": "/srv", "maxthreads": 50},
            "delete": {"enabled": True},
            "redirect": {"disable": True},
            "cache": {"blobdescriptor": "inmemory", "blobdescriptorsize": 5},
            "maintenance": {"uploadpurging": {"age": "1h"}, "readonly": {"enabled": True}},
            "tag": {"concurrencylimit": 8},
        })).storage
        self.assertEqual(storage.parameters, {"rootdirectory": "/srv", "maxthreads": 50})
        self.assertTrue(storage.delete_enabled)
        self.assertTrue(storage.redirect_disabled)
        self.assertEqual((storage.cache_blobdescriptor, storage.cache_blobdescriptorsize),
                         ("inmemory", 5))
        self.assertEqual(storage.maintenance.uploadpurging.age, 3600)
        self.assertEqual(storage.maintenance.uploadpurging.interval, 24 * 3600)
        self.assertTrue(storage.maintenance.readonly_enabled)
        self.assertEqual(storage.tag_concurrencylimit, 8)

    def test_layerinfo(self):
        """
        C{layerinfo} is the old name of C{blobdescriptor}.
        """
        config = parse(document(storage={"inmemory": None, "cache": {"layerinfo": "inmemory"}}))
        self.assertEqual(config.storage.cache_blobdescriptor, "inmemory")

    def test_unknownCache(self):
        """
        An unknown cache type means no cache, with a warning.
        """
        config = parse(document(storage={"inmemory": None, "cache": {"blobdescriptor": "disk"}}))
        self.assertIsNone(config.storage.cache_blobdescriptor)
        self.assertEqual(
            config.warnings,
            ["storage.cache.blobdescriptor: unknown cache type 'disk', caching disabled"],
        )

    def test_loglevelAlias(self):
        """
        The deprecated top-level C{loglevel} sets the level, case-insensitively,
        unless C{log.level} is given.
        """
        self.assertEqual(parse(document(loglevel="DEBUG")).log.level, "debug")
        self.assertEqual(
            parse(document(loglevel="debug", log={"level": "Error"})).log.level, "error"
        )

    def test_prefix(self):
        """
        The prefix gets a leading and a trailing slash.
        """
        for given, prefix in (("registry", "/registry/"), ("/a/b", "/a/b/"), ("/", "/"),
                              ("", "/"), ("/x/", "/x/")):
            self.assertEqual(parse(document(http={"prefix": given})).http.prefix, prefix)

    def test_hostAndSecret(self):
        """
        The host loses a trailing slash; an empty secret means none.
        """
        http = parse(document(http={"host": "https://r.example:5000/", "secret": ""})).http
        self.assertEqual((http.host, http.secret), ("https://r.example:5000", None))

    def test_numericSecret(self):
        """
        A number given for a string is taken as its text.
        """
        self.assertEqual(parse(document(http={"secret": 1234})).http.secret, "1234")

    def test_unixSocket(self):
        """
        The unix network takes a path.
        """
        http = parse(document(http={"net": "unix", "addr": "/run/registry.sock"})).http
        self.assertEqual((http.net, http.addr), ("unix", "/run/registry.sock"))

    def test_addresses(self):
        """
        TCP addresses may give a host name, an IPv4 or a bracketed IPv6 address.
        """
        for addr in (":5000", "localhost:5000", "127.0.0.1:0", "[::1]:443", "[::]:65535"):
            self.assertEqual(parse(document(http={"addr": addr})).http.addr, addr)

    def test_headerValues(self):
        """
        Header values are lists; a single value may be written bare.
        """
        config = parse(document(http={"headers": {"X-A": "one", "X-B": ["two", 3]}}))
        self.assertEqual(config.http.headers, {"X-A": ["one"], "X-B": ["two", "3"]})

    def test_durationsInSeconds(self):
        """
        Durations are read into seconds, integers as nanoseconds.
        """
        http = parse(document(http={"draintimeout": "1m30s"})).http
        self.assertEqual(http.draintimeout, 90.0)
        check = parse(document(health={"storagedriver": {"interval": 2000000000}}))
        self.assertEqual(check.health.storagedriver.interval, 2.0)

    def test_catalogZero(self):
        """
        A catalog maximum of zero or less means the default.
        """
        for given in (0, -5):
            self.assertEqual(parse(document(catalog={"maxentries": given})).catalog.maxentries,
                             1000)
        self.assertEqual(parse(document(catalog={"maxentries": 50})).catalog.maxentries, 50)

    def test_tagsZero(self):
        """
        A tag list maximum of zero means the default.
        """
        self.assertEqual(parse(document(tags={"maxtags": 0})).tags.maxtags, 1000)
        self.assertEqual(parse(document(tags={"maxtags": 10})).tags.maxtags, 10)

    def test_validation(self):
        """
        URL patterns are compiled; platforms are case-insensitive; the
        deprecated C{enabled: true} wins over C{disabled}.
        """
        validation = parse(document(validation={
            "disabled": True,
            "enabled": True,
            "manifests": {
                "urls": {"allow": ["^https://"], "deny": ["^https://bad\\.example/"]},
                "indexes": {"platforms": "List",
                            "platformlist": [{"architecture": "amd64", "os": "linux"}]},
            },
        })).validation
        self.assertFalse(validation.disabled)
        self.assertTrue(validation.url_allow[0].match("https://x"))
        self.assertTrue(validation.url_deny[0].match("https://bad.example/x"))
        self.assertEqual(validation.index_platforms, "list")
        self.assertEqual(validation.platform_list, [("amd64", "linux")])
        self.assertTrue(parse(document(validation={"disabled": True})).validation.disabled)

    def test_authNone(self):
        """
        Auth provider C{none}, in any case and either form, means no auth.
        """
        for auth in ("none", {"none": None}, {"None": {}}, {}):
            self.assertIsNone(parse(document(auth=auth)).auth)

    def test_disabledEndpoint(self):
        """
        A disabled endpoint is read and needs neither name nor URL.
        """
        endpoint = parse(document(notifications={
            "events": {"includereferences": True},
            "endpoints": [{"disabled": True, "headers": {"Authorization": "Bearer x"},
                           "ignore": {"actions": ["pull"], "mediatypes": ["a/b"]}}],
        })).notifications.endpoints[0]
        self.assertEqual(endpoint.headers, {"Authorization": ["Bearer x"]})
        self.assertEqual(endpoint.ignore.actions, ["pull"])

    def test_healthStorageDriver(self):
        """
        The storage driver health check is read; a zero interval is the
        default.
        """
        check = parse(document(health={
            "storagedriver": {"enabled": True, "interval": 0, "threshold": 2}
        })).health.storagedriver
        self.assertEqual((check.enabled, check.interval, check.threshold), (True, 10.0, 2))

    def test_looseSections(self):
        """
        Unused but harmless keys of the loosely read sections load.
        """
        config = parse(document(
            redis={"password": "x", "db": 2},
            proxy={"username": "u", "ttl": "1h"},
            middleware={"storage": []},
            compatibility={"schema1": {"signingkeyfile": "/k", "enabled": False}},
            reporting={"newrelic": {}},
            policy={"repository": {"classes": []}},
        ))
        self.assertEqual(config.redis, {"password": "x", "db": 2})
        self.assertEqual(config.proxy.ttl, 3600)
        self.assertEqual(config.compatibility.schema1_signingkeyfile, "/k")
        self.assertEqual(config.warnings, [])

    def test_parseConfigNone(self):
        """
        L{parse_config} reads C{None} (an empty YAML file) as an empty
        document.
        """
        error = self.assertRaises(ConfigError, parse_config, None, {})
        self.assertEqual(error.key, "version")


class AccessControlSettingsTests(SynchronousTestCase):
    """
    C{auth} and C{http.tls} as they load.
    """

    SERVER = {"key": "/k.pem", "htpasswd": "/users", "acl": "/acl.yml"}

    def token(self, **changes):
        """
        The checked C{auth.token} options with a built-in server.
        """
        options = {"realm": "https://registry.example/auth/token", "service": "txregistry",
                   "issuer": "me", "rootcertbundle": "/b.pem", "server": dict(self.SERVER)}
        options.update(changes)
        return parse(document(auth={"token": options})).auth.options

    def test_tokenServer(self):
        """
        The built-in server's settings; it answers at the realm's path,
        or at C{autoredirectpath} with C{autoredirect}.
        """
        options = self.token()
        self.assertEqual((options.server.key, options.server.htpasswd, options.server.acl,
                          options.server.expiration), ("/k.pem", "/users", "/acl.yml", 300.0))
        self.assertEqual(options.server_path, "/auth/token")
        self.assertEqual(self.token(autoredirect=True, autoredirectpath="/token").server_path,
                         "/token")

    def test_expiration(self):
        """
        A lifetime in seconds, or as a Go duration.
        """
        for value, seconds in ((60, 60.0), (1.5, 1.5), ("5m", 300.0)):
            options = self.token(server=dict(self.SERVER, expiration=value))
            self.assertEqual(options.server.expiration, seconds)

    def test_tokenWithoutServer(self):
        """
        Distribution's token settings alone: no server.
        """
        self.assertIsNone(self.token(server=None).server)

    def test_tls(self):
        """
        TLS settings, C{minimumversion} standing for C{minimumtls}.
        """
        tls = parse(document(http={"tls": {
            "certificate": "/c.pem", "key": "/k.pem", "clientcas": ["/ca.pem"],
            "minimumversion": "tls1.3", "ciphersuites": ["TLS_AES_128_GCM_SHA256"]}})).http.tls
        self.assertEqual((tls.certificate, tls.key, tls.clientcas, tls.minimumtls,
                          tls.ciphersuites),
                         ("/c.pem", "/k.pem", ["/ca.pem"], "tls1.3", ["TLS_AES_128_GCM_SHA256"]))
        both = parse(document(http={"tls": {"minimumtls": "tls1.2",
                                            "minimumversion": "tls1.3"}})).http.tls
        self.assertEqual(both.minimumtls, "tls1.2")

    def test_clientCAsNeedCertificate(self):
        """
        Client CAs without a server certificate make no sense.
        """
        error = self.assertRaises(ConfigError, parse,
                                  document(http={"tls": {"clientcas": ["/ca.pem"]}}))
        self.assertEqual(error.key, "http.tls.certificate")

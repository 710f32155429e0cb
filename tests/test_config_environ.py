"""
Tests for Distribution's C{REGISTRY_*} environment overrides.
"""

from twisted.trial.unittest import SynchronousTestCase

from tests.configdocs import document, parse
from txregistry.config import ConfigError

FILESYSTEM = document(storage={"filesystem": {"rootdirectory": "/var/lib/registry"}})


class OverrideTests(SynchronousTestCase):
    """
    Overrides follow Distribution's algorithm.
    """

    def test_driverParameter(self):
        """
        C{REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY} replaces the parameter.
        """
        config = parse(FILESYSTEM, {"REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY": "/srv"})
        self.assertEqual(config.storage.parameters, {"rootdirectory": "/srv"})

    def test_typedValue(self):
        """
        The value is read as YAML: C{true} is a boolean.
        """
        config = parse(FILESYSTEM, {"REGISTRY_STORAGE_DELETE_ENABLED": "true"})
        self.assertIs(config.storage.delete_enabled, True)

    def test_yamlValues(self):
        """
        Durations, integers, lists and mixed case all arrive as YAML gives
        them and are checked like file values.
        """
        config = parse(FILESYSTEM, {
            "REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING_AGE": "2h",
            "REGISTRY_CATALOG_MAXENTRIES": "5",
            "REGISTRY_VALIDATION_MANIFESTS_URLS_ALLOW": "['^https://', '^http://']",
            "REGISTRY_LOG_LEVEL": "DEBUG",
            "REGISTRY_STORAGE_FILESYSTEM_MAXTHREADS": "50",
        })
        self.assertEqual(config.storage.maintenance.uploadpurging.age, 7200)
        self.assertEqual(config.catalog.maxentries, 5)
        self.assertEqual(len(config.validation.url_allow), 2)
        self.assertEqual(config.log.level, "debug")
        self.assertEqual(config.storage.parameters["maxthreads"], 50)

    def test_stringKeepsText(self):
        """
        A value bound for a string keeps its text even when YAML would read
        a number or a boolean, as Go's YAML reader does.
        """
        config = parse(FILESYSTEM, {"REGISTRY_HTTP_SECRET": "0123", "REGISTRY_HTTP_ADDR": ":6000"})
        self.assertEqual((config.http.secret, config.http.addr), ("0123", ":6000"))

    def test_badValue(self):
        """
        A value that is not YAML is an error naming the variable.
        """
        error = self.assertRaises(ConfigError, parse, FILESYSTEM,
                                  {"REGISTRY_LOG_FIELDS_A": "[unclosed"})
        self.assertEqual(error.key, "REGISTRY_LOG_FIELDS_A")

    def test_wrongTypedValue(self):
        """
        A well-formed value of the wrong type is an error naming the key.
        """
        error = self.assertRaises(ConfigError, parse, FILESYSTEM,
                                  {"REGISTRY_STORAGE_DELETE_ENABLED": "maybe"})
        self.assertEqual(error.key, "storage.delete.enabled")

    def test_lexicalOrder(self):
        """
        Variables apply in lexical order, so C{REGISTRY_STORAGE} replaces the
        storage section before C{REGISTRY_STORAGE_S3_*} adds to it, whatever
        order the environment lists them in.
        """
        config = parse(FILESYSTEM, {
            "REGISTRY_STORAGE_S3_REGION": "us-east-1",
            "REGISTRY_STORAGE_S3_BUCKET": "images",
            "REGISTRY_STORAGE": "s3",
        })
        self.assertEqual(config.storage.driver, "s3")
        self.assertEqual(config.storage.parameters, {"bucket": "images", "region": "us-east-1"})
        self.assertEqual(config.raw["storage"],
                         {"s3": {"bucket": "images", "region": "us-east-1"}})

    def test_replacedSection(self):
        """
        Replacing a section drops what the file had in it.
        """
        doc = document(storage={"filesystem": {}, "delete": {"enabled": True}},
                       log={"level": "debug", "fields": {"a": "b"}})
        config = parse(doc, {"REGISTRY_STORAGE": "inmemory", "REGISTRY_LOG": "{level: error}"})
        self.assertFalse(config.storage.delete_enabled)
        self.assertEqual((config.log.level, config.log.fields), ("error", {}))

    def test_secondDriver(self):
        """
        A driver parameter for another driver adds a second driver, which is
        an error, as in Distribution.
        """
        error = self.assertRaises(ConfigError, parse, FILESYSTEM,
                                  {"REGISTRY_STORAGE_S3_BUCKET": "images"})
        self.assertEqual(error.key, "storage")

    def test_bareStorageInFile(self):
        """
        Overrides reach into a storage section written as a bare name.
        """
        config = parse(document(storage="inmemory"), {"REGISTRY_STORAGE_DELETE_ENABLED": "true"})
        self.assertEqual(config.storage.driver, "inmemory")
        self.assertTrue(config.storage.delete_enabled)

    def test_untypedNesting(self):
        """
        Overrides reach into mappings nested in Distribution's untyped
        storage keys, where Distribution itself cannot (its read-only
        switch).
        """
        doc = document(storage={"inmemory": None,
                                "maintenance": {"readonly": {"enabled": False}}})
        config = parse(doc, {"REGISTRY_STORAGE_MAINTENANCE_READONLY_ENABLED": "true"})
        self.assertTrue(config.storage.maintenance.readonly_enabled)

    def test_mapKeysLowerCase(self):
        """
        A new map key is created in lower case; the last segment always
        creates one, beside a differently written existing key.
        """
        doc = document(http={"headers": {"X-Content-Type-Options": ["nosniff"]}},
                       log={"fields": {"service": "registry"}})
        config = parse(doc, {
            "REGISTRY_HTTP_HEADERS_X-CONTENT-TYPE-OPTIONS": "[sniff]",
            "REGISTRY_HTTP_HEADERS_STRICT-TRANSPORT-SECURITY": "[max-age=31536000]",
            "REGISTRY_LOG_FIELDS_SERVICE": "mirror",
            "REGISTRY_LOG_FIELDS_ENVIRONMENT": "staging",
        })
        self.assertEqual(config.http.headers, {
            "X-Content-Type-Options": ["nosniff"],
            "x-content-type-options": ["sniff"],
            "strict-transport-security": ["max-age=31536000"],
        })
        self.assertEqual(config.log.fields, {"service": "mirror", "environment": "staging"})

    def test_mapExistingKey(self):
        """
        On the way down, an existing map key matches case-insensitively.
        """
        doc = document(storage={"Filesystem": {"rootdirectory": "/a"}})
        config = parse(doc, {"REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY": "/b"})
        self.assertEqual((config.storage.driver, config.storage.parameters),
                         ("Filesystem", {"rootdirectory": "/b"}))

    def test_underscoreKeysUnreachable(self):
        """
        Keys containing C{_} cannot be reached: the name splits there.
        """
        doc = document(storage={"azure": {"accountname": "a", "max_retries": 5}})
        config = parse(doc, {"REGISTRY_STORAGE_AZURE_MAX_RETRIES": "3"})
        self.assertEqual(config.storage.parameters,
                         {"accountname": "a", "max_retries": 5, "max": {"retries": 3}})

    def test_listAppend(self):
        """
        An index equal to the list's length appends an entry.
        """
        config = parse(FILESYSTEM, {
            "REGISTRY_NOTIFICATIONS_ENDPOINTS_0_NAME": "hook",
            "REGISTRY_NOTIFICATIONS_ENDPOINTS_0_URL": "https://hooks.example/",
            "REGISTRY_NOTIFICATIONS_ENDPOINTS_0_DISABLED": "true",
            "REGISTRY_NOTIFICATIONS_ENDPOINTS_1_DISABLED": "true",
        })
        endpoints = config.notifications.endpoints
        self.assertEqual([(e.name, e.url, e.disabled) for e in endpoints],
                         [("hook", "https://hooks.example/", True), (None, None, True)])

    def test_listExistingEntry(self):
        """
        An existing entry is changed in place: here disabling the endpoint
        that the file enables without a URL, which would otherwise be
        refused.
        """
        doc = document(notifications={"endpoints": [{"name": "hook"}]})
        self.assertRaises(ConfigError, parse, doc)
        config = parse(doc, {"REGISTRY_NOTIFICATIONS_ENDPOINTS_0_DISABLED": "true"})
        self.assertEqual(config.notifications.endpoints[0].name, "hook")

    def test_scalarListEntry(self):
        """
        Scalar list entries can be appended and set, to an existing list or
        a new one.
        """
        doc = document(validation={"manifests": {"urls": {"allow": ["^https://"]}}})
        config = parse(doc, {
            "REGISTRY_VALIDATION_MANIFESTS_URLS_ALLOW_1": "^http://",
            "REGISTRY_VALIDATION_MANIFESTS_URLS_DENY_0": "^http://bad",
        })
        validation = config.validation
        self.assertEqual([p.pattern for p in validation.url_allow],
                         ["^https://", "^http://"])
        self.assertEqual([p.pattern for p in validation.url_deny], ["^http://bad"])

    def test_listIndexPastEnd(self):
        """
        An index past the end is an error naming the variable.
        """
        error = self.assertRaises(ConfigError, parse, FILESYSTEM,
                                  {"REGISTRY_NOTIFICATIONS_ENDPOINTS_1_NAME": "hook"})
        self.assertEqual(error.key, "REGISTRY_NOTIFICATIONS_ENDPOINTS_1_NAME")
        self.assertIn("undefined list index 1", error.message)

    def test_listIndexNotNumeric(self):
        """
        A segment that is not a number where a list is is an error naming
        the variable.
        """
        error = self.assertRaises(ConfigError, parse, FILESYSTEM,
                                  {"REGISTRY_NOTIFICATIONS_ENDPOINTS_FIRST_NAME": "hook"})
        self.assertEqual(error.key, "REGISTRY_NOTIFICATIONS_ENDPOINTS_FIRST_NAME")

    def test_goFieldNames(self):
        """
        Sections match Go field names, not YAML keys, where they differ:
        C{EVENTCONFIG} reaches C{notifications.events}, C{EVENTS} does not.
        """
        config = parse(FILESYSTEM, {
            "REGISTRY_NOTIFICATIONS_EVENTCONFIG_INCLUDEREFERENCES": "true",
            "REGISTRY_NOTIFICATIONS_EVENTS_INCLUDEREFERENCES": "false",
        })
        self.assertTrue(config.notifications.events_includereferences)
        ignored = "REGISTRY_NOTIFICATIONS_EVENTS_INCLUDEREFERENCES"
        self.assertEqual(config.warnings,
                         [f"ignoring unrecognized environment variable {ignored}"])

    def test_healthCheckerNames(self):
        """
        C{FILECHECKERS} reaches C{health.file} (refused for now, which shows
        it was reached).
        """
        error = self.assertRaises(ConfigError, parse, FILESYSTEM,
                                  {"REGISTRY_HEALTH_FILECHECKERS_0_FILE": "/drain"})
        self.assertEqual(error.key, "health.file")

    def test_healthStorageDriver(self):
        """
        The storage driver health check can be switched on.
        """
        config = parse(FILESYSTEM, {"REGISTRY_HEALTH_STORAGEDRIVER_ENABLED": "true",
                                    "REGISTRY_HEALTH_STORAGEDRIVER_INTERVAL": "30s"})
        self.assertTrue(config.health.storagedriver.enabled)
        self.assertEqual(config.health.storagedriver.interval, 30)

    def test_auth(self):
        """
        Auth overrides create the provider; C{none} switches auth off.
        """
        config = parse(FILESYSTEM, {
            "REGISTRY_AUTH": "htpasswd",
            "REGISTRY_AUTH_HTPASSWD_REALM": "Registry Realm",
            "REGISTRY_AUTH_HTPASSWD_PATH": "/auth/htpasswd",
        })
        self.assertEqual(config.auth.provider, "htpasswd")
        self.assertEqual(config.auth.options.realm, "Registry Realm")
        self.assertEqual(config.auth.options.path, "/auth/htpasswd")
        doc = document(auth={"htpasswd": {"realm": "r", "path": "/p"}})
        self.assertIsNone(parse(doc, {"REGISTRY_AUTH": "none"}).auth)

    def test_middleware(self):
        """
        Middleware lists are reached through their map.
        """
        error = self.assertRaises(ConfigError, parse, FILESYSTEM,
                                  {"REGISTRY_MIDDLEWARE_STORAGE_0_NAME": "redirect"})
        self.assertEqual(error.key, "middleware.storage")

    def test_loglevel(self):
        """
        The deprecated top-level C{loglevel} can be overridden too.
        """
        self.assertEqual(parse(FILESYSTEM, {"REGISTRY_LOGLEVEL": "warn"}).log.level, "warn")

    def test_unknownSegment(self):
        """
        A segment that names nothing is ignored with a warning, as is one
        below a scalar.
        """
        config = parse(FILESYSTEM, {"REGISTRY_HTTP_BOGUS": "1", "REGISTRY_HTTP_ADDR_PORT": "1"})
        self.assertEqual(config.http.addr, ":5000")
        self.assertEqual(config.warnings, [
            "ignoring environment variable REGISTRY_HTTP_ADDR_PORT: it names a key inside a value",
            "ignoring unrecognized environment variable REGISTRY_HTTP_BOGUS",
        ])

    def test_version(self):
        """
        The version cannot be overridden.
        """
        config = parse(FILESYSTEM, {"REGISTRY_VERSION": "0.2"})
        self.assertEqual(config.version, "0.1")
        self.assertEqual(config.warnings,
                         ["ignoring REGISTRY_VERSION: the version cannot be overridden"])

    def test_notOverrides(self):
        """
        C{REGISTRY_CONFIGURATION_PATH} and variables without the exact
        prefix are not overrides and are not warned about.
        """
        config = parse(FILESYSTEM, {
            "REGISTRY_CONFIGURATION_PATH": "/etc/distribution/config.yml",
            "registry_http_addr": ":1",
            "REGISTRYHTTP_ADDR": ":2",
            "PATH": "/usr/bin",
        })
        self.assertEqual(config.http.addr, ":5000")
        self.assertEqual(config.warnings, [])

    def test_upperCaseSegments(self):
        """
        Segments are compared with upper-cased names, so lower-case
        segments name nothing, as in Distribution.
        """
        config = parse(FILESYSTEM, {"REGISTRY_http_addr": ":1"})
        self.assertEqual(config.http.addr, ":5000")
        self.assertEqual(config.warnings,
                         ["ignoring unrecognized environment variable REGISTRY_http_addr"])

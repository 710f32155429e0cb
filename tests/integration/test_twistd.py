"""
Running txregistry the ways README.md says: the twistd plugin after a
normal install, the built-in configuration, C{txregistry serve}, twistd's
own options, configuration errors, logging, environment overrides; and an
upload that outlives the process that started it.
"""

import importlib.util
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
from urllib.parse import urljoin, urlsplit

import requests
from twisted.trial.unittest import SkipTest, SynchronousTestCase

from tests.integration.clients import patch_chunk, push_blob, run, sha256_digest
from tests.integration.processes import (
    RegistryProcess,
    accepts_connections,
    base_config,
    child_environment,
    free_port,
    port_is_free,
    process_exists,
    read_text,
    temporary_directory,
    twistd_command,
    wait_for,
)
from tests.pki import CertificateAuthority

REPOSITORY_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_NOT_SOURCES = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "*.egg-info", "_trial_temp*", "__pycache__",
    "dropin.cache", ".pytest_cache", ".ruff_cache",
)


def blob_path(root: str, digest: str) -> str:
    """
    Where a blob's bytes live in a filesystem root.
    """
    hex_digest = digest.split(":", 1)[1]
    return os.path.join(root, "docker", "registry", "v2", "blobs", "sha256",
                        hex_digest[:2], hex_digest, "data")


def check_serves(case, registry: RegistryProcess, root: str) -> None:
    """
    C{registry} answers C{/v2/}, and a blob pushed to it is stored under
    C{root} and served back.
    """
    ping = requests.get(f"{registry.url}/v2/", timeout=30)
    case.assertEqual(ping.status_code, 200)
    data = os.urandom(5000)
    digest = push_blob(registry.url, "e2e/blob", data)
    with open(blob_path(root, digest), "rb") as f:
        case.assertEqual(f.read(), data)
    served = requests.get(f"{registry.url}/v2/e2e/blob/blobs/{digest}", timeout=30)
    case.assertEqual(served.content, data)


def mirror(source: str, destination: str, leave_out) -> None:
    """
    Make C{destination} a directory of symbolic links to the entries of
    C{source}, except those named in C{leave_out}.
    """
    os.makedirs(destination)
    for name in os.listdir(source):
        if name not in leave_out:
            os.symlink(os.path.join(source, name), os.path.join(destination, name))


def site_packages_without_txregistry(directory: str) -> str:
    """
    Build in C{directory} a stand-in for the site-packages Twisted is
    installed in, without txregistry: links to everything else, with
    C{twisted/} and C{twisted/plugins/} rebuilt link by link minus the
    txregistry plugin.  In CI txregistry is installed there too; with this
    on C{PYTHONPATH} and C{python -S}, only the copy under test can be found.

    @return: the stand-in directory.
    """
    site = os.path.dirname(importlib.util.find_spec("twisted").submodule_search_locations[0])
    shadow = os.path.join(directory, "site-packages")
    mirror(site, shadow, {"twisted", "__pycache__"} | {
        name for name in os.listdir(site)
        if name.startswith(("txregistry", "__editable__")) or name.endswith(".pth")
    })
    mirror(os.path.join(site, "twisted"), os.path.join(shadow, "twisted"),
           {"plugins", "__pycache__"})
    mirror(os.path.join(site, "twisted", "plugins"), os.path.join(shadow, "twisted", "plugins"),
           {"txregistry_plugin.py", "dropin.cache", "__pycache__"})
    return shadow


class InstallTests(SynchronousTestCase):
    """
    The twistd plugin of a normal (non-editable) install.
    """

    def test_plugin_found_after_install(self):
        """
        After C{pip install --target} of the package, with only that target
        (and Twisted without txregistry) on the path and the working
        directory elsewhere: the target holds C{twisted/plugins/} without
        an C{__init__.py} (which would hide Twisted's own plugins),
        C{python -m twisted --help} lists C{txregistry} (and does not
        without the target), its modules come from the target, and twistd
        runs the installed copy.
        """
        scratch = temporary_directory(self)
        sources = os.path.join(scratch, "sources")
        shutil.copytree(REPOSITORY_ROOT, sources, ignore=_NOT_SOURCES, symlinks=True)
        target = os.path.join(scratch, "target")
        run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
             "--no-build-isolation", "--no-input", "--disable-pip-version-check",
             "--target", target, sources], timeout=300)
        plugins = os.path.join(target, "twisted", "plugins")
        self.assertTrue(os.path.isfile(os.path.join(plugins, "txregistry_plugin.py")))
        self.assertFalse(os.path.exists(os.path.join(plugins, "__init__.py")))
        self.assertFalse(os.path.exists(os.path.join(target, "twisted", "__init__.py")))

        elsewhere = temporary_directory(self)
        shadow = site_packages_without_txregistry(elsewhere)

        def python(*arguments: str, path: list[str]) -> str:
            environ = child_environment(PYTHONPATH=os.pathsep.join(path))
            return run([sys.executable, "-S", *arguments], cwd=elsewhere, env=environ).stdout

        listed = re.compile(r"^\s+txregistry\s", re.MULTILINE)
        self.assertNotRegex(python("-m", "twisted", "--help", path=[shadow]), listed)
        self.assertRegex(python("-m", "twisted", "--help", path=[target, shadow]), listed)
        where = python(
            "-c", "import txregistry, twisted.plugins.txregistry_plugin as p;"
                  "print(txregistry.__file__); print(p.__file__)",
            path=[target, shadow],
        ).split()
        self.assertEqual(where, [os.path.join(target, "txregistry", "__init__.py"),
                                 os.path.join(plugins, "txregistry_plugin.py")])

        root = os.path.join(scratch, "root")
        registry = RegistryProcess.prepared(
            self, base_config(root),
            child_environment(PYTHONPATH=os.pathsep.join([target, shadow])),
        )
        registry.start([
            sys.executable, "-S", "-c",
            "import sys; from twisted.scripts.twistd import run; sys.argv[0] = 'twistd'; run()",
            "--nodaemon", "--pidfile=", "txregistry", "--config", registry.config_path,
        ])
        check_serves(self, registry, root)


class DefaultConfigurationTests(SynchronousTestCase):
    """
    C{twistd -n txregistry} without any configuration.
    """

    def start_unconfigured(self, environ: dict) -> RegistryProcess:
        """
        Start txregistry with no configuration file in the environment
        C{environ} (without C{REGISTRY_*} variables).

        @raise SkipTest: 127.0.0.1:5000, the default address, is taken.
        """
        if not port_is_free(5000):
            raise SkipTest("127.0.0.1:5000, the default address, is in use")
        registry = RegistryProcess.prepared(self, None, environ)
        registry.start(twistd_command("--nodaemon", "--pidfile="))
        self.assertEqual(registry.port, 5000)
        self.assertIn("listening on 127.0.0.1:5000", registry.log())
        return registry

    def check_storage(self, registry: RegistryProcess, root: str) -> None:
        """
        C{registry} names C{root} as its storage in its log, and keeps data
        there.
        """
        self.assertIn(f"storage driver filesystem at {root}", registry.log())
        check_serves(self, registry, root)

    def test_storage_in_xdg_data_home(self):
        """
        It listens on 127.0.0.1:5000 and keeps its data in
        C{$XDG_DATA_HOME/txregistry}, which it names in its log.
        """
        scratch = temporary_directory(self)
        data_home = os.path.join(scratch, "data")
        registry = self.start_unconfigured(child_environment(
            HOME=os.path.join(scratch, "home"), XDG_DATA_HOME=data_home))
        self.check_storage(registry, os.path.join(data_home, "txregistry"))

    def test_storage_in_home(self):
        """
        Without C{XDG_DATA_HOME}, the data is in
        C{~/.local/share/txregistry}.
        """
        home = os.path.join(temporary_directory(self), "home")
        environ = child_environment(HOME=home)
        environ.pop("XDG_DATA_HOME", None)
        registry = self.start_unconfigured(environ)
        self.check_storage(registry, os.path.join(home, ".local", "share", "txregistry"))


class ServeCommandTests(SynchronousTestCase):
    """
    C{txregistry serve FILE}, the command line README.md shows.
    """

    def serve(self, command: list[str]) -> None:
        """
        Start txregistry with C{command} + C{serve CONFIG} and check it
        serves from the configured root.
        """
        root = os.path.join(temporary_directory(self), "root")
        registry = RegistryProcess.prepared(self, base_config(root))
        registry.start(command + ["serve", registry.config_path])
        check_serves(self, registry, root)

    def test_python_m_txregistry(self):
        """
        C{python -m txregistry serve FILE} serves with that configuration.
        """
        self.serve([sys.executable, "-m", "txregistry"])

    def test_console_script(self):
        """
        The installed C{txregistry} script (beside this Python) does too.
        """
        script = os.path.join(os.path.dirname(sys.executable), "txregistry")
        if not os.access(script, os.X_OK):
            raise SkipTest(f"no txregistry script installed beside {sys.executable}")
        self.serve([script])


class TwistdOptionsTests(SynchronousTestCase):
    """
    twistd's own options apply to the txregistry plugin.
    """

    def test_pidfile_logfile_umask(self):
        """
        In the foreground, C{--pidfile} holds the server's pid (and is
        removed at the end), the log goes to C{--logfile} and not to
        standard output, and C{--umask 027} applies to the files and
        directories it creates in storage.
        """
        root = os.path.join(temporary_directory(self), "root")
        registry = RegistryProcess.prepared(self, base_config(root))
        pidfile = os.path.join(registry.workdir, "txregistry.pid")
        logfile = os.path.join(registry.workdir, "txregistry.log")
        registry.start(
            twistd_command("--nodaemon", "--pidfile", pidfile, "--logfile", logfile,
                           "--umask", "027") + ["--config", registry.config_path],
            log_path=logfile,
        )
        self.assertEqual(read_text(pidfile), str(registry.process.pid))
        self.assertNotIn("listening on", registry.log())

        digest = push_blob(registry.url, "e2e/umask", b"x" * 1000)
        data = blob_path(root, digest)
        self.assertEqual(stat.S_IMODE(os.stat(data).st_mode), 0o640)
        self.assertEqual(stat.S_IMODE(os.stat(os.path.dirname(data)).st_mode), 0o750)

        registry.stop()
        self.assertFalse(os.path.exists(pidfile))
        self.assertIn("Server Shut Down", read_text(logfile))

    def test_daemon(self):
        """
        Without C{-n}, twistd daemonizes: the command returns at once, the
        daemon (another process, named in the pid file) serves, and SIGTERM
        to that pid stops it and removes the pid file.
        """
        root = os.path.join(temporary_directory(self), "root")
        registry = RegistryProcess.prepared(self, base_config(root))
        pidfile = os.path.join(registry.workdir, "txregistry.pid")
        logfile = os.path.join(registry.workdir, "txregistry.log")

        def stop(pid: int) -> None:
            if process_exists(pid):
                os.kill(pid, signal.SIGTERM)
                wait_for(lambda: not process_exists(pid), 15, f"daemon {pid} to stop")

        registry.start(
            twistd_command("--pidfile", pidfile, "--logfile", logfile)
            + ["--config", registry.config_path],
            log_path=logfile,
        )
        self.assertEqual(registry.process.wait(30), 0)
        pid = int(wait_for(lambda: read_text(pidfile).strip(), 10, "the pid file"))
        self.addCleanup(stop, pid)
        self.assertNotEqual(pid, registry.process.pid)
        self.assertTrue(process_exists(pid))
        check_serves(self, registry, root)

        stop(pid)
        self.assertFalse(accepts_connections(registry.port))
        self.assertFalse(os.path.exists(pidfile))


class InvalidConfigurationTests(SynchronousTestCase):
    """
    A configuration txregistry cannot honour stops it at once, before it
    listens, naming what is wrong.
    """

    def check_refused(self, config: dict, expected: str, tls: dict | None = None) -> None:
        """
        twistd with C{config} exits with an error within a few seconds,
        its output names C{expected}, and nothing listens on the
        configured port.

        @param tls: the C{http.tls} section, if any.
        """
        port = free_port()
        config["http"] = {"addr": f"127.0.0.1:{port}", **({"tls": tls} if tls else {})}
        registry = RegistryProcess.prepared(self, config)
        began = time.monotonic()
        registry.launch()
        try:
            status = registry.process.wait(20)
        except subprocess.TimeoutExpired:
            self.fail(f"still running with an invalid configuration:\n{registry.log()}")
        self.assertLess(time.monotonic() - began, 10)
        self.assertNotEqual(status, 0)
        self.assertIn(expected, registry.log())
        self.assertNotIn("listening on", registry.log())
        self.assertFalse(accepts_connections(port))

    def test_invalid_boolean(self):
        """
        C{storage.delete.enabled: maybe} is named.
        """
        config = base_config(os.path.join(temporary_directory(self), "root"))
        config["storage"]["delete"] = {"enabled": "maybe"}
        self.check_refused(config, "storage.delete.enabled")

    def test_unknown_driver(self):
        """
        An unknown storage driver is named.
        """
        config = base_config("/nonexistent", storage={"nosuchdriver": {}})
        self.check_refused(config, "nosuchdriver")

    def test_unknown_auth_provider(self):
        """
        An auth provider no plugin provides is named, rather than serving
        without access control.
        """
        scratch = temporary_directory(self)
        config = base_config(os.path.join(scratch, "root"), auth={"ldap": {"url": "x"}})
        self.check_refused(config, "auth.ldap: unknown auth provider ldap")

    def test_invalid_htpasswd(self):
        """
        An htpasswd file that does not parse is named with its line.
        """
        scratch = temporary_directory(self)
        path = os.path.join(scratch, "htpasswd")
        with open(path, "w") as f:
            f.write("alice\n")
        config = base_config(os.path.join(scratch, "root"), auth={
            "htpasswd": {"realm": "e2e", "path": path},
        })
        self.check_refused(config, "auth.htpasswd.path: " + path + ": line 1 has no colon")

    def test_tls_key_mismatch(self):
        """
        A TLS key that is not the certificate's is named.
        """
        scratch = temporary_directory(self)
        ca = CertificateAuthority()
        certificate, _ = ca.server().write(scratch, "server")
        _, key = ca.server().write(scratch, "other")
        config = base_config(os.path.join(scratch, "root"))
        self.check_refused(config, "http.tls.key: does not match http.tls.certificate",
                           tls={"certificate": certificate, "key": key})

    def test_letsencrypt(self):
        """
        ACME certificates are refused with what to do instead.
        """
        config = base_config(os.path.join(temporary_directory(self), "root"))
        self.check_refused(config, "certbot", tls={
            "letsencrypt": {"cachefile": "/tmp/cache", "email": "admin@example.com"}})


class LoggingTests(SynchronousTestCase):
    """
    The C{log} section: formatter, fields, access log.
    """

    def start_logging(self, log: dict) -> RegistryProcess:
        """
        Start txregistry with this C{log} section, make one request with a
        known User-Agent, and stop it (so everything is logged).
        """
        config = base_config(os.path.join(temporary_directory(self), "root"), log=log)
        registry = RegistryProcess.started(self, config)
        response = requests.get(f"{registry.url}/v2/", headers={"User-Agent": "e2e-test/1.0"},
                                timeout=30)
        self.assertEqual(response.status_code, 200)
        registry.stop()
        return registry

    def test_json(self):
        """
        C{formatter: json} makes every line a JSON object carrying the
        C{fields}; the access log is one of them, with the request's facts.
        """
        registry = self.start_logging({
            "level": "info", "formatter": "json",
            "fields": {"service": "registry", "environment": "e2e"},
        })
        events = [json.loads(line) for line in registry.log().splitlines()]
        self.assertGreater(len(events), 3)
        for event in events:
            self.assertEqual((event["service"], event["environment"]), ("registry", "e2e"))
        [access] = [e for e in events if e.get("log_namespace") == "txregistry.access"]
        self.assertEqual((access["method"], access["uri"], access["status"], access["useragent"]),
                         ("GET", "/v2/", 200, "e2e-test/1.0"))

    def test_access_log_by_default(self):
        """
        By default each request is logged in the combined log format.
        """
        registry = self.start_logging({"level": "info"})
        self.assertRegex(
            registry.log(),
            r'(?m) 127\.0\.0\.1 - - \[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000\] '
            r'"GET /v2/ HTTP/1\.1" 200 2 "-" "e2e-test/1\.0"$',
        )

    def test_access_log_disabled(self):
        """
        C{accesslog.disabled: true} leaves requests out of the log.
        """
        registry = self.start_logging({"level": "info", "accesslog": {"disabled": True}})
        self.assertIn("listening on", registry.log())
        self.assertNotIn("GET /v2/", registry.log())
        self.assertNotIn("e2e-test", registry.log())


class EnvironmentOverrideTests(SynchronousTestCase):
    """
    C{REGISTRY_*} variables override the configuration file.
    """

    def delete_status(self, **environ: str) -> int:
        """
        Start txregistry with deletes disabled in its file and C{environ}
        added to its environment; push a blob and return the status of
        its DELETE.
        """
        root = os.path.join(temporary_directory(self), "root")
        config = base_config(root)
        config["storage"]["delete"] = {"enabled": False}
        registry = RegistryProcess.started(self, config, child_environment(**environ))
        digest = push_blob(registry.url, "e2e/delete", b"delete me")
        url = f"{registry.url}/v2/e2e/delete/blobs/{digest}"
        status = requests.delete(url, timeout=30).status_code
        if status == 202:
            self.assertEqual(requests.head(url, timeout=30).status_code, 404)
        return status

    def test_delete_enabled(self):
        """
        With C{REGISTRY_STORAGE_DELETE_ENABLED=true} a blob DELETE is
        accepted; without it, the file's C{false} refuses it.
        """
        self.assertEqual(self.delete_status(REGISTRY_STORAGE_DELETE_ENABLED="true"), 202)
        self.assertEqual(self.delete_status(), 405)


class ConfigurationPathTests(SynchronousTestCase):
    """
    C{REGISTRY_CONFIGURATION_PATH} names the file, as for Distribution.
    """

    def test_configuration_path_from_environment(self):
        """
        Without C{--config}, twistd reads the file the variable names.
        """
        root = os.path.join(temporary_directory(self), "root")
        registry = RegistryProcess.prepared(self, base_config(root))
        registry.env = child_environment(REGISTRY_CONFIGURATION_PATH=registry.config_path)
        registry.start(twistd_command("--nodaemon", "--pidfile="))
        self.assertIn(f"storage driver filesystem at {root}", registry.log())
        check_serves(self, registry, root)


class RestartTests(SynchronousTestCase):
    """
    Upload sessions live in storage, not in the process.
    """

    def test_chunked_upload_survives_restart(self):
        """
        A chunked upload begun on one server, stopped with SIGTERM after
        the first chunk, is finished on a new server on the same root: the
        new one knows the offset, takes the rest, and the blob is whole.
        """
        root = os.path.join(temporary_directory(self), "root")
        first = RegistryProcess.started(self, base_config(root))
        blob = os.urandom(3 * 1024 * 1024 + 17)
        half = len(blob) // 2
        started = requests.post(f"{first.url}/v2/e2e/restart/blobs/uploads/", timeout=30)
        self.assertEqual(started.status_code, 202)
        patched = patch_chunk(urljoin(first.url, started.headers["Location"]), 0, blob[:half])
        self.assertEqual(patched.status_code, 202)
        self.assertEqual(patched.headers["Range"], f"0-{half - 1}")
        first.stop()

        second = RegistryProcess.started(self, base_config(root))
        # The same session, asked of the new server: Location without the
        # old server's address, if it had one.
        location = urlsplit(patched.headers["Location"])._replace(scheme="", netloc="")
        upload_url = urljoin(second.url, location.geturl())
        status = requests.get(upload_url, timeout=30)
        self.assertEqual((status.status_code, status.headers["Range"]), (204, f"0-{half - 1}"))
        patched = patch_chunk(upload_url, half, blob[half:])
        self.assertEqual(patched.status_code, 202, patched.text)
        self.assertEqual(patched.headers["Range"], f"0-{len(blob) - 1}")
        digest = sha256_digest(blob)
        done = requests.put(urljoin(second.url, patched.headers["Location"]),
                            params={"digest": digest}, timeout=30)
        self.assertEqual(done.status_code, 201, done.text)
        served = requests.get(f"{second.url}/v2/e2e/restart/blobs/{digest}", timeout=30)
        self.assertEqual(served.content, blob)

"""
The OCI distribution-spec conformance suite, ported from Go and run against
a real C{twistd -n txregistry} over HTTP.

The source is the ginkgo suite of the v1.1 releases in
opencontainers/distribution-spec, directory C{conformance/}: C{setup.go}
(the test data and the environment), C{image.go} (the JSON shapes),
C{00_conformance_suite_test.go} (the order: pull, push, content discovery,
content management) and the four workflows C{01_pull_test.go},
C{02_push_test.go}, C{03_discovery_test.go} and C{04_management_test.go}.

Each workflow (a ginkgo C{Context}) is a class of specs; each test method
mirrors one C{g.Specify}, named in its docstring, with the Go expectations:
the same requests, the same status codes allowed, the same headers checked,
the same warnings (L{ConformanceWarning}) where Go calls C{Warn}.  The
specs of a workflow run in order and share state, as the Go closures do.

The Go suite reads its environment once; here a L{Settings} is that
environment and a L{SuiteRun} one run of the suite with it.  Three runs go
against registry processes with deletes enabled, on filesystem storage
unless said otherwise:

 - the run a registry with every workflow and automatic cross-mounting is
   checked with (C{OCI_TEST_*=1}, C{OCI_AUTOMATIC_CROSSMOUNT=1}, the other
   settings at their defaults);
 - the alternatives: the other teardown order
   (C{OCI_DELETE_MANIFEST_BEFORE_BLOBS=0}), C{OCI_AUTOMATIC_CROSSMOUNT} unset,
   a named C{OCI_CROSSMOUNT_NAMESPACE}; request bodies sent chunked, and a
   second registry process, on the in-memory storage driver;
 - the pull workflow against content already in the registry
   (C{OCI_TAG_NAME}, C{OCI_MANIFEST_DIGEST}, C{OCI_BLOB_DIGEST}).

Where the port differs: the Go specs' C{Content-Length} request headers are
not repeated (see L{Client}); the Go specs that exist only for one teardown
order exist here for both and skip in the other; C{RunOnlyIf(runPushSetup)}
and C{RunOnlyIf(runContentManagementSetup)} are left out, nothing in Go
setting those false; the layer blob is built here (L{layer_tarball}).

Not carried over: credentials and C{OCI_AUTH_SCOPE} (the registry runs
without auth), C{OCI_DEBUG}, C{OCI_REPORT_DIR} and
C{OCI_HIDE_SKIPPED_WORKFLOWS} (the reports), C{OCI_TEST_*} (a workflow is
enabled by running its class) and C{OCI_SKIP_EMPTY_LAYER_PUSH_TEST} (declared
in C{setup.go}, read nowhere).
"""

import atexit
import base64
import gzip
import hashlib
import http.client
import io
import json
import os
import random
import secrets
import shutil
import tarfile
import tempfile
import time
import unittest
import uuid
import warnings
from types import SimpleNamespace
from urllib.parse import urlencode, urljoin, urlsplit

import attrs

from tests.integration.processes import RegistryProcess, base_config

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
OCTET_STREAM = "application/octet-stream"

#: C{errorCodes}: the codes a spec error body may carry.
ERROR_CODES = (
    "BLOB_UNKNOWN", "BLOB_UPLOAD_INVALID", "BLOB_UPLOAD_UNKNOWN", "DIGEST_INVALID",
    "MANIFEST_BLOB_UNKNOWN", "MANIFEST_INVALID", "MANIFEST_UNKNOWN", "MANIFEST_UNVERIFIED",
    "NAME_INVALID", "NAME_UNKNOWN", "SIZE_INVALID", "TAG_INVALID", "UNAUTHORIZED", "DENIED",
    "UNSUPPORTED",
)

#: C{numWorkflows}: 16 in Go, where the constant follows four C{1 << iota}.
NUM_WORKFLOWS = 16
EMPTY_LAYER_TEST_TAG = "emptylayer"
TEST_TAG_NAME = "tagtest0"
NONEXISTENT_MANIFEST = ".INVALID_MANIFEST_NAME"
INVALID_MANIFEST_CONTENT = b"blablabla"
ARTIFACT_TYPE_FILTER = "artifactType"
EMPTY_JSON_DIGEST = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
TEST_ANNOTATION_KEY = "org.opencontainers.conformance.test"


class ConformanceWarning(UserWarning):
    """
    What the Go suite reports with C{Warn}: accepted, but worth knowing.
    """


def _warn(message: str) -> None:
    warnings.warn(message, ConformanceWarning, stacklevel=3)


def layer_tarball() -> bytes:
    """
    C{layerBase64String} decoded: a gzipped tarball holding one small text
    file (made here rather than copied; only its being a layer matters).
    """
    text = b"you bothered to find out what was in here. Congratulations!\n"
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        info = tarfile.TarInfo("test.txt")
        info.size = len(text)
        tar.addfile(info, io.BytesIO(text))
    return gzip.compress(raw.getvalue(), mtime=0)


def digest_of(data: bytes) -> str:
    """
    C{godigest.FromBytes}: the sha256 digest string of C{data}.
    """
    return "sha256:" + hashlib.sha256(data).hexdigest()


def marshal(document: dict) -> bytes:
    """
    C{json.MarshalIndent(v, "", "\\t")} for the documents of this suite
    (ASCII only, keys in the order the Go structs declare them).
    """
    return json.dumps(document, indent="\t").encode("ascii")


def descriptor(media_type: str, content: bytes, *, digest: str | None = None,
               data: bytes | None = None, unspecified: bytes | None = None) -> dict:
    """
    A C{descriptor} of C{image.go} as Go encodes it: C{data} only when set,
    C{newUnspecifiedField} always (C{null} when unset).
    """
    document = {
        "mediaType": media_type,
        "digest": digest or digest_of(content),
        "size": len(content),
    }
    if data:
        document["data"] = base64.b64encode(data).decode("ascii")
    document["newUnspecifiedField"] = (
        None if unspecified is None else base64.b64encode(unspecified).decode("ascii")
    )
    return document


def image_manifest(config: dict, layers: list, *, media_type: str | None = OCI_MANIFEST,
                   artifact_type: str | None = None, subject: dict | None = None,
                   annotations: dict | None = None) -> dict:
    """
    A C{manifest} of C{image.go}, fields in its order, empty ones omitted.
    """
    document = {"schemaVersion": 2}
    if media_type:
        document["mediaType"] = media_type
    if artifact_type:
        document["artifactType"] = artifact_type
    document["config"] = config
    document["layers"] = layers
    if subject:
        document["subject"] = subject
    if annotations:
        document["annotations"] = annotations
    return document


@attrs.frozen
class Blob:
    """
    C{TestBlob}: content with its digest (possibly overridden by the
    environment, so not always the content's).
    """

    content: bytes
    digest: str

    @classmethod
    def of(cls, content: bytes) -> "Blob":
        """
        C{content} under its own digest.
        """
        return cls(content, digest_of(content))


@attrs.frozen
class Settings:
    """
    The environment the Go suite reads in C{setup.go}.

    @ivar namespace: C{OCI_NAMESPACE}.
    @ivar crossmount_namespace: C{OCI_CROSSMOUNT_NAMESPACE}; empty means a
        fresh C{conformance-<uuid>}.
    @ivar automatic_crossmount: C{OCI_AUTOMATIC_CROSSMOUNT}; C{None} when
        unset (the two specs depending on it are skipped).
    @ivar delete_manifest_before_blobs: C{OCI_DELETE_MANIFEST_BEFORE_BLOBS}
        (true when unset).
    @ivar tag_name: C{OCI_TAG_NAME}.
    @ivar manifest_digest: C{OCI_MANIFEST_DIGEST}.
    @ivar blob_digest: C{OCI_BLOB_DIGEST}.
    @ivar tag_list: C{OCI_TAG_LIST}.
    """

    namespace: str
    crossmount_namespace: str = ""
    automatic_crossmount: bool | None = True
    delete_manifest_before_blobs: bool = True
    tag_name: str = ""
    manifest_digest: str = ""
    blob_digest: str = ""
    tag_list: str = ""

    @property
    def run_pull_setup(self) -> bool:
        """
        C{runPullSetup}: unless the environment names existing content.
        """
        return not (self.tag_name and self.manifest_digest and self.blob_digest)

    @property
    def run_content_discovery_setup(self) -> bool:
        """
        C{runContentDiscoverySetup}: unless the environment lists tags.
        """
        return not self.tag_list


class Fixtures:
    """
    The test data C{setup.go}'s C{init} builds, its names in snake case
    (C{testBlobA} is C{blob_a}, C{refsManifestAConfigArtifact} is
    C{refs_manifest_a_config}, C{testAnnotationValues} is
    C{annotation_values}).

    @ivar chunked: C{testBlobB} and its two chunks, rebuilt by
        L{setup_chunked_blob}.
    """

    def __init__(self, settings: Settings, seed: int):
        self.seed = seed
        self.crossmount_namespace = (
            settings.crossmount_namespace or f"conformance-{uuid.uuid4()}"
        )
        self.configs = []
        for _ in range(NUM_WORKFLOWS):
            # A random author makes each config, hence each digest, unique.
            config = marshal({
                "author": _random_string(16),
                "architecture": "amd64",
                "os": "linux",
                "rootfs": {"type": "layers", "diff_ids": []},
            })
            self.configs.append(Blob(config, settings.blob_digest or digest_of(config)))

        self.layer = Blob.of(layer_tarball())
        layers = [descriptor(OCI_LAYER, self.layer.content)]

        self.manifests = []
        for config in self.configs:
            content = marshal(image_manifest(self._config_descriptor(config), layers))
            self.manifests.append(
                Blob(content, settings.manifest_digest or digest_of(content))
            )

        empty_layer = marshal(image_manifest(self._config_descriptor(self.configs[1]), [],
                                             media_type=None))
        self.empty_layer_manifest = Blob.of(empty_layer)

        blob_a = random.Random(seed + 1).randbytes(42)
        self.blob_a = Blob.of(blob_a)
        self.setup_chunked_blob(42)

        self.empty_json = Blob.of(b"{}")
        self.empty_json_descriptor = descriptor(OCI_EMPTY, self.empty_json.content)

        self.ref_blob_a = Blob.of(b"NHL Peanut Butter on my NHL bagel")
        self.ref_artifact_type_a = "application/vnd.nhl.peanut.butter.bagel"
        self.ref_blob_b = Blob.of(b"NBA Strawberry Jam on my NBA croissant")
        self.ref_artifact_type_b = "application/vnd.nba.strawberry.jam.croissant"
        self.ref_artifact_type_index = "application/vnd.food.stand"
        self.annotation_values = {}

        subject = descriptor(OCI_MANIFEST, self.manifests[4].content)
        self.refs_manifest_a_config = self._config_typed(
            self.ref_blob_a, self.ref_artifact_type_a, subject, "test config a")
        self.refs_manifest_b_config = self._config_typed(
            self.ref_blob_b, self.ref_artifact_type_b, subject, "test config b")
        self.refs_manifest_a_layer = self._layer_typed(
            self.ref_blob_a, self.ref_artifact_type_a, subject, "test layer a")
        self.refs_manifest_b_layer = self._layer_typed(
            self.ref_blob_b, self.ref_artifact_type_b, subject, "test layer b")
        # Like B, but its subject (manifests[3]) is never pushed.
        self.refs_manifest_c_layer = self._layer_typed(
            self.ref_blob_b, self.ref_artifact_type_b,
            descriptor(OCI_MANIFEST, self.manifests[3].content))
        self.refs_index = self._referrer({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "artifactType": self.ref_artifact_type_index,
            "manifests": [
                descriptor(OCI_MANIFEST, self.refs_manifest_a_config.content),
                descriptor(OCI_MANIFEST, self.refs_manifest_a_layer.content),
            ],
            "subject": subject,
            "annotations": {TEST_ANNOTATION_KEY: "test index"},
        })

        self.dummy_digest = digest_of(b"hello world")

    @staticmethod
    def _config_descriptor(config: Blob) -> dict:
        # The embedded data must be the config; the unknown field's content
        # does not matter.
        return descriptor(OCI_CONFIG, config.content, digest=config.digest,
                          data=config.content, unspecified=b"hello world")

    def _config_typed(self, blob: Blob, artifact_type: str, subject: dict, note: str) -> Blob:
        """
        A referrer typed by its config: C{blob} as config of media type
        C{artifact_type}, the empty JSON blob as layer.
        """
        return self._referrer(image_manifest(
            descriptor(artifact_type, blob.content), [self.empty_json_descriptor],
            subject=subject, annotations={TEST_ANNOTATION_KEY: note},
        ))

    def _layer_typed(self, blob: Blob, artifact_type: str, subject: dict,
                     note: str | None = None) -> Blob:
        """
        A referrer typed by C{artifactType}: the empty JSON config, C{blob}
        as layer of media type C{artifact_type}.
        """
        return self._referrer(image_manifest(
            self.empty_json_descriptor, [descriptor(artifact_type, blob.content)],
            artifact_type=artifact_type, subject=subject,
            annotations={TEST_ANNOTATION_KEY: note} if note else None,
        ))

    def _referrer(self, document: dict) -> Blob:
        """
        Marshal a referrer and remember its test annotation.
        """
        content = marshal(document)
        blob = Blob.of(content)
        annotations = document.get("annotations")
        if annotations:
            self.annotation_values[blob.digest] = annotations[TEST_ANNOTATION_KEY]
        return blob

    def setup_chunked_blob(self, size: int) -> None:
        """
        C{setupChunkedBlob}: a reproducible random blob of C{size} bytes,
        split after C{size/2+1} bytes.
        """
        data = random.Random(self.seed + 2).randbytes(size)
        split = size // 2 + 1
        self.chunked = SimpleNamespace(
            blob=Blob.of(data),
            chunk1=data[:split],
            chunk2=data[split:],
            range1=f"0-{split - 1}",
            range2=f"{split}-{size - 1}",
        )


def _random_string(n: int) -> str:
    letters = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-"
    return "".join(secrets.choice(letters) for _ in range(n))


class Response:
    """
    What a spec looks at in a response (reggie's C{Response}).
    """

    def __init__(self, url: str, status: int, headers: http.client.HTTPMessage, body: bytes):
        self.url = url
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name: str) -> str:
        """
        C{Header().Get}: the first value, or the empty string.
        """
        return self.headers.get(name, "")

    def relative_location(self) -> str:
        """
        C{GetRelativeLocation}: the path and query of C{Location}.
        """
        parts = urlsplit(self.header("Location"))
        return parts.path + (f"?{parts.query}" if parts.query else "")

    def absolute_location(self) -> str:
        """
        C{GetAbsoluteLocation}: C{Location} resolved against the request.
        """
        location = self.header("Location")
        return urljoin(self.url, location) if location else ""

    def json(self):
        """
        The body as JSON.
        """
        return json.loads(self.body)

    def errors(self) -> list[dict]:
        """
        C{Errors}: the entries of a spec error body.
        """
        return self.json()["errors"]

    def tags(self) -> list[str]:
        """
        C{getTagList}: the tags of a tag list, or none if the body is not one.
        """
        try:
            return self.json()["tags"] or []
        except (ValueError, KeyError, TypeError):
            return []


class Client:
    """
    The suite's client (reggie on resty on Go's C{net/http}), reduced to
    what the specs use, on one persistent connection as Go keeps one.

    Go's transport ignores the C{Content-Length} a spec sets: it sends the
    length of a body it can measure (C{0} for a C{POST}, C{PUT} or C{PATCH}
    without body), as C{http.client} does, and a body it cannot measure
    chunked, which is what Go does with the C{io.Reader} some reggie
    versions wrap bodies in.  So the specs here do not repeat the Go specs'
    C{Content-Length} headers, and C{chunked} chooses the second form.
    """

    def __init__(self, base_url: str, namespace: str, chunked: bool = False):
        self.base_url = base_url
        self.namespace = namespace
        self.chunked = chunked
        parts = urlsplit(base_url)
        self._connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)

    def request(self, method: str, path: str, *, name: str | None = None,
                reference: str | None = None, digest: str | None = None,
                headers: dict | None = None, params: dict | None = None,
                body: bytes | None = None) -> Response:
        """
        C{client.NewRequest(method, path, opts...)} then C{client.Do}:
        C{<name>}, C{<reference>} and C{<digest>} in C{path} are replaced,
        C{params} are added to the query C{path} may already have.
        """
        target = path.replace("<name>", name or self.namespace)
        if reference is not None:
            target = target.replace("<reference>", reference)
        if digest is not None:
            target = target.replace("<digest>", digest)
        if params:
            target += ("&" if "?" in target else "?") + urlencode(params)
        all_headers = {
            "User-Agent": "distribution-spec-conformance-tests",
            # Go's transport asks for gzip and decompresses transparently.
            "Accept-Encoding": "gzip",
        }
        all_headers.update(headers or {})
        try:
            return self._send(method, target, all_headers, body)
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            # The server closed the kept-alive connection.  Go's transport
            # retries on a new one if the request is replayable.
            self._connection.close()
            if method not in ("GET", "HEAD"):
                raise
            return self._send(method, target, all_headers, body)

    def _send(self, method, target, headers, body) -> Response:
        if body is not None and self.chunked:
            # An iterable has no length: http.client sends it chunked.
            body = iter((body,))
        self._connection.request(method, target, body=body, headers=headers)
        raw = self._connection.getresponse()
        content = raw.read()
        if raw.headers.get("Content-Encoding") == "gzip":
            content = gzip.decompress(content)
        return Response(self.base_url + target, raw.status, raw.headers, content)


class _Registry:
    """
    The registry processes the runs go against, one per storage driver,
    each started on first use and stopped when the interpreter exits
    (neither trial nor pytest offers a module fixture both honour).
    """

    processes = {}
    failures = {}

    @classmethod
    def url(cls, storage: str) -> str:
        """
        The URL of the registry on C{storage} (C{filesystem} or
        C{inmemory}); a failure to start is raised again to every later
        caller instead of starting another process.
        """
        if storage in cls.failures:
            raise cls.failures[storage]
        if storage not in cls.processes:
            workdir = tempfile.mkdtemp(prefix="txregistry-conformance-")
            config = base_config(os.path.join(workdir, "storage"))
            if storage != "filesystem":
                config["storage"] = {storage: {}, "delete": {"enabled": True}}
            process = RegistryProcess(config, workdir)
            try:
                process.start()
            except RuntimeError as e:
                shutil.rmtree(workdir, ignore_errors=True)
                cls.failures[storage] = e
                raise
            cls.processes[storage] = process
            atexit.register(cls._stop, process, workdir)
        return cls.processes[storage].url

    @staticmethod
    def _stop(process, workdir) -> None:
        process.stop()
        shutil.rmtree(workdir, ignore_errors=True)


class SuiteRun:
    """
    One run of the Go suite: its settings, its data and its client.

    @ivar prepare: called with the client before the first spec, to put
        into the registry what the settings say is there.
    @ivar chunked: send request bodies chunked (see L{Client}).
    @ivar storage: the storage driver of the registry to run against.
    """

    def __init__(self, settings: Settings, prepare=None, chunked: bool = False,
                 storage: str = "filesystem"):
        self.settings = settings
        # The Go suite seeds its random blobs with ginkgo's seed, the time
        # by default.
        self.fixtures = Fixtures(settings, seed=int(time.time()))
        self.prepare = prepare
        self.chunked = chunked
        self.storage = storage
        self._client = None

    def client(self) -> Client:
        """
        The client, connected to the registry (started if need be).
        """
        if self._client is None:
            self._client = Client(_Registry.url(self.storage), self.settings.namespace,
                                  self.chunked)
            if self.prepare is not None:
                self.prepare(self._client)
        return self._client


class Specs:
    """
    The specs of one workflow, mixed into a C{unittest.TestCase} that names
    the L{SuiteRun} they belong to.

    Test methods are numbered, so pytest (definition order) and trial (name
    order) both run them in the Go order.  Run alone, a spec first runs the
    earlier specs of its workflow that have not run yet, so that it finds
    the state it expects.

    @cvar suite: the L{SuiteRun}.
    @cvar initial_state: the workflow's shared variables (the C{var}s of the
        Go C{Context}) and their initial values; L{state} holds them.
    """

    suite: SuiteRun
    initial_state: dict = {}

    def setUp(self):
        cls = type(self)
        if "state" not in cls.__dict__:
            cls.state = SimpleNamespace(**cls.initial_state)
            cls.ran = set()
        self.settings = self.suite.settings
        self.fixtures = self.suite.fixtures
        self.client = self.suite.client()
        for name in sorted(n for n in dir(cls) if n.startswith("test_")):
            if name == self._testMethodName:
                break
            if name not in cls.ran:
                cls.ran.add(name)
                try:
                    getattr(self, name)()
                except unittest.SkipTest:
                    pass
        cls.ran.add(self._testMethodName)

    def run_only_if(self, condition: bool) -> None:
        """
        C{RunOnlyIf}.
        """
        if not condition:
            raise unittest.SkipTest("you have skipped this test.")

    def run_only_if_not(self, condition: bool) -> None:
        """
        C{RunOnlyIfNot}.
        """
        self.run_only_if(not condition)

    def assertStatus(self, response: Response, *allowed: int) -> None:
        """
        The status is one of C{allowed}.
        """
        self.assertIn(response.status, allowed, _describe(response))

    def assertSuccess(self, response: Response, *also: int) -> None:
        """
        The status is 2xx (C{SatisfyAll(>= 200, < 300)}) or one of C{also}.
        """
        if not 200 <= response.status < 300:
            self.assertIn(response.status, also, _describe(response))

    def assertLocation(self, response: Response) -> None:
        """
        There is a C{Location}.
        """
        self.assertNotEqual(response.header("Location"), "", _describe(response))

    def assertDigestHeader(self, response: Response, expected: str) -> None:
        """
        C{Docker-Content-Digest}, if sent, is C{expected}.
        """
        if response.header("Docker-Content-Digest"):
            self.assertEqual(response.header("Docker-Content-Digest"), expected)

    def populate_blob(self, blob: Blob) -> None:
        """
        The setups' upload: C{POST} a session, C{PUT} the whole blob to its
        C{Location}; 2xx.
        """
        session = self.client.request("POST", "/v2/<name>/blobs/uploads/")
        response = self.client.request(
            "PUT", session.relative_location(), params={"digest": blob.digest},
            headers={"Content-Type": OCTET_STREAM}, body=blob.content,
        )
        self.assertSuccess(response)

    def put_manifest(self, reference: str, content: bytes,
                     media_type: str = OCI_MANIFEST) -> Response:
        """
        C{PUT /v2/<name>/manifests/<reference>}.
        """
        return self.client.request(
            "PUT", "/v2/<name>/manifests/<reference>", reference=reference,
            headers={"Content-Type": media_type}, body=content,
        )

    def get_manifest(self, method: str, reference: str) -> Response:
        """
        C{GET} or C{HEAD} a manifest, accepting an OCI image manifest.
        """
        return self.client.request(
            method, "/v2/<name>/manifests/<reference>", reference=reference,
            headers={"Accept": OCI_MANIFEST},
        )

    def delete(self, kind: str, reference: str) -> Response:
        """
        C{DELETE /v2/<name>/<kind>/<reference>} (C{blobs} or C{manifests}).
        """
        return self.client.request("DELETE", f"/v2/<name>/{kind}/<digest>", digest=reference)

    def delete_manifests_first(self) -> None:
        """
        Stand in for a Go teardown spec that exists only when
        C{OCI_DELETE_MANIFEST_BEFORE_BLOBS} is true.
        """
        self.run_only_if(self.settings.delete_manifest_before_blobs)

    def delete_manifests_last(self) -> None:
        """
        Stand in for a Go teardown spec that exists only when
        C{OCI_DELETE_MANIFEST_BEFORE_BLOBS} is false.
        """
        self.run_only_if_not(self.settings.delete_manifest_before_blobs)


def _describe(response: Response) -> str:
    return f"{response.status} from {response.url}: {response.body[:500]!r}"


class PullSpecs(Specs):
    """
    C{01_pull_test.go}: the C{Pull} context.
    """

    initial_state = {"tag": ""}

    def test_01_populate_config_0(self):
        """
        Setup: "Populate registry with test blob" (configs[0]).
        """
        self.run_only_if(self.settings.run_pull_setup)
        self.populate_blob(self.fixtures.configs[0])

    def test_02_populate_config_1(self):
        """
        Setup: "Populate registry with test blob" (configs[1]).
        """
        self.run_only_if(self.settings.run_pull_setup)
        self.populate_blob(self.fixtures.configs[1])

    def test_03_populate_layer(self):
        """
        Setup: "Populate registry with test layer".
        """
        self.run_only_if(self.settings.run_pull_setup)
        self.populate_blob(self.fixtures.layer)

    def test_04_populate_manifest_0(self):
        """
        Setup: "Populate registry with test manifest" (manifests[0], by tag).
        """
        self.run_only_if(self.settings.run_pull_setup)
        self.state.tag = TEST_TAG_NAME
        self.assertSuccess(self.put_manifest(self.state.tag, self.fixtures.manifests[0].content))

    def test_05_populate_manifest_1(self):
        """
        Setup: "Populate registry with test manifest" (manifests[1], by digest).
        """
        self.run_only_if(self.settings.run_pull_setup)
        manifest = self.fixtures.manifests[1]
        self.assertSuccess(self.put_manifest(manifest.digest, manifest.content))

    def test_06_tag_name_from_environment(self):
        """
        Setup: "Get tag name from environment".
        """
        self.run_only_if_not(self.settings.run_pull_setup)
        if self.settings.tag_name:
            self.state.tag = self.settings.tag_name

    def test_07_head_nonexistent_blob(self):
        """
        Pull blobs: "HEAD request to nonexistent blob should result in 404 response".
        """
        response = self.client.request("HEAD", "/v2/<name>/blobs/<digest>",
                                       digest=self.fixtures.dummy_digest)
        self.assertStatus(response, 404)

    def test_08_head_existing_blob(self):
        """
        Pull blobs: "HEAD request to existing blob should yield 200".
        """
        config = self.fixtures.configs[0]
        response = self.client.request("HEAD", "/v2/<name>/blobs/<digest>", digest=config.digest)
        self.assertStatus(response, 200)
        self.assertDigestHeader(response, config.digest)

    def test_09_get_nonexistent_blob(self):
        """
        Pull blobs: "GET nonexistent blob should result in 404 response".
        """
        response = self.client.request("GET", "/v2/<name>/blobs/<digest>",
                                       digest=self.fixtures.dummy_digest)
        self.assertStatus(response, 404)

    def test_10_get_existing_blob(self):
        """
        Pull blobs: "GET request to existing blob URL should yield 200".
        """
        response = self.client.request("GET", "/v2/<name>/blobs/<digest>",
                                       digest=self.fixtures.configs[0].digest)
        self.assertStatus(response, 200)

    def test_11_head_nonexistent_manifest(self):
        """
        Pull manifests: "HEAD request to nonexistent manifest should return 404".
        """
        self.assertStatus(self.get_manifest("HEAD", NONEXISTENT_MANIFEST), 404)

    def test_12_head_manifest_0_by_digest(self):
        """
        Pull manifests: "HEAD request to manifest[0] path (digest) should
        yield 200 response".
        """
        digest = self.fixtures.manifests[0].digest
        response = self.get_manifest("HEAD", digest)
        self.assertStatus(response, 200)
        self.assertDigestHeader(response, digest)

    def test_13_head_manifest_1_by_digest(self):
        """
        Pull manifests: "HEAD request to manifest[1] path (digest) should
        yield 200 response".
        """
        digest = self.fixtures.manifests[1].digest
        response = self.get_manifest("HEAD", digest)
        self.assertStatus(response, 200)
        self.assertDigestHeader(response, digest)

    def test_14_head_manifest_by_tag(self):
        """
        Pull manifests: "HEAD request to manifest path (tag) should yield
        200 response".
        """
        self.assertNotEqual(self.state.tag, "")
        response = self.get_manifest("HEAD", self.state.tag)
        self.assertStatus(response, 200)
        self.assertDigestHeader(response, self.fixtures.manifests[0].digest)

    def test_15_get_nonexistent_manifest(self):
        """
        Pull manifests: "GET nonexistent manifest should return 404".
        """
        response = self.client.request("GET", "/v2/<name>/manifests/<reference>",
                                       reference=NONEXISTENT_MANIFEST)
        self.assertStatus(response, 404)

    def test_16_get_manifest_0_by_digest(self):
        """
        Pull manifests: "GET request to manifest[0] path (digest) should
        yield 200 response".
        """
        self.assertStatus(self.get_manifest("GET", self.fixtures.manifests[0].digest), 200)

    def test_17_get_manifest_1_by_digest(self):
        """
        Pull manifests: "GET request to manifest[1] path (digest) should
        yield 200 response".
        """
        self.assertStatus(self.get_manifest("GET", self.fixtures.manifests[1].digest), 200)

    def test_18_get_manifest_by_tag(self):
        """
        Pull manifests: "GET request to manifest path (tag) should yield 200
        response".
        """
        self.assertNotEqual(self.state.tag, "")
        self.assertStatus(self.get_manifest("GET", self.state.tag), 200)

    def test_19_error_body(self):
        """
        Error codes: "400 response body should contain OCI-conforming JSON
        message" (a GET of a malformed digest, with a body).
        """
        response = self.client.request(
            "GET", "/v2/<name>/manifests/<reference>", reference="sha256:totallywrong",
            headers={"Content-Type": OCI_MANIFEST}, body=INVALID_MANIFEST_CONTENT,
        )
        self.assertStatus(response, 400, 404)
        if response.status == 400:
            errors = response.errors()
            self.assertNotEqual(errors, [])
            self.assertIn(errors[0]["code"], ERROR_CODES)

    def delete_setup_manifest(self, index: int) -> None:
        """
        Teardown: "Delete manifest[index] created in setup": 2xx or 405.
        """
        self.run_only_if(self.settings.run_pull_setup)
        response = self.delete("manifests", self.fixtures.manifests[index].digest)
        self.assertSuccess(response, 405)

    def delete_setup_blob(self, blob: Blob) -> None:
        """
        Teardown: "Delete config[i] blob" or "layer blob created in setup":
        2xx, 404 or 405.
        """
        self.run_only_if(self.settings.run_pull_setup)
        self.assertSuccess(self.delete("blobs", blob.digest), 404, 405)

    def test_20_delete_manifest_0_first(self):
        """
        Teardown: "Delete manifest[0] created in setup", before the blobs.
        """
        self.delete_manifests_first()
        self.delete_setup_manifest(0)

    def test_21_delete_manifest_1_first(self):
        """
        Teardown: "Delete manifest[1] created in setup", before the blobs.
        """
        self.delete_manifests_first()
        self.delete_setup_manifest(1)

    def test_22_delete_config_0(self):
        """
        Teardown: "Delete config[0] blob created in setup".
        """
        self.delete_setup_blob(self.fixtures.configs[0])

    def test_23_delete_config_1(self):
        """
        Teardown: "Delete config[1] blob created in setup".
        """
        self.delete_setup_blob(self.fixtures.configs[1])

    def test_24_delete_layer(self):
        """
        Teardown: "Delete layer blob created in setup".
        """
        self.delete_setup_blob(self.fixtures.layer)

    def test_25_delete_manifest_0_last(self):
        """
        Teardown: "Delete manifest[0] created in setup", after the blobs.
        """
        self.delete_manifests_last()
        self.delete_setup_manifest(0)

    def test_26_delete_manifest_1_last(self):
        """
        Teardown: "Delete manifest[1] created in setup", after the blobs.
        """
        self.delete_manifests_last()
        self.delete_setup_manifest(1)


class PushSpecs(Specs):
    """
    C{02_push_test.go}: the C{Push} context (its C{Setup} is empty).
    """

    initial_state = {"last": None, "prev": None, "empty_layer_manifest_ref": ""}

    def start_upload(self, name: str | None = None, **params) -> Response:
        """
        C{POST /v2/<name>/blobs/uploads/} without body.
        """
        return self.client.request("POST", "/v2/<name>/blobs/uploads/", name=name,
                                   params=params)

    def patch_chunk(self, response: Response, chunk: bytes, content_range: str) -> Response:
        """
        C{PATCH} a chunk to the C{Location} of C{response}.
        """
        return self.client.request(
            "PATCH", response.relative_location(),
            headers={"Content-Type": OCTET_STREAM, "Content-Range": content_range},
            body=chunk,
        )

    def put_blob(self, response: Response, blob: Blob, body: bytes | None) -> Response:
        """
        C{PUT ?digest=} to the C{Location} of C{response}.
        """
        return self.client.request(
            "PUT", response.relative_location(), params={"digest": blob.digest},
            headers={"Content-Type": OCTET_STREAM}, body=body,
        )

    def get_blob(self, blob: Blob) -> Response:
        """
        C{GET /v2/<name>/blobs/<digest>}.
        """
        return self.client.request("GET", "/v2/<name>/blobs/<digest>", digest=blob.digest)

    def test_01_patch_streamed_blob(self):
        """
        Blob Upload Streamed: "PATCH request with blob in body should yield
        202 response".
        """
        response = self.start_upload()
        self.assertLocation(response)
        response = self.client.request(
            "PATCH", response.relative_location(), headers={"Content-Type": OCTET_STREAM},
            body=self.fixtures.blob_a.content,
        )
        self.assertStatus(response, 202)
        self.state.last = response

    def test_02_put_streamed_session(self):
        """
        Blob Upload Streamed: "PUT request to session URL with digest should
        yield 201 response".
        """
        self.assertIsNotNone(self.state.last)
        response = self.put_blob(self.state.last, self.fixtures.blob_a, None)
        self.assertStatus(response, 201)
        self.assertLocation(response)

    def test_03_get_nonexistent_blob(self):
        """
        Blob Upload Monolithic: "GET nonexistent blob should result in 404
        response".
        """
        response = self.client.request("GET", "/v2/<name>/blobs/<digest>",
                                       digest=self.fixtures.dummy_digest)
        self.assertStatus(response, 404)

    def test_04_post_digest_and_blob(self):
        """
        Blob Upload Monolithic: "POST request with digest and blob should
        yield a 201 or 202".
        """
        config = self.fixtures.configs[1]
        response = self.client.request(
            "POST", "/v2/<name>/blobs/uploads/", params={"digest": config.digest},
            headers={"Content-Type": OCTET_STREAM}, body=config.content,
        )
        self.assertLocation(response)
        self.assertStatus(response, 201, 202)
        self.state.last = response

    def test_05_get_blob_after_post(self):
        """
        Blob Upload Monolithic: "GET request to blob URL from prior request
        should yield 200 or 404 based on response code".
        """
        self.assertIsNotNone(self.state.last)
        response = self.get_blob(self.fixtures.configs[1])
        self.assertStatus(response, 404 if self.state.last.status == 202 else 200)

    def test_06_post_session(self):
        """
        Blob Upload Monolithic: "POST request should yield a session ID".
        """
        response = self.start_upload()
        self.assertStatus(response, 202)
        self.state.last = response

    def test_07_put_blob(self):
        """
        Blob Upload Monolithic: "PUT upload of a blob should yield a 201
        Response".
        """
        config = self.fixtures.configs[1]
        response = self.put_blob(self.state.last, config, config.content)
        self.assertLocation(response)
        self.assertStatus(response, 201)

    def test_08_get_existing_blob(self):
        """
        Blob Upload Monolithic: "GET request to existing blob should yield
        200 response".
        """
        self.assertStatus(self.get_blob(self.fixtures.configs[1]), 200)

    def test_09_put_layer(self):
        """
        Blob Upload Monolithic: "PUT upload of a layer blob should yield a
        201 Response".
        """
        layer = self.fixtures.layer
        response = self.put_blob(self.start_upload(), layer, layer.content)
        self.assertLocation(response)
        self.assertStatus(response, 201)

    def test_10_get_existing_layer(self):
        """
        Blob Upload Monolithic: "GET request to existing layer should yield
        200 response".
        """
        self.assertStatus(self.get_blob(self.fixtures.layer), 200)

    def test_11_out_of_order_chunk(self):
        """
        Blob Upload Chunked: "Out-of-order blob upload should return 416",
        after rebuilding the chunks if the registry announces an
        C{OCI-Chunk-Min-Length} above the first chunk's length.
        """
        response = self.start_upload()
        self.assertLocation(response)
        min_length = response.header("OCI-Chunk-Min-Length")
        if min_length:
            if int(min_length) > len(self.fixtures.chunked.chunk1):
                self.fixtures.setup_chunked_blob(int(min_length) * 2 - 2)
        chunked = self.fixtures.chunked
        response = self.patch_chunk(response, chunked.chunk2, chunked.range2)
        self.assertStatus(response, 416)

    def test_12_first_chunk(self):
        """
        Blob Upload Chunked: "PATCH request with first chunk should return
        202", with C{Range} covering it.
        """
        response = self.start_upload()
        self.assertLocation(response)
        self.state.prev = response
        chunked = self.fixtures.chunked
        response = self.patch_chunk(response, chunked.chunk1, chunked.range1)
        self.assertStatus(response, 202)
        self.assertEqual(response.header("Range"), chunked.range1)
        self.state.last = response

    def test_13_retry_chunk(self):
        """
        Blob Upload Chunked: "Retry previous blob chunk should return 416"
        (to the session's first C{Location}).
        """
        chunked = self.fixtures.chunked
        response = self.patch_chunk(self.state.prev, chunked.chunk1, chunked.range1)
        self.assertStatus(response, 416)

    def test_14_stale_session_status(self):
        """
        Blob Upload Chunked: "Get on stale blob upload should return 204
        with a range and location".
        """
        response = self.client.request("GET", self.state.prev.relative_location())
        self.assertStatus(response, 204)
        self.assertLocation(response)
        self.assertEqual(response.header("Range"), self.fixtures.chunked.range1)
        self.state.last = response

    def test_15_second_chunk(self):
        """
        Blob Upload Chunked: "PATCH request with second chunk should return
        202".
        """
        chunked = self.fixtures.chunked
        response = self.patch_chunk(self.state.last, chunked.chunk2, chunked.range2)
        self.assertStatus(response, 202)
        self.assertLocation(response)
        self.state.last = response

    def test_16_put_chunked_session(self):
        """
        Blob Upload Chunked: "PUT request with digest should return 201".
        """
        response = self.put_blob(self.state.last, self.fixtures.chunked.blob, None)
        self.assertStatus(response, 201)
        self.assertLocation(response)

    def test_17_mount_without_from(self):
        """
        Cross-Repository Blob Mount: "Cross-mounting of a blob without the
        from argument should yield session id" (the blob exists nowhere).
        """
        response = self.start_upload(self.fixtures.crossmount_namespace,
                                     mount=self.fixtures.dummy_digest)
        self.assertStatus(response, 202)
        self.assertNotEqual(response.absolute_location(), "")

    def test_18_mount(self):
        """
        Cross-Repository Blob Mount: "POST request to mount another
        repository's blob should return 201 or 202".
        """
        response = self.start_upload(self.fixtures.crossmount_namespace,
                                     mount=self.fixtures.blob_a.digest,
                                     **{"from": self.settings.namespace})
        self.assertStatus(response, 201, 202)
        self.state.last = response

    def test_19_get_mounted_blob(self):
        """
        Cross-Repository Blob Mount: "GET request to test digest within
        cross-mount namespace should return 200".
        """
        self.run_only_if(self.state.last.status == 201)
        self.assertEqual(
            self.state.last.relative_location(),
            f"/v2/{self.fixtures.crossmount_namespace}/blobs/{self.fixtures.blob_a.digest}",
        )
        response = self.client.request("GET", self.state.last.relative_location())
        self.assertStatus(response, 200)

    def test_20_mount_fallback_session(self):
        """
        Cross-Repository Blob Mount: "Cross-mounting of nonexistent blob
        should yield session id".
        """
        self.run_only_if(self.state.last.status == 202)
        self.assertTrue(self.state.last.relative_location().startswith(
            f"/v2/{self.fixtures.crossmount_namespace}/blobs/uploads/"
        ))

    def automatic_mount(self, enabled: bool, expected: int) -> None:
        """
        Mount without C{from} when C{OCI_AUTOMATIC_CROSSMOUNT} is set and
        says C{enabled}, after a successful mount with C{from}.
        """
        self.run_only_if(self.settings.automatic_crossmount is not None)
        self.run_only_if(self.state.last.status == 201)
        self.run_only_if(self.settings.automatic_crossmount is enabled)
        response = self.start_upload(self.fixtures.crossmount_namespace,
                                     mount=self.fixtures.blob_a.digest)
        self.assertStatus(response, expected)

    def test_21_automatic_mount_enabled(self):
        """
        Cross-Repository Blob Mount: "Cross-mounting without from, and
        automatic content discovery enabled should return a 201".
        """
        self.automatic_mount(True, 201)

    def test_22_automatic_mount_disabled(self):
        """
        Cross-Repository Blob Mount: "Cross-mounting without from, and
        automatic content discovery disabled should return a 202".
        """
        self.automatic_mount(False, 202)

    def test_23_get_nonexistent_manifest(self):
        """
        Manifest Upload: "GET nonexistent manifest should return 404".
        """
        response = self.client.request("GET", "/v2/<name>/manifests/<reference>",
                                       reference=NONEXISTENT_MANIFEST)
        self.assertStatus(response, 404)

    def test_24_put_manifest(self):
        """
        Manifest Upload: "PUT should accept a manifest upload" (four tags).
        """
        for i in range(4):
            response = self.put_manifest(f"test{i}", self.fixtures.manifests[1].content)
            self.assertLocation(response)
            self.assertStatus(response, 201)

    def test_25_put_manifest_without_layers(self):
        """
        Manifest Upload: "Registry should accept a manifest upload with no
        layers" (a warning if not).
        """
        response = self.put_manifest(EMPTY_LAYER_TEST_TAG,
                                     self.fixtures.empty_layer_manifest.content)
        if response.status == 201:
            self.assertLocation(response)
            self.state.empty_layer_manifest_ref = response.header("Location")
        else:
            _warn("image manifest with no layers is not supported")

    def test_26_get_manifest_by_digest(self):
        """
        Manifest Upload: "GET request to manifest URL (digest) should yield
        200 response".
        """
        self.assertStatus(self.get_manifest("GET", self.fixtures.manifests[1].digest), 200)

    def delete_pushed_manifests(self) -> None:
        """
        Teardown: "Delete manifest created in tests": manifests[1] and the
        manifest without layers if it was accepted; 2xx or 405.
        """
        self.assertSuccess(self.delete("manifests", self.fixtures.manifests[1].digest), 405)
        if self.state.empty_layer_manifest_ref:
            response = self.delete("manifests", self.fixtures.empty_layer_manifest.digest)
            self.assertSuccess(response, 405)

    def test_27_delete_manifests_first(self):
        """
        Teardown: "Delete manifest created in tests", before the blobs.
        """
        self.delete_manifests_first()
        self.delete_pushed_manifests()

    def test_28_delete_config(self):
        """
        Teardown: "Delete config blob created in tests".
        """
        self.assertSuccess(self.delete("blobs", self.fixtures.configs[1].digest), 404, 405)

    def test_29_delete_layer(self):
        """
        Teardown: "Delete layer blob created in setup".
        """
        self.assertSuccess(self.delete("blobs", self.fixtures.layer.digest), 404, 405)

    def test_30_delete_manifests_last(self):
        """
        Teardown: "Delete manifest created in tests", after the blobs.
        """
        self.delete_manifests_last()
        self.delete_pushed_manifests()


class ContentDiscoverySpecs(Specs):
    """
    C{03_discovery_test.go}: the C{Content Discovery} context.
    """

    initial_state = {"num_tags": 4, "tag_list": []}

    def put_referrer(self, referrer: Blob, subject: Blob, media_type: str = OCI_MANIFEST):
        """
        Push a manifest with a subject: 2xx and C{OCI-Subject} naming it.
        """
        response = self.put_manifest(referrer.digest, referrer.content, media_type)
        self.assertSuccess(response)
        self.assertEqual(response.header("OCI-Subject"), subject.digest)

    def list_tags(self, **params) -> Response:
        """
        C{GET /v2/<name>/tags/list}.
        """
        return self.client.request("GET", "/v2/<name>/tags/list", params=params)

    def list_referrers(self, subject: str, **params) -> tuple[Response, list[dict]]:
        """
        C{GET /v2/<name>/referrers/<digest>}: 200, an image index.

        @return: the response and the descriptors of the index.
        """
        response = self.client.request("GET", "/v2/<name>/referrers/<digest>", digest=subject,
                                       params=params)
        self.assertStatus(response, 200)
        self.assertEqual(response.header("Content-Type"), OCI_INDEX)
        return response, response.json()["manifests"] or []

    def assertAnnotated(self, descriptors: list[dict]) -> None:
        """
        Each descriptor carries exactly the test annotation of its manifest.
        """
        for found in descriptors:
            annotations = found.get("annotations") or {}
            self.assertEqual(len(annotations), 1, found)
            self.assertEqual(annotations.get(TEST_ANNOTATION_KEY),
                             self.fixtures.annotation_values.get(found["digest"]))

    def test_01_populate_config(self):
        """
        Setup: "Populate registry with test blob" (configs[2]).
        """
        self.run_only_if(self.settings.run_content_discovery_setup)
        self.populate_blob(self.fixtures.configs[2])

    def test_02_populate_layer(self):
        """
        Setup: "Populate registry with test layer".
        """
        self.run_only_if(self.settings.run_content_discovery_setup)
        self.populate_blob(self.fixtures.layer)

    def test_03_populate_tags(self):
        """
        Setup: "Populate registry with test tags" (manifests[2] as
        C{test0}..C{test3}), then list them.
        """
        self.run_only_if(self.settings.run_content_discovery_setup)
        for i in range(self.state.num_tags):
            tag = f"test{i}"
            self.state.tag_list.append(tag)
            self.assertSuccess(self.put_manifest(tag, self.fixtures.manifests[2].content))
        self.state.tag_list = self.list_tags().tags()

    def test_04_tags_from_environment(self):
        """
        Setup: "Populate registry with test tags (no push)".
        """
        self.run_only_if_not(self.settings.run_content_discovery_setup)
        self.state.tag_list = self.settings.tag_list.split(",")

    def test_05_references_setup(self):
        """
        Setup: "References setup": the empty JSON blob, referrers of
        manifests[4] pushed before and after it (image manifests with an
        artifact type as config media type or as C{artifactType}, an
        index), and a referrer of manifests[3], which is never pushed.
        """
        self.run_only_if(self.settings.run_content_discovery_setup)
        fixtures = self.fixtures
        self.assertEqual(fixtures.empty_json.digest, EMPTY_JSON_DIGEST)
        self.populate_blob(fixtures.empty_json)
        self.populate_blob(fixtures.ref_blob_a)
        subject = fixtures.manifests[4]
        self.put_referrer(fixtures.refs_manifest_a_config, subject)
        self.put_referrer(fixtures.refs_manifest_a_layer, subject)
        self.put_referrer(fixtures.refs_index, subject, OCI_INDEX)
        self.populate_blob(fixtures.configs[4])
        self.populate_blob(fixtures.layer)
        self.assertSuccess(self.put_manifest(TEST_TAG_NAME, subject.content))
        self.populate_blob(fixtures.ref_blob_b)
        self.put_referrer(fixtures.refs_manifest_b_config, subject)
        self.put_referrer(fixtures.refs_manifest_b_layer, subject)
        self.put_referrer(fixtures.refs_manifest_c_layer, fixtures.manifests[3])

    def test_06_list_tags(self):
        """
        Listing tags: "GET request to list tags should yield 200 response".
        """
        response = self.list_tags()
        self.assertStatus(response, 200)
        self.state.tag_list = response.tags()
        self.state.num_tags = len(self.state.tag_list)

    def test_07_list_tags_n(self):
        """
        Listing tags: "GET number of tags should be limitable by C{n} query
        parameter".
        """
        num_results = self.state.num_tags // 2
        response = self.list_tags(n=num_results)
        self.assertStatus(response, 200)
        self.state.tag_list = response.tags()
        self.assertEqual(len(self.state.tag_list), num_results)

    def test_08_list_tags_last(self):
        """
        Listing tags: "GET start of tag is set by C{last} query parameter".
        As in Go, the assertions look at the first page: the second
        response is only required to be a 200.
        """
        num_results = self.state.num_tags // 2
        self.state.tag_list = self.list_tags(n=num_results).tags()
        response = self.list_tags(n=num_results, last=self.state.tag_list[num_results - 1])
        self.assertStatus(response, 200)
        self.assertLessEqual(len(self.state.tag_list), num_results)
        self.assertIn(self.state.tag_list[num_results - 1], self.state.tag_list)

    def test_09_referrers_of_nonexistent_subject(self):
        """
        Listing references: "GET request to nonexistent blob should result
        in empty 200 response".
        """
        _, descriptors = self.list_referrers(self.fixtures.dummy_digest)
        self.assertEqual(descriptors, [])

    def test_10_referrers(self):
        """
        Listing references: "GET request to existing blob should yield 200":
        the five referrers of manifests[4], with their annotations.
        """
        _, descriptors = self.list_referrers(self.fixtures.manifests[4].digest)
        self.assertEqual(len(descriptors), 5)
        self.assertNotEqual(descriptors[0]["digest"], descriptors[1]["digest"])
        self.assertAnnotated(descriptors)

    def test_11_referrers_filtered(self):
        """
        Listing references: "GET request to existing blob with filter
        should yield 200": the two of artifact type A with
        C{OCI-Filters-Applied: artifactType}, or all five (a warning).
        """
        response, descriptors = self.list_referrers(
            self.fixtures.manifests[4].digest, artifactType=self.fixtures.ref_artifact_type_a
        )
        if response.header("OCI-Filters-Applied"):
            self.assertEqual(len(descriptors), 2)
            self.assertEqual(response.header("OCI-Filters-Applied"), ARTIFACT_TYPE_FILTER)
        else:
            self.assertEqual(len(descriptors), 5)
            _warn("filtering by artifact-type is not implemented")
        self.assertAnnotated(descriptors)

    def test_12_referrers_of_missing_manifest(self):
        """
        Listing references: "GET request to missing manifest should yield
        200": the referrer of the never pushed manifests[3].
        """
        _, descriptors = self.list_referrers(self.fixtures.manifests[3].digest)
        self.assertEqual([d["digest"] for d in descriptors],
                         [self.fixtures.refs_manifest_c_layer.digest])

    def delete_created_manifests(self) -> None:
        """
        Teardown: "Delete created manifest & associated tags", every one by
        C{DELETE /v2/<name>/manifests/<reference>}: 2xx, 404 or 405.
        """
        self.run_only_if(self.settings.run_content_discovery_setup)
        fixtures = self.fixtures
        references = [
            fixtures.refs_index.digest,
            fixtures.manifests[2].digest,
            fixtures.manifests[4].digest,
            fixtures.refs_manifest_a_config.digest,
            fixtures.refs_manifest_a_layer.digest,
            TEST_TAG_NAME,
            fixtures.refs_manifest_b_config.digest,
            fixtures.refs_manifest_b_layer.digest,
            fixtures.refs_manifest_c_layer.digest,
        ]
        for reference in references:
            self.assertSuccess(self.delete("manifests", reference), 404, 405)

    def test_13_delete_manifests_first(self):
        """
        Teardown: "Delete created manifest & associated tags", before the
        blobs.
        """
        self.delete_manifests_first()
        self.delete_created_manifests()

    def test_14_delete_config(self):
        """
        Teardown: "Delete config blob created in tests": 2xx or 405.
        """
        self.run_only_if(self.settings.run_content_discovery_setup)
        self.assertSuccess(self.delete("blobs", self.fixtures.configs[2].digest), 405)

    def test_15_delete_layer(self):
        """
        Teardown: "Delete layer blob created in setup": 2xx or 405.
        """
        self.run_only_if(self.settings.run_content_discovery_setup)
        self.assertSuccess(self.delete("blobs", self.fixtures.layer.digest), 405)

    def test_16_delete_manifests_last(self):
        """
        Teardown: "Delete created manifest & associated tags", after the
        blobs.
        """
        self.delete_manifests_last()
        self.delete_created_manifests()

    def test_17_references_teardown(self):
        """
        Teardown: "References teardown": the referrers and manifests[4]
        around the blobs, in the configured order; 2xx, 404 or 405.
        """
        self.run_only_if(self.settings.run_content_discovery_setup)
        fixtures = self.fixtures
        manifests = [
            fixtures.refs_index, fixtures.refs_manifest_a_config, fixtures.refs_manifest_a_layer,
            fixtures.manifests[4], fixtures.refs_manifest_b_config, fixtures.refs_manifest_b_layer,
        ]
        blobs = [fixtures.configs[4], fixtures.ref_blob_a, fixtures.ref_blob_b,
                 fixtures.empty_json]
        if self.settings.delete_manifest_before_blobs:
            order = [("manifests", manifests), ("blobs", blobs)]
        else:
            order = [("blobs", blobs), ("manifests", manifests)]
        for kind, deleted in order:
            for blob in deleted:
                self.assertSuccess(self.delete(kind, blob.digest), 404, 405)


class ContentManagementSpecs(Specs):
    """
    C{04_management_test.go}: the C{Content Management} context (its
    C{Teardown} is empty).
    """

    initial_state = {"tag_to_delete": "", "num_tags": 0, "blob_delete_allowed": True}

    def tags(self) -> list[str]:
        """
        The tag list, which must be 200 and JSON.
        """
        response = self.client.request("GET", "/v2/<name>/tags/list")
        self.assertStatus(response, 200)
        return response.json()["tags"] or []

    def test_01_populate_config(self):
        """
        Setup: "Populate registry with test config blob" (configs[3]).
        """
        self.populate_blob(self.fixtures.configs[3])

    def test_02_populate_layer(self):
        """
        Setup: "Populate registry with test layer".
        """
        self.populate_blob(self.fixtures.layer)

    def test_03_populate_tag(self):
        """
        Setup: "Populate registry with test tag" (manifests[3]).
        """
        self.state.tag_to_delete = TEST_TAG_NAME
        response = self.put_manifest(self.state.tag_to_delete, self.fixtures.manifests[3].content)
        self.assertSuccess(response)

    def test_04_count_tags(self):
        """
        Setup: "Check how many tags there are before anything gets deleted".
        """
        self.state.num_tags = len(self.tags())

    def test_05_delete_tag(self):
        """
        Manifest delete: "DELETE request to manifest tag should return 202,
        unless tag deletion is disallowed (400/405)"; a 400 must say
        C{UNSUPPORTED}.
        """
        response = self.delete("manifests", self.state.tag_to_delete)
        self.assertStatus(response, 400, 202, 405)
        if response.status == 400:
            errors = response.errors()
            self.assertNotEqual(errors, [])
            self.assertEqual(errors[0]["code"], "UNSUPPORTED")

    def test_06_delete_manifest(self):
        """
        Manifest delete: "DELETE request to manifest (digest) should yield
        202 response unless already deleted".
        """
        response = self.delete("manifests", self.fixtures.manifests[3].digest)
        self.assertStatus(response, 202, 404)

    def test_07_get_deleted_manifest(self):
        """
        Manifest delete: "GET request to deleted manifest URL should yield
        404 response, unless delete is disallowed".
        """
        response = self.client.request("GET", "/v2/<name>/manifests/<digest>",
                                       digest=self.fixtures.manifests[3].digest)
        self.assertStatus(response, 404, 200)

    def test_08_tags_after_delete(self):
        """
        Manifest delete: "GET request to tags list should reflect manifest
        deletion".
        """
        self.assertLess(len(self.tags()), self.state.num_tags)

    def test_09_delete_blobs(self):
        """
        Blob delete: "DELETE request to blob URL should yield 202 response"
        (the config, then the layer; 202, 404 or 405).
        """
        response = self.delete("blobs", self.fixtures.configs[3].digest)
        self.assertStatus(response, 202, 404, 405)
        response = self.delete("blobs", self.fixtures.layer.digest)
        self.assertStatus(response, 202, 404, 405)
        if response.status == 405:
            self.state.blob_delete_allowed = False

    def test_10_get_deleted_blob(self):
        """
        Blob delete: "GET request to deleted blob URL should yield 404
        response".
        """
        self.run_only_if(self.state.blob_delete_allowed)
        response = self.client.request("GET", "/v2/<name>/blobs/<digest>",
                                       digest=self.fixtures.configs[3].digest)
        self.assertStatus(response, 404)


#: What a registry with every workflow and automatic cross-mounting enabled
#: is checked with.
DEFAULT_RUN = SuiteRun(Settings(namespace="conformance/default"))

#: The alternatives: blobs deleted before manifests, a named cross-mount
#: namespace, C{OCI_AUTOMATIC_CROSSMOUNT} unset; and on the client and server
#: side, request bodies chunked and a registry on the in-memory driver (no
#: empty directories, like an object store).
ALTERNATIVES_RUN = SuiteRun(
    Settings(
        namespace="conformance/alternatives",
        crossmount_namespace="conformance/alternatives-mounted",
        automatic_crossmount=None,
        delete_manifest_before_blobs=False,
    ),
    chunked=True,
    storage="inmemory",
)

_EXISTING_CONFIG = Blob.of(marshal({
    "architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []},
}))
_EXISTING_MANIFEST = Blob.of(marshal(image_manifest(
    descriptor(OCI_CONFIG, _EXISTING_CONFIG.content), [],
)))


def _push_existing(client: Client) -> None:
    """
    Push what L{EXISTING_RUN}'s settings name, as whoever chose them would
    have.
    """
    session = client.request("POST", "/v2/<name>/blobs/uploads/")
    pushed = [
        client.request("PUT", session.relative_location(),
                       params={"digest": _EXISTING_CONFIG.digest},
                       headers={"Content-Type": OCTET_STREAM}, body=_EXISTING_CONFIG.content),
        client.request("PUT", "/v2/<name>/manifests/existing",
                       headers={"Content-Type": OCI_MANIFEST}, body=_EXISTING_MANIFEST.content),
    ]
    for response in pushed:
        if response.status != 201:
            raise RuntimeError(f"cannot push the existing content: {_describe(response)}")


#: The pull workflow against content already there (no pull setup).
EXISTING_RUN = SuiteRun(
    Settings(
        namespace="conformance/existing",
        tag_name="existing",
        manifest_digest=_EXISTING_MANIFEST.digest,
        blob_digest=_EXISTING_CONFIG.digest,
    ),
    prepare=_push_existing,
)


class Test1Pull(PullSpecs, unittest.TestCase):
    """
    Pull, in the default run.
    """

    suite = DEFAULT_RUN


class Test2Push(PushSpecs, unittest.TestCase):
    """
    Push, in the default run.
    """

    suite = DEFAULT_RUN


class Test3ContentDiscovery(ContentDiscoverySpecs, unittest.TestCase):
    """
    Content discovery, in the default run.
    """

    suite = DEFAULT_RUN


class Test4ContentManagement(ContentManagementSpecs, unittest.TestCase):
    """
    Content management, in the default run.
    """

    suite = DEFAULT_RUN


class Test5PullAlternatives(PullSpecs, unittest.TestCase):
    """
    Pull, in the run of alternatives.
    """

    suite = ALTERNATIVES_RUN


class Test6PushAlternatives(PushSpecs, unittest.TestCase):
    """
    Push, in the run of alternatives (no automatic cross-mount specs).
    """

    suite = ALTERNATIVES_RUN


class Test7ContentDiscoveryAlternatives(ContentDiscoverySpecs, unittest.TestCase):
    """
    Content discovery, in the run of alternatives.
    """

    suite = ALTERNATIVES_RUN


class Test8ContentManagementAlternatives(ContentManagementSpecs, unittest.TestCase):
    """
    Content management, in the run of alternatives.
    """

    suite = ALTERNATIVES_RUN


class Test9PullExisting(PullSpecs, unittest.TestCase):
    """
    Pull of content already in the registry.
    """

    suite = EXISTING_RUN

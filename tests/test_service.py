"""
The assembled service over real loopback sockets: streaming uploads with
back-pressure, the health gate, draining on shutdown.
"""

import hashlib

from treq.client import HTTPClient
from twisted.internet import reactor
from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import deferLater
from twisted.trial.unittest import TestCase
from twisted.web.client import Agent, HTTPConnectionPool

from txregistry.config import parse_config
from txregistry.service import RegistryService
from txregistry.storage.interfaces import DriverUnavailableError
from txregistry.web import sink


def _config(**extra):
    document = {
        "version": "0.1",
        "log": {"accesslog": {"disabled": True}},
        "storage": {"inmemory": None, "maintenance": {"uploadpurging": {"enabled": False}}},
        "http": {"addr": "127.0.0.1:0"},
    }
    document.update(extra)
    return parse_config(document, environ={})


class _SlowWriter:
    """
    Wraps a writer so each write completes only after C{delay} seconds.
    """

    def __init__(self, writer, delay, record):
        self._writer = writer
        self._delay = delay
        self._record = record

    @property
    def size(self):
        return self._writer.size

    def write(self, data, hasher=None):
        self._record.append(len(data))
        d = self._writer.write(data, hasher)
        return d.addCallback(lambda _: deferLater(reactor, self._delay, lambda: None))

    def close(self):
        return self._writer.close()

    def commit(self):
        return self._writer.commit()

    def cancel(self):
        return self._writer.cancel()


class ServiceTests(TestCase):
    """
    A L{RegistryService} on the in-memory driver, listening on loopback.
    """

    def start(self, config):
        service = RegistryService(config, reactor)
        service.startService()
        self.addCleanup(service.stopService)
        pool = HTTPConnectionPool(reactor, persistent=False)
        self.addCleanup(pool.closeCachedConnections)
        self.client = HTTPClient(Agent(reactor, pool=pool))
        self.base = f"http://127.0.0.1:{service.listener.port.getHost().port}"
        return service

    async def test_version_check(self):
        """
        C{/v2/} answers over a real socket.
        """
        self.start(_config())
        response = await self.client.get(self.base + "/v2/")
        self.assertEqual(response.code, 200)
        self.assertEqual(await response.json(), {})

    async def test_slow_storage_pauses_the_client(self):
        """
        When storage is slower than the client, the client is paused: the
        bytes waiting in the server stay bounded, and the upload completes
        with the right digest.
        """
        service = self.start(_config())
        writes = []
        driver = service.driver
        original = driver.writer

        def slow_writer(path, append=False):
            return original(path, append).addCallback(_SlowWriter, 0.05, writes)

        driver.writer = slow_writer
        paused = []
        original_pause = sink.BodySink._pause

        def pause(self_):
            paused.append(self_._queued + self_._in_flight)
            original_pause(self_)

        self.patch(sink.BodySink, "_pause", pause)
        data = hashlib.sha256(b"x").digest() * (32 * 1024 * 1024 // 32)
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        response = await self.client.post(self.base + "/v2/slow/blobs/uploads/")
        location = response.headers.getRawHeaders("location")[0]
        await response.content()
        response = await self.client.put(f"{location}?digest={digest}", data=data)
        self.assertEqual(response.code, 201, await response.content())
        self.assertTrue(paused, "the client was never paused")
        self.assertLess(max(paused), sink.HIGH_WATER + 1024 * 1024)
        # Read from the socket in pieces bigger than twisted's 64 KiB.
        self.assertLessEqual(max(writes), sink.READ_SIZE)
        self.assertGreater(max(writes), 64 * 1024)
        response = await self.client.head(f"{self.base}/v2/slow/blobs/{digest}")
        self.assertEqual(response.code, 200)

    async def test_health_gate(self):
        """
        While the storage health check fails, requests get 503 UNAVAILABLE;
        the liveness path C{/} does not.
        """
        config = _config(health={"storagedriver": {"enabled": True, "interval": "10ms",
                                                   "threshold": 1}})
        service = self.start(config)
        service.driver.stat = lambda path: _failed(DriverUnavailableError(path, "down"))
        await deferLater(reactor, 0.1, lambda: None)
        response = await self.client.get(self.base + "/v2/")
        self.assertEqual(response.code, 503)
        body = await response.json()
        self.assertEqual(body["errors"][0]["code"], "UNAVAILABLE")
        response = await self.client.get(self.base + "/")
        self.assertEqual(response.code, 200)

    async def test_drain(self):
        """
        With C{http.draintimeout}, stopping waits for a request in flight.
        """
        service = self.start(_config(http={"addr": "127.0.0.1:0", "draintimeout": "5s"}))
        release = Deferred()
        arrived = Deferred()
        original = service.driver.put_content

        def held_put(path, content):
            if path.endswith("startedat"):
                arrived.callback(None)
                return release.addCallback(lambda _: original(path, content))
            return original(path, content)

        service.driver.put_content = held_put
        request = self.client.post(self.base + "/v2/held/blobs/uploads/")
        await arrived
        stopped = service.stopService()
        self.assertFalse(stopped.called, "stopped before the request finished")
        release.callback(None)
        response = await request
        self.assertEqual(response.code, 202)
        await stopped


def _failed(error):
    d = succeed(None)
    d.addCallback(lambda _: (_ for _ in ()).throw(error))
    return d

"""
The assembled service over real loopback sockets: streaming uploads with
back-pressure, the health gate, draining on shutdown.
"""

import hashlib
import socket
import time
import urllib.parse

from treq.client import HTTPClient
from twisted.internet import reactor
from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import deferLater
from twisted.internet.threads import deferToThread
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

        def slow_writer(path, append=False, create=True):
            return original(path, append, create).addCallback(_SlowWriter, 0.05, writes)

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

    async def session(self, timeout: float):
        """
        Start the service with an idle timeout of C{timeout} seconds and
        open an upload session.

        @return: the port, and the session's request target.
        """
        service = self.start(_config())
        service.site.timeOut = timeout
        response = await self.client.post(self.base + "/v2/slow/blobs/uploads/")
        self.assertEqual(response.code, 202)
        await response.content()
        location = urllib.parse.urlsplit(response.headers.getRawHeaders("location")[0])
        return service.listener.port.getHost().port, f"{location.path}?{location.query}"

    async def test_slow_client(self):
        """
        A body of known length is read a piece at a time (the socket's
        low-water mark): one trickling in for four idle timeouts, every
        piece below the mark, is not taken for an idle client; it is read
        to the end and stored.
        """
        port, target = await self.session(timeout=0.5)
        received, _ = await deferToThread(_trickle, port, target, 96 * 1024, 12, 0.17)
        self.assertTrue(received.startswith(b"HTTP/1.1 202 "), received[:300])
        self.assertIn(b"Range: 0-98303", received)

    async def test_idle_client(self):
        """
        A client that stops sending mid-body is still dropped: what it sent
        is read at the first idle timeout, and at the next nothing waits.
        """
        port, target = await self.session(timeout=0.5)
        received, closed_after = await deferToThread(
            _trickle, port, target, 96 * 1024, 96, 0.0, 1024)
        self.assertNotIn(b" 202 ", received)
        self.assertLess(closed_after, 5)

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


def _trickle(port: int, target: str, length: int, pieces: int, interval: float,
             stop_after: int | None = None) -> tuple:
    """
    In a thread: send a C{PATCH} whose C{Content-Length} is C{length}, its
    body in C{pieces} pieces C{interval} seconds apart (stopping, idle,
    after C{stop_after} bytes if given), over a raw socket; then read until
    the server closes.

    @return: what the server sent, and the seconds from the request's first
        byte until the server closed.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        started = time.monotonic()
        sock.sendall(f"PATCH {target} HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n"
                     "Connection: close\r\n\r\n".encode())
        size = length // pieces
        sent = 0
        for index in range(pieces):
            if stop_after is not None and sent >= stop_after:
                break
            time.sleep(interval)
            piece = size if index < pieces - 1 else length - sent
            sock.sendall(b"x" * piece)
            sent += piece
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        return received, time.monotonic() - started


def _failed(error):
    d = succeed(None)
    d.addCallback(lambda _: (_ for _ in ()).throw(error))
    return d

"""
A webhook receiver for notification tests and benchmarks: a real HTTP
server on loopback, in a thread of the test's process, that records the
envelopes POSTed to it.  It can answer slowly, not answer at all (a black
hole that accepts connections and reads requests), or be stopped and
started again on the same port.
"""

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.integration.processes import free_port


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        receiver = self.server.receiver
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if receiver.black_hole:
            receiver.hold(self.connection)
            self.close_connection = True
            return
        if receiver.delay:
            time.sleep(receiver.delay)
        receiver.record(dict(self.headers), body)
        self.send_response(receiver.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format, *args):
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class WebhookReceiver:
    """
    Records what registries POST to C{http://127.0.0.1:<port>/hook}.

    @ivar envelopes: C{(headers, parsed body)} of each request answered,
        in the order answered.
    @ivar delay: seconds to wait before answering each request.
    @ivar status: the status answered.
    @ivar black_hole: whether requests are read and never answered.
    """

    def __init__(self, port: int | None = None, delay: float = 0.0, status: int = 200,
                 black_hole: bool = False):
        self.port = port or free_port()
        self.delay = delay
        self.status = status
        self.black_hole = black_hole
        self.envelopes = []
        self._lock = threading.Lock()
        self._held = []
        self._server = None
        self._thread = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> "WebhookReceiver":
        """
        Listen (again) on the port.
        """
        self._server = _Server(("127.0.0.1", self.port), _Handler)
        self._server.receiver = self
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name="webhook-receiver")
        self._thread.start()
        return self

    def stop(self) -> None:
        """
        Stop listening and drop the connections held by the black hole.
        """
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
        self._server = None
        with self._lock:
            held, self._held = self._held, []
        for connection in held:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            connection.close()

    def hold(self, connection) -> None:
        """
        Keep a connection open without answering, until L{stop}.
        """
        with self._lock:
            self._held.append(connection)
        while self._server is not None and connection in self._held:
            time.sleep(0.05)

    def record(self, headers: dict, body: bytes) -> None:
        """
        Keep one request's headers and parsed body.
        """
        with self._lock:
            self.envelopes.append((headers, json.loads(body)))

    def events(self) -> list[dict]:
        """
        Every event received, in order.
        """
        with self._lock:
            return [event for _, body in self.envelopes for event in body["events"]]

    def wait_for(self, count: int, timeout: float) -> list[dict]:
        """
        Wait until at least C{count} events arrived.

        @raise AssertionError: if they do not within C{timeout} seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            events = self.events()
            if len(events) >= count:
                return events
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{len(events)} events arrived within {timeout} s, expected {count}"
                )
            time.sleep(0.05)

"""
HTTP/1.1 over a blocking socket, byte for byte: the tests choose every byte
of the request line, headers and body, and read the response as sent.

Every request says C{Connection: close}, so a response ends when the server
closes the connection.
"""

import socket

import attrs

from tests.replies import JSONBody

#: What a request may wait for a response before giving up (seconds).
TIMEOUT = 60.0


class NoResponse(ConnectionError):
    """
    The server closed the connection without sending a response head.
    """


@attrs.frozen
class Response(JSONBody):
    """
    A response as received.

    @ivar status: the status code.
    @ivar headers: lower-case header name to its last value.
    @ivar body: the body (de-chunked).
    """

    status: int
    headers: dict
    body: bytes

    def header(self, name: str) -> str | None:
        """
        The value of header C{name}, or C{None}.
        """
        return self.headers.get(name.lower())



def build(method: bytes, target: bytes, headers=(), body: bytes = b"",
          length: int | None = None) -> bytes:
    """
    The bytes of a request.

    @param headers: C{(name, value)} byte pairs, sent as given, after
        C{Host} and C{Connection: close}.
    @param length: the C{Content-Length} to claim; by default the body's
        length, or none at all if the headers give C{Transfer-Encoding} or
        C{Content-Length} themselves.
    """
    lines = [method + b" " + target + b" HTTP/1.1", b"Host: 127.0.0.1", b"Connection: close"]
    names = {name.lower() for name, _ in headers}
    lines.extend(name + b": " + value for name, value in headers)
    if length is None and not names & {b"transfer-encoding", b"content-length"}:
        length = len(body)
    if length is not None:
        lines.append(b"Content-Length: %d" % (length,))
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def chunked(pieces) -> bytes:
    """
    A body in the chunked transfer coding.
    """
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces if p) + b"0\r\n\r\n"


def _dechunk(data: bytes) -> bytes:
    pieces = []
    while True:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            return b"".join(pieces)
        pieces.append(data[:size])
        data = data[size + 2:]


def parse(raw: bytes, head_only: bool = False) -> Response:
    """
    Parse a whole response.

    @param head_only: the request was a C{HEAD}: ignore C{Content-Length}.
    @raise NoResponse: if C{raw} holds no complete response head.
    """
    head, found, body = raw.partition(b"\r\n\r\n")
    if not found or not head.startswith(b"HTTP/"):
        raise NoResponse(f"no response head in {raw[:200]!r}")
    status_line, *header_lines = head.split(b"\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(b":")
        headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
    if head_only:
        body = b""
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        body = _dechunk(body)
    elif "content-length" in headers:
        body = body[:int(headers["content-length"])]
    return Response(int(status_line.split()[1]), headers, body)


def read_until_closed(sock: socket.socket) -> bytes:
    """
    Everything the server sends until it closes (or resets) the connection.
    """
    pieces = []
    while True:
        try:
            piece = sock.recv(1 << 20)
        except ConnectionResetError:
            break
        if not piece:
            break
        pieces.append(piece)
    return b"".join(pieces)


def exchange(address: tuple, data: bytes, head_only: bool = False,
             timeout: float = TIMEOUT) -> Response:
    """
    Send the request C{data} and read the response.

    The server may answer before reading the whole request (and then close):
    a failure to send the rest is not an error as long as a response came.

    @param address: C{(host, port)}.
    @raise OSError: if the connection failed, or L{NoResponse}.
    """
    with socket.create_connection(address, timeout) as sock:
        try:
            sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        return parse(read_until_closed(sock), head_only)


def request(address: tuple, method: str, target: str, headers=(), body: bytes = b"",
            timeout: float = TIMEOUT) -> Response:
    """
    L{exchange} for a request given as text (headers as C{(str, str)} pairs).
    """
    data = build(
        method.encode("ascii"), target.encode("utf-8"),
        [(n.encode("latin-1"), v.encode("latin-1")) for n, v in headers], body,
    )
    return exchange(address, data, head_only=method == "HEAD", timeout=timeout)

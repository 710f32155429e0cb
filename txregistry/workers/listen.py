"""
Listening on an address several processes share: C{SO_REUSEPORT}.
"""

import socket

import attrs
from twisted.internet import defer
from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import IStreamServerEndpoint
from zope.interface import implementer

BACKLOG = 128
"""Connections each process's socket queues before accepting."""


@implementer(IStreamServerEndpoint)
@attrs.frozen
class SharedPortEndpoint:
    """
    A TCP server endpoint whose socket has C{SO_REUSEPORT} set, so that
    every process listening on the same address this way gets its own
    queue and the kernel spreads new connections between them.

    @ivar family: C{AF_INET} or C{AF_INET6}.
    @ivar host: the interface (C{""} for all).
    """

    reactor: object
    family: int
    host: str
    port: int

    def listen(self, factory):
        """
        Bind, listen and give the socket to the reactor.

        @return: a L{Deferred} firing with the L{IListeningPort}, or failing
            with L{CannotListenError}.
        """
        return defer.execute(self._listen, factory)

    def _listen(self, factory):
        sock = socket.socket(self.family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((self.host, self.port))
            sock.listen(BACKLOG)
            sock.setblocking(False)
            # The reactor takes a duplicate of the descriptor.
            return self.reactor.adoptStreamPort(sock.fileno(), self.family, factory)
        except OSError as error:
            raise CannotListenError(self.host, self.port, error) from None
        finally:
            sock.close()

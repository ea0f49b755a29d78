"""A serving process's end of the egress proxy: connections for sandboxed tenants.

A locked-down serving process cannot make a socket. It connects to the
proxy's unix socket before its lock-down (:meth:`EgressClient.connect`);
afterwards each outbound connection a sandboxed tenant opens is asked for
over it, and comes back as a socket handed over (``SCM_RIGHTS``): one end
of a pair whose other end the proxy relays to the host it checked.
"""

from __future__ import annotations

import socket
import ssl

from gevent.lock import Semaphore

from muxserver.proctier import wire


class EgressRefused(OSError):
    """The proxy refused the connection; ``str()`` names the rule."""


class EgressClient:
    """The connection to the proxy at ``socket_path``, proven with ``key``
    (the proxy's key: :func:`muxserver.egress.service.egress_key`)."""

    def __init__(self, socket_path: str, key: bytes):
        self.socket_path = socket_path
        self._key = key
        self._sock = None
        self._lock = Semaphore()
        self._ids = 0
        #: TLS settings made before the lock-down (the CA certificates are
        #: read now; a locked-down process cannot read /etc/ssl).
        self.tls = None

    def connect(self) -> "EgressClient":
        """Connect and show the proof; the proxy closes the socket on a wrong one."""
        from muxserver.egress.policy import serving_proof

        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(self.socket_path)
        wire.send_json(sock, {"op": "hello", "proof": serving_proof(self._key)})
        self._sock = sock
        self.tls = ssl.create_default_context()
        return self

    def open(self, tenant: str, host: str, port: int, timeout: float):
        """A socket connected (through the proxy) to ``host:port``.

        :raises EgressRefused: naming the rule that refused it.
        """
        if self._sock is None:
            raise EgressRefused("outbound HTTP is not available: no egress proxy runs")
        with self._lock:
            self._ids += 1
            try:
                wire.send_json(self._sock, {"op": "open", "id": self._ids, "tenant": tenant,
                                            "host": host, "port": port, "timeout": timeout})
                message, fds = wire.receive_fds(self._sock)
            except (OSError, wire.WireClosed) as exc:
                raise EgressRefused(f"the egress proxy is gone: {exc}") from None
        if "error" in message or len(fds) != 1:
            raise EgressRefused(str(message.get("error", "the egress proxy refused")))
        return socket.socket(fileno=fds[0])

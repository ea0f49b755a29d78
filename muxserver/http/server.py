"""The gevent WSGI servers: a serving process's (around
:class:`~muxserver.app.MuxApp`) and the supervisor's admin listener.

Sets ``TCP_NODELAY`` on every accepted socket: without it a keep-alive
client waits for Nagle's algorithm and the peer's delayed ACK, about 40 ms
per request. At most :data:`MAX_CONNECTIONS` connections are served at once
(more wait in the listen backlog), and idle ones close after
:data:`~muxserver.http.handler.REQUEST_HEAD_TIMEOUT_S`. SIGTERM and SIGINT
stop accepting, wait for requests in flight (up to ``graceful_timeout``),
then return.
"""

from __future__ import annotations

import logging
import signal
import socket
import time

import gevent
from gevent.event import Event
from gevent.pool import Pool
from gevent.pywsgi import WSGIServer

from muxserver.http.handler import MuxHandler

log = logging.getLogger("muxserver.server")

#: Connections one serving process serves at once.
MAX_CONNECTIONS = 10_000
#: Connections the admin listener serves at once.
MAX_ADMIN_CONNECTIONS = 100


class MuxWSGIServer(WSGIServer):
    """pywsgi with TCP_NODELAY on accepted connections."""

    handler_class = MuxHandler

    def handle(self, sock, address):
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:  # not TCP (a UNIX socket in tests)
            pass
        super().handle(sock, address)


class Server:
    """Serve ``app`` on ``listener`` until told to stop.

    :param app: the MuxApp.
    :param listener: a bound, listening socket, or ``(host, port)``.
    """

    def __init__(self, app, listener, graceful_timeout: float = 30.0, on_hup=None):
        self.app = app
        self.wsgi = MuxWSGIServer(listener, app, log=None, error_log=log,
                                  spawn=Pool(MAX_CONNECTIONS))
        self.graceful_timeout = graceful_timeout
        self.should_exit = Event()
        self.on_hup = on_hup or getattr(app, "rescan", lambda: None)

    @property
    def port(self) -> int:
        return self.wsgi.server_port

    def install_signal_handlers(self) -> None:
        gevent.signal_handler(signal.SIGTERM, self.should_exit.set)
        gevent.signal_handler(signal.SIGINT, self.should_exit.set)
        gevent.signal_handler(signal.SIGHUP, lambda: gevent.spawn(self._hup))

    def _hup(self) -> None:
        log.info("SIGHUP: rescanning tenants")
        try:
            self.on_hup()
        except Exception:
            log.exception("rescan after SIGHUP failed")

    def start(self) -> None:
        self.wsgi.start()

    def serve_forever(self) -> None:
        """Serve until SIGTERM/SIGINT (or :attr:`should_exit`), then drain."""
        self.start()
        self.should_exit.wait()
        self.shutdown()

    def shutdown(self) -> None:
        drain([self.wsgi], lambda: getattr(self.app, "inflight", 0), self.graceful_timeout)


class AdminServer:
    """The admin listener of the supervisor: the admin API and the console."""

    def __init__(self, api, listener):
        self.wsgi = MuxWSGIServer(listener, api, log=None, error_log=log,
                                  spawn=Pool(MAX_ADMIN_CONNECTIONS))

    @property
    def port(self) -> int:
        return self.wsgi.server_port

    def start(self) -> "AdminServer":
        self.wsgi.start()
        host, port = self.wsgi.address[:2]
        log.info("admin API and console on http://%s:%d/_mux/", host, port)
        return self

    def stop(self) -> None:
        self.wsgi.stop(timeout=1)


def drain(servers, inflight, timeout: float, heartbeat=None) -> None:
    """Stop accepting, wait for requests in flight, then close idle connections.

    The one drain of a serving process (SIGTERM, SIGINT, a worker told to
    exit). It waits for requests in flight, not for idle keep-alive
    connections: a client that keeps its connection open must not hold the
    process for the whole grace period.

    :param servers: the process's WSGI servers.
    :param inflight: returns how many requests are being answered.
    :param timeout: the grace period in seconds.
    :param heartbeat: called while waiting (a worker's notify to its arbiter).
    """
    log.info("stopping: no new connections; %d requests in flight", inflight())
    for server in servers:
        server.close()  # stop accepting
    deadline = time.monotonic() + timeout
    while inflight() > 0 and time.monotonic() < deadline:
        if heartbeat is not None:
            heartbeat()
        gevent.sleep(0.02)
    if inflight():
        log.warning("grace period over with %d requests in flight", inflight())
    for server in servers:
        server.stop(timeout=0.5)  # idle keep-alive connections
    log.info("stopped")

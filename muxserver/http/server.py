"""The gevent WSGI servers: a serving process's (around
:class:`~muxserver.app.MuxApp`) and the supervisor's admin listener.

Each accepted connection is served by one
:class:`~muxserver.http.handler.Connection` in a greenlet of its own.
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
from gevent.server import StreamServer

from muxserver.http.handler import REQUEST_HEAD_TIMEOUT_S
from muxserver.http.handler import Connection

log = logging.getLogger("muxserver.server")

#: Connections one serving process serves at once.
MAX_CONNECTIONS = 10_000
#: Connections the admin listener serves at once.
MAX_ADMIN_CONNECTIONS = 100


class MuxWSGIServer(StreamServer):
    """A gevent stream server whose connections speak HTTP/1.1 to a WSGI app
    (:class:`~muxserver.http.handler.Connection`), with TCP_NODELAY.

    :param listener: a bound, listening socket, or ``(host, port)``.
    :param application: the WSGI application.
    :param spawn: a pool bounding the connections served at once.
    """

    #: How often connections late with their request head are looked for.
    SWEEP_S = min(1.0, REQUEST_HEAD_TIMEOUT_S / 4)

    def __init__(self, listener, application, spawn):
        super().__init__(listener, spawn=spawn)
        self.application = application
        #: The connections served now (the sweeper reads their deadlines).
        self.connections: set[Connection] = set()
        self._sweeper = None

    @property
    def server_port(self) -> int:
        return self.address[1]

    def start(self):
        super().start()
        if self._sweeper is None:
            self._sweeper = gevent.spawn(self._sweep)

    def stop(self, timeout=None):
        if self._sweeper is not None:
            self._sweeper.kill(block=False)
            self._sweeper = None
        super().stop(timeout)

    def _sweep(self) -> None:
        """Close every connection whose request head is past its deadline."""
        while True:
            gevent.sleep(self.SWEEP_S)
            now = time.monotonic()
            for connection in list(self.connections):
                connection.expire(now)

    def handle(self, sock, address):
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:  # not TCP (a UNIX socket in tests)
            pass
        connection = Connection(sock, address, self.application, self.address)
        self.connections.add(connection)
        try:
            connection.serve()
        finally:
            self.connections.discard(connection)


class Server:
    """Serve ``app`` on ``listener`` until told to stop.

    :param app: the MuxApp.
    :param listener: a bound, listening socket, or ``(host, port)``.
    """

    def __init__(self, app, listener, graceful_timeout: float = 30.0, on_hup=None):
        self.app = app
        self.wsgi = MuxWSGIServer(listener, app, spawn=Pool(MAX_CONNECTIONS))
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
        self.wsgi = MuxWSGIServer(listener, api, spawn=Pool(MAX_ADMIN_CONNECTIONS))

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

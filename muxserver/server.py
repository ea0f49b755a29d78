"""The gevent WSGI server around :class:`~muxserver.app.MuxApp`.

Sets ``TCP_NODELAY`` on every accepted socket: without it a keep-alive
client waits for Nagle's algorithm and the peer's delayed ACK, about 40 ms
per request. SIGTERM and SIGINT stop accepting, wait for requests in flight
(up to ``graceful_timeout``), then return; SIGHUP rescans the tenants.
"""

from __future__ import annotations

import logging
import signal
import socket
import time

import gevent
from gevent.event import Event
from gevent.pywsgi import WSGIHandler
from gevent.pywsgi import WSGIServer

log = logging.getLogger("muxserver.server")


class _Handler(WSGIHandler):
    """pywsgi's handler, quiet about clients that hang up."""

    def log_request(self):  # the app writes the access log
        pass


class MuxWSGIServer(WSGIServer):
    """pywsgi with TCP_NODELAY on accepted connections."""

    handler_class = _Handler

    def handle(self, sock, address):
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:  # not TCP (a UNIX socket in tests)
            pass
        super().handle(sock, address)


class InflightCounter:
    """WSGI middleware counting requests in flight, for graceful stop."""

    def __init__(self, app):
        self.app = app
        self.count = 0

    def __call__(self, environ, start_response):
        self.count += 1
        try:
            result = self.app(environ, start_response)
        except BaseException:
            self.count -= 1
            raise
        if isinstance(result, list):
            self.count -= 1
            return result
        return _CountedBody(result, self)


class _CountedBody:
    def __init__(self, body, counter):
        self.body = body
        self.counter = counter
        self.done = False

    def __iter__(self):
        return iter(self.body)

    def close(self):
        if not self.done:
            self.done = True
            self.counter.count -= 1
            close = getattr(self.body, "close", None)
            if close:
                close()


class Server:
    """Serve ``app`` on ``listener`` until told to stop.

    :param app: the MuxApp.
    :param listener: a bound, listening socket, or ``(host, port)``.
    """

    def __init__(self, app, listener, graceful_timeout: float = 30.0, on_hup=None):
        self.app = app
        self.counter = InflightCounter(app)
        self.wsgi = MuxWSGIServer(listener, self.counter, log=None, error_log=log)
        self.graceful_timeout = graceful_timeout
        self.should_exit = Event()
        self.on_hup = on_hup or app.rescan

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
        log.info("stopping: no new connections; %d requests in flight", self.counter.count)
        self.wsgi.close()  # stop accepting
        deadline = time.monotonic() + self.graceful_timeout
        while self.counter.count > 0 and time.monotonic() < deadline:
            gevent.sleep(0.02)
        if self.counter.count:
            log.warning("grace period over with %d requests in flight", self.counter.count)
        # Idle keep-alive connections are closed now.
        self.wsgi.stop(timeout=0.5)
        log.info("stopped")

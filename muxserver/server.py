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


#: Most request header lines accepted, and the longest line.
MAX_HEADERS = 100
MAX_LINE = 65536


class RequestHeaders:
    """Request headers parsed without the ``email`` package.

    pywsgi parses headers with ``http.client.parse_headers``, which runs the
    whole MIME parser for every request; this reads the same lines into a
    list and offers the part of the message API that pywsgi uses.
    Obsolete line folding, lines without a colon and a header name with
    whitespace are refused (``status`` is set and pywsgi answers 400).
    """

    __slots__ = ("_headers", "status")

    def __init__(self, fp=None):
        self._headers: list[tuple[str, str]] = []
        self.status = ""
        if fp is not None:
            self._read(fp)

    def _read(self, fp) -> None:
        for _ in range(MAX_HEADERS + 1):
            line = fp.readline(MAX_LINE + 1)
            if len(line) > MAX_LINE:
                self.status = "Line too long"
                return
            if line in (b"\r\n", b"\n", b""):
                return
            text = line.decode("latin-1")
            name, sep, value = text.partition(":")
            if not sep or not name or name != name.strip() or text[:1] in " \t":
                self.status = "Invalid header line"
                return
            self._headers.append((name, value.strip()))
        self.status = "Too many headers"

    def get(self, name, default=None):
        name = name.lower()
        for key, value in self._headers:
            if key.lower() == name:
                return value
        return default

    getheader = get

    def get_all(self, name, default=None):
        name = name.lower()
        values = [v for k, v in self._headers if k.lower() == name]
        return values or default

    def __delitem__(self, name):
        name = name.lower()
        self._headers = [(k, v) for k, v in self._headers if k.lower() != name]

    def __contains__(self, name):
        return self.get(name) is not None

    def items(self):
        return list(self._headers)

    @property
    def headers(self):
        for key, value in self._headers:
            yield f"{key}: {value}\r\n"

    @property
    def typeheader(self):
        return self.get("content-type")


class _Handler(WSGIHandler):
    """pywsgi's handler with a lean header parser, quiet access logging."""

    def MessageClass(self, fp, *args):
        return RequestHeaders(fp)

    def read_request(self, raw_requestline):
        ok = super().read_request(raw_requestline)
        lengths = self.headers.get_all("content-length") or []
        if len(set(lengths)) > 1:
            raise ValueError("conflicting Content-Length headers")
        return ok

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


class Server:
    """Serve ``app`` on ``listener`` until told to stop.

    :param app: the MuxApp.
    :param listener: a bound, listening socket, or ``(host, port)``.
    """

    def __init__(self, app, listener, graceful_timeout: float = 30.0, on_hup=None):
        self.app = app
        self.wsgi = MuxWSGIServer(listener, app, log=None, error_log=log)
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

    def inflight(self) -> int:
        return getattr(self.app, "inflight", 0)

    def shutdown(self) -> None:
        log.info("stopping: no new connections; %d requests in flight", self.inflight())
        self.wsgi.close()  # stop accepting
        deadline = time.monotonic() + self.graceful_timeout
        while self.inflight() > 0 and time.monotonic() < deadline:
            gevent.sleep(0.02)
        if self.inflight():
            log.warning("grace period over with %d requests in flight", self.inflight())
        # Idle keep-alive connections are closed now.
        self.wsgi.stop(timeout=0.5)
        log.info("stopped")

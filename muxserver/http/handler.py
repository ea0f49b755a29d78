"""The one HTTP/1.1 request handler, for the tenants' port and the admin listener.

pywsgi's handler with a lean header parser and the request checks that keep a
connection shared by a proxy in step (conflicting ``Content-Length`` headers
are refused with 400: a request-smuggling risk behind a proxy). A request's
line and headers must arrive within :data:`REQUEST_HEAD_TIMEOUT_S` of the
moment the connection waits for them — an idle keep-alive connection and a
client that sends its headers a byte at a time are both closed then, so a
few hundred slow connections cannot hold the server. muxserver writes its
own access log, so the handler writes none.
"""

from __future__ import annotations

import socket

import gevent
from gevent.pywsgi import WSGIHandler

from muxserver.errors import StreamCut

#: Most request header lines accepted, and the longest line.
MAX_HEADERS = 100
MAX_LINE = 65536
#: Seconds a connection may take to send a request's line and headers
#: (waiting idle between keep-alive requests included).
REQUEST_HEAD_TIMEOUT_S = 20.0


class HeadTimeout(socket.timeout):
    """The request's line and headers did not arrive in time (pywsgi closes
    the connection quietly on a socket error)."""


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


class MuxHandler(WSGIHandler):
    """pywsgi's handler with a lean header parser, a deadline on request
    heads, quiet access logging."""

    _head_timer = None

    def MessageClass(self, fp, *args):
        return RequestHeaders(fp)

    def handle_one_request(self):
        try:
            return super().handle_one_request()
        finally:
            self._stop_head_timer()

    def _stop_head_timer(self):
        if self._head_timer is not None:
            self._head_timer.close()
            self._head_timer = None

    def read_requestline(self):
        self._head_timer = gevent.Timeout.start_new(REQUEST_HEAD_TIMEOUT_S,
                                                    HeadTimeout("request head"))
        return super().read_requestline()

    def read_request(self, raw_requestline):
        try:
            ok = super().read_request(raw_requestline)
        finally:
            self._stop_head_timer()
        lengths = self.headers.get_all("content-length") or []
        if len(set(lengths)) > 1:
            raise ValueError("conflicting Content-Length headers")
        return ok

    def log_request(self):  # the app writes the access log
        pass

    def handle_error(self, t, v, tb):
        if isinstance(v, StreamCut):
            # Already logged by the app; no final chunk, no keep-alive.
            self.close_connection = True
            return
        super().handle_error(t, v, tb)

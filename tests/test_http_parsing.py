"""The HTTP/1.1 handler on real sockets: request-parsing cases kept as data
(``tests/requests/valid/*.http`` with the expected parse beside it,
``invalid/*.http`` with the expected refusal), as gunicorn keeps them, and
the connection's behaviour (limits on heads, keep-alive, pipelining,
100-continue, HEAD, the head deadline).

A ``.http`` file is the request with escapes written out (``\\r\\n``,
``\\x01``), so that the files stay readable and exact.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import gevent
import pytest
from gevent.pool import Pool

from muxserver.http import handler
from muxserver.http.server import MuxWSGIServer

CASES = Path(__file__).parent / "requests"


def _raw(path: Path) -> bytes:
    return path.read_text().encode("latin-1").decode("unicode_escape").encode("latin-1")


def _cases(kind: str):
    return sorted(CASES.glob(f"{kind}/*.http"), key=lambda p: p.name)


class Recorder:
    """A WSGI app that records what it was given and echoes the body."""

    def __init__(self):
        self.seen = []

    def __call__(self, environ, start_response):
        body = environ["wsgi.input"].read()
        self.seen.append((environ, body))
        if environ["PATH_INFO"] == "/stream":
            start_response("200 OK", [("Content-Type", "text/plain")])
            return iter([b"a", b"b"])
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Length", str(len(body)))])
        return [body]


@pytest.fixture
def served():
    recorder = Recorder()
    server = MuxWSGIServer(("127.0.0.1", 0), recorder, Pool(100))
    server.start()
    try:
        yield server, recorder
    finally:
        with gevent.Timeout(5):
            server.stop(timeout=1)


def _exchange(server, data: bytes, close_write: bool = True) -> bytes:
    with socket.create_connection(("127.0.0.1", server.server_port), timeout=10) as sock:
        sock.sendall(data)
        if close_write:
            sock.shutdown(socket.SHUT_WR)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)


@pytest.mark.parametrize("case", _cases("valid"), ids=lambda p: p.stem)
def test_valid_request_parses_as_expected(served, case):
    server, recorder = served
    expected = json.loads(case.with_suffix(".json").read_text())
    answer = _exchange(server, _raw(case))
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n"), answer[:200]
    environ, body = recorder.seen[0]
    assert environ["REQUEST_METHOD"] == expected["method"]
    assert environ["PATH_INFO"] == expected["path"]
    assert environ["QUERY_STRING"] == expected["query"]
    assert environ["SERVER_PROTOCOL"] == expected["protocol"]
    headers = {k: v for k, v in environ.items()
               if k.startswith("HTTP_") or k in ("CONTENT_TYPE", "CONTENT_LENGTH")}
    assert headers == expected["headers"]
    assert body == expected["body"].encode("latin-1")
    assert answer.endswith(body)


@pytest.mark.parametrize("case", _cases("invalid"), ids=lambda p: p.stem)
def test_invalid_request_is_refused_and_never_reaches_the_app(served, case):
    server, recorder = served
    expected = json.loads(case.with_suffix(".json").read_text())
    answer = _exchange(server, _raw(case))
    assert answer.startswith(b"HTTP/1.1 %d " % expected["status"]), answer[:200]
    assert b"Connection: close" in answer
    assert recorder.seen == []


@pytest.mark.parametrize("request_bytes, status", [
    (b"GET /" + b"a" * handler.MAX_LINE + b" HTTP/1.1\r\nHost: h\r\n\r\n", 414),
    (b"GET / HTTP/1.1\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(handler.MAX_HEADERS + 1))
     + b"\r\n", 431),
    (b"GET / HTTP/1.1\r\nX-Big: " + b"v" * handler.MAX_LINE + b"\r\n\r\n", 431),
    (b"GET / HTTP/1.1\r\n" + b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 30000) for i in range(6))
     + b"\r\n", 431),
], ids=["request-line", "header-count", "header-line", "head-size"])
def test_heads_over_the_limits_are_refused(served, request_bytes, status):
    server, recorder = served
    answer = _exchange(server, request_bytes)
    assert answer.startswith(b"HTTP/1.1 %d " % status), answer[:200]
    assert recorder.seen == []


def test_pipelined_requests_are_answered_in_order(served):
    server, recorder = served
    answer = _exchange(server, b"POST /1 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\none"
                               b"POST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\ntwo"
                               b"GET /3 HTTP/1.1\r\nHost: h\r\n\r\n")
    assert answer.count(b"HTTP/1.1 200 OK") == 3
    assert answer.index(b"one") < answer.index(b"two")
    assert [e["PATH_INFO"] for e, _ in recorder.seen] == ["/1", "/2", "/3"]


def test_expect_100_continue_is_answered_when_the_body_is_read(served):
    server, recorder = served
    with socket.create_connection(("127.0.0.1", server.server_port), timeout=10) as sock:
        sock.sendall(b"POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
                     b"Expect: 100-continue\r\n\r\n")
        assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"hello")
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 200 OK") and answer.endswith(b"hello")


def test_head_has_headers_and_no_body_and_keeps_the_connection(served):
    server, _ = served
    answer = _exchange(server, b"HEAD /stream HTTP/1.1\r\nHost: h\r\n\r\n"
                               b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n")
    first, _, rest = answer.partition(b"\r\n\r\n")
    assert first.startswith(b"HTTP/1.1 200 OK") and b"Transfer-Encoding" not in first
    assert rest.startswith(b"HTTP/1.1 200 OK")


def test_a_body_without_length_is_chunked_on_http11_and_closes_on_http10(served):
    server, _ = served
    answer = _exchange(server, b"GET /stream HTTP/1.1\r\nHost: h\r\n\r\n")
    assert b"Transfer-Encoding: chunked" in answer and answer.endswith(b"1\r\na\r\n1\r\nb\r\n0\r\n\r\n")
    answer = _exchange(server, b"GET /stream HTTP/1.0\r\n\r\n", close_write=False)
    assert b"Connection: close" in answer and answer.endswith(b"\r\n\r\nab")


def test_the_apps_framing_headers_decide_the_answers_framing(served):
    """Content-Length, Date and ``Connection: close`` from the app, in any
    case, are the answer's own: not added twice; close closes."""

    def app(environ, start_response):
        start_response("200 OK", [("content-length", "2"), ("DATE", "Thu, 01 Jan 1970 00:00:00 GMT"),
                                  ("X-A", "1"), ("X-A", "2"), ("CONNECTION", "Close")])
        return [b"ok"]

    server = MuxWSGIServer(("127.0.0.1", 0), app, Pool(10))
    server.start()
    try:
        answer = _exchange(server, b"GET / HTTP/1.1\r\nHost: h\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
                           close_write=False)
    finally:
        with gevent.Timeout(5):
            server.stop(timeout=1)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert body == b"ok", "the connection closed after the first answer"
    lines = head.split(b"\r\n")
    assert lines[1:6] == [b"content-length: 2", b"DATE: Thu, 01 Jan 1970 00:00:00 GMT", b"X-A: 1",
                          b"X-A: 2", b"CONNECTION: Close"]
    assert not [line for line in lines if line.lower().startswith((b"date", b"content-length"))][2:]


def test_a_head_that_does_not_arrive_in_time_closes_the_connection(monkeypatch):
    """A client that sends part of its head and stalls (or stays idle) is
    closed at the deadline, by the server's sweeper."""
    recorder = Recorder()
    monkeypatch.setattr(handler, "REQUEST_HEAD_TIMEOUT_S", 0.3)
    monkeypatch.setattr(MuxWSGIServer, "SWEEP_S", 0.05)
    server = MuxWSGIServer(("127.0.0.1", 0), recorder, Pool(10))
    server.start()
    try:
        with socket.create_connection(("127.0.0.1", server.server_port), timeout=5) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: h\r\n")
            assert sock.recv(100) == b""  # closed, without an answer
        assert not server.connections
    finally:
        server.stop(timeout=1)
    assert recorder.seen == []

"""The one HTTP/1.1 connection handler, for the tenants' port and the admin listener.

Requests are parsed by llhttp, Node.js's parser, in C (through ``httptools``,
as uvicorn uses it) and answered by a loop of our own under gevent: one
greenlet per connection reads, calls the WSGI application, and writes the
answer in one ``send`` when it fits. pywsgi did the same in Python, and was
half the CPU time of a warm request (issue 26).

What it refuses, and how:

* anything llhttp finds malformed — a bad request line, a header name with
  whitespace, obsolete line folding, a bad chunk size, ``Content-Length``
  twice or beside ``Transfer-Encoding`` (request smuggling behind a proxy),
  a ``Transfer-Encoding`` whose last coding is not ``chunked`` — is 400;
* a request line over :data:`MAX_LINE` bytes is 414; more than
  :data:`MAX_HEADERS` headers, a header over :data:`MAX_LINE` bytes or a
  head over :data:`MAX_HEAD_BYTES` is 431; each closes the connection;
* a request's line and headers must arrive within
  :data:`REQUEST_HEAD_TIMEOUT_S` of the moment the connection waits for
  them — an idle keep-alive connection and a client that sends its headers
  a byte at a time are both closed then, so a few hundred slow connections
  cannot hold the server;
* an answer must make progress every :data:`WRITE_STALL_S`: a client that
  stops reading is dropped, and what its request held (the tenant's
  concurrency slot) is given back.

Bodies are read when the application reads them (``wsgi.input``), so a
large upload streams and ``Expect: 100-continue`` is answered only then;
chunked bodies are decoded by llhttp. A body the application left unread
closes the connection after the answer. Pipelined requests are answered in
order. muxserver writes its own access log, so the handler writes none.

.. warning::
   No ``Upgrade`` (WebSocket) and no HTTP/2: an upgrade request is answered
   as a plain request and its connection closed.
"""

from __future__ import annotations

import logging
import socket
from collections import deque
from time import monotonic
from urllib.parse import unquote_to_bytes

import httptools
from httptools import HttpParserCallbackError
from httptools import HttpParserError
from httptools import HttpParserUpgrade

from muxserver.errors import HOST_EXITS
from muxserver.errors import StreamCut
from muxserver.http import RAW_HEADERS
from muxserver.http.responses import http_date

log = logging.getLogger("muxserver.server")

#: Most request header lines accepted, and the longest request line or header.
MAX_HEADERS = 100
MAX_LINE = 65536
#: The longest request head (line and headers) accepted.
MAX_HEAD_BYTES = 2 * MAX_LINE
#: Seconds a connection may take to send a request's line and headers
#: (waiting idle between keep-alive requests included).
REQUEST_HEAD_TIMEOUT_S = 20.0
#: Seconds an answer being sent may make no progress (the client reads
#: nothing) before the connection is dropped (nginx's ``send_timeout`` is 60).
WRITE_STALL_S = 20.0
#: Bytes read from the socket at a time.
RECV_BYTES = 65536
#: Answers up to this size go out in one ``send`` with their head.
JOIN_BYTES = 65536

_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"

def _bodiless(code: int, method: str) -> bool:
    """Whether an answer has no body on the wire (RFC 9112 §6.3): to HEAD,
    and a 1xx, 204 or 304. Bytes an application gives for one are dropped,
    as werkzeug's ``Response`` drops them: sent, the client would read them
    as the next answer on the connection (round 11)."""
    return method == "HEAD" or code < 200 or code in (204, 304)

_REFUSALS = {
    400: b"Bad Request", 414: b"URI Too Long", 431: b"Request Header Fields Too Large",
}


def _wait_readable(sock) -> None:
    """Wait until ``sock`` (a gevent socket) has something to read, on the
    socket's own watcher as its ``recv`` would after ``EAGAIN``
    (``gevent.socket.wait_read`` makes a watcher per call: an ``epoll_ctl``
    each). Anything else: no wait, the read blocks as it would."""
    wait = getattr(sock, "_wait", None)
    if wait is not None:
        wait(sock._read_event)


class HeadRefused(Exception):
    """A request head over a limit; ``status`` is the answer (414, 431)."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status


class Message:
    """One request as the parser reads it: its head, then its body chunks.

    ``headers`` are ``(name, value)`` byte pairs as they came; ``body`` holds
    the chunks the application has not read yet.
    """

    __slots__ = ("url", "headers", "head_size", "head_done", "complete", "body", "method",
                 "version", "keep_alive", "expects_continue", "upgrade")

    def __init__(self):
        self.url = b""
        self.headers: list = []
        self.head_size = 0
        self.head_done = False
        self.complete = False
        self.body: deque = deque()
        self.method = "GET"
        self.version = "1.1"
        self.keep_alive = True
        self.expects_continue = False
        self.upgrade = False


class RequestBody:
    """``wsgi.input``: the request's body, read from the socket as asked.

    :param connection: the connection the request came on.
    :param message: the request.
    """

    __slots__ = ("_conn", "_message", "_pending")

    def __init__(self, connection, message):
        self._conn = connection
        self._message = message
        self._pending = b""

    def _chunk(self) -> bytes:
        """The next piece of the body, b"" at its end."""
        message = self._message
        if self._pending:
            chunk, self._pending = self._pending, b""
            return chunk
        while not message.body:
            if message.complete:
                return b""
            self._conn.receive_body(message)
        return message.body.popleft()

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            parts = []
            while True:
                chunk = self._chunk()
                if not chunk:
                    return b"".join(parts)
                parts.append(chunk)
        parts, wanted = [], size
        while wanted > 0:
            chunk = self._chunk()
            if not chunk:
                break
            if len(chunk) > wanted:
                chunk, self._pending = chunk[:wanted], chunk[wanted:]
            parts.append(chunk)
            wanted -= len(chunk)
        return b"".join(parts)

    def readline(self, size: int | None = -1) -> bytes:
        parts, taken = [], 0
        while size is None or size < 0 or taken < size:
            chunk = self._chunk()
            if not chunk:
                break
            end = chunk.find(b"\n") + 1 or len(chunk)
            if size is not None and size >= 0:
                end = min(end, size - taken)
            if end < len(chunk):
                self._pending = chunk[end:] + self._pending
            parts.append(chunk[:end])
            taken += end
            if parts[-1].endswith(b"\n"):
                break
        return b"".join(parts)

    def readlines(self, hint: int = -1) -> list[bytes]:
        return list(iter(self.readline, b""))

    def __iter__(self):
        return iter(self.readline, b"")


class Connection:
    """Serves the requests of one client connection, one after another.

    :param sock: the accepted socket.
    :param address: the client's address.
    :param app: the WSGI application.
    :param server_address: ``(host, port)`` the server listens on.
    """

    __slots__ = ("sock", "app", "parser", "messages", "head_bytes", "head_deadline", "_base",
                 "_parsing", "_message", "_status", "_headers", "_headers_sent", "_chunked",
                 "_bodiless", "_close")

    def __init__(self, sock, address, app, server_address):
        self.sock = sock
        self.app = app
        self.parser = httptools.HttpRequestParser(self)
        #: Requests read but not answered yet (pipelining), oldest first.
        self.messages: deque = deque()
        self.head_bytes = 0
        #: When the head being waited for must have arrived (None: not waiting);
        #: the server's sweeper closes the connection after it.
        self.head_deadline: float | None = None
        host, port = (server_address[:2] if isinstance(server_address, tuple)
                      else ("localhost", 0))
        remote = address[:2] if isinstance(address, tuple) and address else ("", 0)
        # What every environ of this connection shares, made once.
        self._base = {
            "SCRIPT_NAME": "",
            "SERVER_NAME": host,
            "SERVER_PORT": str(port),
            "REMOTE_ADDR": remote[0],
            "REMOTE_PORT": str(remote[1]),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.errors": _ErrorStream,
            "wsgi.multithread": False,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
            "wsgi.input_terminated": True,
        }
        #: The request the parser reads now, and the one being answered.
        self._parsing = self._message = None

    # -- parser callbacks (llhttp calls them from feed_data) ---------------------

    def on_message_begin(self):
        self._parsing = Message()
        self.messages.append(self._parsing)

    def on_url(self, url: bytes):
        message = self._parsing
        message.url += url
        if len(message.url) > MAX_LINE:
            raise HeadRefused(414, "request line too long")

    def on_header(self, name: bytes, value: bytes):
        message = self._parsing
        if message.head_done:
            return  # a chunked body's trailer: WSGI has no place for it
        headers = message.headers
        if len(headers) >= MAX_HEADERS:
            raise HeadRefused(431, "too many headers")
        size = len(name) + len(value)
        if size > MAX_LINE:
            raise HeadRefused(431, "header line too long")
        message.head_size += size + 4
        if message.head_size > MAX_HEAD_BYTES:
            raise HeadRefused(431, "request head too large")
        headers.append((name, value.rstrip(b" \t")))

    def on_headers_complete(self):
        message, parser = self._parsing, self.parser
        message.head_done = True
        message.method = parser.get_method().decode("latin-1")
        message.version = parser.get_http_version()
        if message.version != "1.1" and message.version != "1.0":
            raise HeadRefused(400, f"HTTP/{message.version} is not served")
        url = message.url
        if url[:1] != b"/" and url != b"*":
            # Authority form (CONNECT host:port) is a proxy's business; an
            # absolute form must be a URL (it was a traceback and a 500).
            try:
                httptools.parse_url(url)
            except HttpParserError:
                raise HeadRefused(400, "the request target is neither a path nor an absolute "
                                       "URL (CONNECT is not served)") from None
        message.keep_alive = parser.should_keep_alive()
        message.upgrade = parser.should_upgrade()
        self.head_bytes = 0

    def on_body(self, body: bytes):
        self._parsing.body.append(body)

    def on_message_complete(self):
        self._parsing.complete = True

    # -- reading -------------------------------------------------------------------

    def _feed(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except HttpParserUpgrade:
            # The rest is another protocol: answer what was asked, then close.
            if self.messages:
                self.messages[-1].keep_alive = False
                self.messages[-1].complete = True
        except HttpParserCallbackError as exc:
            cause = exc.__context__
            if isinstance(cause, HeadRefused):
                raise cause from None
            raise

    def _read_head(self, answered: bool = False):
        """The next request whose head is complete, or None when the client
        closed between requests (or the server's sweeper closed it: its head
        was late, :meth:`expire`).

        :param answered: an answer was just sent on this connection: the
            client sends its next request only once it has read it, so the
            first read waits for the socket to be readable instead of trying
            at once (a try that fails with ``EAGAIN`` first was a system call
            and an exception on every keep-alive request).
        """
        messages = self.messages
        if messages and messages[0].head_done:
            return messages[0]
        recv = self.sock.recv
        self.head_deadline = monotonic() + REQUEST_HEAD_TIMEOUT_S
        try:
            while not (messages and messages[0].head_done):
                try:
                    if answered:
                        answered = False
                        _wait_readable(self.sock)
                    data = recv(RECV_BYTES)
                except (socket.timeout, ConnectionError):
                    return None
                if not data:
                    return None
                self.head_bytes += len(data)
                self._feed(data)
                if self.head_bytes > MAX_HEAD_BYTES and not (messages and messages[-1].head_done):
                    raise HeadRefused(431, "request head too large")
        finally:
            self.head_deadline = None
        return messages[0]

    def expire(self, now: float) -> bool:
        """Close the connection if its head is late (the server's sweeper
        calls this; one sweep for every connection instead of a timer per
        request). The waiting read then sees the end of the stream."""
        deadline = self.head_deadline
        if deadline is None or now < deadline:
            return False
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        return True

    def receive_body(self, message) -> None:
        """Read more of ``message``'s body from the socket (the application asked)."""
        if message.expects_continue:
            message.expects_continue = False
            self._send(_CONTINUE)
        data = self.sock.recv(RECV_BYTES)
        if not data:
            raise ConnectionError("the client closed the connection in the middle of a body")
        self._feed(data)

    # -- the WSGI environ ------------------------------------------------------------

    def _environ(self, message) -> dict:
        environ = self._base.copy()
        url = message.url.partition(b"#")[0]
        if url[:1] != b"/" and url != b"*":
            parsed = httptools.parse_url(url)  # absolute form: http://host/path
            path, query = parsed.path or b"/", parsed.query or b""
        else:
            path, _, query = url.partition(b"?")
        environ["REQUEST_METHOD"] = message.method
        environ["PATH_INFO"] = (unquote_to_bytes(path) if b"%" in path else path).decode("latin-1")
        environ["QUERY_STRING"] = query.decode("latin-1")
        environ["RAW_URI"] = environ["REQUEST_URI"] = url.decode("latin-1")
        environ["SERVER_PROTOCOL"] = "HTTP/" + message.version
        environ[RAW_HEADERS] = message.headers
        for raw_name, raw_value in message.headers:
            name = raw_name.decode("latin-1").upper().replace("-", "_")
            value = raw_value.decode("latin-1")
            if name == "CONTENT_TYPE" or name == "CONTENT_LENGTH":
                key = name
            else:
                key = "HTTP_" + name
            if key in environ:
                value = environ[key] + ("; " if key == "HTTP_COOKIE" else ",") + value
            elif key == "HTTP_EXPECT" and value.lower() == "100-continue":
                message.expects_continue = not (message.complete or message.body)
            environ[key] = value
        environ["wsgi.input"] = RequestBody(self, message)
        return environ

    # -- writing ---------------------------------------------------------------------

    def start_response(self, status, headers, exc_info=None):
        if exc_info is not None:
            try:
                if self._headers_sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self._status is not None:
            raise AssertionError("start_response called twice without exc_info")
        self._status = status
        self._headers = headers
        return self._write

    def _head(self, body_length: int | None) -> bytes:
        """The status line and headers; decides how the body is framed."""
        lines = ["HTTP/1.1 ", self._status, "\r\n"]
        has_length = has_date = False
        for name, value in self._headers:
            lowered = name.lower()
            if lowered == "content-length":
                has_length = True
            elif lowered == "date":
                has_date = True
            elif lowered == "connection" and value.lower() == "close":
                self._close = True
            lines += (name, ": ", value, "\r\n")
        if not has_date:
            lines += ("Date: ", http_date(), "\r\n")
        self._bodiless = _bodiless(int(self._status[:3]), self._message.method)
        if not has_length and not self._bodiless:
            if body_length is not None:
                lines += ("Content-Length: ", str(body_length), "\r\n")
            elif self._message.version == "1.1":
                self._chunked = True
                lines.append("Transfer-Encoding: chunked\r\n")
            else:
                self._close = True
        if self._close:
            lines.append("Connection: close\r\n")
        elif self._message.version == "1.0":
            lines.append("Connection: keep-alive\r\n")
        lines.append("\r\n")
        self._headers_sent = True
        return "".join(lines).encode("latin-1")

    def _write(self, data: bytes) -> None:
        """Send a piece of the body (the head first, on the first piece)."""
        if self._status is None:
            raise AssertionError("write() before start_response()")
        head = b"" if self._headers_sent else self._head(None)
        if self._bodiless:
            data = b""
        if self._chunked and data:
            data = b"%x\r\n%b\r\n" % (len(data), data)
        if head or data:
            self._send(head + data if len(data) < JOIN_BYTES else head)
            if len(data) >= JOIN_BYTES:
                self._send(data)

    def _send(self, data: bytes) -> None:
        # gevent's sendall asks the kernel for the send buffer's size first,
        # a system call per answer; one send is enough for most answers.
        sent = self.sock.send(data)
        if sent < len(data):
            self._send_rest(memoryview(data)[sent:])

    def _send_rest(self, view) -> None:
        """Send what the kernel did not take at once, each piece within
        :data:`WRITE_STALL_S`: a client that stops reading is dropped (the
        answer's ``close()`` gives back the tenant's concurrency slot)
        instead of holding it for ever; one that reads slowly but reads is
        served to the end."""
        sock = self.sock
        sock.settimeout(WRITE_STALL_S)
        try:
            while view:
                view = view[sock.send(view):]
        finally:
            sock.settimeout(None)

    # -- the loop --------------------------------------------------------------------

    def serve(self) -> None:
        """Answer requests until the client or a request closes the connection."""
        answered = False
        try:
            while True:
                try:
                    message = self._read_head(answered)
                except HeadRefused as exc:
                    self._refuse(exc.status, str(exc))
                    return
                except HttpParserError as exc:
                    self._refuse(400, str(exc))
                    return
                if message is None:
                    return
                if not self._answer(message):
                    return
                self.messages.popleft()
                answered = True
        except HOST_EXITS:
            raise
        except (ConnectionError, socket.timeout, StreamCut):
            pass  # the client went, or a stream was cut: quietly
        except OSError as exc:
            log.debug("connection ended: %s", exc)
        except Exception:
            log.exception("a connection failed while its answer was sent")
        finally:
            try:
                self.sock.close()
            except OSError:
                pass

    def _answer(self, message) -> bool:
        """Answer one request; whether the connection may serve another."""
        self._status = self._headers = None
        self._headers_sent = self._chunked = self._bodiless = False
        self._close = not message.keep_alive
        self._message = message
        try:
            environ = self._environ(message)
            result = self.app(environ, self.start_response)
        except HOST_EXITS:
            raise
        except BaseException:
            log.exception("the application failed on %s %s", message.method,
                          message.url[:200].decode("latin-1"))
            self._error_answer()
            return False
        try:
            if type(result) is list and len(result) == 1:
                body = result[0]
                head = self._head(len(body))
                if self._bodiless:
                    body = b""
                elif self._chunked:
                    body = b"%x\r\n%b\r\n0\r\n\r\n" % (len(body), body) if body else b"0\r\n\r\n"
                if len(body) < JOIN_BYTES:
                    self._send(head + body)
                else:
                    self._send(head)
                    self._send(body)
            else:
                for data in result:
                    if data:
                        self._write(data)
                if not self._headers_sent:
                    self._send(self._head(0))
                if self._chunked:
                    self._send(b"0\r\n\r\n")
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        # A body the application did not read (or not to its end): the next
        # request's head would be somewhere in it.
        return not self._close and message.complete

    def _error_answer(self) -> None:
        if self._headers_sent:
            return
        try:
            self.sock.sendall(b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\n"
                              b"Content-Length: 22\r\nConnection: close\r\n\r\n"
                              b"Internal Server Error\n")
        except OSError:
            pass

    def _refuse(self, status: int, reason: str) -> None:
        """Answer a request that cannot be read, and close."""
        log.info("refused a request (%d): %s", status, reason)
        phrase = _REFUSALS[status]
        body = phrase + b"\n"
        try:
            self.sock.sendall(b"HTTP/1.1 %d %b\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
                              b"Connection: close\r\n\r\n%b" % (status, phrase, len(body), body))
        except OSError:
            pass


class _Errors:
    """``wsgi.errors``: lines go to the server's log."""

    def write(self, text: str) -> None:
        if text.strip():
            log.error("%s", text.rstrip())

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        pass


_ErrorStream = _Errors()

"""Logs: the server's own log, the access log, and each tenant's log.

Every line the process writes — its own messages, the access log, tenant
lines — goes through one
:class:`LogWriter` in the format the operator chose (``text`` or ``json``),
tagged with the process id. A line is formatted once and written off the
request path: the writer queues it and a timer flushes the queue to stderr
every :data:`FLUSH_S` seconds in one ``write`` (and at exit), so a busy
server makes one system call for many lines.

Tenant text is data: in text lines every control character (newline,
carriage return, escape...) is written as a backslash escape, so a tenant
can never make a line look like the server's; JSON escapes it by itself.

Tenant lines (``print()``, ``mux.log()``, tracebacks of tenant errors) also
go to a ring buffer per tenant, served by ``/_mux/tenants/<t>/logs``, so an
operator can answer "why did tenant X get a 5xx?" from either place.
"""

from __future__ import annotations

import atexit
import collections
from json.encoder import encode_basestring as _json_str
import logging
import os
import re
import sys
import time
import warnings

from gevent import monkey

from muxserver.ops import serverjson

#: Longest tenant line written (a traceback is one line of many frames).
MAX_TENANT_LINE = 64 * 1024
#: Lines kept per tenant,
TENANT_LOG_LINES = 1000
#: ...and characters of them: a thousand lines of MAX_TENANT_LINE were 64 MB
#: of the serving process per tenant, host memory outside any budget.
TENANT_LOG_CHARS = 1024 * 1024
#: How long a line may wait in the queue before it is written.
FLUSH_S = 0.02
#: A queue this long is written at once.
FLUSH_LINES = 512

server_log = logging.getLogger("muxserver")

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\x85]")


#: The OS thread's id (gevent patches ``threading.get_ident`` to greenlets).
_thread_id = monkey.get_original("_thread", "get_ident")


def escape(text: str) -> str:
    """``text`` with control characters written as escapes (one line, always)."""
    if _CONTROL.search(text) is None:
        return text
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def _tag(value) -> str:
    """A tag's value as one token of one line: control characters and
    spaces escaped (a request id a process tenant set to text holding a
    newline and ``tenant=victim`` wrote a whole forged line, round 11)."""
    text = value if type(value) is str else str(value)
    if text.isprintable() and " " not in text:
        return text  # a tenant name, a request id the server made: as it is
    return escape(text).replace(" ", "\\x20")


class LogWriter:
    """Formats lines once and writes them in batches, off the request path.

    :param fmt: ``text`` or ``json``.
    :param stream: where lines go (stderr).
    """

    def __init__(self, fmt: str = "text", stream=None):
        self.json = fmt == "json"
        self.stream = stream if stream is not None else sys.stderr
        self.pid = os.getpid()
        # A deque: the hub watchdog's thread drains it beside the loop's appends.
        self._queue: collections.deque[str] = collections.deque()
        self._second = -1
        self._stamp = ""
        self._timer = None
        self._thread = _thread_id()
        atexit.register(self.flush)

    def timestamp(self) -> str:
        now = int(time.time())
        if now != self._second:  # formatted once a second
            self._second = now
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(now))
        return self._stamp

    def line(self, level: str, logger: str, message: str, fields: dict | None = None) -> None:
        """Queue one line. ``message`` and ``fields`` may hold tenant text."""
        if self.json:
            doc = {"time": self.timestamp(), "level": level, "logger": logger, "pid": self.pid,
                   "message": message}
            if fields:
                doc.update(fields)
            text = serverjson.dumps(doc)
        else:
            tags = ""
            if fields:
                tenant = fields.get("tenant")
                if tenant:
                    tags = f" tenant={_tag(tenant)}"
                rid = fields.get("request_id")
                if rid:
                    tags += f" rid={_tag(rid)}"
            text = (f"{self.timestamp()} {level.upper():<5} {logger} pid={self.pid}{tags}: "
                    f"{escape(message)}")
        self.emit(text)

    def emit(self, text: str) -> None:
        """Queue one formatted line; the first line of a batch schedules the write."""
        if _thread_id() != self._thread:
            # Another OS thread (the hub watchdog, while the hub is blocked):
            # the event loop is not ours to touch, and the line is urgent.
            # The lines still queued go first: they tell what led to the stall,
            # and a process stuck that long may be killed before its loop runs.
            self._write([*self._drain(), text])
            return
        queue = self._queue
        queue.append(text)
        if len(queue) == 1:
            self._schedule()
        elif len(queue) >= FLUSH_LINES:
            self.flush()

    def _schedule(self) -> None:
        if self._timer is not None and self._timer.active:
            return
        try:
            from gevent import get_hub

            # A new timer for each batch: libev keeps what was left of a
            # timer's wait when it fired or stopped, not the wait it was made
            # with, so a restarted timer fires at once — every line was a
            # write of its own, and a wake of the supervisor's log copier.
            timer = self._timer = get_hub().loop.timer(FLUSH_S)
        except Exception:  # no hub (a tool run outside the server): write now
            self.flush()
            return
        timer.start(self.flush)

    def flush(self) -> None:
        lines = self._drain()
        if lines:
            self._write(lines)

    def _drain(self) -> list[str]:
        """Take every queued line, one ``popleft`` at a time: a line another
        thread appends meanwhile is taken or left, never lost."""
        queue, lines = self._queue, []
        while True:
            try:
                lines.append(queue.popleft())
            except IndexError:
                return lines

    def retire(self) -> None:
        """Make way for a new writer. In a forked worker the queued lines are
        the parent's, which writes them itself: they are dropped, not repeated."""
        atexit.unregister(self.flush)
        if self._timer is not None:
            self._timer.stop()
        if self.pid == os.getpid():
            self.flush()
        else:
            self._queue.clear()

    def _write(self, lines: list[str]) -> None:
        try:
            self.stream.write("\n".join(lines) + "\n")
            self.stream.flush()
        except (OSError, ValueError):  # stderr closed: nothing to tell
            pass


#: The process's writer; :func:`setup_logging` replaces it.
writer = LogWriter()
#: Whether the access log is on (``--no-access-log`` turns it off).
access_enabled = True


def access(method: str, path: str, status: int, duration_ms: float, tenant: str | None,
           endpoint: str | None, cold: bool, request_id: str) -> None:
    """One access-log line, built without the logging machinery."""
    if not access_enabled:
        return
    if writer.json:
        # The hottest line of the server: one format string, the C string
        # escaper for every text a client or tenant chose.
        method_s, path_s = _json_str(method), _json_str(path)
        writer.emit(
            f'{{"time": "{writer.timestamp()}", "level": "info", "logger": "muxserver.access", '
            f'"pid": {writer.pid}, "message": {_json_str(f"{method} {path} {status}")}, '
            f'"tenant": {_json_str(tenant) if tenant else "null"}, '
            f'"request_id": {_json_str(request_id)}, '
            f'"endpoint": {_json_str(endpoint) if endpoint else "null"}, "status": {status}, '
            f'"duration_ms": {duration_ms:.3f}, "cold": {"true" if cold else "false"}, '
            f'"method": {method_s}, "path": {path_s}}}'
        )
    else:
        writer.line("info", "muxserver.access",
                    f"{method} {path} {status} {duration_ms:.1f}ms {endpoint or '-'}"
                    f"{' cold' if cold else ''}",
                    {"tenant": tenant, "request_id": request_id})


class TenantLogs:
    """The last lines each tenant logged: at most ``lines`` of them and
    ``chars`` characters together (the newest line is always kept)."""

    def __init__(self, lines: int = TENANT_LOG_LINES, chars: int = TENANT_LOG_CHARS):
        self._lines = lines
        self._chars = chars
        self._buffers: dict[str, collections.deque] = {}
        self._sizes: dict[str, int] = {}
        #: Lines each tenant wrote in all: numbers its lines for pages.
        self._written: dict[str, int] = {}

    def write(self, tenant: str, request_id: str | None, line: str, level: str = "info") -> None:
        # The last cap on a tenant's line (the sandbox's writers cut theirs):
        # no line of the server's log is longer (a 400 MB one was, issue 23).
        line = str.__str__(line) if isinstance(line, str) else repr(type(line))
        if len(line) > MAX_TENANT_LINE:
            line = line[:MAX_TENANT_LINE] + "...(cut)"
        buffer = self._buffers.get(tenant)
        if buffer is None:
            buffer = self._buffers[tenant] = collections.deque()
        buffer.append({"time": time.time(), "request_id": request_id, "level": level,
                       "line": line})
        self._written[tenant] = self._written.get(tenant, 0) + 1
        size = self._sizes.get(tenant, 0) + len(line)
        while len(buffer) > 1 and (len(buffer) > self._lines or size > self._chars):
            size -= len(buffer.popleft()["line"])
        self._sizes[tenant] = size
        writer.line(level, "muxserver.tenant", line, {"tenant": tenant, "request_id": request_id})

    def tail(self, tenant: str, limit: int | None = None) -> list[dict]:
        buffer = self._buffers.get(tenant, ())
        entries = list(buffer)
        return entries[-limit:] if limit else entries

    def numbered(self, tenant: str) -> tuple[int, list[dict]]:
        """The lines kept, oldest first, and the number of the first (lines
        are numbered from 0 as written: a number stays the same line while
        it is kept, as pages of a tail need)."""
        entries = list(self._buffers.get(tenant, ()))
        return self._written.get(tenant, 0) - len(entries), entries

    def drop(self, tenant: str) -> None:
        self._buffers.pop(tenant, None)
        self._sizes.pop(tenant, None)
        self._written.pop(tenant, None)


class WriterHandler(logging.Handler):
    """Sends ``logging`` records through :data:`writer`."""

    _FIELDS = ("tenant", "request_id", "endpoint", "status")

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if record.exc_info:
                message += "\n" + logging.Formatter().formatException(record.exc_info)
            fields = {name: getattr(record, name) for name in self._FIELDS
                      if getattr(record, name, None) is not None}
            writer.line(record.levelname.lower(), record.name, message, fields)
        except Exception:
            self.handleError(record)


def setup_logging(fmt: str = "text", level: int = logging.INFO, access: bool = True) -> None:
    """Send every log line of this process to stderr in ``fmt`` (``text`` or ``json``).

    Each process of the server calls it at start, so lines carry its pid.
    Python's warnings are lines of it too (:func:`capture_warnings`).
    """
    global writer, access_enabled
    writer.retire()
    writer = LogWriter(fmt)
    access_enabled = access
    handler = WriterHandler()
    for name in ("muxserver", "py.warnings"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False
    capture_warnings()


def capture_warnings() -> None:
    """Python's warnings go through the log writer (escaped, one line
    each), and are shown every time rather than kept once per text.

    Host code warns about what a tenant gave it: werkzeug's ``dump_cookie``
    names a too-large cookie's key, newlines and all, and ``warnings``
    wrote that text to stderr as it was — a tenant's
    ``set_cookie("k\n<a forged access line>", big)`` put a line of its
    choosing into the server's log (round 15). Python's default action also
    keeps every distinct text in the calling module's ``__warningregistry__``
    for the life of the process: each new key was kept for ever, in the
    process every tenant shares. Categories Python ignores by default stay
    ignored (the filter is appended after its own).
    """
    logging.captureWarnings(True)
    warnings.filterwarnings("always", append=True)

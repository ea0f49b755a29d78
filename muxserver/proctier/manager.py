"""The process tier as a serving process runs it: one tenant version, a few
processes, each answering one request at a time.

:class:`ProcessTier` holds, per live tenant version, the processes its
zygote forked (:mod:`.zygote`). A request takes a free process of its
version — or forks one, up to :data:`MAX_PROCESSES` per version in this
serving process — sends the request over the process's socket, and waits
for the answer while watching, from outside, the two clocks the tenant
cannot touch:

* CPU: the process's CPU-time clock (``clock_gettime`` on the clock of
  another process needs no permission, and counts every thread);
* wall: the request's deadline.

Over ``cpu_ms`` the process is killed (by the zygote: a serving process
cannot signal) and the request answered 503; over ``wall_s``, 504. A
process that dies while it holds a request answers 502. Either way the
next request forks a new one. A process over its address space (its
``memory_mb``) reports it and exits: 503. A process idle for
``--idle-ttl`` is stopped (scale to zero); so is every process of a
version that was replaced, once idle.

Between requests a process is **frozen** (``SIGSTOP`` through the zygote)
and thawed (``SIGCONT``) when the next request takes it, as AWS Lambda
freezes an execution environment between invocations: a thread the
tenant's code started computes only while the process holds a request,
under that request's ``cpu_ms``. Its wall clock goes on (timers, sleeps and
deadlines are late, never early). The freeze comes :data:`FREEZE_AFTER_S`
after the answer was wholly read, unless another request took the process
first — back-to-back requests pay no stop and continue (each costs a
message to the zygote and a wake-up on the request's path) — and the CPU
the process used in that gap is the next request's: its ``cpu_ms`` is
counted from the end of the last answer, not from its own start.

When the zygote cannot fork (the server's tasks or memory are all taken)
the request is answered 503 naming the cause; a zygote that is gone is
replaced (by the supervisor for a serving process, here for an in-process
app: :meth:`ProcessTier.use_zygote`).

Processes write their standard output and error to the tenant's log,
line by line, tagged with the request the server sent them last (never
with what the process says it is serving).
"""

from __future__ import annotations

import hmac
import hashlib
import logging
import os
import time

import gevent
from gevent.event import Event
from gevent.lock import Semaphore
from gevent.queue import Empty
from gevent.queue import Queue

from muxserver.errors import LimitStopped
from muxserver.errors import TenantCodeError
from muxserver.errors import TenantLoadError
from muxserver.errors import TenantProcessDied
from muxserver.http.responses import MAX_BODY_BYTES
from muxserver.http.responses import BadReturnValue
from muxserver.http.responses import _status as checked_status
from muxserver.http.responses import plain_headers
from muxserver.proctier import wire
from muxserver.proctier.launcher import ZygoteError
from muxserver.proctier.tenantapp import ERROR_HEADER

log = logging.getLogger("muxserver.proctier")

#: Processes one tenant version may have in one serving process.
MAX_PROCESSES = 4
#: Longest the CPU clock goes unread while a request runs.
CHECK_EVERY_S = 0.01
#: Seconds an idle process runs on before it is frozen (its CPU meanwhile
#: is charged to its next request).
FREEZE_AFTER_S = 0.005
#: Seconds a new process has to say it is ready (fork, lock-down).
READY_TIMEOUT_S = 10.0
#: Headers a process tenant may not set on its answer beyond the server's
#: own (:data:`muxserver.http.responses.SERVER_HEADERS`, which
#: ``plain_headers`` drops for both tiers): a proxy's and the server's name.
_PROCESS_DROPPED = frozenset({"proxy-authenticate", "proxy-authorization", "server"})
#: Largest body a process tenant may answer with: the serving process holds
#: it whole (and joins it: twice that at its peak), so it is the sandbox
#: tier's bound on a body held in memory, and no more than the tenant's own
#: ``memory_mb`` (round 15: 256 MB streamed by a process of memory_mb = 64
#: grew the serving process every tenant shares by 541 MB).
MAX_RESPONSE_BYTES = MAX_BODY_BYTES
#: Largest JSON frame a process tenant may send (an answer's head: its
#: headers are at most 64 KB; a log line; a load failure's traceback), and
#: the most bytes of log lines it may write per request it holds (and before
#: its first): the serving process parses and writes what a process sends
#: on its hub, at no cost to the process's own ``cpu_ms`` (round 15: 200
#: frames of 400,000 zeros, sent with 0.03 s of the tenant's CPU, took the
#: serving process 6.5 s and held every other tenant's request up to 0.8 s).
#: Lines past the budget are dropped, and the log says so once; a process
#: that goes on to :data:`LOG_FLOOD_FACTOR` times the budget is stopped
#: (reading and dropping lines still costs the hub).
MAX_PROCESS_JSON_BYTES = 256 * 1024
MAX_LOG_BYTES_PER_REQUEST = 2**20
LOG_FLOOD_FACTOR = 16
#: Longest log line written (the process's own pump cuts at 8 KB).
MAX_PROCESS_LOG_LINE = 8192


def cpu_clock(pid: int) -> int:
    """The clock id of process ``pid``'s CPU time (Linux's
    ``MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED)``)."""
    return (~pid << 3) | 2


def process_cpu_s(pid: int) -> float | None:
    try:
        return time.clock_gettime(cpu_clock(pid))
    except OSError:  # gone
        return None


def session_secret(session_key: bytes, tenant: str) -> str:
    """The key a tenant's sessions are signed with when its app has none
    (the one :class:`~muxserver.tenant_api.site.TenantSite` derives)."""
    return hmac.new(session_key, f"session:{tenant}".encode(), hashlib.sha256).hexdigest()


def plan_for(config, spec, session_key: bytes, proxy: str | None) -> dict:
    """What a zygote needs to fork a process for ``spec`` (JSON)."""
    from muxserver.tenancy.loader import make_data_folder
    from muxserver.tenant_api import forms

    limits = spec.manifest.limits
    function = spec.manifest.function
    return {
        "tenant": spec.name,
        "app_root": os.path.realpath(spec.root),
        "site": spec.process_site,
        "data": os.path.realpath(make_data_folder(config.state_dir, spec.name)),
        "limits": {"cpu_ms": limits.cpu_ms, "wall_s": limits.wall_s,
                   "memory_mb": limits.memory_mb, "storage_mb": limits.storage_mb},
        # What its platform sets (Cloud Functions' for gcf), under its [env]:
        # as a sandboxed tenant's os.environ holds.
        "env": forms.environment(spec.name, spec.manifest, spec.version, config.port),
        "proxy": proxy,
        "routes": [{"rule": r.rule, "methods": list(r.methods), "endpoint": r.endpoint,
                    "handler": r.handler, "kind": r.kind, "takes_request": r.takes_request,
                    "defaults": [list(d) for d in r.defaults]} for r in spec.routes],
        "app_modules": list(spec.app_modules),
        "app_factory": list(spec.app_factory) if spec.app_factory else None,
        "function": ({"entrypoint": function.entrypoint, "form": function.form}
                     if function else None),
        "session_secret": session_secret(session_key, spec.name),
    }


def check_in_process(zygote, plan: dict, timeout: float) -> list[str]:
    """A health check in a process-tier process: fork one for ``plan``, have
    it import what a request can reach, return its errors (empty: healthy)."""
    name = plan["tenant"]
    pid, sock = zygote.start(plan)
    try:
        with gevent.Timeout(timeout, False):
            wire.send_json(sock, {"op": "check"})
            wire.send_end(sock)
            while True:
                kind, message = wire.receive(sock)
                if kind == wire.JSON and message.get("op") == "checked":
                    errors = message.get("errors")
                    # The first 20, each as text (the process's word: a list
                    # of anything, up to a frame's size).
                    return [f"{name}/{str(e)[:2000]}" for e in (errors or [])[:20]] \
                        if isinstance(errors, list) else [f"{name}/: a malformed check answer"]
                if kind == wire.JSON and message.get("op") == "log":
                    continue
        return [f"{name}/: the health check did not finish within {timeout:.0f} s"]
    except (wire.WireClosed, OSError):
        return [f"{name}/: the health check's process died (out of memory, or a crash)"]
    finally:
        zygote.kill(pid)
        sock.close()


class _NotTaken(Exception):
    """The process did not read the request within its wall time."""


class TenantProcess:
    """One forked process of one tenant version."""

    def __init__(self, state, pid: int, sock, on_log):
        self.state = state
        self.pid = pid
        self.sock = sock
        self.on_log = on_log
        self.started = time.monotonic()
        self.last_used = time.monotonic()
        self.busy = False
        #: Stopped between requests (:meth:`ProcessTier._freeze_idle`).
        self.frozen = False
        #: Its CPU clock when its last answer was read: the next request's
        #: ``cpu_ms`` counts from there (None: nothing to carry over).
        self.cpu_at_release: float | None = None
        #: The id of the request the server sent it last: its log lines'
        #: tag (the process's own word for it is not taken).
        self.request_id: str | None = None
        self.requests = 0
        self.dead = False
        self.isolation: dict = {}
        self.inbox: Queue = Queue()
        #: Bytes of log lines written for the request numbered ``_log_for``.
        self._logged = 0
        self._log_for = 0
        self._reader = gevent.spawn(self._read)

    def _read(self) -> None:
        """Every frame the process sends: log lines to the log, the rest to
        the request that waits (a closed socket tells it the process died).
        Frames are bounded (:data:`MAX_PROCESS_JSON_BYTES`), and the hub is
        given back after each: a process that floods its socket never holds
        the other requests of this serving process."""
        try:
            while True:
                kind, payload = wire.receive(self.sock, MAX_PROCESS_JSON_BYTES)
                if kind == wire.JSON and payload.get("op") == "log":
                    self._log(payload.get("line"))
                else:
                    self.inbox.put((kind, payload))
                gevent.sleep(0)
        except (wire.WireClosed, OSError, ValueError):
            pass
        finally:
            self.dead = True
            self.inbox.put((None, None))

    def _log(self, line) -> None:
        """One log line of the process, within its budget per request
        (:data:`MAX_LOG_BYTES_PER_REQUEST`)."""
        if type(line) is not str:
            raise wire.WireClosed("a log line that is not text")
        if self._log_for != self.requests:
            self._log_for, self._logged = self.requests, 0
        self._logged += len(line)
        if self._logged > LOG_FLOOD_FACTOR * MAX_LOG_BYTES_PER_REQUEST:
            self.on_log(self, f"(log flood: over {LOG_FLOOD_FACTOR} MB of lines in one request; "
                              "the process is stopped)")
            raise wire.WireClosed("a log flood")
        if self._logged > MAX_LOG_BYTES_PER_REQUEST:
            if self._logged - len(line) <= MAX_LOG_BYTES_PER_REQUEST:
                self.on_log(self, f"(log cut: over {MAX_LOG_BYTES_PER_REQUEST // 1024} KB of lines "
                                  "in one request; the rest are dropped)")
            return
        self.on_log(self, line[:MAX_PROCESS_LOG_LINE])

    def close(self) -> None:
        self.dead = True
        self._reader.kill(block=False)
        try:
            self.sock.close()
        except OSError:
            pass

    def describe(self) -> dict:
        idle = time.monotonic() - self.last_used
        return {"tenant": self.state.name, "pid": self.pid, "busy": self.busy,
                "frozen": self.frozen, "requests": self.requests, "idle_s": round(idle, 3),
                "started_s_ago": round(time.monotonic() - self.started, 3),
                "isolation": self.isolation}


class _Pool:
    """The processes of one tenant version, and who waits for one."""

    def __init__(self):
        self.processes: list[TenantProcess] = []
        self.starting = 0
        self.freed = Event()


class ProcessTier:
    """Process tenants of one serving process (or of an in-process app).

    :param app: the :class:`~muxserver.app.MuxApp` (logs, metrics, config).
    :param zygote: a :class:`~.launcher.ZygoteClient`, or a callable that
        makes one on first use — and again whenever the last one is gone
        (an in-process app starts its own zygote). A serving process gets
        its zygote's replacement from the supervisor (:meth:`use_zygote`).
    :param proxy: ``proxy(tenant) -> (url or None)``: the egress proxy URL
        with the tenant's credentials.
    """

    def __init__(self, app, zygote, proxy=lambda tenant: None):
        self.app = app
        self._make_zygote = zygote if callable(zygote) else None
        self._zygote = None if callable(zygote) else zygote
        self._making_zygote = Semaphore()
        self.proxy = proxy
        self.pools: dict[int, _Pool] = {}
        self._states: dict[int, object] = {}
        #: Released processes not frozen yet, and who freezes them.
        self._running: set[TenantProcess] = set()
        self._freezer = None

    @property
    def zygote(self):
        """The zygote client; a new zygote when the last one is gone and
        this tier starts its own."""
        if self._make_zygote is not None and (self._zygote is None or self._zygote.gone):
            # One greenlet starts it; the others wait for that one. Two
            # concurrent first requests each started a zygote, and the
            # second start stopped the first zygote and the child it had
            # just forked for the first request (a 502).
            with self._making_zygote:
                if self._zygote is None or self._zygote.gone:
                    if self._zygote is not None:
                        log.error("the zygote for process tenants is gone; starting another")
                        self._zygote.close()
                    self._zygote = self._make_zygote()
        return self._zygote

    def use_zygote(self, client) -> None:
        """Fork from ``client`` from now on (a new zygote: the processes of
        the last one died with it, and are dropped as their sockets close)."""
        old, self._zygote = self._zygote, client
        if old is not None and old is not client:
            old.close()

    # -- plans -------------------------------------------------------------------

    def plan_for(self, state) -> dict:
        return plan_for(self.app.config, state.spec, self.app.session_key,
                        self.proxy(state.spec.name))

    # -- processes ---------------------------------------------------------------

    def _pool(self, state) -> _Pool:
        pool = self.pools.get(id(state))
        if pool is None:
            pool = self.pools[id(state)] = _Pool()
            self._states[id(state)] = state
        return pool

    def _start(self, state) -> tuple[TenantProcess, float]:
        """Fork a process for ``state``; return it and how long it took (ms)."""
        started = time.perf_counter()
        plan = self.plan_for(state)
        try:
            try:
                pid, sock = self.zygote.start(plan)
            except ZygoteError:
                if self._make_zygote is None or not self._zygote.gone:
                    raise
                pid, sock = self.zygote.start(plan)  # found gone: once more, from a new one
        except ZygoteError as exc:
            raise ZygoteError(f"cannot start a process for tenant {state.name}: {exc}",
                              state.name) from None
        process = TenantProcess(state, pid, sock, self._log_line)
        try:
            kind, message = process.inbox.get(timeout=READY_TIMEOUT_S)
        except Empty:
            kind, message = None, None
        if kind != wire.JSON or message.get("op") != "ready":
            self._stop(process)
            raise TenantProcessDied(f"the process of tenant {state.name} did not start "
                                    "(its log may say why)", state.name)
        process.isolation = message.get("isolation") or {}
        return process, (time.perf_counter() - started) * 1000

    def _stop(self, process: TenantProcess) -> None:
        if not process.dead or process.pid:
            self.zygote.kill(process.pid)
        process.close()
        pool = self.pools.get(id(process.state))
        if pool is not None and process in pool.processes:
            pool.processes.remove(process)
            pool.freed.set()

    def _acquire(self, state, deadline: float) -> tuple[TenantProcess, float | None]:
        """A free process of ``state`` (``(process, start_ms or None)``)."""
        pool = self._pool(state)
        while True:
            for process in list(pool.processes):
                if process.dead and not process.busy:  # its slot is free at once
                    self._stop(process)
            for process in pool.processes:
                if not process.busy and not process.dead:
                    process.busy = True
                    if process.frozen:
                        # No answer awaited: the request waits in its socket
                        # until the process runs again.
                        process.frozen = False
                        self.zygote.thaw(process.pid)
                    return process, None
            if len(pool.processes) + pool.starting < MAX_PROCESSES:
                pool.starting += 1
                try:
                    process, start_ms = self._start(state)
                finally:
                    pool.starting -= 1
                process.busy = True
                pool.processes.append(process)
                self.app.metrics.cold_starts.labels(state.name).inc()
                return process, start_ms
            left = deadline - time.monotonic()
            if left <= 0:
                raise LimitStopped("wall", f"wall time over wall_s = "
                                           f"{state.spec.manifest.limits.wall_s:g} s (waiting for "
                                           "a free process)", state.name)
            pool.freed.clear()
            pool.freed.wait(timeout=left)

    def _release(self, process: TenantProcess) -> None:
        """The answer is wholly read: free the process, and freeze it unless
        a request takes it within :data:`FREEZE_AFTER_S`."""
        process.cpu_at_release = process_cpu_s(process.pid)
        process.busy = False
        process.last_used = time.monotonic()
        if not process.dead and not process.state.superseded:
            self._running.add(process)
            if self._freezer is None:
                self._freezer = gevent.spawn(self._freeze_idle)
        pool = self.pools.get(id(process.state))
        if pool is not None:
            pool.freed.set()
        if process.state.superseded:
            self._stop(process)

    def _freeze_idle(self) -> None:
        """Freeze each released process once idle for :data:`FREEZE_AFTER_S`;
        runs while any released process still runs (one greenlet, not a
        timer per request: back-to-back requests pay nothing for it)."""
        try:
            while self._running:
                gevent.sleep(FREEZE_AFTER_S)
                if self.zygote.busy:
                    # A freeze must never wait behind a fork: a thaw sent
                    # meanwhile could overtake it.
                    continue
                now = time.monotonic()
                for process in list(self._running):
                    if process.busy or process.dead or process.frozen:
                        self._running.discard(process)
                    elif now - process.last_used >= FREEZE_AFTER_S:
                        self._running.discard(process)
                        # Marked first: a request that takes it while the
                        # message waits for the zygote's lock thaws it after
                        # (the lock serves in order).
                        process.frozen = True
                        self.zygote.freeze(process.pid)
        finally:
            self._freezer = None

    def _log_line(self, process: TenantProcess, line: str) -> None:
        self.app.logs.write(process.state.name, process.request_id, line)

    # -- requests ----------------------------------------------------------------

    def serve(self, state, environ, rel: str, mount: str, request_id: str, outcome):
        """Answer one request of a process tenant: ``(status, headers, body, None)``."""
        limits = state.spec.manifest.limits
        started = time.monotonic()
        deadline = started + limits.wall_s
        body = environ["wsgi.input"].read(self.app.config.max_body_bytes + 1) \
            if environ.get("CONTENT_LENGTH") or environ.get("HTTP_TRANSFER_ENCODING") else b""
        if len(body) > self.app.config.max_body_bytes:
            from muxserver.errors import BodyTooLarge

            raise BodyTooLarge(f"request body is over {self.app.config.max_body:g} MB")
        process, start_ms = self._acquire(state, deadline)
        healthy = False
        exec_started = time.perf_counter()
        try:
            process.requests += 1
            process.request_id = request_id
            head = {
                "method": environ.get("REQUEST_METHOD", "GET"), "script_name": mount,
                "path": rel, "query": environ.get("QUERY_STRING", ""),
                "server_name": environ.get("SERVER_NAME", "localhost"),
                "server_port": environ.get("SERVER_PORT", "80"),
                "scheme": environ.get("wsgi.url_scheme", "http"),
                "remote_addr": environ.get("REMOTE_ADDR", ""),
                "protocol": environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
                "request_id": request_id,
                "headers": [[k[5:].replace("_", "-").title(), v] for k, v in environ.items()
                            if k.startswith("HTTP_")]
                + ([["Content-Type", environ["CONTENT_TYPE"]]]
                   if environ.get("CONTENT_TYPE") else []),
            }
            try:
                # Within the request's wall time: a process that stops reading
                # its socket (its own code can replace its host's loop) held
                # the request, its body and its connection for ever (round 15).
                with gevent.Timeout(max(0.0, deadline - time.monotonic()), _NotTaken):
                    while True:
                        try:
                            wire.send_json(process.sock, head)
                            break
                        except OSError:
                            if start_ms is not None:
                                raise
                        # It died after its last answer, before this request
                        # reached it (its reader had not said so yet): the
                        # request was never its — another process takes it.
                        # Each of the pool's processes may have died so (a
                        # zygote that died takes them all): try each, then a
                        # new one, whose failure is the request's.
                        self._stop(process)
                        process, start_ms = self._acquire(state, deadline)
                        process.requests += 1
                        process.request_id = request_id
                    wire.send_body(process.sock, body)
                    wire.send_end(process.sock)
            except OSError:
                pass  # it died: the reader says so below
            except _NotTaken:
                raise LimitStopped("wall", f"wall time over wall_s = {limits.wall_s:g} s (the "
                                           "process did not take the request)",
                                   state.name) from None
            answer = self._answer(process, state, deadline)
            healthy = True
        finally:
            outcome.exec_ms = (time.perf_counter() - exec_started) * 1000
            if start_ms is not None:
                outcome.cold = True
                outcome.load_ms = start_ms
            if healthy:
                self._release(process)
            else:
                self._stop(process)
        return answer

    def _next(self, process: TenantProcess, state, deadline: float, cpu_start: float):
        """The next frame from the process, watching its CPU and wall time."""
        limits = state.spec.manifest.limits
        cpu_budget = limits.cpu_ms / 1000
        while True:
            left = deadline - time.monotonic()
            try:
                return process.inbox.get(timeout=max(0.0, min(CHECK_EVERY_S, left)))
            except Empty:
                pass
            used = process_cpu_s(process.pid)
            if used is not None and used - cpu_start > cpu_budget:
                raise LimitStopped("cpu", f"CPU time over cpu_ms = {limits.cpu_ms}", state.name)
            if time.monotonic() >= deadline:
                raise LimitStopped("wall", f"wall time over wall_s = {limits.wall_s:g} s",
                                   state.name)

    def _answer(self, process: TenantProcess, state, deadline: float):
        name = state.name
        cpu_start = process.cpu_at_release or process_cpu_s(process.pid) or 0.0
        kind, message = self._next(process, state, deadline, cpu_start)
        if kind is None:
            raise TenantProcessDied(f"the process of tenant {name} died while it held the "
                                    "request", name)
        if kind != wire.JSON:
            raise TenantProcessDied(f"the process of tenant {name} broke the protocol", name)
        op = message.get("op")
        if op == "failed" and message.get("kind") == "memory":
            raise LimitStopped("memory", f"memory over memory_mb = "
                                         f"{state.spec.manifest.limits.memory_mb}", name)
        if op == "failed":
            detail = str(message.get("detail", ""))
            summary = detail.strip().rsplit("\n", 1)[-1]
            self.app.logs.write(name, None, f"loading tenant {name} failed:\n{detail}",
                                level="error")
            raise TenantLoadError(f"tenant {name} failed to load: {summary}", name, detail)
        if op != "response":
            raise TenantProcessDied(f"the process of tenant {name} broke the protocol", name)
        try:
            status = int(message["status"])
            # The sandbox tier's rules for a header (one place decides).
            pairs = plain_headers([tuple(pair) for pair in message["headers"]])
            headers = [(k, v) for k, v in pairs if k.lower() not in _PROCESS_DROPPED]
        except BadReturnValue as exc:
            raise TenantProcessDied(f"tenant {name} answered a malformed header: {exc}",
                                    name) from None
        except (KeyError, TypeError, ValueError):
            raise TenantProcessDied(f"the process of tenant {name} broke the protocol",
                                    name) from None
        try:
            checked_status(status)  # what a sandboxed tenant may answer, no more
        except BadReturnValue as exc:
            raise TenantCodeError(f"the app answered status {status}", name,
                                  detail=f"{exc} (the app answered {status})",
                                  exc_type="BadReturnValue") from None
        parts, size = [], 0
        limit = min(MAX_RESPONSE_BYTES, state.spec.manifest.limits.memory_mb * 2**20)
        while True:
            kind, chunk = self._next(process, state, deadline, cpu_start)
            if kind is None:
                raise TenantProcessDied(f"the process of tenant {name} died while it sent "
                                        "its answer", name)
            if kind == wire.END:
                break
            if kind != wire.BODY:
                raise TenantProcessDied(f"the process of tenant {name} broke the protocol", name)
            size += len(chunk)
            if size > limit:
                raise TenantProcessDied(f"tenant {name} answered with more than "
                                        f"{limit} bytes (held in memory: at most its "
                                        f"memory_mb, and {MAX_RESPONSE_BYTES // 2**20} MB)", name)
            parts.append(chunk)
        body = b"".join(parts)
        error = next((v for k, v in headers if k.lower() == ERROR_HEADER.lower()), None)
        if error is not None:
            raise TenantCodeError(f"the function raised {error.split(':', 1)[0]}", name,
                                  detail=body.decode("utf-8", "replace"),
                                  exc_type=error.split(":", 1)[0])
        return status, headers, body, None

    # -- housekeeping --------------------------------------------------------------

    def sweep(self, now: float, idle_ttl: float) -> int:
        """Stop processes idle longer than ``idle_ttl``, and idle processes of
        replaced versions; forget empty pools. Returns how many stopped."""
        stopped = 0
        for key, pool in list(self.pools.items()):
            state = self._states.get(key)
            for process in list(pool.processes):
                gone = process.dead or (state is not None and state.superseded)
                if not process.busy and (gone or now - process.last_used > idle_ttl):
                    self._stop(process)
                    stopped += 1
            if not pool.processes and not pool.starting:
                del self.pools[key]
                self._states.pop(key, None)
        return stopped

    def stop_tenant(self, tenant: str | None) -> int:
        """Stop the idle processes of one tenant (or all): an admin evict."""
        stopped = 0
        for pool in list(self.pools.values()):
            for process in list(pool.processes):
                if (tenant is None or process.state.name == tenant) and not process.busy:
                    self._stop(process)
                    stopped += 1
        return stopped

    def describe(self) -> list[dict]:
        return [p.describe() for pool in self.pools.values() for p in pool.processes]

    def close(self) -> None:
        for pool in list(self.pools.values()):
            for process in list(pool.processes):
                self._stop(process)

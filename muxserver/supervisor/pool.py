"""The serving processes: started, watched, told and replaced by the supervisor.

:class:`WorkerPool` starts ``--workers N`` serving processes
(:mod:`muxserver.worker`), each with the listening socket, a private
temporary folder and a channel (:mod:`.channel`). It is the control plane's
*serving* backend (:mod:`muxserver.controlplane`): it publishes each new
live version to every process, and asks them what only they know (warm
modules, logs, metrics) or can do (evict, load).

A process that exits is replaced (its counters are kept: its requests
happened); one that sends nothing — its metrics are its heartbeat — for
``--worker-timeout`` seconds is stuck in a call no tick could interrupt,
and is killed and replaced. A zygote (process tenants) that dies while its
serving process lives is replaced too, and the serving process gets the
new one's socket over its channel (:meth:`WorkerPool._watch_zygote`). A process that cannot boot under ``--isolation
require`` stops the server (starting it again would fail again).
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import time

import gevent
import gevent.event
from gevent import subprocess

from muxserver import launch
from muxserver import serverdir
from muxserver.errors import HaltServer
from muxserver.errors import NoServingAnswer
from muxserver.ops.metrics import ProcessSnapshot
from muxserver.ops.metrics import add_snapshot
from muxserver.ops.metrics import checked_snapshot
from muxserver.ops.metrics import is_count
from muxserver.process import WORKER_BOOT_ERROR
from muxserver.supervisor.channel import CallFailed
from muxserver.supervisor.channel import Channel
from muxserver.supervisor.channel import ChannelClosed
from muxserver.supervisor.paging import LogReader
from muxserver.supervisor.paging import StatusReader
from muxserver.tenancy.snapshot import SpecSnapshot

log = logging.getLogger("muxserver.supervisor")

#: Seconds between two starts of the same slot after quick deaths.
RESPAWN_BACKOFF_S = (0.1, 0.5, 1.0, 2.0, 5.0)
#: A process that lived this long resets its slot's backoff.
STABLE_S = 10.0
#: Seconds a process has to answer for ``/_mux/status`` and tenant logs
#: (each page of them)...
STATUS_TIMEOUT_S = 3.0
#: ...and for all the pages of one answer.
PAGES_TIMEOUT_S = 10.0


class Worker:
    """One serving process, as the supervisor sees it."""

    def __init__(self, slot: int, proc, channel: Channel, tempdir: str, zygote=None,
                 tenants=()):
        self.slot = slot
        #: The tenants the supervisor registered (a live mapping): the names
        #: a snapshot may carry (:func:`~muxserver.ops.metrics.checked_snapshot`).
        self.tenants = tenants
        #: Its zygote (process tenants), stopped with it.
        self.zygote = zygote
        self.proc = proc
        self.channel = channel
        self.tempdir = tempdir
        self.started = time.monotonic()
        self.last_seen = time.monotonic()
        #: Its metrics, from the parts it sends (None before the first).
        self.metrics: ProcessSnapshot | None = None
        #: Got every registered version: later changes are sent one by one.
        self.has_versions = False

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def snapshot(self) -> dict | None:
        """Its latest metrics snapshot (every part put together)."""
        return None if self.metrics is None else self.metrics.whole(self.tenants)

    def on_message(self, message: dict) -> None:
        if message.get("op") == "metrics" and isinstance(message.get("snapshot"), dict):
            part = checked_snapshot(message["snapshot"], self.tenants)
            if part is not None:
                if self.metrics is None:
                    self.metrics = ProcessSnapshot(self.pid)
                self.metrics.take(part)
                # Each part is a sign of life (a snapshot in many parts, many).
                self.last_seen = time.monotonic()


def _whole_count(value) -> bool:
    return isinstance(value, int) and is_count(value)


def checked_status(status) -> dict | None:
    """A serving process's status as the control plane reads it, or None if
    it is not of that shape (the one place that decides what of a status is
    believed: every key the control plane or the console reads, with the
    type it is read as — a key left out or of another type would make
    ``/_mux/status`` answer 500 for as long as the process lives).

    The numbers remain the process's word (a breached one can lie about
    itself); what this guards is that its answer cannot break the
    operator's view of the others: every count is one (not negative: a sum
    over processes must not hide another's), and its pid is the
    supervisor's (:class:`~muxserver.supervisor.paging.StatusReader`).
    """
    try:
        checked = {
            "pid": status["pid"], "role": status["role"], "rss_bytes": status["rss_bytes"],
            "isolation": status["isolation"], "cold_starts": status["cold_starts"],
            "evictions": status["evictions"],
            "warm_modules": list(status["warm_modules"]),
            "tenants": {name: {"warm_modules": row["warm_modules"], "inflight": row["inflight"]}
                        for name, row in status["tenants"].items()},
            "limit_kills": [{"tenant": row["tenant"], "kind": row["kind"], "count": row["count"]}
                            for row in status["limit_kills"]],
            "tenant_processes": list(status.get("tenant_processes") or ()),
        }
        if not (isinstance(checked["pid"], int) and isinstance(checked["role"], str)
                and _whole_count(checked["rss_bytes"]) and isinstance(checked["isolation"], dict)
                and is_count(checked["cold_starts"]) and is_count(checked["evictions"])
                and all(isinstance(m, dict) and isinstance(m.get("tenant"), str)
                        for m in checked["warm_modules"])
                and all(isinstance(name, str) and _whole_count(row["warm_modules"])
                        and _whole_count(row["inflight"])
                        for name, row in checked["tenants"].items())
                and all(isinstance(row["tenant"], str) and isinstance(row["kind"], str)
                        and is_count(row["count"]) for row in checked["limit_kills"])
                and all(isinstance(t, dict) for t in checked["tenant_processes"])):
            return None
    except (KeyError, TypeError, AttributeError, ValueError):
        return None
    # What the process said besides (uptime, inflight...), shown as it is.
    return {k: v for k, v in status.items() if isinstance(k, str)} | checked


class WorkerPool:
    """The serving processes of one supervisor.

    :param config: the server's settings.
    :param listener: the tenants' listening socket (inherited by each process).
    :param registry: the supervisor's registry (each new process gets every
        live version from it).
    :param session_key: handed to each process for tenants' sessions.
    """

    def __init__(self, config, listener, registry, session_key: bytes):
        self.config = config
        self.listener = listener
        self.registry = registry
        self.session_key = session_key
        self.workers: dict[int, Worker] = {}
        self.stopping = False
        #: Counters of processes that are gone (their requests happened),
        #: summed into one snapshot.
        self._retired: dict | None = None
        self._deaths: dict[int, int] = {}
        self._greenlets: list = []
        #: Snapshots of services beside the serving processes (the egress proxy's counters).
        self.extra_snapshots: list = []
        #: Set with a HaltServer when the server must stop (a boot failure).
        self.fatal = gevent.event.AsyncResult()
        self._registered = False

    # -- processes --------------------------------------------------------------

    def start(self) -> "WorkerPool":
        """Start the serving processes; each waits for every registered
        version (:meth:`ready`) after its own start-up, so starting them
        first lets their interpreters boot while the supervisor registers."""
        for slot in range(self.config.workers):
            self._spawn(slot, send_versions=False)
        self._greenlets.append(gevent.spawn(self._watch_heartbeats))
        return self

    def ready(self) -> None:
        """Registration is done: send every process started early its versions."""
        for worker in list(self.workers.values()):
            self._send_versions(worker)
        self._registered = True

    def _send_versions(self, worker: Worker) -> None:
        worker.has_versions = True
        # Its heartbeat is watched from now: until then it waits on us.
        worker.last_seen = time.monotonic()
        try:
            specs = SpecSnapshot(s.spec for s in self.registry.tenants.values())
            worker.channel.send({"op": "snapshot", "specs": specs}, trusted_payload=True)
        except ChannelClosed:
            pass  # it died at once; _reap sees it
        worker.channel.start()

    def _spawn(self, slot: int, send_versions: bool = True) -> Worker:
        config = self.config
        tempdir = serverdir.private_tempdir(config, f"worker-{slot}")
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        config_fd = launch.payload_fd(launch.config_payload(config, self.session_key))
        # Hook for the process tier: a zygote per serving process, reached
        # over an inherited socket (it cannot fork once locked down).
        zygote, extra_args, extra_fds = self._start_zygote()
        if self.egress_port is not None:  # outbound HTTP, for sandboxed tenants too
            extra_args = [*extra_args, "--egress-port", str(self.egress_port)]
        try:
            proc = subprocess.Popen(
                launch.spawn_argv("muxserver.worker:run", "--config-fd", str(config_fd),
                                  "--control-fd", str(child.fileno()),
                                  "--listen-fd", str(self.listener.fileno()),
                                  "--tempdir", tempdir, *extra_args),
                pass_fds=(config_fd, child.fileno(), self.listener.fileno(), *extra_fds),
                env=launch.child_environment(config), close_fds=True)
        finally:
            os.close(config_fd)
            child.close()
            if zygote is not None:
                zygote.client_end.close()
        channel = Channel(parent, accepts_pickles=False, name=f"serving process {slot}")
        worker = Worker(slot, proc, channel, tempdir, zygote, self.registry.tenants)
        channel.on_message = worker.on_message
        self.workers[slot] = worker
        if send_versions:
            self._send_versions(worker)
        self._greenlets.append(gevent.spawn(self._reap, worker))
        if zygote is not None:
            self._greenlets.append(gevent.spawn(self._watch_zygote, worker))
        log.info("started serving process %d (pid %d)", slot, proc.pid)
        return worker

    def _start_zygote(self):
        """``(handle, argv, fds)`` of a new serving process's zygote, when
        the operator allows process tenants (:mod:`muxserver.proctier`)."""
        if not self.config.process_tenants:
            return None, (), ()
        from muxserver.proctier.launcher import start_zygote

        zygote = start_zygote(self.config, self.egress_port)
        fd = zygote.client_end.fileno()
        return zygote, ["--zygote-fd", str(fd)], (fd,)

    #: The egress proxy's TCP port (set by the supervisor): serving processes
    #: connect to its unix socket, process tenants get it as their proxy.
    egress_port = None

    def _watch_zygote(self, worker: Worker) -> None:
        """Replace the zygote of ``worker`` each time it dies (the kernel's
        OOM killer, a crash) while the serving process lives: it could not
        start one itself (it cannot fork once locked down)."""
        from muxserver.proctier.launcher import start_zygote

        deaths = 0
        while True:
            zygote = worker.zygote
            started = time.monotonic()
            status = zygote.proc.wait()
            if self.stopping or worker.proc.poll() is not None or worker.channel.closed \
                    or worker.zygote is not zygote:
                return
            deaths = 0 if time.monotonic() - started > STABLE_S else deaths + 1
            log.error("the zygote of serving process %d (pid %d) ended with status %s; "
                      "starting another", worker.slot, zygote.pid, status)
            zygote.stop()
            if deaths:
                gevent.sleep(RESPAWN_BACKOFF_S[min(deaths, len(RESPAWN_BACKOFF_S)) - 1])
            if self.stopping or worker.proc.poll() is not None:
                return
            new = start_zygote(self.config, self.egress_port)
            try:
                worker.channel.send_fds({"op": "zygote", "id": 0}, [new.client_end.fileno()])
            except ChannelClosed:
                new.stop()
                return
            finally:
                new.client_end.close()  # the serving process's now: its end closing ends the zygote
            worker.zygote = new

    def _reap(self, worker: Worker) -> None:
        status = worker.proc.wait()
        worker.channel.close()
        if worker.zygote is not None:
            worker.zygote.stop()
        shutil.rmtree(worker.tempdir, ignore_errors=True)
        if worker.snapshot is not None:
            self._retired = add_snapshot(self._retired, worker.snapshot)
        if self.workers.get(worker.slot) is worker:
            del self.workers[worker.slot]
        if self.stopping:
            return
        if status == WORKER_BOOT_ERROR:
            log.critical("serving process %d could not boot (exit %d): stopping", worker.slot, status)
            self.fatal.set(HaltServer("a serving process could not boot", WORKER_BOOT_ERROR))
            return
        lived = time.monotonic() - worker.started
        deaths = 0 if lived > STABLE_S else self._deaths.get(worker.slot, 0) + 1
        self._deaths[worker.slot] = deaths
        how = f"signal {-status}" if status < 0 else f"exit status {status}"
        log.error("serving process %d (pid %d) ended with %s after %.1f s; starting another",
                  worker.slot, worker.pid, how, lived)
        gevent.sleep(RESPAWN_BACKOFF_S[min(deaths, len(RESPAWN_BACKOFF_S) - 1)] if deaths else 0)
        if not self.stopping:
            self._spawn(worker.slot, send_versions=self._registered)

    def _watch_heartbeats(self) -> None:
        timeout = self.config.worker_timeout
        interval = min(1.0, timeout / 4)
        while not self.stopping:
            before = time.monotonic()
            gevent.sleep(interval)
            now = time.monotonic()
            late = now - before - interval
            if late > 0.5:
                # The supervisor itself was held up (a big deploy, a paused
                # VM): the heartbeats it did not read meanwhile are its own
                # silence, not the processes'. Credit the time and look
                # again once their messages have been read.
                for worker in list(self.workers.values()):
                    worker.last_seen += late
                continue
            for worker in list(self.workers.values()):
                if not worker.has_versions:
                    continue  # waiting for the registration, not stuck
                if now - worker.last_seen > timeout and worker.proc.poll() is None:
                    log.error("serving process %d (pid %d) sent nothing for %.0f s: stuck in a "
                              "call no limit can interrupt; killing it", worker.slot, worker.pid,
                              now - worker.last_seen)
                    worker.proc.kill()

    def stop(self, timeout: float) -> None:
        """Drain: every process finishes its requests (up to ``timeout``), then exits."""
        self.stopping = True
        for worker in list(self.workers.values()):
            try:
                worker.proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + timeout + 2
        for worker in list(self.workers.values()):
            try:
                worker.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("serving process %d did not stop in time; killing it", worker.slot)
                worker.proc.kill()
                worker.proc.wait()
        gevent.killall(self._greenlets, block=False)

    # -- the serving backend of the control plane ---------------------------------

    def _live(self) -> list[Worker]:
        return [w for w in self.workers.values() if not w.channel.closed]

    def _ask_all(self, op: str, timeout: float = 10.0, **fields) -> list:
        """Every live process's answer to ``op``, asked at once; a process
        that does not answer within ``timeout`` is left out (and logged)."""
        calls = [(w, gevent.spawn(w.channel.call, op, timeout, **fields)) for w in self._live()]
        answers = []
        for worker, call in calls:
            try:
                answers.append(call.get())
            except (ChannelClosed, CallFailed, gevent.Timeout) as exc:
                log.warning("serving process %d did not answer %s: %s", worker.slot, op, exc)
        return answers

    def publish(self, name: str, state) -> None:
        """A tenant's live version changed: every process serves the new one
        (a process still waiting for its versions gets it with them)."""
        for worker in self._live():
            if not worker.has_versions:
                continue
            try:
                if state is None:
                    worker.channel.send({"op": "remove", "tenant": name, "id": 0})
                else:
                    worker.channel.send({"op": "deploy", "spec": state.spec, "id": 0},
                                        trusted_payload=True)
            except ChannelClosed:
                pass  # it is being replaced, and gets every version at start

    def evict(self, tenant: str | None) -> int:
        # A count of another type is no count (a serving process's word).
        return sum(n for n in self._ask_all("evict", tenant=tenant)
                   if isinstance(n, int) and not isinstance(n, bool) and n >= 0)

    def specialize(self, tenant: str, endpoint: str) -> dict:
        answers = [a for a in self._ask_all("specialize", timeout=60.0, tenant=tenant,
                                            endpoint=endpoint)
                   if isinstance(a, dict) and isinstance(a.get("was_warm"), bool)]
        if not answers:
            raise NoServingAnswer("no serving process answered")
        cold = [a for a in answers if not a["was_warm"]]
        return (cold or answers)[0] | {"processes": len(answers)}

    def _read_pages(self, what: str, read) -> list:
        """``read(worker)`` for every live process at once: an answer asked
        for in pages (:mod:`.paging`). A process whose pages fail, are not
        believed or take more than :data:`PAGES_TIMEOUT_S` in all is left
        out (and logged): the operator is waiting, and a stuck process is
        its heartbeat watch's to deal with."""
        reads = [(w, gevent.spawn(read, w)) for w in self._live()]
        deadline = time.monotonic() + PAGES_TIMEOUT_S
        answers = []
        for worker, reading in reads:
            try:
                answers.append(reading.get(timeout=max(0.0, deadline - time.monotonic())))
            except (ChannelClosed, CallFailed, gevent.Timeout, ValueError) as exc:
                reading.kill(block=False)
                log.warning("serving process %d did not answer %s: %s", worker.slot, what,
                            str(exc) or type(exc).__name__)
        return answers

    def _status_of(self, worker: Worker) -> dict:
        reader = StatusReader(self.registry.tenants, worker.pid)
        while True:
            page = checked_status(worker.channel.call("status", STATUS_TIMEOUT_S,
                                                      after=reader.after))
            if page is None:
                raise ValueError("a status page of another shape")
            if not reader.take(page):
                return reader.status

    def _logs_of(self, worker: Worker, tenant: str, limit: int | None) -> list[dict]:
        reader = LogReader(limit)
        while reader.take(worker.channel.call("logs", STATUS_TIMEOUT_S, tenant=tenant,
                                              limit=reader.wanted(), before=reader.before)):
            pass
        return reader.lines

    def process_status(self) -> list[dict]:
        return self._read_pages("status", self._status_of)

    def logs(self, tenant: str, limit: int | None) -> list[dict]:
        return [line for lines in self._read_pages(
            "logs", lambda worker: self._logs_of(worker, tenant, limit)) for line in lines]

    def metrics_snapshots(self) -> list[dict]:
        live = [w.snapshot for w in self.workers.values() if w.snapshot is not None]
        retired = [] if self._retired is None else [self._retired]
        return live + retired + [snapshot() for snapshot in self.extra_snapshots]

"""What every process that runs tenant code sets up, and runs beside its requests.

:func:`configure_process` sets the process-wide parts of the sandbox once;
:class:`ProcessServices` starts what a serving process runs beside its
requests — the evictor, the hub watchdog, the garbage collector and, under
a supervisor, the metrics it sends it every second (its heartbeat);
:func:`lock_down` applies the process layer and records it for status.
"""

from __future__ import annotations

import gc
import logging
import math
import sys

import gevent

from muxserver import isolation
from muxserver.app import MuxApp
from muxserver.errors import HaltServer
from muxserver.fairshare import fair_share
from muxserver.ops.collector import collector
from muxserver.ops.memory import pin_mmap_threshold
from muxserver.ops.metrics import split_snapshot
from muxserver.tenancy.codecache import code_fingerprint
from muxserver.ops.memory import release_memory
from muxserver.ops.watchdog import HubWatchdog
from sandbox import limits as sandbox_limits

log = logging.getLogger("muxserver")

#: The exit status that tells the supervisor a serving process cannot boot.
WORKER_BOOT_ERROR = 3
#: A request is stopped when the process is this far over --memory-limit.
PROCESS_CEILING_FACTOR = 1.2
#: How often a serving process sends its metrics (and so says it is alive).
METRICS_EVERY_S = 1.0
#: Metrics parts are cut to fill this much of a channel message: room for
#: the tenants' rows to grow, and for parts of uneven size.
PART_FILL = 0.5
#: How often the garbage collector may run (automatic collection is off).
GC_EVERY_S = 0.05


class _HubErrors:
    """gevent's hub reports an error that ends a greenlet by writing a
    traceback to its exception stream: here, into the log, line by line."""

    def __init__(self):
        self._partial = ""

    def write(self, text: str) -> int:
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()
        for line in lines:
            if line:
                logging.getLogger("muxserver.hub").error("%s", line)
        return len(text)

    def flush(self) -> None:
        pass


def _log_unraisable(unraisable) -> None:
    """Exceptions Python cannot raise anywhere (in a finalizer) go to the log,
    in the log's format; a stopped tenant finalizer is expected, not a bug."""
    exc = unraisable.exc_value
    if isinstance(exc, sandbox_limits.LimitExceeded):
        log.warning("tenant code outside a request was stopped: %s (in %s)", exc.message,
                    type(unraisable.object).__name__)
    else:
        # Only names: str(exc) could be tenant code (its __str__).
        log.error("exception ignored in %s: %s", type(unraisable.object).__name__,
                  type(exc).__name__)


def add_module_path(config) -> None:
    """The operator's ``module_path`` on ``sys.path``, for ``extra_modules``
    (the supervisor reads what they offer, serving processes import them)."""
    for path in reversed(config.module_path):
        if path not in sys.path:
            sys.path.insert(0, path)


def configure_process(config) -> None:
    """Process-wide settings, set once by the process entry point.

    Above ``--memory-limit`` (per serving process) the evictor drops least
    recently used modules; a request that takes the process well past it
    anyway is stopped (:func:`sandbox.limits.set_process_ceiling`).
    """
    add_module_path(config)
    pin_mmap_threshold()
    code_fingerprint()  # read now, before the lock-down and off any request's path
    sandbox_limits.install()
    fair_share.install()
    sandbox_limits.set_process_ceiling(
        int(config.memory_limit * 2**20 * PROCESS_CEILING_FACTOR) if config.memory_limit else None
    )
    collector.memory_limit = config.memory_limit * 2**20 if config.memory_limit else None


class ProcessServices:
    """What runs beside the requests of one serving process.

    :param app: the process's :class:`~muxserver.app.MuxApp`.
    :param channel: its channel to the supervisor (metrics go there), if any.
    """

    def __init__(self, app: MuxApp, channel=None):
        self.app = app
        self.channel = channel
        self.evictor = app.evictor
        self.watchdog = HubWatchdog(stall_s=max(5.0, app.config.cpu_ms / 1000 * 5))
        self._greenlets: list[gevent.Greenlet] = []
        #: How many parts the metrics are cut into (from the last ones' size).
        self._metric_parts = 1

    def start(self) -> "ProcessServices":
        # The collector runs tenant finalizers (a generator's finally, a
        # __del__): run automatically, it would run them inside whatever
        # request allocated last, charging one tenant for another's code.
        # Here it runs between requests, where the sandbox's orphan budget
        # bounds tenant code (sandbox.limits.orphan).
        gc.disable()
        sys.unraisablehook = _log_unraisable
        gevent.get_hub().exception_stream = _HubErrors()
        self._greenlets.append(gevent.spawn(self._collect_garbage))
        self.evictor.start()
        self.watchdog.start()
        if self.channel is not None:
            self.send_metrics()  # a scrape right after start sees this process
            self._greenlets.append(gevent.spawn(self._publish_metrics))
        return self

    def stop(self) -> None:
        self.evictor.stop()
        self.watchdog.stop()
        gevent.killall(self._greenlets, block=False)

    def _collect_garbage(self) -> None:
        """Collect as CPython's automatic collection would, at most every
        :data:`GC_EVERY_S`, outside any request (see :mod:`muxserver.ops.collector`)."""
        while True:
            gevent.sleep(GC_EVERY_S)
            idle = not self.app.inflight
            if collector.step(idle=idle) in ("thaw", "full") and idle:
                # What a burst of big requests left free goes back to the OS.
                release_memory()

    def send_metrics(self) -> None:
        """Send this process's metrics, in as many parts as the last ones'
        size asks for (:func:`~muxserver.ops.metrics.split_snapshot`)."""
        self.app.metrics.tenants.set(len(self.app.registry.tenants))
        parts = split_snapshot(self.app.metrics.snapshot(), self._metric_parts)
        sent = self._send_parts(parts)
        self._metric_parts = max(1, math.ceil(sent / (self.channel.max_untrusted * PART_FILL)))

    def _send_parts(self, parts: list[dict]) -> int:
        """Send each part, cutting one that is over the channel's bound
        again; return the bytes sent."""
        from muxserver.supervisor.channel import MessageTooLarge

        sent = 0
        for part in parts:
            try:
                sent += self.channel.send({"op": "metrics", "snapshot": part})
            except MessageTooLarge as exc:
                smaller = split_snapshot(part, exc.size // exc.limit + 2)
                if len(smaller) == 1:  # one tenant's rows: a few hundred at most
                    log.error("metrics not sent: one tenant's rows are %s", exc)
                    continue
                sent += self._send_parts(smaller)
        return sent

    def _publish_metrics(self) -> None:
        from muxserver.supervisor.channel import ChannelClosed

        while True:
            gevent.sleep(METRICS_EVERY_S)
            try:
                self.send_metrics()
            except ChannelClosed:
                return


def connect_services(app: MuxApp) -> None:
    """Connect to the services of other processes (the replication agent)
    while this process may still make sockets; a failure stops it."""
    from muxserver.replication.client import AgentError

    try:
        app.loader.data_gate.connect()
    except AgentError as exc:
        log.critical("%s", exc)
        raise HaltServer(str(exc), WORKER_BOOT_ERROR) from None
    if app.egress_port is not None:
        connect_egress(app)


def connect_egress(app: MuxApp) -> None:
    """Connect to the egress proxy's unix socket (sandboxed tenants' outbound
    HTTP); without it, outbound calls raise saying the proxy is out of reach."""
    from muxserver.egress.client import EgressClient
    from muxserver.egress.service import socket_path

    try:
        app.loader.egress = EgressClient(socket_path(app.config), app.egress_key).connect()
    except OSError as exc:
        log.error("cannot reach the egress proxy: %s; outbound HTTP is refused", exc)


def lock_down(app: MuxApp, tempdir: str, readable=()) -> None:
    """Apply the process layer (:mod:`muxserver.isolation`) and record it in
    the app's status; under ``require``, a part that fails stops the process."""
    try:
        report = isolation.lock_down(app.config, tempdir, readable=list(readable))
    except Exception as exc:  # require, and a part failed: do not serve
        log.critical("%s", exc)
        raise HaltServer(str(exc), WORKER_BOOT_ERROR) from None
    app.isolation = report.describe()
    (log.warning if report.missing else log.info)("%s", report.summary())

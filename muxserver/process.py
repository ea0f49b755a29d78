"""One serving process: the app and the services around it.

:class:`ProcessServices` is the one place that starts what every serving
process runs beside its requests — the tenants-dir watcher, the evictor, the
daily code-cache prune, the hub watchdog, the garbage collector and, with
workers, the metrics publisher — whether the process serves alone (:func:`run_single`) or is one
of ``--workers N`` (:mod:`muxserver.http.workers`).
"""

from __future__ import annotations

import gc
import logging
import sys

import gevent

from muxserver import isolation
from muxserver.app import MuxApp
from muxserver.fairshare import fair_share
from muxserver.http.server import Server
from muxserver.ops.watchdog import HubWatchdog
from muxserver.tenancy.codecache import MAX_AGE_S
from muxserver.tenancy.versions import LiveWatcher
from muxserver.tenancy.watcher import start_watcher
from sandbox import limits as sandbox_limits

log = logging.getLogger("muxserver")

#: The exit status that tells gunicorn's arbiter a worker cannot boot.
WORKER_BOOT_ERROR = 3
#: A request is stopped when the process is this far over --memory-limit.
PROCESS_CEILING_FACTOR = 1.2
#: First code-cache prune after start, then once a day.
PRUNE_FIRST_S = 60
PRUNE_EVERY_S = 86_400
#: How often a worker publishes its metrics for the others to sum.
METRICS_EVERY_S = 1.0
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


def configure_process(config) -> None:
    """Process-wide settings, set once by the process entry point.

    The operator's ``module_path`` goes on ``sys.path`` for ``extra_modules``.
    Above ``--memory-limit`` the evictor drops least recently used modules;
    a request that takes the process well past it anyway is stopped
    (:func:`sandbox.limits.set_process_ceiling`).
    """
    for path in reversed(config.module_path):
        if path not in sys.path:
            sys.path.insert(0, path)
    sandbox_limits.install()
    fair_share.install()
    sandbox_limits.set_process_ceiling(
        int(config.memory_limit * 2**20 * PROCESS_CEILING_FACTOR) if config.memory_limit else None
    )


class ProcessServices:
    """What runs beside the requests of one serving process.

    :param app: the process's :class:`~muxserver.app.MuxApp`.
    :param publish_metrics: write a metrics snapshot every second (workers).
    """

    def __init__(self, app: MuxApp, publish_metrics: bool = False):
        self.app = app
        self.publish_metrics = publish_metrics
        self.watcher = None
        self.live_versions = None
        self.evictor = app.evictor
        self.watchdog = HubWatchdog(stall_s=max(5.0, app.config.cpu_ms / 1000 * 5))
        self._greenlets: list[gevent.Greenlet] = []

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
        if self.app.config.watch:
            self.watcher = start_watcher(self.app)
        self.evictor.start()
        self.watchdog.start()
        # Versions deployed over HTTP, by whichever worker took the PUT.
        self.live_versions = LiveWatcher(self.app).start()
        self.app.history.start()
        self._greenlets.append(gevent.spawn(self._prune_cache_daily))
        if self.publish_metrics:
            self.app.metrics.write_snapshot()  # a scrape right after start sees this worker
            self._greenlets.append(gevent.spawn(self._publish_metrics))
        return self

    def stop(self) -> None:
        self.evictor.stop()
        self.watchdog.stop()
        if self.live_versions is not None:
            self.live_versions.stop()
        self.app.history.stop()
        if self.watcher is not None:
            self.watcher.stop()
        gevent.killall(self._greenlets, block=False)

    def _collect_garbage(self) -> None:
        """Collect as CPython's automatic collection would (by generation
        thresholds), at most every :data:`GC_EVERY_S`, outside any request."""
        threshold0, threshold1, threshold2 = gc.get_threshold()
        while True:
            gevent.sleep(GC_EVERY_S)
            count0, count1, count2 = gc.get_count()
            if count2 > threshold2:
                gc.collect(2)
            elif count1 > threshold1:
                gc.collect(1)
            elif count0 > threshold0:
                gc.collect(0)

    def _prune_cache_daily(self) -> None:
        gevent.sleep(PRUNE_FIRST_S)
        while True:
            try:
                removed = self.app.cache.prune(MAX_AGE_S)
                if removed:
                    log.info("code cache: pruned %d entries unused for 14 days", removed)
            except OSError as exc:
                log.warning("code cache prune failed: %s", exc)
            gevent.sleep(PRUNE_EVERY_S)

    def _publish_metrics(self) -> None:
        while True:
            gevent.sleep(METRICS_EVERY_S)
            try:
                self.app.metrics.write_snapshot()
            except OSError:
                pass


def start_worker(config, metrics_dir: str) -> MuxApp:
    """One of ``--workers N``, after fork: its app, with its services running.

    :param metrics_dir: where the workers exchange metrics snapshots.
    """
    from muxserver.ops.logs import setup_logging

    setup_logging(config.log_format, access=config.access_log)  # this worker's pid
    configure_process(config)
    app = MuxApp(config, metrics_dir=metrics_dir)
    ProcessServices(app, publish_metrics=True).start()
    connect_services(app)
    lock_down(app, writable=[metrics_dir])
    return app


def connect_services(app: MuxApp) -> None:
    """Connect to the services of other processes (the replication agent)
    while this process may still make sockets; a failure stops it."""
    from muxserver.replication.client import AgentError

    try:
        app.loader.data_gate.connect()
    except AgentError as exc:
        log.critical("%s", exc)
        raise SystemExit(WORKER_BOOT_ERROR) from None


def lock_down(app: MuxApp, writable=()) -> None:
    """Apply the process layer (:mod:`muxserver.isolation`) and record it in
    the app's status; under ``require``, a part that fails stops the process."""
    try:
        report = isolation.lock_down(app.config, writable=list(writable))
    except Exception as exc:  # require, and a part failed: do not serve
        log.critical("%s", exc)
        # gunicorn's "worker failed to boot" stops the arbiter instead of
        # starting the same failing worker again and again.
        raise SystemExit(WORKER_BOOT_ERROR) from None
    app.isolation = report.describe()
    (log.warning if report.missing else log.info)("%s", report.summary())


def run_single(config, listener) -> int:
    """Serve until SIGTERM/SIGINT; return the exit status."""
    configure_process(config)
    app = MuxApp(config)
    server = Server(app, listener, config.graceful_timeout)
    server.install_signal_handlers()
    services = ProcessServices(app).start()
    connect_services(app)
    lock_down(app)
    host, port = listener.getsockname()[:2]
    log.info("muxserver listening on http://%s:%d (tenants: %s)", host, port, config.tenants_dir)
    try:
        server.serve_forever()
    finally:
        services.stop()
    return 0

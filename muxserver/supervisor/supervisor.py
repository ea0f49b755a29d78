"""The supervisor: what the ``muxserver`` command runs.

It runs no tenant code and serves no tenant request. It

* binds the tenants' port and the admin listener (``--admin-listen``);
* registers every tenant (reading, compiling — it alone writes the code
  cache), watches the tenants dir and the live pointers, unpacks HTTP
  deploys into the versions store (it alone writes it), and health-checks
  each new version in a trial process before publishing it
  (:mod:`muxserver.controlplane`, :mod:`muxserver.trial`);
* starts the serving processes and replaces them (:mod:`.pool`), gathers
  their metrics, status and logs;
* serves the admin API and the console (:mod:`muxserver.http.admin`);
* keeps the server secret (``--server-dir``), handing serving processes only
  the session key derived from it;
* on SIGTERM or SIGINT drains every serving process, on SIGHUP rescans.

This is privilege separation as OpenSSH and Postfix do it: the processes
that parse and run untrusted code can write nothing that another process
will run or believe.
"""

from __future__ import annotations

import logging
import os
import signal

import gevent
from gevent.event import Event
from gevent.lock import BoundedSemaphore

from muxserver import serverdir
from muxserver.compiler import Compiler
from muxserver.controlplane import ControlPlane
from muxserver.errors import HaltServer
from muxserver.http.admin import AdminAPI
from muxserver.http.server import AdminServer
from muxserver.ops.memory import pin_mmap_threshold
from muxserver.process import add_module_path
from muxserver.supervisor.pool import WorkerPool
from muxserver.tenancy.codecache import MAX_AGE_S
from muxserver.tenancy.codecache import CodeCache
from muxserver.tenancy.registry import Registry
from muxserver.tenancy.versions import LiveWatcher
from muxserver.tenancy.watcher import start_watcher
from muxserver.trial import run_trial

log = logging.getLogger("muxserver")

#: First code-cache prune after start, then once a day.
PRUNE_FIRST_S = 60
PRUNE_EVERY_S = 86_400
#: Health checks running at once, whatever the number of tenants deploying:
#: each is an interpreter importing under its tenant's limits, so many
#: tenants' CI deploying together queue rather than exhaust memory.
MAX_TRIALS = max(2, os.cpu_count() or 1)
#: Seconds between two looks at where a linked ``--tenants-dir`` leads.
LINK_CHECK_S = 2.0


class Supervisor:
    """The supervisor of one server.

    :param config: the validated settings.
    :param listener: the tenants' listening socket (bound).
    :param admin_listener: the admin listener's socket (bound).
    """

    def __init__(self, config, listener, admin_listener):
        self.config = config
        # As in serving processes: registering thousands of tenants grows
        # and drops tables past the threshold (the registry's dict, a
        # snapshot's pickle), which glibc would otherwise keep in the heap
        # between what stays (issue 26: ~100 B of RSS per registered tenant).
        pin_mmap_threshold()
        add_module_path(config)
        serverdir.prepare(config)
        serverdir.clear_run_folder(config)
        self.session_key = serverdir.session_key(serverdir.server_secret(config))
        self.registry = Registry(config, CodeCache(config.code_cache_dir))
        # Deployed source is parsed in a process of its own, bounded in time.
        self.compiler = Compiler(config)
        self.registry.compiler = self.compiler
        self.pool = WorkerPool(config, listener, self.registry, self.session_key)
        self.control = ControlPlane(config, self.registry, self.pool, self.health_check)
        self.admin = AdminServer(AdminAPI(self.control, admin_listener.getsockname()[:2]),
                                 admin_listener)
        #: The ports this server listens on (the egress proxy never connects to them).
        self.own_ports = (listener.getsockname()[1], admin_listener.getsockname()[1])
        self.should_exit = Event()
        self._services: list = []
        #: The egress proxy (outbound HTTP), started in :meth:`run`.
        self.egress = None
        self._trials = BoundedSemaphore(MAX_TRIALS)

    def health_check(self, spec) -> list[str]:
        """Import ``spec``'s modules in a trial process (one tenant's deploys
        queue on its deploy lock; all tenants' on :data:`MAX_TRIALS`)."""
        with self._trials:
            return run_trial(self.config, spec, self.session_key)

    def run(self) -> int:
        """Serve until SIGTERM/SIGINT; return the exit status."""
        gevent.signal_handler(signal.SIGTERM, self.should_exit.set)
        gevent.signal_handler(signal.SIGINT, self.should_exit.set)
        gevent.signal_handler(signal.SIGHUP, lambda: gevent.spawn(self._hup))
        self._start_egress()
        # Serving processes boot while tenants are registered (without
        # importing anything, at start), then get every version at once.
        self.pool.start()
        self.control.rescan(checked=False, report=False)
        self.pool.ready()
        self.admin.start()
        if self.config.watch:
            self._services.append(start_watcher(self.control))
        link_watch = (gevent.spawn(self.watch_tenants_link, self.tenants_link)
                      if self.tenants_link is not None else None)
        # Live pointers another node's supervisor changed (a shared volume).
        self._services.append(LiveWatcher(self.control).start())
        self.control.history.start()
        self._services.append(self.control.history)
        prune = gevent.spawn(self._prune_cache_daily)
        waiter = gevent.spawn(self.should_exit.wait)
        gevent.joinall([waiter, gevent.spawn(self.pool.fatal.wait)], count=1)
        status = 0
        if self.pool.fatal.ready():
            error = self.pool.fatal.get()
            status = error.status if isinstance(error, HaltServer) else 1
        log.info("stopping: draining the serving processes")
        for service in self._services:
            service.stop()
        prune.kill(block=False)
        if link_watch is not None:
            link_watch.kill(block=False)
        self.pool.stop(self.config.graceful_timeout)
        self.admin.stop()
        self.compiler.stop()
        serverdir.clear_run_folder(self.config, own_only=True)
        log.info("stopped")
        return status

    #: ``--tenants-dir`` as given, when a symbolic link led to the folder served.
    tenants_link = None

    def watch_tenants_link(self, link: str) -> None:
        """Say, in the log and in status, when the link ``--tenants-dir``
        named is moved to another folder (a release swap, as Capistrano
        deploys): every process serves — and the kernel's rules let them
        read — the folder it led to at start, so new code there is not
        served until a restart. Loud, never silent."""
        serving = str(self.config.tenants_dir)
        told = None
        while True:
            gevent.sleep(LINK_CHECK_S)
            target = os.path.realpath(link)
            if target == told or (target == serving and told is None):
                continue
            told = None if target == serving else target
            if told is None:
                log.info("%s leads to %s again, the folder this server serves", link, serving)
                self.control.notices.clear()
                continue
            message = (f"--tenants-dir {link} now leads to {target}, but this server serves "
                       f"{serving}, where it led at start: restart the server to serve the new "
                       "folder (or deploy into one folder in place: rsync, muxserver deploy, "
                       "HTTP deploys)")
            log.error("%s", message)
            self.control.notices[:] = [message]

    def _start_egress(self) -> None:
        """Hook for outbound HTTP: the egress proxy, its rules sent now and
        after every change of a tenant's version, its counters in metrics;
        serving processes connect to it before their lock-down."""
        from muxserver.egress.service import egress_key
        from muxserver.egress.service import start_egress

        self.egress = start_egress(self.config, egress_key(self.session_key),
                                   own_ports=self.own_ports)
        self._services.append(self.egress)
        self.pool.egress_port = self.egress.port
        registry = self.registry
        publish = registry.on_change
        pending = []

        def send_policy():
            pending.clear()
            self.egress.update([s.spec for s in registry.tenants.values()])

        def on_change(name, state):
            publish(name, state)
            # Once per burst of changes, not once per tenant: a rescan of
            # 10,000 tenants would send the whole table 10,000 times.
            if not pending:
                pending.append(gevent.spawn_later(0.05, send_policy))

        registry.on_change = on_change
        self.pool.extra_snapshots.append(self.egress.metrics_snapshot)

    def _hup(self) -> None:
        log.info("SIGHUP: rescanning tenants")
        try:
            self.control.rescan(report=False)
        except Exception:
            log.exception("rescan after SIGHUP failed")

    def _prune_cache_daily(self) -> None:
        gevent.sleep(PRUNE_FIRST_S)
        while True:
            try:
                removed = self.registry.cache.prune(MAX_AGE_S)
                if removed:
                    log.info("code cache: pruned %d entries unused for 14 days", removed)
            except OSError as exc:
                log.warning("code cache prune failed: %s", exc)
            gevent.sleep(PRUNE_EVERY_S)

"""Run one server process: app, server, watcher and evictor together."""

from __future__ import annotations

import logging
import sys

import gevent

from muxserver.app import MuxApp
from muxserver.codecache import MAX_AGE_S
from muxserver.evictor import Evictor
from muxserver.server import Server
from muxserver.watchdog import HubWatchdog
from muxserver.watcher import start_watcher

log = logging.getLogger("muxserver")


def _prune_cache_daily(app) -> None:
    while True:
        gevent.sleep(60)
        try:
            removed = app.cache.prune(MAX_AGE_S)
            if removed:
                log.info("code cache: pruned %d entries unused for 14 days", removed)
        except OSError as exc:
            log.warning("code cache prune failed: %s", exc)
        gevent.sleep(86_400)


def run_single(config, listener) -> int:
    """Serve until SIGTERM/SIGINT; return the exit status."""
    app = MuxApp(config)
    server = Server(app, listener, config.graceful_timeout)
    server.install_signal_handlers()
    watcher = start_watcher(app) if config.watch else None
    evictor = Evictor(app)
    evictor.start()
    gevent.spawn(_prune_cache_daily, app)
    watchdog = HubWatchdog(stall_s=max(5.0, config.cpu_ms / 1000 * 5)).start()
    host, port = listener.getsockname()[:2]
    log.info("muxserver listening on http://%s:%d (tenants: %s)", host, port, config.tenants_dir)
    print(f"muxserver listening on http://{host}:{port}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    finally:
        evictor.stop()
        watchdog.stop()
        if watcher is not None:
            watcher.stop()
    return 0

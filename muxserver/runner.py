"""Run one server process: app, server, watcher and evictor together."""

from __future__ import annotations

import logging
import sys

from muxserver.app import MuxApp
from muxserver.evictor import Evictor
from muxserver.server import Server
from muxserver.watchdog import HubWatchdog
from muxserver.watcher import start_watcher

log = logging.getLogger("muxserver")


def run_single(config, listener) -> int:
    """Serve until SIGTERM/SIGINT; return the exit status."""
    app = MuxApp(config)
    server = Server(app, listener, config.graceful_timeout)
    server.install_signal_handlers()
    watcher = start_watcher(app) if config.watch else None
    evictor = Evictor(app)
    evictor.start()
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

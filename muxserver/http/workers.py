"""``--workers N``: gunicorn's arbiter with a gevent worker per process.

gunicorn is the process manager: it forks N workers that share the listening
socket, replaces a worker whose heartbeat stops for ``timeout`` seconds (a
worker stuck in a C call no tick can interrupt), reloads workers gracefully on
SIGHUP, and drains them on SIGTERM. Each worker is a full muxserver process:
it registers every tenant (from the shared code cache, so the second worker
compiles nothing), loads modules lazily, watches the tenants dir and evicts.

Two differences from gunicorn's defaults, to match the single process:
SIGINT drains like SIGTERM (gunicorn would quit at once), and the worker uses
muxserver's pywsgi handler (lean header parsing, no gunicorn access log:
muxserver writes its own).

.. warning::
   The admin calls that change state (``register``, ``specialize``, ``evict``)
   act on the worker that answers them. Send SIGHUP to the master to rescan
   every worker. ``/_mux/metrics`` sums all workers.
"""

from __future__ import annotations

import logging
import shutil
import signal
import tempfile

from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter
from gunicorn.glogging import Logger
from gunicorn.workers.ggevent import GeventPyWSGIWorker

from muxserver.http.handler import MuxHandler
from muxserver.http.server import MuxWSGIServer
from muxserver.http.server import drain

log = logging.getLogger("muxserver.workers")


class MuxLogger(Logger):
    """gunicorn's own lines go through muxserver's log writer, in the
    operator's format and with the pid of the process that wrote them."""

    def setup(self, cfg):
        super().setup(cfg)
        from muxserver.ops.logs import WriterHandler

        self.error_log.handlers[:] = [WriterHandler()]
        self.error_log.propagate = False


def _flush_logs_before_fork(arbiter, worker) -> None:
    """Lines the arbiter queued are written before a fork copies the queue."""
    from muxserver.ops import logs

    logs.writer.flush()


class MuxWorker(GeventPyWSGIWorker):
    """gunicorn's gevent worker serving with muxserver's own server class and
    handler (the same as a single process: header checks, TCP_NODELAY), and
    draining with the same :func:`~muxserver.http.server.drain`. SIGINT
    drains instead of quitting."""

    server_class = MuxWSGIServer
    wsgi_handler = MuxHandler

    def init_signals(self):
        super().init_signals()
        signal.signal(signal.SIGINT, self.handle_exit)

    def run(self):
        import gevent
        from gevent.pool import Pool
        from gunicorn.http.wsgi import base_environ

        servers = []
        for sock in self.sockets:
            sock.setblocking(1)
            environ = base_environ(self.cfg)
            environ.update({"wsgi.multithread": True, "SERVER_SOFTWARE": "muxserver"})
            server = self.server_class(
                sock, application=self.wsgi, spawn=Pool(self.worker_connections), log=None,
                error_log=log, handler_class=self.wsgi_handler, environ=environ,
            )
            server.start()
            servers.append(server)
        while self.alive:
            self.notify()
            gevent.sleep(0.5)
        drain(servers, lambda: getattr(self.wsgi, "inflight", 0), self.cfg.graceful_timeout,
              heartbeat=self.notify)


class MuxArbiter(Arbiter):
    """gunicorn's arbiter; SIGINT drains like SIGTERM."""

    def handle_int(self):
        raise StopIteration


class MuxGunicorn(BaseApplication):
    """Drives gunicorn from muxserver's Config."""

    def __init__(self, config, metrics_dir: str):
        self.mux_config = config
        self.metrics_dir = metrics_dir
        super().__init__()

    def load_config(self):
        c = self.mux_config
        host = f"[{c.host}]" if ":" in c.host else c.host
        settings = {
            "bind": [f"{host}:{c.port}"],
            "workers": c.workers,
            "worker_class": "muxserver.http.workers.MuxWorker",
            "timeout": c.worker_timeout,
            "graceful_timeout": max(1, int(round(c.graceful_timeout))),
            "keepalive": 5,
            "accesslog": None,
            "errorlog": "-",
            "loglevel": "info",
            "proc_name": "muxserver",
            "worker_connections": 10000,
            "logger_class": "muxserver.http.workers.MuxLogger",
            "pre_fork": _flush_logs_before_fork,
        }
        if "control_socket_disable" in self.cfg.settings:
            # gunicorn >= 24 opens a control socket in $HOME; muxserver has
            # its own admin API and must not write outside its dirs.
            settings["control_socket_disable"] = True
        for key, value in settings.items():
            self.cfg.set(key, value)

    def load(self):
        """Runs in each worker after fork: build the app and its services."""
        from muxserver.process import start_worker

        return start_worker(self.mux_config, self.metrics_dir)

    def run(self):
        MuxArbiter(self).run()


def run_workers(config, listener) -> int:
    """Serve with ``config.workers`` processes; return the exit status."""
    # gunicorn binds the port itself; the probe socket only proved it is free.
    listener.close()
    metrics_dir = tempfile.mkdtemp(prefix="muxserver-metrics-")
    try:
        MuxGunicorn(config, metrics_dir).run()
    except SystemExit as exc:  # gunicorn exits through sys.exit
        return int(exc.code or 0)
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0

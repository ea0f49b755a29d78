"""A serving process: it serves tenants on the listener the supervisor
handed it, and nothing else.

The supervisor (:mod:`muxserver.supervisor`) starts it with ``python -I``, a
clean environment, and three inherited descriptors: its settings (with the
session key, no token), the listening socket, and its channel
(:mod:`muxserver.supervisor.channel`). Over the channel it receives every
tenant's registered version — it never scans, compiles or writes the code
cache — and the admin calls that need it (evict, load, status, logs); it
sends its metrics every second. Then it locks itself down
(:mod:`muxserver.isolation`) and serves until SIGTERM (drained), until the
supervisor tells it to stop or its channel closes — or at once if the
supervisor dies (:func:`die_with_supervisor`).
"""

from __future__ import annotations

import argparse
import logging
import os
import socket

log = logging.getLogger("muxserver")


def _handler(app, server):
    """Answers the supervisor's calls."""
    from muxserver.supervisor.paging import log_page
    from muxserver.supervisor.paging import status_page
    from muxserver.tenancy.registry import TenantState  # noqa: F401 (pickled specs)

    def handle(message: dict):
        op = message["op"]
        if op == "deploy":
            app.registry.install(message["spec"])
            return None
        if op == "remove":
            app.registry.remove_tenant(message["tenant"])
            return None
        if op == "evict":
            return app.evict(tenant=message.get("tenant"), reason="admin")
        if op == "specialize":
            return app.specialize(message["tenant"], message["endpoint"])
        # What grows with tenants goes in pages (muxserver.supervisor.paging).
        if op == "status":
            return status_page(app.process_status(), message.get("after"))
        if op == "logs":
            first, entries = app.logs.numbered(message["tenant"])
            return log_page(first, entries, message.get("limit"), message.get("before"))
        if op == "stop":
            server.should_exit.set()
            return None
        if op == "zygote":  # its zygote died; the supervisor started another
            from muxserver.proctier.launcher import ZygoteClient

            fds = message.get("fds") or []
            for extra in fds[1:]:
                os.close(extra)
            if fds:
                app.use_zygote(ZygoteClient(socket.socket(fileno=fds[0])))
            return None
        raise ValueError(f"unknown call {op!r}")

    return handle


def die_with_supervisor() -> None:
    """If the supervisor dies (``kill -9``, a crash), the kernel kills this
    process at once: a node whose supervisor is gone must not keep serving
    versions nobody can update, and a fleet's proxy must see it gone."""
    import ctypes
    import os
    import signal

    parent = os.getppid()
    ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # it died before the line above
        os._exit(1)


def serve(config, session_key: bytes, control_fd: int, listen_fd: int, tempdir: str,
          zygote_fd: int | None = None, egress_port: int | None = None) -> int:
    from muxserver.app import MuxApp
    from muxserver.http.server import Server
    from muxserver.process import ProcessServices
    from muxserver.process import configure_process
    from muxserver.process import connect_services
    from muxserver.process import lock_down
    from muxserver.supervisor.channel import Channel

    die_with_supervisor()
    configure_process(config)
    app = MuxApp(config, scan=False, session_key=session_key)
    app.role = "serving"
    if zygote_fd is not None:  # process tenants (muxserver.proctier)
        from muxserver.proctier.launcher import ZygoteClient

        app.use_zygote(ZygoteClient(socket.socket(fileno=zygote_fd)))
    if egress_port is not None:
        from muxserver.egress.service import egress_key

        app.egress_port, app.egress_key = egress_port, egress_key(session_key)
    channel = Channel(socket.socket(fileno=control_fd), accepts_pickles=True, name="supervisor")
    snapshot = channel.receive()
    for spec in snapshot["specs"]:
        app.registry.install(spec)
    listener = socket.socket(fileno=listen_fd)
    listener.setblocking(False)
    server = Server(app, listener, config.graceful_timeout, on_hup=lambda: None)
    server.install_signal_handlers()
    channel.handler = _handler(app, server)
    channel.on_close = server.should_exit.set
    channel.start()
    services = ProcessServices(app, channel).start()
    connect_services(app)
    lock_down(app, tempdir)
    try:
        server.serve_forever()
    finally:
        services.stop()
        channel.close()
        app.close_processes()
    return 0


def run(argv: list[str]) -> None:
    """Entry point of ``python -I -c ...`` (see :func:`muxserver.launch.spawn_argv`)."""
    import sys

    from gevent import monkey

    monkey.patch_all()
    from muxserver.errors import HaltServer
    from muxserver.launch import read_config_fd
    from muxserver.ops.logs import setup_logging

    parser = argparse.ArgumentParser(prog="muxserver serving process")
    parser.add_argument("--config-fd", type=int, required=True)
    parser.add_argument("--control-fd", type=int, required=True)
    parser.add_argument("--listen-fd", type=int, required=True)
    parser.add_argument("--tempdir", required=True)
    parser.add_argument("--zygote-fd", type=int, default=None)
    parser.add_argument("--egress-port", type=int, default=None)
    args = parser.parse_args(argv)
    config, session_key = read_config_fd(args.config_fd)
    setup_logging(config.log_format, access=config.access_log)
    try:
        status = serve(config, session_key, args.control_fd, args.listen_fd, args.tempdir,
                       args.zygote_fd, args.egress_port)
    except HaltServer as exc:
        status = exc.status
    sys.exit(status)

"""Starting a zygote, and the serving process's end of it.

:func:`start_zygote` is called where processes may still be started — by
the supervisor for each serving process it spawns, or by an in-process
:class:`~muxserver.app.MuxApp` (tests, embedding) on its first process
tenant. :class:`ZygoteClient` is the serving process's end: it asks for a
tenant's process and gets back its pid and a socket to it.
"""

from __future__ import annotations

import json
import logging
import os
import resource
import socket

from gevent.lock import Semaphore

from muxserver import launch
from muxserver.proctier import wire

log = logging.getLogger("muxserver.proctier")

#: The stack size threads of process tenants get (the server's main thread
#: has 1 GiB, which every thread a tenant starts would otherwise reserve).
TENANT_STACK_BYTES = 8 * 2**20
#: Seconds a zygote may take to fork a tenant's process.
START_TIMEOUT_S = 10.0


class ZygoteError(Exception):
    """The zygote is gone or refused to start a process."""


def sites_dir(config) -> str:
    """Where ``requirements.txt`` installs go (written by the supervisor only)."""
    return str(config.server_root / "sites")


def zygote_settings(config, proxy_port: int | None) -> dict:
    """What a zygote may hand its children: read-only tenant folders, site
    folders, the data dir, the isolation mode and the egress proxy's port."""
    return {
        "app_roots": [str(config.tenants_dir.resolve()), str(config.versions_dir.resolve())],
        "sites_dir": sites_dir(config),
        "data_dir": str(config.state_dir.resolve()),
        "isolation": config.isolation,
        "proxy_port": proxy_port,
    }


def _small_stack() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_STACK)
    value = TENANT_STACK_BYTES if hard == resource.RLIM_INFINITY else min(hard, TENANT_STACK_BYTES)
    resource.setrlimit(resource.RLIMIT_STACK, (value, hard))


class ZygoteHandle:
    """A running zygote; :attr:`client_end` is the socket its user talks over."""

    def __init__(self, proc, client_end: socket.socket):
        self.proc = proc
        self.client_end = client_end

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        launch.stop_service(self.proc, self.client_end)


def start_zygote(config, proxy_port: int | None = None) -> ZygoteHandle:
    """Start a zygote (``python -I``, a clean environment, an 8 MiB stack).

    :return: its handle; ``handle.client_end`` is to be handed to (or used
        by) the serving process.
    """
    from gevent import subprocess

    here, there = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    settings_fd = launch.payload_fd(json.dumps(zygote_settings(config, proxy_port)).encode())
    os.makedirs(sites_dir(config), exist_ok=True)
    try:
        proc = subprocess.Popen(
            launch.spawn_argv("muxserver.proctier.zygote:run", "--settings-fd", str(settings_fd),
                              "--control-fd", str(there.fileno())),
            pass_fds=(settings_fd, there.fileno()), env=launch.child_environment(config),
            close_fds=True, preexec_fn=_small_stack)
    finally:
        os.close(settings_fd)
        there.close()
    log.info("started a zygote for process tenants (pid %d)", proc.pid)
    return ZygoteHandle(proc, here)


class ZygoteClient:
    """The serving process's end of its zygote.

    :param sock: the inherited socket (a gevent socket).
    """

    def __init__(self, sock):
        self.sock = sock
        self._lock = Semaphore()
        self._ids = 0

    def start(self, plan: dict) -> tuple[int, socket.socket]:
        """Fork a process for ``plan``; return its pid and a socket to it."""
        import gevent

        with self._lock:
            self._ids += 1
            try:
                wire.send_json(self.sock, {"op": "start", "id": self._ids, "plan": plan})
                with gevent.Timeout(START_TIMEOUT_S, ZygoteError("the zygote did not answer")):
                    message, fds = wire.receive_fds(self.sock)
            except (OSError, wire.WireClosed) as exc:
                raise ZygoteError(f"the zygote is gone: {exc}") from None
        if "error" in message or len(fds) != 1:
            for fd in fds:
                os.close(fd)
            raise ZygoteError(f"the zygote refused: {message.get('error', 'no socket')}")
        return int(message["pid"]), socket.socket(fileno=fds[0])

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def kill(self, pid: int) -> None:
        try:
            with self._lock:
                wire.send_json(self.sock, {"op": "kill", "pid": pid})
        except OSError:
            pass

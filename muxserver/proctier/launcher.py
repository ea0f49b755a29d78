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
from muxserver.errors import TenantError
from muxserver.proctier import wire

log = logging.getLogger("muxserver.proctier")

#: The stack size threads of process tenants get (the server's main thread
#: has 1 GiB, which every thread a tenant starts would otherwise reserve).
TENANT_STACK_BYTES = 8 * 2**20
#: The limits a plan carries (:func:`~.manager.plan_for`), each capped by
#: the operator's ``[max_limits]`` in the zygote (:func:`~.zygote.check_plan`).
PLAN_LIMITS = ("cpu_ms", "wall_s", "memory_mb", "storage_mb")
#: Seconds a zygote may take to fork a tenant's process.
START_TIMEOUT_S = 10.0


class ZygoteError(TenantError):
    """No process could be started: the zygote could not fork (the
    server's tasks or memory are all taken), refused the plan, or is gone
    (a new one is being started). 503 with ``Retry-After``: the request may
    be tried again; the tenant's other processes keep serving."""

    status = 503

    def headers(self) -> list[tuple[str, str]]:
        return [("Retry-After", "1")]


def sites_dir(config) -> str:
    """Where ``requirements.txt`` installs go (written by the supervisor only)."""
    return str(config.server_root / "sites")


def zygote_settings(config, proxy_port: int | None) -> dict:
    """What a zygote may hand its children: read-only tenant folders, site
    folders, the data dir, the isolation mode, the egress proxy's port and
    the operator's ``[max_limits]``."""
    return {
        "app_roots": [str(config.tenants_dir.resolve()), str(config.versions_dir.resolve())],
        "sites_dir": sites_dir(config),
        "data_dir": str(config.state_dir.resolve()),
        "isolation": config.isolation,
        "proxy_port": proxy_port,
        "max_tasks": config.process_max_tasks,
        # The operator's caps: a plan comes from a serving process, which
        # runs tenant code, so the limits it asks for are checked against these.
        "max_limits": {key: config.max_limits[key] for key in PLAN_LIMITS},
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
        """Stop the zygote (its children die with it), and remove the pids
        cgroups it made for them (:mod:`.taskcap`): killed, it could not."""
        import gevent

        from muxserver.proctier.taskcap import remove_folder

        launch.stop_service(self.proc, self.client_end)
        remove_folder(self.proc.pid, sleep=gevent.sleep)


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
        #: The zygote went away: whoever started it starts another
        #: (:meth:`~.manager.ProcessTier.use_zygote`).
        self.gone = False

    def start(self, plan: dict) -> tuple[int, socket.socket]:
        """Fork a process for ``plan``; return its pid and a socket to it.

        :raises ZygoteError: the fork failed (the zygote says why), or the
            zygote is gone.
        """
        import gevent

        if self.gone:
            raise ZygoteError("the zygote is gone (a new one is being started)")
        with self._lock:
            self._ids += 1
            try:
                wire.send_json(self.sock, {"op": "start", "id": self._ids, "plan": plan})
                with gevent.Timeout(START_TIMEOUT_S, ZygoteError("the zygote did not answer")):
                    message, fds = wire.receive_fds(self.sock)
            except (OSError, wire.WireClosed) as exc:
                self.gone = True
                raise ZygoteError(f"the zygote is gone: {exc}") from None
            except ZygoteError:
                # An answer that comes later would be read as the next one's.
                self.gone = True
                self.close()
                raise
        if "error" in message or len(fds) != 1:
            for fd in fds:
                os.close(fd)
            raise ZygoteError(f"the zygote could not start a process: "
                              f"{message.get('error', 'no socket')}")
        return int(message["pid"]), socket.socket(fileno=fds[0])

    @property
    def busy(self) -> bool:
        """Whether a message to the zygote would wait (a fork in progress)."""
        return self._lock.locked()

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def _tell(self, op: str, pid: int) -> None:
        """Ask the zygote to signal one of its children; no answer is awaited."""
        try:
            with self._lock:
                wire.send_json(self.sock, {"op": op, "pid": pid})
        except OSError:
            self.gone = True

    def kill(self, pid: int) -> None:
        """Stop process ``pid`` (SIGKILL: a frozen process too)."""
        self._tell("kill", pid)

    def freeze(self, pid: int) -> None:
        """Stop every thread of process ``pid`` until :meth:`thaw` (SIGSTOP)."""
        self._tell("freeze", pid)

    def thaw(self, pid: int) -> None:
        """Let process ``pid`` run again (SIGCONT)."""
        self._tell("thaw", pid)

"""The zygote: a warm interpreter that forks process tenants (the SOCK design).

SOCK (Oakes et al., USENIX ATC 2018, the OpenLambda paper) starts a
function from a process that already imported what functions share,
instead of from a fresh interpreter. Here, :func:`preload` imports the
interpreter's common parts, werkzeug and Flask once; each process tenant is
a ``fork()`` of that process, so it starts in a millisecond or two and its
interpreter's pages stay shared with the zygote until written
(``gc.freeze()`` keeps the collector from writing them).

Serving processes cannot fork once locked down, so the supervisor starts
one zygote per serving process (:func:`start_zygote`, called in
:meth:`muxserver.supervisor.pool.WorkerPool._spawn`) and hands the serving
process one end of a socketpair to it. Over it, the serving process
(:class:`ZygoteClient`) asks in JSON:

``{"op": "start", "id": N, "plan": {...}}``
    fork a process for one tenant; the answer ``{"reply_to": N, "pid": P}``
    carries, as ``SCM_RIGHTS``, the serving process's end of a new
    socketpair to that process (:mod:`.host` runs in it);
``{"op": "kill", "pid": P}``
    stop one of its own children (a request over its CPU or wall time);
``{"op": "freeze", "pid": P}`` and ``{"op": "thaw", "pid": P}``
    stop one of its children between requests (``SIGSTOP``) and let it run
    again (``SIGCONT``): a process tenant computes only while it holds a
    request, as on AWS Lambda (:class:`~.manager.ProcessTier`).

A fork that fails (no task left in the server's budget, no memory) is
answered ``{"reply_to": N, "error": ..., "cause": "fork"}`` and the zygote
serves on. Each child is put in a pids cgroup of its own before it can run
tenant code (:mod:`.taskcap`): its threads cannot take every task of the
server.

The zygote locks itself down after the preload (:func:`_lock_down`): it
reads what any process tenant may read, writes only the data dir (and its
children's pids cgroups), cannot exec, and its sockets are IPv4/IPv6
streams only — so no child it forks, whatever a serving process asks, can
do more. It checks each plan's paths
against its own settings, and takes the isolation mode from the supervisor,
never from the plan. It exits when its serving process's end closes; its
children die with it (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import ctypes
import gc
import json
import os
import signal
import socket
import sys

from muxserver.proctier import taskcap
from muxserver.proctier import wire

#: Modules every process tenant finds already imported.
PRELOAD = (
    "json", "re", "datetime", "decimal", "uuid", "base64", "hashlib", "hmac", "secrets",
    "logging", "logging.handlers", "sqlite3", "ssl", "socket", "http.client", "http.cookies",
    "urllib.request", "urllib.parse", "email.message", "email.utils", "mimetypes",
    "dataclasses", "typing", "collections", "functools", "itertools", "contextlib", "asyncio",
    "traceback", "tempfile", "shutil", "pathlib", "inspect", "threading", "zlib", "gzip",
    "werkzeug", "werkzeug.routing", "werkzeug.exceptions", "werkzeug.formparser",
    "werkzeug.sansio.multipart", "werkzeug.security", "werkzeug.utils",
    "jinja2", "markupsafe", "itsdangerous", "click", "flask", "flask.json.provider",
)
#: Distributions whose folders a process tenant reads (they are preloaded;
#: a tenant's requirements.txt gets them at these versions: :mod:`.requirements`).
PRELOADED_PACKAGES = ("flask", "werkzeug", "jinja2", "markupsafe", "itsdangerous", "click",
                      "blinker")
_PR_SET_PDEATHSIG = 1


def preload() -> None:
    import importlib
    import mimetypes
    import time

    for name in PRELOAD:
        importlib.import_module(name)
    for name in ("muxserver.proctier.host", "muxserver.proctier.tenantapp",
                 "muxserver.proctier.confine"):
        importlib.import_module(name)
    mimetypes.init()
    time.localtime()
    try:
        import pyseccomp  # noqa: F401 (the children's filter)
    except (ImportError, OSError):
        pass


def preloaded_folders() -> list[str]:
    """The folders of the preloaded packages and of the server's code that
    runs in the tenant process (:mod:`.host`)."""
    import importlib

    folders = []
    for name in (*PRELOADED_PACKAGES, "muxserver"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        if getattr(module, "__file__", None):
            folders.append(os.path.dirname(os.path.realpath(module.__file__)))
    return folders


class PlanRefused(Exception):
    pass


def _inside(path: str, roots) -> bool:
    real = os.path.realpath(path)
    return any(real == r or real.startswith(r.rstrip("/") + "/") for r in roots)


def check_plan(plan: dict, settings: dict) -> dict:
    """The plan, with the zygote's own isolation mode and proxy port, if its
    paths are where tenants' paths are and its limits within the operator's
    ``[max_limits]`` (else :class:`PlanRefused`).

    The plan comes from a serving process, which runs tenant code: what it
    says is checked against ``settings`` (the supervisor's), never taken —
    a process with the limits a breached serving process chose would have
    none (a terabyte of memory, past ``--memory-limit`` and the caps).
    """
    reads = [os.path.realpath(p) for p in settings["app_roots"]]
    if not _inside(plan["app_root"], reads):
        raise PlanRefused(f"app_root {plan['app_root']!r} is not a tenant's folder")
    if plan.get("site") and not _inside(plan["site"], [settings["sites_dir"]]):
        raise PlanRefused(f"site {plan['site']!r} is not a site folder")
    data = os.path.join(os.path.realpath(settings["data_dir"]), plan["tenant"])
    if os.path.realpath(plan["data"]) != data or "/" in plan["tenant"] or \
            plan["tenant"].startswith("."):
        raise PlanRefused(f"data {plan['data']!r} is not the tenant's data folder")
    limits = {key: _limit(plan["limits"], key, cap) for key, cap in settings["max_limits"].items()}
    return dict(plan, limits=limits, isolation=settings["isolation"],
                proxy_port=settings.get("proxy_port"), base_bytes=settings.get("base_bytes"))


def _limit(limits: dict, key: str, cap) -> int | float:
    """The plan's ``limits[key]`` if it is a positive number within the
    operator's cap (the serving process asked, the supervisor decided)."""
    value = limits[key]
    if (not isinstance(value, (int, float)) or isinstance(value, bool)
            or not 0 < value <= cap):
        raise PlanRefused(f"limits {key} = {value!r} is not within the operator's "
                          f"[max_limits] {key} = {cap}")
    return value


def _task_cap(settings: dict) -> tuple[taskcap.PidsCgroups | None, bool]:
    """The children's task cap: ``(cgroups or None, whether RLIMIT_NPROC
    stands in)`` (:mod:`.taskcap`; made before the lock-down)."""
    max_tasks = settings.get("max_tasks") or taskcap.DEFAULT_MAX_TASKS
    cgroups = taskcap.PidsCgroups.make(max_tasks)
    return cgroups, cgroups is None and os.getuid() != 0


def _lock_down(settings: dict, folders: list[str], cgroups, nproc: bool) -> None:
    if settings["isolation"] == "off":
        return
    from muxserver.isolation import landlock
    from muxserver.isolation import seccomp
    from muxserver.proctier.confine import SYSTEM_READ
    from muxserver.proctier.confine import python_paths

    os.makedirs(settings["data_dir"], exist_ok=True)
    read = [*settings["app_roots"], settings["sites_dir"], *python_paths(folders), *SYSTEM_READ,
            f"/proc/{os.getpid()}", *(["/proc"] if nproc else [])]  # the user's tasks, counted
    write = [settings["data_dir"], *([cgroups.folder] if cgroups else [])]
    ports = (settings["proxy_port"],) if settings.get("proxy_port") else ()
    try:
        landlock.restrict(read, write, connect_ports=ports)
        seccomp.restrict(tenant_process=True, zygote=True)
    except OSError as exc:
        if settings["isolation"] == "require":
            raise
        print(f"muxserver zygote: lock-down incomplete: {exc}", file=sys.stderr, flush=True)


def _tenant_program(settings: dict) -> bytes | None:
    """The children's seccomp filter, compiled once (None: built per child)."""
    if settings["isolation"] == "off":
        return None
    from muxserver.isolation import seccomp

    try:
        return seccomp.tenant_program()
    except (OSError, ValueError, RuntimeError):
        return None


def _reap(*_):
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        _children.discard(pid)
        if _cgroups is not None:
            _cgroups.release(pid)


_children: set[int] = set()
#: The children's pids cgroups (None: no cgroup could be made).
_cgroups: taskcap.PidsCgroups | None = None


class ForkFailed(Exception):
    """A child could not be forked or capped; the zygote serves on."""


def _signal_child(pid, signum: int) -> None:
    if pid in _children:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass


def _fork_tenant(control, plan: dict, folders: list[str], program: bytes | None,
                 nproc: bool) -> int:
    """Fork the process of ``plan`` and send the serving process its socket.

    :raises ForkFailed: no socket, no fork (``EAGAIN``: the server's tasks
        are all taken; ``ENOMEM``), or no task cap for the child.
    """
    max_tasks = plan.get("max_tasks") or taskcap.DEFAULT_MAX_TASKS
    if _cgroups is not None:
        plan["task_cap"] = {"kind": "pids cgroup", "max_tasks": _cgroups.max_tasks}
    elif nproc:
        limit = taskcap.nproc_limit(max_tasks)
        plan["task_cap"] = {"kind": "RLIMIT_NPROC", "max_tasks": max_tasks, "nproc": limit} \
            if limit is not None else None
    else:
        plan["task_cap"] = None
    try:
        parent_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    except OSError as exc:
        raise ForkFailed(f"no socket for a new process: {exc}") from None
    try:
        pid = os.fork()
    except OSError as exc:
        parent_end.close()
        child_end.close()
        raise ForkFailed(f"fork() failed: {exc} (the server's tasks or memory are all taken: "
                         "its pids cgroup, TasksMax, pid_max; try again later)") from None
    if pid == 0:  # the tenant's process
        try:
            ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            control.close()
            parent_end.close()
            null = os.open("/dev/null", os.O_RDONLY)
            os.dup2(null, 0)
            os.close(null)
            gc.enable()
            from muxserver.proctier.host import serve

            serve(child_end, plan, folders, program)
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            os._exit(0)
    child_end.close()
    _children.add(pid)
    if _cgroups is not None:
        try:
            _cgroups.place(pid)
        except OSError as exc:
            parent_end.close()
            _signal_child(pid, signal.SIGKILL)
            raise ForkFailed(f"cannot cap the new process's tasks: {exc}") from None
    try:
        wire.send_fds(control, {"reply_to": plan.get("_id"), "pid": pid}, [parent_end.fileno()])
    finally:
        parent_end.close()
    return pid


def run(argv: list[str]) -> None:
    """Entry point (``python -I -c ...``): preload, lock down, fork on demand."""
    settings_fd = int(argv[argv.index("--settings-fd") + 1])
    control_fd = int(argv[argv.index("--control-fd") + 1])
    with os.fdopen(settings_fd, "rb") as f:
        settings = json.loads(f.read())
    ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    preload()
    folders = preloaded_folders()
    from muxserver.proctier.confine import address_space_bytes

    settings["base_bytes"] = address_space_bytes()
    global _cgroups
    _cgroups, nproc = _task_cap(settings)
    _lock_down(settings, folders, _cgroups, nproc)
    from muxserver.proctier.confine import python_paths

    readable = python_paths(folders)
    program = _tenant_program(settings)
    control = socket.socket(fileno=control_fd)
    control.setblocking(True)  # made non-blocking by the (gevent) supervisor
    gc.collect()
    gc.freeze()  # the children's collector leaves the zygote's objects (and pages) alone
    while True:
        # Children are reaped here, not in a SIGCHLD handler: each stop and
        # continue (twice a request) would run it. One that died is reaped
        # at the next message at the latest — the serving process sends a
        # "kill" for each process whose socket closed.
        _reap()
        try:
            kind, message = wire.receive(control)
        except (wire.WireClosed, OSError):
            break
        if kind != wire.JSON:
            continue
        if message.get("op") == "start":
            try:
                plan = check_plan(message["plan"], settings)
            except (PlanRefused, KeyError, TypeError) as exc:
                wire.send_json(control, {"reply_to": message.get("id"), "error": str(exc)})
                continue
            plan["_id"] = message.get("id")
            plan["max_tasks"] = settings.get("max_tasks")
            try:
                _fork_tenant(control, plan, readable, program, nproc)
            except ForkFailed as exc:
                print(f"muxserver zygote: {exc}", file=sys.stderr, flush=True)
                try:
                    wire.send_json(control, {"reply_to": message.get("id"), "error": str(exc),
                                             "cause": "fork"})
                except OSError:
                    break
            except OSError:  # the serving process's end is gone
                break
        elif message.get("op") in _SIGNALS:
            _signal_child(message.get("pid"), _SIGNALS[message["op"]])
    for pid in list(_children):
        _signal_child(pid, signal.SIGKILL)
    for pid in list(_children):
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
    if _cgroups is not None:
        _cgroups.close()
    os._exit(0)


#: What each op does to a child: stopped (a request over its limits, an
#: idle process), frozen between requests, thawed for the next one.
_SIGNALS = {"kill": signal.SIGKILL, "freeze": signal.SIGSTOP, "thaw": signal.SIGCONT}

"""Assume the breach, second round: what the red team tried after issue 22.

Like :mod:`breach` (an operator module allowed with ``extra_modules``, so it
runs unsandboxed inside a serving process or a health-check trial, exactly
like tenant code that broke the language layer), with the doors
:mod:`breach` does not knock on: system calls the seccomp filter does not
list, the capabilities a server started as root keeps, and the messages a
serving process sends the supervisor. :func:`attempt` answers ``"OK ..."``
or ``"DENIED ..."``. Tests only.
"""

import ctypes
import errno
import gc
import os
import stat
import struct

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_AT_FDCWD = -100
_SYS_FCHMODAT2 = 452  # Linux 6.6, the same number on every architecture


def _check(result):
    if result < 0:
        number = ctypes.get_errno()
        raise OSError(number, os.strerror(number))
    return result


def _mknod_setuid(folder):
    """A setuid file made by ``mknod(S_IFREG | S_ISUID)``: no chmod at all."""
    path = os.path.join(folder, "mknod-setuid")
    if os.path.lexists(path):
        os.remove(path)
    os.mknod(path, stat.S_IFREG | 0o4755)
    if not os.stat(path).st_mode & stat.S_ISUID:
        raise OSError("the setuid bit did not stick")
    return f"made {path} setuid through mknod"


def _fchmodat2_setuid(folder):
    """The setuid bit through ``fchmodat2``, which the filter does not list."""
    path = os.path.join(folder, "fchmodat2-setuid")
    with open(path, "w") as f:
        f.write("#!/bin/sh\n")
    _check(_libc.syscall(_SYS_FCHMODAT2, _AT_FDCWD, path.encode(), 0o4755, 0))
    if not os.stat(path).st_mode & stat.S_ISUID:
        raise OSError("the setuid bit did not stick")
    return f"made {path} setuid through fchmodat2"


def _file_capability(folder):
    """A file capability (``security.capability``: cap_setuid, effective):
    whoever runs this file may become root — a setuid bit by another name."""
    path = os.path.join(folder, "file-capability")
    with open(path, "w") as f:
        f.write("#!/bin/sh\n")
    os.chmod(path, 0o755)
    vfs_cap_revision_2, effective, cap_setuid = 0x02000000, 1, 1 << 7
    os.setxattr(path, "security.capability",
                struct.pack("<IIIII", vfs_cap_revision_2 | effective, cap_setuid, 0, 0, 0))
    return f"gave {path} cap_setuid"


def _realtime(_arg):
    """Real-time scheduling: a spinning thread of this process would then
    starve every other process of the machine (the supervisor included).
    Put back at once: the attempt, not the starvation, is what is tested."""
    os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
    os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
    return "ran this process as SCHED_FIFO"


_FAN_CLASS_CONTENT = 0x4
_FAN_MARK_ADD = 0x1
_FAN_OPEN_PERM = 0x10000
_FAN_DENY = 0x2
#: fanotify groups kept open: a mark lasts as long as its group.
_FANOTIFY = []


def _fanotify_deny(path):
    """Deny every other process's ``open()`` of ``path`` — a file this
    process cannot itself read — with a fanotify permission mark. A thread
    answers each event: where Landlock keeps the group from opening the file
    (so no descriptor), the kernel denies the open by itself."""
    from gevent import monkey

    start_thread = monkey.get_original("_thread", "start_new_thread")
    group = _check(_libc.fanotify_init(_FAN_CLASS_CONTENT, os.O_RDONLY))
    _check(_libc.fanotify_mark(group, _FAN_MARK_ADD, ctypes.c_uint64(_FAN_OPEN_PERM),
                               _AT_FDCWD, path.encode()))
    _FANOTIFY.append(group)

    def answer():
        while True:
            try:
                event = os.read(group, 4096)
            except OSError as exc:
                if exc.errno == errno.EINTR:
                    continue
                if exc.errno in (errno.EACCES, errno.EPERM):  # denied for us
                    continue
                return
            fd = struct.unpack_from("<IBBHQii", event)[5]
            if fd >= 0:
                os.write(group, struct.pack("<iI", fd, _FAN_DENY))
                os.close(fd)

    start_thread(answer, ())
    return f"every open of {path} by another process is now denied"


def _forge_metrics_and_exit(_arg):
    """Send the supervisor a metrics snapshot of the shape it checks but not
    of the shape it reads, then end: the supervisor keeps an ended process's
    last snapshot for the rest of its life."""
    channels = [o for o in gc.get_objects() if type(o).__name__ == "Channel"]
    if not channels:
        raise OSError("no channel to the supervisor in this process")
    forged = {
        "counters": {"mux_limit_kills": [[["calm", "cpu", "extra"], 1]]},
        "buckets": {"calm": []},
        "gauges": {"rss": 1, "warm_modules": 0, "tenants": 0},
    }
    channels[0].send({"op": "metrics", "snapshot": forged})
    os._exit(0)


def _truncate_server_log(_arg):
    """Empty the file the server's log goes to (the record of this escape)."""
    before = os.fstat(2).st_size
    os.ftruncate(2, 0)
    return f"truncated the server log from {before} bytes to {os.fstat(2).st_size}"


def flood_stdout(megabytes):
    """At import in a health-check trial: answer the supervisor with an
    answer of ``megabytes`` MB (its stdout is the trial's answer)."""
    chunk = b"A" * (1 << 20)
    os.write(1, b'{"errors": ["')
    for _ in range(megabytes):
        view = memoryview(chunk)
        while view:
            view = view[os.write(1, view):]
    os.write(1, b'"]}')
    os._exit(0)


def _pull_from_replica(arg):
    """Ask this node's replication agent for a tenant this node does not
    serve (another node's, another trust group's): the agent restores its
    databases from the replica into this node's data dir, which this
    process may read. ``arg`` is ``tenant|data dir|text to look for``."""
    tenant, data_dir, wanted = arg.split("|")
    agents = [o for o in gc.get_objects() if type(o).__name__ == "AgentClient"]
    if not agents:
        raise OSError("no connection to a replication agent in this process")
    answer = agents[0].call("ensure", tenant=tenant)
    if answer.get("state") not in ("restored", "local"):
        raise OSError(f"the agent answered {answer}")
    folder = os.path.join(data_dir, tenant)
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            with open(path, "rb") as f:
                if wanted.encode() in f.read():
                    return f"read {tenant}'s {name}: it holds {wanted}"
    raise OSError(f"the agent answered {answer} but nothing holds the text")


def _chmod_outside(path):
    """Landlock guards opening, making and removing files, not their
    metadata: ``chmod`` (and ``chown``, ``utime``, ``setxattr``) reach any
    file the server's user owns — here the server secret, which this process
    cannot read, made readable by every local user."""
    os.chmod(path, 0o644)
    return f"{path} is now mode {stat.S_IMODE(os.stat(path).st_mode):o}"


def _pid(_arg):
    return f"serving process {os.getpid()}"


ATTACKS = {
    "pid": _pid, "chmod_outside": _chmod_outside, "pull_from_replica": _pull_from_replica,
    "mknod_setuid": _mknod_setuid, "fchmodat2_setuid": _fchmodat2_setuid,
    "file_capability": _file_capability, "realtime": _realtime,
    "fanotify_deny": _fanotify_deny, "forge_metrics_and_exit": _forge_metrics_and_exit,
    "truncate_server_log": _truncate_server_log,
}


def attempt(what, arg=""):
    try:
        return "OK " + ATTACKS[what](arg)
    except Exception as exc:  # every refusal is the answer
        return f"DENIED {type(exc).__name__}: {exc}"

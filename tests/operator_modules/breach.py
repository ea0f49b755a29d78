"""Assume the breach: what escaped tenant code would try, with full Python.

Served to tenants as an operator module (``extra_modules = ["breach"]``), so
it runs unsandboxed inside the serving process — exactly like tenant code
that broke the language layer. :func:`attempt` runs one attack and answers
``"OK <what it got>"`` or ``"DENIED <the error>"``. Tests only.
"""

import ctypes
import os
import socket

_libc = ctypes.CDLL(None, use_errno=True)
_PTRACE_ATTACH = 16
_PTRACE_DETACH = 17


def _read(path):
    with open(path, "rb") as f:
        return f.read(4000).decode("latin-1")


def _environ(arg):
    return repr(dict(os.environ))


def _proc_environ(arg):
    return _read("/proc/self/environ").replace("\0", " ")


def _other_environ(arg):
    pids = [int(p) for p in arg.split(",") if p and int(p) != os.getpid()]
    return _read(f"/proc/{pids[0]}/environ").replace("\0", " ")


def _read_file(arg):
    return _read(arg)


def _write_file(arg):
    with open(arg, "w") as f:
        f.write("written by an escaped tenant")
    return f"wrote {arg}"


def _connect(arg):
    with socket.create_connection(("127.0.0.1", int(arg)), timeout=5) as s:
        return f"connected to {s.getpeername()}"


def _bind(arg):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        return f"listening on {s.getsockname()}"
    finally:
        s.close()


def _fork(arg):
    pid = os.fork()
    if pid == 0:
        os._exit(7)
    _, status = os.waitpid(pid, 0)
    return f"forked a child that exited {os.waitstatus_to_exitcode(status)}"


def _execve(arg):
    try:
        pid = os.fork()
    except OSError:
        # No fork: exec in this very process (replaces the server if allowed).
        os.execv("/bin/sh", ["sh", "-c", "exit 0"])
    if pid == 0:
        try:
            os.execv("/bin/sh", ["sh", "-c", "exit 3"])
        finally:
            os._exit(99)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code != 3:
        raise OSError(f"exec failed in the child (exit {code})")
    return "ran /bin/sh"


def _ptrace(arg):
    pid = int(arg)
    if _libc.ptrace(_PTRACE_ATTACH, pid, None, None) != 0:
        number = ctypes.get_errno()
        raise OSError(number, os.strerror(number))
    os.waitpid(pid, 0)
    _libc.ptrace(_PTRACE_DETACH, pid, None, None)
    return f"attached to {pid}"


def _kill(arg):
    pid = os.getppid() if arg == "parent" else int(arg)
    os.kill(pid, 0)
    return f"may signal {pid}"


def _load_library(arg):
    lib = ctypes.CDLL(arg)
    return f"loaded {lib}"


def _errno_call(result):
    if result != 0:
        number = ctypes.get_errno()
        raise OSError(number, os.strerror(number))


class _RLimit(ctypes.Structure):
    _fields_ = [("cur", ctypes.c_uint64), ("max", ctypes.c_uint64)]


def _prlimit(arg):
    """Lower another process's open-files limit (RLIMIT_NOFILE = 7)."""
    pid = int(arg)
    limit = _RLimit(17, 17)
    _errno_call(_libc.prlimit(pid, 7, ctypes.byref(limit), None))
    return f"set the open-files limit of {pid} to 17"


def _prlimit_high_bits(arg):
    """The same, with a process id the kernel reads as 32 bits."""
    pid = int(arg) | (1 << 32)
    limit = _RLimit(17, 17)
    _errno_call(_libc.syscall(302, ctypes.c_long(pid), 7, ctypes.byref(limit), None))
    return f"set the open-files limit of {arg} to 17 (through {pid:#x})"


def _setpriority(arg):
    os.setpriority(os.PRIO_PROCESS, int(arg), 19)
    return f"reniced {arg} to 19"


def _sched_setaffinity(arg):
    os.sched_setaffinity(int(arg), {0})
    return f"pinned {arg} to CPU 0"


def _ioprio_set(arg):
    # ioprio_set(IOPRIO_WHO_PROCESS, pid, IOPRIO_CLASS_IDLE << 13): x86_64 number 251.
    _errno_call(_libc.syscall(251, 1, int(arg), 3 << 13))
    return f"set the I/O priority of {arg} to idle"


def _setuid_file(arg):
    path = os.path.join(arg, "setuid-by-escape")
    with open(path, "w") as f:
        f.write("#!/bin/sh\n")
    os.chmod(path, 0o4755)
    if not os.stat(path).st_mode & 0o4000:
        raise OSError("the setuid bit did not stick")
    return f"made {path} setuid"


def _symlink_out(arg):
    folder, target = arg.split("|", 1)
    link = os.path.join(folder, "link-by-escape")
    os.symlink(target, link)
    return f"linked {link} -> {os.readlink(link)}"


def _hardlink_in(arg):
    folder, target = arg.split("|", 1)
    link = os.path.join(folder, "hardlink-by-escape")
    os.link(target, link)
    return f"hard-linked {target} into {folder}"


def _write_into(arg):
    folder = arg
    path = os.path.join(folder, "planted-by-escape")
    with open(path, "w") as f:
        f.write("planted")
    return f"wrote {path}"


ATTACKS = {
    "environ": _environ, "proc_environ": _proc_environ, "other_environ": _other_environ,
    "read_file": _read_file, "write_file": _write_file, "connect": _connect, "bind": _bind,
    "fork": _fork, "execve": _execve, "ptrace": _ptrace, "kill": _kill,
    "load_library": _load_library, "prlimit": _prlimit, "prlimit_high_bits": _prlimit_high_bits,
    "setpriority": _setpriority, "sched_setaffinity": _sched_setaffinity,
    "ioprio_set": _ioprio_set, "setuid_file": _setuid_file, "symlink_out": _symlink_out,
    "hardlink_in": _hardlink_in, "write_into": _write_into,
}


def attempt(what, arg=""):
    try:
        return "OK " + ATTACKS[what](arg)
    except Exception as exc:  # every refusal is the answer
        return f"DENIED {type(exc).__name__}: {exc}"

"""seccomp: the system calls the serving process may no longer make.

Built with libseccomp through ``pyseccomp`` (a ctypes binding, on PyPI, to
the system's ``libseccomp.so.2``; Debian installs it with ``apt``). The filter
allows by default and refuses, with ``EPERM``, what a container runtime's
default profile refuses and what this server never needs after start-up:

* starting programs and processes: ``execve``, ``execveat``, ``fork``,
  ``vfork``, and ``clone`` without ``CLONE_THREAD`` (threads still start;
  ``clone3`` answers ``ENOSYS`` so the C library falls back to ``clone``,
  whose flags a filter can read);
* reaching other processes: ``ptrace``, ``process_vm_readv/writev``,
  ``kcmp``, ``pidfd_*``, and ``kill``/``tgkill`` of any process but itself;
* new sockets: ``socket`` (the listening socket and the connections it
  accepts were made before);
* the kernel's administration: ``mount`` and the new mount API, ``bpf``,
  ``keyctl``, ``perf_event_open``, modules, ``kexec``, ``reboot``, swap,
  clocks, namespaces (``setns``, ``unshare``), ``userfaultfd``,
  ``io_uring`` (whose operations bypass seccomp), file handles, and changing
  user or group ids; ``ioctl(TIOCSTI)`` (typing into a terminal).

Only the native architecture's calls are allowed: a 32-bit or x32 system
call from this 64-bit process kills it (libseccomp's bad-arch action).
"""

from __future__ import annotations

import errno
import os

try:
    import pyseccomp as _seccomp
except (ImportError, OSError, RuntimeError):  # no binding, or no libseccomp.so.2
    _seccomp = None

_CLONE_THREAD = 0x00010000
_TIOCSTI = 0x5412

#: Refused outright.
DENIED = (
    "execve", "execveat", "fork", "vfork",
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp",
    "pidfd_open", "pidfd_getfd", "pidfd_send_signal", "tkill",
    "socket",
    "mount", "umount", "umount2", "move_mount", "fsopen", "fsconfig", "fsmount", "fspick",
    "open_tree", "mount_setattr", "pivot_root", "chroot",
    "bpf", "keyctl", "add_key", "request_key", "perf_event_open",
    "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load",
    "reboot", "swapon", "swapoff", "acct", "syslog", "quotactl", "lookup_dcookie",
    "settimeofday", "clock_settime", "clock_adjtime", "adjtimex",
    "setns", "unshare", "userfaultfd", "open_by_handle_at", "name_to_handle_at",
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    "ioperm", "iopl", "uselib", "vhangup", "nfsservctl", "sethostname", "setdomainname",
    "move_pages", "migrate_pages", "personality",
    "setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setgroups",
    "setfsuid", "setfsgid", "capset",
)


def available() -> str | None:
    """``None`` when a filter can be installed here, else why not."""
    if _seccomp is None:
        return "no libseccomp binding (pip install pyseccomp; apt-get install libseccomp2)"
    try:
        with open("/proc/self/status") as f:
            if not any(line.startswith("Seccomp:") for line in f):
                return "the kernel has no seccomp"
    except OSError:
        pass
    return None


#: Socket families a process tenant may not open (all but IPv4 and IPv6:
#: unix sockets would reach the server's own sockets by path, netlink the
#: kernel's network configuration, packet sockets the wire).
_TENANT_DENIED_FAMILIES = tuple(f for f in range(1, 46) if f not in (2, 10))
#: Socket types a process tenant may not open: all but streams (no UDP, so
#: no DNS of its own; no raw sockets).
_TENANT_DENIED_TYPES = (2, 3, 4, 5, 6, 10)


def tenant_program() -> bytes:
    """The process tenant's filter compiled to BPF once (in the zygote), so
    each forked tenant loads it in microseconds (:func:`load_program`). Its
    rules do not name a pid: signals to other processes are stopped by
    Landlock's scoped signals (ABI 6), which the caller checks."""
    if _seccomp is None:
        raise OSError(available())
    f, _ = _build(tenant_process=True, zygote=False, pid=None)
    read_end, write_end = os.pipe()
    with os.fdopen(write_end, "wb") as out:
        f.export_bpf(out)
    with os.fdopen(read_end, "rb") as source:
        return source.read()


def load_program(program: bytes) -> None:
    """Install a filter :func:`tenant_program` compiled (no new privileges
    must be set: Landlock set it)."""
    import ctypes

    class _Fprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = _Fprog(len(program) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS
    if libc.prctl(22, 2, ctypes.byref(fprog), 0, 0) != 0:  # PR_SET_SECCOMP, FILTER
        number = ctypes.get_errno()
        raise OSError(number, f"prctl(PR_SET_SECCOMP): {os.strerror(number)}")


def restrict(tenant_process: bool = False, zygote: bool = False) -> list[str]:
    """Install the filter on this process (and every thread it starts later).

    :param tenant_process: the filter of a process tenant
        (:mod:`muxserver.proctier`): ``socket`` is allowed for TCP over IPv4
        and IPv6 only (Landlock lets it connect to the egress proxy's port
        alone), and ``prlimit64``, ``setpriority``, ``sched_setaffinity``,
        ``sched_setscheduler`` and ``sched_setparam`` only on itself (pid 0).
    :return: names of denied calls this architecture does not have.
    :raises OSError: when the filter cannot be loaded.
    """
    if _seccomp is None:
        raise OSError(available())
    f, unknown = _build(tenant_process, zygote, os.getpid())
    f.load()
    return unknown


def _build(tenant_process: bool, zygote: bool, pid: int | None):
    """The filter (not loaded); ``pid`` None leaves out the rules that name it."""
    sc = _seccomp
    f = sc.SyscallFilter(sc.ALLOW)
    try:
        # A binary tree of rules: every allowed call (each read and write of
        # every request) walks a few comparisons, not the whole list.
        f.set_attr(sc.Attr.CTL_OPTIMIZE, 2)
    except (ValueError, RuntimeError, OSError):  # libseccomp < 2.5: a list
        pass
    eperm = sc.ERRNO(errno.EPERM)
    unknown = []
    allowed = {"socket"} if tenant_process else set()
    if zygote:
        allowed |= {"fork", "vfork"}
    rules = [(eperm, name, ()) for name in DENIED if name not in allowed] + [
        (sc.ERRNO(errno.ENOSYS), "clone3", ()),
        (eperm, "ioctl", (sc.Arg(1, sc.EQ, _TIOCSTI),)),
    ]
    if not zygote:
        rules.append((eperm, "clone", (sc.Arg(0, sc.MASKED_EQ, _CLONE_THREAD, 0),)))
        if pid is not None:
            rules += [(eperm, "kill", (sc.Arg(0, sc.NE, pid),)),
                      (eperm, "tgkill", (sc.Arg(0, sc.NE, pid),))]
    if tenant_process:
        rules += [(eperm, "socket", (sc.Arg(0, sc.EQ, family),))
                  for family in _TENANT_DENIED_FAMILIES]
        rules += [(eperm, "socket", (sc.Arg(1, sc.MASKED_EQ, 0xF, kind),))
                  for kind in _TENANT_DENIED_TYPES]
        rules += [(eperm, name, (sc.Arg(0, sc.NE, 0),))
                  for name in ("prlimit64", "sched_setaffinity", "sched_setscheduler",
                               "sched_setparam")]
        rules += [(eperm, "setpriority", (sc.Arg(1, sc.NE, 0),))]
    for action, name, args in rules:
        try:
            f.add_rule(action, name, *args)
        except (ValueError, RuntimeError, OSError):
            unknown.append(name)  # e.g. no fork() on aarch64: nothing to refuse
    return f, unknown

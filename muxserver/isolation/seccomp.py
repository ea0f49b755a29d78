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
  ``kcmp``, ``pidfd_*``, ``process_madvise``, ``migrate_pages``, ``move_pages``;
  and the calls that take a process id — ``kill``, ``tgkill``,
  ``rt_sigqueueinfo``, ``rt_tgsigqueueinfo``, ``prlimit64``,
  ``sched_setaffinity``/``setscheduler``/``setparam``/``setattr``,
  ``setpriority``, ``ioprio_set`` — on any process but itself (its own id or
  0). The kernel reads a process id as 32 bits: a value with any of the upper
  32 bits set is refused too, or ``victim | 1 << 32`` would pass the check;
* files' metadata, which Landlock does not guard: ``chmod`` and every
  variant (``fchmodat2`` included), ``chown`` and its variants, ``utime``
  and its variants, extended attributes (``setxattr``, ``removexattr``...),
  ``mknod``; watching others' files (``inotify_*``, ``fanotify_*``);
  real-time scheduling (``sched_setscheduler``, ``sched_setattr``);
* setuid and setgid bits where a mode is given: ``open``, ``openat``,
  ``creat``, ``mkdir``, ``mkdirat`` with ``S_ISUID`` or ``S_ISGID`` in it
  (``openat2``, whose mode the filter cannot read, answers ``ENOSYS`` and the
  C library falls back);
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
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "process_madvise",
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
    # Metadata Landlock does not guard (a secret it cannot read made world-readable).
    "chmod", "fchmod", "fchmodat", "fchmodat2", "chown", "fchown", "lchown", "fchownat",
    "utime", "utimes", "utimensat", "futimesat", "setxattr", "lsetxattr", "fsetxattr",
    "removexattr", "lremovexattr", "fremovexattr", "mknod", "mknodat",
    "inotify_init", "inotify_init1", "inotify_add_watch", "fanotify_init", "fanotify_mark",
    "sched_setscheduler", "sched_setattr",
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


#: Calls whose first argument is a process id: only this process (or 0).
PID_FIRST = ("kill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "prlimit64",
             "sched_setaffinity", "sched_setparam")
#: ``which`` values of setpriority/ioprio_set that name one process.
_PRIO_PROCESS = 0
_IOPRIO_WHO_PROCESS = 1
_S_ISUID, _S_ISGID = 0o4000, 0o2000
#: Calls that take a mode, and which argument holds it.
MODE_ARG = {"open": 2, "openat": 3, "creat": 1, "mkdir": 1, "mkdirat": 2}


_MASK64 = (1 << 64) - 1


def _blocks(low: int, high: int):
    """``[low, high]`` as aligned power-of-two blocks ``(start, size)``."""
    while low <= high:
        size = low & -low if low else 1 << 32
        while size > high - low + 1:
            size >>= 1
        yield low, size
        low += size


def _all_but(sc, action, name: str, index: int, allowed: list[int]) -> list:
    """Rules refusing argument ``index`` of ``name`` for every value but
    ``allowed``. libseccomp takes one comparison per argument in a rule, so
    "neither 0 nor my pid" is the union of the ranges around them, each cut
    into aligned blocks a masked comparison matches (about 2 × 32 rules);
    any upper bit set is refused with one more."""
    rules = [(action, name, (sc.Arg(index, sc.GT, 0xFFFFFFFF),))]
    edges = [-1, *sorted(allowed), 1 << 32]
    for below, above in zip(edges, edges[1:]):
        for start, size in _blocks(below + 1, above - 1):
            mask = ~(size - 1) & _MASK64
            rules.append((action, name, (sc.Arg(index, sc.MASKED_EQ, mask, start),)))
    return rules


def _own_process_only(sc, action, pid: int) -> list:
    """Refuse a process id that is neither 0 nor this process's."""
    rules = []
    for name in PID_FIRST:
        # kill(0, ...) signals the whole process group: refused too.
        allowed = [pid] if name in ("kill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo") \
            else [0, pid]
        rules += _all_but(sc, action, name, 0, allowed)
    for name, one in (("setpriority", _PRIO_PROCESS), ("ioprio_set", _IOPRIO_WHO_PROCESS)):
        rules += _all_but(sc, action, name, 0, [one])  # a group or a user
        rules += _all_but(sc, action, name, 1, [0, pid])
    return rules


def _no_setuid_bits(sc, action) -> list:
    rules = []
    for name, index in MODE_ARG.items():
        for bit in (_S_ISUID, _S_ISGID):
            rules.append((action, name, (sc.Arg(index, sc.MASKED_EQ, bit, bit),)))
    return rules


#: The socket families a process tenant may open: IPv4 and IPv6 (a unix
#: socket would reach the server's own sockets by path, netlink the kernel's
#: network configuration, a packet socket the wire).
_TENANT_FAMILIES = (2, 10)
#: The protocols its sockets may name: the family's default (0) and TCP (6),
#: the one Landlock's network rules judge.
_TENANT_PROTOCOLS = (0, 6)
#: ``fcntl`` command that picks the signal an fd's owner gets (default SIGIO).
_F_SETSIG = 10
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
        and IPv6 only, protocol 0 or ``IPPROTO_TCP`` (Landlock lets it connect
        to the egress proxy's port alone, and judges TCP sockets only), and ``prlimit64``, ``setpriority``, ``sched_setaffinity``,
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
        (sc.ERRNO(errno.ENOSYS), "openat2", ()),
        (eperm, "ioctl", (sc.Arg(1, sc.EQ, _TIOCSTI),)),
    ]
    rules += _no_setuid_bits(sc, eperm)
    if not zygote:
        rules.append((eperm, "clone", (sc.Arg(0, sc.MASKED_EQ, _CLONE_THREAD, 0),)))
        if pid is not None:
            rules += _own_process_only(sc, eperm, pid)
    if tenant_process:
        # Every family but IPv4 and IPv6, compared on all 64 bits: the kernel
        # reads an int, so AF_UNIX | 1 << 32 was a unix socket that an exact
        # match on 1 let through (round 10).
        rules += _all_but(sc, eperm, "socket", 0, list(_TENANT_FAMILIES))
        rules += [(eperm, "socket", (sc.Arg(1, sc.MASKED_EQ, 0xF, kind),))
                  for kind in _TENANT_DENIED_TYPES]
        # TCP itself: Landlock's port rules hold for TCP sockets only, and an
        # MPTCP one (protocol 262) connected anywhere, the admin port included.
        rules += _all_but(sc, eperm, "socket", 2, list(_TENANT_PROTOCOLS))
        # Signals the kernel delivers on the process's behalf, of its choice:
        # a POSIX timer or an fd owner's signal set to SIGCONT undid the
        # freeze between requests (round 14). Default signals stay (a timer
        # without a sigevent is SIGALRM, an fd owner's is SIGIO).
        rules += [(eperm, "timer_create", (sc.Arg(1, sc.NE, 0),)),
                  (eperm, "mq_notify", (sc.Arg(1, sc.NE, 0),)),
                  (eperm, "fcntl", (sc.Arg(1, sc.EQ, _F_SETSIG),))]
        if pid is None:  # compiled once: only "itself" (0) is named
            rules += [(eperm, name, (sc.Arg(0, sc.NE, 0),))
                      for name in ("prlimit64", "sched_setaffinity", "sched_setscheduler",
                                   "sched_setparam", "sched_setattr")]
            rules += [(eperm, name, (sc.Arg(1, sc.NE, 0),))
                      for name in ("setpriority", "ioprio_set")]
    for action, name, args in rules:
        try:
            f.add_rule(action, name, *args)
        except (ValueError, RuntimeError, OSError):
            unknown.append(name)  # e.g. no fork() on aarch64: nothing to refuse
    return f, unknown

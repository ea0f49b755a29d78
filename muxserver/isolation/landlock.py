"""Landlock through a few ``ctypes`` calls: which files and ports the process may use.

Landlock is the kernel's unprivileged access control (Linux 5.13+). A process
builds a ruleset — the rights it wants to restrict, and the paths where it
keeps some of them — and applies it to itself; from then on, for it and every
thread, the kernel refuses everything else, and nothing can undo it. Each ABI
version restricts more:

=====  ==========================================================
ABI 1  files: read, write, execute, make and remove
ABI 2  linking and renaming across folders (``REFER``)
ABI 3  truncating files
ABI 4  TCP: binding and connecting (network rules)
ABI 5  ioctl on devices
ABI 6  scopes: signals and abstract unix sockets stay inside the domain
=====  ==========================================================

.. warning::
   Landlock does not restrict operations on file descriptors that were open
   before it was applied (the listening socket, stderr, the inotify
   descriptor): that is how the server keeps working, and why the process
   must not hold any other descriptor it should not keep.
"""

from __future__ import annotations

import ctypes
import os
from dataclasses import dataclass
from dataclasses import field

_SYS_CREATE_RULESET = 444  # the same number on every architecture
_SYS_ADD_RULE = 445
_SYS_RESTRICT_SELF = 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_RULE_NET_PORT = 2
_PR_SET_NO_NEW_PRIVS = 38

# Filesystem rights, by the ABI that introduced them.
EXECUTE = 1 << 0
WRITE_FILE = 1 << 1
READ_FILE = 1 << 2
READ_DIR = 1 << 3
REMOVE_DIR = 1 << 4
REMOVE_FILE = 1 << 5
MAKE_CHAR = 1 << 6
MAKE_DIR = 1 << 7
MAKE_REG = 1 << 8
MAKE_SOCK = 1 << 9
MAKE_FIFO = 1 << 10
MAKE_BLOCK = 1 << 11
MAKE_SYM = 1 << 12
REFER = 1 << 13
TRUNCATE = 1 << 14
IOCTL_DEV = 1 << 15

_FS_BY_ABI = {
    1: (1 << 13) - 1,
    2: (1 << 14) - 1,
    3: (1 << 15) - 1,
    5: (1 << 16) - 1,
}
NET_BIND_TCP = 1 << 0
NET_CONNECT_TCP = 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0
SCOPE_SIGNAL = 1 << 1

#: What a read-only path keeps.
READ = READ_FILE | READ_DIR
#: What a writable path keeps: files and folders, not executing, device
#: files, FIFOs, sockets or symbolic links — a link that leaves the data dir
#: would lead whoever trusts what is in it (an export, the replication
#: agent, an operator's backup) somewhere else.
WRITE = (READ | WRITE_FILE | REMOVE_DIR | REMOVE_FILE | MAKE_DIR | MAKE_REG
         | REFER | TRUNCATE)


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64),
                ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _NetPortAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("port", ctypes.c_uint64)]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def abi_version() -> int:
    """The Landlock ABI the kernel offers (0: none, or disabled at boot)."""
    version = _libc.syscall(_SYS_CREATE_RULESET, None, ctypes.c_size_t(0),
                            ctypes.c_uint32(_CREATE_RULESET_VERSION))
    return max(0, int(version))


def fs_rights(abi: int) -> int:
    return _FS_BY_ABI[max(k for k in _FS_BY_ABI if k <= abi)] if abi >= 1 else 0


@dataclass
class Applied:
    """What :func:`restrict` put in force."""

    abi: int
    fs: bool = False
    net: bool = False
    scoped: bool = False
    skipped: list[str] = field(default_factory=list)


def restrict(read: list[str], write: list[str], connect_ports: tuple[int, ...] = ()) -> Applied:
    """Apply Landlock to this process: ``read`` paths read-only, ``write``
    paths read-write, nothing else of the filesystem; no TCP bind, and TCP
    connect only to ``connect_ports`` (ABI 4; a port rule holds for every
    address); signals and abstract unix sockets only inside the process (ABI 6).

    Missing paths are skipped (and named in :attr:`Applied.skipped`).

    :raises OSError: when the kernel refuses (no Landlock: ``abi == 0``).
    """
    abi = abi_version()
    if abi < 1:
        raise OSError("Landlock is not available in this kernel (or disabled at boot)")
    handled_fs = fs_rights(abi)
    attr = _RulesetAttr(handled_fs, NET_BIND_TCP | NET_CONNECT_TCP if abi >= 4 else 0,
                        SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if abi >= 6 else 0)
    size = 24 if abi >= 6 else 16 if abi >= 4 else 8
    ruleset = _libc.syscall(_SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size),
                            ctypes.c_uint32(0))
    if ruleset < 0:
        raise _error("landlock_create_ruleset")
    applied = Applied(abi, fs=True, net=abi >= 4, scoped=abi >= 6)
    try:
        for paths, rights in ((read, READ), (write, WRITE)):
            for path in paths:
                if not _add_path(ruleset, path, rights & handled_fs):
                    applied.skipped.append(path)
        if abi >= 4:
            for port in connect_ports:
                _add_port(ruleset, port)
        if _libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise _error("prctl(PR_SET_NO_NEW_PRIVS)")
        if _libc.syscall(_SYS_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0)) != 0:
            raise _error("landlock_restrict_self")
    finally:
        os.close(ruleset)
    return applied


def _add_path(ruleset: int, path: str, rights: int) -> bool:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        if not os.path.isdir(path):
            # A file keeps only the rights that apply to files.
            rights &= READ_FILE | WRITE_FILE | TRUNCATE | EXECUTE
        rule = _PathBeneathAttr(rights, fd)
        if _libc.syscall(_SYS_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(_RULE_PATH_BENEATH),
                         ctypes.byref(rule), ctypes.c_uint32(0)) != 0:
            raise _error(f"landlock_add_rule({path})")
    finally:
        os.close(fd)
    return True


def _add_port(ruleset: int, port: int) -> None:
    rule = _NetPortAttr(NET_CONNECT_TCP, port)
    if _libc.syscall(_SYS_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(_RULE_NET_PORT),
                     ctypes.byref(rule), ctypes.c_uint32(0)) != 0:
        raise _error(f"landlock_add_rule(tcp port {port})")


def _error(call: str) -> OSError:
    number = ctypes.get_errno()
    return OSError(number, f"{call}: {os.strerror(number)}")

"""Capabilities: a process that runs tenant code keeps none, for good.

A server started by root would otherwise keep every capability in its
serving processes: after a first-layer escape, ``CAP_SYS_ADMIN`` allows
fanotify marks that deny other processes' opens of any file,
``CAP_SYS_NICE`` real-time scheduling that starves the machine,
``CAP_SETFCAP`` file capabilities that act like a setuid bit,
``CAP_DAC_OVERRIDE`` reading what file permissions refuse. :func:`drop_all`
clears the ambient set, removes every capability from the bounding set (so
no exec could bring one back) and clears the effective, permitted and
inheritable sets with ``capset``. For a server started by an ordinary user
there is nothing to drop, and this is a no-op.

.. warning::
   A process run as root keeps uid 0 after this: files root owns are still
   its own to write where file permissions allow. Landlock (which paths at
   all) and seccomp (no metadata changes) are what keep it in; run the
   server as an ordinary user where you can.
"""

from __future__ import annotations

import ctypes
import os

_PR_CAPBSET_DROP = 24
_PR_CAP_AMBIENT = 47
_PR_CAP_AMBIENT_CLEAR_ALL = 4
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
_SYS_CAPSET = 126  # x86_64

_libc = ctypes.CDLL(None, use_errno=True)


class _Header(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _Data(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def last_cap() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return int(f.read())
    except (OSError, ValueError):
        return 40


def held() -> int:
    """This process's effective capabilities, as a bit mask."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return int(line.split()[1], 16)
    except OSError:
        pass
    return 0


def drop_all() -> int:
    """Drop every capability this process has; return the mask it had.

    :raises OSError: if ``capset`` refuses (then some capability may remain).
    """
    had = held()
    _libc.prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    for cap in range(last_cap() + 1):
        # EPERM without CAP_SETPCAP (an ordinary user): nothing to drop then.
        _libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0)
    header = _Header(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_Data * 2)()
    if _libc.capset(ctypes.byref(header), data) != 0:
        number = ctypes.get_errno()
        raise OSError(number, f"capset: {os.strerror(number)}")
    if held() != 0:
        raise OSError("capabilities remain after capset")
    return had

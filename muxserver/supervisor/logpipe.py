"""The server log behind a pipe, so no process but the supervisor holds it.

Every process of the server writes its log lines to stderr, which each
inherits from the supervisor. When that stderr is a file (``muxserver ...
2>>server.log``), every serving process, trial and tenant process would
hold the file itself: code that escapes the sandbox could ``ftruncate`` it
(Landlock checks truncation only when a file is opened), erasing the record
of the escape. :func:`guard_log_file` puts a pipe in front of the file: fd 2
of the supervisor — and so of everything it starts — becomes the pipe's
write end, and a thread of the supervisor copies the pipe into the file,
whose descriptor no other process gets. A pipe can be written, not
truncated or rewound.

It does not keep a breached process from writing lines that look like the
server's own into the log (it cannot erase or change what is there). When
stderr is already a pipe or a terminal (systemd, Docker, a shell), nothing
changes: those cannot be truncated either.
"""

from __future__ import annotations

import atexit
import fcntl
import os
import stat
import struct
import termios
import time

#: Seconds the supervisor waits at exit for the pipe to be copied out.
DRAIN_S = 2.0


def guard_log_file() -> bool:
    """Put a pipe between stderr and the log file, if stderr is a file.

    Call it first thing in the supervisor, before any process is started.
    :return: whether it did (stderr was a regular file).
    """
    try:
        if not stat.S_ISREG(os.fstat(2).st_mode):
            return False
    except OSError:
        return False
    log_file = os.dup(2)  # not inheritable: only this process has the file
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    _start_native_thread(_copy, read_end, log_file)
    atexit.register(_drain, read_end, log_file)
    return True


def _copy(read_end: int, log_file: int) -> None:
    """Copy the pipe into the file until every writer has closed it. A
    thread of the OS, not a greenlet: the supervisor's own lines go through
    the pipe too, and a full pipe must never wait on the supervisor's loop."""
    while True:
        try:
            chunk = os.read(read_end, 65536)
        except InterruptedError:
            continue
        except OSError:
            return
        if not chunk:
            return
        view = memoryview(chunk)
        while view:
            try:
                view = view[os.write(log_file, view):]
            except InterruptedError:
                continue
            except OSError:  # the disk is full: drop, never block the server
                break


def _drain(read_end: int, log_file: int) -> None:
    """At exit: the supervisor's last lines go to the file directly, and
    what is still in the pipe is copied out before the process ends."""
    try:
        os.dup2(log_file, 2)
    except OSError:
        return
    deadline = time.monotonic() + DRAIN_S
    while time.monotonic() < deadline and _unread(read_end) > 0:
        time.sleep(0.01)


def _unread(fd: int) -> int:
    try:
        raw = fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0")
    except OSError:
        return 0
    return struct.unpack("i", raw)[0]


def _start_native_thread(function, *args) -> None:
    try:
        from gevent import monkey

        start = monkey.get_original("_thread", "start_new_thread")
    except ImportError:  # pragma: no cover - gevent is a requirement
        import _thread

        start = _thread.start_new_thread
    start(function, args)

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

from gevent import monkey

# The OS's own threads and locks, whether or not gevent has patched them:
# the copier must run beside the supervisor's loop, not in it.
_start_thread = monkey.get_original("_thread", "start_new_thread")
_allocate_lock = monkey.get_original("_thread", "allocate_lock")

#: Seconds the supervisor waits at exit for the pipe to be copied out.
DRAIN_S = 2.0

#: Held by the copying thread while it runs (it ends when every writer has
#: closed the pipe), and whether it holds a chunk it read and has not
#: written yet: an empty pipe alone does not say the last line is in the file.
_copier_running = None
_holding_chunk = False


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
    global _copier_running
    log_file = os.dup(2)  # not inheritable: only this process has the file
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    _copier_running = _allocate_lock()
    _copier_running.acquire()
    _start_thread(_copy, (read_end, log_file))
    atexit.register(_drain, read_end, log_file)
    return True


def _copy(read_end: int, log_file: int) -> None:
    """Copy the pipe into the file until every writer has closed it. A
    thread of the OS, not a greenlet: the supervisor's own lines go through
    the pipe too, and a full pipe must never wait on the supervisor's loop."""
    global _holding_chunk
    try:
        while True:
            try:
                chunk = os.read(read_end, 65536)
            except InterruptedError:
                continue
            except OSError:
                return
            if not chunk:
                return
            _holding_chunk = True
            view = memoryview(chunk)
            while view:
                try:
                    view = view[os.write(log_file, view):]
                except InterruptedError:
                    continue
                except OSError:  # the disk is full: drop, never block the server
                    break
            _holding_chunk = False
    finally:
        _copier_running.release()


def _drain(read_end: int, log_file: int) -> None:
    """At exit: the supervisor's last lines go to the file directly, and
    what is still in the pipe is copied out before the process ends — all
    of it when no other process holds the pipe (the copier then reads its
    end and stops: a refusal at start-up is never lost), else until the pipe
    is empty and no chunk is in the copier's hands, at most :data:`DRAIN_S`."""
    try:
        os.dup2(log_file, 2)  # this process's own write end of the pipe is closed
    except OSError:
        return
    deadline = time.monotonic() + DRAIN_S
    quiet = 0
    while time.monotonic() < deadline:
        if _copier_running.acquire(timeout=0.025):
            return  # every writer closed the pipe: all of it is in the file
        # Empty and nothing in the copier's hands at two looks in a row (a
        # chunk just read is marked held a moment after the read returns).
        quiet = 0 if _unread(read_end) or _holding_chunk else quiet + 1
        if quiet == 2:
            return


def _unread(fd: int) -> int:
    try:
        raw = fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0")
    except OSError:
        return 0
    return struct.unpack("i", raw)[0]

"""One writer per database at a time: across greenlets *and* worker processes.

A tenant's SQLite database is written by every serving process that serves
the tenant (``--workers N``). SQLite's own answer to a second writer is
``SQLITE_BUSY`` and a busy handler that *sleeps* — which under gevent would
stop every request of the process, not one. So the host serialises writers
itself, with a lock in two layers:

1. a greenlet lock (:class:`gevent.lock.RLock`): the requests of one process
   queue in order and wait without using the CPU;
2. ``flock`` on a lock file of the database (``.mux/locks/`` in the tenant's
   data folder, out of reach of tenant code): the one request of each
   process at the head of its queue then takes the database from the other
   processes. It is tried without blocking and retried after a pause that
   doubles from :data:`POLL_FIRST_S` to :data:`POLL_MAX_S`, so the hub keeps
   serving while it waits; the kernel drops the lock of a process that dies.

A connection holds the lock from the first statement of a transaction to
its commit or rollback (:mod:`sandbox.facades.sqlite`), so a transaction
that reads and then writes can never meet a writer that committed in
between (``SQLITE_BUSY_SNAPSHOT``); the waiting is bounded by the request's
wall time, never by its CPU time (waiting costs none).

Why not SQLite's own lock with a retrying busy handler alone: Python's
``sqlite3`` offers only the sleeping handler, and a retry loop on
``SQLITE_BUSY`` cannot recover a transaction whose snapshot went stale (it
must roll back what the tenant already did). Retrying stays for what holds
SQLite's lock *outside* muxserver's writers — Litestream's checkpoints, an
operator's ``sqlite3`` shell — whose hold is short.

.. warning::
   ``flock`` is local to one host: the data dir must not be shared by
   serving processes on different machines (SQLite's WAL cannot be either).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import time

import gevent
from gevent.lock import RLock

#: Where a tenant's lock files live, inside its data folder.
LOCKS_FOLDER = os.path.join(".mux", "locks")
#: First pause between two tries of a lock another process holds, and the longest.
POLL_FIRST_S = 0.0005
POLL_MAX_S = 0.008


class WriteLock:
    """The lock of one database (see the module doc).

    :param lock_path: its lock file (made on first use).
    """

    def __init__(self, lock_path: str):
        self._path = lock_path
        self._local = RLock()
        self._fd: int | None = None
        self._depth = 0
        #: Who held it when :meth:`acquire` last gave up (for the error).
        self.held_by = ""

    @property
    def reentered(self) -> bool:
        """Whether the holder took it more than once (two connections of
        one request to one database): SQLite's lock then conflicts with the
        holder itself, and waiting would never end."""
        return self._depth > 1

    def acquire(self, timeout: float) -> bool:
        """Take the lock within ``timeout`` seconds; False if it could not."""
        deadline = time.monotonic() + timeout
        if not self._local.acquire(timeout=max(timeout, 0.0)):
            self.held_by = "another request of this process"
            return False
        if self._depth:
            self._depth += 1
            return True
        try:
            if not self._lock_file(deadline):
                self._local.release()
                self.held_by = "a request in another server process (worker)"
                return False
        except BaseException:
            self._local.release()
            raise
        self._depth = 1
        return True

    def release(self) -> None:
        self._depth -= 1
        if self._depth == 0:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._local.release()

    @staticmethod
    def pause(seconds: float) -> None:
        """Wait without holding the process (between retries of SQLITE_BUSY)."""
        gevent.sleep(seconds)

    def _lock_file(self, deadline: float) -> bool:
        if self._fd is None:
            os.makedirs(os.path.dirname(self._path), mode=0o700, exist_ok=True)
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        pause = POLL_FIRST_S
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                gevent.sleep(min(pause, left))
                pause = min(pause * 2, POLL_MAX_S)

    def close(self) -> None:
        if self._fd is not None and self._depth == 0:
            os.close(self._fd)
            self._fd = None

    def __del__(self):
        try:
            if self._fd is not None:
                os.close(self._fd)
        except OSError:
            pass


def lock_path(data_root: str, database: str) -> str:
    """The lock file of ``database`` (a path inside ``data_root``)."""
    relative = os.path.relpath(os.path.realpath(database), os.path.realpath(data_root))
    digest = hashlib.sha256(relative.encode("utf-8", "surrogateescape")).hexdigest()[:24]
    return os.path.join(data_root, LOCKS_FOLDER, digest + ".lock")


class WriteLocks:
    """``make_lock(database_path)`` for a tenant's runtime (a class, not a
    closure: one of these per warm tenant).

    :param files: the tenant's :class:`~sandbox.facades.files.TenantFiles`
        (its ``/data``, made here if it is not yet).
    """

    __slots__ = ("files",)

    def __init__(self, files):
        self.files = files

    def __call__(self, database: str) -> WriteLock:
        root = self.files.data_root
        if root is None:
            root = os.path.dirname(database)
        else:
            self.files.ensure_data()
        return WriteLock(lock_path(root, database))

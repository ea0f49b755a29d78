"""``mux.kv``: a key-value store per tenant with versions for compare-and-set.

The shape of Fission's function state: every key has a version that grows
by one on each write; ``set(key, value, if_version=v)`` writes only if the
key is still at ``v`` (``0``: only if absent) and raises :class:`Conflict`
otherwise, so a read-modify-write loop is safe under any concurrency::

    while True:
        count, version = mux.kv.get_versioned("hits")
        try:
            mux.kv.set("hits", (count or 0) + 1, if_version=version)
            break
        except mux.kv.Conflict:
            continue

It is an SQLite file in the tenant's data folder (``.mux/kv.sqlite3``, out
of reach of the tenant's own file and database calls), in WAL mode with
``synchronous=FULL``: a write that returned survives ``kill -9`` and power
loss. It counts against ``storage_mb``; a write past it raises
``sqlite3.OperationalError`` (:class:`~sandbox.facades.sqlite.QuotaError`).
Writes of one tenant are serialised by the store's
:class:`~muxserver.tenancy.writelock.WriteLock` — across greenlets and
worker processes, waiting up to the request's wall time — never by SQLite's
busy wait, which would stop the whole process; compare-and-set runs inside
one ``BEGIN IMMEDIATE`` transaction, so it is exact across processes too.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3

from muxserver.tenancy.writelock import WriteLock
from muxserver.tenancy.writelock import lock_path
from sandbox import limits
from sandbox.facades import jsontext
from sandbox.facades.data import decode_json
from sandbox.facades.sqlite import BUSY_FIRST_S
from sandbox.facades.sqlite import BUSY_MAX_S
from sandbox.facades.sqlite import QuotaError
from sandbox.facades.sqlite import is_busy
from sandbox.facades.sqlite import wall_left
from sandbox.guards.declared import declared

#: Longest key, in UTF-8 bytes.
MAX_KEY_BYTES = 512
#: Largest value, as JSON text.
MAX_VALUE_BYTES = 2**20
#: Most keys ``keys()`` returns at once.
MAX_KEYS = 10_000

KV_FOLDER = ".mux"


class Conflict(Exception):
    """The key's version is not the one ``if_version`` named."""


class KeyValueStore:
    """One tenant's store (see the module doc).

    :param data_root: the tenant's data folder on the host.
    :param files: its :class:`~sandbox.facades.files.TenantFiles` (quota).
    :param on_open: told the store's path once it is made (replication).
    """

    def __init__(self, data_root: str, files, on_open=None):
        self._path = os.path.join(data_root, KV_FOLDER, "kv.sqlite3")
        self._files = files
        self._on_open = on_open
        self._db = None
        self._lock = WriteLock(lock_path(data_root, self._path))
        files.ensure_data()  # /data itself (0700) before the store's folders in it

    def _conn(self):
        if self._db is None:
            os.makedirs(os.path.dirname(self._path), mode=0o700, exist_ok=True)
            db = sqlite3.connect(self._path, timeout=0, isolation_level=None,
                                 check_same_thread=False)
            try:
                with self._locked():  # another process may be making the file too
                    self._retrying(db.execute, "PRAGMA journal_mode=WAL")
                    db.execute("PRAGMA synchronous=FULL")
                    self._retrying(db.execute, "CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY "
                                   "KEY, value TEXT NOT NULL, version INTEGER NOT NULL)")
                if self._on_open is not None:
                    self._on_open(self._path)
            except BaseException:
                db.close()
                raise
            self._db = db
        return self._db

    @contextlib.contextmanager
    def _locked(self):
        """Hold the store's lock, waiting up to the request's wall time."""
        left = wall_left(limits.current())
        if not self._lock.acquire(left):
            raise sqlite3.OperationalError(
                f"mux.kv is locked: {self._lock.held_by} kept writing for the {max(left, 0):.1f} s "
                "this request could wait (the rest of its wall time)")
        try:
            yield
        finally:
            self._lock.release()

    def _retrying(self, call, *args):
        """``call(*args)``, run again after a pause while SQLite answers
        SQLITE_BUSY (a client outside the server holds its lock), up to the
        request's wall time."""
        pause = BUSY_FIRST_S
        while True:
            try:
                return call(*args)
            except sqlite3.OperationalError as exc:
                left = wall_left(limits.current())
                if not is_busy(exc) or left <= 0:
                    raise
                self._lock.pause(min(pause, left))
                pause = min(pause * 2, BUSY_MAX_S)

    @staticmethod
    def _key(key) -> str:
        if not isinstance(key, str):
            raise TypeError("kv keys are strings")
        if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
            raise ValueError(f"kv keys are at most {MAX_KEY_BYTES} bytes")
        return key

    # -- reads -------------------------------------------------------------------

    def get(self, key, default=None):
        value, version = self.get_versioned(key)
        return default if version == 0 else value

    def get_versioned(self, key):
        """``(value, version)``; ``(None, 0)`` when the key is absent."""
        key = self._key(key)
        row = self._read("SELECT value, version FROM kv WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None, 0
        return decode_json(row[0]), row[1]

    def keys(self, prefix=""):
        if not isinstance(prefix, str):
            raise TypeError("prefix is a string")
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = self._read("SELECT key FROM kv WHERE key LIKE ? ESCAPE '\\' ORDER BY key LIMIT ?",
                          (escaped + "%", MAX_KEYS)).fetchall()
        return [r[0] for r in rows]

    def _read(self, sql, parameters):
        """A read: no lock (in WAL mode readers never wait for writers)."""
        db = self._conn()
        return self._retrying(db.execute, sql, parameters)

    # -- writes ------------------------------------------------------------------

    def set(self, key, value, if_version=None):
        """Write ``value``; return the key's new version."""
        key = self._key(key)
        text = jsontext.dumps(value, "kv value")
        if len(text) > MAX_VALUE_BYTES:
            raise ValueError(f"kv values are at most {MAX_VALUE_BYTES} bytes as JSON")
        self._files.check_growth(len(text) + len(key))
        return self._write(key, text, if_version)

    def delete(self, key, if_version=None):
        """Remove ``key``; return whether it existed."""
        return self._write(self._key(key), None, if_version) > 0

    def _write(self, key, text, if_version):
        if if_version is not None and (not isinstance(if_version, int) or if_version < 0):
            raise ValueError("if_version is a version number (0: only if absent)")
        with self._locked():
            db = self._conn()
            self._retrying(db.execute, "BEGIN IMMEDIATE")
            try:
                row = db.execute("SELECT version FROM kv WHERE key = ?", (key,)).fetchone()
                current = row[0] if row else 0
                if if_version is not None and if_version != current:
                    raise Conflict(f"kv key {key!r} is at version {current}, not {if_version}")
                if text is None:
                    db.execute("DELETE FROM kv WHERE key = ?", (key,))
                    new = current
                else:
                    new = current + 1
                    db.execute("INSERT INTO kv (key, value, version) VALUES (?, ?, ?) "
                               "ON CONFLICT(key) DO UPDATE SET value = excluded.value, "
                               "version = excluded.version", (key, text, new))
                db.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                db.execute("ROLLBACK")
                if "full" in str(exc):
                    raise QuotaError("storage quota exceeded: the key-value store may not grow "
                                     "past the tenant's storage_mb") from None
                raise
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return new

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
        self._lock.close()


@declared("get get_versioned set delete keys Conflict")
class KVFacade:
    """``mux.kv`` as tenant code sees it (the store is opened on first use)."""

    __slots__ = ("_site",)
    Conflict = Conflict

    def __init__(self, site):
        object.__setattr__(self, "_site", site)

    def _store(self) -> KeyValueStore:
        site = object.__getattribute__(self, "_site")
        if site is None or site.files.data_root is None:
            raise RuntimeError("mux.kv needs the server's data dir")
        gate = site.data_gate
        if gate is not None:
            gate.ensure()  # raises DataUnavailable (503) when the data is elsewhere
        if site.kv is None:
            site.kv = KeyValueStore(site.files.data_root, site.files,
                                    gate.track if gate is not None else None)
        return site.kv

    def get(self, key, default=None):
        return self._store().get(key, default)

    def get_versioned(self, key):
        return self._store().get_versioned(key)

    def set(self, key, value, if_version=None):
        return self._store().set(key, value, if_version)

    def delete(self, key, if_version=None):
        return self._store().delete(key, if_version)

    def keys(self, prefix=""):
        return self._store().keys(prefix)

    def __repr__(self):
        return "<mux.kv>"

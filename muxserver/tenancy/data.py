"""A tenant's data folder: where it is, how much it holds, export and import.

``<data-dir>/<tenant>/`` is the tenant's ``/data``: its SQLite databases,
its files and its key-value store (``.mux/kv.sqlite3``).

:func:`export_data` makes a consistent copy while the server runs: each
SQLite database is copied with SQLite's online backup (a snapshot of its
committed state, WAL included), other files as they are; the result is a
tar.gz with paths relative to the folder. :func:`import_data` unpacks such
an archive safely beside the folder and swaps it in with two renames;
connections the server already holds keep the old files until they close
(import while the tenant is idle, or with the server stopped, to be sure no
write lands in the old copy).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
import time
from urllib.parse import quote

from muxserver.tenancy.archive import pack_folder
from muxserver.tenancy.archive import safe_extract
from muxserver.tenancy.names import TENANT_NAME
from muxserver.tenancy.writelock import LOCKS_FOLDER
from sandbox.facades.files import folder_bytes

_SQLITE_MAGIC = b"SQLite format 3\0"
#: Largest archive ``import_data`` unpacks, and most files.
MAX_IMPORT_BYTES = 10 * 2**30
MAX_IMPORT_FILES = 100_000


class DataError(Exception):
    """Export or import cannot be done; the message says why."""


def data_folder(state_dir, tenant: str) -> str:
    if not TENANT_NAME.match(tenant):
        raise DataError(f"{tenant!r} is not a valid tenant name")
    return os.path.join(str(state_dir), tenant)


def is_sqlite(path: str) -> bool:
    """Whether the file starts with SQLite's header."""
    try:
        with open(path, "rb") as f:
            return f.read(16) == _SQLITE_MAGIC
    except OSError:
        return False


def export_data(state_dir, tenant: str, out_path: str) -> dict:
    """Write the tenant's data to ``out_path`` (tar.gz); return counts."""
    folder = data_folder(state_dir, tenant)
    if not os.path.isdir(folder):
        raise DataError(f"tenant {tenant!r} has no data in {state_dir}")
    snapshot = tempfile.mkdtemp(prefix=f".export-{tenant}-", dir=str(state_dir))
    try:
        databases = 0
        locks = os.path.join(folder, LOCKS_FOLDER)
        for root, dirs, files in os.walk(folder):
            # The writers' lock files are the server's, not the tenant's data.
            dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(root, d))
                       and os.path.join(root, d) != locks]
            for name in files:
                path = os.path.join(root, name)
                if os.path.islink(path) or name.endswith(("-wal", "-shm", "-journal")):
                    continue
                target = os.path.join(snapshot, os.path.relpath(path, folder))
                os.makedirs(os.path.dirname(target), exist_ok=True)
                if is_sqlite(path):
                    # Read-only needs a URI; the name is quoted in it, so a
                    # file the tenant named "%2e%2e%2fother%2fapp.db" is that
                    # file, never another tenant's database.
                    source = sqlite3.connect(f"file:{quote(path)}?mode=ro", uri=True)
                    copy = sqlite3.connect(target)
                    try:
                        source.backup(copy)
                    finally:
                        copy.close()
                        source.close()
                    databases += 1
                else:
                    shutil.copy2(path, target)
        with open(out_path, "wb") as out:
            pack_folder(snapshot, out)
        return {"databases": databases, "bytes": folder_bytes(snapshot)}
    finally:
        shutil.rmtree(snapshot, ignore_errors=True)


def import_data(state_dir, tenant: str, archive_path: str) -> dict:
    """Replace the tenant's data with an exported archive; return counts."""
    folder = data_folder(state_dir, tenant)
    with open(archive_path, "rb") as f:
        data = f.read(MAX_IMPORT_BYTES + 1)
    os.makedirs(str(state_dir), exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f".import-{tenant}-", dir=str(state_dir))
    try:
        counts = safe_extract(data, staging, MAX_IMPORT_FILES, MAX_IMPORT_BYTES)
        for root, _dirs, files in os.walk(staging):
            for name in files:
                path = os.path.join(root, name)
                if is_sqlite(path):
                    db = sqlite3.connect(path)
                    try:
                        if db.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                            raise DataError(f"{os.path.relpath(path, staging)}: the database "
                                            "in the archive is damaged")
                    finally:
                        db.close()
        os.chmod(staging, 0o700)
        old = f"{folder}.old-{int(time.time() * 1000)}"
        if os.path.exists(folder):
            os.rename(folder, old)
        os.rename(staging, folder)
        shutil.rmtree(old, ignore_errors=True)
        return counts
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


class StorageUsage:
    """Bytes each tenant's data folder holds, counted at most every
    ``ttl_s`` (a walk per tenant is too much for every status call)."""

    def __init__(self, state_dir, ttl_s: float = 10.0):
        self.state_dir = str(state_dir)
        self.ttl_s = ttl_s
        self._counts: dict[str, tuple[float, int]] = {}

    def of(self, tenant: str, limit: int | None = None) -> int:
        """What ``tenant``'s folder counts against its quota; past ``limit``
        (its ``storage_mb``) the count stops: a walk of a folder a breached
        process filled with entries costs the supervisor's loop at most
        ``limit / ENTRY_BYTES`` entries (:func:`~sandbox.facades.files.folder_bytes`)."""
        now = time.monotonic()
        hit = self._counts.get(tenant)
        if hit is not None and now - hit[0] < self.ttl_s:
            return hit[1]
        folder = os.path.join(self.state_dir, tenant)
        used = folder_bytes(folder, limit) if os.path.isdir(folder) else 0
        self._counts[tenant] = (now, used)
        return used

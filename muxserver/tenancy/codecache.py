"""Compiled tenant code on disk, keyed by content.

An entry is found by :func:`cache_key`: a hash of the file's name in its
tenant, its bytes, the sandbox policy version and the interpreter's cache
tag. So a cold start after an eviction or a restart unmarshals code instead
of compiling it, and the code of a deployed version stays loadable while a
sync overwrites its files (the key is the old content, not the path).

Entries are written to a temporary file and renamed into place, so several
worker processes can share one cache dir; a reader sees a whole entry or
none. A damaged entry reads as a miss. :meth:`CodeCache.prune` removes
entries not used for a while.

.. warning::
   The cache dir must be writable only by the server's user: an entry is
   trusted code. If it is not writable at all, entries are kept in memory.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import sys
import tempfile
import time
from pathlib import Path
from types import CodeType

from muxserver.tenancy.routes import READER_VERSION
from sandbox import POLICY_VERSION

_FORMAT = 1
#: An entry read this long after it was written is touched (mtime = now).
TOUCH_AFTER_S = 86_400.0
#: Entries not used for this long are pruned.
MAX_AGE_S = 14 * 86_400.0


def cache_key(name: str, source: bytes, extra_modules: frozenset[str] = frozenset()) -> str:
    """The content key of one tenant file.

    Everything that decides whether a file compiles, and to what, is in the
    key: its name and bytes, the sandbox policy, the route reader, the
    interpreter, and the operator's ``extra_modules`` (a file compiled while
    a module was allowed must not pass from the cache once it is removed).
    """
    digest = hashlib.blake2b(digest_size=20)
    allowed = ",".join(sorted(extra_modules))
    digest.update(f"{POLICY_VERSION}\0{READER_VERSION}\0{sys.implementation.cache_tag}\0"
                  f"{allowed}\0{name}\0".encode())
    digest.update(source)
    return digest.hexdigest()


class CodeCache:
    """Compiled code and scan results by key, on disk with a memory fallback.

    :param directory: where entries live; created if missing.
    """

    def __init__(self, directory: Path | None):
        self.directory = Path(directory) if directory is not None else None
        self._memory: dict[str, bytes] = {}
        self.writable = False
        if self.directory is not None:
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
                self.writable = os.access(self.directory, os.W_OK)
            except OSError:
                self.writable = False
        #: Counters for status: entries read from disk, written, misses.
        self.hits = 0
        self.misses = 0
        self.writes = 0

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.mux"

    def get(self, key: str) -> tuple[object, bytes] | None:
        """The ``(meta, code_bytes)`` stored under ``key``, or ``None``."""
        blob = self._memory.get(key)
        if blob is None and self.directory is not None:
            path = self._path(key)
            try:
                with open(path, "rb") as f:
                    blob = f.read()
                    mtime = os.fstat(f.fileno()).st_mtime
                if time.time() - mtime > TOUCH_AFTER_S and self.writable:
                    # Entries in use stay young, so prune() keeps them.
                    os.utime(path)
            except OSError:
                blob = None
        if blob is None:
            self.misses += 1
            return None
        try:
            fmt, meta, code_bytes = marshal.loads(blob)
            if fmt != _FORMAT:
                raise ValueError("old format")
        except (ValueError, EOFError, TypeError):
            self.misses += 1
            return None
        self.hits += 1
        return meta, code_bytes

    def put(self, key: str, meta: object, code: CodeType) -> bytes:
        """Store ``code`` with ``meta`` (plain data); return the code bytes."""
        code_bytes = marshal.dumps(code)
        blob = marshal.dumps((_FORMAT, meta, code_bytes))
        if not self.writable:
            self._memory[key] = blob
            return code_bytes
        path = self._path(key)
        try:
            path.parent.mkdir(exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(blob)
                os.replace(tmp, path)
            except BaseException:
                os.unlink(tmp)
                raise
            self.writes += 1
        except OSError:
            self._memory[key] = blob
        return code_bytes

    @staticmethod
    def load_code(code_bytes: bytes) -> CodeType:
        return marshal.loads(code_bytes)

    def prune(self, max_age_s: float, now: float | None = None) -> int:
        """Remove entries not written or touched for ``max_age_s`` seconds.

        :return: how many entries were removed.
        """
        if self.directory is None or not self.writable:
            return 0
        now = time.time() if now is None else now
        removed = 0
        for sub in self.directory.iterdir():
            if not sub.is_dir():
                continue
            for entry in sub.iterdir():
                try:
                    st = entry.stat()
                    if now - st.st_mtime > max_age_s:
                        entry.unlink()
                        removed += 1
                except OSError:
                    continue
        return removed

"""Compiled tenant code and deploy-time analysis on disk, keyed by content.

An entry is found by :func:`cache_key`: a hash of a file's bytes, the
sandbox policy version, the route reader's version, the interpreter's cache
tag and the operator's ``extra_modules`` — not its name. So a cold start
after an eviction or a restart unmarshals code instead of compiling it, the
code of a deployed version stays loadable while a sync overwrites its files
(the key is the old content, not the path), and a file whose content many
tenants share (a hello world, a vendored helper) is compiled and analysed
(pyflakes, routes, imports) once. Code objects carry their file's name;
:meth:`CodeCache.code` gives them the name of the file that loads them.

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
import time
from pathlib import Path
from types import CodeType

from muxserver.tenancy.routes import READER_VERSION
from sandbox import POLICY_VERSION

_FORMAT = 2
#: Entries read or written lately, kept in memory (a scan meets the same
#: content in many tenants one after another).
RECENT_ENTRIES = 512
#: An entry read this long after it was written is touched (mtime = now).
TOUCH_AFTER_S = 86_400.0
#: Entries not used for this long are pruned.
MAX_AGE_S = 14 * 86_400.0


#: The folders whose code decides what a tenant file compiles and scans to.
_DECIDING = ("sandbox", "muxserver/tenancy", "muxserver/tenant_api")
_fingerprint: str | None = None


def code_fingerprint() -> str:
    """A digest of the code that decides what a file compiles and scans to
    (:data:`_DECIDING`), read once per process.

    ``POLICY_VERSION`` and ``READER_VERSION`` are bumped by hand, and two
    branches that each bumped one to the same number merged without a
    conflict (trial 4 found it): cached scans of one branch's reader were
    then reused by the other's. The fingerprint changes with any change to
    that code, so an upgrade recompiles instead of trusting a counter.
    Where the sources are not there to read (a frozen install), the counters
    alone decide.
    """
    global _fingerprint
    if _fingerprint is None:
        root = Path(__file__).resolve().parents[2]
        digest = hashlib.blake2b(digest_size=12)
        for folder in _DECIDING:
            for path in sorted((root / folder).rglob("*.py")):
                digest.update(path.relative_to(root).as_posix().encode() + b"\0")
                digest.update(path.read_bytes())
        _fingerprint = digest.hexdigest()
    return _fingerprint


def cache_key(source: bytes, extra_modules: frozenset[str] = frozenset()) -> str:
    """The content key of one tenant file.

    Everything that decides whether a file compiles, and to what, is in the
    key: its bytes, the sandbox policy, the route reader (their counters and
    :func:`code_fingerprint`), the interpreter,
    and the operator's ``extra_modules`` (a file compiled while a module was
    allowed must not pass from the cache once it is removed). Its name is
    not: nothing a compile or an analysis finds depends on it.
    """
    digest = hashlib.blake2b(digest_size=20)
    allowed = ",".join(sorted(extra_modules))
    digest.update(f"{_FORMAT}\0{POLICY_VERSION}\0{READER_VERSION}\0{code_fingerprint()}\0"
                  f"{sys.implementation.cache_tag}\0{allowed}\0".encode())
    digest.update(source)
    return digest.hexdigest()


def _renamed(code: CodeType, filename: str) -> CodeType:
    """``code`` and the code objects inside it, as compiled from ``filename``."""
    consts = code.co_consts
    # Constants are rebuilt only for nested code. Every cold start runs this
    # (issue 26): the test is a C loop (``in`` over ``map``) and the rebuild
    # a list comprehension, not generators resumed once per constant.
    if CodeType not in map(type, consts):
        return code.replace(co_filename=filename)
    consts = tuple([_renamed(c, filename) if type(c) is CodeType else c for c in consts])
    return code.replace(co_filename=filename, co_consts=consts)


class CodeCache:
    """Compiled code and scan results by key, on disk with a memory fallback.

    :param directory: where entries live; created if missing.
    """

    def __init__(self, directory: Path | None):
        self.directory = Path(directory) if directory is not None else None
        self._memory: dict[str, bytes] = {}
        self._recent: dict[str, tuple] = {}
        #: The code objects of recent entries, unmarshalled once (see :meth:`code`).
        self._codes: dict[str, CodeType] = {}
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
        recent = self._recent.get(key)
        if recent is not None:
            self.hits += 1
            return recent
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
        self._remember(key, (meta, code_bytes))
        return meta, code_bytes

    def _remember(self, key: str, entry: tuple) -> None:
        if len(self._recent) >= RECENT_ENTRIES:
            oldest = next(iter(self._recent))
            del self._recent[oldest]
            self._codes.pop(oldest, None)
        self._recent[key] = entry
        self._codes.pop(key, None)  # a new entry for the key: unmarshalled anew

    def put(self, key: str, meta: object, code: CodeType) -> bytes:
        """Store ``code`` with ``meta`` (plain data); return the code bytes."""
        return self.put_bytes(key, meta, marshal.dumps(code))

    def put_bytes(self, key: str, meta: object, code_bytes: bytes) -> bytes:
        """Store marshalled code with ``meta``; return the code bytes."""
        blob = marshal.dumps((_FORMAT, meta, code_bytes))
        self._remember(key, (meta, code_bytes))
        if not self.writable:
            self._memory[key] = blob
            return code_bytes
        path = self._path(key)
        try:
            path.parent.mkdir(exist_ok=True)
            tmp = f"{path.parent}/.tmp-{os.getpid()}-{key}"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
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

    def code(self, key: str, filename: str) -> CodeType | None:
        """The code stored under ``key`` named after ``filename`` (the
        tenant file that loads it), or None when there is none.

        The entries read lately are unmarshalled once and kept beside their
        bytes (:data:`RECENT_ENTRIES` of them): every tenant loading that
        content gets its own renamed copy (:func:`_renamed`, new code
        objects), sharing only the immutable constants (strings, numbers,
        tuples) with the kept one, as marshal shares them within one file.
        """
        code = self._codes.get(key)
        if code is None:
            hit = self.get(key)
            if hit is None:
                return None
            code = marshal.loads(hit[1])
            if key in self._recent:
                self._codes[key] = code
        else:
            self.hits += 1
        return _renamed(code, filename)

    @staticmethod
    def load_code(code_bytes: bytes, filename: str | None = None) -> CodeType:
        """The code object in ``code_bytes``, named after ``filename`` (the
        tenant file that loads it: tracebacks show it)."""
        code = marshal.loads(code_bytes)
        return _renamed(code, filename) if filename is not None else code

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
                        self._recent.pop(entry.stem, None)
                        self._codes.pop(entry.stem, None)
                        removed += 1
                except OSError:
                    continue
        return removed

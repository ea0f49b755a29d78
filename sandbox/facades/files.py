"""The tenant's files: its own folder as ``/app`` (read) and ``/data`` (write).

Tenant code names files the way it would on its own platform: relative to
its folder (the working directory is ``/app``), as ``/app/...``, or as
``/data/...``. :class:`TenantFiles` maps those names onto the host folders
and refuses every other name, after resolving ``..`` and symbolic links, so
no name reaches a file outside the two folders. ``/app`` is read-only;
writes go to ``/data`` under the tenant's storage quota, checked before
each write (a write that would pass the quota fails and writes nothing).

What tenant code holds is a :class:`TenantFile`, never the host's file
object (whose ``name``, ``buffer`` and ``raw`` lead to host paths and
descriptors). Reads are bounded by the request's memory budget. An
``OSError`` names the file as the tenant does (``/data/x``), never by its
host path (:meth:`TenantFiles.tenant_error`). A tenant holds at most
:data:`MAX_OPEN_FILES` files open at once (one held 19,999, and every other
tenant's opens failed: issue 23); closing its runtime closes them.

.. warning::
   The mapping is the language layer's guard; the process layer (Landlock)
   is what holds if it is bypassed. A file a tenant deploys as a symbolic
   link pointing outside its folder is refused at open, not followed.
"""

from __future__ import annotations

import errno
import functools
import os
import posixpath
import stat
import time
import weakref

from sandbox import guards
from sandbox import limits
from sandbox.guards import SandboxError
from sandbox.guards.declared import declared

APP = "/app"
DATA = "/data"
#: The folder in /data where the server keeps the tenant's key-value store.
HOST_FOLDER = ".mux"
#: What Litestream keeps beside each database it replicates (``--replica``):
#: ``.<name>-litestream`` folders, the server's like ``.mux``.
REPLICATION_SUFFIX = "-litestream"


def is_host_entry(name: str, at_data_root: bool) -> bool:
    """Whether an entry of /data is the server's, not the tenant's: unseen,
    unreachable, and not counted against the tenant's storage."""
    if at_data_root and name == HOST_FOLDER:
        return True
    return name.startswith(".") and name.endswith(REPLICATION_SUFFIX)
#: How long a count of /data's bytes is trusted (far from the quota).
USAGE_TTL_S = 1.0
#: What one entry of /data (a file, a folder) counts against the quota at
#: least: a block of the disk and an inode. Counted as bytes of content
#: alone, a million empty files were "0 bytes" — the disk's inodes gone for
#: every tenant, and every count of the folder (here and in the
#: supervisor's status) a walk of seconds.
ENTRY_BYTES = 4096
#: Files one tenant may hold open at once (the process has 65,536 for all).
MAX_OPEN_FILES = 256


#: Folder -> itself, for the parents of tenants' folders whose path is
#: their real path (the tenants folder, the data folder, each HTTP-deployed
#: tenant's versions folder).
_REAL_PARENTS: dict[str, str] = {}
#: How many it keeps before it starts again.
MAX_REAL_PARENTS = 1024


def real_folder(path) -> str:
    """``os.path.realpath(path)`` for a tenant's folder, at the cost of one
    ``lstat`` instead of one per component: a parent folder whose path was
    its real path is remembered as such (a cold start made two full
    ``realpath`` calls, ~25 µs). A parent reached through a symbolic link
    is never remembered: its target can be changed (a ``current`` link to
    a release).

    .. warning:: A parent the operator turns into a symbolic link while the
       server runs is still taken as real: tenants started after that get
       a root path through the link, while every file they open is checked
       by its own real path, so their files are refused, never let out.
    """
    path = os.fspath(path)
    parent, name = os.path.split(path)
    if not (os.path.isabs(path) and name and name not in (".", "..")
            and posixpath.normpath(path) == path) or os.path.islink(path):
        return os.path.realpath(path)
    if parent not in _REAL_PARENTS:
        real_parent = os.path.realpath(parent)
        if real_parent != parent:
            return os.path.join(real_parent, name)
        if len(_REAL_PARENTS) >= MAX_REAL_PARENTS:
            _REAL_PARENTS.clear()
        _REAL_PARENTS[parent] = parent
    return path


def make_private_folder(path: str) -> bool:
    """Make the folder ``path`` with mode 0700 (its missing parents as
    ``os.makedirs`` makes them); return whether it exists now. One system
    call when its parent exists, where ``makedirs`` makes three."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except FileNotFoundError:
        try:
            os.makedirs(path, 0o700, exist_ok=True)
        except OSError:
            return False
    except OSError:
        return False
    return True


class QuotaExceeded(SandboxError, OSError):
    """A write to /data would pass the tenant's storage quota."""


class TenantFiles:
    """Where ``/app`` and ``/data`` are for one tenant, and its quota.

    :param app_root: the tenant's folder (read-only to it).
    :param data_root: its data folder, or None when it has none; made on
        first use (:meth:`ensure_data`). A function returning it is called
        on first use too (a function that opens no file needs no path).
    :param quota_bytes: what ``/data`` may hold in all, or None.
    :param usage: a callable returning the bytes ``/data`` holds now
        (the host may count databases kept elsewhere in it too).
    """

    def __init__(self, app_root=None, data_root=None, quota_bytes=None, usage=None):
        # Resolved on first use (a function that opens no file needs neither).
        self._app_folder = app_root or None
        self._data_folder = data_root or None
        self.quota_bytes = quota_bytes
        self._usage = usage
        self._used = None  # (monotonic time, bytes): a recent count
        self._open_files: weakref.WeakSet | None = None
        self._data_made = False
        #: Called once before ``/data`` is first used in this runtime (the
        #: host's data gate: a replication agent may be restoring it).
        self.before_first_data_use = None

    @functools.cached_property
    def app_root(self) -> str | None:
        """The real path of the tenant's folder (``/app``), or None."""
        return real_folder(self._app_folder) if self._app_folder is not None else None

    @functools.cached_property
    def data_root(self) -> str | None:
        """The real path of its data folder (``/data``), or None."""
        folder = self._data_folder
        if callable(folder):
            folder = folder()
        return real_folder(folder) if folder is not None else None

    def ensure_data(self) -> None:
        """Make ``/data``'s folder (:func:`make_private_folder`), once: every
        road to ``/data`` calls this first (:meth:`resolve`, and the host's
        own stores), so a function that never touches it never has one —
        making it was most of a cold start's file-system work. A folder that
        cannot be made (a read-only data dir) is left to fail each write
        with the OS's error."""
        if self._data_made or self.data_root is None:
            return
        if self.before_first_data_use is not None:
            self.before_first_data_use()
        self._data_made = make_private_folder(self.data_root)

    @property
    def open_files(self) -> weakref.WeakSet:
        """The tenant's files open now (its ledger of descriptors), made on
        its first file: 700 bytes most tenants never need."""
        if self._open_files is None:
            self._open_files = weakref.WeakSet()
        return self._open_files

    # -- errors -------------------------------------------------------------

    def tenant_error(self, exc: OSError) -> OSError:
        """``exc`` with its file names as the tenant knows them: the same
        type and ``errno``, no host path in its text or attributes."""
        names = [self.tenant_name(n) if isinstance(n, str) else None
                 for n in (exc.filename, exc.filename2)]
        if exc.errno is None:
            return exc  # the sandbox's own errors name files as the tenant does
        if names[1] is not None:
            return type(exc)(exc.errno, exc.strerror, names[0], None, names[1])
        if names[0] is not None:
            return type(exc)(exc.errno, exc.strerror, names[0])
        return type(exc)(exc.errno, exc.strerror)

    def in_tenant_names(self, func):
        """``func`` whose ``OSError`` is :meth:`tenant_error`'s."""

        @functools.wraps(func)
        def call(*args, **kwargs):
            try:
                return func(*args, **kwargs)
            except OSError as exc:
                raise self.tenant_error(exc) from None

        return call

    def close_all(self) -> None:
        """Close every file the tenant left open (its runtime is dropped)."""
        for handle in list(self._open_files or ()):
            handle.close()

    # -- names ------------------------------------------------------------

    def resolve(self, name, write: bool = False, create: bool | None = None) -> str:
        """The host path of a tenant file name; raise PermissionError if it
        is outside ``/app`` (or outside ``/data`` for ``write``).

        :param create: the caller may make the entry (default: ``write``);
            each entry that does not exist yet, the path's missing folders
            included, is checked against the quota (:data:`ENTRY_BYTES`)."""
        if isinstance(name, bytes):
            name = name.decode("utf-8", "surrogateescape")
        if not isinstance(name, str):
            raise TypeError("file names are strings")
        if "\0" in name:
            raise ValueError("embedded null byte")
        path = posixpath.normpath(posixpath.join(APP, name))
        for prefix, root in ((DATA, self.data_root), (APP, self.app_root)):
            if path == prefix or path.startswith(prefix + "/"):
                if root is None:
                    raise PermissionError(f"{prefix} is not available to this function")
                if write and prefix != DATA:
                    raise PermissionError(f"{name}: {APP} is read-only; write under {DATA}")
                if prefix == DATA and any(is_host_entry(part, i == 0) for i, part in
                                          enumerate(path[len(DATA) + 1:].split("/"))):
                    raise PermissionError(f"{name}: {DATA}/{HOST_FOLDER} and replication "
                                          "state are kept by the server")
                if prefix == DATA and not self._data_made:
                    self.ensure_data()
                host = os.path.join(root, path[len(prefix):].lstrip("/"))
                real = os.path.realpath(host)
                if real != root and not real.startswith(root + os.sep):
                    raise PermissionError(f"{name}: outside this function's files")
                if write and (create is None or create):
                    self._check_new_entries(real, root)
                return real
        raise PermissionError(f"{name}: only files under {APP} and {DATA} are visible here")

    def tenant_name(self, host_path: str) -> str:
        """The name tenant code sees for a host path inside its folders
        (``<outside>`` for any other: no host path reaches the tenant)."""
        for prefix, root in ((DATA, self.data_root), (APP, self.app_root)):
            if root and (host_path == root or host_path.startswith(root + os.sep)):
                return prefix + host_path[len(root):]
        if not os.path.isabs(host_path):
            return host_path  # already a tenant's relative name
        return "<outside>"

    # -- quota ------------------------------------------------------------

    def _check_new_entries(self, path: str, root: str) -> None:
        """Check the entries ``path`` would add (itself and missing folders)."""
        missing = 0
        while path != root and not os.path.lexists(path):
            missing += 1
            path = os.path.dirname(path)
        self.check_growth(missing * ENTRY_BYTES)

    def used_bytes(self, fresh: bool = False) -> int:
        """Bytes ``/data`` holds; counted again at most every
        :data:`USAGE_TTL_S` unless ``fresh`` (a walk of the folder costs)."""
        now = time.monotonic()
        if not fresh and self._used is not None and now - self._used[0] < USAGE_TTL_S:
            return self._used[1]
        if self._usage is not None:
            used = self._usage()
        else:
            used = folder_bytes(self.data_root, self.quota_bytes) if self.data_root else 0
        self._used = (now, used)
        return used

    def check_growth(self, more: int) -> None:
        """Raise :class:`QuotaExceeded` if ``more`` bytes would pass the quota."""
        if self.quota_bytes is None or more <= 0:
            return
        used = self.used_bytes()
        if used + more > self.quota_bytes * 0.9:
            used = self.used_bytes(fresh=True)  # near the quota: count exactly
        if used + more > self.quota_bytes:
            raise QuotaExceeded(
                f"storage quota exceeded: /data holds {used} bytes and the quota (storage_mb) "
                f"is {self.quota_bytes} bytes"
            )
        self._used = (self._used[0], used + more) if self._used else None

    def note_growth(self, more: int) -> None:
        """Count ``more`` bytes written by something that checks the quota
        itself (a database), until the next count of the folder."""
        if self._used is not None and more > 0:
            self._used = (self._used[0], self._used[1] + more)

    # -- open -------------------------------------------------------------

    def open(self, name, mode="r", buffering=-1, encoding=None, errors=None, newline=None):
        """The ``open`` builtin of tenant code."""
        try:
            return self._open(name, mode, buffering, encoding, errors, newline)
        except OSError as exc:
            raise self.tenant_error(exc) from None

    def _open(self, name, mode, buffering, encoding, errors, newline):
        if len(self.open_files) >= MAX_OPEN_FILES:
            raise OSError(errno.EMFILE, f"too many open files: this function holds "
                                        f"{MAX_OPEN_FILES} (close some, or use with open(...))")
        if not isinstance(mode, str) or set(mode) - set("rwabxt+"):
            raise ValueError(f"invalid mode: {guards.safe_repr(mode, 100)}")
        write = any(c in mode for c in "wax+")
        path = self.resolve(name, write=write)
        raw = _open_resolved(path, name, mode, buffering, encoding, errors, newline)
        handle = TenantFile(raw, guards.safe_str_builtin(name), self if write else None, self)
        self.open_files.add(handle)
        return handle

    # -- a host stream into /data -----------------------------------------------

    def save_stream(self, name, stream, size=None, buffer_size: int = 16384) -> int:
        """Write what is left of ``stream`` (a host stream: an uploaded
        file) to the tenant file ``name`` under ``/data``, as werkzeug's
        ``FileStorage.save`` does; return the bytes written.

        :param size: the bytes left in ``stream`` when known: the growth is
            checked against the quota before anything is written (a save
            over the quota leaves the file as it was). Unknown, each chunk
            is checked before it is written.
        :param buffer_size: bytes read at a time (capped at
            :data:`MAX_SAVE_CHUNK`); the request's budget ticks between them.
        """
        try:
            return self._save_stream(name, stream, size, buffer_size)
        except OSError as exc:
            raise self.tenant_error(exc) from None

    def _save_stream(self, name, stream, size, buffer_size) -> int:
        if len(self.open_files) >= MAX_OPEN_FILES:
            raise OSError(errno.EMFILE, f"too many open files: this function holds "
                                        f"{MAX_OPEN_FILES}")
        path = self.resolve(name, write=True)
        if size is not None:
            try:
                before = os.lstat(path).st_size
            except FileNotFoundError:
                before = 0
            self.check_growth(size - before)
        chunk = buffer_size if type(buffer_size) is int and buffer_size > 0 else 16384
        chunk = min(chunk, MAX_SAVE_CHUNK)
        written = 0
        with _open_resolved(path, name, "wb", 0, None, None, None) as raw:
            while size is None or written < size:
                limits.tick()
                data = stream.read(chunk if size is None else min(chunk, size - written))
                if not data:
                    break
                if size is None:
                    self.check_growth(len(data))
                raw.write(data)
                written += len(data)
        return written


#: Most bytes :meth:`TenantFiles.save_stream` holds at once.
MAX_SAVE_CHUNK = 1024 * 1024


def _open_flags(mode: str) -> int:
    """The ``os.open`` flags of a Python ``open()`` mode, never following
    a symbolic link in the last component (one swapped in after
    :meth:`TenantFiles.resolve` checked the name is not followed)."""
    if "+" in mode:
        flags = os.O_RDWR
    elif "r" in mode:
        flags = os.O_RDONLY
    else:
        flags = os.O_WRONLY
    if "w" in mode:
        flags |= os.O_CREAT | os.O_TRUNC
    elif "a" in mode:
        flags |= os.O_CREAT | os.O_APPEND
    elif "x" in mode:
        flags |= os.O_CREAT | os.O_EXCL
    return flags | os.O_NOFOLLOW | os.O_CLOEXEC


def _open_resolved(path, name, mode, buffering, encoding, errors, newline):
    """Open the host ``path`` (:meth:`TenantFiles.resolve` gave it) as
    ``open(name, mode, ...)`` would: a regular file only."""
    if any(c in mode for c in "wax+"):
        parent = os.path.dirname(path)
        if not os.path.isdir(parent):
            raise FileNotFoundError(f"No such file or directory: {name!r}")
    fd = os.open(path, _open_flags(mode), 0o666)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise IsADirectoryError(f"{name!r} is not a regular file")
        return open(fd, mode, buffering, encoding, errors, newline)
    except BaseException:
        os.close(fd)
        raise


def folder_bytes(root: str, stop_above: int | None = None) -> int:
    """What the entries under ``root`` count against a quota: each file its
    size, and at least :data:`ENTRY_BYTES`; each folder :data:`ENTRY_BYTES`
    (not replication state, :func:`is_host_entry`).

    :param stop_above: stop counting once the total is past this (the quota:
        the exact figure past it does not matter), so a walk costs at most
        ``stop_above / ENTRY_BYTES`` entries however many a process made.
    """
    total = 0
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not is_host_entry(d, False)]
        total += ENTRY_BYTES * len(dirs)
        for name in files:
            try:
                total += max(os.lstat(os.path.join(folder, name)).st_size, ENTRY_BYTES)
            except OSError:
                pass
            if stop_above is not None and total > stop_above:
                return total
        if stop_above is not None and total > stop_above:
            return total
    return total


@declared("read readline readlines write writelines seek tell flush close closed readable "
          "writable name mode")
class TenantFile:
    """A file as tenant code holds it: reads bounded, writes under quota."""

    __slots__ = ("_raw", "_files", "_ledger", "name", "mode", "__weakref__")

    def __init__(self, raw, name, files, ledger=None):
        self._raw = raw
        self._files = files
        #: The TenantFiles whose open files this one counts in.
        self._ledger = ledger
        self.name = name
        self.mode = raw.mode

    def _remaining(self) -> int:
        try:
            raw = self._raw
            return max(0, os.fstat(raw.fileno()).st_size - raw.tell())
        except (OSError, ValueError):
            return 0

    def read(self, size=-1):
        size = guards.exact_int(size) if guards.is_count(size) else size
        if size is None or size < 0:
            guards.check_allocation(self._remaining(), "file.read()")
        else:
            guards.check_allocation(min(size, self._remaining()), "file.read()")
        return self._raw.read(size)

    def readline(self, size=-1):
        size = guards.exact_int(size) if guards.is_count(size) else size
        guards.check_allocation(self._remaining() if size < 0 else size, "file.readline()")
        return self._raw.readline(size)

    def readlines(self, hint=-1):
        guards.check_allocation(self._remaining(), "file.readlines()")
        return self._raw.readlines(hint)

    def __iter__(self):
        return guards.TickingIter(iter(self.readline, self._raw.read(0)))

    def write(self, data):
        if self._files is None:
            raise PermissionError(f"{self.name}: not open for writing")
        size = len(data.encode("utf-8") if isinstance(data, str) else data)
        try:
            # A write past the end (after a seek) grows the file by the gap too.
            end = os.fstat(self._raw.fileno()).st_size
            size += max(0, self._raw.tell() - end)
        except (OSError, ValueError):
            pass
        self._files.check_growth(size)
        return self._raw.write(data)

    def writelines(self, lines):
        for line in guards.guarded_iter(lines):
            self.write(line)

    def seek(self, offset, whence=0):
        return self._raw.seek(offset, whence)

    def tell(self):
        return self._raw.tell()

    def flush(self):
        self._raw.flush()

    def close(self):
        self._raw.close()
        if self._ledger is not None:
            self._ledger.open_files.discard(self)

    @property
    def closed(self):
        return self._raw.closed

    def readable(self):
        return self._raw.readable()

    def writable(self):
        return self._raw.writable()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return f"<file {self.name!r} mode {self.mode!r}>"

    def __del__(self):
        # A file the tenant left open is closed when dropped, quietly.
        try:
            self._raw.close()
        except Exception:
            pass

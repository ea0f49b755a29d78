"""Unpacking a tar.gz from a client, safely: the one place archives are read.

An archive is untrusted input. :func:`safe_extract` refuses, before writing
anything outside a fresh folder: absolute names, ``..``, names that are not
plain (NUL, backslash, drive letters), links of any kind (a symbolic or
hard link could point out of the folder or at another member), device
files, FIFOs, more than ``max_files`` members, more than ``max_bytes`` of
content, a compressed stream that inflates past ``max_bytes`` (a gzip
bomb is stopped by counting what is read, not by trusting headers), and a
metadata member (a pax header, a GNU long name) over :data:`MAX_META_BYTES`.
"""

from __future__ import annotations

import io
import os
import posixpath
import tarfile

#: Deepest folder nesting accepted.
MAX_DEPTH = 32
#: Largest pax header or GNU long name or link: ``tarfile`` reads one whole
#: and parses its records in a Python loop (round 15: a 30 KB archive with a
#: 20 MB pax header of records ``6 a=b`` cost the supervisor 3.4 s of CPU,
#: 34 s at the 200 MB cap).
MAX_META_BYTES = 64 * 1024

_META_TYPES = frozenset([tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE,
                         tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK])


class ArchiveRefused(ValueError):
    """The archive breaks a rule; the message says which, for the client."""


class _CappedReader(io.RawIOBase):
    """Reads a stream and stops once more than ``limit`` bytes came out."""

    def __init__(self, raw, limit: int):
        self._raw = raw
        self._left = limit

    def readable(self):
        return True

    def readinto(self, buffer):
        data = self._raw.read(len(buffer))
        if len(data) > self._left:
            raise ArchiveRefused("the archive unpacks to more than the size cap")
        self._left -= len(data)
        buffer[: len(data)] = data
        return len(data)


class _BoundedTarInfo(tarfile.TarInfo):
    """A member header that refuses a metadata member past
    :data:`MAX_META_BYTES` before ``tarfile`` reads and parses it."""

    def _proc_member(self, tarfile_):
        if self.type in _META_TYPES and self.size > MAX_META_BYTES:
            raise ArchiveRefused(f"a pax header or long name of {self.size} bytes (at most "
                                 f"{MAX_META_BYTES})")
        return super()._proc_member(tarfile_)


def _check_name(name: str) -> str:
    if not name or "\0" in name or "\\" in name or name.startswith("/") or ":" in name.split("/")[0]:
        raise ArchiveRefused(f"{name!r}: only relative paths are allowed")
    clean = posixpath.normpath(name)
    if clean == ".":
        return clean  # the folder itself: `tar czf x.tgz .` names it "./"
    if clean.startswith("../") or clean == ".." or "/../" in f"/{clean}/":
        raise ArchiveRefused(f"{name!r}: a path that leaves the folder")
    if clean.count("/") >= MAX_DEPTH:
        raise ArchiveRefused(f"{name!r}: folders nested more than {MAX_DEPTH} deep")
    return clean


def safe_extract(data: bytes, dest: str, max_files: int, max_bytes: int) -> dict:
    """Unpack the tar.gz ``data`` into the empty folder ``dest``.

    :raises ArchiveRefused: on any rule broken (``dest`` may then hold part
        of the archive: the caller removes it).
    :return: ``{"files": n, "bytes": total}``.
    """
    # Decompressed size is bounded twice: by the tar stream we read (a gzip
    # bomb) and by the members we write.
    try:
        gz = io.BufferedReader(_CappedReader(_gunzip(data), max_bytes + 1024 * 1024))
        archive = tarfile.open(fileobj=gz, mode="r|", tarinfo=_BoundedTarInfo)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ArchiveRefused(f"not a tar.gz archive: {exc}") from None
    files = 0
    total = 0
    try:
        for member in archive:
            name = _check_name(member.name)
            if name == ".":
                if member.isdir():
                    continue
                raise ArchiveRefused(f"{member.name!r}: a file where the folder itself should be")
            files += 1
            if files > max_files:
                raise ArchiveRefused(f"more than {max_files} files in the archive")
            target = os.path.join(dest, name)
            if member.isdir():
                os.makedirs(target, mode=0o755, exist_ok=True)
                continue
            if not member.isreg():
                kind = "link" if member.issym() or member.islnk() else "special file"
                raise ArchiveRefused(f"{member.name!r}: a {kind}; only files and folders are allowed")
            total += member.size
            if total > max_bytes:
                raise ArchiveRefused(f"the archive holds more than {max_bytes} bytes")
            os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
            if os.path.lexists(target):
                raise ArchiveRefused(f"{member.name!r} appears twice in the archive")
            source = archive.extractfile(member)
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
            with os.fdopen(fd, "wb") as out:
                while True:
                    chunk = source.read(65536)
                    if not chunk:
                        break
                    out.write(chunk)
    except (tarfile.TarError, EOFError, OSError) as exc:
        if isinstance(exc, ArchiveRefused):
            raise
        raise ArchiveRefused(f"the archive is damaged: {exc}") from None
    finally:
        archive.close()
    return {"files": files, "bytes": total}


def _gunzip(data: bytes):
    import gzip

    return gzip.GzipFile(fileobj=io.BytesIO(data), mode="rb")


def pack_folder(folder: str, out, skip_dirs=()) -> None:
    """Write ``folder``'s files as a tar.gz to the binary file ``out``, names
    relative to it (no top folder); symbolic links and folders named in
    ``skip_dirs`` are left out."""
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        for root, dirs, files in os.walk(folder):
            dirs[:] = sorted(d for d in dirs
                             if not os.path.islink(os.path.join(root, d)) and d not in skip_dirs)
            for name in sorted(files):
                path = os.path.join(root, name)
                if os.path.islink(path):
                    continue
                archive.add(path, arcname=os.path.relpath(path, folder), recursive=False)

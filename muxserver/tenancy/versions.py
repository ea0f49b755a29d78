"""Versions deployed over HTTP: kept, listed, and made live atomically.

``PUT /_mux/tenants/<t>`` hands a tar.gz to :meth:`VersionStore.deploy`: it
is unpacked safely (:mod:`muxserver.tenancy.archive`) into a staging folder,
registered exactly like a directory deploy (nothing of it runs), and only
if that succeeds kept under its content hash and made live. All or nothing:
a refused archive changes nothing.

Layout, under ``<server-dir>/versions/`` (written by the supervisor only;
serving processes read it)::

    <tenant>/<version>/        the tenant's files, as deployed (never changed)
    <tenant>/<version>.json    hash, time, size, files, who deployed
    _live/<tenant>             the live version's name (replaced by rename;
                               ``_`` is in no tenant name, so a tenant
                               called ``live`` has a folder of its own)

A tenant with a live version is served from it, whatever the tenants dir
holds for that name. Making a version live is one ``rename`` of the pointer
file; every process of the server sees it (:class:`LiveWatcher` polls the
``live`` folder), and requests in flight finish on the code they started on.
The newest :data:`KEEP_VERSIONS` versions and the live one are kept.

Every process of one server follows the pointers through the supervisor;
:class:`LiveWatcher` polls them for pointers another server's supervisor
changed (a store on a volume several nodes share).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

import gevent

from muxserver.errors import DeployRefused
from muxserver.tenancy.archive import ArchiveRefused
from muxserver.tenancy.archive import safe_extract
from muxserver.tenancy.names import TENANT_NAME

log = logging.getLogger("muxserver.versions")

#: A version is the first 16 hex digits of its content hash.
VERSION_NAME = re.compile(r"^[0-9a-f]{16}$")

#: Versions kept per tenant (the live one is always kept too).
KEEP_VERSIONS = 10
#: Caps on one uploaded archive.
MAX_ARCHIVE_BYTES = 50 * 2**20
MAX_UNPACKED_BYTES = 200 * 2**20
MAX_FILES = 10_000


def content_hash(folder) -> str:
    """A hash of every file under ``folder``: its path and its bytes."""
    digest = hashlib.blake2b(digest_size=16)
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            digest.update(os.path.relpath(path, folder).encode("utf-8", "surrogateescape") + b"\0")
            with open(path, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    digest.update(chunk)
            digest.update(b"\0")
    return digest.hexdigest()


class VersionStore:
    """The deployed versions of every tenant, under ``root``."""

    def __init__(self, root):
        self.root = Path(root)
        self.live_dir = self.root / "_live"
        self._migrate_pointers()

    def _migrate_pointers(self) -> None:
        """Move live pointers from ``live/``, where servers before 0.9 kept
        them, to ``_live/`` (pointers are files; a tenant's versions are
        folders and ``.json`` files, and stay)."""
        old = self.root / "live"
        try:
            entries = list(os.scandir(old))
        except OSError:
            return
        try:  # a process that may not write here leaves it to the supervisor
            self.live_dir.mkdir(parents=True, exist_ok=True)
            for entry in entries:
                if (entry.is_file(follow_symlinks=False) and TENANT_NAME.match(entry.name)
                        and not (self.live_dir / entry.name).exists()):
                    os.replace(entry.path, self.live_dir / entry.name)
            old.rmdir()  # only if nothing but pointers was there
        except OSError:
            pass

    # -- what is live -----------------------------------------------------------------

    def live_version(self, tenant: str) -> str | None:
        try:
            version = (self.live_dir / tenant).read_text().strip()
        except OSError:
            return None
        return version if VERSION_NAME.match(version) else None

    def live_root(self, tenant: str) -> Path | None:
        """The folder tenant ``tenant`` is served from, if deployed over HTTP."""
        version = self.live_version(tenant)
        if version is None:
            return None
        folder = self.root / tenant / version
        return folder if folder.is_dir() else None

    def live_tenants(self) -> list[str]:
        try:
            return sorted(n for n in os.listdir(self.live_dir) if TENANT_NAME.match(n))
        except OSError:
            return []

    def live_stamp(self) -> dict[str, tuple]:
        """``tenant -> (mtime, size)`` of the pointer files (cheap to poll)."""
        stamp = {}
        for name in self.live_tenants():
            try:
                st = os.stat(self.live_dir / name)
            except OSError:
                continue
            stamp[name] = (st.st_mtime_ns, st.st_ino)
        return stamp

    # -- deploy, list, rollback -----------------------------------------------------

    def deploy(self, tenant: str, archive: bytes, validate, deployer: str | None) -> dict:
        """Unpack, validate, keep and make live; return ``{"version", "errors"}``.

        :param validate: ``validate(folder) -> spec`` (the scanner's verdict).
        :raises DeployRefused: with the errors; nothing changed.
        """
        if not TENANT_NAME.match(tenant):
            raise DeployRefused(f"{tenant!r} is not a valid tenant name", status=400)
        if len(archive) > MAX_ARCHIVE_BYTES:
            raise DeployRefused(f"the archive is over {MAX_ARCHIVE_BYTES // 2**20} MB", status=413)
        folder = self.root / tenant
        folder.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=folder))
        try:
            try:
                counts = safe_extract(archive, str(staging), MAX_FILES, MAX_UNPACKED_BYTES)
            except ArchiveRefused as exc:
                raise DeployRefused(f"archive refused: {exc}", status=400) from None
            spec = validate(staging)
            if not spec.ok:
                raise DeployRefused("the new version has errors; the live version is unchanged",
                                    spec.errors, status=422)
            version = content_hash(staging)[:16]
            target = folder / version
            if not target.exists():
                try:
                    os.rename(staging, target)
                except OSError:
                    if not target.is_dir():  # not a twin deploy of the same content
                        raise
            meta = {"version": version, "hash": spec.version, "deployed_at": time.time(),
                    "bytes": counts["bytes"], "files": counts["files"], "deployer": deployer,
                    "routes": len(spec.routes)}
            self._write_atomic(folder / f"{version}.json", json.dumps(meta))
            self.make_live(tenant, version)
            self._prune(tenant)
            return {"version": version, "errors": [], "routes": len(spec.routes)}
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def versions(self, tenant: str) -> list[dict]:
        folder = self.root / tenant
        live = self.live_version(tenant)
        found = []
        try:
            names = os.listdir(folder)
        except OSError:
            return []
        for name in names:
            if not name.endswith(".json"):
                continue
            try:
                meta = json.loads((folder / name).read_text())
            except (OSError, ValueError):
                continue
            meta["live"] = meta.get("version") == live
            found.append(meta)
        return sorted(found, key=lambda m: m.get("deployed_at", 0), reverse=True)

    def make_live(self, tenant: str, version: str) -> None:
        """Point ``tenant`` at ``version`` (one rename: atomic)."""
        if not TENANT_NAME.match(tenant) or not VERSION_NAME.match(str(version)):
            # A name, never a path: "../other/..." must not point anywhere.
            raise DeployRefused(f"{version!r} is not a version name (16 hex digits)", status=400)
        if not (self.root / tenant / version).is_dir():
            raise DeployRefused(f"tenant {tenant!r} has no version {version!r}", status=404)
        self.live_dir.mkdir(parents=True, exist_ok=True)
        self._write_atomic(self.live_dir / tenant, version)

    @staticmethod
    def _write_atomic(path: Path, text: str) -> None:
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, path)

    def _prune(self, tenant: str) -> None:
        live = self.live_version(tenant)
        for meta in self.versions(tenant)[KEEP_VERSIONS:]:
            version = meta.get("version")
            if version and version != live:
                shutil.rmtree(self.root / tenant / version, ignore_errors=True)
                try:
                    os.remove(self.root / tenant / f"{version}.json")
                except OSError:
                    pass


class LiveWatcher:
    """Makes every process of the server follow the live pointers: polls
    ``live/`` every :attr:`interval` seconds and redeploys what changed."""

    def __init__(self, control, interval: float = 0.5):
        self.app = control
        self.store = control.registry.versions
        self.interval = interval
        self._folder_stamp = self._folder()
        self._stamp = self.store.live_stamp()
        self._polls = 0
        self._greenlet = None

    def _folder(self):
        # A pointer is replaced by a rename, which changes the folder's
        # mtime: one stat per poll instead of one per tenant.
        try:
            st = os.stat(self.store.live_dir)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_ino)

    def run_step(self) -> list[str]:
        folder = self._folder()
        self._polls += 1
        # Every tenth poll looks anyway: a filesystem with coarse mtimes can
        # hide two renames in one tick.
        if folder == self._folder_stamp and folder is not None and self._polls % 10:
            return []
        self._folder_stamp = folder
        stamp = self.store.live_stamp()
        changed = [t for t in set(stamp) | set(self._stamp) if stamp.get(t) != self._stamp.get(t)]
        self._stamp = stamp
        for tenant in changed:
            self.app.redeploy(tenant)
        return changed

    def run(self) -> None:
        while True:
            gevent.sleep(self.interval)
            try:
                self.run_step()
            except Exception:
                log.exception("following live versions failed")

    def start(self) -> "LiveWatcher":
        self._greenlet = gevent.spawn(self.run)
        return self

    def stop(self) -> None:
        if self._greenlet is not None:
            self._greenlet.kill()

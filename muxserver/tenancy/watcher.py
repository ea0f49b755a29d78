"""Watch the tenants dir and redeploy a tenant once its files settle.

Linux inotify (through ``inotify_simple``) tells which tenant folder
changed; the greenlet waits on the inotify descriptor with gevent, so it
never blocks the hub. Where inotify is not available the watcher polls file
stats (``--debounce-ms`` still applies); the log says which at start.

A tenant is re-registered when no change has been seen in it for the
debounce time (default 250 ms), so an ``rsync`` of many files is one
deploy, and the registry's all-or-nothing rule decides what serves.

.. warning::
   Polling stats every tenant's files once a second; with thousands of
   tenants it costs real CPU. inotify's per-user watch limit
   (``fs.inotify.max_user_watches``) must exceed the number of folders.
"""

from __future__ import annotations

import errno
import logging
import os
import time

import gevent
from gevent.socket import wait_read

log = logging.getLogger("muxserver.watcher")

try:
    import inotify_simple
except ImportError:  # pragma: no cover - depends on the platform
    inotify_simple = None


class WatchLimitReached(OSError):
    """inotify's per-user watch limit is lower than the number of folders."""


class _Debouncer:
    """Tenants with changes, and when each last changed."""

    def __init__(self, delay_s: float):
        self.delay_s = delay_s
        self.pending: dict[str, float] = {}

    def touch(self, tenant: str, now: float) -> None:
        self.pending[tenant] = now

    def due(self, now: float) -> list[str]:
        ready = [t for t, at in self.pending.items() if now - at >= self.delay_s]
        for tenant in ready:
            del self.pending[tenant]
        return ready


class StatWatcher:
    """Polls file stats of every tenant; ``run_step()`` is one poll."""

    kind = "polling"

    def __init__(self, app, interval: float = 1.0):
        self.app = app
        self.root = str(app.config.tenants_dir)
        self.interval = interval
        self.debounce = _Debouncer(app.config.debounce_ms / 1000)
        self._snapshot = self._take()
        self._greenlet = None

    def _take(self) -> dict[str, tuple]:
        snap = {}
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            rel = os.path.relpath(dirpath, self.root)
            tenant = rel.split(os.sep, 1)[0]
            if tenant == ".":
                for d in dirnames:
                    snap.setdefault(d, ())
                continue
            entries = []
            for name in filenames:
                try:
                    st = os.lstat(os.path.join(dirpath, name))
                except OSError:
                    continue
                entries.append((rel, name, st.st_mtime_ns, st.st_size))
            snap[tenant] = snap.get(tenant, ()) + tuple(entries)
        return snap

    def run_step(self, now: float | None = None) -> list[str]:
        now = time.monotonic() if now is None else now
        new = self._take()
        for tenant in set(new) | set(self._snapshot):
            if new.get(tenant) != self._snapshot.get(tenant):
                self.debounce.touch(tenant, now)
        self._snapshot = new
        return self._apply(self.debounce.due(now))

    def _apply(self, tenants: list[str]) -> list[str]:
        for tenant in tenants:
            self.app.redeploy(tenant)
        return tenants

    def run(self) -> None:
        while True:
            gevent.sleep(min(self.interval, self.debounce.delay_s or self.interval))
            try:
                self.run_step()
            except Exception:
                log.exception("watch step failed")

    def start(self):
        self._greenlet = gevent.spawn(self.run)
        return self

    def stop(self) -> None:
        if self._greenlet is not None:
            self._greenlet.kill()


class InotifyWatcher(StatWatcher):
    """inotify on every folder of the tenants dir."""

    kind = "inotify"
    _MASK = 0

    def __init__(self, app):
        self.app = app
        self.root = str(app.config.tenants_dir)
        self.debounce = _Debouncer(app.config.debounce_ms / 1000)
        flags = inotify_simple.flags
        self._MASK = (
            flags.CREATE | flags.DELETE | flags.MODIFY | flags.CLOSE_WRITE | flags.MOVED_FROM
            | flags.MOVED_TO | flags.ATTRIB | flags.DELETE_SELF | flags.MOVE_SELF
        )
        self._inotify = inotify_simple.INotify(nonblocking=True)
        self._paths: dict[int, str] = {}
        self._greenlet = None
        self._started = False
        self._warned_limit = False
        try:
            self._watch_tree(self.root)
        except WatchLimitReached:
            self._inotify.close()
            raise
        self._started = True

    def _watch(self, path: str) -> None:
        try:
            wd = self._inotify.add_watch(path, self._MASK)
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                if self._started:
                    if not self._warned_limit:
                        self._warned_limit = True
                        log.error("inotify watch limit reached; new folders are not watched. "
                                  "Raise fs.inotify.max_user_watches or restart to poll.")
                    return
                raise WatchLimitReached(str(exc)) from None
            if exc.errno != errno.ENOENT:  # a folder removed while we walked is fine
                log.warning("cannot watch %s: %s", path, exc.strerror)
            return
        self._paths[wd] = path

    def _watch_tree(self, top: str) -> None:
        self._watch(top)
        for dirpath, dirnames, _ in os.walk(top):
            dirnames[:] = [d for d in dirnames if not d.startswith(".") or dirpath != self.root]
            for d in dirnames:
                self._watch(os.path.join(dirpath, d))

    def _tenant_of(self, path: str) -> str | None:
        rel = os.path.relpath(path, self.root)
        if rel == ".":
            return None
        return rel.split(os.sep, 1)[0]

    def run_step(self, now: float | None = None) -> list[str]:
        now = time.monotonic() if now is None else now
        flags = inotify_simple.flags
        for event in self._inotify.read(timeout=0):
            base = self._paths.get(event.wd)
            if base is None:
                continue
            path = os.path.join(base, event.name) if event.name else base
            if event.mask & flags.IGNORED:
                self._paths.pop(event.wd, None)
                continue
            if event.mask & flags.ISDIR and event.mask & (flags.CREATE | flags.MOVED_TO):
                self._watch_tree(path)
            tenant = self._tenant_of(path)
            if tenant is None or tenant.startswith("."):
                continue
            self.debounce.touch(tenant, now)
        return self._apply(self.debounce.due(now))

    def run(self) -> None:
        delay = max(0.01, self.debounce.delay_s / 2)
        while True:
            try:
                wait_read(self._inotify.fileno(), timeout=delay if self.debounce.pending else None)
            except Exception:  # gevent raises socket.timeout on timeout
                pass
            try:
                self.run_step()
            except Exception:
                log.exception("watch step failed")

    def stop(self) -> None:
        super().stop()
        self._inotify.close()


def start_watcher(app):
    """Start the best watcher this platform has; log which.

    ``--watch-poll`` skips inotify: on a volume shared between hosts (NFS, a
    Kubernetes ReadWriteMany claim), inotify sees only this host's writes.
    Polling walks the tenants dir's modification times every second, so new
    code answers within about 1 s plus the debounce.
    """
    if inotify_simple is not None and not app.config.watch_poll:
        try:
            watcher = InotifyWatcher(app).start()
            log.info("watching %s with inotify (debounce %d ms)", app.config.tenants_dir,
                     app.config.debounce_ms)
            return watcher
        except OSError as exc:  # WatchLimitReached, or no inotify in this kernel
            log.warning("inotify unavailable (%s); falling back to polling", exc)
    watcher = StatWatcher(app).start()
    log.info("watching %s by polling every 1 s (debounce %d ms)", app.config.tenants_dir,
             app.config.debounce_ms)
    return watcher

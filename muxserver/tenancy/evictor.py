"""Scale to zero inside one process: evict idle and least recently used modules.

:func:`sweep` is a pure decision over the warm modules and a clock, so it
is tested with an injected ``now``; :class:`Evictor` runs it periodically in
a greenlet and gives memory back to the OS after evicting.
"""

from __future__ import annotations

import logging
import time

import gevent

from muxserver.ops.collector import collector
from muxserver.ops.memory import release_memory
from sandbox.limits import rss_bytes

log = logging.getLogger("muxserver.evictor")


def idle_modules(modules, now: float, idle_ttl: float) -> list:
    """Warm modules unused for longer than ``idle_ttl`` seconds at ``now``."""
    return [m for m in modules if now - m.last_used > idle_ttl]


def lru_order(modules) -> list:
    """Warm modules, least recently used first."""
    return sorted(modules, key=lambda m: m.last_used)


class Evictor:
    """Evicts by idle time and by memory, every ``interval`` seconds.

    :param app: the MuxApp whose registry holds the modules.
    """

    def __init__(self, app, interval: float | None = None):
        self.app = app
        config = app.config
        self.idle_ttl = config.idle_ttl
        self.memory_limit = config.memory_limit * 2**20 if config.memory_limit else None
        self.interval = interval or max(0.05, min(1.0, self.idle_ttl / 4))
        self._greenlet = None

    def sweep(self, now: float | None = None) -> int:
        """One pass: evict idle modules, then LRU ones while over the memory
        limit. Returns how many modules were evicted."""
        now = time.monotonic() if now is None else now
        registry = self.app.registry
        count = 0
        for module in idle_modules(registry.warm_modules(), now, self.idle_ttl):
            count += registry.evict(module.tenant, module.endpoint, reason="idle")
        if self.app.processes is not None:
            # Process tenants scale to zero too (muxserver.proctier).
            self.app.processes.sweep(now, self.idle_ttl)
        if count:
            release_memory(force=True)
            self.app.metrics.warm_modules.set(len(registry.warm_modules()))
        return count + self.shed_memory()

    def shed_memory(self) -> int:
        """Over ``--memory-limit``, evict least recently used modules until the
        process is back under 90 % of it. Called by every sweep and before
        every cold start. Returns how many modules were evicted."""
        if not self.memory_limit or rss_bytes() <= self.memory_limit:
            return 0
        if collector.frozen:
            # What is over the limit may be garbage the collector froze.
            release_memory(force=True)
            if rss_bytes() <= self.memory_limit:
                return 0
        registry = self.app.registry
        target = self.memory_limit * 0.9
        count = 0
        for module in lru_order(registry.warm_modules()):
            count += registry.evict(module.tenant, module.endpoint, reason="memory")
            release_memory(force=True)
            if rss_bytes() <= target:
                break
        if count:
            self.app.metrics.warm_modules.set(len(registry.warm_modules()))
            log.info("over the memory limit: evicted %d modules", count)
        return count

    def run(self) -> None:
        while True:
            gevent.sleep(self.interval)
            try:
                self.sweep()
            except Exception:
                log.exception("eviction sweep failed")

    def start(self) -> None:
        self._greenlet = gevent.spawn(self.run)

    def stop(self) -> None:
        if self._greenlet is not None:
            self._greenlet.kill()

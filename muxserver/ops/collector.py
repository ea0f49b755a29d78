"""The serving process's garbage collection, scheduled between requests.

Automatic collection is off in a serving process (:mod:`muxserver.process`):
the collector runs tenant finalizers, and would run them inside whatever
request allocated last. :class:`Collector` does what CPython's collector
would, by the same generation thresholds, from a greenlet of its own — with
one difference, for big values.

A collection walks every item of every container in the generations it
collects while the whole process waits: a young collection beside twenty
requests each holding a list of two million items took 55–150 ms, the p99
of every calm tenant of the process. So while a request that built a big
value (:func:`sandbox.limits.take_big_budgets`) is still in flight, switched
out mid-call, collections wait for a step without one (a finished
request's big values are garbage a young collection frees then); after
:data:`WAIT_FOR_BIG_S` the step *freezes* instead (``gc.freeze()``,
constant time): every object tracked so far, the big values with them,
leaves the collector's sight, and later collections walk only what was
made after. Frozen objects
are not lost, only not collected yet: the next :meth:`Collector.step` with
no request in flight (a *thaw*, ``gc.unfreeze()`` and a full collection)
collects them, and so does any step once :data:`FROZEN_MAX_S` have passed,
or — at most every :data:`THAW_EVERY_S` — once the process's RSS reached
``--memory-limit`` (without one: grew :data:`FROZEN_GROWTH_BYTES` since the
freeze). So a tenant that builds big values to keep its garbage frozen
holds at most that much, for at most that long; before evicting anyone for
memory the evictor collects frozen garbage first
(:meth:`muxserver.tenancy.evictor.Evictor.shed_memory`). (Requests' big
values in flight are not garbage but count in RSS: twenty requests each
holding a 16 MB list are 320 MB the collector could not free, so a growth
bound lower than the operator's limit would force the walk it is there to
avoid.)

Finalizers of frozen garbage (a generator's ``finally``) run at the thaw,
up to a minute late, each tenant's on its own orphan budget
(:func:`sandbox.limits.orphan`): one tenant's endless ``finally`` cannot
stop another's.

.. warning::
   A thaw that pressure forces, with requests in flight, walks their big
   values as any full collection would (150 ms beside twenty 2-million-item
   lists). Only a busy process that never idles for :data:`FROZEN_MAX_S`,
   or one whose garbage grows fast, pays it.
"""

from __future__ import annotations

import gc
import time

from sandbox import limits

#: A full collection walks every object of the process — and every item of
#: every big list in flight: 155 ms with abusers' lists of 2 million items,
#: the calm tenants' p99. So it waits for a moment with no request in flight,
#: for at most this long (CPython's collector spaces full collections too:
#: until the survivors since the last one are a quarter of the heap).
FULL_GC_WAIT_S = 30.0
#: ...and runs at most this often when the process is idle.
FULL_GC_EVERY_S = 5.0
#: While a request in flight has built a big value, collections wait up to
#: this long for a step with none in flight, then the step freezes.
WAIT_FOR_BIG_S = 1.0
#: Frozen garbage is collected at the first idle step at least this long
#: after the last full collection (and under memory pressure at most this
#: often: one such collection walked 35 ms of host objects, and at every
#: idle moment of a busy process it was the calm tenants' p99),
THAW_EVERY_S = 5.0
#: ...or, idle or not, this long after the first freeze,
FROZEN_MAX_S = 60.0
#: ...or when the process's RSS reached ``--memory-limit``, or without one
#: grew this much since then.
FROZEN_GROWTH_BYTES = 2**30


class Collector:
    """CPython's generational collection, one :meth:`step` at a time.

    :param rss: reads the process's resident memory in bytes.
    """

    def __init__(self, rss=limits.rss_bytes):
        self.rss = rss
        #: RSS (bytes) at which frozen garbage is collected, or ``None``:
        #: :data:`FROZEN_GROWTH_BYTES` above the RSS at the freeze.
        self.memory_limit: int | None = None
        self.thresholds = gc.get_threshold()
        self.last_full = time.monotonic()
        #: In-flight requests that built big values, and since when the
        #: collection waits for them (see :data:`WAIT_FOR_BIG_S`).
        self.makers: list = []
        self.waiting_since: float | None = None
        #: When the first freeze since the last thaw happened, or ``None``.
        self.frozen_at: float | None = None
        self.rss_at_freeze = 0

    def step(self, idle: bool, now: float | None = None) -> str | None:
        """Collect (or freeze) what is due.

        :param idle: whether no request is in flight.
        :return: what ran — ``"thaw"``, ``"freeze"``, ``"full"``,
            ``"middle"``, ``"young"`` — or ``None``.
        """
        now = time.monotonic() if now is None else now
        since_full = now - self.last_full
        if self.frozen_at is not None and (
                now - self.frozen_at >= FROZEN_MAX_S
                or (since_full >= THAW_EVERY_S and (idle or self.rss() >= self._thaw_rss()))):
            self.collect_all(now)
            return "thaw"
        # Requests in flight (switched out mid-call) that built big values:
        # a collection now would walk them.
        self.makers = [b for b in (*self.makers, *limits.take_big_budgets()) if b.charges > 0]
        if self.makers:
            if self.waiting_since is None:
                self.waiting_since = now
            if now - self.waiting_since < WAIT_FOR_BIG_S:
                # Wait for a step with none of them in flight: a finished
                # request's big value is garbage (often in a cycle with its
                # traceback) that a young collection frees then. Freezing
                # at once froze it too: a tenant raising errors over 8 MB
                # lists 60 times a second froze 500 MB a second, and the
                # thaw held the process 1.3 s.
                return None
            gc.freeze()  # still in flight after the wait: out of sight
            self.makers = []
            self.waiting_since = None
            if self.frozen_at is None:
                self.frozen_at = now
                self.rss_at_freeze = self.rss()
            return "freeze"
        self.waiting_since = None
        threshold0, threshold1, threshold2 = self.thresholds
        count0, count1, count2 = gc.get_count()
        if count2 > threshold2 and since_full >= (FULL_GC_EVERY_S if idle else FULL_GC_WAIT_S):
            gc.collect(2)
            self.last_full = now
            return "full"
        if count1 > threshold1 or count2 > threshold2:
            gc.collect(1)
            return "middle"
        if count0 > threshold0:
            gc.collect(0)
            return "young"
        return None

    @property
    def frozen(self) -> bool:
        """Whether objects this collector froze wait for a thaw."""
        return self.frozen_at is not None

    def _thaw_rss(self) -> int:
        if self.memory_limit:
            return self.memory_limit
        return self.rss_at_freeze + FROZEN_GROWTH_BYTES

    def collect_all(self, now: float | None = None) -> None:
        """A full collection of everything, frozen objects included (an
        eviction's unloaded modules may be among them)."""
        if self.frozen_at is not None:
            gc.unfreeze()
            self.frozen_at = None
        gc.collect()
        self.last_full = time.monotonic() if now is None else now


#: The process's collector (one per process: gc.freeze() is process-wide).
collector = Collector()

"""Sharing the CPU between tenants, not between requests.

Under gevent one greenlet runs at a time, and a greenlet that computes never
gives the CPU back by itself. The sandbox's checks are preemption points:
after :data:`sandbox.limits.SLICE_S` of CPU (5 ms) a request reaches
:meth:`FairShare.end_slice`, which makes it give way.

Short requests — nearly every request of a calm tenant — finish inside their
first slice and never wait here. A request that needs more than one slice
must take *the turn* for each further slice, and only one such request runs
at a time. So whatever the number of long requests in flight, a short one
waits at most one slice behind them. When the turn is free again, it goes to
the waiting request whose tenant used the least CPU recently (decayed over
:data:`DECAY_S`), so a tenant with twenty requests in flight gets the same
share as a tenant with one, not twenty times more. A request still gets all
of its ``cpu_ms``; it waits longer for it when the server is busy.

.. warning::
   Only checks can preempt: one long C call that no check interrupts runs to
   its end (the guards bound those calls before they start).
"""

from __future__ import annotations

import heapq
import itertools
import math
import time

import gevent
from gevent.event import Event

from muxserver.offload import Offloader
from sandbox import limits

#: How fast a tenant's recent CPU use is forgotten (time constant).
DECAY_S = 1.0
#: CPU a request may use without being counted in its tenant's share.
UNCOUNTED_S = 0.0005
#: Usage is decayed at most this often per tenant (cheap on the request path).
DECAY_STEP_S = 0.05
#: A tenant that used more than this CPU recently is *busy*: its next
#: requests wait for the turn before their first slice too.
BUSY_S = 0.02


class FairShare:
    """The turn that long requests take one at a time, by tenant usage."""

    def __init__(self):
        #: tenant -> (decayed CPU seconds, when it was last updated)
        self.usage: dict[str, tuple[float, float]] = {}
        self.holder = None
        self._waiting: list = []  # heap of (usage, seq, budget, event)
        self._check = self._idle = None
        self._seq = itertools.count()
        self._threads = None
        #: Set by :meth:`install` (the serving process); off, nothing is shared.
        self.installed = False

    def recent_usage(self, group: str, now: float | None = None) -> float:
        entry = self.usage.get(group)
        if entry is None:
            return 0.0
        value, at = entry
        now = time.monotonic() if now is None else now
        return value * math.exp(-(now - at) / DECAY_S)

    def _charge(self, group: str, seconds: float) -> None:
        now = time.monotonic()
        entry = self.usage.get(group)
        if entry is not None and now - entry[1] < DECAY_STEP_S:
            # On the hot path (every request), decay at most every step.
            self.usage[group] = (entry[0] + seconds, entry[1])
            return
        self.usage[group] = (self.recent_usage(group, now) + seconds, now)
        if len(self.usage) > 10_000:  # forget tenants that have gone quiet
            self.usage = {g: v for g, v in self.usage.items() if now - v[1] < 10 * DECAY_S}

    # -- hooks the sandbox calls --------------------------------------------

    def _count(self, budget) -> None:
        used = budget.cpu_seconds()  # no clock read when the budget is paused
        self._charge(budget.group, used - budget.shared_cpu)
        budget.shared_cpu = used

    def admit(self, budget) -> None:
        """Before a request of ``budget``'s tenant starts: a busy tenant waits
        for the turn, so its new requests cannot crowd calm tenants out."""
        if not self.installed:
            return
        entry = self.usage.get(budget.group)
        # Undecayed usage under the mark: not busy, without computing the decay.
        if entry is not None and entry[0] > BUSY_S and self.recent_usage(budget.group) > BUSY_S:
            self._take(budget)

    def finish(self, budget) -> None:
        """After tenant code of ``budget`` ran: count its CPU, free the turn.

        A request that used less than :data:`UNCOUNTED_S` is not counted:
        it never held anyone up, and the request path stays cheap.
        """
        if self.installed:
            if budget.cpu_seconds() - budget.shared_cpu > UNCOUNTED_S:
                self._count(budget)
            if budget.holds_turn:
                self.release(budget)

    def end_slice(self, budget) -> None:
        """Called from tenant code when ``budget`` has run a whole slice."""
        self._count(budget)
        # Give the turn up without handing it on yet: the next long request
        # gets it only once the loop has polled for I/O, so a short request
        # that arrived meanwhile runs before the next slice, never behind a
        # chain of them. (sleep(0) would let ready callbacks run, not I/O.)
        self.release(budget, hand_over=False)
        self._take(budget, at_once=False)

    def on_pause(self, budget) -> None:
        """``budget`` switched out while holding the turn (it waits on I/O or
        sleeps): the turn goes to the next request meanwhile."""
        self.release(budget)

    # -- the turn -------------------------------------------------------------

    def _take(self, budget, at_once: bool = True) -> None:
        """Wait for the turn.

        :param at_once: take a free turn without waiting (a request starting);
            False after a slice: the turn is granted by :meth:`_dispatch`
            when the loop is idle, so it polls for I/O between any two slices.
        """
        if at_once and self.holder is None and not self._waiting:
            self.holder = budget
            budget.holds_turn = True
            return
        event = Event()
        heapq.heappush(self._waiting, (self.recent_usage(budget.group), next(self._seq), budget,
                                       event))
        self._schedule_dispatch()
        try:
            event.wait()
        except BaseException:
            # Stopped while waiting (wall time): leave the queue or pass the turn on.
            if self.holder is budget:
                self.release(budget)
            else:
                self._waiting = [e for e in self._waiting if e[2] is not budget]
                heapq.heapify(self._waiting)
            raise

    def _schedule_dispatch(self) -> None:
        # A check watcher runs once per loop iteration, right after the poll
        # for I/O; an active idle watcher makes that poll not block (it has
        # nothing to do itself), so no CPU is left unused between slices.
        if self._check is None:
            loop = gevent.get_hub().loop
            self._check, self._idle = loop.check(), loop.idle()
        if not self._check.active:
            self._check.start(self._dispatch)
            self._idle.start(_nothing)

    def _dispatch(self) -> None:
        """In the hub, after the loop polled for I/O: hand a free turn on."""
        self._check.stop()
        self._idle.stop()
        if self.holder is None:
            self._grant_next()

    def release(self, budget, hand_over: bool = True) -> None:
        """``budget`` gives the turn up (its slice ended, it paused, it ended).

        :param hand_over: grant it to the next waiter now.
        """
        if self.holder is budget:
            budget.holds_turn = False
            self.holder = None
            if hand_over:
                self._schedule_dispatch()

    def _grant_next(self) -> None:
        while self._waiting and self.holder is None:
            _, _, budget, event = heapq.heappop(self._waiting)
            if budget.killed is not None and not event.is_set():
                # Its request is over: wake it to finish, without the turn.
                event.set()
                continue
            self.holder = budget
            budget.holds_turn = True
            event.set()

    # -- long C calls ------------------------------------------------------------

    def offload(self, call, seconds, interruptible=True):
        """Run one long C call (a regular expression past its first slice, a
        password hash) in a worker thread, in turns by tenant
        (:mod:`muxserver.offload`)."""
        if self._threads is None:
            self._threads = Offloader()
        return self._threads(call, seconds, interruptible)

    def install(self) -> "FairShare":
        limits.set_slice_hooks(self.end_slice, self.on_pause)
        limits.set_offload_hook(self.offload)
        self.installed = True
        return self


def _nothing() -> None:
    pass


#: The process's scheduler.
fair_share = FairShare()

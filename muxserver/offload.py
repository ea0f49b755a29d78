"""Long C calls off the hub, shared fairly between tenants.

A regular expression that needs more than one slice
(:mod:`sandbox.facades.timed_re`) cannot run in the hub: no tick interrupts
it. It runs in a worker thread, with the GIL released, while the process
serves the others. One shared thread made one tenant's flood everyone's
queue: another tenant's 50 ms match waited 9.5 s behind it and was then
killed for a CPU overrun it never ran (issue 23). Here:

* **Turns by tenant.** Calls wait in a queue ordered by how much thread
  time their tenant used recently (decayed over
  :data:`muxserver.fairshare.DECAY_S`), not by arrival, so a tenant with one
  call goes before a tenant with twenty.
* **Short turns first.** A call runs first for at most :data:`FIRST_TURN_S`
  in the *short lane*; one that needs longer starts again, from the
  beginning (a regular expression cannot be paused), in the *long lane*
  with twice the time each turn, up to what its request has left. A long
  call never holds the short lane, so a calm tenant's short match waits at
  most one short turn.
* **Only running counts.** The request is charged the thread CPU time of
  its turns, never the time it waited for one.
* A call that cannot be interrupted (a password hash, bounded before it
  is offloaded) runs whole in the long lane.

.. warning::
   A call restarted in the long lane repeats the work of its earlier turns
   (at most as much again, as the turns double).
"""

from __future__ import annotations

import heapq
import itertools
import math
import time

import gevent
from gevent.event import AsyncResult
from gevent.event import Event

from sandbox import limits

#: The first turn of a call, in the short lane.
FIRST_TURN_S = 0.05
#: How fast a tenant's recent use of the threads is forgotten.
DECAY_S = 1.0


def _measured(call, timeout):
    """In the worker thread: ``(ok, value, thread seconds)``."""
    started = time.thread_time()
    try:
        value = call(timeout)
        ok = True
    except Exception as exc:  # returned, not raised: the pool would print it
        value, ok = exc, False
    return ok, value, time.thread_time() - started


class _Lane:
    """One worker thread and the calls waiting for it, best first."""

    def __init__(self, name: str, usage):
        self.name = name
        self._usage = usage
        self._waiting: list = []
        self._seq = itertools.count()
        self._wake = Event()
        self._pool = None
        self._runner = None

    def run(self, group: str, call, timeout: float):
        """Run ``call(timeout)`` in this lane's thread when it is the group's
        turn; return ``(ok, value, thread seconds)``."""
        result = AsyncResult()
        heapq.heappush(self._waiting, (self._usage(group), next(self._seq), call, timeout, result))
        self._wake.set()
        if self._runner is None or self._runner.dead:
            self._runner = gevent.spawn(self._serve)
        return result.get()

    def _serve(self) -> None:
        from gevent.threadpool import ThreadPool

        if self._pool is None:
            self._pool = ThreadPool(1)
        while True:
            while not self._waiting:
                self._wake.clear()
                self._wake.wait()
            _, _, call, timeout, result = heapq.heappop(self._waiting)
            try:
                result.set(self._pool.apply(_measured, (call, timeout)))
            except BaseException as exc:  # the pool itself failed: tell the caller
                result.set((False, exc, 0.0))


class Offloader:
    """The host's :func:`sandbox.limits.offload` hook (see the module doc)."""

    def __init__(self):
        #: group -> (decayed thread seconds, when)
        self.usage: dict[str, tuple[float, float]] = {}
        self.short = _Lane("short", self.recent_usage)
        self.long = _Lane("long", self.recent_usage)

    def recent_usage(self, group: str) -> float:
        entry = self.usage.get(group)
        if entry is None:
            return 0.0
        value, at = entry
        return value * math.exp(-(time.monotonic() - at) / DECAY_S)

    def _charge(self, group: str, seconds: float) -> None:
        self.usage[group] = (self.recent_usage(group) + seconds, time.monotonic())
        if len(self.usage) > 10_000:
            now = time.monotonic()
            self.usage = {g: v for g, v in self.usage.items() if now - v[1] < 10 * DECAY_S}

    def __call__(self, call, seconds: float, interruptible: bool = True):
        budget = limits.current()
        group = budget.group if budget is not None else ""
        lane, turn = self.short, FIRST_TURN_S
        if not interruptible:
            lane, turn = self.long, seconds  # runs whole: never in the short lane
        while True:
            left = budget.remaining_seconds(seconds) if budget is not None else seconds
            timeout = max(0.001, min(turn, left))
            ok, value, ran = lane.run(group, call, timeout)
            self._charge(group, ran)
            if budget is not None:
                budget.cpu_used += ran
            if ok:
                return value
            if not isinstance(value, TimeoutError) or timeout >= left:
                raise value
            lane, turn = self.long, turn * 2
            seconds = left - ran

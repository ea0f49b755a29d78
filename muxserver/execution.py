"""Run tenant code under a request's limits: one way, used everywhere.

CPU and memory are charged by :func:`sandbox.charged` and enforced by the
ticks; wall time also needs a :class:`gevent.Timeout`, because a greenlet
blocked in ``time.sleep`` or on a socket does not tick. The timeout raises
:class:`~sandbox.LimitExceeded` itself, and the budget's wall deadline makes
every later tick raise again, so catching it does not help tenant code.
"""

from __future__ import annotations

import time

import gevent

from sandbox import Budget
from sandbox import LimitExceeded
from sandbox import charged


def budget_for(limits) -> Budget:
    """A fresh budget from a tenant's :class:`~muxserver.config.Limits`."""
    return Budget(
        cpu_s=limits.cpu_ms / 1000.0,
        wall_s=limits.wall_s,
        memory_bytes=limits.memory_mb * 2**20,
    )


def run_limited(budget: Budget, func, *args, **kwargs):
    """Call ``func`` charged to ``budget``; raise LimitExceeded if it went over.

    The result is returned only if the budget is still alive afterwards:
    tenant code that swallowed the stop (a context manager whose
    ``__exit__`` returns true) does not get its value sent.
    """
    with charged(budget):
        timer = None
        if budget.wall_deadline is not None:
            remaining = max(0.0, budget.wall_deadline - time.monotonic())
            timer = gevent.Timeout(
                remaining,
                LimitExceeded("wall", f"wall time limit exceeded ({budget.wall_s:g} s)"),
            )
            timer.start()
        try:
            result = func(*args, **kwargs)
        except LimitExceeded as exc:
            budget.kill(exc.kind, exc.message)
            raise
        finally:
            if timer is not None:
                timer.close()
    if budget.killed is not None:
        raise LimitExceeded(budget.killed.kind, budget.killed.message)
    return result

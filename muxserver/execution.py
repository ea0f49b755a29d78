"""Run tenant code under a request's limits: one way, used everywhere.

CPU and memory are charged by :func:`sandbox.charged` and enforced by the
ticks. Wall time also needs someone outside the request: a greenlet blocked
in ``time.sleep`` or on a socket does not tick. One watcher greenlet looks at
the requests in flight every :data:`WALL_CHECK_S` and throws
:class:`~sandbox.LimitExceeded` into any that is past its wall deadline;
the budget's deadline then makes every later tick raise again, so catching
it does not help tenant code. (One watcher instead of a ``gevent.Timeout``
per request keeps a libev timer off the hot path.)

.. warning::
   Wall time is enforced to within :data:`WALL_CHECK_S`.
"""

from __future__ import annotations

import time
from functools import partial

import gevent
from werkzeug.exceptions import HTTPException

from muxserver.errors import ClientError
from muxserver.errors import LimitStopped
from sandbox import Budget
from sandbox import LimitExceeded
from sandbox import charged
from sandbox import limits

from muxserver.fairshare import fair_share

#: How often the wall-time watcher looks at requests in flight.
WALL_CHECK_S = 0.02

_watcher = None


def budget_for(limits_, tenant: str, label: str) -> Budget:
    """A fresh budget from a tenant's :class:`~muxserver.config.Limits`.

    :param tenant: whose CPU share it counts against (:mod:`muxserver.fairshare`).
    :param label: what watchdogs and logs name it by.
    """
    budget = Budget(
        cpu_s=limits_.cpu_ms / 1000.0,
        wall_s=limits_.wall_s,
        memory_bytes=limits_.memory_mb * 2**20,
    )
    budget.group = tenant
    budget.label = label
    return budget


def _throw_if_still_waiting(glet, budget) -> None:
    # Runs in the hub: the greenlet is parked. It may have finished that
    # request and started another since the check; throw only into the
    # request that is over.
    if limits.budget_of(glet) is budget and not glet.dead:
        glet.throw(LimitExceeded(budget.killed.kind, budget.killed.message))


def _watch_wall_time() -> None:
    hub = gevent.get_hub()
    while True:
        gevent.sleep(WALL_CHECK_S)
        now = time.monotonic()
        for glet, budget in limits.running_budgets():
            deadline = budget.wall_deadline
            if deadline is not None and now > deadline and not budget.running:
                budget.kill_wall()
                hub.loop.run_callback(_throw_if_still_waiting, glet, budget)


def _ensure_watcher() -> None:
    global _watcher
    if _watcher is None or _watcher.dead:
        _watcher = gevent.spawn(_watch_wall_time)


def run_limited(budget: Budget, func, *args, **kwargs):
    """Call ``func`` charged to ``budget``; raise :class:`~muxserver.errors.LimitStopped`
    if it went over.

    This is the edge where tenant code returns to the host, so the signals
    that cross it are translated into the server's error tree here: a stop
    (:class:`sandbox.LimitExceeded`, a BaseException so tenant code cannot
    catch it) becomes :class:`~muxserver.errors.LimitStopped`, and werkzeug's
    errors about the request (bad JSON, a form over the body limit) become
    :class:`~muxserver.errors.ClientError`.

    The result is returned only if the budget is still alive afterwards —
    judged by the clocks, not only by the kill flag: one long call into host
    code that no tick interrupted (a pure-Python standard function, a big C
    call) may have gone over without anything noticing, and tenant code may
    have swallowed the stop (a context manager whose ``__exit__`` returns
    true). Such a request never answers 200.
    """
    if budget.wall_deadline is not None and (_watcher is None or _watcher.dead):
        _ensure_watcher()
    fair_share.admit(budget)
    try:
        if kwargs:
            return _run_charged(budget, partial(func, **kwargs), *args)
        return _run_charged(budget, func, *args)
    except LimitExceeded as exc:
        raise LimitStopped(exc.kind, exc.message, budget.group or None) from None
    except HTTPException as exc:
        raise ClientError(exc.description or exc.name, exc.code or 400) from None
    finally:
        fair_share.finish(budget)


def _run_charged(budget: Budget, func, *args):
    with charged(budget):
        try:
            result = func(*args)
        except LimitExceeded as exc:
            budget.kill(exc.kind, exc.message)
            raise
        except BaseException:
            if budget.killed is not None:
                # The stop was caught on the way (traceback formatting
                # swallows exceptions from __str__); the limit is the answer.
                raise LimitExceeded(budget.killed.kind, budget.killed.message) from None
            raise
    # The budget is paused now, its CPU counted: look at the clocks without
    # reading them again.
    budget.check_clocks()
    return result

"""Iteration: every loop ticks the budget.

Every iteration goes through :class:`TickingIter`, which ticks the budget
and puts a Python frame between nested iterators, so chains of generators
end in a clean ``RecursionError`` instead of overflowing the C stack.
"""

from __future__ import annotations

import operator

from sandbox import limits


class TickingIter:  # declared in sandbox.guards.builtins: offers nothing
    """An iterator that ticks the budget on every item.

    Tenant code gets one of these from every ``for``, comprehension,
    ``iter()``, ``map()`` ..., and the host's facades wrap their lazy results
    (``itertools.count()``) in one. A C function that consumes it
    (``sum``, ``list``, ``deque``) calls back into Python for each item, so
    the tick can stop it.
    """

    __slots__ = ("_it",)

    def __init__(self, iterable):
        self._it = iter(iterable)

    def __iter__(self):
        return self

    def __next__(self):
        budget = limits._current
        if budget is not None:
            budget.countdown -= 1
            if budget.countdown <= 0 or budget.killed is not None:
                budget.check()
        else:
            limits.tick()  # outside any request: the orphan budget
        return next(self._it)

    def __length_hint__(self):
        return operator.length_hint(self._it)


def guarded_iter(obj):
    """``_getiter_``: iterate ``obj`` through a :class:`TickingIter`."""
    if type(obj) is TickingIter:
        return obj
    return TickingIter(obj)

"""Facades for iteration and functions: itertools, functools, operator,
collections, heapq, bisect."""

from __future__ import annotations

import bisect
import collections
import collections.abc
import functools
import heapq
import itertools
import operator

from sandbox import guards
from sandbox.facades.base import cap
from sandbox.facades.base import pick
from sandbox.facades.base import ticking_call
from sandbox.guards import SandboxError
from sandbox.guards import TickingIter
from sandbox.guards import guarded_getattr
from sandbox.guards import guarded_iter
from sandbox.guards import ticking_over_inputs
from sandbox.guards.operators import guarded_add
from sandbox.guards.operators import guarded_floordiv
from sandbox.guards.operators import guarded_sub
from sandbox.guards.operators import guarded_truediv
from sandbox.guards.declared import declare
from sandbox.guards.declared import declare_values
from sandbox.guards.declared import declared
from sandbox.guards.natives import SORT_RUN
from sandbox.guards.natives import sort_in_runs

declare_values(collections.deque, collections.OrderedDict, collections.defaultdict,
               collections.ChainMap, collections.Counter, collections.UserDict,
               collections.UserList, collections.UserString,
               *[getattr(collections.abc, name) for name in collections.abc.__all__])
declare(functools.partial, "func args keywords")
declare(functools.partialmethod, "func args keywords")
declare(type(functools.lru_cache(None)(len)), "cache_clear cache_info cache_parameters")
declare(functools.cached_property, "attrname func")
declare(type(functools.cmp_to_key(len)(0)), "obj")
for _callable in (operator.itemgetter, operator.attrgetter, operator.methodcaller):
    declare(_callable)


@declared("from_iterable")
class Chain:
    """``itertools.chain`` with ``chain.from_iterable``, both ticking."""

    __slots__ = ()

    def __call__(self, *iterables):
        return TickingIter(itertools.chain(*[guarded_iter(i) for i in iterables]))

    def from_iterable(self, iterable):
        return TickingIter(
            itertools.chain.from_iterable(guarded_iter(i) for i in guarded_iter(iterable))
        )


def build_itertools(ctx):
    def repeat(obj, times=None):
        if times is None:
            return TickingIter(itertools.repeat(obj))
        return TickingIter(itertools.repeat(obj, times))

    def tee(iterable, n=2):
        n = cap(n, 1000, "tee n")
        return tuple(TickingIter(t) for t in itertools.tee(guarded_iter(iterable), n))

    def groupby(iterable, key=None):
        return TickingIter(
            (k, TickingIter(group))
            for k, group in itertools.groupby(guarded_iter(iterable), key)
        )

    table = {
        "count": ticking_call(itertools.count),
        "repeat": repeat,
        "cycle": ticking_over_inputs(itertools.cycle),
        "chain": Chain(),
        "tee": tee,
        "groupby": groupby,
    }
    for name in (
        "accumulate compress dropwhile filterfalse islice pairwise starmap "
        "takewhile zip_longest product permutations combinations "
        "combinations_with_replacement"
    ).split():
        func = getattr(itertools, name)
        if name in ("dropwhile", "filterfalse", "takewhile", "starmap"):
            table[name] = (
                lambda f: lambda pred, iterable: TickingIter(f(pred, guarded_iter(iterable)))
            )(func)
        elif name in ("islice", "combinations", "permutations", "combinations_with_replacement"):
            table[name] = (
                lambda f: lambda iterable, *args: TickingIter(f(guarded_iter(iterable), *args))
            )(func)
        else:
            table[name] = ticking_over_inputs(func)

    # Each item of these is a tuple of r (or repeat x inputs) elements, built
    # in C; a huge r makes every item a huge allocation between two ticks.
    def product(*iterables, repeat=1):
        repeat = cap(repeat, MAX_TUPLE_WIDTH, "product repeat")
        cap(repeat * max(1, len(iterables)), MAX_TUPLE_WIDTH, "product width")
        return TickingIter(itertools.product(*[guarded_iter(i) for i in iterables], repeat=repeat))

    def _width_capped(func):
        def wrapped(iterable, r=None, *args):
            r = cap(r, MAX_TUPLE_WIDTH, f"{func.__name__} r")
            pool = tuple(guarded_iter(iterable))
            if r is None:
                cap(len(pool), MAX_TUPLE_WIDTH, f"{func.__name__} width")
                return TickingIter(func(pool))
            return TickingIter(func(pool, r, *args))

        return wrapped

    table["product"] = product
    table["permutations"] = _width_capped(itertools.permutations)
    table["combinations"] = lambda iterable, r: _width_capped(itertools.combinations)(iterable, r)
    table["combinations_with_replacement"] = lambda iterable, r: _width_capped(
        itertools.combinations_with_replacement)(iterable, r)
    return table


#: Widest tuple itertools' combinatoric functions may yield.
MAX_TUPLE_WIDTH = 10_000


def build_functools(ctx):
    # The real update_wrapper copies attributes *named by the caller*
    # (assigned=, updated=) from any object onto the wrapper: assigned=
    # ("__globals__",) handed a host function's globals over. Here the names
    # are fixed, and only plain values are copied.
    def update_wrapper(wrapper, wrapped, assigned=None, updated=None):
        if assigned is not None or updated is not None:
            raise SandboxError("update_wrapper() and wraps() take no assigned= or updated= "
                               "in the sandbox")
        if not guards.is_tenant_function(wrapper):
            raise SandboxError("update_wrapper() can only change functions you defined")
        for name in ("__name__", "__qualname__", "__doc__"):
            value = getattr(wrapped, name, None)
            if type(value) is str:
                setattr(wrapper, name, value)
        if guards.is_tenant_function(wrapped):
            wrapper.__dict__.update(wrapped.__dict__)
        wrapper.__wrapped__ = wrapped
        return wrapper

    def wraps(wrapped, assigned=None, updated=None):
        return lambda wrapper: update_wrapper(wrapper, wrapped, assigned, updated)

    def total_ordering(cls):
        if cls not in guards.TENANT_CLASSES:
            raise SandboxError("total_ordering() can only change classes you defined")
        return functools.total_ordering(cls)

    def reduce(function, iterable, *initial):
        return functools.reduce(function, guarded_iter(iterable), *initial)

    table = pick(functools, "partial partialmethod lru_cache cache cached_property cmp_to_key")
    table.update(
        update_wrapper=update_wrapper,
        wraps=wraps,
        total_ordering=total_ordering,
        reduce=reduce,
    )
    return table


def build_operator(ctx):
    # attrgetter/methodcaller would read attributes without _getattr_, and
    # setitem/delitem would write without _write_: they are rebuilt on the
    # guards. The in-place functions are left out.
    table = pick(
        operator,
        "lt le eq ne ge gt not_ truth is_ is_not abs add and_ floordiv index "
        "inv invert neg or_ pos rshift sub truediv xor concat contains countOf "
        "indexOf getitem itemgetter length_hint matmul",
    )

    def attrgetter(*names):
        def get(obj):
            values = []
            for name in names:
                value = obj
                for part in name.split("."):
                    value = guarded_getattr(value, part)
                values.append(value)
            return values[0] if len(names) == 1 else tuple(values)

        return get

    def methodcaller(name, *args, **kwargs):
        return lambda obj: guarded_getattr(obj, name)(*args, **kwargs)

    def setitem(obj, key, value):
        guards.guarded_write(obj)[key] = value

    def delitem(obj, key):
        del guards.guarded_write(obj)[key]

    table.update(
        attrgetter=attrgetter,
        methodcaller=methodcaller,
        setitem=setitem,
        delitem=delitem,
        mul=guards.guarded_mul,
        add=guarded_add,
        concat=guarded_add,
        sub=guarded_sub,
        truediv=guarded_truediv,
        mod=guards.guarded_mod,
        pow=guards.guarded_pow,
        lshift=guards.guarded_lshift,
        floordiv=guarded_floordiv,
    )
    return table


def build_collections_abc(ctx):
    return {
        name: getattr(collections.abc, name)
        for name in collections.abc.__all__
    }


@declared("elements most_common")
class Counter(collections.Counter):
    """``collections.Counter`` whose ``elements()`` ticks."""

    def elements(self):
        return TickingIter(super().elements())

    def most_common(self, n=None):
        if n is not None or len(self) <= SORT_RUN:
            return super().most_common(n)
        items = list(self.items())
        sort_in_runs(items, key=operator.itemgetter(1), reverse=True)
        return items


def build_collections(ctx):
    def namedtuple(typename, field_names, **kwargs):
        kwargs.pop("module", None)
        if kwargs.get("rename"):
            raise SandboxError("namedtuple(rename=True) is not allowed in the sandbox")
        from sandbox.facades.classes import _check_member_names

        _check_member_names(field_names, "namedtuple()")
        made = collections.namedtuple(typename, field_names, module="mux_tenant", **kwargs)
        # The tenant's class, as a class statement would have made it.
        guards.TENANT_CLASSES.add(made)
        return made

    table = pick(collections, "deque OrderedDict defaultdict ChainMap UserDict UserList UserString")
    table.update(namedtuple=namedtuple, Counter=Counter, abc=ctx.facade("collections.abc"))
    return table


def build_heapq(ctx):
    table = pick(heapq, "heappush heappop heapify heapreplace heappushpop")
    table["nlargest"] = lambda n, iterable, key=None: heapq.nlargest(n, guarded_iter(iterable), key)
    table["nsmallest"] = lambda n, iterable, key=None: heapq.nsmallest(n, guarded_iter(iterable), key)
    table["merge"] = lambda *its, key=None, reverse=False: TickingIter(
        heapq.merge(*[guarded_iter(i) for i in its], key=key, reverse=reverse)
    )
    return table


def build_bisect(ctx):
    return pick(bisect, "bisect bisect_left bisect_right insort insort_left insort_right")

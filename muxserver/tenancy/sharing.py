"""Values many registered tenants hold alike, kept once.

Every registered tenant's spec stays in the supervisor and in each serving
process (issue 26: what a registered tenant costs). Tenants made from one
template have the same route table, the same module references (the code
cache key is the content's hash) and the same module tables: the scanner
hands each of them through :func:`shared`, so a thousand copies of one
template hold one route table (whole tables only: each distinct value
costs a slot in the table of shared values). The serving processes get them shared too:
one snapshot is one pickle, and pickle writes an object once however many
specs refer to it.

Sharing a table requires that nobody changes it: the module tables a scan
leaves are :class:`FrozenMap` (a dict that refuses writes).
"""

from __future__ import annotations

#: Distinct values kept for sharing. Past it the table starts again: sharing
#: saves memory and is never needed, and a long-lived server that saw many
#: versions must not keep them all.
MAX_SHARED = 50_000

_shared: dict = {}


def shared(value):
    """An object equal to ``value``, the same for every equal value handed
    here (``value`` itself the first time). ``value`` must be immutable; an
    unhashable one (a route default that is a list) is returned as it is.

    Each distinct value costs a slot here, so only whole tables (a route
    tuple, a module table) are shared, not their items."""
    try:
        found = _shared.get(value)
    except TypeError:
        return value
    if found is not None:
        return found
    if len(_shared) >= MAX_SHARED:
        _shared.clear()
    _shared[value] = value
    return value


class FrozenMap(dict):
    """A dict that refuses writes, so one can be shared by many specs.

    It pickles as its items (a serving process gets a FrozenMap back).
    """

    __slots__ = ()

    def _refuse(self, *args, **kwargs):
        raise TypeError("a registered version's tables are shared and read-only")

    __setitem__ = __delitem__ = setdefault = update = pop = popitem = clear = _refuse
    __ior__ = _refuse

    def __reduce__(self):
        return FrozenMap, (dict(self),)

    def __hash__(self):
        # Hashable, so a dataclass takes EMPTY_MAP as a field's default (it
        # refuses unhashable, mutable ones); equal maps hash alike.
        return hash(tuple(self.items()))


#: The empty table of every spec that has none.
EMPTY_MAP = FrozenMap()


def frozen_map(items: dict) -> FrozenMap:
    """``items`` as a read-only table, the one object every equal table
    (same items in the same order) uses."""
    if not items:
        return EMPTY_MAP
    table = FrozenMap(items)
    found = shared(table)  # itself when a value is unhashable
    # Equal dicts may differ in order, which iteration shows (their hashes
    # differ, so this is a guard, never a path taken in practice).
    return found if found is table or tuple(found.items()) == tuple(table.items()) else table

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

import hashlib
import io
import pickle

#: Distinct values kept for sharing. Past it the table starts again: sharing
#: saves memory and is never needed, and a long-lived server that saw many
#: versions must not keep them all.
MAX_SHARED = 50_000

_shared: dict = {}


def shared(value, *, exact: bool = False, parts_shared: tuple[str, ...] = ()):
    """An object equal to ``value``, the same for every equal value handed
    here (``value`` itself the first time). ``value`` must be immutable: an
    unhashable one (a route default that is a list) is returned as it is.
    Each distinct value costs a slot here, so only whole tables (a route
    tuple, a module table) are shared, not their items.

    :param exact: match by value *and types* (by pickle, not by ``==``):
        for what holds the tenant's own literals. ``1``, ``True`` and
        ``1.0`` are equal in Python, and a tenant whose route default was
        ``True`` was given the table of a tenant registered before it whose
        default was ``1`` (its view saw ``1``). What cannot be pickled is
        returned as it is.
    :param parts_shared: attributes of ``value`` (a record) that went
        through here already: they are matched by identity, the rest by value
        and types — a record of shared tables costs no second pickle of
        them."""
    try:
        hash(value)
    except TypeError:
        return value
    if parts_shared:
        # A record of tables shared already: those by identity (while a
        # record stays in the table its parts do too, so their ids are not
        # reused meanwhile), the rest by value and types; the key is a
        # digest, so a distinct record costs a slot, not a second record.
        rest = tuple(getattr(value, name) for name in getattr(value, "__slots__", ())
                     if name not in parts_shared)
        key = _identity((type(value).__qualname__, rest,
                         tuple(id(getattr(value, name)) for name in parts_shared)))
    elif exact:
        key = _identity(value)
    else:
        key = value
    if key is None:
        return value
    found = _shared.get(key)
    if found is not None:
        return found
    if len(_shared) >= MAX_SHARED:
        _shared.clear()
    _shared[key] = value
    return value


def _identity(value) -> bytes | None:
    """A digest of ``value``'s pickle without memo (equal values of equal
    types pickle alike however their parts are shared), or None."""
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.fast = True  # no memo: two equal strings are written alike, shared or not
    try:
        pickler.dump(value)
    except (pickle.PicklingError, TypeError, AttributeError, ValueError, RecursionError):
        return None
    return hashlib.blake2b(buffer.getvalue(), digest_size=16).digest()


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

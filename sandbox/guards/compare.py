"""Comparisons that tick: ``==``, ``!=``, ``<``, ``<=``, ``>``, ``>=``, ``in``.

CPython compares two lists in one C call, item by item and into nested
containers, with no tick: ``[a] * 60 == [b] * 60`` over two equal lists of
a million floats is 60 million comparisons in one call (a second held).
The policy rewrites a comparison of tenant code to :func:`guarded_compare`
(``_compare_``), and templates call it too. Numbers and text compare in C
(their cost is linear in what the request holds); exact lists, tuples and
dicts are compared here: runs of plain items in C, a chunk at a time with a
tick between, nested containers recursively — the same answers as CPython
(an item is equal to itself first, the first differing pair decides an
ordering, then the lengths).

.. warning::
   Only exact ``list``, ``tuple`` and ``dict`` are walked; a subclass, a
   ``deque`` or a namedtuple of big nested values compares in C.
   ``list.count``/``index``/``remove`` of a container are guarded
   (:func:`searching`), and so are sorts, ``min`` and ``max`` of a list or
   tuple without a key (:func:`ordering_key`); with a key function, or over
   an iterator, the keys or items compare in C.
"""

from __future__ import annotations

import functools
import operator

from sandbox import limits
from sandbox.guards.operators import SizeLimitError

_OPS = {
    "==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
    ">": operator.gt, ">=": operator.ge,
}
#: Types whose comparison is one linear C call over what the request holds.
_PLAIN = frozenset({int, float, complex, bool, str, bytes, type(None)})
_WALKED = (list, tuple)
#: Items of a run compared in one C call once the run holds only plain items.
CHUNK = 1024


def _plain(items) -> bool:
    return _PLAIN.issuperset(map(type, items))


def _equal(a, b) -> bool:
    """``a == b`` as an item of a container compares (identity first)."""
    if a is b:
        return True
    kind = type(a)
    if kind is not type(b):
        return a == b
    if kind is list or kind is tuple:
        return len(a) == len(b) and _first_difference(a, b) is None
    if kind is dict:
        return _dicts_equal(a, b)
    return a == b


def _first_difference(a, b) -> int | None:
    """The index of the first pair of items of ``a`` and ``b`` that are not
    equal, or None when the shorter one's items all are."""
    n = min(len(a), len(b))
    start = 0
    while start < n:
        end = min(start + CHUNK, n)
        run_a, run_b = a[start:end], b[start:end]
        limits.tick(8)
        if _plain(run_a) and _plain(run_b):
            if run_a == run_b:
                start = end
                continue
            for i in range(end - start):
                x, y = run_a[i], run_b[i]
                if not (x is y or x == y):
                    return start + i
        else:
            for i in range(end - start):
                limits.tick()
                if not _equal(run_a[i], run_b[i]):
                    return start + i
        start = end
    return None


def _dicts_equal(a: dict, b: dict) -> bool:
    if len(a) != len(b):
        return False
    for key, value in a.items():
        limits.tick()
        try:
            other = b[key]
        except KeyError:
            return False
        if not _equal(value, other):
            return False
    return True


def guarded_compare(left, op: str, right):
    """``left op right`` (``op`` is ``"=="``... or ``"in"``/``"not in"``),
    with the nested comparisons of exact lists, tuples and dicts ticking."""
    if op == "in" or op == "not in":
        found = _contains(right, left)
        return found if op == "in" else not found
    kind = type(left)
    if kind in _PLAIN or type(right) in _PLAIN or kind is not type(right):
        return _OPS[op](left, right)
    if kind is list or kind is tuple:
        if len(left) <= CHUNK and len(right) <= CHUNK and _plain(left) and _plain(right):
            return _OPS[op](left, right)  # one short run of plain items: C
        if op == "==" or op == "!=":
            equal = len(left) == len(right) and _first_difference(left, right) is None
            return equal if op == "==" else not equal
        index = _first_difference(left, right)
        if index is None:
            return _OPS[op](len(left), len(right))
        return guarded_compare(left[index], op, right[index])
    if kind is dict and (op == "==" or op == "!="):
        equal = _dicts_equal(left, right)
        return equal if op == "==" else not equal
    return _OPS[op](left, right)


def _contains(haystack, needle) -> bool:
    if type(haystack) in _WALKED and type(needle) in (list, tuple, dict):
        for item in haystack:
            limits.tick()
            if _equal(item, needle):
                return True
        return False
    return needle in haystack


#: Items a comparison operand may hold (nested, counted as printed) in a
#: chained comparison, which is compared in C (``a < b < c``).
CHAINED_ITEMS = 100_000


def compared(value):
    """``_compared_``: an operand of a chained comparison, refused when it
    is a container holding more than :data:`CHAINED_ITEMS` items in all."""
    if type(value) in _WALKED or type(value) is dict:
        todo = [value]
        seen = 0
        while todo:
            item = todo.pop()
            limits.tick()
            if type(item) in _WALKED or type(item) is dict:
                seen += len(item)
                if seen > CHAINED_ITEMS:
                    raise SizeLimitError(
                        "a chained comparison of containers holding more than "
                        f"{CHAINED_ITEMS:,} items is over the limit here: compare them in two steps")
                todo.extend(item.values() if type(item) is dict else item)
    return value


def searching(sequence, name):
    """``list.count``/``index``/``remove`` and ``tuple.count``/``index``
    (a native guard): a plain value is searched for in C; a list, tuple or
    dict by :func:`_equal`, ticking per item (``([a] * 60).count(b)`` was
    60 million comparisons in one call)."""
    method = getattr(sequence, name)

    def guarded(value, *args):
        if type(value) in _PLAIN or type(value) not in (list, tuple, dict):
            return method(value, *args)
        if name == "count":
            found = 0
            for item in sequence:
                limits.tick()
                found += _equal(item, value)
            return found
        bounds = (args + (None, None))[:2] if args else (None, None)
        start, stop, _ = slice(*bounds).indices(len(sequence))
        for index in range(start, stop):
            limits.tick()
            if _equal(sequence[index], value):
                if name == "remove":
                    del sequence[index]
                    return None
                return index
        if name == "remove":
            raise ValueError("list.remove(x): x not in list")
        raise ValueError(f"{type(sequence).__name__}.index(x): x not in {type(sequence).__name__}")

    return guarded


#: A list or tuple item longer than this (or holding a container) makes a
#: sort or ``min``/``max`` compare through :func:`guarded_compare`.
DEEP_ITEM_LENGTH = 64


def _deep(value) -> bool:
    kind = type(value)
    if kind is list or kind is tuple:
        return len(value) > DEEP_ITEM_LENGTH or not _plain(value)
    return kind is dict


def _guarded_cmp(x, y) -> int:
    if guarded_compare(x, "<", y):
        return -1
    return 1 if guarded_compare(y, "<", x) else 0


_GUARDED_KEY = functools.cmp_to_key(_guarded_cmp)


def ordering_key(items):
    """The key a sort, ``min`` or ``max`` of ``items`` (no key of its own)
    takes: ``None`` (CPython compares in C) unless an item is a big or
    nested container, whose comparisons then go through
    :func:`guarded_compare` (``sorted([a, b] * 1000)`` of two million-item
    lists was 22,000 comparisons of a million items each in one call)."""
    if _plain(items):
        return None
    for index, item in enumerate(items):
        if not index & 1023:
            limits.tick()
        if _deep(item):
            return _GUARDED_KEY
    return None

"""Counts, sizes and exponents taken from tenant values: asked once, exactly.

A C call takes a count (``'x' * n``, ``s.center(n)``, ``bytes(n)``,
``math.factorial(n)``) from any object with ``__index__``, and reads an
``int`` subclass by its digits, never by its methods. A guard that sizes the
count by ``isinstance(n, int)``, ``n > limit`` or ``n.bit_length()`` asks
the tenant's object instead: its ``__index__`` is skipped, its ``__gt__`` or
``bit_length`` can lie, and its ``__index__`` can answer differently the
second time, when the real call asks.

The rule, in one place: a guard turns the value into an exact built-in
``int`` *once* (:func:`exact_int`), checks that, and hands that same ``int``
on to the real operation. Integers are measured by ``int.bit_length`` itself
(:func:`int_bits`), which reads the digits the arithmetic will use.

.. warning::
   :func:`exact_int` runs the tenant's ``__index__`` (tenant code, ticking
   like any other); it never runs ``__int__``, ``__gt__`` or ``bit_length``
   of a subclass.
"""

from __future__ import annotations

import operator
import sys

_int_of = int.__int__
_bit_length = int.bit_length


def is_count(value) -> bool:
    """Whether a C call would take ``value`` as a count: an ``int`` (of any
    subclass, ``bool`` included) or an object whose class has ``__index__``."""
    return hasattr(type(value), "__index__")


def exact_int(value) -> int:
    """``value`` as an exact built-in ``int``: ``__index__`` asked once, the
    answer copied out of any subclass. Raises what ``operator.index`` raises
    (``TypeError`` for a value that is no count)."""
    if type(value) is int:
        return value
    return _int_of(operator.index(value))


def int_bits(value: int) -> int:
    """The bit length of an ``int`` by its digits (a subclass's
    ``bit_length`` is not asked)."""
    return _bit_length(value)


_ASCII_HEADER = sys.getsizeof("")
#: A Latin-1 text's size past its characters (one byte each).
_LATIN1_EXTRA = sys.getsizeof("\xe9") - 1
#: What a new one-character str of a wide (non-Latin-1) text costs, with
#: its list slot: characters past U+00FF are not cached, each is an object.
_WIDE_CHAR_OBJECT = sys.getsizeof("\u0100") + 8


def items_bytes(iterable) -> int | None:
    """Bytes a list or tuple built from ``iterable`` in one C call holds: 8
    a slot, plus the objects its items are when they are new (a character of
    a wide text); None for an iterable that has no size (it is iterated, and
    ticks, item by item)."""
    if isinstance(iterable, str):
        count = len(iterable)
        # A Latin-1 text is one byte a character; its characters are cached.
        wide = not iterable.isascii() and sys.getsizeof(iterable) > count + _LATIN1_EXTRA
        return count * (_WIDE_CHAR_OBJECT if wide else 8)
    if isinstance(iterable, (bytes, bytearray, memoryview, list, tuple, set, frozenset, dict)):
        return 8 * len(iterable)  # small ints are cached; other items exist already
    return None

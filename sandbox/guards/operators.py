"""Operators and constructors that allocate: bounded before the C call.

``**``, ``<<``, ``*``, ``%`` and format specs are checked before they run: a
value larger than the request's memory budget stops the request with the
memory limit (:func:`check_allocation`); integers are bounded by
:data:`MAX_INT_BITS`, because their arithmetic is superlinear.

.. warning::
   These bounds stop a single allocation, not a loop of small ones; the
   memory budget in :mod:`sandbox.limits` covers the loop.
"""

from __future__ import annotations

import collections
import dataclasses
import decimal
import enum
import fractions
import functools
import numbers
import sys
import types

from sandbox import limits
from sandbox.guards.counts import exact_int
from sandbox.guards.counts import int_bits
from sandbox.guards.counts import is_count
from sandbox.guards.counts import items_bytes
from sandbox.guards.iteration import guarded_iter
from sandbox.guards.own_objects import TENANT_CLASSES
from sandbox.guards.own_objects import is_tenant_function

#: Largest str/bytes one operation may build.
MAX_STRING_BYTES = 64 * 2**20
#: Largest list/tuple/bytes count one operation may build.
MAX_SEQUENCE_ITEMS = 16 * 2**20
#: Largest integer (in bits) ``**``, ``<<`` and ``*`` may produce. Division
#: and conversion of ints are quadratic in CPython; at this size one such C
#: call stays in the milliseconds.
MAX_INT_BITS = 200_000
#: Largest modulus (in bits) of ``pow(b, e, m)`` with a big exponent
#: (RSA-4096 sizes; 8192 bits already takes a second).
MAX_POWMOD_BITS = 4096
#: Largest decimal exponent of a Decimal turned into an int or built; int()
#: of Decimal("1e1000000") runs for 25 s in one C call.
MAX_DECIMAL_EXPONENT = 5000
#: The most negative exponent a Decimal may have: the contexts' ``Emin``
#: less their largest precision (the smallest subnormal arithmetic makes).
MIN_DECIMAL_EXPONENT = MAX_DECIMAL_EXPONENT + 1000


class SandboxError(Exception):
    """Tenant code asked for something the sandbox does not allow."""


class SizeLimitError(SandboxError, MemoryError):
    """One operation would build a value over the sandbox's size limits."""


#: A value this big is checked against what the request already grew by
#: (one read of the RSS); smaller ones against the budget alone.
LOOK_AT_GROWTH_BYTES = 2**20


_ASCII_HEADER = sys.getsizeof("")
_WIDE_HEADER = sys.getsizeof("\u0100") - 4


def _text_bytes(value) -> int:
    """Bytes a str or bytes holds (a str of emoji is 4 bytes a character)."""
    if isinstance(value, str):
        size = sys.getsizeof(value) - _ASCII_HEADER
        return size if size <= len(value) else size - (_WIDE_HEADER - _ASCII_HEADER)
    return len(value) if isinstance(value, (bytes, bytearray)) else 8 * len(value)


def check_allocation(nbytes: int, what: str) -> None:
    """Refuse to build a value of ``nbytes`` before the C call that would.

    Inside a request, a value larger than the request's whole memory budget
    stops the request with the memory limit (503), as growing past it in
    steps would; smaller big values count toward the next memory check.
    Outside a request the fixed :data:`MAX_STRING_BYTES` applies.
    """
    if type(nbytes) is not int:
        nbytes = exact_int(nbytes)  # compared by its digits, not by its own __gt__
    budget = limits._current
    if budget is not None and budget.memory_limit is not None:
        if nbytes > budget.memory_limit or (
                nbytes >= LOOK_AT_GROWTH_BYTES
                and nbytes + budget.memory_growth() > budget.memory_limit):
            # A big value is refused when it would not fit beside what the
            # request already holds (s = s + s kept three copies alive).
            raise budget.kill(
                "memory",
                f"memory limit exceeded ({budget.memory_limit // 2**20} MB): {what} "
                f"would need {nbytes // 2**20} MB",
            )
        limits.note_allocation(nbytes)
        return
    if nbytes > MAX_STRING_BYTES:
        raise SizeLimitError(f"{what} would build a value over the size limit")


_NUMBER_TYPES = (int, float, bool, complex)


_FRACTION_NUMERATOR = fractions.Fraction.__dict__["_numerator"].__get__
_FRACTION_DENOMINATOR = fractions.Fraction.__dict__["_denominator"].__get__


def _rational_parts(value) -> tuple[int, int]:
    """Bits of the numerator and denominator the arithmetic will use (a
    Fraction's own slots, not what a subclass's properties say)."""
    if isinstance(value, int):
        return int_bits(value), 0
    if isinstance(value, fractions.Fraction):
        return int_bits(_FRACTION_NUMERATOR(value)), int_bits(_FRACTION_DENOMINATOR(value))
    return int_bits(exact_int(value.numerator)), int_bits(exact_int(value.denominator))


def _int_bits(value) -> int:
    if isinstance(value, numbers.Rational):
        return max(_rational_parts(value))
    return 0


def check_pow(base, exp, mod=None):
    """Before ``**`` and ``pow()``: refuse integer results over
    :data:`MAX_INT_BITS`. Returns ``exp``."""
    if mod is not None:
        if _int_bits(exp) > 64 and _int_bits(mod) > MAX_POWMOD_BITS:
            raise SizeLimitError(f"pow() with a modulus over {MAX_POWMOD_BITS} bits is over the limit")
        if _int_bits(exp) > MAX_INT_BITS:
            raise SizeLimitError("exponent is too large")
        return exp
    if isinstance(exp, numbers.Rational) and not isinstance(exp, bool):
        if isinstance(exp, int) or _rational_parts(exp)[1] == 1:
            # Fraction(3, 2) ** -10**6 builds 2**10**6 and 3**10**6 too.
            power = exact_int(exp) if isinstance(exp, int) else \
                exact_int(_FRACTION_NUMERATOR(exp)) if isinstance(exp, fractions.Fraction) else \
                exact_int(exp.numerator)
            bits = _int_bits(base)
            if power and bits > 1 and (bits - 1) * abs(power) > MAX_INT_BITS:
                raise SizeLimitError("result of ** would be too large an integer")
    return exp


def guarded_pow(base, exp, mod=None):
    """``**`` and ``pow()``, checked by :func:`check_pow`."""
    check_pow(base, exp, mod)
    return base**exp if mod is None else pow(base, exp, mod)


def check_lshift(left, right):
    """Before ``<<``: refuse integer results over :data:`MAX_INT_BITS`."""
    if isinstance(left, int) and isinstance(right, int) and int_bits(left):
        if int_bits(left) + exact_int(right) > MAX_INT_BITS:
            raise SizeLimitError("result of << would be too large an integer")
    return right


def guarded_lshift(left, right):
    """``<<``, checked by :func:`check_lshift`."""
    check_lshift(left, right)
    return left << right


def _repeat_count(seq, count):
    """Size ``seq * count`` before it is built; returns the count to use:
    the exact ``int`` :func:`~sandbox.guards.counts.exact_int` made of it
    (or ``count`` itself when it is no count: the operation raises)."""
    if not is_count(count):
        return count
    count = exact_int(count)
    if count > 0:
        try:
            size = len(seq)
        except TypeError:
            return count
        if isinstance(seq, (str, bytes, bytearray)):
            check_allocation(_text_bytes(seq) * count if size else 0, "repeating a string")
        else:
            check_allocation(size * count * 8, "repeating a sequence")
    return count


_TEXT = (str, bytes, bytearray)
_SEQUENCES = (str, bytes, bytearray, list, tuple)

#: Host classes whose text shows the values they hold -> those values. The
#: size of their text is estimated through them (a ``deque`` of a repeated
#: megabyte is as big as the list); :mod:`sandbox.guards.consume` writes them.
CONTAINER_CHILDREN: dict = {
    collections.deque: lambda d: d,
    collections.ChainMap: lambda c: c.maps,
    collections.UserList: lambda u: (u.data,),
    collections.UserDict: lambda u: (u.data,),
    collections.UserString: lambda u: (u.data,),
    functools.partial: lambda p: (p.func, *p.args, *p.keywords.values()),
    enum.Enum: lambda e: (e._value_,),
    type({}.keys()): lambda v: v,
    type({}.values()): lambda v: v,
    type({}.items()): lambda v: v,
    types.MappingProxyType: lambda m: (dict(m),),
    types.SimpleNamespace: lambda n: tuple(vars(n).values()),
    slice: lambda s: (s.start, s.stop, s.step),
    staticmethod: lambda m: (m.__func__,),
    classmethod: lambda m: (m.__func__,),
    BaseException: lambda e: e.args,
}


def register_container(cls: type, children) -> None:
    """Say that ``cls``'s text shows ``children(obj)`` (for a host's classes)."""
    CONTAINER_CHILDREN[cls] = children


def _children_of(cls):
    for klass in cls.__mro__:
        children = CONTAINER_CHILDREN.get(klass)
        if children is not None:
            return children
    if dataclasses.is_dataclass(cls):
        return lambda obj: [getattr(obj, f.name, None) for f in dataclasses.fields(obj)]
    return None


def _tenant_text(cls) -> bool:
    """Whether the text of ``cls``'s objects is tenant code."""
    if cls not in TENANT_CLASSES:
        return False
    for name in ("__repr__", "__str__"):
        for klass in cls.__mro__:
            method = klass.__dict__.get(name)
            if method is not None:
                if klass in TENANT_CLASSES and is_tenant_function(method):
                    return True
                break
    return False


def storage_type(item):
    """The built-in container type whose storage ``item`` has: read its
    size and items through that type (``list.__len__(item)``), never a
    subclass's own methods — a host check must not ask the tenant's object
    about itself (round 14)."""
    for base in (dict, list, tuple, set, frozenset):
        if isinstance(item, base):
            return base
    raise TypeError(type(item).__name__)


def text_estimate(value, limit: int) -> tuple[int, bool]:
    """``(size, opaque)``: an upper estimate of the text ``str(value)`` or
    ``repr(value)`` builds, walking containers (a shared item counts each
    time it is printed, as it is printed) and stopping as soon as it passes
    ``limit``; ``opaque`` when some object's text is tenant code, whose size
    only running it tells.

    One C call can turn a small list into gigabytes of text:
    ``str([s] * 1000)`` for a 1 MB ``s``. The walk ticks, so it is bounded too.
    """
    total = 0
    opaque = False
    stack = [value]
    seen = 0
    while stack:
        item = stack.pop()
        seen += 1
        if not seen & 63:
            limits.tick(8)
        cls = type(item)
        if cls is str or cls is bytes or cls is bytearray or isinstance(item, _TEXT):
            total += len(item) * (1 if isinstance(item, str) else 4) + 3
        elif isinstance(item, (list, tuple, set, frozenset)):
            # The container's own storage, as C's repr walks it, never a
            # subclass's __len__/__iter__ (one that said "empty" hid 50 MB
            # from this walk, round 14).
            base = storage_type(item)
            total += 2 + 2 * base.__len__(item) + (len(cls.__name__) if cls not in _PLAIN else 0)
            stack.extend(base.__iter__(item))
        elif isinstance(item, dict):
            total += 2 + 4 * dict.__len__(item) + (len(cls.__name__) if cls is not dict else 0)
            stack.extend(dict.keys(item))
            stack.extend(dict.values(item))
        elif cls is int:
            total += item.bit_length() // 3 + 2
        elif cls is float or cls is bool or item is None:
            total += 24
        else:
            if _tenant_text(cls):
                opaque = True
            children = _children_of(cls)
            total += 48 + len(cls.__name__)
            if children is not None:
                before = len(stack)
                try:
                    stack.extend(children(item))
                except Exception:  # noqa: S110 - an odd object: counted as its name
                    pass
                total += 2 * (len(stack) - before)
        if total > limit:
            return total, opaque
    return total, opaque


_PLAIN = (list, tuple, set, frozenset)


def text_size(value, limit: int) -> int:
    """The size part of :func:`text_estimate`."""
    return text_estimate(value, limit)[0]


def check_text(value, what: str) -> None:
    """Refuse to turn a container into text too big for the request."""
    if isinstance(value, (list, tuple, set, frozenset, dict)):
        check_allocation(text_size(value, text_limit()), what)


def text_limit() -> int:
    """How much text one operation may build now: the request's memory budget."""
    budget = limits._current
    if budget is not None and budget.memory_limit is not None:
        return budget.memory_limit
    return MAX_STRING_BYTES


def _check_rationals(left, right, what: str) -> None:
    """Fraction arithmetic multiplies numerators and denominators and takes
    their gcd, in C calls no tick interrupts: bounded like integers."""
    bits = 0
    for value in (left, right):
        if isinstance(value, numbers.Rational):
            bits += sum(_rational_parts(value))
    if bits > MAX_INT_BITS:
        raise SizeLimitError(f"result of {what} would be too large a fraction")


def check_add(left, right):
    """Before ``+``: concatenating strings, bytes, lists and tuples is one
    allocation of both sizes; bounded before it is made."""
    tl, tr = type(left), type(right)
    if (tl is int or tl is float) and (tr is int or tr is float):
        return right
    if isinstance(left, (list, tuple)) and not isinstance(right, _TEXT):
        # list + x, and list.__iadd__(x) for any iterable x: 8 bytes an item.
        check_allocation(8 * len(left) + (items_bytes(right) or 0), "+")
    elif isinstance(left, _SEQUENCES) and isinstance(right, _SEQUENCES):
        check_allocation(_text_bytes(left) + (items_bytes(right) if isinstance(left, list)
                                              else _text_bytes(right)), "+")
    elif isinstance(left, numbers.Rational) or isinstance(right, numbers.Rational):
        _check_rationals(left, right, "+")
    return right


def guarded_add(left, right):
    """``+``, checked by :func:`check_add`."""
    check_add(left, right)
    return left + right


def _check_fractions(what):
    def check(left, right):
        if isinstance(left, numbers.Rational) and isinstance(right, numbers.Rational) and \
                not (type(left) is int and type(right) is int):
            _check_rationals(left, right, what)
        return right

    check.__doc__ = f"Before ``{what}``: bounded for fractions (numbers are otherwise linear)."
    return check


check_sub = _check_fractions("-")
check_truediv = _check_fractions("/")


#: Largest product of the operands' bit lengths one integer ``//``, ``%``
#: or ``divmod`` may take: its work is that product (schoolbook division),
#: a few milliseconds here; ``n // 2`` of any int the guards let exist is
#: linear and passes.
MAX_DIVISION_WORK = MAX_INT_BITS * MAX_INT_BITS


def check_floordiv(left, right):
    """Before ``//``, ``%`` and ``divmod`` of integers: refuse a division
    whose work (the product of the operands' bit lengths, by their digits)
    is over :data:`MAX_DIVISION_WORK`. Returns the right operand."""
    if isinstance(left, int) and isinstance(right, int):
        if int_bits(left) * int_bits(right) > MAX_DIVISION_WORK:
            raise SizeLimitError("integer division of numbers that large is over the limit")
    elif isinstance(left, numbers.Rational) and isinstance(right, numbers.Rational):
        _check_rationals(left, right, "//")
    return right


def guarded_floordiv(left, right):
    """``//``, checked by :func:`check_floordiv`."""
    check_floordiv(left, right)
    return left // right


def guarded_sub(left, right):
    """``-``, checked by :func:`check_sub`."""
    check_sub(left, right)
    return left - right


def guarded_truediv(left, right):
    """``/``, checked by :func:`check_truediv`."""
    check_truediv(left, right)
    return left / right


def join_text(*parts):
    """An f-string's parts, joined once their total size is known to fit."""
    check_allocation(sum(len(part) for part in parts), "an f-string")
    return "".join(parts)


#: The builtin sequences whose ``*`` repeats them by a count read with
#: ``__index__``.
_REPEATABLE = (str, bytes, bytearray, list, tuple)


def _builtin_repeat(seq) -> bool:
    cls = type(seq)
    return isinstance(seq, _REPEATABLE) and \
        next(k for k in cls.__mro__ if "__mul__" in k.__dict__) in _REPEATABLE


def mul_operands(left, right) -> tuple:
    """Check ``left * right`` and return the operands to multiply: a count
    repeating a builtin sequence becomes the exact ``int`` that was sized."""
    tl = type(left)
    tr = type(right)
    if tl is float or tr is float:
        return left, right
    if isinstance(left, int) and isinstance(right, int):
        if int_bits(left) + int_bits(right) > MAX_INT_BITS:
            raise SizeLimitError("result of * would be too large an integer")
        return left, right
    if _builtin_repeat(left) and not isinstance(right, _REPEATABLE):
        return left, _repeat_count(left, right)
    if _builtin_repeat(right) and not isinstance(left, _REPEATABLE):
        return _repeat_count(right, left), right
    if isinstance(right, int):
        _repeat_count(left, right)  # a tenant sequence's own __mul__ decides
    elif isinstance(left, int):
        _repeat_count(right, left)
    if isinstance(left, numbers.Rational) and isinstance(right, numbers.Rational):
        _check_rationals(left, right, "*")
    return left, right


def count_answers_mul(left, right):
    """What the count's own ``__mul__``/``__rmul__`` answers to ``left *
    right`` when its class defines one and the other side is a builtin
    sequence (Python asks it before the sequence repeats), else
    NotImplemented. Run first, so that the repeat itself takes the exact
    count (never the tenant's ``__index__`` a second time)."""
    if _builtin_repeat(left) and not isinstance(right, _REPEATABLE):
        count, name, other = right, "__rmul__", left
    elif _builtin_repeat(right) and not isinstance(left, _REPEATABLE):
        count, name, other = left, "__mul__", right
    else:
        return NotImplemented
    method = getattr(type(count), name, None)
    if method is None or method is getattr(int, name):
        return NotImplemented
    return method(count, other)


def check_mul(left, right):
    """Before ``*``: bound sequence repetition and integer products; returns
    the right operand to use (an exact ``int`` for a count)."""
    return mul_operands(left, right)[1]


def guarded_mul(left, right):
    """``*``, checked by :func:`mul_operands`, on the operands it returns."""
    result = count_answers_mul(left, right)
    if result is not NotImplemented:
        return result
    left, right = mul_operands(left, right)
    return left * right


def sized_items(iterable, what: str):
    """The one sizing of a list or tuple built from ``iterable`` in one C
    call (``list(x)``, ``list.extend(x)``, ``+=``, ``[*x]``, ``f(*x)``):
    an iterable with a size is checked against the budget at 8 bytes an item
    (:func:`~sandbox.guards.counts.items_bytes`) and returned as is; any
    other is returned ticking (a :class:`~sandbox.guards.iteration.TickingIter`)."""
    nbytes = items_bytes(iterable)
    if nbytes is None:
        return guarded_iter(iterable)
    check_allocation(nbytes, what)
    return iterable


def star_items(iterable):
    """``_star_``: what ``*x`` unpacks in a call or a display, sized."""
    kind = type(iterable)
    if not (hasattr(kind, "__iter__") or hasattr(kind, "__getitem__")):
        return iterable  # Python's own error ("argument after * must be an iterable")
    return sized_items(iterable, "unpacking with *")


def check_round(number, ndigits=None) -> None:
    """Before ``round()``: ``round(5, -10**7)`` computes ``10**10**7`` (for
    ints and fractions) in one call that never ticks; such a power is
    bounded like any other integer. A fraction computes it for a positive
    ``ndigits`` too (``round(Fraction(1, 3), 10**7)`` held the process 6 s,
    round 16); an int returns itself there."""
    if ndigits is None:
        check_decimal(number)  # int() of it
    elif is_count(ndigits) and isinstance(number, numbers.Rational):
        ndigits = exact_int(ndigits)
        power = -ndigits if isinstance(number, int) else abs(ndigits)
        if power * 10 // 3 > MAX_INT_BITS:
            raise SizeLimitError("round() to that many digits would build too large an integer")
    return ndigits


def host_text_estimate(value, limit: int) -> tuple[int, bool]:
    """:func:`text_estimate` of the text a host class's own ``__repr__`` or
    ``__str__`` builds for ``value`` (``list.__repr__`` of a tenant subclass
    of list): its items, whatever the subclass says of itself."""
    if isinstance(value, int):
        return int_bits(value) // 3 + 2, False
    if isinstance(value, (float, complex)):
        return 64, False
    if isinstance(value, (*_SEQUENCES, set, frozenset, dict)):
        return text_estimate(value, limit)  # walked by its items, never opaque itself
    children = _children_of(type(value))
    if children is None:
        return 64 + len(type(value).__name__), False
    size, opaque = text_estimate(tuple(children(value)), limit)
    return size + 64 + len(type(value).__name__), opaque


def check_decimal(value) -> None:
    """Refuse a Decimal whose exact value would be huge to compute: its
    integer (``int(d)``: a large positive exponent) and its exact ratio
    (``as_integer_ratio()``, ``Fraction(d)``, ``statistics``,
    ``format(d, "f")``: a large negative one). ``Decimal("1e-999999")``, ten
    characters, was a 3.3-million-bit denominator: ``statistics.mean`` of it
    held the process 28 s (round 16). Arithmetic stays within these bounds by
    the contexts' ``Emin``/``Emax`` (:mod:`sandbox.facades.numbers`)."""
    if isinstance(value, decimal.Decimal) and value.is_finite():
        exponent = value.as_tuple().exponent
        if value.adjusted() > MAX_DECIMAL_EXPONENT or len(value.as_tuple().digits) > MAX_DECIMAL_EXPONENT \
                or exponent < -MIN_DECIMAL_EXPONENT:
            raise SizeLimitError(
                f"Decimal values beyond 1e{MAX_DECIMAL_EXPONENT} or with an exponent below "
                f"-{MIN_DECIMAL_EXPONENT} are over the sandbox limit"
            )

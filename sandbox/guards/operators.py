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

import decimal
import numbers
import re

from sandbox import limits

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


class SandboxError(Exception):
    """Tenant code asked for something the sandbox does not allow."""


class SizeLimitError(SandboxError, MemoryError):
    """One operation would build a value over the sandbox's size limits."""


def check_allocation(nbytes: int, what: str) -> None:
    """Refuse to build a value of ``nbytes`` before the C call that would.

    Inside a request, a value larger than the request's whole memory budget
    stops the request with the memory limit (503), as growing past it in
    steps would; smaller big values count toward the next memory check.
    Outside a request the fixed :data:`MAX_STRING_BYTES` applies.
    """
    budget = limits._current
    if budget is not None and budget.memory_limit is not None:
        if nbytes > budget.memory_limit:
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


def _int_bits(value) -> int:
    if isinstance(value, int):
        return value.bit_length()
    if isinstance(value, numbers.Rational):
        return max(value.numerator.bit_length(), value.denominator.bit_length())
    return 0


def guarded_pow(base, exp, mod=None):
    """``**`` and ``pow()``: refuse integer results over :data:`MAX_INT_BITS`."""
    if mod is not None:
        if _int_bits(exp) > 64 and _int_bits(mod) > MAX_POWMOD_BITS:
            raise SizeLimitError(f"pow() with a modulus over {MAX_POWMOD_BITS} bits is over the limit")
        if _int_bits(exp) > MAX_INT_BITS:
            raise SizeLimitError("exponent is too large")
        return pow(base, exp, mod)
    if isinstance(exp, numbers.Rational) and not isinstance(exp, bool):
        if exp.denominator == 1 and exp > 0:
            bits = _int_bits(base)
            if bits > 1 and (bits - 1) * int(exp) > MAX_INT_BITS:
                raise SizeLimitError("result of ** would be too large an integer")
    return base**exp


def guarded_lshift(left, right):
    """``<<``: refuse integer results over :data:`MAX_INT_BITS`."""
    if isinstance(left, int) and isinstance(right, int) and left:
        if left.bit_length() + right > MAX_INT_BITS:
            raise SizeLimitError("result of << would be too large an integer")
    return left << right


def _repeat_count(seq, count) -> None:
    if isinstance(count, int) and count > 0:
        try:
            size = len(seq)
        except TypeError:
            return
        if isinstance(seq, (str, bytes, bytearray)):
            check_allocation(size * count, "repeating a string")
        else:
            check_allocation(size * count * 8, "repeating a sequence")


_TEXT = (str, bytes, bytearray)
_SEQUENCES = (str, bytes, bytearray, list, tuple)


def text_size(value, limit: int) -> int:
    """An upper estimate of the text ``str(value)``/``repr(value)`` builds,
    walking containers (a shared item counts each time it is printed, as it
    is printed), and stopping as soon as it passes ``limit``.

    One C call can turn a small list into gigabytes of text:
    ``str([s] * 1000)`` for a 1 MB ``s``. The walk ticks, so it is bounded too.
    """
    total = 0
    stack = [value]
    seen = 0
    while stack:
        item = stack.pop()
        seen += 1
        if seen % 1024 == 0:
            limits.tick()
        if isinstance(item, _TEXT):
            total += len(item) * (1 if isinstance(item, str) else 4) + 3
        elif isinstance(item, (list, tuple, set, frozenset)):
            total += 2 + 2 * len(item)
            stack.extend(item)
        elif isinstance(item, dict):
            total += 2 + 4 * len(item)
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, int) and not isinstance(item, bool):
            total += item.bit_length() // 3 + 2
        else:
            total += 32
        if total > limit:
            return total
    return total


def check_text(value, what: str) -> None:
    """Refuse to turn a container into text too big for the request."""
    if isinstance(value, (list, tuple, set, frozenset, dict)):
        check_allocation(text_size(value, _text_limit()), what)


def _text_limit() -> int:
    budget = limits._current
    if budget is not None and budget.memory_limit is not None:
        return budget.memory_limit
    return MAX_STRING_BYTES


def _check_rationals(left, right, what: str) -> None:
    """Fraction arithmetic multiplies numerators and denominators and takes
    their gcd, in C calls no tick interrupts: bounded like integers."""
    bits = 0
    for value in (left, right):
        if isinstance(value, numbers.Rational) and not isinstance(value, int):
            bits += value.numerator.bit_length() + value.denominator.bit_length()
        elif isinstance(value, int):
            bits += value.bit_length()
    if bits > MAX_INT_BITS:
        raise SizeLimitError(f"result of {what} would be too large a fraction")


def guarded_add(left, right):
    """``+``: concatenating strings, bytes, lists and tuples is one
    allocation of both sizes; bounded before it is made."""
    tl, tr = type(left), type(right)
    if (tl is int or tl is float) and (tr is int or tr is float):
        return left + right
    if isinstance(left, _SEQUENCES) and isinstance(right, _SEQUENCES):
        per_item = 1 if isinstance(left, _TEXT) else 8
        check_allocation((len(left) + len(right)) * per_item, "+")
    elif isinstance(left, numbers.Rational) or isinstance(right, numbers.Rational):
        _check_rationals(left, right, "+")
    return left + right


def guarded_sub(left, right):
    """``-``: bounded for fractions (numbers are otherwise linear)."""
    if isinstance(left, numbers.Rational) and isinstance(right, numbers.Rational) and \
            not (type(left) is int and type(right) is int):
        _check_rationals(left, right, "-")
    return left - right


def guarded_truediv(left, right):
    """``/``: bounded for fractions."""
    if isinstance(left, numbers.Rational) and isinstance(right, numbers.Rational) and \
            not (type(left) is int and type(right) is int):
        _check_rationals(left, right, "/")
    return left / right


def join_text(*parts):
    """An f-string's parts, joined once their total size is known to fit."""
    check_allocation(sum(len(part) for part in parts), "an f-string")
    return "".join(parts)


def guarded_mul(left, right):
    """``*``: bound sequence repetition and integer products."""
    tl = type(left)
    tr = type(right)
    if tl is float or tr is float:
        return left * right
    if tl is int and tr is int:
        if left.bit_length() + right.bit_length() > MAX_INT_BITS:
            raise SizeLimitError("result of * would be too large an integer")
        return left * right
    if isinstance(right, int):
        _repeat_count(left, right)
    elif isinstance(left, int):
        _repeat_count(right, left)
    if isinstance(left, numbers.Rational) and isinstance(right, numbers.Rational):
        _check_rationals(left, right, "*")
    return left * right


_PERCENT_WIDTH = re.compile(r"%[#0\- +]*(\*|\d{7,})|%[#0\- +]*\d*\.(\*|\d{7,})")


def guarded_mod(left, right):
    """``%``: bound ``%``-formatting widths (``'%*d' % (10**10, 1)``)."""
    if isinstance(left, (str, bytes)):
        pattern = left if isinstance(left, str) else left.decode("latin-1")
        if _PERCENT_WIDTH.search(pattern):
            raise SizeLimitError("%-format width or precision is over the limit or uses '*'")
        values = right if isinstance(right, tuple) else tuple(right.values()) \
            if isinstance(right, dict) else (right,)
        for value in values:
            check_decimal(value)
        check_allocation(len(left) + text_size(values, _text_limit()), "%-formatting")
    return left % right


_SPEC_NUMBERS = re.compile(r"\d+")


def guarded_format(value, spec="", conversion=""):
    """``format()`` and f-string fields, with bounded widths and sizes."""
    check_text(value, "formatting a value")
    if conversion == "r":
        value = repr(value)
    elif conversion == "s":
        value = str(value)
    elif conversion == "a":
        value = ascii(value)
    if type(spec) is not str:
        raise TypeError("format spec must be a string")
    for digits in _SPEC_NUMBERS.findall(spec):
        if len(digits) > 12:
            raise SizeLimitError("format width or precision is over the limit")
        check_allocation(int(digits), "a format width")
    return format(value, spec)


def check_decimal(value) -> None:
    """Refuse a Decimal whose integer value would be huge to compute."""
    if isinstance(value, decimal.Decimal) and value.is_finite():
        if value.adjusted() > MAX_DECIMAL_EXPONENT or len(value.as_tuple().digits) > MAX_DECIMAL_EXPONENT:
            raise SizeLimitError(
                f"Decimal values beyond 1e{MAX_DECIMAL_EXPONENT} are over the sandbox limit"
            )

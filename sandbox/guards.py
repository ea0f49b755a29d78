"""The run-time half of the sandbox: guard functions and safe builtins.

Code compiled by :class:`sandbox.policy.MuxPolicy` calls these by name
(``_getattr_``, ``_getiter_``, ``_write_`` ...). They follow RestrictedPython's
protocol and AccessControl's practice, tightened for many tenants in one
process (see SECURITY-NOTES in the project docs):

* attribute reads never hand out a module, frame, code or traceback, and
  ``str.format`` is replaced by a formatter whose field lookups are guarded;
* every iteration goes through :class:`TickingIter`, which ticks the budget
  and puts a Python frame between nested iterators, so chains of generators
  end in a clean ``RecursionError`` instead of overflowing the C stack;
* writes are allowed to plain containers and to objects of classes the
  tenant defined, never to host objects;
* operators and constructors that allocate in one C call are checked
  before the call: a value larger than the request's memory budget stops the
  request with the memory limit (:func:`check_allocation`); integers are
  bounded by :data:`MAX_INT_BITS`, because their arithmetic is superlinear.

.. warning::
   These bounds stop a single allocation, not a loop of small ones; the
   memory budget in :mod:`sandbox.limits` covers the loop.
"""

from __future__ import annotations

import _string
import abc
import builtins
import decimal
import numbers
import operator
import re
import string
import weakref
from types import CodeType
from types import FrameType
from types import FunctionType
from types import ModuleType
from types import TracebackType

from RestrictedPython.Guards import guarded_iter_unpack_sequence
from RestrictedPython.Guards import guarded_unpack_sequence
from RestrictedPython.transformer import INSPECT_ATTRIBUTES

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
#: Deepest nesting of ticking iterators (chains of generators).
MAX_ITER_DEPTH = 200


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


#: Classes created by tenant code; instances of these may be written to.
TENANT_CLASSES: weakref.WeakSet = weakref.WeakSet()

_RAISE = object()


# -- iteration ------------------------------------------------------------


class TickingIter:
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
        return next(self._it)

    def __length_hint__(self):
        return operator.length_hint(self._it)


def guarded_iter(obj):
    """``_getiter_``: iterate ``obj`` through a :class:`TickingIter`."""
    if type(obj) is TickingIter:
        return obj
    return TickingIter(obj)


# -- attribute access -----------------------------------------------------

_DENIED_TYPES = (ModuleType, FrameType, CodeType, TracebackType)
_STR_SIZE_METHODS = frozenset(["ljust", "rjust", "center", "zfill", "expandtabs"])


class SafeFormatter(string.Formatter):
    """``str.format`` whose field lookups go through the guards.

    ``"{0.__class__}".format(x)`` and ``"{0[key]}"`` on host objects are the
    classic escapes (CVE-2023-41039, CVE-2024-47532); here ``{0.attr}`` is
    :func:`guarded_getattr` and widths are bounded.
    """

    def get_field(self, field_name, args, kwargs):
        first, rest = _string.formatter_field_name_split(field_name)
        obj = self.get_value(first, args, kwargs)
        for is_attr, key in rest:
            if is_attr:
                obj = guarded_getattr(obj, key)
            else:
                obj = guarded_getitem(obj, key)
        return obj, first

    def format_field(self, value, format_spec):
        return guarded_format(value, format_spec)


_formatter = SafeFormatter()


def _safe_format(template: str):
    def format(*args, **kwargs):
        return _formatter.vformat(template, args, kwargs)

    return format


def _safe_format_map(template: str):
    def format_map(mapping):
        return _formatter.vformat(template, (), mapping)

    return format_map


def _sized_method(obj, name):
    method = getattr(obj, name)

    def sized(*args, **kwargs):
        width = args[0] if args else kwargs.get("width", kwargs.get("tabsize", 8))
        if isinstance(width, int):
            scale = len(obj) if name == "expandtabs" else 1
            check_allocation(width * max(scale, 1), f"{name}()")
        return method(*args, **kwargs)

    return sized


def _guarded_join(sep):
    join = sep.join

    def guarded(iterable):
        items = list(guarded_iter(iterable))
        check_allocation(len(sep) * len(items), "join()")
        return join(items)

    return guarded


def _guarded_replace(text):
    replace = text.replace

    def guarded(old, new, count=-1):
        if len(new) > len(old):
            hits = text.count(old) if count < 0 else min(count, text.count(old))
            check_allocation(len(text) + hits * (len(new) - len(old)), "replace()")
        return replace(old, new, count)

    return guarded


def guarded_getattr(obj, name, default=_RAISE):
    """``_getattr_`` and the ``getattr`` builtin.

    Refuses names starting with ``_`` and RestrictedPython's inspect names,
    swaps ``str.format`` for :class:`SafeFormatter`, bounds the string
    methods that pad, and never returns a module, frame, code object or
    traceback, whatever object it was asked about.
    """
    if type(name) is not str:
        raise TypeError("attribute name must be a string")
    if name.startswith("_"):
        raise AttributeError(f'"{name}" is an invalid attribute name because it starts with "_"')
    if name in INSPECT_ATTRIBUTES:
        raise AttributeError(f'"{name}" is a restricted name in the sandbox')
    if isinstance(obj, (str, bytes, bytearray)):
        if name in ("format", "format_map"):
            if not isinstance(obj, str):
                raise AttributeError(name)
            return _safe_format(obj) if name == "format" else _safe_format_map(obj)
        if name in _STR_SIZE_METHODS:
            return _sized_method(obj, name)
        if name == "join":
            return _guarded_join(obj)
        if name == "replace":
            return _guarded_replace(obj)
    elif isinstance(obj, type) and issubclass(obj, str) and name in ("format", "format_map"):
        raise NotImplementedError("use the format method of a string instance")
    elif isinstance(obj, BaseException) and name == "obj":
        # AttributeError.obj can be a host object the tenant never held.
        raise AttributeError(name)
    elif name == "register" and isinstance(obj, abc.ABCMeta) and obj not in TENANT_CLASSES:
        # Mapping.register(int) would change isinstance() for every tenant
        # and for the host itself.
        raise AttributeError("registering virtual subclasses of shared classes is not allowed")
    if default is _RAISE:
        value = getattr(obj, name)
    else:
        value = getattr(obj, name, default)
    if isinstance(value, _DENIED_TYPES):
        raise AttributeError(f"{name!r}: modules, frames and code objects are not reachable")
    return value


def guarded_hasattr(obj, name):
    """``hasattr`` that answers what :func:`guarded_getattr` would allow."""
    try:
        guarded_getattr(obj, name)
    except AttributeError:
        return False
    return True


def guarded_getitem(obj, key):
    """``_getitem_``: plain item access (host containers are never handed out)."""
    return obj[key]


# -- writes ---------------------------------------------------------------

_WRITABLE_CONTAINERS = (dict, list, set, bytearray)


def is_tenant_object(obj) -> bool:
    """True for tenant classes and their instances."""
    return type(obj) in TENANT_CLASSES or (
        isinstance(obj, type) and obj in TENANT_CLASSES
    )


class _ReadOnly:
    """What ``_write_`` returns for objects the tenant may not change."""

    __slots__ = ("_ob",)

    def __init__(self, ob):
        object.__setattr__(self, "_ob", ob)

    def _deny(self, *args):
        ob = object.__getattribute__(self, "_ob")
        raise TypeError(
            f"objects of type {type(ob).__name__!r} cannot be changed in the sandbox"
        )

    __setattr__ = __delattr__ = __setitem__ = __delitem__ = _deny


def guarded_write(ob):
    """``_write_``: allow writes to plain containers and tenant objects."""
    if (
        isinstance(ob, _WRITABLE_CONTAINERS)
        or is_tenant_object(ob)
        or getattr(type(ob), "_guarded_writes", False)
    ):
        if isinstance(ob, type) and ob not in TENANT_CLASSES:
            return _ReadOnly(ob)
        return ob
    return _ReadOnly(ob)


def guarded_setattr(obj, name, value):
    if type(name) is not str or name.startswith("_"):
        raise AttributeError(f"cannot set attribute {name!r}")
    setattr(guarded_write(obj), name, value)


def guarded_delattr(obj, name):
    if type(name) is not str or name.startswith("_"):
        raise AttributeError(f"cannot delete attribute {name!r}")
    delattr(guarded_write(obj), name)


# -- operators that allocate ----------------------------------------------

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
    return left * right


_PERCENT_WIDTH = re.compile(r"%[#0\- +]*(\*|\d{7,})|%[#0\- +]*\d*\.(\*|\d{7,})")


def guarded_mod(left, right):
    """``%``: bound ``%``-formatting widths (``'%*d' % (10**10, 1)``)."""
    if isinstance(left, (str, bytes)):
        pattern = left if isinstance(left, str) else left.decode("latin-1")
        if _PERCENT_WIDTH.search(pattern):
            raise SizeLimitError("%-format width or precision is over the limit or uses '*'")
        for value in right if isinstance(right, tuple) else (right,):
            check_decimal(value)
    return left % right


_SPEC_NUMBERS = re.compile(r"\d+")


def guarded_format(value, spec="", conversion=""):
    """``format()`` and f-string format specs with bounded widths."""
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


_INPLACE = {
    "+=": operator.iadd,
    "-=": operator.isub,
    "*=": guarded_mul,
    "/=": operator.itruediv,
    "//=": operator.ifloordiv,
    "%=": guarded_mod,
    "**=": guarded_pow,
    "<<=": guarded_lshift,
    ">>=": operator.irshift,
    "|=": operator.ior,
    "^=": operator.ixor,
    "&=": operator.iand,
    "@=": operator.imatmul,
}


def guarded_inplacevar(op, target, value):
    """``_inplacevar_``: ``x += y`` with the size guards of the operator."""
    if op == "*=" and isinstance(target, list):
        _repeat_count(target, value)
        target *= value
        return target
    if op == "+=" and isinstance(target, list):
        target += guarded_iter(value)
        return target
    return _INPLACE[op](target, value)


def inplace_item(obj, key, op, value):
    """``obj[key] op= value`` with the write guard."""
    writable = guarded_write(obj)
    writable[key] = guarded_inplacevar(op, obj[key], value)


def inplace_attr(obj, name, op, value):
    """``obj.name op= value`` with the read and write guards."""
    setattr(guarded_write(obj), name, guarded_inplacevar(op, guarded_getattr(obj, name), value))


def guarded_apply(func, *args, **kwargs):
    """``_apply_``: calls with ``*args``/``**kwargs``."""
    return func(*args, **kwargs)


# -- builtins -------------------------------------------------------------


class TypeGuard:
    """Stands for a builtin type whose constructor needs a bound.

    ``isinstance(x, bytes)``, subclassing (``class B(bytes)``) and class
    attributes (``bytes.fromhex``) keep working; calling it goes through
    ``construct``.
    """

    __slots__ = ("_type", "_construct")

    def __init__(self, type_, construct):
        self._type = type_
        self._construct = construct

    def __call__(self, *args, **kwargs):
        return self._construct(*args, **kwargs)

    def __instancecheck__(self, obj):
        return isinstance(obj, self._type)

    def __subclasscheck__(self, cls):
        return issubclass(cls, self._type)

    def __mro_entries__(self, bases):
        return (self._type,)

    def __getattr__(self, name):
        return guarded_getattr(self._type, name)

    def __repr__(self):
        return repr(self._type)


def _sized_constructor(type_):
    def construct(*args, **kwargs):
        if args and isinstance(args[0], int) and not isinstance(args[0], bool):
            check_allocation(args[0], f"{type_.__name__}()")
        elif args and not isinstance(args[0], (str, bytes, bytearray, memoryview)):
            args = (guarded_iter(args[0]),) + args[1:]
        return type_(*args, **kwargs)

    return construct


class SafeRange:
    """``range`` whose iteration ticks, so ``sum(range(10**13))`` can stop."""

    __slots__ = ("_range",)

    def __init__(self, *args):
        self._range = range(*args)

    def __iter__(self):
        return TickingIter(self._range)

    def __reversed__(self):
        return TickingIter(reversed(self._range))

    def __len__(self):
        return len(self._range)

    def __getitem__(self, index):
        value = self._range[index]
        if isinstance(value, range):
            wrapped = SafeRange()
            wrapped._range = value
            return wrapped
        return value

    def __contains__(self, value):
        return value in self._range

    def __eq__(self, other):
        return isinstance(other, SafeRange) and self._range == other._range

    def __hash__(self):
        return hash(self._range)

    def __repr__(self):
        return repr(self._range)

    def __bool__(self):
        return bool(self._range)

    @property
    def start(self):
        return self._range.start

    @property
    def stop(self):
        return self._range.stop

    @property
    def step(self):
        return self._range.step

    def count(self, value):
        return self._range.count(value)

    def index(self, value):
        return self._range.index(value)


def ticking_over_inputs(factory):
    """``factory`` (zip, itertools.cycle ...) fed ticking inputs, ticking output."""

    def wrapped(*iterables, **kwargs):
        return TickingIter(factory(*[guarded_iter(i) for i in iterables], **kwargs))

    wrapped.__name__ = factory.__name__
    return wrapped


def safe_map(func, *iterables):
    return TickingIter(map(func, *[guarded_iter(i) for i in iterables]))


def safe_filter(func, iterable):
    return TickingIter(filter(func, guarded_iter(iterable)))


def safe_enumerate(iterable, start=0):
    return TickingIter(enumerate(guarded_iter(iterable), start))


def safe_reversed(seq):
    return TickingIter(reversed(seq))


def check_decimal(value) -> None:
    """Refuse a Decimal whose integer value would be huge to compute."""
    if isinstance(value, decimal.Decimal) and value.is_finite():
        if value.adjusted() > MAX_DECIMAL_EXPONENT or len(value.as_tuple().digits) > MAX_DECIMAL_EXPONENT:
            raise SizeLimitError(
                f"Decimal values beyond 1e{MAX_DECIMAL_EXPONENT} are over the sandbox limit"
            )


def _int_constructor(*args, **kwargs):
    if args:
        check_decimal(args[0])
    return int(*args, **kwargs)


def safe_round(number, *ndigits):
    if not ndigits or ndigits[0] is None:
        check_decimal(number)
    return round(number, *ndigits)


def safe_iter(obj, *sentinel):
    if not sentinel:
        return guarded_iter(obj)

    def calls():
        while True:
            limits.tick()
            value = obj()
            if value == sentinel[0]:
                return
            yield value

    return TickingIter(calls())


def safe_sorted(iterable, *, key=None, reverse=False):
    items = list(guarded_iter(iterable))
    items.sort(key=key, reverse=reverse)
    return items


_SAFE_BUILTIN_NAMES = """
    None False True Ellipsis NotImplemented
    abs all any ascii bin bool callable chr classmethod complex dict divmod
    float frozenset hash hex isinstance issubclass len list max min
    next oct ord property repr set slice staticmethod str sum tuple
    """.split()

_SAFE_EXCEPTIONS = """
    ArithmeticError AssertionError AttributeError BufferError EOFError
    Exception FloatingPointError ImportError IndexError KeyError
    LookupError MemoryError ModuleNotFoundError NameError NotImplementedError
    OSError OverflowError RecursionError ReferenceError RuntimeError
    StopIteration SyntaxError TimeoutError TypeError UnboundLocalError
    UnicodeDecodeError UnicodeEncodeError UnicodeError ValueError
    ZeroDivisionError Warning UserWarning DeprecationWarning RuntimeWarning
    LookupError
    """.split()


def make_builtins() -> dict:
    """A fresh builtins dict for one tenant module namespace.

    Absent on purpose (SECURITY-NOTES): ``SystemExit``, ``KeyboardInterrupt``,
    ``GeneratorExit``, ``BaseException``, ``id``, ``type``, ``vars``, ``dir``,
    ``globals``, ``locals``, ``open``, ``compile``, ``eval``, ``exec``,
    ``object``, ``super``, ``memoryview``, ``input``, ``breakpoint``,
    ``help``. The caller adds ``__import__``, ``__metaclass__`` and
    ``_print_``, which are per tenant.
    """
    table = {name: getattr(builtins, name) for name in _SAFE_BUILTIN_NAMES}
    table.update({name: getattr(builtins, name) for name in _SAFE_EXCEPTIONS})
    table.update(
        {
            "__build_class__": builtins.__build_class__,
            "bytes": TypeGuard(bytes, _sized_constructor(bytes)),
            "bytearray": TypeGuard(bytearray, _sized_constructor(bytearray)),
            "range": SafeRange,
            "int": TypeGuard(int, _int_constructor),
            "round": safe_round,
            "pow": guarded_pow,
            "format": guarded_format,
            "getattr": guarded_getattr,
            "hasattr": guarded_hasattr,
            "setattr": guarded_setattr,
            "delattr": guarded_delattr,
            "iter": safe_iter,
            "map": safe_map,
            "filter": safe_filter,
            "zip": ticking_over_inputs(zip),
            "enumerate": safe_enumerate,
            "reversed": safe_reversed,
            "sorted": safe_sorted,
            "_getattr_": guarded_getattr,
            "_getitem_": guarded_getitem,
            "_getiter_": guarded_iter,
            "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
            "_unpack_sequence_": guarded_unpack_sequence,
            "_write_": guarded_write,
            "_inplacevar_": guarded_inplacevar,
            "_inplace_item_": inplace_item,
            "_inplace_attr_": inplace_attr,
            "_apply_": guarded_apply,
            "_pow_": guarded_pow,
            "_lshift_": guarded_lshift,
            "_mul_": guarded_mul,
            "_mod_": guarded_mod,
            "_format_": guarded_format,
            "_tick_": limits.tick,
        }
    )
    return table


def is_tenant_function(func) -> bool:
    """True for functions defined by tenant code (their globals say so)."""
    return isinstance(func, FunctionType) and "__mux_tenant__" in func.__globals__

"""The builtins tenant code sees: safe, bounded and ticking versions."""

from __future__ import annotations

import builtins

from RestrictedPython.Guards import guarded_iter_unpack_sequence
from RestrictedPython.Guards import guarded_unpack_sequence

from sandbox import limits
from sandbox.guards.access import guarded_apply
from sandbox.guards.access import guarded_delattr
from sandbox.guards.access import guarded_getattr
from sandbox.guards.access import guarded_getitem
from sandbox.guards.access import guarded_hasattr
from sandbox.guards.access import guarded_inplacevar
from sandbox.guards.access import guarded_setattr
from sandbox.guards.access import guarded_write
from sandbox.guards.access import inplace_attr
from sandbox.guards.access import inplace_item
from sandbox.guards.compare import compared
from sandbox.guards.compare import guarded_compare
from sandbox.guards.compare import ordering_key
from sandbox.guards.declared import declare
from sandbox.guards.declared import declared
from sandbox.guards.own_objects import HostType
from sandbox.guards.own_objects import make_safe_type
from sandbox.guards.own_objects import tenant_super
from sandbox.guards.own_objects import write_private
from sandbox.guards.iteration import TickingIter
from sandbox.guards.iteration import guarded_iter
from sandbox.guards.counts import exact_int
from sandbox.guards.counts import is_count
from sandbox.guards.operators import check_allocation
from sandbox.guards.operators import check_floordiv
from sandbox.guards.operators import guarded_add
from sandbox.guards.operators import sized_items
from sandbox.guards.operators import star_items
from sandbox.guards.operators import check_decimal
from sandbox.guards.operators import check_round
from sandbox.guards.consume import guarded_format
from sandbox.guards.consume import text_of
from sandbox.guards.natives import check_codec
from sandbox.guards.natives import sort_in_runs
from sandbox.guards.special_methods import operator_builtins
from sandbox.guards.operators import text_limit
from sandbox.guards.operators import guarded_pow
from sandbox.guards.operators import join_text


@declared(dynamic=True)  # reads go to the type it stands for, through the guards
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
        if not isinstance(self._type, type):
            # typing.NamedTuple and TypedDict are functions that stand for
            # their bases themselves; Python asks a base once, not again.
            return self._type.__mro_entries__(tuple(self._type if b is self else b for b in bases))
        return (self._type,)

    def __getattr__(self, name):
        return guarded_getattr(self._type, name)

    def __repr__(self):
        return repr(self._type)


def _sized_constructor(type_):
    def construct(*args, **kwargs):
        if args and is_count(args[0]):
            # bytes(n) takes any __index__: sized and built by one exact int.
            args = (exact_int(args[0]), *args[1:])
            check_allocation(args[0], f"{type_.__name__}()")
        elif args and not isinstance(args[0], (str, bytes, bytearray, memoryview)):
            args = (guarded_iter(args[0]),) + args[1:]
        elif args and isinstance(args[0], str):
            check_codec(args[1] if len(args) > 1 else kwargs.get("encoding"), args[0],
                        f"{type_.__name__}()")
        return type_(*args, **kwargs)

    return construct


@declared("start stop step count index")
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


declare(TickingIter)  # offers nothing but iteration
declare(HostType)  # a name, not a class: its names are read as text


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


def _container_constructor(type_):
    """``list``/``tuple``: built from a sized iterable in one C call, sized
    by its items first (:func:`~sandbox.guards.operators.sized_items`);
    other iterables tick as they are read."""

    def construct(*args, **kwargs):
        if len(args) == 1 and not kwargs:
            return type_(sized_items(args[0], f"{type_.__name__}()"))
        return type_(*args, **kwargs)

    return construct


def _int_constructor(*args, **kwargs):
    if args:
        check_decimal(args[0])
    return int(*args, **kwargs)


#: The builtin types whose constructor builds by the caller's number or text
#: (``bytes(10**9)``, ``str(big_list)``, ``int(Decimal("1e999999"))``) -> the
#: guarded constructor: the tenant's builtin, and the constructor of its
#: subclasses of the type (:func:`guard_construction`).
GUARDED_CONSTRUCTORS = {
    bytes: _sized_constructor(bytes),
    bytearray: _sized_constructor(bytearray),
    list: _container_constructor(list),
    tuple: _container_constructor(tuple),
    int: _int_constructor,
}


def guard_construction(cls: type) -> None:
    """Make a tenant subclass of a builtin type (``class B(bytes)``) build its
    value through the builtin's guarded constructor: ``B(150 * 2**20)`` is
    sized as ``bytes(150 * 2**20)`` is. Immutable types get a ``__new__``,
    mutable ones an ``__init__`` (where their value is built), unless a
    tenant class on the way already has one; the value is built by the
    guard, then copied into the object."""
    for name, kinds in (("__new__", (bytes, str, int, tuple)), ("__init__", (bytearray, list))):
        owner = next(k for k in cls.__mro__ if name in k.__dict__)
        if owner in kinds:
            setattr(cls, name, _through_guard(name, owner, GUARDED_CONSTRUCTORS[owner]))


def _through_guard(name, base, construct):
    build = getattr(base, name)
    if name == "__new__":
        def __new__(cls, *args, **kwargs):
            if not args and not kwargs:
                return build(cls)
            return build(cls, construct(*args, **kwargs))

        return staticmethod(__new__)

    def __init__(self, *args, **kwargs):
        if not args and not kwargs:
            return build(self)
        return build(self, construct(*args, **kwargs))

    return __init__


def safe_repr(obj):
    return text_of(obj, limit=text_limit(), as_str=False, over="raise", what="repr()")


def safe_str(*args, **kwargs):
    if len(args) == 1 and not kwargs:
        return text_of(args[0], limit=text_limit(), over="raise", what="str()")
    if args and isinstance(args[0], (bytes, bytearray)):
        check_codec(args[1] if len(args) > 1 else kwargs.get("encoding"), args[0], "str()")
    return str(*args, **kwargs)


GUARDED_CONSTRUCTORS[str] = safe_str


def safe_round(number, *ndigits):
    if not ndigits:
        check_round(number)
        return round(number)
    return round(number, check_round(number, *ndigits))


_NO_START = {str: "sum() can't sum strings [use ''.join(seq) instead]",
             bytes: "sum() can't sum bytes [use b''.join(seq) instead]",
             bytearray: "sum() can't sum bytearray [use b''.join(seq) instead]"}


_NUMBERS = frozenset((int, float))
#: Items checked, or added in one C call, between two ticks.
_CHECK_CHUNK = 65_536
#: A list or tuple of numbers up to this long is added in one C call (its
#: result then is CPython's to the last bit, float compensation included).
_ONE_CALL_ITEMS = 1_000_000
#: Integers up to this many bits are added in C; bigger ones one at a time
#: through the ``+`` guard (8 million additions of 100,000-bit integers in
#: one C call would hold the process for seconds).
_FAST_INT_BITS = 1024


def _is_small_number(item) -> bool:
    kind = type(item)
    return kind is float or (kind is int and int.bit_length(item) <= _FAST_INT_BITS)


def _small_numbers(sequence) -> bool:
    """Whether every item of a list or tuple is an exact float or a small
    exact int (checked in chunks at C speed, ticking between them)."""
    for start in range(0, len(sequence), _CHECK_CHUNK):
        limits.tick()
        chunk = sequence[start:start + _CHECK_CHUNK]
        kinds = set(map(type, chunk))
        if not kinds <= _NUMBERS:
            return False
        if int in kinds and max(int.bit_length(x) for x in chunk if type(x) is int) > _FAST_INT_BITS:
            return False
    return True


def safe_sum(iterable, /, start=0):
    """``sum``: numbers are added by CPython's own ``sum`` — a list or tuple
    of up to :data:`_ONE_CALL_ITEMS` in one call after a ticking type check
    (its result to the last bit: 3.12+ compensates float rounding), longer
    ones and other iterables in runs of :data:`_CHECK_CHUNK` (the
    compensation restarts at each run); any other item, or an integer past
    :data:`_FAST_INT_BITS`, goes through the ``+`` guard, ticking per item
    (``sum(lists, [])`` is quadratic: in one C call it held the process for
    seconds). Refuses a text start as CPython does."""
    for kind, message in _NO_START.items():
        if isinstance(start, kind):
            raise TypeError(message)
    if _is_small_number(start) and type(iterable) in (list, tuple) and _small_numbers(iterable):
        if len(iterable) <= _ONE_CALL_ITEMS:
            return builtins.sum(iterable, start)
        total = start
        for first in range(0, len(iterable), _CHECK_CHUNK):
            limits.tick()
            total = builtins.sum(iterable[first:first + _CHECK_CHUNK], total)
        return total
    total = start
    run = []
    for item in guarded_iter(iterable):
        if _is_small_number(item) and type(total) in _NUMBERS:
            run.append(item)
            if len(run) < _CHECK_CHUNK:
                continue
            total = builtins.sum(run, total)
            run.clear()
            continue
        if run:
            total = builtins.sum(run, total)
            run.clear()
        total = guarded_add(total, item)
    return builtins.sum(run, total) if run else total


def safe_divmod(left, right):
    """``divmod``, with the integer work bounded as ``//`` is."""
    check_floordiv(left, right)
    return divmod(left, right)


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


_NO_DEFAULT = object()


def _extreme(func, args, key, default):
    if key is None and len(args) >= 1:
        items = args[0] if len(args) == 1 else args
        if type(items) in (list, tuple):
            key = ordering_key(items)
    extra = {} if key is None else {"key": key}
    if default is not _NO_DEFAULT:
        extra["default"] = default
    return func(*args, **extra)


def safe_min(*args, key=None, default=_NO_DEFAULT):
    """``min``: a list or tuple of big or nested containers compares
    through the guarded comparison (sandbox.guards.compare.ordering_key)."""
    return _extreme(min, args, key, default)


def safe_max(*args, key=None, default=_NO_DEFAULT):
    """``max``, as :func:`safe_min`."""
    return _extreme(max, args, key, default)


def safe_sorted(iterable, *, key=None, reverse=False):
    items = list(guarded_iter(iterable))
    sort_in_runs(items, key=key, reverse=reverse)
    return items


def safe_ascii(obj):
    """``ascii()``: the bounded repr, with non-ASCII escaped as ascii() does."""
    text = text_of(obj, limit=text_limit(), as_str=False, over="raise", what="ascii()")
    if text.isascii():
        return text
    check_allocation(10 * len(text), "ascii()")
    return text.encode("ascii", "backslashreplace").decode("ascii")


_SAFE_BUILTIN_NAMES = """
    None False True Ellipsis NotImplemented
    abs all any bin bool callable chr classmethod complex dict
    float frozenset hash hex isinstance issubclass len max min
    next oct ord property repr set slice staticmethod str
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
    FileNotFoundError FileExistsError PermissionError IsADirectoryError
    NotADirectoryError ConnectionError ConnectionRefusedError ConnectionResetError
    ConnectionAbortedError BrokenPipeError InterruptedError BlockingIOError
    ChildProcessError ProcessLookupError EnvironmentError IOError
    StopAsyncIteration UnicodeTranslateError IndentationError TabError SystemError
    FutureWarning PendingDeprecationWarning ImportWarning SyntaxWarning BytesWarning
    ResourceWarning UnicodeWarning EncodingWarning
    """.split()
# ^ Python's built-in exception classes, but for those outside Exception
# (BaseException, SystemExit, KeyboardInterrupt, GeneratorExit) and the
# exception groups (``except*`` is refused): tenant code catches by name what
# the facades raise (``except FileNotFoundError``, ``except PermissionError``)
# and what requests raises (``ConnectionError``'s OSError cousins).


def make_builtins() -> dict:
    """The guarded builtins table, built afresh (once per process, by
    :func:`sandbox.runtime.tenant_builtins`). Its values are shared by every
    tenant, so each is stateless — functions and ``__slots__`` guards tenant
    code cannot write to (the membrane refuses attribute writes on host
    objects).

    Absent on purpose (SECURITY-NOTES): ``SystemExit``, ``KeyboardInterrupt``,
    ``GeneratorExit``, ``BaseException``, ``id``, ``vars``, ``dir``,
    ``globals``, ``locals``, ``compile``, ``eval``, ``exec``,
    ``memoryview``, ``input``, ``breakpoint``, ``help``. ``object``,
    ``super`` and ``type`` are the guarded versions of
    :mod:`sandbox.guards.own_objects`. :func:`sandbox.runtime.tenant_builtins`
    adds ``__import__``, ``__metaclass__`` and ``_print_``; ``open`` is a
    global of each tenant module.
    """
    table = {name: getattr(builtins, name) for name in _SAFE_BUILTIN_NAMES}
    table.update({name: getattr(builtins, name) for name in _SAFE_EXCEPTIONS})
    table.update(
        {
            "__build_class__": builtins.__build_class__,
            **{type_.__name__: TypeGuard(type_, construct)
               for type_, construct in GUARDED_CONSTRUCTORS.items()},
            "range": SafeRange,
            "round": safe_round,
            "sum": safe_sum,
            "divmod": safe_divmod,
            "_star_": star_items,
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
            "ascii": safe_ascii,
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
            **operator_builtins(),
            "_fstring_": join_text,
            "repr": safe_repr,
            "_format_": guarded_format,
            "_tick_": limits.tick,
            "_compare_": guarded_compare,
            "min": safe_min,
            "max": safe_max,
            "_compared_": compared,
            "_write_private_": write_private,
            "object": TypeGuard(object, object),
            "super": tenant_super,
        }
    )
    table["type"] = make_safe_type({int: table["int"], str: table["str"],
                                    bytes: table["bytes"], bytearray: table["bytearray"],
                                    list: table["list"], tuple: table["tuple"],
                                    range: SafeRange})
    return table


def builtin_names() -> frozenset:
    """The names tenant code finds without defining them: the table's
    (:func:`make_builtins`), what :func:`sandbox.runtime.tenant_builtins`
    adds (``__import__``, ``__metaclass__``, ``_print_``), ``open`` (a
    global of each module) and ``print`` (compiled to ``_print_``).
    Deploy-time checks read it (in the compiler process too, which never
    imports the facades): a builtin of Python missing here is refused with
    file and line instead of a ``NameError`` when a request reaches it."""
    return frozenset(make_builtins()) | {"__import__", "__metaclass__", "_print_", "open", "print"}

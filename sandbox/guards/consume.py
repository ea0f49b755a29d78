"""The one path by which tenant values become text: sized first, then built.

Python turns a value into text in one C call that sizes nothing:
``str([s] * 2000)`` of a 1 MB ``s`` builds 2 GB, and so does a list of
objects whose ``__repr__`` returns one cached megabyte, or a ``deque``, a
namedtuple, a dataclass or an exception holding such a list. Whoever turns
tenant values into text — the tenant's own ``str()``/``repr()``/``format()``
and ``%``, and the host when it prints, logs, formats a traceback, writes a
CSV row or encodes JSON — goes through :func:`text_of`:

* The size of the text is estimated first by a ticking walk
  (:func:`sandbox.guards.operators.text_size`). When it fits and holds no
  *opaque* leaf (an object whose ``__repr__`` is tenant code), CPython's
  own ``str``/``repr`` builds it: exact, and fast.
* Otherwise the text is built here, piece by piece, with a running count:
  containers as CPython writes them (``[...]``, ``(x,)``, ``{k: v}``,
  ``deque([...])``, ``P(x=1)`` for namedtuples and dataclasses,
  ``ValueError('...')``), leaves by their own ``repr`` (tenant code runs
  under the request's budget, as ever) cut to what is left. Past the limit
  the text is cut (``over="cut"``, for the host's logs) or the request is
  stopped with its memory limit (``over="raise"``, for the tenant's ``str()``),
  never built.

:func:`safe_str` and :func:`exception_text` are what host code calls; the
tenant's ``str``/``repr`` builtins are :func:`text_of` with the request's
memory budget as the limit.

.. warning::
   A value's text is only as bounded as its ``repr``: a host class whose
   ``repr`` shows tenant data must be known to the estimate
   (:data:`sandbox.guards.operators.CONTAINER_CHILDREN`), and is written here
   when it has a writer (:data:`WRITERS`); otherwise, past the limit or
   beside tenant code, it is shown as ``<Name object>``.
"""

from __future__ import annotations

import collections
import dataclasses
import enum
import types

import re

from sandbox import limits
from sandbox.guards.operators import SizeLimitError
from sandbox.guards.operators import check_allocation
from sandbox.guards.operators import check_decimal
from sandbox.guards.operators import check_floordiv
from sandbox.guards.operators import check_text
from sandbox.guards.operators import text_estimate
from sandbox.guards.operators import text_limit
from sandbox.guards.own_objects import TENANT_CLASSES
from sandbox.guards.own_objects import is_tenant_function

#: Longest text the host takes from one tenant value for a log line.
MAX_LOG_TEXT = 8192
CUT = "...(cut)"

_LEAVES = (str, int, float, bool, type(None), complex)


class _Full(Exception):
    """The text reached its limit (internal)."""


class _Builder:
    __slots__ = ("parts", "left", "over", "what", "count")

    def __init__(self, limit: int, over: str, what: str):
        self.parts: list[str] = []
        self.left = limit
        self.over = over
        self.what = what
        self.count = 0

    def add(self, text: str) -> None:
        self.count += 1
        if not self.count & 63:
            limits.tick(8)
        if len(text) <= self.left:
            self.parts.append(text)
            self.left -= len(text)
            return
        if self.over == "raise":
            check_allocation(len(text) + sum(map(len, self.parts)) * 2 + 2**62, self.what)
        self.parts.append(text[:self.left])
        self.left = 0
        raise _Full


def _method_owner(cls, name):
    for klass in cls.__mro__:
        if name in klass.__dict__:
            return klass, klass.__dict__[name]
    return None, None


def _tenant_method(cls, name):
    """The tenant's own ``__repr__``/``__str__`` of ``cls``, or None."""
    owner, method = _method_owner(cls, name)
    if owner is not None and owner in TENANT_CLASSES and is_tenant_function(method):
        return method
    return None


def _is_opaque(value) -> bool:
    """Whether ``value``'s text is tenant code (its size is unknown)."""
    cls = type(value)
    return cls in TENANT_CLASSES and (_tenant_method(cls, "__repr__") is not None
                                      or _tenant_method(cls, "__str__") is not None)


def plain_text(value):
    """``value`` as a plain ``str`` or ``bytes`` when it is a subclass of
    one, anything else as it is: what a facade hands the standard library
    when it may keep the value (a cache key: ``_strptime``'s, ``regex``'s,
    ``sqlite3``'s converters). A tenant subclass keeps its own attributes
    (memory, for as long as the cache lives) and its class; the copy keeps
    neither."""
    cls = type(value)
    if cls is str or cls is bytes:
        return value
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, bytes):
        return bytes.__bytes__(value)
    return value


def _leaf_text(value, as_str: bool) -> str:
    text = str(value) if as_str else repr(value)
    if type(text) is not str:
        text = str.__str__(text)  # a str subclass: its methods are tenant code
    return text


def _items(builder, open_, items, close, sep=", ", single_comma=False):
    builder.add(open_)
    first = True
    n = 0
    for item in items:
        n += 1
        if not first:
            builder.add(sep)
        first = False
        yield item
    if single_comma and n == 1:
        builder.add(",")
    builder.add(close)


def _write(builder: _Builder, value, as_str: bool, depth: int) -> None:
    """Append the text of ``value`` (``str`` if ``as_str`` else ``repr``)."""
    if depth > 200:
        raise RecursionError("maximum recursion depth exceeded while getting the repr")
    cls = type(value)
    if cls is str:
        if as_str:
            builder.add(value)
        elif len(value) + 2 > builder.left:
            builder.add(repr(value[:builder.left])[:-1])
        else:
            builder.add(repr(value))
        return
    if cls in (bytes, bytearray) and len(value) * 4 > builder.left:
        builder.add(repr(value[:builder.left])[:-1])
        return
    if cls in _LEAVES or cls in (bytes, bytearray):
        builder.add(_leaf_text(value, as_str))
        return
    tenant = _tenant_method(cls, "__str__" if as_str else "__repr__")
    if tenant is None and as_str:
        tenant = _tenant_method(cls, "__repr__") if _method_owner(cls, "__str__")[0] is object \
            else None
    if tenant is not None:
        builder.add(_leaf_text(value, as_str))  # tenant code, under the budget
        return
    if as_str and not isinstance(value, BaseException) and \
            _method_owner(cls, "__str__")[0] is not object:
        # A host class's own str() (an enum member's "Color.RED"): one call.
        if text_estimate(value, builder.left)[0] <= builder.left:
            builder.add(_leaf_text(value, True))
        else:
            builder.add(f"<{cls.__name__} object>")
        return
    written = _write_known(builder, value, cls, as_str, depth)
    if written:
        return
    if text_estimate(value, builder.left)[0] <= builder.left:
        builder.add(_leaf_text(value, as_str))
    else:
        builder.add(f"<{cls.__name__} object>")


def _write_known(builder, value, cls, as_str, depth) -> bool:
    """Containers, namedtuples, dataclasses, exceptions as CPython writes
    them; False for anything else."""
    nested = depth + 1
    if isinstance(value, BaseException):
        if _method_owner(cls, "__str__")[0] is not BaseException and as_str \
                or _method_owner(cls, "__repr__")[0] is not BaseException and not as_str:
            return False
        args = value.args
        if as_str:
            if len(args) == 1:
                _write(builder, args[0], True, nested)
            elif args:
                _write(builder, args, False, nested)
            return True
        for item in _items(builder, cls.__name__ + "(", args, ")"):
            _write(builder, item, False, nested)
        return True
    if isinstance(value, tuple) and hasattr(cls, "_fields") and \
            _method_owner(cls, "__repr__")[0] is not tuple:
        if _method_owner(cls, "__repr__")[0] in TENANT_CLASSES and \
                is_tenant_function(_method_owner(cls, "__repr__")[1]):
            return False
        for name, item in _items(builder, cls.__name__ + "(", zip(cls._fields, value), ")"):
            builder.add(f"{name}=")
            _write(builder, item, False, nested)
        return True
    if dataclasses.is_dataclass(cls) and cls.__dataclass_params__.repr and \
            not is_tenant_function(cls.__dict__.get("__repr__")):
        fields = [f for f in dataclasses.fields(cls) if f.repr]
        for field in _items(builder, cls.__qualname__ + "(", fields, ")"):
            builder.add(f"{field.name}=")
            _write(builder, getattr(value, field.name), False, nested)
        return True
    for klass in cls.__mro__:
        writer = WRITERS.get(klass)
        if writer is not None:
            if _method_owner(cls, "__repr__")[0] is not _REPR_OWNER.get(klass, klass):
                return False
            writer(builder, value, nested)
            return True
    if cls in (list, tuple, dict, set, frozenset) or _plain_subclass(cls):
        base = next(b for b in (list, tuple, dict, set, frozenset) if isinstance(value, b))
        if base is dict:
            for key, item in _items(builder, "{", value.items(), "}"):
                _write(builder, key, False, nested)
                builder.add(": ")
                _write(builder, item, False, nested)
        elif base is list:
            for item in _items(builder, "[", value, "]"):
                _write(builder, item, False, nested)
        elif base is tuple:
            for item in _items(builder, "(", value, ")", single_comma=True):
                _write(builder, item, False, nested)
        elif not value:
            builder.add("set()" if base is set else "frozenset()")
        else:
            opening, closing = ("{", "}") if base is set else ("frozenset({", "})")
            for item in _items(builder, opening, value, closing):
                _write(builder, item, False, nested)
        return True
    return False


def _sequence(builder, value, depth, opening, closing):
    for item in _items(builder, opening, value, closing):
        _write(builder, item, False, depth)


def _pairs(builder, pairs, depth, opening, closing):
    for key, item in _items(builder, opening, pairs, closing):
        _write(builder, key, False, depth)
        builder.add(": ")
        _write(builder, item, False, depth)


def _deque(builder, value, depth):
    _sequence(builder, value, depth, "deque([", "]" if value.maxlen is None else "]")
    builder.add(")" if value.maxlen is None else f", maxlen={value.maxlen})")


def _ordered(builder, value, depth):
    if not value:
        builder.add(f"{type(value).__name__}()")
        return
    builder.add(f"{type(value).__name__}(")
    for key, item in _items(builder, "[", value.items(), "]"):
        builder.add("(")
        _write(builder, key, False, depth)
        builder.add(", ")
        _write(builder, item, False, depth)
        builder.add(")")
    builder.add(")")


def _defaultdict(builder, value, depth):
    builder.add(f"{type(value).__name__}(")
    _write(builder, value.default_factory, False, depth)
    builder.add(", ")
    _pairs(builder, value.items(), depth, "{", "}")
    builder.add(")")


def _counter(builder, value, depth):
    if not value:
        builder.add(f"{type(value).__name__}()")
        return
    builder.add(f"{type(value).__name__}(")
    try:
        pairs = value.most_common() if len(value) <= 2**16 else value.items()
    except TypeError:
        pairs = value.items()
    _pairs(builder, pairs, depth, "{", "}")
    builder.add(")")


def _chainmap(builder, value, depth):
    _sequence(builder, value.maps, depth, f"{type(value).__name__}(", ")")


def _user(builder, value, depth):
    _write(builder, value.data, False, depth)


def _enum(builder, value, depth):
    builder.add(f"<{type(value).__name__}.{value._name_}: ")
    _write(builder, value._value_, False, depth)
    builder.add(">")


def _view(builder, value, depth):
    _sequence(builder, value, depth, f"{type(value).__name__}([", "])")


def _proxy(builder, value, depth):
    builder.add("mappingproxy(")
    _pairs(builder, value.items(), depth, "{", "}")
    builder.add(")")


def _namespace(builder, value, depth):
    builder.add("namespace(")
    for key, item in _items(builder, "", vars(value).items(), ""):
        builder.add(f"{key}=")
        _write(builder, item, False, depth)
    builder.add(")")


#: Host containers written here, as CPython writes them (when their
#: ``__repr__`` is still the one of the class written for).
WRITERS = {
    collections.deque: _deque,
    collections.OrderedDict: _ordered,
    collections.defaultdict: _defaultdict,
    collections.Counter: _counter,
    collections.ChainMap: _chainmap,
    collections.UserList: _user,
    collections.UserDict: _user,
    collections.UserString: _user,
    enum.Enum: _enum,
    type({}.keys()): _view,
    type({}.values()): _view,
    type({}.items()): _view,
    types.MappingProxyType: _proxy,
    types.SimpleNamespace: _namespace,
}
#: Where the repr written for lives when it is not the class itself.
_REPR_OWNER = {enum.Enum: enum.Enum}


def _plain_subclass(cls) -> bool:
    """A subclass of a container whose repr is still the container's."""
    for base in (list, tuple, dict, set, frozenset):
        if issubclass(cls, base):
            return _method_owner(cls, "__repr__")[0] is base
    return False


def text_of(value, *, limit: int, as_str: bool = True, over: str = "cut",
            what: str = "str()") -> str:
    """The text ``str(value)`` (or ``repr`` when not ``as_str``) would give,
    never built past ``limit`` characters: cut (``over="cut"``, marked with
    :data:`CUT`) or stopped with the memory limit (``over="raise"``)."""
    cls = type(value)
    if cls is str:
        if as_str:
            if len(value) <= limit or over == "raise":
                return value
            return value[:limit] + CUT
    elif cls in (int, float, bool, type(None)):
        return str(value) if as_str else repr(value)
    size, opaque = text_estimate(value, limit)
    if size <= limit and not opaque:
        if over == "raise":
            check_allocation(size, what)
        return _leaf_text(value, as_str)
    if over == "raise" and size > limit and not opaque:
        check_allocation(size, what)
    builder = _Builder(limit, over, what)
    try:
        _write(builder, value, as_str, 0)
    except _Full:
        return "".join(builder.parts) + CUT
    return "".join(builder.parts)


#: The widest field or precision one ``%`` conversion may ask for.
MAX_PERCENT_WIDTH = 999_999
_DIGITS = frozenset("0123456789")


def _percent_conversions(pattern: str) -> tuple[int, collections.Counter]:
    """``(widths, keys)`` of a ``%`` template: the sum of its conversions'
    widths and precisions (text the result holds whatever the values are),
    and how many times each ``%(key)`` conversion names each key (a key's
    value is formatted once per naming, not once). Read as CPython's
    ``PyUnicode_Format`` reads it: a key's parentheses nest.

    :raise SizeLimitError: a ``*`` width or precision, or one over
        :data:`MAX_PERCENT_WIDTH`.
    """
    widths, keys = 0, collections.Counter()
    end = len(pattern)

    def number(at: int) -> tuple[int, int]:
        """The width or precision at ``at`` (0 if none), and where it ends."""
        start = at
        while at < end and pattern[at] in _DIGITS:
            at += 1
        if at < end and pattern[at] == "*" or at - start > len(str(MAX_PERCENT_WIDTH)):
            raise SizeLimitError("%-format width or precision is over the limit or uses '*'")
        return int(pattern[start:at] or 0), at

    at = pattern.find("%")
    while 0 <= at < end - 1:
        at += 1
        if pattern[at] == "%":
            at = pattern.find("%", at + 1)
            continue
        if pattern[at] == "(":
            depth, start = 1, at + 1
            while at + 1 < end and depth:
                at += 1
                depth += {"(": 1, ")": -1}.get(pattern[at], 0)
            keys[pattern[start:at]] += 1
            at += 1
        while at < end and pattern[at] in "#0- +":
            at += 1
        width, at = number(at)
        widths += width
        if at < end and pattern[at] == ".":
            precision, at = number(at + 1)
            widths += precision
        at = pattern.find("%", at)
    return widths, keys


class _Rendered:
    """A value whose text was built here, standing in for it in ``%``."""

    __slots__ = ("text", "code")

    def __init__(self, value):
        self.text = text_of(value, limit=text_limit(), over="raise", what="%-formatting")
        self.code = text_of(value, limit=text_limit(), as_str=False, over="raise",
                            what="%-formatting")

    def __str__(self):
        return self.text

    def __repr__(self):
        return self.code


_NUMBER_HOOKS = ("__index__", "__int__", "__float__", "__complex__")


def _rendered(value):
    # Where CPython's own str() would run tenant code: inside a container,
    # or the value itself (a tenant __str__ returning 10 MB it holds, twelve
    # times in one template) — not a number-like value, which %d formats.
    if text_estimate(value, text_limit())[1] and (
            isinstance(value, (list, tuple, dict, set, frozenset, BaseException))
            or not any(hasattr(type(value), hook) for hook in _NUMBER_HOOKS)):
        return _Rendered(value)
    return value


def _rendered_size(value) -> int:
    if isinstance(value, _Rendered):
        return max(len(value.text), len(value.code))
    return text_estimate(value, text_limit())[0]


#: What ``%`` formats text with, by the class of its left side -> the
#: template as text (bytes read as latin-1), or None when this object's ``%``
#: is not text formatting. Subclasses count as their base
#: (``S('%9999999d') % 1``); ``UserString`` formats its ``data``.
PERCENT_TEMPLATES = {
    str: lambda text: text,
    bytes: lambda data: data.decode("latin-1"),
    bytearray: lambda data: data.decode("latin-1"),
    collections.UserString: lambda text: _percent_template(text.data),
}


def _percent_template(left):
    for cls in type(left).__mro__:
        template = PERCENT_TEMPLATES.get(cls)
        if template is not None:
            return template(left)
    return None


def check_mod(left, right):
    """Before ``%``: bound ``%``-formatting widths (``'%*d' % (10**10, 1)``)
    and the text of the values, for every left side that formats text
    (:data:`PERCENT_TEMPLATES`). Returns the right side to format with:
    values whose ``str`` would run tenant code inside a container are built
    here first."""
    pattern = _percent_template(left)
    if pattern is None:
        return check_floordiv(left, right)  # a % of numbers is a division
    widths, keys = _percent_conversions(pattern)
    if keys and hasattr(type(right), "__getitem__") and not isinstance(right, (tuple, str, bytes)):
        # ``%(key)s``: each key looked up once, here, into a plain dict (a
        # tenant mapping could answer a different value at each lookup).
        if isinstance(left, (bytes, bytearray)):
            keys = collections.Counter({key.encode("latin-1"): n for key, n in keys.items()})
        right = {key: right[key] for key in keys}
        values = tuple(value for key, value in right.items() for _ in range(keys[key]))
    else:
        values = right if isinstance(right, tuple) else (right,)
    for value in values:
        check_decimal(value)
    fixed = len(pattern) + widths
    check_allocation(fixed + text_estimate(values, text_limit())[0], "%-formatting")
    if isinstance(left, (str, collections.UserString)):
        if type(right) is tuple:
            right = tuple(_rendered(v) for v in right)
            rendered = right
        elif type(right) is dict:
            right = {k: _rendered(v) for k, v in right.items()}
            rendered = tuple(value for key, value in right.items() for _ in range(keys[key] or 1))
        else:
            right = _rendered(right)
            rendered = (right,)
        if any(isinstance(v, _Rendered) for v in rendered):
            # The tenant's text is known now: the whole result, sized.
            check_allocation(fixed + sum(map(_rendered_size, rendered)), "%-formatting")
    return right


def guarded_mod(left, right):
    """``%``, checked by :func:`check_mod`."""
    return left % check_mod(left, right)


_SPEC_NUMBERS = re.compile(r"\d+")


def guarded_format(value, spec="", conversion=""):
    """``format()`` and f-string fields, with bounded widths and sizes."""
    if conversion == "r" or conversion == "a":
        value = text_of(value, limit=text_limit(), as_str=False, over="raise",
                        what="formatting a value")
        if conversion == "a":
            value = ascii(value)[1:-1]
    elif conversion == "s" or (not spec and type(value).__format__ is object.__format__):
        # format(x, "") is str(x) for every class that keeps object's __format__.
        value = text_of(value, limit=text_limit(), over="raise", what="formatting a value")
        if not spec:
            return value
    else:
        check_text(value, "formatting a value")
    check_format_spec(spec)
    return format(value, spec)


def check_format_spec(spec) -> None:
    """Before a value's ``__format__``: the widths of ``spec`` bounded."""
    if type(spec) is not str:
        raise TypeError("format spec must be a string")
    for digits in _SPEC_NUMBERS.findall(spec):
        if len(digits) > 12:
            raise SizeLimitError("format width or precision is over the limit")
        check_allocation(int(digits), "a format width")


def safe_str(value, limit: int = MAX_LOG_TEXT) -> str:
    """``str(value)`` for the host (a log line, an error message): at most
    ``limit`` characters, cut and marked past that, never built whole."""
    return text_of(value, limit=limit)


def safe_repr(value, limit: int = MAX_LOG_TEXT) -> str:
    """``repr(value)`` for the host, bounded like :func:`safe_str`."""
    return text_of(value, limit=limit, as_str=False)


def exception_text(exc, limit: int = MAX_LOG_TEXT) -> str:
    """``"Type: message"``, as a traceback's last line says it, bounded."""
    name = type(exc).__name__
    try:
        message = safe_str(exc, limit)
    except limits.LimitExceeded:
        raise
    except Exception:  # an __str__ that raises, as traceback shows it
        message = "<exception str() failed>"
    return f"{name}: {message}" if message else name

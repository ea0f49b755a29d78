"""Attribute and format access, and writes.

Attribute reads never hand out a module, frame, code or traceback, and
``str.format`` is replaced by a formatter whose field lookups are guarded.
Writes are allowed to plain containers and to objects of classes the tenant
defined, never to host objects.
"""

from __future__ import annotations

import _string
import abc
import operator
import string
from types import CodeType
from types import FrameType
from types import ModuleType
from types import TracebackType

from markupsafe import Markup
from markupsafe import escape
from RestrictedPython.transformer import INSPECT_ATTRIBUTES

from sandbox.guards.iteration import guarded_iter
from sandbox.guards.operators import _repeat_count
from sandbox.guards.operators import check_allocation
from sandbox.guards.operators import guarded_format
from sandbox.guards.operators import guarded_lshift
from sandbox.guards.operators import guarded_mod
from sandbox.guards.operators import guarded_mul
from sandbox.guards.operators import MAX_INT_BITS
from sandbox.guards.operators import SizeLimitError
from sandbox.guards.operators import guarded_add
from sandbox.guards.operators import guarded_sub
from sandbox.guards.operators import guarded_truediv
from sandbox.guards.operators import guarded_pow

from sandbox.guards.own_objects import TENANT_CLASSES
from sandbox.guards.own_objects import is_private_name
from sandbox.guards.own_objects import is_tenant_object
from sandbox.guards.own_objects import special_attr
from sandbox.guards.own_objects import write_private


_RAISE = object()


_DENIED_TYPES = (ModuleType, FrameType, CodeType, TracebackType)
_GUARDED_TEXT_METHODS = frozenset(["join", "replace", "translate", "ljust", "rjust", "center",
                                   "zfill", "expandtabs"])


def _unbound_guarded(cls, name):
    def method(self, *args, **kwargs):
        if not isinstance(self, cls):
            raise TypeError(f"{cls.__name__}.{name}() needs a {cls.__name__}")
        return guarded_getattr(self, name)(*args, **kwargs)

    return method
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

    def __init__(self, template: str = ""):
        #: Characters the fields produced so far, plus the template's.
        self.total = len(template)

    def format_field(self, value, format_spec):
        text = guarded_format(value, format_spec)
        self.total += len(text)
        check_allocation(self.total, "str.format()")
        return text


class _MarkupFormatter(SafeFormatter):
    """``Markup.format``: the guarded formatter that also escapes each field,
    as markupsafe's own does (safe ``Markup`` values are kept as they are)."""

    def format_field(self, value, format_spec):
        if isinstance(value, Markup):
            if format_spec:
                raise ValueError(f"Format specifier {format_spec} given, but {type(value)} "
                                 "does not define __html_format__.")
            text = str.__str__(value)
        else:
            text = str.__str__(escape(super().format_field(value, format_spec)))
        self.total += len(text)
        check_allocation(self.total, "Markup.format()")
        return text


def _formatter(template: str) -> SafeFormatter:
    return _MarkupFormatter(template) if isinstance(template, Markup) else SafeFormatter(template)


def _safe_format(template: str):
    def format(*args, **kwargs):
        text = _formatter(template).vformat(template, args, kwargs)
        return Markup(text) if isinstance(template, Markup) else text

    return format


def _safe_format_map(template: str):
    def format_map(mapping):
        text = _formatter(template).vformat(template, (), mapping)
        return Markup(text) if isinstance(template, Markup) else text

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
        total = len(sep) * len(items)
        for item in items:
            if isinstance(item, (str, bytes, bytearray)):
                total += len(item)
        check_allocation(total, "join()")
        return join(items)

    return guarded


def _guarded_translate(text):
    translate = text.translate

    def guarded(table, *args):
        if isinstance(table, dict) and table:
            longest = max((len(v) for v in table.values() if isinstance(v, (str, bytes))),
                          default=1)
            check_allocation(len(text) * max(longest, 1), "translate()")
        return translate(table, *args)

    return guarded


def _guarded_from_bytes(from_bytes):
    def guarded(data, *args, **kwargs):
        if hasattr(data, "__len__") and len(data) * 8 > MAX_INT_BITS:
            raise SizeLimitError("int.from_bytes() would build too large an integer")
        return from_bytes(data, *args, **kwargs)

    return guarded


def _guarded_xof_digest(method):
    def guarded(length):
        check_allocation(length * 2, "a digest of that length")
        return method(length)

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
        return special_attr(obj, name, default, _RAISE)
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
        if name == "translate":
            return _guarded_translate(obj)
    elif name == "from_bytes" and (obj is int or isinstance(obj, int)
                                   or isinstance(obj, type) and issubclass(obj, int)):
        return _guarded_from_bytes(getattr(obj, name))
    elif name in ("digest", "hexdigest") and type(obj).__name__ == "HASHXOF":
        # shake_*: the caller picks the length of one allocation.
        return _guarded_xof_digest(getattr(obj, name))
    elif isinstance(obj, type) and issubclass(obj, str) and name in ("format", "format_map"):
        raise NotImplementedError("use the format method of a string instance")
    elif (isinstance(obj, type) and issubclass(obj, (str, bytes, bytearray))
          and name in _GUARDED_TEXT_METHODS):
        # str.join(sep, items), bytes.ljust(b, n): the unbound method, with
        # the same guard as the bound one.
        return _unbound_guarded(obj, name)
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


_WRITABLE_CONTAINERS = (dict, list, set, bytearray)


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


def _writable_for(obj, name):
    if is_private_name(name):
        return write_private(obj, name)
    if type(name) is not str or name.startswith("_"):
        raise AttributeError(f"cannot set attribute {name!r}")
    return guarded_write(obj)


def guarded_setattr(obj, name, value):
    setattr(_writable_for(obj, name), name, value)


def guarded_delattr(obj, name):
    delattr(_writable_for(obj, name), name)


_INPLACE = {
    "+=": guarded_add,
    "-=": guarded_sub,
    "*=": guarded_mul,
    "/=": guarded_truediv,
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
    setattr(_writable_for(obj, name), name, guarded_inplacevar(op, guarded_getattr(obj, name), value))


def guarded_apply(func, *args, **kwargs):
    """``_apply_``: calls with ``*args``/``**kwargs``."""
    return func(*args, **kwargs)

"""Attribute and format access, and writes.

Attribute reads never hand out a module, frame, code or traceback, and
``str.format`` is replaced by a formatter whose field lookups are guarded.
Writes are allowed to plain containers and to objects of classes the tenant
defined, never to host objects.
"""

from __future__ import annotations

import _string
import operator
import string
from types import CodeType
from types import FrameType
from types import ModuleType
from types import TracebackType

from markupsafe import Markup
from markupsafe import escape
from RestrictedPython.transformer import INSPECT_ATTRIBUTES

from sandbox.guards.operators import guarded_floordiv
from sandbox.guards.operators import count_answers_mul
from sandbox.guards.operators import mul_operands
from sandbox.guards.operators import sized_items
from sandbox.guards.operators import check_allocation
from sandbox.guards.consume import guarded_format
from sandbox.guards.operators import guarded_lshift
from sandbox.guards.consume import guarded_mod
from sandbox.guards.operators import guarded_mul
from sandbox.guards.operators import guarded_add
from sandbox.guards.operators import guarded_sub
from sandbox.guards.operators import guarded_truediv
from sandbox.guards.operators import guarded_pow

from sandbox.guards import language  # noqa: F401 - declares the language's own types
from sandbox.guards import natives  # noqa: F401 - fills the guard tables
from sandbox.guards import special_methods  # noqa: F401 - fills SPECIAL_METHODS
from sandbox.guards.declared import entry_for
from sandbox.guards.declared import forget_tenant_classes
from sandbox.guards.own_objects import TENANT_CLASSES
from sandbox.guards.own_objects import refused_value_assignment
from sandbox.guards.own_objects import is_private_name
from sandbox.guards.own_objects import is_tenant_object
from sandbox.guards.own_objects import special_attr
from sandbox.guards.own_objects import write_private


_RAISE = object()


_DENIED_TYPES = (ModuleType, FrameType, CodeType, TracebackType)


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


class MarkupFormatter(SafeFormatter):
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


def formatter_for(template: str) -> SafeFormatter:
    """The guarded formatter for ``template.format``: escaping for Markup."""
    return MarkupFormatter(template) if isinstance(template, Markup) else SafeFormatter(template)


def _refuse(obj, name):
    if isinstance(obj, type):
        raise AttributeError(f"the class {obj.__name__!r} offers no {name!r} here")
    raise AttributeError(f"{type(obj).__name__!r} objects offer no {name!r} here")


def guarded_getattr(obj, name, default=_RAISE):
    """``_getattr_``, the ``getattr`` builtin, and every other road to an
    attribute: the membrane.

    Names starting with ``_`` are :func:`special_attr`'s (the tenant's own
    objects only); RestrictedPython's inspect names are refused; every other
    name is read only when :func:`sandbox.guards.declared.entry_for` says
    the class offers it, through the guard of the native table if it has
    one. Never returns a module, frame, code object or traceback, whatever
    object it was asked about.
    """
    if type(name) is not str:
        raise TypeError("attribute name must be a string")
    if name.startswith("_"):
        return special_attr(obj, name, default, _RAISE)
    if name in INSPECT_ATTRIBUTES:
        raise AttributeError(f'"{name}" is a restricted name in the sandbox')
    entry = entry_for(obj, name)
    try:
        if entry is True:
            value = getattr(obj, name)
        elif entry is False:
            _refuse(obj, name)
        else:
            value = entry(obj, name)
    except AttributeError:
        if default is _RAISE:
            raise
        return default
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


class _ClassWriter:
    """What ``_write_`` returns for a tenant class: the write goes through,
    and the membrane forgets its verdicts (a name the class defined or
    dropped may now have another owner)."""

    __slots__ = ("_cls",)

    def __init__(self, cls):
        object.__setattr__(self, "_cls", cls)

    def __setattr__(self, name, value):
        cls = object.__getattribute__(self, "_cls")
        refused = refused_value_assignment(cls, name, value)
        if refused is not None:
            raise TypeError(f"class {cls.__name__}: {refused}")
        setattr(cls, name, value)
        forget_tenant_classes()

    def __delattr__(self, name):
        delattr(object.__getattribute__(self, "_cls"), name)
        forget_tenant_classes()


def guarded_write(ob):
    """``_write_``: allow writes to plain containers and tenant objects."""
    if (
        isinstance(ob, _WRITABLE_CONTAINERS)
        or is_tenant_object(ob)
        or getattr(type(ob), "_guarded_writes", False)
    ):
        if isinstance(ob, type):
            return _ClassWriter(ob) if ob in TENANT_CLASSES else _ReadOnly(ob)
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
    "//=": guarded_floordiv,
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
        result = count_answers_mul(target, value)
        if result is not NotImplemented:
            return result
        target *= mul_operands(target, value)[1]
        return target
    if op == "+=" and isinstance(target, list):
        target += sized_items(value, "+=")
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

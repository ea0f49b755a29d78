"""Ordinary Python on the tenant's own classes and objects, and nothing else.

Real code says ``self._items``, ``super().__init__()``, ``Base.__init__(self)``,
``class A(object)`` and ``type(x).__name__``. RestrictedPython refuses all of
them because on a *host* object each is a door: ``_private`` state, a
re-initialised host object, a host class to construct. This module opens
them on tenant classes and their instances only:

* ``obj._name`` (one leading underscore, not ending in ``_``) reads and writes
  when ``obj`` is a tenant object and the name is not defined by a host class
  on its MRO (a tenant subclass of ``mux.Response`` cannot reach the
  response's private state); and on a host *namespace* (Flask's ``g``, whose
  class names a ``_tenant_namespace_``): there the name is a key of the dict
  it gives, which holds only what the tenant stored — never the class's own
  attributes (:func:`tenant_namespace`).
* Special methods (``__init__``, ``__eq__`` ...) are read on tenant objects,
  tenant classes and ``super()`` objects over them; a host one goes through
  the guard :data:`SPECIAL_METHODS` names for it (``S('x').__mul__(n)`` is
  checked as ``S('x') * n`` is), and reached through a tenant class
  (``C.__init__``, ``super(C, C).__init__``) it accepts only a tenant object
  as ``self``.
* ``__name__``, ``__qualname__`` and ``__doc__`` read as text on anything;
  ``__class__`` and ``__module__`` on tenant objects only.
* ``super()`` works over tenant objects only; ``type(x)`` gives a tenant
  class or a plain data type as itself and any other host class as a
  :class:`HostType` stand-in that compares equal to it, answers
  ``isinstance`` and ``__name__``, and cannot be called.

.. warning::
   Names ending in ``_`` stay closed: RestrictedPython's guards are looked up
   by such names (``_getattr_``, ``_write_``) and a tenant global of that
   name would replace the guard for its module.
"""

from __future__ import annotations

import builtins
import re
import weakref
from enum import EnumMeta
from types import FunctionType
from types import MethodType

#: The key of a tenant module's globals that holds its
#: :class:`sandbox.runtime.TenantRuntime`. Tenant code can neither name it
#: nor read it (dunder names are refused by the policy, and
#: ``TenantModule`` hides them), and it holds an object, not a name: nothing
#: a tenant can build stands for another tenant.
RUNTIME_KEY = "__mux_runtime__"

#: Classes created by tenant code; instances of these may be written to.
TENANT_CLASSES: weakref.WeakSet = weakref.WeakSet()

#: Dunder methods a tenant class may define. Each is called by Python
#: itself on the tenant's own objects while tenant code runs. Not listed,
#: on purpose: ``__del__`` (runs at garbage collection, outside every limit),
#: ``__getattr__``/``__getattribute__``/``__setattr__``/``__delattr__``
#: (would run when the host inspects a returned object), descriptors
#: (``__get__``/``__set__``/``__set_name__``), ``__init_subclass__``,
#: ``__class_getitem__``, ``__reduce__``/``__reduce_ex__`` and ``__new__``.
ALLOWED_DUNDER_METHODS = frozenset(
    """
    __init__ __post_init__ __repr__ __str__ __format__ __bytes__ __bool__
    __eq__ __ne__ __lt__ __le__ __gt__ __ge__ __hash__
    __len__ __iter__ __next__ __reversed__ __contains__ __missing__
    __getitem__ __setitem__ __delitem__ __enter__ __exit__ __call__
    __add__ __sub__ __mul__ __matmul__ __truediv__ __floordiv__ __mod__
    __divmod__ __pow__ __lshift__ __rshift__ __and__ __xor__ __or__
    __radd__ __rsub__ __rmul__ __rmatmul__ __rtruediv__ __rfloordiv__
    __rmod__ __rdivmod__ __rpow__ __rlshift__ __rrshift__ __rand__
    __rxor__ __ror__ __iadd__ __isub__ __imul__ __itruediv__
    __ifloordiv__ __imod__ __ipow__ __ilshift__ __irshift__ __iand__
    __ixor__ __ior__ __neg__ __pos__ __abs__ __invert__ __int__
    __float__ __complex__ __round__ __trunc__ __floor__ __ceil__
    __index__
    """.split()
)

#: Builtin value types that the host and the standard library hash, compare
#: and read as names and cache keys (``_strptime``'s and ``sqlite3``'s
#: process-wide tables, ``functools.lru_cache``, Jinja's attribute names).
VALUE_TYPES = (str, bytes, int, float, complex, tuple, frozenset)
#: What a tenant subclass of any of them may not define: the protocol a
#: dict or a cache runs when it compares keys — in whichever tenant's
#: request the comparison happens (round 6: a format whose ``__hash__``
#: matched another tenant's ran its ``__eq__`` in that tenant's request).
VALUE_IDENTITY = frozenset(["__eq__", "__ne__", "__hash__", "__lt__", "__le__", "__gt__",
                            "__ge__"])
#: Of ``str``'s and ``bytes``' own names, what a tenant subclass may define.
#: The rest (``startswith``, ``upper``, ``split``, ``__str__``...) stay the
#: base type's, so host code that asks a name about itself gets the answer
#: its characters give (round 6: a ``startswith`` that changed its answer
#: passed Jinja's check). An Enum's ``__str__`` is allowed: its members are
#: fixed values, and ``class Color(str, Enum)`` often defines it.
TEXT_MAY_DEFINE = frozenset(["__new__", "__init__", "__repr__", "__format__", "__doc__",
                             "__module__", "__qualname__", "__init_subclass__",
                             "__class_getitem__"])


def refused_value_member(mro, name: str, value=None, is_enum: bool = False) -> str | None:
    """Why a tenant class whose bases' MROs are ``mro`` may not have
    ``name``, or None if it may. The one place that decides it, for class
    statements (:class:`sandbox.runtime.ClassFactory`) and for assignments
    to a class afterwards.

    :param value: what ``name`` is bound to: an Enum's members (plain
        values, not code) may shadow a ``str`` method name.
    """
    if type(name) is not str:
        return "a class member's name must be a plain str"
    for base in VALUE_TYPES:
        if base not in mro:
            continue
        if name in VALUE_IDENTITY:
            return (f"a class deriving from {base.__name__} cannot define {name} here: "
                    "the server compares and hashes such values as the base type does")
        if base in (str, bytes) and name in vars(base) and name not in TEXT_MAY_DEFINE:
            if is_enum and (name == "__str__" or not (callable(value) or hasattr(type(value), "__get__"))):
                continue
            return (f"a class deriving from {base.__name__} cannot redefine {name} here: "
                    f"the server reads such values as plain {base.__name__}")
    return None


def refused_value_class(bases, namespace, is_enum: bool) -> str | None:
    """Why a class statement with ``bases`` and ``namespace`` may not make
    its class, or None: the value-type rule
    (:func:`refused_value_member`) for its own names *and* those of every
    tenant class it inherits from — a mixin placed before ``str`` lends its
    ``__eq__`` or ``__len__`` as surely as the class's own body (round 7).
    """
    mro = {klass for base in bases for klass in getattr(base, "__mro__", ())}
    if not any(base in mro for base in VALUE_TYPES):
        return None
    for member, value in namespace.items():
        refused = refused_value_member(mro, member, value, is_enum)
        if refused is not None:
            return refused
    for klass in mro:
        if klass in TENANT_CLASSES:
            for member, value in vars(klass).items():
                refused = refused_value_member(mro, member, value, isinstance(klass, EnumMeta))
                if refused is not None:
                    return f"{refused} (it comes from {klass.__name__})"
    return None


def refused_value_assignment(cls, name: str, value) -> str | None:
    """Why ``cls.name = value`` may not happen, or None: the rule above for
    ``cls`` and for every class that inherits from it."""
    seen, stack = set(), [cls]
    while stack:
        klass = stack.pop()
        if klass in seen:
            continue
        seen.add(klass)
        refused = refused_value_member(klass.__mro__, name, value, isinstance(klass, EnumMeta))
        if refused is not None:
            return refused if klass is cls else f"{refused} (for its subclass {klass.__name__})"
        stack.extend(type.__subclasses__(klass))
    return None


def refused_special_method(name: str, value) -> str | None:
    """Why a class statement may not bind ``name``, a special method Python
    calls by itself, to ``value``, or None: only the tenant's own code, as
    a function (or a static or class method of one), or None. A host
    callable there — a template macro returned by a decorator — would run
    with no tenant frame on the stack, where
    :func:`muxserver.tenant_api.context.visible` could not tell whose it is
    (round 7)."""
    if name not in ALLOWED_DUNDER_METHODS or value is None:
        return None
    func = value.__func__ if isinstance(value, (staticmethod, classmethod)) else value
    if type(func) is FunctionType and RUNTIME_KEY in func.__globals__:
        return None
    return f"{name} must be a function of this tenant's code"


#: Special attributes tenant source may read (the policy lets them through
#: to ``_getattr_``, which decides per object).
READABLE_SPECIAL_ATTRS = ALLOWED_DUNDER_METHODS | frozenset(
    ["__name__", "__qualname__", "__doc__", "__class__", "__module__"]
)
_TEXT_ATTRS = frozenset(["__name__", "__qualname__", "__doc__"])

#: The verdict of a special method whose work is proportional to what exists.
LINEAR = "linear"
#: Special method name -> :data:`LINEAR` or the guard a *host* special
#: method of that name goes through when tenant code reads it by name
#: (``S('x').__mul__``, ``super().__mul__``, ``S.__mul__``):
#: ``guard(method, owner, self, *args, **kwargs)``. The one table is
#: :mod:`sandbox.guards.special_methods`, which fills this (it needs the
#: operators' checks, which need this module); a name with no entry is refused.
SPECIAL_METHODS: dict = {}
#: Module-level names Python itself treats as plain data: ordinary names in
#: tenant code, and readable on a tenant's own modules (``pkg.__version__``).
MODULE_DATA_NAMES = frozenset([
    "__all__", "__version__", "__author__", "__doc__", "__license__", "__copyright__",
    "__email__", "__credits__", "__maintainer__", "__status__", "__date__", "__title__",
    "__description__", "__url__", "__uri__", "__summary__",
])

_PRIVATE = re.compile(r"^_[A-Za-z0-9][A-Za-z0-9_]*$")


def is_private_name(name: str) -> bool:
    """``_name``: one underscore, not a guard name (those end with ``_``)."""
    return type(name) is str and bool(_PRIVATE.match(name)) and not name.endswith("_") \
        and name != "_print"


def is_tenant_object(obj) -> bool:
    """True for tenant classes and their instances."""
    return type(obj) in TENANT_CLASSES or (isinstance(obj, type) and obj in TENANT_CLASSES)


def is_tenant_function(func) -> bool:
    """True for functions defined by tenant code (their globals say so)."""
    return isinstance(func, FunctionType) and "__mux_tenant__" in func.__globals__


def owner_of(mro, name: str):
    """The first class of ``mro`` that defines ``name``, or None: whose the
    name is, the question every road to an attribute asks."""
    for cls in mro:
        if name in cls.__dict__:
            return cls
    return None


def _owner(obj, name: str):
    """The class on ``obj``'s MRO that defines ``name``, or None."""
    return owner_of(obj.__mro__ if isinstance(obj, type) else type(obj).__mro__, name)


def _super_owner(sup: super, name: str):
    """The owner ``super(C, x).name`` reads: the first class after C."""
    mro = sup.__self_class__.__mro__
    return owner_of(mro[mro.index(sup.__thisclass__) + 1:], name)


def tenant_namespace(obj) -> dict | None:
    """The dict a host namespace object keeps the tenant's names in, or None.

    A host class opts in with ``_tenant_namespace_``, a static method that
    gives the dict its ``__setattr__``/``__delattr__`` store into (Flask's
    ``g``: ``g._database = db`` is the Flask docs' SQLite pattern). Private
    names are then read from that dict alone — a class attribute of the
    same name (a host method) is never what a read finds — and written
    through the class's own ``__setattr__``. Only read on host classes:
    tenant classes cannot define names ending in ``_``.
    """
    cls = type(obj)
    if cls in TENANT_CLASSES or isinstance(obj, type):
        return None
    reader = cls.__dict__.get("_tenant_namespace_")
    return None if reader is None else reader.__func__()


def _host_defines(obj, name: str) -> bool:
    owner = _owner(obj, name)
    return owner is not None and owner not in TENANT_CLASSES


def _needs_own_self(func, name):
    """A host function reached through a tenant class: only for tenant objects."""

    def method(self, *args, **kwargs):
        # Not any class either: Response.__init__(Response, ...) would set
        # attributes on a host class every tenant shares.
        if not is_tenant_object(self):
            raise TypeError(f"{name}() of a class here takes one of your own objects")
        return func(self, *args, **kwargs)

    return method


def _host_special(name: str, owner: type, method, self):
    """The host's special method ``name`` of ``owner``, bound to ``self``,
    as tenant code gets it: behind its guard in :data:`SPECIAL_METHODS`."""
    verdict = SPECIAL_METHODS.get(name)
    if verdict is None:
        raise AttributeError(f'"{name}" of a class of the server is not available by name here')
    if verdict == LINEAR:
        return method

    def special(*args, **kwargs):
        return verdict(method, owner, self, *args, **kwargs)

    special.__name__ = special.__qualname__ = name
    return special


def _special_method(obj, name: str, owner, bound_to):
    """``obj.name`` for a special method, where ``obj`` is a tenant object, a
    tenant class or ``super()`` over one, ``bound_to`` what a method read
    from it is bound to (a class: unbound), ``owner`` the class that defines
    ``name`` for this read."""
    value = getattr(obj, name)
    if owner is None or owner in TENANT_CLASSES:
        # The tenant's own (or an attribute of the class's metaclass).
        if isinstance(bound_to, type) and not is_tenant_function(value):
            return _needs_own_self(value, name)
        return value
    if not isinstance(bound_to, type):
        return _host_special(name, owner, value, bound_to)

    # Read from a class (``C.__init__``, ``super(C, C).__init__``): a host
    # function that takes one of the tenant's own objects as ``self`` — host
    # classes are never changed by tenant code (``super(E, E).__init__(
    # json.JSONEncoder, default=f)`` once set ``default`` for every tenant).
    def unbound(self, *args, **kwargs):
        if not is_tenant_object(self):
            raise TypeError(f"{name}() of a class here takes one of your own objects")
        return _host_special(name, owner, MethodType(value, self), self)(*args, **kwargs)

    unbound.__name__ = unbound.__qualname__ = name
    return unbound


def special_attr(obj, name: str, default, missing):
    """``_getattr_`` for names starting with ``_`` (see the module doc)."""
    if name in MODULE_DATA_NAMES and getattr(type(obj), "_module_data_", False):
        # A tenant module (sandbox.runtime.TenantModule): its own globals.
        return getattr(obj, name) if default is missing else getattr(obj, name, default)
    if name in _TEXT_ATTRS:
        value = getattr(obj, name, None)
        if value is None and name != "__doc__":
            raise AttributeError(name)
        return value if isinstance(value, str) or value is None else str(value)
    if isinstance(obj, super):
        # Made by tenant_super, so its object is the tenant's own. Special
        # methods of any class on the way (super().__init__() of a host
        # base); a private name only where a tenant class defines it —
        # super()._site once read a host class's state (issue 23).
        if name in ALLOWED_DUNDER_METHODS:
            return _special_method(obj, name, _super_owner(obj, name), obj.__self__)
        if is_private_name(name) and _super_owner(obj, name) in TENANT_CLASSES:
            return getattr(obj, name) if default is missing else getattr(obj, name, default)
        if default is not missing and is_private_name(name):
            return default
        raise AttributeError(f'"{name}" is not readable through super()')
    if is_tenant_object(obj):
        if name == "__class__":
            return HostType(type(obj)) if isinstance(obj, type) else type(obj)
        if name == "__module__":
            return str(getattr(obj, name, ""))
        if name in ALLOWED_DUNDER_METHODS:
            return _special_method(obj, name, _owner(obj, name), obj)
        if is_private_name(name):
            if _host_defines(obj, name):
                raise AttributeError(f'"{name}" belongs to a class of the server')
            if default is missing:
                return getattr(obj, name)
            return getattr(obj, name, default)
    if is_private_name(name):
        namespace = tenant_namespace(obj)
        if namespace is not None:
            if name in namespace:
                return namespace[name]
            if default is missing:
                raise AttributeError(name)
            return default
    if default is not missing and is_private_name(name):
        return default
    raise AttributeError(f'"{name}" is an invalid attribute name because it starts with "_"')


def write_private(obj, name):
    """``_write_private_``: ``obj._name = v`` on the tenant's own objects."""
    if not is_private_name(name):
        raise AttributeError(f"cannot set attribute {name!r}")
    if tenant_namespace(obj) is not None:
        return obj  # its class's __setattr__ stores the name in that dict
    if not is_tenant_object(obj):
        raise AttributeError(f'cannot set "{name}" on an object of type {type(obj).__name__!r}')
    if _host_defines(obj, name):
        raise AttributeError(f'cannot set "{name}": it belongs to a class of the server')
    return obj


def tenant_super(cls=None, obj=None):
    """``super``: the policy turns ``super()`` in a method into
    ``super(__class__, self)``; both forms work on tenant objects only."""
    if cls is None or obj is None:
        raise RuntimeError("super() needs a method's class and object: call it inside a method")
    if cls not in TENANT_CLASSES or not (is_tenant_object(obj)):
        raise TypeError("super() works on your own classes and objects")
    return super(cls, obj)


class HostType:
    """What ``type(x)`` gives for a host object: a name, not a class.

    ``type(x).__name__``, ``type(x) == datetime.date`` and
    ``isinstance(y, type(x))`` work; calling it does not (it would construct
    a host object from tenant arguments).
    """

    __slots__ = ("_type",)

    def __init__(self, type_):
        object.__setattr__(self, "_type", type_)

    def __getattr__(self, name):
        # Only the names; never the class's attributes.
        if name in ("__name__", "__qualname__"):
            return getattr(object.__getattribute__(self, "_type"), name)
        raise AttributeError(name)

    def __call__(self, *args, **kwargs):
        name = object.__getattribute__(self, "_type").__name__
        raise TypeError(f"objects of type {name!r} cannot be made here")

    def __instancecheck__(self, obj):
        return isinstance(obj, object.__getattribute__(self, "_type"))

    def __subclasscheck__(self, cls):
        return issubclass(cls, object.__getattribute__(self, "_type"))

    def __eq__(self, other):
        real = object.__getattribute__(self, "_type")
        if isinstance(other, HostType):
            return real is object.__getattribute__(other, "_type")
        return real is other

    def __hash__(self):
        return hash(object.__getattribute__(self, "_type"))

    def __setattr__(self, name, value):
        raise TypeError("read-only")

    def __repr__(self):
        return f"<class {object.__getattribute__(self, '_type').__qualname__!r}>"


#: Data types ``type(x)`` may give as themselves (constructing them is
#: what the builtins already allow).
_PLAIN_TYPES = frozenset([
    bool, float, complex, list, tuple, dict, set, frozenset, type(None), slice,
])


def make_safe_type(builtin_guards: dict):
    """``type(x)``; ``builtin_guards`` maps real types to the builtins that
    stand for them (``int`` -> the guarded ``int``), so ``type(1) is int``."""

    def safe_type(*args):
        if len(args) != 1:
            raise TypeError("type() takes one argument here; use a class statement")
        cls = type(args[0])
        if cls in builtin_guards:
            return builtin_guards[cls]
        if cls in _PLAIN_TYPES or cls in TENANT_CLASSES:
            return cls
        if issubclass(cls, BaseException) and getattr(builtins, cls.__name__, None) is cls:
            return cls
        return HostType(cls)

    return safe_type

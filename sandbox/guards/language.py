"""The language's own types as tenant code sees them: declared for the
membrane (:mod:`sandbox.guards.declared`).

Data types offer every public name (their methods that allocate by a number
or run long are bounded by :mod:`sandbox.guards.natives`); exceptions offer
their fields and keep their instance attributes as data (``AttributeError.obj``,
a host object the tenant never held, stays closed); functions, methods and
descriptors offer nothing but what a tenant function was given.
"""

from __future__ import annotations

import abc
import builtins
import types

from sandbox.guards.declared import CLASS_GUARDS
from sandbox.guards.declared import METHOD_GUARDS
from sandbox.guards.declared import declare
from sandbox.guards.declared import declare_values
from sandbox.guards.own_objects import TENANT_CLASSES
from sandbox.guards.own_objects import is_tenant_function


def _property_function(prop, name):
    if not all(f is None or is_tenant_function(f) for f in (prop.fget, prop.fset, prop.fdel)):
        raise AttributeError(f"{name!r} of a property of the server is not readable here")
    return getattr(prop, name)


def _register(cls, name):
    """``ABC.register``: ``Mapping.register(int)`` would change
    ``isinstance()`` for every tenant and for the host itself, and so does
    registering on a tenant ABC that derives from a shared one: the shared
    ABC asks its subclasses (``class M(Iterable)``, ``M.register(float)``
    made ``isinstance(1.5, Iterable)`` true for every tenant and the host,
    and the shared ABC's cache kept the answer after the tenant was
    evicted: round 16). Such an ABC registers only the tenant's own
    classes; one deriving from ``abc.ABC`` alone (which no code asks
    about) registers any class."""
    if cls not in TENANT_CLASSES:
        raise AttributeError("registering virtual subclasses of shared classes is not allowed")
    register = getattr(cls, name)
    shared = next((klass for klass in cls.__mro__ if isinstance(klass, abc.ABCMeta)
                   and klass is not abc.ABC and klass not in TENANT_CLASSES), None)
    if shared is None:
        return register

    def register_own(subclass):
        if subclass not in TENANT_CLASSES:
            raise TypeError(f"{cls.__name__} derives from {shared.__name__}, which every tenant "
                            "shares: it registers only classes you defined here")
        return register(subclass)

    return register_own


def _exceptions() -> list[type]:
    return [value for value in vars(builtins).values()
            if isinstance(value, type) and issubclass(value, BaseException)]


def declare_language() -> None:
    declare_values(str, bytes, bytearray, int, bool, float, complex, list, tuple, dict, set,
                   frozenset, range, slice, memoryview, type(None), type(NotImplemented),
                   type(Ellipsis))
    for view in (type({}.keys()), type({}.values()), type({}.items())):
        declare_values(view)
    declare(types.MappingProxyType, "copy get items keys values")
    declare(types.SimpleNamespace, dynamic=True)
    declare_values(*_exceptions(), exclude="obj", dynamic=True)
    # A property's functions are the tenant's only when the tenant made it.
    declare(property, "getter setter deleter fget fset fdel")
    for name in ("fget", "fset", "fdel"):
        METHOD_GUARDS[(property, name)] = _property_function
    declare(abc.ABCMeta, "register")
    CLASS_GUARDS[(abc.ABCMeta, "register")] = _register
    declare(types.GeneratorType, "send throw close")
    declare(types.FunctionType, dynamic=is_tenant_function)
    for reviewed in (types.BuiltinFunctionType, types.MethodType, types.MethodWrapperType,
                     types.WrapperDescriptorType, types.MethodDescriptorType,
                     types.ClassMethodDescriptorType, types.GetSetDescriptorType,
                     types.MemberDescriptorType, classmethod, staticmethod, object, type):
        declare(reviewed)


declare_language()

"""Facades for types and time: datetime, time, dataclasses, typing, enum."""

from __future__ import annotations

import contextvars
import dataclasses
import datetime
import enum
import time
import typing

from sandbox import guards
from sandbox import limits
from sandbox.facades.base import ModuleFacade
from sandbox.facades.base import pick
from sandbox.guards import SandboxError
from sandbox.guards.declared import CLASS_GUARDS
from sandbox.guards.declared import METHOD_GUARDS
from sandbox.guards.declared import declare
from sandbox.guards.declared import declare_values
from sandbox.guards.declared import forget_tenant_classes
from sandbox.guards.own_objects import refused_value_class

declare_values(datetime.date, datetime.datetime, datetime.time, datetime.timedelta,
               datetime.timezone, datetime.tzinfo, time.struct_time)
declare_values(dataclasses.Field, dataclasses.InitVar)
declare(type(dataclasses.MISSING))
declare(type(dataclasses.KW_ONLY))
# typing's objects are read by the type checker, not by running code.
for _form in (typing.TypeVar, type(typing.Optional[int]), type(typing.List[int]),
              type(typing.Optional), type(typing.List), type(typing.Callable[[], int]),
              type(typing.Literal[1]), type(typing.Annotated[int, 1]), typing.Generic,
              typing.Protocol, typing.ForwardRef, type(typing.Any), typing.Any,
              typing.Annotated):
    declare(_form)
declare(enum.Enum, "name value")
declare(enum.Flag, "name value")
declare(enum.auto, "value")


def _adopt(made):
    """A class a facade made for the tenant (``namedtuple``, ``Enum('E', ...)``)
    is the tenant's own, as if its class statement had made it."""
    if isinstance(made, type):
        # The class statement's rules, for a class a factory made: a type=
        # mixin of the tenant's before str (enum.StrEnum("N", ..., type=M))
        # would lend its __eq__ or __len__ to str members (round 8).
        refused = refused_value_class(made.__bases__, {}, isinstance(made, enum.EnumType))
        if refused is not None:
            raise TypeError(f"class {made.__name__}: {refused}")
        guards.TENANT_CLASSES.add(made)
        forget_tenant_classes()
    return made


#: Longest strptime() format: it is compiled into a regular expression, in
#: pure Python, and kept in a cache every tenant shares.
MAX_STRPTIME_FORMAT = 256


def _check_strptime(text, fmt) -> None:
    if isinstance(fmt, str) and len(fmt) > MAX_STRPTIME_FORMAT:
        raise SandboxError(f"strptime() formats are at most {MAX_STRPTIME_FORMAT} characters here")
    if isinstance(text, str) and len(text) > 4 * MAX_STRPTIME_FORMAT:
        raise SandboxError("strptime() parses at most 1024 characters here")


def _strptime_guard(cls, name):
    strptime = getattr(cls, name)

    def guarded(text, fmt):
        _check_strptime(text, fmt)
        # _strptime keeps the format as a key of its process-wide cache.
        return strptime(guards.plain_text(text), guards.plain_text(fmt))

    return guarded


CLASS_GUARDS[(datetime.datetime, "strptime")] = _strptime_guard
METHOD_GUARDS[(datetime.datetime, "strptime")] = _strptime_guard


def build_datetime(ctx):
    return pick(datetime, "date datetime time timedelta timezone tzinfo MINYEAR MAXYEAR UTC")


def build_time(ctx):
    table = pick(
        time,
        "time time_ns monotonic monotonic_ns perf_counter perf_counter_ns "
        "gmtime localtime mktime strftime asctime ctime struct_time "
        "timezone altzone daylight",
    )

    def strptime(text, fmt="%a %b %d %H:%M:%S %Y"):
        _check_strptime(text, fmt)
        return time.strptime(guards.plain_text(text), guards.plain_text(fmt))

    table["strptime"] = strptime
    table["tzname"] = tuple(time.tzname)
    # time.sleep is looked up at call time so gevent's monkey-patched,
    # cooperative sleep is used when the host runs under gevent. Outside a
    # request (a finalizer run by the collector or an eviction) it would
    # hold the host's greenlet: refused.
    def sleep(seconds):
        if limits.current() is None:
            raise SandboxError("time.sleep() outside a request is not allowed")
        time.sleep(seconds)

    table["sleep"] = sleep
    return table


#: The globals of the tenant module whose class ``dataclass()`` is making
#: (a ContextVar: one per greenlet under gevent).
_DATACLASS_MODULE = contextvars.ContextVar("tenant_dataclass_module", default=None)
_STDLIB_IS_TYPE = dataclasses._is_type


def _is_type(annotation, cls, a_module, a_type, is_type_predicate):
    """dataclasses' test of a string annotation (``from __future__ import
    annotations``) for ``ClassVar``, ``InitVar`` and ``KW_ONLY``, against
    the class's module: CPython's reads it from ``sys.modules``, where a
    tenant's module is not (``@dataclass`` failed with an AttributeError on
    None); for a tenant's class it reads the tenant module's globals, and
    a ``typing.``/``dataclasses.`` prefix from the facade imported there.
    Installed for the process; any other class goes to CPython's."""
    namespace = _DATACLASS_MODULE.get()
    if namespace is None:
        return _STDLIB_IS_TYPE(annotation, cls, a_module, a_type, is_type_predicate)
    match = dataclasses._MODULE_IDENTIFIER_RE.match(annotation)
    if match is None:
        return False
    module_name, name = match.group(1), match.group(2)
    if not module_name:
        value = namespace.get(name)
    else:
        facade = namespace.get(module_name)
        value = getattr(facade, name, None) if isinstance(facade, ModuleFacade) else None
    return bool(is_type_predicate(value, a_module))


dataclasses._is_type = _is_type


def build_dataclasses(ctx):
    def dataclass(cls=None, /, **kwargs):
        # dataclass() rewrites the class it is given: only the tenant's own.
        def wrap(target):
            if target not in guards.TENANT_CLASSES:
                raise SandboxError("@dataclass can only decorate classes you defined")
            name = target.__dict__.get("__module__")
            module = ctx.module_if_loaded(name) if type(name) is str else None
            token = _DATACLASS_MODULE.set({} if module is None else ctx.namespace_of(module))
            try:
                made = dataclasses.dataclass(target, **kwargs)
            finally:
                _DATACLASS_MODULE.reset(token)
            forget_tenant_classes()  # it set and removed class attributes
            return made

        return wrap if cls is None else wrap(cls)

    def own(func, what):
        # These read and rebuild the object's fields: the tenant's own only.
        def checked(obj, *args, **kwargs):
            if not guards.is_tenant_object(obj):
                raise TypeError(f"{what}() takes a dataclass you defined (or an instance of one)")
            return func(obj, *args, **kwargs)

        return checked

    from sandbox.facades.data import dataclass_as_dict
    from sandbox.facades.data import dataclass_as_tuple

    table = pick(dataclasses, "field is_dataclass FrozenInstanceError InitVar KW_ONLY MISSING")
    table.update(dataclass=dataclass, asdict=dataclass_as_dict, astuple=dataclass_as_tuple,
                 fields=own(dataclasses.fields, "fields"), replace=own(dataclasses.replace, "replace"))
    return table


#: Most members a class factory makes (namedtuple, Enum('E', ...), ...).
MAX_MEMBERS = 1024


def _check_member_names(names, what: str) -> None:
    """Class factories take names from their caller: a name that starts with
    ``_`` would define a method (``__del__`` runs at garbage collection) or
    a hook (``_missing_``), which a class statement cannot."""
    if isinstance(names, str):
        listed = names.replace(",", " ").split()
    elif isinstance(names, dict):
        listed = list(names)
    else:
        listed = [item[0] if isinstance(item, (tuple, list)) and item else item
                  for item in guards.guarded_iter(names)]
    if len(listed) > MAX_MEMBERS:
        # A class is made from them in pure Python (exec'd source for namedtuple).
        raise SandboxError(f"{what}: at most {MAX_MEMBERS} members here")
    for name in listed:
        # Plain text only: a name whose hash and equality are another's
        # ("eq" passing as "__eq__") would bind what the check never saw.
        if type(name) is not str or name.startswith("_"):
            raise SandboxError(f"{what}: member names must not start with '_' "
                               f"({guards.safe_repr(name, 200)})")


def _factory_guard(cls, what: str):
    """``cls`` for isinstance and subclassing; its functional form checked."""

    def construct(*args, **kwargs):
        if len(args) >= 2 or "names" in kwargs or "fields" in kwargs:
            names = kwargs.get("names", kwargs.get("fields", args[1] if len(args) > 1 else ()))
            if names is not None:
                _check_member_names(names, what)
            for key in ("type", "module", "qualname", "boundary"):
                if key in kwargs and key != "type":
                    kwargs.pop(key)
            if "type" in kwargs and kwargs["type"] not in guards.TENANT_CLASSES:
                raise SandboxError(f"{what}: type= must be a class you defined")
        return _adopt(cls(*args, **kwargs))

    return guards.TypeGuard(cls, construct)


def build_typing(ctx):
    table = pick(
        typing,
        "Any Optional Union List Dict Set FrozenSet Tuple Callable Iterable "
        "Iterator Generator Mapping MutableMapping Sequence MutableSequence "
        "Type TypeVar Generic Literal Final ClassVar Annotated "
        "Protocol cast overload TYPE_CHECKING NoReturn Deque "
        "DefaultDict Counter OrderedDict AnyStr Hashable Sized",
    )

    def functional(factory, what):
        def make(typename, fields=None, /, **kwargs):
            if fields is not None:
                _check_member_names(fields, what)
            _check_member_names(kwargs, what)
            return _adopt(factory(typename, fields, **kwargs) if fields is not None
                          else factory(typename, **kwargs))

        return make

    table["NamedTuple"] = guards.TypeGuard(typing.NamedTuple,
                                           functional(typing.NamedTuple, "NamedTuple()"))
    table["TypedDict"] = guards.TypeGuard(typing.TypedDict,
                                          functional(typing.TypedDict, "TypedDict()"))
    return table


class GuardedEnumType(enum.EnumType):
    """The metaclass of the tenant's enums: their functional form
    (``Color("Shade", {...})`` on a member-less enum) checks names too."""

    def __call__(cls, value, names=None, *args, **kwargs):
        if names is not None:
            _check_member_names(names, f"{cls.__name__}()")
            kwargs.pop("module", None)
            kwargs.pop("qualname", None)
            if kwargs.get("type") is not None and kwargs["type"] not in guards.TENANT_CLASSES:
                raise SandboxError(f"{cls.__name__}(): type= must be a class you defined")
        return _adopt(super().__call__(value, names, *args, **kwargs))


def build_enum(ctx):
    table = pick(enum, "auto unique")
    for name in ("Enum", "IntEnum", "Flag", "IntFlag", "StrEnum"):
        table[name] = _factory_guard(getattr(enum, name), f"enum.{name}()")
    return table

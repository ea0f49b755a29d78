"""Facades for types and time: datetime, time, dataclasses, typing, enum."""

from __future__ import annotations

import dataclasses
import datetime
import enum
import time
import typing

from sandbox import guards
from sandbox.facades.base import pick
from sandbox.guards import SandboxError


def build_datetime(ctx):
    return pick(datetime, "date datetime time timedelta timezone tzinfo MINYEAR MAXYEAR UTC")


def build_time(ctx):
    table = pick(
        time,
        "time time_ns monotonic monotonic_ns perf_counter perf_counter_ns "
        "gmtime localtime mktime strftime strptime asctime ctime struct_time "
        "timezone altzone daylight",
    )
    table["tzname"] = tuple(time.tzname)
    # time.sleep is looked up at call time so gevent's monkey-patched,
    # cooperative sleep is used when the host runs under gevent.
    table["sleep"] = lambda seconds: time.sleep(seconds)
    return table


def build_dataclasses(ctx):
    def dataclass(cls=None, /, **kwargs):
        # dataclass() rewrites the class it is given: only the tenant's own.
        def wrap(target):
            if target not in guards.TENANT_CLASSES:
                raise SandboxError("@dataclass can only decorate classes you defined")
            return dataclasses.dataclass(target, **kwargs)

        return wrap if cls is None else wrap(cls)

    table = pick(
        dataclasses,
        "field fields asdict astuple replace is_dataclass FrozenInstanceError InitVar KW_ONLY MISSING",
    )
    table["dataclass"] = dataclass
    return table


def build_typing(ctx):
    return pick(
        typing,
        "Any Optional Union List Dict Set FrozenSet Tuple Callable Iterable "
        "Iterator Generator Mapping MutableMapping Sequence MutableSequence "
        "Type TypeVar Generic Literal Final ClassVar Annotated NamedTuple "
        "TypedDict Protocol cast overload TYPE_CHECKING NoReturn Deque "
        "DefaultDict Counter OrderedDict AnyStr Hashable Sized",
    )


def build_enum(ctx):
    return pick(enum, "Enum IntEnum Flag IntFlag StrEnum auto unique")

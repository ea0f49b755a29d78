"""What every facade is built from: the read-only module stand-in and helpers."""

from __future__ import annotations

import functools

from sandbox.guards import SizeLimitError
from sandbox.guards import TickingIter
from sandbox.guards.counts import exact_int
from sandbox.guards.counts import is_count
from sandbox.guards.declared import declared


@declared(dynamic=True)  # its table of names is its declaration
class ModuleFacade:
    """A read-only stand-in for a module: only the names it was given."""

    __slots__ = ("_name", "_attrs")

    def __init__(self, name: str, attrs: dict):
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_attrs", attrs)

    def __getattr__(self, attr):
        try:
            return object.__getattribute__(self, "_attrs")[attr]
        except KeyError:
            name = object.__getattribute__(self, "_name")
            raise AttributeError(
                f"module {name!r} has no attribute {attr!r} in the sandbox"
            ) from None

    def __setattr__(self, attr, value):
        raise TypeError("modules cannot be changed in the sandbox")

    __delattr__ = __setattr__

    def __dir__(self):
        return sorted(object.__getattribute__(self, "_attrs"))

    def __repr__(self):
        return f"<module {object.__getattribute__(self, '_name')!r} (sandboxed)>"


def pick(module, names: str) -> dict:
    return {name: getattr(module, name) for name in names.split()}


def cap(value, limit, what):
    """Refuse a count, size or exponent over ``limit``; returns the value to
    pass on: the exact ``int`` that was compared (never the caller's object,
    whose ``__index__`` or ``__gt__`` it is not asked twice: see
    :mod:`sandbox.guards.counts`), or ``value`` itself when it is no count
    (None, a float: the real call decides)."""
    if not is_count(value):
        return value
    value = exact_int(value)
    if value > limit:
        raise SizeLimitError(f"{what} is over the sandbox limit ({limit})")
    return value


def ticking_call(func):
    @functools.wraps(func)
    def wrapped(*args, **kwargs):
        return TickingIter(func(*args, **kwargs))

    return wrapped

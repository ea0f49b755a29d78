"""Special methods by name: every one tenant code can read is judged.

Round 4 found ``S('x').__mul__(n)`` on a tenant subclass of ``str`` to be the
raw C slot that ``S('x') * n`` is guarded against. The walk here makes a
tenant subclass of every builtin type tenant code may subclass (each type
its builtins offer), the way a class statement makes it, and reads every
special method name it has as tenant code reads it — on an object, on the
class, through ``super()`` over either. Each name that comes back from a
class of the host must have an entry in the one table
(:data:`sandbox.guards.own_objects.SPECIAL_METHODS`), and when the entry is a
guard, what comes back must not be the raw method. A new special method (a
new Python, a name added to ``ALLOWED_DUNDER_METHODS``) fails here until it
is judged.
"""

import pytest

from sandbox.guards import guarded_getattr
from sandbox.guards import make_builtins
from sandbox.guards.builtins import TypeGuard
from sandbox.guards.own_objects import ALLOWED_DUNDER_METHODS
from sandbox.guards.own_objects import LINEAR
from sandbox.guards.own_objects import SPECIAL_METHODS
from sandbox.guards.own_objects import TENANT_CLASSES
from sandbox.guards.own_objects import owner_of
from sandbox.runtime import ClassFactory

_SUBCLASSABLE = 1 << 10  # Py_TPFLAGS_BASETYPE

#: A value to build an object of each type with (the rest take no argument).
_SAMPLE_ARGS = {str: ("x",), bytes: (b"x",), bytearray: (b"x",), int: (7,), float: (1.5,),
                complex: (2j,), list: ([1],), tuple: ((1,),), dict: ({1: 2},), set: ({1},),
                frozenset: ({1},), classmethod: (len,), staticmethod: (len,),
                UnicodeDecodeError: ("utf-8", b"x", 0, 1, "bad"),
                UnicodeEncodeError: ("utf-8", "x", 0, 1, "bad"),
                UnicodeTranslateError: ("x", 0, 1, "bad")}


def _subclassable_builtin_types() -> list[type]:
    types = []
    for value in make_builtins().values():
        if isinstance(value, TypeGuard):
            value = object.__getattribute__(value, "_type")
        if isinstance(value, type) and value.__flags__ & _SUBCLASSABLE and value not in types:
            types.append(value)
    return types


TYPES = _subclassable_builtin_types()


def _special_names(cls) -> list[str]:
    return sorted(n for n in dir(cls) if n.startswith("__") and n.endswith("__"))


def _roads(sub, obj):
    """Where tenant code reads a special method of ``obj`` by name."""
    return {"object": obj, "class": sub, "super()": super(sub, obj), "super(C, C)": super(sub, sub)}


def test_the_walk_covers_the_language():
    names = {t.__name__ for t in TYPES}
    assert {"str", "bytes", "bytearray", "int", "float", "list", "tuple", "dict", "set",
            "object", "ValueError", "Exception"} <= names
    assert len(TYPES) >= 45


def test_every_special_method_name_has_an_entry():
    assert sorted(ALLOWED_DUNDER_METHODS - set(SPECIAL_METHODS)) == []
    assert sorted(set(SPECIAL_METHODS) - ALLOWED_DUNDER_METHODS) == []


@pytest.mark.parametrize("base", TYPES, ids=lambda t: t.__name__)
def test_special_methods_of_a_tenant_subclass_are_judged(base):
    """It denies what nobody declared: every special method a tenant reads
    by name on its subclass of ``base`` is the tenant's own, guarded,
    declared linear, or refused."""
    sub = ClassFactory()("Sub", (base,), {"__module__": "tenant"})
    assert sub in TENANT_CLASSES
    obj = sub(*_SAMPLE_ARGS.get(base, (3,) if base.__name__ == "SafeRange" else ()))
    undeclared, raw = [], []
    for name in _special_names(sub):
        for road, target in _roads(sub, obj).items():
            try:
                value = guarded_getattr(target, name)
            except (AttributeError, TypeError):
                continue  # refused
            if name in ("__class__", "__name__", "__qualname__", "__doc__", "__module__"):
                continue  # data, judged by own_objects (text, or the tenant's class)
            mro = sub.__mro__
            if isinstance(target, super):
                mro = mro[mro.index(sub) + 1:]
            owner = owner_of(mro, name)
            if owner is None or owner in TENANT_CLASSES:
                continue  # the metaclass's (C.__call__ is C()), or the tenant's own
            verdict = SPECIAL_METHODS.get(name)
            if verdict is None:
                undeclared.append(f"{road}.{name}")
            elif verdict != LINEAR and value == getattr(target, name):
                raw.append(f"{road}.{name}")
    assert undeclared == [], f"{base.__name__}: special methods with no entry: {undeclared}"
    assert raw == [], f"{base.__name__}: guarded special methods handed out raw: {raw}"


def test_a_host_special_method_read_from_a_class_takes_no_host_self():
    """It denies changing a host class: ``C.__init__`` and
    ``super(C, C).__init__`` of a host base take only the tenant's objects."""
    import json

    sub = ClassFactory()("Encoder", (json.JSONEncoder,), {"__module__": "tenant"})
    for target in (sub, super(sub, sub)):
        init = guarded_getattr(target, "__init__")
        with pytest.raises(TypeError):
            init(json.JSONEncoder, separators=("x", "y"))
    assert json.JSONEncoder.item_separator == ", "
    encoder = sub()
    guarded_getattr(sub, "__init__")(encoder, indent=2)
    assert encoder.indent == 2


@pytest.mark.parametrize("road", ["object", "class", "super()", "super(C, C)"])
def test_every_road_to_a_special_method_is_sized(road):
    """It stops ``x.__mul__(n)`` as it stops ``x * n``, whichever road reads
    the method (outside a request the fixed size limit applies)."""
    from sandbox.guards import SizeLimitError

    sub = ClassFactory()("S", (str,), {"__module__": "tenant"})
    text = sub("x")
    method = guarded_getattr(_roads(sub, text)[road], "__mul__")
    args = (150 * 2**20,) if road in ("object", "super()") else (text, 150 * 2**20)
    with pytest.raises(SizeLimitError):
        method(*args)
    assert method(*args[:-1], 3) == "xxx"

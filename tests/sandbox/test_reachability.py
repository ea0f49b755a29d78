"""It denies reaching shared state: a walk over every public attribute of
every standard-module facade (four levels deep) finds no module and no
mutable container that two lookups return alike — i.e. no host-owned dict,
list or set a tenant could change for everyone (the class of
SECURITY-NOTES §11 "writes into host-owned containers"). A container that
is the tenant's own (``os.environ``, ``sys.argv``: built per runtime) is
allowed, and checked to be a different object in a second runtime."""

import datetime
import enum
from types import ModuleType

from sandbox import TenantRuntime
from sandbox.guards import guarded_getattr

MUTABLE = (dict, list, set, bytearray)


#: Containers each runtime builds for its tenant alone (checked below).
PER_TENANT = {"os.environ", "sys.argv"}


def walk(runtime, depth=4):
    seen, found = set(), []
    queue = [(name, runtime.facade(name)) for name in runtime.allowed_names()]
    while queue:
        path, obj = queue.pop(0)
        if id(obj) in seen or path.count(".") > depth:
            continue
        seen.add(id(obj))
        try:
            names = dir(obj)
        except Exception:
            continue
        for name in names:
            if name.startswith("_"):
                continue
            try:
                value = guarded_getattr(obj, name)
            except Exception:
                continue
            where = f"{path}.{name}"
            if isinstance(value, ModuleType):
                found.append(f"module at {where}")
            elif isinstance(value, MUTABLE) and guarded_getattr(obj, name) is value \
                    and where not in PER_TENANT:
                found.append(f"shared {type(value).__name__} at {where}")
            queue.append((where, value))
    return seen, found


def test_no_module_or_shared_container_is_reachable_from_a_facade():
    seen, found = walk(TenantRuntime("t", load_lib=lambda name: None))
    assert len(seen) > 1000  # the walk went somewhere
    assert found == []


def test_two_tenants_share_no_facade_object_that_holds_state():
    a = TenantRuntime("a", load_lib=lambda name: None)
    b = TenantRuntime("b", load_lib=lambda name: None)
    assert a.facade("random") is not b.facade("random")
    for path in PER_TENANT:
        module, name = path.split(".")
        assert guarded_getattr(a.facade(module), name) is not guarded_getattr(b.facade(module), name)
    assert guarded_getattr(a.facade("random"), "seed") is not guarded_getattr(b.facade("random"), "seed")


# -- the membrane (issue 23): every class declared, every road asks it -----------------

import pytest  # noqa: E402

from sandbox.guards.declared import is_declared  # noqa: E402
from sandbox.guards.declared import public_names  # noqa: E402
from sandbox.guards.own_objects import ALLOWED_DUNDER_METHODS  # noqa: E402
from sandbox.guards.own_objects import TENANT_CLASSES  # noqa: E402
from sandbox.runtime import ClassFactory  # noqa: E402
from tests.sandbox.reach import is_flask_surface  # noqa: E402
from tests.sandbox.reach import surface  # noqa: E402
from tests.sandbox.reach import walk_a_tenants_world  # noqa: E402

_SUBCLASSABLE = 1 << 10  # Py_TPFLAGS_BASETYPE


@pytest.fixture(scope="module")
def reached(tmp_path_factory):
    return walk_a_tenants_world(tmp_path_factory.mktemp("membrane"))


def _label(cls) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _host_classes(reached) -> dict:
    classes = {}
    for path, obj in reached.objects.items():
        cls = obj if isinstance(obj, type) else type(obj)
        if cls not in TENANT_CLASSES:
            classes.setdefault(cls, path)
    return classes


def test_every_reachable_object_is_of_a_declared_class(reached):
    """It denies what nobody declared: everything a tenant reaches is of a
    class whose declaration says what it offers (the language's types, the
    facades', the tenant API's)."""
    assert len(reached.objects) > 5000
    undeclared = sorted(f"{path}: {_label(cls)}" for cls, path in _host_classes(reached).items()
                        if not is_declared(cls))
    assert undeclared == [], "\n".join(undeclared)


def test_super_of_a_tenant_subclass_reads_only_declared_names(reached):
    """It denies the second road: for every host class a tenant can
    subclass, ``super()`` of a tenant subclass reads the class's declared
    public names and its special methods, and no private or undeclared
    name (``super()._site`` once read the Flask class's site)."""
    factory = ClassFactory()
    leaks, walked = [], 0
    for cls in _host_classes(reached):
        if not cls.__flags__ & _SUBCLASSABLE:
            continue
        try:
            sub = factory("Sub", (cls,), {"__module__": "tenant"})
        except Exception:
            continue  # abstract, final by its metaclass...
        walked += 1
        declared = public_names(cls)
        for name in dir(cls):
            try:
                guarded_getattr(super(sub, sub), name)
            except Exception:
                continue
            if name.startswith("_") and name not in ALLOWED_DUNDER_METHODS and \
                    name not in ("__name__", "__qualname__", "__doc__"):
                leaks.append(f"{_label(cls)}.{name}")
            elif not name.startswith("_") and name not in declared:
                leaks.append(f"{_label(cls)}.{name}")
    assert walked > 50
    assert leaks == []


_CONSTANTS = (str, bytes, int, float, complex, bool, type(None), frozenset, type, range,
              datetime.date, datetime.time, datetime.timedelta, enum.Enum)


def _is_constant(value) -> bool:
    if isinstance(value, tuple):
        return all(_is_constant(v) for v in value)
    return isinstance(value, _CONSTANTS) or callable(value) or hasattr(type(value), "__get__") \
        or type(value) is object  # a sentinel


def test_no_host_state_in_a_class_a_tenant_can_subclass(reached):
    """It denies host state where a subclass can reach it: every class
    attribute of a host class a tenant can subclass (and of its host bases)
    is a constant, a function or a descriptor — no object of the host's
    (the Flask class once held the tenant's site)."""
    state = []
    for cls in _host_classes(reached):
        if not cls.__flags__ & _SUBCLASSABLE:
            continue
        for klass in cls.__mro__:
            if klass.__module__ == "builtins":
                continue
            ours = klass.__module__.split(".")[0] in ("muxserver", "sandbox", "flask")
            for name, value in vars(klass).items():
                if name.startswith("__") and name.endswith("__"):
                    continue
                if name.startswith("_") and not ours:
                    continue  # a library's internals: no road reads a host class's _names
                if not _is_constant(value):
                    state.append(f"{_label(klass)}.{name}: {type(value).__name__}")
    assert sorted(set(state)) == [], "\n".join(sorted(set(state)))


def test_the_surface_counts_the_public_names_the_membrane_lets_through(reached):
    """:func:`tests.sandbox.reach.surface` (the attack-surface figure of
    ``benchmarks/bench_flask_surface.py``) names what tenant code can read:
    public names only, each one declared by its class, the Flask surface
    among them and a Flask class's private state not."""
    found = surface(reached)
    assert all(not name.startswith("_") for names in found.values() for name in names)
    assert {"Flask", "Blueprint", "request", "jsonify"} <= found["flask"]
    from muxserver.tenant_api.shim import Flask

    assert {"route", "errorhandler"} <= found[_label(Flask)] <= public_names(Flask)
    assert any(is_flask_surface(owner) for owner in found)
    assert not any(is_flask_surface(owner) for owner in ("builtins.str", "sqlite3.Connection"))

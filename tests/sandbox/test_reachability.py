"""It denies reaching shared state: a walk over every public attribute of
every standard-module facade (four levels deep) finds no module and no
mutable container that two lookups return alike — i.e. no host-owned dict,
list or set a tenant could change for everyone (the class of
SECURITY-NOTES §11 "writes into host-owned containers"). A container that
is the tenant's own (``os.environ``, ``sys.argv``: built per runtime) is
allowed, and checked to be a different object in a second runtime."""

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

"""It denies reaching shared state through the tenant API: the same walk as
tests/sandbox/test_reachability.py, over ``mux`` and ``flask`` too."""

from sandbox import TenantRuntime
from sandbox.facades import ModuleFacade
from muxserver.tenant_api.shim import module_attrs
from tests.sandbox.test_reachability import walk


def test_no_module_or_shared_container_is_reachable_from_mux_or_flask():
    attrs = module_attrs({"GREETING": "hi"}, lambda *a, **k: None)
    runtime = TenantRuntime("t", load_lib=lambda name: None, host_modules={
        "mux": ModuleFacade("mux", attrs), "flask": ModuleFacade("flask", attrs)})
    seen, found = walk(runtime)
    assert len(seen) > 1000
    assert found == []

"""It denies reaching shared state through the tenant API: the same walk as
tests/sandbox/test_reachability.py, over every module the host adds
(``mux``, ``flask``, ``click``, ``markupsafe``, ``functions_framework``...)."""

from muxserver.tenancy.loader import host_modules
from muxserver.tenant_api.shim import module_attrs
from sandbox import TenantRuntime
from tests.sandbox.test_reachability import walk


def test_no_module_or_shared_container_is_reachable_from_mux_or_flask():
    attrs = module_attrs({"GREETING": "hi"}, lambda *a, **k: None)
    runtime = TenantRuntime("t", load_lib=lambda name: None, host_modules=host_modules(attrs))
    seen, found = walk(runtime)
    assert len(seen) > 1000
    assert found == []

"""tenant.toml under the operator's rules: pure parsing, then a live server."""

import pytest
from werkzeug.test import Client

from muxserver.config import Limits
from muxserver.tenancy.manifest import ManifestError
from muxserver.tenancy.manifest import TenantRules
from muxserver.tenancy.manifest import host_matches
from muxserver.tenancy.manifest import parse_manifest
from tests.test_cli import run_cli

RULES = TenantRules(Limits(), {"cpu_ms": 5000, "memory_mb": 256},
                    {"acme": ("api.acme.test", "*.acme.test")})


def parse(text: str, tenant: str = "acme"):
    return parse_manifest(text.encode(), tenant, f"{tenant}/tenant.toml", RULES)


def test_it_reports_every_error_at_its_keys_line():
    with pytest.raises(ManifestError) as info:
        parse('hosts = ["api.acme.test"]\n\n[limits]\ncpu_ms = 3600000\nwall_s = "long"\n'
              'bogus = 1\n[env]\n"bad key" = 1\n')
    assert info.value.errors == (
        "acme/tenant.toml:4: [limits] cpu_ms = 3600000 is over the operator's cap "
        "[max_limits] cpu_ms = 5000",
        "acme/tenant.toml:5: [limits]: limit 'wall_s' must be a number, not 'long'",
        "acme/tenant.toml:6: [limits]: unknown limit 'bogus'; known: cpu_ms, wall_s, "
        "memory_mb, concurrency, storage_mb",
        "acme/tenant.toml:8: env key 'bad key' is not a valid name",
    )


def test_it_caps_limits_at_the_operators_max_and_allows_up_to_it():
    assert parse("[limits]\ncpu_ms = 5000\nmemory_mb = 256\n").limits.cpu_ms == 5000
    with pytest.raises(ManifestError, match=r":2: \[limits\] memory_mb = 100000 is over"):
        parse("[limits]\nmemory_mb = 100000\n")


def test_it_allows_only_hosts_the_operator_assigned_to_this_tenant():
    assert parse('hosts = ["api.acme.test", "eu.acme.test"]\n').hosts == (
        "api.acme.test", "eu.acme.test")
    with pytest.raises(ManifestError, match="host 'api.acme.test' is not assigned to tenant "
                                            "'evil'.*assigned: none"):
        parse('hosts = ["api.acme.test"]\n', tenant="evil")


def test_toml_syntax_error_names_its_line():
    with pytest.raises(ManifestError, match=r"acme/tenant.toml:3: "):
        parse("[limits]\ncpu_ms = 10\ncpu_ms = \n")


def test_host_wildcards_match_one_or_more_labels_below_only():
    assert host_matches("a.acme.test", "*.acme.test")
    assert host_matches("a.b.acme.test", "*.acme.test")
    assert not host_matches("acme.test", "*.acme.test")
    assert not host_matches("evilacme.test", "*.acme.test")


def test_a_tenant_cannot_take_another_tenants_host_on_a_live_server(tenants, live):
    """Before: alphabetical order decided the owner after a restart."""
    tenants.add("acme", {"index.py": "def get():\n    return 'acme'\n",
                         "tenant.toml": 'hosts = ["shop.test"]\n'})
    tenants.add("aaa-evil", {"index.py": "def get():\n    return 'evil'\n",
                             "tenant.toml": 'hosts = ["shop.test"]\n'})
    server = live(hosts={"acme": ["shop.test"]})
    assert server.get("/", headers={"Host": "shop.test"}).text == "acme"
    errors = server.admin.get("/_mux/status").json()["deploy_errors"]["aaa-evil"]["errors"]
    assert errors == ["aaa-evil/tenant.toml:1: host 'shop.test' is not assigned to tenant "
                      "'aaa-evil' by the operator's [hosts] (assigned: none)"]


def test_check_judges_by_the_servers_config(tenants, tmp_path):
    tenants.add("acme", {"index.py": "def get():\n    return 'acme'\n",
                         "tenant.toml": "[limits]\ncpu_ms = 9000\n"})
    config = tmp_path / "server.toml"
    config.write_text(f'tenants_dir = "{tenants.root}"\n[max_limits]\ncpu_ms = 2000\n')
    assert run_cli("check", str(tenants.root), "--cache-dir", str(tmp_path / "c")).returncode == 0
    judged = run_cli("check", "--config", str(config), "--cache-dir", str(tmp_path / "c"))
    assert judged.returncode == 1
    assert "acme/tenant.toml:2: [limits] cpu_ms = 9000 is over the operator's cap" in judged.stdout


def test_a_function_entry_point_that_fails_to_compile_is_reported_once(tenants):
    """The module's own error with its line, not also "no module 'main'"
    (it is there); a missing module is still named."""
    toml = "[function]\nentrypoint = 'main.hello'\nform = 'gcf'\n"
    tenants.add("broken", {"tenant.toml": toml,
                           "main.py": "def hello(request):\n    return request.__mro__\n"})
    tenants.add("missing", {"tenant.toml": toml, "other.py": "x = 1\n"})
    errors = tenants.app().registry.error_list()
    broken = [e for e in errors if e.startswith("broken/")]
    assert len(broken) == 1 and broken[0].startswith("broken/main.py:2:"), broken
    assert any(e.startswith("missing/tenant.toml:1:") and "no module 'main'" in e
               for e in errors), errors


def test_a_fission_entrypoint_without_a_module_is_a_function_of_main(tenants):
    """Fission's environment (``fission fn create --entrypoint func``) reads
    a bare name as ``main.func``; the other platforms name the module."""
    source = {"main.py": "def main():\n    return 'MAIN'\n\ndef func():\n    return 'FUNC'\n"}
    tenants.add("fission", {**source, "tenant.toml": "[function]\nentrypoint = 'func'\n"})
    tenants.add("gcf", {**source, "tenant.toml": "[function]\nentrypoint = 'func'\nform = 'gcf'\n"})
    app = tenants.app()
    errors = app.registry.error_list()
    assert len(errors) == 1 and errors[0].startswith("gcf/tenant.toml:2: [function] entrypoint "
                                                     "must be 'module.function'"), errors
    assert Client(app).get("/fission/anything").get_data(as_text=True) == "FUNC"

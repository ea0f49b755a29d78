"""Scanning a tenant folder: routes, libs, static, errors — no tenant code runs."""

from muxserver.tenancy.codecache import CodeCache
from muxserver.tenancy.manifest import TenantRules
from muxserver.tenancy.scanner import list_tenants
from muxserver.tenancy.scanner import scan_tenant
from tests.conftest import write_tenant


def scan(tmp_path, files, name="acme"):
    root = write_tenant(tmp_path / "tenants", name, files)
    return scan_tenant(root, name, CodeCache(tmp_path / "cache"), TenantRules())


def test_routes_libs_and_static_are_read_without_running_anything(tmp_path):
    marker = tmp_path / "ran"
    spec = scan(tmp_path, {
        "index.py": f"open({str(marker)!r}, 'w')\ndef get():\n    return 'x'\n",
        "api/users.py": "def get():\n    pass\ndef post():\n    pass\n",
        "lib/db.py": "X = 1\n",
        "static/a.txt": "a",
        ".hidden.py": "import os\n",
    })
    assert not marker.exists()
    assert sorted((r.rule, r.methods) for r in spec.routes) == [
        ("/", ("GET",)), ("/api/users", ("GET",)), ("/api/users", ("POST",))]
    assert {"lib", "lib.db", "index", "api", "api.users"} <= set(spec.sources) and spec.has_static
    assert ".hidden" not in spec.modules


def test_every_error_is_reported_with_file_and_line(tmp_path):
    spec = scan(tmp_path, {"a.py": "def get():\n    return (\n", "b.py": "\n\nimport socket\ndef get():\n    pass\n",
                           "tenant.toml": "[limits]\ncpu_ms = 'x'\n"})
    assert not spec.ok
    joined = "\n".join(spec.errors)
    assert "acme/a.py:" in joined and "acme/b.py:3:" in joined and "acme/tenant.toml:2:" in joined


def test_reserved_names_and_bad_folder_names(tmp_path):
    assert "is reserved" in scan(tmp_path, {"index.py": "def get():\n    pass\n"}, "flask").errors[0]
    (tmp_path / "tenants" / "Bad_Name").mkdir(parents=True)
    names, warnings = list_tenants(tmp_path / "tenants")
    assert "Bad_Name" not in names and any("Bad_Name" in w for w in warnings)

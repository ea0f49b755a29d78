"""The snapshot a serving process starts with: every registered version,
pickled field by field, unpickles into the same specs in the same order."""

import pickle

from muxserver.tenancy.codecache import CodeCache
from muxserver.tenancy.manifest import TenantRules
from muxserver.tenancy.scanner import scan_tenant
from muxserver.tenancy.snapshot import SpecSnapshot
from tests.conftest import write_tenant


def test_a_snapshot_unpickles_into_the_same_specs(tmp_path):
    cache = CodeCache(tmp_path / "cache")
    folders = {
        "hello": {"index.py": "def get():\n    return 'hi'\n"},
        "same": {"index.py": "def get():\n    return 'hi'\n"},
        "shop": {"api/items.py": "def get():\n    return []\ndef post():\n    return 'ok'\n",
                 "lib/db.py": "X = 1\n", "tenant.toml": "[limits]\ncpu_ms = 500\n"},
        "broken": {"index.py": "def get(:\n"},
    }
    specs = [scan_tenant(write_tenant(tmp_path / "tenants", name, files), name, cache, TenantRules())
             for name, files in folders.items()]
    message = {"op": "snapshot", "specs": SpecSnapshot(specs)}
    received = pickle.loads(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))
    assert received["specs"] == specs
    assert [s.name for s in received["specs"]] == ["hello", "same", "shop", "broken"]
    assert not received["specs"][3].ok and received["specs"][2].manifest.limits.cpu_ms == 500
    # Tenants with equal tables still share them on the other side.
    assert received["specs"][0].routes is received["specs"][1].routes

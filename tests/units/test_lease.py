"""The lease, the generation, the registry and the loader, as units: who holds
a tenant and until when (issue 21). Real tenants in a temporary folder, real
code cache and sandbox; no server."""

import gevent
import pytest

from muxserver.errors import TooManyRequests
from muxserver.tenancy import lease as leases
from muxserver.tenancy.health import check_version
from tests.conftest import Tenants


@pytest.fixture
def tenants(tmp_path):
    return Tenants(tmp_path)


def _app(tenants, **files):
    tenants.add("acme", files or {"a.py": "def get():\n    return 'a'\n"})
    return tenants.app()


def test_it_takes_the_slot_at_once_and_refuses_past_the_cap(tenants):
    app = _app(tenants, **{"a.py": "def get():\n    return 'a'\n",
                           "tenant.toml": "[limits]\nconcurrency = 2\n"})
    state = app.registry.get("acme")
    first = leases.take(state, "r1", "a")
    second = leases.take(state, "r2", "a")
    assert state.inflight == 2
    with pytest.raises(TooManyRequests):
        leases.take(state, "r3", "a")
    unbounded = leases.take(state, None, "a", capped=False)  # an operator's load
    assert state.inflight == 3
    for lease in (first, second, unbounded):
        lease.release()
        lease.release()  # once is enough: a second release is nothing
    assert state.inflight == 0


def test_leaving_the_block_releases_unless_handed_over(tenants):
    app = _app(tenants)
    state = app.registry.get("acme")
    with leases.take(state, "r", "a") as lease:
        app.load(lease, "a")
        assert state.inflight == 1 and state.generation.leases == 1
    assert state.inflight == 0 and state.generation.leases == 0
    with leases.take(state, "r", "a") as kept:
        app.load(kept, "a")
        kept.hand_over()
    assert state.inflight == 1  # a stream holds it on
    kept.release()
    assert state.inflight == 0


def test_an_eviction_retires_the_generation_but_never_closes_it_under_a_lease(tenants):
    app = _app(tenants)
    state = app.registry.get("acme")
    lease = leases.take(state, "r", "a")
    with lease:
        app.load(lease, "a")
        generation = lease.generation
        assert app.evict("acme") == 1
        assert generation.retired and not generation.closed
        assert state.generation is None  # the next request starts a new one
        assert generation.runtime is not None  # what the request runs on is whole
    assert generation.closed and generation.runtime is None


def test_a_module_connected_by_imports_goes_with_the_one_evicted(tenants):
    app = _app(tenants, **{
        "a.py": "import helper\ndef get():\n    return helper.X\n",
        "b.py": "import helper\ndef get():\n    return helper.X\n",
        "c.py": "def get():\n    return 'c'\n",
        "helper.py": "X = 'x'\n",
    })
    state = app.registry.get("acme")
    for endpoint in ("a", "b", "c"):
        with leases.take(state, "r", endpoint) as lease:
            app.load(lease, endpoint)
    runtime = state.generation.runtime
    assert app.evict("acme", "a") == 2  # a and b share helper: both go
    assert set(state.modules) == {"c"}
    assert "helper" not in runtime.loaded() and "c" in runtime.loaded()


def test_a_tenant_with_a_flask_app_is_evicted_whole(tenants):
    app = _app(tenants, **{
        "app.py": "from flask import Flask\napp = Flask(__name__)\n",
        "views.py": "from app import app\n@app.route('/v')\ndef v():\n    return 'v'\n",
        "other.py": "def get():\n    return 'o'\n",
    })
    state = app.registry.get("acme")
    for endpoint in ("views", "other"):
        with leases.take(state, "r", endpoint) as lease:
            app.load(lease, endpoint)
    generation = state.generation
    assert app.evict("acme", "other") == 2
    assert generation.closed and state.generation is None


def test_two_cold_loads_of_one_module_run_it_once(tenants):
    app = _app(tenants, **{"a.py": "import time\ntime.sleep(0.1)\nN = []\n"
                                   "def get():\n    return 'a'\n"})
    state = app.registry.get("acme")
    results = []

    def load():
        with leases.take(state, "r", "a") as lease:
            results.append(app.load(lease, "a"))

    gevent.joinall([gevent.spawn(load) for _ in range(3)], raise_error=True)
    modules = {id(module) for module, _ in results}
    assert len(modules) == 1
    assert sum(load_ms is not None for _, load_ms in results) == 1


def test_a_load_into_a_retired_generation_is_not_kept_in_it(tenants):
    app = _app(tenants, **{"a.py": "import time\ntime.sleep(0.2)\ndef get():\n    return 'a'\n"})
    state = app.registry.get("acme")
    lease = leases.take(state, "r", "a")
    with lease:
        loading = gevent.spawn(app.load, lease, "a")
        gevent.sleep(0.05)
        app.evict("acme")
        module, load_ms = loading.get(timeout=10)
        assert load_ms is not None and module.handlers
        assert lease.generation.modules == {}  # retired: not kept for others
    assert lease.generation.closed


def test_a_new_version_supersedes_the_old_one_and_its_loads(tenants):
    app = _app(tenants)
    state = app.registry.get("acme")
    changes = []
    app.registry.on_change = lambda name, new: changes.append((name, new))
    with leases.take(state, "r", "a") as lease:
        app.load(lease, "a")
        (tenants.root / "acme" / "a.py").write_text("def get():\n    return 'a2'\n")
        app.redeploy("acme")
        new = app.registry.get("acme")
        assert new is not state and state.superseded and changes == [("acme", new)]
        assert lease.generation.retired and not lease.generation.closed
    assert lease.generation.closed
    # A request still routed to the old version starts a generation that closes with it.
    late = leases.take(state, "late", "a")
    with late:
        app.load(late, "a")
    assert late.generation.closed and state.generation is None


def test_the_health_check_keeps_the_last_good_version_and_is_not_repeated(tenants):
    app = _app(tenants)
    calls = []

    def check(spec):
        calls.append(spec.version)
        return check_version(spec, app.loader)

    app.registry.health_check = check
    good = app.registry.get("acme")
    (tenants.root / "acme" / "a.py").write_text("raise ValueError('at import')\ndef get():\n    return 1\n")
    refused = app.registry.rescan_tenant("acme")
    assert not refused.ok and app.registry.get("acme") is good
    assert refused.errors[0].startswith("acme/a.py:1: importing a failed: ValueError: at import")
    assert "Traceback" in refused.errors[0]
    assert app.registry.deploy_errors["acme"].errors == refused.errors
    app.registry.rescan_tenant("acme")
    assert len(calls) == 1  # the same failed version is not tried again
    (tenants.root / "acme" / "a.py").write_text("def get():\n    return 'fixed'\n")
    fixed = app.registry.rescan_tenant("acme")
    assert fixed.ok and app.registry.get("acme").spec is fixed and "acme" not in \
        app.registry.deploy_errors


def test_a_version_is_checked_once_started_lazily(tenants):
    app = _app(tenants)
    calls = []
    app.registry.health_check = lambda spec: calls.append(spec) or []
    app.registry.rescan(checked=False)  # what a start does
    app.registry.rescan()  # nothing changed: nothing to check
    assert calls == []


def test_a_removed_tenant_is_told_and_its_loads_close(tenants):
    app = _app(tenants)
    state = app.registry.get("acme")
    with leases.take(state, "r", "a") as lease:
        app.load(lease, "a")
    generation = state.generation
    told = []
    app.registry.on_change = lambda name, new: told.append((name, new))
    import shutil

    shutil.rmtree(tenants.root / "acme")
    app.registry.rescan()
    assert told == [("acme", None)] and generation.closed and app.registry.get("acme") is None

"""Eviction by idle time and by memory, memory reclaim, the code cache."""

import time

import gevent
import requests

from muxserver.tenancy.evictor import Evictor
from muxserver.tenancy.evictor import idle_modules
from muxserver.tenancy.evictor import lru_order
from tests.conftest import wait_until


class FakeModule:
    def __init__(self, name, last_used):
        self.tenant, self.endpoint, self.last_used = "t", name, last_used


def test_idle_modules_and_lru_order_with_an_injected_clock():
    modules = [FakeModule("a", 100.0), FakeModule("b", 50.0), FakeModule("c", 99.0)]
    assert [m.endpoint for m in idle_modules(modules, now=110.0, idle_ttl=20.0)] == ["b"]
    assert [m.endpoint for m in lru_order(modules)] == ["b", "c", "a"]


def test_sweep_evicts_idle_modules_and_state_starts_fresh(tenants):
    tenants.add("acme", {"c.py": "n = 0\ndef get():\n    global n\n    n += 1\n    return str(n)\n"})
    app = tenants.app(idle_ttl=30)
    from werkzeug.test import Client

    client = Client(app)
    assert [client.get("/acme/c").text for _ in range(2)] == ["1", "2"]
    evictor = Evictor(app)
    assert evictor.sweep(now=time.monotonic() + 10) == 0
    assert evictor.sweep(now=time.monotonic() + 31) == 1
    r = client.get("/acme/c")
    assert r.text == "1" and r.headers["Server-Timing"].startswith("load;dur=")
    assert app.process_status()["evictions"] == 1
    assert 'mux_evictions_total{reason="idle",tenant="acme"} 1.0' in app.metrics.render().decode()


def test_idle_ttl_over_http(tenants, live):
    tenants.add("acme", {"c.py": "n = 0\ndef get():\n    global n\n    n += 1\n    return str(n)\n"})
    server = live(idle_ttl=0.3)
    evictor = Evictor(server.app, interval=0.05)
    evictor.start()
    try:
        assert server.get("/acme/c").text == "1"
        assert server.get("/acme/c").text == "2"
        gevent.sleep(0.8)
        assert server.admin.get("/_mux/status").json()["warm_modules"] == []
        again = server.get("/acme/c")
        assert again.text == "1" and "load;dur=" in again.headers["Server-Timing"]
    finally:
        evictor.stop()


# ~3 MB a module in blocks glibc maps on their own: freed, they leave RSS at
# once (small objects leave it only as whole arenas empty, which depends on
# the heap's history, not on eviction).
BIG_MODULE = "DATA = [bytes(300000) for i in range(10)]\ndef get():\n    return str(len(DATA))\n"


def _warm_many(tenants, count=40):
    for i in range(count):
        tenants.add(f"big{i}", {"index.py": BIG_MODULE})


_RECLAIM_RUN = """
import json, sys, time
from werkzeug.test import Client
from muxserver.config import Config
from muxserver.app import MuxApp
from muxserver.ops.memory import release_memory
from muxserver.tenancy.evictor import Evictor
from sandbox.limits import rss_bytes

root, cache = sys.argv[1], sys.argv[2]
app = MuxApp(Config.build({"tenants_dir": root, "cache_dir": cache, "watch": False,
                           "access_log": False, "idle_ttl": 60}))
client = Client(app)
release_memory(force=True)
before = rss_bytes()
for i in range(40):
    assert client.get(f"/big{i}/").status_code == 200
grown = rss_bytes() - before
Evictor(app).sweep(now=time.monotonic() + 120)
print(json.dumps({"grown": grown, "after": rss_bytes() - before,
                  "warm": [m.tenant for m in app.registry.warm_modules()]}))
"""


def _run_alone(script, tenants) -> dict:
    """``script``'s last line, run in a process of its own: RSS depends on
    the heap's history (a test before this one that freed a big block raised
    glibc's mmap threshold, and 300 KB blocks then reused the suite's heap)."""
    import json
    import subprocess
    import sys

    from tests.conftest import REPO

    out = subprocess.run([sys.executable, "-c", script, str(tenants.root), str(tenants.cache)],
                         capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_evicted_memory_goes_back_to_the_os(tenants):
    _warm_many(tenants)
    result = _run_alone(_RECLAIM_RUN, tenants)
    assert result["grown"] > 40 * 2**20, result  # ~3 MB a module really was held
    assert result["warm"] == []
    assert result["after"] <= result["grown"] * 0.25, result


_LIMIT_RUN = """
import json, sys
from werkzeug.test import Client
from muxserver.config import Config
from muxserver.app import MuxApp
from muxserver.ops.memory import release_memory
from muxserver.tenancy.evictor import Evictor
from sandbox.limits import rss_bytes

root, cache = sys.argv[1], sys.argv[2]
release_memory(force=True)
limit_mb = int(rss_bytes() / 2**20) + 30
app = MuxApp(Config.build({"tenants_dir": root, "cache_dir": cache, "watch": False,
                           "access_log": False, "memory_limit": limit_mb}))
client = Client(app)
evictor = Evictor(app)
peak = 0
for i in range(40):
    assert client.get(f"/big{i}/").status_code == 200
    evictor.sweep()
    peak = max(peak, rss_bytes())
print(json.dumps({"limit_mb": limit_mb, "peak_mb": peak / 2**20,
                  "metrics": app.metrics.render().decode(),
                  "warm": sorted(m.tenant for m in app.registry.warm_modules())}))
"""


def test_memory_limit_evicts_least_recently_used(tenants):
    _warm_many(tenants)
    result = _run_alone(_LIMIT_RUN, tenants)
    assert result["peak_mb"] <= result["limit_mb"] * 1.1, result
    assert 'reason="memory"' in result["metrics"]
    assert "big39" in result["warm"] and "big0" not in result["warm"]


def test_code_cache_survives_a_restart(tenants):
    tenants.add("acme", {"a.py": "def get():\n    return 'a'\n", "lib/x.py": "V = 1\n"})
    first = tenants.app()
    assert first.cache.writes == 2
    second = tenants.app()
    assert second.cache.writes == 0 and second.cache.hits >= 2
    from werkzeug.test import Client

    assert Client(second).get("/acme/a").text == "a"
    assert second.cache.writes == 0


def test_active_version_loads_from_cache_when_file_changes_underneath(tenants):
    tenants.add("acme", {"a.py": "def get():\n    return 'old'\n"})
    app = tenants.app()
    (tenants.root / "acme" / "a.py").write_text("def get(:\n  half written")
    from werkzeug.test import Client

    assert Client(app).get("/acme/a").text == "old"


def test_cache_prune_removes_old_entries(tenants):
    tenants.add("acme", {"a.py": "def get():\n    return 'a'\n"})
    app = tenants.app()
    assert app.cache.prune(max_age_s=3600) == 0
    assert app.cache.prune(max_age_s=-1) == 1


def test_cold_start_recompiles_when_the_cache_entry_is_gone(tenants):
    """A serving process got a version whose compiled code is no longer in
    the cache (pruned, or the cache dir wiped): a file with the registered
    content compiles again; a file changed since is refused, never run as
    a version nobody registered."""
    import shutil

    from muxserver.app import MuxApp

    tenants.add("acme", {"a.py": "def get():\n    return 'same'\n", "b.py": "def get():\n    return 'b1'\n"})
    registered = tenants.app().registry.get("acme").spec
    from werkzeug.test import Client

    shutil.rmtree(tenants.cache)
    (tenants.root / "acme" / "b.py").write_text("def get():\n    return 'b2'\n")
    serving = MuxApp(tenants.config(), scan=False)
    serving.registry.install(registered)
    assert Client(serving).get("/acme/a").text == "same"   # file unchanged: compiled again
    r = Client(serving).get("/acme/b")                       # changed and not in cache: refused
    assert r.status_code == 500 and "redeploy the tenant" in r.text


def test_a_version_stays_loadable_by_content_while_its_files_change(tenants):
    """SPEC: the active version stays loadable when its files are overwritten
    mid-sync — its code is kept by content, not read from the path."""
    import shutil

    tenants.add("acme", {"b.py": "def get():\n    return 'b1'\n"})
    app = tenants.app()
    from werkzeug.test import Client

    shutil.rmtree(tenants.cache)
    (tenants.root / "acme" / "b.py").write_text("def get():\n    return 'b2'\n")
    assert Client(app).get("/acme/b").text == "b1"


def test_sequential_cold_starts_under_memory_limit_are_never_refused(
        muxserver_process, tenants, tmp_path):
    """Idle modules make room before a cold start: loading 40 modules of
    about 3 MB one after another under a limit of idle + 40 MB answers every
    request (before: requests 27-29 got 503 "the server is over N MB")."""
    for i in range(40):
        tenants.add(f"m{i}", {"index.py": f"DATA = b'{i % 10}' * (3 * 2**20)\n"
                                          "def get():\n    return str(len(DATA))\n"})
    probe = muxserver_process("--tenants-dir", str(tenants.root), "--no-watch",
                              "--cache-dir", str(tmp_path / "c")).wait_ready()
    # --memory-limit applies to each serving process.
    idle_mb = requests.get(probe.admin_url + "/_mux/status").json()["processes"][0]["rss_bytes"] // 2**20
    probe.stop()
    proc = muxserver_process("--tenants-dir", str(tenants.root), "--no-watch",
                             "--memory-limit", str(idle_mb + 40),
                             "--cache-dir", str(tmp_path / "c")).wait_ready()
    codes = [requests.get(f"{proc.url}/m{i}/", timeout=30).status_code for i in range(40)]
    assert codes == [200] * 40, codes
    # Counters reach the supervisor with the serving process's next report.
    wait_until(lambda: requests.get(proc.admin_url + "/_mux/status").json()["evictions"] > 0)
    status = requests.get(proc.admin_url + "/_mux/status").json()
    assert len(status["warm_modules"]) < 40
    serving = status["processes"][0]["rss_bytes"]
    assert serving <= (idle_mb + 40) * 2**20 * 1.1, serving / 2**20


_FROZEN_RUN = """
import gc, json, sys
from werkzeug.test import Client
from muxserver.config import Config
from muxserver.app import MuxApp
from muxserver.ops.collector import collector
from muxserver.ops.memory import release_memory
from muxserver.tenancy.evictor import Evictor
from sandbox.limits import rss_bytes

gc.disable()  # as in a serving process: the collector runs by steps
root, cache = sys.argv[1], sys.argv[2]
app = MuxApp(Config.build({"tenants_dir": root, "cache_dir": cache, "watch": False,
                           "access_log": False}))
client = Client(app)
assert client.get("/keeper/").status_code == 200
release_memory(force=True)
evictor = Evictor(app)
evictor.memory_limit = collector.memory_limit = rss_bytes() + 40 * 2**20
assert client.get("/garbage/").status_code == 200
from sandbox import Budget, charged, guards
with charged(Budget(memory_bytes=512 * 2**20)):  # another request in flight, holding a big value
    guards.check_allocation(2**21, "a big value")
    from muxserver.ops.collector import WAIT_FOR_BIG_S
    assert collector.step(idle=False, now=100.0) is None
    assert collector.step(idle=False, now=100.0 + WAIT_FOR_BIG_S) == "freeze"
over = rss_bytes() > evictor.memory_limit
evicted = evictor.shed_memory()
print(json.dumps({"over": over, "evicted": evicted, "frozen": collector.frozen,
                  "warm": sorted(m.tenant for m in app.registry.warm_modules())}))
"""


def test_frozen_garbage_is_collected_before_anyone_is_evicted_for_memory(tenants):
    """Garbage the collector froze (muxserver.ops.collector) counts in RSS;
    over --memory-limit, it is collected before a warm module is evicted."""
    import json
    import subprocess
    import sys

    from tests.conftest import REPO

    tenants.add("keeper", {"index.py": "def get():\n    return 'kept'\n"})
    tenants.add("garbage", {"index.py": (
        "def get():\n"
        "    for _ in range(60):\n"
        "        cycle = ['y' * 2**20]\n"
        "        cycle.append(cycle)\n"
        "    return 'made 60 MB of garbage'\n"), "tenant.toml": "[limits]\nmemory_mb = 256\n"})
    out = subprocess.run([sys.executable, "-c", _FROZEN_RUN, str(tenants.root), str(tenants.cache)],
                         capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["over"], result
    assert result == {"over": True, "evicted": 0, "frozen": False,
                      "warm": ["garbage", "keeper"]}

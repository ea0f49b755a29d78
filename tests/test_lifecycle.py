"""A tenant's lifetime over the public surface: who holds it, and when
eviction, a redeploy or an admin call may let go of it (issue 21).

Each test here reproduces a bug that lived where several places decided
that question by hand; the lease (:mod:`muxserver.tenancy.lease`) is now
the one answer."""

import io
import json
import os

import gevent
import requests

from muxserver.ops import logs
from muxserver.ops.memory import release_memory
from sandbox.limits import rss_bytes
from tests.conftest import wait_until


def _capture_logs():
    captured = io.StringIO()
    saved = logs.writer
    logs.writer = logs.LogWriter("json", stream=captured)
    return captured, saved


def test_concurrency_cap_holds_right_after_a_limit_kill(tenants, live):
    """The penalty yield sits before the slot is taken, never between the
    check and the increment: 10 parallel requests after a CPU kill still
    meet the cap of 2."""
    tenants.add("acme", {
        "hog.py": "def get():\n    while True:\n        pass\n",
        "slow.py": "import time\ndef get():\n    time.sleep(0.4)\n    return 'ok'\n",
        "tenant.toml": "[limits]\nconcurrency = 2\ncpu_ms = 50\n",
    })
    server = live()
    assert server.get("/acme/hog").status_code == 503
    peak = []

    def one():
        return requests.get(server.url + "/acme/slow", timeout=10).status_code

    glets = [gevent.spawn(one) for _ in range(10)]
    state = server.app.registry.get("acme")
    deadline = gevent.get_hub().loop.now() + 2
    while not all(g.ready() for g in glets) and gevent.get_hub().loop.now() < deadline:
        peak.append(state.inflight)
        gevent.sleep(0.005)
    gevent.joinall(glets, timeout=10)
    codes = sorted(g.value for g in glets)
    assert max(peak) <= 2, max(peak)
    assert codes.count(200) == 2 and codes.count(429) == 8, codes


def test_requests_during_a_cold_load_wait_for_it_and_a_failed_one_is_tried_again(tenants, live):
    """Requests that arrive while an endpoint loads wait for that load and
    are answered by it (one load, one ``load;dur``); when it fails, each
    waiting request loads it again itself and answers with its own error,
    none hangs."""
    tenants.add("acme", {
        "slowload.py": "import time\ntime.sleep(0.2)\ndef get():\n    return 'loaded'\n",
        "failing.py": ("import time\ntime.sleep(0.2)\nraise ValueError('boom')\n"
                       "def get():\n    return 'never'\n"),
    })
    server = live()
    state = server.app.registry.get("acme")
    first = gevent.spawn(server.get, "/acme/slowload")
    wait_until(lambda: state.loading_now())
    waiting = [gevent.spawn(server.get, "/acme/slowload") for _ in range(2)]
    wait_until(lambda: state.inflight == 3)
    responses = [g.get(timeout=10) for g in (first, *waiting)]
    assert [r.text for r in responses] == ["loaded"] * 3
    assert ["load;dur=" in r.headers["Server-Timing"] for r in responses] == [True, False, False]
    first = gevent.spawn(server.get, "/acme/failing")
    wait_until(lambda: state.loading_now())
    second = gevent.spawn(server.get, "/acme/failing")
    wait_until(lambda: state.inflight == 2)
    assert [g.get(timeout=10).status_code for g in (first, second)] == [500, 500]
    assert not state.loading_now()


def test_eviction_during_a_cold_load_does_not_break_the_load(tenants, live):
    tenants.add("acme", {
        "slowload.py": "import time\ntime.sleep(0.3)\ndef get():\n    return 'loaded'\n",
        "other.py": "def get():\n    return 'other'\n",
    })
    server = live()
    state = server.app.registry.get("acme")
    pending = gevent.spawn(server.get, "/acme/slowload")
    wait_until(lambda: state.loading_now())
    server.app.evict("acme")  # the idle sweep and memory shedding do this on their own
    response = pending.get(timeout=10)
    assert (response.status_code, response.text) == (200, "loaded"), response.text
    # The generation it loaded into was retired under it: the next request
    # loads again into a new one.
    again = server.get("/acme/slowload")
    assert again.text == "loaded" and "load;dur=" in again.headers["Server-Timing"]


def test_eviction_while_a_transaction_is_open_rolls_it_back(tenants, live):
    """A request that leaves a write transaction open is rolled back when it
    ends, on the runtime it ran on, even when an eviction retired that
    runtime meanwhile: the next writer is not met with 'database is locked'."""
    tenants.add("acme", {
        "w.py": (
            "import sqlite3, time\n"
            "def post(request):\n"
            "    db = sqlite3.connect('t.db')\n"
            "    db.execute('CREATE TABLE IF NOT EXISTS t (v TEXT)')\n"
            "    db.commit()\n"
            "    db.execute('INSERT INTO t VALUES (?)', (request.args.get('v'),))\n"
            "    if request.args.get('linger'):\n"
            "        time.sleep(0.3)\n"
            "        return 'left open'\n"
            "    db.commit()\n"
            "    return str(db.execute('SELECT count(*) FROM t').fetchone()[0])\n"
        ),
    })
    server = live(data_dir=tenants.root.parent / "data")
    state = server.app.registry.get("acme")
    pending = gevent.spawn(server.post, "/acme/w?v=a&linger=1")
    wait_until(lambda: state.inflight == 1)
    gevent.sleep(0.05)
    server.app.evict("acme")
    assert pending.get(timeout=10).text == "left open"
    after = server.post("/acme/w?v=b")
    assert (after.status_code, after.text) == (200, "1"), after.text


def test_redeploy_closes_the_old_runtime_when_its_last_request_ends(tenants, live):
    tenant = tenants.add("acme", {
        "w.py": (
            "import sqlite3, time\n"
            "def post(request):\n"
            "    db = sqlite3.connect('t.db')\n"
            "    db.execute('CREATE TABLE IF NOT EXISTS t (v TEXT)')\n"
            "    db.execute('INSERT INTO t VALUES (1)')\n"
            "    time.sleep(0.3)\n"
            "    return 'left open'\n"
        ),
        "tenant.toml": "[env]\nV = '1'\n",
    })
    server = live(data_dir=tenants.root.parent / "data")
    old = server.app.registry.get("acme")
    pending = gevent.spawn(server.post, "/acme/w")
    wait_until(lambda: old.inflight == 1)
    (tenant / "tenant.toml").write_text("[env]\nV = '2'\n")
    (tenant / "r.py").write_text(
        "import sqlite3\ndef post():\n    db = sqlite3.connect('t.db')\n"
        "    db.execute('INSERT INTO t VALUES (2)')\n    db.commit()\n"
        "    return str(db.execute('SELECT count(*) FROM t').fetchone()[0])\n")
    server.app.redeploy("acme")
    assert server.app.registry.get("acme") is not old
    assert pending.get(timeout=10).text == "left open"
    assert old.generation is None or old.generation.closed
    after = server.post("/acme/r")
    assert (after.status_code, after.text) == (200, "1"), after.text


def test_a_file_named_like_hello_world_loads(tenants, live):
    tenants.add("acme", {"hello-world.py": "def main():\n    return 'hi'\n",
                         "api/v-1.py": "def get():\n    return 'v1'\n"})
    server = live()
    assert server.get("/acme/hello-world").text == "hi"
    assert server.get("/acme/api/v-1").text == "v1"


def test_a_server_redirect_never_points_off_site(tenants, live):
    tenants.add("acme", {"index.py": "def get():\n    return 'x'\n"})
    server = live()
    for path in ("/%5Cevil.example", "/%5C%5Cevil.example", "//evil.example", "/%2F%2Fevil"):
        r = server.get(path, allow_redirects=False)
        location = r.headers.get("Location", "")
        assert not location.startswith(("//", "/\\")), (path, r.status_code, location)
    r = server.get("/acme", allow_redirects=False)
    assert (r.status_code, r.headers["Location"]) == (308, "/acme/")


def test_evicting_one_module_of_a_warm_tenant_gives_its_memory_back(tenants):
    """15 evict/reload cycles of a big module while a small one of the same
    tenant stays warm: memory returns each time (it grew by ~30 MB a cycle)."""
    from werkzeug.test import Client

    tenants.add("acme", {
        "big.py": "DATA = [b'x' * 3_000_000 + bytes([i]) for i in range(10)]\ndef get():\n    return str(len(DATA))\n",
        "small.py": "def get():\n    return 'small'\n",
    })
    app = tenants.app(idle_ttl=600)
    client = Client(app)
    assert client.get("/acme/small").text == "small"
    assert client.get("/acme/big").text == "10"
    release_memory(force=True)
    first = rss_bytes()
    for _ in range(15):
        assert app.evict("acme", "big") == 1
        assert client.get("/acme/small").text == "small"  # stayed warm
        assert client.get("/acme/big").text == "10"
    release_memory(force=True)
    grown = rss_bytes() - first
    assert grown < 40 * 2**20, f"grew {grown / 2**20:.0f} MB over 15 cycles"
    warm = {m["endpoint"] for m in app.process_status()["warm_modules"]}
    assert warm == {"big", "small"}


def test_an_error_page_request_meets_the_concurrency_cap(tenants, live):
    tenants.add("acme", {
        "app.py": ("from flask import Flask\nimport time\napp = Flask(__name__)\n"
                   "@app.errorhandler(404)\ndef nf(e):\n    time.sleep(0.3)\n    return 'nf', 404\n"
                   "@app.route('/x')\ndef x():\n    return 'x'\n"),
        "tenant.toml": "[limits]\nconcurrency = 1\n",
    })
    server = live()
    glets = [gevent.spawn(lambda: requests.get(server.url + "/acme/nope", timeout=10).status_code)
             for _ in range(4)]
    gevent.joinall(glets, timeout=10)
    assert sorted(g.value for g in glets) == [404, 429, 429, 429]


def test_a_large_static_file_is_logged_once_it_is_sent(tenants, live):
    tenant = tenants.add("acme", {"index.py": "def get():\n    return 'x'\n"})
    (tenant / "static").mkdir()
    size = 64 * 2**20  # more than loopback's socket buffers hold
    (tenant / "static" / "big.bin").write_bytes(b"x" * size)
    captured, saved = _capture_logs()
    try:
        server = live()
        with requests.get(server.url + "/acme/static/big.bin", stream=True, timeout=10) as r:
            first = next(r.iter_content(65536))
            assert first
            state = server.app.registry.get("acme")
            # Still being sent: held, not yet logged.
            assert state.inflight == 1
            assert '"muxserver.access"' not in captured.getvalue()
            gevent.sleep(0.2)
            rest = sum(len(chunk) for chunk in r.iter_content(2**20))
        assert len(first) + rest == size
        wait_until(lambda: '"muxserver.access"' in captured.getvalue())
        wait_until(lambda: state.inflight == 0)
    finally:
        logs.writer = saved
    access = [json.loads(line) for line in captured.getvalue().splitlines()
              if '"muxserver.access"' in line]
    assert access[0]["duration_ms"] >= 200, access


def test_a_bad_streamed_item_is_the_tenants_error_not_a_server_bug(tenants, live):
    tenants.add("acme", {"s.py": "def get():\n    def g():\n        yield 'a'\n        yield 42\n"
                                 "    return g()\n"})
    captured, saved = _capture_logs()
    try:
        server = live()
        try:
            server.get("/acme/s")
        except requests.RequestException:
            pass  # the body is cut
        wait_until(lambda: '"muxserver.access"' in captured.getvalue())
    finally:
        logs.writer = saved
    tenant_log = "\n".join(e["line"] for e in server.app.logs.tail("acme"))
    assert "must be str or bytes" in tenant_log, tenant_log
    lines = [json.loads(line) for line in captured.getvalue().splitlines()]
    assert not [line for line in lines if line.get("message") == "internal error"], lines


def test_tracebacks_of_an_http_deployed_tenant_show_its_own_lines(tenants, live, tmp_path):
    from muxserver.tenancy.archive import pack_folder

    tenants.add("acme", {"index.py": "def get():\n    return 'dir'\n"})
    source = tmp_path / "src"
    source.mkdir()
    (source / "index.py").write_text("def get():\n    x = 1\n    raise ValueError('from the http copy')\n")
    buffer = io.BytesIO()
    pack_folder(str(source), buffer)
    server = live(data_dir=tmp_path / "data")
    put = server.admin.request("PUT", "/_mux/tenants/acme", data=buffer.getvalue())
    assert put.status_code == 200, put.text
    assert server.get("/acme/").status_code == 500
    log = "\n".join(e["line"] for e in server.app.logs.tail("acme"))
    assert "raise ValueError('from the http copy')" in log, log


def test_a_stream_holds_its_generation_through_an_eviction(tenants, live):
    tenants.add("acme", {"s.py": (
        "import time\nN = 'module state'\n"
        "def get():\n    def g():\n        yield 'a'\n        time.sleep(0.3)\n"
        "        yield N\n    return g()\n")})
    server = live()
    pending = gevent.spawn(server.get, "/acme/s")
    state = server.app.registry.get("acme")
    wait_until(lambda: state.inflight == 1)
    gevent.sleep(0.05)
    server.app.evict("acme")
    r = pending.get(timeout=10)
    assert (r.status_code, r.text) == (200, "amodule state")
    wait_until(lambda: state.inflight == 0)
    assert state.generation is None


def test_admin_specialize_is_held_like_a_request(tenants, live):
    tenants.add("acme", {"slowload.py": "import time\ntime.sleep(0.3)\ndef get():\n    return 'x'\n"})
    server = live()
    state = server.app.registry.get("acme")
    pending = gevent.spawn(server.admin.post, "/_mux/specialize",
                           json={"tenant": "acme", "endpoint": "slowload"})
    wait_until(lambda: state.loading_now())
    assert state.inflight == 1
    server.app.evict("acme")
    r = pending.get(timeout=10)
    assert r.status_code == 200 and r.json()["was_warm"] is False, r.text


def test_no_temp_folder_is_left_behind(tmp_path, muxserver_process):
    import glob
    import tempfile

    tenants_dir = tmp_path / "tenants"
    (tenants_dir / "acme").mkdir(parents=True)
    (tenants_dir / "acme" / "index.py").write_text("def get():\n    return 'x'\n")
    before = set(glob.glob(os.path.join(tempfile.gettempdir(), "muxserver-*")))
    proc = muxserver_process("--tenants-dir", str(tenants_dir)).wait_ready()
    assert requests.get(proc.url + "/acme/", timeout=5).text == "x"
    assert proc.stop() == 0
    after = set(glob.glob(os.path.join(tempfile.gettempdir(), "muxserver-*")))
    assert after - before == set()


def test_a_second_server_on_the_same_server_dir_is_refused_naming_the_first(tmp_path):
    """Two servers on one tenants folder (the same default server dir): the
    second used to unlink and remake the first one's egress socket and clear
    its run folders, and the first went on serving with every tenant's
    outbound calls broken. The second is refused, naming the first; once
    the first has stopped, a server starts there again."""
    from tests.conftest import Subprocess
    from tests.conftest import write_tenant

    tenants = tmp_path / "tenants"
    write_tenant(tenants, "calm", {"index.py": "def get():\n    return 'calm'\n"})
    args = ["--tenants-dir", str(tenants), "--workers", "1", "--no-watch"]
    first = Subprocess(args, log_dir=tmp_path).wait_ready()
    try:
        second = Subprocess(args, log_dir=tmp_path)
        try:
            assert second.proc.wait(timeout=60) == 2
        finally:
            second.stop()
        refusal = second.output()
        assert f"another muxserver (pid " in refusal and "--server-dir" in refusal, refusal
        assert str(tmp_path / ".muxserver") in refusal, refusal
        assert "listening on" not in refusal, refusal  # it never served: it must not say so
        assert requests.get(first.url + "/calm/", timeout=10).text == "calm"
    finally:
        first.stop()
    again = Subprocess(args, log_dir=tmp_path).wait_ready()
    try:
        assert requests.get(again.url + "/calm/", timeout=10).text == "calm"
    finally:
        again.stop()

"""Deploy by directory sync against a running server (real HTTP)."""

import os
import shutil
import subprocess
import sys
import time

import gevent
import pytest
import requests

from muxserver.tenancy.watcher import StatWatcher
from muxserver.tenancy.watcher import start_watcher
from tests.conftest import REPO
from tests.conftest import wait_until


@pytest.fixture
def watched(tenants, live):
    """A live server whose watcher runs (debounce 100 ms)."""
    watchers = []

    def start(**overrides):
        server = live(debounce_ms=100, **overrides)
        watchers.append(start_watcher(server.app))
        return server

    yield start
    for watcher in watchers:
        watcher.stop()


def wait_for(check, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return time.monotonic()
        gevent.sleep(0.02)
    raise AssertionError("condition not met in time")


def body(server, path):
    r = server.get(path)
    return r.text if r.status_code == 200 else r.status_code


def test_new_changed_broken_fixed(tenants, watched):
    server = watched()
    assert server.get("/acme/").status_code == 404
    tenants.add("acme", {"index.py": "def get():\n    return 'v1'\n"})
    wait_for(lambda: body(server, "/acme/") == "v1")
    tenants.add("acme", {"index.py": "def get():\n    return 'v2'\n"})
    wait_for(lambda: body(server, "/acme/") == "v2")
    tenants.add("acme", {"index.py": "import socket\ndef get():\n    return 'v3'\n"})
    wait_for(lambda: "acme" in server.app.registry.deploy_errors)
    assert body(server, "/acme/") == "v2"
    status = server.admin.get("/_mux/status").json()
    errors = status["deploy_errors"]["acme"]["errors"]
    assert len(errors) == 1 and errors[0].startswith("acme/index.py:1: `import socket` is not allowed")
    tenant = status["tenants"]["acme"]
    assert tenant["last_failed_deploy"]["errors"] == errors and tenant["version"]
    tenants.add("acme", {"index.py": "def get():\n    return 'v4'\n"})
    wait_for(lambda: body(server, "/acme/") == "v4")
    assert "acme" not in server.app.registry.deploy_errors


def test_half_broken_multi_file_version_applies_nothing(tenants, watched):
    tenants.add("acme", {"a.py": "def get():\n    return 'a1'\n", "b.py": "def get():\n    return 'b1'\n"})
    server = watched()
    assert body(server, "/acme/a") == "a1"
    tenants.add("acme", {"a.py": "def get():\n    return 'a2'\n", "b.py": "def get(:\n"})
    wait_for(lambda: "acme" in server.app.registry.deploy_errors)
    assert body(server, "/acme/a") == "a1" and body(server, "/acme/b") == "b1"


def test_rsync_with_delete(tenants, watched, tmp_path):
    if shutil.which("rsync") is None:
        pytest.skip("rsync is not installed")
    tenants.add("acme", {"old.py": "def get():\n    return 'old'\n", "keep.py": "def get():\n    return 'k1'\n"})
    server = watched()
    src = tmp_path / "src"
    src.mkdir()
    (src / "keep.py").write_text("def get():\n    return 'k2, longer'\n")
    (src / "new.py").write_text("def get():\n    return 'new'\n")
    (src / "lib").mkdir()
    (src / "lib" / "helper.py").write_text("X = 'helped'\n")
    (src / "uses.py").write_text("from lib import helper\ndef get():\n    return helper.X\n")
    subprocess.run(["rsync", "-a", "--delete", f"{src}/", f"{tenants.root / 'acme'}/"], check=True)
    wait_for(lambda: body(server, "/acme/new") == "new")
    assert body(server, "/acme/keep") == "k2, longer"
    assert body(server, "/acme/uses") == "helped"
    assert server.get("/acme/old").status_code == 404


def test_muxserver_deploy_is_picked_up(tenants, watched, tmp_path):
    tenants.add("acme", {"index.py": "def get():\n    return 'before'\n"})
    server = watched()
    src = tmp_path / "v2"
    src.mkdir()
    (src / "index.py").write_text("def get():\n    return 'after'\n")
    result = subprocess.run([sys.executable, "-m", "muxserver", "deploy", str(src), "--tenant", "acme",
                             "--tenants-dir", str(tenants.root)], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
    wait_for(lambda: body(server, "/acme/") == "after")


def test_deleted_tenant_dir_removes_routes_and_modules(tenants, watched):
    tenants.add("gone", {"index.py": "def get():\n    return 'here'\n"})
    server = watched()
    assert body(server, "/gone/") == "here"
    shutil.rmtree(tenants.root / "gone")
    wait_for(lambda: server.get("/gone/").status_code == 404)
    status = server.admin.get("/_mux/status").json()
    assert all(m["tenant"] != "gone" for m in status["warm_modules"])
    assert "gone" not in status["tenants"]


def test_request_in_flight_finishes_on_its_code(tenants, watched):
    tenants.add("acme", {"slow.py": "import time\ndef get():\n    time.sleep(0.6)\n    return 'old code'\n"})
    server = watched()
    server.get("/acme/slow")  # warm
    job = gevent.spawn(requests.get, server.url + "/acme/slow", timeout=10)
    wait_for(lambda: server.app.registry.get("acme").inflight == 1)
    tenants.add("acme", {"slow.py": "def get():\n    return 'new code'\n"})
    wait_for(lambda: body(server, "/acme/slow") == "new code")
    assert job.get(timeout=10).text == "old code"


def test_tenant_toml_change_applies_limits_env_and_hosts(tenants, watched):
    tenants.add("acme", {"index.py": "import mux\ndef get():\n    return mux.env.get('V', 'none')\n",
                         "spin.py": "def get():\n    while True:\n        pass\n"})
    server = watched(hosts={"acme": ["acme.test"]})
    assert body(server, "/acme/") == "none"
    tenants.add("acme", {"tenant.toml": 'hosts = ["acme.test"]\n[limits]\ncpu_ms = 50\n[env]\nV = "set"\n'})
    wait_for(lambda: body(server, "/acme/") == "set")
    assert server.get("/", headers={"Host": "acme.test"}).text == "set"
    started = time.monotonic()
    assert server.get("/acme/spin").status_code == 503
    assert time.monotonic() - started < 0.5


def test_new_lib_module_and_static_change_apply(tenants, watched):
    tenants.add("acme", {"index.py": "def get():\n    return 'x'\n", "static/a.txt": "one"})
    server = watched()
    assert body(server, "/acme/static/a.txt") == "one"
    tenants.add("acme", {"static/a.txt": "two", "lib/extra.py": "Y = 5\n",
                         "use.py": "from lib.extra import Y\ndef get():\n    return str(Y)\n"})
    wait_for(lambda: body(server, "/acme/use") == "5")
    assert body(server, "/acme/static/a.txt") == "two"


def test_renamed_file_moves_the_route(tenants, watched):
    tenants.add("acme", {"before.py": "def get():\n    return 'r'\n"})
    server = watched()
    (tenants.root / "acme" / "before.py").rename(tenants.root / "acme" / "after.py")
    wait_for(lambda: body(server, "/acme/after") == "r")
    assert server.get("/acme/before").status_code == 404


def test_deploys_under_load_give_no_5xx(tenants, watched):
    tenants.add("acme", {"index.py": "def get():\n    return 'v0'\n"})
    server = watched()
    codes = []
    stop = [False]

    def hammer():
        session = requests.Session()
        while not stop[0]:
            codes.append(session.get(server.url + "/acme/", timeout=10).status_code)

    jobs = [gevent.spawn(hammer) for _ in range(4)]
    for version in range(1, 11):
        tenants.add("acme", {"index.py": f"def get():\n    return 'v{version}'\n"})
        wait_for(lambda v=version: body(server, "/acme/") == f"v{v}")
    stop[0] = True
    gevent.joinall(jobs, timeout=10)
    assert codes and all(code == 200 for code in codes), sorted(set(codes))


def test_stat_watcher_run_step_with_injected_clock(tenants):
    tenants.add("acme", {"index.py": "def get():\n    return 'a'\n"})
    app = tenants.app(debounce_ms=250)
    watcher = StatWatcher(app)
    assert watcher.run_step(now=0.0) == []
    tenants.add("acme", {"index.py": "def get():\n    return 'b'\n"})
    tenants.add("newbie", {"index.py": "def get():\n    return 'n'\n"})
    assert watcher.run_step(now=1.0) == []          # seen, not settled
    assert sorted(watcher.run_step(now=1.3)) == ["acme", "newbie"]
    assert "newbie" in app.registry.tenants


def test_request_in_flight_keeps_its_module_state_across_a_redeploy(tenants, watched):
    """A handler that sleeps, then reads a module global, still finds it after
    the new version has gone live (its module is unloaded only when it ends)."""
    tenants.add("acme", {"slow.py": "import time\nMESSAGE = 'old state'\n"
                                    "def get():\n    time.sleep(0.5)\n    return MESSAGE\n"})
    server = watched()
    assert server.admin.get("/_mux/status").status_code == 200
    job = gevent.spawn(requests.get, server.url + "/acme/slow", timeout=10)
    wait_for(lambda: server.app.registry.get("acme").inflight == 1)
    tenants.add("acme", {"slow.py": "MESSAGE = 'new state'\ndef get():\n    return MESSAGE\n"})
    wait_for(lambda: body(server, "/acme/slow") == "new state")
    old = job.get(timeout=10)
    assert (old.status_code, old.text) == (200, "old state")


def test_request_in_flight_keeps_its_module_state_across_an_eviction(tenants, live):
    tenants.add("acme", {"slow.py": "import time\nMESSAGE = 'kept'\n"
                                    "def get():\n    time.sleep(0.5)\n    return MESSAGE\n"})
    server = live()
    job = gevent.spawn(requests.get, server.url + "/acme/slow", timeout=10)
    wait_for(lambda: server.app.registry.get("acme").inflight == 1)
    assert server.admin.post("/_mux/evict", json={"tenant": "acme"}).json()["evicted"] == 1
    old = job.get(timeout=10)
    assert (old.status_code, old.text) == (200, "kept")


@pytest.mark.live
def test_watch_poll_deploys_without_inotify(muxserver_process, tenants, tmp_path):
    """--watch-poll: for a tenants dir written from other hosts (a shared
    volume), where inotify sees nothing."""
    tenants.add("calm", {"index.py": "def get():\n    return 'calm'\n"})
    proc = muxserver_process("--tenants-dir", str(tenants.root), "--watch-poll",
                             "--cache-dir", str(tmp_path / "c")).wait_ready()
    proc.wait_for_log("by polling every 1 s")
    tenants.add("late", {"index.py": "def get():\n    return 'late'\n"})
    deadline = time.monotonic() + 15
    while requests.get(proc.url + "/late/", timeout=5).status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert requests.get(proc.url + "/late/", timeout=5).text == "late"


def test_a_moved_tenants_link_is_said_loudly_never_served_silently(muxserver_process, tmp_path):
    """A release swap (``current -> releases/2``, as Capistrano deploys): the
    server keeps the folder the link led to at start (its processes' kernel
    rules name it) and says so in its log and status until the link comes
    back or the server restarts, rather than serving the old release
    without a word."""
    for release, text in (("1", "one"), ("2", "two")):
        folder = tmp_path / "releases" / release / "hello"
        folder.mkdir(parents=True)
        (folder / "index.py").write_text(f"def get():\n    return '{text}'\n")
    link = tmp_path / "current"
    link.symlink_to(tmp_path / "releases" / "1")
    proc = muxserver_process("--tenants-dir", str(link), "--cache-dir", str(tmp_path / "c"),
                             "--data-dir", str(tmp_path / "d"),
                             "--server-dir", str(tmp_path / "s")).wait_ready()
    assert requests.get(proc.url + "/hello/", timeout=10).text == "one"

    def warnings():
        return requests.get(proc.admin_url + "/_mux/status", timeout=10).json()["warnings"]

    swap = tmp_path / "current.new"
    swap.symlink_to(tmp_path / "releases" / "2")
    os.replace(swap, link)
    wait_until(lambda: any("now leads to" in w for w in warnings()), timeout=15)
    proc.wait_for_log("restart the server to serve the new folder")
    assert requests.get(proc.url + "/hello/", timeout=10).text == "one"  # as it says
    swap.symlink_to(tmp_path / "releases" / "1")
    os.replace(swap, link)
    wait_until(lambda: warnings() == [], timeout=15)

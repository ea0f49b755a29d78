"""The process layer, tested by assuming the breach.

An operator module (``tests/operator_modules/breach.py``, allowed with
``extra_modules``) runs full Python inside the serving process, exactly like
tenant code that escaped the language layer. Each attack must be refused
over real HTTP with the layer on (best-effort on this kernel, and
``require`` with two workers), and must *succeed* with ``--isolation off``
— so the suite proves the layer, not a typo in the attack. The server keeps
serving after every attempt.
"""

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from muxserver.isolation import missing_parts
from tests.conftest import OPERATOR_MODULES
from tests.conftest import Subprocess
from tests.conftest import write_tenant

SECRET = "operator-secret-4d1f"

pytestmark = pytest.mark.skipif(
    bool(missing_parts()), reason=f"this machine lacks part of the process layer: {missing_parts()}")


class Target:
    """A server under attack, with the things an attacker would go for."""

    def __init__(self, root, isolation, workers):
        self.root = root
        self.tenants = root / "tenants"
        # It has used its /data (made on first use), where attacks below plant files.
        write_tenant(self.tenants, "evil", {
            "index.py": "import breach, os\nos.listdir('/data')\ndef get(request):\n"
                        "    return breach.attempt(request.args['what'], request.args.get('arg', ''))\n"})
        write_tenant(self.tenants, "calm", {"index.py": "def get():\n    return 'calm'\n"})
        self.beside = root / "beside-tenants.txt"
        self.beside.write_text(SECRET)
        self.library = root / "libcopy.so"
        shutil.copy(_libm(), self.library)
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"],
                                          env=dict(os.environ, MUX_BYSTANDER_SECRET=SECRET))
        # What the supervisor alone writes and the serving processes trust.
        self.cache = root / "cache"
        self.server_dir = root / "server"
        (self.server_dir / "versions" / "_live").mkdir(parents=True)
        self.data = root / "data"
        config = root / "mux.toml"
        config.write_text(f'extra_modules = ["breach"]\nmodule_path = ["{OPERATOR_MODULES}"]\n'
                          f'cache_dir = "{self.cache}"\ndata_dir = "{self.data}"\n'
                          f'server_dir = "{self.server_dir}"\n')
        self.server = Subprocess(
            ["--tenants-dir", str(self.tenants), "--config", str(config), "--workers", str(workers),
             "--isolation", isolation, "--no-watch"],
            env={"MUX_OPERATOR_SECRET": SECRET}, log_dir=root).wait_ready()

    def attempt(self, what, arg=""):
        r = requests.get(self.server.url + "/evil/", params={"what": what, "arg": arg}, timeout=30)
        assert r.status_code == 200, r.text
        assert requests.get(self.server.url + "/calm/", timeout=10).text == "calm"
        return r.text

    def worker_pids(self):
        metrics = requests.get(self.server.admin_url + "/_mux/metrics", timeout=10).text
        return [line.split('pid="')[1].split('"')[0] for line in metrics.splitlines()
                if line.startswith("mux_process_rss_bytes{")]

    def close(self):
        self.server.stop()
        self.bystander.kill()
        self.bystander.wait()
        self.listener.close()


def _libm():
    for candidate in ("/lib/x86_64-linux-gnu/libm.so.6", "/lib/aarch64-linux-gnu/libm.so.6",
                      "/usr/lib/libm.so.6", "/lib64/libm.so.6"):
        if os.path.exists(candidate):
            return candidate
    pytest.skip("no libm.so.6 to copy as the attacker's library")


MODES = {"best-effort": ("best-effort", 1), "require-2-workers": ("require", 2), "off": ("off", 1)}


@pytest.fixture(scope="module", params=sorted(MODES))
def target(request, tmp_path_factory):
    isolation, workers = MODES[request.param]
    t = Target(tmp_path_factory.mktemp(request.param), isolation, workers)
    t.locked = isolation != "off"
    t.workers = workers
    yield t
    t.close()


def attacks(t):
    """(name, what, arg, what an escape would show) for one target."""
    other = ",".join(t.worker_pids()) if t.workers > 1 else str(t.bystander.pid)
    own_data = t.data / "evil"
    bystander = str(t.bystander.pid)
    return [
        ("server environment", "environ", "", SECRET),
        ("initial environment block", "proc_environ", "", SECRET),
        ("another process's environment", "other_environ", other, "MUX_" if t.workers > 1 else SECRET),
        ("/etc/passwd", "read_file", "/etc/passwd", "root:"),
        ("a file beside the tenants dir", "read_file", str(t.beside), SECRET),
        ("write outside the cache and data dirs", "write_file", str(t.root / "outside.txt"), "wrote"),
        ("write into the tenants dir", "write_file", str(t.tenants / "calm" / "index.py"), "wrote"),
        ("TCP connection to a local listener", "connect", str(t.listener.getsockname()[1]), "connected"),
        ("bind a new port", "bind", "", "listening"),
        ("fork", "fork", "", "exited 7"),
        ("execve /bin/sh", "execve", "", "ran /bin/sh"),
        ("ptrace another process", "ptrace", str(t.bystander.pid), "attached"),
        ("kill another process" if t.workers == 1 else "kill the arbiter",
         "kill", str(t.bystander.pid) if t.workers == 1 else "parent", "may signal"),
        ("load a shared library from outside", "load_library", str(t.library), "loaded"),
        # Issue 22: what another process of the same user would suffer, and
        # what the supervisor writes for others to run or believe.
        ("lower another process's open-files limit", "prlimit", bystander, "open-files"),
        ("the same, with the id's upper bits set", "prlimit_high_bits", bystander, "open-files"),
        ("renice another process", "setpriority", bystander, "reniced"),
        ("pin another process to a CPU", "sched_setaffinity", bystander, "pinned"),
        ("idle another process's I/O", "ioprio_set", bystander, "I/O priority"),
        ("plant a setuid file in /data", "setuid_file", str(own_data), "made "),
        ("a symbolic link out of /data", "symlink_out", f"{own_data}|/etc/passwd", "linked"),
        ("hard-link a file from outside into /data", "hardlink_in", f"{own_data}|{t.beside}",
         "hard-linked"),
        ("poison the code cache", "write_into", str(t.cache), "wrote"),
        ("plant a version or a live pointer", "write_into", str(t.server_dir / "versions" / "_live"),
         "wrote"),
        ("read the server secret", "read_file", str(t.server_dir / "secret"), None),
    ]


CASES = list(range(25))


@pytest.mark.live
@pytest.mark.parametrize("index", CASES)
def test_attack_from_escaped_code(target, index):
    name, what, arg, shows = attacks(target)[index]
    answer = target.attempt(what, arg)
    if target.locked:
        # Reading its own environment works, and finds nothing of the operator's.
        if what not in ("environ", "proc_environ"):
            assert answer.startswith("DENIED"), f"{name}: {answer}"
        assert (shows is None or shows not in answer) and SECRET not in answer, f"{name}: {answer}"
    else:
        # --isolation off: the same attack works, so the layer is what stops it.
        assert answer.startswith("OK") and (shows is None or shows in answer), f"{name}: {answer}"
    if what.startswith("prlimit") and target.locked:
        limits = Path(f"/proc/{target.bystander.pid}/limits").read_text()
        assert "Max open files            17" not in limits, limits
    if what == "write_file" and target.locked:
        assert not os.path.exists(target.root / "outside.txt")
        assert "calm" in (target.tenants / "calm" / "index.py").read_text()


@pytest.mark.live
def test_status_reports_the_layer(target):
    status = requests.get(target.server.admin_url + "/_mux/status", timeout=10).json()["isolation"]
    if target.locked:
        assert status["landlock_abi"] >= 6 and status["seccomp"] is True
        assert status["landlock"] == ["files", "tcp", "signals"]
        assert status["environment"] == "scrubbed" and status["missing"] == []
        assert status["rlimits"]["core"] == 0
    else:
        assert status["mode"] == "off"
    assert "isolation" in target.server.output()


@pytest.mark.live
def test_admin_token_is_not_in_the_serving_process(tmp_path):
    write_tenant(tmp_path / "tenants", "calm", {"index.py": "def get():\n    return 'calm'\n"})
    server = Subprocess(["--tenants-dir", str(tmp_path / "tenants"), "--admin-token", SECRET,
                         "--cache-dir", str(tmp_path / "c")], env={"MUX_OPERATOR_SECRET": SECRET},
                        log_dir=tmp_path).wait_ready()
    try:
        assert requests.get(server.url + "/_mux/healthz", timeout=5).status_code == 200
        assert requests.get(server.admin_url + "/_mux/status", timeout=5).status_code == 401
        assert requests.get(server.admin_url + "/_mux/status", timeout=5,
                            headers={"Authorization": f"Bearer {SECRET}"}).status_code == 200
        status = requests.get(server.admin_url + "/_mux/status", timeout=5,
                              headers={"Authorization": f"Bearer {SECRET}"}).json()
        serving = [p["pid"] for p in status["processes"]]
        assert serving and status["pid"] not in serving
        for pid in [status["pid"], *serving]:
            for name in ("cmdline", "environ"):
                with open(f"/proc/{pid}/{name}", "rb") as f:
                    assert SECRET.encode() not in f.read(), name
    finally:
        server.stop()


def test_require_refuses_to_start_where_a_part_is_missing(tmp_path):
    """Without libseccomp's binding, ``require`` exits 2 naming what is missing
    (a stand-in ``pyseccomp`` that fails to load hides the real one)."""
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "pyseccomp.py").write_text("raise ImportError('no libseccomp here')\n")
    (tmp_path / "tenants").mkdir()
    code = ("import sys; sys.path.insert(0, %r); from muxserver.cli import run; run()" % str(fake))
    result = subprocess.run([sys.executable, "-c", code, "--tenants-dir", str(tmp_path / "tenants"),
                             "--isolation", "require", "--port", "0"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "--isolation require, but this machine lacks: seccomp: no libseccomp binding" in result.stderr


@pytest.mark.live
@pytest.mark.parametrize("shadow", ["working directory", "tenants dir"])
def test_nothing_beside_the_server_is_imported_as_server_code(tmp_path, shadow):
    """Started from a folder holding a ``muxserver`` package, or from a tenants
    dir holding a tenant named ``muxserver`` with a ``__main__.py``: the
    server starts as itself, that code never runs, and the tenant name is a
    deploy error."""
    tenants = tmp_path / "tenants"
    write_tenant(tenants, "calm", {"index.py": "def get():\n    return 'calm'\n"})
    marker = tmp_path / "ran-as-server"
    evil = f"open({str(marker)!r}, 'w').write('pwned')\n"
    place = tmp_path if shadow == "working directory" else tenants
    write_tenant(place, "muxserver", {"__init__.py": evil, "__main__.py": evil, "cli.py": evil,
                                      "index.py": "def get():\n    return 'shadow'\n"})
    # The installed command, as a user runs it (``python -m`` would put the
    # working directory first on sys.path before any of our code runs).
    command = [str(Path(sys.executable).parent / "muxserver")]
    server = Subprocess(["--tenants-dir", str(tenants), "--cache-dir", str(tmp_path / "c")],
                        cwd=place, log_dir=tmp_path, command=command).wait_ready()
    try:
        assert requests.get(server.url + "/calm/", timeout=10).text == "calm"
        status = requests.get(server.admin_url + "/_mux/status", timeout=10).json()
    finally:
        server.stop()
    assert not marker.exists()
    if shadow == "tenants dir":
        assert "muxserver" not in status["tenants"]
        assert "is reserved" in status["deploy_errors"]["muxserver"]["errors"][0]

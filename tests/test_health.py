"""Deploys are health-checked (issue 21): a version whose modules raise at
import time never takes traffic, on every road a deploy takes — directory
sync, ``muxserver deploy``, HTTP — and the operator sees why, with file,
line and the tenant's traceback."""

import io
import subprocess
import sys

import requests

from muxserver.tenancy.archive import pack_folder
from tests.conftest import REPO
from tests.conftest import wait_until

GOOD = "def get():\n    return 'v1'\n"
RAISES = ("import os\nDB = os.environ['DATABASE_URL']  # not in [env]\n"
          "def get():\n    return 'v2'\n")


def test_a_directory_sync_that_raises_at_import_keeps_the_last_good_version(tenants, live):
    from muxserver.tenancy.watcher import start_watcher

    tenant = tenants.add("acme", {"index.py": GOOD, "other.py": "def get():\n    return 'o'\n"})
    server = live(debounce_ms=50)
    watcher = start_watcher(server.app)
    try:
        assert server.get("/acme/").text == "v1"
        (tenant / "index.py").write_text(RAISES)
        wait_until(lambda: "acme" in server.admin.get("/_mux/status").json()["deploy_errors"])
    finally:
        watcher.stop()
    assert server.get("/acme/").text == "v1"  # the last good version serves
    status = server.admin.get("/_mux/status").json()
    error = status["tenants"]["acme"]["last_failed_deploy"]["errors"][0]
    assert error.startswith("acme/index.py:2: importing index failed: KeyError: 'DATABASE_URL'")
    assert 'File "acme/index.py", line 2, in <module>' in error
    log = server.admin.get("/_mux/tenants/acme/logs").text
    assert "KeyError" in log


def test_muxserver_deploy_of_a_version_that_raises_exits_1_with_the_traceback(tenants, tmp_path):
    tenants.add("acme", {"index.py": GOOD})
    source = tmp_path / "src"
    source.mkdir()
    (source / "index.py").write_text(RAISES)
    command = [sys.executable, "-m", "muxserver", "deploy", str(source), "--tenant", "acme",
               "--tenants-dir", str(tenants.root), "--cache-dir", str(tenants.cache)]
    out = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "failed its health check" in out.stderr
    assert "acme/index.py:2: importing index failed: KeyError: 'DATABASE_URL'" in out.stdout
    # The traceback once, and none of the trial process's own log lines.
    assert (out.stdout + out.stderr).count("Traceback (most recent call last)") == 1, out.stderr
    assert "isolation" not in out.stderr and "ERROR" not in out.stderr, out.stderr
    assert (tenants.root / "acme" / "index.py").read_text() == GOOD  # nothing changed
    (source / "index.py").write_text(GOOD.replace("v1", "v3"))
    out = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "v3" in (tenants.root / "acme" / "index.py").read_text()
    assert "after its own health check" in out.stderr  # not yet live on a running server


def test_an_http_deploy_that_raises_is_422_with_the_traceback(tenants, muxserver_process, tmp_path):
    tenants.add("acme", {"index.py": GOOD})
    server = muxserver_process("--tenants-dir", str(tenants.root), "--data-dir",
                               str(tmp_path / "data"), "--no-watch").wait_ready()
    source = tmp_path / "src"
    source.mkdir()
    (source / "index.py").write_text(RAISES)
    buffer = io.BytesIO()
    pack_folder(str(source), buffer)
    r = requests.put(server.admin_url + "/_mux/tenants/acme", data=buffer.getvalue(), timeout=60)
    assert r.status_code == 422, r.text
    assert "KeyError: 'DATABASE_URL'" in r.json()["errors"][0]
    assert requests.get(server.url + "/acme/", timeout=10).text == "v1"
    versions = requests.get(server.admin_url + "/_mux/tenants/acme/versions", timeout=10).json()
    assert versions["versions"] == []  # nothing kept
    # A tenant whose very first deploy was refused: its log says why.
    r = requests.put(server.admin_url + "/_mux/tenants/newcomer", data=buffer.getvalue(), timeout=60)
    assert r.status_code == 422, r.text
    logs = requests.get(server.admin_url + "/_mux/tenants/newcomer/logs", timeout=10)
    assert logs.status_code == 200 and "deploy refused" in logs.text, logs.text
    assert "KeyError: 'DATABASE_URL'" in logs.text
    assert requests.get(server.admin_url + "/_mux/tenants/nobody/logs", timeout=10).status_code == 404


def test_a_module_that_runs_past_its_limits_at_import_is_refused(tenants, live):
    tenant = tenants.add("acme", {"index.py": GOOD, "tenant.toml": "[limits]\ncpu_ms = 100\n"})
    server = live()
    (tenant / "index.py").write_text("while True:\n    pass\ndef get():\n    return 'v2'\n")
    server.control.redeploy("acme")
    errors = server.app.registry.deploy_errors["acme"].errors
    assert "was stopped: CPU time limit exceeded (100 ms)" in errors[0]
    assert server.get("/acme/").text == "v1"


def test_a_server_start_imports_nothing(tenants, muxserver_process, tmp_path):
    """Lazy at boot: a tenant whose module would fail its check is registered
    at start (its error shows on its first request), as before."""
    tenants.add("acme", {"index.py": RAISES})
    server = muxserver_process("--tenants-dir", str(tenants.root), "--data-dir",
                               str(tmp_path / "data")).wait_ready()
    status = requests.get(server.admin_url + "/_mux/status", timeout=10).json()
    assert "acme" in status["tenants"] and status["deploy_errors"] == {}
    assert requests.get(server.url + "/acme/", timeout=10).status_code == 500


def test_a_process_tenant_that_raises_at_import_keeps_the_last_good_version(tenants, live):
    from muxserver.tenancy.watcher import start_watcher

    process = 'runtime = "process"\n'
    tenant = tenants.add("acme", {"tenant.toml": process, "index.py": GOOD})
    server = live(debounce_ms=50, process_tenants=["acme"])
    watcher = start_watcher(server.app)
    try:
        assert server.get("/acme/").text == "v1"
        (tenant / "index.py").write_text(RAISES)
        wait_until(lambda: "acme" in server.admin.get("/_mux/status").json()["deploy_errors"],
                   timeout=60)
        assert server.get("/acme/").text == "v1"  # the last good version serves
        status = server.admin.get("/_mux/status").json()
        [error] = status["tenants"]["acme"]["last_failed_deploy"]["errors"]
        assert error.startswith("acme/index.py:2: "), error  # file and line, as in the sandbox
        assert "KeyError: 'DATABASE_URL'" in error, error
    finally:
        watcher.stop()
        server.app.close_processes()

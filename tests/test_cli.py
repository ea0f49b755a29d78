"""The ``muxserver`` command as a user runs it: a real subprocess."""

import signal
import subprocess
import sys
import time

import gevent
import pytest
import requests

from tests.conftest import REPO


def run_cli(*args, timeout=60):
    return subprocess.run(
        [sys.executable, "-m", "muxserver", *args],
        capture_output=True, text=True, timeout=timeout, cwd=REPO,
    )


@pytest.mark.live
def test_serves_the_bundled_examples(muxserver_process, tmp_path):
    proc = muxserver_process("--config", str(REPO / "muxserver.toml"), "--cache-dir",
                             str(tmp_path / "cache"), "--data-dir", str(tmp_path / "data")).wait_ready()
    assert requests.get(proc.url + "/hello/").text == "Hello from muxserver!\n"
    # The notes app: templates, a blueprint, a session and a SQLite table.
    browser = requests.Session()
    page = browser.post(proc.url + "/notes/login", data={"name": "ada"})
    assert page.status_code == 200 and "Signed in as ada" in page.text
    browser.post(proc.url + "/notes/notes", data={"text": "<b>first</b>"})
    page = browser.get(proc.url + "/notes/")
    assert "&lt;b&gt;first&lt;/b&gt; <small>by ada</small>" in page.text
    assert browser.get(proc.url + "/notes/api/notes").json() == [
        {"id": 1, "text": "<b>first</b>", "author": "ada"}]
    assert "No such page" in browser.get(proc.url + "/notes/nope").text
    assert (tmp_path / "data" / "notes" / "notes.db").exists()
    assert requests.get(proc.url + "/flask-app/users/1").json() == {"id": 1, "name": "Ada"}
    assert requests.get(proc.url + "/fission/hello").text.startswith("Hello, Fission!")
    assert requests.get(proc.url + "/cpu-hog/").status_code == 503
    assert requests.get(proc.url + "/hello/").text == "Hello from muxserver!\n"
    assert requests.get(proc.url + "/", headers={"Host": "config.example.test"}).json()[
        "greeting"] == "hello from tenant.toml"
    proc.wait_for_log("muxserver.access")


@pytest.mark.live
def test_sigterm_drains_requests_in_flight(muxserver_process, tenants, tmp_path):
    tenants.add("slow", {"index.py": "import time\ndef get():\n    print('request began')\n"
                                     "    time.sleep(1)\n    return 'finished'\n"})
    proc = muxserver_process("--tenants-dir", str(tenants.root), "--cache-dir",
                             str(tmp_path / "c")).wait_ready()
    jobs = [gevent.spawn(requests.get, proc.url + "/slow/", timeout=10) for _ in range(3)]
    proc.wait_for_log("request began", count=3)
    proc.proc.send_signal(signal.SIGTERM)
    results = [job.get(timeout=10) for job in jobs]
    assert [r.text for r in results] == ["finished"] * 3
    assert proc.proc.wait(timeout=10) == 0
    with pytest.raises(requests.ConnectionError):
        requests.get(proc.url + "/slow/", timeout=2)


@pytest.mark.live
def test_sighup_rescans(muxserver_process, tenants, tmp_path):
    tenants.add("one", {"index.py": "import time\ndef get():\n    print('request began')\n"
                                    "    time.sleep(0.8)\n    return 'one'\n"})
    proc = muxserver_process("--tenants-dir", str(tenants.root), "--no-watch", "--cache-dir",
                             str(tmp_path / "c")).wait_ready()
    assert requests.get(proc.url + "/two/").status_code == 404
    tenants.add("two", {"index.py": "def get():\n    return 'two'\n"})
    in_flight = gevent.spawn(requests.get, proc.url + "/one/", timeout=10)
    proc.wait_for_log("request began")
    proc.proc.send_signal(signal.SIGHUP)
    assert in_flight.get(timeout=10).text == "one"  # not lost across the rescan
    deadline = time.monotonic() + 10
    while requests.get(proc.url + "/two/").status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert requests.get(proc.url + "/two/").text == "two"


@pytest.mark.live
def test_config_file_and_flags_win(muxserver_process, tenants, tmp_path):
    tenants.add("one", {"index.py": "def get():\n    return 'one'\n"})
    config = tmp_path / "mux.toml"
    config.write_text(f'tenants_dir = "{tenants.root}"\nadmin_token = "from-file"\n'
                      f'cache_dir = "{tmp_path / "c"}"\n[limits]\ncpu_ms = 500\n')
    proc = muxserver_process("--config", str(config), "--admin-token", "from-flag").wait_ready()
    assert requests.get(proc.admin_url + "/_mux/status",
                        headers={"Authorization": "Bearer from-flag"}).status_code == 200
    status = requests.get(proc.admin_url + "/_mux/status",
                          headers={"Authorization": "Bearer from-flag"}).json()
    assert status["tenants"]["one"]["limits"]["cpu_ms"] == 500


def test_bad_config_is_a_clear_error_naming_the_key(tenants, tmp_path):
    config = tmp_path / "mux.toml"
    config.write_text(f'tenants_dir = "{tenants.root}"\nworkerz = 2\n')
    result = run_cli("--config", str(config))
    assert result.returncode == 2
    assert "workerz" in result.stderr
    result = run_cli("--tenants-dir", str(tenants.root), "--port", "notaport")
    assert result.returncode == 2 and "port" in result.stderr
    result = run_cli("--tenants-dir", str(tmp_path / "missing"))
    assert result.returncode == 2 and "not a directory" in result.stderr


def test_help_lists_every_flag():
    out = run_cli("--help").stdout
    for flag in ("--tenants-dir", "--host", "--port", "--workers", "--base-domain", "--idle-ttl",
                 "--memory-limit", "--cache-dir", "--max-body", "--config", "--admin-token",
                 "--log-format", "--no-watch", "--debug"):
        assert flag in out, flag


def test_check_reports_file_and_line_and_exits_1(tenants, tmp_path):
    tenants.add("good", {"index.py": "def get():\n    return 'x'\n"})
    tenants.add("bad", {"index.py": "def get():\n    return 'x'\n",
                        "api/users.py": "\n\n\nimport socket\ndef get():\n    return 'x'\n"})
    tenants.add("BadName", {"index.py": "def get():\n    return 'x'\n"})
    result = run_cli("check", str(tenants.root), "--cache-dir", str(tmp_path / "c"))
    assert result.returncode == 1
    assert "bad/api/users.py:4: `import socket` is not allowed" in result.stdout
    # Said once: the registry's own log line for a server's operator is not repeated.
    assert (result.stdout + result.stderr).count("bad/api/users.py:4:") == 1, result.stderr
    tenants.add("tested", {"index.py": "def get():\n    return 'x'\n",
                           "test_index.py": "import pytest\nfrom index import get\n"})
    result = run_cli("check", str(tenants.root), "--cache-dir", str(tmp_path / "c"))
    assert "warning: tested/test_index.py:1: `import pytest` is not allowed" in result.stderr
    assert "BadName" in result.stderr
    tenants.add("bad", {"api/users.py": "def get():\n    return 'fixed'\n"})
    result = run_cli("check", str(tenants.root), "--cache-dir", str(tmp_path / "c"))
    assert result.returncode == 0, result.stdout


def test_check_reports_unreadable_routes(tenants, tmp_path):
    tenants.add("acme", {"app.py": """
        from flask import Flask
        app = Flask(__name__)
        RULE = "/x".lower()
        @app.route(RULE)
        def x():
            return "x"
    """})
    result = run_cli("check", str(tenants.root), "--cache-dir", str(tmp_path / "c"))
    assert result.returncode == 1
    assert "acme/app.py:5: route rule must be a string literal" in result.stdout


def test_routes_prints_the_merged_table(tmp_path):
    result = run_cli("routes", "--config", str(REPO / "muxserver.toml"), "--cache-dir", str(tmp_path / "c"))
    assert result.returncode == 0
    assert "/flask-app/users/<int:user_id>" in result.stdout
    assert "/hello/greet" in result.stdout
    # Columns line up with the header, whatever the widths.
    lines = result.stdout.splitlines()
    path_column = lines[0].index("PATH")
    assert all(line[path_column] == "/" for line in lines[1:]), lines[:3]
    result = run_cli("routes", "--config", str(REPO / "muxserver.toml"), "--json", "--cache-dir", str(tmp_path / "c"))
    assert '"endpoint": "app"' in result.stdout


def test_deploy_validates_then_swaps(tenants, tmp_path):
    tenants.add("acme", {"index.py": "def get():\n    return 'v1'\n"})
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "index.py").write_text("import socket\ndef get():\n    return 'v2'\n")
    result = run_cli("deploy", str(bad), "--tenant", "acme", "--tenants-dir", str(tenants.root))
    assert result.returncode == 1 and "`import socket` is not allowed" in result.stdout
    assert (tenants.root / "acme" / "index.py").read_text().endswith("'v1'\n")
    good = tmp_path / "good"
    good.mkdir()
    (good / "index.py").write_text("def get():\n    return 'v2'\n")
    result = run_cli("deploy", str(good), "--tenant", "acme", "--tenants-dir", str(tenants.root))
    assert result.returncode == 0, result.stderr
    assert (tenants.root / "acme" / "index.py").read_text().endswith("'v2'\n")
    assert [p.name for p in tenants.root.iterdir()] == ["acme"]
    result = run_cli("deploy", str(good), "--tenant", "Bad_Name", "--tenants-dir", str(tenants.root))
    assert result.returncode == 1


def test_import_order_patches_before_threading():
    """The CLI module patches gevent before anything creates a lock."""
    code = ("import muxserver.cli, threading, gevent.monkey; "
            "assert gevent.monkey.is_module_patched('threading'); "
            "assert gevent.monkey.is_module_patched('socket'); print('ok')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert result.stdout.strip() == "ok", result.stderr

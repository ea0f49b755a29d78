"""The quickstart as a newcomer runs it: ``pip install .`` into a fresh venv
(no test extras), then ``--workers 2`` from another directory."""

import os
import subprocess
import sys
import time

import pytest
import requests

from tests.conftest import REPO
from tests.conftest import free_port


@pytest.mark.live
@pytest.mark.timeout(600)
def test_fresh_install_serves_the_examples_with_two_workers(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    install = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(REPO)],
                             capture_output=True, text=True, timeout=540)
    assert install.returncode == 0, install.stderr[-3000:]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    port = free_port()
    log = open(tmp_path / "server.log", "w+")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    server = subprocess.Popen(
        [str(venv / "bin" / "muxserver"), "--config", str(REPO / "muxserver.toml"),
         "--workers", "2", "--port", str(port), "--admin-listen", f"127.0.0.1:{free_port()}",
         "--cache-dir", str(tmp_path / "cache"), "--server-dir", str(tmp_path / "server")],
        cwd=elsewhere, stdout=log, stderr=subprocess.STDOUT, env=env,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, (tmp_path / "server.log").read_text()
            try:
                r = requests.get(f"http://127.0.0.1:{port}/hello/", timeout=2)
                if r.status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, (tmp_path / "server.log").read_text()
            time.sleep(0.1)
        assert r.text == "Hello from muxserver!\n"
        assert requests.get(f"http://127.0.0.1:{port}/flask-app/users/1").json()["name"] == "Ada"
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    assert server.returncode == 0, (tmp_path / "server.log").read_text()

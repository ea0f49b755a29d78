"""The Dockerfile the Kubernetes manifests name: built and started for real
where a container runtime works (podman from Debian, or docker with a
daemon), with the read-only root filesystem and the non-root user the
manifests ask for; skipped, saying why, where none does."""

import shutil
import subprocess
import time

import pytest
import requests

from tests.conftest import REPO
from tests.conftest import free_port
from tests.conftest import write_tenant

IMAGE = "localhost/muxserver-test:latest"


def _runtime() -> str:
    podman = shutil.which("podman")
    if podman:
        return podman
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "info"], capture_output=True, timeout=30).returncode == 0:
        return docker
    pytest.skip("no container runtime here (apt-get install podman, or a docker daemon)")


@pytest.fixture(scope="module")
def image():
    runtime = _runtime()
    built = subprocess.run([runtime, "build", "-t", IMAGE, str(REPO)], capture_output=True,
                           text=True, timeout=900)
    if built.returncode != 0:
        output = built.stdout + built.stderr
        if any(s in output for s in ("pulling image", "initializing source", "trying to pull",
                                     "failed to resolve", "error pinging", "dial tcp",
                                     "requested access", "unable to copy")):
            pytest.skip(f"{runtime} cannot fetch the base image python:3.11-slim here (no "
                        f"registry reachable): {output.strip().splitlines()[-1]}")
        if any(s in output.lower() for s in ("cannot clone", "newuidmap", "operation not permitted",
                                             "oci permission denied")):
            pytest.skip(f"{runtime} cannot run containers here: {output.strip().splitlines()[-1]}")
        raise AssertionError(output[-3000:])
    yield runtime
    subprocess.run([runtime, "rmi", "-f", IMAGE], capture_output=True, timeout=120)


@pytest.mark.live
@pytest.mark.timeout(900)
def test_the_image_serves_tenants_as_a_non_root_user_on_a_read_only_root(image, tmp_path):
    runtime = image
    write_tenant(tmp_path / "tenants", "hello", {"index.py": "def get():\n    return 'hi'\n"})
    port = free_port()
    name = f"muxserver-test-{port}"
    started = subprocess.run(
        [runtime, "run", "-d", "--name", name, "--read-only", "--tmpfs", "/tmp", "--tmpfs", "/data",
         "--tmpfs", "/cache", "-v", f"{tmp_path / 'tenants'}:/tenants:ro",
         "-p", f"127.0.0.1:{port}:8080", IMAGE, "--tenants-dir", "/tenants", "--host", "0.0.0.0",
         "--port", "8080", "--data-dir", "/data", "--cache-dir", "/cache", "--no-watch"],
        capture_output=True, text=True, timeout=120)
    assert started.returncode == 0, started.stderr
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/hello/", timeout=2).text == "hi":
                    break
            except requests.RequestException:
                pass
            logs = subprocess.run([runtime, "logs", name], capture_output=True, text=True).stdout
            assert time.monotonic() < deadline, logs
            time.sleep(0.2)
        uid = subprocess.run([runtime, "exec", name, "id", "-u"], capture_output=True, text=True)
        assert uid.stdout.strip() == "10001"
        logs = subprocess.run([runtime, "logs", name], capture_output=True, text=True)
        assert "isolation" in logs.stdout + logs.stderr
    finally:
        subprocess.run([runtime, "rm", "-f", name], capture_output=True, timeout=60)

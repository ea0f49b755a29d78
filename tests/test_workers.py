"""--workers N under the supervisor: signals, heartbeats, metrics across
serving processes, log lines."""

import signal
import time

import gevent
import pytest
import requests

from tests.conftest import OPERATOR_MODULES
from tests.conftest import Subprocess
from tests.conftest import write_tenant

HELLO = {"index.py": "def get():\n    return 'hi'\n"}
ECHO = {"index.py": "def post(request):\n    return request.get_data()\n"}
FORGER = {"index.py": "def get():\n"
                      "    print('x\\n2026-01-01T00:00:00 INFO  muxserver.access: forged')\n"
                      "    return 'x'\n"}


def _shared_server(root, tenants: dict, *flags):
    """A server several tests ask things of, each of its own tenant."""
    for name, files in tenants.items():
        write_tenant(root / "tenants", name, files)
    return Subprocess(["--tenants-dir", str(root / "tenants"), "--cache-dir", str(root / "c"),
                       "--data-dir", str(root / "data"), "--server-dir", str(root / "server"),
                       *flags], log_dir=root).wait_ready()


@pytest.fixture(scope="module")
def one_worker(tmp_path_factory):
    """One serving process, text logs, an admin token."""
    server = _shared_server(tmp_path_factory.mktemp("one-worker"),
                            {"echo": ECHO, "forger": FORGER}, "--admin-token", "s3cret")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory):
    server = _shared_server(tmp_path_factory.mktemp("two-workers"),
                            {"acme": HELLO, "echo": ECHO}, "--workers", "2")
    yield server
    server.stop()


@pytest.mark.live
def test_two_workers_share_the_port_and_metrics_sum(two_workers):
    proc = two_workers
    sessions = [requests.Session() for _ in range(4)]
    for _ in range(5):
        for s in sessions:
            assert s.get(proc.url + "/acme/", timeout=5).text == "hi"
    status = requests.get(proc.admin_url + "/_mux/status", timeout=5).json()
    pids = {p["pid"] for p in status["processes"]}
    assert len(pids) == 2 and status["pid"] not in pids
    deadline = time.monotonic() + 10  # workers publish their numbers every second
    while True:
        metrics = requests.get(proc.admin_url + "/_mux/metrics", timeout=5).text
        if ('mux_requests_total{status="200",tenant="acme"} 20.0' in metrics
                and metrics.count("mux_process_rss_bytes{pid=") == 2):
            break
        assert time.monotonic() < deadline, metrics
        time.sleep(0.2)
    assert metrics.count("mux_process_rss_bytes{pid=") == 2

SLOW = ("import time\ndef get():\n    print('request began')\n    time.sleep(1)\n"
        "    return 'done'\n")


@pytest.mark.live
def test_workers_sigterm_drains_in_flight(muxserver_process, tenants, tmp_path):
    tenants.add("slow", {"index.py": SLOW})
    proc = muxserver_process("--tenants-dir", str(tenants.root), "--workers", "2",
                             "--cache-dir", str(tmp_path / "c")).wait_ready()
    jobs = [gevent.spawn(requests.get, proc.url + "/slow/", timeout=10) for _ in range(4)]
    proc.wait_for_log("request began", count=4)
    proc.proc.send_signal(signal.SIGTERM)
    assert [job.get(timeout=15).text for job in jobs] == ["done"] * 4
    assert proc.proc.wait(timeout=15) == 0


@pytest.mark.live
@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigint_drains_like_sigterm(muxserver_process, tenants, tmp_path, workers):
    tenants.add("slow", {"index.py": SLOW})
    proc = muxserver_process("--tenants-dir", str(tenants.root), "--workers", workers,
                             "--cache-dir", str(tmp_path / "c")).wait_ready()
    job = gevent.spawn(requests.get, proc.url + "/slow/", timeout=10)
    proc.wait_for_log("request began")
    proc.proc.send_signal(signal.SIGINT)
    assert job.get(timeout=15).text == "done"
    assert proc.proc.wait(timeout=15) == 0


@pytest.mark.live
def test_workers_sighup_reloads_and_rescans(muxserver_process, tenants, tmp_path):
    tenants.add("one", {"index.py": "import time\ndef get():\n    print('request began')\n"
                                    "    time.sleep(0.8)\n    return 'one'\n"})
    proc = muxserver_process("--tenants-dir", str(tenants.root), "--workers", "2", "--no-watch",
                             "--cache-dir", str(tmp_path / "c")).wait_ready()
    tenants.add("two", {"index.py": "def get():\n    return 'two'\n"})
    in_flight = [gevent.spawn(requests.get, proc.url + "/one/", timeout=15) for _ in range(2)]
    proc.wait_for_log("request began", count=2)
    proc.proc.send_signal(signal.SIGHUP)
    # The old workers drain: requests they had are answered, not dropped.
    assert [job.get(timeout=15).text for job in in_flight] == ["one", "one"]
    deadline = time.monotonic() + 20
    ok = 0
    while ok < 6:
        assert time.monotonic() < deadline
        r = requests.get(proc.url + "/two/", headers={"Connection": "close"}, timeout=5)
        ok = ok + 1 if r.status_code == 200 else 0
        time.sleep(0.05)


@pytest.mark.live
def test_admin_token_against_real_server(one_worker):
    proc = one_worker
    assert requests.get(proc.admin_url + "/_mux/status").status_code == 401
    assert requests.get(proc.admin_url + "/_mux/status", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert requests.get(proc.admin_url + "/_mux/status",
                        headers={"Authorization": "Bearer s3cret"}).status_code == 200


@pytest.mark.live
def test_json_log_format_has_access_and_tenant_lines(muxserver_process, tenants, tmp_path):
    import json

    tenants.add("acme", {"index.py": "def get():\n    print('tenant says hi')\n    return 'x'\n"})
    proc = muxserver_process("--tenants-dir", str(tenants.root), "--log-format", "json",
                             "--cache-dir", str(tmp_path / "c")).wait_ready()
    rid = requests.get(proc.url + "/acme/").headers["X-Request-Id"]
    proc.wait_for_log("tenant says hi")
    proc.wait_for_log('"muxserver.access"')
    docs = [json.loads(line) for line in proc.output().splitlines() if line.startswith("{")]
    tenant_line = [d for d in docs if d["message"] == "tenant says hi"][0]
    assert tenant_line["tenant"] == "acme" and tenant_line["request_id"] == rid
    access = [d for d in docs if d["logger"] == "muxserver.access" and d.get("tenant") == "acme"][0]
    assert access["status"] == 200 and access["request_id"] == rid and access["cold"] is True
    assert access["endpoint"] == "index" and access["duration_ms"] >= 0


@pytest.mark.live
def test_stuck_worker_is_replaced(muxserver_process, tenants, tmp_path):
    tenants.add("stuck", {"index.py": "import blocking_helper as h\ndef get():\n    return h.block(60)\n"})
    tenants.add("fine", {"index.py": "def get():\n    return 'fine'\n"})
    config = tmp_path / "mux.toml"
    config.write_text(f'extra_modules = ["blocking_helper"]\nmodule_path = ["{OPERATOR_MODULES}"]\n')
    proc = muxserver_process("--tenants-dir", str(tenants.root), "--workers", "2", "--config", str(config),
                             "--worker-timeout", "3", "--cache-dir", str(tmp_path / "c")).wait_ready()
    started = time.monotonic()
    try:
        status = requests.get(proc.url + "/stuck/", timeout=30).status_code
    except requests.RequestException:
        status = "connection closed"
    # The worker is aborted in the middle of the call: the client sees the
    # connection close or pywsgi's bare 500, never the handler's answer.
    assert status in ("connection closed", 500)
    assert time.monotonic() - started < 20
    proc.wait_for_log("sent nothing for", timeout=10)
    for _ in range(10):
        assert requests.get(proc.url + "/fine/", headers={"Connection": "close"}, timeout=5).text == "fine"


def _raw_request(url: str, request: bytes) -> bytes:
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(request)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
            if b"\r\n\r\n" in b"".join(chunks):
                break
    return b"".join(chunks)


@pytest.mark.live
@pytest.mark.parametrize("workers", ["1", "2"])
def test_conflicting_content_length_is_400_with_and_without_workers(request, workers):
    """One handler for both modes: a request a proxy could read one way and
    the server another (request smuggling) is refused alike."""
    proc = request.getfixturevalue({"1": "one_worker", "2": "two_workers"}[workers])
    answer = _raw_request(proc.url, b"POST /echo/ HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                                    b"Content-Length: 10\r\nConnection: close\r\n\r\nabcdefghij")
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
    good = _raw_request(proc.url, b"POST /echo/ HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                                  b"Connection: close\r\n\r\nabc")
    assert good.startswith(b"HTTP/1.1 200"), good[:200]


@pytest.mark.live
def test_every_log_line_is_json_with_workers(muxserver_process, tenants, tmp_path):
    """--log-format json: the listening line, the supervisor's own lines,
    access and tenant lines, from the supervisor and each serving process,
    each with its pid."""
    import json

    tenants.add("acme", {"index.py": "def get():\n    print('line one\\nFAKE 200 line')\n"
                                     "    return 'x'\n"})
    proc = muxserver_process("--tenants-dir", str(tenants.root), "--workers", "2",
                             "--log-format", "json", "--cache-dir", str(tmp_path / "c")).wait_ready()
    requests.get(proc.url + "/acme/")
    proc.wait_for_log('"muxserver.access"')
    proc.wait_for_log("FAKE 200 line")
    proc.wait_for_log('"isolation ', count=2)  # both serving processes are up
    proc.stop()
    lines = [line for line in proc.output().splitlines() if line.strip()]
    docs = [json.loads(line) for line in lines]  # every line, or this raises
    pids = {doc["pid"] for doc in docs}
    assert len(pids) >= 3, pids  # the supervisor and two serving processes
    assert any(doc["logger"] == "muxserver.supervisor" for doc in docs)
    tenant = [doc for doc in docs if "FAKE 200 line" in doc["message"]]
    assert tenant[0]["message"] == "line one\nFAKE 200 line" and tenant[0]["tenant"] == "acme"


@pytest.mark.live
def test_tenant_text_cannot_forge_a_text_log_line(one_worker):
    proc = one_worker
    requests.get(proc.url + "/forger/")
    proc.wait_for_log("forged")
    forged = [line for line in proc.output().splitlines() if "forged" in line]
    assert len(forged) == 1 and "tenant=forger" in forged[0] and "x\\n2026" in forged[0]
    assert not any(line.startswith("2026-01-01") for line in proc.output().splitlines())

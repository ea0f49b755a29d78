"""The server on real sockets, in-process: keep-alive, TCP_NODELAY,
concurrency between tenants, limits, admin access rules."""

import socket
import time

import gevent
import pytest
import requests

from tests.conftest import admin_client
from tests.conftest import wait_until


def test_keep_alive_connection_serves_many_requests(tenants, live):
    tenants.add("acme", {"a.py": "def get():\n    return 'a'\n"})
    server = live()
    with socket.create_connection(("127.0.0.1", server.server.port)) as sock:
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) in (0, 1)
        stream = sock.makefile("rwb")
        for _ in range(5):
            stream.write(b"GET /acme/a HTTP/1.1\r\nHost: x\r\n\r\n")
            stream.flush()
            status = stream.readline()
            assert status.startswith(b"HTTP/1.1 200")
            length = 0
            while True:
                line = stream.readline()
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
                if line in (b"\r\n", b""):
                    break
            assert stream.read(length) == b"a"


def test_accepted_sockets_have_tcp_nodelay(tenants, live, monkeypatch):
    from muxserver.http.handler import Connection

    tenants.add("acme", {"a.py": "def get():\n    return 'a'\n"})
    server = live()
    seen = []
    original = Connection.serve

    def spy(self):
        seen.append(self.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        return original(self)

    monkeypatch.setattr(Connection, "serve", spy)
    server.get("/acme/a")
    assert seen and seen[0] != 0


def test_slow_tenant_does_not_stall_others(tenants, live):
    tenants.add("slow", {"index.py": "import time\ndef get():\n    time.sleep(1.0)\n    return 'slow'\n"})
    tenants.add("fast", {"index.py": "def get():\n    return 'fast'\n"})
    server = live()
    slow = gevent.spawn(lambda: requests.get(server.url + "/slow/", timeout=10).text)
    wait_until(lambda: server.app.registry.get("slow").inflight == 1)
    started = time.monotonic()
    assert requests.get(server.url + "/fast/", timeout=10).text == "fast"
    assert time.monotonic() - started < 0.5
    assert slow.get(timeout=10) == "slow"


def test_cpu_hog_is_503_and_others_keep_serving(tenants, live):
    tenants.add("hog", {"index.py": "def get():\n    while True:\n        pass\n",
                        "tenant.toml": "[limits]\ncpu_ms = 150\n"})
    tenants.add("calm", {"index.py": "def get():\n    return 'calm'\n"})
    server = live()
    r = server.get("/hog/")
    assert r.status_code == 503 and "CPU time limit" in r.text
    assert server.get("/calm/").text == "calm"
    kills = server.app.process_status()["limit_kills"]
    assert {"tenant": "hog", "kind": "cpu", "count": 1} in kills


def test_wall_time_is_504(tenants, live):
    tenants.add("sleepy", {"index.py": "import time\ndef get():\n    time.sleep(5)\n    return 'late'\n",
                           "tenant.toml": "[limits]\nwall_s = 0.3\n"})
    server = live()
    started = time.monotonic()
    r = server.get("/sleepy/")
    assert r.status_code == 504
    assert time.monotonic() - started < 2


def test_concurrency_limit_is_429_with_retry_after(tenants, live):
    tenants.add("busy", {"index.py": "import time\ndef get():\n    time.sleep(0.5)\n    return 'done'\n",
                         "tenant.toml": "[limits]\nconcurrency = 2\n"})
    tenants.add("other", {"index.py": "def get():\n    return 'other'\n"})
    server = live()
    jobs = [gevent.spawn(requests.get, server.url + "/busy/", timeout=10) for _ in range(4)]
    wait_until(lambda: server.app.registry.get("busy").inflight == 2)
    assert server.get("/other/").text == "other"
    codes = sorted(job.get(timeout=10).status_code for job in jobs)
    assert codes == [200, 200, 429, 429]
    r = [job.get() for job in jobs if job.get().status_code == 429][0]
    assert r.headers["Retry-After"] == "1"


def test_admin_from_loopback_without_token(tenants, live):
    tenants.add("acme", {"a.py": "def get():\n    return 'a'\n"})
    server = live()
    assert server.get("/_mux/healthz").status_code == 200
    status = server.admin.get("/_mux/status").json()
    assert list(status["tenants"]) == ["acme"] and status["tenants"]["acme"]["version"]
    assert server.admin.get("/_mux/nope").status_code == 404
    assert server.admin.request("DELETE", "/_mux/status").status_code == 405


def test_admin_with_token_requires_bearer(tenants, live):
    tenants.add("acme", {"a.py": "def get():\n    return 'a'\n"})
    server = live(admin_token="t0ken")
    assert server.admin.get("/_mux/status").status_code == 401
    assert server.admin.get("/_mux/status", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert server.admin.get("/_mux/status", headers={"Authorization": "Bearer t0ken"}).status_code == 200
    assert server.get("/acme/a").text == "a"


@pytest.mark.parametrize("address", ["10.0.0.7", "192.168.1.2", "2001:db8::1", "", "::ffff:10.0.0.1"])
def test_admin_refuses_non_loopback_without_token(tenants, address):
    tenants.add("acme", {"a.py": "def get():\n    return 'a'\n"})
    client = admin_client(tenants.app())
    r = client.get("/_mux/status", environ_base={"REMOTE_ADDR": address},
                   headers={"X-Forwarded-For": "127.0.0.1", "X-Real-IP": "127.0.0.1"})
    assert r.status_code == 403


@pytest.mark.parametrize("address", ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"])
def test_admin_allows_loopback_addresses(tenants, address):
    client = admin_client(tenants.app())
    assert client.get("/_mux/status", environ_base={"REMOTE_ADDR": address}).status_code == 200


def test_admin_token_applies_from_anywhere(tenants):
    client = admin_client(tenants.app(admin_token="abc"))
    loop = {"REMOTE_ADDR": "127.0.0.1"}
    far = {"REMOTE_ADDR": "10.1.1.1"}
    assert client.get("/_mux/status", environ_base=loop).status_code == 401
    assert client.get("/_mux/status", environ_base=far,
                      headers={"Authorization": "Bearer abc"}).status_code == 200


def test_admin_specialize_evict_logs_metrics(tenants, live):
    tenants.add("acme", {"a.py": "n = 0\ndef get():\n    global n\n    n += 1\n    print('hit', n)\n    return str(n)\n"})
    server = live()
    r = server.admin.post("/_mux/specialize", json={"tenant": "acme", "endpoint": "a"})
    assert r.status_code == 200 and r.json()["was_warm"] is False
    assert r.json()["cold_start_ms"] >= 0
    first = server.get("/acme/a")
    assert first.text == "1" and "load;dur" not in first.headers["Server-Timing"]
    warm = server.admin.get("/_mux/status").json()["warm_modules"]
    assert [(m["tenant"], m["endpoint"], m["hits"]) for m in warm] == [("acme", "a", 1)]
    assert server.admin.post("/_mux/evict", json={"tenant": "acme"}).json()["evicted"] == 1
    again = server.get("/acme/a")
    assert again.text == "1" and again.headers["Server-Timing"].startswith("load;dur=")
    logs = server.admin.get("/_mux/tenants/acme/logs").text
    assert "hit 1" in logs
    assert server.admin.get("/_mux/tenants/nobody/logs").status_code == 404
    metrics = server.admin.get("/_mux/metrics").text
    assert 'mux_requests_total{status="200",tenant="acme"}' in metrics
    assert 'mux_cold_starts_total{tenant="acme"}' in metrics
    assert 'mux_evictions_total{reason="admin",tenant="acme"}' in metrics
    assert "mux_process_rss_bytes" in metrics
    bad = server.admin.post("/_mux/specialize", json={"tenant": "acme", "endpoint": "zzz"})
    assert bad.status_code == 404
    assert server.admin.post("/_mux/specialize", data="{").status_code == 400


def test_register_returns_routes_and_errors(tenants, live):
    tenants.add("good", {"a.py": "def get():\n    return 'a'\n"})
    server = live()
    tenants.add("bad", {"b.py": "import socket\ndef get():\n    return 'b'\n"})
    body = server.admin.post("/_mux/register").json()
    assert {"tenant": "good", "rule": "/a", "path": "/good/a", "methods": ["GET"], "endpoint": "a",
            "handler": "get", "file": "good/a.py", "line": 1} in body["routes"]
    assert len(body["errors"]) == 1
    assert body["errors"][0].startswith("bad/b.py:1: `import socket` is not allowed")


def test_large_static_file_streams_and_head_has_no_body(tenants, live):
    data = bytes(range(256)) * 4096  # 1 MiB
    tenant = tenants.add("acme", {"index.py": "def get():\n    return 'x'\n"})
    (tenant / "static").mkdir()
    (tenant / "static" / "big.bin").write_bytes(data)
    server = live()
    r = server.get("/acme/static/big.bin")
    assert r.status_code == 200 and r.content == data
    assert r.headers["Content-Length"] == str(len(data))
    head = server.request("HEAD", "/acme/static/big.bin")
    assert head.status_code == 200 and head.content == b""
    assert server.app.inflight == 0


def test_chunked_body_over_max_body_is_413_not_truncated(tenants, live):
    tenants.add("acme", {"index.py": "def post(request):\n    return str(len(request.get_data()))\n"})
    server = live(max_body=0.01)  # 10,485 bytes

    def chunks(total):
        for _ in range(total // 1000):
            yield b"x" * 1000

    assert server.post("/acme/", data=chunks(5000)).text == "5000"
    r = server.post("/acme/", data=chunks(50000))
    assert r.status_code == 413


def test_stream_is_logged_and_counted_with_its_status_and_whole_duration(tenants, live):
    import io
    import json

    from muxserver.ops import logs

    tenants.add("acme", {"s.py": "import time\ndef get():\n    time.sleep(0.3)\n"
                                 "    def g():\n        yield 'a'\n        yield 'b'\n"
                                 "    return g(), 201\n"})
    captured = io.StringIO()
    saved = logs.writer
    logs.writer = logs.LogWriter("json", stream=captured)
    try:
        server = live()
        r = server.get("/acme/s")
        assert (r.status_code, r.text) == (201, "ab")
        wait_until(lambda: '"muxserver.access"' in captured.getvalue())
    finally:
        logs.writer = saved
    access = [json.loads(line) for line in captured.getvalue().splitlines()
              if '"muxserver.access"' in line]
    assert access[0]["status"] == 201 and access[0]["duration_ms"] >= 300, access
    metrics = server.admin.get("/_mux/metrics").text
    assert 'mux_requests_total{status="201",tenant="acme"} 1.0' in metrics


def test_stream_stopped_by_a_limit_is_cut_and_logged_with_the_limit_status(tenants, live):
    import io
    import json
    import socket as socket_module

    from muxserver.ops import logs

    tenants.add("acme", {"s.py": "def get():\n    def g():\n        yield 'first'\n"
                                 "        while True:\n            pass\n    return g()\n",
                         "tenant.toml": "[limits]\ncpu_ms = 100\n"})
    captured = io.StringIO()
    saved = logs.writer
    logs.writer = logs.LogWriter("json", stream=captured)
    try:
        server = live()
        with socket_module.create_connection(("127.0.0.1", server.server.port), timeout=10) as s:
            s.sendall(b"GET /acme/s HTTP/1.1\r\nHost: x\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break  # the server closed the connection: the body was cut
                data += chunk
        wait_until(lambda: '"muxserver.access"' in captured.getvalue())
    finally:
        logs.writer = saved
    assert data.startswith(b"HTTP/1.1 200") and b"first" in data
    assert not data.endswith(b"0\r\n\r\n"), data  # no final chunk
    access = [json.loads(line) for line in captured.getvalue().splitlines()
              if '"muxserver.access"' in line]
    assert access[0]["status"] == 503, access

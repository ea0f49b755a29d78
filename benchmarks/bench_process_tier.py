"""The process tier: cold start from the zygote, warm throughput, memory.

* **cold start**: a Flask hello world, from asking the zygote for a process
  to its first answer (fork, lock-down, import, answer), p50 and p95 —
  against the same tenant started in a fresh interpreter (``python -I``,
  the same lock-down and import): the ratio is what the zygote buys;
* **warm throughput**: the same Flask code as a process tenant and as a
  sandboxed tenant, through the same app in one process (werkzeug's test
  client, no network), requests per second and their ratio;
* **thaw**: a request to a process frozen between requests (``SIGCONT``
  through the zygote on its path) against one to a process still running
  (back to back), p50 of each and their ratio;
* **hand-off**: how a request reaches the tenant's process — proxied over
  its unix socket (what the server does) or the client's TCP connection
  passed to it (``SCM_RIGHTS``) — time per request over real TCP;
* **memory**: PSS of the zygote, of an idle and of a warm process tenant
  (``/proc/<pid>/smaps_rollup``: shared pages split between sharers), and
  how many warm process tenants 24 GB holds at that PSS.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

HELLO = textwrap.dedent("""\
    from flask import Flask
    app = Flask(__name__)

    @app.route("/")
    def index():
        return "hello"
    """)
GIB = 2**30


def _memory(pid: int) -> tuple[int, int]:
    """``(PSS, private)`` bytes of a process."""
    pss = private = 0
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                pss = int(line.split()[1]) * 1024
            elif line.startswith(("Private_Clean:", "Private_Dirty:")):
                private += int(line.split()[1]) * 1024
    return pss, private


#: Processes kept alive together while memory is measured (PSS splits the
#: zygote's shared pages between all of them, as on a busy node).
ALIVE = 8


def _request(sock, path="/"):
    from muxserver.proctier import wire

    wire.send_json(sock, {"method": "GET", "script_name": "/hello", "path": path, "query": "",
                          "server_name": "localhost", "server_port": 80, "scheme": "http",
                          "headers": [], "request_id": "bench"})
    wire.send_end(sock)
    while True:
        kind, message = wire.receive(sock)
        if kind == wire.JSON and message.get("op") == "response":
            break
        if kind == wire.JSON and message.get("op") == "failed":
            raise RuntimeError(message)
    body = b""
    while True:
        kind, data = wire.receive(sock)
        if kind == wire.END:
            return body
        body += data


def _wait_ready(sock):
    from muxserver.proctier import wire

    kind, message = wire.receive(sock)
    assert message.get("op") == "ready", message


def _setup(root: Path):
    from muxserver.config import Config
    from muxserver.proctier.manager import plan_for
    from muxserver.tenancy.scanner import scan_tenant
    from muxserver.tenancy.codecache import CodeCache

    tenants = root / "tenants"
    for name, runtime in (("hello", "process"), ("boxed", "sandbox")):
        folder = tenants / name
        folder.mkdir(parents=True)
        (folder / "app.py").write_text(HELLO)
        (folder / "tenant.toml").write_text(f'runtime = "{runtime}"\n')
    config = Config.build({"tenants_dir": str(tenants), "data_dir": str(root / "data"),
                           "cache_dir": str(root / "cache"), "process_tenants": ["*"],
                           "watch": False, "access_log": False})
    spec = scan_tenant(tenants / "hello", "hello", CodeCache(config.code_cache_dir),
                       config.tenant_rules)
    assert spec.ok, spec.errors
    return config, plan_for(config, spec, b"k" * 32, None)


def cold_starts(config, plan, rounds: int) -> dict:
    from muxserver.proctier.launcher import ZygoteClient
    from muxserver.proctier.launcher import start_zygote

    handle = start_zygote(config)
    client = ZygoteClient(socket.socket(fileno=handle.client_end.detach()))
    zygote_times, fresh_times = [], []
    alive = []
    try:
        for i in range(rounds):
            started = time.perf_counter()
            pid, sock = client.start(plan)
            _wait_ready(sock)
            assert _request(sock) == b"hello"
            zygote_times.append((time.perf_counter() - started) * 1000)
            if len(alive) < ALIVE:
                alive.append((pid, sock))
            else:
                client.kill(pid)
                sock.close()
        idle = [_memory(pid) for pid, _ in alive]
        for pid, sock in alive:
            for _ in range(100):
                _request(sock)
        warm = [_memory(pid) for pid, _ in alive]
        zygote_pss, _ = _memory(handle.pid)
        for pid, sock in alive:
            client.kill(pid)
            sock.close()
    finally:
        client.close()
        handle.stop()
    idle_pss = statistics.median(m[0] for m in idle)
    warm_pss = statistics.median(m[0] for m in warm)
    warm_private = statistics.median(m[1] for m in warm)
    import subprocess

    from muxserver import launch

    for _ in range(max(2, rounds // 5)):
        here, there = socket.socketpair()
        started = time.perf_counter()
        proc = subprocess.Popen(
            launch.spawn_argv("muxserver.proctier.host:main", "--fd", str(there.fileno())),
            stdin=subprocess.PIPE, pass_fds=(there.fileno(),))
        there.close()
        proc.stdin.write(json.dumps(dict(plan, isolation=config.isolation)).encode())
        proc.stdin.close()
        _wait_ready(here)
        assert _request(here) == b"hello"
        fresh_times.append((time.perf_counter() - started) * 1000)
        here.close()
        proc.wait(timeout=10)
    p50 = statistics.median(zygote_times)
    return {
        "zygote_p50_ms": round(p50, 2),
        "zygote_p95_ms": round(sorted(zygote_times)[int(len(zygote_times) * 0.95) - 1], 2),
        "fresh_interpreter_p50_ms": round(statistics.median(fresh_times), 2),
        "fresh_vs_zygote": round(statistics.median(fresh_times) / p50, 1),
        "rounds": rounds,
        "processes_alive": len(alive),
        "pss_zygote_mb": round(zygote_pss / 2**20, 2),
        "pss_idle_mb": round(idle_pss / 2**20, 2),
        "pss_warm_mb": round(warm_pss / 2**20, 2),
        "private_warm_mb": round(warm_private / 2**20, 2),
        # Each warm tenant costs its private pages; the zygote's are paid once.
        "warm_tenants_in_24gb": int((24 * GIB - zygote_pss) / max(warm_private, 1)),
    }


def warm_throughput(config, seconds: float, rounds: int = 200) -> dict:
    from werkzeug.test import Client

    from muxserver.app import MuxApp

    app = MuxApp(config)
    client = Client(app)
    rates = {}
    try:
        for name in ("hello", "boxed"):
            assert client.get(f"/{name}/").status_code == 200
            count, deadline = 0, time.perf_counter() + seconds
            started = time.perf_counter()
            while time.perf_counter() < deadline:
                response = client.get(f"/{name}/")
                assert response.status_code == 200
                count += 1
            rates[name] = count / (time.perf_counter() - started)
        thaw = _thawed_requests(app, client, rounds)
    finally:
        app.close_processes()
    return {"process_rps": round(rates["hello"], 1), "sandbox_rps": round(rates["boxed"], 1),
            "process_vs_sandbox": round(rates["hello"] / rates["boxed"], 3), **thaw}


def _thawed_requests(app, client, rounds: int) -> dict:
    """p50 of requests to a frozen process and of back-to-back ones."""
    import gevent

    def timed() -> float:
        started = time.perf_counter()
        assert client.get("/hello/").status_code == 200
        return (time.perf_counter() - started) * 1000

    warm, thawed = [], []
    for _ in range(rounds):
        warm.append(timed())
        deadline = time.monotonic() + 5
        while not all(p["frozen"] for p in app.processes.describe()):
            assert time.monotonic() < deadline, "the process was not frozen"
            gevent.sleep(0.001)
        thawed.append(timed())
    warm_p50, thawed_p50 = statistics.median(warm), statistics.median(thawed)
    return {"warm_p50_ms": round(warm_p50, 3), "thawed_p50_ms": round(thawed_p50, 3),
            "thawed_vs_warm": round(thawed_p50 / warm_p50, 3)}


def handoff(requests_n: int) -> dict:
    """Proxy over a unix socket vs passing the TCP connection, per request."""
    import array

    request = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"
    results = {}
    for mode in ("proxy", "pass"):
        parent, child = socket.socketpair()
        pid = os.fork()
        if pid == 0:
            parent.close()
            while True:
                if mode == "pass":
                    fds = array.array("i")
                    data, anc, _, _ = child.recvmsg(16, socket.CMSG_LEN(fds.itemsize))
                    if not data:
                        os._exit(0)
                    fds.frombytes(anc[0][2])
                    conn = socket.socket(fileno=fds[0])
                    conn.recv(4096)
                    conn.sendall(answer)
                    conn.close()
                else:
                    data = child.recv(4096)
                    if not data:
                        os._exit(0)
                    child.sendall(b"hello")
        child.close()
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        port = listener.getsockname()[1]
        times = []
        for _ in range(requests_n):
            started = time.perf_counter()
            client = socket.create_connection(("127.0.0.1", port))
            client.sendall(request)
            conn, _ = listener.accept()
            if mode == "pass":
                parent.sendmsg([b"x"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                         array.array("i", [conn.fileno()]))])
                conn.close()
            else:
                conn.recv(4096)
                parent.sendall(b"GET /")
                body = parent.recv(4096)
                conn.sendall(answer[:-5] + body)
                conn.close()
            data = client.recv(4096)
            assert data.endswith(b"hello")
            client.close()
            times.append((time.perf_counter() - started) * 1e6)
        parent.close()
        os.waitpid(pid, 0)
        listener.close()
        results[f"{mode}_us"] = round(statistics.median(times), 1)
    results["pass_vs_proxy"] = round(results["pass_us"] / results["proxy_us"], 3)
    return results


def run(seconds: float, quick: bool) -> dict:
    from muxserver.ops import logs

    was, logs.access_enabled = logs.access_enabled, False  # the warm runs' access lines
    try:
        with tempfile.TemporaryDirectory() as tmp:
            config, plan = _setup(Path(tmp))
            report = {"cold_start": cold_starts(config, plan, 8 if quick else 60)}
            report["warm"] = warm_throughput(config, seconds, 10 if quick else 300)
            report["handoff"] = handoff(20 if quick else 500)
    finally:
        logs.access_enabled = was
    report["isolation"] = config.isolation
    return report


def main(argv=None) -> dict:
    from benchmarks._servers import timed_main

    return timed_main(__doc__, run, argv, 3.0, "seconds of warm requests per tier")


if __name__ == "__main__":
    from gevent import monkey

    monkey.patch_all()
    main()

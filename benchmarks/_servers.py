"""Servers and load drivers shared by the benchmark scripts.

Each server runs in its own process on a free loopback port, so the load
generator and the server do not share a GIL. The load driver is ``wrk``
(keep-alive, one connection per thread) when installed; otherwise a small
Python keep-alive client, and the script says so.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent
PY = sys.executable

HELLO_BODY = "Hello, world!\n"

# Both baselines run pywsgi the way muxserver does: no per-request logging,
# TCP_NODELAY on accepted sockets (unless argv[2] is "0").
_PYWSGI_PREAMBLE = textwrap.dedent('''
    from gevent import monkey; monkey.patch_all()
    import socket, sys
    from gevent.pywsgi import WSGIServer, WSGIHandler
    NODELAY = len(sys.argv) < 3 or sys.argv[2] == "1"
    class Quiet(WSGIHandler):
        def log_request(self): pass
    class NoDelay(WSGIServer):
        handler_class = Quiet
        def handle(self, sock, addr):
            if NODELAY:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            super().handle(sock, addr)
''')

BARE_APP = _PYWSGI_PREAMBLE + textwrap.dedent('''
    BODY = b"Hello, world!\\n"
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8"),
                                  ("Content-Length", str(len(BODY)))])
        return [BODY]
    NoDelay(("127.0.0.1", int(sys.argv[1])), app, log=None).serve_forever()
''')

FLASK_APP = _PYWSGI_PREAMBLE + textwrap.dedent('''
    from flask import Flask
    app = Flask(__name__)
    @app.get("/hello/")
    def hello():
        return "Hello, world!\\n"
    NoDelay(("127.0.0.1", int(sys.argv[1])), app, log=None).serve_forever()
''')

TENANT_HELLO = 'def get():\n    return "Hello, world!\\n"\n'


def timed_main(doc: str, run, argv, seconds: float, seconds_help: str) -> dict:
    """The command line of a benchmark whose ``run(seconds, quick)`` is
    timed by ``--seconds`` and shortened by ``--quick``; prints the report."""
    import argparse
    import json

    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--seconds", type=float, default=seconds, help=seconds_help)
    args = parser.parse_args(argv)
    report = run(1 if args.quick else args.seconds, args.quick)
    print(json.dumps(report, indent=1))
    return report


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Proc:
    """A server process; ``url`` is ready once :meth:`wait` returns;
    ``admin_url`` is its admin listener when it has one (``{admin_port}``)."""

    def __init__(self, args, ready_path: str, env=None, cwd=None):
        self.port = free_port()
        self.admin_port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.admin_url = f"http://127.0.0.1:{self.admin_port}"
        self.ready_path = ready_path
        args = [a.replace("{port}", str(self.port)).replace("{admin_port}", str(self.admin_port))
                for a in args]
        self._server_dir = None
        if "muxserver" in args and "--server-dir" not in args:
            # A server dir of its own: two servers on one tenants dir would
            # share the default one beside it (its egress socket, secret,
            # versions), and servers started together race for its socket.
            self._server_dir = tempfile.TemporaryDirectory(prefix="muxbench-server-")
            args = [*args, "--server-dir", self._server_dir.name]
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=dict(os.environ, **(env or {})), cwd=cwd or REPO)

    def wait(self, timeout: float = 120.0) -> "Proc":
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.log.seek(0)
                raise RuntimeError(f"server exited: {self.log.read().decode()[-2000:]}")
            try:
                if requests.get(self.url + self.ready_path, timeout=2).status_code < 500:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.02)
        raise RuntimeError("server did not become ready")

    def processes(self) -> list:
        """The server's process and every process it started (muxserver's
        supervisor, serving processes, compiler and egress proxy)."""
        import psutil

        root = psutil.Process(self.proc.pid)
        return [root, *root.children(recursive=True)]

    def rss(self) -> int:
        """Resident memory of the server's processes, summed."""
        return sum(p.memory_info().rss for p in self.processes())

    def pss(self) -> int:
        """Proportional set size of the same processes: each shared page
        (the interpreter, the libraries) counted once in all, not once per
        process as the sum of RSS counts it — the memory they cost the machine."""
        return sum(p.memory_full_info().pss for p in self.processes())

    def serving_rss(self) -> list[int]:
        """Resident memory of each serving process (muxserver's children)."""
        return [p.memory_info().rss for p in serving_processes(self.proc.pid)]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        if self._server_dir is not None:
            self._server_dir.cleanup()


def serving_processes(supervisor_pid: int) -> list:
    """muxserver's serving processes (psutil), in the order they started:
    the supervisor's children that run ``muxserver.worker`` — not its
    compiler, egress proxy or replication agent."""
    import psutil

    children = psutil.Process(supervisor_pid).children()
    return sorted((p for p in children if "muxserver.worker" in " ".join(p.cmdline())),
                  key=lambda p: p.create_time())


def bare_server(nodelay: bool = True) -> Proc:
    return Proc([PY, "-c", BARE_APP, "{port}", "1" if nodelay else "0"], "/").wait()


def flask_server() -> Proc:
    return Proc([PY, "-c", FLASK_APP, "{port}"], "/hello/").wait()


def muxserver(tenants_dir: Path, *extra: str, ready_path: str = "/_mux/healthz",
              access_log: bool = False) -> Proc:
    """A muxserver process; its log goes to a temporary file."""
    quiet = [] if access_log else ["--no-access-log"]
    return Proc(
        [PY, "-m", "muxserver", "--tenants-dir", str(tenants_dir), "--port", "{port}",
         "--admin-listen", "127.0.0.1:{admin_port}", *quiet, "--no-watch", *extra],
        ready_path,
    )


def hello_tenants(root: Path, count: int = 1, files_per_tenant: int = 1) -> Path:
    """``count`` tenants named t0..tN, each with ``index.py`` saying hello."""
    root.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        d = root / f"t{i}"
        d.mkdir(exist_ok=True)
        (d / "index.py").write_text(TENANT_HELLO)
        for j in range(1, files_per_tenant):
            (d / f"f{j}.py").write_text(f'def get():\n    return "file {j}"\n')
    return root


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


_WRK_RPS = re.compile(r"Requests/sec:\s+([\d.]+)")
_WRK_LAT = re.compile(r"^\s+50%\s+([\d.]+)(us|ms|s)", re.M)


#: Whether :func:`warm_up` loads a server before it is measured (a smoke run,
#: ``python -m benchmarks --quick``, measures nothing it keeps: it skips them).
WARM_UP = True


def warm_up(url: str) -> None:
    """A second of load on ``url`` before its measurement (none in a smoke run)."""
    if WARM_UP:
        load(url, seconds=1)


def load(url: str, seconds: float = 5.0, connections: int = 8, threads: int = 1) -> dict:
    """Requests per second and p50 latency (ms) for GET ``url`` with keep-alive
    (``threads``: wrk's client threads; one tops out near 13k requests/s here)."""
    if have_wrk():
        out = subprocess.run(
            ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(seconds))}s",
             "--latency", url],
            capture_output=True, text=True, timeout=seconds + 30,
        ).stdout
        rps = float(_WRK_RPS.search(out).group(1))
        value, unit = _WRK_LAT.search(out).groups()
        p50 = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
        return {"rps": rps, "p50_ms": p50, "driver": "wrk"}
    return _python_load(url, seconds, connections)


def _python_load(url: str, seconds: float, connections: int) -> dict:
    """Fallback driver: gevent keep-alive clients in this process."""
    from gevent import monkey

    monkey.patch_all()
    import gevent

    latencies: list[float] = []
    deadline = time.monotonic() + seconds

    def worker():
        session = requests.Session()
        while time.monotonic() < deadline:
            started = time.perf_counter()
            session.get(url, timeout=10)
            latencies.append(time.perf_counter() - started)

    gevent.joinall([gevent.spawn(worker) for _ in range(connections)])
    latencies.sort()
    return {
        "rps": len(latencies) / seconds,
        "p50_ms": latencies[len(latencies) // 2] * 1000 if latencies else 0.0,
        "driver": "python (install wrk for real figures)",
    }


def sequential_latency(url: str, count: int) -> list[float]:
    """Latencies (ms) of ``count`` sequential keep-alive requests."""
    session = requests.Session()
    session.get(url, timeout=10)
    out = []
    for _ in range(count):
        started = time.perf_counter()
        session.get(url, timeout=10)
        out.append((time.perf_counter() - started) * 1000)
    return out


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))]

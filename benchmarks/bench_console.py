"""What does watching the console cost the tenants?

Question: warm throughput of a hello tenant while the console is open (its
data call every 2 s and a log tail every 1 s, as the page polls), and while
ten consoles are open, against no console — on a server with 200 tenants
registered and 50 warm, so the data call has rows to build. Measured side
by side in interleaved rounds; reported as ratios, plus the data call's own
latency.

Usage: ``python benchmarks/bench_console.py [--quick] [--seconds S]``
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._servers import hello_tenants  # noqa: E402
from benchmarks._servers import load  # noqa: E402
from benchmarks._servers import warm_up  # noqa: E402
from benchmarks._servers import timed_main  # noqa: E402
from benchmarks._servers import muxserver  # noqa: E402
from benchmarks._servers import percentile  # noqa: E402


class Consoles:
    """``count`` pages polling like the real one, in threads."""

    def __init__(self, admin_url: str, count: int):
        self.admin_url = admin_url
        self.count = count
        self.stop_flag = threading.Event()
        self.latencies: list[float] = []
        self.threads = [threading.Thread(target=self.page, daemon=True) for _ in range(count)]

    def page(self):
        session = requests.Session()
        next_data = next_logs = time.monotonic()
        while not self.stop_flag.is_set():
            now = time.monotonic()
            if now >= next_data:
                started = time.perf_counter()
                session.get(self.admin_url + "/_mux/console/data", timeout=10)
                self.latencies.append((time.perf_counter() - started) * 1000)
                next_data = now + 2.0
            if now >= next_logs:
                session.get(self.admin_url + "/_mux/tenants/t0/logs?json=1&limit=200", timeout=10)
                next_logs = now + 1.0
            time.sleep(0.05)

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop_flag.set()
        for t in self.threads:
            t.join()


def run(seconds: float, quick: bool) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        tenants = hello_tenants(Path(tmp) / "tenants", count=20 if quick else 200)
        server = muxserver(tenants, "--cache-dir", str(Path(tmp) / "cache"), "--data-dir",
                           str(Path(tmp) / "data"), ready_path="/t0/").wait()
        try:
            for i in range(10 if quick else 50):
                requests.get(f"{server.url}/t{i}/", timeout=10)
            warm_up(server.url + "/t0/")
            samples = {"no console": [], "1 console": [], "10 consoles": []}
            latencies: list[float] = []
            for _ in range(1 if quick else 3):
                for name, count in (("no console", 0), ("1 console", 1), ("10 consoles", 10)):
                    if count:
                        with Consoles(server.admin_url, count) as consoles:
                            samples[name].append(load(server.url + "/t0/", seconds=seconds)["rps"])
                        latencies += consoles.latencies
                    else:
                        samples[name].append(load(server.url + "/t0/", seconds=seconds)["rps"])
        finally:
            server.stop()

    def ratio(name):
        return round(statistics.median(a / b for a, b in zip(samples[name], samples["no console"])), 3)

    return {
        "rps": {k: round(statistics.median(v), 1) for k, v in samples.items()},
        "ratio_1_console": ratio("1 console"),
        "ratio_10_consoles": ratio("10 consoles"),
        "data_call_p50_ms": round(percentile(latencies, 50), 2) if latencies else None,
        "data_call_p99_ms": round(percentile(latencies, 99), 2) if latencies else None,
    }


def main(argv=None) -> dict:
    return timed_main(__doc__, run, argv, 4.0, "per case per round")


if __name__ == "__main__":
    main()

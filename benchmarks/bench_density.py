"""How many tenants fit, and how fast does a big tenants dir come up?

Question: with 10,000 tenants of two small files each, is the last tenant
serving within 20 s of start on a cold code cache and within 5 s on a warm
one; is idle RSS at most 150 MiB; and is the p50 of a warm request at
10,000 tenants at most 1.25x the p50 at 10 tenants?

Baseline in the same run: the same server and request at 10 tenants.
Figures: seconds from process start to the last tenant answering, RSS
after start (summed over the processes, so each shared page — the
interpreter, the libraries — counts once per process) and PSS (each shared
page counted once in all: what the processes cost the machine), memory per
registered tenant, p50/p99 of sequential
keep-alive requests to a warm endpoint.

Also: memory per warm tenant, the latency and RSS curve as tenants grow,
and one Python process per tenant (Passenger/uWSGI-emperor style hosting)
measured on a few real processes and extrapolated.

Usage: ``python benchmarks/bench_density.py [--quick] [--sizes 10,1000,10000]``
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._servers import flask_server  # noqa: E402
from benchmarks._servers import hello_tenants  # noqa: E402
from benchmarks._servers import muxserver  # noqa: E402
from benchmarks._servers import percentile  # noqa: E402
from benchmarks._servers import sequential_latency  # noqa: E402


def _start_and_wait(tenants: Path, cache: Path, last: str) -> tuple[object, float]:
    started = time.monotonic()
    proc = muxserver(tenants, "--cache-dir", str(cache), ready_path=f"/{last}/")
    deadline = started + 300
    while time.monotonic() < deadline:
        if proc.proc.poll() is not None:
            raise RuntimeError("muxserver exited")
        try:
            if requests.get(proc.url + f"/{last}/", timeout=2).status_code == 200:
                return proc, time.monotonic() - started
        except requests.RequestException:
            pass
        time.sleep(0.02)
    raise RuntimeError("last tenant never answered")


#: At most this many tenants are warmed to measure memory per warm tenant.
MAX_WARMED = 2000


def measure(count: int, requests_n: int, workdir: Path) -> dict:
    tenants = hello_tenants(workdir / f"tenants-{count}", count, files_per_tenant=2)
    cache = workdir / f"cache-{count}"
    last = f"t{count - 1}"
    proc, cold_s = _start_and_wait(tenants, cache, last)
    try:
        rss_idle = proc.rss()
        pss_idle = proc.pss()
        latencies = sequential_latency(proc.url + f"/{last}/", requests_n)
        rss_after = proc.rss()
        warmed = min(count, MAX_WARMED)
        session = requests.Session()
        for i in range(warmed):
            session.get(proc.url + f"/t{i}/", timeout=10)
        rss_warm = proc.rss()
    finally:
        proc.stop()
    proc, warm_s = _start_and_wait(tenants, cache, last)
    proc.stop()
    return {
        "tenants": count,
        "ready_cold_cache_s": round(cold_s, 2),
        "ready_warm_cache_s": round(warm_s, 2),
        "rss_idle_mib": round(rss_idle / 2**20, 1),
        "pss_idle_mib": round(pss_idle / 2**20, 1),
        "rss_after_requests_mib": round(rss_after / 2**20, 1),
        "warmed_tenants": warmed,
        "rss_warm_mib": round(rss_warm / 2**20, 1),
        "warm_tenant_kib": round((rss_warm - rss_after) / 1024 / max(1, warmed - 1), 2),
        "p50_ms": round(percentile(latencies, 50), 3),
        "p99_ms": round(percentile(latencies, 99), 3),
    }


def process_per_tenant(processes: int) -> dict:
    """The Passenger/uWSGI-emperor model: one Python process per tenant.

    Starts ``processes`` real Flask-on-gevent processes serving the same hello
    and measures their RSS; the per-tenant cost at 1,000 or 10,000 tenants is
    extrapolated from that (not measured: this machine could not run them).
    """
    import psutil

    servers = [flask_server() for _ in range(processes)]
    try:
        for server in servers:
            requests.get(server.url + "/hello/", timeout=10)
        rss = [server.rss() for server in servers]
        uss = [psutil.Process(server.proc.pid).memory_full_info().uss for server in servers]
    finally:
        for server in servers:
            server.stop()
    per_rss = sum(rss) / len(rss)
    per_uss = sum(uss) / len(uss)
    return {
        "processes_measured": processes,
        "rss_per_process_mib": round(per_rss / 2**20, 1),
        # Extrapolated with USS (pages no other process shares), the
        # conservative figure: shared library pages are counted once.
        "uss_per_process_mib": round(per_uss / 2**20, 1),
        "extrapolated_mib": {str(n): round(per_uss * n / 2**20) for n in (10, 1000, 10000)},
    }


def run(sizes: list[int], requests_n: int, baseline_processes: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        rows = [measure(n, requests_n, work) for n in sizes]
    base, large = rows[0], rows[-1]
    small, big = base["tenants"], large["tenants"]
    per_tenant_kib = (large["rss_idle_mib"] - base["rss_idle_mib"]) * 1024 / max(1, big - small)
    return {
        "sizes": rows,
        "small": base,
        "large": large,
        "registered_tenant_kib": round(per_tenant_kib, 2),
        "p50_ratio_large_vs_small": round(large["p50_ms"] / base["p50_ms"], 3),
        "process_per_tenant": process_per_tenant(baseline_processes),
        "targets": {
            "ready_cold_cache_s": "<= 6 at 10,000",
            "ready_warm_cache_s": "<= 1.5 at 10,000",
            "rss_idle_mib": "<= 150 at 10,000",
            "p50_ratio_large_vs_small": "<= 1.25",
        },
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run (200 tenants)")
    parser.add_argument("--sizes", default="10,100,1000,3000,10000",
                        help="tenant counts, smallest first (the first is the baseline)")
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--processes", type=int, default=5,
                        help="real one-process-per-tenant servers to measure")
    args = parser.parse_args(argv)
    if args.quick:
        report = run([10, 200], 100, 1)
    else:
        report = run([int(n) for n in args.sizes.split(",")], args.requests, args.processes)
    print(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()

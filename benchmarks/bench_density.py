"""How many tenants fit, and how fast does a big tenants dir come up?

Question: with 10,000 tenants of two small files each, is the last tenant
serving within 20 s of start on a cold code cache and within 5 s on a warm
one; is idle RSS at most 150 MiB; and is the p50 of a warm request at
10,000 tenants at most 1.25x the p50 at 10 tenants?

Baseline in the same run: the same server and request at 10 tenants.
Figures: seconds from process start to the last tenant answering, RSS
after start, memory per registered tenant, p50/p99 of sequential
keep-alive requests to a warm endpoint.

Usage: ``python benchmarks/bench_density.py [--quick] [--tenants N]``
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


def measure(count: int, requests_n: int, workdir: Path) -> dict:
    tenants = hello_tenants(workdir / f"tenants-{count}", count, files_per_tenant=2)
    cache = workdir / f"cache-{count}"
    last = f"t{count - 1}"
    proc, cold_s = _start_and_wait(tenants, cache, last)
    try:
        rss_idle = proc.rss()
        latencies = sequential_latency(proc.url + f"/{last}/", requests_n)
        rss_after = proc.rss()
    finally:
        proc.stop()
    proc, warm_s = _start_and_wait(tenants, cache, last)
    proc.stop()
    return {
        "tenants": count,
        "ready_cold_cache_s": round(cold_s, 2),
        "ready_warm_cache_s": round(warm_s, 2),
        "rss_idle_mib": round(rss_idle / 2**20, 1),
        "rss_after_requests_mib": round(rss_after / 2**20, 1),
        "p50_ms": round(percentile(latencies, 50), 3),
        "p99_ms": round(percentile(latencies, 99), 3),
    }


def run(big: int, small: int, requests_n: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        base = measure(small, requests_n, work)
        large = measure(big, requests_n, work)
    per_tenant_kib = (large["rss_idle_mib"] - base["rss_idle_mib"]) * 1024 / max(1, big - small)
    return {
        "small": base,
        "large": large,
        "registered_tenant_kib": round(per_tenant_kib, 2),
        "p50_ratio_large_vs_small": round(large["p50_ms"] / base["p50_ms"], 3),
        "targets": {
            "ready_cold_cache_s": "<= 20 at 10,000",
            "ready_warm_cache_s": "<= 5 at 10,000",
            "rss_idle_mib": "<= 150 at 10,000",
            "p50_ratio_large_vs_small": "<= 1.25",
        },
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run (200 tenants)")
    parser.add_argument("--tenants", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=3000)
    args = parser.parse_args(argv)
    if args.quick:
        report = run(200, 10, 100)
    else:
        report = run(args.tenants, 10, args.requests)
    print(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()

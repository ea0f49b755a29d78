"""What does the process layer cost?

Question: with the process layer on (``--isolation best-effort``: Landlock,
seccomp, rlimits, a scrubbed environment) against off, in the same run,
what are the ratios of warm hello-world throughput (wrk, keep-alive, one
process) and of the cold-start p50 (distinct endpoints loaded one after
another, after an eviction, so the code comes from the cache)? Landlock
checks every file open and seccomp every system call, so both can cost.

Usage: ``python benchmarks/bench_isolation.py [--quick] [--seconds S]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._servers import hello_tenants  # noqa: E402
from benchmarks._servers import load  # noqa: E402
from benchmarks._servers import warm_up  # noqa: E402
from benchmarks._servers import muxserver  # noqa: E402
from benchmarks._servers import percentile  # noqa: E402
from benchmarks.cold_warm import _timed_get  # noqa: E402
from benchmarks.cold_warm import _write  # noqa: E402

MODES = ("best-effort", "off")


def _cold_p50(server, paths) -> float:
    session = requests.Session()
    for path in paths:
        _timed_get(session, server.url + path)
    session.post(server.admin_url + "/_mux/evict", json={})
    return percentile([_timed_get(session, server.url + p)[0] for p in paths], 50)


def run(seconds: float, rounds: int, endpoints: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        tenants = hello_tenants(Path(tmp) / "tenants")
        paths = _write(Path(tmp) / "tenants", endpoints)
        # Started together, then waited for: their start-ups overlap.
        servers = {mode: muxserver(tenants, "--cache-dir", str(Path(tmp) / "cache"),
                                   "--isolation", mode, "--idle-ttl", "3600",
                                   ready_path="/t0/")
                   for mode in MODES}
        for server in servers.values():
            server.wait()
        rps = {mode: [] for mode in MODES}
        cold = {mode: [] for mode in MODES}
        try:
            status = requests.get(servers["best-effort"].admin_url + "/_mux/status").json()["isolation"]
            for mode, server in servers.items():
                warm_up(server.url + "/t0/")
            for _ in range(rounds):  # interleaved: noise hits both alike
                for mode, server in servers.items():
                    rps[mode].append(load(server.url + "/t0/", seconds=seconds)["rps"])
                    cold[mode].append(_cold_p50(server, paths))
        finally:
            for server in servers.values():
                server.stop()
    on, off = "best-effort", "off"
    return {
        "isolation_in_force": status,
        "rps": {m: round(statistics.median(v), 1) for m, v in rps.items()},
        "cold_p50_ms": {m: round(statistics.median(v), 3) for m, v in cold.items()},
        "throughput_on_over_off": round(statistics.median(
            [a / b for a, b in zip(rps[on], rps[off])]), 3),
        "cold_p50_on_over_off": round(statistics.median(
            [a / b for a, b in zip(cold[on], cold[off])]), 3),
        "rounds": rounds,
        "endpoints": endpoints,
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--seconds", type=float, default=3.0, help="wrk time per server per round")
    args = parser.parse_args(argv)
    report = run(1 if args.quick else args.seconds, 1 if args.quick else 5,
                 10 if args.quick else 100)
    print(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()

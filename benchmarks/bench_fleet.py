"""Why affinity? A fleet behind nginx: consistent hashing against round-robin.

Question: three muxserver nodes behind nginx serve N tenants (each module
holds ~200 KB), every tenant requested three times in random order. With
nginx's consistent hash on the tenant (``muxserver nginx-conf``) against
plain round-robin, in the same run: what is the fleet's memory (the sum of
the nodes' RSS with every tenant warm) and how many cold starts happen per
1,000 requests? Reported as round-robin / hashing ratios.

Needs nginx (``apt-get install nginx``); without it the script says so and
reports nothing.

Usage: ``python benchmarks/bench_fleet.py [--quick] [--tenants N]``
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._servers import PY  # noqa: E402
from benchmarks._servers import free_port  # noqa: E402
from benchmarks._servers import muxserver  # noqa: E402

TENANT = "DATA = 'x' * 200_000 + '{n}'\ndef get():\n    return str(len(DATA))\n"


def _nginx(prefix: Path, nodes, listen: int, balance: str):
    args = [a for node in nodes for a in ("--node", f"127.0.0.1:{node.port}")]
    conf = subprocess.run([PY, "-m", "muxserver", "nginx-conf", *args, "--listen",
                           f"127.0.0.1:{listen}"], capture_output=True, text=True,
                          check=True).stdout
    if balance == "round-robin":  # the baseline: nginx's default balancing
        conf = conf.replace("hash $mux_tenant consistent;", "")
    (prefix / "logs").mkdir(parents=True, exist_ok=True)
    (prefix / "temp").mkdir(exist_ok=True)
    (prefix / "nginx.conf").write_text(conf)
    proc = subprocess.Popen(["nginx", "-p", str(prefix), "-c", str(prefix / "nginx.conf"),
                             "-g", "daemon off;"], stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{listen}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if requests.get(url + "/_mux/healthz", timeout=1).status_code == 200:
                return proc, url
        except requests.RequestException:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("nginx did not start")


def _round(root: Path, nodes: list, count: int, balance: str, seed: int) -> dict:
    nginx, url = _nginx(root / f"nginx-{balance}", nodes, free_port(), balance)
    try:
        order = [f"t{i}" for i in range(count)] * 3
        random.Random(seed).shuffle(order)
        session = requests.Session()
        for name in order:
            r = session.get(f"{url}/{name}/", timeout=30)
            if r.status_code != 200:
                raise RuntimeError(f"{name}: {r.status_code}")
        statuses = [requests.get(n.admin_url + "/_mux/status", timeout=10).json() for n in nodes]
        rss = sum(n.rss() for n in nodes)
    finally:
        nginx.terminate()
        nginx.wait(timeout=10)
    cold = sum(s["cold_starts"] for s in statuses)
    return {
        "requests": len(order),
        "cold_starts": cold,
        "cold_starts_per_1000": round(cold * 1000 / len(order), 1),
        "warm_modules": sum(len(s["warm_modules"]) for s in statuses),
        "fleet_rss_mib": round(rss / 2**20, 1),
    }


def run(count: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        tenants = root / "tenants"
        for i in range(count):
            (tenants / f"t{i}").mkdir(parents=True)
            (tenants / f"t{i}" / "index.py").write_text(TENANT.format(n=i))
        # Both rounds' nodes (three each) start together, then are waited
        # for: their start-ups overlap; each round's nodes are fresh.
        starting = [muxserver(tenants, "--cache-dir", str(root / "cache"), "--idle-ttl", "3600")
                    for _ in range(6)]
        nodes = [node.wait() for node in starting]
        try:
            hashed = _round(root, nodes[:3], count, "hash", seed=1)
            robin = _round(root, nodes[3:], count, "round-robin", seed=1)
        finally:
            for node in nodes:
                node.stop()
    return {
        "tenants": count,
        "nodes": 3,
        "consistent_hash": hashed,
        "round_robin": robin,
        "memory_round_robin_over_hash": round(robin["fleet_rss_mib"] / hashed["fleet_rss_mib"], 2),
        "cold_starts_round_robin_over_hash": round(robin["cold_starts"] / max(hashed["cold_starts"], 1), 2),
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--tenants", type=int, default=600)
    args = parser.parse_args(argv)
    if shutil.which("nginx") is None:
        print("nginx is not installed (apt-get install nginx); nothing measured", file=sys.stderr)
        return {"skipped": "nginx is not installed"}
    report = run(30 if args.quick else args.tenants)
    print(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()

"""What does a cold start cost, next to starting a process?

Question: for many distinct ~30-line endpoints, what are the client-side
p50/p99 of the first request (cold), of a request after eviction (cold, code
from the cache) and of a warm request; is the cold p50 at most 3 ms and at
most 4x the warm p50? Beside them, in the same run: a Fission-style cold
start done locally (a fresh Python process that imports a web framework and
the function, then calls it) and a process per request (the CGI/PHP model:
a fresh interpreter runs the function file).

Writes ``benchmarks/results/cold_warm.md`` and ``cold_warm.png``.

Usage: ``python benchmarks/cold_warm.py [--quick] [--endpoints N]``
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._servers import PY  # noqa: E402
from benchmarks._servers import muxserver  # noqa: E402
from benchmarks._servers import percentile  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"

ENDPOINT = '''"""Endpoint {n}: a small order calculator (~30 lines)."""

import json
import math

TAX = {tax}
DISCOUNTS = {{"gold": 0.1, "silver": 0.05}}


class Line:
    def __init__(self, name, price, qty):
        self.name = name
        self.price = price
        self.qty = qty

    def total(self):
        return self.price * self.qty


def summarize(lines, tier):
    subtotal = sum(line.total() for line in lines)
    discount = subtotal * DISCOUNTS.get(tier, 0)
    taxed = (subtotal - discount) * (1 + TAX)
    return {{"subtotal": subtotal, "total": math.floor(taxed * 100) / 100}}


def main(request=None):
    lines = [Line("tea", 3.5, 2), Line("cake", 4.25, 1), Line("n{n}", {n}, 1)]
    result = summarize(lines, "gold")
    result["endpoint"] = {n}
    return json.dumps(result)
'''


def _write(root: Path, count: int) -> list[str]:
    paths = []
    per_tenant = 10
    for n in range(count):
        tenant = root / f"t{n // per_tenant}"
        tenant.mkdir(parents=True, exist_ok=True)
        (tenant / f"e{n}.py").write_text(ENDPOINT.format(n=n, tax=0.2 + n / 10000))
        paths.append(f"/t{n // per_tenant}/e{n}")
    return paths


def _timed_get(session, url) -> tuple[float, str]:
    started = time.perf_counter()
    r = session.get(url, timeout=30)
    elapsed = (time.perf_counter() - started) * 1000
    if r.status_code != 200:
        raise RuntimeError(f"{url}: {r.status_code} {r.text[:200]}")
    return elapsed, r.headers.get("Server-Timing", "")


def _process_runs(script: list[str], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(script, check=True, capture_output=True)
        out.append((time.perf_counter() - started) * 1000)
    return out


def run(count: int, process_runs: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "tenants"
        paths = _write(root, count)
        server = muxserver(root, "--cache-dir", str(Path(tmp) / "cache"), "--idle-ttl", "3600").wait()
        try:
            session = requests.Session()
            session.get(server.url + "/_mux/healthz")
            first = [_timed_get(session, server.url + p)[0] for p in paths]
            warm = [_timed_get(session, server.url + p)[0] for p in paths for _ in range(3)]
            session.post(server.admin_url + "/_mux/evict", json={})
            after_evict = [_timed_get(session, server.url + p)[0] for p in paths]
            status = session.get(server.admin_url + "/_mux/status").json()
        finally:
            server.stop()
        module = root / "t0" / "e0.py"
        fission = _process_runs(
            [PY, "-c", f"import sys; sys.path.insert(0, {str(module.parent)!r}); import flask; "
                       "import e0; print(e0.main())"], process_runs)
        cgi = _process_runs([PY, "-c", f"exec(open({str(module)!r}).read()); print(main())"],
                            process_runs)
    rows = {
        "first request (cold)": first,
        "after eviction (cold, code cached)": after_evict,
        "warm": warm,
        "Fission-style cold start (new process + import)": fission,
        "process per request (CGI/PHP model)": cgi,
    }
    table = {
        name: {"p50_ms": round(percentile(v, 50), 3), "p99_ms": round(percentile(v, 99), 3), "n": len(v)}
        for name, v in rows.items()
    }
    warm_p50 = table["warm"]["p50_ms"]
    cold_p50 = table["after eviction (cold, code cached)"]["p50_ms"]
    report = {
        "endpoints": count,
        "table": table,
        "cold_p50_over_warm_p50": round(cold_p50 / warm_p50, 2),
        "fission_cold_over_mux_cold": round(table["Fission-style cold start (new process + import)"]["p50_ms"]
                                            / cold_p50, 1),
        "cgi_over_mux_cold": round(table["process per request (CGI/PHP model)"]["p50_ms"] / cold_p50, 1),
        "code_cache": status["code_cache"],
        "targets": {"cold p50": "<= 3 ms and <= 4x warm p50"},
    }
    return report


def write_results(report: dict, directory: Path = RESULTS) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    lines = ["| request | p50 ms | p99 ms | n |", "| --- | --- | --- | --- |"]
    for name, row in report["table"].items():
        lines.append(f"| {name} | {row['p50_ms']} | {row['p99_ms']} | {row['n']} |")
    lines.append("")
    lines.append(f"cold (after eviction) p50 / warm p50: {report['cold_p50_over_warm_p50']}x; "
                 f"Fission-style cold start / muxserver cold start: {report['fission_cold_over_mux_cold']}x; "
                 f"process per request / muxserver cold start: {report['cgi_over_mux_cold']}x "
                 f"({report['endpoints']} endpoints)")
    (directory / "cold_warm.md").write_text("\n".join(lines) + "\n")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (pip install '.[bench]'); no chart written", file=sys.stderr)
        return
    names = list(report["table"])
    p50 = [report["table"][n]["p50_ms"] for n in names]
    p99 = [report["table"][n]["p99_ms"] for n in names]
    fig, ax = plt.subplots(figsize=(9, 4.5))
    y = range(len(names))
    ax.barh([i + 0.2 for i in y], p50, height=0.4, label="p50")
    ax.barh([i - 0.2 for i in y], p99, height=0.4, label="p99")
    ax.set_yticks(list(y), [n.replace(" (", "\n(") for n in names], fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("client-side latency, ms (log scale)")
    ax.set_title("Cold start vs warm vs a process per request")
    ax.legend()
    fig.tight_layout()
    fig.savefig(directory / "cold_warm.png", dpi=110)
    plt.close(fig)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--endpoints", type=int, default=300)
    parser.add_argument("--process-runs", type=int, default=20)
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    report = run(20 if args.quick else args.endpoints, 3 if args.quick else args.process_runs)
    write_results(report, args.results)
    print(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()

"""How fast is a warm hello world, next to what users run today?

Question: is muxserver's warm throughput at least 0.75x a bare gevent.pywsgi
WSGI app and at least 1.2x the same hello as a Flask app on gevent.pywsgi
(all with TCP_NODELAY, one process each)? What does the access log cost
(``--log-format json`` with the access log on, against it off; target: at
most 10 %)? And what does TCP_NODELAY do to keep-alive latency?

Measured side by side in one run, reported as ratios. Load: ``wrk`` with
keep-alive (``apt-get install wrk``; without it a Python client is used and
the figures are only indicative).

Usage: ``python benchmarks/bench_throughput.py [--quick] [--seconds S]``
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._servers import bare_server  # noqa: E402
from benchmarks._servers import flask_server  # noqa: E402
from benchmarks._servers import have_wrk  # noqa: E402
from benchmarks._servers import hello_tenants  # noqa: E402
from benchmarks._servers import load  # noqa: E402
from benchmarks._servers import warm_up  # noqa: E402
from benchmarks._servers import timed_main  # noqa: E402
from benchmarks._servers import muxserver  # noqa: E402
from benchmarks._servers import percentile  # noqa: E402
from benchmarks._servers import sequential_latency  # noqa: E402


def run(seconds: float, quick: bool) -> dict:
    if not have_wrk():
        print("wrk is not installed (apt-get install wrk); using a Python client", file=sys.stderr)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        tenants = hello_tenants(Path(tmp) / "tenants")
        servers = {
            "muxserver": muxserver(tenants, "--cache-dir", str(Path(tmp) / "cache"),
                                   ready_path="/t0/"),
            "muxserver+access-log": muxserver(tenants, "--cache-dir", str(Path(tmp) / "cache"),
                                              "--log-format", "json", ready_path="/t0/",
                                              access_log=True),
            "gevent.pywsgi": bare_server(nodelay=True),
            "flask+gevent.pywsgi": flask_server(),
        }
        for name in ("muxserver", "muxserver+access-log"):  # started together
            servers[name].wait()
        paths = {"muxserver": "/t0/", "muxserver+access-log": "/t0/", "gevent.pywsgi": "/",
                 "flask+gevent.pywsgi": "/hello/"}
        rounds = 1 if quick else 5
        samples: dict[str, list] = {name: [] for name in servers}
        try:
            for name, server in servers.items():
                warm_up(server.url + paths[name])
            # Interleaved rounds: a noisy neighbour on a shared machine hits
            # every server alike, and the median ratio is what is reported.
            for _ in range(rounds):
                for name, server in servers.items():
                    samples[name].append(load(server.url + paths[name], seconds=seconds))
        finally:
            for server in servers.values():
                server.stop()
        for name, runs in samples.items():
            results[name] = {
                "rps": statistics.median(r["rps"] for r in runs),
                "p50_ms": statistics.median(r["p50_ms"] for r in runs),
                "driver": runs[0]["driver"],
            }
        ratios_bare = [m["rps"] / b["rps"] for m, b in zip(samples["muxserver"], samples["gevent.pywsgi"])]
        ratios_flask = [m["rps"] / f["rps"]
                        for m, f in zip(samples["muxserver"], samples["flask+gevent.pywsgi"])]
        ratios_logged = [a["rps"] / m["rps"]
                         for a, m in zip(samples["muxserver+access-log"], samples["muxserver"])]
        nagle = bare_server(nodelay=False)
        nodelay = bare_server(nodelay=True)
        try:
            count = 20 if quick else 200
            lat_nagle = sequential_latency(nagle.url + "/", count)
            lat_nodelay = sequential_latency(nodelay.url + "/", count)
        finally:
            nagle.stop()
            nodelay.stop()
    report = {
        "rps": {k: round(v["rps"], 1) for k, v in results.items()},
        "p50_ms": {k: round(v["p50_ms"], 3) for k, v in results.items()},
        "driver": results["muxserver"]["driver"],
        "rounds": rounds,
        "ratio_vs_bare_pywsgi": round(statistics.median(ratios_bare), 3),
        "ratio_vs_flask_pywsgi": round(statistics.median(ratios_flask), 3),
        "ratio_vs_bare_pywsgi_each_round": [round(r, 3) for r in ratios_bare],
        "ratio_access_log_json_vs_off": round(statistics.median(ratios_logged), 3),
        "keepalive_p50_ms_without_nodelay": round(percentile(lat_nagle, 50), 3),
        "keepalive_p50_ms_with_nodelay": round(percentile(lat_nodelay, 50), 3),
        "targets": {"ratio_vs_bare_pywsgi": ">= 0.75", "ratio_vs_flask_pywsgi": ">= 1.2",
                    "ratio_access_log_json_vs_off": ">= 0.9"},
    }
    return report


def main(argv=None) -> dict:
    return timed_main(__doc__, run, argv, 3.0, "per server per round")


if __name__ == "__main__":
    main()

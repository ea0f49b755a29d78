"""What do worker processes buy, next to Flask under gunicorn?

Question: warm hello-world throughput with ``--workers 1`` and
``--workers 2``, beside the same function as a Flask app under gunicorn's
sync workers (1 and 2), measured in one run with the same load.

.. note::
   On a 2-core machine the load generator needs a core too, so 2 workers
   cannot show a 2x gain here; the ratio is what this machine can show.
   The client runs two wrk threads: one tops out near 13k requests/s, which
   one serving process reaches, and then 2 workers measured 1.0x.

Usage: ``python benchmarks/bench_workers.py [--quick] [--seconds S]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import _servers  # noqa: E402
from benchmarks._servers import PY  # noqa: E402
from benchmarks._servers import Proc  # noqa: E402
from benchmarks._servers import hello_tenants  # noqa: E402
from benchmarks._servers import load  # noqa: E402

FLASK_MODULE = textwrap.dedent('''
    from flask import Flask
    app = Flask(__name__)
    @app.get("/hello/")
    def hello():
        return "Hello, world!\\n"
''')


def run(seconds: float, rounds: int) -> dict:
    results: dict[str, list] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        tenants = hello_tenants(tmp / "tenants")
        (tmp / "flaskhello.py").write_text(FLASK_MODULE)
        servers = {}
        try:
            for n in (1, 2):
                servers[f"muxserver --workers {n}"] = (Proc(
                    [PY, "-m", "muxserver", "--tenants-dir", str(tenants), "--port", "{port}", "--admin-listen", "127.0.0.1:{admin_port}",
                     "--workers", str(n), "--no-access-log", "--no-watch",
                     "--cache-dir", str(tmp / "cache")], "/t0/"), "/t0/")
                servers[f"flask + gunicorn sync -w {n}"] = (Proc(
                    [PY, "-m", "gunicorn", "-w", str(n), "-b", "127.0.0.1:{port}", "--log-level",
                     "warning", "flaskhello:app"], "/hello/", cwd=str(tmp)), "/hello/")
            for server, _ in servers.values():  # started together: their start-ups overlap
                server.wait()
            for name, (server, path) in servers.items():
                if _servers.WARM_UP:  # none in a smoke run: it keeps no figure
                    load(server.url + path, seconds=1, connections=16, threads=2)
                results[name] = []
            for _ in range(rounds):
                for name, (server, path) in servers.items():
                    results[name].append(load(server.url + path, seconds=seconds, connections=16,
                                              threads=2)["rps"])
        finally:
            for server, _ in servers.values():
                server.stop()
    rps = {name: round(statistics.median(v), 1) for name, v in results.items()}
    return {
        "rps": rps,
        "mux_2_over_1_workers": round(rps["muxserver --workers 2"] / rps["muxserver --workers 1"], 3),
        "mux_over_flask_gunicorn_same_workers": {
            str(n): round(rps[f"muxserver --workers {n}"] / rps[f"flask + gunicorn sync -w {n}"], 2)
            for n in (1, 2)
        },
        "rounds": rounds,
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    report = run(1 if args.quick else args.seconds, 1 if args.quick else args.rounds)
    print(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()

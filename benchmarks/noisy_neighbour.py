"""Does one abusive tenant hurt a calm one?

Question: while 1, 5 and 20 clients of one tenant fire, concurrently, every
abuse the limits must stop (endless loops, swallowed stops, huge C calls,
catastrophic regexes, memory hoarding, sleeping past the wall limit), what
happens to a calm tenant served at a steady rate by the same process? And
the same beside two abusers of the third attack round (issue 23): a
*one-call bomb* (one host call that would build gigabytes from a small
value: a printed list of a repeated megabyte, BytesIO.seek+write,
int.to_bytes, SQLite randomblob, a re.sub group template) and a
*never-ticking host call* (host Python over tenant-sized input that never
ticked: punycode, shuffle, YAML merge keys, compiling a big template,
url_for with a long list).
Targets: the calm tenant's p99 within 10x its p99 alone, zero calm errors,
the abusers still stopped at their ``cpu_ms`` (503, not 504), and process
RSS back within 64 MiB of where it started.

Baseline in the same run: the calm tenant at the same rate with no abuser.

Usage: ``python benchmarks/noisy_neighbour.py [--quick] [--seconds S] [--rate R]
[--abusers 1,5,20] [--kinds mixed,one_call_bomb,never_ticking]``
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from gevent import monkey

monkey.patch_all()

import gevent  # noqa: E402
import requests  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._servers import muxserver  # noqa: E402
from benchmarks._servers import percentile  # noqa: E402

ABUSER_CPU_MS = 200
#: Long enough that twenty concurrent abusers can each get their cpu_ms.
ABUSER_WALL_S = 10

ABUSES_ALL = ABUSES = {
    "spin": "def get():\n    while True:\n        pass\n",
    "swallow": ("def get():\n    while True:\n        try:\n            while True:\n                pass\n"
                "        except:\n            pass\n"),
    "finally": "def get():\n    try:\n        while True:\n            pass\n    finally:\n        while True:\n            pass\n",
    "sum": "def get():\n    return str(sum(range(10**13)))\n",
    "pow": "def get():\n    return str(10 ** 10**9)\n",
    "repeat": "def get():\n    return 'x' * 10**10\n",
    "bytes": "def get():\n    return bytes(10**11)\n",
    "sorted": "def get():\n    return str(len(sorted(range(10**9))))\n",
    "regex": "import re\ndef get():\n    return str(re.match(r'(a|aa)+$', 'a' * 5000 + 'b'))\n",
    "hoard": "def get():\n    h = []\n    while True:\n        h.append('y' * 10**6)\n",
    "sleep": "import time\ndef get():\n    time.sleep(60)\n",
    "recurse": "def f(n):\n    return 1 if n == 0 else f(n - 1) + f(n - 1)\ndef get():\n    return str(f(60))\n",
}


MB = "S = 'x' * 2**20\n"

#: One host call that would build gigabytes from a small value (issue 23).
ONE_CALL_BOMBS = {
    "bomb_print": MB + "def get():\n    print([S] * 2000)\n    return 'x'\n",
    "bomb_seek": ("import io\ndef get():\n    b = io.BytesIO()\n    b.seek(10**9)\n    b.write(b'x')\n"
                  "    return str(len(b.getvalue()))\n"),
    "bomb_to_bytes": "def get():\n    return str(len((1).to_bytes(10**9, 'big')))\n",
    "bomb_randomblob": ("import sqlite3\ndef get():\n    db = sqlite3.connect(':memory:')\n"
                        "    return str(len(db.execute('select randomblob(1000000000)').fetchone()[0]))\n"),
    "bomb_expand": ("import re\ndef get():\n"
                    "    return str(len(re.sub('(a+)', r'\\1' * 2000, 'a' * 10**6)))\n"),
}

#: Host Python over tenant-sized input that never ticked (issue 23).
NEVER_TICKING = {
    "slow_punycode": ("def get():\n"
                      "    return str(len(''.join(chr(256 + i) for i in range(20000)).encode('punycode')))\n"),
    "slow_shuffle": "import random\ndef get():\n    x = [0, 1] * 10**6\n    random.shuffle(x)\n    return 'x'\n",
    "slow_yaml": ("import yaml\ndef get():\n"
                  "    doc = 'x: &x [' + ','.join('{k%d: 1}' % i for i in range(3000)) + ']\\n'\n"
                  "    doc += ''.join('y%d:\\n  <<: *x\\n' % j for j in range(2000))\n"
                  "    return str(len(yaml.safe_load(doc)))\n"),
    "slow_template": ("from flask import render_template_string\ndef get():\n"
                      "    return render_template_string('{{ x }}' * 100000, x=1)\n"),
    "slow_url_for": ("from flask import Flask, url_for\napp = Flask(__name__)\n"
                     "@app.route('/slow_url_for')\ndef slow():\n    return url_for('slow', q=[0] * 10**6)\n"),
}

#: The abusers: their name -> the endpoints each of their clients cycles through.
KINDS = {"mixed": ABUSES, "one_call_bomb": ONE_CALL_BOMBS, "never_ticking": NEVER_TICKING}


def _tenants(root: Path) -> Path:
    calm = root / "calm"
    calm.mkdir(parents=True)
    (calm / "index.py").write_text("def get():\n    return 'calm'\n")
    abuser = root / "abuser"
    abuser.mkdir()
    (abuser / "tenant.toml").write_text(
        f"[limits]\ncpu_ms = {ABUSER_CPU_MS}\nwall_s = {ABUSER_WALL_S}\nmemory_mb = 64\n"
        "concurrency = 50\n"
    )
    for name, source in {**ABUSES, **ONE_CALL_BOMBS, **NEVER_TICKING}.items():
        (abuser / f"{name}.py").write_text(source)
    return root


def _calm_load(url: str, seconds: float, rate: float) -> tuple[list[float], int]:
    latencies: list[float] = []
    errors = [0]
    session = requests.Session()

    def one():
        started = time.perf_counter()
        try:
            r = session.get(url, timeout=30)
            if r.status_code != 200:
                errors[0] += 1
        except requests.RequestException:
            errors[0] += 1
        latencies.append((time.perf_counter() - started) * 1000)

    jobs = []
    interval = 1.0 / rate
    started = time.monotonic()
    n = 0
    while time.monotonic() - started < seconds:
        jobs.append(gevent.spawn(one))
        n += 1
        gevent.sleep(max(0.0, started + n * interval - time.monotonic()))
    gevent.joinall(jobs, timeout=60)
    return latencies, errors[0]


def _abuse(url: str, stop: list, counts: dict, abuses=ABUSES) -> None:
    session = requests.Session()
    while not stop[0]:
        for name in abuses:
            if stop[0]:
                return
            try:
                status = session.get(f"{url}/abuser/{name}", timeout=30).status_code
            except requests.RequestException:
                status = "error"
            counts[status] = counts.get(status, 0) + 1


def _summary(latencies, errors) -> dict:
    return {"p50_ms": round(percentile(latencies, 50), 2), "p99_ms": round(percentile(latencies, 99), 2),
            "errors": errors, "requests": len(latencies)}


def _round(server, calm_url, seconds, rate, quiet, count, abuses) -> dict:
    stop = [False]
    counts: dict = {}
    jobs = [gevent.spawn(_abuse, server.url, stop, counts, abuses) for _ in range(count)]
    noisy = _summary(*_calm_load(calm_url, seconds, rate))
    stop[0] = True
    gevent.joinall(jobs, timeout=60)
    noisy["p99_over_alone"] = round(noisy["p99_ms"] / max(quiet["p99_ms"], 0.001), 1)
    noisy["abuser_responses"] = {str(k): v for k, v in sorted(counts.items(), key=str)}
    return noisy


def run(seconds: float, rate: float, abusers: list[int], kinds=tuple(KINDS)) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        tenants = _tenants(Path(tmp) / "tenants")
        server = muxserver(tenants, "--cache-dir", str(Path(tmp) / "cache")).wait()
        rounds: dict = {kind: {} for kind in kinds}
        try:
            calm_url = server.url + "/calm/"
            requests.get(calm_url, timeout=10)
            for kind in kinds:  # load the abuser's modules before measuring
                for name in KINDS[kind]:
                    requests.post(server.admin_url + "/_mux/specialize",
                                  json={"tenant": "abuser", "endpoint": name}, timeout=10)
            rss_start = server.rss()
            quiet = _summary(*_calm_load(calm_url, seconds, rate))
            for kind in kinds:
                for count in abusers:
                    rounds[kind][str(count)] = _round(server, calm_url, seconds, rate, quiet,
                                                      count, KINDS[kind])
            time.sleep(1.0)
            rss_end = server.rss()
        finally:
            server.stop()
    mixed = rounds.get("mixed") or next(iter(rounds.values()))
    first = mixed[str(abusers[0])]
    return {
        "calm_rate_rps": rate,
        "seconds": seconds,
        "abuser_cpu_ms": ABUSER_CPU_MS,
        "no_abuser": quiet,
        "with_abusers": mixed,
        "with_abuser": first,
        "one_call_bomb": rounds.get("one_call_bomb", {}),
        "never_ticking": rounds.get("never_ticking", {}),
        "rss_start_mib": round(rss_start / 2**20, 1),
        "rss_end_mib": round(rss_end / 2**20, 1),
        "rss_growth_mib": round((rss_end - rss_start) / 2**20, 1),
        "note": "RSS sampled at start and 1 s after the abuse stopped",
        "targets": {"with_abusers.*.p99_over_alone": "<= 10", "with_abusers.*.errors": 0,
                    "one_call_bomb.*.p99_over_alone": "<= 10",
                    "never_ticking.*.p99_over_alone": "<= 10", "rss_growth_mib": "<= 64"},
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=float, default=50.0, help="calm requests per second")
    parser.add_argument("--abusers", default="1,5,20",
                        help="comma-separated counts of abusive clients in parallel, one round each")
    parser.add_argument("--kinds", default=",".join(KINDS),
                        help="which abusers, comma-separated: " + ", ".join(KINDS))
    args = parser.parse_args(argv)
    counts = [int(c) for c in args.abusers.split(",")]
    report = run(0.5 if args.quick else args.seconds, 20.0 if args.quick else args.rate,
                 [2] if args.quick else counts, tuple(args.kinds.split(",")))
    print(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()

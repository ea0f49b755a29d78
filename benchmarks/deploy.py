"""How fast is a deploy live, and does anyone see an error while it happens?

Question: with the default 250 ms debounce, how long from the last write of
a new version to the new code answering (p50/p99 over many deploys), and how
many 5xx does a client hammering the tenant see across 50 redeploys?
Targets: p50 at most 0.5 s; zero 5xx.

Baseline in the same run: the debounce itself (the least any deploy can
take), so the figure shows what the server adds on top.

Usage: ``python benchmarks/deploy.py [--quick] [--deploys N]``
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from gevent import monkey

monkey.patch_all()

import gevent  # noqa: E402
import requests  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._servers import PY  # noqa: E402
from benchmarks._servers import Proc  # noqa: E402
from benchmarks._servers import percentile  # noqa: E402

DEBOUNCE_MS = 250


def _write_version(tenant: Path, version: int) -> None:
    """Write a 3-file version the way a sync does: temp file, then rename."""
    for name, body in (("index.py", f"def get():\n    return 'v{version}'\n"),
                       ("other.py", f"def get():\n    return 'o{version}'\n"),
                       ("lib/util.py", f"V = {version}\n")):
        path = tenant / name
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(body)
        os.replace(tmp, path)


def run(deploys: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "tenants"
        tenant = root / "acme"
        _write_version(tenant, 0)
        server = Proc([PY, "-m", "muxserver", "--tenants-dir", str(root), "--port", "{port}", "--admin-listen", "127.0.0.1:{admin_port}",
                       "--no-access-log", "--cache-dir", str(Path(tmp) / "cache")], "/acme/").wait()
        url = server.url + "/acme/"
        codes: dict[int, int] = {}
        stop = [False]

        def hammer():
            session = requests.Session()
            while not stop[0]:
                try:
                    code = session.get(url, timeout=10).status_code
                except requests.RequestException:
                    code = 599
                codes[code] = codes.get(code, 0) + 1

        jobs = [gevent.spawn(hammer) for _ in range(2)]
        delays = []
        probe = requests.Session()
        try:
            for version in range(1, deploys + 1):
                _write_version(tenant, version)
                written = time.monotonic()
                want = f"v{version}"
                while probe.get(url, timeout=10).text != want:
                    if time.monotonic() - written > 30:
                        raise RuntimeError(f"version {version} never went live")
                    gevent.sleep(0.005)
                delays.append(time.monotonic() - written)
        finally:
            stop[0] = True
            gevent.joinall(jobs, timeout=30)
            server.stop()
    errors = sum(n for code, n in codes.items() if code >= 500)
    return {
        "deploys": deploys,
        "debounce_ms": DEBOUNCE_MS,
        "live_after_last_write_s": {"p50": round(percentile(delays, 50), 3),
                                    "p99": round(percentile(delays, 99), 3),
                                    "max": round(max(delays), 3)},
        "server_added_over_debounce_p50_s": round(percentile(delays, 50) - DEBOUNCE_MS / 1000, 3),
        "hammer_responses": {str(k): v for k, v in sorted(codes.items())},
        "hammer_5xx": errors,
        "targets": {"p50": "<= 0.5 s", "hammer_5xx": 0},
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--deploys", type=int, default=50)
    args = parser.parse_args(argv)
    report = run(3 if args.quick else args.deploys)
    print(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()

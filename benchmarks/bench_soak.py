"""Does memory come back when modules are evicted and loaded again, over and over?

Question: a tenant of several modules goes through 100 evict/reload cycles
while others stay warm — its big module evicted alone (idle eviction and
``--memory-limit`` do this), and every tenth cycle the whole tenant; a Flask
tenant with blueprints, evicted whole. Is the RSS after every cycle at most
1.1x the RSS after the first (issue 21: each cycle used to keep the evicted
module until the whole tenant went cold, +505 MB over 15 cycles of a 33 MB
module)?

Baseline in the same run: the RSS after the first cycle. Each run is a fresh
interpreter (a heap's history is part of what RSS measures), serving through
the app as a serving process does, and giving memory back as the evictor
does after each eviction.

Usage: ``python benchmarks/bench_soak.py [--quick] [--cycles 100]``
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

#: About 30 MB held by one module, in blocks that really are resident.
BIG = "DATA = [bytes([i]) * 3_000_000 for i in range(10)]\ndef get():\n    return str(len(DATA))\n"
TENANTS = {
    "modules": {
        "big.py": BIG,
        "small.py": "import helper\ndef get():\n    return helper.greet()\n",
        "other.py": "import helper\ndef get():\n    return helper.greet() + '!'\n",
        "helper.py": "def greet():\n    return 'hi'\n",
    },
    "blueprints": {
        "app.py": "from flask import Flask\nfrom views import bp\napp = Flask(__name__)\n"
                  "app.register_blueprint(bp, url_prefix='/v')\n",
        "views.py": "from flask import Blueprint\nbp = Blueprint('v', __name__)\n"
                    "CACHE = [bytes([i]) * 1_000_000 for i in range(8)]\n"
                    "@bp.route('/x')\ndef x():\n    return str(len(CACHE))\n",
    },
}

_RUN = textwrap.dedent('''
    import json, sys
    from gevent import monkey; monkey.patch_all()
    sys.path.insert(0, sys.argv[3])
    from werkzeug.test import Client
    from muxserver.app import MuxApp
    from muxserver.config import Config
    from muxserver.ops.memory import release_memory
    from sandbox.limits import rss_bytes

    root, cycles = sys.argv[1], int(sys.argv[2])
    app = MuxApp(Config.build({"tenants_dir": root, "cache_dir": root + "/../cache",
                               "data_dir": root + "/../data", "watch": False,
                               "access_log": False, "idle_ttl": 3600}))
    client = Client(app)

    def get(path, text=None):
        r = client.get(path)
        assert r.status_code == 200, (path, r.status_code, r.text)

    rss = []
    for cycle in range(cycles):
        for path in ("/modules/small", "/modules/other", "/modules/big", "/blueprints/v/x"):
            get(path)
        if cycle % 10 == 9:
            app.evict("modules")
        else:
            app.evict("modules", "big")
        app.evict("blueprints", "views")
        release_memory(force=True)
        rss.append(rss_bytes())
    print(json.dumps(rss))
''')


def run(cycles: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "tenants"
        for name, files in TENANTS.items():
            for rel, text in files.items():
                path = root / name / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
        out = subprocess.run([sys.executable, "-c", _RUN, str(root), str(cycles), str(REPO)],
                             capture_output=True, text=True, timeout=600)
        if out.returncode != 0:
            raise RuntimeError(out.stderr[-3000:])
        rss = json.loads(out.stdout.strip().splitlines()[-1])
    first, last = rss[0], rss[-1]
    return {
        "cycles": cycles,
        "rss_first_cycle_mib": round(first / 2**20, 1),
        "rss_last_cycle_mib": round(last / 2**20, 1),
        "rss_max_mib": round(max(rss) / 2**20, 1),
        "last_over_first": round(last / first, 3),
        "max_over_first": round(max(rss) / first, 3),
        "target": "max_over_first <= 1.1",
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run (10 cycles)")
    parser.add_argument("--cycles", type=int, default=100)
    args = parser.parse_args(argv)
    report = run(10 if args.quick else args.cycles)
    print(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()

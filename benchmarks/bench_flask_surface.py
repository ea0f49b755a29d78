"""Is re-implementing Flask's surface the right call?

Question (issue 24): muxserver serves Flask code through its own Flask
surface (``muxserver/tenant_api``), not Flask itself behind the sandbox's
membrane. Three figures decide it, measured here in one run:

* fidelity: the differential suite (``tests/differential``: the same apps on
  Flask and on muxserver, status, headers and body compared) — tests
  passing, and the requests they compared;
* warm cost per request of a small Flask-style endpoint (a converter, a
  query argument, a header, ``jsonify``): muxserver's whole request path
  (``MuxApp``: routing, limits, the sandboxed view) against the same files
  as a real Flask app, both under werkzeug's test client in this process,
  interleaved rounds — as a ratio;
* attack surface: the public names tenant code can read on host objects
  (the walk of ``tests/sandbox/reach.py`` through the membrane), all of them
  and the Flask part; beside them, the public names of the Flask objects a
  view touches, which running Flask itself would have to declare.

The warm figure is muxserver's whole path against bare Flask: Flask behind
the membrane would cost bare Flask *plus* a guarded lookup for each name
tenant code reads, so the ratio is the most such a design could save.

Usage: ``python benchmarks/bench_flask_surface.py [--quick] [--seconds S]``
(``--quick`` shortens the warm rounds and runs one file of the suite; the walk runs in full.)
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()  # as the server runs (and as run_all does before any script)

import json  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import textwrap  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._servers import PY  # noqa: E402
from benchmarks._servers import REPO  # noqa: E402

APP = textwrap.dedent('''
    from flask import Flask, jsonify, request

    app = Flask(__name__)

    @app.route("/items/<int:item_id>")
    def item(item_id):
        return jsonify(id=item_id, q=request.args.get("q", ""),
                       agent=request.headers.get("User-Agent", ""))
    ''')
PATH = "/items/7?q=shoes"
ROUNDS = 5


#: Runs the differential suite in its own interpreter and writes one JSON
#: document to the file its first argument names: outcomes by test, and
#: how many requests ``Both`` compared.
_SUITE = """
import json, sys
import pytest
from tests.differential import harness

compared, outcomes = [0], {}
request = harness.Both.request

def counted(self, *args, **kwargs):
    answers = request(self, *args, **kwargs)
    compared[0] += 1  # only once both sides agreed
    return answers

harness.Both.request = counted

class Outcomes:
    def pytest_runtest_logreport(self, report):
        if report.when == "call" or report.outcome != "passed":
            outcomes[report.nodeid] = report.outcome

pytest.main([*sys.argv[2:], "-q", "-p", "no:cacheprovider"], plugins=[Outcomes()])
with open(sys.argv[1], "w") as f:
    json.dump({"outcomes": outcomes, "compared": compared[0]}, f)
"""


#: The differential suite, and the one file of it a smoke run runs (the
#: suite runs whole in the tests anyway).
SUITE_PATHS = ("tests/differential",)
QUICK_SUITE_PATHS = ("tests/differential/test_cloud_functions.py",)


def fidelity(paths=SUITE_PATHS) -> dict:
    """The differential suite, run as the tests run it: tests passing of
    those run, and the requests compared (status, headers, body) that agreed."""
    with tempfile.TemporaryDirectory() as folder:
        result = Path(folder) / "suite.json"
        # Bytes, not text: gevent's communicate (the tests run monkey-patched)
        # answers '' for output it cannot decode (gevent issue 1510): once in
        # CI the suite's result was lost so, with nothing to say why.
        out = subprocess.run([PY, "-c", _SUITE, str(result), *paths], cwd=REPO,
                             capture_output=True)
        if not result.exists():
            said = (out.stdout[-1500:] + b" | " + out.stderr[-1500:]).decode("utf-8", "replace")
            raise RuntimeError(f"the differential suite did not run (exit status "
                               f"{out.returncode}): ...{said}")
        found = json.loads(result.read_text())
    outcomes = found["outcomes"]
    failed = sorted(node for node, outcome in outcomes.items() if outcome != "passed")
    return {"passed": len(outcomes) - len(failed), "tests": len(outcomes),
            "requests_compared": found["compared"], "not_passed": failed}


def _clients(root: Path):
    from werkzeug.middleware.dispatcher import DispatcherMiddleware
    from werkzeug.exceptions import NotFound
    from werkzeug.test import Client

    from muxserver.app import MuxApp
    from muxserver.config import Config

    (root / "flask").mkdir()
    (root / "flask" / "benchapp.py").write_text(APP)
    (root / "tenants" / "t").mkdir(parents=True)
    (root / "tenants" / "t" / "app.py").write_text(APP)
    sys.path.insert(0, str(root / "flask"))
    import benchapp

    flask_client = Client(DispatcherMiddleware(NotFound(), {"/t": benchapp.app}))
    mux = MuxApp(Config.build({"tenants_dir": root / "tenants", "cache_dir": root / "cache",
                               "watch": False, "access_log": False}))
    return flask_client, Client(mux)


def _per_request_us(client, seconds: float) -> float:
    count, started = 0, time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline:
        response = client.get("/t" + PATH, headers={"User-Agent": "bench"})
        assert response.status_code == 200, response.get_data()
        count += 1
    return (time.perf_counter() - started) / count * 1e6


def warm_cost(seconds: float) -> dict:
    from muxserver.ops import logs

    quiet, logs.access_enabled = logs.access_enabled, False  # as access_log = false
    try:
        return _warm_cost(seconds)
    finally:
        logs.access_enabled = quiet


def _warm_cost(seconds: float) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        flask_client, mux_client = _clients(Path(folder))
        a = flask_client.get("/t" + PATH, headers={"User-Agent": "bench"})
        b = mux_client.get("/t" + PATH, headers={"User-Agent": "bench"})
        assert a.get_data() == b.get_data(), (a.get_data(), b.get_data())
        times = {"flask": [], "muxserver": []}
        for _ in range(ROUNDS):
            for name, client in (("flask", flask_client), ("muxserver", mux_client)):
                times[name].append(_per_request_us(client, seconds / ROUNDS / 2))
    us = {name: round(statistics.median(values), 1) for name, values in times.items()}
    return {"us_per_request": us, "mux_over_flask": round(us["muxserver"] / us["flask"], 3)}


#: The Flask objects a view touches (its app, request, response, session...).
def _flask_objects() -> dict:
    import flask
    import werkzeug.exceptions
    from flask.sessions import SecureCookieSession
    from werkzeug.datastructures import FileStorage

    app = flask.Flask("bench")
    with app.test_request_context("/?a=1"):
        request = flask.request._get_current_object()
        return {"Flask": app, "Config": app.config, "Environment": app.jinja_env,
                "Map": app.url_map, "JSONProvider": app.json, "AppGroup": app.cli,
                "Logger": app.logger, "Request": request, "EnvironHeaders": request.headers,
                "ImmutableMultiDict": request.args, "SecureCookieSession": SecureCookieSession(),
                "g": flask.g._get_current_object(), "Response": flask.Response("x"),
                "Blueprint": flask.Blueprint("b", "b"), "FileStorage": FileStorage(),
                "flask": flask, "werkzeug.exceptions": werkzeug.exceptions,
                "NotFound": werkzeug.exceptions.NotFound()}


def attack_surface() -> dict:
    from tests.sandbox.reach import is_flask_surface
    from tests.sandbox.reach import surface
    from tests.sandbox.reach import walk_a_tenants_world

    with tempfile.TemporaryDirectory() as folder:
        found = surface(walk_a_tenants_world(Path(folder)))
    flask_part = {owner: names for owner, names in found.items() if is_flask_surface(owner)}
    flask_objects = {name: len([a for a in dir(obj) if not a.startswith("_")])
                     for name, obj in _flask_objects().items()}
    return {"reachable_names": sum(len(names) for names in found.values()),
            "reachable_owners": len(found),
            "flask_surface_names": sum(len(names) for names in flask_part.values()),
            "flask_surface_owners": len(flask_part),
            "real_flask_public_names": sum(flask_objects.values()),
            "real_flask_objects": flask_objects}


def run(seconds: float, quick: bool) -> dict:
    report = {"fidelity": fidelity(QUICK_SUITE_PATHS if quick else SUITE_PATHS),
              "warm": warm_cost(seconds), "surface": attack_surface()}
    surface = report["surface"]
    # What a Flask behind the membrane would put in front of it, against what
    # muxserver's own surface opens today.
    surface["real_flask_over_mux_flask_surface"] = round(
        surface["real_flask_public_names"] / surface["flask_surface_names"], 2)
    return report


def summary(report: dict) -> str:
    """The three figures on one line."""
    fid, warm, surface = report["fidelity"], report["warm"], report["surface"]
    return (f"fidelity {fid['passed']}/{fid['tests']} differential tests "
            f"({fid['requests_compared']} requests agreeing); warm cost per request "
            f"muxserver/Flask {warm['mux_over_flask']}x ({warm['us_per_request']['muxserver']} vs "
            f"{warm['us_per_request']['flask']} us); surface {surface['flask_surface_names']} "
            f"public names of the Flask surface reachable ({surface['reachable_names']} in all), "
            f"{surface['real_flask_public_names']} on the Flask objects a view touches "
            f"({surface['real_flask_over_mux_flask_surface']}x)")


def main(argv=None) -> dict:
    from benchmarks._servers import timed_main

    report = timed_main(__doc__, run, argv, 10.0, "seconds of warm requests, both sides")
    print(summary(report))
    return report


if __name__ == "__main__":
    main()

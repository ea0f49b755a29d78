"""The process tier: tenants as plain CPython in processes of their own.

Served in-process (``LiveServer``: the app starts its own zygote, as the
supervisor starts one per serving process) over real HTTP.
"""

import pytest

from muxserver.isolation import missing_parts
from tests.conftest import LiveServer
from tests.conftest import Tenants
from tests.conftest import wait_until

HELLO = {
    "tenant.toml": 'runtime = "process"\n',
    "app.py": """\
        import sys
        from flask import Flask, request, jsonify, session
        app = Flask(__name__)

        @app.route("/")
        def index():
            print("hello from", request.path)
            return {"hi": request.args.get("name", "world"), "private": sys._getframe().f_code.co_name}

        @app.route("/users/<int:uid>", methods=["GET", "PUT"])
        def user(uid):
            return jsonify(id=uid, method=request.method)

        @app.route("/count")
        def count():
            session["n"] = session.get("n", 0) + 1
            return str(session["n"])

        @app.errorhandler(404)
        def missing(e):
            return "no such page here", 404

        @app.route("/boom")
        def boom():
            raise ValueError("kaboom")
        """,
}


def server_for(tmp_path, tenants_files, **config):
    tenants = Tenants(tmp_path)
    for name, files in tenants_files.items():
        tenants.add(name, files)
    config.setdefault("process_tenants", ["*"])
    return LiveServer(tenants.app(**config))


@pytest.fixture
def hello(tmp_path):
    server = server_for(tmp_path, {"hello": HELLO, "calm": {"index.py": "def get():\n    return 'calm'\n"}})
    yield server
    server.app.close_processes()
    server.stop()


def test_a_flask_app_runs_as_plain_python(hello):
    r = hello.get("/hello/?name=ada")
    assert r.status_code == 200, r.text
    # sys._getframe is private: the sandbox refuses it, plain CPython runs it.
    assert r.json() == {"hi": "ada", "private": "index"}
    assert "load;dur=" in r.headers["Server-Timing"]
    assert hello.get("/hello/users/7", ).json() == {"id": 7, "method": "GET"}
    assert hello.request("PUT", "/hello/users/7").json() == {"id": 7, "method": "PUT"}
    assert hello.request("DELETE", "/hello/users/7").status_code == 405
    assert hello.get("/hello/nope").text == "no such page here"
    assert hello.get("/calm/").text == "calm"


def test_session_and_warm_process(hello):
    assert hello.get("/hello/count").text == "1"
    r = hello.get("/hello/count")
    assert r.text == "2"
    assert "load;dur=" not in r.headers["Server-Timing"]


def test_tenant_exception_is_the_servers_500_and_logs(hello):
    r = hello.get("/hello/boom")
    assert r.status_code == 500
    assert "request id" in r.text and "kaboom" not in r.text
    hello.get("/hello/")
    wait_until(lambda: any("hello from /" in line["line"]
                           for line in hello.app.logs.tail("hello")))
    assert any("ValueError: kaboom" in line["line"] for line in hello.app.logs.tail("hello"))

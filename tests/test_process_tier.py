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


# -- limits, crashes, scale to zero ------------------------------------------------

LIMITS = {
    "tenant.toml": 'runtime = "process"\n[limits]\ncpu_ms = 300\nwall_s = 1\nmemory_mb = 64\n',
    "index.py": """\
        import os, time
        from flask import Flask
        app = Flask(__name__)
        hoard = []

        @app.route("/spin")
        def spin():
            while True:
                pass

        @app.route("/sleep")
        def sleep():
            try:
                time.sleep(5)
            except BaseException:
                pass
            return "slept"

        @app.route("/eat")
        def eat():
            hoard.append(bytearray(512 * 2**20))
            return "ate"

        @app.route("/crash")
        def crash():
            os._exit(3)

        @app.route("/pid")
        def pid():
            return str(os.getpid())
        """,
}


@pytest.fixture
def limited(tmp_path):
    server = server_for(tmp_path, {"lim": LIMITS, "calm": {"index.py": "def get():\n    return 'calm'\n"}},
                        idle_ttl=1.0)
    yield server
    server.app.close_processes()
    server.stop()


def test_cpu_over_budget_is_503_and_the_next_request_starts_afresh(limited):
    first = limited.get("/lim/pid").text
    r = limited.get("/lim/spin")
    assert r.status_code == 503 and "cpu_ms = 300" in r.text
    assert limited.get("/calm/").text == "calm"
    second = limited.get("/lim/pid").text
    assert second != first  # the spinning process was stopped; a new one answers


def test_wall_over_budget_is_504(limited):
    r = limited.get("/lim/sleep")
    assert r.status_code == 504 and "wall_s = 1" in r.text
    assert limited.get("/lim/pid").status_code == 200


def test_memory_over_memory_mb_is_503(limited):
    r = limited.get("/lim/eat")
    assert r.status_code == 503 and "memory_mb = 64" in r.text
    assert limited.get("/lim/pid").status_code == 200


def test_a_crash_is_502_and_the_next_request_starts_again(limited):
    r = limited.get("/lim/crash")
    assert r.status_code == 502 and "died" in r.text
    assert limited.get("/lim/pid").status_code == 200


def test_idle_processes_stop_after_idle_ttl(limited):
    # A loaded machine may take the tenant's whole 1 s wall time to start its
    # process (a 504 that stops it): ask until one answers.
    wait_until(lambda: limited.get("/lim/pid").status_code == 200, timeout=30)
    tier = limited.app.processes
    assert tier.describe()
    # The evictor's sweep (a serving process runs it every interval) stops it.
    wait_until(lambda: limited.app.evictor.sweep() >= 0 and not tier.describe(), timeout=10)
    r = limited.get("/lim/pid")
    assert r.status_code == 200 and "load;dur=" in r.headers["Server-Timing"]


# -- method functions, [function], deploy errors -------------------------------------

def test_method_functions_and_main_run_in_a_process(tmp_path):
    server = server_for(tmp_path, {
        "fn": {"tenant.toml": 'runtime = "process"\n',
               "hello.py": "def get(request):\n    return 'hi ' + request.args.get('n', 'x')\n",
               "fission.py": "import flask\ndef main():\n    return {'m': flask.request.method}\n"},
        "gcf": {"tenant.toml": 'runtime = "process"\n[function]\nentrypoint = "main.hello"\n'
                               'form = "gcf"\n',
                "main.py": "import os\n"
                           "def hello(request):\n"
                           "    env = ' '.join(os.environ.get(k, '-') for k in\n"
                           "                   ('FUNCTION_TARGET', 'K_SERVICE'))\n"
                           "    return f'gcf {request.path} {env}', 201\n"},
    })
    try:
        assert server.get("/fn/hello?n=ada").text == "hi ada"
        assert server.post("/fn/fission").json() == {"m": "POST"}
        r = server.get("/gcf/any/path")
        # Cloud Functions' own variables, as in the sandbox tier.
        assert (r.status_code, r.text) == (201, "gcf /any/path hello gcf")
    finally:
        server.app.close_processes()
        server.stop()


def test_process_runtime_needs_the_operators_leave(tenants):
    tenants.add("acme", {"tenant.toml": 'runtime = "process"\n', "index.py": "def get():\n    return 1\n"})
    app = tenants.app(process_tenants=["other"])
    errors = app.registry.error_list()
    assert any("acme/tenant.toml:1" in e and "process_tenants" in e for e in errors), errors


def test_a_sandboxed_tenants_requirements_are_never_ignored(tenants):
    tenants.add("acme", {"requirements.txt": "flask>=2\nnumpy==2.0\n",
                         "index.py": "def get():\n    return 1\n"})
    errors = tenants.app().registry.error_list()
    assert any(e.startswith("acme/requirements.txt:2: numpy cannot run in the sandbox")
               and 'runtime = "process"' in e for e in errors), errors


def test_requirements_options_and_urls_are_refused(tenants):
    tenants.add("acme", {"tenant.toml": 'runtime = "process"\n',
                         "requirements.txt": "--index-url http://evil/\nfoo @ https://evil/foo.whl\n",
                         "index.py": "def get():\n    return 1\n"})
    errors = tenants.app(process_tenants=["*"]).registry.error_list()
    assert any("requirements.txt:1: option '--index-url'" in e for e in errors), errors
    assert any("requirements.txt:2: foo: URLs and paths are not allowed" in e for e in errors), errors


# -- an app's own static folder, in both tiers ---------------------------------------

SITE_ROOT_APP = """\
    from flask import Flask, request, url_for
    app = Flask(__name__, static_url_path="")

    @app.route("/about.html")
    def about():
        return "the view " + url_for("static", filename="style.css")

    @app.errorhandler(404)
    def missing(e):
        return f"none at {request.path} ({request.endpoint})", 404
    """


COMPUTED_FOLDERS_APP = """\
    import os
    from flask import Flask, render_template, url_for
    BASE_DIR = os.path.abspath(os.path.dirname(__file__))
    app = Flask(__name__, static_folder=os.path.join(BASE_DIR, "client", "build"),
                static_url_path="/", template_folder=os.path.join(BASE_DIR, "views"))

    @app.route("/")
    def index():
        return render_template("index.html", js=url_for("static", filename="app.js"),
                               same=app.static_folder == os.path.join(BASE_DIR, "client", "build"))
    """


def test_static_url_path_empty_is_served_at_the_site_root_in_both_tiers(tmp_path):
    """``Flask(__name__, static_url_path='')`` over real HTTP: the serving
    process answers the files at the tenant's root for a sandboxed and a
    process tenant alike, a view shadows a file, and a missing file is the
    app's own 404 (its own process's, for a process tenant). Folders
    computed from the module's location (``os.path.join(BASE_DIR, ...)``)
    are served and rendered from in both tiers too."""
    files = {"app.py": SITE_ROOT_APP, "static/style.css": "body { margin: 0 }\n",
             "static/about.html": "<p>the file</p>\n"}
    computed = {"app.py": COMPUTED_FOLDERS_APP, "client/build/app.js": "let x = 1;\n",
                "views/index.html": "<script src='{{ js }}'></script> {{ same }}"}
    process = {"tenant.toml": 'runtime = "process"\n'}
    server = server_for(tmp_path, {"boxed": files, "own": {**files, **process},
                                   "computed": computed, "computed-own": {**computed, **process}},
                        process_tenants=["own", "computed-own"])
    try:
        for name in ("boxed", "own"):
            css = server.get(f"/{name}/style.css")
            assert css.status_code == 200 and css.text == "body { margin: 0 }\n", css.text
            assert css.headers["Cache-Control"] == "no-cache" and "ETag" in css.headers
            assert server.get(f"/{name}/about.html").text == f"the view /{name}/style.css"
            missing = server.get(f"/{name}/nope.css")
            assert (missing.status_code, missing.text) == (404, "none at /nope.css (static)")
            assert server.post(f"/{name}/style.css").status_code == 405
        for name in ("computed", "computed-own"):
            page = server.get(f"/{name}/")
            assert page.text == f"<script src='/{name}/app.js'></script> True", page.text
            script = server.get(f"/{name}/app.js")
            assert (script.status_code, script.text) == (200, "let x = 1;\n")
    finally:
        server.app.close_processes()
        server.stop()

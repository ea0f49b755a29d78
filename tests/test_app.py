"""The app through werkzeug's test client: handler forms, return forms,
routing, status codes, headers, tenant API."""

import json

import pytest

from tests.conftest import admin_client


def test_method_functions_route_at_file_path(tenants):
    tenants.add("acme", {
        "hello.py": """
            def get():
                return "hi"
            def post(request):
                return "posted " + request.get_data(as_text=True)
        """,
    })
    client = tenants.client()
    assert client.get("/acme/hello").text == "hi"
    assert client.post("/acme/hello", data="x").text == "posted x"
    r = client.put("/acme/hello")
    assert r.status_code == 405
    assert r.headers["Allow"] == "GET, HEAD, OPTIONS, POST"


def test_head_follows_get_and_has_no_body(tenants):
    tenants.add("acme", {"hello.py": "def get():\n    return 'hello'\n"})
    r = tenants.client().head("/acme/hello")
    assert r.status_code == 200
    assert r.data == b""
    assert r.headers["Content-Length"] == "5"


def test_options_is_answered_by_the_server(tenants):
    tenants.add("acme", {"hello.py": "def get():\n    return 'x'\ndef delete():\n    return 'y'\n"})
    r = tenants.client().options("/acme/hello")
    assert r.status_code == 200
    assert r.headers["Allow"] == "DELETE, GET, HEAD, OPTIONS"


@pytest.mark.parametrize("source, expected", [
    ("def main():\n    return 'no-arg'\n", "no-arg"),
    ("def main(request):\n    return 'with ' + request.method\n", "with PATCH"),
])
def test_main_takes_every_method_with_or_without_request(tenants, source, expected):
    tenants.add("acme", {"fn.py": source})
    client = tenants.client()
    assert client.patch("/acme/fn").text == expected
    assert client.get("/acme/fn").status_code == 200


def test_fission_style_main_reads_flask_request(tenants):
    tenants.add("acme", {"fn.py": """
        from flask import request
        def main():
            return request.args.get("q", "none") + " " + request.headers.get("X-A", "")
    """})
    r = tenants.client().get("/acme/fn?q=1", headers={"X-A": "b"})
    assert r.text == "1 b"


def test_flask_decorators_with_converters_and_methods(tenants):
    tenants.add("acme", {"api.py": """
        from flask import Flask, jsonify, request
        app = Flask(__name__)

        @app.route("/items/<int:item_id>", methods=["GET", "PUT"])
        def item(item_id):
            return {"id": item_id, "method": request.method}

        @app.post("/items")
        def create():
            return jsonify(created=request.get_json()), 201

        @app.get("/name/<name>")
        def name(name):
            return name.upper()
    """})
    client = tenants.client()
    assert client.get("/acme/items/7").json == {"id": 7, "method": "GET"}
    assert client.put("/acme/items/7").json == {"id": 7, "method": "PUT"}
    assert client.get("/acme/items/x").status_code == 404
    assert client.delete("/acme/items/7").status_code == 405
    r = client.post("/acme/items", json={"a": 1})
    assert r.status_code == 201 and r.json == {"created": {"a": 1}}
    assert client.get("/acme/name/ada").text == "ADA"


def test_blueprint_url_prefix(tenants):
    tenants.add("acme", {"bp.py": """
        from flask import Blueprint
        bp = Blueprint("v1", __name__, url_prefix="/v1")
        @bp.get("/ping")
        def ping():
            return "pong"
    """})
    assert tenants.client().get("/acme/v1/ping").text == "pong"


def test_mux_and_flask_names_are_the_same_objects(tenants):
    tenants.add("acme", {"same.py": """
        import mux
        import flask
        def get():
            return {"same": mux.request is flask.request and mux.jsonify is flask.jsonify
                    and mux.Response is flask.Response}
    """})
    assert tenants.client().get("/acme/same").json == {"same": True}


def test_index_and_nested_folders(tenants):
    tenants.add("acme", {
        "index.py": "def get():\n    return 'root'\n",
        "api/index.py": "def get():\n    return 'api root'\n",
        "api/users.py": "def get():\n    return 'users'\n",
    })
    client = tenants.client()
    assert client.get("/acme/").text == "root"
    assert client.get("/acme/api/").text == "api root"
    assert client.get("/acme/api/users").text == "users"
    r = client.get("/acme/api")  # werkzeug's answer, as in a Flask app
    assert r.status_code == 308 and r.headers["Location"] == "http://localhost/acme/api/"
    assert "Redirecting..." in r.text
    r = client.get("/acme")
    assert r.status_code == 308 and r.headers["Location"] == "/acme/"


def test_lib_modules_are_importable_private_and_not_routed(tenants):
    tenants.add("one", {"lib/util.py": "NAME = 'one'\n",
                        "index.py": "from lib import util\ndef get():\n    return util.NAME\n"})
    tenants.add("two", {"lib/util.py": "NAME = 'two'\n",
                        "lib/deep/mod.py": "def f():\n    return 'deep'\n",
                        "index.py": "import lib.util\nfrom lib.deep.mod import f\n"
                                    "def get():\n    return lib.util.NAME + f()\n"})
    client = tenants.client()
    assert client.get("/one/").text == "one"
    assert client.get("/two/").text == "twodeep"
    assert client.get("/one/lib/util").status_code == 404


def test_static_files_are_served_and_contained(tenants):
    tenants.add("acme", {"static/site.css": "h1 {}\n", "index.py": "def get():\n    return 'x'\n"})
    client = tenants.client()
    r = client.get("/acme/static/site.css")
    assert r.status_code == 200 and r.text == "h1 {}\n"
    assert r.headers["Content-Type"].startswith("text/css")
    assert client.get("/acme/static/../index.py").status_code == 404
    assert client.get("/acme/static/%2e%2e/index.py").status_code == 404
    assert client.get("/acme/static/missing.css").status_code == 404


@pytest.mark.parametrize("body, status, content_type, expected", [
    ("'text'", 200, "text/html; charset=utf-8", b"text"),
    ("b'raw'", 200, "text/html; charset=utf-8", b"raw"),
    ("{'a': 1}", 200, "application/json", b'{"a":1}\n'),
    ("[1, 2]", 200, "application/json", b"[1,2]\n"),
    ("('made', 201)", 201, "text/html; charset=utf-8", b"made"),
    ("('hdr', {'X-Y': 'z'})", 200, "text/html; charset=utf-8", b"hdr"),
    ("('both', 202, {'X-Y': 'z'})", 202, "text/html; charset=utf-8", b"both"),
    ("mux.Response('r', status=203, mimetype='text/plain')", 203, "text/plain; charset=utf-8", b"r"),
    ("mux.jsonify(a=1)", 200, "application/json", b'{"a":1}\n'),
    ("mux.make_response('m', 206)", 206, "text/html; charset=utf-8", b"m"),
    ("(mux.jsonify([1]), 207)", 207, "application/json", b"[1]\n"),
])
def test_return_forms(tenants, body, status, content_type, expected):
    tenants.add("acme", {"r.py": f"import mux\ndef get():\n    return {body}\n"})
    r = tenants.client().get("/acme/r")
    assert r.status_code == status, r.text
    assert r.headers["Content-Type"] == content_type
    assert r.data == expected


def test_headers_from_tuple_are_sent(tenants):
    tenants.add("acme", {"r.py": "def get():\n    return ('x', 200, {'X-Y': 'z'})\n"})
    assert tenants.client().get("/acme/r").headers["X-Y"] == "z"


def test_generator_streams(tenants):
    tenants.add("acme", {"s.py": """
        def get():
            def chunks():
                for i in range(3):
                    yield f"{i},"
            return chunks()
    """})
    assert tenants.client().get("/acme/s").text == "0,1,2,"


def test_response_object_mutation_cookies_and_redirect(tenants):
    tenants.add("acme", {"r.py": """
        import mux
        def get():
            resp = mux.Response("body")
            resp.status_code = 202
            resp.headers["X-Custom"] = "1"
            resp.set_cookie("sid", "abc", httponly=True)
            return resp
        def post():
            return mux.redirect("/acme/elsewhere", 303)
    """})
    client = tenants.client()
    r = client.get("/acme/r")
    assert r.status_code == 202 and r.headers["X-Custom"] == "1"
    assert "sid=abc" in r.headers["Set-Cookie"] and "HttpOnly" in r.headers["Set-Cookie"]
    r = client.post("/acme/r")
    assert r.status_code == 303 and r.headers["Location"] == "/acme/elsewhere"


@pytest.mark.parametrize("body", ["None", "42", "object_like()", "('a', 'b', 'c', 'd')", "('x', 'bad')"])
def test_bad_return_values_are_500_with_request_id(tenants, body):
    tenants.add("acme", {"r.py": f"def object_like():\n    return 1.5j\ndef get():\n    return {body}\n"})
    app = tenants.app()
    from werkzeug.test import Client

    r = Client(app).get("/acme/r")
    assert r.status_code == 500
    assert r.headers["X-Request-Id"] in r.text
    assert "Traceback" not in r.text
    assert app.logs.tail("acme")


def test_abort_and_errorhandler(tenants):
    tenants.add("acme", {"a.py": """
        from flask import Flask, abort
        app = Flask(__name__)
        @app.get("/gone")
        def gone():
            abort(410, "it left")
        @app.get("/teapot")
        def teapot():
            abort(418)
        @app.errorhandler(418)
        def short(e):
            return "custom teapot", 418
    """})
    client = tenants.client()
    r = client.get("/acme/gone")
    assert r.status_code == 410 and "it left" in r.text
    r = client.get("/acme/teapot")
    assert r.status_code == 418 and r.text == "custom teapot"


def test_tenant_exception_is_500_traceback_in_log_not_body(tenants):
    tenants.add("acme", {"boom.py": "def get():\n    raise ValueError('secret detail')\n"})
    app = tenants.app()
    from werkzeug.test import Client

    r = Client(app).get("/acme/boom")
    assert r.status_code == 500
    assert "secret detail" not in r.text
    rid = r.headers["X-Request-Id"]
    assert rid in r.text
    lines = app.logs.tail("acme")
    assert any("ValueError: secret detail" in e["line"] and e["request_id"] == rid for e in lines)
    assert any("boom.py" in e["line"] for e in lines)


def test_debug_puts_traceback_in_body(tenants):
    tenants.add("acme", {"boom.py": "def get():\n    raise ValueError('shown')\n"})
    r = tenants.client(debug=True).get("/acme/boom")
    assert r.status_code == 500 and "ValueError: shown" in r.text


def test_module_that_fails_to_load_is_500(tenants):
    tenants.add("acme", {"bad.py": "x = 1 / 0\ndef get():\n    return 'never'\n"})
    app = tenants.app()
    from werkzeug.test import Client

    r = Client(app).get("/acme/bad")
    assert r.status_code == 500
    assert any("ZeroDivisionError" in e["line"] for e in app.logs.tail("acme"))


def test_unknown_tenant_and_route_are_404(tenants):
    tenants.add("acme", {"a.py": "def get():\n    return 'a'\n"})
    client = tenants.client()
    assert client.get("/nobody/a").status_code == 404
    assert client.get("/acme/b").status_code == 404
    assert client.get("/").status_code == 404


def test_every_response_has_request_id_and_server_timing(tenants):
    tenants.add("acme", {"a.py": "def get():\n    return 'a'\n"})
    client = tenants.client()
    first = client.get("/acme/a")
    assert first.headers["X-Request-Id"]
    assert first.headers["Server-Timing"].startswith("load;dur=")
    assert "exec;dur=" in first.headers["Server-Timing"]
    second = client.get("/acme/a")
    assert second.headers["Server-Timing"].startswith("exec;dur=")
    assert client.get("/missing/").headers["X-Request-Id"]
    assert client.get("/_mux/healthz").headers["X-Request-Id"]


def test_incoming_request_id_is_kept_when_sane(tenants):
    tenants.add("acme", {"a.py": "def get():\n    return 'a'\n"})
    client = tenants.client()
    assert client.get("/acme/a", headers={"X-Request-Id": "abc-123"}).headers["X-Request-Id"] == "abc-123"
    bad = client.get("/acme/a", headers={"X-Request-Id": "a b\tc"}).headers["X-Request-Id"]
    assert bad != "a b\tc"


def test_body_over_max_body_is_413(tenants):
    tenants.add("acme", {"a.py": "def post(request):\n    return str(len(request.data))\n"})
    client = tenants.client(max_body=0.001)
    assert client.post("/acme/a", data=b"x" * 500).text == "500"
    assert client.post("/acme/a", data=b"x" * 5000).status_code == 413


def test_module_globals_persist_while_warm(tenants):
    tenants.add("acme", {"c.py": "n = 0\ndef get():\n    global n\n    n += 1\n    return str(n)\n"})
    client = tenants.client()
    assert [client.get("/acme/c").text for _ in range(3)] == ["1", "2", "3"]


def test_host_routing_by_base_domain_and_manifest_hosts(tenants):
    tenants.add("acme", {"index.py": "def get(request):\n    return 'acme ' + request.path\n",
                         "tenant.toml": 'hosts = ["api.acme.test"]\n'})
    tenants.add("beta", {"index.py": "def get():\n    return 'beta'\n"})
    client = tenants.client(base_domain="example.test",
                            hosts={"acme": ["api.acme.test", "beta.example.test"]})
    assert client.get("/", headers={"Host": "acme.example.test"}).text == "acme /"
    # The operator's assignment wins over the name under the base domain,
    # as in the map nginx-conf writes (exact names before the regex).
    assert client.get("/", headers={"Host": "beta.example.test"}).text == "acme /"
    assert client.get("/", headers={"Host": "api.acme.test:8080"}).text == "acme /"
    assert client.get("/acme/", headers={"Host": "other.test"}).text == "acme /"
    assert client.get("/", headers={"Host": "nobody.example.test"}).status_code == 404


def test_request_path_is_relative_to_the_tenant_mount(tenants):
    tenants.add("acme", {"p.py": """
        def get(request):
            return {"path": request.path, "script_root": request.script_root,
                    "full_path": request.full_path, "args": request.args.get("a")}
    """})
    assert tenants.client().get("/acme/p?a=1").json == {
        "path": "/p", "script_root": "/acme", "full_path": "/p?a=1", "args": "1"}


def test_env_from_manifest_is_read_only(tenants):
    tenants.add("acme", {"e.py": """
        import mux
        def get():
            try:
                mux.env["X"] = "changed"
            except TypeError:
                pass
            return dict(mux.env)
    """, "tenant.toml": '[env]\nX = "one"\nN = 3\n'})
    assert tenants.client().get("/acme/e").json == {"X": "one", "N": 3}


def test_print_goes_to_tenant_log_not_stdout(tenants, capsys):
    tenants.add("acme", {"p.py": "def get():\n    print('to the log', 42)\n    return 'ok'\n"})
    app = tenants.app()
    from werkzeug.test import Client

    r = Client(app).get("/acme/p")
    assert r.text == "ok"
    assert "to the log" not in capsys.readouterr().out
    entry = app.logs.tail("acme")[-1]
    assert entry["line"] == "to the log 42" and entry["request_id"] == r.headers["X-Request-Id"]


def test_request_json_errors_are_4xx(tenants):
    tenants.add("acme", {"j.py": "def post(request):\n    return request.json\n"})
    client = tenants.client()
    assert client.post("/acme/j", data="{bad", content_type="application/json").status_code == 400
    assert client.post("/acme/j", data="x", content_type="text/plain").status_code == 415


def test_json_admin_shapes(tenants):
    tenants.add("acme", {"a.py": "def get():\n    return 'a'\n"})
    client = admin_client(tenants.app())
    body = json.loads(client.post("/_mux/register", environ_base={"REMOTE_ADDR": "127.0.0.1"}).data)
    assert body["routes"][0]["tenant"] == "acme" and body["errors"] == []


def test_tenant_traceback_shows_tenant_source_not_host_files(tenants):
    """A tenant named like a standard package (``json/decoder.py``): its lines
    come from its own file, never from the host's module of the same path."""
    tenants.add("json", {"decoder.py": "def get():\n    raise KeyError('boom')  # tenant line\n"})
    app = tenants.app()
    from werkzeug.test import Client

    assert Client(app).get("/json/decoder").status_code == 500
    text = "\n".join(e["line"] for e in app.logs.tail("json"))
    assert "raise KeyError('boom')  # tenant line" in text
    assert "JSONDecoder" not in text and "site-packages" not in text


def test_framing_headers_from_tenant_code_are_dropped(tenants):
    tenants.add("acme", {"h.py": """
        def get():
            return "body", 200, {"Content-Length": "1", "Transfer-Encoding": "chunked",
                                 "Connection": "close", "X-Request-Id": "forged", "X-Ok": "1"}
    """})
    r = tenants.client().get("/acme/h")
    assert r.data == b"body" and r.headers["Content-Length"] == "4"
    assert "Transfer-Encoding" not in r.headers and r.headers["X-Ok"] == "1"
    assert r.headers.getlist("X-Request-Id") != ["forged"] and len(r.headers.getlist("X-Request-Id")) == 1


@pytest.mark.parametrize("status", ["101", "99", "1000", "'abc'"])
def test_status_outside_200_599_is_refused(tenants, status):
    tenants.add("acme", {"s.py": f"def get():\n    return 'x', {status}\n"})
    assert tenants.client().get("/acme/s").status_code == 500


def test_one_broken_tenant_folder_does_not_stop_registration(tenants):
    deep = "/".join(["d"] * 40)
    tenants.add("deep", {f"{deep}/x.py": "def get():\n    return 'x'\n"})
    tenants.add("fine", {"index.py": "def get():\n    return 'fine'\n"})
    app = tenants.app()
    from werkzeug.test import Client

    assert Client(app).get("/fine/").text == "fine"
    assert "nested more than" in " ".join(app.registry.deploy_errors["deep"].errors)


def test_tenants_never_share_random_state_or_module_objects(tenants):
    source = """
        import random, json
        def get(request):
            if request.args.get("seed"):
                random.seed(1234)
            return {"r": random.random()}
    """
    tenants.add("one", {"r.py": source})
    tenants.add("two", {"r.py": source})
    app = tenants.app()
    from werkzeug.test import Client

    client = Client(app)
    seeded = client.get("/one/r?seed=1").json["r"]
    # Seeding tenant one does not make tenant two's generator predictable.
    assert client.get("/two/r").json["r"] != seeded
    again = [client.get("/one/r?seed=1").json["r"] for _ in range(2)]
    assert again == [seeded, seeded]
    one, two = app.registry.get("one").generation.runtime, app.registry.get("two").generation.runtime
    for name in ("json", "random", "mux"):
        assert one.facade(name) is not two.facade(name)
    # One builtins dict for all (no value in it keeps state: see
    # tests/sandbox/test_shared_builtins.py); each tenant's open is its own.
    assert one.builtins is two.builtins
    assert one.module_names()["open"].__self__ is one.files is not two.files


def test_handler_missing_at_run_time_is_500_naming_file_and_line(tenants):
    tenants.add("acme", {"gone.py": "def get():\n    return 'x'\ndel get\n"})
    app = tenants.app()
    from werkzeug.test import Client

    r = Client(app).get("/acme/gone")
    assert r.status_code == 500
    assert "acme/gone.py:1: get was not defined when the module ran" in r.text
    assert any("get was not defined" in e["line"] for e in app.logs.tail("acme"))


def test_tenant_traceback_never_shows_a_host_path(tenants, live):
    """A tenant error raised inside a library of the server's venv (the
    regex engine behind ``re``) shows the tenant's frames and lines only,
    in the tenant log and in the --debug body."""
    tenants.add("acme", {"bad.py": "import re\ndef get():\n    return re.compile('(unclosed')\n"})
    server = live(debug=True)
    r = server.get("/acme/bad")
    assert r.status_code == 500
    log = "\n".join(e["line"] for e in server.app.logs.tail("acme"))
    for text in (r.text, log):
        assert "return re.compile('(unclosed')" in text and 'File "acme/bad.py", line 3' in text
        assert 'File "/' not in text and "site-packages" not in text, text


def test_cache_entry_compiled_with_an_extra_module_fails_once_it_is_removed(tenants, live):
    """The code cache key covers the operator's extra_modules: a file that
    compiled while ``colorsys`` was allowed is refused after it is removed."""
    tenants.add("acme", {"c.py": "import colorsys\ndef get():\n    return str(colorsys.ONE_THIRD)\n"})
    assert live(extra_modules=["colorsys"]).get("/acme/c").status_code == 200
    server = live()  # same cache dir, no extra module
    assert server.get("/acme/c").status_code == 404
    errors = server.admin.get("/_mux/status").json()["deploy_errors"]["acme"]["errors"]
    assert any("import colorsys" in e and "acme/c.py:1" in e for e in errors), errors


def test_traceback_keeps_only_tenant_frames_wherever_the_host_code_lives():
    """A library in a venv outside the server's checkout (the usual
    ``pip install .``) is host code too: only frames compiled under a tenant
    file name are shown."""
    from muxserver.tracebacks import format_tenant_traceback

    host = {}
    exec(compile("def fail():\n    raise ValueError('deep')\n", "/opt/venv/site-packages/lib.py",
                 "exec"), host)
    tenant = {"fail": host["fail"]}
    exec(compile("def get():\n    fail()\n", "acme/x.py", "exec"), tenant)
    try:
        tenant["get"]()
    except ValueError as exc:
        text = format_tenant_traceback(exc)
    assert 'File "acme/x.py", line 2, in get' in text and "ValueError: deep" in text
    assert "/opt/venv" not in text and "lib.py" not in text


def test_a_handler_module_the_host_loads_for_an_error_sees_no_request(tenants):
    """A module with an error handler that no module of the app imports is
    loaded by the host on the first 404 — as Flask would import it, outside
    any request: its top level cannot read the first caller's request and
    keep it for every later one."""
    tenants.add("acme", {
        "app.py": "from flask import Flask\napp = Flask(__name__)\n"
                  "@app.route('/')\ndef index():\n    return 'index'\n",
        "errors.py": "from flask import request\nfrom app import app\n"
                     "try:\n    SEEN = 'the first request: ' + request.path\n"
                     "except RuntimeError:\n    SEEN = 'no request at import'\n"
                     "@app.errorhandler(404)\ndef missing(error):\n    return SEEN, 404\n"})
    client = tenants.client()
    first = client.get("/acme/nowhere", headers={"X-Secret": "first-caller"})
    assert (first.status_code, first.get_data(as_text=True)) == (404, "no request at import")

"""Cloud Functions of our own, run by functions-framework (Cloud Functions'
own Python runtime) and by muxserver's ``gcf`` form in the same test."""

import re

import pytest
from werkzeug.test import Client

from tests.differential.harness import CloudFunctionSide

MAIN = """
    import functions_framework
    from flask import jsonify


    class Order:
        def __init__(self, item, qty):
            self.item = item
            self.qty = qty

        @classmethod
        def from_dict(cls, data):
            return cls(data["item"], int(data["qty"]))


    class Receipt:
        def __init__(self, order):
            self.text = f"{order.qty} x {order.item}"

        def to_dict(self):
            return {"receipt": self.text, "ok": True}


    @functions_framework.typed
    def order(o: Order):
        if o.qty < 0:
            raise ValueError("negative")
        return Receipt(o)


    @functions_framework.typed(Order)
    def builtin(o):
        return {"item": o.item} if o.qty else None


    @functions_framework.http
    def hello(request):
        if request.path == "/boom":
            return 1 / 0
        return jsonify(hello=request.args.get("name", "World"), path=request.path)
    """


def _files(target):
    return {"main.py": MAIN,
            "tenant.toml": f"[function]\nentrypoint = 'main.{target}'\nform = 'gcf'\n"}


@pytest.mark.parametrize("target", ["order", "builtin"])
def test_typed_functions_answer_as_functions_framework(both, target):
    pair = both(_files(target), module=f"main.py:{target}", side_class=CloudFunctionSide)
    pair.post("/", json={"item": "tea", "qty": 2})
    pair.post("/any/path", json={"item": "tea", "qty": 0})
    pair.post("/", json={"item": "tea", "qty": -1}, compare=("Content-Type", "X-Google-Status"))
    pair.post("/", json={"qty": 1})  # from_dict fails: the crash answer
    pair.post("/", data="not json", content_type="text/plain")
    # A rule for POST alone (real-code trial 5: OPTIONS was answered 200 here).
    for method in ("GET", "OPTIONS", "HEAD", "PUT"):
        refused = pair.request(method, "/", compare=("Content-Type", "Allow"))
        assert refused[1].status_code == 405 and refused[1].headers["Allow"] == "POST"


def test_a_string_annotation_is_refused_as_functions_framework_refuses_it(tenants, tmp_path):
    # `from __future__ import annotations` makes the annotation a string,
    # which functions-framework does not resolve: the module fails to load.
    files = _files("order")
    files["main.py"] = "\n    from __future__ import annotations" + files["main.py"]
    with pytest.raises(Exception) as theirs:
        CloudFunctionSide(tmp_path / "ff", files, "main.py:order")
    tenants.add("t", files)
    app = tenants.app()
    assert app.registry.error_list() == []
    ours = Client(app).post("/t/", json={"item": "tea", "qty": 2})
    assert ours.status_code == 500
    assert type(theirs.value).__name__ == "FunctionsFrameworkException"
    message = "Functions using the @typed decorator must provide the type of the input parameter"
    assert message in str(theirs.value)
    log = [line["line"] for line in app.logs.tail("t")]
    assert any("FunctionsFrameworkException: " + message in line for line in log), log


def test_http_functions_and_the_crash_answer(both):
    pair = both(_files("hello"), module="main.py:hello", side_class=CloudFunctionSide)
    pair.get("/?name=Ann")
    pair.get("/deep/path")
    pair.get("/robots.txt")
    pair.get("/favicon.ico")
    pair.get("/boom", compare=("Content-Type", "X-Google-Status"))
    # Logged as Flask logs it: where, and the tenant's traceback.
    logged = [e["line"] for e in pair.mux_app.logs.tail("t") if e["line"].startswith("Exception")]
    assert logged[-1].startswith("Exception on /boom [GET]: Traceback (most recent call last):")
    assert logged[-1].endswith("return 1 / 0\nZeroDivisionError: division by zero"), logged



#: Server errors a function makes itself (python-docs-samples' hello_error_2
#: returns ``abort(500)``), under the handlers a function may register.
FAILS = """
    import functions_framework
    from flask import abort
    from werkzeug.exceptions import InternalServerError
    HANDLER

    @functions_framework.http
    def fails(request):
        kind = request.args.get("kind")
        if kind == "described":
            abort(500, "the database is down")
        if kind == "raised":
            raise InternalServerError("raised here")
        if kind == "value":
            raise ValueError("no")
        if kind == "missing":
            abort(404)
        return abort(500)
    """
HANDLERS = {
    "none": "",
    "exception": "@functions_framework.errorhandler(Exception)\n"
                 "    def any_error(e):\n"
                 "        return f'handled {type(e).__name__}', 418\n",
    "500": "@functions_framework.errorhandler(500)\n"
           "    def server_error(e):\n"
           "        return f'mine: {e.description}', 503\n",
}


@pytest.mark.parametrize("handler", sorted(HANDLERS))
def test_an_internal_server_error_is_the_crash_handlers_unless_the_function_has_one(
        both, handler):
    """functions-framework registers its crash handler for 500 on its app:
    ``abort(500)`` answers its text and header, not werkzeug's page (real-code
    trial 7); a handler for 500 replaces it, one for ``Exception`` does not
    (a handler for the code is found first), as on Flask."""
    files = {"main.py": FAILS.replace("HANDLER", HANDLERS[handler]),
             "tenant.toml": "[function]\nentrypoint = 'main.fails'\nform = 'gcf'\n"}
    pair = both(files, module="main.py:fails", side_class=CloudFunctionSide)
    compare = ("Content-Type", "X-Google-Status")
    for kind in ("returned", "described", "raised", "value", "missing"):
        pair.get(f"/?kind={kind}", compare=compare)


#: What a function reads of the environment Cloud Functions gives it.
ENV_MAIN = """
    import os
    import functions_framework
    from flask import jsonify

    NAMES = ("FUNCTION_TARGET", "FUNCTION_SIGNATURE_TYPE", "K_SERVICE", "K_REVISION",
             "K_CONFIGURATION", "PORT", "GREETING")


    class Empty:
        @classmethod
        def from_dict(cls, data):
            return cls()


    @functions_framework.http
    def env(request):
        return jsonify({name: os.environ.get(name) for name in NAMES})


    def plain(request):
        return jsonify({name: os.getenv(name) for name in NAMES})


    @functions_framework.typed
    def typed_env(e: Empty):
        return {name: os.environ.get(name) for name in NAMES}
    """

#: The platform's part (functions-framework running locally sets only the
#: first two; Cloud Run sets the others for the function's service).
FRAMEWORK_SET = ("FUNCTION_TARGET", "FUNCTION_SIGNATURE_TYPE")


@pytest.mark.parametrize("target, method, signature", [
    ("env", "GET", "http"), ("plain", "GET", "http"), ("typed_env", "POST", "typed")])
def test_a_function_sees_the_runtime_environment_of_cloud_functions(
        both, monkeypatch, target, method, signature):
    for name in FRAMEWORK_SET:  # create_app writes them into os.environ: put back after
        monkeypatch.delenv(name, raising=False)
    files = {"main.py": ENV_MAIN,
             "tenant.toml": f"[function]\nentrypoint = 'main.{target}'\nform = 'gcf'\n"
                            "[env]\nGREETING = 'hi'\n"}
    pair = both(files, module=f"main.py:{target}", side_class=CloudFunctionSide)
    theirs, ours = pair.request(method, "/", body=False, json={})
    seen = ours.json
    assert {name: seen[name] for name in FRAMEWORK_SET} == \
        {name: theirs.json[name] for name in FRAMEWORK_SET} == \
        {"FUNCTION_TARGET": target, "FUNCTION_SIGNATURE_TYPE": signature}
    # Cloud Run's: the service is the tenant, the revision its deployed version.
    version = pair.mux_app.registry.get("t").spec.version
    assert seen["K_SERVICE"] == seen["K_CONFIGURATION"] == "t"
    assert seen["K_REVISION"] == f"t-{version[:12]}"
    assert seen["PORT"] == str(pair.mux_app.config.port)
    assert seen["GREETING"] == "hi"


def test_the_tenants_own_env_wins_over_the_platforms(tenants):
    tenants.add("fn", {
        "main.py": ENV_MAIN,
        "tenant.toml": "[function]\nentrypoint = 'main.env'\nform = 'gcf'\n"
                       "[env]\nK_SERVICE = 'mine'\nFUNCTION_TARGET = 'other'\n"})
    seen = Client(tenants.app()).get("/fn/").json
    assert (seen["K_SERVICE"], seen["FUNCTION_TARGET"]) == ("mine", "other")
    assert seen["K_CONFIGURATION"] == "fn" and seen["GREETING"] is None


def test_other_forms_see_only_their_env(tenants):
    tenants.add("flaskish", {"app.py": """
        import os
        from flask import Flask
        app = Flask(__name__)

        @app.route('/')
        def index():
            return {"env": dict(os.environ)}
        """, "tenant.toml": "[env]\nGREETING = 'hi'\n"})
    assert Client(tenants.app()).get("/flaskish/").json == {"env": {"GREETING": "hi"}}


EXECUTION_ID = {
    "main.py": """
        def execution(request):
            return {"id": request.headers.get("Function-Execution-Id")}
        """,
    "tenant.toml": "[function]\nentrypoint = 'main.execution'\nform = 'gcf'\n",
}


def test_a_function_sees_an_execution_id_as_functions_framework_gives_it(both):
    """functions-framework's middleware adds ``Function-Execution-Id`` (12
    letters and digits) when the client sent none (real-code trial 5, its
    own tests' execution_id function); a client's is kept."""
    pair = both(EXECUTION_ID, module="main.py:execution", side_class=CloudFunctionSide)
    made = pair.get("/", body=False)
    ids = [answer.json["id"] for answer in made]
    assert all(re.fullmatch(r"[0-9A-Za-z]{12}", i) for i in ids), ids
    assert made[1].json != pair.get("/", body=False)[1].json  # one per execution
    pair.get("/", headers={"Function-Execution-Id": "abc123"})

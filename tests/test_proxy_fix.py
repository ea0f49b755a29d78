"""``app.wsgi_app = ProxyFix(app.wsgi_app, ...)``: what is refused at deploy
and at run time, and what tenant code can reach from the values it holds
(nothing but the counts). How it answers is compared with Flask in
``tests/differential/test_flask_proxy_fix.py``."""

import gc
import textwrap

import pytest
from werkzeug.test import Client

from muxserver.isolation import missing_parts
from muxserver.tenant_api import proxyfix
from tests.conftest import LiveServer

MIDDLEWARE = """
    from flask import Flask

    class Timing:
        def __init__(self, wsgi_app):
            self.wsgi_app = wsgi_app

        def __call__(self, environ, start_response):
            return self.wsgi_app(environ, start_response)

    app = Flask(__name__)
    app.wsgi_app = Timing(app.wsgi_app)

    @app.route("/")
    def index():
        return "hi"
    """


def _app(body: str) -> dict:
    return {"app.py": textwrap.dedent(body)}


def test_other_wsgi_middleware_is_refused_at_deploy_with_file_and_line(tenants):
    tenants.add("acme", _app(MIDDLEWARE))
    [error] = tenants.app().registry.error_list()
    assert "acme/app.py:12: app.wsgi_app = ... is not offered here (not ProxyFix(...))" in error
    assert "ProxyFix(app.wsgi_app, x_for=..., ...)" in error


@pytest.mark.parametrize("line, problem", [
    ("app.wsgi_app = ProxyFix(ProxyFix(ProxyFix(app.wsgi_app)))", "ProxyFix nests once at most"),
    ("app.wsgi_app = ProxyFix(other.wsgi_app)", "ProxyFix() must wrap app.wsgi_app"),
    ("app.wsgi_app = ProxyFix(app.wsgi_app, x_for=100)", "each count is a whole number from 0 to 10"),
    ("app.wsgi_app = ProxyFix(app.wsgi_app, 1, -1)", "each count is a whole number from 0 to 10"),
    ("app.wsgi_app = ProxyFix(app.wsgi_app, x_host='1')", "each count is a whole number from 0 to 10"),
    ("app.wsgi_app += 1", "it can only be assigned"),
    ("del app.wsgi_app", "it can only be assigned"),
])
def test_proxy_fix_beyond_the_offered_forms_is_refused_at_deploy(tenants, line, problem):
    tenants.add("acme", _app(f"""
        from flask import Flask
        from werkzeug.middleware.proxy_fix import ProxyFix

        app = Flask(__name__)
        other = Flask("other")
        {line}
        """))
    [error] = tenants.app().registry.error_list()
    assert f"acme/app.py:7: app.wsgi_app = ... is not offered here ({problem})" in error, error


def test_the_docs_recipe_and_its_forms_deploy(tenants):
    tenants.add("acme", _app("""
        import werkzeug.middleware.proxy_fix
        from flask import Flask
        from werkzeug.middleware import proxy_fix
        from werkzeug.middleware.proxy_fix import ProxyFix as Fix

        def create_app():
            app = Flask(__name__)
            app.wsgi_app = Fix(app.wsgi_app, x_for=1, x_proto=1, x_host=1, x_prefix=1)
            app.wsgi_app = proxy_fix.ProxyFix(app=app.wsgi_app, x_port=1)
            return app

        site = Flask(__name__)
        site.wsgi_app = werkzeug.middleware.proxy_fix.ProxyFix(site.wsgi_app)
        """))
    assert tenants.app().registry.error_list() == []


def test_a_process_tenant_may_use_any_middleware(tenants):
    tenants.add("acme", {**_app(MIDDLEWARE), "tenant.toml": 'runtime = "process"\n'})
    assert tenants.app(process_tenants=["*"]).registry.error_list() == []


#: Tenant code that sets what the deploy check cannot see, and reports
#: what each try raised.
RUN_TIME = """
    from flask import Blueprint, Flask
    from werkzeug.middleware.proxy_fix import ProxyFix

    app = Flask(__name__)
    other = Flask("other")
    bp = Blueprint("bp", __name__)

    class Sub(ProxyFix):
        pass

    def middleware(environ, start_response):
        return []

    def attempt(make):
        try:
            target, value = make()
            setattr(target, "wsgi_app", value)
            return "set"
        except Exception as exc:
            return type(exc).__name__ + ": " + str(exc)

    @app.route("/")
    def index():
        return {
            "function": attempt(lambda: (app, middleware)),
            "other app": attempt(lambda: (app, ProxyFix(other.wsgi_app))),
            "on the other app": attempt(lambda: (other, ProxyFix(other.wsgi_app))),
            "subclass": attempt(lambda: (app, Sub(app.wsgi_app))),
            "three deep": attempt(lambda: (app, ProxyFix(ProxyFix(ProxyFix(app.wsgi_app))))),
            "blueprint": attempt(lambda: (bp, ProxyFix(app.wsgi_app))),
            "bool count": attempt(lambda: (app, ProxyFix(app.wsgi_app, x_for=True))),
            "huge count": attempt(lambda: (app, ProxyFix(app.wsgi_app, x_for=10**100))),
            "wraps a function": attempt(lambda: (app, ProxyFix(middleware))),
            "same app": attempt(lambda: (app, ProxyFix(app.wsgi_app, x_for=2))),
            "x_for now": app.wsgi_app.x_for,
        }
    """


def test_everything_else_is_refused_at_run_time_with_a_clear_error(tenants):
    tenants.add("acme", _app(RUN_TIME))
    answer = Client(tenants.app()).get("/acme/")
    assert answer.status_code == 200, answer.get_data()
    got = answer.json
    only_proxy_fix = "TypeError: app.wsgi_app can only be set to ProxyFix(app.wsgi_app, ...)"
    for key in ("function", "other app", "subclass"):
        assert got[key].startswith(only_proxy_fix), (key, got[key])
    assert got["on the other app"].startswith("TypeError: ProxyFix is honoured on the tenant's "
                                              "Flask app")
    assert got["three deep"] == "TypeError: ProxyFix() wraps at most one other ProxyFix here"
    assert got["blueprint"].startswith("AttributeError:")
    assert got["wraps a function"].startswith("TypeError: ProxyFix() wraps an app's wsgi_app")
    for key in ("bool count", "huge count"):
        assert got[key].startswith("ValueError: ProxyFix(x_for=...) is a whole number"), got[key]
    assert got["same app"] == "set" and got["x_for now"] == 2


#: Every road tenant code has to what it holds: names, format fields,
#: getattr, calls, writes, copies.
REACH = """
    import copy
    from flask import Flask
    from werkzeug.middleware.proxy_fix import ProxyFix

    app = Flask(__name__)
    plain = app.wsgi_app
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_host=1)
    fixed = app.wsgi_app

    NAMES = ["app", "environ", "wsgi_app", "application", "_inner", "_counts", "__call__",
             "__dict__", "__class__", "__init__", "__reduce__", "__reduce_ex__",
             "__getstate__", "__slots__", "__self__", "__wrapped__", "func", "x_for"]

    def probe(obj):
        found = {}
        for name in NAMES:
            try:
                found[name] = repr(getattr(obj, name))
            except Exception as exc:
                found[name] = "refused " + type(exc).__name__
        for field in ("{0._inner}", "{0.app}", "{0.__class__.__init__.__globals__}"):
            try:
                found[field] = field.format(obj)
            except Exception as exc:
                found[field] = "refused " + type(exc).__name__
        for name, call in (("call", lambda: obj({}, None)), ("write", lambda: setattr(obj, "x_for", 5)),
                           ("copy", lambda: repr(copy.deepcopy(obj)))):
            try:
                found[name] = repr(call())
            except Exception as exc:
                found[name] = "refused " + type(exc).__name__
        return found

    @app.route("/")
    def index():
        return {"plain": probe(plain), "fixed": probe(fixed),
                "callable": [callable(plain), callable(fixed)]}
    """


def test_what_proxy_fix_returns_and_app_wsgi_app_reach_nothing(tenants):
    """The tenant's ``ProxyFix(...)`` and ``app.wsgi_app`` are values of the
    sandbox: their counts, and nothing else — no WSGI callable to call into
    host code, no ``app`` leading to a host object, no environ."""
    tenants.add("acme", _app(REACH))
    answer = Client(tenants.app()).get("/acme/")
    assert answer.status_code == 200, answer.get_data()
    got = answer.json
    assert got["callable"] == [False, False]
    for which in ("plain", "fixed"):
        reached = {name: value for name, value in got[which].items()
                   if not value.startswith("refused")}
        expected = {"x_for": "1"} if which == "fixed" else {}
        # a deep copy, where one is made, is a new value of the same kind
        assert reached.pop("copy", "<ProxyFix").startswith(("<ProxyFix", "<wsgi_app")), got[which]
        assert reached == expected, (which, reached)


def test_the_values_hold_no_host_object():
    """From the host's side: what a ProxyFix value refers to is its inner
    value and its counts, plain ints — no callable, no environ."""
    own = proxyfix.WsgiApp()
    fixed = proxyfix.ProxyFix(proxyfix.ProxyFix(own, x_host=1), x_prefix=2)
    held, seen = [fixed], []
    while held:
        value = held.pop()
        seen.append(type(value))
        held.extend(r for r in gc.get_referents(value)
                    if not isinstance(r, type) and type(r) not in (int,))
    assert set(seen) <= {proxyfix.ProxyFix, proxyfix.WsgiApp, tuple}, seen
    assert proxyfix.counts_of(fixed) == ((1, 1, 0, 0, 2), (1, 1, 1, 0, 0))


PROCESS_APP = {
    "tenant.toml": 'runtime = "process"\n',
    "app.py": """\
        from flask import Flask, request, url_for
        from werkzeug.middleware.proxy_fix import ProxyFix

        app = Flask(__name__)
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)

        @app.route("/")
        def index():
            return {"remote_addr": request.remote_addr,
                    "external": url_for("index", _external=True),
                    "middleware": type(app.wsgi_app).__module__}
        """,
}


@pytest.mark.skipif(bool(missing_parts()), reason="the process tier needs the kernel's isolation")
def test_a_process_tenant_runs_werkzeugs_own_proxy_fix(tenants):
    tenants.add("acme", PROCESS_APP)
    server = LiveServer(tenants.app(process_tenants=["*"]))
    try:
        answer = server.get("/acme/", headers={"X-Forwarded-For": "203.0.113.5",
                                               "X-Forwarded-Proto": "https",
                                               "X-Forwarded-Host": "shop.example.com"})
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"remote_addr": "203.0.113.5",
                                 "external": "https://shop.example.com/acme/",
                                 "middleware": "werkzeug.middleware.proxy_fix"}
    finally:
        server.app.close_processes()
        server.stop()

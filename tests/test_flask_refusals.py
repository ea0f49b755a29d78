"""What the sandbox's Flask does not offer is refused at deploy with file
and line, never left to differ at run time (issue 24); a process-tier
tenant runs Flask itself, so nothing of this is refused there."""

import sqlite3

JINJA_EXTENSION = {"app.py": """
    from flask import Flask

    app = Flask(__name__)
    app.jinja_env.filters["ok"] = str.upper
    app.jinja_env.add_extension("jinja2.ext.do")

    @app.route("/")
    def index():
        return "hi"
    """}


def test_it_refuses_a_jinja_env_name_it_does_not_offer_with_file_and_line(tenants):
    tenants.add("acme", JINJA_EXTENSION)
    errors = tenants.app().registry.error_list()
    assert len(errors) == 1, errors
    assert "acme/app.py:6:" in errors[0]
    assert "jinja_env.add_extension is not offered here" in errors[0]
    assert "filters, globals, lstrip_blocks, tests, trim_blocks" in errors[0]


def test_the_offered_jinja_env_names_deploy(tenants):
    tenants.add("acme", {"app.py": JINJA_EXTENSION["app.py"].replace(
        'app.jinja_env.add_extension("jinja2.ext.do")',
        "app.jinja_env.trim_blocks = app.jinja_env.lstrip_blocks = True\n"
        "    app.jinja_env.globals.update(x=1)\n    app.jinja_env.tests['t'] = bool")})
    assert tenants.app().registry.error_list() == []


def test_a_process_tenant_may_use_all_of_jinja_env(tenants):
    tenants.add("acme", {**JINJA_EXTENSION, "tenant.toml": 'runtime = "process"\n'})
    assert tenants.app(process_tenants=["*"]).registry.error_list() == []


REQUEST_NAMES_APP = {"app.py": """
    import flask
    from flask import Flask, request
    from mux import request as req

    app = Flask(__name__)

    @app.route("/")
    def index():
        return request.args.get("q", "") + str(request.accept_languages) + req.method

    @app.route("/raw")
    def raw():
        return str(flask.request.environ["wsgi.input"])

    def helper(request):  # its own parameter, not Flask's request
        return request.environ
    """}


def test_it_refuses_a_request_name_it_does_not_offer_with_file_and_line(tenants):
    """Flask's request.environ (or url_rule...) is refused at deploy, under
    any import of it; what the sandbox's request has deploys."""
    tenants.add("acme", REQUEST_NAMES_APP)
    errors = tenants.app().registry.error_list()
    assert len(errors) == 1, errors
    assert "acme/app.py:14:" in errors[0] and "request.environ is not offered here" in errors[0]
    tenants.add("acme", {"app.py": REQUEST_NAMES_APP["app.py"].replace(
        'str(flask.request.environ["wsgi.input"])', "flask.request.full_path")})
    assert tenants.app().registry.error_list() == []


def test_setting_a_name_on_the_request_is_refused_with_file_and_line(tenants):
    """Flask's request takes attributes (``request.start_time = time.time()``
    in a before_request hook); the sandbox's cannot be changed, which was a
    TypeError on every request: refused at deploy, pointing at flask.g."""
    tenants.add("acme", {"app.py": """
        import time
        from flask import Flask, g, request

        app = Flask(__name__)

        @app.before_request
        def start():
            request.start_time = time.time()

        @app.route("/")
        def index():
            return "hi"
        """})
    errors = tenants.app().registry.error_list()
    assert len(errors) == 1 and "acme/app.py:9:" in errors[0], errors
    assert "setting request.start_time is not offered here" in errors[0]
    assert "g.start_time = ..." in errors[0]


def test_a_process_tenant_may_read_every_request_name(tenants):
    tenants.add("acme", {**REQUEST_NAMES_APP, "tenant.toml": 'runtime = "process"\n'})
    assert tenants.app(process_tenants=["*"]).registry.error_list() == []


APP_NAMES_APP = {"app.py": """
    from flask import Flask, current_app, request

    site = Flask(__name__)
    site.db = {"hits": 0}  # the tenant's own name: Flask's app has none such

    @site.after_request
    def cors(response):
        allowed = current_app.make_default_options_response().headers["allow"]
        response.headers.add("Access-Control-Allow-Methods", allowed)
        return response

    @site.route("/")
    def index():
        site.db["hits"] += 1
        return str(site.db["hits"])
    """}


def test_it_refuses_a_flask_app_name_it_does_not_offer_with_file_and_line(tenants):
    """A name Flask 3.1's app has and the sandbox's does not, read or set on
    ``current_app``, ``app`` or the module's ``Flask(...)``, is refused at
    deploy (it was an AttributeError on the first request); the tenant's own
    names on its app deploy."""
    tenants.add("acme", APP_NAMES_APP)
    errors = tenants.app().registry.error_list()
    assert len(errors) == 1, errors
    assert "acme/app.py:9:" in errors[0]
    assert "current_app.make_default_options_response is not offered here" in errors[0]
    tenants.add("acme", {"app.py": APP_NAMES_APP["app.py"].replace(
        'current_app.make_default_options_response().headers["allow"]', '"GET"')
        + "    site.session_interface = None\n"})
    errors = tenants.app().registry.error_list()
    assert len(errors) == 1 and "acme/app.py:17:" in errors[0], errors
    assert "site.session_interface is not offered here" in errors[0]
    tenants.add("acme", {"app.py": APP_NAMES_APP["app.py"].replace(
        'current_app.make_default_options_response().headers["allow"]', '"GET"')})
    app = tenants.app()
    assert app.registry.error_list() == []


def test_a_project_that_ships_its_tests_deploys_with_warnings(tenants):
    """Names the sandbox does not offer are refused where a request can
    reach them, as imports are: a project's own ``tests/`` (pytest,
    ``app.test_client()``) and ``setup.py`` are warnings, not refusals."""
    tenants.add("acme", {
        "app.py": "from flask import Flask\napp = Flask(__name__)\n"
                  "@app.route('/')\ndef index():\n    return 'hi'\n",
        "tests/test_app.py": "import pytest\nfrom app import app\n\n"
                             "def test_index():\n"
                             "    assert app.test_client().get('/').data == b'hi'\n",
        "setup.py": "from setuptools import setup\nsetup(name='acme')\n",
    })
    app = tenants.app()
    assert app.registry.error_list() == []
    warnings = app.registry.get("acme").spec.warnings
    assert any("acme/tests/test_app.py:5: app.test_client is not offered here" in w
               for w in warnings), warnings
    # The same call in a module a request reaches is refused.
    tenants.add("acme", {"app.py": "from flask import Flask\napp = Flask(__name__)\n"
                                   "@app.route('/')\ndef index():\n"
                                   "    return app.test_client().get('/').data\n"})
    [error] = tenants.app().registry.error_list()
    assert "acme/app.py:5: app.test_client is not offered here" in error, error


def test_a_process_tenant_may_use_every_flask_app_name(tenants):
    tenants.add("acme", {**APP_NAMES_APP, "tenant.toml": 'runtime = "process"\n'})
    assert tenants.app(process_tenants=["*"]).registry.error_list() == []


def test_the_flask_app_names_are_flask_3_1s():
    """The list the check reads is every public name of a Flask app, and
    the sandbox's app declares exactly the names the check lets through."""
    import flask

    from muxserver.tenancy.app_names import APP_NAMES
    from muxserver.tenancy.app_names import FLASK_APP_NAMES
    from muxserver.tenant_api.shim import Flask
    from sandbox.guards.declared import public_names

    assert FLASK_APP_NAMES == {n for n in dir(flask.Flask("x")) if not n.startswith("_")}
    assert public_names(Flask) == APP_NAMES


NESTED_BLUEPRINTS = {"app.py": """
    from flask import Blueprint, Flask

    app = Flask(__name__)
    parent = Blueprint("parent", __name__, url_prefix="/parent")
    child = Blueprint("child", __name__, url_prefix="/child")

    @child.route("/")
    def inside():
        return "child"

    parent.register_blueprint(child)
    app.register_blueprint(parent)
    """}


def test_nested_and_renamed_blueprints_are_refused_with_file_and_line(tenants):
    """Where Flask would serve /parent/child/, the sandbox's Flask would 404:
    refused at deploy instead, as is one blueprint registered twice."""
    tenants.add("acme", NESTED_BLUEPRINTS)
    errors = tenants.app().registry.error_list()
    assert len(errors) == 1 and "acme/app.py:12:" in errors[0], errors
    assert "nested blueprints" in errors[0]
    tenants.add("acme", {"app.py": NESTED_BLUEPRINTS["app.py"].replace(
        "parent.register_blueprint(child)",
        "app.register_blueprint(child, url_prefix='/one')\n"
        "    app.register_blueprint(child, url_prefix='/two', name='again')")})
    errors = tenants.app().registry.error_list()
    assert len(errors) == 1 and "acme/app.py:13:" in errors[0] and "name=" in errors[0], errors


def test_a_registration_renaming_the_blueprint_is_refused_even_as_none(tenants):
    """Flask 3.1 reads ``options.get("name", bp.name)``: ``name=None``
    names the blueprint ``None`` (``url_for("b.x")`` fails, its endpoints
    are ``None.x``), and ``name_prefix="p"`` makes them ``p.b.x``; the
    sandbox's Flask kept ``b.x`` for both, silently. Refused with the line,
    as ``name="again"`` is; ``subdomain=None`` still changes nothing."""
    source = """
    from flask import Flask, Blueprint, url_for

    app = Flask(__name__)
    bp = Blueprint("b", __name__)

    @bp.route("/x")
    def x():
        return url_for("b.x")

    app.register_blueprint(bp, OPTION)
    """
    for option in ("name=None", "name_prefix='p'", "name_prefix=None"):
        tenants.add("acme", {"app.py": source.replace("OPTION", option)})
        errors = tenants.app().registry.error_list()
        assert len(errors) == 1 and "acme/app.py:11:" in errors[0], (option, errors)
        assert option.split("=")[0] + "=" in errors[0], errors
    tenants.add("acme", {"app.py": source.replace("OPTION", "subdomain=None")})
    assert tenants.client().get("/acme/x").get_data(as_text=True) == "/acme/x"


CHANGED_DEFAULTS = {"app.py": """
    from flask import Flask, Blueprint

    app = Flask(__name__)
    LANG = {"lang": "en"}
    LANG["lang"] = "fr"
    bp = Blueprint("b", __name__, url_defaults=LANG)

    @bp.route("/x")
    def x(lang):
        return lang

    app.register_blueprint(bp)
    """}


def test_defaults_from_a_dict_the_module_changes_are_refused_with_file_and_line(tenants):
    """``url_defaults=LANG`` (or a route's ``defaults=``) of a dict the
    module changes before Flask reads it (or after: werkzeug keeps a
    route's dict itself) was read as first written: ``en`` served where
    Flask serves ``fr``. Refused with the line; a dict used only as a
    keyword's value is still read."""
    for change in ('LANG["lang"] = "fr"', 'LANG.update(lang="fr")', "OTHER = LANG",
                   "def later(): LANG.clear()"):
        tenants.add("acme", {"app.py": CHANGED_DEFAULTS["app.py"].replace(
            'LANG["lang"] = "fr"', change)})
        errors = tenants.app().registry.error_list()
        assert len(errors) == 1 and "acme/app.py:7:" in errors[0], (change, errors)
        assert "url_defaults=...) must be a literal dict" in errors[0], errors
    tenants.add("acme", {"app.py": CHANGED_DEFAULTS["app.py"].replace(
        'LANG["lang"] = "fr"', "pass").replace(
        "@bp.route(\"/x\")", "@app.route(\"/y\", defaults=LANG)\n    def y(lang):\n"
                               "        return lang\n\n    @bp.route(\"/x\")")})
    client = tenants.client()
    assert [client.get(p).get_data(as_text=True) for p in ("/acme/x", "/acme/y")] == ["en", "en"]


PYTHON_ONLY_BUILTINS = {"main.py": """
    import os
    from flask import Flask, request

    app = Flask(__name__)

    @app.route("/")
    def index():
        request_is_defined = "request" in globals() or "request" in locals()
        return str(request_is_defined) + str(id(app)) + str(len(vars(os)))
    """}


def test_python_builtins_the_sandbox_leaves_out_are_refused_with_file_and_line(tenants):
    """Cloud Run's logging sample asks ``"request" in globals()``: a
    NameError at the first request, before; refused at deploy now."""
    tenants.add("acme", PYTHON_ONLY_BUILTINS)
    errors = tenants.app().registry.error_list()
    assert [e.split(": ", 1)[0] for e in errors] == ["acme/main.py:9"] * 2 + ["acme/main.py:10"] * 2
    assert "'globals' is one of Python's builtins the sandbox does not offer" in errors[0]
    assert {e.split("'")[1] for e in errors} == {"globals", "locals", "id", "vars"}


def test_a_process_tenant_may_use_every_python_builtin(tenants):
    tenants.add("acme", {**PYTHON_ONLY_BUILTINS, "tenant.toml": 'runtime = "process"\n'})
    assert tenants.app(process_tenants=["*"]).registry.error_list() == []


SHIPPED_DATABASE = {
    "app.py": """
    import sqlite3
    from flask import Flask, g

    app = Flask(__name__)
    DATABASE = "database.db"

    def get_db():
        if "db" not in g:
            g.db = sqlite3.connect(DATABASE)
        return g.db

    @app.route("/")
    def index():
        return str(get_db().execute("SELECT * FROM my_table").fetchall())

    @app.route("/cache")
    def cache():
        return str(sqlite3.connect("cache.db").execute("select 1").fetchall())
    """,
}


def test_a_relative_sqlite_path_naming_a_shipped_database_is_refused(tenants):
    """Flask run from the app's folder opens the database.db shipped beside
    it; here a relative path is under /data, an empty database: refused at
    deploy, with file and line, rather than answering from another one."""
    tenants.add("shop", SHIPPED_DATABASE)
    db = sqlite3.connect(tenants.root / "shop" / "database.db")
    db.execute("create table my_table (id integer)")
    db.commit()
    db.close()
    errors = tenants.app().registry.error_list()
    assert len(errors) == 1, errors
    assert errors[0].startswith("shop/app.py:10: sqlite3.connect('database.db') opens "
                                "/data/database.db here"), errors


def test_a_relative_sqlite_path_without_a_shipped_file_deploys(tenants):
    tenants.add("shop", SHIPPED_DATABASE)
    assert tenants.app().registry.error_list() == []


def test_a_static_folder_or_url_this_server_would_not_follow_is_refused(tenants):
    """An app's static folder is served wherever it is inside the tenant
    (tests/differential/test_flask_static_folders.py), computed from its
    module's location too (test_flask_computed_folders.py); one outside
    it, or the tenant's own folder (its tenant.toml is no static file), a
    value the reader does not read, routing by host, a static folder set
    after the app is made, and a blueprint's folder outside the tenant are
    refused with file and line, never answered from another folder."""
    tenants.add("outside", {"app.py": """
    from flask import Flask

    app = Flask(__name__, static_folder='../frontend/build')
    """})
    tenants.add("pkg", {"web/__init__.py": """
    from flask import Flask

    app = Flask(__name__, static_folder="..")
    """})
    tenants.add("computed", {"app.py": """
    import os
    from flask import Flask

    app = Flask(__name__,
                static_folder=os.environ.get("STATIC", "static"))
    """})
    tenants.add("host", {"app.py": """
    from flask import Flask

    app = Flask(__name__, static_host="cdn.example.com", host_matching=True)
    """})
    tenants.add("later", {"app.py": """
    from flask import Flask

    app = Flask(__name__)
    app.static_folder = "assets"
    """})
    tenants.add("bp", {"app.py": """
    from flask import Flask, Blueprint

    app = Flask(__name__, "/static", "static")
    admin = Blueprint("admin", __name__, static_folder="../assets")
    """})
    tenants.add("fine", {"app.py": """
    from flask import Flask, Blueprint

    app = Flask(__name__, static_folder="static", static_url_path="/static")
    api = Flask("api", static_folder=None)
    admin = Blueprint("admin", __name__, template_folder="templates")

    @app.route("/")
    def index():
        return "hi"
    """})
    errors = sorted(tenants.app().registry.error_list())
    assert len(errors) == 6, errors
    assert errors[0].startswith("bp/app.py:5: Blueprint(static_folder='../assets') is outside "
                                "the tenant's folder: a static folder is a folder inside the "
                                "tenant"), errors
    assert errors[1].startswith(
        "computed/app.py:5: Flask(static_folder=os.environ.get('STATIC', 'static')) is not "
        "offered here: the server reads the folder at deploy, running no code, from a "
        "literal, __file__, os.getcwd(), os.path.join/dirname/abspath/realpath/normpath, "
        "str(), + and f-strings of those, and names bound once to them"), errors
    assert errors[2].startswith("host/app.py:4: Flask(static_host='cdn.example.com') is not "
                                "offered here: routing by host is not"), errors
    assert errors[3].startswith("later/app.py:5: setting app.static_folder is not offered "
                                "here"), errors
    assert errors[4].startswith("outside/app.py:4: Flask(static_folder='../frontend/build') "
                                "is outside the tenant's folder"), errors
    assert errors[5].startswith("pkg/web/__init__.py:4: Flask(static_folder='..') is the "
                                "tenant's own folder"), errors


def test_a_computed_folder_the_reader_cannot_follow_is_refused_with_file_and_line(tenants):
    """Folders computed from ``__file__`` deploy when they are inside the
    tenant; computed outside it (static or template folder), from a name
    the reader does not follow (imported, a parameter, bound twice), or in
    a blueprint made inside a function, they are refused, saying the value
    where it was computed."""
    tenants.add("above", {"app.py": """
    import os
    from flask import Flask

    BASE_DIR = os.path.abspath(os.path.dirname(__file__))
    app = Flask(__name__, static_folder=os.path.join(BASE_DIR, "..", "build"))
    """})
    tenants.add("templates", {"web/__init__.py": """
    from os import path
    from flask import Blueprint

    bp = Blueprint("bp", __name__,
                   template_folder=path.join(path.dirname(path.dirname(__file__)), "..", "t"))
    """})
    tenants.add("imported", {"settings.py": "STATIC = 'static'\n", "app.py": """
    from flask import Flask
    from settings import STATIC

    app = Flask(__name__, static_folder=STATIC)
    """})
    tenants.add("param", {"app.py": """
    import os
    from flask import Flask

    def create_app(folder="static"):
        base = os.path.dirname(__file__)
        base = os.path.dirname(base)
        return Flask(__name__, static_folder=os.path.join(base, folder))
    """})
    tenants.add("inner", {"app.py": """
    import os
    from flask import Flask, Blueprint

    app = Flask(__name__)

    def make():
        return Blueprint("admin", __name__, static_folder=os.path.dirname(__file__) + "/x")
    """})
    tenants.add("deploys", {"app.py": """
    import os
    from flask import Flask

    STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")

    def create_app():
        here = os.path.dirname(__file__)
        return Flask(__name__, static_folder=STATIC, template_folder=f"{here}/t")
    """})
    errors = sorted(tenants.app().registry.error_list())
    assert len(errors) == 5, errors
    assert errors[0].startswith(
        "above/app.py:6: Flask(static_folder=os.path.join(BASE_DIR, '..', 'build')) "
        "('/app/../build' here) is outside the tenant's folder"), errors
    assert errors[1].startswith("imported/app.py:5: Flask(static_folder=STATIC) is not offered "
                                "here: the server reads the folder at deploy"), errors
    assert errors[2].startswith(
        "inner/app.py:8: Blueprint(static_folder=os.path.dirname(__file__) + '/x') is not "
        "offered here: a blueprint's static_folder is served when the blueprint is made at the "
        "top of its module"), errors
    assert errors[3].startswith("param/app.py:8: Flask(static_folder=os.path.join(base, "
                                "folder)) is not offered here"), errors
    assert errors[4].startswith(
        "templates/web/__init__.py:5: Blueprint(template_folder=path.join(path.dirname("
        "path.dirname(__file__)), '..', 't')) ('/app/../t' here) is outside the tenant's folder: "
        "templates are read from folders inside the tenant"), errors


def test_a_static_folder_from_the_working_directory_is_refused_in_the_process_tier(tenants):
    """A process tenant runs in its data folder: ``os.path.abspath("static")``
    names a folder there, not the tenant's ``static/`` this server serves."""
    tenants.add("own", {"tenant.toml": 'runtime = "process"\n', "app.py": """
    import os
    from flask import Flask

    app = Flask(__name__, static_folder=os.path.abspath("static"))
    """})
    errors = tenants.app(process_tenants=["*"]).registry.error_list()
    assert errors == ["own/app.py:5: Flask(static_folder=os.path.abspath('static')) depends on "
                      "the working directory, which is the tenant's data folder in the process "
                      "tier: name it from the module's folder "
                      "(os.path.join(os.path.dirname(__file__), 'static'))"], errors


def test_an_open_no_request_could_make_is_refused_with_file_and_line(tenants):
    """OpenFaaS's workshop reads its secret from /var/openfaas/secrets/...,
    other code writes beside itself: each raised PermissionError at the
    first request. Refused at deploy unless a try catching OSError guards
    it; what a tenant can open deploys."""
    function = '[function]\nentrypoint = "handler.handle"\nform = "openfaas"\n'
    tenants.add("secret", {"tenant.toml": function, "handler.py": """
    SECRET = "/var/openfaas/secrets/payload-secret"

    def handle(req):
        with open(SECRET, "r") as f:
            key = f.read()
        with open("out/log.txt", "a") as f:
            f.write(req)
        return key
    """})
    tenants.add("fine", {"tenant.toml": function, "notes.txt": "hi\n", "handler.py": """
    def handle(req):
        try:
            with open("/var/openfaas/secrets/payload-secret") as f:
                key = f.read()
        except FileNotFoundError:
            key = None
        except OSError:
            key = "unreadable"
        with open("/data/log.txt", "a") as f:
            f.write(req)
        with open("notes.txt") as f:
            return f.read() + str(key)
    """})
    errors = tenants.app().registry.error_list()
    assert len(errors) == 2, errors
    assert errors[0].startswith("secret/handler.py:5: open('/var/openfaas/secrets/payload-secret')"
                                " is outside this tenant's files"), errors
    assert errors[1].startswith("secret/handler.py:7: open('out/log.txt', 'a') writes under /app"
                                ", the tenant's code, which is read-only here"), errors


FLASK_2_NAMES = {"app.py": """
    from flask import Flask, escape
    from markupsafe import Markup

    app = Flask(__name__)

    @app.route("/")
    def index():
        return escape("<b>") + Markup("<i>ok</i>")
    """}


def test_names_flask_3_removed_are_refused_as_flask_refuses_them(tenants):
    """``from flask import escape`` (and ``Markup``) is an ImportError on
    Flask 3.1 (real-code trial 5 found a public app that still imports it):
    refused at deploy; ``mux``'s own names are not ``flask``'s either;
    markupsafe has them."""
    tenants.add("acme", FLASK_2_NAMES)
    tenants.add("tenantapi", {"app.py": "from flask import Flask, kv\napp = Flask(__name__)\n"})
    errors = sorted(tenants.app().registry.error_list())
    assert len(errors) == 2, errors
    # Each with what to write instead.
    assert errors == ["acme/app.py:2: cannot import name 'escape' from 'flask': Flask 3.0 "
                      "removed it: `from markupsafe import escape`",
                      "tenantapi/app.py:1: cannot import name 'kv' from 'flask': it is "
                      "muxserver's tenant API: `import mux` and `mux.kv`"], errors
    fixed = FLASK_2_NAMES["app.py"].replace("from flask import Flask, escape",
                                            "from flask import Flask\n    from markupsafe import escape")
    tenants.add("acme", {"app.py": fixed})
    tenants.add("tenantapi", {"app.py": "from flask import Flask\nfrom mux import kv\n"
                                        "app = Flask(__name__)\n"})
    app = tenants.app()
    assert app.registry.error_list() == []
    from werkzeug.test import Client
    assert Client(app).get("/acme/").text == "&lt;b&gt;<i>ok</i>"


#: A Cloud Function whose error path imports a client library inside the
#: function (python-docs-samples' helloworld does), and one name werkzeug
#: has that the sandbox's werkzeug does not.
PACKAGE_IMPORTS = {"main.py": """
    import functions_framework
    from werkzeug.utils import get_content_type


    @functions_framework.http
    def hello_error(request):
        from google.cloud import error_reporting

        error_reporting.Client().report_exception()
        return "reported"
    """, "tenant.toml": "[function]\nentrypoint = 'main.hello_error'\nform = 'gcf'\n"}


def test_an_import_the_sandbox_cannot_offer_is_refused_pointing_to_the_process_tier(tenants):
    """Refused at deploy with file and line (even inside a function, where
    Python would look only when it runs), and each message says where such
    code runs instead; the process tier deploys the same files."""
    tenants.add("acme", PACKAGE_IMPORTS)
    errors = sorted(tenants.app().registry.error_list())
    assert [e.split(": ", 1)[0] for e in errors] == ["acme/main.py:3", "acme/main.py:8"], errors
    assert "cannot import name 'get_content_type' from 'werkzeug.utils'" in errors[0]
    assert "`import google.cloud` is not allowed" in errors[1]
    for error in errors:
        assert error.endswith('a tenant with runtime = "process" runs plain Python, with the '
                              "packages its requirements.txt lists"), error
    tenants.add("acme", {"tenant.toml": 'runtime = "process"\n' + PACKAGE_IMPORTS["tenant.toml"]})
    assert tenants.app(process_tenants=["*"]).registry.error_list() == []


def test_a_static_folder_no_file_system_takes_is_refused_and_str_at_the_top_deploys(tenants):
    """A NUL in a static folder was served (every request under it a 500);
    ``PORT = str(8080)`` at a module's top failed the whole registration."""
    tenants.add("nul", {"app.py": "from flask import Flask\n"
                                  "app = Flask(__name__, static_folder='st\\x00atic')\n"
                                  "@app.route('/')\ndef i():\n    return 'x'\n"})
    tenants.add("port", {"app.py": "from flask import Flask\nPORT = str(8080)\n"
                                   "app = Flask(__name__)\n"
                                   "@app.route('/')\ndef i():\n    return 'on ' + PORT\n"})
    app = tenants.app()
    errors = app.registry.error_list()
    assert [e for e in errors if e.startswith("nul/app.py:2: ")], errors
    assert any("no folder's name" in e for e in errors), errors
    assert not [e for e in errors if e.startswith("port/")], errors
    from werkzeug.test import Client

    assert Client(app).get("/port/").text == "on 8080"

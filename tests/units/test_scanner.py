"""Scanning a tenant folder: routes, libs, static, errors — no tenant code runs."""

from muxserver.tenancy.codecache import CodeCache
from muxserver.tenancy.manifest import TenantRules
from muxserver.tenancy.scanner import list_tenants
from muxserver.tenancy.scanner import scan_tenant
from tests.conftest import write_tenant


def scan(tmp_path, files, name="acme"):
    root = write_tenant(tmp_path / "tenants", name, files)
    return scan_tenant(root, name, CodeCache(tmp_path / "cache"), TenantRules())


def test_routes_libs_and_static_are_read_without_running_anything(tmp_path):
    marker = tmp_path / "ran"
    spec = scan(tmp_path, {
        "index.py": f"open({str(marker)!r}, 'w')\ndef get():\n    return 'x'\n",
        "api/users.py": "def get():\n    pass\ndef post():\n    pass\n",
        "lib/db.py": "X = 1\n",
        "static/a.txt": "a",
        ".hidden.py": "import os\n",
    })
    assert not marker.exists()
    assert sorted((r.rule, r.methods) for r in spec.routes) == [
        ("/", ("GET",)), ("/api/users", ("GET",)), ("/api/users", ("POST",))]
    assert {"lib", "lib.db", "index", "api", "api.users"} <= set(spec.sources) and spec.has_static
    assert ".hidden" not in spec.modules


def test_every_error_is_reported_with_file_and_line(tmp_path):
    spec = scan(tmp_path, {"a.py": "def get():\n    return (\n", "b.py": "\n\nimport socket\ndef get():\n    pass\n",
                           "tenant.toml": "[limits]\ncpu_ms = 'x'\n"})
    assert not spec.ok
    joined = "\n".join(spec.errors)
    assert "acme/a.py:" in joined and "acme/b.py:3:" in joined and "acme/tenant.toml:2:" in joined


def test_reserved_names_and_bad_folder_names(tmp_path):
    assert "is reserved" in scan(tmp_path, {"index.py": "def get():\n    pass\n"}, "flask").errors[0]
    (tmp_path / "tenants" / "Bad_Name").mkdir(parents=True)
    names, warnings = list_tenants(tmp_path / "tenants")
    assert "Bad_Name" not in names and any("Bad_Name" in w for w in warnings)


def _rules(spec):
    return sorted((r.rule, r.file, r.handler, r.defaults) for r in spec.routes)


def test_an_app_made_in_a_package_and_routed_in_its_views_module(tmp_path):
    """Flask's "larger applications" pattern: routes on an app imported from
    another module of the tenant, prefixes from where blueprints are mounted."""
    spec = scan(tmp_path, {
        "shop/__init__.py": "from flask import Flask\n__all__ = ['app']\napp = Flask(__name__)\n"
                            "PREFIX = '/shop'\nimport shop.views\nfrom shop import admin\n"
                            "app.register_blueprint(admin.bp, url_prefix=PREFIX + '/admin')\n",
        "shop/views.py": "from shop import app\nROOT = 'home'\n@app.route('/' + ROOT)\n"
                         "async def home():\n    return 'x'\n"
                         "@app.get(f'/{ROOT}/<int:n>', )\ndef item(n):\n    return 'x'\n",
        "shop/admin.py": "from flask import Blueprint\nbp = Blueprint('admin', __name__, "
                         "url_prefix='/own')\n@bp.route('/users', defaults={'page': 1})\n"
                         "@bp.route('/users/<int:page>')\ndef users(page):\n    return 'x'\n",
    })
    assert spec.ok, spec.errors
    assert _rules(spec) == [
        ("/home", "shop/views.py", "home", ()),
        ("/home/<int:n>", "shop/views.py", "item", ()),
        ("/shop/admin/users", "shop/admin.py", "users", (("page", 1),)),
        ("/shop/admin/users/<int:page>", "shop/admin.py", "users", ()),
    ]
    assert "shop" in spec.app_modules


def test_flask_routes_in_a_package_init_are_routed(tmp_path):
    spec = scan(tmp_path, {"app/__init__.py": "from flask import Flask\napp = Flask(__name__)\n"
                                              "@app.route('/')\ndef index():\n    return 'x'\n"})
    assert spec.ok and _rules(spec) == [("/", "app/__init__.py", "index", ())]


def test_routes_on_what_is_not_an_app_and_unreadable_prefixes_are_errors(tmp_path):
    spec = scan(tmp_path, {
        "helpers.py": "class Router:\n    def route(self, rule):\n        return lambda f: f\n"
                      "router = Router()\n",
        "views.py": "from helpers import router\n@router.route('/x')\ndef x():\n    return 'x'\n",
        "app.py": "from flask import Flask\nimport views\napp = Flask(__name__)\n"
                  "def prefix():\n    return '/p'\n"
                  "app.register_blueprint(views.bp, url_prefix=prefix())\n",
    })
    joined = "\n".join(spec.errors)
    assert "acme/views.py:3: @router.route(...) is on 'router' from 'helpers'" in joined
    assert "acme/app.py:6: register_blueprint(url_prefix=...) must be a string literal" in joined


def test_a_spec_crosses_to_a_serving_process_whole_and_its_tables_stay_read_only(tmp_path):
    # Tenants with equal tables share them (issue 26), so a table nobody may
    # change must refuse changes, also once unpickled in a serving process.
    import pickle

    import pytest

    spec = scan(tmp_path, {"index.py": "def get():\n    return 'x'\n",
                           "shop/__init__.py": "from flask import Flask\napp = Flask(__name__)\n"
                                               "@app.errorhandler(404)\ndef nf(e):\n    return 'n'\n"
                                               "@app.route('/s')\ndef s():\n    return 's'\n"})
    assert spec.ok, spec.errors
    copy = pickle.loads(pickle.dumps(spec, protocol=pickle.HIGHEST_PROTOCOL))
    assert copy == spec and copy.modules == spec.modules and copy.error_handlers[404] == ("shop",)
    assert copy.modules["shop/__init__"].key == copy.sources["shop"].key
    for table in (spec.modules, spec.sources, spec.error_handlers, copy.modules, copy.sources):
        with pytest.raises(TypeError):
            table["x"] = None
        with pytest.raises(TypeError):
            table.update({"x": None})


def test_a_blueprint_static_folder_with_url_defaults_is_refused_with_its_line(tmp_path):
    """Flask gives the url_defaults to the blueprint's static rule too, and
    its send_static_file() takes no such argument: every file answers 500
    there, where the server would serve it."""
    views = ("from flask import Blueprint\n"
             "bp = Blueprint('shop', __name__, static_folder='assets')\n"
             "@bp.route('/x')\ndef x(lang):\n    return lang\n")
    app = ("from flask import Flask\nfrom views import bp\napp = Flask(__name__)\n"
           "app.register_blueprint(bp, url_defaults={'lang': 'en'})\n")
    files = {"views.py": views, "app.py": app, "assets/a.txt": "a"}
    spec = scan(tmp_path, files)
    assert [e.split(": ", 1)[0] for e in spec.errors] == ["acme/views.py:2"], spec.errors
    assert "url_defaults" in spec.errors[0]
    files["app.py"] = app.replace(", url_defaults={'lang': 'en'}", "")
    files["views.py"] = views.replace("__name__,", "__name__, url_defaults={'lang': 'en'},")
    spec = scan(tmp_path / "again", files)
    assert [e.split(": ", 1)[0] for e in spec.errors] == ["acme/views.py:2"], spec.errors

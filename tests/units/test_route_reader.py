"""Reading routes from a module's syntax tree, running none of it."""

import ast

import pytest

from muxserver.tenancy.routes import file_rule
from muxserver.tenancy.routes import find_handlers


def handlers(source):
    return [(h.kind, h.rule, h.methods, h.function, h.line, h.takes_request)
            for h in find_handlers(ast.parse(source))]


def test_flask_decorators_with_methods_on_apps_and_blueprints():
    source = ("from flask import Flask, Blueprint\napp = Flask(__name__)\nbp = Blueprint('b', __name__)\n"
              "@app.route('/a', methods=['GET', 'POST'])\ndef a():\n    pass\n"
              "@bp.delete('/b/<int:id>')\ndef b(id):\n    pass\n")
    assert handlers(source) == [
        ("flask", "/a", ("GET", "POST"), "a", 5, False),
        ("flask", "/b/<int:id>", ("DELETE",), "b", 8, False),
    ]


def test_method_functions_then_main():
    assert handlers("def get(request):\n    pass\ndef post():\n    pass\n") == [
        ("method", None, ("GET",), "get", 1, True),
        ("method", None, ("POST",), "post", 3, False),
    ]
    assert handlers("def main():\n    pass\n")[0][:4] == (
        "main", None, ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"), "main")


@pytest.mark.parametrize("source, message, line", [
    ("from flask import Flask\napp = Flask(__name__)\napp.add_url_rule('/x', 'x', f)\n",
     "add_url_rule(view_func=...) must name a function", 3),
    ("from flask import Flask\napp = Flask(__name__)\nif True:\n    @app.route('/x')\n"
     "    def x():\n        pass\n", "routes must be defined at the top level", 4),
    ("from flask import Flask\napp = Flask(__name__)\nR = '/x'.upper()\n@app.route(R)\ndef x():\n    pass\n",
     "must be a string literal (or built from the module's constants)", 4),
    ("from flask import Flask\napp = Flask(__name__)\nR = '/x'\nR = '/y'\n@app.route(R)\ndef x():\n"
     "    pass\n", "must be a string literal", 5),
    ("from flask import Flask\napp = Flask(__name__)\n@app.route('/x', subdomain='a')\n"
     "def x():\n    pass\n", "route option subdomain= is not supported here", 3),
    ("from flask import Flask\napp = Flask(__name__)\n@app.route('/x', strict_slashes=f())\n"
     "def x():\n    pass\n", "strict_slashes= must be True, False or None", 3),
])
def test_routes_that_cannot_be_read_are_errors_with_their_line(source, message, line):
    with pytest.raises(SyntaxError) as info:
        find_handlers(ast.parse(source))
    assert message in str(info.value) and info.value.lineno == line


def test_file_rule_is_the_files_path():
    assert file_rule("index") == "/"
    assert file_rule("api/users") == "/api/users"
    assert file_rule("api/index") == "/api/"


def test_a_module_without_handlers_is_a_helper():
    """No routes is not an error: the module is a helper, importable and never routed."""
    assert handlers("def helper():\n    pass\n") == []


VIEW_CLASSES = """\
from flask import Flask, views
from flask.views import MethodView, View
import flask.views
app = Flask(__name__)
class Mixin:
    def patch(self):
        pass
class Plain(View):
    def dispatch_request(self):
        pass
class Listed(views.View):
    methods = ["get", "post"]
class Base(MethodView):
    def get(self):
        pass
class Child(Mixin, Base):
    async def delete(self):
        pass
class Fixed(flask.views.MethodView):
    methods = ["PUT"]
    def get(self):
        pass
class Grand(Listed):
    pass
as_view = Base.as_view("base")
app.add_url_rule("/plain", view_func=Plain.as_view("plain"))
app.add_url_rule("/listed", view_func=Listed.as_view("listed"))
app.add_url_rule("/base", view_func=as_view)
app.add_url_rule("/child/<int:id>", view_func=Child.as_view("child"))
app.add_url_rule("/fixed", view_func=Fixed.as_view("fixed"))
app.add_url_rule("/grand", view_func=Grand.as_view("grand"))
app.add_url_rule("/given", view_func=Child.as_view("given"), methods=["get"])
app.add_url_rule("/alias", endpoint="base")
"""


def test_class_views_have_the_methods_flask_computes_for_them():
    """A View answers its ``methods`` (GET without); a MethodView its
    bases' and one per HTTP function it has, its own or inherited; an
    add_url_rule's ``methods=`` wins; an alias without a view is read as
    one (kind "alias": the scanner gives it the view of its endpoint)."""
    handlers = find_handlers(ast.parse(VIEW_CLASSES))
    assert [(h.kind, h.rule, h.methods, h.name, h.line) for h in handlers
            if h.kind == "alias"] == [("alias", "/alias", ("GET",), "base", 33)]
    assert [(h.rule, h.methods, h.function, h.name, h.line)
            for h in handlers if h.kind != "alias"] == [
        ("/plain", ("GET",), "plain", "plain", 26),
        ("/listed", ("GET", "POST"), "listed", "listed", 27),
        ("/base", ("GET",), "base", "base", 28),
        ("/child/<int:id>", ("DELETE", "GET", "PATCH"), "child", "child", 29),
        ("/fixed", ("PUT",), "fixed", "fixed", 30),
        ("/grand", ("GET", "POST"), "grand", "grand", 31),
        ("/given", ("GET",), "given", "given", 32),
    ]


def test_a_view_class_imported_from_another_module_is_left_to_the_scanner():
    source = ("from flask import Flask\nfrom .views import Report\napp = Flask(__name__)\n"
              "app.add_url_rule('/r', view_func=Report.as_view('report'))\n")
    [handler] = find_handlers(ast.parse(source))
    assert list(handler.view_class) == ["views", 1, "Report"]


def read(source):
    from muxserver.tenancy.reading import read_module
    return read_module(ast.parse(source))


@pytest.mark.parametrize("call, line", [
    ("app = Flask(__name__, **{'static_folder': 'x'})", 2),
    ("args = (__name__, '/u', 'x')\napp = Flask(*args)", 3),
    ("app = Flask(__name__, *['/u', 'x'])", 2),
    ("bp = Blueprint('bp', __name__, **{'url_prefix': '/p'})", 2),
    ("def create_app():\n    return Blueprint('bp', __name__, **{'static_folder': 's'})", 3),
    ("app = Flask(__name__)\nbp = Blueprint('bp', __name__)\n"
     "app.register_blueprint(bp, **{'url_prefix': '/p'})", 4),
])
def test_arguments_hidden_in_a_splat_are_refused_with_the_line(call, line):
    """``Flask(__name__, **{'static_folder': 'x'})`` was read as no folder
    given (Flask serves x/ at /x, the server static/ at /static); a url
    prefix in ``**`` was dropped."""
    with pytest.raises(SyntaxError) as info:
        read(f"from flask import Flask, Blueprint\n{call}\n")
    assert "cannot be read at deploy time" in info.value.msg and info.value.lineno == line


def test_arguments_given_by_position_are_read_at_flasks_positions():
    """Blueprint's sixth parameter is its url_prefix (read as none), Flask's
    tenth its root_path (not refused beside the static folder)."""
    meta = read("from flask import Flask, Blueprint\n"
                "bp = Blueprint('bp', __name__, None, None, None, '/p')\n")
    assert meta["app_objects"] == {"bp": "/p"}
    for call in ("Flask(__name__, None, 'static', None, False, False, 'templates', None, "
                 "False, '/elsewhere')",
                 "Blueprint('bp', __name__, 's', root_path='/elsewhere')"):
        with pytest.raises(SyntaxError) as info:
            read(f"from flask import Flask, Blueprint\nx = {call}\n")
        assert "root_path=" in info.value.msg and info.value.lineno == 2


def test_a_route_constant_rebound_by_a_walrus_is_not_read():
    """``P := '/b'`` at the top rebinds P: Flask routes /b, the reader read /a."""
    with pytest.raises(SyntaxError) as info:
        handlers("from flask import Flask\napp = Flask(__name__)\nP = '/a'\nprint(P := '/b')\n"
                 "@app.route(P)\ndef f():\n    pass\n")
    assert "must be a string literal" in info.value.msg and info.value.lineno == 5


def test_an_app_factorys_own_name_is_not_the_blueprint_the_module_imports():
    """``bp = make()`` in create_app is not ``from views import bp``: its
    routes were read as views.bp's."""
    with pytest.raises(SyntaxError) as info:
        handlers("from flask import Flask\nfrom views import bp\ndef create_app():\n"
                 "    app = Flask(__name__)\n    bp = make()\n    @bp.route('/x')\n"
                 "    def f():\n        pass\n    return app\n")
    assert "not made by Flask" in info.value.msg and info.value.lineno == 6
    [handler] = find_handlers(ast.parse(
        "from flask import Flask\ndef create_app():\n    from views import bp\n"
        "    @bp.route('/x')\n    def f():\n        pass\n"))
    assert handler.app == ("views", 0, "bp", None)  # its own import is read


def flask_rules(source):
    """``{(rule, endpoint, defaults)}`` of the module's ``app`` on Flask itself."""
    namespace = {"__name__": "__main__"}
    exec(compile(source, "app.py", "exec"), namespace)  # noqa: S102 - the test's own module
    return {(r.rule, r.endpoint, tuple(sorted((r.defaults or {}).items())))
            for r in namespace["app"].url_map.iter_rules() if r.endpoint != "static"}


def read_rules(source):
    """The same, as the reader reads one module that mounts its blueprints."""
    meta = read(source)
    registered = {var: (prefix, dict(map(tuple, defaults)))
                  for _, _, var, prefix, defaults in meta["blueprint_prefixes"]}
    rules = set()
    for h in find_handlers(ast.parse(source)):
        var = h.app[2]
        prefix, given = registered.get(var, (None, {}))
        blueprint = meta["blueprint_names"].get(var)
        defaults = {**dict(map(tuple, meta["blueprint_url_defaults"].get(var, ()))), **given,
                    **dict(h.defaults)} if blueprint else dict(h.defaults)
        rules.add(((meta["app_objects"][var] if prefix is None else prefix) + h.rule,
                   f"{blueprint}.{h.name or h.function}" if blueprint else h.function,
                   tuple(sorted(defaults.items()))))
    return rules


MOUNTED = """
from flask import Flask, Blueprint
LANG = 'en'
bp = Blueprint('a', __name__, url_prefix='/a', url_defaults={'lang': LANG, 'page': 1})
other = Blueprint('b', __name__)
@bp.route('/x')
@bp.route('/y', defaults={'lang': 'fr'})
def x(lang, page, region):
    return lang
@other.route('/z')
def z():
    return 'z'
app = Flask(__name__)
app.register_blueprint(bp, url_defaults={'region': 'eu', 'page': 2})
for bp in (other,):
    app.register_blueprint(bp, cli_group=None)
"""


def test_blueprint_url_defaults_and_a_registration_loop_read_as_flask_makes_them():
    """``url_defaults`` of ``Blueprint`` and of ``register_blueprint`` (over
    them), the route's ``defaults=`` over both; a later ``for bp in (...)``
    registering blueprints is no rebinding of the routes' ``bp``."""
    assert read_rules(MOUNTED) == flask_rules(MOUNTED)
    assert ("/a/y", "a.x", (("lang", "fr"), ("page", 2), ("region", "eu"))) in read_rules(MOUNTED)


@pytest.mark.parametrize("change, message, line", [
    # Flask matches them by host name: /x served on every host here.
    (("url_prefix='/a'", "subdomain='api'"), "Blueprint(..., subdomain=...) is not supported", 4),
    (("cli_group=None", "subdomain='api'"), "register_blueprint(..., subdomain=...) is not "
     "supported", 16),
    # Flask serves other's views at /z and /again/z, endpoints again.z...
    (("cli_group=None", "name='again', url_prefix='/again'"), "register_blueprint(..., "
     "name=...) is not supported", 16),
    # Flask credits /x and /y to 'a'; the reader credited them to the last binding.
    (("app = Flask(__name__)", "bp = Blueprint('c', __name__)\napp = Flask(__name__)"),
     "bp is bound to Blueprint(...) again after the module used it", 13),
    # The prefix goes to each blueprint in turn, not to the module's bp.
    (("cli_group=None", "url_prefix='/each'"), "must name the blueprint", 16),
    # A parameter is whichever blueprint a caller passes, not the module's bp.
    (("app = Flask(__name__)", "def mount(app, bp):\n    app.register_blueprint(bp, "
      "url_prefix='/p')\napp = Flask(__name__)"), "not a function's parameter", 14),
    (("{'region': 'eu', 'page': 2}", "dict(region=REGION)"),
     "register_blueprint(url_defaults=...) must be a literal dict", 14),
])
def test_blueprint_options_read_otherwise_than_flask_are_refused_with_the_line(
        change, message, line):
    source = MOUNTED.replace(*change)
    assert source != MOUNTED
    with pytest.raises(SyntaxError) as info:
        read(source)
    assert message in info.value.msg and info.value.lineno == line, info.value.msg

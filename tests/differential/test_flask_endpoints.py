"""Flask's endpoint names: ``blueprint.view`` for a blueprint's views, the
view's name for the app's. Two blueprints with views of the same name
build and match their own URLs, on Flask itself and on muxserver in the
same test; an endpoint mapped twice is refused as Flask refuses it."""

import importlib
import sys

import pytest
from werkzeug.test import Client

from tests.differential.harness import write_files

#: Two blueprints (one named otherwise than its variable, one by a module
#: constant), each with an ``index`` and an ``item`` taking other arguments,
#: and the app's own ``index``.
TWO_BLUEPRINTS = {
    "app.py": """
        from flask import Flask, url_for, request
        from shop import bp as shop
        from blog import blog

        app = Flask(__name__)
        app.register_blueprint(shop, url_prefix='/shop')
        app.register_blueprint(blog, url_prefix='/blog')

        @app.route('/')
        def index():
            return {"shop": url_for('shop.index'), "blog": url_for('blog.index'),
                    "app": url_for('index'), "shop_item": url_for('shop.item', n=3),
                    "blog_item": url_for('blog.item', slug='hi'),
                    "endpoint": request.endpoint, "blueprint": request.blueprint,
                    "expects": [app.url_map.is_endpoint_expecting('shop.item', 'n'),
                                app.url_map.is_endpoint_expecting('blog.item', 'n'),
                                app.url_map.is_endpoint_expecting('blog.item', 'slug')]}

        @app.route('/missing/<which>')
        def missing(which):
            return url_for(which)
        """,
    "shop.py": """
        from flask import Blueprint, url_for, request

        bp = Blueprint('shop', __name__)

        @bp.route('/')
        def index():
            return {"here": url_for('.index'), "blog": url_for('blog.index'),
                    "item": url_for('.item', n=7), "endpoint": request.endpoint,
                    "blueprint": request.blueprint}

        @bp.route('/item/<int:n>')
        def item(n):
            return {"n": n, "endpoint": request.endpoint, "self": url_for('.item', n=n)}
        """,
    "blog.py": """
        from flask import Blueprint, url_for, request

        NAME = 'blog'
        blog = Blueprint(NAME, __name__)

        @blog.route('/')
        def index():
            return {"here": url_for('.index'), "shop": url_for('shop.index'),
                    "endpoint": request.endpoint, "blueprint": request.blueprint}

        @blog.route('/item/<slug>')
        def item(slug):
            return {"slug": slug, "endpoint": request.endpoint,
                    "self": url_for('blog.item', slug=slug)}
        """,
}


def test_two_blueprints_with_views_of_the_same_name_build_their_own_urls(both):
    pair = both(TWO_BLUEPRINTS)
    home, _ = pair.get("/")
    assert home.json["shop"] == "/t/shop/" and home.json["blog"] == "/t/blog/"
    assert home.json["expects"] == [True, False, True]
    pair.get("/shop/")
    pair.get("/blog/")
    pair.get("/shop/item/3")
    pair.get("/blog/item/hi")
    # An endpoint given without its blueprint is the app's: no such view.
    for endpoint in ("item", "shop.missing", "blog"):
        pair.get(f"/missing/{endpoint}", compare=(), body=False)


#: Two blueprints in one module whose views share a function name (the
#: second ``def`` rebinds the module's name; both views stay registered).
ONE_MODULE = {"app.py": """
    from flask import Flask, Blueprint, url_for, request

    app = Flask(__name__)
    left = Blueprint('left', __name__)
    right = Blueprint('right', __name__)

    @left.route('/page')
    def page():
        return {"side": "left", "endpoint": request.endpoint, "other": url_for('right.page')}

    @right.route('/page')
    def page():
        return {"side": "right", "endpoint": request.endpoint, "other": url_for('left.page')}

    app.register_blueprint(left, url_prefix='/l')
    app.register_blueprint(right, url_prefix='/r')
    """}


def test_views_of_one_name_in_one_module_each_serve_their_blueprint(both):
    pair = both(ONE_MODULE)
    left, _ = pair.get("/l/page")
    right, _ = pair.get("/r/page")
    assert (left.json["side"], right.json["side"]) == ("left", "right")


#: A blueprint's ``url_defaults`` (given by ``Blueprint`` in one module,
#: by ``register_blueprint`` in another, over them) reach each of its
#: views, under a route's own ``defaults=``; a rule whose values are all
#: defaults redirects to the shorter one, and ``url_for`` builds with them.
URL_DEFAULTS = {
    "app.py": """
        from flask import Flask, url_for
        from pages import bp, plain

        app = Flask(__name__)
        app.register_blueprint(bp, url_prefix='/v', url_defaults={'region': 'eu'})
        for bp in (plain,):
            app.register_blueprint(bp)

        @app.route('/')
        def index():
            return {"first": url_for('pages.listing'), "second": url_for('pages.listing', page=2),
                    "french": url_for('pages.french'), "plain": url_for('plain.hello')}
        """,
    "pages.py": """
        from flask import Blueprint, request

        LANG = 'en'
        bp = Blueprint('pages', __name__, url_defaults={'lang': LANG, 'region': 'us'})
        plain = Blueprint('plain', __name__, url_prefix='/p')

        @bp.route('/list/', defaults={'page': 1})
        @bp.route('/list/<int:page>')
        def listing(lang, page, region):
            return {"lang": lang, "page": page, "region": region, "args": request.view_args}

        @bp.route('/fr', defaults={'lang': 'fr'})
        def french(**values):
            return values

        @plain.route('/hello')
        def hello():
            return 'hello'
        """,
}


def test_blueprint_url_defaults_reach_its_views_as_on_flask(both):
    pair = both(URL_DEFAULTS)
    home, _ = pair.get("/")
    assert home.json["second"] == "/t/v/list/2"
    listing, _ = pair.get("/v/list/")
    assert listing.json == {"lang": "en", "page": 1, "region": "eu",
                            "args": {"lang": "en", "page": 1, "region": "eu"}}
    pair.get("/v/list/2")
    pair.get("/v/list/1")  # the defaults' own values: redirected to /v/list/
    french, _ = pair.get("/v/fr")
    assert french.json == {"lang": "fr", "region": "eu"}
    pair.get("/p/hello")


@pytest.mark.parametrize("made, message", [
    ("Blueprint(os.environ['NAME'], __name__)",
     "Blueprint name must be a string literal"),
    ("Blueprint('a.b', __name__)", "'name' may not contain a dot '.' character."),
])
def test_a_blueprint_name_registration_cannot_read_is_refused_with_file_and_line(
        tenants, made, message):
    tenants.add("acme", {"app.py": f"""
        import os
        from flask import Flask, Blueprint

        app = Flask(__name__)
        bp = {made}

        @bp.route("/")
        def index():
            return "hi"
        """})
    errors = tenants.app().registry.error_list()
    assert len(errors) == 1 and "acme/app.py:6:" in errors[0], errors
    assert message in errors[0], errors


#: An endpoint mapped to a second function: Flask's AssertionError when the
#: module runs; here, at deploy with the file and line of the second
#: function (its ``def``, or the ``add_url_rule`` call).
OVERWRITING = {
    "same_name_twice": ("""
        from flask import Flask

        app = Flask(__name__)

        @app.get('/x')
        def x():
            return 'get'

        @app.post('/x')
        def x():
            return 'post'
        """, 11, "x"),
    "endpoint_given": ("""
        from flask import Flask

        app = Flask(__name__)

        @app.route('/a')
        def a():
            return 'a'

        @app.route('/b', endpoint='a')
        def b():
            return 'b'
        """, 11, "a"),
    "two_as_views": ("""
        from flask import Flask
        from flask.views import View

        class Page(View):
            def dispatch_request(self):
                return 'page'

        app = Flask(__name__)
        app.add_url_rule('/a', view_func=Page.as_view('page'))
        app.add_url_rule('/b', view_func=Page.as_view('page'))
        """, 11, "page"),
    "on_a_blueprint": ("""
        from flask import Flask, Blueprint

        app = Flask(__name__)
        bp = Blueprint('bp', __name__)

        @bp.route('/one')
        def view():
            return 'one'

        @bp.route('/two')
        def view():
            return 'two'

        app.register_blueprint(bp)
        """, 12, "bp.view"),
}


@pytest.mark.parametrize("case", sorted(OVERWRITING))
def test_an_endpoint_mapped_to_another_function_is_refused_as_flask_refuses_it(
        tenants, tmp_path, case):
    source, line, endpoint = OVERWRITING[case]
    message = f"View function mapping is overwriting an existing endpoint function: {endpoint}"
    root = tmp_path / "flask"
    write_files(root, {"app.py": source})
    sys.path.insert(0, str(root))
    try:
        with pytest.raises(AssertionError, match=message):
            importlib.import_module("app")
    finally:
        sys.path.remove(str(root))
        sys.modules.pop("app", None)
    tenants.add("acme", {"app.py": source})
    errors = tenants.app().registry.error_list()
    assert len(errors) == 1 and f"acme/app.py:{line}:" in errors[0], errors
    assert f"AssertionError: {message}" in errors[0], errors


#: What Flask allows: one function under several rules (stacked decorators,
#: add_url_rule with the decorated function, one as_view bound to a name),
#: and views of one name on two blueprints.
ONE_FUNCTION_SEVERAL_RULES = {"app.py": """
    from flask import Flask, Blueprint
    from flask.views import View

    class Page(View):
        def dispatch_request(self):
            return 'page'

    app = Flask(__name__)
    one = Blueprint('one', __name__)
    two = Blueprint('two', __name__)

    @app.route('/a')
    @app.route('/b')
    def ab():
        return 'ab'

    app.add_url_rule('/c', view_func=ab)
    page = Page.as_view('page')
    app.add_url_rule('/p1', view_func=page)
    app.add_url_rule('/p2', view_func=page)

    @one.route('/same')
    def same():
        return 'one'

    @two.route('/same')
    def same():
        return 'two'

    app.register_blueprint(one, url_prefix='/1')
    app.register_blueprint(two, url_prefix='/2')
    """}


def test_one_function_under_several_rules_is_not_an_overwrite(both):
    pair = both(ONE_FUNCTION_SEVERAL_RULES)
    for path in ("/a", "/b", "/c", "/p1", "/p2", "/1/same", "/2/same"):
        pair.get(path)


def test_each_module_s_own_app_has_its_own_endpoints(tenants):
    """Two modules that each make an app with an ``index`` (this server's
    one-app-a-file form) overwrite nothing."""
    view = ("from flask import Flask\napp = Flask(__name__)\n"
            "@app.route('/{0}')\ndef index():\n    return {0!r}\n")
    tenants.add("acme", {"one.py": view.format("one"), "two.py": view.format("two")})
    app = tenants.app()
    assert app.registry.error_list() == []
    assert [Client(app).get(f"/acme/{name}").text for name in ("one", "two")] == ["one", "two"]

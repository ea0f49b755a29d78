"""Flask's endpoint names: ``blueprint.view`` for a blueprint's views, the
view's name for the app's. Two blueprints with views of the same name
build and match their own URLs, on Flask itself and on muxserver in the
same test; an endpoint mapped twice is refused as Flask refuses it."""

import pytest

from tests.differential.harness import HEADERS

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

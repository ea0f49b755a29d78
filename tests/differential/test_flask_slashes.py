"""Trailing slashes as werkzeug 3 routes them (a rule ending in ``/``
redirects the path without it with 308, its query kept), ``strict_slashes=
False`` on a route and ``app.url_map.strict_slashes = False`` for the app,
answered by Flask itself and by muxserver in the same test."""

ROUTES = {"app.py": """
    from flask import Flask, Blueprint, request

    app = Flask(__name__)
    bp = Blueprint("bp", __name__, url_prefix="/bp")

    @app.route("/items/")
    def items():
        return "items " + request.query_string.decode()

    @app.route("/loose/", strict_slashes=False)
    def loose():
        return "loose " + request.path

    @app.route("/tight", strict_slashes=False)
    def tight():
        return "tight " + request.path

    @app.route("/users/<int:id>/")
    def user(id):
        return f"user {id}"

    @app.route("/users/<int:id>/posts", strict_slashes=False, methods=["GET", "POST"])
    def posts(id):
        return f"posts {id} {request.method}"

    @bp.route("/page/", strict_slashes=False)
    def page():
        return "page"

    def plain():
        return "plain"

    app.add_url_rule("/plain/", view_func=plain, strict_slashes=False)
    app.register_blueprint(bp)
    """}


def test_trailing_slashes_redirect_or_match_as_werkzeug_does(both):
    pair = both(ROUTES)
    pair.get("/items/")
    redirected, _ = pair.get("/items", query_string="a=1&b=%20")
    assert redirected.status_code == 308 and redirected.headers["Location"].endswith(
        "/t/items/?a=1&b=%20")
    pair.post("/items")
    pair.request("HEAD", "/items")
    pair.get("/loose")
    pair.get("/loose/")
    pair.get("/tight")
    pair.get("/tight/")
    pair.get("/users/3")
    pair.get("/users/3/")
    pair.get("/users/3/posts/")
    pair.post("/users/3/posts/")
    pair.get("/bp/page")
    pair.get("/plain")
    pair.get("/nothing/")


MAP_WIDE = {"app.py": """
    from flask import Flask

    app = Flask(__name__)
    app.url_map.strict_slashes = False

    @app.route("/a/")
    def a():
        return "a " + str(app.url_map.strict_slashes)

    @app.route("/b")
    def b():
        return "b"

    @app.route("/c/", strict_slashes=True)
    def c():
        return "c"
    """}


def test_the_maps_strict_slashes_is_every_routes_default(both):
    pair = both(MAP_WIDE)
    for path in ("/a", "/a/", "/b", "/b/", "/c", "/c/"):
        pair.get(path)


def test_a_strict_slashes_the_reading_cannot_follow_is_refused(tenants):
    tenants.add("acme", {"app.py": """
        import os
        from flask import Flask

        app = Flask(__name__)

        def configure():
            app.url_map.strict_slashes = False

        @app.route("/", strict_slashes=os.environ.get("X") == "1")
        def index():
            return "hi"
        """})
    errors = tenants.app().registry.error_list()
    assert any("acme/app.py:8:" in e and "strict_slashes" in e for e in errors), errors

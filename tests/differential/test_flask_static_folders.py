"""An app's own ``static_folder`` and ``static_url_path``, served where Flask
3.1 serves them (real-code trial: ``Flask(__name__, static_url_path='')``
serves ``static/`` at the site root; single-page apps serve their build
folder, ``static_folder='../frontend/build'``) — on Flask itself and on
muxserver."""

from tests.differential.harness import HEADERS
from tests.differential.harness import MOUNT

FILE_HEADERS = HEADERS + ("Content-Length",)
NOT_ALLOW = tuple(h for h in HEADERS if h != "Allow")

SITE_ROOT = {
    "app.py": """
        from flask import Flask, request, url_for

        app = Flask(__name__, static_url_path="")

        @app.route("/")
        def index():
            return url_for("static", filename="css/a b.css") + " " + repr(app.static_url_path)

        @app.route("/about.html")
        def about():
            return "the view, not the file"

        @app.route("/form", methods=["POST"])
        def form():
            return "posted"

        @app.route("/docs/")
        def docs():
            return "docs"

        @app.errorhandler(404)
        def not_found(error):
            return f"no page at {request.path} ({request.endpoint})", 404

        @app.after_request
        def stamp(response):  # compared on every answer (X-Custom)
            response.headers["X-Custom"] = f"{request.endpoint} {request.view_args}"
            return response
        """,
    "static/style.css": "body { color: #333; }\n" * 40,
    "static/css/a b.css": "p { margin: 0; }\n",
    "static/about.html": "<p>the file</p>\n",
    "static/form": "a file named like a POST-only view\n",
    "static/.hidden": "never served\n",
}


def test_static_url_path_empty_serves_the_folder_at_the_site_root_below_every_view(both):
    pair = both(SITE_ROOT)
    # A file at the root, with Flask's headers; a HEAD; a range.
    css = pair.get("/style.css", compare=FILE_HEADERS)
    assert css[1].status_code == 200 and css[1].headers["Cache-Control"] == "no-cache"
    assert css[1].headers["X-Custom"] == "static {'filename': 'style.css'}"
    pair.request("HEAD", "/style.css", compare=FILE_HEADERS)
    assert pair.get("/style.css", headers={"Range": "bytes=2-9"},
                    compare=FILE_HEADERS)[1].status_code == 206
    assert pair.get("/css/a%20b.css", compare=FILE_HEADERS)[1].text == "p { margin: 0; }\n"
    # A view shadows the file at its path; a POST-only view does not take a GET.
    assert pair.get("/about.html")[1].text == "the view, not the file"
    assert pair.get("/form", compare=FILE_HEADERS)[1].text.startswith("a file named")
    assert pair.post("/form")[1].text == "posted"
    # A missing file is the app's 404, routed to the static endpoint.
    missing = pair.get("/missing.css")
    assert missing[1].status_code == 404
    assert missing[1].text == "no page at /missing.css (static)"
    # Dot files stay unserved here (Flask serves them): a deliberate difference.
    assert pair.mux.get(f"{MOUNT}/.hidden").status_code == 404
    # The view's slash redirect still wins. (Flask runs after_request on
    # its routing redirect, this server does not yet: X-Custom not compared.)
    no_hook = tuple(h for h in HEADERS if h != "X-Custom")
    assert pair.get("/docs", compare=no_hook)[1].status_code == 308
    # The static rule takes GET and HEAD: another method is 405, OPTIONS
    # answers (Flask's Allow lists a set in no fixed order: compared as sets).
    for method, path, allowed in (("POST", "/style.css", {"GET", "HEAD", "OPTIONS"}),
                                  ("PUT", "/form", {"GET", "HEAD", "OPTIONS", "POST"}),
                                  ("OPTIONS", "/nothing", {"GET", "HEAD", "OPTIONS"})):
        answers = pair.request(method, path, compare=NOT_ALLOW)
        assert answers[1].status_code == (200 if method == "OPTIONS" else 405)
        assert {*answers[0].headers["Allow"].split(", ")} == allowed
        assert {*answers[1].headers["Allow"].split(", ")} == allowed
    # url_for follows the url path; the app says it.
    assert pair.get("/")[1].text == f"{MOUNT}/css/a%20b.css ''"
    # Not at /static any more.
    assert pair.get("/static/style.css")[1].status_code == 404


ASSETS = {
    "app.py": """
        from flask import Flask, request, url_for

        app = Flask(__name__, static_folder="assets", static_url_path="/assets")

        @app.route("/")
        def index():
            return " ".join([url_for("static", filename="app.js"), app.static_url_path,
                             app.static_folder])

        @app.route("/page")
        def page():
            return app.send_static_file("index.html")

        @app.after_request
        def stamp(response):  # compared on every answer (X-Custom)
            response.headers["X-Custom"] = f"{request.endpoint} {request.view_args}"
            return response
        """,
    "assets/app.js": "console.log('hi');\n",
    "assets/index.html": "<html>the app</html>\n",
    "static/app.js": "not the app's static folder\n",
}


def test_a_static_folder_of_its_own_at_its_own_url_path(both):
    pair = both(ASSETS)
    pair.get("/assets/app.js", compare=FILE_HEADERS)
    # Its rule takes GET and HEAD: 405 for another method, OPTIONS answers.
    for method in ("POST", "OPTIONS"):
        answers = pair.request(method, "/assets/app.js", compare=NOT_ALLOW)
        assert answers[1].status_code == (200 if method == "OPTIONS" else 405)
        assert {*answers[1].headers["Allow"].split(", ")} == {*answers[0].headers[
            "Allow"].split(", ")} == {"GET", "HEAD", "OPTIONS"}
    pair.request("HEAD", "/assets/index.html", compare=FILE_HEADERS)
    assert pair.get("/assets/missing.js")[1].status_code == 404
    assert pair.get("/static/app.js")[1].status_code == 404
    assert pair.get("/page", compare=FILE_HEADERS)[1].text == "<html>the app</html>\n"
    # The folder as Flask names it: the app's root_path joined with it.
    index = pair.get("/", body=False)
    assert index[0].text.split()[:2] == index[1].text.split()[:2] == [f"{MOUNT}/assets/app.js",
                                                                      "/assets"]
    assert index[1].text.split()[2] == "/app/assets"


SPA = {
    "backend/__init__.py": """
        from flask import Flask, url_for

        app = Flask(__name__, static_folder="../frontend/build")

        @app.route("/")
        def index():
            return app.send_static_file("index.html")

        @app.route("/where")
        def where():
            return url_for("static", filename="js/main.js") + " " + app.static_url_path
        """,
    "frontend/build/index.html": "<html>the single-page app</html>\n",
    "frontend/build/js/main.js": "let x = 1;\n",
}


def test_a_package_app_serves_a_build_folder_beside_its_package(both):
    pair = both(SPA, module="backend")
    assert pair.get("/", compare=FILE_HEADERS)[1].text == "<html>the single-page app</html>\n"
    # Flask's default url path: / and the folder's last name.
    pair.get("/build/js/main.js", compare=FILE_HEADERS)
    pair.get("/build/index.html", compare=FILE_HEADERS)
    assert pair.get("/build/missing.js")[1].status_code == 404
    assert pair.get("/where")[1].text == f"{MOUNT}/build/js/main.js /build"


NO_STATIC = {
    "app.py": """
        from flask import Flask, url_for

        app = Flask(__name__, static_folder=None)

        @app.route("/")
        def index():
            return repr((app.static_folder, app.static_url_path, app.has_static_folder))
        """,
    "static/style.css": "not served: the app has no static folder\n",
}


def test_static_folder_none_has_no_static_route(both):
    pair = both(NO_STATIC)
    assert pair.get("/")[1].text == "(None, None, False)"
    assert pair.get("/static/style.css")[1].status_code == 404


VIEWS_BELOW_STATIC = {
    "app.py": """
        from flask import Flask

        app = Flask(__name__)

        @app.route("/static/version.txt")
        def version():
            return "the view"

        @app.route("/static/<int:n>")
        def numbered(n):
            return f"number {n}"

        @app.route("/static/<path:rest>", methods=["POST"])
        def upload(rest):
            return f"posted {rest}"
        """,
    "static/version.txt": "the file\n",
    "static/5": "a file named 5\n",
    "static/site.css": "body { color: #333; }\n",
}


def test_views_below_the_static_url_path_are_ranked_as_werkzeug_ranks_them(both):
    """A view's rule below ``/static/`` can outrank the static rule (a
    literal part, a converter werkzeug weighs before ``path``): the static
    rule is then ranked among the views, not checked before them."""
    pair = both(VIEWS_BELOW_STATIC)
    assert pair.get("/static/version.txt")[1].text == "the view"
    assert pair.get("/static/5")[1].text == "number 5"
    pair.get("/static/site.css", compare=FILE_HEADERS)
    assert pair.post("/static/site.css")[1].text == "posted site.css"
    assert pair.get("/static/missing.css")[1].status_code == 404

"""Flask apps of our own, answered by Flask itself and by muxserver in the
same test: status, the headers that matter, body (issue 24)."""

from tests.differential.harness import HEADERS

ASYNC_APP = {
    "app.py": """
        import asyncio
        from flask import Flask, g, jsonify

        app = Flask(__name__)
        order = []

        @app.before_request
        async def remember():
            g.seen = "before"

        async def fetch(name, delay):
            order.append(name + ">")
            await asyncio.sleep(delay)
            order.append("<" + name)
            return name.upper()

        @app.route("/gather")
        async def gather():
            del order[:]
            results = await asyncio.gather(fetch("a", 0.02), fetch("b", 0.01))
            return jsonify(results=results, order=order, seen=g.seen)

        @app.route("/timeout")
        async def timeout():
            try:
                await asyncio.wait_for(fetch("slow", 5), 0.01)
            except asyncio.TimeoutError:
                return "timed out"
            return "finished"

        @app.route("/sync-runs-async")
        def sync_runs_async():
            return asyncio.run(fetch("c", 0))

        @app.route("/boom")
        async def boom():
            await asyncio.sleep(0)
            raise KeyError("x")

        @app.errorhandler(KeyError)
        async def missing(e):
            return "handled " + type(e).__name__, 409

        @app.after_request
        async def stamp(response):
            response.headers["X-Custom"] = "after"
            return response
        """,
}


def test_async_views_hooks_and_error_handlers_are_awaited(both):
    pair = both(ASYNC_APP)
    flask_answer, _ = pair.get("/gather")
    assert flask_answer.json == {"order": ["a>", "b>", "<b", "<a"], "results": ["A", "B"],
                                 "seen": "before"}
    pair.get("/timeout")
    pair.get("/sync-runs-async")
    pair.get("/boom")


STATIC_FILES = {
    "app.py": """
        import io, os
        from flask import Flask, send_file, send_from_directory

        app = Flask(__name__)

        @app.route("/report")
        def report():
            return send_file("files/report.csv")

        @app.route("/download")
        def download():
            return send_file("files/report.csv", as_attachment=True, download_name="r.csv")

        @app.route("/generated")
        def generated():
            return send_file(io.BytesIO(b"made here"), mimetype="text/plain",
                             download_name="made.txt")

        @app.route("/docs/<path:name>")
        def docs(name):
            return send_from_directory(os.path.join(app.root_path, "files"), name)

        @app.route("/cached")
        def cached():
            return send_file("files/report.csv", max_age=60)
        """,
    "static/site.css": "body { color: #333; }\n" * 40,
    "static/app.js": "console.log('hi');\n",
    "static/logo.png": b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4,
    "files/report.csv": "a,b\n1,2\n",
}

FILE_HEADERS = HEADERS + ("Content-Length",)


def _own(answers, name):
    """A request header from each side's own previous answer."""
    flask_answer, mux_answer = answers
    return lambda side: {name: (flask_answer if side == "flask" else mux_answer).headers[
        "ETag" if name == "If-None-Match" else "Last-Modified"]}


def test_static_files_answer_with_flasks_headers_304_and_206(both):
    pair = both(STATIC_FILES)
    for path in ("/static/site.css", "/static/app.js", "/static/logo.png"):
        first = pair.get(path, compare=FILE_HEADERS)
        assert first[0].headers["Cache-Control"] == "no-cache"
        assert first[0].headers["Content-Disposition"].startswith("inline; filename=")
        unchanged = pair.get(path, headers=_own(first, "If-None-Match"), compare=HEADERS)
        assert unchanged[0].status_code == 304
        pair.get(path, headers=_own(first, "If-Modified-Since"), compare=HEADERS)
        ranged = pair.get(path, headers={"Range": "bytes=2-9"}, compare=FILE_HEADERS)
        assert ranged[0].status_code == 206
        pair.get(path, headers={"Range": "bytes=100000-"}, compare=HEADERS, body=False)
        pair.request("HEAD", path, compare=FILE_HEADERS)
    pair.get("/static/missing.css", compare=("Content-Type",))


def test_send_file_and_send_from_directory_answer_as_flask(both):
    pair = both(STATIC_FILES)
    first = pair.get("/report", compare=FILE_HEADERS)
    pair.get("/report", headers=_own(first, "If-None-Match"))
    pair.get("/report", headers={"Range": "bytes=0-2"}, compare=FILE_HEADERS)
    pair.get("/download", compare=FILE_HEADERS)
    pair.get("/generated", compare=FILE_HEADERS)
    pair.get("/docs/report.csv", compare=FILE_HEADERS)
    pair.get("/docs/../app.py")
    pair.get("/docs/nothing.csv")
    pair.get("/cached", compare=tuple(h for h in FILE_HEADERS if h != "Expires"))


LARGER_APP = {
    "shop/__init__.py": """
        '''The shop: Flask's "larger applications" layout.'''
        from flask import Flask

        __all__ = ["app"]
        __version__ = "1.2.0"
        __author__ = "Ann"

        app = Flask(__name__)
        ROOT_PREFIX = "catalog"

        import shop.views  # noqa: E402  (the routes)
        from shop import admin  # noqa: E402
        app.register_blueprint(admin.bp, url_prefix="/" + ROOT_PREFIX + "/admin")
        """,
    "shop/views.py": """
        import sys
        from flask import url_for
        from markupsafe import escape, Markup
        from shop import app
        import shop

        ROOT_PREFIX = "catalog"
        API = "/api/v1"
        ITEMS = API + "/items"

        @app.route("/")
        def index():
            return Markup("<p>{}</p>").format(escape("<shop>")) + " " + shop.__doc__

        @app.route("/" + ROOT_PREFIX)
        def catalog():
            return {"version": shop.__version__, "all": shop.__all__,
                    "python": [sys.version_info.major, sys.version_info >= (3, 8)],
                    "pages": url_for("page"), "two": url_for("page", number=2),
                    "one": url_for("page", number=1)}

        @app.route(f"{ITEMS}/<int:item>")
        def item(item):
            return {"item": item, "kind": type(item).__name__}

        @app.route("/pages/", defaults={"number": 1})
        @app.route("/pages/<int:number>")
        def page(number):
            return f"page {number}"
        """,
    "shop/admin.py": """
        from flask import Blueprint, url_for
        bp = Blueprint("admin", __name__, url_prefix="/ignored")

        @bp.route("/users")
        def users():
            return url_for("admin.users")
        """,
}


def test_the_larger_applications_pattern_constants_prefixes_and_defaults(both):
    pair = both(LARGER_APP, module="shop")
    pair.get("/")
    catalog, _ = pair.get("/catalog")
    assert catalog.json["pages"] == "/t/pages/" and catalog.json["one"] == "/t/pages/"
    pair.get("/api/v1/items/7")
    pair.get("/pages/")
    pair.get("/pages/3")
    pair.get("/pages/1", compare=("Location",), body=False)  # werkzeug redirects to the default
    pair.get("/catalog/admin/users")
    pair.get("/ignored/users")

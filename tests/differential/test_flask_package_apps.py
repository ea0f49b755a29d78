"""An app made in a package by a factory, the Flask tutorial's shape (found by
real-code trial 5 on flaskr): an endpoint named by ``add_url_rule`` without
a view, the static folder beside the package, and static files served
through the app's request hooks — on Flask itself and on muxserver."""

import pytest

from tests.differential.harness import HEADERS
from tests.differential.harness import MOUNT

SHOP = {
    "shop/__init__.py": """
        from flask import Flask

        def create_app():
            app = Flask(__name__)
            app.secret_key = "test only"
            from . import catalog
            app.register_blueprint(catalog.bp)
            # The blueprint's "/" answers; url_for("index") builds it.
            app.add_url_rule("/", endpoint="index")
            return app
        """,
    "shop/catalog.py": """
        from flask import Blueprint, redirect, render_template_string, request, session, url_for

        bp = Blueprint("catalog", __name__)

        @bp.before_app_request
        def gate():
            if request.endpoint != "catalog.login" and not session.get("user"):
                return redirect(url_for("catalog.login", next=request.path))

        @bp.after_app_request
        def stamp(response):
            response.headers["X-Custom"] = f"{request.endpoint} {request.view_args}"
            return response

        @bp.route("/")
        def index():
            return render_template_string(
                '<a href="{{ url_for("index") }}">home</a>'
                '<link href="{{ url_for("static", filename="site.css") }}">')

        @bp.route("/login", methods=["GET", "POST"])
        def login():
            if request.method == "POST":
                session["user"] = "ann"
                return redirect(url_for("index"))
            return "login"
        """,
    "shop/static/site.css": "body { color: #333; }\n" * 40,
    "static/other.css": "not the app's static folder\n",
}

COMPARED = HEADERS + ("Vary", "Content-Length")


def _own_etag(answers):
    flask_answer, mux_answer = answers
    return lambda side: {"If-None-Match": (flask_answer if side == "flask"
                                           else mux_answer).headers["ETag"]}


def test_a_package_app_s_alias_static_folder_and_hooks_answer_as_flask(both):
    pair = both(SHOP, module="shop")
    # The login gate covers static files too; its redirect names the file.
    gated = pair.get("/static/site.css", compare=COMPARED)
    assert gated[1].status_code == 302
    assert gated[1].headers["Location"] == f"{MOUNT}/login?next=/static/site.css"
    assert pair.get("/", compare=COMPARED)[1].status_code == 302
    login = pair.post("/login", compare=COMPARED)
    assert login[1].headers["Location"] == f"{MOUNT}/"  # url_for("index"): the alias
    home = pair.get("/", compare=COMPARED)
    assert home[1].text == f'<a href="{MOUNT}/">home</a><link href="{MOUNT}/static/site.css">'
    # The package's static folder, through the hooks (after_request's header).
    css = pair.get("/static/site.css", compare=COMPARED)
    assert css[1].headers["X-Custom"] == "static {'filename': 'site.css'}"
    assert pair.get("/static/site.css", headers=_own_etag(css), compare=COMPARED)[1].status_code == 304
    assert pair.get("/static/site.css", headers={"Range": "bytes=2-9"},
                    compare=COMPARED)[1].status_code == 206
    pair.request("HEAD", "/static/site.css", compare=COMPARED)
    # Not the tenant's own static/: Flask's static folder is the app's.
    assert pair.get("/static/other.css", compare=COMPARED)[1].status_code == 404
    assert pair.get("/static/missing.css", compare=COMPARED)[1].status_code == 404


def test_a_large_static_file_streams_through_the_hooks(both):
    files = {"app.py": """
        from flask import Flask
        app = Flask(__name__)

        @app.after_request
        def stamp(response):
            response.headers["X-Custom"] = "hooked"
            return response

        @app.route("/")
        def index():
            return "index"
        """,
             "static/big.bin": bytes(range(256)) * 8192}  # 2 MB: sent in chunks
    pair = both(files)
    big = pair.get("/static/big.bin", compare=COMPARED)
    assert big[1].headers["X-Custom"] == "hooked" and len(big[1].get_data()) == 2 * 2**20


@pytest.mark.parametrize("source, line, problem", [
    # No view anywhere serves the alias's rule: Flask answers it 500.
    ("app.add_url_rule('/home', endpoint='home')", 4, "none serves GET /home"),
    ("app.add_url_rule('/home')", 4, "needs endpoint="),
])
def test_an_alias_flask_could_not_serve_is_refused_with_file_and_line(tenants, source, line,
                                                                      problem):
    tenants.add("acme", {"app.py": "from flask import Flask\n"
                                   "app = Flask(__name__)\n"
                                   "\n"
                                   f"{source}\n"})
    errors = tenants.app().registry.error_list()
    assert len(errors) == 1 and f"acme/app.py:{line}:" in errors[0] and problem in errors[0], \
        errors


BIG_FILE = bytes(range(256)) * 8192  # 2 MB: sent in chunks, with its length


def test_a_large_send_file_says_its_length_as_flask(both):
    pair = both({"app.py": """
        from flask import Flask, send_file
        app = Flask(__name__)

        @app.route("/big")
        def big():
            return send_file("files/big.bin")
        """, "files/big.bin": BIG_FILE})
    assert pair.get("/big", compare=COMPARED)[1].headers["Content-Length"] == str(len(BIG_FILE))
    pair.request("HEAD", "/big", compare=COMPARED)
    pair.get("/big", headers={"Range": "bytes=100-300000"}, compare=COMPARED)


def test_a_file_that_shrinks_while_sent_is_cut_not_desynchronised(tenants, live):
    """The length sent is the server's promise: a file of ``/data`` that
    the tenant truncates while it is being sent leaves fewer bytes than
    it, and the server closes the connection instead of letting the next
    answer's bytes complete the body."""
    import socket

    tenants.add("acme", {"app.py": """
        from flask import Flask, send_file
        app = Flask(__name__)

        @app.route("/make")
        def make():
            block = bytes(range(256)) * 4096
            with open("/data/big.bin", "wb") as f:
                for _ in range(48):
                    f.write(block)  # 48 MB: more than the sockets' buffers hold
            return "made"

        @app.route("/big")
        def big():
            return send_file("/data/big.bin")

        @app.route("/shrink")
        def shrink():
            open("/data/big.bin", "wb").close()
            return "shrunk"
        """})
    server = live()
    assert server.get("/acme/make").text == "made"
    size = 48 * 2**20
    with socket.create_connection(("127.0.0.1", server.server.port), timeout=10) as conn:
        conn.sendall(b"GET /acme/big HTTP/1.1\r\nHost: x\r\n\r\n"
                     b"GET /acme/make HTTP/1.1\r\nHost: x\r\n\r\n")
        data = conn.recv(65536)
        assert server.get("/acme/shrink").text == "shrunk"
        closed = False
        try:
            while chunk := conn.recv(2**20):
                data += chunk
            closed = True  # the server closed the connection
        except TimeoutError:
            pass
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and f"Content-Length: {size}".encode() in head
    assert 0 < len(body) < size and b"made" not in body, "the next answer filled the body"
    assert closed


def test_a_rule_named_for_an_existing_view_serves_that_view_as_flask(both):
    pair = both({"app.py": """
        from flask import Flask, url_for
        app = Flask(__name__)

        @app.route("/home")
        def home():
            return f"home at {url_for('home')}"

        app.add_url_rule("/start", endpoint="home")
        app.add_url_rule("/also/<int:n>", endpoint="home", methods=["POST"])
        """})
    pair.get("/home")
    assert pair.get("/start")[1].text == "home at /t/home"
    # Flask's Allow lists a set: its order changes with the hash seed.
    refused = pair.post("/start", compare=tuple(h for h in HEADERS if h != "Allow"))
    assert all(set(a.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"} for a in refused)
    pair.post("/also/3", compare=(), body=False)  # home() takes no n: both 500


BLUEPRINT_STATIC = {
    "app.py": """
        from flask import Flask, url_for
        from admin import admin
        from docs import docs

        app = Flask(__name__)
        app.register_blueprint(admin, url_prefix="/panel")
        app.register_blueprint(docs)

        @app.after_request
        def stamp(response):
            response.headers["X-Custom"] = f"{request_endpoint()}"
            return response

        def request_endpoint():
            from flask import request
            return request.endpoint

        @app.route("/")
        def index():
            return " ".join([url_for("admin.static", filename="css/a b.css"),
                             url_for("docs.static", filename="guide.txt"),
                             url_for("static", filename="site.css")])
        """,
    "admin/__init__.py": """
        from flask import Blueprint, abort, request

        admin = Blueprint("admin", __name__, url_prefix="/admin", static_folder="static")

        @admin.before_request
        def only_with_key():
            if request.args.get("key") != "k":
                abort(403)
        """,
    "admin/static/css/a b.css": "body { color: teal }\n" * 30,
    "docs.py": """
        from flask import Blueprint
        docs = Blueprint("docs", __name__, static_folder="manuals", static_url_path="/manual")
        """,
    "manuals/guide.txt": "read me\n",
    "static/site.css": "site\n",
}


def test_a_blueprint_s_static_folder_answers_as_flask(both):
    """``Blueprint(static_folder=...)`` (Flask's own test app, real-code
    trial 5: it was refused): served at the blueprint's prefix and
    ``static_url_path``, built by ``url_for("bp.static")``, through the
    blueprint's own hooks and the app's."""
    pair = both(BLUEPRINT_STATIC)
    assert pair.get("/")[1].text == "/t/panel/static/css/a%20b.css /t/manual/guide.txt /t/static/site.css"
    assert pair.get("/panel/static/css/a%20b.css")[1].status_code == 403  # the blueprint's hook
    css = pair.get("/panel/static/css/a%20b.css?key=k", compare=COMPARED)
    assert css[1].headers["X-Custom"] == "admin.static"
    assert pair.get("/panel/static/css/a%20b.css?key=k", headers=_own_etag(css),
                    compare=COMPARED)[1].status_code == 304
    assert pair.get("/panel/static/css/a%20b.css?key=k", headers={"Range": "bytes=0-4"},
                    compare=COMPARED)[1].status_code == 206
    assert pair.get("/panel/static/missing.css?key=k", compare=COMPARED)[1].status_code == 404
    assert pair.get("/admin/static/css/a%20b.css?key=k")[1].status_code == 404  # not there
    assert pair.get("/manual/guide.txt", compare=COMPARED)[1].text == "read me\n"
    pair.get("/static/site.css", compare=COMPARED)


@pytest.mark.parametrize("source, line", [
    ("bp = Blueprint('bp', __name__, static_folder='../outside')", 4),
    ("bp = Blueprint('bp', __name__, static_folder=FOLDER)", 4),  # read at run time
    ("def make():\n    return Blueprint('bp', __name__, static_folder='static')", 5),
])
def test_a_blueprint_static_folder_it_cannot_serve_is_refused(tenants, source, line):
    tenants.add("acme", {"app.py": "from flask import Blueprint\nimport os\n"
                                   "FOLDER = os.getenv('X', 'static')\n" + source + "\n"})
    errors = tenants.app().registry.error_list()
    assert len(errors) == 1 and f"acme/app.py:{line}:" in errors[0], errors
    assert "static_folder" in errors[0]

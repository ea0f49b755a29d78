"""Everyday Flask code the fourth real-code trial found answered differently
here than on Flask 3.1, each answered by Flask itself and by muxserver in
the same test: the ``OSError`` family caught by name, the Flask docs'
SQLite pattern (``g._database``), a template imported as a module
(``{% import 'macros.html' as forms %}``), ``session.new``,
``MAX_CONTENT_LENGTH`` and a status code outside the registered ones."""

import io

import pytest

# -- the OSError family, caught by name -----------------------------------------------

OS_ERRORS_APP = {"app.py": """
    import os
    from flask import Flask

    app = Flask(__name__)

    @app.route("/missing")
    def missing():
        try:
            with open(os.path.join(app.instance_path, "no-such-file.txt")) as f:
                return f.read()
        except FileNotFoundError as e:
            return "no file: " + type(e).__name__ + " " + str(isinstance(e, OSError))

    @app.route("/names")
    def names():
        classes = [FileNotFoundError, FileExistsError, PermissionError, IsADirectoryError,
                   NotADirectoryError, ConnectionError, ConnectionRefusedError,
                   ConnectionResetError, ConnectionAbortedError, BrokenPipeError,
                   InterruptedError, BlockingIOError, ChildProcessError,
                   ProcessLookupError, EnvironmentError, IOError, StopAsyncIteration,
                   UnicodeTranslateError, IndentationError, TabError, SystemError,
                   FutureWarning, PendingDeprecationWarning, ImportWarning, SyntaxWarning,
                   BytesWarning, ResourceWarning, UnicodeWarning, EncodingWarning]
        return " ".join(c.__name__ + ":" + str(issubclass(c, Exception)) for c in classes)

    @app.route("/raise")
    def raise_one():
        try:
            raise PermissionError("nope")
        except OSError as e:
            return "caught " + str(e)
    """}


def test_the_oserror_family_is_there_by_name(both):
    pair = both(OS_ERRORS_APP)
    pair.get("/missing")
    pair.get("/names")
    pair.get("/raise")


# -- the Flask docs' SQLite pattern: private names on g -------------------------------------

SQLITE_PATTERN_APP = {
    "schema.sql": "create table users (user_id integer primary key, username text);\n"
                  "insert into users (username) values ('ann'), ('bob');\n",
    "app.py": """
    import os
    import sqlite3
    from flask import Flask, g, abort

    app = Flask(__name__)
    DATABASE = os.path.join(app.instance_path, "users.db")

    def get_db():
        db = getattr(g, "_database", None)
        if db is None:
            db = g._database = sqlite3.connect(DATABASE)
        db.row_factory = sqlite3.Row
        return db

    @app.teardown_appcontext
    def close_connection(exception):
        db = getattr(g, "_database", None)
        if db is not None:
            db.close()

    @app.route("/init", methods=["POST"])
    def init():
        db = get_db()
        with app.open_resource("schema.sql", mode="r") as f:
            db.cursor().executescript(f.read())
        db.commit()
        return "ok"

    @app.route("/user/<name>")
    def user(name):
        row = get_db().execute("select * from users where username = ?", [name]).fetchone()
        if row is None:
            abort(404)
        g._seen = name
        return f"{row['username']} {row['user_id']} {g._seen} {hasattr(g, '_seen')} {'_seen' in g}"

    @app.route("/pop")
    def pop():
        g._x = 1
        return str(g.pop("_x")) + str(g.get("_x", "gone")) + str(getattr(g, "_database", None))
    """}


def test_private_names_on_g_as_the_flask_docs_sqlite_pattern_uses_them(both, tmp_path):
    pair = both(SQLITE_PATTERN_APP)
    # Flask's instance folder and the tenant's /data: both empty at the start.
    (tmp_path / "flask" / "instance").mkdir()
    pair.post("/init")
    pair.get("/user/bob")
    pair.get("/user/zed")
    pair.get("/pop")


# -- a template imported as a module --------------------------------------------------

TEMPLATE_MODULE_APP = {
    "templates/forms.html": """
        {% macro field(name, value='') -%}
        <input name="{{ name }}" value="{{ value }}">
        {%- endmacro %}
        {% macro function() %}called{% endmacro %}
        {% set title = 'Forms' %}
        """,
    "templates/page.html": """
        {% import 'forms.html' as forms %}
        {{ forms.title }}: {{ forms.field('q', value='<x>') }} {{ forms.function() }}
        {{ forms.nope is defined }}
        """,
    "app.py": """
    from flask import Flask, render_template

    app = Flask(__name__)

    @app.route("/")
    def index():
        return render_template("page.html")
    """}


def test_a_template_imported_as_a_module_offers_its_macros_and_names(both):
    both(TEMPLATE_MODULE_APP).get("/")


# -- session.new -----------------------------------------------------------------------

SESSION_NEW_APP = {
    "templates/s.html": "{{ session.new }} {{ session.modified }} {{ session.permanent }}",
    "app.py": """
    from flask import Flask, session, render_template

    app = Flask(__name__)
    app.secret_key = "k"

    @app.route("/")
    def index():
        return render_template("s.html") + " " + str(session.new)

    @app.route("/set")
    def set_it():
        session["a"] = 1
        return str(session.new) + " " + str(session.modified)
    """}


def test_session_new_is_false_as_on_flask(both):
    pair = both(SESSION_NEW_APP)
    pair.get("/")
    pair.get("/set", compare=("Content-Type",))


# -- MAX_CONTENT_LENGTH -------------------------------------------------------------

MAX_CONTENT_APP = {"app.py": """
    from flask import Flask, request

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 1000
    app.config.update(MAX_FORM_MEMORY_SIZE=100, MAX_FORM_PARTS=3)

    @app.route("/form", methods=["POST"])
    def form():
        return "fields " + ",".join(sorted(request.form))

    @app.route("/upload", methods=["POST"])
    def upload():
        if "file" not in request.files:
            return "no file"
        return "got " + str(len(request.files["file"].read()))

    @app.route("/raw", methods=["POST"])
    def raw():
        return "raw " + str(len(request.get_data()))

    @app.route("/json", methods=["POST"])
    def as_json():
        return {"n": len(request.get_json())}

    @app.route("/limit")
    def limit():
        return str(request.max_content_length)

    @app.route("/ignored", methods=["POST"])
    def ignored():
        return "not read"
    """}


def upload(size):
    return lambda side: {"file": (io.BytesIO(b"x" * size), "a.txt")}


def test_max_content_length_answers_413_as_flask_does(both):
    pair = both(MAX_CONTENT_APP)
    pair.post("/upload", data=upload(10))
    pair.post("/upload", data=upload(2000))
    pair.post("/raw", data=b"y" * 999)
    pair.post("/raw", data=b"y" * 1001)
    pair.post("/json", data=b"[" + b"1," * 600 + b"1]", content_type="application/json")
    pair.get("/limit")
    pair.post("/form", data={"a": "x" * 99, "b": "y"})
    pair.post("/form", data=lambda side: {"a": "x" * 101, "f": (io.BytesIO(b"x"), "a.txt")})
    pair.post("/form", data=lambda side: {"a": "x" * 99, "f": (io.BytesIO(b"x"), "a.txt")})
    pair.post("/form", data={"a": "1", "b": "2", "c": "3", "d": "4"})
    pair.post("/ignored", data=b"z" * 5000)


def test_max_content_length_answers_413_to_a_body_without_a_length(both):
    pair = both(MAX_CONTENT_APP)
    body = lambda side: io.BytesIO(b"y" * 1200)  # noqa: E731 - a stream per side
    pair.post("/raw", input_stream=body, headers={"Transfer-Encoding": "chunked"})


# -- a status code Flask sends although it has no registered phrase --------------------------

STATUS_APP = {"app.py": """
    from flask import Flask

    app = Flask(__name__)

    @app.route("/666")
    def beast():
        return "code 666", 666

    @app.route("/299")
    def custom():
        return "custom", "299 Custom Thing"
    """}


def test_a_status_code_without_a_registered_phrase_is_sent_as_flask_sends_it(both):
    pair = both(STATUS_APP)
    pair.get("/666")
    pair.get("/299")


G_ATTACK_APP = {"app.py": """
    from flask import Flask, g

    app = Flask(__name__)

    @app.route("/")
    def probe():
        out = [repr(getattr(g, "_data", "no _data")), str(hasattr(g, "_data"))]
        g._data = "mine"             # a key of the request's dict, not the class's method
        out.append(g._data)
        out.append(repr(g.get("_data")))
        del g._data
        out.append(repr(getattr(g, "_data", "gone")))
        try:
            g._data
        except AttributeError as e:
            out.append("AttributeError " + str(e))
        for name in ("__getattr__", "__setattr__", "__class__", "__dict__"):
            try:
                out.append(name + " " + repr(getattr(g, name)))
            except AttributeError:
                out.append(name + " refused")
        return " | ".join(out)

    @app.route("/next")
    def next_request():
        return repr(getattr(g, "_secret", "fresh"))

    @app.route("/set")
    def set_secret():
        g._secret = "left behind"
        return "set"
    """}


def test_private_names_on_g_reach_only_the_tenants_own_values(tenants):
    """``g._x`` reads the request's dict, never an attribute of g's class
    (its ``_data`` method, its special methods), and a value lives for one
    request."""
    tenants.add("t", G_ATTACK_APP)
    client = tenants.client()
    text = client.get("/t/").get_data(as_text=True)
    assert text.split(" | ") == [
        "'no _data'", "False", "mine", "'mine'", "'gone'", "AttributeError _data",
        "__getattr__ refused", "__setattr__ refused", "__class__ refused", "__dict__ refused"]
    assert client.get("/t/set").get_data(as_text=True) == "set"
    assert client.get("/t/next").get_data(as_text=True) == "'fresh'"


# -- app.app_context() at import time: the Flask docs' init_db ---------------------------

APP_CONTEXT_APP = {
    "schema.sql": "create table if not exists users (name text);\n"
                  "insert into users values ('ann');\n",
    "app.py": """
    import os
    import sqlite3
    from flask import Flask, g

    app = Flask(__name__)
    DATABASE = os.path.join(app.instance_path, "ctx.db")
    CLOSED = []

    def get_db():
        db = getattr(g, "_database", None)
        if db is None:
            db = g._database = sqlite3.connect(DATABASE)
        return db

    @app.teardown_appcontext
    def close_connection(exception):
        db = getattr(g, "_database", None)
        if db is not None:
            CLOSED.append(type(exception).__name__)
            db.close()

    def init_db():
        with app.app_context():
            db = get_db()
            with app.open_resource("schema.sql", mode="r") as f:
                db.cursor().executescript(f.read())
            db.commit()

    init_db()

    @app.route("/")
    def index():
        g.outer = "request's g"
        with app.app_context():
            inner = getattr(g, "outer", "a fresh g")
        try:
            with app.app_context():
                get_db()
                raise KeyError("x")
        except KeyError:
            pass
        names = [r[0] for r in get_db().execute("select name from users")]
        return " ".join([inner, g.outer, str(names), str(CLOSED)])
    """}


def test_app_context_gives_a_fresh_g_and_runs_teardown_hooks(both, tmp_path):
    (tmp_path / "flask" / "instance").mkdir(parents=True)
    both(APP_CONTEXT_APP).get("/")


# -- a module's top level runs outside any request, a cold start's too ---------------------

IMPORT_TIME_APP = {"app.py": """
    from flask import Flask, request, g

    app = Flask(__name__)
    try:
        SEEN = "the first request: " + request.path
    except RuntimeError as exc:
        SEEN = "no request at import"
    try:
        g.planted = "at import"
    except RuntimeError:
        pass

    @app.route("/")
    def index():
        return SEEN + " " + str(g.get("planted"))

    @app.errorhandler(404)
    def missing(error):
        return SEEN + " " + str(g.get("planted")), 404
    """}


@pytest.mark.parametrize("first", ["/", "/nowhere"])
def test_a_cold_starts_module_sees_no_request(both, first):
    """Under Flask a module runs at import, where ``request`` and ``g``
    raise. Here it runs on a cold start, inside the first request's limits
    (a view's or, for a 404, the error handler's): it must not see that
    request either (it read the first caller's request, and its ``g``
    write landed in that caller's ``g``)."""
    app = both(IMPORT_TIME_APP)
    app.get(first)
    app.get("/")


# -- send_static_file: the single-page application pattern ---------------------------------

SPA_APP = {
    "static/index.html": "<html>the app</html>\n",
    "static/main.js": "let x = 1;\n",
    "app.py": """
    from flask import Flask, jsonify

    app = Flask(__name__)

    @app.route("/heartbeat")
    def heartbeat():
        return jsonify({"status": "healthy"})

    @app.route("/", defaults={"path": ""})
    @app.route("/<path:path>")
    def catch_all(path):
        return app.send_static_file("index.html")

    @app.route("/raw/<name>")
    def raw(name):
        return app.send_static_file(name)
    """}


def test_send_static_file_answers_as_flasks_static_route(both):
    pair = both(SPA_APP)
    pair.get("/")
    pair.get("/users/3/edit")
    pair.get("/heartbeat")
    pair.get("/static/main.js")
    pair.get("/raw/main.js")
    pair.get("/raw/nope.js")
    pair.get("/raw/..%2Fapp.py")


# -- a row_factory set before writes: the Flask docs' make_dicts ---------------------------

ROW_FACTORY_APP = {"app.py": """
    import os
    import sqlite3
    from flask import Flask, jsonify

    app = Flask(__name__)
    CALLS = []

    def make_dicts(cursor, row):
        CALLS.append(1)
        return dict((cursor.description[idx][0], value)
                    for idx, value in enumerate(row))

    @app.route("/", methods=["POST"])
    def index():
        db = sqlite3.connect(os.path.join(app.instance_path, "rows.db"))
        db.row_factory = make_dicts
        db.cursor().executescript("create table if not exists t (a, b);"
                                  "insert into t values (1, 'x');")
        db.execute("insert into t values (?, ?)", (2, "y"))
        db.commit()
        rows = db.execute("select * from t order by a").fetchall()
        db.close()
        return jsonify(rows=rows, factory_calls=len(CALLS))
    """}


def test_a_row_factory_makes_the_tenants_rows_and_no_other(both, tmp_path):
    """The quota's own page counts were read through the tenant's
    row_factory (``KeyError: 0`` from a dict factory in the middle of a
    write); the factory now sees only the rows the tenant fetches."""
    (tmp_path / "flask" / "instance").mkdir(parents=True)
    pair = both(ROW_FACTORY_APP)
    pair.post("/")
    pair.post("/")


# -- teardown hooks: request ones, then the app context's, each the last first --------------

TEARDOWN_APP = {"app.py": """
    from flask import Flask, Blueprint

    app = Flask(__name__)
    bp = Blueprint("bp", __name__)
    seen = []

    @app.teardown_request
    def request_one(exc):
        seen.append("request_one")

    @app.teardown_request
    def request_two(exc):
        seen.append("request_two")

    @app.teardown_appcontext
    def context_one(exc):
        seen.append("context_one")

    @app.teardown_appcontext
    def context_two(exc):
        seen.append("context_two")

    @bp.teardown_request
    def bp_request(exc):
        seen.append("bp_request")

    @bp.route("/bp")
    def in_bp():
        return "bp"

    app.register_blueprint(bp)

    @app.route("/")
    def index():
        return "index"

    @app.route("/seen")
    def report():
        order = ",".join(seen)
        seen.clear()
        return order

    @app.route("/context")
    def context():
        seen.clear()
        with app.app_context():
            pass
        return ",".join(seen)
    """}


def test_teardown_hooks_run_as_flask_runs_them(both):
    pair = both(TEARDOWN_APP)
    pair.get("/")
    pair.get("/seen")  # after "/": the request's hooks, then the app context's
    pair.get("/bp")
    pair.get("/seen")  # the blueprint's request hook first
    pair.get("/context")  # leaving an app context runs its hooks only


URL_VALUES = {"app.py": """
    import uuid
    from flask import Flask, url_for

    app = Flask(__name__)

    @app.route("/files/<path:name>")
    def files(name):
        return name

    @app.route("/tag/<tag>")
    def tag(tag):
        return tag

    @app.route("/n/<int:n>/<float:x>/<any(a, b):kind>/<uuid:key>")
    def numbers(n, x, kind, key):
        return f"{n} {x} {kind} {key}"

    @app.route("/")
    def index():
        key = uuid.UUID("12345678123456781234567812345678")
        return "|".join([
            url_for("files", name="a/b c.txt"), url_for("files", name="ü/%?#"),
            url_for("tag", tag="c++ & (more); x=y @home!"), url_for("tag", tag="a/b"),
            url_for("numbers", n="05", x=2, kind="b", key=key),
            url_for("static", filename="css/x y+z.css"),
            url_for("index", q="a/b c", _anchor="x y")])
    """}


def test_url_for_writes_values_as_werkzeugs_converters_do(both):
    """A path keeps its ``/`` and what WHATWG allows in a path stays as it
    is; numbers are the converter's (real-code trial 5: ``/`` was ``%2F``)."""
    pair = both(URL_VALUES)
    built = pair.get("/")[1].text.split("|")
    assert built[0] == "/t/files/a/b%20c.txt" and built[2].startswith("/t/tag/c++%20&%20(more);")
    pair.get("/files/a/b%20c.txt")
    pair.get("/n/5/2.0/b/12345678-1234-5678-1234-567812345678")


STREAMED_TEMPLATES = {
    "app.py": """
        from flask import Flask, request, stream_template, stream_template_string

        app = Flask(__name__)

        @app.context_processor
        def shop():
            return {"shop": "Ann's"}

        @app.get("/timeline")
        def timeline():
            return stream_template("timeline.html", items=range(3))

        @app.get("/inline")
        def inline():
            return stream_template_string("{{ shop }}: {{ request.args.q }}")
        """,
    "templates/timeline.html": "{% for i in items %}<p>{{ i }}</p>{% endfor %}{{ shop }}",
}


def test_stream_template_answers_as_flask(both):
    """``stream_template`` (Flask 2.2+; the Flask docs' streaming pattern,
    real-code trial 5: it was not offered)."""
    pair = both(STREAMED_TEMPLATES)
    assert pair.get("/timeline")[1].text == "<p>0</p><p>1</p><p>2</p>Ann&#39;s"
    pair.get("/inline?q=<i>")


# -- app.config's defaults --------------------------------------------------------------

CONFIG_APP = {"app.py": """
    from flask import Flask

    app = Flask(__name__)

    @app.route("/")
    def index():
        return {key: repr(value) for key, value in app.config.items()
                if key not in ("SECRET_KEY",)}

    @app.route("/<key>")
    def one(key):
        try:
            return repr(app.config[key])
        except KeyError as e:
            return "KeyError " + str(e)
    """}


def test_app_config_holds_flask_3_1_defaults_and_no_others(both):
    """Every key of Flask 3.1's default config, with its value, and none it
    has not (``JSON_SORT_KEYS`` went in Flask 2.3: reading it is a
    ``KeyError`` there, and here)."""
    pair = both(CONFIG_APP)
    pair.get("/")
    for key in ("SEND_FILE_MAX_AGE_DEFAULT", "PREFERRED_URL_SCHEME", "MAX_COOKIE_SIZE",
                "JSON_SORT_KEYS", "TRUSTED_HOSTS"):
        pair.get(f"/{key}")


def test_url_building_in_a_test_request_context_as_flasks_quickstart_shows_it(both):
    # The Flask quickstart's "URL Building" example runs at import.
    pair = both({"app.py": """
        from flask import Flask, request, url_for

        app = Flask(__name__)
        BUILT = []

        @app.route("/")
        def index():
            return "index"

        @app.route("/user/<username>")
        def profile(username):
            return username

        @app.route("/built")
        def built():
            with app.test_request_context("/x", method="POST", query_string="a=1"):
                inside = [request.path, request.method, request.args["a"],
                          url_for("profile", username="a b")]
            return {"import": BUILT, "inside": inside,
                    "after": [request.path, url_for("index")]}

        with app.test_request_context():
            BUILT += [url_for("index"), url_for("index", next="/"),
                      url_for("profile", username="John Doe"),
                      url_for("index", _external=True), request.path]
        """})
    pair.get("/built")


def test_a_test_request_context_takes_urls_of_url_size(tenants):
    # werkzeug quotes them in host code, in one call.
    from werkzeug.test import Client

    tenants.add("t", {"app.py": """
        from flask import Flask
        app = Flask(__name__)

        @app.route("/")
        def index():
            try:
                with app.test_request_context("/" + "x" * 2_000_000):
                    return "built"
            except ValueError as exc:
                return str(exc)
        """})
    answer = Client(tenants.app()).get("/t/")
    assert answer.get_data(as_text=True) == "test_request_context() takes URLs of at most 64 KB here"


# -- Jinja2's template errors, imported by name -----------------------------------------

#: Flask's own blueprint example serves pages by name and answers a missing
#: one 404 (``from jinja2 import TemplateNotFound``); real-code trial 7 found
#: ``import jinja2`` refused at deploy.
JINJA_ERRORS_APP = {
    "app.py": """
        import jinja2
        from flask import Flask, abort, render_template, render_template_string
        from jinja2 import TemplateNotFound
        from jinja2.exceptions import TemplateSyntaxError, UndefinedError

        app = Flask(__name__)

        @app.route("/", defaults={"page": "index"})
        @app.route("/<page>")
        def show(page):
            try:
                return render_template(f"pages/{page}.html")
            except TemplateNotFound as e:
                if page == "why":
                    return f"{type(e).__name__}: {e.name} {e.templates} {e.message}"
                abort(404)

        @app.route("/syntax")
        def syntax():
            try:
                return render_template_string("{% if %}")
            except TemplateSyntaxError as e:
                return f"{e.lineno} {e.message} {isinstance(e, jinja2.TemplateError)}"

        @app.route("/undefined")
        def undefined():
            try:
                return render_template_string("{{ nothing.there }}")
            except UndefinedError as e:
                return f"{type(e).__name__}: {e}"
        """,
    "templates/pages/index.html": "index page",
}


def test_jinja2s_template_errors_are_caught_by_name(both):
    pair = both(JINJA_ERRORS_APP)
    for path in ("/", "/index", "/missing", "/why", "/syntax", "/undefined"):
        pair.get(path)


def test_what_jinja2_3_1_removed_is_refused_with_what_to_write_instead(tenants):
    tenants.add("acme", {"app.py": "from jinja2 import Markup\nfrom jinja2 import Environment\n"
                                   "from flask import Flask\napp = Flask(__name__)\n"
                                   "@app.route('/')\ndef index():\n    return Markup('x')\n"})
    errors = sorted(tenants.app().registry.error_list())
    assert errors[0].startswith("acme/app.py:1: cannot import name 'Markup' from 'jinja2': "
                                "Jinja2 3.1 removed it: `from markupsafe import Markup`"), errors
    assert errors[1].startswith("acme/app.py:2: cannot import name 'Environment' from 'jinja2'")

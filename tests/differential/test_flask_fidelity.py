"""The places issue 24 found muxserver silently different from Flask 3.1,
each answered by Flask itself and by muxserver in the same test: error
handlers for classes (``HTTPException``, ``Exception``), ``abort`` with a
description, template filters, tests and globals, ``FileStorage.save``,
``autocorrect_location_header`` and a missing request header."""

import io

from tests.differential.harness import HEADERS

# -- error handlers and abort -----------------------------------------------------------

HTTP_EXCEPTION_APP = {"app.py": """
    import json
    from flask import Flask, Blueprint, abort, request
    from werkzeug.exceptions import HTTPException, NotFound

    app = Flask(__name__)
    shop = Blueprint("shop", __name__)

    @app.errorhandler(HTTPException)
    def handle(e):
        return {"code": e.code, "name": e.name, "description": e.description,
                "text": str(e), "kind": type(e).__name__}, e.code

    @shop.errorhandler(410)
    def shop_gone(e):
        return "the shop's own 410: " + e.description, 410

    @shop.route("/shop/gone")
    def shop_item():
        abort(410, description="sold out")

    @app.route("/gone")
    def gone():
        abort(410)

    @app.route("/teapot")
    def teapot():
        abort(418, "short and stout")

    @app.route("/raised")
    def raised():
        raise NotFound()

    @app.route("/caught")
    def caught():
        try:
            abort(404)
        except HTTPException as e:
            return f"caught {e.code} {isinstance(e, NotFound)}"

    @app.route("/crash")
    def crash():
        raise ValueError("x")

    @app.route("/as-page")
    def as_page():
        e = NotFound("gone fishing")
        response = e.get_response()
        response.data = json.dumps({"code": e.code, "description": e.description})
        response.content_type = "application/json"
        return response

    @app.route("/bad-json", methods=["POST"])
    def bad_json():
        return {"got": request.get_json()}

    @app.after_request
    def stamp(response):
        response.headers["X-Custom"] = "after"
        return response

    app.register_blueprint(shop)
    """}


def test_an_errorhandler_for_http_exception_takes_every_http_error(both):
    pair = both(HTTP_EXCEPTION_APP)
    gone, _ = pair.get("/gone")
    assert gone.status_code == 410 and gone.json["name"] == "Gone"
    assert gone.headers["X-Custom"] == "after"  # after_request sees error answers too
    pair.get("/missing")  # the router's 404 (not a blueprint's: the app's handler)
    pair.get("/teapot")
    pair.get("/raised")
    pair.get("/caught")
    crash, _ = pair.get("/crash")  # unhandled: an InternalServerError for the handler
    assert crash.json["code"] == 500 and crash.json["kind"] == "InternalServerError"
    pair.get("/as-page")
    pair.get("/shop/gone")  # the blueprint's own handler first
    pair.post("/bad-json", data="{nope", content_type="application/json")
    pair.request("POST", "/gone")  # 405: MethodNotAllowed is an HTTPException too


EXCEPTION_APP = {"app.py": """
    from flask import Flask, Blueprint, abort
    from werkzeug.exceptions import NotFound

    app = Flask(__name__)
    admin = Blueprint("admin", __name__)

    @app.errorhandler(Exception)
    def anything(e):
        return f"{type(e).__name__}: {getattr(e, 'code', '-')}", 400

    @admin.app_errorhandler(NotFound)
    def not_found(e):
        return "admin's app-wide 404", 404

    @admin.route("/admin/key")
    def key():
        return {}["missing"]

    @app.route("/abort")
    def aborted():
        abort(409)

    app.register_blueprint(admin)
    """}


def test_an_errorhandler_for_exception_and_a_blueprints_app_errorhandler(both):
    pair = both(EXCEPTION_APP)
    pair.get("/missing")  # NotFound: the blueprint's app_errorhandler, app-wide
    pair.get("/abort")  # Conflict: the handler for Exception
    pair.get("/admin/key")


ABORT_APP = {"app.py": """
    from flask import Flask, abort, jsonify

    app = Flask(__name__)

    @app.errorhandler(400)
    def bad_request(e):
        return jsonify(description=e.description, text=str(e)), 400

    @app.errorhandler(ValueError)
    def bad_value(e):
        abort(400, description="bad value")

    @app.errorhandler(500)
    def server_error(e):
        original = e.original_exception
        return jsonify(original=type(original).__name__, text=str(original)), 500

    @app.route("/input")
    def input_():
        abort(400, description="bad input")

    @app.route("/value")
    def value():
        raise ValueError("x")

    @app.route("/unknown-code")
    def unknown_code():
        try:
            abort(299)
        except LookupError as e:
            return str(e)
    """}


def test_abort_with_a_description_and_an_abort_inside_an_error_handler(both):
    pair = both(ABORT_APP)
    answer, _ = pair.get("/input")
    assert answer.json == {"description": "bad input", "text": "400 Bad Request: bad input"}
    # An error handler that aborts is an unhandled error: Flask's 500 handler
    # gets an InternalServerError whose original_exception is the BadRequest.
    value, _ = pair.get("/value")
    assert value.status_code == 500 and value.json["original"] == "BadRequest"
    pair.get("/unknown-code")


def test_an_abort_inside_an_error_handler_without_a_500_handler(both):
    pair = both({"app.py": """
        from flask import Flask, abort

        app = Flask(__name__)

        @app.errorhandler(ValueError)
        def bad_value(e):
            abort(400, description="bad value")

        @app.route("/value")
        def value():
            raise ValueError("x")
        """})
    # Both answer 500; muxserver's body is its own 500 page (the request id,
    # the traceback in the tenant's log: SPEC "Limits and status codes").
    answer, _ = pair.get("/value", body=False, compare=())
    assert answer.status_code == 500


HOOKS_APP = {"app.py": """
    from flask import Flask, request

    app = Flask(__name__)

    @app.before_request
    def gate():
        if request.path.startswith("/private"):
            return "log in first", 401

    @app.after_request
    def cors(response):
        response.headers["X-Custom"] = "cors"
        return response

    @app.route("/")
    def index():
        return "home"
    """}


def test_request_hooks_run_for_unknown_urls_and_methods(both):
    """Flask runs before_request before it raises its routing error (a hook
    may answer instead) and after_request on the error page."""
    pair = both(HOOKS_APP)
    missing, _ = pair.get("/missing")
    assert missing.status_code == 404 and missing.headers["X-Custom"] == "cors"
    private, _ = pair.get("/private/anything")
    assert private.status_code == 401
    # Flask's Allow lists a set in no fixed order: compared as sets.
    flask_answer, mux_answer = pair.request("POST", "/", compare=tuple(
        h for h in HEADERS if h != "Allow"))
    assert set(mux_answer.headers["Allow"].split(", ")) == \
        set(flask_answer.headers["Allow"].split(", "))


# -- the request's headers ------------------------------------------------------------

HEADERS_APP = {"app.py": """
    from flask import Flask, request

    app = Flask(__name__)

    @app.route("/")
    def index():
        return request.headers["X-Token"]

    @app.route("/kind")
    def kind():
        answers = []
        for name in ("X-Token", "Content-Type", "x_token"):
            try:
                answers.append(request.headers[name])
            except Exception as e:
                answers.append(f"{type(e).__name__} {e}")
        try:
            request.headers["X-New"] = "1"
        except TypeError:
            answers.append("immutable")
        answers.append(request.headers.get("X-Token", "none"))
        answers.append(str(request.headers.get("Content-Length", type=int)))
        answers.append(str("x-token" in request.headers))
        return " | ".join(answers)

    @app.route("/arg")
    def arg():
        return request.args["missing"]
    """}


def test_a_missing_header_read_by_subscript_is_a_plain_key_error(both):
    pair = both(HEADERS_APP)
    # Flask 3.1 itself: werkzeug's EnvironHeaders raises a plain KeyError
    # (not BadRequestKeyError) named after the environ key.
    kinds, _ = pair.get("/kind")
    assert kinds.get_data(as_text=True).startswith("KeyError 'HTTP_X_TOKEN' | ")
    pair.get("/kind", headers={"X-Token": "t"}, data=b"abc")
    # So, unhandled, it is a 500 on both (the bodies are each server's 500 page).
    missing, _ = pair.get("/", body=False, compare=())
    assert missing.status_code == 500
    pair.get("/", headers={"X-Token": "secret"})
    pair.get("/arg")  # request.args is a MultiDict: BadRequestKeyError, 400


# -- templates: filters, tests and globals ----------------------------------------------

TEMPLATES_APP = {
    "app.py": """
        from flask import Flask, Blueprint, render_template, render_template_string

        app = Flask(__name__)
        bp = Blueprint("bp", __name__)

        @app.template_filter("shout")
        def shout(text):
            return text.upper() + "!"

        @app.template_filter()
        def whisper(text):
            return text.lower() + "..."

        def backwards(text):
            return text[::-1]

        app.add_template_filter(backwards, "rev")
        app.jinja_env.filters["twice"] = lambda text: text * 2
        app.jinja_env.globals["site_name"] = "Acme"
        app.jinja_env.globals.update(version=3)
        app.jinja_env.trim_blocks = True

        @app.template_global()
        def greeting(name):
            return "hello " + name

        @app.template_test("short")
        def is_short(text):
            return len(text) < 4

        @bp.app_template_filter("stars")
        def stars(text):
            return "*" + text + "*"

        app.register_blueprint(bp)

        @app.route("/")
        def index():
            return render_template_string(
                "{{ 'hi'|shout }} {{ 'HO'|whisper }} {{ 'abc'|rev }} {{ 'x'|twice }} "
                "{{ site_name }} v{{ version }} {{ greeting('ann') }} "
                "{{ 'abc' is short }} {{ 'abcdef' is short }} {{ 'b'|stars }}")

        @app.route("/page")
        def page():
            return render_template("page.html", items=["a", "bb"])

        @app.route("/late")
        def late():
            app.jinja_env.filters["late"] = lambda text: "late " + text
            return render_template_string("{{ 'x'|late }}")
        """,
    "templates/page.html": """\
        {% for item in items %}
        <li>{{ item|shout }}{% if item is short %} (short){% endif %}</li>
        {% endfor %}
        {{ site_name|stars }}
        """,
}


def test_template_filters_tests_globals_and_jinja_env(both):
    pair = both(TEMPLATES_APP)
    index, _ = pair.get("/")
    assert index.get_data(as_text=True).startswith("HI! ho... cba xx Acme v3 hello ann True False")
    pair.get("/page")
    pair.get("/late")  # a filter added after the first render is there at the next
    pair.get("/page")


# -- uploads ---------------------------------------------------------------------------

UPLOAD_APP = {"app.py": """
    import io, os
    from flask import Flask, request

    app = Flask(__name__)

    @app.route("/upload", methods=["POST"])
    def upload():
        os.makedirs(app.instance_path, exist_ok=True)
        target = os.path.join(app.instance_path, "upload.txt")
        request.files["f"].save(target)
        with open(target) as f:
            return f.read()

    @app.route("/rest", methods=["POST"])
    def rest():
        upload = request.files["f"]
        head = upload.read(5)
        buffer = io.BytesIO()
        upload.save(buffer, buffer_size=3)
        return {"head": head.decode(), "rest": buffer.getvalue().decode()}

    @app.route("/twice", methods=["POST"])
    def twice():
        os.makedirs(app.instance_path, exist_ok=True)
        target = os.path.join(app.instance_path, "twice.txt")
        request.files["f"].save(target)
        request.files["g"].save(target)  # replaces the first
        with open(target) as f:
            return f.read()
    """}


def _upload(**files):
    return lambda side: {name: (io.BytesIO(body), f"{name}.txt") for name, body in files.items()}


def test_an_uploaded_file_saved_to_the_instance_folder_or_a_file_object(both):
    pair = both(UPLOAD_APP)
    pair.post("/upload", data=_upload(f=b"file body"))
    pair.post("/rest", data=_upload(f=b"0123456789abcdef"))
    pair.post("/twice", data=_upload(f=b"a much longer first body", g=b"short"))


MANY_FILES_APP = {"app.py": """
    from flask import Flask, request

    app = Flask(__name__)

    @app.route("/many", methods=["POST"])
    def many():
        files = request.files
        first = files.to_dict()
        every = files.to_dict(flat=False)
        return {
            "names": [f.filename for f in files.getlist("f")],
            "none": files.getlist("nothing"),
            "first": {k: v.filename for k, v in first.items()},
            "every": {k: [v.filename for v in vs] for k, vs in every.items()},
            "multi": [[k, v.filename] for k, v in files.items(multi=True)],
            "keys": list(files.keys()), "iter": list(files), "len": len(files),
            "lists": [[k, [v.read().decode() for v in vs]] for k, vs in files.lists()],
            "values": [v.filename for v in files.values()],
            "in": ["f" in files, "x" in files],
            "get": [files.get("g").filename, files.get("x", "absent")],
            "type": [type(files).__name__, files["g"].mimetype, files["g"].mimetype_params],
        }

    @app.route("/missing", methods=["POST"])
    def missing():
        return request.files["nope"].filename

    @app.route("/stream", methods=["POST"])
    def stream():
        upload = request.files["f"]
        head = upload.stream.read(3)
        upload.stream.seek(0)
        return {"head": head.decode(), "all": upload.stream.read().decode(),
                "at": upload.stream.tell(), "chosen": bool(upload),
                "empty": bool(request.files["none"])}
    """}


def test_request_files_is_a_multidict_that_keeps_every_file(both):
    pair = both(MANY_FILES_APP)
    many = lambda side: {
        "f": [(io.BytesIO(b"one"), "a.txt"), (io.BytesIO(b"two"), "b.sh")],
        "g": (io.BytesIO(b"three"), "c.csv", "text/csv; charset=utf-8")}
    answer, _ = pair.post("/many", data=many)
    assert answer.get_json()["names"] == ["a.txt", "b.sh"]
    pair.post("/missing", data=many)  # BadRequestKeyError: 400, as for form
    files = lambda side: {"f": (io.BytesIO(b"abcdef"), "a.txt"), "none": (io.BytesIO(b""), "")}
    answer, _ = pair.post("/stream", data=files)
    assert answer.get_json()["all"] == "abcdef"


# -- redirects -------------------------------------------------------------------------

REDIRECT_APP = {"app.py": """
    from flask import Flask, redirect, url_for

    app = Flask(__name__)

    @app.route("/go")
    def go():
        response = redirect("/elsewhere")
        response.autocorrect_location_header = False
        return response

    @app.route("/absolute")
    def absolute():
        response = redirect("next?page=2")
        response.autocorrect_location_header = True
        return response

    @app.route("/unicode")
    def unicode():
        return redirect("/café/ü?q=é")

    @app.route("/tuple")
    def tuple_():
        return "moved", 301, {"Location": "/naïve"}

    @app.route("/login")
    def login():
        return redirect(url_for("login", next="/a/b?c=1&d=é", u="http://x.test/", many=[1, 2],
                                gone=None, _anchor="top"))
    """}


def test_redirect_locations_as_werkzeug_sends_them(both):
    pair = both(REDIRECT_APP)
    go, _ = pair.get("/go")
    assert go.headers["Location"] == "/elsewhere"
    absolute, _ = pair.get("/absolute")
    assert absolute.headers["Location"] == "http://localhost/t/next?page=2"
    pair.get("/unicode")
    pair.get("/tuple")
    pair.get("/login")  # url_for's query, as werkzeug encodes it


REQUEST_APP = {"app.py": """
    from flask import Blueprint, Flask, Response, request, url_for

    app = Flask(__name__)
    bp = Blueprint("admin", __name__)

    def facts():
        return {
            "endpoint": request.endpoint, "blueprint": request.blueprint,
            "ua": [request.user_agent.string, str(request.user_agent)],
            "lang": request.accept_languages.best_match(["en", "de", "fr"]),
            "lang_q": request.accept_languages.quality("de"),
            "charsets": list(request.accept_charsets.values()),
            "encodings": request.accept_encodings.best_match(["gzip", "br", "identity"]),
            "etag": [request.if_none_match.contains("abc"), request.if_none_match.is_weak("w1"),
                     bool(request.if_match)],
            "range": [request.range.units, request.range.ranges] if request.range else None,
            "date": request.date.isoformat() if request.date else None,
            "since": str(request.if_modified_since),
            "route": request.access_route,
            "params": request.mimetype_params,
            "root": request.root_url,
            "self": url_for(request.endpoint),
            "https": url_for(request.endpoint, _scheme="https"),
            "auth": [request.authorization.type, request.authorization.username,
                     request.authorization.password] if request.authorization else None,
        }

    @app.route("/facts", methods=["GET", "POST"])
    def plain():
        return facts()

    @app.route("/named", endpoint="custom_ep")
    def named():
        return {"endpoint": request.endpoint, "url": url_for("custom_ep")}

    @bp.route("/named", endpoint="bp_ep")
    def bp_named():
        return {"endpoint": request.endpoint, "url": url_for(".bp_ep")}

    @app.route("/xml")
    def xml():
        return Response("<a/>", mimetype="application/xml")  # charset added, as werkzeug does

    @app.route("/")
    @app.route("/index")
    def stacked():
        return url_for("stacked")  # Flask builds the lowest decorator's rule

    @bp.route("/facts")
    def inside():
        return facts()

    app.register_blueprint(bp, url_prefix="/admin")
    """}

REQUEST_HEADERS = {
    "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0",
    "Accept-Language": "de;q=0.9, en;q=0.5", "Accept-Charset": "utf-8, latin-1;q=0.2",
    "Accept-Encoding": "br;q=0.5, gzip", "If-None-Match": '"abc", W/"w1"',
    "Range": "bytes=0-99,200-", "Date": "Wed, 21 Oct 2015 07:28:00 GMT",
    "If-Modified-Since": "Wed, 21 Oct 2015 07:28:00 GMT", "X-Forwarded-For": "10.0.0.1",
    "Authorization": "Basic YWRtaW46cHc=",
}


def test_request_attributes_and_endpoints_as_flask_has_them(both):
    """request.endpoint is the view's (blueprint-qualified) name; the
    negotiated and conditional headers are werkzeug's objects."""
    pair = both(REQUEST_APP)
    _, ours = pair.get("/facts", headers=REQUEST_HEADERS)
    assert ours.json["endpoint"] == "plain" and ours.json["lang"] == "de"
    _, ours = pair.get("/admin/facts", headers=REQUEST_HEADERS)
    assert ours.json["endpoint"] == "admin.inside" and ours.json["blueprint"] == "admin"
    pair.post("/facts", data="x", headers={"Content-Type": "text/plain; charset=latin-1"})
    pair.get("/facts")  # none of the headers: the empty values
    pair.get("/index")
    pair.get("/xml")
    _, ours = pair.get("/named")  # endpoint= names the endpoint, for url_for too
    assert ours.json == {"endpoint": "custom_ep", "url": "/t/named"}
    pair.get("/admin/named")
    # The automatic OPTIONS answer (Allow's order is a set's on Flask).
    _, ours = pair.request("OPTIONS", "/facts", compare=("Content-Type",))
    assert set(ours.headers["Allow"].split(", ")) == {"GET", "HEAD", "POST", "OPTIONS"}


CORS_APP = {"app.py": """
    from flask import Flask, request

    app = Flask(__name__)

    @app.before_request
    def only_known_origins():
        if request.headers.get("Origin") == "https://evil.test":
            return "forbidden origin", 403

    @app.after_request
    def cors(response):
        response.headers["Access-Control-Allow-Origin"] = request.headers.get("Origin", "*")
        response.headers["Access-Control-Allow-Methods"] = "GET, POST"
        return response

    @app.route("/api", methods=["GET", "POST"])
    def api():
        return {"ok": True}
    """}


def test_the_automatic_options_answer_goes_through_the_apps_request_hooks(both):
    """A hand-written CORS after_request answers the browser's preflight, as
    on Flask (its automatic OPTIONS runs the request hooks)."""
    pair = both(CORS_APP)
    preflight = {"Origin": "https://app.test", "Access-Control-Request-Method": "POST"}
    compare = ("Content-Type", "Access-Control-Allow-Origin", "Access-Control-Allow-Methods")
    _, ours = pair.request("OPTIONS", "/api", headers=preflight, compare=compare)
    assert ours.headers["Access-Control-Allow-Origin"] == "https://app.test"
    pair.request("OPTIONS", "/api", headers={"Origin": "https://evil.test"}, compare=compare)
    pair.get("/api", headers=preflight, compare=compare)

"""Paths with characters beyond ASCII, routed as werkzeug routes them: the
request's bytes (WSGI's ``PATH_INFO``, one latin-1 character per byte) read
as UTF-8, so a view argument, a rule's literal text and a static file's
name are the text the client percent-encoded — compared with Flask itself."""

APP = {"app.py": """
    from flask import Flask, request

    app = Flask(__name__)

    @app.route("/user/<name>")
    def user(name):
        return f"Hello, {name}! {len(name)} {request.path}"

    @app.route("/files/<path:sub>")
    def files(sub):
        return sub + " " + request.view_args["sub"]

    @app.route("/café")
    def cafe():
        return "café " + request.full_path

    @app.route("/menü/")
    def menu():
        return "menü"
    """,
    "static/notes-é.txt": "accented file name\\n",
}


def test_non_ascii_path_segments_arrive_as_utf8_text(both):
    pair = both(APP)
    pair.get("/user/J%C3%BCrgen")
    pair.get("/user/%E2%98%83%20snow")
    pair.get("/user/%FF%FE")  # not UTF-8: werkzeug's replacement characters
    pair.get("/files/d%C3%A9j%C3%A0/vu")


def test_non_ascii_rules_and_static_names_match(both):
    pair = both(APP)
    pair.get("/caf%C3%A9", query_string="q=%C3%A9")
    redirected, _ = pair.get("/men%C3%BC")
    assert redirected.status_code == 308
    assert redirected.headers["Location"].endswith("/t/men%C3%BC/")
    pair.get("/men%C3%BC/")
    pair.get("/static/notes-%C3%A9.txt")
    theirs, ours = pair.request("OPTIONS", "/caf%C3%A9", compare=("Content-Type",))
    # Flask's Allow is a set's order (it varies between processes): as sets.
    assert set(ours.headers["Allow"].split(", ")) == set(theirs.headers["Allow"].split(", "))

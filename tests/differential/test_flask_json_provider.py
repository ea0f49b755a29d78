"""``app.json``, Flask 3.1's ``DefaultJSONProvider``: its settings
(``sort_keys``, ``compact``, ``ensure_ascii``, ``mimetype``) and its
``dumps``, ``loads`` and ``response``, answered by Flask itself and by
muxserver in the same test; what is not offered is refused at deploy (and
by ``muxserver check``) with file and line."""

from tests.differential.harness import HEADERS

SETTINGS_APP = {"app.py": """
    from flask import Flask, jsonify, json, render_template_string

    app = Flask(__name__)
    app.json.sort_keys = False
    app.json.ensure_ascii = False
    app.json.compact = False

    @app.route("/dict")
    def as_dict():
        return {"b": 1, "a": "caf\\u00e9", "c": [1, 2]}

    @app.route("/jsonify")
    def as_jsonify():
        return jsonify(z=1, y=[1, 2])

    @app.route("/dumps")
    def dumps():
        return (app.json.dumps({"b": 1, "a": 2}) + " " + json.dumps({"x": "\\u00e9", "a": 1})
                + " " + app.json.dumps({"x": "\\u00e9"}, ensure_ascii=True))

    @app.route("/loads")
    def loads():
        return repr(app.json.loads('{"a": [1, 2.5, null]}')) + repr(json.loads(b"[1]"))

    @app.route("/response")
    def response():
        return app.json.response({"k": "v", "a": 1})

    @app.route("/several")
    def several():
        return app.json.response(1, "two")

    @app.route("/settings")
    def settings():
        return [app.json.sort_keys, app.json.compact, app.json.ensure_ascii, app.json.mimetype]

    @app.route("/template")
    def template():
        return render_template_string("{{ {'b': 1, 'a': '<x>'} | tojson }}")
    """}

COMPACT_APP = {"app.py": """
    from flask import Flask, jsonify

    app = Flask(__name__)
    app.json.compact = True
    app.json.mimetype = "application/vnd.api+json"

    @app.route("/")
    def index():
        return jsonify({"b": [1, 2], "a": {"y": 1, "x": 2}})
    """}


def test_app_json_settings_and_methods_answer_as_flask(both):
    pair = both(SETTINGS_APP)
    for path in ("/dict", "/jsonify", "/dumps", "/loads", "/response", "/several", "/settings",
                 "/template"):
        pair.get(path, compare=HEADERS + ("Content-Length",))


def test_a_compact_provider_with_its_own_mimetype(both):
    pair = both(COMPACT_APP)
    pair.get("/", compare=HEADERS + ("Content-Length",))


def test_what_app_json_does_not_offer_is_refused_by_check_and_deploy(tenants, tmp_path):
    import subprocess
    import sys

    tenants.add("acme", {"app.py": """
        from flask import Flask

        app = Flask(__name__)
        app.json.default = str

        @app.route("/")
        def index():
            return "hi"
        """})
    errors = tenants.app().registry.error_list()
    assert len(errors) == 1 and "acme/app.py:5:" in errors[0], errors
    assert "json.default is not offered here" in errors[0]
    checked = subprocess.run([sys.executable, "-m", "muxserver", "check", str(tenants.root)],
                             capture_output=True, text=True, timeout=60)
    assert checked.returncode != 0 and "acme/app.py:5:" in checked.stdout + checked.stderr, (
        checked.stdout, checked.stderr)


def test_other_objects_json_attributes_are_not_refused(tenants):
    tenants.add("acme", {"app.py": """
        from flask import Flask, request

        app = Flask(__name__)

        class Thing:
            def __init__(self):
                self.json = {"a": 1}

        @app.route("/", methods=["POST"])
        def index():
            return {"got": request.json.get("a"), "thing": Thing().json.get("a")}
        """})
    assert tenants.app().registry.error_list() == []


def test_flask_json_lays_out_within_the_sandbox_limits(tenants):
    """It denies an indent past 64, separators past 16 characters, and an
    indented text whose nesting would multiply it past the request's memory."""
    from werkzeug.test import Client

    tenants.add("acme", {"app.py": """
        from flask import Flask, json

        app = Flask(__name__)
        app.json.compact = False

        def deep(levels):
            value = [0] * 200000
            for _ in range(levels):
                value = [value]
            return value

        @app.route("/<case>")
        def index(case):
            try:
                if case == "indent":
                    json.dumps([0] * 10, indent=10**9)
                elif case == "separators":
                    app.json.dumps([0, 1], separators=("," * 100, ":"))
                elif case == "deep":
                    app.json.dumps(deep(60), indent=64)
                else:
                    return app.json.response(deep(600))  # indent 2: 1,200 bytes a zero
            except Exception as exc:
                return type(exc).__name__ + ": " + str(exc)
            return "built"
        """})
    client = Client(tenants.app())
    assert b"json indent is over the sandbox limit" in client.get("/acme/indent").data
    assert b"separators are over the sandbox limit" in client.get("/acme/separators").data
    for case in ("deep", "response"):
        answer = client.get(f"/acme/{case}")
        assert b"built" not in answer.data and (
            answer.status_code >= 500 or b"memory" in answer.data.lower()), answer.data[:200]

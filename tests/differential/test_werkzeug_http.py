"""``werkzeug.http``'s pure helpers (``HTTP_STATUS_CODES``, ``http_date``,
``parse_date``), answered by werkzeug itself under Flask and by muxserver in
the same test; the rest of the module is refused at deploy by name."""

APP = {"app.py": """
    import datetime
    from flask import Flask, request
    from werkzeug.http import HTTP_STATUS_CODES, http_date, parse_date
    import werkzeug.http

    app = Flask(__name__)

    @app.route("/")
    def index():
        code = int(request.args.get("code", "418"))
        when = parse_date(request.headers.get("X-When", ""))
        return {"phrase": HTTP_STATUS_CODES.get(code, "Unknown"),
                "known": len(HTTP_STATUS_CODES) > 50,
                "date": http_date(datetime.datetime(2024, 5, 1, 12, 30, tzinfo=datetime.timezone.utc)),
                "stamp": http_date(0), "parsed": when.isoformat() if when else None,
                "same": werkzeug.http.HTTP_STATUS_CODES[404]}
    """}


def test_werkzeug_http_helpers_answer_as_werkzeug(both):
    pair = both(APP)
    pair.get("/")
    pair.get("/?code=308", headers={"X-When": "Wed, 01 May 2024 12:30:00 GMT"})
    pair.get("/?code=999", headers={"X-When": "not a date"})


def test_the_rest_of_werkzeug_http_is_refused_by_name(tenants):
    tenants.add("acme", {"app.py": """
        from flask import Flask
        from werkzeug.http import dump_cookie

        app = Flask(__name__)

        @app.route("/")
        def index():
            return dump_cookie("a", "b")
        """})
    errors = tenants.app().registry.error_list()
    assert any("acme/app.py:3:" in e and "dump_cookie" in e for e in errors), errors


def test_the_status_table_cannot_be_changed(tenants):
    from werkzeug.http import HTTP_STATUS_CODES
    from werkzeug.test import Client

    tenants.add("acme", {"app.py": """
        from flask import Flask
        from werkzeug.http import HTTP_STATUS_CODES

        app = Flask(__name__)

        @app.route("/")
        def index():
            try:
                HTTP_STATUS_CODES[404] = "Mine"
            except Exception as exc:
                return type(exc).__name__
            return "changed"
        """})
    assert Client(tenants.app()).get("/acme/").data == b"TypeError"
    assert HTTP_STATUS_CODES[404] == "Not Found"

"""The session cookie as Flask 3.1 writes it, from the app's config: the
same app on Flask and on muxserver, each ``Set-Cookie`` compared attribute
by attribute. Two differences are muxserver's by design and asserted as
such: ``Path`` is under the tenant's mount (``/t``), and a
``SESSION_COOKIE_DOMAIN`` is not sent (it is logged)."""

from __future__ import annotations

from datetime import datetime
from datetime import timezone

import pytest
from werkzeug.http import parse_date

from tests.differential.harness import HEADERS
from tests.differential.harness import MOUNT

#: Flask adds ``Vary: Cookie`` when the session was read or its cookie sent.
VARY = (*HEADERS, "Vary")

APP = """
    from datetime import timedelta
    from flask import Flask, session

    app = Flask(__name__)
    app.config["SECRET_KEY"] = "dev"
    {config}

    @app.route("/login")
    def login():
        session.permanent = {permanent}
        session["user"] = "ann"
        session["id"] = 7  # after "user": Flask's cookie sorts them
        return "ok"

    @app.route("/who")
    def who():
        return session.get("user", "nobody")

    @app.route("/knows")
    def knows():
        return {{"in": "user" in session, "len": len(session)}}  # not "accessed" on Flask

    @app.route("/vary")
    def vary():
        return "x", 200, {{"Vary": "Accept-Encoding"}}  # session untouched

    @app.route("/logout")
    def logout():
        session.clear()
        return "bye"

    @app.route("/settings")
    def settings():
        return {{"name": app.config["SESSION_COOKIE_NAME"],
                 "samesite": app.config["SESSION_COOKIE_SAMESITE"],
                 "days": app.permanent_session_lifetime.days}}
    """


def _files(*config, permanent=False):
    return {"app.py": APP.format(config="\n    ".join(config), permanent=permanent)}


def _cookie(answer) -> dict | None:
    """The ``Set-Cookie`` of an answer as ``{"name", "value", attribute: value}``."""
    headers = answer.headers.getlist("Set-Cookie")
    if not headers:
        return None
    assert len(headers) == 1, headers
    first, *attributes = headers[0].split("; ")
    name, _, value = first.partition("=")
    cookie = {"name": name, "value": value}
    for attribute in attributes:
        key, eq, val = attribute.partition("=")
        cookie[key] = val if eq else True
    return cookie


def _same_cookie(pair, path, expect_path=MOUNT):
    """GET ``path`` on both; their cookies agree but for ``Path`` (under
    the mount here), the signed value and ``Expires`` (a second apart)."""
    theirs, ours = pair.get(path, compare=VARY)
    theirs, ours = _cookie(theirs), _cookie(ours)
    assert (theirs is None) == (ours is None), (theirs, ours)
    if theirs is None:
        return
    assert ours.pop("Path") == expect_path
    theirs.pop("Path")
    if "Expires" in theirs or "Expires" in ours:
        gap = parse_date(ours.pop("Expires")) - parse_date(theirs.pop("Expires"))
        assert abs(gap.total_seconds()) <= 2
    if theirs["value"]:
        # The same JSON text, keys sorted as Flask's app JSON sorts them; the
        # timestamp and signature after it differ.
        assert ours["value"].rsplit(".", 2)[0] == theirs["value"].rsplit(".", 2)[0]
        del theirs["value"], ours["value"]
    assert ours == theirs


def test_the_default_cookie_has_no_samesite_and_no_expiry(both):
    pair = both(_files())
    pair.get("/settings")
    theirs, ours = pair.get("/login")
    assert "SameSite" not in ours.headers["Set-Cookie"]
    assert _cookie(ours)["Path"] == MOUNT and "Expires" not in _cookie(ours)
    _same_cookie(pair, "/login")
    _, who = pair.get("/who", compare=VARY)
    assert who.headers["Vary"] == "Cookie"
    _same_cookie(pair, "/who")  # read, not changed, not permanent: no cookie
    _same_cookie(pair, "/knows")
    _same_cookie(pair, "/vary")
    _same_cookie(pair, "/logout")  # emptied: deleted, as Flask deletes it
    pair.get("/who")


def test_the_users_config_names_the_cookie_and_sets_its_lifetime_and_samesite(both):
    pair = both(_files('app.config["SESSION_COOKIE_NAME"] = "sid"',
                       'app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(days=7)',
                       'app.config["SESSION_COOKIE_SAMESITE"] = "Strict"', permanent=True))
    pair.get("/settings")
    _, ours = pair.get("/login")
    cookie = _cookie(ours)
    assert cookie["name"] == "sid" and cookie["SameSite"] == "Strict" and "Max-Age" not in cookie
    expires = parse_date(cookie["Expires"]) - datetime.now(timezone.utc)
    assert 6.99 * 86400 < expires.total_seconds() <= 7 * 86400
    _same_cookie(pair, "/login")
    who, _ = pair.get("/who", compare=VARY)  # the cookie named sid is read back
    assert who.get_data(as_text=True) == "ann"
    _same_cookie(pair, "/who")  # permanent: refreshed on every request
    _same_cookie(pair, "/logout")
    pair.get("/who")


@pytest.mark.parametrize("config", [
    ['app.config["SESSION_COOKIE_SECURE"] = True', 'app.config["SESSION_COOKIE_HTTPONLY"] = False'],
    ['app.config["SESSION_COOKIE_PARTITIONED"] = True',
     'app.config["SESSION_COOKIE_SAMESITE"] = "none"'],
    ['app.config["SESSION_COOKIE_SAMESITE"] = "lax"', 'app.permanent_session_lifetime = 60',
     'app.config["SESSION_REFRESH_EACH_REQUEST"] = False'],
])
def test_each_cookie_setting_changes_the_cookie_as_on_flask(both, config):
    pair = both(_files(*config, permanent=True))
    _same_cookie(pair, "/login")
    _same_cookie(pair, "/who")
    _same_cookie(pair, "/knows")
    _same_cookie(pair, "/logout")


@pytest.mark.parametrize(("configured", "path"), [
    ("/admin", MOUNT + "/admin"), ("/", MOUNT), ("/../../other", MOUNT + "/other")])
def test_a_cookie_path_is_read_under_the_tenants_mount(both, configured, path):
    pair = both(_files(f'app.config["SESSION_COOKIE_PATH"] = "{configured}"'))
    _same_cookie(pair, "/login", expect_path=path)


def test_a_cookie_domain_is_not_sent_and_the_log_says_why(both):
    pair = both(_files('app.config["SESSION_COOKIE_DOMAIN"] = "example.com"'))
    theirs, ours = pair.get("/login")
    assert _cookie(theirs)["Domain"] == "example.com"
    assert "Domain" not in _cookie(ours)
    pair.mux.get(MOUNT + "/login")
    warnings = [e["line"] for e in pair.mux_app.logs.tail("t") if e["level"] == "warning"]
    assert len(warnings) == 1 and "SESSION_COOKIE_DOMAIN" in warnings[0]


def test_a_cookie_name_that_would_add_attributes_is_refused(both):
    pair = both(_files('app.config["SESSION_COOKIE_NAME"] = "sid; Domain=other.example"'))
    answer = pair.mux.get(MOUNT + "/login")
    assert answer.status_code == 500
    assert "Set-Cookie" not in answer.headers
    assert any("SESSION_COOKIE_NAME" in e["line"] for e in pair.mux_app.logs.tail("t"))


def test_the_users_session_settings_over_http(tenants, live):
    """The reported app's settings on a real socket: the cookie is ``sid``,
    scoped to the mount, ``SameSite=Strict``, expiring in 7 days, and sent
    back by the client on the next request."""
    tenants.add("kitchen", _files('app.config["SESSION_COOKIE_NAME"] = "sid"',
                                  'app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(days=7)',
                                  'app.config["SESSION_COOKIE_SAMESITE"] = "Strict"',
                                  permanent=True))
    server = live()
    login = server.get("/kitchen/login")
    header = login.headers["Set-Cookie"]
    assert header.startswith("sid=") and "; HttpOnly; Path=/kitchen; SameSite=Strict" in header
    assert "Max-Age" not in header and "session=" not in header
    assert server.get("/kitchen/who").text == "ann"
    assert server.get("/kitchen/logout").text == "bye"
    assert server.get("/kitchen/who").text == "nobody"


def _signed_by(key: str, data: dict) -> str:
    """A session cookie as a real Flask app whose SECRET_KEY is ``key`` signs it."""
    from flask import Flask

    minter = Flask("minter")
    minter.secret_key = key
    return minter.session_interface.get_signing_serializer(minter).dumps(data)


def test_cookies_signed_with_a_fallback_key_are_read_and_new_ones_use_the_current_key(both):
    """Flask 3.1's SECRET_KEY_FALLBACKS: rotating the key keeps sessions."""
    pair = both(_files('app.config["SECRET_KEY"] = "new"',
                       'app.config["SECRET_KEY_FALLBACKS"] = ["older", "old"]'))
    for key in ("old", "older", "new", "stranger"):
        value = _signed_by(key, {"user": "ann"})
        for client in (pair.flask.client, pair.mux):
            client.set_cookie("session", value)
        theirs, ours = pair.get("/who", compare=VARY)
        assert ours.get_data(as_text=True) == ("nobody" if key == "stranger" else "ann")
    _, ours = pair.get("/login")
    fresh = _cookie(ours)["value"]
    from flask import Flask

    current = Flask("reader")
    current.secret_key = "new"
    assert current.session_interface.get_signing_serializer(current).loads(fresh)["user"] == "ann"


TYPED = """
    import datetime, uuid
    from flask import Flask, session
    from markupsafe import Markup

    app = Flask(__name__)
    app.config["SECRET_KEY"] = "dev"

    @app.route("/put")
    def put():
        session["point"] = (1, 2)
        session["raw"] = b"\\x00\\xff"
        session["when"] = datetime.datetime(2024, 5, 6, 7, 8, 9, tzinfo=datetime.timezone.utc)
        session["id"] = uuid.UUID("12345678123456781234567812345678")
        session["html"] = Markup("<b>hi</b>")
        session["tagged"] = {" t": "a dict whose one key looks like a tag"}
        return "ok"

    @app.route("/get")
    def get():
        return {k: [type(v).__name__, repr(v)] for k, v in sorted(session.items())}
    """


def test_session_values_keep_their_types_as_flasks_tagged_json_keeps_them(both):
    pair = both({"app.py": TYPED})
    pair.get("/put", compare=VARY)
    flask_answer, ours = pair.get("/get")  # bodies compared: the same types and values
    assert ours.json["point"][0] == "tuple" and ours.json["when"][0] == "datetime"
    # A cookie Flask wrote is read here, tags and all.
    pair.mux.set_cookie("session", pair.flask.client.get_cookie("session").value)
    assert pair.mux.get(MOUNT + "/get").json == flask_answer.json


FLASHES = """
    from flask import Flask, flash, get_flashed_messages, redirect

    app = Flask(__name__)
    app.secret_key = "k"

    @app.route("/")
    def index():
        return repr(get_flashed_messages(with_categories=True))

    @app.route("/say")
    def say():
        flash("saved", "info")
        return redirect("/t/")
    """


def test_flashes_read_the_session_as_flask_does_vary_included(both):
    pair = both({"app.py": FLASHES})
    pair.get("/", compare=VARY)  # no cookie yet: still Vary: Cookie, as on Flask
    pair.get("/say", compare=VARY, body=False)
    pair.get("/", compare=VARY)

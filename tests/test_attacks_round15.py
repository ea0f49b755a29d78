"""Attack round 15 (main 2702ce2): what a tenant's answer says about the
origin it shares, host code that serializes, parses or loops over what a
tenant gave it, and the process tier's socket.

Holes (each closed; the tests below guard the fixes):

1. Cookies and origin-wide headers (class: a header whose scope is the
   origin, sent for one tenant of it). ``set_cookie`` with Flask's default
   ``path="/"`` (and a process tenant's own Flask session cookie) went with
   every request to every tenant, which read it in ``request.cookies``;
   ``path="/victim"`` planted cookies on another tenant;
   ``Service-Worker-Allowed: /``, ``Clear-Site-Data``, ``NEL``/``Report-To``,
   ``Alt-Svc`` and HSTS acted on the whole origin. Fix:
   ``muxserver/http/origin_scope.py`` (one judge, both tiers, applied by
   ``MuxApp.serve``); the session cookie's own path rule moved there.
2. Process-tier header names were checked for line breaks only: a name
   with a colon was a ``Set-Cookie`` on the wire, past (1). Fix: both tiers
   through ``responses.plain_headers``.
3. The session cookie (class: host work sized by tenant input, no tick):
   Flask's tagged serializer walked a list held 500 times (4 KB of tenant
   memory: 9.7 s on the hub, 250 MB); a 52 KB cookie of compressed zeros
   signed with the tenant's own key was decompressed and parsed (3.6 s,
   450 MB); 300,000 ``SECRET_KEY_FALLBACKS`` were each tried per cookie
   (1.2 s); an int ``secret_key`` made ``bytes(n)``. Fix:
   ``muxserver/tenant_api/session.py`` (sized with the JSON judge, text and
   keys bounded).
4. Host roads to JSON text with a plain ``json.dumps`` (``mux.kv.set``, a
   Nuclio body, a typed Cloud Function's ``to_dict()``): a dict subclass
   whose ``items()`` lied grew the process 845 MB in a 64 MB budget. Fix:
   ``jsontext.dumps``, the one judge.
5. Python's ``warnings`` wrote host code's words about tenant input to
   stderr as they were (a forged access line through a cookie's key) and
   kept every distinct text for good (99 MB for 10,000 keys). Fix:
   ``muxserver/ops/logs.py`` ``capture_warnings``.
6. Deploys (class: the supervisor's work sized by a tenant's archive): a
   20 MB pax header in a 30 KB archive (3.4 s), 6-10 MB ``tenant.toml`` /
   ``requirements.txt`` (17.8 s / 11.8 s of tomllib / packaging). Fix:
   ``muxserver/tenancy/archive.py`` (64 KB metadata members),
   ``muxserver/tenancy/scanner.py`` (128 KB / 256 KB).
7. The process tier's socket (class: the serving process's work on what a
   process sends, outside the process's budgets): log frames of 400,000
   zeros (0.03 s of the tenant's CPU, 6.5 s of the serving process's);
   a 256 MB answer buffered and joined (541 MB for memory_mb = 64); a
   process that stopped reading held the send of the next request for
   ever. Fix: ``muxserver/proctier/manager.py`` (256 KB frames, text log
   lines within a budget, the hub yielded per frame; answers within
   ``memory_mb`` and 64 MB; the send within ``wall_s``).
8. werkzeug's ``Headers`` loops (``extend``/``__init__``/slices over a
   million pairs made in one C call: 0.3-0.6 s past a 100 ms budget). Fix:
   ``TenantHeaders`` holds at most 1,000.
9. Codec names: ``encodings`` keeps every name it did not find (2,000 tries
   of 10 KB: 20 MB for good). Fix: a search function before Python's
   (``disable_shared_caches``) admits only the codecs ``encodings`` ships.
10. The tenant API's own ``str()`` of a tenant's value (``redirect``,
    ``url_for``, ``Flask(name)``, the ``replace`` filter's check, Vercel's
    ``send_header``...): ``[big] * 300`` became 350 MB to 1.1 GB of text for
    memory_mb = 32 (class of round 1: the host's real ``str()``). Fix: each
    through ``guards.safe_str_builtin``, the sandbox's sized ``str()``;
    ``Markup.join`` (its ``escape()`` of each item) in ``natives._join``.

Tried and held (no test here, or covered by earlier rounds): exception
attributes (``OSError.filename``, Jinja's ``TemplateSyntaxError``,
``BuildError``) show tenant paths only; log lines through ``print``,
logger and app names, blueprint names and ``endpoint=`` are escaped; a
deeply nested ``tenant.toml`` is a deploy error; an exception whose
``__str__`` loops is stopped by the budget; ``app.root_path`` /
``template_folder`` / ``open_resource`` stay in the tenant's mapping;
``FileStorage.save`` and ``send_file`` take no host path; an aggregate's
``finalize`` left pending at eviction stalled nothing; ``striptags`` is
linear in markupsafe 3.
"""

from __future__ import annotations

import contextlib

import pytest
import requests

from tests.test_process_tier import server_for


@contextlib.contextmanager
def _processes(tmp_path, tenants_files, **config):
    """A LiveServer of ``tenants_files`` with a process tier, stopped after."""
    server = server_for(tmp_path, tenants_files, **config)
    try:
        yield server
    finally:
        server.app.close_processes()
        server.stop()

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
                             "Alt-Svc": 'h2="attacker.test:443"; ma=86400',
                             "Strict-Transport-Security": "max-age=0; includeSubDomains"})
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
    for name in ("Clear-Site-Data", "NEL", "Report-To", "Alt-Svc", "Strict-Transport-Security"):
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
    tenants_files = {"pvictim": PROCESS_VICTIM,
                     "attacker": {"app.py": ATTACKER, "tenant.toml": 'runtime = "sandbox"\n'}}
    with _processes(tmp_path, tenants_files, process_tenants=["pvictim"]) as server:
        assert server.get("/pvictim/login").status_code == 200
        assert server.get("/pvictim/me").text == "alice"  # the session still works
        looted = server.get("/attacker/").json()["cookies"]
        assert "session" not in looted, looted


# -- the session cookie: host work sized by the tenant's values ----------------------

#: A session that holds one list 500 times: 4 KB of the tenant's memory,
#: 10 million values for Flask's tagged serializer, which walks and encodes
#: them in host Python after the handler returned (no tick): 9.7 s on the
#: hub and 250 MB in a 64 MB budget, on main 2702ce2.
SHARED_SESSION = '''
from flask import Flask, session
app = Flask(__name__)
app.secret_key = "k"


@app.route("/")
def index():
    big = list(range(20000))
    session["x"] = [big] * 500
    return "stored"


@app.route("/small")
def small():
    session["x"] = [list(range(50))] * 4
    return "stored"
'''


def test_a_session_is_sized_before_the_host_serializes_it(tenants, live):
    import time

    tenants.add("sess", {"app.py": SHARED_SESSION,
                         "tenant.toml": "[limits]\ncpu_ms = 200\nmemory_mb = 64\n"})
    server = live()
    before = time.process_time()  # the server runs in this process (LiveServer)
    answer = server.get("/sess/")
    spent = time.process_time() - before
    assert answer.status_code in (500, 503, 507), (answer.status_code, answer.text[:200])
    assert spent < 1.0, f"{spent:.2f} s of the server's CPU for one request of cpu_ms = 200"
    # A session of shared lists that fits is written as Flask writes it.
    small = server.get("/sess/small")
    assert small.status_code == 200 and small.headers["Set-Cookie"].startswith("session="), \
        small.text


READS_SESSION = '''
from flask import Flask, session
app = Flask(__name__)
app.secret_key = "the tenant's own key"


@app.route("/")
def index():
    return str(session.get("x", "none"))[:20]
'''


def _signed_text(key: str, text: str) -> str:
    """A session cookie carrying ``text`` as its JSON, signed as Flask signs
    one (itsdangerous compresses it when that is shorter): what a tenant,
    who knows its own key, can mint and have its client send."""
    import hashlib

    import itsdangerous

    class AsIs:
        @staticmethod
        def dumps(value):
            return value

        @staticmethod
        def loads(value):
            return value

    serializer = itsdangerous.URLSafeTimedSerializer(
        key, salt="cookie-session", serializer=AsIs(),
        signer_kwargs={"key_derivation": "hmac", "digest_method": hashlib.sha1})
    value = serializer.dumps(text)
    return value.decode() if isinstance(value, bytes) else value


@pytest.mark.parametrize("zeros", [20_000_000, 1_600_000], ids=["52KB-cookie", "4KB-cookie"])
def test_a_session_cookie_is_sized_before_the_host_parses_it(tenants, live, zeros):
    """A cookie of zlib-compressed zeros: 40 MB (or 3 MB, in a cookie a
    browser keeps) of JSON for the host to decompress, parse and untag
    before the tenant's code sees ``session``."""
    import time

    tenants.add("reads", {"app.py": READS_SESSION,
                          "tenant.toml": "[limits]\ncpu_ms = 200\nmemory_mb = 64\n"})
    server = live()
    bomb = _signed_text("the tenant's own key", '{"x":[' + "0," * zeros + '0]}')
    before = time.process_time()
    answer = server.get("/reads/", headers={"Cookie": "session=" + bomb})
    spent = time.process_time() - before
    assert answer.status_code == 200 and answer.text == "none", answer.text[:200]
    assert spent < 0.2, f"{spent:.2f} s of the server's CPU for a {len(bomb)}-byte cookie"
    # A cookie that Flask would write for the same key is read.
    fits = _signed_text("the tenant's own key", '{"x":"alice"}')
    assert server.get("/reads/", headers={"Cookie": "session=" + fits}).text == "alice"


# -- host code that turned a tenant's value into JSON with a plain json.dumps -------

#: A dict subclass whose ``items()`` answers one 1 MB string 400 times: the
#: size checks read the dict's own storage (one small item), json's C
#: encoder asks ``items()``. ``mux.kv.set`` and a Nuclio function's body
#: went to a plain ``json.dumps``: 845 MB in the serving process for a
#: 64 MB budget, on main 2702ce2.
LYING_DICT = '''
class Lying(dict):
    def items(self):
        return [("a", "x" * 1_000_000)] * 400


def lying():
    value = Lying()
    value["k"] = 1
    return value
'''

KV_STORE = LYING_DICT + '''
import mux


def get():
    mux.kv.set("k", lying())
    return mux.kv.get("k")
'''

NUCLIO_BODY = LYING_DICT + '''
def handler(context, event):
    return lying()
'''


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.parametrize("files", [
    {"index.py": KV_STORE},
    {"main.py": NUCLIO_BODY,
     "tenant.toml": '[function]\nentrypoint = "main.handler"\nform = "nuclio"\n'},
], ids=["mux.kv.set", "nuclio-body"])
def test_host_json_of_a_tenant_value_is_judged_as_json_dumps(tenants, live, files):
    files = dict(files)
    files["tenant.toml"] = files.get("tenant.toml", "") + "[limits]\nmemory_mb = 64\n"
    tenants.add("lying", files)
    server = live()
    before = _peak_rss_mb()
    answer = server.get("/lying/")
    grown = _peak_rss_mb() - before
    assert grown < 200, f"the serving process grew by {grown:.0f} MB for a 64 MB budget"
    # What is sized is what is encoded: the dict's own storage, {"k": 1}.
    assert answer.status_code == 200 and answer.json() == {"k": 1}, answer.text[:200]


# -- Python's warnings: host code's words about tenant input ------------------------

FORGED = "2026-01-01T00:00:00 INFO  muxserver.access pid=1 tenant=victim"

#: werkzeug's dump_cookie warns about a cookie over 4093 bytes, naming its
#: key: Python's warnings wrote that text to stderr as it was (a line of the
#: tenant's choosing in the server's log), and kept each distinct text in
#: the calling module's ``__warningregistry__`` for the life of the process.
WARNS = '''
from flask import Flask, make_response
app = Flask(__name__)


@app.route("/forge")
def forge():
    response = make_response("ok")
    response.set_cookie("k\\n''' + FORGED + ''' rid=1: GET /victim/admin 200 1.0ms", "v" * 5000)
    return response


@app.route("/keep/<int:start>")
def keep(start):
    for n in range(start, start + 2000):
        response = make_response("ok")
        response.set_cookie(f"{n:08d}" + "k" * 10_000, "v")
    return "kept"
'''


def test_a_tenant_cannot_write_a_line_into_the_server_log_through_a_warning(
        muxserver_process, tmp_path):
    import psutil

    from tests.conftest import write_tenant

    write_tenant(tmp_path / "tenants", "warns", {"app.py": WARNS, "tenant.toml":
                                                 "[limits]\ncpu_ms = 5000\n"})
    proc = muxserver_process("--tenants-dir", str(tmp_path / "tenants"),
                             "--cache-dir", str(tmp_path / "cache"),
                             "--data-dir", str(tmp_path / "data"), "--no-watch",
                             "--workers", "1").wait_ready()
    answer = requests.get(proc.url + "/warns/forge", timeout=30)
    assert answer.status_code == 500, answer.text  # the key is no cookie name
    proc.wait_for_log("cookie is too large")
    forged = [line for line in proc.output().splitlines() if line.startswith(FORGED)]
    assert forged == [], forged
    # 20 MB of distinct warning texts: none kept by the serving process.
    workers = [child for child in psutil.Process(proc.proc.pid).children(recursive=True)
               if "muxserver.worker" in " ".join(child.cmdline())]
    assert len(workers) == 1, [c.cmdline() for c in psutil.Process(proc.proc.pid).children()]
    worker = workers[0]
    assert requests.get(proc.url + "/warns/keep/0", timeout=60).text == "kept"
    before = worker.memory_info().rss
    for start in range(2000, 12000, 2000):
        assert requests.get(proc.url + f"/warns/keep/{start}", timeout=60).text == "kept"
    grown = (worker.memory_info().rss - before) / 2**20
    assert grown < 40, f"the serving process kept {grown:.0f} MB of warning texts"


#: The keys a session is signed and checked with are the app's config: with
#: 300,000 ``SECRET_KEY_FALLBACKS`` (a 2.4 MB list) itsdangerous tried each
#: on a cookie signed with none of them, 1.2 s of host CPU for a request of
#: cpu_ms = 200; an int ``secret_key`` had the host make ``bytes(n)``.
MANY_KEYS = '''
from flask import Flask, session
app = Flask(__name__)
app.secret_key = "k"
app.config["SECRET_KEY_FALLBACKS"] = ["an old key"] * 300_000


@app.route("/")
def index():
    return str(session.get("x", "none"))
'''

INT_KEY = '''
from flask import Flask, session
app = Flask(__name__)
app.secret_key = 200_000_000


@app.route("/")
def index():
    session["x"] = 1
    return "stored"
'''


@pytest.mark.parametrize("source", [MANY_KEYS, INT_KEY], ids=["fallbacks", "int-key"])
def test_the_session_keys_cost_the_host_little(tenants, live, source):
    import time

    tenants.add("keys", {"app.py": source,
                         "tenant.toml": "[limits]\ncpu_ms = 200\nmemory_mb = 64\n"})
    server = live()
    server.get("/keys/")  # the module runs
    before, peak = time.process_time(), _peak_rss_mb()
    answer = server.get("/keys/", headers={"Cookie": "session=eyJ4IjoxfQ.aaaaaa.bbbbbbbbbbbbbbbb"})
    spent, grown = time.process_time() - before, _peak_rss_mb() - peak
    assert spent < 0.2, f"{spent:.2f} s of the server's CPU for a request of cpu_ms = 200"
    assert grown < 100, f"the serving process grew by {grown:.0f} MB for a 64 MB budget"
    # Refused with a clear error, as a SESSION_COOKIE_NAME that is no name is.
    assert answer.status_code == 500, answer.text[:200]


# -- deploys: an archive's metadata, read whole by tarfile ---------------------------

def _pax_bomb() -> bytes:
    """A 30 KB tar.gz whose first member is a 20 MB pax header of records
    ``6 a=b``: ``tarfile`` reads it whole and parses it record by record in
    Python (3.4 s of the supervisor's CPU; 34 s at the 200 MB unpack cap)."""
    import gzip
    import io
    import tarfile

    records = b"6 a=b\n" * (20 * 2**20 // 6)
    header = tarfile.TarInfo("././@PaxHeader")
    header.type, header.size = tarfile.XHDTYPE, len(records)
    code = b"def get():\n    return 'deployed'\n"
    member = tarfile.TarInfo("index.py")
    member.size = len(code)
    out = io.BytesIO()
    out.write(header.tobuf(tarfile.USTAR_FORMAT) + records + b"\0" * (-len(records) % 512))
    out.write(member.tobuf(tarfile.USTAR_FORMAT) + code + b"\0" * (-len(code) % 512))
    out.write(b"\0" * 1024)
    return gzip.compress(out.getvalue(), 9)


def test_a_deploy_archives_metadata_is_bounded_before_it_is_parsed(tenants, live):
    import time

    token = "acme-deploy-token-0123456789"
    server = live(admin_token="admin-token-for-tests",
                  deploy_tokens={"acme": {"token": token, "name": "ci"}})
    bomb = _pax_bomb()
    assert len(bomb) < 64 * 1024
    before = time.process_time()  # the control plane runs in this process (LiveServer)
    answer = requests.put(f"{server.admin_url}/_mux/tenants/acme", data=bomb, timeout=60,
                          headers={"Authorization": f"Bearer {token}"})
    spent = time.process_time() - before
    assert spent < 0.5, f"{spent:.2f} s of CPU for a {len(bomb)}-byte archive"
    assert answer.status_code == 400 and "pax header" in answer.text, answer.text[:300]


def _tgz(files: dict) -> bytes:
    import io
    import tarfile

    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


#: The supervisor scans a deployed folder and parses ``tenant.toml`` with
#: tomllib and ``requirements.txt`` with packaging, in pure Python, in the
#: process that serves the admin API and watches every serving process:
#: 10 MB of ``kN = 1`` lines cost 3.9 s there.
METADATA_BOMBS = {
    "tenant.toml": "".join(f"k{i} = 1\n" for i in range(1_000_000)).encode(),
    "requirements.txt": b"flask\n" * 1_000_000,
}


@pytest.mark.parametrize("name", sorted(METADATA_BOMBS))
def test_a_deployed_folders_metadata_is_bounded_before_it_is_parsed(tenants, live, name):
    import time

    token = "acme-deploy-token-0123456789"
    server = live(admin_token="admin-token-for-tests", process_tenants=["acme"],
                  deploy_tokens={"acme": {"token": token, "name": "ci"}})
    archive = _tgz({"index.py": b"def get():\n    return 'deployed'\n",
                    name: METADATA_BOMBS[name]})
    before = time.process_time()  # the control plane runs in this process (LiveServer)
    answer = requests.put(f"{server.admin_url}/_mux/tenants/acme", data=archive, timeout=120,
                          headers={"Authorization": f"Bearer {token}"})
    spent = time.process_time() - before
    assert spent < 1.0, f"{spent:.2f} s of CPU for a {len(archive)}-byte archive"
    assert answer.status_code == 422 and f"acme/{name}:1: over" in answer.text, answer.text[:300]


#: A process tenant's own WSGI answer: a header *name* that carries a colon
#: is written as it is, so the line the browser reads is another header —
#: here a ``Set-Cookie`` on another tenant's path, past the origin scope
#: (which judges headers by their names). The sandbox tier refuses such a
#: name; the process tier checked names only for line breaks.
PROCESS_HEADER_NAMES = {
    "tenant.toml": 'runtime = "process"\n',
    "app.py": """\
        from flask import Flask
        app = Flask(__name__)

        @app.route("/")
        def index():
            return "ok", 200, [("Set-Cookie: planted=1; Path=/victim; X", "y")]
        """,
}


def test_a_process_tenants_header_names_are_checked_as_the_sandboxs(tmp_path):
    tenants_files = {"pnames": PROCESS_HEADER_NAMES}
    with _processes(tmp_path, tenants_files, process_tenants=["pnames"]) as server:
        answer = server.get("/pnames/")
        planted = [value for value in answer.raw.headers.getlist("Set-Cookie")
                   if "/victim" in value]
        assert planted == [], planted
        # As a header with a line break was: a malformed answer (502).
        assert answer.status_code == 502 and "malformed header" in answer.text, answer.text[:200]


# -- a process tenant's frames: the serving process's work, not the tenant's --------

#: A process tenant writes frames straight onto its socket to the serving
#: process (its own host code's ``Sender`` is an object of its process): a
#: log frame of 400,000 zeros costs the serving process a JSON parse and a
#: ``str()`` on its hub, and the tenant one ``sendall``. On main 2702ce2 200
#: of them took 0.03 s of the tenant's CPU and 6.5 s of the serving
#: process's, holding other tenants' requests up to 0.8 s at a time.
FLOODER = {
    "tenant.toml": 'runtime = "process"\n[limits]\ncpu_ms = 1000\n',
    "app.py": """\
        import gc, json, struct
        from flask import Flask
        app = Flask(__name__)

        def sender():
            return next(o for o in gc.get_objects() if type(o).__name__ == "Sender")

        @app.route("/flood/<kind>/<int:count>")
        def flood(kind, count):
            line = [0] * 400_000 if kind == "values" else "y" * 4000
            body = json.dumps({"op": "log", "line": line}, separators=(",", ":")).encode()
            frame = struct.pack("!IB", len(body), 1) + body
            s = sender()
            with s.lock:
                for _ in range(count):
                    s.sock.sendall(frame)
            return "sent"
        """,
}


@pytest.mark.parametrize("kind,count", [("values", 200), ("lines", 100_000)])
def test_a_process_tenants_log_frames_cost_the_serving_process_little(tmp_path, kind, count):
    import time

    tenants_files = {"flood": FLOODER, "calm": {"index.py": "def get():\n    return 'calm'\n"}}
    with _processes(tmp_path, tenants_files, process_tenants=["flood"]) as server:
        assert server.get("/calm/").text == "calm"
        before = time.process_time()  # the serving process is this one (LiveServer)
        answer = server.get(f"/flood/flood/{kind}/{count}", timeout=120)
        spent = time.process_time() - before
        assert spent < 1.0, f"{spent:.2f} s of the serving process's CPU ({answer.status_code})"
        # Stopped as a process that broke the protocol or flooded its log.
        assert answer.status_code == 502, (answer.status_code, answer.text[:200])
        assert server.get("/calm/").text == "calm"


#: A process tenant's answer is held whole by the serving process (and
#: joined: twice its size at the peak): 250 MB streamed in 1 MB chunks by a
#: process of memory_mb = 64 grew the serving process by 541 MB.
BIG_ANSWER = {
    "tenant.toml": 'runtime = "process"\n[limits]\nmemory_mb = 64\n',
    "app.py": """\
        from flask import Flask
        app = Flask(__name__)
        CHUNK = b"x" * 2**20

        @app.route("/big/<int:mb>")
        def big(mb):
            return app.response_class(CHUNK for _ in range(mb))
        """,
}


def test_a_process_tenants_answer_is_held_within_its_memory(tmp_path):
    with _processes(tmp_path, {"big": BIG_ANSWER}, process_tenants=["big"]) as server:
        assert len(server.get("/big/big/8").content) == 8 * 2**20  # as Flask answers it
        before = _peak_rss_mb()
        answer = server.get("/big/big/250", timeout=120)
        grown = _peak_rss_mb() - before
        assert grown < 200, f"the serving process grew by {grown:.0f} MB for memory_mb = 64"
        assert answer.status_code == 502 and "held in memory" in answer.text, answer.text[:200]


# -- werkzeug's Headers: Python loops of host code over a list made in one C call ---

HEADER_LOOPS = '''
from flask import Flask, Response, make_response
app = Flask(__name__)
PAIRS = [("X-A", "b")] * 1_000_000      # 8 MB: one C call


@app.route("/extend")
def extend():
    make_response("ok").headers.extend(PAIRS)
    return "extended"


@app.route("/slice")
def assign():
    headers = make_response("ok").headers
    headers[0:0] = PAIRS
    return "assigned"


@app.route("/init")
def init():
    return Response("ok", headers=PAIRS)
'''


@pytest.mark.parametrize("road", ["extend", "slice", "init"])
def test_a_tenants_headers_are_bounded_before_werkzeug_loops_over_them(tenants, live, road):
    import time

    tenants.add("hdrs", {"app.py": HEADER_LOOPS,
                         "tenant.toml": "[limits]\ncpu_ms = 100\nmemory_mb = 64\n"})
    server = live()
    server.get("/hdrs/nothing")  # the module runs (its list too)
    before = time.process_time()
    answer = server.get(f"/hdrs/{road}")
    spent = time.process_time() - before
    assert spent < 0.1, f"{spent:.2f} s of the server's CPU for a request of cpu_ms = 100"
    assert answer.status_code == 500, (answer.status_code, answer.text[:200])


# -- codec names: kept by the process for good ---------------------------------------

#: Python's ``encodings`` keeps every codec name it did *not* find, for the
#: life of the process: 2,000 names of 10 KB, each a LookupError to the
#: tenant, were 20 MB of the shared process, never freed (not at eviction,
#: not counted as the tenant's).
CODEC_NAMES = '''
def get():
    refused = 0
    for i in range(2000):
        for name in ("nope%d" % i + "a" * 10_000, "cp" + "-" * (10_000 + i) + "1252"):
            try:
                "x".encode(name)
            except LookupError:
                refused += 1
    return {"refused": refused, "known": "x".encode("cp1252").decode("latin-1")}
'''


def test_codec_names_a_tenant_tries_are_not_kept_by_the_process(tenants, live):
    import encodings

    tenants.add("codecs", {"index.py": CODEC_NAMES,
                           "tenant.toml": "[limits]\ncpu_ms = 10000\n"})
    server = live()
    before = len(encodings._cache)
    answer = server.get("/codecs/", timeout=60)
    assert answer.status_code == 200, answer.text[:300]
    assert answer.json() == {"refused": 4000, "known": "x"}, answer.text[:300]
    kept = len(encodings._cache) - before
    assert kept < 10, f"{kept} codec names kept by the serving process"


#: A process tenant's code replaces its own host loop's reader, so its
#: process never reads another request: the serving process's send of the
#: next request (its 8 MB body) blocked with no deadline, holding the
#: request, its body and its connection for ever (wall_s = 2: still held
#: after 20 s).
STOPS_READING = {
    "tenant.toml": 'runtime = "process"\n[limits]\nwall_s = 2\n',
    "app.py": """\
        import sys, time
        from flask import Flask
        app = Flask(__name__)

        @app.route("/arm", methods=["GET", "POST"])
        def arm():
            def never(*args, **kwargs):
                time.sleep(10**6)
            sys.modules["muxserver.proctier.wire"].receive = never
            return "armed"
        """,
}


def test_a_process_that_stops_reading_is_held_to_its_wall_time(tmp_path):
    import time

    with _processes(tmp_path, {"deaf": STOPS_READING}, process_tenants=["deaf"]) as server:
        assert server.get("/deaf/arm").text == "armed"
        started = time.monotonic()
        answer = server.post("/deaf/arm", data=b"x" * 8 * 2**20, timeout=20)
        took = time.monotonic() - started
        assert answer.status_code == 504 and "wall_s" in answer.text, answer.text[:200]
        assert took < 10, f"{took:.1f} s for wall_s = 2"
        assert server.app.process_status()["inflight"] == 0


# -- the host's str() of a tenant's value ----------------------------------------------

#: Host code of the tenant API that turned a tenant's value into text with
#: the real ``str()``: a list holding one 1 MB string 300 times is 2.4 KB
#: of the tenant's memory and 300 MB of text, built in one C call before
#: anything looked at its size (a Vercel handler's ``send_header``: the
#: serving process grew 288 MB for memory_mb = 32). The sandbox's own
#: ``str()`` sizes first (``guards.safe_str_builtin``).
HOST_STR = '''
from flask import Flask, redirect, render_template_string, url_for
app = Flask(__name__)
BIG = ["x" * 1_000_000] * 300


@app.route("/redirect")
def to():
    return redirect(BIG)


@app.route("/code")
def code():
    return redirect("/", code=BIG)


@app.route("/replace")
def replace():
    return render_template_string('{{ "a"|replace(big, "b") }}', big=BIG)


@app.route("/url_for")
def build():
    return url_for(BIG)


@app.route("/flask")
def flask():
    Flask(BIG)
    return "made"


@app.route("/markup")
def markup():
    from markupsafe import Markup
    return Markup(",").join([BIG])


@app.route("/sqlite")
def function():
    import sqlite3
    sqlite3.connect("/data/f.db").create_function(BIG, 1, len)
    return "made"
'''

VERCEL_HEADER = '''
from http.server import BaseHTTPRequestHandler


class handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("X-Big", ["x" * 1_000_000] * 300)
        self.end_headers()
        self.wfile.write(b"ok")
'''


@pytest.mark.parametrize("tenant,path", [
    ("hoststr", "/redirect"), ("hoststr", "/code"), ("hoststr", "/replace"), ("hoststr", "/url_for"),
    ("hoststr", "/flask"), ("hoststr", "/sqlite"), ("hoststr", "/markup"),
    ("vercel", "/"),
])
def test_the_host_sizes_a_tenants_value_before_making_it_text(tenants, live, tenant, path):
    import tracemalloc

    limits = "[limits]\nmemory_mb = 32\ncpu_ms = 2000\n"
    tenants.add("hoststr", {"app.py": HOST_STR, "tenant.toml": limits})
    tenants.add("vercel", {"api.py": VERCEL_HEADER, "tenant.toml":
                           '[function]\nentrypoint = "api.handler"\nform = "vercel"\n' + limits})
    server = live()
    server.get(f"/{tenant}/warm")  # the module runs (its list too)
    tracemalloc.start()  # the peak of this process's Python allocations: the server's
    try:
        answer = server.get(f"/{tenant}{path}")
        peak = tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()
    assert peak < 100, f"{peak:.0f} MB allocated at the peak for memory_mb = 32"
    assert answer.status_code in (500, 503), (answer.status_code, answer.text[:200])


# -- outbound HTTP: a large answer is asked of the budget as it arrives (lead, from this round's notes) --

BIG_DOWNLOAD = """
    import os, urllib.request
    def get():
        url = f"http://127.0.0.1:{os.environ['PEER_PORT']}/big"
        with urllib.request.urlopen(url, timeout=60) as answer:
            return str(len(answer.read()))
    """


@pytest.mark.live
def test_a_large_outbound_answer_stops_near_memory_mb_not_after_64_mb(tmp_path):
    """A response body was read whole (up to 64 MB, in host C code no tick
    interrupts) before the budget was asked: four concurrent requests of a
    ``memory_mb = 16`` tenant each held 48 MB of the serving process. Now
    each piece is asked of the budget first: the requests stop with the
    memory limit, and the serving process's peak grows by a fraction."""
    import threading

    import psutil

    from tests.conftest import local_peer, loopback_egress_command, write_tenant

    with local_peer(b"x" * (48 * 2**20)) as port:
        tenants = tmp_path / "tenants"
        write_tenant(tenants, "hoarder", {
            "tenant.toml": f'[limits]\nmemory_mb = 16\nwall_s = 60\n[egress]\nallow = ["127.0.0.1"]\n'
                           f'[env]\nPEER_PORT = "{port}"\n',
            "index.py": BIG_DOWNLOAD})
        proc = loopback_egress_command(tmp_path, tenants)
        try:
            [serving] = [p for p in psutil.Process(proc.proc.pid).children(recursive=True)
                         if "worker" in " ".join(p.cmdline())]

            def peak() -> int:
                with open(f"/proc/{serving.pid}/status") as f:
                    return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM"))

            before = peak()
            threads, answers = [], []
            for _ in range(4):
                t = threading.Thread(target=lambda: answers.append(
                    requests.get(proc.url + "/hoarder/", timeout=120)))
                t.start()
                threads.append(t)
            for t in threads:
                t.join()
            assert [a.status_code for a in answers] == [503] * 4, [a.text[:200] for a in answers]
            assert all("memory limit" in a.text for a in answers), answers[0].text
            grown = peak() - before
            assert grown < 100 * 2**20, f"peak grew {grown // 2**20} MB"  # 4 x 48 MB whole
            for answer in answers:
                answer.close()
        finally:
            proc.stop()

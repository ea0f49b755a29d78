"""Round 12 (language layer): today's tenant surfaces — ``werkzeug.http``,
``app.json``, ``flask.views`` — against main at e3c86aa.

Each test asserts what a safe sandbox does; a strict xfail is an attack that
works on main (the marker comes off with the fix).

Hole: *memory in one C call through* ``werkzeug.http.parse_date``. The
facade offers werkzeug's ``parse_date`` as it is (``companions.werkzeug_modules``;
the native table lists it with no bound), and it hands the text to
``email.utils.parsedate_to_datetime``, whose first step is
``data.split()`` of the whole value: a 12 MB text of two-letter words is
4 million strings (59 bytes each), about 240 MB made in one call that no
guard sees, against a 32 MB budget — and the split holds the process
(every tenant on its hub) for most of a second. Fix:
``muxserver/tenant_api/companions.py`` ``werkzeug_modules`` (wrap
``parse_date``: refuse or size a value longer than any HTTP date, say
1 KB); class: growth in one call (SECURITY-NOTES §11).

Defences that held are plain tests below (JSON indents sized with their
depth, the host ``View`` class refusing tenant writes, ``app.json`` and
``app.url_map`` keeping their host state to themselves).
"""


from tests.sandbox.rounds import HELD_BOUND_S
from tests.sandbox.rounds import MEMORY_MB
from tests.sandbox.rounds import PEAK_SLACK
from tests.sandbox.rounds import assert_bounded
from tests.sandbox.rounds import serve_in_fresh_process

ATTACK_WORKS = "round 12: the attack works on main e3c86aa"

PARSE_DATE_SPLIT = '''
from werkzeug.http import parse_date

def get():
    return repr(parse_date("ab " * (4 * 1024 * 1024)))
'''


def test_parse_date_is_sized_before_it_splits(tmp_path):
    """Read as werkzeug would read its first KiB (where a date is): no date,
    quickly, without the 4 million words."""
    outcome = serve_in_fresh_process(tmp_path, "dates", PARSE_DATE_SPLIT)
    assert (outcome.status, outcome.body) == (200, "None")
    assert outcome.held_s < HELD_BOUND_S, f"held the process for {outcome.held_s:.2f} s"
    assert outcome.peak_bytes < MEMORY_MB * 2**20 + PEAK_SLACK, outcome.peak_bytes // 2**20


def test_parse_date_answers_a_real_date(tmp_path):
    """The control: an HTTP date parses (the facade is usable)."""
    source = ("from werkzeug.http import parse_date, http_date\n"
              "def get():\n"
              "    d = parse_date('Sun, 06 Nov 1994 08:49:37 GMT')\n"
              "    return http_date(d) + ' ' + repr(parse_date('x' * 100))\n")
    outcome = serve_in_fresh_process(tmp_path, "dates-ok", source)
    assert (outcome.status, outcome.body) == (200, "Sun, 06 Nov 1994 08:49:37 GMT None")


#: Deep nesting with the widest indent: each value's line repeats the indent
#: once per level, so the text is ~64 * depth bytes a value.
DEEP_INDENT = '''
from flask import Flask, json
app = Flask(__name__)

def get():
    deep = 0
    for _ in range(400):
        deep = [deep]
    return str(len(json.dumps([deep] * 300, indent=" " * 64)))
'''


def test_flask_json_indent_is_sized_with_depth(tmp_path):
    outcome = serve_in_fresh_process(tmp_path, "indent", DEEP_INDENT)
    assert_bounded(outcome)


def test_app_json_provider_indent_is_sized_with_depth(tmp_path):
    source = DEEP_INDENT.replace("json.dumps(", "app.json.dumps(")
    outcome = serve_in_fresh_process(tmp_path, "indent-app", source)
    assert_bounded(outcome)


HOST_STATE = '''
from flask import Flask
from flask.views import View, MethodView
app = Flask(__name__)


class Hello(View):
    def dispatch_request(self):
        return "hi"


def get():
    out = []
    view = Hello.as_view("hello")
    for label, attempt in [
        ("View.methods", lambda: setattr(View, "methods", ["POST"])),
        ("MethodView.decorators", lambda: setattr(MethodView, "decorators", ())),
        ("view.view_class", lambda: setattr(view, "view_class", View)),
        ("view args", lambda: getattr(view, "_" + "args")),
        ("provider app", lambda: getattr(app.json, "_" + "app")),
        ("url_map site", lambda: getattr(app.url_map, "_" + "site")),
        ("new ClassView", lambda: type(view)(app, "x", (), {})),
        ("new provider", lambda: type(app.json)(app)),
        ("mimetype header", lambda: setattr(app.json, "mimetype", "text/html\\r\\nX-A: b")),
    ]:
        try:
            attempt()
            out.append(label + " allowed")
        except Exception:
            pass
    return ", ".join(out) or "all refused"
'''


def test_view_and_provider_host_state_refuses_tenant_writes(tmp_path):
    outcome = serve_in_fresh_process(tmp_path, "host-state", HOST_STATE)
    assert (outcome.status, outcome.body) == (200, "all refused")

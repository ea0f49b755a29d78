"""Attack round 12: today's Flask surfaces (class-based views, URL
processors, ``app.json``, ``werkzeug.http``) and round 11's fixes, through
the real ``muxserver`` command.

Holes (each a strict xfail until closed; closed ones are plain tests guarding the fix):

1. ``View.as_view`` sets Flask's attributes (``view_class``, ``__name__``,
   ``__doc__``, ``methods``, ``provide_automatic_options``) on whatever the
   class's last decorator returned, as host code (no write guard). A
   decorator ``lambda view: View`` returns the host's own ``flask.views.View``
   class, which every tenant of the serving process derives from: its
   ``methods`` becomes the attacker's value for the life of the process
   (``setattr(View, "methods", ...)`` is refused in tenant code; this is the
   same write by the host's hand). Every other tenant's ``View`` subclass
   without its own ``methods`` then inherits the attacker's:

   a. with ``["POST"]``, the victim's class view answers POST at run time
      while registration read GET: the victim's route is refused at load
      (500) in that serving process — denial of service of another tenant;
   b. with a ``list`` subclass of the attacker's, its ``__iter__`` runs
      inside the *victim's* load (``add_url_rule`` iterates the view's
      methods), under the victim's budget, and the victim is none the
      wiser — tenant code in another tenant's process time, kept for the
      life of the process (past the attacker's eviction).

   Fix: ``muxserver/tenant_api/views.py`` ``View.as_view`` — set the
   attributes only on a tenant-owned function (or through the sandbox's
   guarded write, which refuses host classes); class: host code writing to
   an object a tenant callback returned.

Defences that held are plain tests below.
"""

import requests

from tests.conftest import write_tenant

ATTACK_WORKS = "round 12: the attack works on main e3c86aa"

#: Plants ``View.methods``: the decorator hands the host's ``View`` back,
#: and ``as_view`` writes the attacker's class's attributes onto it.
PLANT_POST = '''
from flask import Flask
from flask.views import View
app = Flask(__name__)

@app.route("/")
def index():
    class Evil(View):
        methods = ["POST"]
        decorators = (lambda view: View,)

        def dispatch_request(self):
            return ""

    Evil.as_view("evil")
    return "planted"
'''

#: Plants an object whose ``__iter__`` records every time host code
#: iterates it (the victim's load), and reports on ``/report``.
PLANT_SPY = '''
from flask import Flask
from flask.views import View
app = Flask(__name__)
seen = []


class Spy(list):
    def __iter__(self):
        seen.append("iterated")
        return iter(["GET"])


@app.route("/")
def index():
    class Evil(View):
        decorators = (lambda view: View,)

        def dispatch_request(self):
            return ""

    Evil.methods = Spy(["GET"])
    Evil.as_view("evil")
    return "planted"


@app.route("/report")
def report():
    return ",".join(seen) or "nothing"
'''

VICTIM = '''
from flask import Flask
from flask.views import View
app = Flask(__name__)


class Hello(View):
    def dispatch_request(self):
        return "victim hello"


app.add_url_rule("/", view_func=Hello.as_view("hello"))
'''


def _serve(muxserver_process, tmp_path, attacker: str):
    """The real command, one serving process, the attacker and the victim."""
    tenants = tmp_path / "tenants"
    write_tenant(tenants, "attacker", {"app.py": attacker})
    write_tenant(tenants, "victim", {"app.py": VICTIM})
    return muxserver_process("--tenants-dir", str(tenants), "--cache-dir", str(tmp_path / "cache"),
                             "--data-dir", str(tmp_path / "data"), "--no-watch",
                             "--workers", "1").wait_ready()


def test_victim_class_view_served_alone(muxserver_process, tmp_path):
    """The control: the victim's class view answers GET when nobody planted."""
    proc = _serve(muxserver_process, tmp_path, PLANT_POST)
    answer = requests.get(proc.url + "/victim/", timeout=30)
    assert (answer.status_code, answer.text) == (200, "victim hello")


def test_view_decorator_cannot_rewrite_host_view_methods(muxserver_process, tmp_path):
    proc = _serve(muxserver_process, tmp_path, PLANT_POST)
    planted = requests.get(proc.url + "/attacker/", timeout=30)
    assert planted.status_code in (200, 500)
    answer = requests.get(proc.url + "/victim/", timeout=30)
    assert (answer.status_code, answer.text) == (200, "victim hello"), answer.text[:300]


def test_planted_view_methods_run_no_code_in_another_tenant(muxserver_process, tmp_path):
    proc = _serve(muxserver_process, tmp_path, PLANT_SPY)
    requests.get(proc.url + "/attacker/", timeout=30)
    before = requests.get(proc.url + "/attacker/report", timeout=30).text
    answer = requests.get(proc.url + "/victim/", timeout=30)
    assert answer.status_code == 200  # the victim sees nothing wrong
    after = requests.get(proc.url + "/attacker/report", timeout=30).text
    assert after == before, f"the attacker's code ran in the victim's load: {after!r}"

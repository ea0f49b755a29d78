"""A tenant's own URL converters over real HTTP: a sandboxed tenant (the
host router matches with the regex read at deploy, the tenant's class
converts), and a process tenant whose converter registration could not be
read at all (its own Flask runs it: nothing is refused)."""

import textwrap

from tests.conftest import LiveServer
from tests.conftest import Tenants
from tests.differential.test_flask_converters import DOCS_CONVERTERS

#: The RegexConverter idiom with a regex from the environment: refused for a
#: sandboxed tenant (test_flask_converters), Flask's own business here.
DYNAMIC = textwrap.dedent("""
    import os
    from flask import Flask
    from werkzeug.routing import BaseConverter

    app = Flask(__name__)

    class EnvConverter(BaseConverter):
        def __init__(self, url_map, *items):
            super().__init__(url_map)
            self.regex = os.environ.get("PATTERN", "[0-9]{2}")

        def to_python(self, value):
            return int(value) * 2

    class RegexConverter(BaseConverter):
        def __init__(self, url_map, *items):
            super().__init__(url_map)
            self.regex = items[0]

    app.url_map.converters["env"] = EnvConverter
    app.url_map.converters["regex"] = RegexConverter

    @app.route('/r/<regex("(ab|a)+"):x>')
    def repeated(x):
        return {"x": x}

    @app.route('/n/<env:x>')
    def index(x):
        return {"x": x}
    """)


def test_converters_over_http(tmp_path):
    tenants = Tenants(tmp_path)
    tenants.add("conv", {k: textwrap.dedent(v) for k, v in DOCS_CONVERTERS.items()})
    tenants.add("proc", {"app.py": DYNAMIC, "tenant.toml": 'runtime = "process"\n'})
    app = tenants.app(process_tenants=["proc"])
    assert app.registry.error_list() == []
    server = LiveServer(app)
    try:
        answer = server.get("/conv/l/a+b%20c")
        assert answer.status_code == 200, answer.text
        assert answer.json()["items"] == ["a", "b c"]
        assert answer.json()["other"] == "/conv/l/a%20b+c/d+e"
        assert server.get("/conv/xyz/").json()["code"] == "xyz"
        assert server.get("/conv/even/3").status_code == 404
        answer = server.get("/proc/n/21")
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"x": 42}
        assert server.get("/proc/n/123").status_code == 404
        # A regex the sandbox's router refuses is Flask's own business here.
        assert server.get("/proc/r/abaab").json() == {"x": "abaab"}
    finally:
        app.close_processes()
        server.stop()


#: A converter whose to_python never returns, and one whose regex class
#: attribute is a str subclass: tenant code the host must not run itself.
SPINNING = textwrap.dedent("""
    from flask import Flask
    from werkzeug.routing import BaseConverter

    app = Flask(__name__)

    class Spin(BaseConverter):
        regex = "[a-z]+"

        def to_python(self, value):
            while True:
                pass

    app.url_map.converters["spin"] = Spin

    @app.route('/s/<spin:x>')
    def index(x):
        return x

    @app.route('/ok')
    def ok():
        return "ok"
    """)


def test_a_converter_runs_inside_the_requests_limits(tmp_path):
    tenants = Tenants(tmp_path)
    tenants.add("spin", {"app.py": SPINNING, "tenant.toml": "[limits]\ncpu_ms = 200\n"})
    tenants.add("calm", {"index.py": "def get():\n    return 'calm'\n"})
    app = tenants.app()
    assert app.registry.error_list() == []
    server = LiveServer(app)
    try:
        answer = server.get("/spin/s/abc")
        assert answer.status_code == 503, (answer.status_code, answer.text[:200])
        assert server.get("/calm/").text == "calm"
        assert server.get("/spin/ok").text == "ok"
    finally:
        server.stop()


QUADRATIC = textwrap.dedent("""
    from flask import Flask
    from werkzeug.routing import BaseConverter

    app = Flask(__name__)

    class Slow(BaseConverter):
        regex = "[a-z]*[a-z]*x"   # allowed: its matching time is the square of the length

    app.url_map.converters["slow"] = Slow

    @app.route("/q/<slow:word>")
    def word(word):
        return word
    """)


def test_a_tenants_converter_matches_paths_of_bounded_length(tmp_path):
    # Host code no tick interrupts runs the tenant's regex: on a 60 KB
    # segment this one would hold the process for seconds.
    tenants = Tenants(tmp_path)
    tenants.add("slow", {"app.py": QUADRATIC})
    app = tenants.app()
    assert app.registry.error_list() == []
    server = LiveServer(app)
    try:
        assert server.get("/slow/q/abcx").text == "abcx"
        answer = server.get("/slow/q/" + "a" * 60_000)
        assert answer.status_code == 414 and "at most 2048 characters" in answer.text, \
            (answer.status_code, answer.text[:200])
    finally:
        server.stop()

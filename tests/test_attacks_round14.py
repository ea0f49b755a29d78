"""Round 14 attacks: the process tier's freeze/thaw, zygote replacement and
task cap; SQLite functions against the storage ledger; indented JSON and
automatic OPTIONS routing (main e5b7bc1).

Holes (each a strict xfail until closed; closed ones are plain tests guarding the fix):

1. A process tenant arms a POSIX timer (``timer_create``) whose signal is
   SIGCONT: the kernel's own signal continues the process right after the
   zygote's SIGSTOP, so its threads compute between requests while the
   server reports it frozen (until ``--idle-ttl``). Fix:
   ``muxserver/isolation/seccomp.py`` (refuse ``timer_create`` with
   SIGEV_SIGNAL of SIGCONT — the sigevent is a pointer, so refuse
   ``timer_create`` with a non-NULL sigevent, or all of it — and
   ``fcntl(F_SETSIG)``/``rt_sigqueueinfo`` roads to SIGCONT), or freeze with
   the cgroup freezer instead of SIGSTOP. Class: a stop a process can undo
   through a kernel facility seccomp lets through.
2. A SQL function registered on one connection writes another database
   while the first one's statement runs: each database's ``max_page_count``
   is set from the same free space, so storage_mb is exceeded (2x with two
   databases, up to MAX_CONNECTIONS x). Fix:
   ``sandbox/facades/sqlite_safety.py`` ``PageLedger.before_write`` (count
   the free space already handed to statements still running). Class: a
   budget granted twice to nested operations.
3. ``jsontext.json_text_size`` walks a dict through its ``values()``,
   which a tenant's dict subclass overrides; json encodes its ``items()``:
   50 MB of text in a 16 MB budget, in the serving process. Fix:
   ``sandbox/facades/jsontext.py`` (``dict.values(item)``, ``list.__len__``:
   the real container's methods). Class: a host check that asks the
   tenant's object about itself.
4. Several ``path`` converters in one rule backtrack polynomially in
   werkzeug's regex, in the serving process, before any tenant budget:
   seconds of host CPU for a 400-byte path (OPTIONS routes it twice).
   Fix: ``muxserver/tenancy/scanner.py`` / ``router.py`` (refuse at deploy
   more than one non-segment converter in a rule, or bound the path's
   segments for such rules). Class: host work sized by tenant input.

Defences that held are plain tests: kill() and SIGIO (F_SETOWN/F_SETSIG)
from a process tenant to another tenant's process or to its zygote; fork,
clone without CLONE_THREAD, clone3 and writes to the pids cgroups; four
processes at their task cap leave other tenants' forks alone; a list
subclass that lies about its items is encoded as it says.
"""

import os

import gevent
import pytest

from tests.conftest import wait_until
from tests.test_process_resources import _cpu_ticks
from tests.test_process_tier import server_for

# A process tenant that arms a POSIX timer whose signal is SIGCONT: the
# kernel's own signal continues a process the zygote stopped with SIGSTOP
# (any SIGCONT generated for a stopped process wakes it; seccomp lets a
# process signal itself, and timer_create is not refused).
THAWS_ITSELF = {
    "tenant.toml": 'runtime = "process"\n',
    "app.py": """\
        import ctypes, os, signal, threading
        from flask import Flask
        app = Flask(__name__)

        class SigEvent(ctypes.Structure):
            _fields_ = [("value", ctypes.c_void_p), ("signo", ctypes.c_int),
                        ("notify", ctypes.c_int), ("pad", ctypes.c_int * 12)]

        def burn():
            while True:
                pass

        @app.route("/start")
        def start():
            # A handler, so the timer's signal is not ignored (an ignored
            # timer signal parks the timer after its first SIGCONT).
            signal.signal(signal.SIGCONT, lambda *args: None)
            libc = ctypes.CDLL(None, use_errno=True)
            event = SigEvent(None, signal.SIGCONT, 0)  # SIGEV_SIGNAL
            timer = ctypes.c_void_p()
            refused = ""
            if libc.timer_create(1, ctypes.byref(event), ctypes.byref(timer)) != 0:
                refused = "timer_create: " + os.strerror(ctypes.get_errno())
            else:
                every = (ctypes.c_long * 4)(0, 2_000_000, 0, 2_000_000)  # 2 ms
                if libc.timer_settime(timer, 0, every, None) != 0:
                    return "timer_settime: " + os.strerror(ctypes.get_errno()), 500
            # The burner runs either way: the freeze must hold it.
            threading.Thread(target=burn, daemon=True).start()
            return f"{os.getpid()} {refused}"

        @app.route("/pid")
        def pid():
            return str(os.getpid())
        """,
}


@pytest.fixture
def thaws_itself(tmp_path):
    server = server_for(tmp_path, {"thaw": THAWS_ITSELF})
    yield server
    server.app.close_processes()
    server.stop()


def _ticks_per_s() -> int:
    return os.sysconf("SC_CLK_TCK")


def test_a_process_cannot_thaw_itself_with_a_sigcont_timer(thaws_itself):
    r = thaws_itself.get("/thaw/start")
    assert r.status_code == 200, r.text
    pid, _, refused = r.text.partition(" ")
    pid = int(pid)
    # The fix: a timer with a signal of the tenant's choosing is refused.
    assert refused == "timer_create: Operation not permitted", r.text
    # The server believes it froze the process...
    wait_until(lambda: [p["frozen"] for p in thaws_itself.app.processes.describe()] == [True])
    # ...and between requests its CPU clock must stand still (a window of 0.5 s).
    frozen_at = _cpu_ticks(pid)
    gevent.sleep(0.5)
    used = _cpu_ticks(pid) - frozen_at
    thaws_itself.app.close_processes()  # stop the burner before anything else
    assert used == 0, f"{used / _ticks_per_s():.2f} s of CPU while frozen"


# -- SQLite: a function of one connection writes through another -----------------

#: 1 MB of storage. Each database's max_page_count is set before its own
#: statement to "what is free now"; a SQL function registered on ``a``
#: writes 0.9 MB into ``b`` while ``a``'s statement runs (b's ledger sees the
#: same free space a's was given), then ``a``'s statement writes its own
#: 0.9 MB: 1.8 MB in a 1 MB quota, each write checked, none counted against
#: the other in time.
NESTED_WRITES = '''
import sqlite3

def get():
    a = sqlite3.connect("/data/nest_a.db")
    b = sqlite3.connect("/data/nest_b.db")
    a.execute("CREATE TABLE IF NOT EXISTS t (v BLOB)")
    b.execute("CREATE TABLE IF NOT EXISTS t (v BLOB)")
    a.commit()
    b.commit()

    def spill(size):
        b.execute("INSERT INTO t VALUES (zeroblob(?))", (size,))
        b.commit()
        return size

    a.create_function("spill", 1, spill)
    out = []
    try:
        a.execute("INSERT INTO t VALUES (zeroblob(spill(900000)))")
        a.commit()
        out.append("both written")
    except sqlite3.OperationalError as exc:
        out.append(type(exc).__name__ + ": " + str(exc))
    pages = 0
    for db in (a, b):
        pages += db.execute("PRAGMA page_count").fetchone()[0] * \\
            db.execute("PRAGMA page_size").fetchone()[0]
    out.append(pages)
    return {"out": out}
'''


def test_sqlite_function_cannot_double_the_storage_quota(tenants, live):
    tenants.add("nest", {"index.py": NESTED_WRITES,
                         "tenant.toml": "[limits]\nstorage_mb = 1\ncpu_ms = 2000\n"})
    server = live()
    answer = server.get("/nest/")
    if answer.status_code == 507:
        return  # refused at the quota: defended
    assert answer.status_code == 200, (answer.status_code, answer.text[:300])
    out = answer.json()["out"]
    assert out[-1] <= 2**20, out


# -- JSON text sizing ----------------------------------------------------------------

#: A dict subclass whose ``values()`` says "none": the sizer walks a dict
#: through ``values()``; json's encoder through ``items()``.
HIDDEN_DICT = '''
import json

class Hidden(dict):
    def values(self):
        return []

def get():
    line = "x" * 100_000
    hidden = Hidden()
    for i in range(500):
        hidden[str(i)] = line       # 50 MB of JSON text, in a 16 MB budget
    try:
        return {"built": len(json.dumps(hidden))}
    except Exception as exc:
        return {"refused": type(exc).__name__ + ": " + str(exc)[:200]}
'''


def test_json_size_sees_a_dict_subclasss_real_items(tenants, live):
    tenants.add("hidden", {"index.py": HIDDEN_DICT,
                           "tenant.toml": "[limits]\nmemory_mb = 16\n"})
    server = live()
    answer = server.get("/hidden/")
    # The fix: sized from the dict's own storage, and stopped by its budget.
    assert answer.status_code in (200, 500, 503, 507), (answer.status_code, answer.text[:300])
    if answer.status_code == 200:
        assert "refused" in answer.json(), answer.json()


#: The same with a list subclass whose ``__iter__`` and ``__len__`` say
#: "empty": json's encoder walks the list through them too (it never sees
#: the real items), so the text stays what the sizer saw.
HIDDEN_LIST = '''
import json

class Hidden(list):
    def __iter__(self):
        return iter([])

    def __len__(self):
        return 0

def get():
    hidden = Hidden(["x" * 100_000] * 500)
    try:
        return {"built": len(json.dumps(hidden)), "indented": len(json.dumps(hidden, indent=2))}
    except Exception as exc:
        return {"refused": type(exc).__name__ + ": " + str(exc)[:200]}
'''


def test_json_size_of_a_list_subclass_matches_what_is_encoded(tenants, live):
    tenants.add("hiddenl", {"index.py": HIDDEN_LIST,
                            "tenant.toml": "[limits]\nmemory_mb = 16\n"})
    server = live()
    answer = server.get("/hiddenl/")
    assert answer.status_code in (200, 500, 503, 507), (answer.status_code, answer.text[:300])
    if answer.status_code == 200:
        body = answer.json()
        assert "refused" in body or max(body.values()) < 16 * 2**20, body


# -- signals to processes outside the tenant's own --------------------------------

#: A process tenant that signals a pid it is given: with kill() (seccomp
#: lets the compiled filter's kill() through; Landlock's scoped signals
#: must stop it) and with SIGIO — a pipe it owns, its owner set to the
#: victim with F_SETOWN and its signal to SIGSTOP with F_SETSIG, then a
#: write to it.
SIGNALLER = {
    "tenant.toml": 'runtime = "process"\n',
    "app.py": """\
        import fcntl, os, signal
        from flask import Flask, request
        app = Flask(__name__)
        F_SETSIG = 10
        KEEP = []

        @app.route("/pid")
        def pid():
            return str(os.getpid())

        @app.route("/parent")
        def parent():
            return str(os.getppid())

        @app.route("/kill")
        def kill():
            target, sig = int(request.args["pid"]), int(request.args["sig"])
            try:
                os.kill(target, sig)
                return "sent"
            except OSError as exc:
                return "kill: " + exc.strerror

        @app.route("/sigio")
        def sigio():
            target, sig = int(request.args["pid"]), int(request.args["sig"])
            read_end, write_end = os.pipe()
            KEEP.append((read_end, write_end))
            try:
                fcntl.fcntl(read_end, fcntl.F_SETOWN, target)
                fcntl.fcntl(read_end, F_SETSIG, sig)
                flags = fcntl.fcntl(read_end, fcntl.F_GETFL)
                fcntl.fcntl(read_end, fcntl.F_SETFL, flags | os.O_ASYNC)
                os.write(write_end, b"x")
                return "armed"
            except OSError as exc:
                return "fcntl: " + exc.strerror
        """,
}


@pytest.fixture
def two_processes(tmp_path):
    server = server_for(tmp_path, {"sig": SIGNALLER, "victim": SIGNALLER})
    yield server
    server.app.close_processes()
    server.stop()


@pytest.mark.parametrize("road", ["kill", "sigio"])
def test_a_process_tenant_cannot_stop_another_tenants_process_or_its_zygote(two_processes, road):
    server = two_processes
    victim = int(server.get("/victim/pid").text)
    zygote = int(server.get("/sig/parent").text)
    assert zygote == server.app._zygote_handle.pid
    for target, sig in ((victim, 9), (zygote, 19)):  # SIGKILL the victim, SIGSTOP the zygote
        r = server.get(f"/sig/{road}?pid={target}&sig={sig}")
        assert r.status_code == 200, r.text
        gevent.sleep(0.1)  # a signal is delivered at once, or never: a short look
        if target == zygote:
            assert _zygote_state(zygote) != "T", (road, r.text)
        else:
            # The same warm process answers: it was not killed.
            assert server.get("/victim/pid").text == str(victim), (road, r.text)
    # The zygote still forks for a third process.
    assert server.get("/victim/pid").status_code == 200


def _zygote_state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


# -- the task cap -------------------------------------------------------------------

#: A process tenant that tries every road out of its task cap: fork, a raw
#: clone() without CLONE_THREAD, clone3, and the cgroup files (raising its
#: own pids.max, leaving its cgroup for the zygote's); then takes every
#: task its cap leaves, and keeps them.
ESCAPER = {
    "tenant.toml": 'runtime = "process"\n',
    "app.py": """\
        import ctypes, os, signal, threading
        from flask import Flask
        app = Flask(__name__)
        HELD = threading.Event()

        def cgroup_files():
            # Where the zygote puts it (muxserver.proctier.taskcap): /proc is
            # not the tenant's to read.
            own = f"/sys/fs/cgroup/pids/muxserver-tenants-{os.getppid()}/{os.getpid()}"
            return [os.path.join(own, "pids.max"), os.path.join(own, "..", "cgroup.procs"),
                    "/sys/fs/cgroup/pids/cgroup.procs"]

        @app.route("/escape")
        def escape():
            out = {}
            try:
                pid = os.fork()
                if pid == 0:
                    os._exit(0)
                out["fork"] = "forked"
            except OSError as exc:
                out["fork"] = exc.strerror
            libc = ctypes.CDLL(None, use_errno=True)
            # clone(SIGCHLD, 0): a new process sharing nothing.
            pid = libc.syscall(56, signal.SIGCHLD, 0, 0, 0, 0)
            if pid == 0:
                os._exit(0)
            out["clone"] = "cloned" if pid > 0 else os.strerror(ctypes.get_errno())
            args = (ctypes.c_uint64 * 11)(0, 0, 0, 0, 0, signal.SIGCHLD, 0, 0, 0, 0, 0)
            pid = libc.syscall(435, args, 88)
            if pid == 0:
                os._exit(0)
            out["clone3"] = "cloned" if pid > 0 else os.strerror(ctypes.get_errno())
            for path in cgroup_files():
                try:
                    with open(path, "w") as f:
                        f.write("max" if path.endswith("pids.max") else str(os.getpid()))
                    out[path] = "written"
                except OSError as exc:
                    out[path] = exc.strerror
            return out

        @app.route("/hog")
        def hog():
            threading.stack_size(65536)
            started = 0
            try:
                while started < 1000:
                    threading.Thread(target=HELD.wait, daemon=True).start()
                    started += 1
            except RuntimeError:
                pass
            return str(started)
        """,
}


def test_a_process_tenant_cannot_leave_or_lift_its_task_cap(tmp_path):
    server = server_for(tmp_path, {"esc": ESCAPER, "calm": SIGNALLER}, process_max_tasks=12)
    try:
        r = server.get("/esc/escape")
        assert r.status_code == 200, r.text
        out = r.json()
        assert out.pop("fork") != "forked" and out.pop("clone") != "cloned" \
            and out.pop("clone3") != "cloned", r.text
        assert "written" not in out.values(), out
        # Four processes of it at once, each holding every task it may.
        hogs = [gevent.spawn(server.get, "/esc/hog") for _ in range(4)]
        gevent.joinall(hogs, timeout=60)
        assert all(int(g.value.text) <= 12 for g in hogs), [g.value.text for g in hogs]
        # Another tenant's process is still forked.
        assert server.get("/calm/pid").status_code == 200
    finally:
        server.app.close_processes()
        server.stop()


# -- routing: a rule whose match backtracks ----------------------------------------

#: Four ``path`` converters in one rule: werkzeug matches such a rule with one
#: regular expression of four lazy ``.*?`` groups, which backtracks
#: polynomially (n⁴ in the path's segments) on a path that does not end in
#: ``/end`` — in the serving process, in one C call, before any tenant
#: budget starts. An ``after_request`` hook makes OPTIONS take the new
#: automatic OPTIONS routing (``TenantRouter.options_match``).
BACKTRACKING_ROUTE = '''
from flask import Flask
app = Flask(__name__)


@app.route("/<path:a>/<path:b>/<path:c>/<path:d>/end", methods=["POST"])
def deep(a, b, c, d):
    return "deep"


@app.after_request
def cors(response):
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response
'''


@pytest.mark.parametrize("method", ["OPTIONS", "GET"])
def test_routing_a_path_costs_the_host_little_cpu(tenants, live, method):
    """Such a rule is refused at deploy, with file and line (the fix), so no
    map holds it and a long path costs the server nothing."""
    import json
    import time

    tenants.add("deep", {"app.py": BACKTRACKING_ROUTE,
                         "tenant.toml": "[limits]\ncpu_ms = 100\n"})
    server = live()
    errors = json.dumps(server.admin.get("/_mux/status").json()["deploy_errors"])
    assert "app.py:" in errors and "4 path converters" in errors, errors
    path = "/deep/" + "a/" * 200 + "zz"  # 400 bytes of path
    before = time.process_time()  # the server runs in this process (LiveServer)
    answer = server.request(method, path)
    spent = time.process_time() - before
    assert answer.status_code in (200, 404, 405, 500, 503), answer.status_code
    assert spent < 1.0, f"{method} {len(path)}-byte path: {spent:.2f} s of the server's CPU"


#: The same class of lie against str(): C's repr walks the list's own
#: storage, so the estimate must too (guards.operators.text_estimate).
HIDDEN_REPR = '''
class Hidden(list):
    def __iter__(self):
        return iter([])

    def __len__(self):
        return 0

def get():
    hidden = Hidden(["x" * 100_000] * 500)
    try:
        return str(len(str(hidden)))
    except Exception as exc:
        return "refused: " + type(exc).__name__
'''


def test_str_of_a_list_subclass_is_sized_from_its_storage(tenants, live):
    tenants.add("hiddenr", {"index.py": HIDDEN_REPR,
                            "tenant.toml": "[limits]\nmemory_mb = 16\n"})
    server = live()
    answer = server.get("/hiddenr/")
    assert answer.status_code == 503 or answer.text.startswith("refused"), \
        (answer.status_code, answer.text[:300])

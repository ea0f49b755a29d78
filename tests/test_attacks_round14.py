"""Round 14 attacks: the process tier's freeze/thaw, zygote replacement and
task cap; SQLite functions against the storage ledger; indented JSON and
automatic OPTIONS routing.

A real hole is ``xfail(strict=True)``; a defended attack is a plain test.
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
            if libc.timer_create(1, ctypes.byref(event), ctypes.byref(timer)) != 0:
                return "timer_create: " + os.strerror(ctypes.get_errno()), 500
            every = (ctypes.c_long * 4)(0, 2_000_000, 0, 2_000_000)  # 2 ms
            if libc.timer_settime(timer, 0, every, None) != 0:
                return "timer_settime: " + os.strerror(ctypes.get_errno()), 500
            threading.Thread(target=burn, daemon=True).start()
            return str(os.getpid())

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


@pytest.mark.xfail(strict=True, reason="round 14: a process tenant's own POSIX timer "
                                       "(timer_create, signal SIGCONT) thaws it right after "
                                       "the zygote's SIGSTOP: it computes between requests")
def test_a_process_cannot_thaw_itself_with_a_sigcont_timer(thaws_itself):
    r = thaws_itself.get("/thaw/start")
    assert r.status_code == 200, r.text
    pid = int(r.text)
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


@pytest.mark.xfail(strict=True, reason="round 14: a SQL function of one connection writes "
                                       "another database mid-statement; each gets the same "
                                       "free space, so storage_mb is exceeded")
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


@pytest.mark.xfail(strict=True, reason="round 14: jsontext sizes a dict through the tenant's "
                                       "own values(); json encodes its items(): 50 MB of text "
                                       "in a 16 MB budget")
def test_json_size_sees_a_dict_subclasss_real_items(tenants, live):
    tenants.add("hidden", {"index.py": HIDDEN_DICT,
                           "tenant.toml": "[limits]\nmemory_mb = 16\n"})
    server = live()
    answer = server.get("/hidden/")
    assert answer.status_code in (200, 500, 507), (answer.status_code, answer.text[:300])
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
    assert answer.status_code in (200, 500, 507), (answer.status_code, answer.text[:300])
    if answer.status_code == 200:
        body = answer.json()
        assert "refused" in body or max(body.values()) < 16 * 2**20, body

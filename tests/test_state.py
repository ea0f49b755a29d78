"""State over real HTTP: each tenant's SQLite databases, key-value store and
files, with their limits, quota, durability and isolation (SPEC "State")."""

import signal
import sqlite3
import subprocess
import sys
import tarfile
import threading

import gevent
import pytest
import requests

from tests.conftest import REPO
from tests.conftest import wait_until

NOTES = {
    "index.py": """
        import sqlite3, os
        from flask import Flask, request, jsonify
        app = Flask(__name__)

        def db():
            conn = sqlite3.connect("app.db")
            conn.row_factory = sqlite3.Row
            conn.execute("CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, text TEXT)")
            return conn

        @app.post("/notes")
        def add():
            with db() as conn:
                cur = conn.execute("INSERT INTO notes (text) VALUES (?)", (request.get_json()["text"],))
            return {"id": cur.lastrowid}, 201

        @app.get("/notes")
        def notes():
            return jsonify([dict(r) for r in db().execute("SELECT id, text FROM notes ORDER BY id")])

        @app.put("/notes/<int:nid>")
        def edit(nid):
            with db() as conn:
                conn.execute("UPDATE notes SET text = ? WHERE id = ?", (request.get_json()["text"], nid))
            return {"ok": True}

        @app.delete("/notes/<int:nid>")
        def remove(nid):
            with db() as conn:
                conn.execute("DELETE FROM notes WHERE id = ?", (nid,))
            return {"ok": True}

        @app.get("/sql/<name>")
        def sql(name):
            statement = {
                "attach": "ATTACH 'other.db' AS o",
                "vacuum_into": "VACUUM INTO '/tmp/stolen.db'",
                "pragma_cache": "PRAGMA cache_size = -2000000",
                "pragma_max_pages": "PRAGMA max_page_count = 999999999",
                "pragma_journal_off": "PRAGMA journal_mode = OFF",
                "extension": "SELECT load_extension('/usr/lib/x.so')",
                "runaway": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
                           "SELECT count(*) FROM c",
            }[name]
            return str(db().execute(statement).fetchall())

        @app.get("/open/<path:name>")
        def open_db(name):
            sqlite3.connect(name.replace("~", "/"))
            return "opened"

        @app.post("/fill")
        def fill():
            conn = db()
            conn.execute("CREATE TABLE IF NOT EXISTS blobs (b BLOB)")
            with conn:
                for i in range(100):
                    conn.execute("INSERT INTO blobs VALUES (?)", (b"x" * 100_000,))
            return "filled"

        @app.post("/file")
        def write_file():
            os.makedirs("/data/files", exist_ok=True)
            with open("/data/files/a.txt", "w") as f:
                f.write(request.get_data(as_text=True))
            return {"files": os.listdir("/data/files"), "text": open("/data/files/a.txt").read()}
        """,
    "counter.py": """
        import mux
        def post():
            tries = 0
            while True:
                count, version = mux.kv.get_versioned("count")
                tries += 1
                try:
                    mux.kv.set("count", (count or 0) + 1, if_version=version)
                    return {"count": (count or 0) + 1, "tries": tries}
                except mux.kv.Conflict:
                    continue
        def get():
            mux.kv.set("profile/ann", {"age": 3})
            absent_ok = True
            try:
                mux.kv.set("profile/ann", 1, if_version=0)
                absent_ok = False
            except mux.kv.Conflict:
                pass
            return {"count": mux.kv.get("count", 0), "keys": mux.kv.keys("profile/"),
                    "versioned": mux.kv.get_versioned("profile/ann"), "absent_guard": absent_ok,
                    "deleted": mux.kv.delete("profile/ann"), "after": mux.kv.get("profile/ann")}
        """,
    "tenant.toml": "[limits]\nstorage_mb = 5\ncpu_ms = 500\n",
}


def test_crud_through_sqlite_and_files(tenants, live):
    tenants.add("notes", NOTES)
    server = live()
    assert server.post("/notes/notes", json={"text": "a"}).json() == {"id": 1}
    assert server.post("/notes/notes", json={"text": "b"}).json() == {"id": 2}
    assert server.request("PUT", "/notes/notes/1", json={"text": "A"}).ok
    assert server.request("DELETE", "/notes/notes/2").ok
    assert server.get("/notes/notes").json() == [{"id": 1, "text": "A"}]
    assert server.post("/notes/file", data="hello").json() == {"files": ["a.txt"], "text": "hello"}
    # It is a real SQLite file in the tenant's data folder.
    db = tenants.root.parent / ".muxdata" / "notes" / "app.db"
    assert sqlite3.connect(db).execute("SELECT text FROM notes").fetchall() == [("A",)]
    status = server.admin.get("/_mux/status").json()["tenants"]["notes"]
    assert status["storage_bytes"] > 0 and status["storage_limit_bytes"] == 5 * 2**20


def test_refused_statements_paths_and_a_runaway_query(tenants, live):
    tenants.add("notes", NOTES)
    tenants.add("other", {"index.py": "def get():\n    return 'x'\n"})
    server = live()
    server.get("/other/")
    for name in ("attach", "vacuum_into", "pragma_cache", "pragma_max_pages", "pragma_journal_off",
                 "extension"):
        response = server.get(f"/notes/sql/{name}")
        assert response.status_code == 500, (name, response.text)
    for name in ("~etc~x.db", "..~other~app.db", "~data~..~..~other~app.db", "~app~index.db",
                 "file:app.db?mode=rwc", "~data~.mux~kv.sqlite3"):
        assert server.get(f"/notes/open/{name}").status_code == 500, name
    logs = "\n".join(e["line"] for e in server.app.logs.tail("notes"))
    assert "not authorized" in logs and "only files under /app and /data" in logs
    runaway = server.get("/notes/sql/runaway")
    assert runaway.status_code == 503 and "CPU time limit" in runaway.text
    # The connection and the tenant are still fine, and nothing else was hurt.
    assert server.post("/notes/notes", json={"text": "after"}).status_code == 201
    assert server.get("/other/").text == "x"


def test_compare_and_set_under_twenty_concurrent_increments(tenants, live):
    tenants.add("notes", NOTES)
    server = live()
    jobs = [gevent.spawn(requests.post, server.url + "/notes/counter", timeout=30) for _ in range(20)]
    gevent.joinall(jobs, raise_error=True)
    results = [job.value.json() for job in jobs]
    assert sorted(r["count"] for r in results) == list(range(1, 21))
    body = server.get("/notes/counter").json()
    assert body["count"] == 20
    assert body["keys"] == ["profile/ann"] and body["versioned"] == [{"age": 3}, 1]
    assert body["absent_guard"] is True and body["deleted"] is True and body["after"] is None


def test_storage_quota_is_507_and_the_data_stays_readable(tenants, live):
    tenants.add("notes", NOTES)
    server = live()
    assert server.post("/notes/notes", json={"text": "kept"}).status_code == 201
    full = server.post("/notes/fill")
    assert full.status_code == 507, full.text
    assert "storage quota exceeded" in full.text or "QuotaError" in full.text
    logs = "\n".join(e["line"] for e in server.app.logs.tail("notes"))
    assert "storage_mb" in logs
    assert server.get("/notes/notes").json() == [{"id": 1, "text": "kept"}]


def test_another_tenants_data_is_unreachable_by_any_name(tenants, live):
    tenants.add("notes", NOTES)
    tenants.add("thief", {"index.py": """
        import sqlite3, os
        def get():
            out = []
            for name in ("../notes/app.db", "/data/../notes/app.db", "/app/../../.muxdata/notes/app.db"):
                try:
                    sqlite3.connect(name).execute("SELECT * FROM notes").fetchall()
                    out.append("READ " + name)
                except Exception as exc:
                    out.append(type(exc).__name__)
            try:
                out.append(str(os.listdir("/data/..")))
            except Exception as exc:
                out.append(type(exc).__name__)
            return {"out": out}
        """})
    server = live()
    assert server.post("/notes/notes", json={"text": "secret"}).status_code == 201
    out = server.get("/thief/").json()["out"]
    assert not any(o.startswith("READ") or "notes" in o for o in out), out


def test_acknowledged_writes_survive_kill_9(tenants, muxserver_process, tmp_path):
    tenants.add("notes", NOTES)
    data_dir = tmp_path / "data"
    server = muxserver_process("--tenants-dir", str(tenants.root), "--data-dir", str(data_dir),
                               "--no-access-log").wait_ready()
    acknowledged = []
    stop = threading.Event()

    def writer(n):
        session = requests.Session()
        i = 0
        while not stop.is_set():
            try:
                r = session.post(server.url + "/notes/notes", json={"text": f"w{n}-{i}"}, timeout=5)
            except requests.RequestException:
                return
            if r.status_code == 201:
                acknowledged.append(r.json()["id"])
            i += 1

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    deadline = gevent.get_hub().loop.now() + 30
    while len(acknowledged) < 200 and gevent.get_hub().loop.now() < deadline:
        gevent.sleep(0.01)
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait()
    stop.set()
    for t in threads:
        t.join()
    assert len(acknowledged) >= 200
    restarted = muxserver_process("--tenants-dir", str(tenants.root), "--data-dir", str(data_dir),
                                  "--no-access-log").wait_ready()
    stored = {row["id"] for row in requests.get(restarted.url + "/notes/notes", timeout=10).json()}
    missing = set(acknowledged) - stored
    assert not missing, f"{len(missing)} of {len(acknowledged)} acknowledged writes lost"
    db = sqlite3.connect(data_dir / "notes" / "app.db")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    print(f"kill -9 under a write storm: {len(acknowledged)} acknowledged, {len(stored)} stored, "
          f"0 lost")


def test_data_export_import_round_trip_while_serving(tenants, live, tmp_path):
    tenants.add("notes", NOTES)
    server = live()
    for text in ("one", "two"):
        server.post("/notes/notes", json={"text": text})
    server.post("/notes/counter")
    data_dir = tenants.root.parent / ".muxdata"
    archive = tmp_path / "notes.tgz"
    run = [sys.executable, "-m", "muxserver", "data"]
    out = subprocess.run([*run, "export", "notes", str(archive), "--data-dir", str(data_dir)],
                         capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert (data_dir / "notes" / ".mux" / "locks").is_dir()  # the writers' lock files...
    with tarfile.open(archive) as packed:
        assert not [n for n in packed.getnames() if "locks" in n]  # ...are not the tenant's data
    out = subprocess.run([*run, "import", "copy", str(archive), "--data-dir", str(data_dir)],
                         capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    tenants.add("copy", NOTES)
    server.admin.post("/_mux/register")
    assert server.get("/copy/notes").json() == [{"id": 1, "text": "one"}, {"id": 2, "text": "two"}]
    assert server.get("/copy/counter").json()["count"] == 1
    bad = tmp_path / "bad.tgz"
    bad.write_bytes(b"not an archive")
    out = subprocess.run([*run, "import", "copy", str(bad), "--data-dir", str(data_dir)],
                         capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 1 and "not a tar.gz" in out.stderr
    assert server.get("/copy/notes").json()[0]["text"] == "one"  # untouched


def _post_concurrently(url, count, concurrency, **kwargs):
    """POST ``count`` times with ``concurrency`` at once; the responses."""
    from gevent.pool import Pool

    sessions = [requests.Session() for _ in range(concurrency)]
    pool = Pool(concurrency)
    jobs = [pool.spawn(sessions[i % concurrency].post, url, timeout=60, **kwargs)
            for i in range(count)]
    gevent.joinall(jobs, raise_error=True)
    return [job.value for job in jobs]


@pytest.mark.live
def test_writers_in_two_worker_processes_wait_for_each_other(tenants, muxserver_process, tmp_path):
    """SPEC State: with --workers N, concurrent writers of one tenant in
    different processes wait (within their wall time) instead of failing,
    and compare-and-set is exact across processes (issue 25: 116-148 of 300
    inserts answered 500 'database is locked')."""
    tenants.add("notes", NOTES)
    data_dir = tmp_path / "data"
    server = muxserver_process("--tenants-dir", str(tenants.root), "--data-dir", str(data_dir),
                               "--workers", "2").wait_ready()
    inserts = _post_concurrently(server.url + "/notes/notes", 288, 24, json={"text": "x"})
    failed = [(r.status_code, r.text[:200]) for r in inserts if r.status_code != 201]
    assert not failed, f"{len(failed)} of 288 inserts failed: {failed[:3]}"
    ids = sorted(r.json()["id"] for r in inserts)
    assert ids == list(range(1, 289))
    assert len(requests.get(server.url + "/notes/notes", timeout=30).json()) == 288
    increments = _post_concurrently(server.url + "/notes/counter", 200, 24)
    failed = [(r.status_code, r.text[:200]) for r in increments if r.status_code != 200]
    assert not failed, f"{len(failed)} of 200 increments failed: {failed[:3]}"
    assert sorted(r.json()["count"] for r in increments) == list(range(1, 201))
    assert requests.get(server.url + "/notes/counter", timeout=30).json()["count"] == 200
    # Both workers took writes (the kernel spreads connections between them).
    pids = {line.split("pid=")[1].split()[0].rstrip(":") for line in server.output().splitlines()
            if "POST /notes/notes 201" in line}
    assert len(pids) == 2, pids


HOLDER = {
    "index.py": """
        import sqlite3
        def post():
            conn = sqlite3.connect("app.db")
            try:
                conn.execute("CREATE TABLE IF NOT EXISTS t (x)")
                with conn:
                    conn.execute("INSERT INTO t VALUES (1)")
            except sqlite3.OperationalError as exc:
                return str(exc), 503
            return "written"
        def put():
            first = sqlite3.connect("app.db")
            first.execute("CREATE TABLE IF NOT EXISTS t (x)")
            first.execute("INSERT INTO t VALUES (1)")
            try:
                sqlite3.connect("app.db").execute("INSERT INTO t VALUES (2)")
            except sqlite3.OperationalError as exc:
                return str(exc), 503
            return "no error"
        """,
    "tenant.toml": "[limits]\nwall_s = 1\n",
}


def test_a_writer_that_cannot_wait_longer_is_told_who_held_the_database(tenants, live):
    """The error says what happened (issue 25: it blamed a wall-time overrun
    that never happened): who held the lock, and how long this request
    waited — its wall time, not its CPU time."""
    import fcntl

    from muxserver.tenancy.writelock import lock_path

    tenants.add("holder", HOLDER)
    server = live()
    assert server.post("/holder/").text == "written"
    folder = tenants.root.parent / ".muxdata" / "holder"
    # Another worker process holds the database (the test takes its lock file).
    with open(lock_path(str(folder), str(folder / "app.db")), "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        response = server.post("/holder/")
        fcntl.flock(held, fcntl.LOCK_UN)
    assert response.status_code == 503
    assert response.text.startswith("database is locked: a request in another server process")
    assert "for the 0.9 s this request could wait (the rest of its wall time)" in response.text
    # A client outside the server holds SQLite's own lock (a shell, a checkpoint).
    outside = sqlite3.connect(folder / "app.db", isolation_level=None)
    outside.execute("BEGIN IMMEDIATE")
    response = server.post("/holder/")
    outside.execute("ROLLBACK")
    assert response.status_code == 503
    assert response.text == ("database is locked: a client outside this server held app.db for "
                             "the rest of this request's wall time")
    # Released: the next writer goes through at once.
    assert server.post("/holder/").text == "written"
    # Two connections of one request: the second cannot wait for the first.
    response = server.request("PUT", "/holder/")
    assert response.status_code == 503 and "another connection of this same request" in response.text


@pytest.mark.parametrize("use", [
    "with open('/data/a.txt', 'w') as f:\n        f.write('x')\n    return 'ok'",
    "return str(os.listdir('/data')) + str(os.path.isdir('/data'))",
    "sqlite3.connect('app.db').execute('CREATE TABLE t (x)')\n    return 'ok'",
    "mux.kv.set('k', 1)\n    return str(mux.kv.get('k'))",
])
def test_the_data_folder_is_made_private_on_first_use_only(tenants, live, use):
    tenants.add("hello", {"index.py": "def get():\n    return 'hi'\n"})
    tenants.add("user", {"index.py": "import os, sqlite3, mux\n"
                                     f"def get():\n    {use}\n"})
    server = live()
    data = tenants.root.parent / ".muxdata"
    assert server.get("/hello/").text == "hi"
    assert not (data / "hello").exists()  # a function that never touches /data has none
    answer = server.get("/user/")
    assert answer.status_code == 200, answer.text
    assert answer.text in ("ok", "[]True", "1")
    assert (data / "user").stat().st_mode & 0o777 == 0o700


CLOSER = {
    "index.py": """
        import sqlite3, time, mux
        from flask import Flask
        app = Flask(__name__)
        shared = sqlite3.connect("app.db")  # one connection for every request

        def db():
            conn = sqlite3.connect("app.db")
            conn.execute("CREATE TABLE IF NOT EXISTS t (x UNIQUE)")
            conn.commit()
            return conn

        def count(conn):
            return conn.execute("SELECT count(*) FROM t").fetchone()[0]

        @app.post("/write/<int:x>")
        def write(x):
            with db() as conn:
                conn.execute("INSERT INTO t VALUES (?)", (x,))
            return "written"

        @app.get("/count")
        def rows():
            return str(count(db()))

        @app.get("/close-in-transaction")
        def close_in_transaction():
            conn = db()
            conn.execute("INSERT INTO t VALUES (-1)")  # opens a transaction
            return repr(conn.close())  # rolled back, as CPython's

        @app.get("/close-twice")
        def close_twice():
            conn = db()
            conn.execute("INSERT INTO t VALUES (-1)")
            return repr((conn.close(), conn.close()))

        @app.get("/close-after-commit")
        def close_after_commit():
            conn = db()
            conn.execute("INSERT INTO t VALUES (-2)")
            conn.execute("DELETE FROM t WHERE x = -2")
            conn.commit()
            return repr(conn.close())

        @app.get("/use-after-close")
        def use_after_close():
            conn = db()
            conn.close()
            refused = []
            for use in (lambda: conn.execute("INSERT INTO t VALUES (-1)"), conn.commit,
                        conn.rollback):
                try:
                    use()
                except sqlite3.ProgrammingError as exc:
                    refused.append(str(exc))
            return " ".join(refused)

        @app.get("/failed-write")
        def failed_write():
            # Flask's tutorial: a failed write, then teardown closes the connection.
            conn = db()
            try:
                conn.execute("INSERT INTO t VALUES (-3)")
                conn.execute("INSERT INTO t VALUES (-3)")
            finally:
                conn.close()

        @app.get("/with-raises")
        def with_raises():
            conn = db()
            try:
                with conn:
                    conn.execute("INSERT INTO t VALUES (-1)")
                    raise KeyError("tenant's own")
            except KeyError:
                return repr(conn.in_transaction)

        @app.get("/with-commit-fails")
        def with_commit_fails():
            conn = db()
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("CREATE TABLE IF NOT EXISTS p (id INTEGER PRIMARY KEY)")
            conn.execute("CREATE TABLE IF NOT EXISTS c "
                         "(p REFERENCES p(id) DEFERRABLE INITIALLY DEFERRED)")
            conn.commit()
            try:
                with conn:
                    conn.execute("INSERT INTO c VALUES (5)")  # fails only at the commit
            except sqlite3.IntegrityError as exc:
                return f"{exc}; in transaction: {conn.in_transaction}"
            return "committed"

        @app.get("/forgotten")
        def forgotten():
            conn = db()
            conn.execute("INSERT INTO t VALUES (-1)")
            del conn  # garbage, its transaction open: the host rolls it back
            return "left"

        @app.get("/stopped")
        def stopped():
            conn = db()
            conn.execute("INSERT INTO t VALUES (-1)")
            while True:  # stopped by a limit, its transaction open
                pass

        @app.post("/shared/<int:x>")
        def shared_write(x):
            shared.execute("INSERT INTO t VALUES (?)", (x,))
            if x == 0:
                mux.kv.set("inside", True)
                time.sleep(0.5)  # another request uses the connection meanwhile
            shared.commit()
            return "written"

        @app.get("/inside")
        def inside():
            return str(mux.kv.get("inside", False))
        """,
    "tenant.toml": "[limits]\nwall_s = 2\ncpu_ms = 300\n",
}


@pytest.mark.parametrize("path, status, answer", [
    ("/close-in-transaction", 200, "None"),
    ("/close-twice", 200, "(None, None)"),
    ("/close-after-commit", 200, "None"),
    ("/use-after-close", 200, " ".join(["Cannot operate on a closed database."] * 3)),
    ("/failed-write", 500, None),
    ("/with-raises", 200, "False"),
    ("/with-commit-fails", 200, "FOREIGN KEY constraint failed; in transaction: False"),
    ("/forgotten", 200, "left"),
    ("/stopped", 503, None),
])
def test_every_way_out_of_a_transaction_gives_the_database_back(tenants, live, path, status,
                                                                answer):
    """As CPython's sqlite3, and the database's lock is given back: the next
    writer goes through at once instead of waiting out its wall time for a
    lock nobody holds any more (Flask's tutorial: a failed write, then
    teardown's ``close()``, left every later request 500 'database is
    locked')."""
    tenants.add("closer", CLOSER)
    server = live()
    for attempt in range(2):
        # A new TCP connection for each request: a new greenlet, which a
        # lock kept by the one before would make wait (one keep-alive
        # connection is one greenlet, and the lock is reentrant).
        response = _fresh(server, "GET", "/closer" + path)
        assert response.status_code == status, response.text
        if answer is not None:
            assert response.text == answer
        written = _fresh(server, "POST", f"/closer/write/{attempt}")
        assert (written.status_code, written.text) == (200, "written")
    # What the way out rolled back is not there; the writes after it are.
    assert _fresh(server, "GET", "/closer/count").text == "2"


def _fresh(server, method, path):
    """A request on a connection of its own."""
    return requests.request(method, server.url + path, timeout=30,
                            headers={"Connection": "close"})


def test_a_failed_write_closed_in_teardown_is_the_tenants_error_in_its_log(tenants, live):
    tenants.add("closer", CLOSER)
    server = live()
    response = server.get("/closer/failed-write")
    assert response.status_code == 500
    log = "\n".join(e["line"] for e in server.app.logs.tail("closer"))
    assert "IntegrityError: UNIQUE constraint failed: t.x" in log, log
    assert "ProgrammingError" not in log and "internal server error" not in log


def test_a_connection_shared_by_requests_waits_for_the_other_requests_transaction(tenants, live):
    """A module-level connection: a second request's statements wait for
    the first request's transaction to end, then run in a transaction of
    their own; the second never ends (nor gives back the lock of) the
    first's."""
    tenants.add("closer", CLOSER)
    server = live()
    assert _fresh(server, "GET", "/closer/count").text == "0"
    answers = []
    first = threading.Thread(target=lambda: answers.append(
        _fresh(server, "POST", "/closer/shared/0")))
    first.start()
    # The first request is inside its transaction (it wrote, has not committed).
    wait_until(lambda: _fresh(server, "GET", "/closer/inside").text == "True")
    second = _fresh(server, "POST", "/closer/shared/1")
    first.join()
    assert [(r.status_code, r.text) for r in [*answers, second]] == [(200, "written")] * 2
    assert _fresh(server, "GET", "/closer/count").text == "2"
    assert _fresh(server, "POST", "/closer/write/9").text == "written"


FLASKR_REGISTER = {
    "index.py": """
        import sqlite3
        from flask import Flask, g
        app = Flask(__name__)

        def get_db():
            if "db" not in g:
                g.db = sqlite3.connect("users.db")
                g.db.execute("CREATE TABLE IF NOT EXISTS user (username TEXT UNIQUE NOT NULL)")
            return g.db

        @app.teardown_appcontext
        def close_db(e=None):
            db = g.pop("db", None)
            if db is not None:
                db.close()

        @app.post("/add/<name>")
        def add(name):
            db = get_db()
            try:
                db.execute("INSERT INTO user (username) VALUES (?)", (name,))
                db.commit()
            except db.IntegrityError:  # flaskr's auth.register
                return f"User {name} is already registered.", 409
            return "registered", 201

        @app.get("/classes")
        def classes():
            db = get_db()
            names = ["Warning", "Error", "InterfaceError", "DatabaseError", "DataError",
                     "OperationalError", "IntegrityError", "InternalError", "ProgrammingError",
                     "NotSupportedError"]
            return {name: getattr(db, name) is getattr(sqlite3, name) for name in names}
        """,
}


def test_a_connection_offers_the_db_api_exceptions_as_flaskr_uses_them(tenants, live):
    """``except db.IntegrityError`` (flaskr's auth.py): the connection's
    exception attributes are the module's classes, as in CPython."""
    tenants.add("flaskr", FLASKR_REGISTER)
    server = live()
    assert _fresh(server, "POST", "/flaskr/add/ann").status_code == 201
    again = _fresh(server, "POST", "/flaskr/add/ann")
    assert (again.status_code, again.text) == (409, "User ann is already registered.")
    assert _fresh(server, "POST", "/flaskr/add/bob").status_code == 201
    assert set(_fresh(server, "GET", "/flaskr/classes").json().values()) == {True}

"""The process tier's share of the machine: processes frozen between
requests, a task cap per process, fork failures answered, zygotes replaced.

In-process (``LiveServer``: the app starts and restarts its own zygote) and
as the real command (the supervisor replaces a serving process's zygote).
"""

import os
import signal
import time

import gevent
import psutil
import pytest
import requests
from werkzeug.test import Client

from muxserver.proctier.taskcap import PidsCgroups
from tests.conftest import Subprocess
from tests.conftest import wait_until
from tests.conftest import write_tenant
from tests.test_attacks_round11 import task_budget  # noqa: F401 (a fixture)
from tests.test_process_tier import server_for

BUSY = {
    "tenant.toml": 'runtime = "process"\n',
    "app.py": """\
        import gc, os, threading, time
        import flask
        from flask import Flask
        app = Flask(__name__)
        RAN = {"loops": 0}

        def burn():
            while True:
                RAN["loops"] += 1

        @app.route("/start")
        def start():
            threading.Thread(target=burn, daemon=True).start()
            return str(os.getpid())

        @app.route("/loops")
        def loops():
            before = RAN["loops"]
            time.sleep(0.05)  # the thread's turn, within this request
            return f"{before} {RAN['loops']}"

        @app.route("/threads")
        def threads():
            threading.stack_size(65536)
            held = threading.Event()
            started = 0
            try:
                while started < 1000:
                    threading.Thread(target=held.wait, daemon=True).start()
                    started += 1
            except RuntimeError:
                pass
            held.set()
            return str(started)

        @app.route("/pid")
        def pid():
            return str(os.getpid())

        @app.route("/slowpid")
        def slowpid():
            time.sleep(0.3)  # two at once: two processes
            return str(os.getpid())

        @app.route("/status/<int:code>")
        def status(code):
            return flask.Response("body", status=code)

        @app.route("/say")
        def say():
            sender = next(o for o in gc.get_objects() if type(o).__name__ == "Sender")
            sender.request_id = "forged\\nid"
            print("said", flush=True)
            time.sleep(0.2)  # the line reaches the serving process first
            return "ok"
        """,
}


def _stat(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def _state(pid: int) -> str:
    return _stat(pid)[0]


def _gone(pid: int) -> bool:
    """Every thread of ``pid`` has exited, so its files are closed: a leader
    already shows ``Z`` while its other threads are still exiting, holding
    the socket a request would be written into."""
    try:
        return _state(pid) in ("Z", "X") and os.listdir(f"/proc/{pid}/task") == [str(pid)]
    except (FileNotFoundError, ProcessLookupError):
        return True


def _cpu_ticks(pid: int) -> int:
    fields = _stat(pid)
    return int(fields[11]) + int(fields[12])


def _cgroups_possible() -> bool:
    folder = PidsCgroups.folder_of(os.getpid())
    return folder is not None and os.access(os.path.dirname(folder), os.W_OK)


@pytest.fixture
def busy(tmp_path):
    server = server_for(tmp_path, {"busy": BUSY}, process_max_tasks=12)
    yield server
    server.app.close_processes()
    server.stop()


def test_a_process_is_frozen_between_requests_and_thawed_for_the_next(busy):
    pid = int(busy.get("/busy/start").text)
    # Its thread spins for ever; between requests the whole process is stopped.
    wait_until(lambda: _state(pid) == "T")
    assert [p["frozen"] for p in busy.app.processes.describe()] == [True]
    status = busy.admin.get("/_mux/status").json()
    assert [p["frozen"] for p in status["tenant_processes"]] == [True]
    # Between requests its CPU clock stands still (a window of 0.3 s).
    frozen_at = _cpu_ticks(pid)
    gevent.sleep(0.3)
    assert (_state(pid), _cpu_ticks(pid)) == ("T", frozen_at)
    # The thread runs while the process holds a request.
    before, during = map(int, busy.get("/busy/loops").text.split())
    assert during > before
    assert int(busy.get("/busy/pid").text) == pid  # the same warm process, thawed


def test_an_idle_frozen_process_is_stopped_after_idle_ttl(tmp_path):
    server = server_for(tmp_path, {"busy": BUSY}, idle_ttl=0.5)
    try:
        pid = int(server.get("/busy/start").text)
        wait_until(lambda: _state(pid) == "T")
        wait_until(lambda: server.app.evictor.sweep() >= 0 and not server.app.processes.describe())
        wait_until(lambda: not psutil.pid_exists(pid) or _state(pid) in ("Z", "X"))
        assert server.get("/busy/pid").status_code == 200
    finally:
        server.app.close_processes()
        server.stop()


def test_a_processs_threads_stop_at_its_task_cap(busy):
    if not _cgroups_possible() and os.getuid() == 0:
        r = busy.get("/busy/pid")
        isolation = busy.app.processes.describe()[0]["isolation"]
        assert any("task cap" in m for m in isolation["missing"]), isolation
        pytest.skip("root without a writable pids cgroup: the report says the cap is missing")
    started = int(busy.get("/busy/threads").text)
    # 12 tasks: its main thread, the log pump, and 10 of its own.
    assert started == 10, started
    isolation = busy.app.processes.describe()[0]["isolation"]
    assert isolation["task_cap"].endswith(": 12 tasks"), isolation
    assert busy.get("/busy/pid").status_code == 200  # it serves on under its cap


def test_a_zygote_that_dies_is_replaced_in_process(busy):
    first = int(busy.get("/busy/pid").text)
    zygote = busy.app._zygote_handle.pid
    os.kill(zygote, signal.SIGKILL)
    wait_until(lambda: _gone(first))
    r = busy.get("/busy/pid")
    assert r.status_code == 200, r.text
    assert int(r.text) != first and busy.app._zygote_handle.pid != zygote


def test_concurrent_first_requests_start_one_zygote_between_them(busy):
    # Each first request found no zygote and started one; the second start
    # stopped the first zygote, and the child the first request waited on.
    firsts = [gevent.spawn(busy.get, "/busy/slowpid") for _ in range(3)]
    gevent.joinall(firsts, raise_error=True)
    assert [g.value.status_code for g in firsts] == [200] * 3, [g.value.text for g in firsts]
    zygote = busy.app._zygote_handle.pid
    assert {p.ppid() for p in map(psutil.Process, {int(g.value.text) for g in firsts})} == {zygote}


def test_a_request_skips_every_process_that_died_since_its_last_answer(busy):
    # Two warm processes, killed together (as a zygote's death kills all its
    # children); the next request reaches the server before either reader
    # has seen its socket close. It is written to neither, so it is neither's:
    # a third process answers it.
    both = [gevent.spawn(busy.get, "/busy/slowpid") for _ in range(2)]
    gevent.joinall(both, raise_error=True)
    pids = {int(g.value.text) for g in both}
    assert len(pids) == 2, pids
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while not all(_gone(pid) for pid in pids):  # no yield: the readers must not run
        assert time.monotonic() < deadline
    r = Client(busy.app).get("/busy/pid")
    assert r.status_code == 200, r.text
    assert int(r.text) not in pids


@pytest.mark.parametrize("code", [99, 199, 1000])
def test_a_status_the_sandbox_refuses_is_a_500_naming_it(busy, code):
    r = busy.get(f"/busy/status/{code}")
    assert r.status_code == 500 and "BadReturnValue" in r.text, (r.status_code, r.text)
    assert any(f"the app answered {code}" in line["line"]
               for line in busy.app.logs.tail("busy")), busy.app.logs.tail("busy")
    assert busy.get("/busy/status/201").status_code == 201
    assert busy.get("/busy/status/666").status_code == 666  # werkzeug takes any 3 digits


def test_log_lines_carry_the_request_id_the_server_issued(busy):
    r = busy.get("/busy/say")
    assert r.text == "ok"
    [line] = [entry for entry in busy.app.logs.tail("busy") if entry["line"] == "said"]
    assert line["request_id"] == r.headers["X-Request-Id"]


# -- the real command ---------------------------------------------------------------


def _command_server(tmp_path, command=None):
    tenants = tmp_path / "tenants"
    write_tenant(tenants, "busy", BUSY)
    config = tmp_path / "mux.toml"
    config.write_text('process_tenants = ["busy"]\n')
    return Subprocess(["--tenants-dir", str(tenants), "--config", str(config), "--no-watch",
                       "--workers", "1", "--data-dir", str(tmp_path / "data"),
                       "--cache-dir", str(tmp_path / "cache"),
                       "--server-dir", str(tmp_path / "server")],
                      command=command, log_dir=tmp_path).wait_ready(timeout=240)


def _zygotes(proc) -> list[int]:
    """The supervisor's zygotes (its children; their own children, the
    tenants' processes, are forks with the same command line)."""
    supervisor = psutil.Process(proc.proc.pid)  # `sh -c ... exec` is the same process
    return [p.pid for p in supervisor.children()
            if any("proctier.zygote" in part for part in p.cmdline())]


@pytest.mark.live
def test_the_supervisor_replaces_a_zygote_that_died(tmp_path):
    proc = _command_server(tmp_path)
    try:
        r = requests.get(proc.url + "/busy/pid", timeout=60)
        assert r.status_code == 200, r.text + proc.output()[-3000:]
        [zygote] = _zygotes(proc)
        os.kill(zygote, signal.SIGKILL)
        proc.wait_for_log("starting another")
        wait_until(lambda: requests.get(proc.url + "/busy/pid", timeout=60).status_code == 200,
                   timeout=60)
        assert _zygotes(proc) and _zygotes(proc) != [zygote]
        r = requests.get(proc.url + "/busy/pid", timeout=60)
        assert r.status_code == 200 and int(r.text) != 0
    finally:
        proc.stop()


@pytest.mark.live
def test_a_fork_that_fails_is_503_naming_the_cause_and_the_zygote_serves_on(tmp_path,
                                                                           task_budget):  # noqa: F811
    import sys

    procs = os.path.join(task_budget, "cgroup.procs")
    command = ["sh", "-c", f'echo $$ > {procs} && exec "$0" -m muxserver "$@"', sys.executable]
    proc = _command_server(tmp_path, command)
    try:
        zygotes = _zygotes(proc)
        with open(os.path.join(task_budget, "pids.current")) as f:
            running = int(f.read())
        with open(os.path.join(task_budget, "pids.max"), "w") as f:
            f.write(str(running))  # not one task to spare: the fork fails
        r = requests.get(proc.url + "/busy/pid", timeout=60)
        assert r.status_code == 503, r.text + proc.output()[-3000:]
        assert "fork() failed" in r.text and r.headers["Retry-After"] == "1", r.text
        with open(os.path.join(task_budget, "pids.max"), "w") as f:
            f.write("max")
        r = requests.get(proc.url + "/busy/pid", timeout=60)
        assert r.status_code == 200, r.text + proc.output()[-3000:]
        assert _zygotes(proc) == zygotes  # the same zygote served on
    finally:
        proc.stop()

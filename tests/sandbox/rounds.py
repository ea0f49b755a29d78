"""What the later attack rounds share (test_attacks_round4.py and on): one
tenant per case under the limits the attackers had, run once in-process
(:class:`~tests.sandbox.inprocess.SandboxHost`), and the two outcomes a
stopped attack may have."""

import gc
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from sandbox import LibSource
from sandbox import TenantRuntime
from sandbox import compile_tenant
from sandbox.facades.files import TenantFiles

from tests.conftest import Subprocess
from tests.conftest import write_tenant
from tests.sandbox.inprocess import HELD_BOUND_S
from tests.sandbox.inprocess import Outcome
from tests.sandbox.inprocess import PEAK_SLACK
from tests.sandbox.inprocess import SandboxHost
from tests.sandbox.inprocess import make_secrets

#: The repository, where a fresh interpreter imports ``tests`` from.
REPO = Path(__file__).resolve().parents[2]
MEMORY_MB = 32
LIMITS = (f"[limits]\ncpu_ms = 300\nwall_s = 3\nmemory_mb = {MEMORY_MB}\n"
          "[env]\nGREETING = 'hi'\n")


def attack_host(tmp_path_factory, label: str, secret: str):
    """A host whose secrets (files, and the environment) hold ``secret``:
    a module fixture's body (``yield from``)."""
    root = tmp_path_factory.mktemp(label)
    make_secrets(root, secret)
    from muxserver.fairshare import fair_share

    host = SandboxHost(root, offload=fair_share.offload)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MUX_TEST_SECRET", secret)
        yield host


def serve(host: SandboxHost, name: str, source: str):
    """Deploy ``source`` as tenant ``name``, request it once, close it."""
    host.write(name, {"index.py": source}, LIMITS)
    outcome = host.request(name)
    host.close(name)
    return outcome


def assert_no_finalizer_ran(host: SandboxHost, name: str, source: str) -> None:
    """Serve ``source`` once, evict it and collect: either the module was
    refused (not a 200) or none of its objects ran tenant code at collection
    (a smuggled ``__del__`` logs ``at collection``)."""
    outcome = serve(host, name, source)
    gc.collect()
    logs = host.logs[name]
    assert outcome.status != 200 or not any("at collection" in line for line in logs), logs


#: The fork server's loop: imports what the cases need once, then forks a
#: child per case (its line on stdin: a script and its arguments) that runs
#: the script as ``python -c`` would, its stdout and stderr in files of the
#: case's folder; answers one line per case: its exit code, stdout, stderr.
_FORK_SERVER = r"""
import json, os, sys, traceback
from tests.sandbox.inprocess import SandboxHost
from tests.sandbox.rounds import serve
from muxserver.fairshare import fair_share

for number, line in enumerate(sys.stdin):
    case = json.loads(line)
    out, err = (os.path.join(case["folder"], f"fresh-{os.getpid()}-{number}.{suffix}")
                for suffix in ("stdout", "stderr"))
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            import ctypes, signal
            ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: ends with the server
            for fd, path in ((1, out), (2, err)):
                os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), fd)
            os.environ.clear()
            os.environ.update(case["env"])
            sys.argv = ["-c", *case["args"]]
            exec(compile(case["script"], "<string>", "exec"), {"__name__": "__main__"})
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    texts = []
    for path in (out, err):
        with open(path, errors="replace") as f:
            texts.append(f.read())
        os.remove(path)
    print(json.dumps({"returncode": os.waitstatus_to_exitcode(status), "stdout": texts[0],
                      "stderr": texts[1]}), flush=True)
"""
_fork_server = None


def _fork_server_process() -> subprocess.Popen:
    """The fork server of this test process, started at its first case."""
    global _fork_server
    if _fork_server is None or _fork_server.poll() is not None:
        import atexit

        from tests.conftest import _die_with_parent

        _fork_server = subprocess.Popen(
            [sys.executable, "-c", _FORK_SERVER], cwd=REPO, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            preexec_fn=_die_with_parent)
        atexit.register(_fork_server.kill)
    return _fork_server


def run_in_fresh_process(folder, script: str, *args: str,
                         timeout: float = 120) -> subprocess.CompletedProcess:
    """``python -c script *args`` from the repository, with this process's
    environment, in a fresh process: a child forked from a process that has
    imported what the sandbox cases need and run nothing (a fork server,
    one per test process) — the heap and the process-wide tables of a fresh
    interpreter, without its second of imports per case. Its output passes
    through files in ``folder``. On a timeout the server and the case end."""
    import gevent

    server = _fork_server_process()
    server.stdin.write(json.dumps({"folder": str(folder), "script": script, "args": list(args),
                                   "env": dict(os.environ)}) + "\n")
    server.stdin.flush()
    try:
        with gevent.Timeout(timeout):
            line = server.stdout.readline()
    except gevent.Timeout:
        server.kill()  # its child dies with it; the next case starts another server
        server.wait()
        raise subprocess.TimeoutExpired(["-c", script, *args], timeout) from None
    assert line, "the fork server of the fresh-process cases ended"
    done = json.loads(line)
    return subprocess.CompletedProcess(["-c", script, *args], done["returncode"],
                                       done["stdout"], done["stderr"])


_SERVE_CASE = """
import json, sys
from tests.sandbox.inprocess import SandboxHost
from tests.sandbox.rounds import serve
from muxserver.fairshare import fair_share
root, name, source = json.loads(sys.argv[1])
host = SandboxHost(root, offload=fair_share.offload)
print(json.dumps(serve(host, name, source)._asdict()))
"""


def serve_in_fresh_process(tmp_path, name: str, source: str) -> Outcome:
    """:func:`serve` in a fresh process (:func:`run_in_fresh_process`):
    after another case grew the heap, a case reuses that memory and its
    peak no longer shows."""
    done = run_in_fresh_process(tmp_path, _SERVE_CASE, json.dumps([str(tmp_path), name, source]))
    assert done.returncode == 0, done.stderr[-2000:]
    return Outcome(**json.loads(done.stdout.splitlines()[-1]))


def eavesdrop_in_process(tmp_path, prefix: str, eavesdropper: str, victim: str):
    """:func:`eavesdrop_over_http` in this process (``SandboxHost``, the
    attackers' limits): ``(the eavesdropper's first outcome, the victim's
    body, the eavesdropper's second body)``."""
    host = SandboxHost(tmp_path)
    host.write(f"{prefix}-evil", {"index.py": eavesdropper}, LIMITS)
    host.write(f"{prefix}-victim", {"index.py": victim}, LIMITS)
    planted = host.request(f"{prefix}-evil")
    answer = host.request(f"{prefix}-victim", headers={"Authorization": "Bearer victim-token"})
    return planted, answer.body, host.request(f"{prefix}-evil").body


def eavesdrop_over_http(tmp_path, eavesdropper: str, victim: str) -> tuple[str, str]:
    """The real ``muxserver`` command (default isolation, one serving
    process) with two tenants: the eavesdropper's first request (which
    plants), the victim's answer to a request carrying
    ``Authorization: Bearer victim-token``, and the eavesdropper's second
    answer (which reports what it saw): ``(victim's text, report)``."""
    tenants = tmp_path / "tenants"
    write_tenant(tenants, "eavesdropper", {"index.py": eavesdropper})
    write_tenant(tenants, "victim", {"index.py": victim})
    proc = Subprocess(["--tenants-dir", str(tenants), "--cache-dir", str(tmp_path / "cache"),
                       "--data-dir", str(tmp_path / "data"), "--no-watch", "--workers", "1"],
                      log_dir=tmp_path).wait_ready()
    try:
        requests.get(proc.url + "/eavesdropper/", timeout=30)
        answer = requests.get(proc.url + "/victim/", timeout=30,
                              headers={"Authorization": "Bearer victim-token"})
        report = requests.get(proc.url + "/eavesdropper/", timeout=30).text
    finally:
        proc.stop()
    return answer.text, report


def assert_bounded(outcome) -> None:
    """A one-call allocation far past the budget is stopped before it is made."""
    assert outcome.status in (500, 503), (outcome.status, outcome.body[:200])
    assert outcome.peak_bytes < MEMORY_MB * 2**20 + PEAK_SLACK, \
        f"the peak RSS rose by {outcome.peak_bytes // 2**20} MB"


def assert_not_held(outcome) -> None:
    """A long call is stopped by its budget, not run to its end on the hub."""
    assert outcome.status in (500, 503), (outcome.status, outcome.body[:200])
    assert outcome.held_s < HELD_BOUND_S, f"held the process for {outcome.held_s:.2f} s"


def assert_contained(outcome) -> None:
    """Stopped by the budget, neither holding the process nor allocating
    far past the budget in one call."""
    assert_not_held(outcome)
    assert_bounded(outcome)


def template_source(template: str) -> str:
    """Tenant source whose ``get()`` renders ``template`` as a string."""
    return ("from flask import render_template_string\n"
            "def get():\n"
            f"    return render_template_string({template!r})\n")


def tenant_runtime(root, name, modules, data=True):
    """A runtime for tenant ``name`` (its lib ``modules``: name -> source)
    and its log; its /data folder is not made (first use makes it)."""
    app = root / name / "app"
    app.mkdir(parents=True)
    (app / "note.txt").write_text(f"app file of {name}")
    lines = []

    def load_lib(module):
        if module not in modules:
            return None
        result = compile_tenant(modules[module], f"{name}/{module}.py")
        assert result.ok, result.errors
        return LibSource(result.code, f"{module}.py", False)

    files = TenantFiles(app, root / name / "data" if data else None)
    runtime = TenantRuntime(name, load_lib=load_lib, files=files,
                            log=lambda line, level="info": lines.append(line))
    return runtime, lines

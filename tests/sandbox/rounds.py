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


#: The fork server's loop: imports what a case needs once, then forks a
#: child per case (its line on stdin), and answers one line per case: the
#: child's exit status, its outcome (as JSON) and the end of its stderr.
_FORK_SERVER = r"""
import json, os, sys, traceback
from tests.sandbox.inprocess import SandboxHost
from tests.sandbox.rounds import serve
from muxserver.fairshare import fair_share

for line in sys.stdin:
    case = json.loads(line)
    result, stderr_path = (os.path.join(case["root"], f"fresh-{case['name']}.{suffix}")
                           for suffix in ("json", "stderr"))
    for stale in (result, stderr_path):
        if os.path.exists(stale):
            os.remove(stale)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            import ctypes, signal
            ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: ends with the server
            os.dup2(os.open(stderr_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), 2)
            os.environ.clear()
            os.environ.update(case["env"])
            host = SandboxHost(case["root"], offload=fair_share.offload)
            outcome = serve(host, case["name"], case["source"])
            with open(result, "w") as f:
                json.dump(outcome._asdict(), f)
            code = 0
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stderr.flush()
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    outcome = None
    if os.path.exists(result):
        with open(result) as f:
            outcome = json.load(f)
    stderr = ""
    if os.path.exists(stderr_path):
        with open(stderr_path, errors="replace") as f:
            stderr = f.read()[-2000:]
    print(json.dumps({"status": status, "outcome": outcome, "stderr": stderr}), flush=True)
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


def serve_in_fresh_process(tmp_path, name: str, source: str) -> Outcome:
    """:func:`serve` in a fresh process: after another case grew the heap,
    a case reuses that memory and its peak no longer shows. A child forked
    from a process that has imported what a case needs and run nothing (a
    fork server, one per test process): the heap of a fresh interpreter,
    without its second of imports per case."""
    import gevent

    server = _fork_server_process()
    server.stdin.write(json.dumps({"root": str(tmp_path), "name": name, "source": source,
                                   "env": dict(os.environ)}) + "\n")
    server.stdin.flush()
    try:
        with gevent.Timeout(120):
            line = server.stdout.readline()
    except gevent.Timeout:
        server.kill()  # its child dies with it
        raise AssertionError(f"case {name} did not end in 120 s") from None
    assert line, "the fork server of the fresh-process cases ended"
    done = json.loads(line)
    assert done["status"] == 0 and done["outcome"] is not None, done["stderr"]
    return Outcome(**done["outcome"])


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

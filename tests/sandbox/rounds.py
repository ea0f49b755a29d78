"""What the later attack rounds share (test_attacks_round4.py and on): one
tenant per case under the limits the attackers had, run once in-process
(:class:`~tests.sandbox.inprocess.SandboxHost`), and the two outcomes a
stopped attack may have."""

import gc
import json
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


def serve_in_fresh_process(tmp_path, name: str, source: str) -> Outcome:
    """:func:`serve` in a fresh interpreter: after another case grew the
    heap, a case reuses that memory and its peak no longer shows."""
    script = (
        "import json\n"
        "from tests.sandbox.inprocess import SandboxHost\n"
        "from tests.sandbox.rounds import serve\n"
        "from muxserver.fairshare import fair_share\n"
        f"host = SandboxHost({str(tmp_path)!r}, offload=fair_share.offload)\n"
        f"outcome = serve(host, {name!r}, {source!r})\n"
        "print(json.dumps(outcome._asdict()))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
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

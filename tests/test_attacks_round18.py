"""Attack round 18: the supervisor's reading of a breached serving process.

Like ``tests/test_attacks_round16b.py``: an operator module
(``tests/operator_modules/breach_round18.py``, allowed with ``extra_modules``)
runs full Python inside a locked-down serving process, as tenant code that
broke the language layer would, and talks to the supervisor over the
process's channel. Through the real ``muxserver`` command, two serving
processes, ``--isolation require``. The targets are the newest parts of
that boundary: the channel's read loop, the status and log pages
(:mod:`muxserver.supervisor.paging`), what ``/_mux/status`` sums.
"""

import json
import re
import os
import time
from pathlib import Path

import pytest
import requests

from muxserver.isolation import missing_parts
from tests.conftest import OPERATOR_MODULES
from tests.conftest import Subprocess
from tests.conftest import wait_until
from tests.conftest import write_tenant

pytestmark = [pytest.mark.live, pytest.mark.skipif(
    bool(missing_parts()), reason=f"this machine lacks part of the process layer: {missing_parts()}")]

EVIL = {"index.py": "import breach_round18\ndef get(request):\n    return breach_round18.attempt("
                    "request.args['what'], request.args.get('arg', ''))\n"}
CALM = {"index.py": "import mux\ndef get():\n    print('calm served', mux.request.args.get('n'))\n"
                    "    return 'calm'\n"}


class Target:
    """A locked-down server of two serving processes, with a tenant whose
    code runs :mod:`breach_round18`."""

    def __init__(self, root: Path):
        tenants = root / "tenants"
        write_tenant(tenants, "evil", EVIL)
        write_tenant(tenants, "calm", CALM)
        config = root / "mux.toml"
        data = (root / "data").resolve()
        config.write_text(f'extra_modules = ["breach_round18"]\n'
                          f'module_path = ["{OPERATOR_MODULES}"]\n'
                          f'cache_dir = "{root / "cache"}"\ndata_dir = "{data}"\n'
                          f'server_dir = "{root / "server"}"\n')
        self.server = Subprocess(
            ["--tenants-dir", str(tenants), "--config", str(config), "--workers", "2",
             "--isolation", "require", "--no-watch"], log_dir=root).wait_ready()

    def attempt(self, what, arg=""):
        r = requests.get(self.server.url + "/evil/", params={"what": what, "arg": arg}, timeout=60)
        assert r.status_code == 200 and r.text.startswith("OK"), r.text
        return r.text

    def admin(self, path, **params):
        r = requests.get(self.server.admin_url + "/_mux/" + path, params=params, timeout=30)
        assert r.status_code == 200, r.text
        return r

    def status(self) -> dict:
        return self.admin("status").json()

    def serving_pids(self) -> list[int]:
        """The serving processes' pids, as the kernel knows them."""
        pids = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
                stat = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if b"muxserver.worker" in cmdline and int(stat[1]) == self.server.proc.pid:
                pids.append(int(entry))
        return sorted(pids)


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    t = Target(tmp_path_factory.mktemp("round18"))
    yield t
    t.server.stop()


def test_a_status_page_is_believed_once_per_entry(target):
    """Hole 1: a status page believed each copy of an entry it repeated
    (:class:`~muxserver.supervisor.paging.StatusReader` refused keys of
    earlier pages, not repeats within one page). One page with its warm
    module ``evil/index`` 5,000 times: ``/_mux/status`` listed 5,000 warm
    modules for that process (a page of 1 MiB holds ~5,000 per tenant
    endpoint, each kept by the supervisor until the answer is sent)."""
    answer = target.attempt("status_once", json.dumps({"dup_warm": 5000}))
    pid = int(answer.split()[2].rstrip(":"))
    status = target.status()
    mine = [m for m in status["warm_modules"] if m.get("pid") == pid]
    assert len(mine) == 1, f"{len(mine)} warm modules for process {pid}"
    assert [p["warm_modules"] for p in status["processes"] if p["pid"] == pid] == [1]
    # Its status is read as before once the page is honest.
    later = [m for m in target.status()["warm_modules"] if m.get("pid") == pid]
    assert [(m["tenant"], m["endpoint"]) for m in later] == [("evil", "index")]


NEGATIVE = {"rss_bytes": -10**15, "cold_starts": -10**6, "evictions": -10**6,
            "tenants": {"calm": {"warm_modules": -50, "inflight": -50}},
            "limit_kills": [{"tenant": "calm", "kind": "cpu", "count": -7}]}


def test_a_status_with_negative_counts_is_not_believed(target):
    """Hole 2: ``/_mux/status`` sums every process's counts, and a status
    page's counts were believed negative: one process's ``rss_bytes`` of
    -10^15 made the server's total negative, its ``inflight`` of -50 for
    calm cancelled the other process's requests in flight, its limit kills of
    -7 hid the other's (the sums a tenant's numbers are read from)."""
    target.attempt("status_once", json.dumps(NEGATIVE))
    status = target.status()
    calm = status["tenants"]["calm"]
    assert status["rss_bytes"] > 0, status["rss_bytes"]
    assert calm["warm_modules"] >= 0 and calm["inflight"] >= 0, calm
    assert status["cold_starts"] >= 0 and status["evictions"] >= 0
    assert all(k["count"] >= 0 for k in status["limit_kills"]), status["limit_kills"]
    # The other process still answers (a forged page leaves out its own process only).
    assert len(status["processes"]) >= 1


def test_a_process_cannot_show_itself_under_another_pid(target):
    """Hole 3: a process's pid in ``/_mux/status`` (and its warm modules')
    was its own word. One claimed the other's pid: the operator saw two
    processes of one pid, the attacker's memory under the other's name
    (what an operator would kill by). The supervisor knows each pid."""
    pids = target.serving_pids()
    assert len(pids) == 2, pids
    answer = target.attempt("status_once", json.dumps({"pid": pids}))
    attacker = int(answer.split()[2].rstrip(":"))
    status = target.status()
    shown = sorted(p["pid"] for p in status["processes"])
    assert shown == pids, f"processes shown as {shown}; really {pids} (attacker {attacker})"
    assert {m["pid"] for m in status["warm_modules"]} <= set(pids)
    assert any(m["pid"] == attacker and m["tenant"] == "evil" for m in status["warm_modules"])


def _tail(target, tenant, limit):
    return target.admin(f"tenants/{tenant}/logs", limit=str(limit), json="1").json()["lines"]


def test_a_log_line_from_the_future_is_not_believed(target):
    """Hole 4: a log page's lines were believed with any time up to the
    year 5138, and a tenant's tail is every process's lines sorted by time:
    100 lines dated 2100 from one process stood above every line the
    other processes (and the supervisor) wrote for that tenant, for as long
    as it answered so — ``?limit=100`` showed none of calm's real lines.
    A serving process's clock is the supervisor's (one machine)."""
    requests.get(target.server.url + "/calm/", params={"n": "before"}, timeout=10)
    target.attempt("logs_once", f"100|{4102444800.0}")  # 2100-01-01
    lines = _tail(target, "calm", 100)
    assert not [line for line in lines if line["line"].startswith("forged")]
    assert any(line["line"] == "calm served before" for line in lines), lines[-3:]
    # Control: lines of a plausible time are the process's word, and shown.
    target.attempt("logs_once", f"3|{time.time() - 1}")
    assert len([line for line in _tail(target, "calm", 100)
                if line["line"].startswith("forged")]) == 3


def _gauge(target, name) -> float:
    found = re.search(rf"^{name} (\S+)$", target.admin("metrics").text, re.M)
    return float(found.group(1))


def test_a_process_cannot_say_how_many_tenants_the_server_has(target):
    """Hole 5: ``mux_tenants`` (tenants registered) was the largest figure
    any serving process's snapshot claimed: one process's 10^15 stood for
    the server's, hiding the other's true 2. The supervisor registers them."""
    assert _gauge(target, "mux_tenants") == 2.0
    target.attempt("gauges", json.dumps({"tenants": 10**15}))
    scrapes = [_gauge(target, "mux_tenants") for _ in range(20)]
    assert scrapes == [2.0] * 20, scrapes


def test_a_flood_of_small_messages_cannot_hold_the_supervisor(target):
    """Hole 6: a gevent socket's ``recv`` returns without yielding while
    data waits, and the supervisor's read loop for a serving process read
    message after message: a process that kept one waiting (small messages,
    4,096 to a ``sendall``) held the supervisor's hub for as long as it sent
    — 15 s of flood, a 15.1 s wait for ``/_mux/healthz``; no admin request,
    heartbeat watch, other process or SIGTERM was handled meanwhile."""
    target.attempt("flood", "8")
    started = time.monotonic()
    while time.monotonic() - started < 4:
        # Each answered within a bound far above its usual milliseconds.
        requests.get(target.server.admin_url + "/_mux/healthz", timeout=3).raise_for_status()
    # The flood's messages are read and dropped; the processes serve on.
    assert requests.get(target.server.url + "/calm/", timeout=10).text == "calm"
    wait_until(lambda: len(target.status()["processes"]) == 2, timeout=30)


def _calm_200(target) -> float:
    text = target.admin("metrics").text
    found = re.search(r'^mux_requests_total\{status="200",tenant="calm"\} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


def test_an_ended_process_cannot_crowd_out_anothers_counts(target):
    """Hole 7: what the supervisor keeps of ended processes held 64
    label values per tenant and counter, first come. A breached process sent
    a last snapshot of 64 statuses calm never answered, and ended; when the
    other process ended (killed by the kernel, say) its 10 answers of 200
    for calm were dropped from the sum: ``mux_requests_total`` of calm's 200
    fell from 10 to 0, for good. A count's label is now decided by its
    value alone (:func:`muxserver.ops.metrics.label_value`)."""
    import signal

    first = set(target.serving_pids())
    with pytest.raises(requests.ConnectionError):
        requests.get(target.server.url + "/evil/", params={"what": "fill_statuses_and_exit",
                                                           "arg": "calm"}, timeout=30)
    before = _calm_200(target)
    wait_until(lambda: len(first & set(target.serving_pids())) == 1, timeout=10)
    (other,) = first & set(target.serving_pids())
    for i in range(10):  # the attacker's process is gone: the other answers
        assert requests.get(target.server.url + "/calm/", timeout=10).text == "calm"
    wait_until(lambda: _calm_200(target) >= before + 10, timeout=10)
    os.kill(other, signal.SIGKILL)
    wait_until(lambda: other not in target.serving_pids(), timeout=10)
    wait_until(lambda: len(target.serving_pids()) == 2, timeout=30)
    assert _calm_200(target) >= before + 10

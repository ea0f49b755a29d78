"""No tenant can stall or starve the others: CPU is shared by slices, and
tenant code that runs outside any request is bounded too (real processes)."""

import time

import gevent
import pytest
import requests


SPIN = "def get():\n    print('spinning')\n    while True:\n        pass\n"


@pytest.mark.live
def test_calm_request_is_answered_while_five_endless_loops_run(muxserver_process, tenants,
                                                                tmp_path):
    """Before: 5 concurrent endless loops (cpu_ms = 1000) held a one-line
    request for 4.6 s. Now it is answered while they still run, and they are
    still stopped at their cpu_ms (503, not the wall limit)."""
    tenants.add("hog", {"index.py": SPIN})
    tenants.add("calm", {"index.py": "def get():\n    return 'calm'\n"})
    proc = muxserver_process("--tenants-dir", str(tenants.root), "--cache-dir",
                             str(tmp_path / "c")).wait_ready()
    requests.get(proc.url + "/calm/", timeout=10)
    finished = []

    def hog():
        status = requests.get(proc.url + "/hog/", timeout=60).status_code
        finished.append((time.monotonic(), status))

    jobs = [gevent.spawn(hog) for _ in range(5)]
    proc.wait_for_log("spinning", count=5)
    answered = []
    for _ in range(5):
        r = requests.get(proc.url + "/calm/", timeout=60)
        answered.append((time.monotonic(), r.text))
    gevent.joinall(jobs, timeout=60)
    assert [text for _, text in answered] == ["calm"] * 5
    assert answered[-1][0] < min(at for at, _ in finished), "calm waited for the hogs"
    assert sorted(status for _, status in finished) == [503] * 5


@pytest.mark.live
def test_tenant_finalizer_that_never_ends_cannot_hold_the_server(muxserver_process, tenants,
                                                                  tmp_path):
    """A generator parked in a module global with an endless ``finally`` runs
    when the module is evicted (outside any request): it is stopped, and the
    server keeps serving."""
    tenants.add("trap", {"index.py": (
        "def forever():\n    try:\n        yield 1\n    finally:\n        while True:\n"
        "            pass\n"
        "G = forever()\nnext(G)\n"
        "def get():\n    return 'armed'\n")})
    tenants.add("calm", {"index.py": "def get():\n    return 'calm'\n"})
    proc = muxserver_process("--tenants-dir", str(tenants.root), "--cache-dir",
                             str(tmp_path / "c")).wait_ready()
    assert requests.get(proc.url + "/trap/", timeout=10).text == "armed"
    started = time.monotonic()
    evicted = requests.post(proc.admin_url + "/_mux/evict", json={"tenant": "trap"}, timeout=10)
    assert evicted.json()["evicted"] == 1
    assert requests.get(proc.url + "/calm/", timeout=10).text == "calm"
    assert time.monotonic() - started < 5
    proc.wait_for_log("tenant code outside a request was stopped")
    assert requests.get(proc.url + "/trap/", timeout=10).text == "armed"  # loads again

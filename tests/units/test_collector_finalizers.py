"""Attack on the collector's freeze (muxserver.ops.collector): a thaw runs
every tenant's finalizers deferred since the first freeze in one collection,
on one orphan budget (sandbox.limits.orphan: 50 ms per greenlet turn). One
tenant's finalizer that burns that budget kills every other tenant's
generator ``finally`` at its first tick.

Before the freeze, each young collection (every 50 ms, a greenlet turn of
its own) ran the finalizers of its own 50 ms of garbage: the victim's
cleanup ran whenever the attacker's burner was not in the same window."""

from __future__ import annotations

import gc
import time

import gevent
import pytest

from muxserver.ops.collector import THAW_EVERY_S
from muxserver.ops.collector import WAIT_FOR_BIG_S
from muxserver.ops.collector import Collector
from sandbox import Budget
from sandbox import charged
from sandbox import guards
from tests.sandbox.inprocess import SandboxHost

LIMITS = "[limits]\nmemory_mb = 256\ncpu_ms = 5000\n"

ATTACKER = '''
def burn():
    try:
        yield 1
    finally:
        while True:
            pass

def get():
    g = burn()
    next(g)
    cycle = [g]
    cycle.append(cycle)
    big = "x" * 2000000  # a big value: the next collector step freezes
    return "ok"
'''

VICTIM = '''
CLOSED = []

def stream():
    try:
        yield 1
    finally:
        for i in range(3):
            CLOSED.append(i)

def get():
    g = stream()
    next(g)
    cycle = [g]
    cycle.append(cycle)
    return str(len(CLOSED) // 3)
'''

ROUNDS = 10


@pytest.fixture
def host(tmp_path):
    host = SandboxHost(tmp_path)
    host.write("attacker", {"index.py": ATTACKER}, LIMITS)
    host.write("victim", {"index.py": VICTIM}, LIMITS)
    yield host
    gc.unfreeze()
    gc.collect()
    host.close("attacker")
    host.close("victim")


# The killed finalizers are reported as unraisable (the serving process logs them).
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_one_tenants_finalizer_does_not_kill_anothers_at_a_thaw(host):
    collector = Collector(rss=lambda: 100 * 2**20)
    gc.collect()

    def step(idle, now=None):
        # The serving process's collector greenlet: a fresh turn per step.
        return gevent.spawn(collector.step, idle, now).get()

    in_flight = charged(Budget(memory_bytes=512 * 2**20))
    for _ in range(ROUNDS):  # a busy process: never idle, big values in flight keep it freezing
        assert host.request("attacker").status == 200
        step(idle=False)
        assert host.request("victim").status == 200
        assert host.request("attacker").status == 200
        with in_flight:  # another request, switched out while it holds a big value
            guards.check_allocation(2**21, "a big value")
            start = time.monotonic()
            assert step(idle=False, now=start) is None  # waits for a moment without it
            assert step(idle=False, now=start + WAIT_FOR_BIG_S) == "freeze"
    assert step(idle=True, now=collector.last_full + THAW_EVERY_S) == "thaw"
    gevent.sleep(0)
    closed = int(host.request("victim").body)
    # ROUNDS victim generators became garbage; every finally should have run.
    assert closed == ROUNDS, f"only {closed} of {ROUNDS} of the victim's finally blocks ran"

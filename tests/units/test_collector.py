"""The serving process's collector keeps tenants' big values out of young
collections, and still collects every cycle (muxserver.ops.collector).

These tests run the real ``gc`` of this process: each test ends with the
collector's objects unfrozen."""

from __future__ import annotations

import gc
import time
import weakref

import pytest

from muxserver.ops import collector as collector_module
from muxserver.ops.collector import Collector
from sandbox import Budget
from sandbox import charged
from sandbox import guards
from tests.sandbox.inprocess import SandboxHost

BIG_ITEMS = 2_000_000


class Node:
    """A weakly referable object to make a garbage cycle of."""


def cycle() -> weakref.ref:
    """Garbage only a collection frees: a weak reference to one of it."""
    node = Node()
    node.self = node
    return weakref.ref(node)


def walked_big_lists() -> int:
    """Lists of BIG_ITEMS items in a generation a collection walks."""
    return sum(1 for obj in gc.get_objects() if type(obj) is list and len(obj) == BIG_ITEMS)


@pytest.fixture
def collector():
    made = Collector(rss=lambda: 100 * 2**20)
    yield made
    gc.unfreeze()


def step_in_flight(collector, now: float | None = None) -> str | None:
    """Steps while a request holding a big value stays in flight: the
    collector waits WAIT_FOR_BIG_S for a moment without one, then freezes."""
    now = time.monotonic() - collector_module.WAIT_FOR_BIG_S if now is None else now
    assert collector.step(idle=False, now=now) is None
    return collector.step(idle=False, now=now + collector_module.WAIT_FOR_BIG_S)


class InFlight:
    """A request in flight (switched out mid-call, as the collector's
    greenlet sees it) that built a big list through a guard."""

    def __enter__(self):
        self.charge = charged(Budget(memory_bytes=512 * 2**20))
        self.charge.__enter__()
        self.value = guards.guarded_mul([0, 1], BIG_ITEMS // 2)
        return self

    def __exit__(self, *exc):
        self.charge.__exit__(*exc)


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    host = SandboxHost(tmp_path_factory.mktemp("collector"))
    host.write("big", {"index.py": "KEPT = []\ndef get():\n    KEPT.append([0, 1] * 1000000)\n"
                                   "    return str(len(KEPT))\n"},
               "[limits]\nmemory_mb = 256\ncpu_ms = 5000\n")
    yield host
    host.close("big")


def test_a_big_list_of_a_request_in_flight_is_frozen_out_of_every_collection(collector):
    with InFlight():
        kept = walked_big_lists()
        assert kept >= 1
        assert step_in_flight(collector) == "freeze"
        assert walked_big_lists() == 0
        assert collector.step(idle=False) != "freeze"  # nothing new: collecting goes on
        collector.collect_all()
        assert walked_big_lists() == kept, "a collection of everything sees them again"


def test_a_finished_requests_big_value_does_not_freeze(collector):
    """A finished request's big value is garbage (often in a cycle with its
    traceback) that the next collection frees: no waiting, no freeze."""
    with InFlight():
        pass
    now = time.monotonic()
    assert collector.step(idle=False, now=now) != "freeze"
    assert collector.step(idle=False, now=now + collector_module.WAIT_FOR_BIG_S) != "freeze"
    assert collector.makers == [] and collector.frozen_at is None


def test_frozen_garbage_is_collected_at_the_first_idle_step(host, collector):
    garbage = cycle()
    with InFlight():
        assert step_in_flight(collector) == "freeze"
    for _ in range(3):
        collector.step(idle=False)
    assert garbage() is not None, "frozen, not collected yet"
    later = collector.last_full + collector_module.THAW_EVERY_S
    assert collector.step(idle=True, now=later) == "thaw"
    assert garbage() is None
    assert gc.get_freeze_count() == 0


def test_frozen_garbage_is_collected_when_the_process_never_idles(host, collector):
    garbage = cycle()
    with InFlight():
        assert step_in_flight(collector, now=1000.0 - collector_module.WAIT_FOR_BIG_S) == "freeze"
    assert collector.step(idle=False, now=1000.0 + collector_module.FROZEN_MAX_S - 1) != "thaw"
    assert garbage() is not None
    assert collector.step(idle=False, now=1000.0 + collector_module.FROZEN_MAX_S) == "thaw"
    assert garbage() is None


def test_frozen_garbage_is_collected_when_memory_reaches_the_limit(host):
    rss = [100 * 2**20]
    collector = Collector(rss=lambda: rss[0])
    collector.memory_limit = 500 * 2**20
    collector.last_full = -10.0
    try:
        garbage = cycle()
        with InFlight():
            assert step_in_flight(collector, now=-collector_module.WAIT_FOR_BIG_S) == "freeze"
        rss[0] = 499 * 2**20
        assert collector.step(idle=False, now=0.0) != "thaw"
        rss[0] = 500 * 2**20
        assert collector.step(idle=False, now=0.0) == "thaw"
        assert garbage() is None
        # Still over the limit: the next thaw under pressure waits its turn.
        with InFlight():
            assert step_in_flight(collector, now=0.5 - collector_module.WAIT_FOR_BIG_S) == "freeze"
        assert collector.step(idle=False, now=0.5) != "thaw"
        assert collector.step(idle=False, now=collector_module.THAW_EVERY_S) == "thaw"
    finally:
        gc.unfreeze()


def test_without_a_limit_frozen_garbage_is_collected_after_growing_a_gigabyte(host, collector):
    rss = [100 * 2**20]
    collector.rss = lambda: rss[0]
    collector.last_full = -10.0
    with InFlight():
        assert step_in_flight(collector, now=-collector_module.WAIT_FOR_BIG_S) == "freeze"
    rss[0] += collector_module.FROZEN_GROWTH_BYTES - 1
    assert collector.step(idle=False, now=0.0) != "thaw"
    rss[0] += 1
    assert collector.step(idle=False, now=0.0) == "thaw"


def test_small_values_do_not_freeze(collector):
    garbage = cycle()
    [0] * 10  # not through a guard, and small anyway
    assert collector.step(idle=False, now=0.0) != "freeze"
    gc.collect()
    assert garbage() is None


def test_an_eviction_collects_frozen_modules(host, collector, monkeypatch):
    """release_memory(force=True) (an eviction) collects frozen objects too:
    an unloaded module may have been frozen with the rest."""
    from muxserver.ops import memory

    monkeypatch.setattr(collector_module, "collector", collector)
    monkeypatch.setattr(memory, "collector", collector)
    garbage = cycle()
    with InFlight():
        assert step_in_flight(collector) == "freeze"
    memory.release_memory(force=True)
    assert garbage() is None
    assert gc.get_freeze_count() == 0

"""The serving process's collector keeps tenants' big values out of young
collections, and still collects every cycle (muxserver.ops.collector).

These tests run the real ``gc`` of this process: each test ends with the
collector's objects unfrozen."""

from __future__ import annotations

import gc
import weakref

import pytest

from muxserver.ops import collector as collector_module
from muxserver.ops.collector import Collector
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


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    host = SandboxHost(tmp_path_factory.mktemp("collector"))
    host.write("big", {"index.py": "KEPT = []\ndef get():\n    KEPT.append([0, 1] * 1000000)\n"
                                   "    return str(len(KEPT))\n"},
               "[limits]\nmemory_mb = 256\ncpu_ms = 5000\n")
    yield host
    host.close("big")


def test_a_big_list_built_by_tenant_code_is_frozen_out_of_every_collection(host, collector):
    assert host.request("big").status == 200
    kept = walked_big_lists()
    assert kept >= 1
    assert collector.step(idle=False) == "freeze"
    assert walked_big_lists() == 0
    assert collector.step(idle=False) != "freeze"  # nothing new: collecting goes on
    collector.collect_all()
    assert walked_big_lists() == kept, "a collection of everything sees them again"


def test_frozen_garbage_is_collected_at_the_first_idle_step(host, collector):
    garbage = cycle()
    assert host.request("big").status == 200
    assert collector.step(idle=False) == "freeze"
    for _ in range(3):
        collector.step(idle=False)
    assert garbage() is not None, "frozen, not collected yet"
    later = collector.last_full + collector_module.THAW_EVERY_S
    assert collector.step(idle=True, now=later) == "thaw"
    assert garbage() is None
    assert gc.get_freeze_count() == 0


def test_frozen_garbage_is_collected_when_the_process_never_idles(host, collector):
    garbage = cycle()
    assert host.request("big").status == 200
    assert collector.step(idle=False, now=1000.0) == "freeze"
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
        assert host.request("big").status == 200
        assert collector.step(idle=False, now=0.0) == "freeze"
        rss[0] = 499 * 2**20
        assert collector.step(idle=False, now=0.0) != "thaw"
        rss[0] = 500 * 2**20
        assert collector.step(idle=False, now=0.0) == "thaw"
        assert garbage() is None
        # Still over the limit: the next thaw under pressure waits its turn.
        host.request("big")
        assert collector.step(idle=False, now=0.5) == "freeze"
        assert collector.step(idle=False, now=0.5) != "thaw"
        assert collector.step(idle=False, now=collector_module.THAW_EVERY_S) == "thaw"
    finally:
        gc.unfreeze()


def test_without_a_limit_frozen_garbage_is_collected_after_growing_a_gigabyte(host, collector):
    rss = [100 * 2**20]
    collector.rss = lambda: rss[0]
    collector.last_full = -10.0
    host.request("big")
    assert collector.step(idle=False, now=0.0) == "freeze"
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
    host.request("big")
    assert collector.step(idle=False) == "freeze"
    memory.release_memory(force=True)
    assert garbage() is None
    assert gc.get_freeze_count() == 0

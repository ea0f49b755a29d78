"""The offload threads (muxserver/offload.py): turns by tenant, short turns
first, and only the time a call ran is charged."""

import time

import gevent

from muxserver.offload import FIRST_TURN_S
from muxserver.offload import Offloader
from sandbox import Budget
from sandbox import charged


def _charged_call(offloader, group, call, seconds=5.0):
    budget = Budget(cpu_s=10.0)
    budget.group = group
    with charged(budget):
        value = offloader(call, seconds)
    return value, budget


def test_waiting_for_the_thread_is_not_charged():
    """A call that waits behind another is charged its own thread time only."""
    offloader = Offloader()

    def slow(timeout):
        time.sleep(0.3)  # the thread holds the lane; sleeping uses no CPU
        return "slow"

    first = gevent.spawn(_charged_call, offloader, "a", slow)
    gevent.sleep(0.02)
    started = time.monotonic()
    value, budget = _charged_call(offloader, "b", lambda timeout: "quick")
    waited = time.monotonic() - started
    first.join()
    assert value == "quick"
    assert waited > 0.2  # it did wait for the lane...
    assert budget.cpu_used < 0.05  # ...and was not charged for it


def test_a_tenant_that_used_the_threads_least_goes_first():
    offloader = Offloader()
    order = []

    def record(name):
        def call(timeout):
            time.sleep(0.02)
            order.append(name)
            return name

        return call

    offloader._charge("busy", 10.0)  # the busy tenant used the threads a lot
    blocker = gevent.spawn(_charged_call, offloader, "busy", record("busy-0"))
    gevent.sleep(0.005)
    jobs = [gevent.spawn(_charged_call, offloader, "busy", record(f"busy-{i}")) for i in (1, 2, 3)]
    gevent.sleep(0.005)
    jobs.append(gevent.spawn(_charged_call, offloader, "calm", record("calm")))
    gevent.joinall([blocker, *jobs], timeout=10)
    # The calm call ran right after the one that held the lane when it came.
    assert order.index("calm") == 1, order


def test_a_long_call_runs_again_in_the_long_lane_with_more_time():
    offloader = Offloader()
    timeouts = []

    def needs(seconds):
        def call(timeout):
            timeouts.append(timeout)
            if timeout < seconds:
                time.sleep(timeout)
                raise TimeoutError()
            return "done"

        return call

    value, _ = _charged_call(offloader, "a", needs(0.15))
    assert value == "done"
    assert timeouts[0] == FIRST_TURN_S
    assert timeouts == sorted(timeouts) and timeouts[-1] >= 0.15

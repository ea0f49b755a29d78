"""The per-tenant deploy lock (``Registry.deploying``): made when a deploy
needs it and dropped when none holds or waits for it, it must still
serialize one tenant's deploys and leave other tenants' alone."""

import gevent
from gevent.event import Event

from muxserver.tenancy.registry import DeployLocks


def test_deploys_of_one_tenant_run_one_after_another():
    locks = DeployLocks()
    order = []
    first_in = Event()
    release = Event()

    def first():
        with locks.holding("shop"):
            order.append("first in")
            first_in.set()
            release.wait()
            order.append("first out")

    def second():
        first_in.wait()
        with locks.holding("shop"):
            order.append("second in")

    a, b = gevent.spawn(first), gevent.spawn(second)
    first_in.wait(5)
    gevent.sleep(0)  # the second has reached the lock and waits on it
    assert order == ["first in"]
    assert len(locks) == 1  # one lock, shared by the holder and the waiter
    release.set()
    gevent.joinall([a, b], timeout=5, raise_error=True)
    assert order == ["first in", "first out", "second in"]
    assert len(locks) == 0  # nobody holds or waits: the lock is gone


def test_another_tenants_deploy_does_not_wait():
    locks = DeployLocks()
    release = Event()
    held = Event()

    def slow():
        with locks.holding("shop"):
            held.set()
            release.wait()

    slow_one = gevent.spawn(slow)
    held.wait(5)
    with gevent.Timeout(5):
        with locks.holding("blog"):
            pass
    release.set()
    slow_one.join(5)
    assert len(locks) == 0


def test_the_lock_is_reentrant_and_released_on_error():
    locks = DeployLocks()
    try:
        with locks.holding("shop"):
            with locks.holding("shop"):  # rescan_tenant inside deploy_archive
                raise ValueError("refused")
    except ValueError:
        pass
    assert len(locks) == 0
    done = []

    def other():
        with locks.holding("shop"):
            done.append(True)

    gevent.spawn(other).join(5)
    assert done == [True]

"""Budget.renew: a budget starts over inside its running slice (a cold
start's load, then the request, in one budget), its limits whole again; the
host's scheduler still counts what it had not counted."""

import time

from sandbox import Budget
from sandbox import charged


def _spin(seconds: float) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def test_renew_starts_the_clocks_over_and_keeps_the_uncounted_cpu_uncounted():
    budget = Budget(cpu_s=1.0, wall_s=5.0, memory_bytes=64 * 2**20)
    first_deadline = budget.wall_deadline
    with charged(budget):
        _spin(0.2)
        budget.shared_cpu = 0.01  # the scheduler counted this much of it
        before = budget.cpu_seconds()
        assert before >= 0.2
        budget.renew()
        assert budget.cpu_seconds() < 0.1
        assert budget.memory_growth() < 2**20
        assert budget.wall_deadline > first_deadline
        # What the scheduler had not counted is still to be counted: the
        # next count (cpu_seconds() - shared_cpu) includes it.
        assert budget.cpu_seconds() - budget.shared_cpu >= before - 0.01
        _spin(0.02)
    # The 0.2 s before the renewal are not in it (a margin for a busy machine).
    assert 0.02 <= budget.cpu_seconds() < 0.2


def test_renew_of_a_paused_budget_leaves_its_slice_alone():
    budget = Budget(cpu_s=1.0)
    with charged(budget):
        _spin(0.02)
    budget.renew()
    assert budget.cpu_seconds() == 0.0 and not budget.running
    assert budget.wall_deadline is None

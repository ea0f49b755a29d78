"""Per-request budgets for CPU time, wall time and memory, checked by ticks.

Under gevent every request runs in the main thread, so nothing preempts a
greenlet that spins in pure Python. :class:`sandbox.policy.MuxPolicy` inserts
``_tick_()`` into every loop, function, lambda and exception handler, and
every iteration of tenant code goes through a ticking iterator; the tick
reads the *current* :class:`Budget` and, every :data:`TICKS_PER_CHECK`
ticks, checks the clocks and the process RSS.

A budget follows its request across greenlet switches: :func:`install`
sets a greenlet trace function that pauses the budget of the greenlet
switched away from (CPU time and memory growth stop accruing) and resumes
the budget of the greenlet switched to. So a request is charged only for
what it did, never for the time other requests ran.

Once a budget is over, it is *dead*: every later tick raises a fresh
:class:`LimitExceeded`, so ``except BaseException`` or a ``finally`` that
loops again cannot keep the request alive, and the host checks
:attr:`Budget.killed` after the handler returns in case tenant code
swallowed the last raise (a context manager whose ``__exit__`` returns true).

The CPU clock of a thread (``time.thread_time``) is a system call that
costs several microseconds on a busy virtual machine — it was a quarter of
a warm request's CPU (issue 26). A slice reads it only once something asks
for its CPU time exactly (a check, every :data:`TICKS_PER_CHECK` ticks);
until then a slice is charged its wall time on the monotonic clock, which
is never less than the CPU it used. A short request reads no CPU clock.

.. warning::
   A slice that reaches no check is charged its wall time: if the operating
   system ran another process meanwhile, or one C call blocked (an
   ``fsync``), the request is charged that time as CPU.

.. warning::
   A tick cannot interrupt one long C call. The guards in
   :mod:`sandbox.guards` refuse or bound those before they start
   (``10 ** 10**9``, ``"x" * 10**10``, catastrophic regular expressions);
   anything they miss can only be stopped by the host's watchdog.
"""

from __future__ import annotations

import os
import sys
import time
from time import perf_counter

import greenlet

#: How many ticks pass between two looks at the clocks.
TICKS_PER_CHECK = 200
#: CPU a greenlet may run before its next check offers the others a turn.
SLICE_S = 0.005
#: CPU tenant code may run outside any request's budget (a finalizer run by
#: the garbage collector, a generator closed on eviction) before it is stopped.
ORPHAN_CPU_S = 0.05

_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


class LimitExceeded(BaseException):
    """A request went over one of its limits and is being stopped.

    A :class:`BaseException`, so ``except Exception`` in tenant code does not
    see it; the policy's ticks re-raise it from handlers that catch more.

    :param kind: ``"cpu"``, ``"wall"`` or ``"memory"``.
    """

    #: HTTP status the host answers with, per kind.
    STATUS = {"cpu": 503, "memory": 503, "wall": 504}

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind
        self.message = message

    @property
    def status(self) -> int:
        return self.STATUS.get(self.kind, 503)


class _RssReader:
    """Reads the resident set size from ``/proc/self/statm`` cheaply.

    psutil does the same read plus object allocation; on the per-switch path
    this keeps the cost to one ``pread`` of a file descriptor kept open.
    The descriptor names the process that opened it (``/proc/self`` is
    resolved then): a child forked after it was opened opens its own.
    """

    def __init__(self):
        self._open()
        os.register_at_fork(after_in_child=self._reopen)

    def _open(self) -> None:
        self._fd = None
        try:
            self._fd = os.open("/proc/self/statm", os.O_RDONLY)
        except OSError:
            import psutil

            self._process = psutil.Process()

    def _reopen(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
        self._open()

    def __call__(self) -> int:
        if self._fd is not None:
            # "size resident shared ...": the second field.
            return int(os.pread(self._fd, 128, 0).split(None, 2)[1]) * _PAGE_SIZE
        return self._process.memory_info().rss


rss_bytes = _RssReader()

# The RSS read at the end of the last slice, and when. A slice that starts
# soon after reuses it instead of reading again: one read per slice, not two.
_last_rss = 0
_last_rss_at = 0.0
#: How old the last sample may be for a new slice to start from it.
RSS_SAMPLE_REUSE_S = 0.05


_process_ceiling = 0


def set_process_ceiling(nbytes: int | None) -> None:
    """Stop the running request at its next check when the whole process is
    over ``nbytes`` of RSS (``None`` or 0: no ceiling)."""
    global _process_ceiling
    _process_ceiling = int(nbytes or 0)


def _sample_rss() -> int:
    global _last_rss, _last_rss_at
    _last_rss = rss_bytes()
    _last_rss_at = time.monotonic()
    return _last_rss


class Budget:
    """What one request may still spend.

    :param cpu_s: CPU seconds allowed, or ``None``.
    :param wall_s: wall-clock seconds allowed, or ``None``.
    :param memory_bytes: process growth allowed while this request runs,
        or ``None``.
    """

    __slots__ = (
        "cpu_limit",
        "wall_deadline",
        "wall_s",
        "memory_limit",
        "cpu_used",
        "memory_used",
        "countdown",
        "killed",
        "_slice_cpu",
        "_slice_wall",
        "_slice_rss",
        "running",
        "label",
        "group",
        "holds_turn",
        "shared_cpu",
        "extras",
        "charges",
    )

    def __init__(
        self,
        cpu_s: float | None = None,
        wall_s: float | None = None,
        memory_bytes: int | None = None,
    ):
        self.cpu_limit = cpu_s
        self.wall_s = wall_s
        self.wall_deadline = time.monotonic() + wall_s if wall_s else None
        self.memory_limit = memory_bytes
        self.cpu_used = 0.0
        self.memory_used = 0
        self.countdown = TICKS_PER_CHECK
        self.killed: LimitExceeded | None = None
        self._slice_cpu: float | None = None
        self._slice_wall = 0.0
        self._slice_rss = 0
        self.running = False
        #: Set by the host to say whose budget this is (shown by watchdogs).
        self.label = ""
        #: Who shares CPU fairly with whom (the host: the tenant's name).
        self.group = ""
        #: Set by the host's slice hook while this budget holds its turn.
        self.holds_turn = False
        #: CPU seconds the host's scheduler has already counted.
        self.shared_cpu = 0.0
        #: What facades keep for this request (sqlite: its tenant's state and
        #: the connections it touched); dies with the budget.
        self.extras: dict | None = None
        #: How many ``charged`` blocks run this budget now: above 0, its
        #: request is in flight (perhaps switched out mid-call).
        self.charges = 0

    # -- accounting across greenlet switches ------------------------------

    def resume(self) -> None:
        """Start charging this budget (its greenlet is about to run)."""
        self._slice_wall = perf_counter()
        self._slice_cpu = None  # the CPU clock is read when first needed
        if self.memory_limit is not None:
            # The last sample if it is fresh (one read per slice, not two).
            self._slice_rss = (_sample_rss() if time.monotonic() - _last_rss_at > RSS_SAMPLE_REUSE_S
                               else _last_rss)
        self.running = True

    def pause(self) -> None:
        """Stop charging this budget (its greenlet is switching out)."""
        if not self.running:
            return
        self.running = False
        if self.holds_turn and _pause_hook is not None:
            _pause_hook(self)
        self.cpu_used += self._slice_used()
        if self.memory_limit is not None:
            self.memory_used += _sample_rss() - self._slice_rss

    def _slice_used(self, now: float | None = None) -> float:
        """CPU charged for the running slice.

        :param now: ``time.thread_time()`` read by the caller: the slice is
            anchored to the CPU clock from then on (the part before is
            charged its wall time). None: the CPU clock if anchored, the
            wall time since the slice started if not (no system call).
        """
        if self._slice_cpu is None:
            if now is None:
                return perf_counter() - self._slice_wall
            self._slice_cpu = now - (perf_counter() - self._slice_wall)
        return (time.thread_time() if now is None else now) - self._slice_cpu

    def slice_seconds(self, now: float | None = None) -> float:
        """CPU charged for the running slice so far (see :meth:`_slice_used`)."""
        return self._slice_used(now)

    def new_slice(self) -> None:
        """Count the running slice and start another, as switching out and
        back would (a host's slice hook that does not switch)."""
        self.cpu_used += self._slice_used()
        self._slice_wall = perf_counter()
        self._slice_cpu = None

    def renew(self) -> None:
        """Start over, as a new budget of the same limits would: what was
        charged so far (a cold start's load, which has the same limits of
        its own) no longer counts against what follows. The host's
        scheduler still counts it (:attr:`shared_cpu`: what it has not
        counted yet stays uncounted).

        The caller checks the clocks first (:meth:`check_clocks`): what is
        over is over. Called while running, it reads RSS once, as the
        slice's new start.
        """
        if self.running:
            self.new_slice()
            if self.memory_limit is not None:
                self._slice_rss = _sample_rss()
        self.shared_cpu -= self.cpu_used
        self.cpu_used = 0.0
        self.memory_used = 0
        self.countdown = TICKS_PER_CHECK
        if self.wall_s:
            self.wall_deadline = time.monotonic() + self.wall_s

    def cpu_seconds(self) -> float:
        """CPU time charged so far, including the running slice."""
        used = self.cpu_used
        if self.running:
            used += self._slice_used()
        return used

    def memory_growth(self) -> int:
        """Bytes the process grew by while this request ran."""
        grown = self.memory_used
        if self.running and self.memory_limit is not None:
            grown += _sample_rss() - self._slice_rss
        return grown

    def remaining_seconds(self, default: float = 1.0) -> float:
        """The smallest of the CPU and wall time left, for C calls that
        take a timeout (regular expressions)."""
        left = [default]
        if self.cpu_limit is not None:
            left.append(self.cpu_limit - self.cpu_seconds())
        if self.wall_deadline is not None:
            left.append(self.wall_deadline - time.monotonic())
        return max(0.0, min(left))

    # -- checks ----------------------------------------------------------

    def check_clocks(self, now: float | None = None) -> None:
        """Raise :class:`LimitExceeded` if the CPU or wall time is over (or
        any limit was): the cheap part of :meth:`check`, for after a call.

        :param now: ``time.thread_time()`` when the caller has read it.
        """
        if self.killed is not None:
            raise LimitExceeded(self.killed.kind, self.killed.message)
        if self.cpu_limit is not None:
            used = self.cpu_used
            if self.running:
                used += self._slice_used(now)
            if used > self.cpu_limit:
                raise self.kill("cpu", f"CPU time limit exceeded ({self.cpu_limit * 1000:.0f} ms)")
        if self.wall_deadline is not None and time.monotonic() > self.wall_deadline:
            raise self.kill_wall()

    def kill_wall(self) -> LimitExceeded:
        """Mark this budget dead for its wall time (the host's watcher too)."""
        return self.kill("wall", f"wall time limit exceeded ({self.wall_s:g} s)")

    def kill(self, kind: str, message: str) -> LimitExceeded:
        """Mark this budget dead; return the exception to raise."""
        if self.killed is None:
            self.killed = LimitExceeded(kind, message)
        return LimitExceeded(self.killed.kind, self.killed.message)

    def check(self, may_yield: bool = True) -> None:
        """Raise :class:`LimitExceeded` if any limit is over (or was); at the
        end of a slice, offer the others a turn (the host's slice hook).

        :param may_yield: False where switching greenlets is not allowed.
        """
        self.countdown = TICKS_PER_CHECK
        now = time.thread_time()
        self.check_clocks(now)
        if self.memory_limit is not None:
            grown = self.memory_growth()
            if grown > self.memory_limit:
                raise self.kill(
                    "memory",
                    f"memory limit exceeded ({self.memory_limit // 2**20} MB)",
                )
            if _process_ceiling and _last_rss > _process_ceiling:
                # Many requests each under their own budget can still add up
                # to more than the machine has; the one growing now stops.
                raise self.kill(
                    "memory",
                    f"memory limit exceeded (the server is over {_process_ceiling // 2**20} MB)",
                )
        if may_yield and self.running and _slice_hook is not None and self._slice_used(now) > SLICE_S:
            _slice_hook(self)


# The budget of the greenlet that runs now; module-global because the tick
# must be as cheap as a global read.
_current: Budget | None = None
_by_greenlet: dict = {}


def current() -> Budget | None:
    """The budget charged right now, or ``None`` outside tenant requests."""
    return _current


_slice_hook = None
_pause_hook = None
_offload_hook = None


def offload(call, seconds: float, interruptible: bool = True):
    """Run ``call(timeout)`` — one long C call that releases the GIL, runs no
    tenant code and raises ``TimeoutError`` past ``timeout`` — for at most
    ``seconds``, where it does not hold the process (the host's hook: a
    thread, shared fairly between tenants, which may run it in shorter turns
    and charges the current budget only for the time it ran). Without a
    hook, here, at once.

    :param interruptible: False for a call that ignores ``timeout`` and must
        run whole (a password hash): bound its work before offloading it.
    """
    if _offload_hook is None:
        return call(seconds)
    return _offload_hook(call, seconds, interruptible)


def set_offload_hook(hook) -> None:
    global _offload_hook
    _offload_hook = hook


def set_slice_hooks(on_slice_end, on_pause) -> None:
    """Let the host share CPU: ``on_slice_end(budget)`` is called from tenant
    code (at a check) when the budget's greenlet has run :data:`SLICE_S` of
    CPU since it last got the CPU, and may switch greenlets;
    ``on_pause(budget)`` when a budget whose ``holds_turn`` is set switches
    out. ``None`` for both: no slicing."""
    global _slice_hook, _pause_hook
    _slice_hook, _pause_hook = on_slice_end, on_pause


def budget_of(glet) -> Budget | None:
    """The budget charged while ``glet`` runs (None when it runs none)."""
    return _by_greenlet.get(glet)


def running_budgets() -> list:
    """``(greenlet, budget)`` for every greenlet running charged now."""
    return list(_by_greenlet.items())


#: The orphan budgets of this greenlet turn, by tenant (reset at every switch).
_orphans: dict | None = None
#: Which of them is charged now (the one whose tenant code ran last).
_orphan_running: Budget | None = None
#: How many frames up :func:`_calling_tenant` looks for tenant code.
_TENANT_FRAME_DEPTH = 64


def orphan(tenant: str = "") -> Budget:
    """The budget of ``tenant``'s code that runs outside any request.

    Tenant code can run with no budget charged: a generator's ``finally`` or
    a ``__del__`` run by the garbage collector, by an eviction that drops a
    module's globals, by the host's own ``gc.collect``. Its ticks charge
    this budget instead: :data:`ORPHAN_CPU_S` of CPU per tenant per turn of
    the greenlet that runs it (every greenlet switch starts fresh ones),
    then every tick raises, so such code can never hold the process. Per
    tenant, because one collection may run many tenants' finalizers: one
    tenant's endless ``finally`` spends its own budget, not the others'.
    It never yields (the host did not expect a switch there).
    """
    global _orphans, _orphan_running
    budgets = _orphans
    if budgets is None:
        budgets = _orphans = {}
    budget = budgets.get(tenant)
    if budget is None:
        budget = budgets[tenant] = Budget(cpu_s=ORPHAN_CPU_S)
        budget.label = f"tenant code outside any request (a finalizer of {tenant or 'no tenant'})"
        budget.group = tenant
    running = _orphan_running
    if running is not budget:
        # Only the tenant whose code runs is charged (finalizers of several
        # tenants interleave within one collection).
        if running is not None:
            running.pause()
        budget.resume()
        _orphan_running = budget
    return budget


def _calling_tenant() -> str:
    """The tenant whose code is running: the nearest frame whose module
    globals name one (``__mux_tenant__``, set by the runtime), or ``""``."""
    frame = sys._getframe(2)
    for _ in range(_TENANT_FRAME_DEPTH):
        if frame is None:
            break
        tenant = frame.f_globals.get("__mux_tenant__")
        if tenant is not None:
            return tenant
        frame = frame.f_back
    return ""


def tick(weight: int = 1) -> None:
    """The ``_tick_`` of tenant code: count down, check when due.

    :param weight: how many ticks this one is worth: host code that ticks
        once for a lot of work (a YAML merge, 64 swaps of a shuffle) says
        so, so the clocks are looked at — and the others get a turn —
        after as much work as :data:`TICKS_PER_CHECK` ticks of tenant code.
    """
    budget = _current
    if budget is not None:
        budget.countdown -= weight
        if budget.countdown <= 0 or budget.killed is not None:
            budget.check()
        return
    budget = orphan(_calling_tenant())
    budget.countdown -= weight
    if budget.countdown <= 0 or budget.killed is not None:
        budget.check(may_yield=False)


#: Bytes allocated by a guarded operation that count as one tick.
BYTES_PER_TICK = 64 * 1024


#: A value of at least this many bytes built in one guarded call is noted
#: with the budget that built it (:func:`take_big_budgets`): the host's
#: garbage collector reads them, since a young collection walks every item
#: of a big list while the process waits (``muxserver.ops.collector``).
BIG_ALLOCATION_BYTES = 2**20
_big_budgets: list = []


def take_big_budgets() -> list:
    """The budgets that built big values since the last call (and forget them)."""
    taken = _big_budgets[:]
    _big_budgets.clear()
    return taken


def note_allocation(nbytes: int) -> None:
    """Called by guards that build big values: each :data:`BYTES_PER_TICK`
    counts as a tick, so a loop of big allocations is checked every few MB
    instead of every :data:`TICKS_PER_CHECK` iterations."""
    budget = _current
    if nbytes >= BIG_ALLOCATION_BYTES:
        if budget is not None:
            if len(_big_budgets) >= 1024:  # no collector drains it: keep those in flight
                _big_budgets[:] = [b for b in _big_budgets if b.charges > 0][-512:]
            _big_budgets.append(budget)
    if budget is not None and nbytes >= BYTES_PER_TICK:
        budget.countdown -= nbytes // BYTES_PER_TICK


def forget_rss_sample() -> None:
    """Make the next slice read RSS afresh (after memory was given back)."""
    global _last_rss_at
    _last_rss_at = 0.0


def _on_switch(event, args) -> None:
    global _current, _orphans, _orphan_running
    if event not in ("switch", "throw"):
        return
    _orphans = _orphan_running = None
    origin, target = args
    budget = _by_greenlet.get(origin)
    if budget is not None:
        budget.pause()
    budget = _by_greenlet.get(target)
    if budget is not None:
        budget.resume()
    _current = budget


_installed = False


def install() -> None:
    """Install the greenlet switch hook (idempotent)."""
    global _installed
    if not _installed:
        previous = greenlet.gettrace()
        if previous is None:
            greenlet.settrace(_on_switch)
        else:  # chain, so a debugger's trace keeps working

            def chained(event, args):
                _on_switch(event, args)
                previous(event, args)

            greenlet.settrace(chained)
        _installed = True


class charged:
    """Context manager: charge the current greenlet's work to ``budget``.

    Nested use with the same greenlet replaces the budget for the inner
    block and restores the outer one after.
    """

    __slots__ = ("budget", "_glet", "_outer")

    def __init__(self, budget: Budget):
        self.budget = budget

    def __enter__(self) -> Budget:
        global _current
        if not _installed:
            install()
        self.budget.charges += 1
        self._glet = greenlet.getcurrent()
        self._outer = _by_greenlet.get(self._glet)
        if self._outer is not None:
            self._outer.pause()
        _by_greenlet[self._glet] = self.budget
        self.budget.resume()
        _current = self.budget
        return self.budget

    def __exit__(self, *exc) -> None:
        global _current
        self.budget.charges -= 1
        self.budget.pause()
        if self._outer is not None:
            _by_greenlet[self._glet] = self._outer
            self._outer.resume()
        else:
            _by_greenlet.pop(self._glet, None)
        _current = self._outer

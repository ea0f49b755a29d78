"""``asyncio`` for tenant code, and the driver of its coroutines.

A tenant's ``async def`` functions are plain coroutines. Nothing in the
sandbox can suspend one except the awaitables made here: ``asyncio.sleep``,
a task's completion (``await task``, ``gather``, ``wait_for``). :func:`run`
drives a coroutine to its end in the calling greenlet, with an event loop of
its own per call (as ``asyncio.run`` makes one), so everything stays inside
the request that started it: its CPU and memory budgets (every step ticks),
its wall time (a sleep is the host's ``time.sleep``, cooperative under
gevent: other requests run meanwhile, and the wall-time watcher can stop
it). The host calls :func:`resolve` on whatever a tenant's view, hook or
handler returned, so an ``async def`` is awaited as Flask 2+ awaits it.

Offered: ``run``, ``sleep``, ``gather``, ``create_task``, ``ensure_future``,
``wait_for``, ``get_event_loop``/``new_event_loop``/``get_running_loop``
(``run_until_complete``, ``create_task``), ``iscoroutine``,
``iscoroutinefunction``, ``CancelledError``, ``TimeoutError``,
``InvalidStateError``.

.. warning::
   Only what is here can be awaited: an object that needs a real event loop
   (a host asyncio ``Future``, a third-party awaitable) raises
   ``RuntimeError`` at its ``await``. No I/O is asynchronous here (sockets,
   files and databases block the coroutine, cooperatively); tasks interleave
   only at their ``await``s. Tasks left pending when :func:`run` returns are
   closed (their ``finally`` blocks run), not run to completion.
"""

from __future__ import annotations

import asyncio
import contextvars
import heapq
import inspect
import time
import types
import warnings
from collections import deque

from sandbox import guards
from sandbox import limits
from sandbox.guards import SandboxError
from sandbox.guards.declared import declare
from sandbox.guards.declared import declared

CancelledError = asyncio.CancelledError
InvalidStateError = asyncio.InvalidStateError

#: The loop :func:`run` is driving in this greenlet (each greenlet has its
#: own context, so two requests never see each other's loop).
_running: contextvars.ContextVar = contextvars.ContextVar("mux_event_loop", default=None)

#: Most tasks one loop may hold at once.
MAX_TASKS = 10_000

# Tenant code may make a coroutine and drop it; Python would then print
# "coroutine '<tenant name>' was never awaited" on the server's stderr, once
# per place, for every tenant: tenant noise in the server's log. Not said.
warnings.filterwarnings("ignore", message=r"coroutine '.*' was never awaited",
                        category=RuntimeWarning)


class _Sleep:
    """What ``asyncio.sleep(delay)`` returns: suspends its task."""

    __slots__ = ("delay", "result")

    def __init__(self, delay, result):
        self.delay = delay
        self.result = result

    def __await__(self):
        yield self
        return self.result


class _Join:
    """Suspends a task until one of ``tasks`` is done or ``until`` passes."""

    __slots__ = ("tasks", "until")

    def __init__(self, tasks, until=None):
        self.tasks = tasks
        self.until = until

    def __await__(self):
        yield self


@declared("done cancelled result exception cancel get_name")
class Task:
    """A coroutine scheduled on the running loop (``asyncio.Task``'s names)."""

    __slots__ = ("_coro", "_loop", "_done", "_result", "_exception", "_cancelled",
                 "_must_cancel", "_waiters", "_wake", "_order", "_name")

    def __init__(self, coro, loop, name=None):
        self._coro = coro
        self._loop = loop
        self._done = False
        self._result = None
        self._exception = None
        self._cancelled = False
        self._must_cancel = False
        #: (task, its wake number) of the tasks suspended in a _Join on this one.
        self._waiters = []
        #: Bumped each time the task is woken: stale sleeps and joins are ignored.
        self._wake = 0
        #: When it finished, for gather's "first exception".
        self._order = 0
        self._name = guards.safe_str_builtin(name) if name is not None else f"Task-{loop.count}"

    def done(self) -> bool:
        return self._done

    def cancelled(self) -> bool:
        return self._cancelled

    def result(self):
        if not self._done:
            raise InvalidStateError("Result is not set.")
        if self._cancelled:
            raise CancelledError()
        if self._exception is not None:
            raise self._exception
        return self._result

    def exception(self):
        if not self._done:
            raise InvalidStateError("Exception is not set.")
        if self._cancelled:
            raise CancelledError()
        return self._exception

    def cancel(self, msg=None) -> bool:
        if self._done:
            return False
        self._must_cancel = True
        self._loop.wake(self)
        return True

    def get_name(self) -> str:
        return self._name

    def __await__(self):
        while not self._done:
            yield _Join((self,))
        return self.result()

    def __repr__(self):
        state = "done" if self._done else "pending"
        return f"<Task {state} name={self._name!r}>"


class _Loop:
    """One call of :func:`run`: the tasks, who is ready, who sleeps until when."""

    def __init__(self):
        self.count = 0
        self.finished = 0
        self.tasks = set()
        #: (task, wake number, value to send, exception to throw)
        self.ready = deque()
        #: (deadline, sequence, task, wake number)
        self.sleeping = []

    def spawn(self, coro, name=None) -> Task:
        if len(self.tasks) >= MAX_TASKS:
            coro.close()
            raise RuntimeError(f"more than {MAX_TASKS} tasks in one event loop")
        self.count += 1
        task = Task(coro, self, name)
        self.tasks.add(task)
        self.ready.append((task, task._wake, None, None))
        return task

    def wake(self, task, value=None, exc=None) -> None:
        """Make a suspended ``task`` ready now (its pending sleep or join is void)."""
        task._wake += 1
        self.ready.append((task, task._wake, value, exc))

    def _finish(self, task, result=None, exc=None, cancelled=False) -> None:
        task._done = True
        task._result, task._exception, task._cancelled = result, exc, cancelled
        self.finished += 1
        task._order = self.finished
        self.tasks.discard(task)
        waiters, task._waiters = task._waiters, []
        for waiter, wake in waiters:
            if wake == waiter._wake and not waiter._done:
                self.wake(waiter)

    def _step(self, task, value, exc) -> None:
        if task._must_cancel and exc is None:
            task._must_cancel = False
            exc = CancelledError()
        try:
            signal = task._coro.send(value) if exc is None else task._coro.throw(exc)
        except StopIteration as stop:
            self._finish(task, result=stop.value)
            return
        except CancelledError:
            self._finish(task, cancelled=True)
            return
        except Exception as error:  # a stop of the request (BaseException) goes up
            self._finish(task, exc=error)
            return
        if type(signal) is _Sleep:
            if signal.delay <= 0:
                self.wake(task)
            else:
                heapq.heappush(self.sleeping, (time.monotonic() + signal.delay, self.count,
                                               task, task._wake))
                self.count += 1
        elif type(signal) is _Join:
            if any(t._done for t in signal.tasks):
                self.wake(task)
                return
            for target in signal.tasks:
                target._waiters.append((task, task._wake))
            if signal.until is not None:
                heapq.heappush(self.sleeping, (signal.until, self.count, task, task._wake))
                self.count += 1
        else:
            self.wake(task, exc=RuntimeError(
                f"cannot await {type(signal).__name__!r} here: it needs an event loop; "
                "tenant code can await its own coroutines, tasks and asyncio.sleep/gather/"
                "wait_for"))

    def run_until_complete(self, main: Task):
        while not main._done:
            limits.tick()
            if self.ready:
                task, wake, value, exc = self.ready.popleft()
                if wake == task._wake and not task._done:
                    self._step(task, value, exc)
                continue
            if not self.sleeping:
                raise RuntimeError("the coroutine waits for a task that can never finish")
            deadline, _, task, wake = self.sleeping[0]
            delay = deadline - time.monotonic()
            if delay > 0:
                if limits.current() is None:
                    raise SandboxError("asyncio.sleep() outside a request is not allowed")
                time.sleep(delay)  # looked up now: gevent's cooperative sleep in the host
                continue
            heapq.heappop(self.sleeping)
            if wake == task._wake and not task._done:
                self.wake(task)
        return main.result()

    def close(self) -> None:
        """Close the tasks still pending (their ``finally`` blocks run)."""
        for task in list(self.tasks):
            self.tasks.discard(task)
            try:
                task._coro.close()
            except (Exception, limits.LimitExceeded):
                pass  # the request's answer is already decided


def _current_loop(what: str) -> _Loop:
    loop = _running.get()
    if loop is None:
        raise RuntimeError(f"{what} needs a running event loop: call it inside a coroutine "
                           "that asyncio.run() (or the server, for an async view) drives")
    return loop


def _as_coroutine(awaitable, what: str):
    if type(awaitable) is types.CoroutineType:
        return awaitable
    if isinstance(awaitable, (Task, _Sleep, _Gathering)):
        async def wrapper():
            return await awaitable
        return wrapper()
    raise TypeError(f"{what} takes a coroutine, not {type(awaitable).__name__}")


def run(main, *, debug=None):
    """``asyncio.run``: drive ``main`` to its end here and return its result."""
    if type(main) is not types.CoroutineType:
        raise ValueError(f"a coroutine was expected, got {type(main).__name__}")
    if _running.get() is not None:
        main.close()
        raise RuntimeError("asyncio.run() cannot be called from a running event loop")
    loop = _Loop()
    token = _running.set(loop)
    try:
        return loop.run_until_complete(loop.spawn(main))
    finally:
        _running.reset(token)
        loop.close()


def resolve(value):
    """``value``, or what it returns if it is a coroutine (driven by :func:`run`).

    The host calls this on every value a tenant's function returned.
    """
    if type(value) is types.CoroutineType:
        return run(value)
    return value


def sleep(delay, result=None):
    if not isinstance(delay, (int, float)) or isinstance(delay, bool):
        raise TypeError(f"sleep() takes a number of seconds, not {type(delay).__name__}")
    return _Sleep(float(delay), result)


def create_task(coro, *, name=None, context=None):
    loop = _current_loop("create_task()")
    return loop.spawn(_as_coroutine(coro, "create_task()"), name)


def ensure_future(awaitable, *, loop=None):
    if isinstance(awaitable, Task):
        return awaitable
    running = _current_loop("ensure_future()")
    return running.spawn(_as_coroutine(awaitable, "ensure_future()"))


class _Gathering:
    """What ``gather(...)`` returns: awaiting it waits for every task."""

    __slots__ = ("_tasks", "_return_exceptions")

    def __init__(self, tasks, return_exceptions):
        self._tasks = tasks
        self._return_exceptions = return_exceptions

    def __await__(self):
        tasks = self._tasks
        while True:
            failed = [t for t in tasks if t._done and (t._exception is not None or t._cancelled)]
            if failed and not self._return_exceptions:
                first = min(failed, key=lambda t: t._order)
                return first.result()  # raises, as asyncio propagates the first error
            pending = tuple(t for t in tasks if not t._done)
            if not pending:
                break
            yield _Join(pending)
        results = []
        for task in tasks:
            if task._cancelled:
                results.append(CancelledError())
            elif task._exception is not None:
                results.append(task._exception)
            else:
                results.append(task._result)
        return results


def gather(*aws, return_exceptions=False):
    loop = _current_loop("gather()")
    tasks = [aw if isinstance(aw, Task) else loop.spawn(_as_coroutine(aw, "gather()"))
             for aw in aws]
    return _Gathering(tasks, return_exceptions)


async def wait_for(aw, timeout):
    """``asyncio.wait_for``: ``aw``'s result, or TimeoutError after ``timeout`` s."""
    task = ensure_future(aw)
    if timeout is not None:
        await _Join((task,), time.monotonic() + max(0.0, float(timeout)))
        if not task._done:
            task.cancel()
            while not task._done:
                await _Join((task,))
            raise TimeoutError()
    return await task


@declared("run_until_complete create_task is_running is_closed close time")
class EventLoop:
    """What ``get_event_loop()`` gives older code: ``run_until_complete``."""

    __slots__ = ()

    def run_until_complete(self, future):
        return run(_as_coroutine(future, "run_until_complete()"))

    def create_task(self, coro, *, name=None):
        return create_task(coro, name=name)

    def is_running(self) -> bool:
        return _running.get() is not None

    def is_closed(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def time(self) -> float:
        return time.monotonic()


_EVENT_LOOP = EventLoop()


def get_running_loop():
    _current_loop("get_running_loop()")
    return _EVENT_LOOP


# Awaitables a tenant awaits and never reads.
for _awaitable in (_Sleep, _Join, _Gathering):
    declare(_awaitable)
declare(types.CoroutineType, "send throw close")


def build_asyncio(ctx):
    return {
        "run": run,
        "sleep": sleep,
        "gather": gather,
        "create_task": create_task,
        "ensure_future": ensure_future,
        "wait_for": wait_for,
        "get_event_loop": lambda: _EVENT_LOOP,
        "new_event_loop": lambda: _EVENT_LOOP,
        "set_event_loop": lambda loop: None,
        "get_running_loop": get_running_loop,
        "iscoroutine": lambda obj: type(obj) is types.CoroutineType,
        "iscoroutinefunction": inspect.iscoroutinefunction,
        "CancelledError": CancelledError,
        "TimeoutError": TimeoutError,
        "InvalidStateError": InvalidStateError,
    }

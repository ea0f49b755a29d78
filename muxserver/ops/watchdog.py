"""The backstop: an OS thread that notices when the gevent hub is stuck.

Ticks and guards stop tenant code that runs Python; a single C call that
none of them bounds holds the only thread of a gevent process, and nothing
inside the process can interrupt it. This watchdog runs in a real OS
thread, sees the hub's heartbeat go stale, and logs which tenant, endpoint
and request are running, so the operator knows whom to blame. With
``--workers N`` the worker's heartbeat to the process manager stops too, and
the stuck worker is replaced (see :mod:`muxserver.http.workers`).

.. warning::
   In a single process the watchdog can only report; set ``--workers 2``
   or more so a stuck process is replaced.
"""

from __future__ import annotations

import logging

import gevent
from gevent import monkey

from sandbox import limits

log = logging.getLogger("muxserver.watchdog")

_start_thread = monkey.get_original("_thread", "start_new_thread")
_real_sleep = monkey.get_original("time", "sleep")
_monotonic = monkey.get_original("time", "monotonic")


class HubWatchdog:
    """Report when the hub has not run for ``stall_s`` seconds.

    :param stall_s: how long the hub may be blocked before a report.
    :param on_stall: called (in the watchdog thread) with the seconds stalled
        and the label of the running budget; defaults to logging.
    """

    BEAT_S = 0.1

    def __init__(self, stall_s: float = 5.0, on_stall=None):
        self.stall_s = stall_s
        self.on_stall = on_stall or self._log
        self.last_beat = _monotonic()
        self.should_exit = False
        self.stalls = 0

    @staticmethod
    def _log(seconds: float, label: str) -> None:
        log.error("the server has been blocked for %.1f s by one call that cannot be "
                  "interrupted; running: %s", seconds, label or "no tenant request")

    def _beat(self) -> None:
        while not self.should_exit:
            self.last_beat = _monotonic()
            gevent.sleep(self.BEAT_S)

    def _watch(self) -> None:
        reported = False
        while not self.should_exit:
            _real_sleep(self.BEAT_S)
            stalled = _monotonic() - self.last_beat
            if stalled > self.stall_s:
                if not reported:
                    budget = limits.current()
                    self.stalls += 1
                    self.on_stall(stalled, budget.label if budget is not None else "")
                    reported = True
            else:
                reported = False

    def start(self) -> "HubWatchdog":
        gevent.spawn(self._beat)
        _start_thread(self._watch, ())
        return self

    def stop(self) -> None:
        self.should_exit = True

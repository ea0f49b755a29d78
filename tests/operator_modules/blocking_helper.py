"""An operator-allowed module (``extra_modules``) that blocks the process in
one C call, the kind of stall only the worker timeout can end. Tests only."""

from gevent import monkey

_sleep = monkey.get_original("time", "sleep")


def block(seconds):
    _sleep(seconds)
    return "unblocked"

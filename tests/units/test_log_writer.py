"""The log writer batches lines: one ``write`` for the lines of a flush window.

The window is what keeps a busy server at one system call (and one wake of
the supervisor's log copier) for many lines; a restarted libev timer once
fired at the next loop iteration, so every request wrote its line alone.
"""

import time

import gevent

from muxserver.ops import logs
from tests.conftest import wait_until


class Recorder:
    """A stream that keeps each ``write`` apart."""

    def __init__(self):
        self.writes: list[str] = []

    def write(self, text: str) -> None:
        self.writes.append(text)

    def flush(self) -> None:
        pass


def _window_batches(writer: logs.LogWriter, stream: Recorder) -> None:
    started = time.monotonic()
    writer.emit("second")
    for _ in range(3):  # loop iterations with a timer wait each, as between requests
        gevent.sleep(0.001)
    writer.emit("third")
    if time.monotonic() - started < logs.FLUSH_S / 2:
        # Still inside the window: nothing of this batch is out yet.
        assert stream.writes[1:] == []
    wait_until(lambda: len(stream.writes) >= 2)
    assert stream.writes[1] == "second\nthird\n"


def test_lines_within_the_flush_window_go_out_in_one_write():
    stream = Recorder()
    writer = logs.LogWriter("text", stream=stream)
    try:
        writer.emit("first")
        wait_until(lambda: stream.writes)
        assert stream.writes == ["first\n"]
        # The next batch waits its window too, not only the first one.
        _window_batches(writer, stream)
    finally:
        writer.retire()


def test_a_full_queue_is_written_at_once():
    stream = Recorder()
    writer = logs.LogWriter("text", stream=stream)
    try:
        for i in range(logs.FLUSH_LINES):
            writer.emit(f"line {i}")
        assert len(stream.writes) == 1 and stream.writes[0].count("\n") == logs.FLUSH_LINES
        writer.emit("after")
        wait_until(lambda: len(stream.writes) == 2)
        assert stream.writes[1] == "after\n"
    finally:
        writer.retire()

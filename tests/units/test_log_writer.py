"""The log writer batches lines: one ``write`` for the lines of a flush window.

The window is what keeps a busy server at one system call (and one wake of
the supervisor's log copier) for many lines; a restarted libev timer once
fired at the next loop iteration, so every request wrote its line alone.
"""

import time

import gevent
import pytest
from gevent import monkey

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


@pytest.fixture(autouse=True)
def wide_window(monkeypatch):
    # A wide window, so a slow moment of a shared machine cannot close it
    # between two lines the test expects in one batch.
    monkeypatch.setattr(logs, "FLUSH_S", 0.5)


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


def test_a_line_from_another_thread_goes_out_at_once_after_the_queued_ones():
    # The hub watchdog writes from an OS thread of its own while the hub is
    # blocked: the loop's timer cannot run, and the process may be killed
    # soon, so what was queued before the stall goes out with its line.
    stream = Recorder()
    writer = logs.LogWriter("text", stream=stream)
    done = monkey.get_original("threading", "Event")()
    start_thread = monkey.get_original("_thread", "start_new_thread")
    try:
        writer.emit("before the stall")
        writer.emit("the stalling request's line")

        def watchdog():
            writer.emit("hub blocked for 5 s")
            done.set()

        start_thread(watchdog, ())
        assert done.wait(10)
        assert stream.writes == ["before the stall\nthe stalling request's line\n"
                                 "hub blocked for 5 s\n"]
        writer.flush()  # nothing left behind to write twice
        assert len(stream.writes) == 1
    finally:
        writer.retire()


def test_tags_stay_one_token_of_one_line():
    """Tag values (a process tenant could set its request id) cannot end
    the line or add a tag of their own."""
    stream = Recorder()
    writer = logs.LogWriter("text", stream)
    writer.line("info", "muxserver.access", "GET / 200",
                {"tenant": "mole", "request_id": "r1\n2026 INFO x tenant=victim rid=f: GET /"})
    writer.flush()
    text = "".join(stream.writes)
    assert text.count("\n") == 1 and text.count(" tenant=") == 1, text
    assert "rid=r1\\n2026\\x20INFO" in text, text


# -- the tenant log's ring --------------------------------------------------------------


def test_a_tenants_log_ring_keeps_at_most_its_characters_newest_first(monkeypatch):
    """A thousand lines of 64 KB each were 64 MB of the serving process per
    tenant, outside any budget: the ring keeps the newest lines up to its
    characters (and its lines), whatever their sizes, and another tenant's
    ring is its own."""
    monkeypatch.setattr(logs, "writer", logs.LogWriter(stream=Recorder()))
    ring = logs.TenantLogs(lines=1000, chars=1024 * 1024)
    big = "x" * logs.MAX_TENANT_LINE
    for i in range(1000):
        ring.write("acme", f"r{i}", f"{i:04d}" + big[4:])
    ring.write("other", "o1", "small")
    kept = ring.tail("acme")
    assert sum(len(entry["line"]) for entry in kept) <= 1024 * 1024
    assert len(kept) == 16 and kept[-1]["request_id"] == "r999" and kept[0]["request_id"] == "r984"
    assert [entry["line"] for entry in ring.tail("other")] == ["small"]
    for i in range(1500):
        ring.write("acme", f"s{i}", "short")
    kept = ring.tail("acme")
    assert len(kept) == 1000 and kept[0]["request_id"] == "s500"


def test_a_line_longer_than_the_ring_is_kept_alone(monkeypatch):
    monkeypatch.setattr(logs, "writer", logs.LogWriter(stream=Recorder()))
    ring = logs.TenantLogs(lines=10, chars=100)
    ring.write("acme", "r1", "a" * 50)
    ring.write("acme", "r2", "b" * 500)
    assert [entry["request_id"] for entry in ring.tail("acme")] == ["r2"]
    ring.write("acme", "r3", "c" * 10)
    assert [entry["request_id"] for entry in ring.tail("acme")] == ["r3"]

"""Metrics: counters on the request path, summed across serving processes on scrape."""

import os

from muxserver.ops.metrics import Metrics


def test_status_totals_and_metrics_text_read_the_same_counters():
    metrics = Metrics()
    metrics.cold_starts.labels("acme").inc()
    metrics.cold_starts.labels("beta").inc()
    metrics.observe_request("acme", 200, 0.003)
    text = metrics.render().decode()
    assert metrics.total("mux_cold_starts") == 2
    assert 'mux_cold_starts_total{tenant="acme"} 1.0' in text
    assert 'mux_requests_total{status="200",tenant="acme"} 1.0' in text
    assert 'mux_request_duration_seconds_bucket{le="0.005",tenant="acme"} 1.0' in text


def test_workers_counters_sum_and_a_dead_workers_gauges_do_not():
    dead_pid = 2**22 + 12345
    dead = {"pid": dead_pid, "at": 0, "live": False,
            "counters": {"mux_requests": [[["acme", "200"], 5]]},
            "buckets": {"acme": [5] + [0] * 14 + [0.01]},
            "gauges": {"warm_modules": 7, "tenants": 1, "rss": 10}}
    worker = Metrics()
    worker.observe_request("acme", 200, 0.001)
    worker.warm_modules.set(2)
    supervisor = Metrics(snapshots=lambda: [worker.snapshot(), dead])
    text = supervisor.render().decode()
    assert 'mux_requests_total{status="200",tenant="acme"} 6.0' in text
    assert "mux_warm_modules 2.0" in text
    assert f'mux_process_rss_bytes{{pid="{os.getpid()}"}}' in text
    assert f'pid="{dead_pid}"' not in text
    assert supervisor.total("mux_requests") == 6


KNOWN = {"acme", "a"}


def test_a_snapshot_of_the_wrong_shape_is_not_believed():
    """What a serving process sends is checked in one place; every way a
    forged snapshot could break a later scrape is refused there."""
    import copy

    from muxserver.ops.metrics import checked_snapshot

    worker = Metrics()
    worker.observe_request("acme", 200, 0.002)
    worker.cold_starts.labels("acme").inc()
    good = worker.snapshot()
    assert checked_snapshot(good, KNOWN)["counters"]["mux_requests"] == [[["acme", "200"], 1]]

    def forged(change):
        snap = copy.deepcopy(good)
        change(snap)
        return snap

    bad = {
        "unknown counter": lambda s: s["counters"].update(mux_made_up=[[["a"], 1]]),
        "key too short": lambda s: s["counters"].update(mux_requests=[[["acme"], 1]]),
        "key too long": lambda s: s["counters"].update(mux_cold_starts=[[["a", "b"], 1]]),
        "label not text": lambda s: s["counters"].update(mux_cold_starts=[[[1], 1]]),
        "huge label": lambda s: s["counters"].update(mux_cold_starts=[[["a" * 5000], 1]]),
        "negative count": lambda s: s["counters"].update(mux_cold_starts=[[["a"], -1]]),
        "infinite count": lambda s: s["counters"].update(mux_cold_starts=[[["a"], float("inf")]]),
        "not a number": lambda s: s["counters"].update(mux_cold_starts=[[["a"], float("nan")]]),
        "boolean count": lambda s: s["counters"].update(mux_cold_starts=[[["a"], True]]),
        "empty bucket row": lambda s: s["buckets"].update(acme=[]),
        "short bucket row": lambda s: s["buckets"].update(acme=[1, 2, 3]),
        "text in a row": lambda s: s["buckets"].update(acme=["1"] * 16),
        "missing gauge": lambda s: s["gauges"].pop("rss"),
        "gauge not a number": lambda s: s["gauges"].update(rss="big"),
        "counters not a mapping": lambda s: s.update(counters=[1, 2]),
    }
    for name, change in bad.items():
        assert checked_snapshot(forged(change), KNOWN) is None, name
    assert checked_snapshot(None, KNOWN) is None
    assert checked_snapshot("snapshot", KNOWN) is None


def test_a_snapshot_names_only_tenants_the_supervisor_registered():
    """Rows and buckets of a tenant the supervisor never registered (or
    removed) are left out, the rest believed: the supervisor keeps what it
    is sent, so a breached process must not make it keep names without end."""
    from muxserver.ops.metrics import MAX_VALUES_PER_TENANT
    from muxserver.ops.metrics import checked_snapshot

    worker = Metrics()
    worker.observe_request("acme", 200, 0.002)
    worker.limit_kills.labels("-", "cpu").inc()
    for n in range(1000):
        worker.observe_request(f"ghost-{n}", 200, 0.002)
    checked = checked_snapshot(worker.snapshot(), {"acme"})
    assert checked["counters"]["mux_requests"] == [[["acme", "200"], 1]]
    assert checked["counters"]["mux_limit_kills"] == [[["-", "cpu"], 1]]
    assert list(checked["buckets"]) == ["acme"]
    # A tenant's rows are bounded, their labels from a closed set, and every
    # count kept; the rest of the snapshot (its heartbeat) is still believed.
    snapshot = worker.snapshot()
    snapshot["counters"]["mux_requests"] = [[["acme", str(n)], 1] for n in range(200, 1000)] + [
        [["acme", "200\nmux_requests_total 1"], 1], [["acme", "200"], 5]]
    checked = dict((key[1], value) for key, value in
                   checked_snapshot(snapshot, {"acme"})["counters"]["mux_requests"])
    assert len(checked) <= MAX_VALUES_PER_TENANT
    assert sum(checked.values()) == 806
    assert (checked["200"], checked["511"], checked["5xx"], checked["9xx"], checked["other"]) == (
        6, 1, 100 - 11, 100, 1)


def test_a_label_value_is_decided_by_the_value_alone():
    """Known values are kept, a status outside the registry under its class
    (``status=~"5.."`` still finds it), anything else under ``other``."""
    from muxserver.ops.metrics import label_value

    assert [label_value("mux_requests", s) for s in ("200", "418", "599", "299", "999")] == [
        "200", "418", "5xx", "2xx", "9xx"]
    assert [label_value("mux_requests", s) for s in ("099", "1000", "2OO", "", "٢٠٠")] == [
        "other"] * 5
    assert [label_value("mux_evictions", r) for r in ("idle", "deploy", "made up")] == [
        "idle", "deploy", "other"]
    assert label_value("mux_limit_kills", "wall") == "wall"


def test_this_processs_code_names_only_declared_reasons_and_kinds():
    """A reason or kind the code names outside ``LABEL_VALUES`` fails where
    it is named, not silently as ``other`` on the supervisor's page; every
    kind a budget stops a request for is declared."""
    import pytest

    from muxserver.ops.metrics import LABEL_VALUES
    from sandbox.limits import LimitExceeded

    metrics = Metrics()
    metrics.evictions.labels("t", "idle").inc()
    with pytest.raises(ValueError, match="add it to ops/metrics.LABEL_VALUES"):
        metrics.evictions.labels("t", "tired")
    assert set(LimitExceeded.STATUS) <= LABEL_VALUES["mux_limit_kills"]
    with pytest.raises(ValueError):
        metrics.limit_kills.labels("t", "storage")


def test_an_ended_process_cannot_push_out_anothers_counts():
    """The sum of ended processes keeps every count under its own labels,
    whatever values an earlier (breached) process named first."""
    from muxserver.ops.metrics import add_snapshot
    from muxserver.ops.metrics import checked_snapshot

    breached = Metrics().snapshot()
    breached["counters"]["mux_requests"] = [[["acme", f"{n:03d}"], 1] for n in range(1000)]
    honest = Metrics()
    for _ in range(10):
        honest.observe_request("acme", 200, 0.002)
    total = add_snapshot(None, checked_snapshot(breached, {"acme"}))
    total = add_snapshot(total, checked_snapshot(honest.snapshot(), {"acme"}))
    supervisor = Metrics(snapshots=lambda: [total])
    assert supervisor.merged("mux_requests")[("acme", "200")] == 11
    assert supervisor.total("mux_requests") == 1010


def test_ended_processes_add_no_values_past_the_bound():
    """Each ended process may bring other values (a breached one: made-up
    statuses); their sum keeps the bound a snapshot has."""
    from muxserver.ops.metrics import MAX_VALUES_PER_TENANT
    from muxserver.ops.metrics import add_snapshot
    from muxserver.ops.metrics import checked_snapshot

    total = None
    for n in range(10):
        worker = Metrics()
        for status in range(100 + 64 * n, 100 + 64 * (n + 1)):
            worker.observe_request("acme", status, 0.002)
        total = add_snapshot(total, checked_snapshot(worker.snapshot(), {"acme"}))
    assert len(total["counters"]["mux_requests"]) <= MAX_VALUES_PER_TENANT
    assert sum(value for _, value in total["counters"]["mux_requests"]) == 640


def test_ended_processes_are_kept_as_one_sum():
    from muxserver.ops.metrics import add_snapshot
    from muxserver.ops.metrics import checked_snapshot

    total = None
    for _ in range(1000):
        worker = Metrics()
        worker.observe_request("acme", 200, 0.002)
        total = add_snapshot(total, checked_snapshot(worker.snapshot(), {"acme"}))
    supervisor = Metrics(snapshots=lambda: [total])
    assert supervisor.total("mux_requests") == 1000
    assert 'mux_request_duration_seconds_count{tenant="acme"} 1000.0' in supervisor.render().decode()


def test_a_count_too_large_to_add_up_is_not_believed():
    """A breached process's counts past :data:`MAX_COUNT` (JSON reads
    ``10**400`` written as digits as an int) are refused in the check, which
    does not raise; counts within it added up over every process that ever
    ended still render: two of ``10**308`` made an int no float holds, and
    ``/_mux/metrics`` raised OverflowError on every scrape for good."""
    import json

    from muxserver.ops.metrics import MAX_COUNT
    from muxserver.ops.metrics import add_snapshot
    from muxserver.ops.metrics import checked_snapshot

    def sent(*rows):
        snapshot = Metrics().snapshot()
        snapshot["counters"]["mux_requests"] = [[["acme", status], n] for status, n in rows]
        return json.loads(json.dumps(snapshot))  # as the channel reads it

    for huge in (10**400, 10**308, MAX_COUNT + 1):
        assert checked_snapshot(sent(("200", huge)), {"acme"}) is None, huge
    # Two rows kept under one label (299 and 298 are 2xx) sum within range.
    assert checked_snapshot(sent(("299", 10**308), ("298", 10**308)), {"acme"}) is None
    total = None
    for _ in range(3):
        total = add_snapshot(total, checked_snapshot(sent(("200", MAX_COUNT)), {"acme"}))
    assert 'mux_requests_total{status="200",tenant="acme"} 2.7021597764222976e+16' in \
        Metrics(snapshots=lambda: [total]).render().decode()

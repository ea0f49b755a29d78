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

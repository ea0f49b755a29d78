"""Prometheus metrics: counters the app updates, text for ``/_mux/metrics``.

Observes, never logs. Label sets are created on first use, so 10,000
registered tenants cost nothing until they serve.
"""

from __future__ import annotations

from bisect import bisect_left

from prometheus_client import CollectorRegistry
from prometheus_client import Counter
from prometheus_client import Gauge
from prometheus_client import generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.core import HistogramMetricFamily

from sandbox.limits import rss_bytes

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class _RequestStats:
    """Per-tenant request counts and latency buckets as plain numbers.

    prometheus-client takes a lock per update; on the request path that is
    three locks a request. These are plain dict and list updates, turned
    into metric families only when ``/_mux/metrics`` is scraped.
    """

    def __init__(self):
        self.counts: dict[tuple[str, int], int] = {}
        self.buckets: dict[str, list] = {}  # tenant -> [counts per bucket..., sum]

    def observe(self, tenant: str, status: int, seconds: float) -> None:
        key = (tenant, status)
        self.counts[key] = self.counts.get(key, 0) + 1
        row = self.buckets.get(tenant)
        if row is None:
            row = self.buckets[tenant] = [0] * (len(_BUCKETS) + 1) + [0.0]
        row[bisect_left(_BUCKETS, seconds)] += 1
        row[-1] += seconds

    def collect(self):
        requests = CounterMetricFamily(
            "mux_requests", "Requests answered, by tenant and status", labels=["tenant", "status"]
        )
        for (tenant, status), count in sorted(self.counts.items()):
            requests.add_metric([tenant, str(status)], count)
        yield requests
        latency = HistogramMetricFamily(
            "mux_request_duration_seconds", "Time to answer a request, by tenant", labels=["tenant"]
        )
        for tenant, row in sorted(self.buckets.items()):
            cumulative, buckets = 0, []
            for bound, count in zip(_BUCKETS + (float("inf"),), row[:-1]):
                cumulative += count
                buckets.append((str(bound) if bound != float("inf") else "+Inf", cumulative))
            latency.add_metric([tenant], buckets, row[-1])
        yield latency


class Metrics:
    """The server's metrics in their own registry."""

    def __init__(self):
        self.registry = CollectorRegistry()
        r = self.registry
        self.request_stats = _RequestStats()
        r.register(self.request_stats)
        self.cold_starts = Counter(
            "mux_cold_starts", "Modules loaded on demand, by tenant", ["tenant"], registry=r
        )
        self.evictions = Counter(
            "mux_evictions", "Modules evicted, by tenant and reason", ["tenant", "reason"], registry=r
        )
        self.limit_kills = Counter(
            "mux_limit_kills", "Requests stopped by a limit, by tenant and kind", ["tenant", "kind"],
            registry=r,
        )
        self.warm_modules = Gauge("mux_warm_modules", "Modules loaded now", registry=r)
        self.tenants = Gauge("mux_tenants", "Tenants registered", registry=r)
        self.rss = Gauge("mux_process_rss_bytes", "Resident memory of this process", registry=r)
        self.rss.set_function(rss_bytes)
        self.observe_request = self.request_stats.observe

    def render(self) -> bytes:
        return generate_latest(self.registry)

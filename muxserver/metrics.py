"""Prometheus metrics: counters the app updates, text for ``/_mux/metrics``.

Observes, never logs. Label sets are created on first use, so 10,000
registered tenants cost nothing until they serve.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry
from prometheus_client import Counter
from prometheus_client import Gauge
from prometheus_client import Histogram
from prometheus_client import generate_latest

from sandbox.limits import rss_bytes

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """The server's metrics in their own registry."""

    def __init__(self):
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "mux_requests", "Requests answered, by tenant and status", ["tenant", "status"], registry=r
        )
        self.latency = Histogram(
            "mux_request_duration_seconds", "Time to answer a request, by tenant", ["tenant"],
            buckets=_BUCKETS, registry=r,
        )
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
        self._request_children: dict = {}

    def observe_request(self, tenant: str, status: int, seconds: float) -> None:
        key = (tenant, status)
        child = self._request_children.get(key)
        if child is None:
            child = self._request_children[key] = (
                self.requests.labels(tenant, str(status)),
                self.latency.labels(tenant),
            )
        child[0].inc()
        child[1].observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)

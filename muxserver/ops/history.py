"""The last minutes of the server, for the console's charts and rates.

Every :data:`SAMPLE_S` seconds :class:`History` keeps one sample — time,
RSS, warm modules, and per tenant its request count and latency buckets
(summed over every worker's metrics snapshot) — for the last
:data:`KEEP_SAMPLES`. Rates and percentiles are then differences between
two samples: what happened in the window, not since start. It costs one
snapshot merge per sample, none per request.
"""

from __future__ import annotations

import time
from collections import deque

import gevent

from muxserver.ops.metrics import BUCKETS

SAMPLE_S = 5.0
KEEP_SAMPLES = 120  # ten minutes


def merged(metrics) -> dict:
    """``{"requests": {tenant: n}, "errors": {tenant: n of them 5xx},
    "buckets": {tenant: [...]}, "rss", "warm"}`` over every process's snapshot."""
    requests: dict[str, float] = {}
    errors: dict[str, float] = {}
    buckets: dict[str, list] = {}
    rss = warm = 0.0
    for snap in metrics._snapshots():
        for (tenant, status), count in snap["counters"].get("mux_requests", []):
            requests[tenant] = requests.get(tenant, 0) + count
            if str(status).startswith("5"):
                errors[tenant] = errors.get(tenant, 0) + count
        for tenant, row in snap["buckets"].items():
            have = buckets.setdefault(tenant, [0] * len(row))
            for i, value in enumerate(row):
                have[i] += value
        if snap.get("live", True):
            rss += snap["gauges"]["rss"]
            warm += snap["gauges"]["warm_modules"]
    return {"requests": requests, "errors": errors, "buckets": buckets, "rss": rss, "warm": warm}


def percentile(buckets: list, q: float) -> float | None:
    """The upper bound (ms) of the bucket holding the ``q`` quantile."""
    counts = buckets[:-1]
    total = sum(counts)
    if total <= 0:
        return None
    rank = q * total
    seen = 0
    for i, count in enumerate(counts):
        seen += count
        if seen >= rank:
            bound = BUCKETS[i] if i < len(BUCKETS) else BUCKETS[-1] * 2
            return round(bound * 1000, 1)
    return None


class History:
    """Samples of the server over the last minutes."""

    def __init__(self, control):
        self.app = control
        self.samples: deque = deque(maxlen=KEEP_SAMPLES)
        self._greenlet = None

    def sample(self) -> dict:
        data = merged(self.app.metrics)
        data["t"] = time.time()
        self.samples.append(data)
        return data

    def window(self, seconds: float = 60.0) -> tuple[dict | None, dict]:
        """``(older, now)``: a sample about ``seconds`` ago and a fresh one."""
        now = merged(self.app.metrics)
        now["t"] = time.time()
        older = None
        for sample in self.samples:
            if now["t"] - sample["t"] <= seconds + SAMPLE_S:
                older = sample
                break
        return older, now

    def series(self, now: dict | None = None) -> list[dict]:
        """``[{t, rss_mb, warm, rps}]`` for the charts, ending with ``now``
        (a fresh :func:`merged` sample) when given."""
        out = []
        previous = None
        for sample in [*self.samples, *([now] if now is not None else [])]:
            total = sum(sample["requests"].values())
            rps = None
            if previous is not None and sample["t"] > previous[0]:
                rps = round((total - previous[1]) / (sample["t"] - previous[0]), 2)
            out.append({"t": round(sample["t"], 1), "rss_mb": round(sample["rss"] / 2**20, 1),
                        "warm": sample["warm"], "rps": rps})
            previous = (sample["t"], total)
        return out

    def run(self) -> None:
        while True:
            try:
                self.sample()
            except Exception:  # a bad snapshot file must not stop the charts
                pass
            gevent.sleep(SAMPLE_S)

    def start(self) -> "History":
        self._greenlet = gevent.spawn(self.run)
        return self

    def stop(self) -> None:
        if self._greenlet is not None:
            self._greenlet.kill()

"""Prometheus metrics: plain counters on the request path, text on scrape.

Observes, never logs. Updates are dict increments (prometheus-client's
metric objects take a lock per update); the families are built when
``/_mux/metrics`` is scraped, with prometheus-client's exposition code.

Each serving process keeps its own numbers and sends a snapshot of them to
the supervisor every second (:mod:`muxserver.supervisor.pool`), cut by
tenant into parts that each fit a channel message (:func:`split_snapshot`;
the supervisor puts them together again: :class:`ProcessSnapshot`); the
supervisor's :class:`Metrics` is built over those snapshots (``snapshots``)
and a scrape sums the counters of every snapshot — a dead process's requests
still happened — and reports the gauges of live processes only. Serving
processes never write what the supervisor reports.
"""

from __future__ import annotations

import os
import re
import time
from bisect import bisect_left

from prometheus_client import CollectorRegistry
from prometheus_client import generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.core import HistogramMetricFamily

from sandbox.limits import LimitExceeded
from sandbox.limits import rss_bytes

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

#: Counter name -> (help, label names)
COUNTERS = {
    "mux_requests": ("Requests answered, by tenant and status", ("tenant", "status")),
    "mux_cold_starts": ("Modules loaded on demand, by tenant", ("tenant",)),
    "mux_evictions": ("Modules evicted, by tenant and reason", ("tenant", "reason")),
    "mux_limit_kills": ("Requests stopped by a limit, by tenant and kind", ("tenant", "kind")),
    "mux_egress_connections": ("Outbound connections through the egress proxy, by tenant and "
                               "outcome (allowed, refused)", ("tenant", "outcome")),
    "mux_egress_bytes": ("Bytes through the egress proxy, by tenant and direction (out, in)",
                         ("tenant", "direction")),
}


#: Characters of one label value a snapshot may carry (tenant names are 63).
MAX_LABEL_CHARS = 200
#: The value a count is kept under when its own is none a counter knows.
OTHER = "other"
#: The statuses counted under their own value: the registered ones (IANA's
#: registry, as Python's ``http.HTTPStatus`` knows it). Any other status
#: (tenant code may answer 100 to 999) is counted under its class: ``2xx``.
KNOWN_STATUSES = (
    100, 101, 102, 103,
    200, 201, 202, 203, 204, 205, 206, 207, 208, 226,
    300, 301, 302, 303, 304, 305, 307, 308,
    400, 401, 402, 403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415, 416, 417,
    418, 421, 422, 423, 424, 425, 426, 428, 429, 431, 451,
    500, 501, 502, 503, 504, 505, 506, 507, 508, 510, 511,
)
_STATUS = re.compile(r"[1-9][0-9][0-9]\Z")
#: Counter name -> the values its other label (status, reason, kind...)
#: is kept under: a closed set, each with :data:`OTHER`.
LABEL_VALUES = {
    "mux_requests": (*map(str, KNOWN_STATUSES), *(f"{n}xx" for n in range(1, 10))),
    "mux_evictions": ("admin", "idle", "memory", "deploy", "removed"),
    "mux_limit_kills": tuple(LimitExceeded.STATUS),  # the kinds a budget can stop a request for
    "mux_egress_connections": ("allowed", "refused"),
    "mux_egress_bytes": ("out", "in"),
}
LABEL_VALUES = {name: frozenset(values) | {OTHER} for name, values in LABEL_VALUES.items()}
#: Values of a counter's other label one tenant's rows may carry, whatever
#: the rows a serving process sends: the largest of :data:`LABEL_VALUES`.
MAX_VALUES_PER_TENANT = max(len(values) for values in LABEL_VALUES.values())
#: Each known value to this module's own string of it: what the supervisor
#: keeps is one object per value, not one per row a serving process sent.
_CANONICAL = {name: {value: value for value in values} for name, values in LABEL_VALUES.items()}
#: The tenant label of what belongs to no tenant (a limit before routing).
NO_TENANT = "-"


def label_value(counter: str, value: str) -> str:
    """The value a count of ``counter`` labelled ``value`` (its label after
    the tenant) is kept under by the supervisor: ``value`` if the counter
    knows it (:data:`LABEL_VALUES`), else a status's class (``599`` ->
    ``5xx``, which ``status=~"5.."`` still matches), else :data:`OTHER`.

    Decided by the value alone, never by the rows that came before: so no
    process's rows can make the supervisor drop or relabel another's (a
    first-come bound did: a breached process's 64 made-up statuses for a
    tenant crowded out the other processes' 200s from the sum of ended
    processes), and what it keeps per tenant and counter is bounded by
    construction (:data:`MAX_VALUES_PER_TENANT`). The limit: a status or
    reason outside the set is counted, under a coarser name.
    """
    kept = _CANONICAL[counter].get(value)
    if kept is not None:
        return kept
    if counter == "mux_requests" and _STATUS.match(value):
        return _CANONICAL[counter][value[0] + "xx"]
    return OTHER


#: The largest count a serving process may report (2**53: every whole
#: number up to it is exact as a float). No honest count comes near it; the
#: supervisor adds counts up (over processes, over every process that ever
#: ended) and renders them as floats, so an int past a float's range (JSON
#: reads ``1e400`` written as digits as an int) or a sum of two near it
#: would raise OverflowError there: in the check itself, or on every
#: scrape of ``/_mux/metrics`` for good once an ended process's is kept.
MAX_COUNT = 2**53


def is_count(value) -> bool:
    """A count a serving process may report: a number from 0 to
    :data:`MAX_COUNT` (the supervisor sums each over every process: a
    negative one would cancel the others', an infinite or huge one would
    leave no sum). Never raises, whatever ``value`` is."""
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and 0 <= value <= MAX_COUNT)


def checked_snapshot(snapshot, tenants) -> dict | None:
    """``snapshot`` as the supervisor will read it, or None if it is not of
    that shape (it comes from a serving process, which runs tenant code: the
    one place that decides what of it is believed). Known counters only,
    each key one string per label, every number finite and non-negative,
    every bucket row ``len(BUCKETS) + 2`` long.

    The checked snapshot names the tenants it carries (``"tenants"``: those
    of its rows and buckets the supervisor registered, and ``-``): it may
    be one part of a process's snapshot (:class:`ProcessSnapshot`).

    :param tenants: the names the supervisor registered (a container). A
        row or bucket of any other tenant is left out, and a row's other
        labels are kept under :func:`label_value` (rows that come to the
        same are added up): the supervisor keeps what it is sent (an ended
        process's snapshot for good), so what a serving process may name
        must be what the supervisor gave out or knows, not whatever it
        makes up. A tenant removed since is left out too (its series end,
        as they would on a restart).

    .. warning::
       The numbers are the serving process's word: a breached one can
       inflate or deflate the counts of its own tenants (every tenant it
       serves). What this bounds is what the supervisor holds and renders:
       the registered tenants times :data:`MAX_VALUES_PER_TENANT` per counter.
    """
    try:
        counters, named = {}, set()
        for name, rows in snapshot["counters"].items():
            if name not in COUNTERS:
                return None
            width = len(COUNTERS[name][1])
            kept: dict[tuple, float] = {}
            for key, value in rows:
                if (len(key) != width or not is_count(value)
                        or not all(isinstance(k, str) and len(k) <= MAX_LABEL_CHARS for k in key)):
                    return None
                tenant = key[0]
                if tenant != NO_TENANT and tenant not in tenants:
                    continue
                named.add(tenant)
                # Kept, never dropped: a tenant answering 800 distinct
                # statuses has them counted (and its process not refused
                # its heartbeat, nor killed as stuck).
                key = (tenant, *(label_value(name, k) for k in key[1:]))
                kept[key] = kept.get(key, 0) + value  # finite: rows are few, each <= MAX_COUNT
            counters[name] = [[list(key), value] for key, value in kept.items()]
        buckets = {}
        for tenant, row in snapshot["buckets"].items():
            if (not isinstance(tenant, str) or len(tenant) > MAX_LABEL_CHARS
                    or len(row) != len(BUCKETS) + 2 or not all(is_count(v) for v in row)):
                return None
            if tenant in tenants:
                buckets[tenant] = list(row)
                named.add(tenant)
        gauges = {k: snapshot["gauges"][k] for k in ("rss", "warm_modules", "tenants")}
        if not all(is_count(v) for v in gauges.values()):
            return None
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    return {"at": time.time(), "counters": counters, "buckets": buckets, "gauges": gauges,
            "tenants": sorted(named)}


def split_snapshot(snapshot: dict, parts: int) -> list[dict]:
    """``snapshot`` cut by tenant into ``parts`` snapshots (fewer if it has
    fewer tenants), each with every row and bucket of the tenants it
    carries and the process-wide gauges. Counts are cumulative, so each
    part stands on its own: the supervisor replaces the rows of the tenants
    a part carries (:class:`ProcessSnapshot`), in whatever order parts come.
    """
    names = sorted({key[0] for rows in snapshot["counters"].values() for key, _ in rows}
                   | set(snapshot["buckets"]))
    parts = max(1, min(parts, len(names)))
    if parts == 1:
        return [snapshot]
    part_of = {name: i * parts // len(names) for i, name in enumerate(names)}
    pieces = [snapshot | {"counters": {counter: [] for counter in snapshot["counters"]},
                          "buckets": {}} for _ in range(parts)]
    for counter, rows in snapshot["counters"].items():
        for row in rows:
            pieces[part_of[row[0][0]]]["counters"][counter].append(row)
    for tenant, row in snapshot["buckets"].items():
        pieces[part_of[tenant]]["buckets"][tenant] = row
    return pieces


class ProcessSnapshot:
    """The latest metrics of one serving process, put together from the
    parts it sends them in (:func:`split_snapshot`).

    Each part, checked (:func:`checked_snapshot`), carries every row of the
    tenants it names, with cumulative counts, and the process's gauges: it
    replaces what was kept for those tenants. Parts may come in any order,
    and again; what is kept stays within what a checked snapshot may hold
    (registered tenants, :data:`MAX_VALUES_PER_TENANT` values each per
    counter), whatever parts a breached process sends. Each process's rows
    are kept apart (a scrape adds them up): no process's can push out
    another's.

    :param pid: the process's pid (the supervisor's knowledge, not its word).
    """

    def __init__(self, pid: int):
        self.pid = pid
        self._tenants: dict[str, dict] = {}
        self._gauges: dict = {}
        self._at = 0.0
        self._whole: dict | None = None

    def take(self, part: dict) -> None:
        """Keep a checked part."""
        for tenant in part["tenants"]:
            self._tenants[tenant] = {"counters": {}, "bucket": None}
        for name, rows in part["counters"].items():
            for key, value in rows:
                self._tenants[key[0]]["counters"].setdefault(name, []).append([key, value])
        for tenant, row in part["buckets"].items():
            self._tenants[tenant]["bucket"] = row
        self._gauges = part["gauges"]
        self._at = part["at"]
        self._whole = None

    def whole(self, tenants) -> dict:
        """Every tenant's rows as one snapshot (what :class:`Metrics` reads).

        :param tenants: the names the supervisor registers now: the rows of
            a tenant removed since are left out, and forgotten.
        """
        if self._whole is None:
            for gone in [t for t in self._tenants if t != NO_TENANT and t not in tenants]:
                del self._tenants[gone]
            counters: dict[str, list] = {}
            buckets = {}
            for tenant, kept in self._tenants.items():
                for name, rows in kept["counters"].items():
                    counters.setdefault(name, []).extend(rows)
                if kept["bucket"] is not None:
                    buckets[tenant] = kept["bucket"]
            self._whole = {"pid": self.pid, "at": self._at, "counters": counters,
                           "buckets": buckets, "gauges": self._gauges}
        return self._whole


def add_snapshot(total: dict | None, snapshot: dict) -> dict:
    """``total`` with the counters and buckets of ``snapshot`` (a checked
    one: :func:`checked_snapshot`) added: what the supervisor keeps of ended
    processes (one snapshot, whatever the number of processes that ended).

    Every count is added under its own labels: what one ended process
    named cannot push out another's. The sum is bounded as each checked
    snapshot is: the tenants registered (then) times
    :data:`MAX_VALUES_PER_TENANT` per counter.
    """
    if total is None:
        total = {"pid": 0, "live": False, "counters": {}, "buckets": {}}
    for name, rows in snapshot["counters"].items():
        merged = {tuple(k): v for k, v in total["counters"].get(name, [])}
        for key, value in rows:
            merged[tuple(key)] = merged.get(tuple(key), 0) + value
        total["counters"][name] = [[list(k), v] for k, v in merged.items()]
    for tenant, row in snapshot["buckets"].items():
        old = total["buckets"].get(tenant)
        total["buckets"][tenant] = list(row) if old is None else [a + b for a, b in zip(old, row)]
    return total


class _Counter:
    """A labelled counter as a dict; ``labels(...).inc()`` like prometheus.

    :param declared: the values its label after the tenant may take (this
        process's own code names them): one outside is a ``ValueError`` here,
        where the code that names it runs, rather than a count the supervisor
        keeps under ``other`` (:func:`label_value`) without a word.
    """

    def __init__(self, values: dict, declared: frozenset | None = None):
        self._values = values
        self._declared = declared

    def labels(self, *labels):
        key = tuple(map(str, labels))
        if self._declared is not None and key[1] not in self._declared:
            raise ValueError(f"{key[1]!r} is not a declared label value ({sorted(self._declared)}): "
                             f"add it to ops/metrics.LABEL_VALUES")
        return _Child(self._values, key)


class _Child:
    __slots__ = ("_values", "_key")

    def __init__(self, values, key):
        self._values = values
        self._key = key

    def inc(self, amount: float = 1) -> None:
        self._values[self._key] = self._values.get(self._key, 0) + amount


class _Gauge:
    def __init__(self):
        self.value = 0.0

    def set(self, value: float) -> None:
        self.value = value

    def inc(self, amount: float = 1) -> None:
        self.value += amount

    def dec(self, amount: float = 1) -> None:
        self.value -= amount


class Metrics:
    """One process' metrics, or (with ``snapshots``) the merge of many.

    :param snapshots: returns the snapshots to report (the supervisor's view
        of its serving processes); None: this process's own numbers.
    :param registered: returns the number of tenants registered, where the
        reporter knows it (the control plane's registry): ``mux_tenants`` is
        then that, not the largest a snapshot claims (a breached serving
        process's would stand for every process's).
    """

    def __init__(self, snapshots=None, registered=None):
        self.counters: dict[str, dict] = {name: {} for name in COUNTERS}
        self.buckets: dict[str, list] = {}
        self.cold_starts = _Counter(self.counters["mux_cold_starts"])
        self.evictions = _Counter(self.counters["mux_evictions"], LABEL_VALUES["mux_evictions"] - {OTHER})
        self.limit_kills = _Counter(self.counters["mux_limit_kills"], LABEL_VALUES["mux_limit_kills"] - {OTHER})
        self.warm_modules = _Gauge()
        self.tenants = _Gauge()
        self._source = snapshots
        self._registered = registered
        self._registry = CollectorRegistry()
        self._registry.register(self)

    def observe_request(self, tenant: str, status: int, seconds: float) -> None:
        values = self.counters["mux_requests"]
        key = (tenant, str(status))
        values[key] = values.get(key, 0) + 1
        row = self.buckets.get(tenant)
        if row is None:
            row = self.buckets[tenant] = [0] * (len(BUCKETS) + 1) + [0.0]
        row[bisect_left(BUCKETS, seconds)] += 1
        row[-1] += seconds

    def total(self, counter: str) -> float:
        """The total of one counter over all its labels (what ``/_mux/status``
        shows: the same numbers as ``/_mux/metrics``)."""
        return sum(self.merged(counter).values())

    def merged(self, counter: str) -> dict[tuple, float]:
        """One counter by labels, summed over every snapshot reported."""
        merged: dict[tuple, float] = {}
        for snap in self._snapshots():
            for key, value in snap["counters"].get(counter, []):
                merged[tuple(key)] = merged.get(tuple(key), 0) + value
        return merged

    # -- snapshots -----------------------------------------------------------

    def snapshot(self) -> dict:
        return {
            "pid": os.getpid(),
            "at": time.time(),
            "counters": {name: [[list(k), v] for k, v in values.items()]
                         for name, values in self.counters.items()},
            "buckets": self.buckets,
            "gauges": {"warm_modules": self.warm_modules.value, "tenants": self.tenants.value,
                       "rss": rss_bytes()},
        }

    def _snapshots(self) -> list[dict]:
        if self._source is None:
            return [self.snapshot()]
        return self._source()

    # -- exposition ------------------------------------------------------------

    def collect(self):
        snapshots = self._snapshots()
        for name, (help_text, labels) in COUNTERS.items():
            family = CounterMetricFamily(name, help_text, labels=list(labels))
            merged: dict[tuple, float] = {}
            for snap in snapshots:
                for key, value in snap["counters"].get(name, []):
                    merged[tuple(key)] = merged.get(tuple(key), 0) + value
            for key, value in sorted(merged.items()):
                family.add_metric(list(key), value)
            yield family
        latency = HistogramMetricFamily(
            "mux_request_duration_seconds", "Time to answer a request, by tenant", labels=["tenant"]
        )
        rows: dict[str, list] = {}
        for snap in snapshots:
            for tenant, row in snap["buckets"].items():
                if tenant in rows:
                    rows[tenant] = [a + b for a, b in zip(rows[tenant], row)]
                else:
                    rows[tenant] = list(row)
        for tenant, row in sorted(rows.items()):
            cumulative, buckets = 0, []
            for bound, count in zip(BUCKETS + (float("inf"),), row[:-1]):
                cumulative += count
                buckets.append(("+Inf" if bound == float("inf") else str(bound), cumulative))
            latency.add_metric([tenant], buckets, row[-1])
        yield latency
        live = [s for s in snapshots if s.get("live", True)]
        warm = GaugeMetricFamily("mux_warm_modules", "Modules loaded now, all workers")
        warm.add_metric([], sum(s["gauges"]["warm_modules"] for s in live))
        yield warm
        tenants = GaugeMetricFamily("mux_tenants", "Tenants registered")
        tenants.add_metric([], self._registered() if self._registered is not None
                           else max((s["gauges"]["tenants"] for s in live), default=0))
        yield tenants
        rss = GaugeMetricFamily("mux_process_rss_bytes", "Resident memory per process", labels=["pid"])
        for snap in live:
            rss.add_metric([str(snap["pid"])], snap["gauges"]["rss"])
        yield rss

    def render(self) -> bytes:
        return generate_latest(self._registry)

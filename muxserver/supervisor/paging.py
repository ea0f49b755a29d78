"""What grows with a serving process's tenants, asked for in pages.

A serving process's status (its warm modules, its tenants in use, limit
kills, process tenants' processes) grows with its tenants, and a tenant's
log tail can be a few MB once escaped: more than one channel message may
carry (:data:`~muxserver.supervisor.channel.MAX_UNTRUSTED_BYTES`). So the
supervisor asks for them a page at a time, each page a message that fits,
each from where the last one ended, until the serving process says there
is no more. Nothing is left out of what the admin API shows.

Both sides of that exchange are here. The serving side cuts pages
(:func:`status_page`, :func:`log_page`); the supervisor reads them
(:class:`StatusReader`, :class:`LogReader`), believing of a breached
process's pages no more than a whole answer could hold:

* a status entry has a key — ``(tenant, list, id)`` — and pages move
  forward by key, and a page's repeats of a key are dropped, so no entry is
  believed twice; an entry is believed only
  for a tenant the supervisor registered (a warm module: of an endpoint that
  tenant has; a limit kill: also ``-``), at most :data:`MAX_ENTRIES_PER_TENANT`
  limit kills and processes per tenant, with the fields the supervisor shows;
  the process's pid, and its warm modules', are the supervisor's knowledge;
* a log page moves back in time (line numbers fall), its lines plausible
  (none dated after the supervisor asked: one machine, one clock) and cut
  as the serving process cuts them, at most a full tail in all;
* a page that promises more but adds nothing believed ends the reading.

So what the supervisor keeps of a status is bounded by what it registered,
however many pages come; the caller bounds the time they take.
"""

from __future__ import annotations

import math
import time
from bisect import bisect_right

from muxserver.ops import serverjson
from muxserver.ops.logs import MAX_TENANT_LINE
from muxserver.ops.logs import TENANT_LOG_CHARS
from muxserver.ops.logs import TENANT_LOG_LINES
from muxserver.ops.metrics import NO_TENANT
from muxserver.supervisor.channel import MAX_UNTRUSTED_BYTES

#: Bytes of a page: a message's bound, less room for the answer's envelope.
PAGE_BYTES = MAX_UNTRUSTED_BYTES - 1024
#: The lists of a status that grow with tenants (``tenants`` is a mapping).
STATUS_LISTS = ("tenants", "warm_modules", "limit_kills", "tenant_processes")
#: Limit kills (one per kind) and processes a status may show per tenant:
#: a server has a few kinds, and a few processes per tenant version.
MAX_ENTRIES_PER_TENANT = 16
#: The fields of a status entry the supervisor shows, by list.
_FIELDS = {
    "warm_modules": ("tenant", "endpoint", "loaded_at", "last_used", "idle_s", "hits", "load_ms",
                     "pid"),
    "limit_kills": ("tenant", "kind", "count"),
    "tenant_processes": ("tenant", "pid", "busy", "frozen", "requests", "idle_s", "started_s_ago",
                         "isolation"),
}
#: Encoded bytes of one field's value: a number, a flag, a short record.
_MAX_FIELD_BYTES = 4096
#: Seconds a log line's time may be past the supervisor's clock when it
#: reads the line: the serving process wrote it earlier, on the same machine.
LINE_CLOCK_SLACK_S = 1.0
#: Characters of one line of a tail (the serving process cuts longer ones).
_MAX_LINE_CHARS = MAX_TENANT_LINE + len("...(cut)")


def _encoded(value) -> int:
    return len(serverjson.dumps(value))


def _key(kind: str, entry) -> tuple:
    """An entry's place in a status: its tenant, its list, its id."""
    if kind == "tenants":
        name, _ = entry
        return (name, "", "")
    if kind == "warm_modules":
        return (entry["tenant"], "m", entry["endpoint"])
    if kind == "limit_kills":
        return (entry["tenant"], "k", entry["kind"])
    return (entry["tenant"], "p", str(entry["pid"]))


def _entries(status: dict) -> list[tuple]:
    entries = [(_key("tenants", item), "tenants", item) for item in status["tenants"].items()]
    for kind in STATUS_LISTS[1:]:
        entries.extend((_key(kind, entry), kind, entry) for entry in status[kind])
    entries.sort(key=lambda e: e[0])
    return entries


def _empty_page(status: dict) -> dict:
    page = {k: v for k, v in status.items() if k not in STATUS_LISTS}
    return page | {"tenants": {}, "warm_modules": [], "limit_kills": [], "tenant_processes": [],
                   "next": None}


def status_page(status: dict, after=None, max_bytes: int = PAGE_BYTES) -> dict:
    """One page of a serving process's ``status`` (the whole of it, as
    :meth:`~muxserver.app.MuxApp.process_status` gives it): its
    process-wide fields, and its entries after the key ``after`` (None: from
    the first), as many as fit in ``max_bytes`` (one at least); ``next`` is
    the key of the last one, or None on the last page."""
    entries = _entries(status)
    start = bisect_right([key for key, _, _ in entries], tuple(after)) if after else 0
    page = _empty_page(status)
    used = _encoded(page)
    for i in range(start, len(entries)):
        key, kind, entry = entries[i]
        used += _encoded(entry) + 2
        if used > max_bytes and i > start:
            page["next"] = list(entries[i - 1][0])
            break
        if kind == "tenants":
            page["tenants"][entry[0]] = entry[1]
        else:
            page[kind].append(entry)
    return page


def _field(value) -> bool:
    return (value is None or isinstance(value, (bool, int, float, str, dict, list))
            and _encoded(value) <= _MAX_FIELD_BYTES)


class StatusReader:
    """A serving process's status, from the pages the supervisor asks for.

    :param tenants: the supervisor's registered tenants (name -> state).
    :param pid: the serving process's pid (the supervisor started it): the
        status shows this one, whatever its pages say.
    """

    def __init__(self, tenants, pid: int):
        self._tenants = tenants
        self.pid = pid
        #: The status read so far (None before the first page).
        self.status: dict | None = None
        #: The key the next page starts after.
        self.after: tuple | None = None
        self._counts: dict[tuple, int] = {}

    def take(self, page: dict) -> bool:
        """Add a page, shape-checked (:func:`~muxserver.supervisor.pool.checked_status`);
        True when there is another to ask for.

        :raises ValueError: the page does not move forward, or adds nothing.
        """
        upper = page.get("next")
        if upper is not None:
            if not (isinstance(upper, list) and len(upper) == 3
                    and all(isinstance(k, str) for k in upper)):
                raise ValueError("a status page with a cursor of another shape")
            upper = tuple(upper)
            if self.after is not None and upper <= self.after:
                raise ValueError("a status page that does not move forward")
        if self.status is None:
            self.status = _empty_page(page) | {"pid": self.pid}
            del self.status["next"]
        added, seen = 0, set()
        for kind in STATUS_LISTS:
            items = page[kind].items() if kind == "tenants" else page[kind]
            for entry in items:
                try:
                    key = _key(kind, entry)
                except (KeyError, TypeError, ValueError):
                    continue
                if (not all(isinstance(k, str) for k in key) or key in seen
                        or self.after is not None and key <= self.after
                        or upper is not None and key > upper):
                    continue
                seen.add(key)
                added += self._believe(kind, key, entry)
        if upper is not None and not added:
            raise ValueError("a status page that adds nothing")
        self.after = upper
        return upper is not None

    def _believe(self, kind: str, key: tuple, entry) -> bool:
        tenant = key[0]
        state = self._tenants.get(tenant)
        if kind == "tenants":
            if state is None or tenant in self.status["tenants"]:
                return False
            self.status["tenants"][tenant] = entry[1]
            return True
        if state is None and not (kind == "limit_kills" and tenant == NO_TENANT):
            return False
        if kind == "warm_modules":
            if key[2] not in state.spec.modules:
                return False
        else:
            counted = (tenant, kind)
            if self._counts.get(counted, 0) >= MAX_ENTRIES_PER_TENANT:
                return False
            self._counts[counted] = self._counts.get(counted, 0) + 1
        shown = {name: entry[name] for name in _FIELDS[kind]
                 if name in entry and _field(entry[name])}
        if kind == "warm_modules":
            shown["pid"] = self.pid
        self.status[kind].append(shown)
        return True


def log_page(first: int, entries: list[dict], limit: int | None = None, before: int | None = None,
             max_bytes: int = PAGE_BYTES) -> dict:
    """One page of a tenant's log tail, newest first: of its lines
    (``entries``, the oldest numbered ``first``) before the line numbered
    ``before`` (None: all), the newest that fit in ``max_bytes`` (one at
    least) and are within the ``limit`` newest; ``next`` is the number of
    the oldest one sent when older ones are left, else None."""
    end = len(entries) if before is None else max(0, min(len(entries), before - first))
    start = 0 if limit is None else max(0, end - limit)
    used, i = _encoded({"lines": [], "next": 0}), end
    while i > start:
        used += _encoded(entries[i - 1]) + 2
        if used > max_bytes and i < end:
            break
        i -= 1
    return {"lines": entries[i:end], "next": first + i if i > start else None}


def plausible_line(line, latest: float) -> bool:
    """A log line of the shape the admin API shows (a time from the epoch
    to ``latest``, text of at most a line's length). A tail is every
    process's lines sorted by time: one dated later than now would stand
    above every line written after it, on every process, until it ended."""
    return (isinstance(line, dict) and _number(line.get("time"))
            and 0 <= line["time"] <= latest
            and isinstance(line.get("line"), str) and len(line["line"]) <= _MAX_LINE_CHARS
            and isinstance(line.get("level"), str) and len(line["level"]) <= 16
            and (line.get("request_id") is None
                 or isinstance(line["request_id"], str) and len(line["request_id"]) <= 64))


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


class LogReader:
    """A tenant's log tail in one serving process, from its pages.

    :param limit: the newest lines wanted (None: all it has).
    """

    def __init__(self, limit: int | None):
        self.limit = limit
        #: The lines read so far, oldest first.
        self.lines: list[dict] = []
        #: The line number the next page ends before.
        self.before: int | None = None
        self._chars = 0
        self._latest = time.time() + LINE_CLOCK_SLACK_S

    def wanted(self) -> int | None:
        """How many more lines to ask for."""
        return None if self.limit is None else self.limit - len(self.lines)

    def take(self, answer) -> bool:
        """Add a page; True when there is another to ask for.

        :raises ValueError: the page is of another shape, does not move back
            in time, or adds nothing.
        """
        if not isinstance(answer, dict) or not isinstance(answer.get("lines"), list):
            raise ValueError("a log page of another shape")
        following = answer.get("next")
        if following is not None and not (
                _number(following) and isinstance(following, int)
                and (self.before is None or following < self.before)):
            raise ValueError("a log page that does not move back")
        page = []
        for line in reversed(answer["lines"]):  # newest first: a tail keeps the newest
            if (len(self.lines) + len(page) >= min(self.limit or TENANT_LOG_LINES, TENANT_LOG_LINES)
                    or self._chars > TENANT_LOG_CHARS):
                following = None
                break
            if plausible_line(line, self._latest):
                page.append({k: line.get(k) for k in ("time", "level", "line", "request_id")})
                self._chars += len(line["line"])
        if following is not None and not page:
            raise ValueError("a log page that adds nothing")
        self.lines[:0] = reversed(page)
        self.before = following
        return following is not None

"""What keeps SQLite from being a door: bounded values, no re-entry, one quota.

SQLite is C code under the tenant's SQL. Three rules, each applied by the
``sqlite3`` facade (:mod:`sandbox.facades.sqlite`) around every statement:

* **Bounded values.** ``setlimit(SQLITE_LIMIT_LENGTH, ...)`` to the request's
  memory budget on every connection before every statement, so no SQL
  expression builds a string or blob larger than the request may hold
  (``randomblob``, ``zeroblob``, ``printf('%.*c')`` widths, ``replace``,
  ``group_concat``: "string or blob too big"); statements are at most
  :data:`MAX_SQL_BYTES` long.
* **No re-entry.** A connection is never used from inside its own callbacks
  (a user function, aggregate, collation, row factory or converter that
  closes or runs a statement on the connection that is calling it crashed
  the server: CPython's ``sqlite3`` is not hardened for that). The same
  greenlet re-entering gets ``ProgrammingError``; another greenlet (a
  callback yielded at a tick) waits for the statement to end.
* **One quota for all of a tenant's files.** Before a statement that may
  write, the database's ``max_page_count`` is set from what the tenant's
  ``/data`` leaves free *now* (all its databases, their WAL files, its
  files and key-value store), and what the statement grew is counted at once
  — not each file given the whole remaining quota when it opened (7 MB were
  written with ``storage_mb = 1``: issue 23). The WAL is checkpointed often
  and truncated to the quota.

Callbacks receive only what the facade offers: a row factory gets the
facade's ``Cursor``, never the real one (whose ``connection`` could drop the
authorizer and ``ATTACH`` any file).
"""

from __future__ import annotations

import functools
import re
import sqlite3
import threading

import greenlet

from sandbox import limits

#: Longest SQL statement, in bytes.
MAX_SQL_BYTES = 10 * 2**20
#: Longest value when no request's budget says otherwise.
DEFAULT_VALUE_BYTES = 64 * 2**20
#: Widest field SQL's printf()/format() may pad to: SQLite loops over the
#: width it is given even past the length limit (1e9 ran 3.7 s).
MAX_PRINTF_WIDTH = 2**20
_PRINTF_SPEC = re.compile(r"%[-+ 0#,!]*(\*|\d*)(?:\.(\*|\d*))?[a-zA-Z%]")
#: Statements that cannot write (no page is counted for them).
_READ_ONLY = ("SELECT", "PRAGMA", "EXPLAIN", "VALUES")


def bound_values(raw) -> None:
    """Cap what one SQL expression may build at the running request's budget."""
    budget = limits.current()
    length = budget.memory_limit if budget is not None and budget.memory_limit else \
        DEFAULT_VALUE_BYTES
    raw.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, max(2**16, min(length, 2**31 - 1)))
    raw.setlimit(sqlite3.SQLITE_LIMIT_SQL_LENGTH, MAX_SQL_BYTES)


class StatementGuard:
    """Who is inside a connection now: no re-entry from its own callbacks.

    The lock another greenlet waits on is a ``threading.Lock`` (a greenlet
    lock once gevent has patched ``threading``, as the host does): it is
    this connection's, in this process, never the database file's.
    """

    __slots__ = ("_inside", "_lock", "refused")

    def __init__(self):
        self._inside = None
        self._lock = threading.Lock()
        #: The refusal a callback met (SQLite reports only "raised exception").
        self.refused = None

    def check(self) -> None:
        """Raise if the current greenlet is inside this connection's statement."""
        if self._inside is greenlet.getcurrent():
            self.refused = (
                "this connection is running a statement, and this call is inside its own "
                "callback (a function, aggregate, collation, row factory or converter): use "
                "the connection after the statement, or another connection")
            raise sqlite3.ProgrammingError(self.refused)

    def reraise(self) -> None:
        """After a failed call: raise the refusal a callback met, if one did."""
        refused, self.refused = self.refused, None
        if refused is not None:
            raise sqlite3.ProgrammingError(refused) from None

    def __enter__(self):
        self.check()
        budget = limits.current()
        timeout = budget.remaining_seconds(30.0) if budget is not None else 30.0
        if not self._lock.acquire(timeout=max(timeout, 0.001)):
            raise sqlite3.OperationalError("the connection was busy with another request's "
                                           "statement for longer than this request's time")
        self._inside = greenlet.getcurrent()
        return self

    def __exit__(self, *exc):
        self._inside = None
        self._lock.release()
        return False


_printer = None


def _checked_printf(guard, fmt, *args):
    """SQL's ``printf``/``format`` with every width and precision (given or
    taken from an argument by ``*``) at most :data:`MAX_PRINTF_WIDTH`; the
    formatting itself is SQLite's own, on a connection of the host's."""
    global _printer
    if isinstance(fmt, str):
        taken = 0
        for match in _PRINTF_SPEC.finditer(fmt):
            for part in match.groups():
                if part == "*":
                    value = args[taken] if taken < len(args) else 0
                    taken += 1
                    # By its digits (what SQLite binds), not its own __abs__.
                    width = abs(int.__int__(value)) if isinstance(value, int) else 0
                elif part:
                    width = int(part) if len(part) < 12 else MAX_PRINTF_WIDTH + 1
                else:
                    continue
                if width > MAX_PRINTF_WIDTH:
                    guard.refused = f"printf() width or precision is over {MAX_PRINTF_WIDTH}"
                    raise ValueError(guard.refused)
    if _printer is None:
        _printer = sqlite3.connect(":memory:", check_same_thread=False)
    marks = ", ".join("?" * (1 + len(args)))
    return _printer.execute(f"SELECT printf({marks})", (fmt, *args)).fetchone()[0]


def bound_printf(raw, guard) -> None:
    """Replace SQL's ``printf``/``format`` on ``raw`` by :func:`_checked_printf`
    (a refusal is reported by ``guard``)."""
    checked = functools.partial(_checked_printf, guard)
    for name in ("printf", "format"):
        raw.create_function(name, -1, checked, deterministic=True)


def may_write(sql) -> bool:
    """Whether a statement could write (a cheap, safe-side look at its start)."""
    if not isinstance(sql, str):
        return True
    return not sql.lstrip(" \t\r\n(").upper().startswith(_READ_ONLY)


class PageLedger:
    """Keeps all of one tenant's databases, together, under its quota.

    :param files: the tenant's :class:`sandbox.facades.files.TenantFiles`.
    """

    __slots__ = ("files", "_granted")

    def __init__(self, files):
        self.files = files
        #: What statements still running were given: a SQL function of one
        #: connection can write another database inside a statement, and
        #: both were given the same free space (round 14: 1.8 MB in 1 MB).
        self._granted: list[int] = []

    def open_file(self, raw) -> int | None:
        """Set up a new file connection: WAL checkpointed often and truncated
        to the quota. Return its pages' size, or None without a quota."""
        quota = self.files.quota_bytes
        if quota is None:
            return None
        page_size = host_value(raw, "PRAGMA page_size")
        raw.execute(f"PRAGMA journal_size_limit={int(quota)}")
        raw.execute(f"PRAGMA wal_autocheckpoint={max(16, min(1000, quota // page_size // 4))}")
        self._allow(raw, page_size)
        return page_size

    def _allow(self, raw, page_size: int) -> tuple[int, int]:
        """``(pages, free bytes given)``: what the quota leaves free now,
        less what statements still running were given."""
        pages = host_value(raw, "PRAGMA page_count")
        held = sum(self._granted)
        free = max(0, self.files.quota_bytes - self.files.used_bytes() - held)
        if free < 4 * page_size:
            free = max(0, self.files.quota_bytes - self.files.used_bytes(fresh=True) - held)
        raw.execute(f"PRAGMA max_page_count={max(pages + free // page_size, 1)}")
        return pages, free

    def before_write(self, raw, page_size: int, authorizer) -> int:
        """Give the database what the tenant's quota leaves free now (held
        until :meth:`after_write`); return its page count for it."""
        raw.set_authorizer(None)  # the host's own pragma, not the tenant's
        try:
            pages, free = self._allow(raw, page_size)
        finally:
            raw.set_authorizer(authorizer)
        self._granted.append(free)
        return pages

    def after_write(self, raw, page_size: int, pages_before: int) -> None:
        """Count at once what the statement added (the next database, the
        next write, sees it), and give back what it was given."""
        if self._granted:
            self._granted.pop()
        pages = host_value(raw, "PRAGMA page_count")
        if pages > pages_before:
            self.files.note_growth((pages - pages_before) * page_size)


def host_value(raw, pragma: str):
    """The first value of the host's own ``pragma`` on the real connection,
    read through a cursor of its own without the tenant's ``row_factory``:
    the connection's would make the row (a dict under the Flask docs'
    ``make_dicts``: ``KeyError: 0`` in the middle of a write), and what the
    quota's ledger counts must never be a value the tenant's code made."""
    cursor = raw.cursor()
    cursor.row_factory = None
    try:
        value = cursor.execute(pragma).fetchone()[0]
    finally:
        cursor.close()
    if type(value) is not int:
        raise sqlite3.DatabaseError(f"{pragma} gave {type(value).__name__}, not a number")
    return value


def row_factory_for(factory, wrap_cursor):
    """What the real connection calls for each row: the tenant's factory,
    handed the facade's cursor (``sqlite3.Row`` needs the real one; the
    membrane keeps the real cursor's attributes closed)."""
    if factory is None or (isinstance(factory, type) and issubclass(factory, sqlite3.Row)):
        return factory

    def make_row(cursor, row):
        return factory(wrap_cursor(cursor), row)

    return make_row

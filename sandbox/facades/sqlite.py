"""``sqlite3`` for tenant code: its own databases under ``/data``, bounded.

``sqlite3.connect("app.db")`` opens ``/data/app.db`` (names are relative to
``/data``; ``:memory:`` works). What SQLite could reach beyond that is
refused by its authorizer: ``ATTACH`` (and so ``VACUUM INTO``), ``DETACH``,
pragmas outside :data:`ALLOWED_PRAGMAS`, and ``load_extension``. URIs,
connection factories, extension loading and the connection's own authorizer,
progress handler and trace hooks are not offered.

* **Limits.** A progress handler checks the request's budget every
  :data:`PROGRESS_OPS` virtual-machine steps (without switching greenlets,
  inside SQLite): a runaway query is interrupted with the request's CPU or
  wall limit, and the connection stays usable.
* **Quota.** ``max_page_count`` caps each file database at what the
  tenant's ``storage_mb`` leaves free for all its files together, set
  before every statement that may write
  (:class:`sandbox.facades.sqlite_safety.PageLedger`); past it SQLite's
  "database or disk is full" becomes :class:`QuotaError` (an
  ``sqlite3.OperationalError``) naming the quota.
* **Safety** (:mod:`sandbox.facades.sqlite_safety`): values bounded by the
  request's memory budget, no re-entry of a connection from its own
  callbacks, row factories handed the facade's cursor, at most
  :data:`MAX_CONNECTIONS` connections open per tenant.
* **Durability.** File databases use WAL with ``synchronous=FULL``: a commit
  that returned is in the WAL file and fsynced, so neither ``kill -9`` nor a
  power cut loses it, and a crash mid-transaction leaves the last committed
  state.
* **Concurrency.** One lock per database file, from the host (under gevent
  a greenlet lock and a lock file shared by the worker processes,
  :mod:`muxserver.tenancy.writelock`): a connection holds it from the first
  statement of a transaction to its commit or rollback, so writers of one
  tenant — in one process or several — queue instead of meeting "database
  is locked". They wait up to the request's wall time (waiting costs no
  CPU time); ``SQLITE_BUSY`` from a client outside the server (a
  replication checkpoint) is retried the same way. When the wait does run
  out, the error says who held the database. A request that ends with a
  transaction open is rolled back by the host
  (:meth:`SqliteState.end_request`). Every way out of a transaction
  (commit, rollback, ``close()`` — which rolls back, as CPython's — an
  error, a limit, the end of the request) gives the lock back through one
  method, :meth:`Connection._release`, that asks nothing of the real
  connection. The lock is a greenlet lock: a connection shared by requests
  (a module global) makes the second request's statements wait for the
  first's transaction to end.

What sqlite3 offers as Python objects (``Row``, cursors, ``detect_types``,
adapters of the standard types) works as in CPython; the wrappers keep the
real connection and cursor out of reach. ``register_converter`` is per
tenant (the process-wide registry only ever holds the host's dispatchers);
``register_adapter`` is not offered.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import weakref

import greenlet

from sandbox import guards
from sandbox import limits
from sandbox.facades.sqlite_safety import PageLedger
from sandbox.facades.sqlite_safety import StatementGuard
from sandbox.facades.sqlite_safety import bound_printf
from sandbox.facades.sqlite_safety import bound_values
from sandbox.facades.sqlite_safety import may_write
from sandbox.facades.sqlite_safety import row_factory_for
from sandbox.guards import SandboxError
from sandbox.guards.declared import declare
from sandbox.guards.declared import declared

declare(sqlite3.Row, "keys")

#: Steps of SQLite's virtual machine between two budget checks.
PROGRESS_OPS = 2000
#: Connections one tenant may hold open at once (one held thousands).
MAX_CONNECTIONS = 64
#: How long a statement may wait for a database outside any request's budget.
DEFAULT_WAIT_S = 30.0
#: Wall time a waiting statement leaves its request for handling the error.
WAIT_MARGIN_S = 0.1
#: Pauses between retries of SQLITE_BUSY (a client outside the server holds it).
BUSY_FIRST_S = 0.001
BUSY_MAX_S = 0.05

ALLOWED_PRAGMAS = frozenset("""
    table_info table_xinfo table_list index_list index_info index_xinfo foreign_key_list
    foreign_keys foreign_key_check user_version application_id schema_version data_version
    page_count page_size freelist_count integrity_check quick_check encoding
    collation_list function_list pragma_list case_sensitive_like recursive_triggers
    defer_foreign_keys journal_mode synchronous optimize analysis_limit
""".split())

_DENIED_FUNCTIONS = frozenset(["load_extension", "readfile", "writefile", "edit", "fts3_tokenizer"])


class LocalLock:
    """The lock of one database where the host gives none (threads, tests):
    the interface :class:`SqliteState` expects of ``make_lock(path)``."""

    def __init__(self, path=None):
        self._lock = threading.RLock()
        self._depth = 0
        self.held_by = "another request"

    @property
    def reentered(self) -> bool:
        return self._depth > 1

    def acquire(self, timeout: float) -> bool:
        if not self._lock.acquire(timeout=max(timeout, 0.0)):
            return False
        self._depth += 1
        return True

    def release(self) -> None:
        self._depth -= 1
        self._lock.release()

    @staticmethod
    def pause(seconds: float) -> None:
        time.sleep(seconds)


def wall_left(budget) -> float:
    """Seconds the running request may still wait: its wall time (not its
    CPU time: waiting uses none), less :data:`WAIT_MARGIN_S` so that tenant
    code gets the error and time to answer with it."""
    if budget is None or budget.wall_deadline is None:
        return DEFAULT_WAIT_S
    return budget.wall_deadline - time.monotonic() - WAIT_MARGIN_S


def is_busy(exc: sqlite3.OperationalError, *, fresh: bool = False) -> bool:
    """Whether SQLite answered "busy" for a statement that may simply be run
    again: SQLITE_BUSY and its extended codes (SQLITE_BUSY_RECOVERY, while
    another process rebuilds the WAL index after the last connection of a
    database closed; measured at about 1 in 3,000 opens with two writing
    processes). SQLITE_BUSY_SNAPSHOT only when ``fresh`` — the statement
    began the transaction, so rolling it back loses nothing of the tenant's;
    otherwise that transaction must roll back and the error is the tenant's.
    """
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None or code & 0xFF != sqlite3.SQLITE_BUSY:
        return False
    return fresh or code != sqlite3.SQLITE_BUSY_SNAPSHOT


class QuotaError(sqlite3.OperationalError):
    """A write would pass the tenant's storage quota (``storage_mb``)."""


QuotaError.__module__ = "sqlite3"  # as tenant code sees it in tracebacks


class DataUnavailable(sqlite3.OperationalError):
    """This node cannot serve the tenant's data now: it lives on another
    node, or the replica it would be restored from cannot be reached (the
    request answers 503 unless tenant code catches it)."""


DataUnavailable.__module__ = "sqlite3"


def _authorizer(action, arg1, arg2, database, trigger):
    if action in (sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH):
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_PRAGMA:
        if arg1 not in ALLOWED_PRAGMAS:
            return sqlite3.SQLITE_DENY
        if arg1 == "journal_mode" and arg2 is not None and arg2.lower() not in ("wal",):
            return sqlite3.SQLITE_DENY  # keep WAL: durability is part of the contract
        if arg1 == "synchronous" and arg2 is not None:
            return sqlite3.SQLITE_DENY
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_FUNCTION and arg2 in _DENIED_FUNCTIONS:
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


# -- converters: per tenant, behind one host dispatcher per type name ----------------------------
#
# sqlite3's converter registry is one dict for the whole process, consulted
# while rows are fetched. A tenant's register_converter() never goes there:
# the host registers, once per type name, a dispatcher that asks which
# request is fetching (the running budget) and calls that tenant's converter,
# or the standard one, or returns the bytes.

_STANDARD_CONVERTERS = dict(sqlite3.converters)
_dispatchers: set[str] = set()
MAX_CONVERTERS = 100


def _request_extras(budget) -> dict:
    if budget.extras is None:
        budget.extras = {}
    return budget.extras


def _dispatcher(name: str):
    def convert(value: bytes):
        budget = limits.current()
        state = (budget.extras or {}).get("sqlite") if budget is not None else None
        func = state.converters.get(name) if state is not None else None
        if func is not None:
            return func(value)
        standard = _STANDARD_CONVERTERS.get(name)
        return standard(value) if standard is not None else value

    return convert


def _ensure_dispatcher(name: str) -> None:
    if name not in _dispatchers:
        sqlite3.register_converter(name, _dispatcher(name))
        _dispatchers.add(name)


class SqliteState:
    """One tenant's databases: their locks and what each request touched.

    :param files: the tenant's :class:`sandbox.facades.files.TenantFiles`.
    :param make_lock: ``make_lock(path)`` makes the lock of one database
        file: ``acquire(timeout) -> bool``, ``release()``, ``reentered``,
        ``held_by`` (who held it when ``acquire`` gave up) and
        ``pause(seconds)`` (see :class:`LocalLock`).
    """

    def __init__(self, files, make_lock=LocalLock):
        self.files = files
        self._make_lock = make_lock
        self._locks: dict[str, object] = {}
        self._open: list = []  # connections of this tenant, for close_all
        #: Its databases' pages, counted together against its quota.
        self.ledger = PageLedger(files)
        #: Type name (upper case) -> this tenant's converter.
        self.converters: dict[str, object] = {}
        #: The host's hooks around file databases: ``before_open()`` and
        #: ``on_use()`` (before each statement) may refuse with
        #: :class:`DataUnavailable`; ``on_open(path)`` learns of each one
        #: opened (replication).
        self.before_open = None
        self.on_use = None
        self.on_open = None

    def register_converter(self, typename, converter) -> None:
        if not isinstance(typename, str) or not callable(converter):
            raise TypeError("register_converter(typename: str, converter: callable)")
        # Kept in sqlite3's process-wide registry: a plain copy, upper-cased
        # by str's own method.
        name = str.upper(guards.plain_text(typename))
        if name not in self.converters and len(self.converters) >= MAX_CONVERTERS:
            raise SandboxError(f"more than {MAX_CONVERTERS} converters")
        self.converters[name] = converter
        _ensure_dispatcher(name)

    def lock_for(self, path: str):
        lock = self._locks.get(path)
        if lock is None:
            lock = self._locks[path] = self._make_lock(path)
        return lock

    def touched(self, connection) -> None:
        """Note that the running request uses ``connection`` (and that this
        tenant's converters apply to what it fetches)."""
        budget = limits.current()
        if budget is not None:
            extras = _request_extras(budget)
            extras["sqlite"] = self
            held = extras.setdefault("sqlite_touched", [])
            if connection not in held:
                held.append(connection)

    def end_request(self, budget) -> None:
        """Roll back what a finished request (or module load) left open;
        the host calls it."""
        extras = budget.extras or {}
        for connection in extras.pop("sqlite_touched", ()):
            connection._end_of_request()
        extras.pop("sqlite", None)

    def admit(self) -> None:
        """Refuse a new connection past :data:`MAX_CONNECTIONS` open ones."""
        self._open[:] = [r for r in self._open if r() is not None and not r()._closed]
        if len(self._open) >= MAX_CONNECTIONS:
            raise sqlite3.OperationalError(
                f"too many open connections: this function holds {MAX_CONNECTIONS} (close "
                "some, or keep one per database)")

    def close_all(self) -> None:
        for ref in self._open:
            connection = ref()
            if connection is not None:
                connection.close()
        self._open.clear()


class _Progress:
    """The progress handler: the request's limits, checked inside SQLite."""

    __slots__ = ("stopped",)

    def __init__(self):
        self.stopped = None

    def __call__(self):
        budget = limits.current()
        if budget is None:
            return 0
        try:
            budget.check(may_yield=False)
        except limits.LimitExceeded as exc:
            self.stopped = exc
            return 1
        return 0


@declared("execute executemany executescript fetchone fetchmany fetchall close rowcount "
          "lastrowid description arraysize connection")
class Cursor:
    """A cursor as tenant code holds it."""

    __slots__ = ("_connection", "_cursor")

    def __init__(self, connection, cursor):
        self._connection = connection
        self._cursor = cursor

    def execute(self, sql, parameters=()):
        self._connection._run(self._cursor.execute, sql, parameters)
        return self

    def executemany(self, sql, seq_of_parameters):
        self._connection._run(self._cursor.executemany, sql, guards.guarded_iter(seq_of_parameters))
        return self

    def executescript(self, script):
        self._connection._run(self._cursor.executescript, script, retry=False)
        return self

    def fetchone(self):
        return self._connection._run(self._cursor.fetchone)

    def fetchmany(self, size=None):
        size = self._cursor.arraysize if size is None else size
        return self._connection._run(self._cursor.fetchmany, size)

    def fetchall(self):
        return self._connection._run(self._cursor.fetchall)

    def __iter__(self):
        return guards.TickingIter(iter(self.fetchone, None))

    def close(self):
        self._connection._guard.check()
        self._cursor.close()

    rowcount = property(lambda self: self._cursor.rowcount)
    lastrowid = property(lambda self: self._cursor.lastrowid)
    description = property(lambda self: self._cursor.description)

    @property
    def arraysize(self):
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value):
        self._cursor.arraysize = int(value)

    @property
    def connection(self):
        return self._connection

    _guarded_writes = True


#: DB-API 2.0's exceptions, offered by the module and (optional extension)
#: as attributes of each connection: ``except db.IntegrityError``.
DBAPI_ERRORS = ("Warning", "Error", "InterfaceError", "DatabaseError", "DataError",
                "OperationalError", "IntegrityError", "InternalError", "ProgrammingError",
                "NotSupportedError")


@declared("cursor execute executemany executescript commit rollback close create_function "
          "create_aggregate create_collation iterdump row_factory text_factory isolation_level "
          "total_changes in_transaction " + " ".join(DBAPI_ERRORS))
class Connection:
    """A connection as tenant code holds it (see the module doc)."""

    __slots__ = ("_raw", "_state", "_lock", "_holder", "_progress", "_path", "_quota_pages",
                 "_guard", "_page_size", "_name", "_row_factory", "_closed", "__weakref__")
    _guarded_writes = True

    def __init__(self, raw, state, path, quota_pages, name=":memory:"):
        self._guard = StatementGuard()
        bound_printf(raw, self._guard)
        #: Its pages' size when the tenant has a quota (the ledger counts them).
        self._page_size = quota_pages
        #: The name tenant code gave (never the host path).
        self._name = name
        self._row_factory = None
        self._closed = False
        self._raw = raw
        self._state = state
        self._path = path
        self._lock = state.lock_for(path) if path else None
        #: The greenlet (request) that holds the database's lock through
        #: this connection: from the first statement of its transaction to
        #: its end (the lock is a greenlet lock: only its holder releases).
        self._holder = None
        self._progress = _Progress()
        self._quota_pages = quota_pages
        raw.set_progress_handler(self._progress, PROGRESS_OPS)
        if len(state._open) > 1000:
            state._open[:] = [r for r in state._open if r() is not None]
        state._open.append(weakref.ref(self))

    # -- running statements ----------------------------------------------------

    def _run(self, call, *args, retry=True):
        """Run ``call(*args)`` under the database's lock and the request's
        limits; ``retry``: whether SQLITE_BUSY may run it again (not a
        script, whose first statements may have committed already)."""
        self._guard.check()  # never from inside its own callbacks
        pause = BUSY_FIRST_S
        if self._lock is not None and self._state.on_use is not None:
            self._state.on_use()
        while True:
            if self._lock is not None and self._holder is not greenlet.getcurrent():
                # Also when another request's transaction on this connection
                # (one opened at module level) is open: it waits for its end.
                self._take_lock()
            try:
                self._state.touched(self)
                self._progress.stopped = None
                began = self._in_transaction()
                with self._guard:
                    try:
                        return self._call(call, args)
                    except sqlite3.Error:
                        self._guard.reraise()  # what a callback was refused
                        raise
            except sqlite3.OperationalError as exc:
                if self._progress.stopped is not None:
                    stopped, self._progress.stopped = self._progress.stopped, None
                    raise limits.LimitExceeded(stopped.kind, stopped.message) from None
                if "database or disk is full" in str(exc) and self._quota_pages is not None:
                    quota = self._state.files.quota_bytes
                    raise QuotaError(f"storage quota exceeded: this database may not grow past "
                                     f"the tenant's storage_mb ({quota // 2**20 if quota else 0} "
                                     "MB)") from None
                if not retry or not is_busy(exc, fresh=not began) or self._lock is None:
                    raise
                self._wait_busy(began, pause)
                pause = min(pause * 2, BUSY_MAX_S)
            finally:
                self._release_if_done()

    def _take_lock(self):
        left = wall_left(limits.current())
        if not self._lock.acquire(left):
            raise _locked(self._lock, self._path, left)
        self._holder = greenlet.getcurrent()

    def _wait_busy(self, began, pause):
        """SQLite answered SQLITE_BUSY although this request holds the
        database's lock: someone outside the server's writers holds SQLite's
        own lock (a replication checkpoint, an operator's shell) — or this
        very request does, through a second connection."""
        if self._lock.reentered:
            raise sqlite3.OperationalError(
                "database is locked: another connection of this same request holds a "
                f"transaction open on {os.path.basename(self._path)} (commit it first)") from None
        left = wall_left(limits.current())
        if left <= 0:
            raise sqlite3.OperationalError(
                f"database is locked: a client outside this server held "
                f"{os.path.basename(self._path)} for the rest of this request's wall time") from None
        if not began and self._raw.in_transaction:
            self._raw.rollback()  # the implicit BEGIN of the statement that waits: a fresh snapshot
        self._lock.pause(min(pause, left))

    def _call(self, call, args):
        """One call into SQLite: values bounded, pages counted."""
        raw = self._raw
        bound_values(raw)
        if self._page_size and args and may_write(args[0]):
            ledger = self._state.ledger
            before = ledger.before_write(raw, self._page_size, _authorizer)
            try:
                return call(*args)
            finally:
                ledger.after_write(raw, self._page_size, before)
        return call(*args)

    def _in_transaction(self) -> bool:
        """Whether the real connection has a transaction open (a closed one
        has none)."""
        try:
            return not self._closed and self._raw.in_transaction
        except sqlite3.ProgrammingError:
            return False  # closed

    def _release_if_done(self):
        if self._holder is not None and not self._in_transaction():
            self._release()

    def _release(self):
        """Give the database's lock back, if the running request holds it
        through this connection. Every road out of a transaction ends here —
        commit, rollback, close, the end of the request — and nothing about
        the real connection (closed, broken) is asked first: a lock kept by
        mistake stalls every later writer of the database in this process.
        (Only its holder may release it: another request's, or the garbage
        collector's, leaves it to the end of the holder's request.)"""
        if self._holder is not None and self._holder is greenlet.getcurrent():
            self._holder = None
            self._lock.release()

    def _end_of_request(self):
        """What a finished request left open is rolled back; if SQLite cannot
        roll it back, the real connection is closed (SQLite then drops the
        transaction). The lock is given back either way. A transaction of
        another request still running (a shared connection) is its own."""
        if self._holder is not None and self._holder is not greenlet.getcurrent():
            return
        try:
            if self._in_transaction():
                try:
                    self._raw.rollback()
                except sqlite3.Error:
                    self._close_raw()
        finally:
            self._release()

    def _close_raw(self):
        self._closed = True
        self._raw.close()

    # -- sqlite3.Connection's surface -------------------------------------------

    def cursor(self):
        self._guard.check()
        return Cursor(self, self._raw.cursor())

    def execute(self, sql, parameters=()):
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql, seq_of_parameters):
        return self.cursor().executemany(sql, seq_of_parameters)

    def executescript(self, script):
        return self.cursor().executescript(script)

    def commit(self):
        self._run(self._raw.commit)

    def rollback(self):
        self._run(self._raw.rollback)

    def close(self):
        """As CPython's: an open transaction is rolled back (silently), and
        closing again does nothing."""
        # Closing from inside one of its own callbacks segfaulted the server.
        with self._guard:
            try:
                if self._in_transaction():
                    self._raw.rollback()
            finally:
                try:
                    self._close_raw()
                finally:
                    self._release()

    def create_function(self, name, narg, func, *, deterministic=False):
        self._guard.check()
        self._raw.create_function(guards.safe_str_builtin(name), int(narg), func, deterministic=deterministic)

    def create_aggregate(self, name, n_arg, aggregate_class):
        self._guard.check()
        self._raw.create_aggregate(guards.safe_str_builtin(name), int(n_arg), aggregate_class)

    def create_collation(self, name, callable_):
        self._guard.check()
        self._raw.create_collation(guards.safe_str_builtin(name), callable_)

    def iterdump(self):
        return guards.TickingIter(self._raw.iterdump())

    @property
    def row_factory(self):
        return self._row_factory

    @row_factory.setter
    def row_factory(self, value):
        self._guard.check()
        # The tenant's factory gets this facade's cursor, not the real one.
        self._raw.row_factory = row_factory_for(value, lambda raw: Cursor(self, raw))
        self._row_factory = value

    @property
    def text_factory(self):
        return self._raw.text_factory

    @text_factory.setter
    def text_factory(self, value):
        self._guard.check()
        self._raw.text_factory = value

    @property
    def isolation_level(self):
        return self._raw.isolation_level

    @isolation_level.setter
    def isolation_level(self, value):
        self._raw.isolation_level = value

    total_changes = property(lambda self: self._raw.total_changes)
    in_transaction = property(lambda self: self._raw.in_transaction)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self.rollback()
            return False
        try:
            self.commit()
        except sqlite3.Error:
            # As CPython 3.11: a commit that failed (a deferred foreign key)
            # is rolled back, which gives the database back to other writers.
            if self._in_transaction():
                self.rollback()
            raise
        return False

    def __del__(self):
        try:
            self._close_raw()
        except Exception:
            pass
        try:
            self._release()
        except Exception:
            pass  # another greenlet's: the end of its request gives it back

    def __repr__(self):
        return f"<sqlite3.Connection {self._name}>"


for _name in DBAPI_ERRORS:  # the very classes the module offers, as CPython's are
    setattr(Connection, _name, getattr(sqlite3, _name))
del _name


def _open(state, database, timeout, detect_types, isolation_level):
    files = state.files
    if not isinstance(database, str):
        raise TypeError("the database name is a string")
    memory = database in (":memory:", "")
    if database.startswith("file:"):
        raise SandboxError("URIs are not supported: name the database, e.g. connect('app.db')")
    if set(database) & set("%?#"):
        # Replication opens the file as a URI: these would decode to another
        # file and carry pragmas into it.
        raise SandboxError(f"sqlite3.connect({database!r}): a database name may not hold % ? "
                           "or # (replication reads them as URI syntax)")
    state.admit()
    if memory:
        raw = sqlite3.connect(":memory:", detect_types=detect_types, isolation_level=isolation_level,
                              check_same_thread=False)
        raw.set_authorizer(_authorizer)
        return Connection(raw, state, None, None)
    name = database if database.startswith("/") else "/data/" + database
    path = files.resolve(name, write=True)
    if state.before_open is not None:
        state.before_open()
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        raise sqlite3.OperationalError(f"unable to open database file {database!r}: its folder "
                                       "does not exist")
    raw = sqlite3.connect(path, timeout=0, detect_types=detect_types,
                          isolation_level=isolation_level, check_same_thread=False)
    try:
        # The tenant's quota for all its files: the page size, or None.
        page_size = _prepare(raw, state.ledger, state.lock_for(path), path)
        if state.on_open is not None:
            state.on_open(path)
    except BaseException:
        raw.close()
        raise
    raw.set_authorizer(_authorizer)
    return Connection(raw, state, path, page_size, files.tenant_name(path))


def _locked(lock, path, left) -> sqlite3.OperationalError:
    return sqlite3.OperationalError(
        f"database is locked: {lock.held_by} kept a transaction open on "
        f"{os.path.basename(path)} for the {max(left, 0):.1f} s this request could wait "
        "(the rest of its wall time)")


def _prepare(raw, ledger, lock, path):
    """WAL, fsync on commit, the quota (:class:`PageLedger`); return the
    page size when the tenant has a quota (or None).

    Turning a new file into a WAL database takes SQLite's exclusive lock,
    which another process may be taking too: that is done under the
    database's lock. A WAL database already is one, and its readers need
    not wait for writers. (Never ``open()`` the file to read its header:
    closing any descriptor of it drops this process's SQLite locks.)
    """
    if _retrying(lambda: raw.execute("PRAGMA journal_mode").fetchone()[0], lock) != "wal":
        left = wall_left(limits.current())
        if not lock.acquire(left):
            raise _locked(lock, path, left)
        try:
            _retrying(lambda: raw.execute("PRAGMA journal_mode=WAL"), lock)
        finally:
            lock.release()
    return _retrying(lambda: _set_limits(raw, ledger), lock)


def _retrying(call, lock):
    """``call()``, run again after a pause while SQLite answers SQLITE_BUSY."""
    pause = BUSY_FIRST_S
    while True:
        try:
            return call()
        except sqlite3.OperationalError as exc:
            left = wall_left(limits.current())
            if not is_busy(exc) or left <= 0:
                raise
            lock.pause(min(pause, left))
            pause = min(pause * 2, BUSY_MAX_S)


def _set_limits(raw, ledger):
    raw.execute("PRAGMA synchronous=FULL")
    return ledger.open_file(raw)


def build_sqlite3(ctx):
    state = ctx.sqlite

    def connect(database, timeout=5.0, detect_types=0, isolation_level="", check_same_thread=True,
                factory=None, cached_statements=128, uri=False, **kwargs):
        if uri or factory is not None:
            raise SandboxError("sqlite3.connect(): uri= and factory= are not supported here")
        return _open(state, database, timeout, detect_types, isolation_level)

    table = {name: getattr(sqlite3, name) for name in (
        *DBAPI_ERRORS, "Row", "PARSE_DECLTYPES", "PARSE_COLNAMES", "sqlite_version", "sqlite_version_info", "Binary",
        "complete_statement",
    )}
    table["connect"] = connect
    table["register_converter"] = state.register_converter
    table["QuotaError"] = QuotaError
    table["DataUnavailable"] = DataUnavailable
    table["Connection"] = Connection
    table["Cursor"] = Cursor
    return table

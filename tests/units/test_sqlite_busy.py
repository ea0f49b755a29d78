"""Which answers of SQLite the database facade runs again (pure part of
:mod:`sandbox.facades.sqlite`; the waiting itself is tested over HTTP in
tests/test_state.py)."""

import sqlite3

import pytest

from sandbox.facades.sqlite import is_busy


def _error(code: int) -> sqlite3.OperationalError:
    exc = sqlite3.OperationalError("database is locked")
    exc.sqlite_errorcode = code
    return exc


@pytest.mark.parametrize("code", [sqlite3.SQLITE_BUSY, sqlite3.SQLITE_BUSY_RECOVERY,
                                  sqlite3.SQLITE_BUSY_TIMEOUT])
def test_busy_and_its_extended_codes_are_run_again(code):
    # SQLITE_BUSY_RECOVERY: another process rebuilding the WAL index after the
    # last connection closed (one insert in ~300 failed with two workers).
    assert is_busy(_error(code))


def test_a_stale_snapshot_is_run_again_only_if_the_statement_began_the_transaction():
    assert not is_busy(_error(sqlite3.SQLITE_BUSY_SNAPSHOT))
    assert is_busy(_error(sqlite3.SQLITE_BUSY_SNAPSHOT), fresh=True)


@pytest.mark.parametrize("code", [sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR])
def test_other_errors_are_the_tenants(code):
    assert not is_busy(_error(code))


def test_an_error_without_a_code_is_not_busy():
    assert not is_busy(sqlite3.OperationalError("no such table: x"))

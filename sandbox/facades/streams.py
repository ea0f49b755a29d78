"""Facades for the modules everyday code imports around text and bytes:
``io`` (in-memory streams), ``csv``, ``traceback``, and ``urllib.request``
(importable; a call that would open a connection raises ``URLError``).

* ``io``: ``StringIO``, ``BytesIO`` and the text/bytes base names; no
  ``open``, no file objects (``open()`` is the tenant's own, see
  :mod:`sandbox.facades.files`).
* ``csv``: ``reader``, ``writer``, ``DictReader``, ``DictWriter``, the
  ``QUOTE_*`` constants, ``Error`` and the standard dialects. Not
  ``register_dialect`` or ``field_size_limit``: both change a registry every
  tenant shares. Readers and writers tick as rows go by.
* ``traceback``: ``format_exc``/``print_exc``/``format_exception_only`` give
  the exception's type and message only — no frames, so no host paths.
"""

from __future__ import annotations

import csv
import io
import sys
import urllib.error

from sandbox import guards
from sandbox.guards.declared import declare
from sandbox.guards.declared import declare_values
from sandbox.guards.declared import declared as guards_declared
from sandbox.guards.declared import declared

_STREAM = ("read readline readlines write writelines seek tell truncate getvalue close closed "
           "flush readable writable seekable isatty")
declare(io.StringIO, _STREAM + " line_buffering newlines encoding errors")
declare(io.BytesIO, _STREAM + " getbuffer read1 readinto readinto1")
declare(io.IOBase, "close closed flush readable writable seekable isatty")
declare(io.TextIOBase, "read readline write encoding errors newlines")
declare(type(csv.reader([])), "dialect line_num")
declare(type(csv.writer(io.StringIO())), "dialect writerow writerows")
declare_values(csv.Dialect, type(csv.writer(io.StringIO()).dialect))
declare(csv.DictReader, "fieldnames reader dialect line_num restkey restval")
declare(csv.DictWriter, "fieldnames writer restval extrasaction writeheader writerow writerows")


def build_io(ctx):
    return {
        "StringIO": io.StringIO,
        "BytesIO": io.BytesIO,
        "TextIOBase": io.TextIOBase,
        "IOBase": io.IOBase,
        "SEEK_SET": io.SEEK_SET,
        "SEEK_CUR": io.SEEK_CUR,
        "SEEK_END": io.SEEK_END,
        "UnsupportedOperation": io.UnsupportedOperation,
    }


def _field(value, total: list):
    """A CSV field's text, sized before the C writer makes it (it calls the
    real str() on every field that is not a string)."""
    if type(value) in (str, int, float, bool) or value is None:
        text = value
        total[0] += len(value) if type(value) is str else 24
    else:
        text = guards.text_of(value, limit=guards.operators.text_limit(), over="raise",
                              what="csv writerow()")
        total[0] += len(text)
    # Quoting can double every quote character.
    guards.check_allocation(2 * total[0], "csv writerow()")
    return text


@declared("writerow writerows dialect")
class Writer:
    """``csv.writer(f)``: rows through :func:`_field`, written to ``f``
    through the membrane (``f.write`` as tenant code would read it)."""

    __slots__ = ("_writer",)

    def __init__(self, f, *args, **kwargs):
        self._writer = csv.writer(_Sink(guards.guarded_getattr(f, "write")), *args, **kwargs)

    @property
    def dialect(self):
        return self._writer.dialect

    def writerow(self, row):
        total = [0]
        return self._writer.writerow([_field(v, total) for v in guards.guarded_iter(row)])

    def writerows(self, rows):
        for row in guards.guarded_iter(rows):
            self.writerow(row)


class _Sink:
    __slots__ = ("write",)

    def __init__(self, write):
        self.write = write


class DictWriter(csv.DictWriter):
    """``csv.DictWriter`` whose rows go through :class:`Writer`."""

    def __init__(self, f, fieldnames, restval="", extrasaction="raise", dialect="excel",
                 *args, **kwargs):
        super().__init__(io.StringIO(), fieldnames, restval, extrasaction, dialect, *args,
                         **kwargs)
        self.writer = Writer(f, dialect, *args, **kwargs)


#: Bytes of objects one character of a CSV line can become at most: a row's
#: list slot (8) and, every other character, a one-character field.
CSV_BYTES_PER_CHAR = 24


def _sized_lines(lines):
    """The lines a C ``csv.reader`` parses, each sized before it is handed
    over: the reader builds a whole row's fields in one call (round 7: a
    line of 12 M commas became 168 MB of fields), and ``field_size_limit``
    bounds a field, not how many a row has."""
    for line in guards.guarded_iter(lines):
        if isinstance(line, (str, bytes, bytearray)):
            guards.check_allocation(CSV_BYTES_PER_CHAR * len(line), "csv.reader()")
        yield line


class DictReader(csv.DictReader):
    """Rows tick: they come from the guarded iterator of ``f``."""

    def __init__(self, f, *args, **kwargs):
        super().__init__(_sized_lines(f), *args, **kwargs)


def build_csv(ctx):
    def reader(rows, *args, **kwargs):
        return guards.TickingIter(csv.reader(_sized_lines(rows), *args, **kwargs))

    def writer(f, *args, **kwargs):
        return Writer(f, *args, **kwargs)

    table = {
        "reader": reader,
        "writer": writer,
        "DictReader": DictReader,
        "DictWriter": DictWriter,
        "Error": csv.Error,
        "excel": csv.excel,
        "excel_tab": csv.excel_tab,
        "unix_dialect": csv.unix_dialect,
    }
    for name in ("QUOTE_ALL", "QUOTE_MINIMAL", "QUOTE_NONE", "QUOTE_NONNUMERIC"):
        table[name] = getattr(csv, name)
    return table


def _only_the_message(exc) -> str:
    if exc is None:
        return "NoneType: None\n"
    return guards.exception_text(exc) + "\n"


def build_traceback(ctx):
    def format_exc(limit=None, chain=True):
        return _only_the_message(sys.exc_info()[1])

    def print_exc(limit=None, file=None, chain=True):
        text = format_exc().rstrip("\n")
        if file is not None:
            guards.guarded_getattr(file, "write")(text + "\n")
        else:
            ctx.log_line(text, "error")

    def format_exception_only(exc, value=None):
        exc = value if value is not None else exc
        return [_only_the_message(exc)]

    def format_exception(exc, value=None, tb=None, limit=None, chain=True):
        return format_exception_only(exc, value)

    return {"format_exc": format_exc, "print_exc": print_exc,
            "format_exception_only": format_exception_only, "format_exception": format_exception}


def _no_opener(*args, **kwargs):
    raise urllib.error.URLError("build_opener is not available: use urllib.request.urlopen")


@guards_declared("full_url data headers method get_method add_header header_items",
                 dynamic=True)
class Request:
    """``urllib.request.Request``: ``urlopen`` sends it through the egress
    proxy (:mod:`sandbox.facades.outbound`)."""

    def __init__(self, url, data=None, headers=None, method=None, **kwargs):
        self.full_url = url
        self.data = data
        self.headers = dict(headers or {})
        self.method = method

    _guarded_writes = True

    def get_method(self):
        return self.method or ("POST" if self.data is not None else "GET")

    def add_header(self, key, value):
        self.headers[guards.safe_str_builtin(key).capitalize()] = guards.safe_str_builtin(value)

    def header_items(self):
        return list(self.headers.items())


def build_urllib_request(ctx):
    from sandbox.facades.outbound import urlopen_for

    return {"urlopen": urlopen_for(getattr(ctx, "outbound", None), Request), "Request": Request,
            "build_opener": _no_opener,
            "URLError": urllib.error.URLError, "HTTPError": urllib.error.HTTPError}


def build_urllib_error(ctx):
    return {"URLError": urllib.error.URLError, "HTTPError": urllib.error.HTTPError,
            "ContentTooShortError": urllib.error.ContentTooShortError}


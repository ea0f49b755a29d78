"""A file answered as Flask 3.1 answers it: werkzeug's ``send_file``.

One place for both roads a file takes: a tenant's ``static/`` folder
(:mod:`muxserver.http.static`) and ``send_file``/``send_from_directory``
in tenant code (:mod:`muxserver.tenant_api.shim`). werkzeug gives the
headers Flask sends — ``Content-Type``, ``Content-Length``,
``Content-Disposition: inline; filename=...`` (``attachment`` on request),
``Last-Modified``, ``Cache-Control: no-cache`` (or ``public, max-age`` with
``max_age``/``SEND_FILE_MAX_AGE_DEFAULT``), ``ETag`` — and answers
conditional requests (``304``, ``412``) and ranges (``206``, ``416``) from
the request's headers.

The ETag is werkzeug's ``mtime-size-checksum``, with the checksum taken over
the name the tenant sees (``/app/static/logo.png``), never over the host
path, which would let a tenant learn where the server keeps its files.
"""

from __future__ import annotations

import os
from zlib import adler32

from werkzeug.exceptions import RequestedRangeNotSatisfiable
from werkzeug.utils import send_file as werkzeug_send_file

#: Headers the server sets itself (:class:`muxserver.app.MuxApp`).
_SERVER_SET = frozenset(["content-length", "date"])


def send_file(environ, file, shown_name: str | None = None, *, mimetype=None,
              as_attachment=False, download_name=None, conditional=True, etag=True,
              last_modified=None, max_age=None):
    """A werkzeug response for ``file``: a host path (checked by the caller)
    or an open binary file; evaluated against ``environ`` now, as Flask does.

    :param shown_name: the tenant's name for a host path (for the ETag).
    """
    if etag is True and isinstance(file, str):
        stat = os.stat(file)
        check = adler32(str(shown_name or os.path.basename(file)).encode()) & 0xFFFFFFFF
        etag = f"{stat.st_mtime}-{stat.st_size}-{check}"
    try:
        return werkzeug_send_file(
            file, environ, mimetype=mimetype, as_attachment=as_attachment,
            download_name=download_name, conditional=conditional, etag=etag,
            last_modified=last_modified, max_age=max_age)
    except RequestedRangeNotSatisfiable as exc:
        return exc.get_response(environ)


def file_length(stream) -> int | None:
    """The ``Content-Length`` a file body made by :func:`plain_parts`
    promises (the tenant's ``send_file``, a static file through its hooks);
    None for any other stream, whose length nobody knows before it ends."""
    return stream.length if type(stream) is _Chunks else None


def plain_parts(response, environ, inline_limit: int):
    """``(status, headers, body, chunks)`` of a werkzeug file response, with
    the headers werkzeug sends for it (a 304 without the representation's);
    the body whole up to ``inline_limit`` bytes (and the file closed), else
    an iterator of chunks with a ``close()`` (and ``Content-Length`` kept)."""
    status = response.status_code
    headers = [(k, v) for k, v in response.get_wsgi_headers(environ).items()
               if k.lower() not in _SERVER_SET]
    length = response.content_length
    if status in (204, 304) or (length is not None and length <= inline_limit):
        body = b"" if status in (204, 304) else b"".join(response.response)
        response.close()
        return status, headers, body, None
    if length is not None:
        headers.append(("Content-Length", str(length)))
    return status, headers, b"", _Chunks(response, length)


class _Chunks:
    """A werkzeug response body as ``read(size)`` chunks (what
    :class:`muxserver.http.streams.FileBody` reads), closed with it."""

    __slots__ = ("_iter", "_response", "length")

    def __init__(self, response, length: int | None):
        self._response = response
        self._iter = iter(response.response)
        #: The bytes the file response promised (its Content-Length), or None.
        self.length = length

    def read(self, size=-1) -> bytes:
        return next(self._iter, b"")

    def __iter__(self):
        return self._iter

    def __next__(self):
        return next(self._iter)

    def close(self) -> None:
        self._response.close()

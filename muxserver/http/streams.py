"""Response bodies sent after the WSGI call returns.

Both hold their request's lease (:mod:`muxserver.tenancy.lease`) until the
server closes them, and only then is the request released, counted and
logged — with its real status and whole duration:

* :class:`TenantStream` drives a tenant's generator one chunk at a time,
  each under the request's limits and with its request context;
* :class:`FileBody` sends a large static file in chunks.
"""

from __future__ import annotations

from werkzeug.exceptions import HTTPException

from muxserver.errors import HOST_EXITS
from muxserver.errors import StreamCut
from muxserver.http.responses import BadReturnValue
from muxserver.http.sending import file_length
from muxserver.tracebacks import tenant_code_error

#: Static files up to this size are read whole; larger ones are streamed.
STATIC_INLINE_BYTES = 256 * 1024


class FileBody:
    """A static file sent in chunks; closing it calls :attr:`on_close` (the
    app sets it: release the lease, count and log the request)."""

    CHUNK = 64 * 1024

    def __init__(self, f):
        self.f = f
        self.closed = False
        self.on_close = None

    def __iter__(self):
        return self

    def __next__(self):
        chunk = self.f.read(self.CHUNK)
        if not chunk:
            raise StopIteration
        return chunk

    def close(self):
        if not self.closed:
            self.closed = True
            try:
                self.f.close()
            finally:
                if self.on_close is not None:
                    self.on_close()


class TenantStream:
    """A streamed body: each chunk is produced under the request's limits.

    :param app: the MuxApp (its error mapper, and the end of the request).
    :param lease: the request's lease, handed over to this body.
    :param iterable: what the tenant returned.
    :param outcome: status, timings and start of the request, for the log.
    """

    def __init__(self, app, lease, iterable, outcome):
        self.app = app
        self.lease = lease
        self.iterable = iterable
        self.outcome = outcome
        self.closed = False
        #: The Content-Length the server sends for a file body (None: chunked).
        #: Exactly that many bytes go out, or the body is cut: tenant code
        #: that read some of the file before cannot desynchronise the
        #: connection.
        self.length = file_length(iterable)
        self._sent = 0

    def __iter__(self):
        return self

    def _next_chunk(self):
        if self.length is not None:
            return self._next_file_chunk()
        try:
            chunk = next(self.iterable)
        except (StopIteration, HTTPException):
            raise
        except Exception as exc:
            raise self._tenant_error(exc) from None
        if isinstance(chunk, str):
            return str.__str__(chunk).encode("utf-8")
        if isinstance(chunk, (bytes, bytearray)):
            return bytes(memoryview(chunk))
        raise self._tenant_error(BadReturnValue(
            f"a streamed chunk must be str or bytes, not {type(chunk).__name__}"))

    def _next_file_chunk(self) -> bytes:
        """The next piece of a file body whose length was sent: never past
        it, and an error (the body cut) if the file ends before it."""
        left = self.length - self._sent
        if left <= 0:
            raise StopIteration
        try:
            chunk = next(self.iterable)
        except StopIteration:
            raise self._tenant_error(OSError(
                f"the file ended {left} bytes before the Content-Length sent")) from None
        except Exception as exc:
            raise self._tenant_error(exc) from None
        chunk = bytes(memoryview(chunk)[:left])
        self._sent += len(chunk)
        return chunk

    def _tenant_error(self, exc):
        return tenant_code_error(exc, self.lease.ctx.endpoint, self.lease.state.spec.root)

    def __next__(self):
        if self.closed:
            raise StopIteration
        try:
            with self.lease:
                return self.lease.run("stream", self._next_chunk)
        except StopIteration:
            self.close()
            raise
        except HOST_EXITS:
            raise
        except BaseException as exc:
            # The status line has gone: log the real status, then cut the
            # body so the client cannot take it for a complete answer.
            self.outcome.status = self.app.handle_error(exc, self.outcome.request_id,
                                                        self.outcome)[0]
            self.close()
            raise StreamCut(f"stream cut with status {self.outcome.status}") from None

    def close(self):
        if self.closed:
            return
        self.closed = True
        try:
            with self.lease:
                try:
                    # Even the lookup of `close` may be tenant code (a property).
                    self.lease.run("stream close", _close_iterable, self.iterable)
                except HOST_EXITS:
                    raise
                except BaseException:
                    pass  # a generator's finally that failed or was stopped
        finally:
            self.lease.release()
            self.app.stream_done(self.outcome)


def _close_iterable(iterable) -> None:
    close = getattr(iterable, "close", None)
    if close is not None:
        close()

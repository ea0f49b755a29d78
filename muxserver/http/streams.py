"""Response bodies sent after the WSGI call returns.

:class:`TenantStream` drives a tenant's generator one chunk at a time, each
under the request's limits and with its request context, and ends the
request (slot, access log, uploaded files) when the body is closed.
:class:`FileBody` sends a large static file in chunks.
"""

from __future__ import annotations

from werkzeug.exceptions import HTTPException

from muxserver.errors import HOST_EXITS
from muxserver.errors import StreamCut
from muxserver.execution import run_limited
from muxserver.http.responses import BadReturnValue
from muxserver.tenant_api import context
from muxserver.tracebacks import tenant_code_error
from sandbox import LimitExceeded

#: Static files up to this size are read whole; larger ones are streamed.
STATIC_INLINE_BYTES = 256 * 1024


class FileBody:
    """A static file sent in chunks; closing it ends the request."""

    CHUNK = 64 * 1024

    def __init__(self, app, f):
        self.app = app
        self.f = f
        self.closed = False

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
            self.f.close()
            self.app.inflight -= 1


class TenantStream:
    """A streamed body: each chunk is produced under the request's limits."""

    def __init__(self, app, state, module, ctx, budget, iterable, outcome):
        self.app = app
        self.state = state
        self.module = module
        self.ctx = ctx
        self.budget = budget
        self.iterable = iterable
        #: Status, timings and start of the request, for the access log.
        self.outcome = outcome
        self.closed = False

    def __iter__(self):
        return self

    def _next_chunk(self):
        try:
            chunk = next(self.iterable)
        except (StopIteration, LimitExceeded, HTTPException):
            raise
        except Exception as exc:
            raise tenant_code_error(exc, self.ctx.endpoint, self.app.config.tenants_dir) from None
        if isinstance(chunk, str):
            chunk = str.__str__(chunk).encode("utf-8")
        elif isinstance(chunk, (bytes, bytearray)):
            chunk = bytes(memoryview(chunk))
        else:
            raise BadReturnValue(f"a streamed chunk must be str or bytes, not {type(chunk).__name__}")
        return chunk

    def __next__(self):
        if self.closed:
            raise StopIteration
        previous = context.push(self.ctx)
        try:
            return run_limited(self.budget, self._next_chunk)
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
        finally:
            context.pop(previous)

    def close(self):
        if self.closed:
            return
        self.closed = True
        close = getattr(self.iterable, "close", None)
        if close is not None:
            previous = context.push(self.ctx)
            try:
                run_limited(self.budget, close)
            except HOST_EXITS:
                raise
            except BaseException:
                pass
            finally:
                context.pop(previous)
        self.state.end_request(self.ctx.request, self.budget)
        self.state.inflight -= 1
        self.module.release()
        self.app.inflight -= 1
        self.app.finish(self.outcome)

"""The error tree of muxserver: every error answers for itself.

Each error that reaches a client carries its :attr:`~MuxError.status`, its
headers, the text a client may see, and what answering it reports (the
tenant's log, the server's log, metrics). :meth:`MuxApp.handle_error` reads
these and has no branch per type (werkzeug's ``HTTPException.get_response``
is the model). Foreign errors are translated into this tree where they are
caught, with ``from None``: a stopped request (:class:`sandbox.LimitExceeded`)
and werkzeug's errors about the request at the edge of tenant code
(:func:`muxserver.execution.run_limited`), bad return values inside it
(:mod:`muxserver.tracebacks`), anything else at the one mapper
(:class:`InternalError`).
"""

from __future__ import annotations

import logging
import traceback
from urllib.parse import quote

from greenlet import GreenletExit

server_log = logging.getLogger("muxserver")


class MuxError(Exception):
    """Base for muxserver errors.

    Each error knows how it is answered: :attr:`status`, :meth:`headers`,
    :meth:`client_text` and :meth:`report`.
    """

    status = 500

    def headers(self) -> list[tuple[str, str]]:
        """Headers the answer to this error carries."""
        return []

    def client_text(self, debug: bool) -> str:
        """What the client reads (the request id is added for 5xx)."""
        return str(self)

    def report(self, app, outcome) -> None:
        """Say what happened, once, as the answer is made: by default a 5xx
        about a tenant goes to its log and to the server's."""
        if self.status >= 500 and outcome.tenant:
            message = str(self)
            app.logs.write(outcome.tenant, outcome.request_id, message, level="error")
            server_log.error("%s", message,
                             extra={"tenant": outcome.tenant, "request_id": outcome.request_id})


class HaltServer(BaseException):
    """Stop the server with ``status``; not catchable by ``except Exception``
    (gunicorn's ``HaltServer``). Only :mod:`muxserver.cli` turns it into an exit.

    :param reason: said in the log.
    :param status: the process's exit status.
    """

    def __init__(self, reason: str, status: int = 1):
        super().__init__(reason)
        self.reason = reason
        self.status = status


class ConfigError(MuxError):
    """Invalid settings; the CLI exits with status 2."""


class TenantError(MuxError):
    """Something about one tenant; ``tenant`` names it."""

    status = 500

    def __init__(self, message: str, tenant: str | None = None):
        super().__init__(message)
        self.tenant = tenant


class NotFound(TenantError):
    """Unknown tenant, route or file."""

    status = 404


class MethodNotAllowed(TenantError):
    """The route exists, the method does not; ``allowed`` lists methods."""

    status = 405

    def __init__(self, message: str, tenant: str | None, allowed: tuple[str, ...]):
        super().__init__(message, tenant)
        self.allowed = allowed

    def headers(self):
        return [("Allow", ", ".join(self.allowed))]


class Redirect(TenantError):
    """The route exists with a trailing slash; send the client there.

    ``location`` is a path on this server, quoted as werkzeug quotes it
    (:func:`safe_location`): it never starts with ``//`` or ``/\\``, which
    browsers would take for another host.
    """

    status = 308

    def __init__(self, location: str, tenant: str | None = None):
        location = safe_location(location)
        super().__init__(f"moved to {location}", tenant)
        self.location = location

    def headers(self):
        return [("Location", self.location)]


def safe_location(path: str) -> str:
    """``path`` as a ``Location`` on this server: percent-quoted as werkzeug's
    ``iri_to_uri`` quotes (a backslash becomes ``%5C``), and one leading slash
    (``//host`` and ``/\\host`` are other sites to a browser)."""
    quoted = quote(path, safe="/:?#[]@!$&'()*+,;=%")
    return "/" + quoted.lstrip("/")


class BodyTooLarge(MuxError):
    """The request body is over ``--max-body``."""

    status = 413


class TooManyRequests(TenantError):
    """The tenant's concurrency limit is full."""

    status = 429
    retry_after = 1

    def headers(self):
        return [("Retry-After", str(self.retry_after))]


class ClientError(MuxError):
    """The client sent something unusable (werkzeug's errors about the
    request, translated where tenant code returns: bad JSON, a body too
    large for a form...).

    :param status: the 4xx werkzeug chose.
    """

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status if 400 <= status <= 599 else 400


class BadRequest(ClientError):
    """The client sent something unusable."""

    status = 400

    def __init__(self, message: str):
        super().__init__(message, 400)


class Unauthorized(MuxError):
    """Admin API without the right token."""

    status = 401


class Forbidden(MuxError):
    """Admin API from a non-loopback address without a token configured."""

    status = 403


class MisdirectedRequest(MuxError):
    """A request for a Host this listener does not serve (the admin
    listener's answer to DNS rebinding)."""

    status = 421


class LimitStopped(TenantError):
    """A request was stopped by one of its limits (translated from
    :class:`sandbox.LimitExceeded` where tenant code returns to the host).

    :param kind: ``cpu``, ``memory`` or ``wall``; 503, 503 or 504.
    """

    STATUS = {"cpu": 503, "memory": 503, "wall": 504}

    def __init__(self, kind: str, message: str, tenant: str | None = None):
        super().__init__(message, tenant)
        self.kind = kind
        self.message = message
        self.status = self.STATUS.get(kind, 503)

    def client_text(self, debug: bool) -> str:
        return f"{self.message}; the request was stopped"

    def report(self, app, outcome) -> None:
        app.limit_killed(outcome, self)


class TenantLoadError(TenantError):
    """The endpoint's module failed to compile or to run its top level.

    :param detail: the formatted traceback, when the top level raised.
    """

    status = 500

    def __init__(self, message: str, tenant: str | None = None, detail: str = ""):
        super().__init__(message, tenant)
        self.detail = detail
        #: ``tenant/file.py:line`` where the top level raised, when it did.
        self.where = None

    def client_text(self, debug: bool) -> str:
        text = str(self)
        return text + "\n\n" + self.detail if debug and self.detail else text


class TenantCodeError(TenantError):
    """Tenant code raised; the traceback is in the tenant's log.

    Built *inside* the request's limits (:func:`tenant_code_error`): turning a
    tenant exception into text calls its ``__str__``, which is tenant code.

    :param detail: the formatted traceback (tenant frames only).
    :param exc_type: the name of the exception's class.
    :param denied: whether the sandbox refused something (ImportError ...).
    """

    status = 500

    def __init__(self, message: str, tenant: str | None = None, detail: str = "",
                 exc_type: str = "", denied: bool = False):
        super().__init__(message, tenant)
        self.detail = detail
        self.exc_type = exc_type
        self.denied = denied

    def client_text(self, debug: bool) -> str:
        text = f"the function raised {self.exc_type}" if self.exc_type else str(self)
        return text + "\n\n" + self.detail if debug else text

    def report(self, app, outcome) -> None:
        kind = "sandbox denied" if self.denied else "raised"
        app.logs.write(outcome.tenant or "-", outcome.request_id,
                       f"{outcome.endpoint} {kind}:\n{self.detail}", level="error")
        server_log.error("tenant code failed in %s: %s", outcome.endpoint, self.exc_type,
                         extra={"tenant": outcome.tenant, "request_id": outcome.request_id})


class TenantProcessDied(TenantError):
    """A process tenant's process ended while it held the request (a crash,
    the kernel's OOM killer, ``os._exit`` in its code): 502, and its next
    request starts a new process (:mod:`muxserver.proctier`)."""

    status = 502

    def __init__(self, message: str, tenant: str | None = None):
        super().__init__(message, tenant)

    def client_text(self, debug: bool) -> str:
        return str(self)

    def report(self, app, outcome) -> None:
        app.logs.write(outcome.tenant or "-", outcome.request_id,
                       f"{outcome.endpoint}: {self}", level="error")


class DeployRefused(MuxError):
    """A new version was refused; the live one is unchanged.

    The one refusal type of every deploy road (directory sync, ``muxserver
    deploy``, HTTP): a bad archive (400, 413), code that does not compile,
    register or pass its health check (422), a version that does not exist
    (404).

    :param errors: ``tenant/file:line: message`` lines.
    """

    status = 422

    def __init__(self, reason: str, errors=(), status: int | None = None):
        super().__init__(reason)
        self.reason = reason
        self.errors = tuple(errors)
        if status is not None:
            self.status = status


class NoServingAnswer(MuxError):
    """An admin call no serving process answered (in time, or in the shape
    the supervisor reads): 503, the call may be tried again."""

    status = 503


class InternalError(MuxError):
    """Anything else: a bug in the server, answered 500 and logged with its
    traceback (gevent's triage: everything unknown is loud)."""

    def __init__(self, original: BaseException):
        super().__init__("internal server error")
        self.original = original

    def client_text(self, debug: bool) -> str:
        if debug:
            return "internal server error\n\n" + "".join(traceback.format_exception(self.original))
        return "internal server error"

    def report(self, app, outcome) -> None:
        server_log.error("internal error", exc_info=self.original,
                         extra={"tenant": outcome.tenant, "request_id": outcome.request_id})
        if outcome.tenant:
            # The tenant's log says it too (never a bare 500 with nothing
            # there), without the host's traceback.
            app.logs.write(outcome.tenant, outcome.request_id,
                           f"{outcome.endpoint or 'request'}: internal server error (a fault of "
                           "the server, not of this code: the operator's log has its details)",
                           level="error")


class StreamCut(Exception):
    """A streamed body was stopped part-way (a limit, or tenant code raised).

    Raised out of the body iterator after the status line has gone: the
    handler closes the connection without the final chunk, so the client
    sees a cut response, never a complete one.
    """


#: Exceptions that mean "this process or greenlet is being stopped": only the
#: host raises them (tenant builtins have none), so they are never answered.
HOST_EXITS = (SystemExit, KeyboardInterrupt, GreenletExit, HaltServer)

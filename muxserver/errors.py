"""The error tree of muxserver.

Each error that reaches a client carries ``status``; :meth:`MuxApp.handle_error`
reads it, so adding an error type never needs a new branch there.
"""

from __future__ import annotations

from greenlet import GreenletExit


class MuxError(Exception):
    """Base for muxserver errors.

    Each error knows how it is answered: :attr:`status` and :meth:`headers`.
    """

    status = 500

    def headers(self) -> list[tuple[str, str]]:
        """Headers the answer to this error carries."""
        return []


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
    """The route exists with a trailing slash; send the client there."""

    status = 308

    def __init__(self, location: str, tenant: str | None = None):
        super().__init__(f"moved to {location}", tenant)
        self.location = location

    def headers(self):
        return [("Location", self.location)]


class BodyTooLarge(MuxError):
    """The request body is over ``--max-body``."""

    status = 413


class TooManyRequests(TenantError):
    """The tenant's concurrency limit is full."""

    status = 429
    retry_after = 1

    def headers(self):
        return [("Retry-After", str(self.retry_after))]


class TenantLoadError(TenantError):
    """The endpoint's module failed to compile or to run its top level.

    :param detail: the formatted traceback, when the top level raised.
    """

    status = 500

    def __init__(self, message: str, tenant: str | None = None, detail: str = ""):
        super().__init__(message, tenant)
        self.detail = detail


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


class BadRequest(MuxError):
    """The client sent something unusable."""

    status = 400


class Unauthorized(MuxError):
    """Admin API without the right token."""

    status = 401


class Forbidden(MuxError):
    """Admin API from a non-loopback address without a token configured."""

    status = 403


class StreamCut(Exception):
    """A streamed body was stopped part-way (a limit, or tenant code raised).

    Raised out of the body iterator after the status line has gone: the
    handler closes the connection without the final chunk, so the client
    sees a cut response, never a complete one.
    """


#: Exceptions that mean "this process or greenlet is being stopped": only the
#: host raises them (tenant builtins have none), so they are never answered.
HOST_EXITS = (SystemExit, KeyboardInterrupt, GreenletExit)


class HaltServer(BaseException):
    """Stop the server; not catchable by ``except Exception``."""

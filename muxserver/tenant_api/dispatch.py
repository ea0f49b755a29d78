"""Calling a tenant's handler the way Flask would, inside the request's limits.

:func:`call_handler` runs the ``before_request`` hooks, the handler (with
its view arguments, the request, or nothing, by its form), the error
handlers (by status, then by exception class, then 500 for anything
unhandled), the conversion of the return value, the ``after_request``
hooks, the session cookie and the ``teardown_request`` hooks. Each of them
may be an ``async def``: its coroutine is driven to its end here, inside the
same limits (:func:`sandbox.facades.aio.resolve`), as Flask 2+ awaits
them. It also turns
a tenant exception into text: its ``__str__`` is tenant code too, so all of
this runs under the limits.

:func:`error_page` answers a status the server decided (an unknown URL, a
method not allowed) with the tenant's ``errorhandler`` for it, if it has
one, and werkzeug's HTML page otherwise, as a Flask app would.
"""

from __future__ import annotations

from werkzeug.exceptions import HTTPException

from muxserver.http.responses import to_plain
from muxserver.tenant_api import cloudfunctions
from muxserver.tenant_api import context
from muxserver.tenant_api import forms
from muxserver.tenant_api.response import HTTPAbort
from muxserver.tenant_api.response import Response
from muxserver.tenant_api.response import html_error_page
from muxserver.tenant_api.response import make_response
from muxserver.tenant_api.session import save_session
from muxserver.tracebacks import tenant_code_error
from sandbox.facades.aio import resolve
from sandbox.guards import exception_text

_HTML = "text/html; charset=utf-8"


def call_handler(route, handler, request, view_args, module, tenant_root):
    """``(status, headers, body, stream)`` for one request; call it inside the limits."""
    try:
        try:
            plain = _respond(route, handler, request, view_args, module.apps, tenant_root)
        finally:
            _teardown(module.apps)
        return _with_session(plain)
    except HTTPAbort as exc:
        return abort_plain(exc)
    except HTTPException:
        raise  # werkzeug's, about the request (bad JSON, body too large)
    except Exception as exc:
        raise tenant_code_error(exc, route.endpoint, tenant_root) from None


def error_page(apps, code: int, description: str | None, tenant_root, endpoint="-"):
    """The tenant's answer to ``code`` decided by the server (404, 405);
    call it inside the limits."""
    try:
        exc = HTTPAbort(code, description)
        rv = _app_error_handler(apps, code, exc)
        if rv is None:
            return abort_plain(exc)
        return _with_session(to_plain(rv))
    except HTTPAbort as exc:
        return abort_plain(exc)
    except Exception as exc:
        raise tenant_code_error(exc, endpoint, tenant_root) from None


def _hooks(apps, local: str, app_wide: str) -> list:
    """The hooks of this route's apps, then every blueprint's app-wide ones."""
    ctx = context.current()
    everyone = ctx.site.apps if ctx is not None and ctx.site is not None else apps
    hooks = [hook for app in apps for hook in getattr(app, local)]
    hooks += [hook for app in everyone for hook in getattr(app, app_wide)]
    return hooks


def _respond(route, handler, request, view_args, apps, tenant_root=None):
    try:
        rv = None
        for hook in _hooks(apps, "_before", "_app_before"):
            rv = resolve(hook())
            if rv is not None:
                break
        if rv is None:
            if route.kind.startswith("function:"):
                ctx = context.current()
                rv = forms.call(route.kind[len("function:"):], handler, request,
                                ctx.site if ctx is not None else None, tenant_root)
            elif route.kind == "flask":
                rv = resolve(handler(**view_args))
            elif route.takes_request:
                rv = resolve(handler(request))
            else:
                rv = resolve(handler())
    except (HTTPAbort, HTTPException) as exc:
        if isinstance(exc, HTTPException):
            # werkzeug's NotFound(), BadRequest from a bad JSON body ...: as
            # Flask does, the app's error handlers and HTML pages answer them.
            exc = HTTPAbort(exc.code or 500, exc.description)
        rv = _app_error_handler(apps, exc.code, exc)
        if rv is None:
            raise exc from None
    except Exception as exc:
        rv = _app_error_handler(apps, None, exc)
        if rv is None:
            if route.kind != "function:gcf":
                raise
            ctx = context.current()
            rv = cloudfunctions.crash(exc, ctx.site.log_line, tenant_root)
    plain = to_plain(rv)
    ctx = context.current()
    once = ctx.extras.get("after_this_request", ()) if ctx is not None else ()
    after = _hooks(apps, "_after", "_app_after")
    if once or after:
        response = make_response(rv)
        for hook in [*once, *reversed(after)]:
            response = resolve(hook(response))
        plain = to_plain(response)
    return plain


def _teardown(apps):
    for app in apps:
        for hook in app._teardown:
            resolve(hook(None))


def _app_error_handler(apps, code, exc):
    """What the matching error handler returns, or None if none matches."""
    for app in apps:
        handlers = app._error_handlers
        if code is not None and code in handlers:
            return resolve(handlers[code](exc))
        if code is None:
            for klass in type(exc).__mro__:
                if klass in handlers:
                    return resolve(handlers[klass](exc))
    if code is None:
        # Unhandled: Flask logs it and hands a 500 handler an InternalServerError.
        for app in apps:
            if 500 in app._error_handlers:
                ctx = context.current()
                if ctx is not None and ctx.site is not None:
                    ctx.site.log_line(f"Exception on {ctx.request.path if ctx.request else '-'}: "
                                      f"{exception_text(exc)}", "error")
                wrapper = HTTPAbort(500, "Internal Server Error")
                wrapper.original_exception = exc
                rv = resolve(app._error_handlers[500](wrapper))
                code, headers, body, stream = to_plain(rv)
                # Flask keeps the handler's status, 200 included.
                return Response(body if stream is None else stream, status=code, headers=headers)
    return None


def _with_session(plain):
    """Add the session cookie when the handler changed the session."""
    ctx = context.current()
    session = ctx.extras.get("session") if ctx is not None else None
    if session is None or ctx.site is None:
        return plain
    cookie = save_session(ctx.site.secret_key(), session, ctx.request.script_root
                          if ctx.request is not None else "/")
    if cookie is None:
        return plain
    code, headers, body, stream = plain
    return code, headers + [("Set-Cookie", cookie)], body, stream


def abort_plain(exc) -> tuple:
    """The plain response for ``abort(...)``; call it inside the limits."""
    if isinstance(exc.response, Response):
        return to_plain(exc.response)
    code = exc.code if type(exc.code) is int and 400 <= exc.code <= 599 else 500
    description = exc.description if type(exc.description) is str else None
    return code, [("Content-Type", _HTML)], html_error_page(code, description).encode(), None

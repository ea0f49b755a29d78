"""Calling a tenant's handler the way Flask would, inside the request's limits.

:func:`call_handler` runs the module's ``before_request`` hooks, the
handler (with its view arguments, the request, or nothing, by its form), the
app's error handlers, the conversion of the return value, and the
``after_request`` hooks. It also turns a tenant exception into text: its
``__str__`` is tenant code too, so all of this runs under the limits.
"""

from __future__ import annotations

from werkzeug.exceptions import HTTPException

from muxserver.http.responses import status_line
from muxserver.http.responses import to_plain
from muxserver.tenant_api.response import HTTPAbort
from muxserver.tenant_api.response import Response
from muxserver.tenant_api.response import make_response
from muxserver.tracebacks import tenant_code_error


def call_handler(route, handler, request, view_args, module, tenants_dir):
    """``(status, headers, body, stream)`` for one request; call it inside the limits."""
    try:
        return _respond(route, handler, request, view_args, module)
    except HTTPAbort as exc:
        return abort_plain(exc)
    except HTTPException:
        raise  # werkzeug's, about the request (bad JSON, body too large)
    except Exception as exc:
        raise tenant_code_error(exc, route.endpoint, tenants_dir) from None


def _respond(route, handler, request, view_args, module):
    try:
        rv = None
        for app in module.apps:
            for hook in app._before:
                rv = hook()
                if rv is not None:
                    break
        if rv is None:
            if route.kind == "flask":
                rv = handler(**view_args)
            elif route.takes_request:
                rv = handler(request)
            else:
                rv = handler()
    except HTTPAbort as exc:
        rv = _app_error_handler(module, exc.code, exc)
        if rv is None:
            raise
    except Exception as exc:
        rv = _app_error_handler(module, None, exc)
        if rv is None:
            raise
    plain = to_plain(rv)
    if module.apps and any(app._after for app in module.apps):
        response = make_response(rv)
        for app in module.apps:
            for hook in app._after:
                response = hook(response)
        plain = to_plain(response)
    return plain


def _app_error_handler(module, code, exc):
    for app in module.apps:
        handlers = app._error_handlers
        if code is not None and code in handlers:
            return handlers[code](exc)
        for key, func in handlers.items():
            if isinstance(key, type) and isinstance(exc, key):
                return func(exc)
    return None


def abort_plain(exc) -> tuple:
    """The plain response for ``abort(...)``; call it inside the limits."""
    if isinstance(exc.response, Response):
        return to_plain(exc.response)
    code = exc.code if type(exc.code) is int and 400 <= exc.code <= 599 else 500
    description = exc.description if type(exc.description) is str else None
    message = description or status_line(code).split(" ", 1)[1]
    return code, [("Content-Type", "text/plain; charset=utf-8")], (message + "\n").encode(), None

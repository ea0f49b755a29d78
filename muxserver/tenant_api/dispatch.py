"""Calling a tenant's handler the way Flask would, inside the request's limits.

:func:`call_handler` follows Flask 3.1's ``wsgi_app``: the ``before_request``
hooks and the handler (with its view arguments, the request, or nothing, by
its form); an exception they raise goes to ``handle_user_exception`` (an HTTP
error to the handlers for its code and class, or answered as werkzeug's page;
any other to the handlers for its class); the return value becomes a
response, the ``after_request`` hooks see it (error pages included), the
session cookie is added and the ``teardown_request`` hooks run. An exception
nothing handled — an error handler's own included — goes to
``handle_exception``: the handlers for ``InternalServerError`` (500,
``HTTPException``, ``Exception``) get it as
``InternalServerError(original_exception=e)`` — unless the app propagates
exceptions (``DEBUG``, ``TESTING``, ``PROPAGATE_EXCEPTIONS``: as under
Flask, no handler is asked); without one it is the
server's 500 (with its request id, SPEC); a Cloud Function has one, the
crash answer of functions-framework. Handlers are found by :mod:`.errorhandlers`. Each step may be
an ``async def``: its coroutine is driven to its end here, inside the same
limits (:func:`sandbox.facades.aio.resolve`), as Flask 2+ awaits them. It
also turns a tenant exception into text: its ``__str__`` is tenant code too,
so all of this runs under the limits.

:func:`error_page` answers a status the server decided (an unknown URL, a
method not allowed) as Flask's routing error would be: after the
``before_request`` hooks, the app's handlers for it or werkzeug's page, the
``after_request`` and ``teardown_request`` hooks.

.. warning::
   One thing differs from Flask by construction: an unhandled exception
   answers the server's 500 page (request id, traceback in the tenant's
   log: SPEC), not werkzeug's, without ``after_request`` hooks. And no code
   loads for an unknown URL of a tenant whose modules register no error
   handler and no request hook (nothing of it could change the answer).
"""

from __future__ import annotations

from werkzeug.exceptions import BadRequest
from werkzeug.exceptions import BadRequestKeyError
from werkzeug.exceptions import HTTPException
from werkzeug.exceptions import InternalServerError
from werkzeug.exceptions import default_exceptions
from werkzeug.http import parse_set_header
from werkzeug.routing import ValidationError

from muxserver.http.responses import to_plain
from muxserver.tenant_api import cloudfunctions
from muxserver.tenant_api import context
from muxserver.tenant_api import forms
from muxserver.tenant_api.converters import convert_view_args
from muxserver.tenant_api.errorhandlers import find_error_handler
from muxserver.tenant_api.errorhandlers import levels
from muxserver.tenant_api.response import Response
from muxserver.tenant_api.response import abort
from muxserver.tenant_api.response import make_response
from muxserver.tenant_api.session import save_session
from muxserver.tenant_api.shim import send_from_directory
from muxserver.tenant_api.urlmap import preprocess_url_values
from muxserver.tracebacks import format_tenant_traceback
from muxserver.tracebacks import tenant_code_error
from sandbox.facades.aio import resolve
from sandbox.guards import exception_text


def call_handler(route, handler, request, view_args, module, tenant_root, custom=()):
    """``(status, headers, body, stream)`` for one request; call it inside the limits.
    ``custom``: the values the tenant's own converters convert first
    (:attr:`muxserver.tenancy.router.Match.custom`)."""
    apps = module.route_apps.get((route.handler, route.rule), module.apps)
    kind = route.kind
    ctx = context.current()

    if kind == "flask":
        request.routed_to(route.flask_endpoint)  # the view's name, under its blueprint's

    # A copy the URL value preprocessors may change (the view is called with
    # what they leave, and request.view_args reads it), as Flask's.
    view_args = dict(view_args)

    def view():
        if kind == "flask":
            return resolve(handler(**view_args))
        if kind.startswith("function:"):
            return forms.call(kind[len("function:"):], handler, request, _site(ctx),
                              tenant_root)
        if route.takes_request:
            return resolve(handler(request))
        return resolve(handler())

    return _serve(ctx, apps, view, route, tenant_root, route.endpoint,
                  view_args if kind == "flask" else None, custom)


def error_page(apps, code: int, tenant_root, endpoint="-", valid_methods=None):
    """The tenant's answer to ``code`` decided by the server (404, 405) for
    a request to its ``apps``, as Flask answers its routing errors (after
    the ``before_request`` hooks, which may answer instead); call it inside
    the limits."""
    error = default_exceptions[code]()
    if valid_methods is not None:
        error.valid_methods = list(valid_methods)

    def view():
        raise error

    return _serve(context.current(), apps, view, None, tenant_root, endpoint)


def options_page(apps, methods, tenant_root, endpoint="-", route=None, view_args=None):
    """Flask's automatic OPTIONS answer for ``apps``, after their URL value
    preprocessors (given the request's endpoint and ``view_args``, those of
    the ``route`` it was routed to; None when none) and ``before_request``
    hooks, and through their ``after_request`` ones; call it inside the
    limits."""

    def view():
        return Response("", headers=[("Allow", ", ".join(methods))])

    return _serve(context.current(), apps, view, route, tenant_root, endpoint,
                  dict(view_args) if view_args is not None else None)


def static_page(apps, folder: str, filename: str, tenant_root, endpoint="-"):
    """Flask's ``static`` route for ``apps`` (a blueprint's first for its
    own, then the tenant's): the file of ``folder`` (``/app/...``), after
    the URL value preprocessors and ``before_request`` hooks
    (``request.endpoint`` is ``"static"`` or ``"bp.static"``, ``view_args``
    ``{"filename": ...}``) and through the ``after_request`` ones, as Flask
    serves it: a login gate in a hook covers static files too; call it
    inside the limits."""

    def view():
        if any(part.startswith(".") for part in filename.split("/")):
            abort(404)  # as the server's own answer (muxserver.http.static): never dot files
        return send_from_directory(folder, filename)

    return _serve(context.current(), apps, view, None, tenant_root, endpoint,
                  {"filename": filename})


def _serve(ctx, apps, view, route, tenant_root, endpoint, view_args=None, custom=()):
    """Flask's ``wsgi_app`` around ``view()`` for ``apps`` (a route's
    blueprint, then the tenant's apps); ``ctx`` is the request's context
    (looked up once: only a lease makes one current, for the whole call)."""
    error = None
    try:
        try:
            try:
                plain = _full_dispatch(ctx, view, apps, route, tenant_root, view_args, custom)
            except Exception as exc:
                error = exc
                plain = _handle_exception(ctx, exc, apps, route, tenant_root)
        finally:
            _teardown(apps, error)
        return _with_session(ctx, plain)
    except Exception as exc:
        raise tenant_code_error(exc, endpoint, tenant_root) from None


def _site(ctx):
    """The request's tenant site, or None outside a request."""
    return ctx.site if ctx is not None else None


def _hooks(ctx, apps, local: str, app_wide: str) -> list:
    """The hooks of this route's apps, then every blueprint's app-wide ones."""
    site = _site(ctx)
    hooks = []
    for app in apps:
        found = getattr(app, local)
        if found:
            hooks += found
    for app in site.apps if site is not None else apps:
        found = getattr(app, app_wide)
        if found:
            hooks += found
    return hooks


def _full_dispatch(ctx, view, apps, route, tenant_root, view_args=None, custom=()):
    """Flask's ``full_dispatch_request``: URL value preprocessors, hooks and
    view, their exceptions handled, the response finalized. ``view_args``
    is None when no route matched (Flask's preprocessors get None then).

    The tenant's own converters convert their values first (werkzeug does
    while matching); a ``ValidationError`` they raise makes the request one
    no route matched, answered 404 after the hooks, as Flask answers when no
    other rule matches (the next rule is not tried here)."""
    try:
        site = _site(ctx)
        request = ctx.request if ctx is not None else None
        if custom and view_args is not None:
            try:
                convert_view_args(site, view_args, custom)
            except ValidationError:
                view_args = None
                if request is not None:
                    request.routed_to(None)
                    request.set_view_args(None)

                def view():
                    raise default_exceptions[404]()
        if site is not None:
            routed = view_args is not None and request is not None
            endpoint = (request.endpoint or None) if routed else None
            preprocess_url_values(site.apps, apps, endpoint, view_args)
            if routed:
                request.set_view_args(view_args)
        rv = None
        for hook in _hooks(ctx, apps, "_before", "_app_before"):
            rv = resolve(hook())
            if rv is not None:
                break
        if rv is None:
            rv = view()
    except Exception as exc:
        # Where the error handlers are is looked up only when one is needed.
        rv = _handle_user_exception(exc, _error_levels(ctx, apps, route), _app(ctx))
    return _finalize(ctx, rv, apps)


def _error_levels(ctx, apps, route) -> list[list[dict]]:
    """Where the handlers for an error are looked up (:func:`levels`), the
    platform's own last: functions-framework registers its ``crash_handler``
    for 500 on the app it makes for a Cloud Function, so ``abort(500)`` and
    an unhandled error are both its answer unless the tenant registered its
    own (``functions_framework.errorhandler(500)`` takes its place; one for
    ``Exception`` comes after it, as a handler for a code comes first)."""
    where = levels(apps, _site(ctx))
    if route is not None and route.kind == "function:gcf":
        where = [where[0], [*where[1], cloudfunctions.ERROR_HANDLERS]]
    return where


def _app(ctx):
    """The tenant's Flask app, whose config rules errors (None: none made)."""
    site = _site(ctx)
    return site.app if site is not None else None


def _handle_user_exception(exc, where, app):
    """Flask's ``handle_user_exception``: what the handler for ``exc``
    returns; an HTTP error without one is its own answer — unless the app
    traps it (:func:`_traps`); any other error without one is raised on (to
    :func:`_handle_exception`)."""
    if isinstance(exc, BadRequestKeyError) and app is not None and (
            app.debug or app.config.get("TRAP_BAD_REQUEST_ERRORS")):
        exc.show_exception = True  # the missing key in the page, as Flask shows it
    if isinstance(exc, HTTPException) and not _traps(app, exc):
        # Flask's handle_http_exception: an error with no code (what
        # abort(response) raises) is answered as it is.
        if exc.code is None:
            return exc
        handler = find_error_handler(where, exc)
        return exc if handler is None else resolve(handler(exc))
    handler = find_error_handler(where, exc)
    if handler is None:
        raise exc
    return resolve(handler(exc))


def _traps(app, exc) -> bool:
    """Flask's ``trap_http_exception``: ``TRAP_HTTP_EXCEPTIONS``, and
    ``TRAP_BAD_REQUEST_ERRORS`` (unset: a missing form or query key under
    ``DEBUG``) make an HTTP error without a handler of its own an unhandled
    exception, as any other."""
    if app is None:
        return False
    config = app.config
    if config.get("TRAP_HTTP_EXCEPTIONS"):
        return True
    trap = config.get("TRAP_BAD_REQUEST_ERRORS")
    if trap is None and app.debug and isinstance(exc, BadRequestKeyError):
        return True
    return bool(trap) and isinstance(exc, BadRequest)


def _propagates(app) -> bool:
    """Flask's ``PROPAGATE_EXCEPTIONS`` (unset: ``TESTING`` or ``DEBUG``):
    an unhandled exception skips the error handlers and reaches the server,
    whose 500 this is (under Flask, the WSGI server's or the debugger's)."""
    if app is None:
        return False
    propagate = app.config.get("PROPAGATE_EXCEPTIONS")
    return bool(app.testing or app.debug) if propagate is None else bool(propagate)


def _handle_exception(ctx, exc, apps, route, tenant_root):
    """Flask's ``handle_exception``, for an error nothing handled: the
    handler for ``InternalServerError(original_exception=exc)``, if any
    (the error is logged, as Flask logs it); the platform's crash answer for
    a Cloud Function; otherwise ``exc`` is raised on (the server's 500)."""
    if _propagates(_app(ctx)):
        raise exc
    server_error = InternalServerError(original_exception=exc)
    handler = find_error_handler(_error_levels(ctx, apps, route), server_error)
    if handler is None:
        raise exc
    _log_exception(ctx, exc, tenant_root)
    rv = resolve(handler(server_error))
    return _finalize(ctx, rv, apps, from_error_handler=True)


def _log_exception(ctx, exc, tenant_root) -> None:
    """Flask's ``log_exception``: ``Exception on /path [GET]`` and the
    traceback (the tenant's frames; for a typed Cloud Function, those of the
    error functions-framework wrapped)."""
    if ctx is None or ctx.site is None:
        return
    request = ctx.request
    where_text = f"{request.path} [{request.method}]" if request is not None else "-"
    if isinstance(exc, cloudfunctions.FunctionCrashed) and exc.__cause__ is not None:
        exc = exc.__cause__
    ctx.site.log_line(f"Exception on {where_text}: {format_tenant_traceback(exc, tenant_root)}",
                      "error")


def _finalize(ctx, rv, apps, from_error_handler=False):
    """Flask's ``finalize_request``: the response, through
    ``after_this_request`` and the ``after_request`` hooks. After an error
    handler, a hook that fails is logged and its response kept, as Flask
    does."""
    once = ctx.extras.get("after_this_request", ()) if ctx is not None else ()
    after = _hooks(ctx, apps, "_after", "_app_after")
    if not once and not after:
        return to_plain(rv)
    response = make_response(rv)
    try:
        for hook in [*once, *reversed(after)]:
            response = resolve(hook(response))
    except Exception as exc:
        if not from_error_handler:
            raise
        if ctx is not None and ctx.site is not None:
            ctx.site.log_line("Request finalizing failed with an error while handling an "
                              f"error: {exception_text(exc)}", "error")
    return to_plain(response)


def _teardown(apps, error=None):
    """Flask's end of a request: its ``teardown_request`` hooks (the route's
    blueprint's, then the app's), then the app context's
    ``teardown_appcontext`` ones — each list the last registered first."""
    for app in apps:
        for hook in reversed(app._teardown):
            resolve(hook(error))
    for app in apps:
        for hook in reversed(app._teardown_app):
            resolve(hook(error))


def _with_session(ctx, plain):
    """Flask's ``save_session``: the session cookie when the session was
    changed (or is permanent and refreshed), and ``Vary: Cookie`` when it
    was read or its cookie is sent."""
    session = ctx.extras.get("session") if ctx is not None else None
    if session is None or ctx.site is None:
        return plain
    cookie = save_session(ctx.site.secret_key(), session, ctx.site.session_cookie())
    if cookie is None and not session.accessed:
        return plain
    code, headers, body, stream = plain
    headers = _vary_on_cookie(headers)
    if cookie is not None:
        headers.append(("Set-Cookie", cookie))
    return code, headers, body, stream


def _vary_on_cookie(headers) -> list:
    """``headers`` with ``Cookie`` added to ``Vary`` as werkzeug's
    ``response.vary.add("Cookie")`` adds it (one ``Vary`` header, from the
    first)."""
    first = next((value for name, value in headers if name.lower() == "vary"), None)
    vary = parse_set_header(first)
    vary.add("Cookie")
    return [(name, value) for name, value in headers if name.lower() != "vary"] + \
        [("Vary", vary.to_header())]

"""Flask's error handlers: how they are registered, found and answered.

An app (or blueprint) keeps its handlers as Flask's ``error_handler_spec``
does: by status code (``None`` for handlers of a class with no code) and
then by exception class. ``errorhandler(404)`` files the handler under
``404 -> NotFound``; ``errorhandler(HTTPException)`` under ``None ->
HTTPException``; ``errorhandler(ValueError)`` under ``None -> ValueError``.
:func:`find_error_handler` is Flask 3.1's ``_find_error_handler``: the
exception's code first, then no code; the route's blueprints first, then
the app; along the exception class's MRO. So a handler for
``HTTPException`` (or ``Exception``) answers unknown URLs, ``abort()`` and
an unhandled error (as an ``InternalServerError``), as in Flask.

The exceptions are werkzeug's own classes (``abort(400)`` raises
``werkzeug.exceptions.BadRequest``), so ``except HTTPException``, ``str(e)``,
``e.name`` and ``e.description`` are werkzeug's. :func:`error_response` is
``e.get_response()`` as a :class:`~muxserver.tenant_api.response.Response`
(what Flask's ``make_response`` makes of an ``HTTPException``).

.. warning::
   ``get_body`` and ``get_headers`` run here on the host as Flask runs them,
   so call :func:`error_response` inside the request's limits: a tenant
   subclass may define them. What werkzeug would turn into text in one C
   call is sized first: a description that is not text is made text the
   sandbox's way, and containers given as header values (``valid_methods``,
   a 416's ``length``) are checked against the request's memory.
"""

from __future__ import annotations

from werkzeug.exceptions import HTTPException
from werkzeug.exceptions import default_exceptions

from muxserver.tenant_api.response import Response
from sandbox.guards import check_text
from sandbox.guards import safe_repr
from sandbox.guards import safe_str_builtin
from sandbox.guards.declared import METHOD_GUARDS
from sandbox.guards.declared import declare

# What tenant code reads of werkzeug's HTTP errors (issue 24): the class
# attributes, ``get_response()`` (below), and what werkzeug keeps on the
# instance: ``response`` (what ``abort(response)`` carries), the error a 500
# handler is given (``original_exception``) and a 405's ``valid_methods``.
declare(HTTPException, "code description name get_description get_body get_headers "
                       "get_response response")
declare(default_exceptions[500], "original_exception")
declare(default_exceptions[405], "valid_methods")

#: Most handlers one app or blueprint may register.
MAX_HANDLERS = 100


def exc_class_and_code(code_or_exception) -> tuple[type, int | None]:
    """Flask's ``_get_exc_class_and_code``: the class a handler is filed
    under, and its status code (None for a class without one)."""
    if isinstance(code_or_exception, int):
        try:
            exc_class = default_exceptions[code_or_exception]
        except KeyError:
            raise ValueError(f"'{safe_repr(code_or_exception, 40)}' is not a recognized HTTP "
                             "error code. Use a subclass of HTTPException with that code "
                             "instead.") from None
    else:
        exc_class = code_or_exception
    if isinstance(exc_class, Exception):
        raise TypeError(f"{safe_repr(exc_class, 100)} is an instance, not a class. Handlers can "
                        "only be registered for Exception classes or HTTP error codes.")
    if not isinstance(exc_class, type) or not issubclass(exc_class, Exception):
        name = exc_class.__name__ if isinstance(exc_class, type) else safe_repr(exc_class, 100)
        raise ValueError(f"'{name}' is not a subclass of Exception. Handlers can only be "
                         "registered for Exception classes or HTTP error codes.")
    if issubclass(exc_class, HTTPException):
        code = exc_class.code
        return exc_class, code if type(code) is int else None
    return exc_class, None


def register(spec: dict, code_or_exception, func) -> None:
    """File ``func`` in ``spec`` (``{code: {class: func}}``) as Flask does."""
    exc_class, code = exc_class_and_code(code_or_exception)
    if sum(len(by_class) for by_class in spec.values()) >= MAX_HANDLERS:
        raise RuntimeError(f"more than {MAX_HANDLERS} error handlers")
    spec.setdefault(code, {})[exc_class] = func


def handles_code(spec: dict, code: int) -> bool:
    """Whether ``spec`` may answer status ``code`` (a handler for the code,
    or for a class with no code: ``HTTPException``, ``Exception``)."""
    return code in spec or None in spec


def levels(apps, site) -> list[list[dict]]:
    """Where Flask looks, in order: the route's blueprints' own handlers,
    then the app's (its own, and every blueprint's ``app_errorhandler``s)."""
    blueprints = [app._error_handlers for app in apps if app.is_blueprint]
    everyone = site.apps if site is not None else apps
    app_level = [app._error_handlers for app in everyone if not app.is_blueprint]
    app_level += [app._app_error_handlers for app in everyone]
    return [blueprints, app_level]


def find_error_handler(where: list[list[dict]], exc: Exception):
    """The handler for ``exc`` (Flask 3.1's ``_find_error_handler``), or None."""
    exc_class = type(exc)
    code = None
    if isinstance(exc, HTTPException):
        code = exc_class.code if type(exc_class.code) is int else None
    mro = exc_class.__mro__
    for key in (code, None) if code is not None else (None,):
        for level in where:
            for spec in level:
                by_class = spec.get(key)
                if not by_class:
                    continue
                for klass in mro:
                    handler = by_class.get(klass)
                    if handler is not None:
                        return handler
    return None


def _description_text(exc) -> None:
    """Make a description that is not text into text, sized (werkzeug's
    ``escape()`` would call ``str()`` on it in C, unbounded)."""
    description = exc.description
    if description is not None and not isinstance(description, str):
        exc.description = safe_str_builtin(description)


def _sized_header_values(exc) -> None:
    """Refuse what werkzeug would turn into an unbounded header in one C
    call: a 405's ``valid_methods``, a 416's ``length``/``units``, a 401's
    ``www_authenticate`` given as big containers (``str([0] * 10**7)``)."""
    for name, value in vars(exc).items():
        if name not in ("response", "original_exception", "description"):
            check_text(value, f"the {name} of an HTTP error")


def _sized(method):
    """A guard for ``get_body``/``get_description``/``get_headers``, read
    by tenant code: the sizes checked first, as :func:`error_response` does."""

    def factory(exc, name):
        bound = getattr(exc, name)

        def call(*args, **kwargs):
            _description_text(exc)
            _sized_header_values(exc)
            return bound(*args, **kwargs)

        return call

    return factory


def error_response(exc: HTTPException) -> Response:
    """``exc.get_response()``: the response ``abort(response)`` carried, or
    werkzeug's page for the error with its headers (``Allow`` of a 405...).
    Call it inside the limits."""
    carried = exc.response
    if carried is not None:
        if not isinstance(carried, Response):
            raise TypeError("an HTTPException's response must be a Response made here "
                            f"(make_response, jsonify...), not {type(carried).__name__}")
        return carried
    code = exc.code
    if type(code) is not int or not 100 <= code <= 999:
        raise TypeError(f"an HTTPException needs an int status code, not {safe_repr(code, 60)}")
    _description_text(exc)
    _sized_header_values(exc)
    return Response(exc.get_body(), status=code, headers=exc.get_headers())


def _get_response(exc, name):
    def get_response(environ=None, scope=None):
        return error_response(exc)

    return get_response


METHOD_GUARDS[(HTTPException, "get_response")] = _get_response
for _name in ("get_body", "get_description", "get_headers"):
    METHOD_GUARDS[(HTTPException, _name)] = _sized(_name)

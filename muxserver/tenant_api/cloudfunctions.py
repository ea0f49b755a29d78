"""Cloud Functions' Python runtime (functions-framework) as it calls a function.

* ``@functions_framework.http`` (or none): ``func(request)`` with a Flask
  request, Flask's return values; ``/robots.txt`` and ``/favicon.ico`` are
  404 without calling it.
* ``@functions_framework.typed``: POST only; the JSON body becomes
  ``InputType.from_dict(data)`` (the type from the decorator or the first
  parameter's annotation), the result is returned as it is when it is a
  built-in value, as ``json.dumps(result.to_dict())`` otherwise, and ``""``
  for ``None``; any error inside is the framework's
  ``FunctionsFrameworkException``.
* The request has a ``Function-Execution-Id`` header (the client's, or a
  new one), as functions-framework's middleware gives it.
* An unhandled error or an ``InternalServerError`` (``abort(500)``), with
  no ``functions_framework.errorhandler`` for it, answers as the framework's
  ``crash_handler``: ``500`` with the error's one-line text (werkzeug's
  description, or the one given to ``abort``) and ``X-Google-Status:
  crash``; an unhandled error's traceback goes to the tenant's log.
"""

from __future__ import annotations

import inspect
import secrets
import string

from werkzeug.exceptions import InternalServerError
from werkzeug.exceptions import MethodNotAllowed

from muxserver.tenant_api.response import Response
from muxserver.tenant_api.response import abort
from sandbox.guards import safe_str_builtin
from sandbox.guards.declared import declared
from sandbox.facades import jsontext
from sandbox.facades.aio import resolve


def runtime_environment(tenant: str, target: str, revision: str, port: int) -> dict[str, str]:
    """The variables Cloud Functions sets in a function's environment (its
    "runtime environment variables set automatically", and Cloud Run's for
    the function's service): the target function and its signature type
    (``http`` until the module has run, as functions-framework sets it then:
    :func:`signature_type`), the service (the tenant), its revision (the
    tenant's deployed version) and configuration, and the port requests
    come in on.

    .. warning::
       Not set: the legacy Python 3.7 runtime's ``ENTRY_POINT``,
       ``FUNCTION_NAME``, ``GCP_PROJECT``, ``FUNCTION_REGION``... — there is
       no project or region here, and ``ENTRY_POINT`` switches
       functions-framework to that runtime's other behaviour.
    """
    return {"FUNCTION_TARGET": target, "FUNCTION_SIGNATURE_TYPE": "http",
            "K_SERVICE": tenant, "K_REVISION": f"{tenant}-{revision[:12]}",
            "K_CONFIGURATION": tenant, "PORT": str(port)}


#: functions-framework's request header naming one execution of a function.
EXECUTION_ID_HEADER = "HTTP_FUNCTION_EXECUTION_ID"
_EXECUTION_ID_CHARS = string.digits + string.ascii_letters


def with_execution_id(environ: dict) -> dict:
    """The environ a Cloud Function's request is made from: with a
    ``Function-Execution-Id`` header (12 random letters and digits) when the
    client sent none, as functions-framework's middleware adds it (and as
    Cloud Functions' front end sends it)."""
    if environ.get(EXECUTION_ID_HEADER):
        return environ
    made = "".join(secrets.choice(_EXECUTION_ID_CHARS) for _ in range(12))
    return {**environ, EXECUTION_ID_HEADER: made}


def signature_type(func) -> str:
    """The signature type functions-framework gives ``func`` once its module
    has run (and writes into ``FUNCTION_SIGNATURE_TYPE``)."""
    return "typed" if isinstance(func, TypedFunction) else "http"


def call(func, request, site):
    """An HTTP function (``func`` awaits an ``async def`` already)."""
    if request.path in ("/robots.txt", "/favicon.ico"):
        abort(404, "Not Found")  # functions-framework answers these itself
    return func(request)


@declared("function input_type")
class TypedFunction:
    """What ``@functions_framework.typed`` makes: the function and the class
    its JSON input becomes (``from_dict``); called, it calls the function."""

    __slots__ = ("function", "input_type")

    def __init__(self, function, input_type):
        self.function = function
        self.input_type = input_type

    def __call__(self, *args, **kwargs):
        return self.function(*args, **kwargs)

    def __repr__(self):
        return f"<typed function {getattr(self.function, '__name__', '?')}>"


class FunctionsFrameworkException(Exception):
    """functions-framework's own error (its ``exceptions`` module's name)."""


def typed(*args):
    """``functions_framework.typed``, bare or with the input type, as its
    ``register_typed_event`` judges them: the first parameter's annotation
    (an object: a string annotation, ``from __future__ import annotations``,
    is refused there too) or the decorator's type — the same one when both
    are given — with a ``from_dict``."""
    def wrap(func, decorator_type):
        try:
            annotation = list(inspect.signature(func).parameters.values())[0].annotation
            if decorator_type is None and annotation is inspect.Parameter.empty:
                raise TypeError("no input type")
            if (decorator_type is not None and annotation is not inspect.Parameter.empty
                    and decorator_type is not annotation):
                raise TypeError("two input types")
            input_type = annotation if decorator_type is None else decorator_type
            if not callable(getattr(input_type, "from_dict", None)):
                raise AttributeError("no from_dict")
        except IndexError:
            raise FunctionsFrameworkException(
                "Function signature is missing an input parameter.The function should be "
                "defined as 'def your_fn(in: inputType)'") from None
        except Exception:
            raise FunctionsFrameworkException(
                "Functions using the @typed decorator must provide the type of the input "
                "parameter by specifying @typed(inputType) and/or using python type "
                "annotations 'def your_fn(in: inputType)'") from None
        return TypedFunction(func, input_type)

    if len(args) == 1 and callable(args[0]) and not isinstance(args[0], type):
        return wrap(args[0], None)
    input_type = args[0] if args else None
    return lambda func: wrap(func, input_type)


class FunctionCrashed(Exception):
    """A typed function failed (functions-framework's
    ``FunctionsFrameworkException``): the crash answer, unless an error
    handler takes it."""


def call_typed(func: TypedFunction, request):
    # functions-framework routes a typed function for POST only, with a rule
    # of its own (werkzeug's Rule: no automatic OPTIONS, so OPTIONS is a 405).
    if request.method != "POST":
        raise MethodNotAllowed(valid_methods=["POST"])
    try:
        data = request.get_json()
        value = resolve(func.input_type.from_dict(data))
        result = resolve(func.function(value))
        if result is None:
            return "", 200
        if type(result).__module__ == "builtins":
            return result
        to_dict = getattr(result, "to_dict", None)
        if not callable(to_dict):
            raise AttributeError(f"The type {type(result)} does not have the required method "
                                 "called 'to_dict'.")
        return jsontext.dumps(resolve(to_dict()), "to_dict()")
    except Exception as exc:
        raise FunctionCrashed("Function execution failed with the error") from exc


def crash_handler(error) -> Response:
    """functions-framework's ``crash_handler``, the 500 handler of the app
    it makes: ``str(e)`` of the ``InternalServerError`` (werkzeug's
    one-line description for an unhandled error, the tenant's own for
    ``abort(500, "...")``), with ``X-Google-Status: crash``."""
    return Response(safe_str_builtin(error), status=500, headers=[("X-Google-Status", "crash")])


#: The error handlers functions-framework's app has before the function's
#: module registers any (:func:`muxserver.tenant_api.errorhandlers.register`'s shape).
ERROR_HANDLERS = {500: {InternalServerError: crash_handler}}



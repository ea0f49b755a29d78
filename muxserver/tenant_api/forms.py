"""Other platforms' function forms, called the way each platform calls them.

``[function] form = ...`` in tenant.toml names one; the entry point serves
every method and path of the tenant. Each caller below follows the public
runtime of its platform:

* ``flask`` (Fission's ``--entrypoint``): ``func()``, Flask's ``request``
  global, Flask's return values.
* ``gcf`` (Cloud Functions, functions-framework): ``func(request)`` with a
  Flask request; Flask's return values (:mod:`.cloudfunctions`: typed
  functions, the crash answer).
* ``openfaas`` (the ``python3-flask`` template): ``handle(body_text)``;
  Flask's return values (a str is ``text/html``, ``(body, status)``...).
* ``openfaas-http`` (``python3-http``): ``handle(event, context)`` with
  ``event.body/headers/method/query/path``; a dict with ``statusCode``,
  ``body`` (a dict body is JSON) and ``headers``, or ``None`` for an empty 200.
* ``nuclio``: ``handler(context, event)`` with ``event.body`` (JSON decoded
  for ``application/json``), ``event.headers/method/path/fields``,
  ``context.logger`` and ``context.Response``; returns a str, bytes, dict
  (JSON), ``(status, body)`` or a ``context.Response``.
* ``vercel``: a ``handler`` class subclassing ``BaseHTTPRequestHandler``
  (``do_GET``... writing to ``self.wfile``), or a Flask ``app``.
* ``lambda`` and ``lambda-rest``: AWS Lambda's ``handler(event, context)``
  behind API Gateway (:mod:`muxserver.tenant_api.apigateway`).

An ``async def`` entry point is awaited (:func:`sandbox.facades.aio.resolve`).
"""

from __future__ import annotations

import html
from http import server as _stdlib_server

from muxserver.tenant_api import apigateway
from muxserver.tenant_api import cloudfunctions
from muxserver.tenant_api.response import Response
from muxserver.tenant_api.response import jsonify
from sandbox import guards
from sandbox.guards import safe_str_builtin
from sandbox.facades.aio import resolve
from sandbox.facades import jsontext
from sandbox.facades.data import decode_json
from sandbox.facades.system import TenantLogger
from sandbox.guards.declared import declared


def call(form: str, func, request, site, tenant_root=None):
    """Call the entry point of ``form``; return a Flask-style return value."""
    if form in ("lambda", "lambda-rest"):
        return apigateway.call(func, request, site, tenant_root, rest=form == "lambda-rest")
    if isinstance(func, cloudfunctions.TypedFunction):
        return cloudfunctions.call_typed(func, request)
    caller = _CALLERS.get(form)
    if caller is None:
        raise RuntimeError(f"unknown function form {form!r}")
    return caller(_awaited(func), request, site)


def _awaited(func):
    """``func``, whose ``async def`` coroutines are driven to their result."""
    if isinstance(func, type):
        return func  # a Vercel handler class

    def call(*args):
        return resolve(func(*args))

    return call


def _flask(func, request, site):
    return func()


def _openfaas(func, request, site):
    # python3-flask: the body as text in, Flask's return values out.
    return func(request.get_data(as_text=True))


@declared("body headers method query path", dynamic=True)
class Event:
    """``python3-http``'s event."""

    _guarded_writes = True

    def __init__(self, request):
        self.body = request.get_data()
        self.headers = request.headers
        self.method = request.method
        self.query = request.args
        self.path = request.path


@declared("hostname", dynamic=True)
class FaasContext:
    """``python3-http``'s context."""

    _guarded_writes = True

    def __init__(self):
        self.hostname = "localhost"


def _openfaas_http(func, request, site):
    result = func(Event(request), FaasContext())
    if result is None:
        return "", 200
    if not isinstance(result, dict):
        return result
    status = result.get("statusCode", 200)
    headers = result.get("headers") or {}
    content_type = headers.get("Content-type", "") if isinstance(headers, dict) else ""
    body = result.get("body", "")
    if content_type == "application/octet-stream":
        pass
    elif isinstance(body, dict):
        body = jsonify(body)
        if headers:
            for name, value in (headers.items() if isinstance(headers, dict) else headers):
                body.headers[name] = value
        body.status_code = status
        return body
    else:
        body = safe_str_builtin(body)
    return body, status, list(headers.items()) if isinstance(headers, dict) else headers


@declared("content_type body headers method path fields id trigger", dynamic=True)
class NuclioEvent:
    """nuclio's event."""

    _guarded_writes = True

    def __init__(self, request):
        data = request.get_data()
        self.content_type = request.mimetype or ""
        if self.content_type == "application/json" and data:
            try:
                data = decode_json(data)
            except ValueError:
                pass
        self.body = data
        self.headers = dict(request.headers.items())
        self.method = request.method
        self.path = request.path
        self.fields = dict(request.args.items())
        self.id = ""
        self.trigger = _Trigger()


@declared("kind")
class _Trigger:
    __slots__ = ()
    kind = "http"


@declared("body headers content_type status_code", dynamic=True)
class NuclioResponse:
    """``context.Response(body=, headers=, content_type=, status_code=)``."""

    _guarded_writes = True

    def __init__(self, body=None, headers=None, content_type="text/plain", status_code=200):
        self.body = body
        self.headers = headers or {}
        self.content_type = content_type
        self.status_code = status_code


@declared("Response logger user_data", dynamic=True)
class NuclioContext:
    """nuclio's context: a logger, ``Response``, ``user_data``."""

    _guarded_writes = True
    Response = NuclioResponse

    def __init__(self, site):
        self.logger = _NuclioLogger(site)
        self.user_data = _UserData()


@declared(dynamic=True)
class _UserData:
    _guarded_writes = True


@declared("debug_with info_with warn_with error_with")
class _NuclioLogger(TenantLogger):
    """nuclio's ``context.logger``: ``info_with(message, **fields)`` too."""

    __slots__ = ()

    def __init__(self, site):
        super().__init__("", site.log_line if site is not None else lambda line, level="info": None)

    def _with(self, level, message, *args, **fields):
        extra = " ".join(f"{k}={guards.safe_repr(v, 1000)}" for k, v in fields.items())
        self.log(level, f"{guards.safe_str(message)} {extra}".strip(), *args)

    def debug_with(self, message, *args, **fields):
        self._with(10, message, *args, **fields)

    def info_with(self, message, *args, **fields):
        self._with(20, message, *args, **fields)

    def warn_with(self, message, *args, **fields):
        self._with(30, message, *args, **fields)

    def error_with(self, message, *args, **fields):
        self._with(40, message, *args, **fields)


def _nuclio_body(body):
    if isinstance(body, (dict, list)):
        return jsontext.dumps(body, "the response body"), "application/json"
    return body if isinstance(body, (str, bytes)) else str(body), None


def _nuclio(func, request, site):
    result = func(NuclioContext(site), NuclioEvent(request))
    if isinstance(result, NuclioResponse):
        body, json_type = _nuclio_body(result.body if result.body is not None else "")
        response = Response(body, status=result.status_code,
                            content_type=json_type or result.content_type)
        for name, value in dict(result.headers).items():
            response.headers[name] = safe_str_builtin(value)
        return response
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], int):
        status, body = result
    else:
        status, body = 200, result
    if body is None:
        body = ""
    body, json_type = _nuclio_body(body)
    return Response(body, status=status, content_type=json_type or "text/plain")


@declared("command path headers request_version client_address rfile wfile "
          "send_response send_response_only send_header end_headers send_error log_message", dynamic=True)
class BaseHTTPRequestHandler:
    """``http.server.BaseHTTPRequestHandler`` as Vercel's Python runtime
    drives it: ``do_GET``... with ``self.path``, ``self.headers``,
    ``self.rfile``; ``send_response``/``send_header``/``end_headers`` and
    ``self.wfile.write`` build the answer."""

    _guarded_writes = True

    def __init__(self, request):
        self.command = request.method
        self.path = request.full_path.rstrip("?") if request.query_string else request.path
        self.headers = request.headers
        self.request_version = "HTTP/1.1"
        self.client_address = (request.remote_addr or "", 0)
        self.rfile = _Body(request.get_data())
        self.wfile = _Written()
        self.mux_status = 200
        self.mux_headers = []

    def send_response(self, code, message=None):
        self.mux_status = int(code)

    send_response_only = send_response

    def send_header(self, keyword, value):
        if len(self.mux_headers) >= 100:
            raise ValueError("more than 100 headers")
        self.mux_headers.append((safe_str_builtin(keyword), safe_str_builtin(value)))

    def end_headers(self):
        pass

    #: The page and type ``send_error`` answers with, as in ``http.server``
    #: (a subclass may set its own, as plain strings).
    error_message_format = _stdlib_server.DEFAULT_ERROR_MESSAGE
    error_content_type = _stdlib_server.DEFAULT_ERROR_CONTENT_TYPE

    def send_error(self, code, message=None, explain=None):
        """As ``http.server``'s: the status and, unless the code has no
        body (1xx, 204, 205, 304) or the request is a HEAD, the class's HTML
        error page with the message and explanation escaped."""
        code = int(code)
        short, long = _stdlib_server.BaseHTTPRequestHandler.responses.get(code, ("???", "???"))
        message = short if message is None else guards.safe_str(message)
        explain = long if explain is None else guards.safe_str(explain)
        self.send_response(code, message)
        self.send_header("Connection", "close")
        body = None
        if code >= 200 and code not in (204, 205, 304):
            page = guards.guarded_mod(
                _class_text(self, "error_message_format"),
                {"code": code, "message": html.escape(message, quote=False),
                 "explain": html.escape(explain, quote=False)})
            body = page.encode("UTF-8", "replace")
            self.send_header("Content-Type", _class_text(self, "error_content_type"))
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def log_message(self, format, *args):
        pass


def _class_text(handler, name: str) -> str:
    """A text class attribute of the handler's class (``error_message_format``):
    read from the classes' dicts, so no descriptor of tenant code runs in
    here, and only a plain string counts (else the default)."""
    for klass in type(handler).__mro__:
        value = vars(klass).get(name)
        if value is not None:
            return value if type(value) is str else getattr(BaseHTTPRequestHandler, name)
    return getattr(BaseHTTPRequestHandler, name)


@declared("read")
class _Body:
    __slots__ = ("_data", "_pos")

    def __init__(self, data):
        self._data = data
        self._pos = 0

    def read(self, size=-1):
        end = len(self._data) if size is None or size < 0 else self._pos + size
        chunk = self._data[self._pos:end]
        self._pos += len(chunk)
        return chunk


@declared("write flush getvalue")
class _Written:
    __slots__ = ("_parts", "_size")

    def __init__(self):
        self._parts = []
        self._size = 0

    def write(self, data):
        if isinstance(data, str):
            raise TypeError("wfile.write() takes bytes")
        self._size += len(data)
        guards.check_allocation(self._size, "wfile.write()")
        self._parts.append(bytes(data))
        return len(data)

    def flush(self):
        pass

    def getvalue(self):
        return b"".join(self._parts)


def _vercel(func, request, site):
    if isinstance(func, type) and issubclass(func, BaseHTTPRequestHandler):
        handler = func(request)
        method = getattr(handler, f"do_{request.method}", None)
        if method is None:  # http.server's answer
            handler.send_error(501, f"Unsupported method ({request.method!r})")
        else:
            method()
        response = Response(handler.wfile.getvalue(), status=handler.mux_status,
                            headers=handler.mux_headers)
        if not any(name.lower() == "content-type" for name, _ in handler.mux_headers):
            del response.headers["Content-Type"]
        return response
    if callable(func):
        return func(request)
    raise TypeError("a Vercel entry point is a handler class (BaseHTTPRequestHandler) "
                    "or a function")


def environment(tenant: str, manifest, revision: str, port: int) -> dict[str, str]:
    """What ``os.environ`` holds for a tenant: the variables its platform
    sets (Cloud Functions' for ``gcf``:
    :func:`~muxserver.tenant_api.cloudfunctions.runtime_environment`;
    Lambda's for ``lambda`` and ``lambda-rest``:
    :func:`~muxserver.tenant_api.apigateway.runtime_environment`), under its
    own ``[env]``, which always wins."""
    function = manifest.function
    platform = {}
    if function is not None and function.form == "gcf":
        platform = cloudfunctions.runtime_environment(tenant, function.name, revision, port)
    elif function is not None and function.form in ("lambda", "lambda-rest"):
        platform = apigateway.runtime_environment(tenant, function.entrypoint,
                                                  manifest.limits.memory_mb)
    return {**platform, **manifest.env}


_CALLERS = {
    "flask": _flask,
    "gcf": cloudfunctions.call,
    "openfaas": _openfaas,
    "openfaas-http": _openfaas_http,
    "nuclio": _nuclio,
    "vercel": _vercel,
}

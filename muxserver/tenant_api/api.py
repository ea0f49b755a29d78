"""The tenant API: what ``import mux`` and ``from flask import ...`` give.

Objects here are handed to tenant code, so each exposes only public names
with plain values: :class:`TenantRequest` holds the werkzeug request in a
slot tenant code cannot name (``_r``) and offers Flask's request attributes;
uploaded files are :class:`UploadedFile`, which can be read but not saved to
a path; request headers are a copy, not werkzeug's ``EnvironHeaders`` (which
carries the WSGI environ). :class:`Response` is this module's own small
class, not werkzeug's, whose class attributes reach the ``json`` module.

``Flask`` and ``Blueprint`` are shims: they record the routes a module
declares so the loader can find the functions that registration (which read
the same decorators from the source) promised.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from types import MappingProxyType
from typing import Any

from werkzeug.datastructures import Headers
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.http import dump_cookie
from werkzeug.wrappers import Request

from muxserver.tenant_api import context


class TenantHeaders(Headers):
    """werkzeug ``Headers`` that tenant code may change (its own copy)."""

    _guarded_writes = True


class UploadedFile:
    """A file from a multipart form: name, type and content, no host paths."""

    __slots__ = ("_fs",)

    def __init__(self, storage):
        self._fs = storage

    @property
    def filename(self):
        return self._fs.filename

    @property
    def name(self):
        return self._fs.name

    @property
    def content_type(self):
        return self._fs.content_type

    @property
    def mimetype(self):
        return self._fs.mimetype

    @property
    def content_length(self):
        return self._fs.content_length

    @property
    def headers(self):
        return TenantHeaders(list(self._fs.headers.items()))

    def read(self, size: int = -1) -> bytes:
        return self._fs.stream.read(size)

    def __repr__(self):
        return f"<UploadedFile {self.filename!r} ({self.content_type})>"


class CappedInput:
    """A request body stream that raises 413 past ``limit`` bytes."""

    def __init__(self, stream, limit: int):
        self._stream = stream
        self._left = limit

    def _take(self, data: bytes) -> bytes:
        self._left -= len(data)
        if self._left < 0:
            raise RequestEntityTooLarge()
        return data

    def read(self, size: int | None = -1) -> bytes:
        want = self._left + 1 if size is None or size < 0 else min(size, self._left + 1)
        return self._take(self._stream.read(want))

    def readline(self, size: int | None = -1) -> bytes:
        want = self._left + 1 if size is None or size < 0 else min(size, self._left + 1)
        return self._take(self._stream.readline(want))

    def __iter__(self):
        while True:
            line = self.readline(65536)
            if not line:
                return
            yield line


class TenantRequest:
    """The request as tenant code sees it: Flask's attribute names.

    ``path`` is relative to the tenant's mount point, as in a Flask app
    mounted under a prefix; ``script_root`` is the mount (``/acme``). The
    werkzeug request behind it is built on first use: a handler that never
    reads the request does not pay for parsing it.
    """

    __slots__ = ("_environ", "_rel", "_mount", "_wz", "_view_args", "_headers", "_files",
                 "_endpoint", "_max_body")

    def __init__(self, environ, rel: str, mount: str, view_args: dict, endpoint: str = "",
                 max_body: int | None = None):
        self._environ = environ
        self._rel = rel
        self._mount = mount
        self._wz = None
        self._view_args = view_args
        self._headers = None
        self._files = None
        self._endpoint = endpoint
        self._max_body = max_body

    @property
    def _r(self):
        wz = self._wz
        if wz is None:
            env = dict(self._environ)
            env["SCRIPT_NAME"] = self._environ.get("SCRIPT_NAME", "") + self._mount
            env["PATH_INFO"] = self._rel
            capped = (self._max_body is not None and not env.get("CONTENT_LENGTH")
                      and "wsgi.input" in env)
            if capped:
                # A chunked body has no length to check up front, and
                # werkzeug would cut it at the limit without a word: count
                # the bytes instead, and answer 413 past the limit.
                env["wsgi.input"] = CappedInput(env["wsgi.input"], self._max_body)
            wz = self._wz = Request(env)
            wz.max_content_length = None if capped else self._max_body
        return wz

    def close(self) -> None:
        """Release uploaded files' temporary files (host use)."""
        if self._wz is not None:
            self._wz.close()

    # -- the URL -------------------------------------------------------------

    method = property(lambda self: self._r.method)
    path = property(lambda self: self._r.path)
    full_path = property(lambda self: self._r.full_path)
    script_root = property(lambda self: self._r.script_root)
    url = property(lambda self: self._r.url)
    base_url = property(lambda self: self._r.base_url)
    url_root = property(lambda self: self._r.url_root)
    host_url = property(lambda self: self._r.host_url)
    host = property(lambda self: self._r.host)
    scheme = property(lambda self: self._r.scheme)
    is_secure = property(lambda self: self._r.is_secure)
    query_string = property(lambda self: self._r.query_string)
    args = property(lambda self: self._r.args)
    view_args = property(lambda self: dict(self._view_args))
    endpoint = property(lambda self: self._endpoint)
    remote_addr = property(lambda self: self._r.remote_addr)

    # -- headers ---------------------------------------------------------------

    @property
    def headers(self) -> TenantHeaders:
        if self._headers is None:
            self._headers = TenantHeaders(list(self._r.headers.items()))
        return self._headers

    cookies = property(lambda self: self._r.cookies)
    content_type = property(lambda self: self._r.content_type)
    mimetype = property(lambda self: self._r.mimetype)
    content_length = property(lambda self: self._r.content_length)
    authorization = property(lambda self: self._r.authorization)
    origin = property(lambda self: self._r.origin)
    referrer = property(lambda self: self._r.referrer)
    accept_mimetypes = property(lambda self: self._r.accept_mimetypes)

    @property
    def user_agent(self) -> str:
        return self._r.headers.get("User-Agent", "")

    # -- the body ----------------------------------------------------------------

    form = property(lambda self: self._r.form)
    values = property(lambda self: self._r.values)

    @property
    def files(self) -> dict:
        if self._files is None:
            self._files = {
                key: UploadedFile(storage) for key, storage in self._r.files.items()
            }
        return self._files

    @property
    def data(self) -> bytes:
        return self._r.get_data()

    def get_data(self, cache: bool = True, as_text: bool = False, parse_form_data: bool = False):
        return self._r.get_data(cache=cache, as_text=as_text, parse_form_data=parse_form_data)

    @property
    def is_json(self) -> bool:
        return self._r.is_json

    @property
    def json(self):
        return self._r.get_json()

    def get_json(self, force: bool = False, silent: bool = False, cache: bool = True):
        return self._r.get_json(force=force, silent=silent, cache=cache)

    def __repr__(self):
        return f"<Request {self.method} {self.full_path!r}>"


class RequestProxy:
    """``mux.request``: the request of the greenlet that reads it."""

    __slots__ = ()

    def _get(self) -> TenantRequest:
        ctx = context.current()
        if ctx is None or ctx.request is None:
            raise RuntimeError("there is no request here (module top level runs at load time)")
        return ctx.request

    def __getattr__(self, name):
        return getattr(self._get(), name)

    def __repr__(self):
        ctx = context.current()
        return repr(ctx.request) if ctx and ctx.request else "<no request>"

    def __bool__(self):
        ctx = context.current()
        return bool(ctx and ctx.request)


request = RequestProxy()


# -- responses -----------------------------------------------------------------


def _status_line(code: int) -> str:
    try:
        return f"{code} {HTTPStatus(code).phrase.upper()}"
    except ValueError:
        return f"{code} UNKNOWN"


class Response:
    """A response built by tenant code (Flask's names, a small surface).

    :param response: ``str``, ``bytes`` or an iterable of them (streamed).
    :param status: an ``int`` or ``"201 CREATED"``.
    :param headers: a dict, a list of pairs or ``Headers``.
    """

    _guarded_writes = True
    default_mimetype = "text/html"
    __slots__ = ("_body", "_status", "_headers")

    def __init__(self, response=None, status=None, headers=None, mimetype=None,
                 content_type=None, direct_passthrough=False):
        self._headers = TenantHeaders(headers)
        self._status = 200
        if status is not None:
            self.status = status
        if content_type is None:
            mimetype = mimetype or self.default_mimetype
            content_type = (
                f"{mimetype}; charset=utf-8"
                if mimetype.startswith("text/") or mimetype == "application/javascript"
                else mimetype
            )
        if "Content-Type" not in self._headers:
            self._headers["Content-Type"] = content_type
        self._body = b"" if response is None else response

    # -- status ----------------------------------------------------------------

    @property
    def status_code(self) -> int:
        return self._status

    @status_code.setter
    def status_code(self, code):
        if type(code) is not int or not 100 <= code <= 999:
            raise ValueError(f"status code must be an int from 100 to 999, not {code!r}")
        self._status = code

    @property
    def status(self) -> str:
        return _status_line(self._status)

    @status.setter
    def status(self, value):
        if isinstance(value, int):
            self.status_code = value
            return
        if isinstance(value, str) and value[:3].isdigit():
            self.status_code = int(value[:3])
            return
        raise ValueError(f"status must be an int or a string like '201 CREATED', not {value!r}")

    # -- headers ----------------------------------------------------------------

    @property
    def headers(self) -> TenantHeaders:
        return self._headers

    @headers.setter
    def headers(self, value):
        self._headers = TenantHeaders(value)

    @property
    def content_type(self):
        return self._headers.get("Content-Type")

    @content_type.setter
    def content_type(self, value):
        self._headers["Content-Type"] = value

    @property
    def mimetype(self):
        value = self.content_type or ""
        return value.split(";")[0].strip().lower()

    @mimetype.setter
    def mimetype(self, value):
        self.content_type = (
            f"{value}; charset=utf-8" if value.startswith("text/") else value
        )

    @property
    def location(self):
        return self._headers.get("Location")

    @location.setter
    def location(self, value):
        self._headers["Location"] = value

    def set_cookie(self, key, value="", max_age=None, expires=None, path="/", domain=None,
                   secure=False, httponly=False, samesite=None):
        self._headers.add(
            "Set-Cookie",
            dump_cookie(key, value, max_age=max_age, expires=expires, path=path, domain=domain,
                        secure=secure, httponly=httponly, samesite=samesite),
        )

    def delete_cookie(self, key, path="/", domain=None, secure=False, httponly=False,
                      samesite=None):
        self.set_cookie(key, expires=0, max_age=0, path=path, domain=domain, secure=secure,
                        httponly=httponly, samesite=samesite)

    # -- body ---------------------------------------------------------------------

    def get_data(self, as_text: bool = False):
        body = self._body
        if isinstance(body, str):
            return body if as_text else body.encode("utf-8")
        if isinstance(body, (bytes, bytearray)):
            return bytes(body).decode("utf-8") if as_text else bytes(body)
        raise TypeError("a streamed response has no data until it is sent")

    def set_data(self, value):
        if not isinstance(value, (str, bytes, bytearray)):
            raise TypeError("response data must be str or bytes")
        self._body = value

    data = property(get_data, set_data)

    @property
    def body(self):
        """The body as given: str, bytes or an iterable (host use)."""
        return self._body

    @property
    def is_json(self) -> bool:
        return self.mimetype == "application/json"

    @property
    def json(self):
        return json.loads(self.get_data()) if self.is_json else None

    def __repr__(self):
        return f"<Response {self.status}>"


def jsonify(*args, **kwargs) -> Response:
    """Flask's ``jsonify``: one argument, several (a list), or keywords."""
    if args and kwargs:
        raise TypeError("jsonify() takes arguments or keywords, not both")
    data = args[0] if len(args) == 1 else list(args) if args else kwargs
    return Response(json.dumps(data) + "\n", mimetype="application/json")


class HTTPAbort(Exception):
    """Raised by :func:`abort`; the host answers with its status.

    :param code: the HTTP status.
    :param description: shown in the body.
    :param response: a full response to send instead.
    """

    def __init__(self, code: int, description: str | None = None, response: Response | None = None):
        super().__init__(code, description)
        self.code = code
        self.description = description
        self.response = response


def abort(status, *args, **kwargs):
    """Stop the request with ``status`` (an int) or with a :class:`Response`."""
    if isinstance(status, Response):
        raise HTTPAbort(status.status_code, None, status)
    if type(status) is not int or not 400 <= status <= 599:
        raise ValueError(f"abort() needs an error status from 400 to 599, not {status!r}")
    description = args[0] if args else kwargs.get("description")
    raise HTTPAbort(status, None if description is None else str(description))


def redirect(location, code: int = 302) -> Response:
    """A redirect to ``location`` (relative URLs are left as they are)."""
    if code not in (301, 302, 303, 305, 307, 308):
        raise ValueError(f"redirect code must be a 3xx redirect status, not {code}")
    response = Response(f"Redirecting to {location}\n", status=code, mimetype="text/plain")
    response.headers["Location"] = str(location)
    return response


def make_response(*args) -> Response:
    """Flask's ``make_response``: turn a return value into a Response."""
    from muxserver.http.responses import to_response_object

    if not args:
        return Response()
    value = args[0] if len(args) == 1 else tuple(args)
    return to_response_object(value)


# -- Flask / Blueprint shims --------------------------------------------------


class Flask:
    """Records what a Flask-style module declares.

    Routes: ``route``/``get``/``post``/``put``/``patch``/``delete``. Also
    ``errorhandler``, ``before_request``, ``after_request``, a ``config``
    dict, and ``run``/``register_blueprint`` that do nothing (the server
    routes every blueprint of the tenant by itself).
    """

    _guarded_writes = True
    __slots__ = ("import_name", "name", "config", "secret_key", "url_prefix",
                 "_routes", "_error_handlers", "_before", "_after")

    def __init__(self, import_name="", *args, url_prefix=None, **kwargs):
        self.import_name = import_name
        self.name = import_name
        self.config = {}
        self.secret_key = None
        self.url_prefix = (url_prefix or "").rstrip("/")
        self._routes = []
        self._error_handlers = {}
        self._before = []
        self._after = []

    def route(self, rule, methods=None, **options):
        full = self.url_prefix + rule if self.url_prefix else rule

        def decorator(func):
            self._routes.append((full, getattr(func, "__name__", ""), func))
            return func

        return decorator

    def get(self, rule, **options):
        return self.route(rule, methods=["GET"], **options)

    def post(self, rule, **options):
        return self.route(rule, methods=["POST"], **options)

    def put(self, rule, **options):
        return self.route(rule, methods=["PUT"], **options)

    def patch(self, rule, **options):
        return self.route(rule, methods=["PATCH"], **options)

    def delete(self, rule, **options):
        return self.route(rule, methods=["DELETE"], **options)

    def errorhandler(self, code_or_exception):
        def decorator(func):
            self._error_handlers[code_or_exception] = func
            return func

        return decorator

    def before_request(self, func):
        self._before.append(func)
        return func

    def after_request(self, func):
        self._after.append(func)
        return func

    def register_blueprint(self, blueprint, **options):
        return None

    def run(self, *args, **kwargs):
        return None

    def __repr__(self):
        return f"<{type(self).__name__} {self.name!r}>"


class Blueprint(Flask):
    """``Blueprint(name, import_name, url_prefix=...)``."""

    __slots__ = ()

    def __init__(self, name="", import_name="", *args, url_prefix=None, **kwargs):
        super().__init__(import_name, url_prefix=url_prefix)
        self.name = name


# -- the modules -------------------------------------------------------------


def module_attrs(env: dict, log) -> dict[str, Any]:
    """The names of ``mux`` (and ``flask``) for one tenant."""
    return {
        "request": request,
        "Response": Response,
        "jsonify": jsonify,
        "abort": abort,
        "redirect": redirect,
        "make_response": make_response,
        "env": MappingProxyType(dict(env)),
        "log": log,
        "Flask": Flask,
        "Blueprint": Blueprint,
        "HTTPException": HTTPAbort,
    }

"""Responses tenant code builds: ``Response``, ``jsonify``, ``abort``,
``redirect``, ``make_response``.

:class:`Response` is this package's own small class, not werkzeug's, whose
class attributes reach the ``json`` module.
"""

from __future__ import annotations

from http import HTTPStatus

from werkzeug import exceptions as wz_exceptions
from werkzeug.http import dump_cookie
from werkzeug.utils import get_content_type

from muxserver.tenant_api import flask_json
from muxserver.tenant_api.request import TenantHeaders
from sandbox.guards import safe_repr
from sandbox.guards import safe_str_builtin
from sandbox.facades.data import decode_json
from sandbox.guards.declared import declared


def _status_line(code: int) -> str:
    try:
        return f"{code} {HTTPStatus(code).phrase.upper()}"
    except ValueError:
        return f"{code} UNKNOWN"


@declared("status_code status headers content_type mimetype location set_cookie delete_cookie "
          "get_data set_data data is_json json default_mimetype autocorrect_location_header")
class Response:
    """A response built by tenant code (Flask's names, a small surface).

    :param response: ``str``, ``bytes`` or an iterable of them (streamed).
    :param status: an ``int`` or ``"201 CREATED"``.
    :param headers: a dict, a list of pairs or ``Headers``.
    """

    _guarded_writes = True
    default_mimetype = "text/html"
    __slots__ = ("_body", "_status", "_headers", "_autocorrect")

    def __init__(self, response=None, status=None, headers=None, mimetype=None,
                 content_type=None, direct_passthrough=False):
        self._headers = TenantHeaders(headers)
        self._status = 200
        if status is not None:
            self.status = status
        if content_type is None:
            content_type = get_content_type(mimetype or self.default_mimetype, "utf-8")
        if "Content-Type" not in self._headers:
            self._headers["Content-Type"] = content_type
        self._body = b"" if response is None else response
        self._autocorrect = False

    @property
    def autocorrect_location_header(self) -> bool:
        """werkzeug's switch (off by default since 2.1): when true, a
        relative ``Location`` is made absolute against the request's URL
        as the response is sent (:func:`muxserver.http.responses.to_plain`)."""
        return self._autocorrect

    @autocorrect_location_header.setter
    def autocorrect_location_header(self, value):
        self._autocorrect = bool(value)

    # -- status ----------------------------------------------------------------

    @property
    def status_code(self) -> int:
        return self._status

    @status_code.setter
    def status_code(self, code):
        if type(code) is not int or not 100 <= code <= 999:
            raise ValueError(f"status code must be an int from 100 to 999, not {safe_repr(code, 100)}")
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
        raise ValueError(f"status must be an int or a string like '201 CREATED', not "
                         f"{safe_repr(value, 100)}")

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
        # werkzeug's rule: text/*, XML and JavaScript types get the charset.
        self.content_type = get_content_type(value, "utf-8")

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
        return decode_json(self.get_data()) if self.is_json else None

    def __repr__(self):
        return f"<Response {self.status}>"


def html_error_page(code: int, description: str | None = None) -> str:
    """The HTML page werkzeug (and so Flask) answers an error with."""
    from werkzeug.exceptions import default_exceptions

    cls = default_exceptions.get(code)
    if cls is None:
        return f"<!doctype html>\n<html lang=en>\n<title>{_status_line(code)}</title>\n"
    return cls(description).get_body()


def jsonify(*args, **kwargs) -> Response:
    """Flask's ``jsonify``: one argument, several (a list), or keywords."""
    if args and kwargs:
        raise TypeError("jsonify() takes arguments or keywords, not both")
    data = args[0] if len(args) == 1 else list(args) if args else kwargs
    return Response(flask_json.response_text(data), mimetype=flask_json.response_mimetype())


def abort(status, *args, **kwargs):
    """werkzeug's (and Flask's) ``abort``: raise the HTTP error of
    ``status`` (werkzeug's class for it: ``abort(404)`` raises ``NotFound``,
    its arguments are the class's: ``description``, ``response``, a 405's
    ``valid_methods``...), or, given a :class:`Response`, an
    ``HTTPException`` that carries it (answered as it is, no handler)."""
    if isinstance(status, Response):
        raise wz_exceptions.HTTPException(response=status)
    if type(status) is not int or status not in wz_exceptions.default_exceptions:
        raise LookupError(f"no exception for {safe_repr(status, 100)}")
    raise wz_exceptions.default_exceptions[status](*args, **kwargs)


def redirect(location, code: int = 302) -> Response:
    """A redirect to ``location`` (relative URLs are left as they are)."""
    if code not in (301, 302, 303, 305, 307, 308):
        raise ValueError(f"redirect code must be a 3xx redirect status, not {safe_repr(code, 100)}")
    from markupsafe import escape

    # The tenant's value made text as its own str() would, sized first
    # (escape() and the header called the real str(), round 15).
    location = safe_str_builtin(location)
    # werkzeug's body, as Flask sends it.
    html = (f"<!doctype html>\n<html lang=en>\n<title>Redirecting...</title>\n<h1>Redirecting...</h1>\n"
            f"<p>You should be redirected automatically to the target URL: <a href=\"{escape(location)}\">"
            f"{escape(location)}</a>. If not, click the link.\n")
    response = Response(html, status=code, mimetype="text/html")
    response.headers["Location"] = location
    return response


def make_response(*args) -> Response:
    """Flask's ``make_response``: turn a return value into a Response."""
    from muxserver.http.responses import to_response_object

    if not args:
        return Response()
    value = args[0] if len(args) == 1 else tuple(args)
    return to_response_object(value)

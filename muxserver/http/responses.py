"""Turn what a handler returned into plain status, headers and body.

Flask's conventions: ``str`` (text/html), ``bytes``, ``dict``/``list``
(JSON), a :class:`~muxserver.tenant_api.response.Response`, ``(body, status)``,
``(body, status, headers)``, ``(body, headers)``; a generator streams.

This runs *inside* the request's limits (SECURITY-NOTES, item 9): a value
from tenant code may be a ``str`` subclass with an ``encode`` that loops,
a dict whose ``items()`` allocates, a header name whose ``__eq__`` lies.
Everything that leaves here is an exact ``int``, ``str`` or ``bytes``
(or an iterator the host drives under the same limits).
"""

from __future__ import annotations

import json
import time
import types
from email.utils import formatdate
from http import HTTPStatus
from urllib.parse import urljoin

from werkzeug.datastructures import Headers
from werkzeug.exceptions import HTTPException
from werkzeug.urls import iri_to_uri
from werkzeug.wsgi import get_current_url

from muxserver.tenant_api import context
from muxserver.tenant_api.errorhandlers import error_response
from muxserver.tenant_api import flask_json
from muxserver.tenant_api.response import Response

#: Largest response body held in memory (streamed bodies are not capped).
MAX_BODY_BYTES = 64 * 2**20
#: Most headers, and most header bytes, one response may set.
MAX_HEADERS = 200
MAX_HEADER_BYTES = 64 * 1024
#: Headers the server owns: framing and hop-by-hop headers set by tenant code
#: could desynchronise a keep-alive connection that a proxy shares between
#: users, so they are dropped; X-Request-Id and Date are the server's.
SERVER_HEADERS = frozenset([
    "content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "te",
    "trailer", "proxy-connection", "date", "x-request-id",
])
#: Headers a front server acts on beyond this answer: nginx's
#: ``X-Accel-Redirect`` restarts the request at any path of the origin —
#: another tenant's, with this client's headers, or an internal location of
#: the operator's — and Apache's and lighttpd's send-file headers serve any
#: file the front server can read. Dropped, whatever is in front. (The other
#: ``X-Accel-*`` headers shape only this answer — ``X-Accel-Buffering: no``
#: is how a streaming app asks nginx not to buffer — and pass.)
FRONT_SERVER_DIRECTIVES = frozenset([
    "x-accel-redirect", "x-sendfile", "x-lighttpd-send-file", "x-lighttpd-send-tempfile",
])
_DROPPED = SERVER_HEADERS | FRONT_SERVER_DIRECTIVES

_HTML = "text/html; charset=utf-8"
_JSON = "application/json"


class BadReturnValue(TypeError):
    """The handler returned something that is not a response."""


def _exact_str(value, what: str) -> str:
    if type(value) is str:
        return value
    if isinstance(value, str):
        # str.__str__ copies a subclass into an exact str without calling
        # any method the subclass could override.
        return str.__str__(value)
    raise BadReturnValue(f"{what} must be a string, not {type(value).__name__}")


def _exact_bytes(value) -> bytes:
    if type(value) is bytes:
        return value
    return bytes(memoryview(value))


def _body_bytes(body) -> tuple[bytes | None, object]:
    """``(bytes, None)`` for a whole body, ``(None, iterable)`` for a stream."""
    if isinstance(body, str):
        data = _exact_str(body, "body").encode("utf-8")
    elif isinstance(body, (bytes, bytearray)):
        data = _exact_bytes(body)
    elif isinstance(body, (dict, list)):
        data = flask_json.response_text(body).encode("utf-8")
    elif isinstance(body, (types.GeneratorType,)) or hasattr(type(body), "__next__"):
        return None, body
    elif body is None:
        raise BadReturnValue("the handler returned None; return a str, dict, bytes or Response")
    else:
        raise BadReturnValue(
            f"the handler returned a {type(body).__name__}; "
            "return a str, dict, list, bytes, Response or a tuple"
        )
    if len(data) > MAX_BODY_BYTES:
        raise BadReturnValue(f"response body is over {MAX_BODY_BYTES // 2**20} MB")
    return data, None


def plain_headers(headers) -> list[tuple[str, str]]:
    """A tenant's headers as exact ``(name, value)`` strings, in both tiers
    (a process tenant's too: a name with a colon was a second header on the
    wire, ``Set-Cookie`` included, past :mod:`muxserver.http.origin_scope`,
    round 15): names without ``\r \n : NUL`` or blanks, values without
    line breaks or NUL, at most :data:`MAX_HEADERS` and
    :data:`MAX_HEADER_BYTES`; the server's own (:data:`SERVER_HEADERS`)
    and a front server's directives (:data:`FRONT_SERVER_DIRECTIVES`)
    dropped.

    :raises BadReturnValue: for anything else.
    """
    if headers is None:
        return []
    if isinstance(headers, (Headers, dict)):
        pairs = list(headers.items())
    elif isinstance(headers, (list, tuple)):
        pairs = list(headers)
    else:
        raise BadReturnValue("headers must be a dict or a list of (name, value) pairs")
    if len(pairs) > MAX_HEADERS:
        raise BadReturnValue(f"more than {MAX_HEADERS} headers")
    out = []
    size = 0
    for pair in pairs:
        if not isinstance(pair, tuple) or len(pair) != 2:
            raise BadReturnValue("each header must be a (name, value) pair")
        name = _exact_str(pair[0], "header name")
        value = pair[1]
        value = str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value
        value = _exact_str(value, f"header {name!r}")
        if not name or any(c in name for c in "\r\n:\0 \t") or any(c in value for c in "\r\n\0"):
            raise BadReturnValue(f"header {name!r} has a character not allowed in headers")
        size += len(name) + len(value)
        if size > MAX_HEADER_BYTES:
            raise BadReturnValue(f"headers are over {MAX_HEADER_BYTES} bytes")
        if name.lower() in _DROPPED:
            continue
        out.append((name, value))
    return out


def _status(value) -> int:
    """The status code of a tenant's answer: any three digits from 200, as
    werkzeug takes (``return "...", 666`` is sent as Flask sends it); a 1xx
    is not a final answer, and is refused."""
    if type(value) is int and 200 <= value <= 999:
        return value
    if isinstance(value, str):
        text = _exact_str(value, "status")
        if len(text) >= 3 and text[:3].isdigit() and 200 <= int(text[:3]) <= 999:
            return int(text[:3])
    raise BadReturnValue("status must be an int from 200 to 999")


def _split_tuple(value: tuple):
    """``(body, status, headers)`` from a Flask return tuple."""
    if len(value) == 3:
        return value[0], value[1], value[2]
    if len(value) == 2:
        body, second = value
        if isinstance(second, (dict, list, Headers)):
            return body, None, second
        return body, second, None
    raise BadReturnValue(
        "a returned tuple must be (body, status), (body, headers) or (body, status, headers)"
    )


def to_plain(value):
    """``(status, headers, body_bytes_or_None, stream_or_None)`` from a handler value.

    :raises BadReturnValue: for anything that is not a response.
    """
    if type(value) is str:
        # The most common answer, without the general path's checks (an
        # exact str is its own body: no tuple, no headers, no Location).
        return 200, [("Content-Type", _HTML)], _body_bytes(value)[0], None
    status = None
    extra_headers = None
    if type(value) is tuple:
        value, status, extra_headers = _split_tuple(value)
    if isinstance(value, HTTPException):
        value = error_response(value)  # what Flask's make_response makes of it
    autocorrect = False
    if isinstance(value, Response):
        code = _status(value.status_code)
        headers = plain_headers(value.headers)
        data, stream = _body_bytes(value.body)
        autocorrect = value.autocorrect_location_header
    else:
        code = 200
        data, stream = _body_bytes(value)
        if isinstance(value, (dict, list)):
            content_type = flask_json.response_mimetype()  # app.json.mimetype
        else:
            content_type = _HTML
        headers = [("Content-Type", content_type)]
    if status is not None:
        code = _status(status)
    if extra_headers is not None:
        added = plain_headers(extra_headers)
        names = {name.lower() for name, _ in added}
        headers = [(n, v) for n, v in headers if n.lower() not in names] + added
    return code, _sent_locations(headers, autocorrect), data, stream


def _sent_locations(headers: list, autocorrect: bool) -> list:
    """``Location`` and ``Content-Location`` as werkzeug's
    ``Response.get_wsgi_headers`` sends them: IRIs quoted into URIs, and a
    ``Location`` made absolute against the request's URL when the response
    asks for it (``autocorrect_location_header``)."""
    out = headers
    for i, (name, value) in enumerate(headers):
        lower = name.lower()
        if lower not in ("location", "content-location"):
            continue
        fixed = iri_to_uri(value)
        if lower == "location" and autocorrect:
            ctx = context.current()
            if ctx is not None and ctx.request is not None:
                here = iri_to_uri(get_current_url(ctx.request._r.environ, strip_querystring=True))
                fixed = urljoin(here, fixed)
        if fixed != value:
            out = list(out) if out is headers else out
            out[i] = (name, fixed)
    return out


def to_response_object(value) -> Response:
    """A :class:`Response` from any handler value (``make_response``)."""
    if isinstance(value, Response):
        return value
    code, headers, data, stream = to_plain(value)
    response = Response(data if stream is None else stream, status=code)
    response.headers = headers
    return response


_STATUS_LINES: dict[int, str] = {}


def json_reply(data, status: int = 200):
    """``(status, headers, body)`` of an admin API answer: indented JSON."""
    return status, [("Content-Type", _JSON)], (json.dumps(data, indent=1, default=str) + "\n").encode()


def status_line(code: int) -> str:
    line = _STATUS_LINES.get(code)
    if line is None:
        try:
            phrase = HTTPStatus(code).phrase
        except ValueError:
            phrase = "Unknown"
        line = _STATUS_LINES[code] = f"{code} {phrase}"
    return line


_date_cache = [0, ""]


def http_date() -> str:
    """The Date header, formatted once a second (pywsgi would per request)."""
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache[0] = now
        _date_cache[1] = formatdate(now, usegmt=True)
    return _date_cache[1]

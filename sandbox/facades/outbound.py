"""Outbound HTTP for sandboxed tenants: ``requests`` and ``urllib.request``.

A serving process cannot make a socket. The host gives the tenant's
runtime an opener (``runtime.outbound(host, port, timeout) -> socket``)
that asks the server's egress proxy for a connection; the proxy checks the
host against the tenant's ``[egress] allow`` and the address it resolves to
(no private or loopback address) and relays bytes, TLS included: the
facade does the TLS handshake itself, so the proxy never sees plain text.

Every request, and each redirect it follows, is a new connection through
the proxy, checked again. A host the rules refuse raises the library's own
connection error (``requests.ConnectionError``, ``urllib.error.URLError``)
whose text names the rule. Waiting on the network yields to other
requests; the request's wall time bounds it (the host's watcher stops a
request over ``wall_s`` wherever it waits).

.. warning::
   A response body is read whole (at most :data:`MAX_BODY_BYTES`, charged
   to the request's memory); streaming downloads are not offered.
"""

from __future__ import annotations

import http.client
import json as jsonlib
import ssl
import urllib.error
from urllib.parse import urlencode
from urllib.parse import urljoin
from urllib.parse import urlsplit

from sandbox import guards
from sandbox.facades.data import decode_json
from sandbox.guards import check_allocation
from sandbox.guards.declared import declare
from sandbox.guards.declared import declared

#: Largest response body read,
MAX_BODY_BYTES = 64 * 2**20
#: ...a piece at a time, each asked of the request's memory budget first.
READ_PIECE_BYTES = 2**20
#: Redirects followed at most (requests' default).
MAX_REDIRECTS = 30
DEFAULT_TIMEOUT_S = 30.0


class EgressError(OSError):
    """The connection could not be made (the rule that refused it, or why)."""


class _Connection(http.client.HTTPConnection):
    """``http.client`` over a socket the host's opener returns."""

    def __init__(self, opener, scheme, host, port, timeout):
        super().__init__(host, port, timeout=timeout)
        self._opener = opener
        self._scheme = scheme

    def connect(self):
        try:
            sock = self._opener(self.host, self.port, self.timeout)
        except OSError as exc:
            raise EgressError(str(exc)) from None
        sock.settimeout(self.timeout)
        if self._scheme == "https":
            context = getattr(self._opener, "tls", lambda: None)() or ssl.create_default_context()
            sock = context.wrap_socket(sock, server_hostname=self.host)
        self.sock = sock


def _read_body(response) -> bytes:
    """The body, a piece at a time: the request's memory budget is asked
    before each piece (and before the pieces are joined), so a large answer
    stops the request near its ``memory_mb`` instead of after
    :data:`MAX_BODY_BYTES` were read (host C code that no tick interrupts:
    50 requests of 32 MB held 64 MB each)."""
    pieces, total = [], 0
    while total <= MAX_BODY_BYTES:
        check_allocation(total + READ_PIECE_BYTES, "an HTTP response")
        piece = response.read(min(READ_PIECE_BYTES, MAX_BODY_BYTES + 1 - total))
        if not piece:
            break
        pieces.append(piece)
        total += len(piece)
    return pieces[0] if len(pieces) == 1 else b"".join(pieces)


def fetch(opener, method, url, headers=None, body=None, timeout=None, allow_redirects=True):
    """``(status, reason, headers, body, final_url)`` of one request and its redirects."""
    if opener is None:
        raise EgressError("outbound HTTP is not available on this server")
    timeout = DEFAULT_TIMEOUT_S if timeout is None else float(timeout)
    headers = {guards.safe_str_builtin(k): guards.safe_str_builtin(v) for k, v in (headers or {}).items()}
    for _ in range(MAX_REDIRECTS + 1):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise EgressError(f"not an http(s) URL: {url!r}")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        conn = _Connection(opener, parts.scheme, parts.hostname, port, timeout)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            data = _read_body(response)
        except EgressError:
            raise
        except (OSError, http.client.HTTPException) as exc:
            raise EgressError(f"{type(exc).__name__}: {exc}") from None
        finally:
            conn.close()
        if len(data) > MAX_BODY_BYTES:
            raise EgressError(f"response body over {MAX_BODY_BYTES} bytes")
        check_allocation(len(data), "an HTTP response")
        status, reason = response.status, response.reason
        out_headers = [(str(k), str(v)) for k, v in response.getheaders()]
        location = response.getheader("Location")
        if allow_redirects and location and status in (301, 302, 303, 307, 308):
            url = urljoin(url, location)
            if status == 303 or (status in (301, 302) and method == "POST"):
                method, body = "GET", None
                headers.pop("Content-Type", None)
            continue
        return status, reason, out_headers, data, url
    raise EgressError(f"more than {MAX_REDIRECTS} redirects")


# -- requests --------------------------------------------------------------------


class RequestException(OSError):
    """``requests.RequestException``."""


class ConnectionError(RequestException):  # noqa: A001 - requests' own name
    pass


class Timeout(RequestException):
    pass


class ConnectTimeout(ConnectionError, Timeout):
    pass


class ReadTimeout(Timeout):
    pass


class HTTPError(RequestException):
    pass


class TooManyRedirects(RequestException):
    pass


@declared("get")
class Headers(dict):
    """Case-insensitive response headers (``requests.structures.CaseInsensitiveDict``)."""

    _guarded_writes = True

    def __init__(self, pairs):
        super().__init__()
        for key, value in pairs:
            super().__setitem__(key.lower(), value)

    def __getitem__(self, key):
        return super().__getitem__(guards.safe_str_builtin(key).lower())

    def get(self, key, default=None):
        return super().get(guards.safe_str_builtin(key).lower(), default)

    def __contains__(self, key):
        return super().__contains__(guards.safe_str_builtin(key).lower())


@declared("status_code reason headers content url encoding ok text json raise_for_status")
class Response:
    """``requests.Response``: status, headers and the whole body."""

    def __init__(self, status, reason, headers, content, url):
        self.status_code = status
        self.reason = reason
        self.headers = Headers(headers)
        self.content = content
        self.url = url
        kind = self.headers.get("content-type", "")
        self.encoding = kind.split("charset=", 1)[1].split(";")[0].strip() \
            if "charset=" in kind else ("utf-8" if "json" in kind else "ISO-8859-1")

    @property
    def ok(self):
        return self.status_code < 400

    @property
    def text(self):
        return self.content.decode(self.encoding or "utf-8", "replace")

    def json(self, **kwargs):
        return decode_json(self.content)

    def raise_for_status(self):
        if self.status_code >= 400:
            kind = "Client" if self.status_code < 500 else "Server"
            raise HTTPError(f"{self.status_code} {kind} Error: {self.reason} for url: {self.url}")

    def __repr__(self):
        return f"<Response [{self.status_code}]>"


def _send(opener, method, url, params=None, data=None, json=None, headers=None, timeout=None,
          allow_redirects=True, **ignored):
    headers = dict(headers or {})
    if params:
        query = urlencode(params, doseq=True)
        url = url + ("&" if "?" in url else "?") + query
    body = None
    if json is not None:
        body = jsonlib.dumps(json).encode()
        headers.setdefault("Content-Type", "application/json")
    elif isinstance(data, dict):
        body = urlencode(data, doseq=True).encode()
        headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
    elif data is not None:
        body = data.encode() if isinstance(data, str) else bytes(data)
    if isinstance(timeout, tuple):
        timeout = max(t for t in timeout if t is not None)
    headers.setdefault("User-Agent", "python-requests (muxserver)")
    try:
        status, reason, out, content, final = fetch(opener, method.upper(), url, headers, body,
                                                    timeout, allow_redirects)
    except EgressError as exc:
        if "timed out" in str(exc):
            raise Timeout(str(exc)) from None
        if "redirects" in str(exc):
            raise TooManyRedirects(str(exc)) from None
        raise ConnectionError(str(exc)) from None
    return Response(status, reason, out, content, final)


def build_requests(ctx):
    opener = getattr(ctx, "outbound", None)

    def request(method, url, **kwargs):
        return _send(opener, method, url, **kwargs)

    def verb(method):
        return lambda url, **kwargs: _send(opener, method, url, **kwargs)

    class Session:
        """``requests.Session``: default headers, the same calls."""

        _guarded_writes = True

        def __init__(self):
            self.headers = {}

        def request(self, method, url, **kwargs):
            kwargs["headers"] = {**self.headers, **(kwargs.get("headers") or {})}
            return _send(opener, method, url, **kwargs)

        def get(self, url, **kwargs):
            return self.request("GET", url, **kwargs)

        def post(self, url, **kwargs):
            return self.request("POST", url, **kwargs)

        def put(self, url, **kwargs):
            return self.request("PUT", url, **kwargs)

        def patch(self, url, **kwargs):
            return self.request("PATCH", url, **kwargs)

        def delete(self, url, **kwargs):
            return self.request("DELETE", url, **kwargs)

        def head(self, url, **kwargs):
            return self.request("HEAD", url, **kwargs)

        def close(self):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return None

    declare(Session, "headers request get post put patch delete head close", dynamic=True)
    exceptions = {"RequestException": RequestException, "ConnectionError": ConnectionError,
                  "Timeout": Timeout, "ConnectTimeout": ConnectTimeout, "ReadTimeout": ReadTimeout,
                  "HTTPError": HTTPError, "TooManyRedirects": TooManyRedirects}
    from sandbox.facades.base import ModuleFacade

    table = {name.lower(): verb(name) for name in ("GET", "POST", "PUT", "PATCH", "DELETE",
                                                   "HEAD", "OPTIONS")}
    table.update(exceptions, request=request, Session=Session, session=Session,
                 Response=Response,
                 exceptions=ModuleFacade("requests.exceptions", dict(exceptions)))
    return table


# -- urllib.request -----------------------------------------------------------------


@declared("status code reason msg headers url read getcode geturl getheader getheaders info "
          "close")
class UrlResponse:
    """What ``urllib.request.urlopen`` returns."""

    def __init__(self, status, reason, headers, content, url):
        self.status = self.code = status
        self.reason = self.msg = reason
        self.headers = Headers(headers)
        self.url = url
        self._content = content
        self._position = 0

    def read(self, size=-1):
        end = len(self._content) if size is None or size < 0 else self._position + size
        chunk = self._content[self._position:end]
        self._position += len(chunk)
        return chunk

    def getcode(self):
        return self.status

    def geturl(self):
        return self.url

    def getheader(self, name, default=None):
        return self.headers.get(name, default)

    def getheaders(self):
        return list(self.headers.items())

    def info(self):
        return self.headers

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None


def urlopen_for(opener, request_class):
    def urlopen(url, data=None, timeout=None, **ignored):
        if isinstance(url, request_class):
            request = url
            method, full, headers, body = (request.get_method(), request.full_url,
                                           dict(request.header_items()),
                                           request.data if data is None else data)
        else:
            method, full, headers, body = ("POST" if data is not None else "GET"), guards.safe_str_builtin(url), {}, data
        try:
            status, reason, out, content, final = fetch(opener, method, full, headers, body,
                                                        timeout)
        except EgressError as exc:
            raise urllib.error.URLError(str(exc)) from None
        response = UrlResponse(status, reason, out, content, final)
        if status >= 400:
            raise urllib.error.HTTPError(final, status, reason, None, None)
        return response

    return urlopen

"""The admin API and the console (SPEC "Admin API"), on a listener of their own.

:class:`AdminAPI` is a WSGI application served on ``--admin-listen``
(default: the tenants' host and port + 1), never on the origin that serves
tenant pages — so no tenant page shares an origin with the console, and a
tenant's script in an operator's browser cannot read it. It answers on
behalf of a :class:`~muxserver.controlplane.ControlPlane` (in the
supervisor, or in-process for tests).

Who may call:

* ``GET /_mux/healthz``: everyone (load balancers, kubelet probes).
* Every call first needs a ``Host`` this listener serves — its own address,
  ``localhost``, a loopback address, or a name in ``admin_hosts`` — or it is
  421, so DNS rebinding cannot reach it from a web site.
* With ``--admin-token``, ``Authorization: Bearer <token>`` from anywhere
  (a salted scrypt hash, compared in constant time); without one, loopback
  clients only (the TCP peer; ``X-Forwarded-For`` is never read).
* A tenant's deploy token (``[deploy_tokens]``) reaches that tenant's
  deploy, versions and rollback calls only (:mod:`muxserver.http.deploy_api`).
* Calls a browser marks as coming from a web page (``Sec-Fetch-Site``,
  ``Origin``) need the console's key as well, which only the console page
  holds (served to top-level navigations, unframeable).
"""

from __future__ import annotations

import ipaddress
import itertools
import json
import secrets
import time
from urllib.parse import parse_qs

from muxserver.errors import BadRequest
from muxserver.errors import Forbidden
from muxserver.errors import InternalError
from muxserver.errors import MethodNotAllowed
from muxserver.errors import MisdirectedRequest
from muxserver.errors import MuxError
from muxserver.errors import NotFound
from muxserver.errors import Unauthorized
from muxserver.errors import server_log
from muxserver.http import console
from muxserver.http import deploy_api
from muxserver.http.responses import http_date
from muxserver.http.responses import json_reply
from muxserver.http.responses import status_line

#: Largest JSON body an admin call reads.
MAX_JSON_BYTES = 1 << 20


def is_loopback(address: str | None) -> bool:
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def read_json(environ) -> dict:
    """The request's JSON object (``{}`` for an empty body); 400 otherwise."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise BadRequest("bad Content-Length") from None
    if length > MAX_JSON_BYTES:
        raise BadRequest("admin request body too large")
    raw = environ["wsgi.input"].read(length) if length else b""
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        raise BadRequest("body is not valid JSON") from None
    if not isinstance(data, dict):
        raise BadRequest("body must be a JSON object")
    return data


class AdminAPI:
    """The WSGI application of the admin listener.

    :param control: the :class:`~muxserver.controlplane.ControlPlane` it answers for.
    :param address: ``(host, port)`` it listens on (its own Host names).
    """

    def __init__(self, control, address: tuple[str, int] | None = None):
        self.control = control
        self.config = control.config
        self._hosts = self._own_hosts(address or self.config.admin_address)
        self._rid_prefix = secrets.token_hex(4)
        self._rid = itertools.count(1)
        self._routes = {
            ("POST", "register"): self.register,
            ("POST", "specialize"): self.specialize,
            ("POST", "evict"): self.evict,
            ("GET", "status"): lambda environ: json_reply(self.control.status()),
            ("GET", "metrics"): lambda environ: (
                200, [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")],
                self.control.metrics_text()),
            ("GET", "healthz"): self.healthz,
            ("GET", ""): lambda environ: console.page_response(self.control.console_key),
            ("GET", "console.js"): lambda environ: console.script_response(),
            ("GET", "console/data"): lambda environ: console.data_response(self.control),
        }

    def _own_hosts(self, address) -> frozenset[str]:
        host, port = address
        names = {"localhost", host.lower().strip("[]"), *self.config.admin_hosts}
        return frozenset(names)

    # -- WSGI ----------------------------------------------------------------------

    def __call__(self, environ, start_response):
        request_id = f"{self._rid_prefix}{next(self._rid):08x}"
        try:
            code, headers, body = self.handle(environ)
        except MuxError as exc:
            code, headers, body = self._error(exc, request_id)
        except Exception as exc:  # a bug here: loud, and a 500
            code, headers, body = self._error(InternalError(exc), request_id)
        headers = [*headers, ("X-Request-Id", request_id), ("Date", http_date())]
        if environ.get("REQUEST_METHOD") == "HEAD":
            headers.append(("Content-Length", str(len(body))))
            body = b""
        else:
            headers.append(("Content-Length", str(len(body))))
        start_response(status_line(code), headers)
        return [body]

    def _error(self, error: MuxError, request_id: str):
        if isinstance(error, InternalError):
            server_log.error("admin call failed", exc_info=error.original)
        message = error.client_text(self.config.debug)
        if error.status >= 500:
            message += f" (request id {request_id})"
        return error.status, [("Content-Type", "text/plain; charset=utf-8"), *error.headers()], \
            (message + "\n").encode("utf-8", "replace")

    # -- access -------------------------------------------------------------------

    def check_host(self, environ) -> None:
        """421 for a Host this listener does not serve (DNS rebinding)."""
        host = environ.get("HTTP_HOST", "")
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        name = name.strip("[]").lower().rstrip(".")
        if name in self._hosts or _is_ip_literal(name):
            # An address is never a rebound name: a page of another site
            # reaches this listener with its own domain in Host.
            return
        raise MisdirectedRequest(f"this admin listener does not serve Host {host[:100]!r}")

    def authorize(self, environ) -> None:
        """The admin token, or — without one — a loopback client that sends
        no token at all (a tenant's deploy token reaches only its own
        tenant's deploy calls, :func:`muxserver.http.deploy_api.authorize`)."""
        token = self.config.admin_token
        given = bearer(environ)
        if token:
            if not token.matches(given or ""):
                raise Unauthorized("admin API needs 'Authorization: Bearer <token>'")
            return
        if given is not None:
            raise Unauthorized("this server has no admin token; a deploy token may only deploy, "
                               "list and roll back its own tenant")
        if not is_loopback(environ.get("REMOTE_ADDR")):
            raise Forbidden("admin API is served to loopback clients only (or set --admin-token)")

    def handle(self, environ):
        """``(status, headers, body)`` for an admin request; raises MuxErrors."""
        path = (environ.get("PATH_INFO") or "").rstrip("/")
        method = environ.get("REQUEST_METHOD", "GET").upper()
        if path == "/_mux/healthz" and method in ("GET", "HEAD"):
            # Every client, token or not: load balancers and kubelet probes.
            return self.healthz(environ)
        self.check_host(environ)
        if path != "/_mux" and not path.startswith("/_mux/"):
            raise NotFound("the admin API is under /_mux/")
        name = path[len("/_mux/"):] if path.startswith("/_mux/") else ""
        if name in ("", "console.js") and method in ("GET", "HEAD") \
                and console.is_page_navigation(environ, name):
            if self.config.admin_token or is_loopback(environ.get("REMOTE_ADDR")):
                # The page and its script hold no data; with a token they ask for it.
                return self._routes[("GET", name)](environ)
        if console.from_a_web_page(environ) and not console.carries_key(
                environ, self.control.console_key):
            raise Forbidden("admin calls from a web page need the console's key: open /_mux/ itself")
        tenant = deploy_api.is_deploy_call(name)
        if tenant is not None:
            deployer = deploy_api.authorize(self, environ, tenant)
            return deploy_api.handle(self.control, environ, name, method, deployer)
        self.authorize(environ)
        if name.startswith("tenants/") and name.endswith("/logs"):
            if method not in ("GET", "HEAD"):
                raise MethodNotAllowed("use GET", None, ("GET", "HEAD"))
            return self.tenant_logs(environ, name[len("tenants/"):-len("/logs")])
        lookup = "GET" if method == "HEAD" else method
        handler = self._routes.get((lookup, name))
        if handler is None:
            methods = tuple(m for (m, n) in self._routes if n == name)
            if methods:
                raise MethodNotAllowed(f"use {', '.join(methods)}", None, methods)
            raise NotFound(f"no admin call {path!r}")
        return handler(environ)

    # -- calls -----------------------------------------------------------------

    def register(self, environ):
        return json_reply(self.control.rescan())

    def specialize(self, environ):
        body = read_json(environ)
        tenant, endpoint = body.get("tenant"), body.get("endpoint")
        if not isinstance(tenant, str) or not isinstance(endpoint, str):
            raise BadRequest('body must be {"tenant": "...", "endpoint": "..."}')
        return json_reply(self.control.specialize(tenant, endpoint))

    def evict(self, environ):
        body = read_json(environ)
        tenant = body.get("tenant")
        if tenant is not None and not isinstance(tenant, str):
            raise BadRequest('"tenant" must be a string')
        return json_reply({"evicted": self.control.evict(tenant), "tenant": tenant})

    @staticmethod
    def healthz(environ):
        return 200, [("Content-Type", "text/plain; charset=utf-8")], b"ok\n"

    def tenant_logs(self, environ, tenant: str):
        query = parse_qs(environ.get("QUERY_STRING", ""))
        limit = None
        if "limit" in query:
            try:
                limit = max(1, int(query["limit"][0]))
            except ValueError:
                raise BadRequest("limit must be a number") from None
        entries = self.control.tenant_logs(tenant, limit)
        if "json" in query or "application/json" in environ.get("HTTP_ACCEPT", ""):
            return json_reply({"tenant": tenant, "lines": entries})
        text = "".join(
            f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(e['time']))} "
            f"{e['level']} {e['request_id'] or '-'} {e['line']}\n"
            for e in entries
        )
        return 200, [("Content-Type", "text/plain; charset=utf-8")], text.encode("utf-8", "replace")


def _is_ip_literal(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def bearer(environ) -> str | None:
    """The bearer token of the request, if it carries one."""
    scheme, _, given = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
    return given.strip() if scheme.lower() == "bearer" and given.strip() else None

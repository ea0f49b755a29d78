"""The admin API under ``/_mux/`` (SPEC "Admin API").

Access: from loopback addresses only, unless ``--admin-token`` is set; then
``Authorization: Bearer <token>`` is required from everywhere (compared in
constant time) and anything else is 401. A tenant's deploy token
(``[deploy_tokens]``) reaches that tenant's deploy calls only
(:mod:`muxserver.http.deploy_api`). The client address is the TCP peer
(``REMOTE_ADDR``); ``X-Forwarded-For`` and friends are never read.
"""

from __future__ import annotations

import ipaddress
import json
import time

from muxserver.errors import BadRequest
from muxserver.errors import Forbidden
from muxserver.errors import MethodNotAllowed
from muxserver.errors import NotFound
from muxserver.errors import Unauthorized
from muxserver.http import console
from muxserver.http import deploy_api
from muxserver.http.responses import json_reply



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


class AdminAPI:
    """Answers ``/_mux/...`` for one :class:`~muxserver.app.MuxApp`."""

    def __init__(self, app):
        self.app = app
        self._routes = {
            ("POST", "register"): self.register,
            ("POST", "specialize"): self.specialize,
            ("POST", "evict"): self.evict,
            ("GET", "status"): self.status,
            ("GET", "metrics"): self.metrics,
            ("GET", "healthz"): self.healthz,
            ("GET", ""): lambda environ: console.page_response(self.app.console_key),
            ("GET", "console/data"): lambda environ: console.data_response(self.app),
        }

    def authorize(self, environ) -> None:
        token = self.app.config.admin_token
        if token:
            header = environ.get("HTTP_AUTHORIZATION", "")
            scheme, _, given = header.partition(" ")
            if scheme.lower() != "bearer" or not token.matches(given.strip()):
                raise Unauthorized("admin API needs 'Authorization: Bearer <token>'")
            return
        if not is_loopback(environ.get("REMOTE_ADDR")):
            raise Forbidden("admin API is served to loopback clients only (or set --admin-token)")

    def handle(self, environ):
        """``(status, headers, body)`` for an admin request; raises MuxErrors."""
        path = (environ.get("PATH_INFO") or "").rstrip("/")
        method = environ.get("REQUEST_METHOD", "GET").upper()
        if path == "/_mux/healthz" and method in ("GET", "HEAD"):
            # Every client, token or not: load balancers and kubelet probes.
            return self.healthz(environ)
        name = path[len("/_mux/"):] if path.startswith("/_mux/") else ""
        if name == "" and method in ("GET", "HEAD") and console.is_page_navigation(environ):
            if self.app.config.admin_token or is_loopback(environ.get("REMOTE_ADDR")):
                # The page holds no data; with a token it asks for it.
                return console.page_response(self.app.console_key)
        if console.from_a_web_page(environ) and not console.carries_key(environ, self.app.console_key):
            # Tenant pages are served from this same origin: a script on one,
            # running in an operator's browser, must not reach the admin API.
            raise Forbidden("admin calls from a web page need the console's key: open /_mux/ itself")
        owner = deploy_api.deploy_token_owner(self.app.config, environ)
        if owner is not None:
            # A tenant's deploy token: its own deploy calls and nothing else.
            if deploy_api.is_deploy_call(name) != owner[0]:
                deploy_api.refuse_other_calls()
            return deploy_api.handle(self.app, environ, name, method, owner[1], self._json_body)
        self.authorize(environ)
        if deploy_api.is_deploy_call(name) is not None:
            deployer = "admin" if self.app.config.admin_token else "loopback"
            return deploy_api.handle(self.app, environ, name, method, deployer, self._json_body)
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

    # -- helpers ---------------------------------------------------------------

    @staticmethod
    def _json_body(environ) -> dict:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            raise BadRequest("bad Content-Length") from None
        if length > 1 << 20:
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

    _reply = staticmethod(json_reply)

    # -- calls -----------------------------------------------------------------

    def register(self, environ):
        self.app.rescan()
        registry = self.app.registry
        return self._reply({"routes": registry.route_table(), "errors": registry.error_list()})

    def specialize(self, environ):
        body = self._json_body(environ)
        tenant, endpoint = body.get("tenant"), body.get("endpoint")
        if not isinstance(tenant, str) or not isinstance(endpoint, str):
            raise BadRequest('body must be {"tenant": "...", "endpoint": "..."}')
        state = self.app.registry.get(tenant)
        if state is None:
            raise NotFound(f"no tenant {tenant!r}")
        endpoint = endpoint.strip("/").removesuffix(".py") or "index"
        if endpoint not in state.spec.modules:
            raise NotFound(
                f"tenant {tenant!r} has no endpoint {endpoint!r}; endpoints: "
                + ", ".join(sorted(state.spec.modules))
            )
        started = time.perf_counter()
        # Held like a request (counted in flight, its generation pinned), so
        # an eviction meanwhile cannot take the runtime from under the load.
        with self.app.hold(state, None, endpoint, capped=False) as lease:
            _, load_ms = self.app.load(lease, endpoint)
        return self._reply({
            "tenant": tenant,
            "endpoint": endpoint,
            "was_warm": load_ms is None,
            "cold_start_ms": round(load_ms if load_ms is not None
                                   else (time.perf_counter() - started) * 1000, 3),
        })

    def evict(self, environ):
        body = self._json_body(environ)
        tenant = body.get("tenant")
        if tenant is not None and not isinstance(tenant, str):
            raise BadRequest('"tenant" must be a string')
        if tenant is not None and self.app.registry.get(tenant) is None:
            raise NotFound(f"no tenant {tenant!r}")
        count = self.app.evict(tenant=tenant, reason="admin")
        return self._reply({"evicted": count, "tenant": tenant})

    def status(self, environ):
        return self._reply(self.app.status())

    def metrics(self, environ):
        return 200, [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")], \
            self.app.metrics.render()

    def healthz(self, environ):
        return 200, [("Content-Type", "text/plain; charset=utf-8")], b"ok\n"

    def tenant_logs(self, environ, tenant: str):
        if self.app.registry.get(tenant) is None and tenant not in self.app.registry.deploy_errors:
            raise NotFound(f"no tenant {tenant!r}")
        from urllib.parse import parse_qs

        query = parse_qs(environ.get("QUERY_STRING", ""))
        limit = None
        if "limit" in query:
            try:
                limit = max(1, int(query["limit"][0]))
            except ValueError:
                raise BadRequest("limit must be a number") from None
        entries = self.app.logs.tail(tenant, limit)
        if "json" in query or "application/json" in environ.get("HTTP_ACCEPT", ""):
            return self._reply({"tenant": tenant, "lines": entries})
        text = "".join(
            f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(e['time']))} "
            f"{e['level']} {e['request_id'] or '-'} {e['line']}\n"
            for e in entries
        )
        return 200, [("Content-Type", "text/plain; charset=utf-8")], text.encode("utf-8", "replace")

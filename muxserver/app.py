"""MuxApp: the WSGI application that serves every tenant.

``wsgi_app`` resolves the tenant (path prefix, ``--base-domain`` or a
``hosts`` entry), routes, takes a lease on the tenant
(:mod:`muxserver.tenancy.lease`), loads the module if cold, calls the
handler under the tenant's limits, and turns the value into a response.
Every failure on the way is an exception of :mod:`muxserver.errors`, and
:meth:`MuxApp.handle_error` is the one place that turns exceptions into
responses, by what they carry.
"""

from __future__ import annotations

import itertools
import os
import re
import secrets
import time

import gevent
from werkzeug.urls import iri_to_uri
from werkzeug.utils import redirect as werkzeug_redirect
from werkzeug.wsgi import get_host

from muxserver import serverdir
from muxserver.config import Config
from muxserver.errors import HOST_EXITS
from muxserver.errors import BodyTooLarge
from muxserver.errors import InternalError
from muxserver.errors import MuxError
from muxserver.errors import MethodNotAllowed
from muxserver.errors import NotFound
from muxserver.errors import Redirect
from muxserver.errors import TenantCodeError
from muxserver.http import origin_scope
from muxserver.http.responses import http_date
from muxserver.http.responses import status_line
from muxserver.http.static import serve_static
from muxserver.http.static import static_target
from muxserver.http.streams import FileBody
from muxserver.http.streams import TenantStream
from muxserver.ops import logs
from muxserver.ops.logs import TenantLogs
from muxserver.ops.logs import server_log
from muxserver.ops.memory import release_memory
from muxserver.ops.metrics import Metrics
from muxserver.tenancy.codecache import CodeCache
from muxserver.tenancy.evictor import Evictor
from muxserver.tenancy.loader import Loader
from muxserver.tenancy.loader import as_at_import
from muxserver.tenancy import lease as leases
from muxserver.tenancy.reading import ANY_STATUS
from muxserver.tenancy.registry import Registry
from muxserver.tenancy.router import allowed_methods
from muxserver.tenancy.names import TENANT_NAME
from muxserver.tenant_api import cloudfunctions
from muxserver.tenant_api.dispatch import call_handler
from muxserver.tenant_api.dispatch import error_page
from muxserver.tenant_api.dispatch import options_page
from muxserver.tenant_api.dispatch import static_page
from muxserver.tenant_api.response import html_error_page
from muxserver.tenant_api.request import TenantRequest
from sandbox.limits import rss_bytes

#: After a limit kill, for this long, the tenant's requests yield to others
#: before they start (a noisy tenant waits its turn behind calm ones).
PENALTY_S = 10.0
PENALTY_YIELD_S = 0.001

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

def _routing_redirect(environ, path: str):
    """A tenant's rule that exists with a trailing slash (or whose defaults
    give a shorter URL): werkzeug's 308, absolute Location and page, as a
    Flask app answers it."""
    query = environ.get("QUERY_STRING")
    url = f"{environ.get('wsgi.url_scheme', 'http')}://{get_host(environ)}{iri_to_uri(path)}"
    response = werkzeug_redirect(url + (f"?{query}" if query else ""), 308)
    headers = [(k, v) for k, v in response.headers.items() if k.lower() != "content-length"]
    return 308, headers, response.get_data(), None


class _Outcome:
    """What a request turned into, for the access log and metrics."""

    __slots__ = ("tenant", "endpoint", "cold", "load_ms", "exec_ms", "started", "status",
                 "method", "path", "request_id")

    def __init__(self, method: str, path: str, request_id: str):
        self.started = time.perf_counter()
        self.method = method
        self.path = path
        self.request_id = request_id
        self.status = 500
        self.tenant = None
        self.endpoint = None
        self.cold = False
        self.load_ms = None
        self.exec_ms = None


class MuxApp:
    """The WSGI application of a serving process (or of tests, in-process).

    It serves tenants only: on its port ``/_mux/healthz`` answers and every
    other ``/_mux/`` path is 404 (the admin API has a listener of its own,
    :mod:`muxserver.http.admin`).

    :param config: validated settings.
    :param scan: register tenants now by reading the tenants dir (in a
        serving process the supervisor sends them instead).
    :param session_key: what tenants' session keys derive from (the
        supervisor hands it over; None: derived here from the server secret).
    """

    def __init__(self, config: Config, scan: bool = True, session_key: bytes | None = None):
        self.config = config
        self.cache = CodeCache(config.code_cache_dir)
        self.registry = Registry(config, self.cache)
        self.logs = TenantLogs()
        self.metrics = Metrics()
        self._session_key = session_key
        self.loader = Loader(config, self.cache, self.logs, lambda: self.session_key)
        self.started_at = time.time()
        #: Which kind of process this is, for status ("serving", "in-process").
        self.role = "in-process"
        #: Requests being answered now (streams count until closed).
        self.inflight = 0
        # Request ids: a random prefix per process and a counter, unique
        # across workers and cheap to make.
        self._rid_prefix = secrets.token_hex(4)
        self._rid_counter = itertools.count(1)
        self.registry.on_unload = self._on_unload
        #: The process layer in force (set by :mod:`muxserver.process`).
        self.isolation: dict = {"mode": "off", "missing": ["not applied in this process"]}
        #: Started by the process (:mod:`muxserver.process`); cold starts
        #: also ask it to make room under ``--memory-limit``.
        self.evictor = Evictor(self)
        self._base_suffix = "." + config.base_domain.lower() if config.base_domain else None
        #: Read on every request (the config is frozen).
        self._max_body_bytes = config.max_body_bytes
        #: Process tenants (:mod:`muxserver.proctier`); their zygote is the one
        #: the supervisor handed over (:meth:`use_zygote`), or started here.
        self.processes = None
        self._zygote = None
        if scan:
            self.rescan()

    # -- the process tier ------------------------------------------------------

    def use_zygote(self, client) -> None:
        """Serve process tenants through ``client`` (a
        :class:`~muxserver.proctier.launcher.ZygoteClient` the supervisor's
        zygote answers); again with a new client when the supervisor
        replaced a zygote that died."""
        self._zygote = client
        if self.processes is not None:
            self.processes.use_zygote(client)

    def process_tier(self):
        """The process tier of this process, made on first use."""
        if self.processes is None:
            from muxserver.proctier.manager import ProcessTier

            self.processes = ProcessTier(self, self._zygote or self._own_zygote,
                                         proxy=self.egress_url)
        return self.processes

    def _own_zygote(self):
        """In-process (tests, embedding): start a zygote of our own."""
        import socket as stdlib_socket

        from muxserver.proctier.launcher import ZygoteClient
        from muxserver.proctier.launcher import start_zygote

        old = getattr(self, "_zygote_handle", None)
        if old is not None:  # gone: reaped here
            old.stop()
        self._zygote_handle = start_zygote(self.config, self.egress_port)
        return ZygoteClient(stdlib_socket.socket(fileno=self._zygote_handle.client_end.detach()))

    #: The egress proxy's port and key (set by whoever started the proxy).
    egress_port = None
    egress_key = None

    def egress_url(self, tenant: str) -> str | None:
        """The proxy URL, with this tenant's credentials, for its process."""
        if self.egress_port is None or self.egress_key is None:
            return None
        from muxserver.egress.policy import tenant_token

        return f"http://{tenant}:{tenant_token(self.egress_key, tenant)}@127.0.0.1:{self.egress_port}"

    def close_processes(self) -> None:
        if self.processes is not None:
            self.processes.close()
            if self.processes._zygote is not None:
                self.processes._zygote.close()
        handle = getattr(self, "_zygote_handle", None)
        if handle is not None:
            handle.stop()

    @property
    def session_key(self) -> bytes:
        """What tenants' session keys derive from; read (or made) on first use
        when the supervisor did not hand it over — a tool command never needs it."""
        if self._session_key is None:
            self._session_key = serverdir.session_key(serverdir.server_secret(self.config))
        return self._session_key

    def rescan(self) -> None:
        started = time.perf_counter()
        self.registry.rescan()
        self.metrics.tenants.set(len(self.registry.tenants))
        self.metrics.warm_modules.set(len(self.registry.warm_modules()))
        server_log.info(
            "registered %d tenants, %d routes, %d deploy errors in %.0f ms",
            len(self.registry.tenants),
            sum(len(s.spec.routes) for s in self.registry.tenants.values()),
            len(self.registry.deploy_errors),
            (time.perf_counter() - started) * 1000,
        )

    def make_room(self, state, endpoint: str) -> None:
        """Before ``endpoint`` of ``state`` loads: idle modules make room
        first, so no request is refused for memory that they hold. Host
        work: call it outside any tenant's budget."""
        generation = state.generation
        if generation is None or endpoint not in generation.modules:
            self.evictor.shed_memory()

    def load(self, lease, endpoint: str, outcome=None, budget=None):
        """The warm module of ``endpoint`` in the lease's generation, loading
        (and counting) a cold start.

        :param budget: the request's budget, when called inside it: the load
            is charged to it (:meth:`~muxserver.tenancy.loader.Loader.get`),
            and the caller has made room (:meth:`make_room`). None: room is
            made here, and the load has a budget of its own.
        :return: ``(module, load_ms)``; ``load_ms`` is None when it was warm.
        """
        if budget is None:
            self.make_room(lease.state, endpoint)
        module, load_ms = lease.load(self.loader, endpoint, budget)
        if load_ms is not None:
            self._cold_start(lease, load_ms, outcome)
        return module, load_ms

    def _cold_start(self, lease, load_ms: float, outcome) -> None:
        """Count a load that just ran, and say so in the request's outcome."""
        self.metrics.cold_starts.labels(lease.state.name).inc()
        if not lease.generation.retired:
            # Counted, not recounted: a walk over every tenant per cold
            # start was most of a cold start at 5,000 tenants (issue 26).
            self.metrics.warm_modules.inc()
        if outcome is not None:
            outcome.cold = True
            outcome.load_ms = load_ms

    def hold(self, state, request_id: str, endpoint: str = "", capped: bool = True):
        """A lease on ``state`` (429 when its concurrency is full). A tenant
        stopped by a limit recently first lets waiting requests (other
        tenants') run — before the slot is taken, never between the check and
        the increment."""
        if state.penalized_until and time.monotonic() < state.penalized_until:
            gevent.sleep(PENALTY_YIELD_S)
        return leases.take(state, request_id, endpoint, capped=capped)

    def specialize(self, tenant: str, endpoint: str) -> dict:
        """Load one endpoint now (``/_mux/specialize``), held like a request
        (counted in flight, its generation pinned), so an eviction meanwhile
        cannot take the runtime from under the load."""
        state = self.registry.get(tenant)
        if state is None or endpoint not in state.spec.modules:
            raise NotFound(f"no endpoint {endpoint!r} in tenant {tenant!r}")
        started = time.perf_counter()
        with self.hold(state, None, endpoint, capped=False) as lease:
            _, load_ms = self.load(lease, endpoint)
        return {"tenant": tenant, "endpoint": endpoint, "was_warm": load_ms is None,
                "cold_start_ms": round(load_ms if load_ms is not None
                                       else (time.perf_counter() - started) * 1000, 3)}

    def redeploy(self, name: str) -> None:
        """Re-register one tenant after its folder changed (or went away)."""
        if not TENANT_NAME.match(name):
            return
        self.registry.rescan_tenant(name)
        self.metrics.tenants.set(len(self.registry.tenants))

    def evict(self, tenant: str | None = None, endpoint: str | None = None,
              reason: str = "admin") -> int:
        """Unload modules and give their memory back (and stop idle process
        tenants' processes); return how many."""
        count = self.registry.evict(tenant, endpoint, reason)
        if self.processes is not None and endpoint is None:
            count += self.processes.stop_tenant(tenant)
        if count:
            release_memory(force=True)
            self.metrics.warm_modules.set(len(self.registry.warm_modules()))
        return count

    def process_status(self) -> dict:
        """What this process holds now, for ``/_mux/status`` (the control
        plane adds every tenant's version and deploy errors)."""
        tenants = {}
        for name, state in self.registry.tenants.items():
            if state.inflight or state.modules:
                tenants[name] = {"warm_modules": len(state.modules), "inflight": state.inflight}
        return {
            "pid": os.getpid(),
            "role": self.role,
            "rss_bytes": rss_bytes(),
            "warm_modules": [m.describe() | {"pid": os.getpid()}
                             for m in self.registry.warm_modules()],
            "tenants": tenants,
            "inflight": self.inflight,
            "cold_starts": self.metrics.total("mux_cold_starts"),
            "evictions": self.metrics.total("mux_evictions"),
            "limit_kills": [
                {"tenant": t, "kind": k, "count": n}
                for (t, k), n in sorted(self.metrics.counters["mux_limit_kills"].items())
            ],
            "isolation": self.isolation,
            "uptime_s": round(time.time() - self.started_at, 3),
            "tenant_processes": self.processes.describe() if self.processes is not None else [],
        }

    def _on_unload(self, state, module, reason) -> None:
        self.metrics.evictions.labels(state.name, reason).inc()
        self.metrics.warm_modules.dec()

    def limit_killed(self, outcome, error) -> None:
        """A request was stopped by a limit: penalise the tenant for a while,
        count it, say it in the tenant's log, and give memory back."""
        tenant = outcome.tenant
        state = self.registry.get(tenant) if tenant else None
        if state is not None:
            state.penalized_until = time.monotonic() + PENALTY_S
        self.metrics.limit_kills.labels(tenant or "-", error.kind).inc()
        self.logs.write(tenant or "-", outcome.request_id,
                        f"request to {outcome.endpoint} stopped: {error.message}", level="error")
        # After the response is on its way, not before it.
        gevent.spawn(release_memory)

    def stream_done(self, outcome) -> None:
        """A body sent after the WSGI call (a stream, a large file) ended."""
        self.inflight -= 1
        self.finish(outcome)

    # -- WSGI ------------------------------------------------------------------

    def __call__(self, environ, start_response):
        return self.wsgi_app(environ, start_response)

    def wsgi_app(self, environ, start_response):
        self.inflight += 1
        try:
            result = self._wsgi_app(environ, start_response)
        except BaseException:
            self.inflight -= 1
            raise
        if type(result) is list:
            self.inflight -= 1
        return result

    def _wsgi_app(self, environ, start_response):
        incoming = environ.get("HTTP_X_REQUEST_ID")
        if incoming and _REQUEST_ID.match(incoming):
            request_id = incoming
        else:
            request_id = f"{self._rid_prefix}{next(self._rid_counter):08x}"
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO") or "/"
        outcome = _Outcome(method, path, request_id)
        try:
            if path.startswith("/_mux/") or path == "/_mux":
                # The admin API is on its own listener, never on the origin
                # that serves tenant pages; this port only says it serves.
                if path.rstrip("/") != "/_mux/healthz":
                    raise NotFound("not here: the admin API has a listener of its own")
                code, headers, body, stream = 200, [("Content-Type", "text/plain")], b"ok\n", None
            else:
                code, headers, body, stream = self.serve(environ, request_id, outcome, path,
                                                         method)
        except HOST_EXITS:
            # Only the host raises these (tenant builtins have none of them):
            # a worker being stopped or aborted must stop.
            raise
        except BaseException as exc:  # the one place errors become responses
            code, headers, body = self.handle_error(exc, request_id, outcome)
            stream = None
        headers.append(("X-Request-Id", request_id))
        headers.append(("Date", http_date()))
        if outcome.exec_ms is not None:
            timing = f"exec;dur={outcome.exec_ms:.3f}"
            if outcome.load_ms is not None:
                timing = f"load;dur={outcome.load_ms:.3f}, {timing}"
            headers.append(("Server-Timing", timing))
        outcome.status = code
        if stream is not None:
            if isinstance(stream, TenantStream) and stream.length is not None:
                headers.append(("Content-Length", str(stream.length)))  # a file's, exact
            start_response(status_line(code), headers)
            if method == "HEAD":
                stream.close()  # ends the request; no body for HEAD
                return iter(())
            return stream
        if code not in (204, 304):  # they have no body, and no length to say
            headers.append(("Content-Length", str(len(body))))
        if method == "HEAD":
            body = b""
        start_response(status_line(code), headers)
        self.finish(outcome)
        return [body]

    def finish(self, outcome: _Outcome) -> None:
        """Count and log a request once its answer is complete (or cut)."""
        seconds = time.perf_counter() - outcome.started
        if outcome.tenant is not None:
            self.metrics.observe_request(outcome.tenant, outcome.status, seconds)
        if logs.access_enabled:
            logs.access(outcome.method, outcome.path, outcome.status, seconds * 1000,
                        outcome.tenant, outcome.endpoint, outcome.cold, outcome.request_id)

    # -- tenant requests -------------------------------------------------------

    def resolve(self, environ, path: str) -> tuple[str, str, str]:
        """``(tenant, path inside the tenant, mount prefix)``."""
        host = environ.get("HTTP_HOST", "").split(":", 1)[0].lower().rstrip(".")
        if host:
            # The operator's [hosts] first, exact names then wildcards, then
            # --base-domain: the order of the map `muxserver nginx-conf`
            # writes, so a node and the nginx in front of it agree.
            owner = self.registry.tenant_for_host(host)
            if owner is not None:
                return owner, path, ""
            if self._base_suffix and host.endswith(self._base_suffix):
                name = host[: -len(self._base_suffix)]
                if name and "." not in name:
                    return name, path, ""
        parts = path.split("/", 2)
        name = parts[1] if len(parts) > 1 else ""
        if not name:
            raise NotFound("no tenant in the path")
        if not TENANT_NAME.match(name):
            raise NotFound(f"no tenant {name[:80]!r}")
        if len(parts) == 2:
            raise Redirect(f"/{name}/", name)
        return name, "/" + parts[2], "/" + name

    def serve(self, environ, request_id: str, outcome: _Outcome, path: str, method: str):
        """A tenant's answer to one request (``path`` and ``method`` as the
        environ says them), its headers scoped to its mount: it shares the
        origin with other tenants (:func:`origin_scope.confine`)."""
        name, rel, mount = self.resolve(environ, path)
        code, headers, body, stream = self._serve_tenant(environ, request_id, outcome, name,
                                                         rel, mount, method)
        return code, origin_scope.confine(headers, mount), body, stream

    def _serve_tenant(self, environ, request_id, outcome, name, rel, mount, method):
        state = self.registry.get(name)
        if state is None:
            raise NotFound(f"no tenant {name!r}")
        outcome.tenant = name
        length = environ.get("CONTENT_LENGTH")
        if length and length.isdigit() and int(length) > self._max_body_bytes:
            raise BodyTooLarge(f"request body is over {self.config.max_body:g} MB")
        method = method.upper()
        spec = state.spec
        static = static_target(spec, rel)
        if static is not None:
            if method in ("GET", "HEAD"):
                return self._static_route(state, static, request_id, outcome, environ, rel,
                                          mount)
            if static[2] is None and static[1] and not spec.is_process and (
                    spec.app_modules or spec.app_factory is not None):
                # A Flask app's static rule, below which no view's rule is:
                # it takes GET and HEAD only (Flask: 405, or OPTIONS's
                # answer). A tenant of another form routes the request.
                allowed = allowed_methods(("GET", "HEAD"))
                if method == "OPTIONS":
                    return self._default_options(state, state.get_router(), allowed,
                                                 request_id, outcome, environ, rel, mount,
                                                 static[1:2] + (None,))
                return self._tenant_error(
                    state, MethodNotAllowed(f"{method} not allowed", name, allowed),
                    request_id, outcome, environ, rel, mount)
        router = state.get_router()
        if spec.is_process:
            return self._serve_process(state, router, environ, rel, mount, method, request_id,
                                       outcome)
        try:
            match = router.match(rel, method, name)
        except Redirect as exc:
            return _routing_redirect(environ, mount + exc.location)
        except (NotFound, MethodNotAllowed) as exc:
            if method == "OPTIONS":
                # Flask's automatic answer, unless a route takes OPTIONS itself
                # (a Fission main() does).
                methods = router.methods_for(rel, name)
                if methods is not None:
                    return self._default_options(state, router, methods, request_id, outcome,
                                                 environ, rel, mount)
            return self._tenant_error(state, exc, request_id, outcome, environ, rel, mount)
        route = match.route
        if route.kind == "static":  # ranked by werkzeug (static_url_path="")
            return self._static_route(state, (spec.static_dir, match.view_args["filename"], None),
                                      request_id, outcome, environ, rel, mount)
        outcome.endpoint = route.endpoint
        with self.hold(state, request_id, route.endpoint) as lease:
            self.make_room(state, route.endpoint)
            if route.kind == "function:gcf":
                environ = cloudfunctions.with_execution_id(environ)
            request = lease.attach_request(TenantRequest(
                environ, rel, mount, match.view_args, route.endpoint, self._max_body_bytes))
            code, headers, body, stream = self._timed(
                outcome, lease, f"endpoint={route.endpoint}", self._load_and_call,
                lease, route, request, match, outcome)
            if stream is not None:
                return code, headers, b"", TenantStream(self, lease.hand_over(), stream, outcome)
            return code, headers, body, None

    def _static_route(self, state, static, request_id, outcome, environ, rel, mount):
        """Flask's ``static`` route for ``static`` (``(folder, filename,
        blueprint)``: :func:`static_target`, or the router's match): the
        file, through the tenant's request hooks when it has any; a missing
        one is the app's 404."""
        folder, filename, blueprint = static
        spec = state.spec
        if not spec.is_process and spec.error_handlers.get(ANY_STATUS):
            # Request hooks: Flask's static route runs them (a login
            # gate covers static files; after_request adds its headers).
            answered = self._in_tenant_apps(
                state, spec.error_handlers[ANY_STATUS], "static", request_id, outcome,
                environ, rel, mount, lambda apps, endpoint: static_page(
                    apps, "/app/" + folder, filename, spec.root, endpoint),
                static=(filename, blueprint))
            if answered is not None:
                return answered
        try:
            return self._serve_static(state, folder, filename, request_id, outcome, environ)
        except NotFound as exc:  # Flask's static route: the app's 404 answers
            if spec.is_process:  # its own 404 page, from its own app
                return self._serve_process(state, None, environ, rel, mount, "GET", request_id,
                                           outcome)
            return self._tenant_error(state, exc, request_id, outcome, environ, rel, mount,
                                      (filename, blueprint))

    def _serve_process(self, state, router, environ, rel, mount, method, request_id, outcome):
        """A process tenant: its own process answers everything but static
        files (Flask's routing, 404 and 405 pages are its app's own)."""
        try:
            match = router.match(rel, method, state.name) if router is not None else None
            outcome.endpoint = match.route.endpoint if match is not None else "-"
        except (NotFound, MethodNotAllowed, Redirect):
            outcome.endpoint = "-"
        else:
            if match is not None and match.route.kind == "static":
                return self._static_route(
                    state, (state.spec.static_dir, match.view_args["filename"], None),
                    request_id, outcome, environ, rel, mount)
        with self.hold(state, request_id, outcome.endpoint):
            return self.process_tier().serve(state, environ, rel, mount, request_id, outcome)

    def _load_and_call(self, lease, route, request, match, outcome):
        """The route's view called, inside the request's budget: its module
        loaded first when cold (the load charged to the budget, which then
        starts over: the load and the view each have the tenant's limits)."""
        # self.load without its layer: this is every request's path.
        module, load_ms = lease.load(self.loader, route.endpoint, lease.budget)
        if load_ms is not None:
            self._cold_start(lease, load_ms, outcome)
        module.touch()
        handler = module.handlers.get((route.handler, route.rule))
        if handler is None:
            message = (f"{lease.state.name}/{route.file}:{route.line}: {route.handler} was not "
                       "defined when the module ran")
            raise TenantCodeError(message, lease.state.name, detail=message)
        return call_handler(route, handler, request, match.view_args, module,
                            lease.state.spec.root, match.custom)

    @staticmethod
    def _timed(outcome, lease, label, func, *args):
        """``lease.run(...)``, its duration in the outcome (Server-Timing:
        exec), less a load ``func`` made (Server-Timing: load)."""
        started = time.perf_counter()
        try:
            return lease.run(label, func, *args)
        finally:
            outcome.exec_ms = (time.perf_counter() - started) * 1000 - (outcome.load_ms or 0.0)

    def _serve_static(self, state, folder, filename, request_id, outcome, environ):
        """A file of one of the tenant's static folders, held like a request
        until it is sent (a large one streams: released, counted and logged
        then)."""
        with self.hold(state, request_id) as lease:
            code, headers, body, stream = serve_static(state, folder, filename, environ)
            if isinstance(stream, FileBody):
                lease.hand_over()

                def sent():
                    lease.release()
                    self.stream_done(outcome)

                stream.on_close = sent
            return code, headers, body, stream

    def _tenant_error(self, state, exc, request_id, outcome, environ, rel, mount, static=None):
        """A 404 or 405 inside a tenant, answered as its Flask app would: its
        error handlers for the code or for a class that may cover it
        (``HTTPException``, ``Exception``) if it has any, werkzeug's page if
        not. ``static`` (``(file name, blueprint or None)``): a static
        route's missing file, the request routed to its endpoint."""
        code = exc.status
        holders = [*state.spec.error_handlers.get(code, ()),
                   *state.spec.error_handlers.get(ANY_STATUS, ())]
        allowed = getattr(exc, "allowed", None)
        answered = self._in_tenant_apps(
            state, holders, f"errorhandler={code}", request_id, outcome, environ, rel, mount,
            lambda apps, endpoint: error_page(apps, code, state.spec.root, endpoint, allowed),
            static=static)
        if answered is not None:
            return answered
        # No handler that could take it: werkzeug's page, without loading code.
        return code, [("Content-Type", "text/html; charset=utf-8"), *exc.headers()], \
            html_error_page(code).encode(), None

    def _default_options(self, state, router, methods, request_id, outcome, environ, rel,
                         mount, static=None):
        """Flask's automatic OPTIONS answer (``make_default_options_response``:
        empty, ``text/html``, ``Allow``), through the tenant's request hooks
        when it has any, as Flask's goes: a hand-written CORS
        ``after_request`` answers the browser's preflight. As in Flask, the
        request is routed to the first Flask-style rule matching the path:
        its URL value preprocessors and hooks (its blueprint's too) run with
        its endpoint and view arguments; to the app's static rule
        (``static``: ``(file name, None)``), as ``static`` with
        ``{"filename": ...}``."""
        holders = state.spec.error_handlers.get(ANY_STATUS, ())
        match = router.options_match(rel, state.name) if holders and static is None else None
        if match is not None and match.route.kind == "static":
            static, match = (match.view_args["filename"], None), None
        if match is not None and match.route.kind != "flask":
            match = None  # the server's own OPTIONS for the other forms
        answered = self._in_tenant_apps(
            state, holders, "options", request_id, outcome, environ, rel, mount,
            lambda apps, endpoint: options_page(
                apps, methods, state.spec.root, endpoint,
                match.route if match is not None else None,
                match.view_args if match is not None else (
                    {"filename": static[0]} if static is not None else None)),
            match, static)
        if answered is not None:
            return answered
        return 200, [("Allow", ", ".join(methods)),
                     ("Content-Type", "text/html; charset=utf-8")], b"", None

    def _in_tenant_apps(self, state, holders, label, request_id, outcome, environ, rel, mount,
                        page, match=None, static=None):
        """``page(apps, endpoint)`` inside the tenant's limits, once the
        modules in ``holders`` (those with request hooks or error handlers)
        have run; None when the tenant has none, so no code is loaded. With
        a ``match`` (a Flask-style route), the request is routed to it: its
        module is loaded, and ``apps`` are its own (its blueprint's first).
        With ``static`` (``(file name, blueprint or None)``), it is routed to
        Flask's ``static`` endpoint (a blueprint's: ``bp.static``, whose own
        hooks run first)."""
        endpoints = [h.replace(".", "/") for h in holders]
        endpoint = next((e for e in endpoints if e in state.spec.modules),
                        next(iter(state.spec.modules), None))
        if match is not None:
            endpoint = match.route.endpoint
        if endpoint is None or not holders:
            return None
        outcome.endpoint = endpoint
        with self.hold(state, request_id, endpoint) as lease:
            self.make_room(state, endpoint)
            if static is not None:
                request = TenantRequest(environ, rel, mount, {"filename": static[0]}, "",
                                        self._max_body_bytes)
                request.routed_to("static" if static[1] is None else f"{static[1]}.static")
            elif match is None:
                # No route: Flask's request.endpoint and view_args are None.
                request = TenantRequest(environ, rel, mount, None, "", self._max_body_bytes)
            else:
                request = TenantRequest(environ, rel, mount, match.view_args,
                                        match.route.endpoint, self._max_body_bytes)
                request.routed_to(match.route.flask_endpoint)
            lease.attach_request(request)

            def answer():
                module, _ = self.load(lease, endpoint, outcome, lease.budget)
                runtime, site = lease.runtime, lease.generation.site
                # The host loads them, as Flask would have at import: their
                # top level sees no request (as_at_import).
                as_at_import(lambda: [runtime.load_module(holder, by_host=True)
                                      for holder in dict.fromkeys(holders)])
                tenant_apps = [a for a in site.apps if not a.is_blueprint]
                if static is not None and static[1] is not None:
                    own = [a for a in site.apps if a.is_blueprint and a.name == static[1]]
                    return page(own[:1] + tenant_apps, endpoint)
                if match is not None:
                    key = (match.route.handler, match.route.rule)
                    return page(module.route_apps.get(key, tenant_apps), endpoint)
                return page(tenant_apps, endpoint)

            status, out, body, stream = self._timed(outcome, lease, label, answer)
            if stream is not None:  # a large static file streams, as a view's would
                return status, out, b"", TenantStream(self, lease.hand_over(), stream, outcome)
            return status, out, body, None

    # -- errors ------------------------------------------------------------------

    def handle_error(self, exc: BaseException, request_id: str, outcome: _Outcome):
        """Turn any exception into ``(status, headers, body)``: each error of
        :mod:`muxserver.errors` says its status, headers, text and what it
        reports; anything else is a bug here (:class:`InternalError`)."""
        error = exc if isinstance(exc, MuxError) else InternalError(exc)
        error.report(self, outcome)
        message = error.client_text(self.config.debug)
        if error.status >= 500:
            first, sep, rest = message.partition("\n\n")
            message = f"{first} (request id {request_id}){sep}{rest}"
        headers = [("Content-Type", "text/plain; charset=utf-8"), *error.headers()]
        return error.status, headers, (message + "\n").encode("utf-8", "replace")

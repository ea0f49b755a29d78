"""Specialize: load one endpoint module on demand (a cold start).

The module's code comes from the code cache by the content key the scan
recorded, not from the file, so a file being overwritten by a sync cannot
give a half-written module. The module's top level is tenant code and runs
under the tenant's limits like a request. Modules load into a
:class:`~muxserver.tenancy.generation.Generation` the caller's lease pinned,
so an eviction meanwhile cannot take the runtime from under the load. Two
requests that arrive for a cold module together load it once: the second
waits for the first.

"Your name is wrong" is kept apart from "your code failed": an unknown
endpoint is :class:`~muxserver.errors.NotFound`; a module that raises while
loading is :class:`~muxserver.errors.TenantLoadError` with the traceback
in the tenant's log.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping

from gevent.event import Event

from muxserver.errors import NotFound
from muxserver.errors import TenantLoadError
from muxserver.execution import budget_for
from muxserver.execution import run_limited
from muxserver.ops.logs import TenantLogs
from muxserver.replication.gate import DataGate
from muxserver.tenancy.codecache import CodeCache
from muxserver.tenancy.codecache import cache_key
from muxserver.tenancy.data import data_folder
from muxserver.tenancy.generation import Generation
from muxserver.tenancy.generation import WarmModule
from muxserver.tenancy.scanner import ModuleRef
from muxserver.tenancy.scanner import compile_file
from muxserver.tenancy.scanner import endpoint_module
from muxserver.tenancy.writelock import WriteLocks
from muxserver.tenant_api import cloudfunctions
from muxserver.tenant_api import context
from muxserver.tenant_api import forms
from muxserver.tenant_api.commands import click_module
from muxserver.tenant_api.commands import flask_cli_module
from muxserver.tenant_api.companions import jinja2_modules
from muxserver.tenant_api.companions import markupsafe_module
from muxserver.tenant_api.companions import werkzeug_modules
from muxserver.tenant_api.shim import functions_framework_attrs
from muxserver.tenant_api.shim import http_module_attrs
from muxserver.tenant_api.shim import flask_module_attrs
from muxserver.tenant_api.shim import module_attrs
from muxserver.tenant_api.shim import tenant_log
from muxserver.tenant_api.site import TenantSite
from muxserver.tracebacks import format_tenant_traceback
from muxserver.tracebacks import innermost_tenant_frame
from sandbox import Budget
from sandbox import LibSource
from sandbox import TenantRuntime
from sandbox.facades import ModuleFacade
from sandbox.facades.aio import resolve
from sandbox.facades.files import TenantFiles
from sandbox.facades.files import make_private_folder


def make_data_folder(state_dir, tenant: str) -> str:
    """``<data-dir>/<tenant>``, the tenant's ``/data``, made now (only the
    serving process and the operator may read it): a process-tier tenant's
    working directory. A sandboxed tenant's is made on its first use of
    ``/data`` (:meth:`sandbox.facades.files.TenantFiles.ensure_data`).

    :param state_dir: the config's ``state_dir``, resolved once by the caller.
    """
    path = data_folder(state_dir, tenant)
    make_private_folder(path)  # or not: a read-only data dir fails each write with the OS's error
    return path


def host_modules(attrs: dict, site=None) -> dict:
    """The modules the host gives tenant code: ``mux`` and ``flask`` (the
    tenant API, ``flask.cli``), ``http``/``http.server`` (for Vercel's
    handler classes), ``functions_framework`` (Cloud Functions' decorators),
    and what Flask code imports beside flask (``click``, ``markupsafe``,
    ``jinja2``'s errors, ``werkzeug``'s helpers)."""
    http = http_module_attrs()
    server = ModuleFacade("http.server", {"BaseHTTPRequestHandler": http["BaseHTTPRequestHandler"]})
    return {
        "mux": ModuleFacade("mux", attrs),
        "flask": ModuleFacade("flask", flask_module_attrs(attrs)),
        "http": ModuleFacade("http", {"HTTPStatus": http["HTTPStatus"], "server": server}),
        "http.server": server,
        "functions_framework": ModuleFacade("functions_framework", functions_framework_attrs(site)),
        "flask.cli": ModuleFacade("flask.cli", flask_cli_module()),
        "flask.views": attrs["views"],
        "click": ModuleFacade("click", click_module(
            site.log_line if site is not None else lambda line, level="info": None)),
        "markupsafe": markupsafe_module(),
        **jinja2_modules(),
        **werkzeug_modules(),
    }


def as_at_import(func):
    """``func()`` (a module's top level) as Flask runs it, at import: with
    no request attached and no request's state (``g``, ``session``,
    ``after_this_request``), so ``request`` and ``g`` raise there. A cold
    start runs it inside the first request (its budget, its greenlet's
    context): that request is set aside meanwhile, else the module read the
    first caller's request and kept what it read for every later one."""
    ctx = context.current()
    if ctx is None or (ctx.request is None and not ctx.extras):
        return func()
    request, extras = ctx.request, ctx.extras
    ctx.request, ctx.extras = None, {}
    try:
        return func()
    finally:
        ctx.request, ctx.extras = request, extras


class _TenantHooks:
    """What the host hands one tenant's runtime and site (its log, its
    sources, its host modules), as bound methods of one small object: a
    closure each cost ~200 bytes per warm tenant."""

    __slots__ = ("loader", "state", "runtime", "site", "modules")

    def __init__(self, loader: "Loader", state):
        self.loader = loader
        self.state = state
        self.runtime: TenantRuntime | None = None
        self.site: TenantSite | None = None
        self.modules: LazyHostModules | None = None

    def log_line(self, line: str, level: str = "info") -> None:
        ctx = context.current()
        self.loader.logs.write(self.state.name, ctx.request_id if ctx else None, line,
                               level=level)

    def load_source(self, dotted: str) -> LibSource | None:
        ref = self.state.spec.sources.get(dotted)
        if ref is None:
            return None
        if ref.key is None:
            return LibSource(None, ref.file + "__init__.py", True)
        return LibSource(self.loader.code_for(self.state, ref), ref.file, ref.is_package)

    def data_folder(self) -> str:
        """Its ``/data`` folder's path (made on first use, not here)."""
        return data_folder(self.loader._state_dir, self.state.name)

    def environment(self) -> dict:
        """What its ``os.environ`` starts as (built on first use)."""
        spec = self.state.spec
        return forms.environment(spec.name, spec.manifest, spec.version,
                                 self.loader.config.port)

    def build_host_modules(self) -> dict:
        site = self.site
        return host_modules(module_attrs(self.state.spec.manifest.env,
                                         tenant_log(self.log_line), site), site)

    def make_default_app(self):
        # Until the host modules are built; building them gives the site
        # its real maker (module_attrs).
        self.modules.built()
        return self.site.make_default_app()

    def moved(self) -> None:
        """Its data was replaced by a restore: drop what holds it open."""
        self.runtime.sqlite.close_all()
        self.site.close()


class _Outbound:
    """``outbound(host, port, timeout) -> socket`` for one tenant's outbound
    HTTP facades (through the egress proxy, bounded by the request)."""

    __slots__ = ("_loader", "_tenant")

    def __init__(self, loader: "Loader", tenant: str):
        self._loader = loader
        self._tenant = tenant

    def __call__(self, host: str, port: int, timeout: float):
        egress = self._loader.egress
        if egress is None:
            from muxserver.egress.client import EgressRefused

            raise EgressRefused("outbound HTTP is not available: no egress proxy runs "
                                "for this server")
        return egress.open(self._tenant, host, port, timeout)

    def tls(self):
        egress = self._loader.egress
        return egress.tls if egress is not None else None


class LazyHostModules(Mapping):
    """The host modules of one tenant, built on its first import of one.

    A hello-world function imports none of them, and building them is most
    of a cold start's own work and a third of a warm tenant's memory (the
    tenant's own ``Flask`` and ``Blueprint`` classes, the ``kv``, ``click``
    and ``werkzeug`` facades). Their names are the same for every tenant.

    :param build: returns the modules (:func:`host_modules`).
    """

    _names: frozenset[str] | None = None

    def __init__(self, build):
        self._build = build
        self._modules: dict | None = None

    @classmethod
    def names(cls) -> frozenset[str]:
        if cls._names is None:
            cls._names = frozenset(host_modules(module_attrs({}, tenant_log(lambda *a, **k: None))))
        return cls._names

    def built(self) -> dict:
        if self._modules is None:
            self._modules = self._build()
        return self._modules

    def __getitem__(self, name: str):
        if name not in self.names():
            raise KeyError(name)
        return self.built()[name]

    def __contains__(self, name) -> bool:
        return name in self.names()

    def __iter__(self):
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())


class Loader:
    """Loads endpoint modules of tenants into their sandbox runtimes."""

    def __init__(self, config, cache: CodeCache, logs: TenantLogs, session_key=lambda: b""):
        self.config = config
        #: Whether this node may serve a tenant's data (fleet, replica).
        self.data_gate = DataGate(config)
        #: Returns the key tenants' session keys derive from (read on first use).
        self.session_key = session_key
        self.cache = cache
        self.logs = logs
        # Resolved once, not on every cold start.
        self._state_dir = config.state_dir
        #: The egress proxy (:class:`muxserver.egress.client.EgressClient`), if any.
        self.egress = None
        self.extra_modules = {}
        for name in config.extra_modules:
            try:
                self.extra_modules[name] = __import__(name, fromlist=["_"])
            except ImportError:
                pass

    # -- code ----------------------------------------------------------------

    def code_for(self, state, ref: ModuleRef):
        """The code object of ``ref``, from the cache or, failing that, the
        file if it still has the registered content."""
        display = f"{state.name}/{ref.file}"
        code = self.cache.code(ref.key, display)
        if code is not None:
            return code
        try:
            with open(os.path.join(state.spec.root, ref.file), "rb") as f:
                data = f.read()
        except OSError:
            data = b""
        if cache_key(data, frozenset(self.config.extra_modules)) != ref.key:
            raise TenantLoadError(
                f"{display}: the deployed version is no longer in the code cache and the "
                "file has changed since; redeploy the tenant",
                state.name,
            )
        _, _, errors = compile_file(
            self.cache, display, data,
            extra_modules=frozenset(self.config.extra_modules),
        )
        if errors:
            raise TenantLoadError("; ".join(errors), state.name)
        return self.cache.code(ref.key, display)

    # -- runtime -----------------------------------------------------------------

    def runtime_for(self, generation: Generation) -> TenantRuntime:
        """The generation's runtime and site, made on its first load."""
        runtime = generation.runtime
        if runtime is None:
            state = generation.state
            spec = state.spec
            name = spec.name
            hooks = _TenantHooks(self, state)
            log_line = hooks.log_line
            # Its /data folder is named and made on first use (TenantFiles.ensure_data).
            files = TenantFiles(spec.root, hooks.data_folder,
                                spec.manifest.limits.storage_mb * 2**20)
            site = hooks.site = TenantSite(spec, self.session_key, log_line, files)
            hooks.modules = LazyHostModules(hooks.build_host_modules)
            site.make_default_app = hooks.make_default_app
            runtime = hooks.runtime = TenantRuntime(
                name,
                load_lib=hooks.load_source,
                host_modules=hooks.modules,
                log=log_line,
                extra_modules=self.extra_modules,
                files=files,
                # Built on first use: a hello world never reads it.
                env=hooks.environment,
                make_lock=WriteLocks(files),
            )
            runtime.outbound = _Outbound(self, name)
            site.runtime = runtime
            gate = self.data_gate.for_tenant(name, files)
            files.before_first_data_use = gate.before_data
            runtime.sqlite_hooks = (gate.ensure, gate.ensure, gate.track)
            gate.on_moved = hooks.moved
            site.data_gate = gate
            generation.runtime = runtime
            generation.site = site
        return runtime

    # -- load (the admin API calls it "specialize") -------------------------------------------------------------

    def get(self, generation: Generation, endpoint: str,
            budget: Budget | None = None) -> tuple[WarmModule, float | None]:
        """The warm module for ``endpoint`` in ``generation``, loading it if needed.

        :param budget: the request's budget, running (the caller is inside
            its :func:`~muxserver.execution.run_limited`): a load is charged
            to it, under the same limits a budget of its own would have, and
            the budget then starts over (:meth:`~sandbox.Budget.renew`), so
            the request's own code has all of them too. A load in a budget
            of its own was a tenth of a cold start's instructions (issue 26).
            None: the load runs in a budget of its own (an admin's load).
        :return: ``(module, load_ms)``; ``load_ms`` is None when it was warm.
        """
        module = generation.modules.get(endpoint)
        if module is not None:
            return module, None
        module, load_ms = self._get_cold(generation, endpoint, budget)
        if budget is not None:
            # What is over is over (a long call no tick interrupted); then
            # the request starts its own count. Waiting for another's load
            # is not counted either.
            budget.check_clocks()
            budget.renew()
        return module, load_ms

    def _get_cold(self, generation: Generation, endpoint: str, budget: Budget | None):
        # One load at a time per endpoint. The entry is None while nobody
        # waits: a lock made and taken for every cold start was 4 % of the
        # instructions a cold start adds to a request (issue 26), and a
        # request arriving during the load is rare. The first to wait puts
        # an Event there; the load sets it.
        while endpoint in generation.loading:
            done = generation.loading[endpoint]
            if done is None:
                done = generation.loading[endpoint] = Event()
            done.wait()
            module = generation.modules.get(endpoint)
            if module is not None:  # loaded while we waited
                return module, None
            # It failed, or its generation retired: load it ourselves.
        generation.loading[endpoint] = None
        try:
            module = self._load(generation, endpoint, budget)
            if not generation.retired:
                generation.modules[endpoint] = module
        finally:
            done = generation.loading.pop(endpoint)
            if done is not None:
                done.set()
        return module, module.load_ms

    def _load(self, generation: Generation, endpoint: str, budget: Budget | None) -> WarmModule:
        state = generation.state
        ref = state.spec.modules.get(endpoint)
        if ref is None:
            raise NotFound(f"tenant {state.name} has no endpoint {endpoint!r}", state.name)
        started = time.perf_counter()
        runtime = self.runtime_for(generation)
        dotted = endpoint_module(endpoint)
        own_budget = budget is None
        if own_budget:
            budget = budget_for(state.spec.manifest.limits, state.name,
                                f"tenant={state.name} endpoint={endpoint}")
        request_label = budget.label
        budget.label = f"{request_label} (loading)"  # what a watchdog names it by
        root = state.spec.root

        def top_level():
            self.load_app(generation, runtime)
            return runtime.namespace_of(runtime.load_module(dotted, by_host=True))

        def run_top_level():
            try:
                return as_at_import(top_level)
            except Exception as exc:
                # Formatted here, inside the limits: str(exc) is tenant code.
                detail = format_tenant_traceback(exc, root)
                summary = detail.rsplit("\n", 1)[-1]
                error = TenantLoadError(
                    f"module {state.name}/{ref.file} failed to load: {summary}", state.name, detail
                )
                error.where = innermost_tenant_frame(exc) or f"{state.name}/{ref.file}:1"
                raise error from None

        try:
            namespace = run_limited(budget, run_top_level) if own_budget else run_top_level()
        except TenantLoadError as exc:
            ctx = context.current()
            self.logs.write(state.name, ctx.request_id if ctx else None,
                            f"loading {ref.file} failed:\n{exc.detail}", level="error")
            raise
        finally:
            # A transaction the module's top level left open is rolled back.
            runtime.end_request(budget)
            budget.label = request_label
        handlers, apps, route_apps = self._handlers(generation, endpoint, namespace)
        load_ms = (time.perf_counter() - started) * 1000
        return WarmModule(state.name, endpoint, ref.key, dotted, handlers, apps, load_ms,
                          route_apps)

    @staticmethod
    def load_app(generation: Generation, runtime: TenantRuntime) -> None:
        """Run the modules that make the tenant's app, as Flask's entry point
        would run them (they register blueprints, hooks and commands), and
        its factory if no module makes one; call it inside the limits."""
        state = generation.state
        for app_module in state.spec.app_modules:
            runtime.load_module(app_module, by_host=True)
        factory = state.spec.app_factory
        if factory is not None and generation.site.app is None:
            # No app at module level: call the factory once, as `flask run`
            # would (create_app, make_app).
            module = runtime.load_module(factory[0], by_host=True)
            resolve(runtime.namespace_of(module)[factory[1]]())

    def _handlers(self, generation: Generation, endpoint: str, namespace: dict):
        """The module's handlers by ``(function name, rule)``, the apps whose
        hooks and error handlers apply to it (its blueprints first, then the
        tenant's apps), and those of each route (its own blueprint, then the
        tenant's apps)."""
        state = generation.state
        site = generation.site
        if not site.apps:
            return self._function_handlers(generation, endpoint, namespace), [], {}
        declared: dict[str, list] = {}
        owners = []
        by_rule = {}  # add_url_rule's views, by endpoint: Flask keeps one per name
        for app in site.apps:
            for rule, func_name, func, methods in app._routes:
                if methods is not None:
                    by_rule.setdefault(func_name, []).append((rule, func, app, methods))
                elif getattr(func, "__globals__", None) is namespace:
                    declared.setdefault(func_name, []).append((rule, func, app))
                    if app not in owners:
                        owners.append(app)
        tenant_apps = [a for a in site.apps if not a.is_blueprint]
        handlers, route_apps = {}, {}
        for route in state.spec.routes:
            if route.endpoint != endpoint:
                continue
            func, owner = None, None
            if route.kind == "flask" and _of_blueprint(by_rule.get(route.handler), route, 2):
                func, owner = self._url_rule_view(
                    state, route, _of_blueprint(by_rule[route.handler], route, 2))
                if owner not in owners:
                    owners.append(owner)
            elif route.kind == "flask":
                # Two blueprints' views may share a function name (even in
                # one module): the route's is the one on its blueprint.
                found = _of_blueprint(declared.get(route.handler, []), route, 2)
                # The rule recorded at run time lacks a prefix given at
                # register_blueprint(); match on the end of the rule then.
                exact = [(f, a) for rule, f, a in found if rule == route.rule]
                ends = [(f, a) for rule, f, a in found if route.rule.endswith(rule)]
                func, owner = (exact or ends or [(f, a) for _, f, a in found] or [(None, None)])[0]
            if func is None:
                func = _module_handler(generation, route, namespace)
            if func is not None and callable(func):
                key = (route.handler, route.rule)
                handlers[key] = func
                if owner is not None:
                    route_apps[key] = ([owner] if owner.is_blueprint else []) + tenant_apps
        apps = owners + [a for a in tenant_apps if a not in owners]
        return handlers, apps, route_apps

    @staticmethod
    def _function_handlers(generation: Generation, endpoint: str, namespace: dict) -> dict:
        """:meth:`_handlers` of a tenant that made no ``Flask()`` or
        ``Blueprint()`` (a function, a hello world): its routes' functions
        by name in the module."""
        handlers = {}
        for route in generation.state.spec.routes:
            if route.endpoint == endpoint:
                func = _module_handler(generation, route, namespace)
                if func is not None and callable(func):
                    handlers[(route.handler, route.rule)] = func
        return handlers

    @staticmethod
    def _url_rule_view(state, route, found):
        """The view ``add_url_rule`` registered for ``route`` and its app;
        its methods as Flask computed them must be those registration read
        (a view class whose methods the source does not say the same way
        is refused here, at the deploy's health check, not served
        differently)."""
        exact = [f for f in found if f[0] == route.rule]
        ends = [f for f in found if route.rule.endswith(f[0])]
        _, func, owner, methods = (exact or ends or found)[0]
        if methods != frozenset(route.methods):
            where = f"{state.name}/{route.file}:{route.line}"
            message = (f"{where}: the view of endpoint {route.handler!r} answers "
                       f"{', '.join(sorted(methods))} when the module runs, but registration "
                       f"read {', '.join(route.methods)} from the source; give add_url_rule() "
                       "methods=[...] to say which")
            raise TenantLoadError(message, state.name, message)
        return func, owner


def _module_handler(generation: Generation, route, namespace: dict):
    """The module global a route names (None if it has none)."""
    func = namespace.get(route.handler)
    if route.kind == "function:gcf" and \
            "FUNCTION_SIGNATURE_TYPE" not in generation.state.spec.manifest.env:
        # functions-framework writes it once the module has run.
        generation.runtime.env["FUNCTION_SIGNATURE_TYPE"] = cloudfunctions.signature_type(func)
    return func


def _of_blueprint(found, route, app_index: int) -> list:
    """The entries of ``found`` (tuples holding an app at ``app_index``)
    made on ``route``'s blueprint (or on an app, for an app's route); all of
    them when none is (a blueprint registration could not name)."""
    if not found:
        return []
    own = [entry for entry in found
           if (entry[app_index].name if entry[app_index].is_blueprint else None)
           == route.blueprint]
    return own or list(found)

"""The registry: every tenant's active version and its warm modules.

A :class:`TenantState` is one deployed version of a tenant: its spec, its
router (built on first request), its sandbox runtime (built on first
load) and the modules loaded so far. A redeploy builds a new state and swaps
it in with one dict assignment; requests in flight keep the state and the
module objects they started with, so they finish on their code. Warm
modules whose content did not change move to the new state (when the
tenant's ``lib/`` and ``tenant.toml`` did not change either), so a deploy
reloads only what changed.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

from muxserver.config import Config
from muxserver.tenancy.codecache import CodeCache
from muxserver.tenancy.router import TenantRouter
from muxserver.tenancy.scanner import TenantSpec
from muxserver.tenancy.scanner import endpoint_module
from muxserver.tenancy.scanner import list_tenants
from muxserver.tenancy.scanner import scan_tenant
from muxserver.tenancy.versions import VersionStore

log = logging.getLogger("muxserver.registry")


class WarmModule:
    """A loaded endpoint module and what routing needs from it."""

    __slots__ = ("tenant", "endpoint", "key", "namespace", "handlers", "apps",
                 "loaded_at", "last_used", "hits", "load_ms", "inflight", "unloaded",
                 "on_release")

    def __init__(self, tenant, endpoint, key, namespace, handlers, apps, load_ms):
        self.tenant = tenant
        self.endpoint = endpoint
        self.key = key
        self.namespace = namespace
        #: (handler function name, rule) -> callable
        self.handlers = handlers
        self.apps = apps
        self.loaded_at = time.time()
        self.last_used = time.monotonic()
        self.hits = 0
        self.load_ms = load_ms
        #: Requests running on this module now (streams until closed).
        self.inflight = 0
        #: Evicted or replaced; its state is dropped when the last request ends.
        self.unloaded = False
        self.on_release = None

    def acquire(self) -> None:
        self.inflight += 1
        self.last_used = time.monotonic()
        self.hits += 1

    def release(self) -> None:
        """One request on this module ended; drop its state if it was unloaded."""
        self.inflight -= 1
        if self.unloaded and self.inflight == 0:
            self.drop()

    def unload(self) -> None:
        """Out of the registry: requests in flight finish on its code *and* its
        state; the namespace is dropped when the last of them ends."""
        self.unloaded = True
        if self.inflight == 0:
            self.drop()

    def drop(self) -> None:
        # Not cleared: other modules of the tenant may have imported this
        # one and still use its globals. Dropping the reference is enough;
        # the eviction's gc.collect() frees the cycles.
        self.namespace = {}

    def describe(self) -> dict:
        idle = time.monotonic() - self.last_used
        return {
            "tenant": self.tenant,
            "endpoint": self.endpoint,
            "loaded_at": self.loaded_at,
            "last_used": time.time() - idle,
            "idle_s": round(idle, 3),
            "hits": self.hits,
            "load_ms": round(self.load_ms, 3),
        }


@dataclass
class TenantState:
    """One active version of one tenant."""

    spec: TenantSpec
    deployed_at: float = field(default_factory=time.time)
    router: TenantRouter | None = None
    runtime: object = None  # sandbox.TenantRuntime, built by the loader
    site: object = None  # muxserver.tenant_api.site.TenantSite, with the runtime
    modules: dict = field(default_factory=dict)  # endpoint -> WarmModule
    loading: dict = field(default_factory=dict)  # endpoint -> lock
    inflight: int = 0
    penalized_until: float = 0.0

    @property
    def name(self) -> str:
        return self.spec.name

    def end_request(self, request, budget) -> None:
        """What a finished request leaves: uploaded files' temporary files,
        and database transactions it left open (rolled back, locks freed)."""
        if request is not None:
            request.close()
        if budget is not None and self.runtime is not None:
            self.runtime.sqlite.end_request(budget)

    def get_router(self) -> TenantRouter:
        if self.router is None:
            self.router = TenantRouter(self.spec.name, self.spec.routes)
        return self.router


@dataclass
class DeployError:
    tenant: str
    errors: tuple[str, ...]
    at: float
    version: str

    def describe(self) -> dict:
        return {"tenant": self.tenant, "errors": list(self.errors), "at": self.at,
                "version": self.version}


class Registry:
    """All tenants of one server.

    :param config: the server's settings.
    :param cache: the code cache the scanner and loader share.
    """

    def __init__(self, config: Config, cache: CodeCache):
        self.config = config
        self.cache = cache
        self.tenants: dict[str, TenantState] = {}
        #: Host names are the operator's to assign (config ``[hosts]``), never
        #: first- or alphabetical-come: tenant.toml may only name its own.
        self.hosts: dict[str, str] = {}
        self._wildcards: list[tuple[str, str]] = []
        for tenant, names in config.hosts.items():
            for host in names:
                if host.startswith("*."):
                    self._wildcards.append((host[1:], tenant))
                else:
                    self.hosts[host] = tenant
        # The longest suffix wins (*.eu.acme.test before *.acme.test).
        self._wildcards.sort(key=lambda item: -len(item[0]))
        self.deploy_errors: dict[str, DeployError] = {}
        self.warnings: list[str] = []
        #: Versions deployed over HTTP; a live one wins over the tenants dir.
        self.versions = VersionStore(config.state_dir)
        self._lock = threading.RLock()
        self.on_unload = lambda state, module, reason: None

    # -- registration --------------------------------------------------------

    def root_of(self, name: str) -> Path:
        """The folder tenant ``name`` is served from."""
        return self.versions.live_root(name) or Path(self.config.tenants_dir) / name

    def scan_folder(self, folder, name: str) -> TenantSpec:
        """Register ``folder`` as tenant ``name`` without making it live."""
        return scan_tenant(folder, name, self.cache, self.config.tenant_rules,
                           frozenset(self.config.extra_modules))

    def _scan(self, name: str) -> TenantSpec:
        return scan_tenant(
            self.root_of(name),
            name,
            self.cache,
            self.config.tenant_rules,
            frozenset(self.config.extra_modules),
        )

    def rescan(self) -> None:
        """Register every tenant again; drop tenants whose folder is gone."""
        names, warnings = list_tenants(self.config.tenants_dir)
        names = sorted(set(names) | set(self.versions.live_tenants()))
        for warning in warnings:
            if warning not in self.warnings:
                log.warning("%s", warning)
        self.warnings = warnings
        for name in names:
            self.rescan_tenant(name)
        for gone in set(self.tenants) - set(names):
            self.remove_tenant(gone)
        for gone in set(self.deploy_errors) - set(names):
            self.deploy_errors.pop(gone, None)

    def rescan_tenant(self, name: str) -> TenantSpec:
        """Register one tenant; keep its previous version if the new one fails."""
        root = self.root_of(name)
        if not root.is_dir():
            self.remove_tenant(name)
            return TenantSpec(name=name, root=str(root), errors=(f"{name}/: no such tenant",))
        spec = self._scan(name)
        with self._lock:
            old = self.tenants.get(name)
            if not spec.ok:
                self.deploy_errors[name] = DeployError(name, spec.errors, time.time(), spec.version)
                for error in spec.errors:
                    log.error("deploy of tenant %s failed: %s", name, error,
                              extra={"tenant": name})
                if old is not None:
                    log.warning("tenant %s keeps serving version %s", name, old.spec.version[:12],
                                extra={"tenant": name})
                return spec
            self.deploy_errors.pop(name, None)
            if old is not None and old.spec.version == spec.version:
                return old.spec
            state = TenantState(spec)
            if old is not None:
                self._carry_over(old, state)
            self.tenants[name] = state
            if old is not None:
                log.info("tenant %s deployed version %s", name, spec.version[:12],
                         extra={"tenant": name})
        return spec

    def _carry_over(self, old: TenantState, new: TenantState) -> None:
        """Keep warm what did not change; drop the rest."""
        same_runtime = (
            old.runtime is not None
            and old.spec.sources == new.spec.sources
            and old.spec.manifest == new.spec.manifest
        )
        if same_runtime:
            new.runtime = old.runtime
            new.site = old.site
        for endpoint, module in old.modules.items():
            ref = new.spec.modules.get(endpoint)
            if same_runtime and ref is not None and ref.key == module.key:
                new.modules[endpoint] = module
            else:
                self.on_unload(old, module, "deploy")
        old.modules = {}

    def remove_tenant(self, name: str) -> None:
        with self._lock:
            state = self.tenants.pop(name, None)
            if state is None:
                return
            for module in state.modules.values():
                self.on_unload(state, module, "removed")
            state.modules = {}
            state.runtime = None
            state.site = None
            log.info("tenant %s removed", name, extra={"tenant": name})

    # -- lookups ---------------------------------------------------------------

    def get(self, name: str) -> TenantState | None:
        return self.tenants.get(name)

    def tenant_for_host(self, host: str) -> str | None:
        """The tenant the operator's ``[hosts]`` assigns ``host`` to, if any."""
        owner = self.hosts.get(host)
        if owner is None:
            for suffix, tenant in self._wildcards:
                if host.endswith(suffix) and len(host) > len(suffix):
                    return tenant
        return owner

    def route_table(self) -> list[dict]:
        rows = []
        for name in sorted(self.tenants):
            spec = self.tenants[name].spec
            for route in spec.routes:
                rows.append({
                    "tenant": name,
                    "rule": route.rule,
                    "path": f"/{name}{route.rule}",
                    "methods": list(route.methods),
                    "endpoint": route.endpoint,
                    "handler": route.handler,
                    "file": f"{name}/{route.file}",
                    "line": route.line,
                })
        return rows

    def error_list(self) -> list[str]:
        """Every deploy error as ``"tenant/file:line: message"``."""
        return [line for error in self.deploy_errors.values() for line in error.errors]

    def error_table(self) -> dict[str, dict]:
        """Deploy errors by tenant, with when they happened."""
        return {name: error.describe() for name, error in sorted(self.deploy_errors.items())}

    def warm_modules(self) -> list[WarmModule]:
        return [m for state in self.tenants.values() for m in state.modules.values()]

    # -- eviction ----------------------------------------------------------------

    def evict(self, tenant: str | None = None, endpoint: str | None = None,
              reason: str = "admin") -> int:
        """Unload modules (all, one tenant's, or one endpoint); return how many."""
        count = 0
        with self._lock:
            states = [self.tenants[tenant]] if tenant in self.tenants else (
                [] if tenant is not None else list(self.tenants.values())
            )
            for state in states:
                for name in list(state.modules):
                    if endpoint is not None and name != endpoint:
                        continue
                    module = state.modules.pop(name)
                    if state.runtime is not None:
                        # Its next request runs the module again.
                        state.runtime.forget(endpoint_module(name))
                    self.on_unload(state, module, reason)
                    count += 1
                if not state.modules:
                    # Helper modules live in the runtime; nothing warm, nothing kept.
                    if state.runtime is not None and state.inflight == 0:
                        state.runtime.close()
                        state.site.close()
                    state.runtime = None
                    state.site = None
        return count

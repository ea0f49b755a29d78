"""The registry: every tenant's active version.

A :class:`TenantState` is one deployed version of a tenant: its spec, its
router (built on first request), and — once something loaded — its live
:class:`~muxserver.tenancy.generation.Generation` (the sandbox runtime, the
site and the warm modules). A redeploy builds a new state and swaps it in
with one dict assignment; the old state is superseded and its generation
retired: requests in flight hold it through their leases
(:mod:`muxserver.tenancy.lease`) and finish on their code, and it is closed
when the last of them ends. The new version loads afresh on its next
requests, as a new instance does on every FaaS platform.
"""

from __future__ import annotations

import logging
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

from muxserver.config import Config
from muxserver.tenancy.codecache import CodeCache
from muxserver.tenancy.generation import Generation
from muxserver.tenancy.generation import WarmModule
from muxserver.tenancy.router import TenantRouter
from muxserver.tenancy.router import router_for
from muxserver.tenancy.spec import TenantSpec
from muxserver.tenancy.compiling import compile_locally
from muxserver.tenancy.scanner import list_tenants
from muxserver.tenancy.scanner import scan_tenant
from muxserver.tenancy.versions import VersionStore

log = logging.getLogger("muxserver.registry")


@dataclass(slots=True)
class TenantState:
    """One deployed version of one tenant (slotted: one per registered tenant)."""

    spec: TenantSpec
    deployed_at: float = field(default_factory=time.time)
    router: TenantRouter | None = None
    #: The generation new leases load into (None: nothing loaded).
    generation: Generation | None = None
    #: Leases on this version now (requests, streams, admin loads).
    inflight: int = 0
    penalized_until: float = 0.0
    #: Replaced by a newer version or removed: generations started for
    #: requests still on this version close with their last lease.
    superseded: bool = False
    #: Metrics hook: ``on_unload(state, module, reason)``.
    on_unload: object = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def modules(self) -> dict:
        """The warm endpoint modules, by endpoint."""
        return self.generation.modules if self.generation is not None else {}

    def loading_now(self) -> bool:
        """Whether a cold load of this version runs now."""
        return self.generation is not None and self.generation.loading_now()

    def generation_for_lease(self) -> Generation:
        """The live generation, or a new one (born retired on a superseded
        version: it serves the requests still on it, then closes)."""
        if self.generation is not None:
            return self.generation
        unload = self.on_unload or (lambda state, module, reason: None)
        generation = Generation(self, lambda module, reason: unload(self, module, reason))
        if self.superseded:
            generation.retired = True
        else:
            self.generation = generation
        return generation

    def supersede(self, reason: str) -> None:
        """This version stops taking new loads; what it loaded retires."""
        self.superseded = True
        if self.generation is not None:
            self.generation.retire(reason)

    def get_router(self) -> TenantRouter:
        if self.router is None:
            self.router = router_for(self.spec)
        return self.router


class DeployLocks:
    """One re-entrant lock per tenant, alive only while a deploy of that
    tenant holds it or waits for it (issue 26: a registered tenant that is
    not being deployed costs no lock)."""

    def __init__(self):
        self._guard = threading.Lock()
        #: name -> [lock, how many deploys hold it or wait for it]
        self._locks: dict[str, list] = {}

    @contextmanager
    def holding(self, name: str):
        with self._guard:
            entry = self._locks.get(name)
            if entry is None:
                entry = self._locks[name] = [threading.RLock(), 0]
            entry[1] += 1
        try:
            with entry[0]:
                yield
        finally:
            with self._guard:
                entry[1] -= 1
                if not entry[1]:
                    del self._locks[name]

    def __len__(self) -> int:
        """How many tenants' locks are alive (held or waited for) now."""
        return len(self._locks)


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
        self.versions = VersionStore(config.versions_dir)
        #: Guards the tables (tenants, hosts, errors); held for a swap, never
        #: while a version is scanned or health-checked.
        self._lock = threading.RLock()
        #: One deploy of a tenant at a time (scan, health check, swap), so a
        #: slow trial holds its own tenant's deploys, never another's.
        self._deploy_locks = DeployLocks()
        #: Called for every warm module that goes (metrics).
        self.on_unload = lambda state, module, reason: None
        #: Every state's hook, one bound method for all of them.
        self._unload_hook = self._unloaded
        #: What parses and compiles deployed source the cache lacks (the
        #: supervisor's compiler process, :mod:`muxserver.compiler`).
        self.compiler = compile_locally
        #: ``health_check(spec) -> errors``: imports a new version's modules
        #: in a trial runtime before it takes traffic (None: not checked).
        self.health_check = None
        #: ``on_change(name, state or None)``: a tenant's live version changed
        #: (the supervisor publishes it to its serving processes).
        self.on_change = lambda name, state: None
        self._failed_checks: dict[str, tuple] = {}
        #: Install a process tenant's requirements.txt when it is registered
        #: (the supervisor, an in-process app; not ``muxserver check``).
        self.install_sites = True

    def _unloaded(self, state, module, reason) -> None:
        self.on_unload(state, module, reason)

    # -- registration --------------------------------------------------------

    def root_of(self, name: str, live: set[str] | None = None) -> Path:
        """The folder tenant ``name`` is served from.

        :param live: the tenants with a live HTTP-deployed version, when the
            caller listed them already (a full rescan: one listing, not one
            pointer read per tenant).
        """
        if live is None or name in live:
            root = self.versions.live_root(name)
            if root is not None:
                return root
        return Path(self.config.tenants_dir) / name

    def scan_folder(self, folder, name: str) -> TenantSpec:
        """Register ``folder`` as tenant ``name`` without making it live (a
        process tenant's requirements are installed now: a failed install is
        a deploy error like a bad module)."""
        spec = scan_tenant(folder, name, self.cache, self.config.tenant_rules,
                           frozenset(self.config.extra_modules), compiler=self.compiler)
        if spec.ok and spec.is_process and spec.requirements and self.install_sites:
            spec = self._install_site(spec)
        return spec

    def _install_site(self, spec: TenantSpec) -> TenantSpec:
        from muxserver.proctier import requirements
        from muxserver.proctier.launcher import sites_dir

        try:
            site = requirements.install(list(spec.requirements), sites_dir(self.config))
        except (requirements.InstallError, OSError) as exc:
            return spec.replace(errors=(
                f"{spec.name}/requirements.txt:1: installing the requirements failed:\n{exc}",))
        return spec.replace(process_site=site)

    def rescan(self, checked: bool = True) -> None:
        """Register every tenant again; drop tenants whose folder is gone.

        :param checked: health-check new versions (at start-up, tenants are
            registered without importing anything).
        """
        names, warnings = list_tenants(self.config.tenants_dir)
        live = set(self.versions.live_tenants())
        names = sorted(set(names) | live)
        for warning in warnings:
            if warning not in self.warnings:
                log.warning("%s", warning)
        self.warnings = warnings
        for n, name in enumerate(names):
            self.rescan_tenant(name, live, checked)
            if n % 200 == 199:
                time.sleep(0)  # under gevent: let the admin API and heartbeats in
        for gone in set(self.tenants) - set(names):
            self.remove_tenant(gone)
        for gone in set(self.deploy_errors) - set(names):
            self.deploy_errors.pop(gone, None)

    def deploying(self, name: str):
        """The lock every change of tenant ``name``'s version holds (a
        directory rescan, an HTTP deploy with its health check, a rollback),
        as a context manager: deploys of one tenant run one after another,
        so its CI cannot start a trial per request; other tenants' deploys
        do not wait."""
        return self._deploy_locks.holding(name)

    def rescan_tenant(self, name: str, live: set[str] | None = None,
                      checked: bool = True) -> TenantSpec:
        """Register one tenant; keep its previous version if the new one fails."""
        with self.deploying(name):
            root = self.root_of(name, live)
            if not root.is_dir():
                self.remove_tenant(name)
                return TenantSpec(name=name, root=str(root), errors=(f"{name}/: no such tenant",))
            return self.install(self.scan_folder(root, name), checked)

    def install(self, spec: TenantSpec, checked: bool = False) -> TenantSpec:
        """Make ``spec`` its tenant's live version, unless it has errors or
        fails its health check; then the previous version keeps serving and
        the errors are the tenant's last failed deploy.

        :return: the spec that serves (the old one when nothing changed), or
            the refused one with its errors.
        """
        name = spec.name
        with self.deploying(name):
            old = self.tenants.get(name)
            if spec.ok and old is not None and (old.spec.version, old.spec.root) == (
                    spec.version, spec.root):
                self.deploy_errors.pop(name, None)
                return old.spec
            # Outside the tables' lock: a trial may take minutes.
            if spec.ok and checked and self.health_check is not None:
                spec = self._checked(spec)
            with self._lock:
                state = self._swap(spec, old)
            if state is not None:
                # Outside the tables' lock: publishing may wait on a pipe.
                self.on_change(name, state)
            return spec

    def _swap(self, spec: TenantSpec, old: TenantState | None) -> TenantState | None:
        """Record a refused ``spec`` (None), or make it live in place of
        ``old`` (its new state)."""
        name = spec.name
        if not spec.ok:
            self.deploy_errors[name] = DeployError(name, spec.errors, time.time(), spec.version)
            for error in spec.errors:
                log.error("deploy of tenant %s failed: %s", name, error.split("\n", 1)[0],
                          extra={"tenant": name})
            if old is not None:
                log.warning("tenant %s keeps serving version %s", name, old.spec.version[:12],
                            extra={"tenant": name})
            return None
        self.deploy_errors.pop(name, None)
        state = TenantState(spec, on_unload=self._unload_hook)
        self.tenants[name] = state
        if old is not None:
            old.supersede("deploy")
            log.info("tenant %s deployed version %s", name, spec.version[:12],
                     extra={"tenant": name})
        return state

    def _checked(self, spec: TenantSpec) -> TenantSpec:
        """``spec``, with the errors of its health check (a version that failed
        is not checked again until it changes)."""
        key = (spec.version, spec.root)
        failed = self._failed_checks.get(spec.name)
        if failed is not None and failed[0] == key:
            errors = failed[1]
        else:
            errors = tuple(self.health_check(spec))
            if errors:
                self._failed_checks[spec.name] = (key, errors)
            else:
                self._failed_checks.pop(spec.name, None)
        return spec.replace(errors=errors) if errors else spec

    def remove_tenant(self, name: str) -> None:
        with self.deploying(name):
            with self._lock:
                state = self.tenants.pop(name, None)
                if state is None:
                    return
                state.supersede("removed")
                log.info("tenant %s removed", name, extra={"tenant": name})
            self.on_change(name, None)

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
        """Unload modules (all, one tenant's, or one endpoint and what it is
        connected to); return how many warm endpoints went. Requests in flight
        keep what they run on (their leases)."""
        count = 0
        with self._lock:
            states = [self.tenants[tenant]] if tenant in self.tenants else (
                [] if tenant is not None else list(self.tenants.values())
            )
            for state in states:
                if state.generation is not None:
                    count += state.generation.evict(endpoint, reason)
        return count

"""The operator's side of one server: deploys, status and the admin calls.

:class:`ControlPlane` answers what the admin API, the tenants-dir watcher,
SIGHUP and the deploy calls ask: it decides which version of each tenant is
live (scan, health check, keep) and asks the processes that serve for what
only they know (warm modules, logs, metrics) or can do (evict, load).

The processes that serve are a *serving* backend with one interface:

* :class:`LocalServing` — the :class:`~muxserver.app.MuxApp` of this same
  process (tests, embedding): its registry *is* the control plane's;
* :class:`muxserver.supervisor.pool.WorkerPool` — the serving processes the
  supervisor started: each new live version is published to them.

The ``muxserver`` command runs the control plane in the supervisor, which
runs no tenant code and serves no tenant request (SPEC "What it is").
"""

from __future__ import annotations

import logging
import os
import time

from muxserver import serverdir
from muxserver.errors import DeployRefused
from muxserver.errors import NotFound
from muxserver.ops.history import History
from muxserver.ops.logs import TenantLogs
from muxserver.ops.metrics import Metrics
from muxserver.tenancy.data import StorageUsage
from muxserver.tenancy.names import TENANT_NAME

log = logging.getLogger("muxserver.control")


class LocalServing:
    """The serving side when tenants are served in this very process."""

    def __init__(self, app):
        self.app = app

    def publish(self, name, state) -> None:
        """Nothing to send: the app serves from the registry that changed."""

    def evict(self, tenant: str | None) -> int:
        return self.app.evict(tenant=tenant, reason="admin")

    def specialize(self, tenant: str, endpoint: str) -> dict:
        return self.app.specialize(tenant, endpoint)

    def process_status(self) -> list[dict]:
        return [self.app.process_status()]

    def logs(self, tenant: str, limit: int | None) -> list[dict]:
        return self.app.logs.tail(tenant, limit)

    def metrics_snapshots(self) -> list[dict]:
        return [self.app.metrics.snapshot()]


class ControlPlane:
    """Which version of each tenant is live, and the operator's view of all.

    :param config: the server's settings.
    :param registry: where live versions are kept.
    :param serving: the processes that serve (see the module doc).
    :param health_check: ``health_check(spec) -> errors`` for new versions.
    """

    def __init__(self, config, registry, serving, health_check=None):
        self.config = config
        self.registry = registry
        self.serving = serving
        registry.health_check = health_check
        registry.on_change = serving.publish
        self.started_at = time.time()
        #: Server-wide warnings of the supervisor's own (a moved tenants
        #: link), shown in status beside the registry's.
        self.notices: list[str] = []
        #: Lines about tenants that happen here (deploys refused), merged with
        #: the serving processes' tenant logs.
        self.logs = TenantLogs()
        self.metrics = Metrics(snapshots=serving.metrics_snapshots,
                               registered=lambda: len(registry.tenants))
        self.history = History(self)
        self.storage = StorageUsage(config.state_dir)
        self._secret = None

    # -- secrets -----------------------------------------------------------------

    @property
    def console_key(self) -> str:
        if self._secret is None:
            self._secret = serverdir.server_secret(self.config)
        return serverdir.console_key(self._secret)

    # -- versions ----------------------------------------------------------------

    def rescan(self, checked: bool = True, report: bool = True) -> dict | None:
        """Register every tenant again (new versions are health-checked).

        :param report: return the route table and the deploy errors (the
            admin API's answer). The supervisor's own rescans (start, SIGHUP)
            do not: a table of every route is a dict per route, and building
            it for 10,000 tenants only to drop it leaves the supervisor
            holding the memory it took.
        """
        started = time.perf_counter()
        self.registry.rescan(checked)
        registry = self.registry
        log.info("registered %d tenants, %d routes, %d deploy errors in %.0f ms",
                 len(registry.tenants), sum(len(s.spec.routes) for s in registry.tenants.values()),
                 len(registry.deploy_errors), (time.perf_counter() - started) * 1000)
        if not report:
            return None
        return {"routes": registry.route_table(), "errors": registry.error_list()}

    def redeploy(self, name: str) -> None:
        """Re-register one tenant after its folder (or live pointer) changed."""
        if not TENANT_NAME.match(name):
            return
        spec = self.registry.rescan_tenant(name)
        self._note_refusal(spec)

    def _note_refusal(self, spec) -> None:
        if not spec.ok:
            for error in spec.errors:
                self.logs.write(spec.name, None, f"deploy refused: {error}", level="error")

    def validate(self, folder, tenant: str):
        """Register ``folder`` as ``tenant`` and health-check it; nothing
        becomes live. Returns the spec (its ``errors`` say if it failed)."""
        spec = self.registry.scan_folder(folder, tenant)
        if spec.ok and self.registry.health_check is not None:
            errors = tuple(self.registry.health_check(spec))
            if errors:
                spec = spec.replace(errors=errors)
        return spec

    def deploy_archive(self, tenant: str, archive: bytes, deployer: str) -> dict:
        """``PUT /_mux/tenants/<t>``: unpack, validate, health-check, keep
        and make live; :class:`DeployRefused` and nothing changed otherwise."""
        if not TENANT_NAME.match(tenant):
            raise DeployRefused(f"{tenant!r} is not a valid tenant name", status=400)
        # One deploy of a tenant at a time: parallel PUTs queue here rather
        # than each starting a trial process.
        with self.registry.deploying(tenant):
            try:
                result = self.registry.versions.deploy(
                    tenant, archive, lambda folder: self.validate(folder, tenant), deployer)
            except DeployRefused as exc:
                for error in exc.errors:
                    self.logs.write(tenant, None, f"deploy refused: {error}", level="error")
                raise
            # Checked above: taken live without importing it again.
            self.registry.rescan_tenant(tenant, checked=False)
        log.info("tenant %s deployed over HTTP: version %s by %s", tenant, result["version"],
                 deployer, extra={"tenant": tenant})
        return result

    def versions(self, tenant: str) -> dict:
        store = self.registry.versions
        versions = store.versions(tenant)
        if not versions and self.registry.get(tenant) is None:
            raise NotFound(f"no tenant {tenant!r}")
        return {"tenant": tenant, "live": store.live_version(tenant), "versions": versions}

    def rollback(self, tenant: str, version: str, deployer: str) -> dict:
        with self.registry.deploying(tenant):
            self.registry.versions.make_live(tenant, version)
            self.registry.rescan_tenant(tenant, checked=False)
        log.info("tenant %s rolled back to version %s by %s", tenant, version, deployer,
                 extra={"tenant": tenant})
        return {"tenant": tenant, "version": version}

    def knows(self, tenant: str) -> bool:
        """Registered, refused at its last scan, or with lines in the log (a
        tenant whose first HTTP deploy was refused has only those)."""
        return (self.registry.get(tenant) is not None or tenant in self.registry.deploy_errors
                or bool(self.logs.tail(tenant, 1)))

    # -- what the serving processes know or do ----------------------------------

    def evict(self, tenant: str | None) -> int:
        if tenant is not None and self.registry.get(tenant) is None:
            raise NotFound(f"no tenant {tenant!r}")
        return self.serving.evict(tenant)

    def specialize(self, tenant: str, endpoint: str) -> dict:
        state = self.registry.get(tenant)
        if state is None:
            raise NotFound(f"no tenant {tenant!r}")
        endpoint = endpoint.strip("/").removesuffix(".py") or "index"
        if endpoint not in state.spec.modules:
            raise NotFound(f"tenant {tenant!r} has no endpoint {endpoint!r}; endpoints: "
                           + ", ".join(sorted(state.spec.modules)))
        return self.serving.specialize(tenant, endpoint)

    def tenant_logs(self, tenant: str, limit: int | None = None) -> list[dict]:
        if not self.knows(tenant):
            raise NotFound(f"no tenant {tenant!r}")
        lines = self.serving.logs(tenant, limit) + self.logs.tail(tenant, limit)
        lines.sort(key=lambda entry: entry["time"])
        return lines[-limit:] if limit else lines

    def metrics_text(self) -> bytes:
        return self.metrics.render()

    def _ended(self) -> list[dict]:
        return [s for s in self.serving.metrics_snapshots() if not s.get("live", True)]

    def _ended_total(self, counter: str) -> float:
        return sum(value for snap in self._ended() for _, value in snap["counters"].get(counter, []))

    def _limit_kills(self, processes) -> list[dict]:
        kills: dict[tuple, float] = {}
        for process in processes:
            for row in process["limit_kills"]:
                key = (row["tenant"], row["kind"])
                kills[key] = kills.get(key, 0) + row["count"]
        for snap in self._ended():
            for key, value in snap["counters"].get("mux_limit_kills", []):
                kills[tuple(key)] = kills.get(tuple(key), 0) + value
        return [{"tenant": t, "kind": k, "count": n} for (t, k), n in sorted(kills.items())]

    def _version_name(self, state) -> str:
        """The name of a live version: an HTTP deploy's (as ``versions``
        lists it), or the registered content hash of a tenants-dir folder."""
        live = self.registry.versions.live_version(state.name)
        if live is not None and os.path.basename(state.spec.root) == live:
            return live
        return state.spec.version

    def status(self) -> dict:
        """What ``/_mux/status`` shows: every tenant's live version and
        deploy errors from here, warm modules and memory from every serving
        process (summed, and per process)."""
        processes = self.serving.process_status()
        registry = self.registry
        warm = [m for p in processes for m in p["warm_modules"]]
        per_tenant: dict[str, dict] = {}
        for process in processes:
            for name, row in process["tenants"].items():
                have = per_tenant.setdefault(name, {"warm_modules": 0, "inflight": 0})
                have["warm_modules"] += row["warm_modules"]
                have["inflight"] += row["inflight"]
        tenants = {}
        for name in sorted(registry.tenants):
            state = registry.tenants[name]
            error = registry.deploy_errors.get(name)
            live = per_tenant.get(name, {})
            quota = state.spec.manifest.limits.storage_mb * 2**20
            tenants[name] = {
                "name": name,
                "version": self._version_name(state),
                "deployed_at": state.deployed_at,
                "routes": len(state.spec.routes),
                "warm_modules": live.get("warm_modules", 0),
                "inflight": live.get("inflight", 0),
                "hosts": list(state.spec.manifest.hosts),
                "limits": dict(vars(state.spec.manifest.limits)),
                "last_failed_deploy": error.describe() if error else None,
                "warnings": list(state.spec.warnings),
                "storage_bytes": self.storage.of(name, quota),
                "storage_limit_bytes": quota,
            }
        first = processes[0] if processes else {}
        return {
            "tenants": tenants,
            "routes": registry.route_table(),
            "warm_modules": warm,
            "rss_bytes": sum(p["rss_bytes"] for p in processes),
            "processes": [{k: p[k] for k in ("pid", "role", "rss_bytes", "isolation")}
                          | {"warm_modules": len(p["warm_modules"])} for p in processes],
            # Counted now by each serving process, plus what ended ones counted.
            "cold_starts": sum(p["cold_starts"] for p in processes)
            + self._ended_total("mux_cold_starts"),
            "evictions": sum(p["evictions"] for p in processes) + self._ended_total("mux_evictions"),
            "deploy_errors": registry.error_table(),
            "warnings": list(registry.warnings) + self.notices,
            "limit_kills": self._limit_kills(processes),
            "code_cache": {
                "dir": str(registry.cache.directory),
                "writable": registry.cache.writable,
                "hits": registry.cache.hits,
                "misses": registry.cache.misses,
                "writes": registry.cache.writes,
            },
            "isolation": first.get("isolation", {"mode": "unknown", "missing": []}),
            # Process tenants' processes (muxserver.proctier), in every serving process.
            "tenant_processes": [t for p in processes for t in p.get("tenant_processes", [])
                                 if isinstance(t, dict)],
            "uptime_s": round(time.time() - self.started_at, 3),
            "pid": os.getpid(),
        }

"""The attack suites in this process, against the sandbox as a library.

A case is tenant source. :class:`SandboxHost` does what a host of the
sandbox does, with the sandbox's own API and nothing of the server's
request path: it reads the tenant's folder as a deploy would
(:func:`muxserver.tenancy.scanner.scan_tenant`: the policy's compile and the
import checks), builds a :class:`sandbox.TenantRuntime` with the tenant API
as its host modules, and calls the handler under a :class:`sandbox.Budget`
(:func:`muxserver.execution.run_limited`) — milliseconds a case.

Besides the answer, every run measures what a neighbour would feel:

* ``held_s``: the longest CPU stretch the case ran without reaching a point
  where the server could have served someone else (a budget check, or the
  end). A host call that never ticks shows here — over real HTTP it is the
  calm tenant's stall.
* ``peak_bytes``: how far the process's peak RSS rose above its RSS at the
  start (``/proc/self/clear_refs`` resets the peak): one call that
  allocates gigabytes shows here even when the budget kills the request
  right after.
"""

from __future__ import annotations

import contextlib
import gc
import re
import sqlite3
import sys
import time
from pathlib import Path
from typing import NamedTuple

import pytest
from werkzeug.test import EnvironBuilder

from muxserver.config import Limits
from muxserver.errors import LimitStopped
from muxserver.errors import TenantCodeError
from muxserver.execution import budget_for
from muxserver.execution import run_limited
from muxserver.tenancy.codecache import CodeCache
from muxserver.tenancy.loader import host_modules
from muxserver.tenancy.manifest import TenantRules
from muxserver.tenancy.scanner import endpoint_module
from muxserver.tenancy.scanner import scan_tenant
from muxserver.tenant_api import context
from muxserver.tenant_api.dispatch import call_handler
from muxserver.tenant_api.request import TenantRequest
from muxserver.tenant_api.shim import module_attrs
from muxserver.tenant_api.shim import tenant_log
from muxserver.tenant_api.site import TenantSite
from muxserver.tracebacks import format_tenant_traceback
from sandbox import Budget
from sandbox import LibSource
from sandbox import LimitExceeded
from sandbox import charged
from sandbox import TenantRuntime
from sandbox import limits
from sandbox.facades.files import TenantFiles
from tests.conftest import write_tenant


#: Longest CPU stretch a case may run without a point where the host could
#: switch to another request (the calm tenant's stall, over HTTP).
HELD_BOUND_S = 0.25
#: How far past its memory budget one case may push the process's peak RSS.
PEAK_SLACK = 48 * 2**20


class Outcome(NamedTuple):
    """What one request of a case came to."""

    #: The HTTP status the server would answer, or ``"deploy"`` when the
    #: deploy itself was refused.
    status: int | str
    #: The tenant's log (or the deploy errors).
    text: str
    #: The response body.
    body: str
    held_s: float
    peak_bytes: int


def _rss_kib() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _peak_kib() -> int:
    with open("/proc/self/status") as f:
        return int(re.search(r"VmHWM:\s+(\d+)", f.read()).group(1))


class _Stretches:
    """The slice hook of a host that records how long tenant code ran
    between two points where the host could have switched — in this
    thread's CPU time, so that a loaded machine descheduling the test does
    not count as the case holding the process."""

    def __init__(self):
        self.longest = 0.0
        self._mark = time.thread_time()

    def _stretch(self) -> None:
        now = time.thread_time()
        self.longest = max(self.longest, now - self._mark)
        self._mark = now

    def end_slice(self, budget) -> None:
        self._stretch()
        # What a switch would do: count the slice, start a new one.
        budget.new_slice()

    def tail(self, budget) -> None:
        if budget.running:
            self._stretch()


class SandboxHost:
    """Deploys and runs tenants in this process (see the module doc).

    :param root: a folder for the tenants, their data and the code cache.
    :param offload: the host's offload hook for long C calls (a thread),
        or None to run them inline.
    """

    def __init__(self, root: Path, offload=None):
        self.root = Path(root)
        self.tenants = self.root / "tenants"
        self.cache = CodeCache(self.root / "cache")
        self.offload = offload
        self.logs: dict[str, list[str]] = {}
        self.runtimes: dict[str, tuple] = {}

    def write(self, name: str, files: dict[str, str], limits_toml: str = "") -> None:
        if limits_toml:
            files = {**files, "tenant.toml": limits_toml}
        write_tenant(self.tenants, name, files)

    # -- deploy --------------------------------------------------------------

    def deploy(self, name: str):
        """The tenant's spec, read as a deploy reads it (errors included)."""
        return scan_tenant(self.tenants / name, name, self.cache, TenantRules(defaults=Limits()))

    def _runtime(self, spec):
        held = self.runtimes.get(spec.name)
        if held is not None:
            return held
        name = spec.name
        lines = self.logs.setdefault(name, [])

        def log_line(line, level="info"):
            lines.append(f"{level}: {line}")

        limits_ = spec.manifest.limits
        data = self.root / "data" / name
        data.mkdir(parents=True, exist_ok=True)
        files = TenantFiles(spec.root, str(data), limits_.storage_mb * 2**20)
        site = TenantSite(spec, lambda: b"k" * 32, log_line, files)
        attrs = module_attrs(spec.manifest.env, tenant_log(log_line), site)

        def load_source(dotted):
            ref = spec.sources.get(dotted)
            if ref is None:
                return None
            if ref.key is None:
                return LibSource(None, ref.file + "__init__.py", True)
            return LibSource(self.cache.load_code(self.cache.get(ref.key)[1]), ref.file,
                             ref.is_package)

        runtime = TenantRuntime(name, load_lib=load_source, host_modules=host_modules(attrs, site),
                                log=log_line, files=files, env=spec.manifest.env)
        self.runtimes[name] = held = (runtime, site)
        return held

    # -- a request -------------------------------------------------------------

    def request(self, name: str, path: str = "/", method: str = "GET", **environ) -> Outcome:
        """Deploy ``name`` (if it is not yet) and serve one request of it."""
        spec = self.deploy(name)
        if spec.errors:
            return Outcome("deploy", "\n".join(spec.errors), "", 0.0, 0)
        route = next(r for r in spec.routes if method in r.methods or r.kind == "main")
        runtime, site = self._runtime(spec)
        env = EnvironBuilder(path=f"/{name}{path}", method=method, **environ).get_environ()
        request = TenantRequest(env, path, f"/{name}", {}, route.endpoint)
        # As the server does: the module's top level runs with no request
        # (its own budget), the handler with the request.
        ctx = context.RequestContext(name, "rid-1", endpoint=route.endpoint, site=site)
        stretches = _Stretches()
        saved = limits._slice_hook, limits._pause_hook, limits._offload_hook
        limits.set_slice_hooks(stretches.end_slice, None)
        limits.set_offload_hook(self.offload)
        previous = context.push(ctx)
        # Old objects out of the collector's way: a full collection of the
        # test process's heap is not the case's stretch.
        gc.freeze()
        measured = _reset_peak()
        start_kib = _rss_kib()
        status, body = 500, ""
        lines = self.logs.setdefault(name, [])

        def in_tenant_names(exc):
            return TenantCodeError("load", detail=format_tenant_traceback(exc, self.tenants),
                                   exc_type=type(exc).__name__)

        def load(budget):
            try:
                return runtime.namespace_of(runtime.load_module(endpoint_module(route.endpoint)))
            except Exception as exc:
                raise in_tenant_names(exc) from None
            finally:
                stretches.tail(budget)

        def serve(budget, namespace):
            try:
                ctx.request = request
                handler = namespace.get(route.handler)
                return call_handler(route, handler, request, {}, _ModuleView(site.apps),
                                    self.tenants)
            finally:
                stretches.tail(budget)

        budget = None
        try:
            budget = budget_for(spec.manifest.limits, name, f"tenant={name} (loading)")
            namespace = run_limited(budget, load, budget)
            runtime.sqlite.end_request(budget)
            budget = budget_for(spec.manifest.limits, name, f"tenant={name}")
            code, _headers, data, stream = run_limited(budget, serve, budget, namespace)
            if stream is not None:
                data = b"".join(run_limited(budget, lambda: list(stream)))
            status, body = code, (data or b"").decode("utf-8", "replace")
        except (LimitExceeded, LimitStopped) as exc:
            status = exc.status
            lines.append(f"error: {getattr(exc, 'message', None) or exc}")
        except TenantCodeError as exc:
            status = exc.status
            lines.append(f"error: {exc.detail}")
        finally:
            context.pop(previous)
            if budget is not None:
                runtime.sqlite.end_request(budget)
            request.close()
            limits._slice_hook, limits._pause_hook = saved[0], saved[1]
            limits.set_offload_hook(saved[2])
        peak = (_peak_kib() - start_kib) * 1024 if measured else 0
        return Outcome(status, "\n".join(self.logs.get(name, ())), body, stretches.longest,
                       max(peak, 0))

    @contextlib.contextmanager
    def serving(self, name: str, cpu_s: float = 30.0, module: str = "index"):
        """Inside a request of ``name`` (its context pushed, a budget charged):
        yield its runtime and the globals of its ``module``."""
        spec = self.deploy(name)
        assert not spec.errors, spec.errors
        runtime, site = self._runtime(spec)
        env = EnvironBuilder(path=f"/{name}/", method="GET").get_environ()
        request = TenantRequest(env, "/", f"/{name}", {}, "index")
        previous = context.push(context.RequestContext(name, "rid-1", request=request,
                                                       endpoint="index", site=site))
        try:
            with charged(Budget(cpu_s=cpu_s, memory_bytes=2**30)):
                yield runtime, runtime.namespace_of(runtime.load_module(module))
        finally:
            context.pop(previous)
            request.close()

    def close(self, name: str) -> None:
        """Drop the tenant's runtime, as an eviction does; tenant code that
        the collection runs (a generator's ``finally``) is recorded in its
        log, as the server would log it."""
        held = self.runtimes.pop(name, None)
        if held is None:
            return
        held[0].close()
        held[1].close()
        lines = self.logs.setdefault(name, [])
        saved = sys.unraisablehook
        sys.unraisablehook = lambda unraisable: lines.append(
            f"error: at collection: {unraisable.exc_type.__name__}")
        try:
            gc.collect()
        finally:
            sys.unraisablehook = saved


class _ModuleView:
    """What :func:`call_handler` reads of a warm module: its apps."""

    __slots__ = ("apps", "route_apps")

    def __init__(self, apps):
        self.apps = [a for a in apps if not a.is_blueprint] + [a for a in apps if a.is_blueprint]
        self.route_apps = {}


def make_secrets(root: Path, secret: str) -> tuple[Path, Path]:
    """A file and another tenant's SQLite database holding ``secret``,
    outside every tenant: what an escape would read."""
    secret_file = root / "secret.txt"
    secret_file.write_text(secret)
    victim_db = root / "victim.db"
    db = sqlite3.connect(victim_db)
    with db:
        db.execute("CREATE TABLE s (secret TEXT)")
        db.execute("INSERT INTO s VALUES (?)", (secret,))
    db.close()
    return secret_file, victim_db


def assert_nothing_leaked(host: SandboxHost, outcome: Outcome, secret: str) -> None:
    """Neither the secret nor a host folder in the answer or the log (plain
    checks, not assert introspection: the texts can be megabytes)."""
    seen = outcome.body + "\n" + outcome.text
    if secret in seen:
        pytest.fail(f"the secret leaked: {seen[:500]}")
    # The host's folders (the tenant's own source may name a path outside).
    if str(host.tenants) in seen or str(host.root / "data") in seen:
        pytest.fail(f"a host path reached the tenant: {seen[:500]}")
    if len(outcome.text) > 2**20:
        pytest.fail(f"the tenant's log holds {len(outcome.text)} characters")

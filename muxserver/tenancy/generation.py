"""A generation: one loaded world of one tenant version.

A tenant version (:class:`~muxserver.tenancy.registry.TenantState`) is
registered without running anything. Its first load makes a
:class:`Generation`: the sandbox runtime (the tenant's modules and their
globals), the site (its Flask apps, secret, templates, key-value store) and
the warm endpoint modules. Leases (:mod:`muxserver.tenancy.lease`) pin the
generation they load into, so what a request runs on stays whole until it
ends, whatever happens meanwhile:

* **Eviction** of endpoints takes the modules they are connected to by
  imports out of the runtime (:meth:`Generation.evict`); the next request
  runs them again. When those modules share the tenant's application-wide
  state — a Flask app or blueprint, which every module's routes and hooks
  hang on — the whole generation goes.
* **Retiring** (evicted whole, redeployed, rolled back, removed) detaches
  the generation from its tenant: new requests start a new one, and this
  one is closed — databases rolled back and closed, globals cleared — when
  its last lease ends, never under a live one.
* Globals of modules evicted while requests run are cleared at the next
  moment the generation has no lease; at most :data:`MAX_PENDING` wait,
  older ones are only dropped (the garbage collector frees them).
"""

from __future__ import annotations

import time

from sandbox.runtime import clear_modules

#: Evicted modules whose globals wait for a moment without leases to be cleared.
MAX_PENDING = 64


class WarmModule:
    """A loaded endpoint module and what routing needs from it."""

    __slots__ = ("tenant", "endpoint", "key", "dotted", "handlers", "apps", "route_apps",
                 "loaded_at", "last_used", "hits", "load_ms")

    def __init__(self, tenant, endpoint, key, dotted, handlers, apps, load_ms, route_apps=None):
        self.tenant = tenant
        self.endpoint = endpoint
        self.key = key
        #: Its module's dotted name in the runtime.
        self.dotted = dotted
        #: (handler function name, rule) -> callable
        self.handlers = handlers
        #: The apps whose hooks and error handlers apply to its routes.
        self.apps = apps
        #: (handler function name, rule) -> the apps of that route alone: its
        #: blueprint, then the tenant's apps (Flask's ``request.blueprints``).
        self.route_apps = route_apps or {}
        self.loaded_at = time.time()
        self.last_used = time.monotonic()
        self.hits = 0
        self.load_ms = load_ms

    def touch(self) -> None:
        """A request is about to run on this module."""
        self.last_used = time.monotonic()
        self.hits += 1

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


class Generation:
    """The runtime, site and warm modules one tenant version loaded.

    :param state: the tenant version it belongs to.
    :param on_unload: ``on_unload(module, reason)`` for metrics.
    """

    def __init__(self, state, on_unload=lambda module, reason: None):
        self.state = state
        self.on_unload = on_unload
        #: sandbox.TenantRuntime and muxserver.tenant_api.site.TenantSite,
        #: made by the loader on the first load.
        self.runtime = None
        self.site = None
        #: endpoint -> WarmModule
        self.modules: dict[str, WarmModule] = {}
        #: endpoint -> None while one cold load of it runs, or the Event
        #: that requests waiting for that load wait on (Loader.get)
        self.loading: dict = {}
        #: Leases pinned to this generation now.
        self.leases = 0
        #: Detached from its tenant; closed when the last lease ends.
        self.retired = False
        self.closed = False
        self._pending: list = []

    # -- leases ----------------------------------------------------------------

    def enter(self) -> None:
        self.leases += 1

    def leave(self) -> None:
        self.leases -= 1
        if self.leases == 0:
            if self.retired:
                self.close()
            elif self._pending:
                pending, self._pending = self._pending, []
                clear_modules(pending)

    # -- eviction --------------------------------------------------------------

    def evict(self, endpoint: str | None, reason: str) -> int:
        """Unload ``endpoint`` (None: every one) and the modules connected to
        it; return how many warm endpoints went. The whole generation retires
        when nothing is left or the modules share a Flask app."""
        if endpoint is not None and endpoint not in self.modules:
            return 0
        if endpoint is None or self.runtime is None or self._shares_app_state():
            return self.retire(reason)
        runtime = self.runtime
        names = runtime.component(self.modules[endpoint].dotted)
        going = [e for e, m in self.modules.items() if e == endpoint or m.dotted in names]
        if len(going) == len(self.modules):
            return self.retire(reason)
        for name in going:
            self.on_unload(self.modules.pop(name), reason)
        dropped = runtime.drop(names)
        if self.leases == 0:
            clear_modules(dropped)
        else:
            self._pending.extend(dropped)
            del self._pending[:-MAX_PENDING]
        return len(going)

    def _shares_app_state(self) -> bool:
        # Flask apps and blueprints hold functions of every module that
        # registered routes, hooks or handlers on them: no module of such a
        # tenant can go alone without leaving the others pointing into it.
        return bool(self.site is not None and self.site.apps)

    def retire(self, reason: str) -> int:
        """Detach from the tenant (it starts a new generation on its next
        load); closed now, or when its last lease ends. Returns how many warm
        endpoints went."""
        count = len(self.modules)
        for module in self.modules.values():
            self.on_unload(module, reason)
        self.modules = {}
        if not self.retired:
            self.retired = True
            if self.state.generation is self:
                self.state.generation = None
        if self.leases == 0:
            self.close()
        return count

    def close(self) -> None:
        """Roll back and close its databases, clear its modules' globals."""
        if self.closed:
            return
        self.closed = True
        if self.runtime is not None:
            self.runtime.close()
        if self.site is not None:
            self.site.close()
        clear_modules(self._pending)
        self._pending = []
        self.runtime = None
        self.site = None

    def loading_now(self) -> bool:
        return bool(self.loading)

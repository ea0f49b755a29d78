"""A lease: one holder's claim on a tenant, from its slot to its release.

Every caller that holds a tenant uses one: a request, an error page, a
streamed body, a static file, an admin load (``/_mux/specialize``), a
health check. The lease is the one answer to *who holds a tenant, and
until when* (STYLE, "Ownership"):

* :func:`take` checks the tenant's concurrency and takes the slot with no
  yield in between (a penalty for a recent limit kill waits *before* it);
* ``with lease:`` makes its request context current in this greenlet;
* :meth:`Lease.load` pins the tenant's live generation
  (:mod:`muxserver.tenancy.generation`) — or starts one — and loads the
  endpoint into it; eviction, a redeploy or a rollback meanwhile retire
  the generation but never close it under the lease;
* :meth:`Lease.run` calls tenant code under the lease's budget;
* :meth:`Lease.release` — on every exit path, once — closes the request's
  uploaded files, rolls back what the request left open in its databases
  (on the runtime it ran on), leaves the generation (closing it if it was
  retired and this was its last lease) and frees the slot. Leaving the
  ``with`` block releases, unless the lease was handed to a streamed body
  (:meth:`Lease.hand_over`), which releases when it is closed.
"""

from __future__ import annotations

from muxserver.errors import TooManyRequests
from muxserver.execution import budget_for
from muxserver.execution import run_limited
from muxserver.tenant_api import context


def take(state, request_id: str | None, endpoint: str = "", *, capped: bool = True) -> "Lease":
    """A lease on ``state``, or :class:`TooManyRequests` when its concurrency
    is full. Nothing between the check and the increment yields.

    :param capped: False for an operator's call (``specialize``), which counts
        as in flight but is not refused.
    """
    limit = state.spec.manifest.limits.concurrency
    if capped and state.inflight >= limit:
        raise TooManyRequests(f"tenant {state.name} has {limit} requests in flight", state.name)
    state.inflight += 1
    return Lease(state, context.RequestContext(state.name, request_id, endpoint=endpoint))


class Lease:
    """What one holder holds of one tenant; made by :func:`take`."""

    __slots__ = ("state", "ctx", "generation", "module", "budget", "_previous", "_handed_over",
                 "_request", "released")

    def __init__(self, state, ctx):
        self.state = state
        #: The request context tenant code sees (``flask.request``, ``g``...).
        self.ctx = ctx
        #: The generation this lease loaded into (pinned on first load).
        self.generation = None
        #: The endpoint module it runs, once loaded.
        self.module = None
        #: The request's budget, made on the first run.
        self.budget = None
        self._previous = None
        self._handed_over = False
        self._request = None
        self.released = False

    # -- context -----------------------------------------------------------------

    def __enter__(self) -> "Lease":
        self._previous = context.push(self.ctx)
        return self

    def __exit__(self, *exc) -> None:
        context.pop(self._previous)
        if not self._handed_over:
            self.release()

    def hand_over(self) -> "Lease":
        """The caller's ``with`` block ends but the lease goes on: a streamed
        body holds it until it is closed, then calls :meth:`release`; each
        ``with lease:`` meanwhile (a chunk) only makes its context current."""
        self._handed_over = True
        return self

    # -- loading and running ----------------------------------------------------

    def pin(self):
        """The generation this lease runs on: the tenant's live one, or a new one."""
        if self.generation is None:
            generation = self.state.generation_for_lease()
            generation.enter()
            self.generation = generation
        return self.generation

    def load(self, loader, endpoint: str, budget=None):
        """Load ``endpoint`` into the pinned generation (charged to
        ``budget`` when given: :meth:`~muxserver.tenancy.loader.Loader.get`).

        :return: ``(WarmModule, load_ms)``; ``load_ms`` is None when it was warm.
        """
        generation = self.pin()
        module, load_ms = loader.get(generation, endpoint, budget)
        self.module = module
        self.ctx.site = generation.site
        return module, load_ms

    @property
    def runtime(self):
        """The sandbox runtime of the pinned generation (after a load)."""
        return self.generation.runtime if self.generation is not None else None

    def attach_request(self, request):
        """The request this lease serves (closed on release)."""
        self.ctx.request = self._request = request
        return request

    def run(self, label: str, func, *args):
        """Call ``func`` under this lease's budget (made on first use, from
        the tenant's limits; ``label`` names it in watchdogs and logs)."""
        if self.budget is None:
            self.budget = budget_for(self.state.spec.manifest.limits, self.state.name,
                                     f"tenant={self.state.name} {label} "
                                     f"request={self.ctx.request_id}")
        return run_limited(self.budget, func, *args)

    # -- the end ----------------------------------------------------------------

    def release(self) -> None:
        """End the hold, once: the request's files, its open transactions,
        the generation, the slot."""
        if self.released:
            return
        self.released = True
        try:
            # Its own: tenant code may have put another in the context
            # (a test_request_context it never left).
            if self._request is not None:
                self._request.close()
            generation = self.generation
            if generation is not None:
                try:
                    if self.budget is not None and generation.runtime is not None:
                        generation.runtime.end_request(self.budget)
                finally:
                    generation.leave()
        finally:
            self.state.inflight -= 1

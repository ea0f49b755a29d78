"""Which request the running greenlet serves.

Tenant code reads ``mux.request`` / ``flask.request`` as a module global, so
the object it gets is a proxy that looks up the current greenlet here. Under
gevent each request runs in its own greenlet, so this is the request of the
code that runs now and never another tenant's.
"""

from __future__ import annotations

import sys
from typing import Any

from greenlet import getcurrent

from sandbox.runtime import RUNTIME_KEY
from sandbox.runtime import TenantRuntime


class RequestContext:
    """What the host knows about the request being served (one per request:
    a plain class with slots, cheaper to make than a dataclass)."""

    __slots__ = ("tenant", "request_id", "request", "endpoint", "extras", "site")

    def __init__(self, tenant: str, request_id: str, request: Any = None, endpoint: str = "",
                 extras: dict | None = None, site: Any = None):
        self.tenant = tenant
        self.request_id = request_id
        #: muxserver.tenant_api.api.TenantRequest
        self.request = request
        self.endpoint = endpoint
        #: g, session, flashes
        self.extras = {} if extras is None else extras
        #: muxserver.tenant_api.site.TenantSite, once loaded
        self.site = site

    def __repr__(self) -> str:
        return (f"RequestContext(tenant={self.tenant!r}, request_id={self.request_id!r}, "
                f"endpoint={self.endpoint!r})")


_contexts: dict = {}


def current() -> RequestContext | None:
    return _contexts.get(getcurrent())


def visible() -> RequestContext | None:
    """The current request's context as the tenant code that asks may see
    it: None when the nearest tenant module on the stack is another
    tenant's. Every tenant-facing road to the request (``request``,
    ``session``, ``g``, ``after_this_request``, templates, uploads) asks
    here.

    Tenant code should never run in another tenant's request; when some
    road lets it (round 6: a format whose ``__eq__`` ran inside another
    tenant's ``strptime``, through a cache the process shares), this is
    what keeps that request's headers, session and response out of its
    reach. The caller is found by its module's globals (:data:`sandbox.
    runtime.RUNTIME_KEY`, which tenant code cannot write); host code with
    no tenant code above it sees the context as it is.
    """
    ctx = _contexts.get(getcurrent())
    if ctx is None:
        return None
    frame = sys._getframe(1)
    while frame is not None:
        runtime = frame.f_globals.get(RUNTIME_KEY)
        if isinstance(runtime, TenantRuntime):
            return ctx if runtime.tenant == ctx.tenant else None
        frame = frame.f_back
    return ctx


def push(ctx: RequestContext):
    """Make ``ctx`` current for this greenlet; return the one it replaces."""
    glet = getcurrent()
    previous = _contexts.get(glet)
    _contexts[glet] = ctx
    return previous


def pop(previous: RequestContext | None) -> None:
    glet = getcurrent()
    if previous is None:
        _contexts.pop(glet, None)
    else:
        _contexts[glet] = previous

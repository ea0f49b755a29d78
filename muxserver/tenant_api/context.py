"""Which request the running greenlet serves.

Tenant code reads ``mux.request`` / ``flask.request`` as a module global, so
the object it gets is a proxy that looks up the current greenlet here. Under
gevent each request runs in its own greenlet, so this is the request of the
code that runs now and never another tenant's.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from typing import Any

from greenlet import getcurrent


@dataclass
class RequestContext:
    """What the host knows about the request being served."""

    tenant: str
    request_id: str
    request: Any = None  # muxserver.tenant_api.api.TenantRequest
    endpoint: str = ""
    extras: dict = field(default_factory=dict)  # g, session, flashes
    site: Any = None  # muxserver.tenant_api.site.TenantSite, once loaded


_contexts: dict = {}


def current() -> RequestContext | None:
    return _contexts.get(getcurrent())


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

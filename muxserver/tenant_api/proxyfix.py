"""``app.wsgi_app = ProxyFix(app.wsgi_app, ...)``, Flask's "behind a proxy"
recipe, for sandboxed tenants.

What tenant code holds are inert values: :class:`WsgiApp` is what
``app.wsgi_app`` reads on an app nobody wrapped, :class:`ProxyFix` what
``werkzeug.middleware.proxy_fix.ProxyFix(...)`` makes — the trusted counts
and nothing else (no WSGI callable, no ``app``, no environ). Setting
``app.wsgi_app`` (:func:`checked_wsgi_app`) takes only a ``ProxyFix`` of
the same app's ``wsgi_app``, nested once at most; anything else is a
``TypeError`` (and, where the source shows it, a deploy error:
:mod:`muxserver.tenancy.reading`).

When the tenant's request is built (:class:`~muxserver.tenant_api.request.TenantRequest`),
:func:`apply` runs werkzeug's own ``ProxyFix`` — real ones, made here from
the counts, around a callable that does nothing — on the request's copy of
the environ, so ``remote_addr``, ``scheme``, ``host``, ``url_root``,
``url_for(_external=True)`` and ``headers["Host"]`` follow werkzeug's
rules. The server's environ, its access log and other tenants never see it.

The mount: ``X-Forwarded-Prefix`` takes the place of the server's
``SCRIPT_NAME`` (werkzeug's rule), and the tenant's mount (``/acme``) is
added after it, as if the proxy's prefix were in front of the whole server
and the tenant mounted below it: ``X-Forwarded-Prefix: /apps`` makes
``script_root`` ``/apps/acme``. Routed by host (``--base-domain``, mount
``""``), ``script_root`` is the prefix, as on Flask.

.. warning::
   A process-tier tenant runs werkzeug's ``ProxyFix`` itself, on an environ
   whose ``SCRIPT_NAME`` is its mount: there the prefix replaces the mount
   (werkzeug's rule applied inside the mount).
"""

from __future__ import annotations

from werkzeug.middleware.proxy_fix import ProxyFix as WerkzeugProxyFix

from muxserver.tenancy.app_names import PROXY_FIX_MAX_NESTING
from muxserver.tenancy.app_names import PROXY_FIX_MAX_TRUSTED
from sandbox.guards.declared import declared

#: The largest count of trusted proxies one header may name.
MAX_TRUSTED = PROXY_FIX_MAX_TRUSTED

#: ``ProxyFix``'s count parameters, in werkzeug's order, with its defaults.
_COUNTS = (("x_for", 1), ("x_proto", 1), ("x_host", 0), ("x_port", 0), ("x_prefix", 0))

#: How deep ``ProxyFix(ProxyFix(app.wsgi_app))`` may go.
MAX_NESTING = PROXY_FIX_MAX_NESTING


@declared()
class WsgiApp:
    """What ``app.wsgi_app`` reads on an app no ``ProxyFix`` wraps: a token
    that stands for the app's WSGI callable (which stays the server's), to
    be wrapped by ``ProxyFix``. It is not callable and offers no attribute."""

    __slots__ = ()

    def __repr__(self):
        return "<wsgi_app of the sandbox's Flask app>"


@declared(" ".join(name for name, _ in _COUNTS))
class ProxyFix:
    """werkzeug's ``ProxyFix(app, x_for=1, x_proto=1, x_host=0, x_port=0,
    x_prefix=0)`` as a value: ``app`` must be an app's ``wsgi_app`` (or one
    ``ProxyFix`` of it), each count a whole number from 0 to
    :data:`MAX_TRUSTED`. Tenant code reads the counts; it cannot call it,
    nor reach what it wraps."""

    __slots__ = ("_inner", "_counts")

    def __init__(self, app, x_for=1, x_proto=1, x_host=0, x_port=0, x_prefix=0):
        if type(app) is not WsgiApp and type(app) is not ProxyFix:
            raise TypeError("ProxyFix() wraps an app's wsgi_app here (app.wsgi_app = "
                            "ProxyFix(app.wsgi_app, ...)): other WSGI callables stay the "
                            "server's")
        if _depth(app) >= MAX_NESTING:
            raise TypeError("ProxyFix() wraps at most one other ProxyFix here")
        given = (x_for, x_proto, x_host, x_port, x_prefix)
        for (name, _), value in zip(_COUNTS, given):
            if type(value) is not int or not 0 <= value <= MAX_TRUSTED:
                raise ValueError(f"ProxyFix({name}=...) is a whole number of trusted proxies "
                                 f"from 0 to {MAX_TRUSTED} here")
        self._inner = app
        self._counts = given

    x_for = property(lambda self: self._counts[0])
    x_proto = property(lambda self: self._counts[1])
    x_host = property(lambda self: self._counts[2])
    x_port = property(lambda self: self._counts[3])
    x_prefix = property(lambda self: self._counts[4])

    def __repr__(self):
        shown = ", ".join(f"{name}={value}" for (name, _), value in zip(_COUNTS, self._counts))
        return f"<ProxyFix {shown}>"


def _depth(value) -> int:
    depth = 0
    while type(value) is ProxyFix:
        depth += 1
        value = value._inner
    return depth


def checked_wsgi_app(own: WsgiApp, value):
    """What ``app.wsgi_app = value`` stores, on the app whose own token is
    ``own``: the app's token itself, or a ``ProxyFix`` chain ending in it.

    :raises TypeError: for anything else (another app's ``wsgi_app``, a
        function, a class of the tenant's: WSGI middleware other than
        ``ProxyFix`` would wrap the server's callable, which stays the
        server's).
    """
    leaf = value
    while type(leaf) is ProxyFix:
        leaf = leaf._inner
    if leaf is not own:
        raise TypeError("app.wsgi_app can only be set to ProxyFix(app.wsgi_app, ...) of the "
                        "same app here (werkzeug.middleware.proxy_fix): other WSGI middleware "
                        "wraps the server's WSGI callable, which tenant code does not get; "
                        "a tenant with runtime = \"process\" runs Flask itself")
    return value


def counts_of(value) -> tuple[tuple[int, ...], ...]:
    """The counts of each ``ProxyFix`` in ``app.wsgi_app``, outermost first
    (empty when none wraps it): plain ints, checked when it was made."""
    found = []
    while type(value) is ProxyFix:
        found.append(value._counts)
        value = value._inner
    return tuple(found)


def _ignore(*args):
    return None


def apply(environ: dict, chain: tuple[tuple[int, ...], ...]) -> None:
    """Rewrite ``environ`` (the tenant request's own copy) as the
    ``ProxyFix`` chain (:func:`counts_of`) would before the app: werkzeug's
    middleware itself runs, outermost first, around a callable that does
    nothing."""
    if not chain:
        return
    app = _ignore
    for counts in reversed(chain):
        app = WerkzeugProxyFix(app, *counts)
    app(environ, _ignore)

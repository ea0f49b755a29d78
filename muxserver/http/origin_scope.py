"""What a tenant's answer may say about the origin it shares.

Tenants mounted by path (``/acme/...``) share one origin with each other:
one cookie jar, one service-worker registry and one set of origin-wide
policies in every browser that visits the server. A header whose scope is
the origin, sent as the tenant wrote it, would act on every other tenant's
pages (attack round 15): a cookie with Flask's default ``Path=/`` went with
every request to every tenant, which read it in ``request.cookies``; a
cookie with ``Path=/victim`` was planted on another tenant;
``Service-Worker-Allowed: /`` let a tenant's service worker answer every
other tenant's pages.

:func:`confine` is the one place that decides it, for both tiers (a
process tenant's own Flask sends its session cookie with ``Path=/``):

* ``Set-Cookie``: the ``Path`` is read relative to the mount, as the
  session cookie's is (:func:`confined_path`: ``/`` is the mount,
  ``/admin`` is ``/acme/admin``, ``..`` cannot climb out; a cookie
  without one keeps the browser's default, the request's folder, already
  under the mount); ``Domain`` is dropped (it would hand the cookie to
  every host under it, other tenants' included).
* ``Service-Worker-Allowed``: confined the same way.
* Policies whose scope is the whole origin (:data:`ORIGIN_WIDE`:
  ``Clear-Site-Data``, ``NEL``, ``Report-To``, ``Alt-Svc``,
  ``Strict-Transport-Security``) are dropped for
  a tenant mounted by path; a tenant served on a host of its own keeps
  them (the origin is its own).

.. warning::
   Paths are no security boundary inside a browser: a tenant's script can
   still read the cookies of another path of the same origin through a
   frame of it, and ``document.cookie`` writes are not seen here. Tenants
   that must not trust each other's pages belong on hosts of their own
   (``--base-domain`` or ``[hosts]``).
"""

from __future__ import annotations

import posixpath

#: Headers whose policy covers every path of the origin (Clear-Site-Data
#: clears every tenant's cookies and storage; NEL with Report-To reports
#: every request to the origin to the tenant's collector; Alt-Svc moves the
#: whole origin to another endpoint; Strict-Transport-Security is the
#: host's, and with includeSubDomains every tenant host under it).
ORIGIN_WIDE = frozenset(["clear-site-data", "nel", "report-to", "alt-svc",
                         "strict-transport-security"])


def confined_path(configured, mount: str) -> str:
    """``configured`` (a path of the tenant's: a cookie's ``Path``, its
    app's ``SESSION_COOKIE_PATH``) under the tenant's mount."""
    if not isinstance(configured, str) or not configured:
        configured = "/"
    inner = posixpath.normpath("/" + configured.lstrip("/"))  # "/../x" is "/x"
    if inner in ("/", "//"):
        return mount or "/"
    return (mount.rstrip("/") + inner) if mount else inner


#: The names :func:`confine` changes or drops (lower case).
_SCOPED = frozenset(["set-cookie", "service-worker-allowed", *ORIGIN_WIDE])


def confine(headers: list[tuple[str, str]], mount: str) -> list[tuple[str, str]]:
    """``headers`` of a tenant's answer, scoped to its ``mount`` (``""``
    for a tenant served on a host of its own: cookies lose their
    ``Domain`` only)."""
    for name, _ in headers:
        if name.lower() in _SCOPED:
            break
    else:
        return headers  # most answers: nothing to scope, no copy
    out = []
    for name, value in headers:
        lowered = name.lower()
        if lowered == "set-cookie":
            value = confine_cookie(value, mount)
        elif lowered == "service-worker-allowed":
            value = confined_path(value.strip(), mount)
        elif lowered in ORIGIN_WIDE and mount:
            continue
        out.append((name, value))
    return out


def confine_cookie(header: str, mount: str) -> str:
    """A ``Set-Cookie`` value with each ``Path`` under ``mount`` (in its
    place) and no ``Domain``; the other attributes as written."""
    pair, *attributes = header.split(";")
    kept = [pair]
    for attribute in attributes:
        key, _, value = attribute.partition("=")
        key = key.strip().lower()
        if key == "domain":
            continue
        if key == "path":
            attribute = " Path=" + confined_path(value.strip(), mount)
        kept.append(attribute)
    # No Path: the browser's default is the request's directory, which is
    # under the mount already.
    return ";".join(kept)

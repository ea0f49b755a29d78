"""Deploys over HTTP: ``PUT /_mux/tenants/<t>``, ``GET .../versions``,
``POST .../rollback`` (SPEC "Admin API"), on the admin listener.

Who may call them: the admin token (or, without one, a loopback client
that sends no token) for every tenant; a tenant's deploy token (operator
config ``[deploy_tokens]``) for that tenant only. The body of ``PUT`` is a
tar.gz of the tenant folder's contents (no top folder), read up to
:data:`~muxserver.tenancy.versions.MAX_ARCHIVE_BYTES`; the new version is
registered and health-checked before it goes live
(:meth:`~muxserver.controlplane.ControlPlane.deploy_archive`).
"""

from __future__ import annotations

import logging

from muxserver.errors import BadRequest
from muxserver.errors import BodyTooLarge
from muxserver.errors import DeployRefused
from muxserver.errors import MethodNotAllowed
from muxserver.http.responses import json_reply
from muxserver.tenancy.names import TENANT_NAME
from muxserver.tenancy.versions import MAX_ARCHIVE_BYTES

log = logging.getLogger("muxserver.deploy")


def is_deploy_call(name: str) -> str | None:
    """The tenant of a deploy call's path (``tenants/<t>``, ``.../versions``,
    ``.../rollback``), or None."""
    parts = name.split("/")
    if len(parts) in (2, 3) and parts[0] == "tenants" and TENANT_NAME.match(parts[1]):
        if len(parts) == 2 or parts[2] in ("versions", "rollback"):
            return parts[1]
    return None


def authorize(admin, environ, tenant: str) -> str:
    """Who deploys: the tenant's deploy token (its name in the history), or
    what the admin API accepts (``admin``, ``loopback``)."""
    from muxserver.http.admin import bearer

    given = bearer(environ)
    own = admin.config.deploy_tokens.get(tenant)
    if given is not None and own is not None and own[0].matches(given):
        return own[1]
    admin.authorize(environ)
    return "admin" if admin.config.admin_token else "loopback"


def _read_body(environ) -> bytes:
    length = environ.get("CONTENT_LENGTH")
    stream = environ["wsgi.input"]
    if length:
        try:
            size = int(length)
        except ValueError:
            raise BadRequest("bad Content-Length") from None
        if size > MAX_ARCHIVE_BYTES:
            raise BodyTooLarge(f"the archive is over {MAX_ARCHIVE_BYTES // 2**20} MB")
        return stream.read(size)
    chunks, total = [], 0
    while True:
        chunk = stream.read(65536)
        if not chunk:
            return b"".join(chunks)
        total += len(chunk)
        if total > MAX_ARCHIVE_BYTES:
            raise BodyTooLarge(f"the archive is over {MAX_ARCHIVE_BYTES // 2**20} MB")
        chunks.append(chunk)


def handle(control, environ, name: str, method: str, deployer: str):
    """Answer one deploy call for the tenant in ``name``."""
    from muxserver.http.admin import read_json

    tenant = is_deploy_call(name)
    parts = name.split("/")
    if len(parts) == 2:
        if method != "PUT":
            raise MethodNotAllowed("use PUT with a tar.gz body", None, ("PUT",))
        archive = _read_body(environ)
        try:
            return json_reply(control.deploy_archive(tenant, archive, deployer))
        except DeployRefused as exc:
            log.warning("HTTP deploy of %s refused: %s", tenant, exc, extra={"tenant": tenant})
            return json_reply({"version": None, "error": str(exc), "errors": list(exc.errors)},
                              exc.status)
    if parts[2] == "versions":
        if method not in ("GET", "HEAD"):
            raise MethodNotAllowed("use GET", None, ("GET", "HEAD"))
        return json_reply(control.versions(tenant))
    if method != "POST":
        raise MethodNotAllowed("use POST", None, ("POST",))
    version = read_json(environ).get("version")
    if not isinstance(version, str) or not version:
        raise BadRequest('body must be {"version": "..."} (see .../versions)')
    try:
        return json_reply(control.rollback(tenant, version, deployer))
    except DeployRefused as exc:
        return json_reply({"version": None, "error": str(exc)}, exc.status)

"""Deploys over HTTP: ``PUT /_mux/tenants/<t>``, ``GET .../versions``,
``POST .../rollback`` (SPEC "Admin API").

Who may call them: the admin token (or, without one, a loopback client)
for every tenant; a tenant's deploy token (operator config
``[deploy_tokens]``) for that tenant only — any other call with it is 401.
The body of ``PUT`` is a tar.gz of the tenant folder's contents (no top
folder), read up to :data:`~muxserver.tenancy.versions.MAX_ARCHIVE_BYTES`.
"""

from __future__ import annotations

import logging

from muxserver.errors import BadRequest
from muxserver.errors import BodyTooLarge
from muxserver.errors import MethodNotAllowed
from muxserver.errors import NotFound
from muxserver.errors import Unauthorized
from muxserver.http.responses import json_reply
from muxserver.tenancy.scanner import TENANT_NAME
from muxserver.tenancy.versions import MAX_ARCHIVE_BYTES
from muxserver.tenancy.versions import DeployFailed

log = logging.getLogger("muxserver.deploy")

def deploy_token_owner(config, environ) -> tuple[str, str] | None:
    """``(tenant, deployer)`` if the request carries a tenant's deploy token."""
    header = environ.get("HTTP_AUTHORIZATION", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        return None
    for tenant, (token, name) in config.deploy_tokens.items():
        if token.matches(given.strip()):
            return tenant, name
    return None


def is_deploy_call(name: str) -> str | None:
    """The tenant of a deploy call's path (``tenants/<t>``, ``.../versions``,
    ``.../rollback``), or None."""
    parts = name.split("/")
    if len(parts) in (2, 3) and parts[0] == "tenants" and TENANT_NAME.match(parts[1]):
        if len(parts) == 2 or parts[2] in ("versions", "rollback"):
            return parts[1]
    return None


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


def handle(app, environ, name: str, method: str, deployer: str, read_json):
    """Answer one deploy call for the tenant in ``name``.

    :param read_json: reads the request's JSON object (the admin API's reader).
    """
    tenant = is_deploy_call(name)
    parts = name.split("/")
    store = app.registry.versions
    if len(parts) == 2:
        if method != "PUT":
            raise MethodNotAllowed("use PUT with a tar.gz body", None, ("PUT",))
        archive = _read_body(environ)
        try:
            result = store.deploy(tenant, archive, lambda folder: app.registry.scan_folder(
                folder, tenant), deployer)
        except DeployFailed as exc:
            log.warning("HTTP deploy of %s refused: %s", tenant, exc, extra={"tenant": tenant})
            return json_reply({"version": None, "error": str(exc), "errors": exc.errors}, exc.status)
        app.redeploy(tenant)
        log.info("tenant %s deployed over HTTP: version %s by %s", tenant, result["version"],
                 deployer, extra={"tenant": tenant})
        return json_reply(result)
    if parts[2] == "versions":
        if method not in ("GET", "HEAD"):
            raise MethodNotAllowed("use GET", None, ("GET", "HEAD"))
        versions = store.versions(tenant)
        if not versions and app.registry.get(tenant) is None:
            raise NotFound(f"no tenant {tenant!r}")
        return json_reply({"tenant": tenant, "live": store.live_version(tenant), "versions": versions})
    if method != "POST":
        raise MethodNotAllowed("use POST", None, ("POST",))
    body = read_json(environ)
    version = body.get("version")
    if not isinstance(version, str) or not version:
        raise BadRequest('body must be {"version": "..."} (see .../versions)')
    try:
        store.make_live(tenant, version)
    except DeployFailed as exc:
        return json_reply({"version": None, "error": str(exc)}, exc.status)
    app.redeploy(tenant)
    log.info("tenant %s rolled back to version %s by %s", tenant, version, deployer,
             extra={"tenant": tenant})
    return json_reply({"tenant": tenant, "version": version})


def refuse_other_calls() -> None:
    raise Unauthorized("a deploy token may only deploy, list and roll back its own tenant")

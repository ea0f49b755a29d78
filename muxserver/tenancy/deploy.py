"""``muxserver deploy``: validate a tenant folder, then swap it in atomically.

The source is registered exactly as the server would (compiled under the
sandbox policy, routes read, ``tenant.toml`` parsed) and health-checked
(its modules imported in a locked-down trial process, :mod:`muxserver.trial`);
any error refuses the deploy and the live tenant is not touched. The new version is copied next
to the live one inside the tenants dir (a hidden name the server ignores)
and exchanged with it in one ``renameat2(RENAME_EXCHANGE)`` call where the
kernel has it, so the server never sees a half-copied tenant.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import tempfile
from pathlib import Path

from muxserver.errors import DeployRefused
from muxserver.tenancy.codecache import CodeCache
from muxserver.tenancy.manifest import TenantRules
from muxserver.tenancy.names import TENANT_NAME
from muxserver.tenancy.scanner import scan_tenant

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: str, b: str) -> bool:
    """Swap two paths atomically; False if the kernel or libc cannot."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError, TypeError):
        return False
    result = renameat2(_AT_FDCWD, a.encode(), _AT_FDCWD, b.encode(), _RENAME_EXCHANGE)
    return result == 0


def deploy(source: Path, tenant: str, tenants_dir: Path, cache_dir: Path | None = None,
           rules: TenantRules | None = None, extra_modules: frozenset[str] = frozenset(),
           health_check=None) -> dict:
    """Validate ``source`` as ``tenant`` and make it live in ``tenants_dir``.

    :param rules: the server's rules for tenant.toml (``--config``).
    :param extra_modules: the server's ``extra_modules``.
    :param health_check: ``health_check(spec) -> errors`` for the copy that
        will serve (None: registration only).

    :raises DeployRefused: on a bad name, a missing folder or any error in
        the new version.
    :return: ``{"routes": n, "version": hash}``.
    """
    if not TENANT_NAME.match(tenant):
        raise DeployRefused(f"{tenant!r} is not a valid tenant name ([a-z0-9][a-z0-9-]{{0,62}})")
    if not source.is_dir():
        raise DeployRefused(f"{source} is not a directory")
    if not tenants_dir.is_dir():
        raise DeployRefused(f"{tenants_dir} is not a directory")
    cache = CodeCache(cache_dir or tenants_dir.resolve().parent / ".muxcache")
    rules = rules or TenantRules()
    spec = scan_tenant(source, tenant, cache, rules, extra_modules)
    if not spec.ok:
        raise DeployRefused("the new version has errors; the live tenant is unchanged", spec.errors)
    staging = Path(tempfile.mkdtemp(prefix=f".deploy-{tenant}-", dir=tenants_dir))
    new_dir = staging / tenant
    try:
        shutil.copytree(source, new_dir, symlinks=True,
                        ignore=shutil.ignore_patterns(".git", "__pycache__"))
        live = tenants_dir / tenant
        # Validate the copy, not the source: it is what will serve.
        copied = scan_tenant(new_dir, tenant, cache, rules, extra_modules)
        if not copied.ok:
            raise DeployRefused("the copied version has errors", copied.errors)
        if health_check is not None:
            errors = health_check(copied)
            if errors:
                raise DeployRefused("the new version failed its health check; the live tenant "
                                    "is unchanged", errors)
        if live.exists():
            if not _exchange(str(new_dir), str(live)):
                old = staging / f"{tenant}.old"
                os.rename(live, old)
                os.rename(new_dir, live)
        else:
            os.rename(new_dir, live)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return {"routes": len(spec.routes), "version": copied.version}

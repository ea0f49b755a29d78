"""Tenant exceptions as text for the tenant's log.

Formatting an exception calls its ``__str__``, which tenant code may define,
so :func:`tenant_code_error` must be called inside the request's limits.
Only tenant frames are shown: host frames say nothing to a tenant and would
show the server's paths.
"""

from __future__ import annotations

import os
import traceback

from muxserver.errors import TenantCodeError
from sandbox import SandboxError
from sandbox.guards import exception_text
from sandbox.facades.files import QuotaExceeded
from sandbox.facades.sqlite import QuotaError


#: Innermost tenant frames a traceback shows (a deep recursion has thousands).
MAX_FRAMES = 50


def format_tenant_traceback(exc: BaseException, tenants_dir=None) -> str:
    """A traceback of tenant frames only.

    Host frames say nothing to a tenant and would show the server's paths.
    Source lines come from the tenant's own files under ``tenants_dir``, never
    through :mod:`linecache`, which would look the tenant's relative file
    names up on the host's ``sys.path`` (a tenant named ``muxserver`` would
    see the server's source) and keep every file it read in memory.
    """
    summary = traceback.StackSummary.extract(traceback.walk_tb(exc.__traceback__),
                                             lookup_lines=False)
    frames = []
    for frame in summary:
        if not _is_tenant_file(frame.filename):
            continue
        line = _tenant_line(tenants_dir, frame.filename, frame.lineno)
        frames.append(traceback.FrameSummary(frame.filename, frame.lineno, frame.name,
                                             lookup_line=False, line=line))
    lines = ["Traceback (most recent call last):\n"]
    lines.extend(traceback.StackSummary.from_list(frames[-MAX_FRAMES:]).format())
    # The message is the tenant's value: sized and cut, never the real str()
    # (a ValueError of a repeated megabyte once wrote 2 GB, issue 23).
    lines.append(exception_text(exc) + "\n")
    return "".join(lines).rstrip("\n")


def _tenant_line(tenants_dir, filename: str, lineno: int | None) -> str:
    if tenants_dir is None or not lineno or ".." in filename.split("/"):
        return ""
    try:
        with open(os.path.join(str(tenants_dir), filename), "rb") as f:
            for number, raw in enumerate(f, 1):
                if number == lineno:
                    return raw.decode("utf-8", "replace").strip()
    except OSError:
        pass
    return ""


def _is_tenant_file(filename: str) -> bool:
    """Tenant code is compiled under its name in the tenants dir
    (``acme/api/users.py``); every other frame is the host's (the server,
    the standard library, the venv's site-packages, wherever they are)."""
    return bool(filename) and not os.path.isabs(filename) and not filename.startswith("<")


def tenant_code_error(exc: Exception, endpoint: str, tenants_dir) -> TenantCodeError:
    """A :class:`TenantCodeError` for ``exc``; call it inside the limits."""
    if isinstance(exc, TenantCodeError):
        return exc
    name = type(exc).__name__ if type(exc).__name__.isidentifier() else "Exception"
    error = TenantCodeError(
        f"{endpoint} raised {name}",
        detail=format_tenant_traceback(exc, tenants_dir),
        exc_type=name,
        denied=isinstance(exc, (SandboxError, ImportError)),
    )
    if isinstance(exc, (QuotaError, QuotaExceeded)):
        # Storage over storage_mb, not caught by the tenant (SPEC: 507).
        error.status = 507
        error.exc_type = f"{name} ({exception_text(exc, 300).partition(': ')[2]})"
    return error

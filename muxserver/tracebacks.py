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
from sandbox.facades.sqlite import DataUnavailable
from sandbox.facades.sqlite import QuotaError


#: Innermost tenant frames a traceback shows (a deep recursion has thousands).
MAX_FRAMES = 50
#: Most of a tenant file read for its lines, and most of a line shown.
MAX_SOURCE_BYTES = 2 * 2**20
MAX_LINE_CHARS = 1000


def format_tenant_traceback(exc: BaseException, tenant_root=None) -> str:
    """A traceback of tenant frames only.

    Host frames say nothing to a tenant and would show the server's paths.
    Source lines come from the tenant's own folder ``tenant_root`` — the
    version that ran, a tenants-dir folder or an HTTP-deployed copy — never
    through :mod:`linecache`, which would look the tenant's relative file
    names up on the host's ``sys.path`` (a tenant named ``muxserver`` would
    see the server's source) and keep every file it read in memory.
    """
    # The innermost tenant frames only, their lines read once per file: a
    # deep recursion is thousands of frames (issue 23: formatting one held
    # the process for half a second).
    tenant = [(frame.f_code.co_filename, lineno, frame.f_code.co_name)
              for frame, lineno in traceback.walk_tb(exc.__traceback__)
              if _is_tenant_file(frame.f_code.co_filename)][-MAX_FRAMES:]
    sources: dict[str, list[bytes]] = {}
    frames = [traceback.FrameSummary(filename, lineno, name, lookup_line=False,
                                     line=_tenant_line(tenant_root, filename, lineno, sources))
              for filename, lineno, name in tenant]
    lines = ["Traceback (most recent call last):\n"]
    lines.extend(traceback.StackSummary.from_list(frames).format())
    # The message is the tenant's value: sized and cut, never the real str()
    # (a ValueError of a repeated megabyte once wrote 2 GB, issue 23).
    lines.append(exception_text(exc) + "\n")
    return "".join(lines).rstrip("\n")


def innermost_tenant_frame(exc: BaseException) -> str | None:
    """``tenant/file.py:line`` of the last tenant frame of ``exc``'s traceback."""
    where = None
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        filename = frame.f_code.co_filename
        if _is_tenant_file(filename):
            where = f"{filename}:{lineno}"
    return where


def _tenant_line(tenant_root, filename: str, lineno: int | None, sources: dict) -> str:
    # Tenant code is compiled as "<tenant>/<path in its folder>".
    parts = filename.split("/")
    if tenant_root is None or not lineno or len(parts) < 2 or ".." in parts:
        return ""
    source = sources.get(filename)
    if source is None:
        try:
            with open(os.path.join(str(tenant_root), *parts[1:]), "rb") as f:
                source = sources[filename] = f.read(MAX_SOURCE_BYTES).splitlines()
        except OSError:
            source = sources[filename] = []
    if lineno > len(source):
        return ""
    return source[lineno - 1].decode("utf-8", "replace").strip()[:MAX_LINE_CHARS]


def _is_tenant_file(filename: str) -> bool:
    """Tenant code is compiled under its name in the tenants dir
    (``acme/api/users.py``); every other frame is the host's (the server,
    the standard library, the venv's site-packages, wherever they are)."""
    return bool(filename) and not os.path.isabs(filename) and not filename.startswith("<")


def tenant_code_error(exc: Exception, endpoint: str, tenant_root) -> TenantCodeError:
    """A :class:`TenantCodeError` for ``exc``; call it inside the limits.

    :param tenant_root: the folder of the version that ran (for source lines).
    """
    if isinstance(exc, TenantCodeError):
        return exc
    name = type(exc).__name__ if type(exc).__name__.isidentifier() else "Exception"
    error = TenantCodeError(
        f"{endpoint} raised {name}",
        detail=format_tenant_traceback(exc, tenant_root),
        exc_type=name,
        denied=isinstance(exc, (SandboxError, ImportError)),
    )
    # Formatted: the finished frames' locals go now, by reference count —
    # the traceback is in a cycle with the frame that caught it, and a
    # tenant raising over an 8 MB list 75 times a second left a young
    # collection 30 MB of garbage to walk every 50 ms.
    traceback.clear_frames(exc.__traceback__)
    if isinstance(exc, (QuotaError, QuotaExceeded)):
        # Storage over storage_mb, not caught by the tenant (SPEC: 507).
        error.status = 507
        error.exc_type = f"{name} ({exception_text(exc, 300).partition(': ')[2]})"
    elif isinstance(exc, DataUnavailable):
        # The tenant's data is on another node, or its replica is out of
        # reach (SPEC State: 503, never an empty database).
        error.status = 503
        error.exc_type = f"{name} ({exception_text(exc, 300).partition(': ')[2]})"
    return error

"""A tenant's ``static/`` folder, served as files.

Only regular files inside the folder are served: a path that resolves
outside it, a symbolic link, or a name starting with ``.`` is "not found".
Small files are read whole; larger ones stream in chunks (:class:`FileBody`).
"""

from __future__ import annotations

import mimetypes
import os

from muxserver.errors import NotFound
from muxserver.http.streams import STATIC_INLINE_BYTES
from muxserver.http.streams import FileBody

PREFIX = "/static/"


def serve_static(app, state, rel: str):
    """``(status, headers, body, stream)`` for ``rel`` (``/static/...``) of a tenant."""
    inner = rel[len(PREFIX):]
    root = os.path.realpath(os.path.join(state.spec.root, "static"))
    target = os.path.realpath(os.path.join(root, inner))
    if not target.startswith(root + os.sep) or os.path.islink(os.path.join(root, inner)):
        raise NotFound("no such file", state.name)
    if any(part.startswith(".") for part in inner.split("/")) or not os.path.isfile(target):
        raise NotFound("no such file", state.name)
    content_type = mimetypes.guess_type(target)[0] or "application/octet-stream"
    if content_type.startswith("text/"):
        content_type += "; charset=utf-8"
    size = os.path.getsize(target)
    headers = [("Content-Type", content_type)]
    if size <= STATIC_INLINE_BYTES:
        with open(target, "rb") as f:
            return 200, headers, f.read(), None
    headers.append(("Content-Length", str(size)))
    return 200, headers, b"", FileBody(open(target, "rb"))

"""A tenant's static folders (its app's ``static_folder``, beside the module
that makes it, and its blueprints'), served as files, with Flask's headers.

Only regular files inside the folder are served: a path that resolves
outside it, a symbolic link (a file, or a folder on the static folder's
way), a name starting with ``.`` or holding a NUL is "not found".
The answer is Flask's for its static route (:mod:`muxserver.http.sending`):
``ETag``, ``Last-Modified``, ``Cache-Control: no-cache``,
``Content-Disposition: inline; filename=...``, ``304`` for a conditional
request whose copy is current, ``206`` for a range. Small files are read
whole; larger ones stream in chunks (:class:`FileBody`).
"""

from __future__ import annotations

import os

from muxserver.errors import NotFound
from muxserver.http import path_text
from muxserver.http.sending import plain_parts
from muxserver.http.sending import send_file
from muxserver.http.streams import STATIC_INLINE_BYTES
from muxserver.http.streams import FileBody

def static_target(spec, rel: str) -> tuple[str, str, str | None] | None:
    """``(folder, filename, blueprint)`` of the static file ``rel`` names,
    before routing (Flask's ``static`` routes): the app's below its
    ``static_url_path`` when no view's rule can outrank it
    (``spec.static_prefix``: ``/static/`` and the tenant's ``static/``, or
    the one beside its app: a package's ``flaskr/static``), else a
    blueprint's at its ``static_url_path``; None for any other path (the
    router then ranks the app's static rule among the views' when it must:
    ``static_url_path=''``). ``rel`` is the WSGI path; the file name is its
    text (:func:`path_text`)."""
    prefix = spec.static_prefix
    if prefix is None and not spec.static_mounts:
        return None  # most tenants: one attribute read on the warm path
    rel = path_text(rel)
    if prefix is not None and rel.startswith(prefix):
        return spec.static_dir, rel[len(prefix):], None
    for url, folder, blueprint in spec.static_mounts:
        if rel.startswith(url + "/"):
            return folder, rel[len(url) + 1:], blueprint
    return None


def serve_static(state, folder: str, inner: str, environ):
    """``(status, headers, body, stream)`` for the file ``inner`` of the
    tenant's static ``folder`` (:func:`static_target`)."""
    if "\x00" in inner:
        # No file has such a name, and the file system's calls refuse it
        # with a ValueError (a server fault): Flask's static route finds
        # no file (werkzeug's isfile is False).
        raise NotFound("no such file", state.name)
    tenant_root = os.path.realpath(state.spec.root)
    root = os.path.realpath(os.path.join(tenant_root, folder))
    if root != os.path.normpath(os.path.join(tenant_root, folder)):
        # A symbolic link on the folder's way (the scan skips them, but a
        # route "/<path:filename>" exists whether or not it found files).
        raise NotFound("no such file", state.name)
    target = os.path.realpath(os.path.join(root, inner))
    if not target.startswith(root + os.sep) or os.path.islink(os.path.join(root, inner)):
        raise NotFound("no such file", state.name)
    if any(part.startswith(".") for part in inner.split("/")) or not os.path.isfile(target):
        raise NotFound("no such file", state.name)
    response = send_file(environ, target, f"/app/{folder}/" + os.path.relpath(target, root))
    status, headers, body, chunks = plain_parts(response, environ, STATIC_INLINE_BYTES)
    if chunks is None:
        return status, headers, body, None
    return status, headers, b"", FileBody(chunks)

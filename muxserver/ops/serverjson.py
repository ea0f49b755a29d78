"""The server's own JSON text, from an encoder no tenant can reach.

``json.dumps(doc)`` with default arguments reads its separators and its
``default`` from the class ``json.JSONEncoder``, which every tenant's code
shares with the host: a tenant that ever changed that class (round 4:
``super(E, E).__init__(json.JSONEncoder, separators=...)``) would write
into the server's log lines and channel messages. The encoder here sets
every setting on itself, so nothing on the shared class is read.
"""

from __future__ import annotations

import json

_ENCODER = json.JSONEncoder(skipkeys=False, ensure_ascii=True, check_circular=True,
                            allow_nan=True, sort_keys=False, indent=None,
                            separators=(", ", ": "), default=str)


def dumps(doc) -> str:
    """``json.dumps(doc, default=str)``, with this module's encoder."""
    return _ENCODER.encode(doc)

"""JSON as Flask writes it: sorted keys, compact, a final newline; dates as
HTTP dates, ``Decimal`` and ``UUID`` as strings, dataclasses as dicts.

It runs inside the request's limits (a dataclass or ``__html__`` is tenant
code) and its size is checked before the text is built.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import json
import uuid

from werkzeug.http import http_date

from sandbox import guards
from sandbox.facades.data import dataclass_as_dict


def _default(o):
    if isinstance(o, datetime.date):
        return http_date(o)
    if isinstance(o, (decimal.Decimal, uuid.UUID)):
        return str(o)
    if dataclasses.is_dataclass(o) and not isinstance(o, type):
        return dataclass_as_dict(o)
    if hasattr(type(o), "__html__"):
        return guards.safe_str_builtin(o.__html__())
    raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")


def dumps(obj, **kwargs) -> str:
    """``flask.json.dumps``: sorted keys, ASCII, Flask's conversions."""
    guards.check_allocation(6 * guards.text_size(obj, 2**62), "JSON")
    kwargs["default"] = guards.sized_default(kwargs.get("default") or _default, "JSON")
    kwargs.setdefault("ensure_ascii", True)
    kwargs.setdefault("sort_keys", True)
    return json.dumps(obj, **kwargs)


def response_text(obj) -> str:
    """The body of ``jsonify(obj)`` and of a returned dict or list."""
    return dumps(obj, separators=(",", ":")) + "\n"

"""JSON as Flask writes it: sorted keys, compact, a final newline; dates as
HTTP dates, ``Decimal`` and ``UUID`` as strings, dataclasses as dicts; and
``app.json``, Flask 3.1's ``DefaultJSONProvider`` (:class:`JSONProvider`),
whose settings every JSON answer of the app follows.

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
from sandbox.facades.data import decode_json
from sandbox.facades.jsontext import checked_dumps_options
from sandbox.guards.declared import declared

from muxserver.tenant_api import context


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
    """``flask.json.dumps``: sorted keys, ASCII, Flask's conversions; laid
    out and sized as the sandbox's ``json.dumps``
    (:func:`sandbox.facades.jsontext.checked_dumps_options`: indents by
    depth)."""
    kwargs["default"] = kwargs.get("default") or _default
    kwargs.setdefault("ensure_ascii", True)
    kwargs.setdefault("sort_keys", True)
    obj, options = checked_dumps_options(obj, kwargs)
    return json.dumps(obj, **options)


@declared("sort_keys compact ensure_ascii mimetype dumps loads response")
class JSONProvider:
    """``app.json``: Flask's ``DefaultJSONProvider``, its settings the
    tenant's to change (``sort_keys``, ``compact``, ``ensure_ascii``,
    ``mimetype``)."""

    _guarded_writes = True
    __slots__ = ("_app", "sort_keys", "compact", "ensure_ascii", "_mimetype")

    def __init__(self, app):
        self._app = app
        self.sort_keys = True
        self.compact = None
        self.ensure_ascii = True
        self._mimetype = "application/json"

    @property
    def mimetype(self) -> str:
        return self._mimetype

    @mimetype.setter
    def mimetype(self, value) -> None:
        # It becomes a Content-Type header: plain printable text only.
        if type(value) is not str or not value.isprintable() or not 0 < len(value) <= 200:
            raise ValueError("app.json.mimetype must be a media type (printable text, at most "
                             "200 characters)")
        self._mimetype = value

    def dumps(self, obj, **kwargs) -> str:
        kwargs.setdefault("ensure_ascii", self.ensure_ascii)
        kwargs.setdefault("sort_keys", self.sort_keys)
        return dumps(obj, **kwargs)

    def loads(self, s, **kwargs):
        return decode_json(s, **kwargs)

    def text(self, obj) -> str:
        """Flask's ``response`` body: indented by 2 when ``compact`` is
        False (or None in debug mode), else compact; a final newline."""
        if (self.compact is None and self._app.debug) or self.compact is False:
            return self.dumps(obj, indent=2) + "\n"
        return self.dumps(obj, separators=(",", ":")) + "\n"

    def response(self, *args, **kwargs):
        from muxserver.tenant_api.response import Response

        if args and kwargs:
            raise TypeError("app.json.response() takes either args or kwargs, not both")
        obj = args[0] if len(args) == 1 else list(args) if args else (kwargs or None)
        return Response(self.text(obj), mimetype=self.mimetype)

    def __repr__(self):
        return "<DefaultJSONProvider>"


def current_provider() -> JSONProvider | None:
    """The ``app.json`` of the tenant being served, when its app has one."""
    ctx = context.visible()
    site = ctx.site if ctx is not None else None
    app = site.app if site is not None else None
    return app.json if app is not None else None


def app_dumps(obj, **kwargs) -> str:
    """``flask.json.dumps`` and Jinja's ``tojson``: the app's ``json.dumps``."""
    provider = current_provider()
    return provider.dumps(obj, **kwargs) if provider is not None else dumps(obj, **kwargs)


def response_text(obj) -> str:
    """The body of ``jsonify(obj)`` and of a returned dict or list."""
    provider = current_provider()
    if provider is not None:
        return provider.text(obj)
    return dumps(obj, separators=(",", ":")) + "\n"


def response_mimetype() -> str:
    """The ``Content-Type`` of ``jsonify`` and of a returned dict or list."""
    provider = current_provider()
    return provider.mimetype if provider is not None else "application/json"

"""``Flask`` and ``Blueprint`` shims, and the names of ``mux`` and ``flask``.

The shims record the routes a module declares so the loader can find the
functions that registration (which read the same decorators from the
source) promised.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from muxserver.tenant_api.request import request
from muxserver.tenant_api.response import HTTPAbort
from muxserver.tenant_api.response import Response
from muxserver.tenant_api.response import abort
from muxserver.tenant_api.response import jsonify
from muxserver.tenant_api.response import make_response
from muxserver.tenant_api.response import redirect


class Flask:
    """Records what a Flask-style module declares.

    Routes: ``route``/``get``/``post``/``put``/``patch``/``delete``. Also
    ``errorhandler``, ``before_request``, ``after_request``, a ``config``
    dict, and ``run``/``register_blueprint`` that do nothing (the server
    routes every blueprint of the tenant by itself).
    """

    _guarded_writes = True
    __slots__ = ("import_name", "name", "config", "secret_key", "url_prefix",
                 "_routes", "_error_handlers", "_before", "_after")

    def __init__(self, import_name="", *args, url_prefix=None, **kwargs):
        self.import_name = import_name
        self.name = import_name
        self.config = {}
        self.secret_key = None
        self.url_prefix = (url_prefix or "").rstrip("/")
        self._routes = []
        self._error_handlers = {}
        self._before = []
        self._after = []

    def route(self, rule, methods=None, **options):
        full = self.url_prefix + rule if self.url_prefix else rule

        def decorator(func):
            self._routes.append((full, getattr(func, "__name__", ""), func))
            return func

        return decorator

    def get(self, rule, **options):
        return self.route(rule, methods=["GET"], **options)

    def post(self, rule, **options):
        return self.route(rule, methods=["POST"], **options)

    def put(self, rule, **options):
        return self.route(rule, methods=["PUT"], **options)

    def patch(self, rule, **options):
        return self.route(rule, methods=["PATCH"], **options)

    def delete(self, rule, **options):
        return self.route(rule, methods=["DELETE"], **options)

    def errorhandler(self, code_or_exception):
        def decorator(func):
            self._error_handlers[code_or_exception] = func
            return func

        return decorator

    def before_request(self, func):
        self._before.append(func)
        return func

    def after_request(self, func):
        self._after.append(func)
        return func

    def register_blueprint(self, blueprint, **options):
        return None

    def run(self, *args, **kwargs):
        return None

    def __repr__(self):
        return f"<{type(self).__name__} {self.name!r}>"


class Blueprint(Flask):
    """``Blueprint(name, import_name, url_prefix=...)``."""

    __slots__ = ()

    def __init__(self, name="", import_name="", *args, url_prefix=None, **kwargs):
        super().__init__(import_name, url_prefix=url_prefix)
        self.name = name


def module_attrs(env: dict, log) -> dict[str, Any]:
    """The names of ``mux`` (and ``flask``) for one tenant."""
    return {
        "request": request,
        "Response": Response,
        "jsonify": jsonify,
        "abort": abort,
        "redirect": redirect,
        "make_response": make_response,
        "env": MappingProxyType(dict(env)),
        "log": log,
        "Flask": Flask,
        "Blueprint": Blueprint,
        "HTTPException": HTTPAbort,
    }

"""Flask's URL processors and the part of ``app.url_map`` they use.

``url_value_preprocessor`` functions run before the ``before_request``
hooks with the request's endpoint and view arguments (the app's and every
blueprint's app-wide ones, then the route's blueprint's); ``url_defaults``
functions run when ``url_for`` builds, with the endpoint and the values
(the app's for every endpoint, a blueprint's for its own), as Flask 3.1's
``preprocess_request`` and ``inject_url_defaults`` call them. The i18n
pattern of Flask's docs asks ``app.url_map.is_endpoint_expecting``:
:class:`TenantURLMap` answers it from the routes registration read.

.. warning::
   ``url_map`` is not werkzeug's ``Map``: it offers ``is_endpoint_expecting``,
   ``strict_slashes`` (read at deploy from ``app.url_map.strict_slashes =
   False`` at the top of a module) and ``converters`` (read at deploy too:
   :mod:`muxserver.tenancy.converters`); other names are refused at deploy
   (:mod:`muxserver.tenancy.reading`).
"""

from __future__ import annotations

from sandbox.guards.declared import declared
from sandbox.guards import safe_str_builtin

from muxserver.tenant_api.site import _CONVERTER


def _plain_funcs(apps, own: str, app_wide: str, blueprints) -> list:
    """The URL processors that apply: the apps' own and every blueprint's
    app-wide ones, then those of ``blueprints`` (names, innermost last)."""
    funcs = []
    for app in apps:
        if not app.is_blueprint:
            funcs += getattr(app, own)
    for app in apps:
        if app.is_blueprint:
            funcs += getattr(app, app_wide)
    for name in blueprints:
        for app in apps:
            if app.is_blueprint and app.name == name:
                funcs += getattr(app, own)
    return funcs


def preprocess_url_values(site_apps, route_apps, endpoint, values) -> None:
    """Flask's ``preprocess_request``, its first half: the URL value
    preprocessors of the request's app and blueprint, called with
    ``(endpoint, values)`` (``values`` may be changed in place; None for a
    request no route matched, as in Flask)."""
    blueprints = [app.name for app in route_apps if app.is_blueprint]
    for func in _plain_funcs(site_apps, "_url_value_preprocessors",
                             "_app_url_value_preprocessors", blueprints):
        func(endpoint, values)


def inject_url_defaults(site_apps, endpoint: str, values: dict) -> None:
    """Flask's ``inject_url_defaults``: the app's ``url_defaults`` (and
    every blueprint's app-wide ones) for any endpoint, then those of the
    endpoint's blueprint."""
    blueprint = endpoint.rpartition(".")[0]
    for func in _plain_funcs(site_apps, "_url_defaults", "_app_url_defaults",
                             [blueprint] if blueprint else []):
        func(endpoint, values)


@declared("is_endpoint_expecting strict_slashes converters")
class TenantURLMap:
    """``app.url_map``: what Flask's URL processors ask of werkzeug's map."""

    __slots__ = ("_site", "_strict_slashes", "converters")
    _guarded_writes = True

    def __init__(self, site):
        self._site = site
        self._strict_slashes = True
        #: The tenant's converters by name (a plain dict, the tenant's own):
        #: registration read them from the source; requests use the classes
        #: found here (:mod:`muxserver.tenant_api.converters`).
        self.converters = {}

    @property
    def strict_slashes(self) -> bool:
        return self._strict_slashes

    @strict_slashes.setter
    def strict_slashes(self, value) -> None:
        # Registration read the value from the source (the routes were made
        # with it); this is what reading it back gives.
        self._strict_slashes = bool(value)

    def is_endpoint_expecting(self, endpoint, *arguments) -> bool:
        """Whether a rule of ``endpoint`` takes all of ``arguments`` (its
        converters and defaults), as werkzeug's; ``KeyError`` for an
        endpoint with no rule."""
        endpoint = safe_str_builtin(endpoint)
        wanted = {safe_str_builtin(a) for a in arguments}
        site = self._site
        if endpoint == "static" and site is not None and site.static_url is not None:
            return wanted <= {"filename"}  # Flask's rule, made whenever it has a folder
        rules = [r for r in (site.routes if site is not None else ())
                 if r.kind in ("flask", "alias") and r.flask_endpoint == endpoint]
        if not rules:
            raise KeyError(endpoint)
        return any(wanted <= set(_CONVERTER.findall(r.rule)) | {k for k, _ in r.defaults}
                   for r in rules)

    def __repr__(self):
        return "<url_map>"

"""What Flask keeps per application, kept per tenant: its apps, the secret
that signs its sessions, its templates and the table ``url_for`` reads.

One :class:`TenantSite` is made with the tenant's runtime and dropped with
it. Tenant code never holds it; the shims and proxies of
:mod:`muxserver.tenant_api` reach it through the request context.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import posixpath
import re
from urllib.parse import quote

from sandbox import guards
from sandbox.facades.text import urlencode

from muxserver.errors import MuxError
from muxserver.tenant_api.converters import tenant_to_url
from muxserver.tenant_api.session import cookie_settings
from muxserver.tenant_api.session import signing_key

log = logging.getLogger("muxserver.site")

_CONVERTER = re.compile(r"<(?:[a-zA-Z_][a-zA-Z0-9_]*(?:\([^)]*\))?:)?([a-zA-Z_][a-zA-Z0-9_]*)>")
#: A rule's variable with its converter's name: ``<int:id>`` -> ``("int", "id")``.
_CONVERTER_PARTS = re.compile(
    r"<(?:([a-zA-Z_][a-zA-Z0-9_]*)(?:\(([^)]*)\))?:)?([a-zA-Z_][a-zA-Z0-9_]*)>")
#: What werkzeug's converters leave unescaped in a URL path (WHATWG's
#: path-segment set, ``/`` included: ``url_for`` writes a path as it is).
_PATH_SAFE = "!$&'()*+,/:;=@"


class BuildError(MuxError, LookupError):
    """``url_for`` cannot build a URL for the endpoint and values given."""

    status = 500


#: Longest URL part (and query) ``url_for`` builds: quoting is pure Python
#: (a 10 MB anchor took 17 s), and no server takes a URL this long anyway.
MAX_URL_BYTES = 64 * 1024
_URL_TOO_LONG = f"url_for() builds URLs of at most {MAX_URL_BYTES // 1024} KB here"


def _to_url(converter: str | None, value) -> str:
    """``value`` in a URL path as werkzeug's converter writes it
    (``to_url``): a number as ``int()``/``float()`` make it, ``any`` and
    ``uuid`` as their text, anything else quoted but for :data:`_PATH_SAFE`."""
    if converter in ("int", "float"):
        number = value if type(value) in (int, float, bool) else _url_text(value)
        return str(int(number) if converter == "int" else float(number))
    if converter in ("any", "uuid"):
        return _url_text(value)
    return quote(_url_text(value), safe=_PATH_SAFE)


def _url_text(value) -> str:
    """The text of a value going into a URL, by the sandbox's sized path,
    refused past :data:`MAX_URL_BYTES`."""
    if type(value) is not str:
        if guards.text_size(value, MAX_URL_BYTES) > MAX_URL_BYTES:
            raise guards.SizeLimitError(_URL_TOO_LONG)
        value = guards.text_of(value, limit=MAX_URL_BYTES, over="raise", what="url_for()")
    if len(value) > MAX_URL_BYTES:
        raise guards.SizeLimitError(_URL_TOO_LONG)
    return value


_NO_PACKAGES: frozenset = frozenset()


class TenantSite:
    """One tenant's application-wide state.

    :param spec: the tenant version it serves (a
        :class:`~muxserver.tenancy.spec.TenantSpec`): its name, folder,
        routes and static URL, read when used (a hello world reads none).
    :param session_key: returns the key the server gives its serving
        processes for sessions (derived from its secret, which they never
        see), called on first use; a tenant without ``secret_key`` signs
        sessions with a key derived from it.
    :param log_line: ``log_line(text, level)`` writes to the tenant's log.
    :param files: the tenant's :class:`sandbox.facades.files.TenantFiles`.
    """

    def __init__(self, spec, session_key, log_line, files):
        self.spec = spec
        self.tenant = spec.name
        self.log_line = log_line
        self.files = files
        self._session_key = session_key
        self._derived_secret: str | None = None  # on first use: most never sign
        self._warned: set | None = None  # what _warn_once logged
        self._routes: tuple | None = None
        self._packages: frozenset | None = None
        #: Flask() and Blueprint() objects tenant code made, in order.
        self.apps: list = []
        self.templates = None  # muxserver.tenant_api.templates.TenantTemplates, on first use
        self.kv = None  # muxserver.tenant_api.kv.KeyValueStore, on first use
        #: May this node serve the tenant's data (muxserver.replication.gate).
        self.data_gate = None
        #: Makes the app of a tenant without one (set by the tenant API).
        self.make_default_app = None
        #: The tenant's :class:`sandbox.TenantRuntime` (set by the loader):
        #: its environment, its own ``__import__`` and its random generator.
        self.runtime = None

    @property
    def root(self) -> str:
        """Its folder on the host."""
        return self.spec.root

    @property
    def static_url(self) -> str | None:
        """The app's ``static_url_path`` (None: ``static_folder=None``, no
        static route), what ``url_for("static")`` builds on."""
        return self.spec.static_url

    @property
    def routes(self) -> tuple:
        """Its registered routes and endpoint aliases (for ``url_for``)."""
        if self._routes is None:
            self._routes = self.spec.routes + self.spec.url_aliases
        return self._routes

    @property
    def packages(self) -> frozenset:
        """Dotted names of the tenant's packages (an app's root_path is the
        package's folder, as in Flask)."""
        if self._packages is None:
            self._packages = frozenset(
                dotted for dotted, ref in self.spec.sources.items() if ref.is_package
            ) or _NO_PACKAGES
        return self._packages

    @property
    def env(self) -> dict:
        """The tenant's environment, as ``os.environ`` reads it (the runtime's)."""
        return self.runtime.env if self.runtime is not None else {}

    def import_module(self, name: str, fromlist=()):
        """The tenant's own ``import`` of ``name``
        (``app.config.from_object("config.Config")``).

        :raises ImportError: no tenant runtime is set.
        """
        if self.runtime is None:
            raise ImportError(f"cannot import {name[:200]!r}: no tenant is running")
        return self.runtime.import_module(name, None, None, fromlist)

    def close(self) -> None:
        """Close what the site holds open (the runtime is being dropped)."""
        if self.kv is not None:
            self.kv.close()
            self.kv = None

    @property
    def app(self):
        """The tenant's Flask app (the first ``Flask()`` made), or None."""
        for app in self.apps:
            if not getattr(app, "is_blueprint", False):
                return app
        return None

    def current_app(self):
        """What ``current_app`` is: the tenant's app, or — for a function
        that made none (Fission's ``main()``) — one made for it, as the
        platform's own app would be there."""
        app = self.app
        if app is None and self.make_default_app is not None:
            app = self.make_default_app()
        return app

    def secret_key(self) -> str:
        app = self.app
        if app is not None:
            key = app.secret_key or app.config.get("SECRET_KEY")
            if key:
                return signing_key(key)
        if self._derived_secret is None:
            self._derived_secret = hmac.new(self._session_key(), f"session:{self.tenant}".encode(),
                                            hashlib.sha256).hexdigest()
        return self._derived_secret

    def session_cookie(self):
        """How the app's config names and scopes its session cookie
        (:func:`muxserver.tenant_api.session.cookie_settings`); what it does
        not honour is logged once."""
        return cookie_settings(self.app, self._warn_once)

    def _warn_once(self, text: str) -> None:
        warned = self._warned
        if warned is None:
            warned = self._warned = set()
        if text not in warned:
            if len(warned) < 100:
                warned.add(text)
            self.log_line(text, "warning")

    # -- url_for -----------------------------------------------------------------

    def url_for(self, endpoint: str, mount: str, values: dict, current_blueprint=None) -> str:
        """The path of ``endpoint`` (a view function's name, ``bp.name`` or
        ``.name`` for the current blueprint, or ``static``)."""
        anchor = values.pop("_anchor", None)
        values.pop("_method", None)
        values.pop("_external", None)
        values.pop("_scheme", None)
        if endpoint == "static":
            filename = values.pop("filename", None)
            if filename is None:
                raise BuildError("url_for('static') needs filename=")
            if self.static_url is None:
                raise BuildError("Could not build url for endpoint 'static': the app has no "
                                 "static folder (static_folder=None)")
            path = f"{self.static_url}/" + _to_url("path", _url_text(filename).lstrip("/"))
        else:
            # ".view" outside a request: the app's (no current blueprint), as Flask's.
            path = self._build(endpoint[1:] if endpoint.startswith(".") else endpoint, values)
        url = mount + path
        if values:
            if guards.text_size(values, MAX_URL_BYTES) > MAX_URL_BYTES:
                raise guards.SizeLimitError(_URL_TOO_LONG)
            # werkzeug's build: what a query may hold unescaped stays so (WHATWG).
            url += "?" + urlencode({k: v for k, v in values.items() if v is not None},
                                   doseq=True, safe="!$'()*,/:;?@")
            guards.check_allocation(len(url), "url_for()")
        if anchor:
            url += "#" + quote(_url_text(anchor))
        return url

    def _converter_to_url(self, converter: str | None, arguments: str | None, value) -> str:
        """``value`` in a URL as the rule's converter writes it: the
        tenant's own converter's ``to_url`` (tenant code: ``url_for`` runs
        in the request's limits), else werkzeug's."""
        if converter is not None:
            text = tenant_to_url(self, converter, arguments, value)
            if text is not None:
                return text
        return _to_url(converter, value)

    def _build(self, name: str, values: dict) -> str:
        # Flask's endpoint: "blueprint.view" for a blueprint's route.
        candidates = [r for r in self.routes if r.flask_endpoint == name]
        if not candidates:
            raise BuildError(f"Could not build url for endpoint {name!r}: no view function "
                             f"has that endpoint in tenant {self.tenant}")
        # Stacked @route decorators register bottom-up: Flask's order (the
        # lowest rule first), not the source's.
        first = {}
        for i, route in enumerate(candidates):
            first.setdefault((route.file, route.line), i)
        candidates = [r for _, r in sorted(enumerate(candidates),
                                           key=lambda p: (first[(p[1].file, p[1].line)], -p[0]))]
        # As werkzeug builds: rules with the most arguments, then the most
        # defaults, first; the first whose defaults agree with the values
        # (url_for("users") is /users/ when its defaults give page=1).
        def suitable(route):
            names = _CONVERTER.findall(route.rule)
            defaults = dict(route.defaults)
            return all(n in values or n in defaults for n in names) and all(
                values.get(k, v) == v for k, v in defaults.items())

        ordered = sorted(candidates, key=lambda r: (
            -len(set(_CONVERTER.findall(r.rule)) | {k for k, _ in r.defaults}), -len(r.defaults)))
        for route in ordered:
            if suitable(route):
                defaults = dict(route.defaults)
                merged = {**defaults, **values}
                names = _CONVERTER.findall(route.rule)
                path = _CONVERTER_PARTS.sub(
                    lambda m: self._converter_to_url(m.group(1), m.group(2),
                                                     merged[m.group(3)]), route.rule)
                for used in [*names, *defaults]:
                    values.pop(used, None)
                return path
        needed = ", ".join(_CONVERTER.findall(candidates[0].rule))
        raise BuildError(f"url_for({name!r}) needs values for: {needed}")

    # -- files --------------------------------------------------------------------

    def template_folders(self) -> list[str]:
        """Host folders Jinja loads templates from, in Flask's order: the
        app's, then its blueprints' in the order they were registered
        (nested ones after their parent; one never registered has none);
        every Flask or Blueprint object's in the order made for a tenant
        without an app. The tenant root's ``templates/`` last."""
        folders = []
        for app in self._template_owners():
            folder = getattr(app, "template_folder", None)
            base = getattr(app, "root_path", "/app") or "/app"
            if folder:
                name = posixpath.normpath(posixpath.join(base, folder))
                try:
                    folders.append(self.files.resolve(name))
                except (PermissionError, ValueError):
                    continue
        try:
            folders.append(self.files.resolve("/app/templates"))
        except PermissionError:
            pass
        seen = []
        for folder in folders:
            if folder not in seen:
                seen.append(folder)
        return seen

    def _template_owners(self) -> list:
        app = self.app
        if app is None:
            return list(self.apps)
        owners, pending = [], [app]
        while pending and len(owners) <= len(self.apps):
            owner = pending.pop(0)
            if not any(o is owner for o in owners):  # by identity: a tenant's class may define ==
                owners.append(owner)
                pending[:0] = getattr(owner, "_blueprints", [])
        return owners

"""``Flask`` and ``Blueprint`` shims, and the names of ``mux`` and ``flask``.

The shims record what a module declares — routes, error handlers, hooks,
blueprints — so the loader can find the functions that registration (which
read the same decorators from the source) promised, and the dispatcher can
run hooks and error handlers as Flask does. Everything Flask keeps per app
(config, secret key, templates, ``url_for``'s table) lives in the tenant's
:class:`~muxserver.tenant_api.site.TenantSite`; ``current_app``, ``g`` and
``session`` are proxies to the tenant's app and to the request being served.

.. warning::
   These are host classes tenant code instantiates and may subclass. Their
   private state is in ``__slots__`` (so a tenant subclass cannot overwrite
   it, :mod:`sandbox.guards.own_objects`); the public attributes are the
   tenant's own to change. What tenant code may read of each is declared
   beside it (:mod:`sandbox.guards.declared`). No host state sits in a class
   attribute: the tenant's site is found by class in :data:`_SITES`, which
   no road from tenant code reaches (``super()._site`` once read it, issue 23).
"""

from __future__ import annotations

import itertools
import os
import posixpath
import weakref
from http import HTTPStatus
from types import MappingProxyType
from typing import Any

from markupsafe import Markup
from werkzeug.exceptions import HTTPException
from werkzeug.security import safe_join

from muxserver.http import sending
from muxserver.tenancy.app_names import APP_NAMES
from muxserver.tenant_api import context
from muxserver.tenant_api import flask_json
from muxserver.tenant_api import cloudfunctions
from muxserver.tenant_api import companions
from muxserver.tenant_api import errorhandlers
from muxserver.tenant_api import proxyfix
from muxserver.tenant_api.commands import TenantGroup
from muxserver.tenant_api.kv import KVFacade
from muxserver.tenant_api.request import BODY_LIMIT_DEFAULTS
from muxserver.tenant_api.request import TenantHeaders
from muxserver.tenant_api.request import TenantRequest
from muxserver.tenant_api.request import request
from muxserver.tenant_api.response import Response
from muxserver.tenant_api.response import abort
from muxserver.tenant_api.response import jsonify
from muxserver.tenant_api.response import make_response
from muxserver.tenant_api.response import redirect
from muxserver.tenant_api.session import SESSION_DEFAULTS
from muxserver.tenant_api.session import TenantSession
from muxserver.tenant_api.session import as_timedelta
from muxserver.tenant_api.session import open_session
from muxserver.tenant_api.site import MAX_URL_BYTES
from muxserver.tenant_api.templates import TenantJinjaEnv
from muxserver.tenant_api.templates import TenantTemplates
from muxserver.tenant_api import urlmap
from muxserver.tenant_api.urlmap import TenantURLMap
from muxserver.tenant_api.views import views_module
from sandbox.facades import ModuleFacade
from sandbox.facades.aio import resolve
from sandbox.facades.data import decode_json
from sandbox.facades.jsontext import dumps as jsontext_dumps
from sandbox.guards import safe_str_builtin
from sandbox.facades.system import TenantLogger
from sandbox.guards import guarded_getattr
from sandbox.guards import guarded_write
from sandbox.guards import safe_repr
from sandbox.guards import safe_str
from sandbox.guards.declared import declare
from sandbox.guards.declared import declare_values
from sandbox.guards.declared import declared
from sandbox.guards.own_objects import HostType

#: The per-tenant ``Flask``/``Blueprint`` class -> the tenant's site. Kept
#: here, by class, not in the class: a tenant subclass can reach its bases'
#: attributes (``super()``), never this table.
_SITES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _site_of_config(config):
    """The site of the app whose ``config`` this is (None outside one)."""
    return getattr(config, "_site", None)


def _import_string(site, path: str):
    """werkzeug's ``import_string`` over the tenant's own imports:
    ``"module.Name"`` (or ``"module:Name"``) is ``Name`` of that module, a
    bare dotted path the module itself."""
    # A plain copy of the tenant's text (a str subclass's methods are its own).
    path = str.__str__(path)
    if site is None or site.runtime is None:
        raise ImportError(f"import_string({path[:200]!r}): no tenant is running")
    path = path.replace(":", ".")
    module_name, _, attr = path.rpartition(".")
    if module_name:
        try:
            return guarded_getattr(site.import_module(module_name, (attr,)), attr)
        except (ImportError, AttributeError):
            pass  # werkzeug then imports the whole path as a module
    found = site.import_module(path)
    for part in path.split(".")[1:]:
        found = guarded_getattr(found, part)
    return found


def _site_of(app):
    """The site of the tenant whose ``Flask`` (sub)class made ``app``."""
    for klass in type(app).__mro__:
        site = _SITES.get(klass)
        if site is not None:
            return site
    return None


#: Most routes one app or blueprint records (add_url_rule looks for its
#: endpoint among them); most URL processors of each kind.
MAX_ROUTES = 10_000
MAX_URL_PROCESSORS = 100


def _add_processor(table: list, func):
    if len(table) >= MAX_URL_PROCESSORS:
        raise RuntimeError(f"more than {MAX_URL_PROCESSORS} URL processors of one kind")
    table.append(func)
    return func


declare_values(Markup)
# http.HTTPStatus: its members by name (HTTPStatus.OK.value, as AWS's and
# every other sample writes them), and each member's fields.
declare(HTTPStatus, ["phrase", "description", "value", "name", *HTTPStatus.__members__])


#: The rest of Flask 3.1's default config, so a read of one finds what it
#: finds under Flask (these are read, not followed: setting them changes
#: nothing here).
_FLASK_DEFAULTS = {
    "EXPLAIN_TEMPLATE_LOADING": False, "MAX_COOKIE_SIZE": 4093, "PREFERRED_URL_SCHEME": "http",
    "PROPAGATE_EXCEPTIONS": None, "PROVIDE_AUTOMATIC_OPTIONS": True,
    "SEND_FILE_MAX_AGE_DEFAULT": None, "SERVER_NAME": None, "TEMPLATES_AUTO_RELOAD": None,
    "TRAP_BAD_REQUEST_ERRORS": None, "TRAP_HTTP_EXCEPTIONS": False, "TRUSTED_HOSTS": None,
    "USE_X_SENDFILE": False,
}


@declared("from_mapping from_object from_prefixed_env from_envvar from_pyfile")
class AppConfig(dict):
    """``app.config``: a dict with Flask's loaders that make sense here."""

    _guarded_writes = True

    def from_mapping(self, mapping=None, **kwargs):
        for key, value in {**(mapping or {}), **kwargs}.items():
            if key.isupper():
                self[key] = value
        return True

    def from_object(self, obj):
        """Flask's: the upper-case names of ``obj`` — a class or module, or
        its import path (``"config.DevelopmentConfig"``: one of the
        tenant's modules, imported as tenant code imports it)."""
        if isinstance(obj, str):
            obj = _import_string(_site_of_config(self), obj)
        for key in dir(obj):
            if key.isupper():
                self[key] = guarded_getattr(obj, key)

    def from_prefixed_env(self, prefix="FLASK", *, loads=decode_json):
        """Flask's: each ``FLASK_*`` variable of the tenant's environment
        (its ``[env]``, what ``os.environ`` is here), its value read as
        JSON where it is JSON; ``__`` in a name sets a nested key."""
        site = _site_of_config(self)
        environ = site.env if site is not None else {}
        start = f"{prefix}_"
        # Text only, as a process's environment holds: tenant code may put its
        # own objects in its os.environ dict, and the host sorts and slices none.
        for key, value in sorted((key, value) for key, value in environ.items()
                                 if type(key) is str and type(value) is str):
            if not key.startswith(start):
                continue
            try:
                value = loads(value)
            except Exception:
                pass  # kept as the string, as Flask keeps it
            key = key.removeprefix(start)
            if "__" not in key:
                self[key] = value
                continue
            # Into what the config holds, written as the tenant's own
            # `x[k] = v` would be (it may have put a host object there).
            current = self
            *parts, tail = key.split("__")
            for part in parts:
                if part not in current:
                    guarded_write(current)[part] = {}
                current = current[part]
            guarded_write(current)[tail] = value
        return True

    def from_envvar(self, variable_name, silent=False):
        if silent:
            return False
        raise RuntimeError(f"from_envvar({safe_repr(variable_name, 100)}): config files are not "
                           "read here")

    def from_pyfile(self, filename, silent=False):
        if silent:
            return False
        raise RuntimeError("from_pyfile(): use a module of the tenant and from_object()")


@declared(" ".join(sorted(APP_NAMES)),
          dynamic=True)  # attributes a tenant sets on its app are its own
class Flask:
    """What a Flask app declares, recorded for the loader and dispatcher."""

    _guarded_writes = True
    is_blueprint = False
    __slots__ = ("import_name", "name", "config", "url_prefix", "template_folder",
                 "_static_folder", "_static_url_path", "root_path", "_routes",
                 "_error_handlers", "_before", "_after", "_teardown", "_teardown_app",
                 "_context_processors",
                 "_blueprints", "_logger", "_app_before", "_app_after", "_cli",
                 "_app_error_handlers", "_jinja_env", "_url_value_preprocessors",
                 "_url_defaults", "_app_url_value_preprocessors", "_app_url_defaults",
                 "_url_map", "_json", "_wsgi_app", "_own_wsgi_app", "__dict__")

    def __init__(self, import_name="", static_url_path=None, static_folder="static",
                 template_folder="templates", *args, url_prefix=None, root_path=None, **kwargs):
        self.import_name = safe_str_builtin(import_name)
        self.name = self.import_name
        self.config = AppConfig(DEBUG=False, TESTING=False, SECRET_KEY=None,
                                **SESSION_DEFAULTS, **BODY_LIMIT_DEFAULTS, **_FLASK_DEFAULTS)
        self.url_prefix = (url_prefix or "").rstrip("/")
        self.template_folder = template_folder
        self._static_folder = None
        self.static_folder = static_folder
        self.static_url_path = static_url_path
        site = _site_of(self)
        self.config._site = site  # private: tenant code cannot read it
        module_path = "/app/" + self.import_name.replace(".", "/")
        if root_path is None:
            is_package = site is not None and self.import_name in site.packages
            root_path = module_path if is_package else posixpath.dirname(module_path + ".py")
        self.root_path = root_path
        #: ``(rule, name, view, methods)``: a route decorator's (methods
        #: None: the loader finds it by its function's module) and an
        #: ``add_url_rule``'s (by its endpoint, with the methods to check).
        self._routes = []
        #: Flask's ``error_handler_spec`` for this app or blueprint:
        #: ``{code or None: {exception class: handler}}`` (:mod:`.errorhandlers`).
        self._error_handlers = {}
        #: A blueprint's ``app_errorhandler``s: the app's, for every request.
        self._app_error_handlers = {}
        #: ``app.jinja_env``: the filters, tests and globals the app adds.
        self._jinja_env = None
        self._before = []
        self._after = []
        self._teardown = []
        self._teardown_app = []
        self._context_processors = []
        self._blueprints = []
        self._logger = None
        #: A blueprint's hooks for every request of the app (before_app_request).
        self._app_before = []
        self._app_after = []
        #: Flask's URL processors: ``url_value_preprocessor``s and
        #: ``url_defaults`` of this app or blueprint, and a blueprint's
        #: app-wide ones (``app_url_value_preprocessor``, ``app_url_defaults``).
        self._url_value_preprocessors = []
        self._url_defaults = []
        self._app_url_value_preprocessors = []
        self._app_url_defaults = []
        self._url_map = None
        self._json = None
        #: What ``app.wsgi_app`` reads: the app's own token, or a ProxyFix
        #: chain around it (:mod:`.proxyfix`); inert values both.
        own = proxyfix.WsgiApp()
        _OWN_WSGI_APP_SLOT.__set__(self, own)
        _WSGI_APP_SLOT.__set__(self, own)
        #: ``app.cli``: the commands ``muxserver flask`` runs.
        self._cli = None
        if site is not None:
            if len(site.apps) > 1000:
                raise RuntimeError("more than 1000 Flask/Blueprint objects in one tenant")
            site.apps.append(self)

    # -- debug, testing and secret_key are config's keys, as in Flask ----------------------

    @property
    def debug(self):
        """``config["DEBUG"]`` (a config class's ``DEBUG = True`` makes
        ``jsonify`` indent, as in Flask)."""
        return self.config.get("DEBUG", False)

    @debug.setter
    def debug(self, value):
        self.config["DEBUG"] = value

    @property
    def testing(self):
        return self.config.get("TESTING", False)

    @testing.setter
    def testing(self, value):
        self.config["TESTING"] = value

    @property
    def secret_key(self):
        return self.config.get("SECRET_KEY")

    @secret_key.setter
    def secret_key(self, value):
        self.config["SECRET_KEY"] = value

    @property
    def permanent_session_lifetime(self):
        return as_timedelta(self.config["PERMANENT_SESSION_LIFETIME"])

    @permanent_session_lifetime.setter
    def permanent_session_lifetime(self, value):
        self.config["PERMANENT_SESSION_LIFETIME"] = value

    @property
    def logger(self):
        if self._logger is None:
            site = _site_of(self)
            sink = site.log_line if site is not None else (lambda line, level="info": None)
            self._logger = TenantLogger(self.name, sink)
        return self._logger

    # -- wsgi_app: ProxyFix only -----------------------------------------------------------

    @property
    def wsgi_app(self):
        """Flask's ``wsgi_app`` as a value to wrap in ``ProxyFix`` (the
        callable itself stays the server's): :mod:`.proxyfix`."""
        if self.is_blueprint:
            raise AttributeError("'Blueprint' object has no attribute 'wsgi_app'")
        return _WSGI_APP_SLOT.__get__(self)

    @wsgi_app.setter
    def wsgi_app(self, value):
        if self.is_blueprint:
            raise AttributeError("a blueprint has no wsgi_app")
        value = proxyfix.checked_wsgi_app(_OWN_WSGI_APP_SLOT.__get__(self), value)
        site = _site_of(self)
        if site is not None and site.app is not self and proxyfix.counts_of(value):
            raise TypeError("ProxyFix is honoured on the tenant's Flask app (the first "
                            "Flask() it makes) here, not on a second one")
        _WSGI_APP_SLOT.__set__(self, value)

    # -- routes ---------------------------------------------------------------------------

    def route(self, rule, methods=None, **options):
        full = self.url_prefix + rule if self.url_prefix else rule

        def decorator(func):
            self._routes.append((full, getattr(func, "__name__", ""), func, None))
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

    def add_url_rule(self, rule, endpoint=None, view_func=None, provide_automatic_options=None,
                     **options):
        """Flask's ``add_url_rule``: ``view_func`` (a function, or a class
        view's ``as_view(...)``) under ``endpoint`` (its name by default).
        Registration read the rule, the endpoint and the methods from the
        source; the loader checks the methods computed here (Flask's: the
        ``methods=`` given, else the view's own, else GET) against them.
        Without ``view_func`` (naming another rule for an endpoint, as the
        Flask tutorial's ``add_url_rule("/", endpoint="index")``) there is
        nothing to do: ``url_for`` finds views by name."""
        if view_func is None:
            return
        if endpoint is None:
            endpoint = view_func.__name__
        methods = options.get("methods")
        if methods is None:
            methods = getattr(view_func, "methods", None) or ("GET",)
        if isinstance(methods, str):
            raise TypeError("Allowed methods must be a list of strings, for example: "
                            '@app.route(..., methods=["POST"])')  # Flask's
        methods = frozenset(safe_str_builtin(item).upper() for item in methods)
        endpoint = safe_str_builtin(endpoint)
        if len(self._routes) >= MAX_ROUTES:
            raise RuntimeError(f"more than {MAX_ROUTES} routes on one app or blueprint")
        for _, name, func, _ in self._routes:
            if name == endpoint and func is not view_func:
                raise AssertionError("View function mapping is overwriting an existing "
                                     f"endpoint function: {endpoint}")  # Flask's
        full = self.url_prefix + rule if self.url_prefix else rule
        self._routes.append((full, endpoint, view_func, methods))

    # -- hooks and handlers ---------------------------------------------------------------

    def errorhandler(self, code_or_exception):
        def decorator(func):
            self.register_error_handler(code_or_exception, func)
            return func

        return decorator

    def register_error_handler(self, code_or_exception, func):
        """Flask's: ``code_or_exception`` is a status code werkzeug knows or
        an ``Exception`` subclass (``HTTPException`` takes every HTTP error)."""
        errorhandlers.register(self._error_handlers, code_or_exception, func)

    def before_request(self, func):
        self._before.append(func)
        return func

    def after_request(self, func):
        self._after.append(func)
        return func

    def teardown_request(self, func):
        self._teardown.append(func)
        return func

    def teardown_appcontext(self, func):
        # Flask's app context ends after each request (and after a command,
        # or a ``with app.app_context()``): these run then, after the
        # request's own teardown hooks.
        self._teardown_app.append(func)
        return func

    def context_processor(self, func):
        self._context_processors.append(func)
        return func

    def register_blueprint(self, blueprint, **options):
        """Record the blueprint; its routes were registered at deploy time
        (with the literal ``url_prefix`` given here)."""
        if isinstance(blueprint, Flask) and blueprint not in self._blueprints:
            self._blueprints.append(blueprint)

    # -- URL processors (Flask's names) ---------------------------------------------------

    def url_value_preprocessor(self, func):
        """``func(endpoint, values)`` before the ``before_request`` hooks; it
        may change (pop) the values the view is called with."""
        return _add_processor(self._url_value_preprocessors, func)

    def url_defaults(self, func):
        """``func(endpoint, values)`` when ``url_for`` builds a URL; it may
        add values."""
        return _add_processor(self._url_defaults, func)

    @property
    def url_map(self):
        """``app.url_map``: ``is_endpoint_expecting`` and ``strict_slashes``
        (:class:`muxserver.tenant_api.urlmap.TenantURLMap`)."""
        if self._url_map is None:
            self._url_map = TenantURLMap(_site_of(self))
        return self._url_map

    @property
    def json(self):
        """``app.json``: Flask's ``DefaultJSONProvider``
        (:class:`muxserver.tenant_api.flask_json.JSONProvider`)."""
        if self._json is None:
            self._json = flask_json.JSONProvider(self)
        return self._json

    # -- templates: filters, tests and globals (Flask's names) ---------------------------

    @property
    def jinja_env(self) -> TenantJinjaEnv:
        """``app.jinja_env``: its ``filters``, ``tests`` and ``globals`` (what
        the app adds to Jinja's), ``trim_blocks`` and ``lstrip_blocks``."""
        if self._jinja_env is None:
            self._jinja_env = TenantJinjaEnv()
        return self._jinja_env

    def _template_decorator(self, table: str, name):
        def decorator(func):
            self.jinja_env.add(table, func, name)
            return func

        return decorator

    def template_filter(self, name=None):
        return self._template_decorator("filters", name)

    def add_template_filter(self, f, name=None):
        self.jinja_env.add("filters", f, name)

    def template_test(self, name=None):
        return self._template_decorator("tests", name)

    def add_template_test(self, f, name=None):
        self.jinja_env.add("tests", f, name)

    def template_global(self, name=None):
        return self._template_decorator("globals", name)

    def add_template_global(self, f, name=None):
        self.jinja_env.add("globals", f, name)

    # -- the rest of Flask's app surface that makes sense here ---------------------------

    def run(self, *args, **kwargs):
        return None

    @property
    def instance_path(self):
        """Flask's instance folder: here the tenant's writable ``/data``."""
        return "/data"

    @property
    def cli(self):
        """``app.cli``: its commands run with ``muxserver flask TENANT COMMAND``
        (:mod:`muxserver.tenant_api.commands`)."""
        if self._cli is None:
            self._cli = TenantGroup(self.name if self.is_blueprint else None)
        return self._cli

    def open_resource(self, resource, mode="rb"):
        """A file of the app, relative to its folder (read only)."""
        if mode not in ("r", "rb", "rt"):
            raise ValueError("open_resource() opens files for reading")
        site = _site_of(self)
        return site.files.open(posixpath.join(self.root_path, safe_str_builtin(resource)), mode)

    def app_context(self):
        return _AppContext(self)

    @property
    def static_folder(self):
        """Flask's: the static folder's path (``/app/...``: its
        ``root_path`` joined with the folder given), or None."""
        if self._static_folder is None:
            return None
        return posixpath.join(self.root_path, self._static_folder)

    @static_folder.setter
    def static_folder(self, value):
        self._static_folder = None if value is None else safe_str_builtin(value).rstrip("\\/")

    @property
    def has_static_folder(self):
        return self._static_folder is not None

    @property
    def static_url_path(self):
        """Flask's: the url path of the static route (``/`` and the
        folder's last name unless given), None without a folder."""
        if self._static_url_path is not None:
            return self._static_url_path
        if self._static_folder is not None:
            return f"/{posixpath.basename(self.static_folder)}".rstrip("/")
        return None

    @static_url_path.setter
    def static_url_path(self, value):
        self._static_url_path = None if value is None else safe_str_builtin(value).rstrip("/")

    def send_static_file(self, filename):
        """Flask's: a file of the app's static folder (``static/`` beside
        it unless ``static_folder=`` said another), answered as its static
        route answers (Flask's SPA pattern returns
        ``app.send_static_file("index.html")`` for every path)."""
        if self.static_folder is None:
            raise RuntimeError("'static_folder' must be set to serve static files.")
        return send_from_directory(self.static_folder, filename)

    def test_request_context(self, path="/", base_url=None, *, method="GET",
                             query_string=None, headers=None, data=None, json=None):
        """Flask's ``test_request_context``: inside it ``request`` is a
        request for ``path`` and ``url_for`` builds URLs as Flask's does in
        one (``"/"``, not under the mount: the Flask docs' URL-building
        example prints at import). A subset of werkzeug's
        ``EnvironBuilder`` arguments, as plain text."""
        return _TestRequestContext(self, path, base_url, method, query_string, headers,
                                   data, json)

    def __repr__(self):
        return f"<{type(self).__name__} {self.name!r}>"


# The slots themselves, read past anything a tenant subclass puts in their
# place (a class attribute named like a slot hides it from `self._x`).
_WSGI_APP_SLOT = Flask.__dict__["_wsgi_app"]
_OWN_WSGI_APP_SLOT = Flask.__dict__["_own_wsgi_app"]


def forwarded_chain(app) -> tuple:
    """The counts of the ``ProxyFix`` chain the tenant set on ``app``
    (:func:`.proxyfix.counts_of`; empty for none, or no Flask app)."""
    if not isinstance(app, Flask):
        return ()
    return proxyfix.counts_of(_WSGI_APP_SLOT.__get__(app))


@declared("app_errorhandler before_app_request after_app_request app_template_filter "
          "add_app_template_filter app_template_test add_app_template_test "
          "app_template_global add_app_template_global app_url_value_preprocessor "
          "app_url_defaults")
class Blueprint(Flask):
    """``Blueprint(name, import_name, url_prefix=...)``."""

    is_blueprint = True
    __slots__ = ()

    def __init__(self, name="", import_name="", static_folder=None, static_url_path=None,
                 template_folder=None, url_prefix=None, *args, **kwargs):
        # Flask's order: a blueprint's static folder comes before its url
        # path, then its template folder; it has neither unless given (its
        # module's templates/ is no template folder of Flask's).
        super().__init__(import_name, static_url_path, static_folder,
                         template_folder=template_folder, url_prefix=url_prefix, **kwargs)
        self.name = safe_str_builtin(name)

    def app_errorhandler(self, code_or_exception):
        """A handler for every request of the app, not only this blueprint's."""
        def decorator(func):
            errorhandlers.register(self._app_error_handlers, code_or_exception, func)
            return func

        return decorator

    def before_app_request(self, func):
        self._app_before.append(func)
        return func

    def after_app_request(self, func):
        self._app_after.append(func)
        return func

    def app_url_value_preprocessor(self, func):
        """A URL value preprocessor for every request of the app."""
        return _add_processor(self._app_url_value_preprocessors, func)

    def app_url_defaults(self, func):
        """URL defaults for every endpoint of the app."""
        return _add_processor(self._app_url_defaults, func)

    # A blueprint's template filters, tests and globals are the app's (every
    # blueprint's and app's are one environment here).
    app_template_filter = Flask.template_filter
    add_app_template_filter = Flask.add_template_filter
    app_template_test = Flask.template_test
    add_app_template_test = Flask.add_template_test
    app_template_global = Flask.template_global
    add_app_template_global = Flask.add_template_global


class _Pushed:
    """A context tenant code enters with ``with`` (or pushes and pops)."""

    __slots__ = ()

    def __enter__(self):
        self.push()
        return self

    def __exit__(self, exc_type, exc, tb):
        self.pop(exc)
        return False


@declared("push pop")
class _AppContext(_Pushed):
    """``app.app_context()``: Flask's application context. Inside it ``g``
    is a namespace of its own, as each Flask app context has (the Flask
    docs' ``init_db`` runs ``with app.app_context(): get_db()`` at import
    time), and leaving it runs the app's ``teardown_appcontext`` hooks with
    the exception that ended the block; the ``g`` around it comes back."""

    __slots__ = ("_app", "_saved")
    #: Nested pushes of one context (Flask's stack has no limit; a loop that
    #: pushes without popping would grow the host's list forever).
    MAX_DEPTH = 100

    def __init__(self, app):
        self._app = app
        self._saved = []

    def push(self):
        ctx = context.visible()
        if ctx is None:
            raise RuntimeError("app_context() works while this tenant's code runs")
        if len(self._saved) >= self.MAX_DEPTH:
            raise RuntimeError(f"app_context() pushed more than {self.MAX_DEPTH} times")
        self._saved.append((ctx, ctx.extras.get("g"), ctx.extras.get("app_context")))
        ctx.extras["g"] = {}
        ctx.extras["app_context"] = True

    def pop(self, exc=None):
        if not self._saved:
            raise RuntimeError("Popped wrong app context.")
        ctx, g, flag = self._saved.pop()
        try:
            for hook in reversed(self._app._teardown_app):  # Flask: the last first
                resolve(hook(exc))
        finally:
            for key, value in (("g", g), ("app_context", flag)):
                if value is None:
                    ctx.extras.pop(key, None)
                else:
                    ctx.extras[key] = value


@declared("push pop")
class _TestRequestContext(_Pushed):
    """``app.test_request_context(...)``: an app context (:class:`_AppContext`)
    whose ``request`` is one built from the arguments, mounted at the root
    as Flask's test request is. Leaving it gives back the request and the
    site the context had (at import time: none)."""

    __slots__ = ("_app", "_args", "_app_context", "_saved")

    def __init__(self, app, path, base_url, method, query_string, headers, data, json):
        self._app = app
        self._args = (path, base_url, method, query_string, headers, data, json)
        self._app_context = _AppContext(app)
        self._saved = []

    def _request(self) -> TenantRequest:
        from werkzeug.test import EnvironBuilder

        path, base_url, method, query_string, headers, data, json = self._args
        # Plain copies of the tenant's values: werkzeug's builder is host code.
        text = {"path": path, "method": method}
        text.update((k, v) for k, v in (("base_url", base_url),
                                        ("query_string", query_string)) if v is not None)
        built = {key: safe_str_builtin(value) for key, value in text.items()}
        if sum(map(len, built.values())) > MAX_URL_BYTES:  # quoted in host code next
            raise ValueError(f"test_request_context() takes URLs of at most "
                             f"{MAX_URL_BYTES // 1024} KB here")
        if headers is not None:
            pairs = list(itertools.islice(
                headers.items() if isinstance(headers, dict) else headers,
                TenantHeaders.MAX_ITEMS + 1))
            if len(pairs) > TenantHeaders.MAX_ITEMS:  # a host loop over them follows
                raise ValueError(f"a request holds at most {TenantHeaders.MAX_ITEMS} headers here")
            built["headers"] = [(safe_str_builtin(k), safe_str_builtin(v)) for k, v in pairs]
            if sum(len(k) + len(v) for k, v in built["headers"]) > MAX_URL_BYTES:
                raise ValueError(f"test_request_context() takes headers of at most "
                                 f"{MAX_URL_BYTES // 1024} KB here")
        if json is not None:
            built["data"] = jsontext_dumps(json)
            built["content_type"] = "application/json"
        elif data is not None:
            built["data"] = bytes(data) if isinstance(data, (bytes, bytearray)) \
                else safe_str_builtin(data)
        environ = EnvironBuilder(**built).get_environ()
        return TenantRequest(environ, environ.get("PATH_INFO", "/"), "", None,
                             through_wsgi_app=False)

    def push(self):
        request = self._request()
        self._app_context.push()
        ctx = context.visible()
        self._saved.append((ctx, ctx.request, ctx.site, request))
        ctx.request, ctx.site = request, _site_of(self._app) or ctx.site

    def pop(self, exc=None):
        if not self._saved:
            raise RuntimeError("Popped wrong request context.")
        # Into the context it was pushed on (a context pushed at import and
        # popped in a request leaves that request's as it is).
        ctx, request, site, pushed = self._saved.pop()
        pushed.close()
        ctx.request, ctx.site = request, site
        self._app_context.pop(exc)


@declared(forward=lambda proxy: proxy._get())
class AppProxy:
    """``current_app``: the tenant's Flask app (its attributes can be set
    through it, as ``current_app.template_folder = ...`` does)."""

    _guarded_writes = True
    __slots__ = ("_site",)

    def __init__(self, site):
        object.__setattr__(self, "_site", site)

    def _get(self):
        site = object.__getattribute__(self, "_site")
        app = site.current_app() if site is not None else None
        if app is None:
            raise RuntimeError("current_app is only available in a tenant")
        return app

    def __getattr__(self, name):
        return getattr(self._get(), name)

    def __setattr__(self, name, value):
        setattr(self._get(), name, value)

    def __bool__(self):
        return object.__getattribute__(self, "_site") is not None

    def __repr__(self):
        return repr(self._get())


@declared("get pop setdefault", dynamic=True)  # the request's own namespace
class RequestGlobals:
    """``g``: a namespace for the request being served, empty at its start."""

    _guarded_writes = True
    __slots__ = ()

    @staticmethod
    def _data() -> dict:
        ctx = context.visible()
        if ctx is None or (ctx.request is None and not ctx.extras.get("app_context")):
            raise RuntimeError("g is only available while a request (or a command) runs")
        return ctx.extras.setdefault("g", {})

    @staticmethod
    def _tenant_namespace_() -> dict:
        """Where ``g._database`` lives (sandbox.guards.own_objects.tenant_namespace):
        the request's dict, which only the tenant's values are put into."""
        return RequestGlobals._data()

    def __getattr__(self, name):
        try:
            return self._data()[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name, value):
        self._data()[name] = value

    def __delattr__(self, name):
        self._data().pop(name, None)

    def get(self, name, default=None):
        return self._data().get(name, default)

    def pop(self, name, *default):
        return self._data().pop(name, *default)

    def setdefault(self, name, default=None):
        return self._data().setdefault(name, default)

    def __contains__(self, name):
        return name in self._data()

    def __iter__(self):
        return iter(list(self._data()))

    def __repr__(self):
        return "<flask.g>"


@declared(forward=lambda proxy: SessionProxy._get())
class SessionProxy:
    """``session``: the signed-cookie session of the request being served."""

    _guarded_writes = True
    __slots__ = ()

    @staticmethod
    def _get() -> TenantSession:
        ctx = context.visible()
        if ctx is None or ctx.request is None:
            raise RuntimeError("session is only available while a request is served")
        session = ctx.extras.get("session")
        if session is None:
            site = ctx.site
            settings = site.session_cookie()
            session = open_session(site.secret_key(), ctx.request.cookies.get(settings.name),
                                   settings)
            ctx.extras["session"] = session
        # Flask 3.1: any use of the session proxy marks it accessed (then
        # the answer varies by Cookie), a membership test or flashes included.
        session.accessed = True
        return session

    def __getattr__(self, name):
        return getattr(self._get(), name)

    def __setattr__(self, name, value):
        setattr(self._get(), name, value)

    def __getitem__(self, key):
        return self._get()[key]

    def __setitem__(self, key, value):
        self._get()[key] = value

    def __delitem__(self, key):
        del self._get()[key]

    def __contains__(self, key):
        return key in self._get()

    def __iter__(self):
        return iter(list(self._get()))

    def __len__(self):
        return len(self._get())

    def __bool__(self):
        return bool(self._get())

    def __repr__(self):
        return repr(self._get())


def _current_site(ctx_required=True):
    ctx = context.visible()
    site = getattr(ctx, "site", None) if ctx else None
    if site is None and ctx_required:
        raise RuntimeError("this is only available while a request is served")
    return ctx, site


def url_for(endpoint, **values):
    """Flask's ``url_for`` over the tenant's routes (paths under its mount),
    after the app's and the endpoint's blueprint's ``url_defaults``."""
    ctx, site = _current_site()
    mount = ctx.request.script_root if ctx.request is not None else "/" + site.tenant
    scheme = values.get("_scheme")
    external = values.get("_external", scheme is not None)
    if scheme is not None and not external:
        raise ValueError("When specifying '_scheme', '_external' must be True.")  # Flask's
    endpoint = safe_str_builtin(endpoint)
    if endpoint[:1] == "." and ctx.request is not None:
        blueprint = ctx.request.blueprint
        endpoint = f"{blueprint}{endpoint}" if blueprint is not None else endpoint[1:]
    specials = {key: values.pop(key) for key in _URL_FOR_OPTIONS if key in values}
    urlmap.inject_url_defaults(site.apps, endpoint, values)
    path = site.url_for(endpoint, mount, {**values, **specials})
    if external and ctx.request is not None:
        host_url = ctx.request.host_url.rstrip("/")
        if scheme is not None:
            host_url = safe_str_builtin(scheme) + "://" + host_url.partition("://")[2]
        return host_url + path
    return path


#: ``url_for``'s own keyword arguments: not values, not seen by ``url_defaults``.
_URL_FOR_OPTIONS = ("_anchor", "_method", "_scheme", "_external")


def flash(message, category="message"):
    session = SessionProxy._get()
    flashes = session.get("_flashes") or []
    if len(flashes) >= 100:
        raise ValueError("more than 100 flashed messages")
    session["_flashes"] = flashes + [(safe_str_builtin(category), message)]  # tuples, as Flask keeps them


def get_flashed_messages(with_categories=False, category_filter=()):
    ctx, _ = _current_site()
    if "flashes" not in ctx.extras:
        session = SessionProxy._get()
        ctx.extras["flashes"] = session.pop("_flashes") if "_flashes" in session else []
    flashes = ctx.extras["flashes"]
    if category_filter:
        flashes = [f for f in flashes if f[0] in category_filter]
    if with_categories:
        return [tuple(f) for f in flashes]
    return [f[1] for f in flashes]


def _template_context(site, extra: dict) -> dict:
    ctx = context.visible()
    values = {
        "request": request,
        "session": SessionProxy(),
        "g": RequestGlobals(),
        "url_for": url_for,
        "get_flashed_messages": get_flashed_messages,
        "config": site.app.config if site.app is not None else {},
    }
    for app in site.apps:
        for processor in app._context_processors:
            added = processor()
            if isinstance(added, dict):
                values.update(added)
    values.update(extra)
    return values if ctx is not None else extra


def _templates(site) -> TenantTemplates:
    if site.templates is None:
        site.templates = TenantTemplates(site)
    return site.templates


def render_template(template_name_or_list, **context_values):
    _, site = _current_site()
    names = [template_name_or_list] if isinstance(template_name_or_list, str) else list(
        template_name_or_list)
    templates = _templates(site)
    values = _template_context(site, context_values)
    last = None
    for name in names:
        try:
            return templates.render(safe_str_builtin(name), values)
        except Exception as exc:  # TemplateNotFound: try the next name
            if type(exc).__name__ != "TemplateNotFound":
                raise
            last = exc
    raise last


def render_template_string(source, **context_values):
    _, site = _current_site()
    return _templates(site).render_string(safe_str_builtin(source), _template_context(site, context_values))


def stream_template(template_name_or_list, **context_values):
    """Flask's ``stream_template``: the template as a streamed body (an
    iterator of text, sent chunked).

    .. warning:: Rendered when called, sent as one piece: an error inside
       the template is the view's error (a 500) here, where Flask has
       already sent the status and cuts the body."""
    return _streamed(render_template(template_name_or_list, **context_values))


def stream_template_string(source, **context_values):
    """Flask's ``stream_template_string`` (see :func:`stream_template`)."""
    return _streamed(render_template_string(source, **context_values))


def _streamed(text: str):
    yield text


def send_file(path_or_file, mimetype=None, as_attachment=False, download_name=None,
              conditional=True, etag=True, last_modified=None, max_age=None):
    """Flask's ``send_file``: a file of the tenant (``/app`` or ``/data``; a
    relative name is relative to the app's folder) or an open binary file,
    with Flask's headers, 304 and 206 (:mod:`muxserver.http.sending`)."""
    ctx, site = _current_site()
    app = site.app
    if max_age is None and app is not None:
        max_age = app.config.get("SEND_FILE_MAX_AGE_DEFAULT")
        if hasattr(max_age, "total_seconds"):
            max_age = int(max_age.total_seconds())
    shown = None
    if isinstance(path_or_file, str):
        root = app.root_path if app is not None else "/app"
        shown = posixpath.normpath(posixpath.join(root, path_or_file))
        file = site.files.resolve(shown)
        if not os.path.isfile(file):
            raise FileNotFoundError(f"No such file: {path_or_file!r}")
    else:
        file = path_or_file
    environ = ctx.request._r.environ if ctx.request is not None else {}
    response = sending.send_file(environ, file, shown, mimetype=mimetype,
                                 as_attachment=as_attachment, download_name=download_name,
                                 conditional=conditional, etag=etag,
                                 last_modified=last_modified, max_age=max_age)
    status, headers, body, chunks = sending.plain_parts(response, environ, 256 * 1024)
    answer = Response(body if chunks is None else chunks, status=status, headers=headers)
    if not any(name.lower() == "content-type" for name, _ in headers):
        del answer.headers["Content-Type"]
    return answer


def send_from_directory(directory, path, **kwargs):
    """Flask's ``send_from_directory``: ``send_file(directory/path)``, 404
    when ``path`` leaves ``directory`` or is not a file there."""
    clean = safe_join("/", safe_str_builtin(path))
    if clean is None or clean == "/" or "\x00" in clean:
        abort(404)  # a NUL: werkzeug's isfile() is False, open() a ValueError
    _, site = _current_site()
    root = site.app.root_path if site.app is not None else "/app"
    base = posixpath.join(root, safe_str_builtin(directory))
    try:
        return send_file(posixpath.join(base, clean.lstrip("/")), **kwargs)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError):
        abort(404)


@declared("dumps loads jsonify")
class _JSONFacade:
    """``flask.json``: Flask's dumps/loads."""

    __slots__ = ()
    dumps = staticmethod(flask_json.app_dumps)

    @staticmethod
    def loads(s, **kwargs):
        return decode_json(s, **kwargs)

    @staticmethod
    def jsonify(*args, **kwargs):
        return jsonify(*args, **kwargs)


def after_this_request(func):
    """Run ``func(response)`` after this request's handler (Flask's)."""
    ctx = context.visible()
    if ctx is None or ctx.request is None:
        raise RuntimeError("after_this_request() is only available while a request is served")
    hooks = ctx.extras.setdefault("after_this_request", [])
    if len(hooks) >= 100:
        raise RuntimeError("more than 100 after_this_request hooks")
    hooks.append(func)
    return func


def has_request_context() -> bool:
    ctx = context.visible()
    return ctx is not None and ctx.request is not None


def stream_with_context(generator_or_function):
    """Flask's ``stream_with_context``: here every chunk already runs with
    its request, so it returns what it is given."""
    return generator_or_function


def functions_framework_attrs(site) -> dict[str, Any]:
    """``functions_framework`` (Cloud Functions' Python runtime): the
    decorators its functions are written with."""

    def http(func):
        return func

    def cloud_event(func):
        return func

    def errorhandler(code_or_exception):
        def decorator(func):
            app = site.current_app() if site is not None else None
            if app is not None:
                app.register_error_handler(code_or_exception, func)
            return func
        return decorator

    return {"http": http, "cloud_event": cloud_event, "errorhandler": errorhandler,
            "typed": cloudfunctions.typed}


def tenant_log(log_line):
    """``mux.log(*values, level="info")``: one line of the values' text,
    each sized and cut on the way (never the real ``str()``, issue 23)."""

    def log(*args, level: str = "info") -> None:
        log_line(" ".join(safe_str(a) for a in args[:100]), safe_str(level, 20))

    return log


def module_attrs(env: dict, log, site=None) -> dict[str, Any]:
    """The names of ``mux`` for one tenant (``flask``'s: :func:`flask_module_attrs`)."""
    flask_class = type("Flask", (Flask,), {"__slots__": (), "__module__": "flask"})
    blueprint_class = type("Blueprint", (Blueprint,), {"__slots__": (), "__module__": "flask"})
    if site is not None:
        _SITES[flask_class] = _SITES[blueprint_class] = site
    if site is not None:
        site.make_default_app = lambda: flask_class(site.tenant)
    return {
        "request": request,
        "Response": Response,
        "jsonify": jsonify,
        "abort": abort,
        "redirect": redirect,
        "make_response": make_response,
        "env": MappingProxyType(dict(env)),
        "log": log,
        "Flask": flask_class,
        "Blueprint": blueprint_class,
        "HTTPException": HTTPException,
        "current_app": AppProxy(site),
        "g": RequestGlobals(),
        "session": SessionProxy(),
        "url_for": url_for,
        "flash": flash,
        "get_flashed_messages": get_flashed_messages,
        "render_template": render_template,
        "render_template_string": render_template_string,
        "stream_template": stream_template,
        "stream_template_string": stream_template_string,
        "send_file": send_file,
        "send_from_directory": send_from_directory,
        "json": _JSONFacade(),
        "kv": KVFacade(site),
        "stream_with_context": stream_with_context,
        "after_this_request": after_this_request,
        "has_request_context": has_request_context,
        "has_app_context": lambda: site is not None,
        "Request": HostType(TenantRequest),
        "escape": companions.escape,
        "Markup": companions.Markup,
        "views": ModuleFacade("flask.views", views_module()),
    }


#: Names of ``mux`` that Flask 3.1's ``flask`` module does not have: the
#: tenant API's own (``env``, ``log``, ``kv``), werkzeug's ``HTTPException``,
#: and ``escape``/``Markup``, which Flask 3.0 removed (markupsafe has them).
#: ``from flask import escape`` is an ImportError there, so it is one here.
#: Each with what code for Flask writes instead (the deploy check says it).
MUX_ONLY_NAMES = {
    "env": "it is muxserver's tenant API: `import mux` and `mux.env` (or `os.environ`)",
    "log": "it is muxserver's tenant API: `import mux` and `mux.log` (or `app.logger`)",
    "kv": "it is muxserver's tenant API: `import mux` and `mux.kv`",
    "HTTPException": "Flask has no such name: `from werkzeug.exceptions import HTTPException`",
    "escape": "Flask 3.0 removed it: `from markupsafe import escape`",
    "Markup": "Flask 3.0 removed it: `from markupsafe import Markup`",
}


def flask_module_attrs(attrs: dict[str, Any]) -> dict[str, Any]:
    """The names of ``flask`` out of :func:`module_attrs`' (``mux``'s): those
    Flask 3.1 has."""
    return {name: value for name, value in attrs.items() if name not in MUX_ONLY_NAMES}


def http_module_attrs() -> dict[str, Any]:
    """``http`` and ``http.server`` for Vercel's handler classes."""
    from http import HTTPStatus

    from muxserver.tenant_api.forms import BaseHTTPRequestHandler

    return {"BaseHTTPRequestHandler": BaseHTTPRequestHandler, "HTTPStatus": HTTPStatus}

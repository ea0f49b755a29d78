"""The WSGI application of one process tenant: its own code, run by plain CPython.

A process tenant's modules import the real Flask (the zygote imported it
already), so its Flask apps are Flask apps: routing, blueprints, hooks,
sessions, error handlers and extensions are Flask's own. What the server
adds is what Flask does not know:

* functions named after methods (``def get(request)``) and Fission's
  ``main()``, each at its file's path — served by a small host Flask app,
  called with ``flask.request`` when they take an argument, their return
  values converted by Flask;
* ``[function]`` entry points of the ``flask`` (Fission) and ``gcf``
  (Cloud Functions) forms, at the tenant's root and every path below;
* the session key: a tenant app without ``secret_key`` gets the one the
  server derived for this tenant (as sandboxed tenants do);
* an unhandled exception (no ``errorhandler`` for it or for 500) answers
  the server's 500 with its request id; the traceback goes to the log.

A request goes to the host app when one of its rules matches, else to the
first tenant app whose URL map matches (or that answers 405), else to the
first tenant app (its 404 page), else 404.

.. warning::
   This module runs inside the tenant's process; it must not import gevent
   or the server's sandbox (the zygote has neither).
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import sys
import traceback

import flask
from werkzeug.exceptions import InternalServerError
from werkzeug.exceptions import MethodNotAllowed
from werkzeug.exceptions import NotFound

#: The header that tells the serving process "tenant code raised; answer your 500".
ERROR_HEADER = "X-Mux-Tenant-Error"
#: Methods each ``[function]`` form routes (the scanner's table, for these forms).
FUNCTION_FORMS = ("flask", "gcf")


def endpoint_module(endpoint: str) -> str:
    dotted = endpoint.replace("/", ".")
    return dotted[: -len(".__init__")] if dotted.endswith(".__init__") else dotted


def _resolved(value):
    """Drive an ``async def`` handler's coroutine to its result (Flask 2+ does)."""
    if inspect.isawaitable(value):
        async def wait():
            return await value
        return asyncio.run(wait())
    return value


class TenantApp:
    """One tenant's code behind one WSGI callable.

    :param plan: what the serving process said about the tenant (its routes,
        app modules, factory, ``[function]``, the derived session key).
    """

    def __init__(self, plan: dict):
        self.tenant = plan["tenant"]
        self.root = plan["app_root"]
        self.routes = [r for r in plan["routes"] if r["kind"] != "flask"]
        self.flask_endpoints = sorted({r["endpoint"] for r in plan["routes"]
                                       if r["kind"] == "flask"})
        self.app_modules = list(plan.get("app_modules") or ())
        self.factory = plan.get("app_factory")
        self.session_secret = plan["session_secret"]
        #: The tenant's own Flask apps, in the order found.
        self.apps: list = []
        self.host = None
        self.loaded = False

    # -- loading (the cold start) -----------------------------------------------

    def load(self) -> None:
        """Import what a request can reach: the modules that make the app
        (and its factory), every endpoint module; build the host app."""
        made = []
        for dotted in self.app_modules:
            importlib.import_module(dotted)
        if self.factory and not self._found_apps():
            module = importlib.import_module(self.factory[0])
            made.append(_resolved(getattr(module, self.factory[1])()))
        for endpoint in self.flask_endpoints:
            importlib.import_module(endpoint_module(endpoint))
        for route in self.routes:
            # Method functions, main() and [function] entry points too: a
            # module only a request imported raised past the health check,
            # and its broken version took traffic.
            getattr(importlib.import_module(endpoint_module(route["endpoint"])),
                    route["handler"])
        for app in made + self._found_apps():
            if isinstance(app, flask.Flask) and app not in self.apps:
                self.apps.append(app)
        for app in self.apps:
            if not app.secret_key and not app.config.get("SECRET_KEY"):
                app.secret_key = self.session_secret
            self._report_unhandled(app)
        if self.routes:
            self.host = self._host_app()
        self.loaded = True

    def _found_apps(self) -> list:
        """Flask apps at the top level of the tenant's modules."""
        found = []
        prefix = self.root.rstrip("/") + "/"
        for module in list(sys.modules.values()):
            path = getattr(module, "__file__", None) or ""
            if not path.startswith(prefix):
                continue
            for value in list(vars(module).values()):
                if isinstance(value, flask.Flask) and value not in found:
                    found.append(value)
        return found

    def _report_unhandled(self, app) -> None:
        """An exception no errorhandler takes is the server's 500 (with the
        request id), its traceback in the tenant's log — as for sandboxed
        tenants. An app's own handler for it (or for 500) still answers."""
        original = app.handle_exception

        def handle_exception(error):
            if isinstance(error, MemoryError):
                raise error  # over memory_mb: the limit answers (503), not the app
            wrapped = InternalServerError(original_exception=error)
            if app._find_error_handler(wrapped, flask.request.blueprints) is not None:
                return original(error)
            return _tenant_error(error)

        app.handle_exception = handle_exception

    def _host_app(self):
        host = flask.Flask(f"mux-{self.tenant}", root_path=self.root)
        host.secret_key = self.session_secret
        for number, route in enumerate(self.routes):
            methods = [m for m in route["methods"] if m not in ("HEAD",)]
            defaults = dict(route.get("defaults") or ()) or None
            host.add_url_rule(route["rule"], f"route{number}", self._view(route),
                              methods=methods, defaults=defaults)
        host.register_error_handler(Exception, _host_error)
        return host

    def _view(self, route: dict):
        dotted = endpoint_module(route["endpoint"])
        handler_name = route["handler"]
        kind = route["kind"]

        def view(**view_args):
            handler = getattr(importlib.import_module(dotted), handler_name)
            if kind == "function:gcf":
                return _resolved(handler(flask.request))
            if kind == "function:flask" or not route["takes_request"]:
                return _resolved(handler())
            return _resolved(handler(flask.request))

        return view

    # -- WSGI ----------------------------------------------------------------------

    def __call__(self, environ, start_response):
        return self.pick(environ)(environ, start_response)

    def pick(self, environ):
        """The app that answers this request (see the module doc)."""
        if self.host is not None and _matches(self.host, environ):
            return self.host
        for app in self.apps:
            if _matches(app, environ):
                return app
        if self.apps:
            return self.apps[0]
        return self.host or _not_found


def _matches(app, environ) -> bool:
    try:
        app.url_map.bind_to_environ(environ).match()
    except MethodNotAllowed:
        return True  # this app answers 405, as Flask would
    except NotFound:
        return False
    except Exception:  # a redirect for a trailing slash: this app's
        return True
    return True


def _not_found(environ, start_response):
    return NotFound()(environ, start_response)


def _tenant_error(error):
    """Log the traceback; answer with the marker the serving process turns
    into its 500 (request id in the body, traceback only with --debug)."""
    text = "".join(traceback.format_exception(error))
    print(f"Exception on {flask.request.path} [{flask.request.method}]\n{text}",
          file=sys.stderr, end="", flush=True)
    response = flask.Response(text, status=500, mimetype="text/plain")
    response.headers[ERROR_HEADER] = f"{type(error).__name__}: {error}"[:500]
    return response


def _host_error(error):
    from werkzeug.exceptions import HTTPException

    if isinstance(error, HTTPException):
        return error
    if isinstance(error, MemoryError):
        raise error
    return _tenant_error(error)

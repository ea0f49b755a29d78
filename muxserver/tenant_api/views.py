"""``flask.views``: Flask 3.1's class-based views, ``View`` and ``MethodView``.

Tenant code subclasses them and registers ``MyView.as_view("name")`` with
``add_url_rule``. Registration read the same forms from the source
(:mod:`muxserver.tenancy.routes`: the class's methods, the rule, the
endpoint); the loader checks the methods computed here against what it
read, so the two cannot drift apart silently.

.. warning::
   ``as_view`` returns a host object (:class:`ClassView`) that calls tenant
   code: the view class, its ``__init__`` and its methods. It is only ever
   called by tenant code or by the dispatcher, both inside the request's
   limits. It offers tenant code ``view_class``, ``methods`` and
   ``provide_automatic_options`` (as Flask's view function does) and keeps
   the class's arguments to itself; tenant code cannot write to it.
"""

from __future__ import annotations

from sandbox.facades.aio import resolve
from sandbox.guards.declared import declared
from sandbox.guards import safe_str_builtin
from sandbox.guards.own_objects import is_tenant_function

from muxserver.tenant_api.request import request

#: Flask's ``http_method_funcs``: the methods a ``MethodView`` may define.
HTTP_METHOD_FUNCS = frozenset(["get", "post", "head", "options", "delete", "put", "trace",
                               "patch"])


@declared("view_class methods provide_automatic_options")
class ClassView:
    # What View.as_view returns (Flask's ``view`` function): calling it
    # with the URL's values makes the view (or reuses the one made by
    # as_view, with ``init_every_request = False``) and dispatches.
    __slots__ = ("view_class", "methods", "provide_automatic_options", "__name__", "_args",
                 "_kwargs", "_instance")

    def __init__(self, view_class, name, args, kwargs):
        self.view_class = view_class
        self.methods = view_class.methods
        self.provide_automatic_options = view_class.provide_automatic_options
        self.__name__ = name
        self._args = args
        self._kwargs = kwargs
        self._instance = None if view_class.init_every_request else view_class(*args, **kwargs)

    @property
    def __doc__(self):
        return self.view_class.__doc__

    def __call__(self, **kwargs):
        instance = self._instance
        if instance is None:
            instance = self.view_class(*self._args, **self._kwargs)
        return resolve(instance.dispatch_request(**kwargs))

    def __repr__(self):
        return f"<view {self.__name__!r} of {self.view_class.__name__}>"


@declared("methods provide_automatic_options decorators init_every_request dispatch_request "
          "as_view")
class View:
    """Flask's ``flask.views.View``: subclass it, implement
    ``dispatch_request``, register ``MyView.as_view("name")``."""

    #: The methods the view answers (``None``: ``GET``, as Flask's rule).
    methods = None
    #: Flask's automatic ``OPTIONS`` answer (``None``: when OPTIONS is not
    #: among the methods).
    provide_automatic_options = None
    #: Applied to the view function in turn, as Flask applies them (a
    #: tuple: a host class holds no list tenant code could append to).
    decorators = ()
    #: A new instance for every request (``False``: one, made by ``as_view``).
    init_every_request = True

    def dispatch_request(self, **kwargs):
        raise NotImplementedError()

    @classmethod
    def as_view(cls, name, *class_args, **class_kwargs):
        """The view function to register: Flask's ``View.as_view``."""
        view = ClassView(cls, safe_str_builtin(name), class_args, class_kwargs)
        if cls.decorators:
            decorated = view
            for decorator in cls.decorators:
                decorated = decorator(decorated)
            if decorated is not view:
                # What Flask sets on the decorated function — host code
                # writing, so only onto the tenant's own function: a
                # decorator returning a host object (the shared View class,
                # round 12) would have it rewritten for every tenant.
                if not is_tenant_function(decorated):
                    raise TypeError(f"{cls.__name__}.decorators: a decorator returned "
                                    f"{type(decorated).__name__!r}; a view decorator returns a "
                                    "function of this app's (functools.wraps)")
                decorated.view_class = cls
                decorated.__name__ = safe_str_builtin(name)
                decorated.__doc__ = cls.__doc__
                decorated.methods = cls.methods
                decorated.provide_automatic_options = cls.provide_automatic_options
            return decorated
        return view


@declared("dispatch_request")
class MethodView(View):
    """Flask's ``flask.views.MethodView``: one method of the class per HTTP
    method (``get``, ``post``...); ``methods`` is set from them."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "methods" not in cls.__dict__:
            methods = set()
            for base in cls.__bases__:
                if getattr(base, "methods", None):
                    methods.update(base.methods)
            for key in HTTP_METHOD_FUNCS:
                if hasattr(cls, key):
                    methods.add(key.upper())
            if methods:
                cls.methods = methods

    def dispatch_request(self, **kwargs):
        method = request.method
        meth = getattr(self, method.lower(), None)
        if meth is None and method == "HEAD":
            meth = getattr(self, "get", None)
        assert meth is not None, f"Unimplemented method {method!r}"
        return resolve(meth(**kwargs))


def views_module() -> dict:
    """The names of ``flask.views``."""
    return {"View": View, "MethodView": MethodView, "http_method_funcs": HTTP_METHOD_FUNCS}

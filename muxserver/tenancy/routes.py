"""Read a module's routes from its syntax tree, running none of its code.

Three forms, by the first that applies (SPEC "Tenants dir"):

1. Flask-style decorators on an object made by ``Flask(...)`` or
   ``Blueprint(...)`` at the top of this module, or imported from another
   module of the tenant (Flask's "larger applications" pattern: the app made
   in a package's ``__init__.py``, the routes in its ``views.py``):
   ``@app.route("/users/<int:id>", methods=["GET"], defaults={...})``,
   ``@app.get(rule)`` ... Rules, prefixes and defaults may be built from the
   module's own constants (``'/' + ROOT_PREFIX``, :mod:`.folding`).
2. Top-level functions named after HTTP methods: ``get``, ``post``, ``put``,
   ``patch``, ``delete``.
3. A top-level ``main``, for every method.

``async def`` functions are read like ``def`` ones. A route that cannot be
read without running code (a rule built at run time, ``add_url_rule``, a
decorator inside an ``if``, a route option this server does not implement)
raises :class:`SyntaxError` with its line, which the scanner reports as
``file:line: message``.
"""


from __future__ import annotations

import ast
from typing import NamedTuple

from werkzeug.routing import Map
from werkzeug.routing import PathConverter
from werkzeug.routing import Rule

from muxserver.tenancy.classviews import read_view_classes
from muxserver.tenancy.converters import AnyConverterName
from muxserver.tenancy.classviews import view_base
from muxserver.tenancy.folding import Constants
from muxserver.tenancy.folding import names_not_only_imported
from muxserver.tenancy.folding import shadowing_names

#: Bumped when the routes read from a file can change for the same source;
#: part of the code cache key, so a new reader never trusts an old reading.
READER_VERSION = 30

HTTP_METHODS = ("get", "post", "put", "patch", "delete")
ALL_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
#: A ``main`` serves OPTIONS too, as Fission's environment routes it.
MAIN_METHODS = ALL_METHODS + ("OPTIONS",)
_DECORATOR_METHODS = {"route": None, **{m: (m.upper(),) for m in HTTP_METHODS}}
_APP_FACTORIES = ("Flask", "Blueprint")


class Handler(NamedTuple):
    """One handler found in a module, independent of where the file lives.

    ``rule`` is ``None`` for forms 2 and 3 (the route is the file's path); for
    form 1 it is the decorator's rule, without the app's ``url_prefix``
    (the scanner adds the prefix, which may be given in another module).
    """

    kind: str  # "flask", "method" or "main"
    rule: str | None
    methods: tuple[str, ...]
    function: str
    line: int
    takes_request: bool
    #: ``((name, value), ...)``: the route's ``defaults=``.
    defaults: tuple = ()
    #: For form 1, the app it is declared on: ``(module, level, variable,
    #: url_prefix)``; module ``""`` at level 0 is this module, whose prefix is
    #: known here; an imported app's prefix is None (its module knows it).
    app: tuple | None = None
    #: The route's ``endpoint=``, when it names one (else the function's name).
    name: str | None = None
    #: ``add_url_rule(view_func=Cls.as_view(...))`` with ``Cls`` imported from
    #: another module of the tenant and no ``methods=``: ``(module, level,
    #: class)``, whose methods the scanner reads in that module's facts.
    view_class: tuple | None = None
    #: The route's ``strict_slashes=`` (None: the map's, True by default).
    strict_slashes: bool | None = None
    #: Which function object of the module the view is, for Flask's
    #: "overwriting an existing endpoint function": ``"def:LINE"`` for a
    #: function (the ``def`` that made it), ``"as_view:LINE"`` for the call
    #: that made a class view's function.
    view: str | None = None


def _error(node: ast.AST, message: str) -> SyntaxError:
    err = SyntaxError(message)
    err.lineno = getattr(node, "lineno", 1)
    return err


def _literal_str(node: ast.AST | None, what: str, consts: Constants | None = None) -> str:
    value = consts.string(node) if consts is not None else None
    if value is None and isinstance(node, ast.Constant) and isinstance(node.value, str):
        value = node.value
    if value is None:
        raise _error(node, f"{what} must be a string literal (or built from the module's "
                           "constants) to be read at deploy time")
    return value


def _factory_name(call: ast.AST) -> str | None:
    if not isinstance(call, ast.Call):
        return None
    func = call.func
    name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
    return name if name in _APP_FACTORIES else None


#: The parameters of ``Flask(...)`` and ``Blueprint(...)``, in Flask 3.1's order.
FACTORY_PARAMETERS = {
    "Flask": ("import_name", "static_url_path", "static_folder", "static_host",
              "host_matching", "subdomain_matching", "template_folder", "instance_path",
              "instance_relative_config", "root_path"),
    "Blueprint": ("name", "import_name", "static_folder", "static_url_path", "template_folder",
                  "url_prefix", "subdomain", "url_defaults", "root_path", "cli_group"),
}


def factory_arguments(call: ast.Call) -> dict[str, ast.AST]:
    """The arguments of a ``Flask(...)`` or ``Blueprint(...)`` call by
    parameter name, given by name or by position.

    :raises SyntaxError: for ``*args`` or ``**options``, which hide which
        parameters they give (a static folder, a url prefix): read as if
        not given, the app would be served otherwise than Flask makes it.
    """
    factory = _factory_name(call)
    if any(isinstance(a, ast.Starred) for a in call.args) or any(
            k.arg is None for k in call.keywords):
        raise _error(call, f"{factory}(*args) or {factory}(**options) cannot be read at "
                           "deploy time: the static folder, its url path and the url prefix "
                           "are read from the call as written; pass the arguments by name")
    given = dict(zip(FACTORY_PARAMETERS[factory], call.args))
    given.update((k.arg, k.value) for k in call.keywords)
    return given


def _app_objects(tree: ast.Module, consts: Constants | None = None) -> dict[str, str]:
    """Top-level names bound to Flask()/Blueprint() -> their url prefix."""
    consts = consts if consts is not None else Constants(tree.body)
    apps: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            value = node.value
            factory = _factory_name(value)
            if factory is None:
                continue
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            arguments = factory_arguments(value)
            for option, why in _UNREAD_BLUEPRINT_OPTIONS.items():
                if (factory == "Blueprint" and option in arguments
                        and consts.fold(arguments[option]) is not None):
                    raise _error(value, f"Blueprint(..., {option}=...) is not supported here: "
                                        f"{why}")
            given = arguments.get("url_prefix")
            prefix = ""
            if given is not None and not (isinstance(given, ast.Constant)
                                          and given.value is None):
                prefix = _literal_str(given, "url_prefix", consts).rstrip("/")
            for target in targets:
                if isinstance(target, ast.Name):
                    apps[target.id] = prefix
    return apps


#: ``Blueprint(...)`` options Flask applies to every route of the blueprint
#: and this server's routing does not follow -> why (given as None they
#: change nothing).
_UNREAD_BLUEPRINT_OPTIONS = {
    "subdomain": "routes are not matched by host name here (the site's host names are the "
                 "operator's [hosts])",
}


def read_defaults(node: ast.AST, consts: Constants, what: str) -> tuple:
    """``((name, value), ...)`` of a route's ``defaults=`` or a blueprint's
    ``url_defaults=``: a dict with string keys, literal or built from the
    module's constants (None: none).

    :raises SyntaxError: for one that cannot be read without running code.
    """
    value = consts.fold(node)
    if value is None:
        return ()
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise _error(node, f"{what} must be a literal dict with string keys to be read at "
                           "deploy time (a module's dict only if the module uses its name "
                           "nowhere else: there it may be changed)")
    return tuple(sorted(value.items()))


def blueprint_url_defaults(body: list[ast.stmt], consts: Constants) -> dict[str, list]:
    """Names bound to ``Blueprint(..., url_defaults={...})`` in ``body`` ->
    ``[[name, value], ...]``: Flask gives them to every route of the
    blueprint, under the route's own ``defaults=``.

    :raises SyntaxError: for ``url_defaults`` that cannot be read.
    """
    found = {}
    for node in body:
        if not (isinstance(node, (ast.Assign, ast.AnnAssign))
                and _factory_name(node.value) == "Blueprint"):
            continue
        given = factory_arguments(node.value).get("url_defaults")
        defaults = read_defaults(given, consts, "Blueprint(url_defaults=...)") if given else ()
        if defaults:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            found.update((t.id, [list(pair) for pair in defaults])
                         for t in targets if isinstance(t, ast.Name))
    return found


def check_rebinding(body: list[ast.stmt]) -> None:
    """Refuse a name bound to ``Flask(...)`` or ``Blueprint(...)`` again
    after the module used it (a route on it, its registration): Flask
    credits what came before to the first object, while routes are read by
    the name, as one object.

    :raises SyntaxError: at the second binding.
    """
    made: dict[str, bool] = {}  # name -> used since it was bound
    for node in body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and _factory_name(node.value):
            for sub in ast.walk(node.value):
                if isinstance(sub, ast.Name) and sub.id in made:
                    made[sub.id] = True
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    if made.get(target.id):
                        raise _error(node, f"{target.id} is bound to {_factory_name(node.value)}"
                                           "(...) again after the module used it: Flask keeps "
                                           "the routes declared before on the first object, "
                                           "this server reads routes by name; give the second "
                                           "one a name of its own")
                    made[target.id] = False
            continue
        for name in _module_scope_loads(node):
            if name in made:
                made[name] = True


def _module_scope_loads(node: ast.stmt):
    """The names ``node`` reads when the module (or function) it is in runs
    it: a ``def``'s decorators and defaults, not its body."""
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, ast.Name):
            yield current.id
        elif isinstance(current, _FUNCTIONS):
            stack.extend(current.decorator_list)
            args = current.args
            stack.extend(d for d in (*args.defaults, *args.kw_defaults) if d is not None)
        elif isinstance(current, ast.ClassDef):  # its body runs here too
            stack.extend((*current.decorator_list, *current.bases, *current.body))
        elif not isinstance(current, ast.Lambda):
            stack.extend(ast.iter_child_nodes(current))


def blueprint_names(body: list[ast.stmt], consts: Constants) -> dict[str, str]:
    """Names bound to ``Blueprint(...)`` in ``body`` -> the blueprint's
    name (its endpoints are ``name.view``, as Flask names them).

    :raises SyntaxError: for a name that cannot be read without running
        code, or that Flask refuses (empty, or with a dot).
    """
    names = {}
    for node in body:
        if not isinstance(node, (ast.Assign, ast.AnnAssign)):
            continue
        if _factory_name(node.value) != "Blueprint":
            continue
        call = node.value
        name_node = call.args[0] if call.args else next(
            (k.value for k in call.keywords if k.arg == "name"), None)
        name = _literal_str(name_node, "Blueprint name", consts)
        if not name:
            raise _error(call, "ValueError: 'name' may not be empty.")  # Flask's
        if "." in name:
            raise _error(call, "ValueError: 'name' may not contain a dot '.' character.")
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        names.update((t.id, name) for t in targets if isinstance(t, ast.Name))
    return names


def imported_names(tree: ast.Module) -> dict[str, tuple[str, int, str | None]]:
    """Import bindings anywhere in the module (an app factory imports its
    blueprints in its body): name -> ``(module, level, imported name)``.

    ``from a.b import c as d`` binds ``d`` to ``("a.b", 0, "c")``; ``import
    a.b`` binds ``a`` to ``("a", 0, None)``; ``import a.b as c`` binds ``c``
    to ``("a.b", 0, None)``.

    A name is left out when it may name something else: imported from two
    places, or bound by the module's own scope otherwise too (``join =
    ...``, ``for os in ...``, changed through ``global``, or imported before
    a ``from m import *``). A function binding it itself is the reader's to
    see (:func:`muxserver.tenancy.folding.shadowing_names`).
    """
    found, conflicting = {}, set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for name, origin in _import_bindings(node):
                if found.setdefault(name, origin) != origin:
                    conflicting.add(name)
    conflicting |= names_not_only_imported(tree.body)
    return {name: origin for name, origin in found.items() if name not in conflicting}


def _import_bindings(node: ast.Import | ast.ImportFrom):
    """``(name, origin)`` for each name an import statement binds."""
    if isinstance(node, ast.ImportFrom):
        for alias in node.names:
            yield alias.asname or alias.name, (node.module or "", node.level, alias.name)
        return
    for alias in node.names:
        if alias.asname:
            yield alias.asname, (alias.name, 0, None)
        else:
            top = alias.name.split(".")[0]
            yield top, (top, 0, None)


def object_origin(node: ast.AST, imports: dict,
                  shadowing: frozenset = frozenset()) -> tuple[str, int, str] | None:
    """Where the object an expression names comes from: ``(module, level,
    variable)`` for ``name`` imported with ``from m import name`` or for
    ``mod.sub.name`` with ``mod`` imported; None otherwise, and None when
    the expression's first name is in ``shadowing`` (names the function it
    is in binds itself: its own ``join``, not the module's import)."""
    chain = []
    while isinstance(node, ast.Attribute):
        chain.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name) or node.id not in imports or node.id in shadowing:
        return None
    module, level, name = imports[node.id]
    chain.reverse()
    path = [p for p in (module, name) if p] + chain
    if not chain and name is None:
        return None  # a module, not an object in one
    if len(path) < 2 and not level:
        return None
    return ".".join(path[:-1]), level, path[-1]


class _Reader:
    """What the decorators of one module (or of an app factory's body) name."""

    def __init__(self, tree: ast.Module, body: list[ast.stmt], consts: Constants,
                 factory: ast.AST | None = None):
        self.consts = consts
        self.local = _app_objects(ast.Module(body=body, type_ignores=[]), consts)
        self.imports = imported_names(tree)
        #: Names the app factory (``body``'s function) binds itself: not
        #: the module's imports of them.
        self.shadowing = shadowing_names(factory) if factory is not None else frozenset()
        #: Functions defined at the top of the module and in ``body``: the
        #: lines of their ``def``s.
        self.functions: dict[str, list[int]] = {}
        for node in (*tree.body, *body):
            if isinstance(node, _FUNCTIONS):
                self.functions.setdefault(node.name, []).append(node.lineno)
        #: View classes of the module (:mod:`.classviews`).
        self.view_classes = read_view_classes(tree.body, self.origin_of, consts)
        #: Names bound to ``Cls.as_view(...)`` at the top of the module or in ``body``.
        self.views = {}
        for node in (*tree.body, *body):
            if (isinstance(node, ast.Assign) and len(node.targets) == 1
                    and isinstance(node.targets[0], ast.Name) and isinstance(node.value, ast.Call)
                    and isinstance(node.value.func, ast.Attribute)
                    and node.value.func.attr == "as_view"):
                self.views[node.targets[0].id] = node.value

    def app_of(self, target: ast.AST) -> tuple | None:
        """``(module, level, variable, prefix)`` of a decorator's object."""
        if isinstance(target, ast.Name) and target.id in self.local:
            return ("", 0, target.id, self.local[target.id])
        origin = self.origin_of(target)
        if origin is not None:
            return (*origin, None)
        return None

    def route(self, deco: ast.expr):
        """``(rule, methods, defaults, app, name)`` for an app decorator (``name``:
        its ``endpoint=``, or None), None for other decorators."""
        if not isinstance(deco, ast.Call) or not isinstance(deco.func, ast.Attribute):
            return None
        target = deco.func.value
        verb = deco.func.attr
        if verb not in _DECORATOR_METHODS:
            return None
        app = self.app_of(target)
        if app is None:
            if not isinstance(target, ast.Name):
                return None
            raise _error(
                deco,
                f"@{target.id}.{verb}(...) is on an object not made by Flask(...) or "
                "Blueprint(...) at the top of the module (or imported from one of this "
                "tenant's modules), so its route cannot be read",
            )
        rule_node = deco.args[0] if deco.args else None
        for keyword in deco.keywords:
            if keyword.arg == "rule":
                rule_node = keyword.value
            elif keyword.arg == "methods" and verb != "route":
                raise _error(deco, f"@{ast.unparse(target)}.{verb} takes no methods=")
        methods, defaults, name, strict = self.options(deco.keywords)
        rule = _literal_str(rule_node, "route rule", self.consts)
        check_rule(rule, deco)
        return rule, methods or _DECORATOR_METHODS[verb] or ("GET",), defaults, app, name, strict

    def options(self, keywords: list[ast.keyword]):
        """``(methods, defaults, endpoint, strict_slashes)`` of a route's
        keywords (None where not given); refuses an option this server does
        not implement."""
        methods, defaults, name, strict = None, (), None, None
        for keyword in keywords:
            if keyword.arg == "endpoint":
                if not (isinstance(keyword.value, ast.Constant) and keyword.value.value is None):
                    name = _literal_str(keyword.value, "endpoint=", self.consts)
            elif keyword.arg == "methods":
                value = self.consts.fold(keyword.value)
                if not isinstance(value, (list, tuple, set)) or not all(isinstance(m, str) for m in value):
                    raise _error(keyword.value, "methods= must be a literal list of strings")
                methods = tuple(m.upper() for m in (sorted(value) if isinstance(value, set)
                                                    else value))
            elif keyword.arg == "defaults":
                defaults = read_defaults(keyword.value, self.consts, "defaults=")
            elif keyword.arg == "strict_slashes":
                strict = self.consts.fold(keyword.value)
                if strict is not None and type(strict) is not bool:
                    raise _error(keyword.value, "strict_slashes= must be True, False or None "
                                                "(or a constant of the module) to be read at "
                                                "deploy time")
            elif keyword.arg in _UNSUPPORTED_OPTIONS:
                raise _error(keyword, f"route option {keyword.arg}= is not supported here")
            elif keyword.arg is None:
                raise _error(keyword, "route options passed as **options cannot be read at "
                                      "deploy time")
        return methods, defaults, name, strict

    # -- add_url_rule ---------------------------------------------------------------------

    def url_rule(self, call: ast.Call) -> Handler | None:
        """The route of ``app.add_url_rule(rule, endpoint, view_func, ...)``
        (kind ``"alias"`` without a ``view_func``: a rule ``url_for`` builds
        for ``endpoint``, as the Flask tutorial's ``add_url_rule("/",
        endpoint="index")``); None for a call on an object that is not an app."""
        target = call.func.value
        app = self.app_of(target)
        if app is None:
            if isinstance(target, ast.Name):
                raise _error(call, f"{target.id}.add_url_rule(...) is on an object not made by "
                                   "Flask(...) or Blueprint(...) at the top of the module (or "
                                   "imported from one of this tenant's modules), so its route "
                                   "cannot be read")
            return None
        if any(isinstance(a, ast.Starred) for a in call.args):
            raise _error(call, "add_url_rule(*args) cannot be read at deploy time")
        given = dict(zip(("rule", "endpoint", "view_func", "provide_automatic_options"),
                         call.args))
        for keyword in call.keywords:
            if keyword.arg in ("rule", "endpoint", "view_func", "provide_automatic_options"):
                given[keyword.arg] = keyword.value
        view_node = given.get("view_func")
        if view_node is None or (isinstance(view_node, ast.Constant) and view_node.value is None):
            return self._alias(call, given)
        methods, defaults, _, strict = self.options(
            [k for k in call.keywords if k.arg not in ("endpoint", "view_func", "rule",
                                                       "provide_automatic_options")])
        rule = _literal_str(given.get("rule"), "add_url_rule() rule", self.consts)
        check_rule(rule, call)
        endpoint_node = given.get("endpoint")
        endpoint = None
        if endpoint_node is not None and not (isinstance(endpoint_node, ast.Constant)
                                              and endpoint_node.value is None):
            endpoint = _literal_str(endpoint_node, "add_url_rule() endpoint", self.consts)
        own_name, view_methods, view_class, view = self.view_of(view_node, call.lineno)
        if methods is None:
            methods = tuple(view_methods) if view_methods else ("GET",)
        else:
            view_class = None  # methods= decides, as in Flask
        endpoint = endpoint or own_name
        return Handler("flask", rule, methods, endpoint, call.lineno, False, defaults, app,
                       endpoint, view_class, strict, view)

    def _alias(self, call: ast.Call, given: dict) -> Handler:
        """``add_url_rule(rule, endpoint)`` with no view: Flask adds the rule
        to its map under ``endpoint`` (``url_for`` builds it; a request it
        matches first finds no view)."""
        endpoint_node = given.get("endpoint")
        if endpoint_node is None or (isinstance(endpoint_node, ast.Constant)
                                     and endpoint_node.value is None):
            raise _error(call, "add_url_rule() without view_func needs endpoint= (Flask: "
                               "'expected view func if endpoint is not provided.')")
        endpoint = _literal_str(endpoint_node, "add_url_rule() endpoint", self.consts)
        methods, defaults, _, strict = self.options(
            [k for k in call.keywords if k.arg not in ("endpoint", "view_func", "rule",
                                                       "provide_automatic_options")])
        rule = _literal_str(given.get("rule"), "add_url_rule() rule", self.consts)
        check_rule(rule, call)
        return Handler("alias", rule, methods or ("GET",), "", call.lineno, False, defaults,
                       self.app_of(call.func.value), endpoint, None, strict, None)

    def view_of(self, node: ast.AST, line: int, seen=()) -> tuple:
        """``(name, methods, imported class, view)`` of a ``view_func=`` on
        ``line``: a function of this module (its name; methods from the
        route), ``Cls.as_view("name")`` of a view class read here (its
        methods) or imported from a module of the tenant (``(module, level,
        class)``, read by the scanner), or a top-level name bound to one of
        those; ``view`` as :attr:`Handler.view` says."""
        if isinstance(node, ast.Name):
            if node.id in self.functions:
                # The def the name is bound to there: the last one above.
                lines = self.functions[node.id]
                made = max((n for n in lines if n < line), default=lines[-1])
                return node.id, None, None, f"def:{made}"
            bound = self.views.get(node.id)
            if bound is not None and node.id not in seen:
                return self.view_of(bound, line, (*seen, node.id))
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "as_view"):
            name_node = node.args[0] if node.args else next(
                (k.value for k in node.keywords if k.arg == "name"), None)
            name = _literal_str(name_node, "as_view() name", self.consts)
            cls = node.func.value
            view = f"as_view:{node.lineno}"  # each call makes a new function
            if isinstance(cls, ast.Name) and cls.id in self.view_classes:
                verdict, value = self.view_classes[cls.id]
                if verdict == "error":
                    raise _error(node, value)
                return name, value, None, view
            if view_base(cls, self.origin_of) is not None:
                return name, None, None, view  # View.as_view itself
            origin = self.origin_of(cls)
            if origin is not None and not origin[0].startswith(("flask", "mux")):
                return name, None, list(origin), view
            raise _error(node, f"{ast.unparse(cls)} is not a View or MethodView subclass "
                               "defined at the top of this module (or imported from one of this "
                               "tenant's modules), so the methods of its route cannot be read")
        raise _error(node, "add_url_rule(view_func=...) must name a function defined at the top "
                           "of this module or be Cls.as_view(\"name\") (or a name bound to one) "
                           "to be read at deploy time")

    def origin_of(self, node: ast.AST):
        return object_origin(node, self.imports, self.shadowing)


#: Route options that change what a URL matches, which this server does not
#: implement: refused rather than silently ignored.
_UNSUPPORTED_OPTIONS = frozenset(["subdomain", "host", "redirect_to",
                                  "merge_slashes", "build_only", "websocket", "alias"])


_scratch_map = Map()
# A tenant's own converters are registered in any of its modules: a rule
# naming one is checked again once all are read (the scanner's
# _converter_rule_errors, with host_converter).
_scratch_map.converters = AnyConverterName(_scratch_map.converters)


def check_rule(rule: str, node: ast.AST) -> None:
    """Raise SyntaxError for a rule werkzeug would reject (a converter it
    does not know is checked later, with the tenant's)."""
    if not rule.startswith("/"):
        raise _error(node, f"route rule {rule!r} must start with '/'")
    if "<" in rule:
        parsed = Rule(rule)
        try:
            parsed.bind(_scratch_map)
        except Exception as exc:  # werkzeug raises ValueError/LookupError
            raise _error(node, f"route rule {rule!r} is not valid: {exc}") from None
        paths = sum(isinstance(c, PathConverter) for c in parsed._converters.values())
        if paths > 1:
            # werkzeug matches them with one regular expression whose lazy
            # parts backtrack polynomially: a 400-byte path held the serving
            # process, every tenant's, for seconds (round 14).
            raise _error(node, f"route rule {rule!r} has {paths} path converters; one rule may "
                               "have one here (the others' slashes make matching cost grow as "
                               "a power of the URL's length)")


def _takes_request(func: ast.FunctionDef) -> bool:
    args = func.args
    return bool(args.posonlyargs or args.args or args.vararg)


#: App factories Flask's discovery calls (``flask run``).
FACTORY_NAMES = ("create_app", "make_app")
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)


def _decorated(reader: _Reader, node) -> list[Handler]:
    found = []
    for deco in node.decorator_list:
        route = reader.route(deco)
        if route is not None:
            rule, methods, defaults, app, name, strict = route
            found.append(Handler("flask", rule, methods, node.name, node.lineno, False,
                                 defaults, app, name, None, strict, f"def:{node.lineno}"))
    return found


def _url_rules(reader: _Reader, body: list[ast.stmt], read: set) -> list[Handler]:
    """The routes of the ``add_url_rule`` statements of ``body``."""
    found = []
    for node in body:
        if (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
                and isinstance(node.value.func, ast.Attribute)
                and node.value.func.attr == "add_url_rule"):
            read.add(id(node.value))
            handler = reader.url_rule(node.value)
            if handler is not None:
                found.append(handler)
    return found


def find_handlers(tree: ast.Module) -> list[Handler]:
    """The handlers of one module, in source order.

    :raises SyntaxError: with ``lineno`` when a route cannot be read.
    """
    consts = Constants(tree.body)
    check_rebinding(tree.body)
    reader = _Reader(tree, tree.body, consts)
    top_level = set()
    read_calls: set = set()
    found: list[Handler] = []
    for node in tree.body:
        if isinstance(node, _FUNCTIONS):
            top_level.add(id(node))
            found.extend(_decorated(reader, node))
            if node.name in FACTORY_NAMES:
                # Routes declared inside an app factory, on the app it makes
                # (the Flask tutorial's /hello).
                check_rebinding(node.body)
                inner = _Reader(tree, node.body, consts, node)
                for child in node.body:
                    if isinstance(child, _FUNCTIONS):
                        top_level.add(id(child))
                        found.extend(_decorated(inner, child))
                found.extend(_url_rules(inner, node.body, read_calls))
    found.extend(_url_rules(reader, tree.body, read_calls))
    # Route decorators anywhere else (inside if/def/class) would only exist
    # at run time; say so rather than silently not routing them.
    for node in ast.walk(tree):
        if isinstance(node, _FUNCTIONS) and id(node) not in top_level:
            for deco in node.decorator_list:
                if (
                    isinstance(deco, ast.Call)
                    and isinstance(deco.func, ast.Attribute)
                    and deco.func.attr in _DECORATOR_METHODS
                    and reader.app_of(deco.func.value) is not None
                ):
                    raise _error(deco, "routes must be defined at the top level of the module")
        elif (isinstance(node, ast.Call) and id(node) not in read_calls
              and isinstance(node.func, ast.Attribute) and node.func.attr == "add_url_rule"
              and _has_view(node)):
            raise _error(node, "add_url_rule() with a view_func must be called at the top "
                               "level of the module (or of create_app) with a literal rule "
                               "to be read at deploy time")
    if found:
        return found
    functions = {node.name: node for node in tree.body if isinstance(node, _FUNCTIONS)}
    for method in HTTP_METHODS:
        if method in functions:
            node = functions[method]
            found.append(
                Handler("method", None, (method.upper(),), method, node.lineno, _takes_request(node))
            )
    if found:
        return found
    if "main" in functions:
        node = functions["main"]
        return [Handler("main", None, MAIN_METHODS, "main", node.lineno, _takes_request(node))]
    return []  # a helper module


def _has_view(call: ast.Call) -> bool:
    view = call.args[2] if len(call.args) > 2 else next(
        (k.value for k in call.keywords if k.arg == "view_func"), None)
    return view is not None and not (isinstance(view, ast.Constant) and view.value is None)


def file_rule(endpoint: str) -> str:
    """The URL rule of a module's own path: ``api/index`` -> ``/api/``."""
    if endpoint == "index":
        return "/"
    if endpoint.endswith("/index"):
        return "/" + endpoint[: -len("index")]
    return "/" + endpoint

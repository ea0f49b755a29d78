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
from werkzeug.routing import Rule

from muxserver.tenancy.folding import Constants

#: Bumped when the routes read from a file can change for the same source;
#: part of the code cache key, so a new reader never trusts an old reading.
READER_VERSION = 14

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
            prefix = ""
            for keyword in value.keywords:
                if keyword.arg == "url_prefix" and not (
                        isinstance(keyword.value, ast.Constant) and keyword.value.value is None):
                    prefix = _literal_str(keyword.value, "url_prefix", consts).rstrip("/")
            for target in targets:
                if isinstance(target, ast.Name):
                    apps[target.id] = prefix
    return apps


def imported_names(tree: ast.Module) -> dict[str, tuple[str, int, str | None]]:
    """Import bindings anywhere in the module (an app factory imports its
    blueprints in its body): name -> ``(module, level, imported name)``.

    ``from a.b import c as d`` binds ``d`` to ``("a.b", 0, "c")``; ``import
    a.b`` binds ``a`` to ``("a", 0, None)``; ``import a.b as c`` binds ``c``
    to ``("a.b", 0, None)``.
    """
    found = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                found[alias.asname or alias.name] = (node.module or "", node.level, alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    found[alias.asname] = (alias.name, 0, None)
                else:
                    top = alias.name.split(".")[0]
                    found[top] = (top, 0, None)
    return found


def object_origin(node: ast.AST, imports: dict) -> tuple[str, int, str] | None:
    """Where the object an expression names comes from: ``(module, level,
    variable)`` for ``name`` imported with ``from m import name`` or for
    ``mod.sub.name`` with ``mod`` imported; None otherwise."""
    chain = []
    while isinstance(node, ast.Attribute):
        chain.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name) or node.id not in imports:
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

    def __init__(self, tree: ast.Module, body: list[ast.stmt], consts: Constants):
        self.consts = consts
        self.local = _app_objects(ast.Module(body=body, type_ignores=[]), consts)
        self.imports = imported_names(tree)

    def app_of(self, target: ast.AST) -> tuple | None:
        """``(module, level, variable, prefix)`` of a decorator's object."""
        if isinstance(target, ast.Name) and target.id in self.local:
            return ("", 0, target.id, self.local[target.id])
        origin = object_origin(target, self.imports)
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
        methods = _DECORATOR_METHODS[verb]
        defaults = ()
        name = None
        for keyword in deco.keywords:
            if keyword.arg == "rule":
                rule_node = keyword.value
            elif keyword.arg == "endpoint":
                name = _literal_str(keyword.value, "endpoint=", self.consts)
            elif keyword.arg == "methods":
                if verb != "route":
                    raise _error(deco, f"@{ast.unparse(target)}.{verb} takes no methods=")
                value = self.consts.fold(keyword.value)
                if not isinstance(value, (list, tuple)) or not all(isinstance(m, str) for m in value):
                    raise _error(keyword.value, "methods= must be a literal list of strings")
                methods = tuple(m.upper() for m in (sorted(value) if isinstance(value, set)
                                                    else value))
            elif keyword.arg == "defaults":
                value = self.consts.fold(keyword.value)
                if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
                    raise _error(keyword.value, "defaults= must be a literal dict with string "
                                                "keys to be read at deploy time")
                defaults = tuple(sorted(value.items()))
            elif keyword.arg in _UNSUPPORTED_OPTIONS:
                raise _error(keyword, f"route option {keyword.arg}= is not supported here")
        rule = _literal_str(rule_node, "route rule", self.consts)
        check_rule(rule, deco)
        return rule, methods or ("GET",), defaults, app, name


#: Route options that change what a URL matches, which this server does not
#: implement: refused rather than silently ignored.
_UNSUPPORTED_OPTIONS = frozenset(["strict_slashes", "subdomain", "host", "redirect_to",
                                  "merge_slashes", "build_only", "websocket", "alias"])


_scratch_map = Map()


def check_rule(rule: str, node: ast.AST) -> None:
    """Raise SyntaxError for a rule werkzeug would reject."""
    if not rule.startswith("/"):
        raise _error(node, f"route rule {rule!r} must start with '/'")
    if "<" in rule:
        try:
            Rule(rule).bind(_scratch_map)
        except Exception as exc:  # werkzeug raises ValueError/LookupError
            raise _error(node, f"route rule {rule!r} is not valid: {exc}") from None


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
            rule, methods, defaults, app, name = route
            found.append(Handler("flask", rule, methods, node.name, node.lineno, False,
                                 defaults, app, name))
    return found


def find_handlers(tree: ast.Module) -> list[Handler]:
    """The handlers of one module, in source order.

    :raises SyntaxError: with ``lineno`` when a route cannot be read.
    """
    consts = Constants(tree.body)
    reader = _Reader(tree, tree.body, consts)
    top_level = set()
    found: list[Handler] = []
    for node in tree.body:
        if isinstance(node, _FUNCTIONS):
            top_level.add(id(node))
            found.extend(_decorated(reader, node))
            if node.name in FACTORY_NAMES:
                # Routes declared inside an app factory, on the app it makes
                # (the Flask tutorial's /hello).
                inner = _Reader(tree, node.body, consts)
                for child in node.body:
                    if isinstance(child, _FUNCTIONS):
                        top_level.add(id(child))
                        found.extend(_decorated(inner, child))
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            func = node.value.func
            if isinstance(func, ast.Attribute) and func.attr == "add_url_rule":
                raise _error(node, "add_url_rule() routes cannot be read; use @app.route")
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


def file_rule(endpoint: str) -> str:
    """The URL rule of a module's own path: ``api/index`` -> ``/api/``."""
    if endpoint == "index":
        return "/"
    if endpoint.endswith("/index"):
        return "/" + endpoint[: -len("index")]
    return "/" + endpoint

"""Read a module's routes from its syntax tree, running none of its code.

Three forms, by the first that applies (SPEC "Tenants dir"):

1. Flask-style decorators on a top-level object made by ``Flask(...)`` or
   ``Blueprint(...)``: ``@app.route("/users/<int:id>", methods=["GET"])``,
   ``@app.get(rule)`` ... A Blueprint's literal ``url_prefix`` is applied.
2. Top-level functions named after HTTP methods: ``get``, ``post``, ``put``,
   ``patch``, ``delete``.
3. A top-level ``main``, for every method.

A route that cannot be read without running code (a rule built at run time,
``add_url_rule``, a decorator inside an ``if``) raises :class:`SyntaxError`
with its line, which the scanner reports as ``file:line: message``.
"""


from __future__ import annotations

import ast
from typing import NamedTuple

from werkzeug.routing import Map
from werkzeug.routing import Rule

#: Bumped when the routes read from a file can change for the same source;
#: part of the code cache key, so a new reader never trusts an old reading.
READER_VERSION = 9

HTTP_METHODS = ("get", "post", "put", "patch", "delete")
ALL_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
#: A ``main`` serves OPTIONS too, as Fission's environment routes it.
MAIN_METHODS = ALL_METHODS + ("OPTIONS",)
_DECORATOR_METHODS = {"route": None, **{m: (m.upper(),) for m in HTTP_METHODS}}
_APP_FACTORIES = ("Flask", "Blueprint")


class Handler(NamedTuple):
    """One handler found in a module, independent of where the file lives.

    ``rule`` is ``None`` for forms 2 and 3 (the route is the file's path).
    """

    kind: str  # "flask", "method" or "main"
    rule: str | None
    methods: tuple[str, ...]
    function: str
    line: int
    takes_request: bool


def _error(node: ast.AST, message: str) -> SyntaxError:
    err = SyntaxError(message)
    err.lineno = getattr(node, "lineno", 1)
    return err


def _literal_str(node: ast.AST | None, what: str) -> str:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    raise _error(node, f"{what} must be a string literal to be read at deploy time")


def _factory_name(call: ast.AST) -> str | None:
    if not isinstance(call, ast.Call):
        return None
    func = call.func
    name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
    return name if name in _APP_FACTORIES else None


def _app_objects(tree: ast.Module) -> dict[str, str]:
    """Top-level names bound to Flask()/Blueprint() -> their url prefix."""
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
                if keyword.arg == "url_prefix":
                    prefix = _literal_str(keyword.value, "url_prefix").rstrip("/")
            for target in targets:
                if isinstance(target, ast.Name):
                    apps[target.id] = prefix
    return apps


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


def _route_from_decorator(deco: ast.expr, apps: dict[str, str]):
    """(rule, methods) for an app decorator, None for other decorators."""
    if not isinstance(deco, ast.Call) or not isinstance(deco.func, ast.Attribute):
        return None
    target = deco.func.value
    verb = deco.func.attr
    if verb not in _DECORATOR_METHODS or not isinstance(target, ast.Name):
        return None
    if target.id not in apps:
        raise _error(
            deco,
            f"@{target.id}.{verb}(...) is on an object not made by Flask(...) or "
            "Blueprint(...) at the top of the module, so its route cannot be read",
        )
    rule_node = deco.args[0] if deco.args else None
    methods = _DECORATOR_METHODS[verb]
    for keyword in deco.keywords:
        if keyword.arg == "rule":
            rule_node = keyword.value
        elif keyword.arg == "methods":
            if verb != "route":
                raise _error(deco, f"@{target.id}.{verb} takes no methods=")
            if not isinstance(keyword.value, (ast.List, ast.Tuple, ast.Set)):
                raise _error(keyword.value, "methods= must be a literal list of strings")
            methods = tuple(
                _literal_str(elt, "each method").upper() for elt in keyword.value.elts
            )
    rule = _literal_str(rule_node, "route rule")
    check_rule(rule, deco)
    full = apps[target.id] + rule if apps[target.id] else rule
    return full, methods or ("GET",)


def _takes_request(func: ast.FunctionDef) -> bool:
    args = func.args
    return bool(args.posonlyargs or args.args or args.vararg)


#: App factories Flask's discovery calls (``flask run``).
FACTORY_NAMES = ("create_app", "make_app")


def _factory_routes(factory: ast.FunctionDef) -> list[Handler]:
    """Routes declared inside an app factory, on the app it makes:
    ``app = Flask(...)`` then ``@app.route(...)`` on a function defined in
    the factory's own body (as the Flask tutorial's ``/hello``)."""
    local = _app_objects(ast.Module(body=factory.body, type_ignores=[]))
    found = []
    for node in factory.body:
        if isinstance(node, ast.FunctionDef):
            for deco in node.decorator_list:
                route = _route_from_decorator(deco, local)
                if route is not None:
                    found.append(Handler("flask", route[0], route[1], node.name, node.lineno, False))
    return found


def find_handlers(tree: ast.Module) -> list[Handler]:
    """The handlers of one module, in source order.

    :raises SyntaxError: with ``lineno`` when a route cannot be read.
    """
    apps = _app_objects(tree)
    top_level = set()
    found: list[Handler] = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            top_level.add(id(node))
            for deco in node.decorator_list:
                route = _route_from_decorator(deco, apps)
                if route is not None:
                    rule, methods = route
                    found.append(
                        Handler("flask", rule, methods, node.name, node.lineno, False)
                    )
            if node.name in FACTORY_NAMES:
                found.extend(_factory_routes(node))
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            func = node.value.func
            if isinstance(func, ast.Attribute) and func.attr == "add_url_rule":
                raise _error(node, "add_url_rule() routes cannot be read; use @app.route")
    # Route decorators anywhere else (inside if/def/class) would only exist
    # at run time; say so rather than silently not routing them.
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and id(node) not in top_level:
            for deco in node.decorator_list:
                if (
                    isinstance(deco, ast.Call)
                    and isinstance(deco.func, ast.Attribute)
                    and isinstance(deco.func.value, ast.Name)
                    and deco.func.value.id in apps
                    and deco.func.attr in _DECORATOR_METHODS
                ):
                    raise _error(deco, "routes must be defined at the top level of the module")
    if found:
        return found
    functions = {
        node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)
    }
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

"""What registration reads from one module's syntax tree, running none of it.

:func:`read_module` gives the facts the scanner and the loader need, kept in
the code cache beside the compiled code (so an unchanged file is not read
again): its handlers (:mod:`muxserver.tenancy.routes`), what it imports, the
names it uses but never defines (pyflakes), the ``Flask``/``Blueprint``
objects it makes and where it mounts blueprints, whether it makes a
``Flask`` app, and which status codes its error handlers cover.
"""

from __future__ import annotations

import ast
import posixpath

from pyflakes import checker as pyflakes_checker
from pyflakes import messages as pyflakes_messages
from sandbox.guards.builtins import builtin_names

from muxserver.tenancy.classviews import read_view_classes
from muxserver.tenancy.converters import read_converter_classes
from muxserver.tenancy.converters import read_converter_registrations
from muxserver.tenancy.folding import Constants
from muxserver.tenancy.folding import function_binders
from muxserver.tenancy.folding import module_binders
from muxserver.tenancy.folding import shadowing_names
from muxserver.tenancy.folders import NOT_READ
from muxserver.tenancy.folders import READ_FORMS
from muxserver.tenancy.folders import FolderReader
from muxserver.tenancy.folders import enclosing_functions
from muxserver.tenancy.app_names import APP_NAMES
from muxserver.tenancy.app_names import FLASK_APP_NAMES
from muxserver.tenancy.app_names import PROXY_FIX_MAX_NESTING as MAX_NESTING
from muxserver.tenancy.app_names import PROXY_FIX_MAX_TRUSTED as MAX_TRUSTED
from muxserver.tenancy.request_names import REQUEST_NAMES
from muxserver.tenancy.routes import FACTORY_NAMES
from muxserver.tenancy.routes import _app_objects
from muxserver.tenancy.routes import _error
from muxserver.tenancy.routes import _factory_name
from muxserver.tenancy.routes import blueprint_names
from muxserver.tenancy.routes import blueprint_url_defaults
from muxserver.tenancy.routes import read_defaults
from muxserver.tenancy.routes import factory_arguments
from muxserver.tenancy.routes import find_handlers
from muxserver.tenancy.routes import _import_bindings
from muxserver.tenancy.routes import imported_names
from muxserver.tenancy.routes import object_origin

#: Names the sandbox gives every module besides Python's builtins.
MODULE_GLOBALS = frozenset(["__file__", "__name__", "__package__"])


def read_module(tree: ast.Module) -> dict:
    """The facts of one module (JSON-friendly, stored in the code cache).

    :raises SyntaxError: with ``lineno`` when a route cannot be read.
    """
    consts = Constants(tree.body)
    imports = imported_names(tree)
    folders = FolderReader(tree, imports)
    blueprint_statics, app_statics = check_static_options(tree, consts, folders)
    return {
        "blueprint_statics": blueprint_statics,
        "app_statics": app_statics,
        "template_folders": read_template_folders(tree, folders),
        "strict_slashes": map_strict_slashes(tree, consts),
        "converter_classes": read_converter_classes(
            tree.body, lambda node: object_origin(node, imports), consts),
        "converters": converter_registrations(tree, consts, imports),
        "handlers": [list(h) for h in find_handlers(tree)],
        "view_classes": read_view_classes(tree.body, lambda node: object_origin(node, imports),
                                          consts),
        "app_objects": _app_objects(tree, consts),
        "blueprint_names": blueprint_names(_top_and_factory_body(tree), consts),
        "blueprint_url_defaults": blueprint_url_defaults(_top_and_factory_body(tree), consts),
        "blueprint_prefixes": _blueprint_registrations(tree, consts),
        "imports": read_imports(tree),
        "module_attrs": module_attribute_reads(tree),
        "undefined": undefined_names(tree),
        "makes_app": _makes_app(tree),
        "app_factory": _app_factory(tree),
        "error_codes": _error_codes(tree),
        "sqlite_paths": sqlite_paths(tree, consts),
        "unusable_paths": unusable_paths(tree, consts),
    }


#: Handlers whose ``except`` takes what opening a refused path raises.
_OS_ERRORS = frozenset(["OSError", "IOError", "EnvironmentError", "PermissionError",
                        "FileNotFoundError", "Exception", "BaseException"])


def unusable_paths(tree: ast.Module, consts: Constants) -> list[list]:
    """``[message, line]`` for each ``open(path)`` whose path (a literal or a
    module constant) no request can open here — outside ``/app`` and
    ``/data`` (OpenFaaS reads ``/var/openfaas/secrets/...``, Fission
    ``/secrets/...``), or written under ``/app``, which is read-only — and
    that no ``try`` catching ``OSError`` surrounds: it raises
    ``PermissionError`` every time it runs, so it is refused at deploy."""
    found = []

    def visit(node, guarded):
        if isinstance(node, ast.Try):
            catches = any(h.type is None or _names_os_error(h.type) for h in node.handlers)
            for child in node.body:
                visit(child, guarded or catches)
            for child in [*node.handlers, *node.orelse, *node.finalbody]:
                visit(child, guarded)
            return
        if isinstance(node, ast.Call) and not guarded:
            message = _open_problem(node, consts)
            if message is not None:
                found.append([message, node.lineno])
        for child in ast.iter_child_nodes(node):
            visit(child, guarded)

    visit(tree, False)
    return found


def _names_os_error(node) -> bool:
    names = node.elts if isinstance(node, ast.Tuple) else [node]
    return any(isinstance(n, ast.Name) and n.id in _OS_ERRORS for n in names)


def _open_problem(call: ast.Call, consts: Constants) -> str | None:
    if not (isinstance(call.func, ast.Name) and call.func.id == "open"):
        return None
    keywords = {k.arg: k.value for k in call.keywords if k.arg}
    path = consts.string(call.args[0] if call.args else keywords.get("file"))
    if path is None:
        return None
    mode = consts.string(call.args[1] if len(call.args) > 1 else keywords.get("mode")) or "r"
    full = posixpath.normpath(path if path.startswith("/") else "/app/" + path)
    inside = lambda root: full == root or full.startswith(root + "/")  # noqa: E731
    if not (inside("/app") or inside("/data")):
        return (f"open({path!r}) is outside this tenant's files (it sees its folder as /app, "
                "and /data): it raises PermissionError whenever it runs; a platform's mounted "
                "secrets are [env] values of tenant.toml here (os.environ)")
    if inside("/app") and any(c in mode for c in "wax+"):
        return (f"open({path!r}, {mode!r}) writes under /app, the tenant's code, which is "
                "read-only here: write under /data")
    return None


def check_static_options(tree: ast.Module, consts: Constants,
                         folders: FolderReader) -> tuple[dict, list]:
    """Read the ``static_folder``/``static_url_path`` of each ``Flask(...)``
    and ``Blueprint(...)`` call, refusing what this server would not follow
    as Flask does.

    A folder is read into a recipe (:mod:`muxserver.tenancy.folders`: a
    literal, or computed from ``__file__`` and ``os.path``); the scanner
    computes it for the module's file and checks that it is inside the
    tenant. An app's folder may also be None (no static route); a url path
    is a literal that is empty (the site root) or starts with ``/``. A
    blueprint's static folder is served when the blueprint is made at the
    top of its module. Refused: a folder the reader does not read, a url
    path that is not a literal, ``static_host`` and ``host_matching``, and
    ``root_path=`` beside a static folder.

    :return: ``(blueprint statics, app statics)``: blueprint variable ->
        ``[folder, static_url_path or None, line, source]`` for each
        top-level ``bp = Blueprint(..., static_folder=...)``; ``[folder or
        None, static_url_path or None, line, source]`` for each
        ``Flask(...)`` call, in the order of the source (``source``: the
        folder's expression as written, None for Flask's default).
    :raises SyntaxError: with the call's line.
    """
    found, served, apps = {}, set(), []
    made = set(_app_objects(tree, consts)) | {"app", "current_app"}
    for node in tree.body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and _factory_name(node.value) == "Blueprint":
            static = blueprint_static(node.value, consts, folders)
            targets = [t for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
                       if isinstance(t, ast.Name)]
            if static is not None and targets:
                found.update((t.id, static) for t in targets)
                served.add(id(node.value))
    for node, functions in enclosing_functions(tree):
        factory = _factory_name(node) if isinstance(node, ast.Call) else None
        if factory == "Flask":
            apps.append(_app_static(node, consts, folders, functions))
        elif factory == "Blueprint" and id(node) not in served:
            given = factory_arguments(node)
            for name in ("static_folder", "static_url_path"):
                if name in given and consts.fold(given[name]) is not None:
                    raise _error(node, f"Blueprint({name}={ast.unparse(given[name])}) is not "
                                       "offered here: a blueprint's static_folder is served "
                                       "when the blueprint is made at the top of its module "
                                       "(bp = Blueprint(...)), at its static_url_path (a "
                                       "literal starting with /); move it there or run Flask "
                                       'itself with runtime = "process"')
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if (isinstance(target, ast.Attribute) and target.attr in _STATIC_OPTIONS
                        and _names_an_app(target.value, made)):
                    raise _error(node, f"setting {ast.unparse(target)} is not offered here: "
                                       "the static route is made at deploy from Flask(...)'s "
                                       f"arguments; give {target.attr}= there")
    apps.sort(key=lambda options: options[2])
    return found, apps


#: The options of an app's static route, read from ``Flask(...)`` only.
_STATIC_OPTIONS = frozenset(["static_folder", "static_url_path"])


def _read_folder(call: ast.Call, factory: str, name: str, node: ast.AST,
                 folders: FolderReader, functions: tuple = ()):
    """The recipe of a folder argument, refused with the call's line when
    the reader does not read it."""
    recipe = folders.read(node, functions)
    if recipe is NOT_READ:
        raise _error(call, f"{factory}({name}={ast.unparse(node)}) is not offered here: the "
                           "server reads the folder at deploy, running no code, from "
                           f"{READ_FORMS}; compute it so, or run Flask itself with "
                           'runtime = "process"')
    return recipe


def _app_static(call: ast.Call, consts: Constants, folders: FolderReader,
                functions: tuple) -> list:
    """``[folder or None, static_url_path or None, line, source]`` of one
    ``Flask(...)`` call: the folder's recipe (``"static"`` when not
    given), the url path without its trailing slash (None: Flask's
    default, ``/`` and the folder's last name)."""
    given = factory_arguments(call)

    def refuse(name, why):
        return _error(call, f"Flask({name}={ast.unparse(given[name])}) is not offered here: "
                            f"{why}; run Flask itself with runtime = \"process\"")

    for name in ("static_host", "host_matching"):
        if name in given and consts.fold(given[name]) not in (None, False):
            raise refuse(name, "routing by host is not; the site's host names are the "
                               "operator's [hosts]")
    if "static_folder" in given:
        folder = _read_folder(call, "Flask", "static_folder", given["static_folder"], folders,
                              functions)
        source = ast.unparse(given["static_folder"])
    else:
        folder, source = "static", None
    url = consts.fold(given["static_url_path"]) if "static_url_path" in given else None
    if url is not None and type(url) is not str:
        raise refuse("static_url_path", "the url path must be a literal the server reads at "
                                        "deploy ('' or starting with /)")
    if url is not None:
        url = url.rstrip("/")
        if url and not url.startswith("/"):
            raise refuse("static_url_path", "Flask refuses it too: a rule must start with a "
                                            "slash")
    if folder is not None and "root_path" in given:
        raise refuse("root_path", "the static folder is read beside the app's module")
    return [folder, url, call.lineno, source]


def blueprint_static(call: ast.Call, consts: Constants, folders: FolderReader) -> list | None:
    """``[folder, static_url_path or None, line, source]`` of a top-level
    ``Blueprint(..., static_folder=...)``: the folder's recipe (the
    scanner checks it is inside the tenant), its literal
    ``static_url_path`` starting with ``/`` (or none: ``/`` and the
    folder's last name). None when it has no static folder.

    :raises SyntaxError: for a folder the reader does not read, or a url
        path that is not such a literal.
    """
    given = factory_arguments(call)
    if "static_folder" not in given or consts.fold(given["static_folder"]) is None:
        return None
    if "root_path" in given:
        raise _error(call, f"Blueprint(root_path={ast.unparse(given['root_path'])}) is not "
                           "offered here beside a static_folder: the static folder is read "
                           'beside the blueprint\'s module; run Flask itself with runtime = '
                           '"process"')
    folder = _read_folder(call, "Blueprint", "static_folder", given["static_folder"], folders)
    url = consts.fold(given["static_url_path"]) if "static_url_path" in given else None
    if url is not None and (type(url) is not str or not url.startswith("/")):
        raise _error(call, f"Blueprint(static_url_path={ast.unparse(given['static_url_path'])}) "
                           "is not offered here: a blueprint's url path is a literal starting "
                           'with /; run Flask itself with runtime = "process"')
    return [folder, url.rstrip("/") if url else None, call.lineno,
            ast.unparse(given["static_folder"])]


def read_template_folders(tree: ast.Module, folders: FolderReader) -> list[list]:
    """``[folder, line, source, factory]`` for each ``Flask(...)`` or
    ``Blueprint(...)`` call whose ``template_folder`` the reader reads
    (:mod:`muxserver.tenancy.folders`): the scanner refuses one outside the tenant, where templates are never
    found here. One it does not read (``os.getenv(...)``) is computed when
    the app is made, as in Flask."""
    found = []
    for node, functions in enclosing_functions(tree):
        factory = _factory_name(node) if isinstance(node, ast.Call) else None
        if factory is None:
            continue
        given = factory_arguments(node)
        if "template_folder" not in given:
            continue  # "templates" beside the module, or none: inside the tenant
        recipe = folders.read(given["template_folder"], functions)
        if recipe is not NOT_READ and recipe is not None:
            found.append([recipe, node.lineno, ast.unparse(given["template_folder"]), factory])
    return found


def sqlite_paths(tree: ast.Module, consts: Constants) -> list[list]:
    """``[path, line]`` for each ``sqlite3.connect(path)`` whose path is a
    literal or one of the module's constants (``DATABASE = 'app.db'``, the
    Flask docs' pattern): the scanner compares them with the files the
    tenant ships."""
    modules, functions = {"sqlite3"}, set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(a.asname for a in node.names if a.name == "sqlite3" and a.asname)
        elif isinstance(node, ast.ImportFrom) and node.module == "sqlite3" and not node.level:
            functions.update(a.asname or a.name for a in node.names if a.name == "connect")
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if not ((isinstance(func, ast.Attribute) and func.attr == "connect"
                 and isinstance(func.value, ast.Name) and func.value.id in modules)
                or (isinstance(func, ast.Name) and func.id in functions)):
            continue
        arg = node.args[0] if node.args else next(
            (k.value for k in node.keywords if k.arg == "database"), None)
        path = consts.string(arg)
        if path is not None:
            found.append([path, node.lineno])
    return found


def _top_and_factory_body(tree: ast.Module) -> list[ast.stmt]:
    """The statements at the top of the module and of its app factory,
    where registration reads the apps and blueprints routes are on."""
    body = list(tree.body)
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in FACTORY_NAMES:
            body.extend(node.body)
    return body


def converter_registrations(tree: ast.Module, consts: Constants, imports) -> dict:
    """The URL converters the module registers: ``{"found": [[name, [module,
    level, class], line], ...], "problems": [[message, line], ...]}``
    (module ``""`` at level 0: a class of this module). A problem is kept,
    not raised: a process tenant's Flask runs any registration, a sandboxed
    tenant's is refused with it (:mod:`muxserver.tenancy.scanner`)."""
    classes = {node.name for node in tree.body if isinstance(node, ast.ClassDef)}
    found, problems = [], []
    try:
        registered = read_converter_registrations(tree, _top_and_factory_body(tree), consts)
    except SyntaxError as exc:
        return {"found": [], "problems": [[exc.msg, exc.lineno]]}
    for name, node, line in registered:
        if not name.isidentifier():
            problems.append([f"converter name {name!r} must be a Python identifier (werkzeug's "
                             "rules can only name such converters)", line])
        elif isinstance(node, ast.Name) and node.id in classes:
            found.append([name, ["", 0, node.id], line])
        elif (origin := object_origin(node, imports)) is None:
            problems.append([f"converter {name!r} must be a class defined at the top of the "
                             "module or imported from one of this tenant's modules to be read "
                             "at deploy time", line])
        else:
            found.append([name, list(origin), line])
    return {"found": found, "problems": problems}


def map_strict_slashes(tree: ast.Module, consts: Constants) -> bool | None:
    """The value of ``app.url_map.strict_slashes = True/False`` at the top
    of the module or of its app factory (None when it sets none): every
    route's default, as werkzeug's ``Map`` gives it.

    :raises SyntaxError: for one set anywhere else, or to a value that is
        not a literal, which registration could not follow.
    """
    allowed = set()
    for node in tree.body:
        allowed.add(id(node))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in FACTORY_NAMES:
            allowed.update(id(child) for child in node.body)
    found = None
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            continue
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        if not any(isinstance(t, ast.Attribute) and t.attr == "strict_slashes"
                   and isinstance(t.value, ast.Attribute) and t.value.attr == "url_map"
                   for t in targets):
            continue
        value = consts.fold(node.value) if isinstance(node, ast.Assign) else None
        if id(node) not in allowed or type(value) is not bool:
            raise _error(node, "url_map.strict_slashes must be set to True or False at the top "
                               "of the module (or of create_app) to be read at deploy time: "
                               "the routes are made with it")
        found = value
    return found


#: What ``app.jinja_env`` offers sandboxed tenants
#: (:class:`muxserver.tenant_api.templates.TenantJinjaEnv`).
JINJA_ENV_NAMES = frozenset(["filters", "tests", "globals", "trim_blocks", "lstrip_blocks"])


#: What ``app.json`` offers sandboxed tenants
#: (:class:`muxserver.tenant_api.flask_json.JSONProvider`), with what
#: ``flask.json`` offers (``flask.json.dumps`` reads the same way).
APP_JSON_NAMES = frozenset(["sort_keys", "compact", "ensure_ascii", "mimetype", "dumps",
                            "loads", "response", "jsonify"])

#: What ``app.url_map`` offers sandboxed tenants
#: (:class:`muxserver.tenant_api.urlmap.TenantURLMap`).
URL_MAP_NAMES = frozenset(["is_endpoint_expecting", "strict_slashes", "converters"])


#: The parts of a Flask app the sandbox's Flask offers in part: what each
#: offers, and why not the rest (``app.json`` only on an app: ``request.json``
#: and a tenant's own ``.json`` are other objects).
_APP_PARTS = {
    "jinja_env": (JINJA_ENV_NAMES, "Jinja's environment itself stays with the server, "
                                   "sandboxed"),
    "url_map": (URL_MAP_NAMES, "the routes are read from the source at deploy, werkzeug's map "
                               "stays with the server"),
    "json": (APP_JSON_NAMES, "Flask's DefaultJSONProvider"),
}


def read_sandboxed_module(tree: ast.Module) -> dict:
    """:func:`read_module` for a sandboxed tenant, which also refuses what
    Flask offers and the sandbox's Flask does not (a process-tier tenant
    runs Flask itself: nothing is refused there).

    :raises SyntaxError: with ``lineno``, as for a route that cannot be read.
    """
    # What the sandbox's request and app do not offer is refused where a
    # request can reach it (the scanner decides, as for imports: a tests/
    # file calling app.test_client() is a warning), with file and line.
    unoffered = []
    for check in (_check_request_names, _check_app_names, _check_app_parts,
                  _check_wsgi_app_writes):
        try:
            check(tree)
        except SyntaxError as exc:
            unoffered.append([exc.msg, exc.lineno])
    _check_blueprint_registrations(tree)
    meta = read_module(tree)
    meta["unoffered"] = unoffered
    return meta


def _check_app_parts(tree: ast.Module) -> None:
    """Refuse a name of ``app.json``, ``app.config``... (:data:`_APP_PARTS`)
    the sandbox's does not have, and a JSON provider of the tenant's own.

    :raises SyntaxError: with ``lineno``.
    """
    apps = set(_app_objects(tree)) | {"app", "current_app"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute):
            offered = _APP_PARTS.get(node.value.attr)
            if (offered is not None and node.attr not in offered[0]
                    and (node.value.attr != "json" or _names_an_app(node.value.value, apps))):
                raise _error(node, f"{node.value.attr}.{node.attr} is not offered here: "
                                   f"app.{node.value.attr} has {', '.join(sorted(offered[0]))} "
                                   f"({offered[1]}); a tenant with runtime = \"process\" runs "
                                   "Flask itself")
        if (isinstance(node, (ast.Assign, ast.AnnAssign)) and any(
                isinstance(t, ast.Attribute) and t.attr in ("json", "json_provider_class")
                and _names_an_app(t.value, apps)
                for t in (node.targets if isinstance(node, ast.Assign) else [node.target]))):
            raise _error(node, "a JSON provider of its own (app.json = ..., "
                               "json_provider_class) is not offered here: app.json's settings "
                               "(sort_keys, compact, ensure_ascii, mimetype) are; a tenant "
                               "with runtime = \"process\" runs Flask itself")


def _check_app_names(tree: ast.Module) -> None:
    """Refuse a name Flask's app has and the sandbox's does not, read or
    set on ``app``, ``current_app`` or a name the module binds to
    ``Flask(...)``: ``current_app.make_default_options_response()`` failed
    on the first request, and ``app.session_interface = ...`` would be
    ignored. A name Flask's app does not have (``app.db = ...``) is the
    tenant's own.

    :raises SyntaxError: with ``lineno``.
    """
    apps = _app_variables(tree)
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and node.attr in FLASK_APP_NAMES
                and node.attr not in APP_NAMES and _names_an_app(node.value, apps)):
            raise _error(node, f"{node.value.id}.{node.attr} is not offered here: the sandbox's Flask app "
                               "has Flask's names but not every one (see the README's Flask "
                               "section); a tenant with runtime = \"process\" runs Flask itself")


def _app_variables(tree: ast.Module) -> set:
    """``app``, ``current_app`` and the names the module binds to ``Flask(...)``."""
    apps = {"app", "current_app"}
    for node in tree.body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and _factory_name(node.value) == "Flask":
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            apps.update(t.id for t in targets if isinstance(t, ast.Name))
    return apps


def _check_wsgi_app_writes(tree: ast.Module) -> None:
    """Refuse setting ``app.wsgi_app`` to anything but werkzeug's
    ``ProxyFix(app.wsgi_app, ...)`` of the same app (nested once at most),
    with counts that are whole numbers from 0 to the sandbox's cap where
    they are literals: other WSGI middleware would wrap the server's
    callable (:mod:`muxserver.tenant_api.proxyfix`, which also refuses it
    at run time wherever the source does not show it).

    :raises SyntaxError: with ``lineno``.
    """
    apps = _app_variables(tree)
    fixers = {"ProxyFix"} | {
        alias.asname for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "werkzeug.middleware.proxy_fix"
        for alias in node.names if alias.name == "ProxyFix" and alias.asname}
    for node in ast.walk(tree):
        if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        elif isinstance(node, ast.Delete):
            targets = node.targets
        else:
            continue
        for target in targets:
            if not (isinstance(target, ast.Attribute) and target.attr == "wsgi_app"
                    and _names_an_app(target.value, apps)):
                continue
            problem = (_proxy_fix_problem(node.value, target.value.id, fixers, MAX_NESTING)
                       if isinstance(node, ast.Assign) else "it can only be assigned")
            if problem is not None:
                raise _error(node, f"{target.value.id}.wsgi_app = ... is not offered here "
                                   f"({problem}): the sandbox's app takes werkzeug's "
                                   f"ProxyFix({target.value.id}.wsgi_app, x_for=..., ...) "
                                   "alone (Flask's \"behind a proxy\" recipe); other WSGI "
                                   "middleware wraps the server's WSGI callable, which stays "
                                   "the server's; a tenant with runtime = \"process\" runs "
                                   "Flask itself")


def _proxy_fix_problem(value: ast.AST, app: str, fixers: set, depth: int) -> str | None:
    """Why ``value`` is not ``ProxyFix(app.wsgi_app, ...)`` (``depth``
    ProxyFix calls deep at most; ``fixers``: the names ProxyFix is imported
    under), or None."""
    if (isinstance(value, ast.Attribute) and value.attr == "wsgi_app"
            and isinstance(value.value, ast.Name) and value.value.id == app):
        return None
    func = value.func if isinstance(value, ast.Call) else None
    if not ((isinstance(func, ast.Name) and func.id in fixers)
            or (isinstance(func, ast.Attribute) and func.attr == "ProxyFix")):
        return "not ProxyFix(...)" if depth == MAX_NESTING else f"ProxyFix() must wrap {app}.wsgi_app"
    if depth == 0:
        return "ProxyFix nests once at most"
    wrapped = value.args[0] if value.args else next(
        (k.value for k in value.keywords if k.arg == "app"), None)
    for count in [*value.args[1:], *(k.value for k in value.keywords if k.arg != "app")]:
        try:
            given = ast.literal_eval(count)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            continue  # not a literal: the run time checks it
        if not (type(given) is int and 0 <= given <= MAX_TRUSTED):
            return f"each count is a whole number from 0 to {MAX_TRUSTED}"
    if wrapped is None:
        return f"ProxyFix() must wrap {app}.wsgi_app"
    return _proxy_fix_problem(wrapped, app, fixers, depth - 1)


def _names_an_app(node: ast.AST, apps: set) -> bool:
    """Whether ``node`` names a Flask app (one the module makes, ``app``
    however it came, ``current_app``), not any object with a ``json``."""
    return isinstance(node, ast.Name) and node.id in apps


def _check_blueprint_registrations(tree: ast.Module) -> None:
    """Refuse what the sandbox's Flask does not do with blueprints, where it
    is written, rather than serve 404s: a blueprint registered on another
    (``parent.register_blueprint(child)``). (``name=`` and the other
    options routing does not follow are refused for every tenant, by
    :func:`_blueprint_registrations`.)

    :raises SyntaxError: with ``lineno``.
    """
    blueprints = set()
    for node in ast.walk(tree):
        if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)
                and (getattr(node.value.func, "id", None) == "Blueprint"
                     or getattr(node.value.func, "attr", None) == "Blueprint")):
            blueprints.update(t.id for t in node.targets if isinstance(t, ast.Name))
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "register_blueprint"):
            continue
        receiver = node.func.value
        if isinstance(receiver, ast.Name) and receiver.id in blueprints:
            raise _error(node, "nested blueprints (a blueprint's register_blueprint) are not "
                               "supported here: register each blueprint on the app, with the "
                               "whole url_prefix")


#: Modules whose ``request`` is the tenant API's request.
_REQUEST_MODULES = frozenset(["flask", "mux"])


def _check_request_names(tree: ast.Module) -> None:
    """Refuse reading a name the request does not have (``request.environ``),
    and setting any name on it (``request.start_time = ...``: Flask's request
    takes attributes, the sandbox's cannot be changed), where it is written:
    ``request`` imported from ``flask`` or ``mux`` (under any alias), or
    ``flask.request``. Flask's request has more names than
    the sandbox's; without this, code reaching one failed on its first
    request instead of at deploy. A function whose parameter or local
    variable has the alias's name is its own business.

    :raises SyntaxError: with ``lineno``.
    """
    aliases, modules = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in _REQUEST_MODULES and not node.level:
            aliases.update(a.asname or a.name for a in node.names if a.name == "request")
        elif isinstance(node, ast.Import):
            modules.update(a.asname or a.name for a in node.names if a.name in _REQUEST_MODULES)
    if not aliases and not modules:
        return

    def refused(node) -> bool:
        target = node.value
        if isinstance(target, ast.Name):
            return target.id in aliases
        return (isinstance(target, ast.Attribute) and target.attr == "request"
                and isinstance(target.value, ast.Name) and target.value.id in modules)

    def visit(node, shadowed: frozenset) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            args = node.args
            names = {a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs,
                                      args.vararg, args.kwarg) if a is not None}
            if not isinstance(node, ast.Lambda):
                names |= {t.id for n in ast.walk(node) if isinstance(n, (ast.Assign, ast.For))
                          for t in ast.walk(n.targets[0] if isinstance(n, ast.Assign)
                                            else n.target)
                          if isinstance(t, ast.Name) and isinstance(t.ctx, ast.Store)}
            shadowed = shadowed | (names & aliases)
        mine = (isinstance(node, ast.Attribute) and refused(node)
                and not (isinstance(node.value, ast.Name) and node.value.id in shadowed))
        # A private name (request._x = ...) is the sandbox's own refusal
        # at run time, whose attack test this must not pre-empt.
        if mine and not isinstance(node.ctx, ast.Load) and not node.attr.startswith("_"):
            raise _error(node, f"setting request.{node.attr} is not offered here: the sandbox's "
                               "request cannot be changed; keep a request's own values in "
                               f"flask.g (g.{node.attr} = ...), as Flask's docs do, or use "
                               "runtime = \"process\"")
        if mine and isinstance(node.ctx, ast.Load) and node.attr not in REQUEST_NAMES:
            raise _error(node, f"request.{node.attr} is not offered here: the sandbox's request "
                               "has Flask's names but not every one (see the README's tenant "
                               "API); a tenant with runtime = \"process\" runs Flask itself")
        for child in ast.iter_child_nodes(node):
            visit(child, shadowed)

    visit(tree, frozenset())


def module_attribute_reads(tree: ast.Module) -> list[list]:
    """``[module, attribute, line]`` for each ``name.attribute`` read where
    ``name`` is bound by ``import module`` (or ``import module as name``)
    and by nothing else in the file — no assignment, parameter, ``def``,
    ``from`` import or ``except ... as`` of that name anywhere (``json =
    request.get_json()`` in a view is a dict, not the module), and no
    import of it inside a ``try`` (the code copes with its absence): the
    deploy-time check compares them with what the sandbox's module offers
    and warns, with file and line, of one it lacks (``os.getpid``, which
    raises AttributeError at run time)."""
    imported: dict[str, str] = {}
    other = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                name = alias.asname or alias.name.split(".")[0]
                module = alias.name if alias.asname else alias.name.split(".")[0]
                if imported.setdefault(name, module) != module:
                    other.add(name)
        elif isinstance(node, ast.ImportFrom):
            other.update(alias.asname or alias.name for alias in node.names)
        elif isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            other.add(node.id)
        elif isinstance(node, ast.arg):
            other.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            other.add(node.name)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            other.add(node.name)
        elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
            other.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            other.add(node.rest)
        elif isinstance(node, ast.Try) or type(node).__name__ == "TryStar":
            for child in ast.walk(node):
                if isinstance(child, ast.Import):
                    other.update(a.asname or a.name.split(".")[0] for a in child.names)
    found = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and isinstance(node.ctx, ast.Load) and node.value.id in imported
                and node.value.id not in other and not node.attr.startswith("_")):
            found.append([imported[node.value.id], node.attr, node.lineno])
    return found


def read_imports(tree: ast.Module) -> list[list]:
    """``[module, [names], level, line, guarded]`` for every import statement.

    ``import a.b`` is ``["a.b", [], 0, line, False]``; ``from . import x`` is
    ``["", ["x"], 1, line, False]``. ``guarded`` is true inside a ``try``
    whose handlers catch ImportError: the module says what it does without
    it, so the deploy-time check does not refuse it (the run time still does).
    """
    found = []

    def visit(node, guarded):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append([alias.name, [], 0, node.lineno, guarded])
            return
        if isinstance(node, ast.ImportFrom):
            found.append([node.module or "", [a.name for a in node.names], node.level,
                          node.lineno, guarded])
            return
        if isinstance(node, ast.Try):
            catches = any(_catches_import_error(h.type) for h in node.handlers)
            for child in node.body:
                visit(child, guarded or catches)
            for child in (*node.handlers, *node.orelse, *node.finalbody):
                visit(child, guarded)
            return
        for child in ast.iter_child_nodes(node):
            visit(child, guarded)

    visit(tree, False)
    return found


def _catches_import_error(node) -> bool:
    if node is None:
        return True  # a bare except
    names = node.elts if isinstance(node, ast.Tuple) else [node]
    return any(isinstance(n, ast.Name) and n.id in ("ImportError", "ModuleNotFoundError",
                                                    "Exception", "BaseException") for n in names)


class _SandboxChecker(pyflakes_checker.Checker):
    """pyflakes with the sandbox's builtins for Python's: ``globals()``,
    ``eval`` or ``vars`` are names no tenant module has (SECURITY-NOTES), so
    a use is reported like any undefined name, at deploy, not as a
    ``NameError`` the first request to reach it meets."""

    _SANDBOX_BUILTINS = builtin_names() | MODULE_GLOBALS | {"__doc__"}

    # pyflakes assigns Python's builtins in its __init__ before it reads the
    # tree; the property keeps the sandbox's in their place.
    @property
    def builtIns(self):  # noqa: N802 - pyflakes' name
        return self._SANDBOX_BUILTINS

    @builtIns.setter
    def builtIns(self, value):  # noqa: N802
        pass


def undefined_names(tree: ast.Module) -> list[list]:
    """``[name, line]`` for each name used and never defined (pyflakes),
    Python's builtins the sandbox leaves out included."""
    try:
        check = _SandboxChecker(tree)
    except (RecursionError, MemoryError):
        return []
    return [
        [m.message_args[0], m.lineno]
        for m in check.messages
        if isinstance(m, pyflakes_messages.UndefinedName)
    ]


def _makes_app(tree: ast.Module) -> bool:
    for node in tree.body:
        value = getattr(node, "value", None)
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(value, ast.Call):
            func = value.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if name == "Flask":
                return True
    return False


def _app_factory(tree: ast.Module) -> str | None:
    """The name of a top-level app factory (``def create_app(...)``) whose
    arguments all have defaults, or None."""
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in FACTORY_NAMES:
            args = node.args
            if len(args.defaults) == len(args.posonlyargs) + len(args.args):
                return node.name
    return None


#: In ``error_codes``: this module's code may decide the answer to any
#: status — a handler registered for a class (``HTTPException``,
#: ``NotFound``, ``Exception``...) or a request hook (``before_request`` may
#: answer an unknown URL, ``after_request`` changes every answer) — so it is
#: loaded for a 404 or 405 and Flask's rules decide.
ANY_STATUS = 0
_REQUEST_HOOKS = frozenset(["before_request", "after_request", "teardown_request",
                            "teardown_appcontext", "before_app_request", "after_app_request",
                            "url_value_preprocessor", "app_url_value_preprocessor"])


def _error_codes(tree: ast.Module) -> list[int]:
    """The status codes whose answer this module's code may decide: those
    its error handlers are registered for (``@x.errorhandler(404)``,
    ``@bp.app_errorhandler(405)``, ``x.register_error_handler(404, f)``),
    and :data:`ANY_STATUS` for a handler given anything but an int literal
    or a request hook."""
    codes = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in _REQUEST_HOOKS:
            codes.add(ANY_STATUS)
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("errorhandler", "app_errorhandler",
                                       "register_error_handler") and node.args):
            continue
        first = node.args[0]
        if isinstance(first, ast.Constant) and type(first.value) is int:
            codes.add(first.value)
        else:
            codes.add(ANY_STATUS)
    return sorted(codes)


def _blueprint_registrations(tree: ast.Module, consts: Constants) -> list[list]:
    """``[module, level, variable, url_prefix or None, [[name, value], ...]]``
    for each ``app.register_blueprint(bp, url_prefix=..., url_defaults=...)``
    giving either (the url defaults go over the blueprint's own, as in
    Flask): ``bp`` made in this module
    (module ``""``, level 0), imported by name (``from views import bp``) or
    reached through an imported module (``views.admin.bp``).

    :raises SyntaxError: when a ``url_prefix`` is given but cannot be read, or
        is given for a name a function binds itself (a parameter: which
        blueprint it is is known only when the function runs), so the
        blueprint's routes would land somewhere else than Flask puts them;
        and for an option this server's routing does not follow
        (:data:`_UNREAD_REGISTRATION_OPTIONS`).
    """
    bindings = _Bindings(tree)
    found = []
    for node, functions in enclosing_functions(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "register_blueprint"):
            continue
        if any(k.arg is None for k in node.keywords) or any(
                isinstance(a, ast.Starred) for a in node.args):
            raise _error(node, "register_blueprint(*args) or register_blueprint(**options) "
                               "cannot be read at deploy time: the url prefix is read from "
                               "the call as written; pass the blueprint and url_prefix= by "
                               "name")
        for keyword in node.keywords:
            why = _UNREAD_REGISTRATION_OPTIONS.get(keyword.arg)
            if why is not None and (keyword.arg not in _NONE_IS_NOT_GIVEN
                                    or consts.fold(keyword.value) is not None):
                raise _error(node, f"register_blueprint(..., {keyword.arg}=...) is not "
                                   f"supported here: {why}")
        given = {k.arg: k.value for k in node.keywords}
        defaults = read_defaults(given["url_defaults"], consts,
                                 "register_blueprint(url_defaults=...)") if (
            "url_defaults" in given) else ()
        prefix = None
        if "url_prefix" in given and consts.fold(given["url_prefix"]) is not None:
            prefix = consts.string(given["url_prefix"])
            if prefix is None:
                raise _error(node, "register_blueprint(url_prefix=...) must be a string literal "
                                   "(or built from the module's constants) to be read at "
                                   "deploy time")
        if prefix is None and not defaults:
            continue  # the blueprint's own prefix and url_defaults hold
        target = node.args[0] if node.args else next(
            (k.value for k in node.keywords if k.arg == "blueprint"), None)
        origin = bindings.origin(target, functions, _position(node))
        if origin is None:
            raise _error(node, "register_blueprint(..., url_prefix= or url_defaults=...) must "
                               "name the blueprint (bp, or module.bp) as bound, where the "
                               "call is, by Blueprint(...) or an import at the top of the "
                               "module or in create_app (not a function's parameter, not a "
                               "loop's variable) to be read at deploy time")
        found.append([*origin, None if prefix is None else prefix.rstrip("/"),
                      [list(pair) for pair in defaults]])
    return found


#: ``register_blueprint`` options Flask applies to every route of the
#: blueprint and this server's routing does not follow -> why.
_UNREAD_REGISTRATION_OPTIONS = {
    "name": "Flask renames the blueprint's endpoints and mounts it a second time; make a "
            "second Blueprint",
    "name_prefix": "Flask puts the prefix before the blueprint's name in its endpoints "
                   "(url_for('prefix.bp.view')); Flask sets it itself for nested blueprints",
    "subdomain": "routes are not matched by host name here (the site's host names are the "
                 "operator's [hosts])",
}
#: Those of :data:`_UNREAD_REGISTRATION_OPTIONS` that change nothing given
#: as None (Flask takes the blueprint's own). Not ``name`` nor
#: ``name_prefix``: Flask 3.1 reads ``options.get("name", bp.name)``, so
#: ``name=None`` names the blueprint ``"None"`` (its endpoints ``None.view``).
_NONE_IS_NOT_GIVEN = frozenset(["subdomain"])


class _Bindings:
    """What a name is where a ``register_blueprint`` call uses it: the
    binding in effect there, in the order the code runs (a later ``for bp in
    (...)`` loop does not change what an earlier call registered)."""

    def __init__(self, tree: ast.Module):
        #: The names bound to ``Flask(...)``/``Blueprint(...)`` calls.
        self.made = set()
        for node in _top_and_factory_body(tree):
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and _factory_name(node.value):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                self.made.update(id(t) for t in targets if isinstance(t, ast.Name))
        self.module = sorted(module_binders(tree.body), key=lambda b: _position(b[1]))
        self.factories = {
            id(node): sorted(function_binders(node), key=lambda b: _position(b[1]))
            for node in tree.body
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.name in FACTORY_NAMES}

    def origin(self, target: ast.AST | None, functions: tuple,
               where: tuple[int, int]) -> tuple[str, int, str] | None:
        """``(module, level, variable)`` of the blueprint ``target`` names
        in a call at ``where`` (line, column) inside ``functions``, or None when it is not
        one bound by a ``Blueprint(...)`` or an import."""
        root = target
        while isinstance(root, ast.Attribute):
            root = root.value
        if not isinstance(root, ast.Name) or _bound_in_function(root.id, functions):
            return None
        binder = self._binder(root.id, functions, where)
        if binder is None:
            return None
        if id(binder) in self.made and target is root:
            return "", 0, root.id
        if isinstance(binder, (ast.Import, ast.ImportFrom)):
            return object_origin(target, dict(_import_bindings(binder)))
        return None

    def _binder(self, name: str, functions: tuple, where: tuple) -> ast.AST | None:
        """The node binding ``name`` for a use at ``where``: the app
        factory's own binding before it, else the module's (its last one
        before it at the top of the module; inside a function, which
        runs once the module has, its last)."""
        if functions and id(functions[0]) in self.factories:
            local = [b for n, b in self.factories[id(functions[0])] if n == name]
            if local:
                before = [b for b in local if _position(b) < where]
                return before[-1] if before else None
        scope = [(n, b) for n, b in self.module if n in (name, "*")]
        if not functions:
            scope = [(n, b) for n, b in scope if _position(b) < where]
        if not scope or scope[-1][0] == "*":
            return None  # unbound, or maybe rebound by from m import *
        return scope[-1][1]


def _position(node: ast.AST) -> tuple[int, int]:
    return getattr(node, "lineno", 0), getattr(node, "col_offset", 0)


def _bound_in_function(name: str, functions: tuple) -> bool:
    """Whether ``name`` is, where it is used, a name one of the enclosing
    ``functions`` binds itself — a parameter, or a variable of a function
    that is not the app factory (whose blueprints registration reads) —
    rather than the module's."""
    for function in functions:
        args = function.args
        params = {a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs,
                                  args.vararg, args.kwarg) if a is not None}
        if name in params:
            return True
        if (not isinstance(function, ast.Lambda) and function.name not in FACTORY_NAMES
                and name in shadowing_names(function)):
            return True
    return False

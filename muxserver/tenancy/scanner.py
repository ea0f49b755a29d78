"""Register tenants: read a tenant's folder into a :class:`TenantSpec`.

The scan reads every file, compiles every module under the sandbox policy
(through the code cache, so an unchanged file costs a hash and a small
read), and finds routes in the syntax trees. It runs no tenant code. A
tenant's spec is all or nothing: any error in any file leaves ``errors``
non-empty, and the registry keeps serving the previous good spec.

Layout rules (SPEC "Tenants dir"): ``static/**`` are files; every ``.py``
is a module of the tenant, importable by its dotted path from the tenant
root (``lib/`` modules also by their own name). A module with routes is an
endpoint; one without is a helper. ``lib/**`` and files whose names start
with ``_`` (``__init__.py``) are never routed. Names starting with ``.``,
folders starting with ``_`` (``__pycache__``) and symbolic links are
skipped, so a tenant cannot point the server at files outside its folder.
"""

from __future__ import annotations

import hashlib
import logging
import os
import posixpath
import sys
from pathlib import Path
from typing import NamedTuple

from werkzeug.routing import Map
from werkzeug.routing import Rule

from muxserver.proctier import requirements
from muxserver.tenancy.codecache import CodeCache
from muxserver.tenancy.codecache import cache_key
from muxserver.tenancy.compiling import compile_locally
from muxserver.tenancy.converters import MIN_ROUTED_PATH
from muxserver.tenancy.converters import host_converter
from muxserver.tenancy.converters import longest_routed_path
from muxserver.tenancy.converters import match_ways
from muxserver.tenancy.converters import rule_patterns
from muxserver.tenancy.manifest import Manifest
from muxserver.tenancy.manifest import ManifestError
from muxserver.tenancy.manifest import TenantRules
from muxserver.tenancy.manifest import parse_manifest
from muxserver.tenancy.names import TENANT_NAME
from muxserver.tenancy.folders import APP
from muxserver.tenancy.folders import evaluate
from muxserver.tenancy.folders import is_folder_name
from muxserver.tenancy.folders import tenant_folder
from muxserver.tenancy.folders import uses_cwd
from muxserver.tenancy.imports import ModuleFacts
from muxserver.tenancy.imports import check_tenant_imports
from muxserver.tenancy.imports import relative_base
from muxserver.tenancy.imports import resolve_tenant_module
from muxserver.tenancy.routes import Handler
from muxserver.tenancy.routes import file_rule
from muxserver.tenancy.sharing import frozen_map
from muxserver.tenancy.sharing import shared
from muxserver.tenancy.spec import SpecDraft
from muxserver.tenancy.spec import TenantSpec
from muxserver.tenant_api.companions import JINJA2_REMOVED
from muxserver.tenant_api.companions import OFFERED as COMPANIONS
from muxserver.tenant_api.commands import CLICK_NAMES
from muxserver.tenant_api.commands import flask_cli_module
from muxserver.tenant_api.shim import MUX_ONLY_NAMES
from muxserver.tenant_api.shim import flask_module_attrs
from muxserver.tenant_api.shim import functions_framework_attrs
from muxserver.tenant_api.shim import module_attrs
from muxserver.tenant_api.views import views_module
from sandbox import ALLOWED_MODULES
from sandbox.compiler import decode_source
from sandbox.runtime import offered_names

log = logging.getLogger("muxserver.scanner")

#: Names of the server's own packages and of the tenant API's modules: a
#: tenant folder with one of these names is refused, so nothing started from
#: the tenants dir could ever take it for server code.
RESERVED_NAMES = frozenset({
    "muxserver", "sandbox", "mux", "flask", "werkzeug", "gevent", "greenlet", "gunicorn",
    "jinja2", "markupsafe", "restrictedpython", "psutil", "regex", "pyseccomp", "packaging",
    "benchmarks", "tests",
})
#: Largest number of files one tenant may have (keeps a scan bounded).
MAX_TENANT_FILES = 10_000
#: Largest ``tenant.toml`` and ``requirements.txt``: the supervisor parses
#: them in pure Python (tomllib, packaging) while it scans, where nothing
#: else it does can run (round 15: 10 MB of ``kN = 1`` lines cost tomllib
#: 3.9 s; a deploy may unpack 200 MB).
MAX_METADATA_BYTES = {"tenant.toml": 128 * 1024, requirements.FILE: 256 * 1024}

#: The content's tables that :func:`scan_tenant` shares one by one first.
SHARED_PARTS = ("routes", "modules", "sources", "error_handlers")


class ModuleRef(NamedTuple):
    """Where a module's compiled code is: its file and its content key."""

    file: str
    key: str | None  # None for a folder without __init__.py
    is_package: bool = False


def endpoint_module(endpoint: str) -> str:
    """The dotted module name of an endpoint (``api/users`` -> ``api.users``;
    a package's ``shop/__init__`` -> ``shop``)."""
    dotted = endpoint.replace("/", ".")
    return dotted[: -len(".__init__")] if dotted.endswith(".__init__") else dotted


class Route(NamedTuple):
    """One route of a tenant, relative to the tenant's root."""

    rule: str
    methods: tuple[str, ...]
    endpoint: str
    handler: str
    file: str
    line: int
    kind: str
    takes_request: bool
    #: ``((name, value), ...)``: the route's ``defaults=`` (Flask passes them
    #: to the view as arguments).
    defaults: tuple = ()
    #: Flask's endpoint name when ``endpoint=`` gave one (``handler`` if None).
    name: str | None = None
    #: werkzeug's ``strict_slashes``: a rule ending in ``/`` redirects the
    #: path without it (False: both match, and a rule without one matches ``/``).
    strict_slashes: bool = True
    #: The name of the blueprint a Flask-style route is on (None: the app's).
    blueprint: str | None = None

    @property
    def flask_endpoint(self) -> str:
        """Flask's endpoint: ``blueprint.view`` for a blueprint's route, the
        view's name (``endpoint=``, else the function's) for the app's —
        what ``url_for``, ``request.endpoint`` and ``url_map`` name it by."""
        view = self.name or self.handler
        return f"{self.blueprint}.{view}" if self.blueprint is not None else view


#: Deepest folder nesting inside a tenant that is scanned.
MAX_DEPTH = 32


def _walk(root: str, rel: str = "", depth: int = 0):
    """Yield relative file paths under ``root``, sorted, skipping hidden
    names, ``_``-prefixed folders and symlinks."""
    if depth > MAX_DEPTH:
        raise ValueError(f"folders nested more than {MAX_DEPTH} deep")
    try:
        entries = sorted(os.scandir(os.path.join(root, rel)), key=lambda e: e.name)
    except OSError:
        return
    for entry in entries:
        name = entry.name
        if name.startswith(".") or entry.is_symlink():
            continue
        path = f"{rel}/{name}" if rel else name
        if entry.is_dir(follow_symlinks=False):
            if not name.startswith("_"):
                yield from _walk(root, path, depth + 1)
        elif entry.is_file(follow_symlinks=False):
            yield path


def compile_file(
    cache: CodeCache,
    display_name: str,
    data: bytes,
    *,
    extra_modules: frozenset[str] = frozenset(),
    compiler=compile_locally,
):
    """Compile one file through the cache.

    :param compiler: what compiles a cache miss (:func:`compile_locally`, or
        the supervisor's compiler process).
    :return: ``(key, facts, errors)``; facts from
        :func:`muxserver.tenancy.reading.read_module`.
    """
    key = cache_key(data, extra_modules)
    hit = cache.get(key)
    if hit is not None:
        meta, _ = hit
        return key, meta, ()
    text, error = decode_source(data, display_name)
    if error:
        return key, None, (error,)
    code_bytes, meta, errors = compiler(text, display_name, "sandbox")
    if errors:
        return key, None, tuple(errors)
    cache.put_bytes(key, meta, code_bytes)
    return key, meta, ()


#: ``[function]`` forms a process tenant may use (Flask's own request and
#: return values: :mod:`muxserver.proctier.tenantapp`).
PROCESS_FORMS = ("flask", "gcf")


def read_process_file(display_name: str, data: bytes, compiler=compile_locally):
    """Read a process tenant's module: its syntax tree for routes, no policy
    (plain CPython runs it). Returns ``(key, facts, errors)`` like
    :func:`compile_file`; the key is the content's hash."""
    key = "process-" + hashlib.sha256(data).hexdigest()
    text, error = decode_source(data, display_name)
    if error:
        return key, None, (error,)
    _, meta, errors = compiler(text, display_name, "process")
    return key, meta, tuple(errors)


def scan_tenant(
    root: Path | str,
    name: str,
    cache: CodeCache,
    rules: TenantRules,
    extra_modules: frozenset[str] = frozenset(),
    compiler=compile_locally,
) -> TenantSpec:
    """Read one tenant's folder into a spec (``spec.errors`` says if it failed).

    Never raises for anything in the folder: one tenant's odd files must not
    stop the registration of the others.

    :param compiler: what parses and compiles a file the cache lacks.
    """
    if name in RESERVED_NAMES:
        return TenantSpec(name=name, root=str(root),
                          errors=(f"{name}/: the tenant name {name!r} is reserved: it names a "
                                  "package of the server; rename the folder",))
    try:
        return _scan_tenant(str(root), name, cache, rules, extra_modules, compiler)
    except (OSError, ValueError, RecursionError, MemoryError) as exc:
        log.exception("scanning tenant %s failed", name)
        return TenantSpec(name=name, root=str(root),
                          errors=(f"{name}/: cannot be registered: {exc}",))


_DEFAULT_MANIFESTS: dict = {}
_METHODS: dict = {}


def _methods(methods) -> tuple[str, ...]:
    """One tuple object for each set of methods routes use."""
    methods = tuple(methods)
    return _METHODS.setdefault(methods, methods)



def _default_manifest(rules: TenantRules) -> Manifest:
    """The manifest of a tenant without tenant.toml: one (frozen) object
    shared by all of them, not one each."""
    manifest = _DEFAULT_MANIFESTS.get(rules.defaults)
    if manifest is None:
        manifest = _DEFAULT_MANIFESTS[rules.defaults] = Manifest(limits=rules.defaults)
    return manifest


def _scan_tenant(root: str, name: str, cache: CodeCache, rules: TenantRules,
                 extra_modules: frozenset[str], compiler) -> TenantSpec:
    spec = SpecDraft(name, root, _default_manifest(rules))
    # Written while the folder is read, frozen (and shared) at the end.
    spec.modules, spec.sources, spec.error_handlers = {}, {}, {}
    errors: list[str] = []
    version = hashlib.blake2b(digest_size=16)
    routes: list[Route] = []
    facts: dict[str, ModuleFacts] = {}
    packages: set[str] = set()
    app_modules: list[str] = []
    files = 0
    endpoints: list[tuple[str, str, str, list]] = []  # (dotted, rel, key, handlers)
    aliased: list[tuple[str, str]] = []  # (dotted, rel) of modules with endpoint aliases
    manifest_data = None
    if os.path.isfile(os.path.join(root, "tenant.toml")):
        # Read first: the runtime decides how every module is read.
        manifest_data = _read(root, "tenant.toml", errors, f"{name}/tenant.toml",
                              MAX_METADATA_BYTES["tenant.toml"])
        if manifest_data is not None:
            try:
                spec.manifest = parse_manifest(manifest_data, name, f"{name}/tenant.toml", rules)
            except ManifestError as exc:
                errors.extend(exc.errors)
    process = spec.is_process
    shipped: set[str] = set()  # what a relative sqlite3.connect() might have meant
    walked: list[str] = []  # every file, for the app's static folder (known once read)
    for rel in _walk(root):
        files += 1
        if files > MAX_TENANT_FILES:
            errors.append(f"{name}/: more than {MAX_TENANT_FILES} files")
            break
        display = f"{name}/{rel}"
        walked.append(rel)
        if rel == "tenant.toml":
            if manifest_data is not None:
                version.update(b"tenant.toml\0" + manifest_data)
            continue
        if rel == requirements.FILE:
            data = _read(root, rel, errors, display, MAX_METADATA_BYTES[rel])
            if data is not None:
                version.update(b"requirements.txt\0" + data)
                lines, problems = requirements.read(data, display)
                errors.extend(problems)
                if not process:
                    errors.extend(requirements.sandbox_errors(lines, display))
                spec.requirements = tuple(lines)
            continue
        top = rel.split("/", 1)[0]
        if top == "static" and "/" in rel:
            _note_file(version, root, rel)
            continue
        if not rel.endswith(".py"):
            _note_file(version, root, rel)
            shipped.add(rel)
            continue
        data = _read(root, rel, errors, display)
        if data is None:
            continue
        if process:
            key, meta, file_errors = read_process_file(display, data, compiler)
        else:
            key, meta, file_errors = compile_file(cache, display, data,
                                                  extra_modules=extra_modules, compiler=compiler)
        key = sys.intern(key)  # tenants with this very file share its key
        version.update(f"{rel}\0{key}\0".encode())
        if file_errors:
            errors.extend(file_errors)
            continue
        dotted, is_package = _add_source(spec.sources, packages, rel, key)
        facts[dotted] = ModuleFacts(dotted, rel, is_package, meta)
        if meta.get("makes_app"):
            app_modules.append(dotted)
        if meta.get("app_factory") and (spec.app_factory is None or dotted.count(".") <
                                        spec.app_factory[0].count(".")):
            spec.app_factory = (dotted, meta["app_factory"])
        for code in meta.get("error_codes", ()):
            spec.error_handlers.setdefault(code, []).append(dotted)
        handlers = [h for h in meta.get("handlers", ()) if h[0] != "alias"]
        if len(handlers) != len(meta.get("handlers", ())):
            aliased.append((dotted, rel))
        routed = top != "lib" and not rel.rsplit("/", 1)[-1].startswith("_")
        if (not routed and top != "lib" and rel.endswith("/__init__.py")
                and any(h[0] == "flask" for h in handlers)):
            routed = True  # a Flask app's routes in a package's __init__ (or its factory)
        elif not routed and meta.get("app_factory") and handlers:
            routed = True  # routes inside an app factory in a package's __init__
        if not routed or not handlers:
            continue  # a helper module: importable, never routed
        endpoints.append((dotted, rel, key, handlers))
    if not process:
        errors.extend(_shipped_databases(name, facts, shipped))
    # Routes once every module is read: a blueprint's prefix may be given
    # by register_blueprint() in another file, an app may be made in another.
    registered_prefixes = _registered_prefixes(facts)
    map_strict = _map_strict_slashes(name, facts, errors)
    spec.converters = _tenant_converters(name, facts, errors, process)
    views: dict[tuple, tuple] = {}  # (app, Flask's endpoint) -> (file, view, line)
    for dotted, rel, key, handlers in endpoints:
        endpoint = sys.intern(rel[:-3])
        for raw in handlers:
            handler = Handler(*raw)
            rule = handler.rule if handler.rule is not None else file_rule(endpoint)
            blueprint = None
            if handler.kind == "flask":
                mounted = _app_mount(name, facts, facts[dotted], handler, registered_prefixes,
                                     errors)
                if mounted is None:
                    continue
                prefix, blueprint, app, mount_defaults = mounted
                rule = prefix + rule
                handler = handler._replace(defaults=_with_defaults(mount_defaults,
                                                                   handler.defaults))
                if _overwrites_a_view(name, views, rel, handler, app, blueprint, errors):
                    continue
                if handler.view_class is not None:
                    methods = _imported_view_methods(name, facts, facts[dotted], handler, errors)
                    if methods is None:
                        continue
                    handler = handler._replace(methods=methods)
            # Interned: most tenants repeat the same few names ("index",
            # "get", "index.py", ("GET",)), and each registered tenant holds them.
            routes.append(
                Route(
                    sys.intern(rule), _methods(handler.methods), sys.intern(endpoint),
                    sys.intern(handler.function), sys.intern(rel), handler.line,
                    sys.intern(handler.kind), handler.takes_request,
                    tuple(tuple(pair) for pair in handler.defaults),
                    sys.intern(handler.name) if handler.name is not None else None,
                    handler.strict_slashes if handler.strict_slashes is not None else (
                        map_strict if handler.kind == "flask" else True),
                    sys.intern(blueprint) if blueprint is not None else None,
                )
            )
        ref = spec.sources[dotted]
        spec.modules[endpoint] = ref if not ref.is_package else ModuleRef(ref.file, key)
    function = spec.manifest.function
    if function is not None:
        routes = _function_routes(name, function, spec, errors)
    spec.app_modules = tuple(app_modules) if function is None or function.form == "flask" else ()
    if spec.app_modules or (function is not None and function.form != "flask"):
        spec.app_factory = None  # an app made at top level wins, as in Flask's discovery
    spec.static_dir, spec.static_url = _app_static(name, facts, spec, errors)
    spec.has_static = spec.static_dir is not None and any(
        rel.startswith(spec.static_dir + "/") for rel in walked)
    if function is None:
        spec.static_mounts = _blueprint_statics(name, facts, registered_prefixes, process,
                                                errors)
    errors.extend(_template_folder_errors(name, facts))
    roots = {endpoint_module(e) for e in spec.modules} | set(spec.app_modules)
    if spec.app_factory is not None:
        roots.add(spec.app_factory[0])
    for dotted_list in spec.error_handlers.values():
        roots.update(dotted_list)
    if spec.manifest.function is not None:
        roots.add(spec.manifest.function.entrypoint.rsplit(".", 1)[0])
    if process:
        # Plain CPython imports what it finds; the health check imports it.
        import_errors, warnings = [], []
        if function is not None and function.form not in PROCESS_FORMS:
            errors.append(f"{name}/tenant.toml:1: [function] form {function.form!r} is not "
                          f"available in the process tier (forms: {', '.join(PROCESS_FORMS)})")
    else:
        import_errors, warnings = check_tenant_imports(
            name, facts, packages, roots, lambda module: _offered(module, extra_modules),
            lambda module, item: (MUX_ONLY_NAMES.get(item) if module == "flask" else
                                  JINJA2_REMOVED.get(item) if module == "jinja2" else None),
        )
    errors.extend(import_errors)
    spec.warnings = tuple(warnings)
    if function is None and aliased:
        viewed, spec.url_aliases = _url_aliases(name, facts, aliased, registered_prefixes,
                                                map_strict, routes, errors)
        routes.extend(viewed)
    spec.url_aliases += tuple(  # url_for("admin.static", filename=...)
        Route(f"{url}/<path:filename>", ("GET", "HEAD"), "", "", "", 1, "alias", False, (),
              "static", True, blueprint) for url, _, blueprint in spec.static_mounts)
    if spec.has_static and spec.static_url and not any(
            r.rule.startswith(spec.static_url + "/") for r in routes):
        spec.static_prefix = sys.intern(spec.static_url + "/")
    errors.extend(_route_conflicts(name, routes))
    if not process:
        errors.extend(_rule_errors(name, routes, spec.converters))
    spec.routes = shared(tuple(routes), exact=True)  # its defaults are the tenant's literals
    spec.version = sys.intern(version.hexdigest())
    spec.errors = tuple(errors)
    spec.modules = frozen_map(spec.modules)
    spec.sources = frozen_map(spec.sources)
    spec.error_handlers = frozen_map({code: tuple(modules)
                                      for code, modules in spec.error_handlers.items()})
    finished = spec.finished()
    # Tenants made from one template hold one content (issue 26).
    finished.content = shared(finished.content, parts_shared=SHARED_PARTS)
    return finished


def _shipped_databases(name: str, facts: dict, shipped: set[str]) -> list[str]:
    """A relative ``sqlite3.connect('app.db')`` opens ``/data/app.db`` here,
    where Flask run from the app's folder opens the ``app.db`` shipped
    beside the code: when the tenant ships that file, the two would answer
    from different databases (an empty one here), so it is refused with
    file and line instead."""
    errors = []
    for module in facts.values():
        for path, line in module.meta.get("sqlite_paths", ()):
            if path.startswith("/") or path.startswith("file:") or path == ":memory:":
                continue
            rel = posixpath.normpath(path)
            if rel in shipped:
                errors.append(
                    f"{name}/{module.file}:{line}: sqlite3.connect({path!r}) opens /data/{rel} "
                    f"here (a tenant's databases live in its data folder), not the {rel} this "
                    "tenant ships beside its code (its folder is /app, read-only): connect to "
                    "another name, or have the app copy the shipped file into /data before "
                    "its first connection")
    return errors


#: The methods each platform routes to its function (its runtime's rules).
FORM_METHODS = {
    "flask": ("GET", "POST", "PUT", "OPTIONS", "DELETE"),  # Fission's server.py (+ HEAD)
    "gcf": ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"),  # every method
    "openfaas": ("GET", "POST"),  # python3-flask's index.py
    "openfaas-http": ("GET", "PUT", "POST", "PATCH", "DELETE"),  # python3-http's index.py
    "nuclio": ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"),
    "vercel": ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"),
    # API Gateway's $default route (HTTP API) and ANY /{proxy+} (REST): every method.
    "lambda": ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"),
    "lambda-rest": ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"),
}


def _function_routes(tenant: str, function, spec: SpecDraft, errors: list[str]) -> list[Route]:
    """``[function]``: the entry point serves every method at the tenant's
    root and every path below it, as on its own platform; the tenant's other
    modules are helpers."""
    ref = spec.sources.get(function.module)
    if ref is None or ref.key is None:
        path = function.module.replace(".", "/")
        own = (f"{tenant}/{path}.py:", f"{tenant}/{path}/__init__.py:")
        if not any(error.startswith(own) for error in errors):
            # (A module that is there but failed has said why already.)
            errors.append(f"{tenant}/tenant.toml:1: [function] entrypoint "
                          f"{function.entrypoint!r}: no module {function.module!r} in this tenant")
        return []
    endpoint = function.module.replace(".", "/")
    spec.modules = {endpoint: ModuleRef(ref.file, ref.key)}
    methods = FORM_METHODS.get(function.form, FORM_METHODS["nuclio"])
    kind = sys.intern(f"function:{function.form}")
    return [Route(rule, methods, sys.intern(endpoint), sys.intern(function.name),
                  ref.file, 1, kind, True)
            for rule in ("/", "/<path:path>")]


def _origin_module(here: ModuleFacts, module: str, level: int, known) -> str | None:
    """The dotted name of the tenant module ``module`` (at ``level`` dots)
    means in the module ``here``; None when it is not one of the tenant's."""
    if not module and not level:
        return here.dotted
    if level:
        base = relative_base(here.dotted, here.is_package, level)
        if base is None:
            return None
        origin = ".".join(p for p in (base, module) if p)
        return origin if origin in known else None
    return resolve_tenant_module(module, known)


def _registered_prefixes(facts: dict[str, ModuleFacts]) -> dict:
    """``(module, blueprint variable) -> (url_prefix or None, url_defaults)``
    from every ``register_blueprint(bp, url_prefix=..., url_defaults=...)``
    in the tenant, so a blueprint's routes are registered where, and with
    the values, the app mounts it."""
    found = {}
    for here in facts.values():
        for module, level, var, prefix, defaults in here.meta.get("blueprint_prefixes", ()):
            origin = _origin_module(here, module, level, facts)
            if origin:
                found[(origin, var)] = (prefix, tuple(tuple(pair) for pair in defaults))
    return found


def _mounted_prefix(registered: dict, module: str, var: str, own: str | None) -> str | None:
    """The url prefix of ``var`` of ``module``: ``register_blueprint``'s,
    else its own."""
    given = registered.get((module, var), (None, ()))[0]
    return own if given is None else given


def _mount_defaults(facts: dict, registered: dict, module: str, var: str) -> tuple:
    """The ``url_defaults`` of blueprint ``var`` of ``module``, as Flask
    gives them to each of its routes: ``register_blueprint``'s over
    ``Blueprint``'s."""
    own = facts[module].meta.get("blueprint_url_defaults", {}).get(var, ())
    given = registered.get((module, var), (None, ()))[1]
    return tuple(sorted({**dict(tuple(pair) for pair in own), **dict(given)}.items()))


def _with_defaults(mount: tuple, route: tuple) -> tuple:
    """A blueprint route's defaults as Flask makes them: the blueprint's
    ``url_defaults`` (``register_blueprint``'s over ``Blueprint``'s), then
    the route's own ``defaults=`` over them."""
    if not mount:
        return tuple(tuple(pair) for pair in route)
    return tuple(sorted({**dict(mount), **dict(tuple(pair) for pair in route)}.items()))


def _map_strict_slashes(tenant: str, facts: dict[str, ModuleFacts], errors: list[str]) -> bool:
    """The tenant's ``app.url_map.strict_slashes`` (True unless a module
    sets it; two modules that disagree are an error)."""
    found = {facts[d].meta.get("strict_slashes") for d in facts} - {None}
    if len(found) > 1:
        errors.append(f"{tenant}/: url_map.strict_slashes is set to both True and False")
    return found.pop() if len(found) == 1 else True


def _tenant_converters(tenant: str, facts: dict[str, ModuleFacts], errors: list[str],
                       process: bool) -> tuple:
    """The tenant's URL converters (``app.url_map.converters``, one map for
    the app whichever module registers them): ``((name, info), ...)``. A
    registration that cannot be read is an error for a sandboxed tenant;
    a process tenant's Flask runs it (its router then matches such a
    converter's rules with werkzeug's default regex, for the logs only)."""
    found: dict[str, dict] = {}
    for dotted in sorted(facts):
        here = facts[dotted]
        registered = here.meta.get("converters") or {}
        problems = list(registered.get("problems", ()))
        for name, (module, level, cls), line in registered.get("found", ()):
            origin = _origin_module(here, module, level, facts)
            info = (facts[origin].meta.get("converter_classes") or {}).get(cls) \
                if origin is not None else None
            if info is None:
                problems.append([f"converter {name!r}: {cls} is not a class deriving from "
                                 "werkzeug.routing.BaseConverter (or another of werkzeug's "
                                 "converters) defined at the top of one of this tenant's "
                                 "modules", line])
                continue
            if "error" in info:
                if not process:
                    errors.append(f"{tenant}/{facts[origin].file}:{info['line']}: "
                                  f"{info['error']}")
                continue
            found[name] = info
        if not process:
            errors.extend(f"{tenant}/{here.file}:{line}: {message}"
                          for message, line in problems)
    return tuple(sorted(found.items()))


def _rule_errors(tenant: str, routes: list[Route], converters: tuple) -> list[str]:
    """Each rule checked again with the tenant's converters — one naming a
    converter that does not exist, given arguments its class refuses (a
    regex :func:`~muxserver.tenancy.converters.regex_problem` refuses), or
    with more than one converter matching slashes, as werkzeug's bind and
    :func:`~muxserver.tenancy.routes.check_rule` refuse them — and what
    matching them all may cost the host: rules that could be matched only
    against paths shorter than
    :data:`~muxserver.tenancy.converters.MIN_ROUTED_PATH` are refused
    (:func:`~muxserver.tenancy.converters.longest_routed_path`)."""
    scratch = Map()
    scratch.converters.update({name: host_converter(name, info) for name, info in converters})
    problems, patterns = [], []
    for route in routes:
        if "<" not in route.rule:
            continue
        checked = route.kind in ("flask", "alias")
        rule = Rule(route.rule)
        try:
            rule.bind(scratch)
        except Exception as exc:  # werkzeug raises ValueError/LookupError
            if checked:
                problems.append(f"{tenant}/{route.file}:{route.line}: route rule "
                                f"{route.rule!r} is not valid: {exc}")
            continue
        slashing = sum(not c.part_isolating for c in rule._converters.values())
        if checked and slashing > 1:
            problems.append(f"{tenant}/{route.file}:{route.line}: route rule {route.rule!r} has "
                            f"{slashing} converters that match slashes; one rule may have one "
                            "here (matching cost would grow as a power of the URL's length)")
            continue
        patterns.append((route, rule_patterns(rule)))
    longest = longest_routed_path([p for _, parts in patterns for p in parts])
    if longest < MIN_ROUTED_PATH:
        route = max(patterns, key=lambda item: sum(
            match_ways(p, MIN_ROUTED_PATH) for p in item[1]))[0]
        problems.append(
            f"{tenant}/{route.file}:{route.line}: route rule {route.rule!r} has too many "
            "parts of variable width side by side (converters in one segment, or in "
            "their regexes): the host's router matches with them outside any request's "
            f"limits, and this tenant's rules together could be matched only against "
            f"paths of at most {longest} characters within its bound (at least "
            f"{MIN_ROUTED_PATH} are needed); put a literal separator the converters do "
            "not match between them, or fewer converters in one segment")
    return problems


def _overwrites_a_view(tenant: str, views: dict, rel: str, handler: Handler, app: tuple,
                       blueprint: str | None, errors: list[str]) -> bool:
    """Whether ``handler`` maps an endpoint ``views`` has under another
    function: an error, as Flask's ``add_url_rule`` raises it when the
    module runs (one function under several rules is no overwrite). An
    app's endpoints are its own (each module may make its app); a
    blueprint's are named by the blueprint."""
    view_name = handler.name or handler.function
    endpoint = f"{blueprint}.{view_name}" if blueprint is not None else view_name
    mine = (rel, handler.view, handler.line)
    other = views.setdefault((app if blueprint is None else None, endpoint), mine)
    if other[:2] == mine[:2]:
        return False
    errors.append(f"{tenant}/{rel}:{handler.line}: AssertionError: View function mapping is "
                  f"overwriting an existing endpoint function: {endpoint} (the endpoint's "
                  f"function is at {tenant}/{other[0]}:{other[2]})")
    return True


def _imported_view_methods(tenant: str, facts: dict[str, ModuleFacts], here: ModuleFacts,
                           handler: Handler, errors: list[str]) -> tuple | None:
    """The methods of ``add_url_rule(view_func=Cls.as_view(...))`` for a
    view class imported from another module of the tenant, as that module's
    reading found them; None (and an error) when it could not."""
    module, level, cls = handler.view_class
    origin = _origin_module(here, module, level, facts)
    entry = facts[origin].meta.get("view_classes", {}).get(cls) if origin else None
    where = f"{tenant}/{here.file}:{handler.line}"
    if entry is None:
        errors.append(f"{where}: {cls} from {module or '.' * level!r} is not a View or MethodView "
                      "subclass defined at the top of one of this tenant's modules, so the "
                      "methods of its route cannot be read")
        return None
    verdict, value = entry
    if verdict == "error":
        errors.append(f"{where}: {value}")
        return None
    return tuple(value) if value else ("GET",)


def _note_file(version, root: str, rel: str) -> None:
    """A file that is not code (a template, a static file) changes the version
    by its size and time, without reading it."""
    try:
        st = os.stat(os.path.join(root, rel))
    except OSError:
        return
    version.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())


def _app_mount(tenant: str, facts: dict[str, ModuleFacts], here: ModuleFacts, handler: Handler,
               registered: dict, errors: list[str]) -> tuple | None:
    """``(url prefix, blueprint name, (module, variable), url defaults)`` of
    a Flask-style handler's app or blueprint: the prefix where
    ``register_blueprint`` mounts it, else its own ``url_prefix``; the name
    None for an app; a blueprint's ``url_defaults`` (``register_blueprint``'s
    over ``Blueprint``'s), which Flask gives each of its routes. None (and
    an error) when the decorator's object is not a Flask()/Blueprint() of
    the tenant."""
    module, level, var, own = handler.app
    origin = _origin_module(here, module, level, facts)
    if origin is not None and own is None:
        own = facts[origin].meta.get("app_objects", {}).get(var)
    if origin is None or own is None:
        where = f"{module or '.' * level}" if module or level else here.dotted
        errors.append(f"{tenant}/{here.file}:{handler.line}: @{var}.route(...) is on {var!r} "
                      f"from {where!r}, which is not made by Flask(...) or Blueprint(...) at the "
                      "top of one of this tenant's modules, so its route cannot be read")
        return None
    blueprint = facts[origin].meta.get("blueprint_names", {}).get(var)
    defaults = _mount_defaults(facts, registered, origin, var) if blueprint is not None else ()
    return _mounted_prefix(registered, origin, var, own), blueprint, (origin, var), defaults


def _read(root: str, rel: str, errors: list[str], display: str,
          limit: int | None = None) -> bytes | None:
    """The bytes of the tenant's file ``rel``, or None with an error (one
    it cannot read, or one over ``limit`` bytes)."""
    try:
        with open(os.path.join(root, rel), "rb") as f:
            data = f.read() if limit is None else f.read(limit + 1)
    except OSError as exc:
        errors.append(f"{display}:1: cannot read: {exc.strerror}")
        return None
    if limit is not None and len(data) > limit:
        errors.append(f"{display}:1: over {limit // 1024} KB; the server reads at most that")
        return None
    return data


def _add_source(sources: dict[str, ModuleRef], packages: set[str], rel: str,
                key: str) -> tuple[str, bool]:
    """Record one module under its dotted name; return ``(dotted, is_package)``."""
    parts = rel[:-3].split("/")
    is_package = parts[-1] == "__init__"
    if is_package:
        parts = parts[:-1]
    dotted = ".".join(parts)
    sources[sys.intern(dotted)] = ModuleRef(sys.intern(rel), key, is_package)
    # Every folder on the way is a package, with or without __init__.py.
    for depth in range(1, len(parts)):
        folder = ".".join(parts[:depth])
        packages.add(folder)
        if folder not in sources:
            sources[folder] = ModuleRef(f"{'/'.join(parts[:depth])}/", None, True)
    if is_package:
        packages.add(dotted)
    return dotted, is_package


_OFFERED_CACHE: dict = {}


def _offered(module: str, extra_modules: frozenset[str]) -> frozenset[str] | None:
    """The names the sandbox's ``module`` offers a tenant, or None."""
    cache_key_ = (module, extra_modules)
    if cache_key_ not in _OFFERED_CACHE:
        if module == "":  # the list of modules, for messages
            names = tuple(sorted(set(ALLOWED_MODULES) | set(extra_modules)))
        elif module == "mux":
            names = frozenset(module_attrs({}, None))
        elif module == "flask":
            names = frozenset(flask_module_attrs(module_attrs({}, None)))
        elif module == "http":
            names = frozenset(["HTTPStatus", "server"])
        elif module == "http.server":
            names = frozenset(["BaseHTTPRequestHandler"])
        elif module == "functions_framework":
            names = frozenset(functions_framework_attrs(None))
        elif module == "flask.views":
            names = frozenset(views_module())
        elif module == "flask.cli":
            names = frozenset(flask_cli_module())
        elif module == "click":
            names = CLICK_NAMES
        elif module in COMPANIONS:
            names = COMPANIONS[module]
        else:
            names = offered_names(module, extra_modules)
        _OFFERED_CACHE[cache_key_] = names
    return _OFFERED_CACHE[cache_key_]


def _blueprint_statics(tenant: str, facts: dict, registered: dict, process: bool,
                       errors: list[str]) -> tuple:
    """``(url, folder, blueprint)`` for each ``Blueprint(static_folder=...)``
    of the tenant: Flask's ``static_url_path`` (``/`` and the folder's last
    name unless given) under the blueprint's prefix (``register_blueprint``'s,
    else its own), the folder beside the blueprint's module (its
    ``root_path``), which must be inside the tenant (:func:`_static_folder`).
    One with ``url_defaults`` is an error (Flask's static view fails)."""
    mounts = []
    for dotted, here in facts.items():
        for var, (recipe, url_path, line, source) in here.meta.get("blueprint_statics",
                                                                     {}).items():
            blueprint = here.meta.get("blueprint_names", {}).get(var)
            if blueprint is None:
                continue
            found = _static_folder(tenant, here, "Blueprint", recipe, source, line, process,
                                   errors)
            if found is None:
                continue
            if _mount_defaults(facts, registered, dotted, var):
                # Flask's static rule gets them too, and send_static_file()
                # takes no such argument: every static file answers 500.
                errors.append(f"{tenant}/{here.file}:{line}: Blueprint(static_folder=...) with "
                              "url_defaults (the blueprint's or register_blueprint's): Flask "
                              "passes them to its static view too, which raises TypeError "
                              "(every static file answers 500); give the values as defaults= "
                              "of each route instead")
                continue
            on_disk, last_name = found
            own = here.meta.get("app_objects", {}).get(var, "")
            prefix = _mounted_prefix(registered, dotted, var, own) or ""
            url = prefix.rstrip("/") + (url_path or "/" + last_name)
            mounts.append((sys.intern(url), sys.intern(on_disk), sys.intern(blueprint)))
    return tuple(mounts)


def _app_static(tenant: str, facts: dict, spec: SpecDraft,
                errors: list[str]) -> tuple[str | None, str | None]:
    """``(folder, url path)`` of the app's static route, as Flask makes it:
    its ``static_folder`` (``static`` unless told, None: no route) relative
    to the app's ``root_path`` — the folder of the module making the app
    (``flaskr/__init__.py``: ``flaskr/static``; the first such module, or
    the app factory's) — and its ``static_url_path``, by default ``/`` and
    the folder's last name. A folder outside the tenant, or the tenant's
    own folder (its ``tenant.toml`` is no static file), is an error with
    file and line (:func:`_static_folder`). A tenant without a Flask app
    serves ``static/`` at ``/static``."""
    maker = spec.app_modules[0] if spec.app_modules else (
        spec.app_factory[0] if spec.app_factory is not None else None)
    if maker is None or maker not in facts:
        return "static", "/static"
    here = facts[maker]
    options = here.meta.get("app_statics") or [["static", None, 1, None]]
    recipe, url, line, source = options[0]
    if recipe is None:
        return None, None
    found = _static_folder(tenant, here, "Flask", recipe, source, line, spec.is_process,
                           errors)
    if found is None:
        return None, None
    on_disk, last_name = found
    if url is None:
        url = ("/" + last_name).rstrip("/")
    return sys.intern(on_disk), sys.intern(url)


def _static_folder(tenant: str, here, factory: str, recipe, source: str | None, line: int,
                   process: bool, errors: list[str]) -> tuple[str, str] | None:
    """``(folder relative to the tenant, its last name)`` of a static
    folder whose recipe (:mod:`muxserver.tenancy.folders`) is computed in
    the module ``here``, as Flask names it: the value, its trailing
    slashes dropped, joined with the module's folder (its ``root_path``).
    None, with an error, for a folder outside the tenant or the tenant's
    own folder, and in the process tier for one computed from the working
    directory (there the tenant's data folder: its Flask would name
    another folder than the one served)."""
    value = evaluate(recipe, here.file).rstrip("\\/")
    root_path = posixpath.join(APP, posixpath.dirname(here.file)).rstrip("/")
    on_disk = tenant_folder(value, root_path)
    given = source if source is not None else repr(value)
    computed = "" if given == repr(value) else f" ({value!r} here)"
    if process and uses_cwd(recipe, here.file):
        errors.append(f"{tenant}/{here.file}:{line}: {factory}(static_folder={given}) depends "
                      "on the working directory, which is the tenant's data folder in the "
                      "process tier: name it from the module's folder "
                      "(os.path.join(os.path.dirname(__file__), 'static'))")
        return None
    if on_disk is None or on_disk == "." or "\\" in value:
        where = ("the tenant's own folder" if on_disk == "." else
                 "a Windows path" if on_disk is not None else
                 "no folder's name (it holds a NUL or a character no file name has)"
                 if not is_folder_name(value) else "outside the tenant's folder")
        errors.append(f"{tenant}/{here.file}:{line}: {factory}(static_folder={given}){computed} "
                      f"is {where}: a static folder is a folder inside the tenant (the tenant "
                      "sees its folder as /app); move the files into one")
        return None
    return on_disk, posixpath.basename(posixpath.join(root_path, value))


def _template_folder_errors(tenant: str, facts: dict) -> list[str]:
    """A ``template_folder`` the reader computed outside the tenant: no
    template is read there (Flask would read them), so it is refused with
    file and line rather than answered from another folder."""
    errors = []
    for here in facts.values():
        root_path = posixpath.join(APP, posixpath.dirname(here.file)).rstrip("/")
        for recipe, line, source, factory in here.meta.get("template_folders", ()):
            value = evaluate(recipe, here.file)
            if tenant_folder(value, root_path) is None:
                computed = "" if source == repr(value) else f" ({value!r} here)"
                errors.append(f"{tenant}/{here.file}:{line}: {factory}(template_folder="
                              f"{source}){computed} is outside the tenant's folder: templates "
                              "are read from folders inside the tenant (the tenant sees its "
                              "folder as /app); move them into one")
    return errors


def static_route(spec: TenantSpec) -> Route | None:
    """The app's static route for the tenant's router, when it is not
    checked before routing (:attr:`TenantSpec.static_prefix`): its
    ``static_url_path`` is ``""`` (``/<path:filename>``, which werkzeug
    ranks below every other rule: a view answers where both match), or a
    view's rule starts with it (and the folder has files). None when the
    prefix decides, or the app has no static route.

    .. warning:: With a prefix, and for a folder without files, a request
        below the url path that is not GET or HEAD is routed as if the
        static rule were not there (404 where Flask answers 405).
    """
    if spec.static_url is None or spec.static_prefix is not None or not (
            spec.has_static or spec.static_url == ""):
        return None
    return Route(f"{spec.static_url}/<path:filename>", ("GET", "HEAD"), "static", "static", "",
                 1, "static", False, (), "static", True, None)


def _url_aliases(tenant: str, facts: dict, aliased: list, registered_prefixes,
                 map_strict: bool, routes: list[Route], errors: list[str]) -> tuple[list, tuple]:
    """The rules ``add_url_rule(rule, endpoint=...)`` adds without a view, in
    the modules of ``aliased``, mounted as their app's routes are:
    ``(routes, aliases)``.

    Flask matches such a rule like any other and calls the view registered
    for its endpoint: where a view has that endpoint, the rule is one more
    route of it; where none has (the Flask tutorial's ``"/"`` named
    ``index``, served by ``blog.index`` registered first), ``url_for``
    builds it and the request goes to the view of the same rule. A rule
    and method that no view answers is refused: Flask answers 500 there
    (no view function for the endpoint).

    .. warning:: The order is not checked: an alias registered before a
       view of the same rule takes that rule's requests in Flask (500s)."""
    viewed, aliases = [], []
    served = {(route.rule, method) for route in routes for method in route.methods}
    for dotted, rel in aliased:
        for raw in facts[dotted].meta["handlers"]:
            handler = Handler(*raw)
            if handler.kind != "alias":
                continue
            mounted = _app_mount(tenant, facts, facts[dotted], handler, registered_prefixes,
                                 errors)
            if mounted is None:
                continue
            prefix, blueprint, _, mount_defaults = mounted
            rule = sys.intern(prefix + handler.rule)
            endpoint = f"{blueprint}.{handler.name}" if blueprint is not None else handler.name
            strict = handler.strict_slashes if handler.strict_slashes is not None else map_strict
            defaults = _with_defaults(mount_defaults, handler.defaults)
            view = next((r for r in routes if r.kind == "flask"
                         and r.flask_endpoint == endpoint), None)
            if view is not None:
                viewed.append(view._replace(rule=rule, methods=_methods(handler.methods),
                                            defaults=defaults, strict_slashes=strict,
                                            file=sys.intern(rel), line=handler.line))
                continue
            bare = [m for m in handler.methods if (rule, m) not in served]
            if bare:
                errors.append(f"{tenant}/{rel}:{handler.line}: add_url_rule({rule!r}, "
                              f"endpoint={handler.name!r}) has no view_func, no view has that "
                              f"endpoint and none serves {', '.join(bare)} {rule}: Flask "
                              "answers such a request 500 (no view function for the "
                              "endpoint); give it a view_func")
                continue
            aliases.append(Route(
                rule, _methods(handler.methods), "", "", sys.intern(rel), handler.line,
                "alias", False, defaults, sys.intern(handler.name), strict,
                sys.intern(blueprint) if blueprint is not None else None))
    return viewed, tuple(aliases)


def _route_conflicts(tenant: str, routes: list[Route]) -> list[str]:
    seen: dict[tuple[str, str], Route] = {}
    errors = []
    for route in routes:
        for method in route.methods:
            other = seen.setdefault((route.rule, method), route)
            if other is not route and other.file != route.file:
                errors.append(
                    f"{tenant}/{route.file}:{route.line}: {method} {route.rule} is also "
                    f"defined in {tenant}/{other.file}:{other.line}"
                )
    return errors


def list_tenants(tenants_dir: Path | str) -> tuple[list[str], list[str]]:
    """Tenant folder names, and warnings for folders that are not tenants."""
    names, warnings = [], []
    try:
        entries = sorted(os.scandir(tenants_dir), key=lambda e: e.name)
    except OSError as exc:
        return [], [f"cannot read tenants dir {tenants_dir}: {exc.strerror}"]
    for entry in entries:
        if entry.name.startswith(".") or not entry.is_dir():
            continue
        if TENANT_NAME.match(entry.name):
            names.append(entry.name)
        else:
            warnings.append(
                f"ignoring {entry.name!r}: tenant names are [a-z0-9][a-z0-9-]{{0,62}}"
            )
    return names, warnings

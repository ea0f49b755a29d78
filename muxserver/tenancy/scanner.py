"""Register tenants: read a tenant's folder into a :class:`TenantSpec`.

The scan reads every file, compiles every module under the sandbox policy
(through the code cache, so an unchanged file costs a hash and a small
read), and finds routes in the syntax trees. It runs no tenant code. A
tenant's spec is all or nothing: any error in any file leaves ``errors``
non-empty, and the registry keeps serving the previous good spec.

Layout rules (SPEC "Tenants dir"): ``lib/**.py`` are library modules,
``static/**`` are files, every other ``.py`` is an endpoint module; names
starting with ``.`` or ``_`` (``.git``, ``__pycache__``) and symbolic links
are skipped, so a tenant cannot point the server at files outside its folder.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import time
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import NamedTuple

from muxserver.tenancy.codecache import CodeCache
from muxserver.tenancy.codecache import cache_key
from muxserver.tenancy.manifest import Manifest
from muxserver.tenancy.manifest import ManifestError
from muxserver.tenancy.manifest import TenantRules
from muxserver.tenancy.manifest import parse_manifest
from muxserver.tenancy.routes import Handler
from muxserver.tenancy.routes import file_rule
from muxserver.tenancy.routes import find_handlers
from sandbox import compile_tenant
from sandbox.compiler import decode_source

log = logging.getLogger("muxserver.scanner")

TENANT_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
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


class ModuleRef(NamedTuple):
    """Where a module's compiled code is: its file and its content key."""

    file: str
    key: str | None  # None for a lib folder without __init__.py
    is_package: bool = False


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


@dataclass
class TenantSpec:
    """Everything known about one version of a tenant without running it."""

    name: str
    root: str
    version: str = ""
    routes: tuple[Route, ...] = ()
    modules: dict[str, ModuleRef] = field(default_factory=dict)
    libs: dict[str, ModuleRef] = field(default_factory=dict)
    manifest: Manifest = field(default_factory=Manifest)
    has_static: bool = False
    errors: tuple[str, ...] = ()
    scanned_at: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.errors


#: Deepest folder nesting inside a tenant that is scanned.
MAX_DEPTH = 32


def _walk(root: str, rel: str = "", depth: int = 0):
    """Yield relative file paths under ``root``, sorted, skipping hidden
    names, ``_``-prefixed names and symlinks."""
    if depth > MAX_DEPTH:
        raise ValueError(f"folders nested more than {MAX_DEPTH} deep")
    try:
        entries = sorted(os.scandir(os.path.join(root, rel)), key=lambda e: e.name)
    except OSError:
        return
    for entry in entries:
        name = entry.name
        if name.startswith((".", "_")) and name != "__init__.py":
            continue
        if entry.is_symlink():
            continue
        path = f"{rel}/{name}" if rel else name
        if entry.is_dir(follow_symlinks=False):
            yield from _walk(root, path, depth + 1)
        elif entry.is_file(follow_symlinks=False):
            yield path


def compile_file(
    cache: CodeCache,
    display_name: str,
    data: bytes,
    *,
    find_routes: bool,
    extra_modules: frozenset[str] = frozenset(),
):
    """Compile one file through the cache.

    :return: ``(key, handlers, errors)``; handlers is ``None`` for lib modules.
    """
    key = cache_key(display_name, data, extra_modules)
    hit = cache.get(key)
    if hit is not None:
        meta, _ = hit
        return key, meta, ()
    text, error = decode_source(data, display_name)
    if error:
        return key, None, (error,)
    result = compile_tenant(
        text,
        display_name,
        inspect=find_handlers if find_routes else None,
        extra_modules=extra_modules,
    )
    if not result.ok:
        return key, None, result.errors
    meta = [tuple(h) for h in result.extra] if find_routes else None
    cache.put(key, meta, result.code)
    return key, meta, ()


def scan_tenant(
    root: Path | str,
    name: str,
    cache: CodeCache,
    rules: TenantRules,
    extra_modules: frozenset[str] = frozenset(),
) -> TenantSpec:
    """Read one tenant's folder into a spec (``spec.errors`` says if it failed).

    Never raises for anything in the folder: one tenant's odd files must not
    stop the registration of the others.
    """
    if name in RESERVED_NAMES:
        return TenantSpec(name=name, root=str(root), scanned_at=time.time(),
                          errors=(f"{name}/: the tenant name {name!r} is reserved: it names a "
                                  "package of the server; rename the folder",))
    try:
        return _scan_tenant(str(root), name, cache, rules, extra_modules)
    except (OSError, ValueError, RecursionError, MemoryError) as exc:
        log.exception("scanning tenant %s failed", name)
        return TenantSpec(name=name, root=str(root), scanned_at=time.time(),
                          errors=(f"{name}/: cannot be registered: {exc}",))


def _scan_tenant(root: str, name: str, cache: CodeCache, rules: TenantRules,
                 extra_modules: frozenset[str]) -> TenantSpec:
    spec = TenantSpec(name=name, root=root, scanned_at=time.time(),
                      manifest=Manifest(limits=rules.defaults))
    errors: list[str] = []
    version = hashlib.blake2b(digest_size=16)
    routes: list[Route] = []
    files = 0
    for rel in _walk(root):
        files += 1
        if files > MAX_TENANT_FILES:
            errors.append(f"{name}/: more than {MAX_TENANT_FILES} files")
            break
        display = f"{name}/{rel}"
        if rel == "tenant.toml":
            data = _read(root, rel, errors, display)
            if data is None:
                continue
            version.update(b"tenant.toml\0" + data)
            try:
                spec.manifest = parse_manifest(data, name, display, rules)
            except ManifestError as exc:
                errors.extend(exc.errors)
            continue
        top = rel.split("/", 1)[0]
        if top == "static" and "/" in rel:
            spec.has_static = True
            continue
        if not rel.endswith(".py"):
            continue
        data = _read(root, rel, errors, display)
        if data is None:
            continue
        is_lib = top == "lib" and "/" in rel
        key, meta, file_errors = compile_file(
            cache, display, data, find_routes=not is_lib, extra_modules=extra_modules
        )
        version.update(f"{rel}\0{key}\0".encode())
        if file_errors:
            errors.extend(file_errors)
            continue
        module_path = rel[:-3]
        if is_lib:
            _add_lib(spec.libs, module_path, rel, key)
            continue
        endpoint = module_path
        for raw in meta:
            handler = Handler(*raw)
            rule = handler.rule if handler.rule is not None else file_rule(endpoint)
            routes.append(
                Route(
                    rule, handler.methods, endpoint, handler.function, rel,
                    handler.line, handler.kind, handler.takes_request,
                )
            )
        spec.modules[endpoint] = ModuleRef(rel, key)
    errors.extend(_route_conflicts(name, routes))
    spec.routes = tuple(routes)
    spec.version = version.hexdigest()
    spec.errors = tuple(errors)
    return spec


def _read(root: str, rel: str, errors: list[str], display: str) -> bytes | None:
    try:
        with open(os.path.join(root, rel), "rb") as f:
            return f.read()
    except OSError as exc:
        errors.append(f"{display}:1: cannot read: {exc.strerror}")
        return None


def _add_lib(libs: dict[str, ModuleRef], module_path: str, rel: str, key: str) -> None:
    parts = module_path.split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
        libs[".".join(parts)] = ModuleRef(rel, key, True)
    else:
        libs[".".join(parts)] = ModuleRef(rel, key, False)
    # Every folder on the way is a package, with or without __init__.py.
    for depth in range(1, len(parts)):
        dotted = ".".join(parts[:depth])
        if dotted not in libs:
            libs[dotted] = ModuleRef(f"{'/'.join(parts[:depth])}/", None, True)


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

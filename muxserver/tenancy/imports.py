"""Deploy-time checks of a tenant's imports and names, across its modules.

Python finds a module's imports when they run; a host of many tenants wants
the answer at deploy time, with file and line, while the last good version
keeps serving. Each ``import`` must name one of the tenant's own modules
(relative imports inside its packages included), or a module the sandbox
offers, and ``from X import name`` must name something X offers. Each name
a module uses must be defined (pyflakes).

Problems are errors in the modules a request can reach — the endpoint
modules, the modules that make the app, the ``[function]`` entry point and
everything they import — and warnings elsewhere, so a test file or a
``setup.py`` shipped beside the function does not sink the deploy.
"""

from __future__ import annotations

import builtins
from typing import Callable
from typing import NamedTuple


#: Names Python's own builtins offer (a use of one the sandbox leaves out
#: gets its own message).
PYTHON_BUILTINS = frozenset(dir(builtins))

#: Where code the sandbox cannot run goes instead (SPEC, "The process tier"):
#: every refusal of a module, a name or a builtin ends with it.
PROCESS_TIER = ('a tenant with runtime = "process" runs plain Python, with the packages '
                "its requirements.txt lists")


class ModuleFacts(NamedTuple):
    """One tenant module as the check sees it."""

    dotted: str
    file: str
    is_package: bool
    meta: dict  # from muxserver.tenancy.reading.read_module


def resolve_tenant_module(name: str, modules) -> str | None:
    """The dotted name of the tenant module ``import name`` loads: its own
    module of that name, else the one under ``lib/`` (``lib/`` is on the path)."""
    if name in modules:
        return name
    if "lib." + name in modules:
        return "lib." + name
    return None


def relative_base(dotted: str, is_package: bool, level: int) -> str | None:
    """The package a relative import of ``level`` dots starts from."""
    parts = dotted.split(".") if is_package else dotted.split(".")[:-1]
    if level - 1 > len(parts):
        return None  # above the tenant's folder (its root counts as a package)
    return ".".join(parts[: len(parts) - (level - 1)])


def check_tenant_imports(
    tenant: str,
    modules: dict[str, ModuleFacts],
    packages: set[str],
    roots: set[str],
    facade_names: Callable[[str], frozenset[str] | None],
    advice: Callable[[str, str], str | None] = lambda module, name: None,
) -> tuple[list[str], list[str]]:
    """``(errors, warnings)`` as ``"tenant/file:line: message"``.

    :param modules: dotted name -> facts, for every ``.py`` of the tenant.
    :param packages: dotted names of folders (packages with or without
        ``__init__.py``).
    :param roots: dotted names of the modules requests start from.
    :param facade_names: the names a sandbox module offers, or None when
        there is no such module.
    :param advice: what to write instead of ``from module import name``
        that the server's module does not offer, or None.
    """
    known = set(modules) | packages
    problems: dict[str, list[str]] = {}
    notes: list[str] = []
    edges: dict[str, set[str]] = {name: set() for name in modules}
    for facts in modules.values():
        found = problems.setdefault(facts.dotted, [])
        where = f"{tenant}/{facts.file}"
        for module, names, level, line, guarded in facts.meta.get("imports", ()):
            if guarded:
                continue  # inside try/except ImportError: the module copes
            if level:
                base = relative_base(facts.dotted, facts.is_package, level)
                if base is None or (base and base not in known):
                    found.append(f"{where}:{line}: relative import goes above the tenant's "
                                 "root folder")
                    continue
                target = ".".join(p for p in (base, module) if p)
                if module and target not in known:
                    found.append(f"{where}:{line}: no module {target!r} in this tenant")
                    continue
                edges[facts.dotted].add(target)
                for item in names if not module else ():
                    sub = f"{target}.{item}" if target else item
                    if sub in known:
                        edges[facts.dotted].add(sub)
                    elif target not in modules:
                        found.append(f"{where}:{line}: cannot import {item!r}: no module "
                                     f"{sub!r} in this tenant")
                continue
            local = resolve_tenant_module(module, known)
            if local is not None:
                edges[facts.dotted].add(local)
                for item in names:
                    if f"{local}.{item}" in known:
                        edges[facts.dotted].add(f"{local}.{item}")
                continue
            top = module.split(".")[0]
            if resolve_tenant_module(top, known) is not None:
                found.append(f"{where}:{line}: no module {module!r} in this tenant")
                continue
            offered = facade_names(module)
            if offered is None:
                found.append(
                    f"{where}:{line}: `import {module}` is not allowed: it is neither one of "
                    "this tenant's modules nor one the server offers (allowed: "
                    f"{', '.join(facade_names(''))}); {PROCESS_TIER}"
                )
                continue
            for item in names:
                if item != "*" and item not in offered and facade_names(f"{module}.{item}") is None:
                    found.append(f"{where}:{line}: cannot import name {item!r} from {module!r}: "
                                 + (advice(module, item)
                                    or f"the server's {module} does not offer it; {PROCESS_TIER}"))
        for module, attr, line in facts.meta.get("module_attrs", ()):
            if resolve_tenant_module(module.split(".")[0], known) is not None:
                continue  # the tenant's own module (its names are its own)
            offered = facade_names(module)
            if offered is None or attr in offered or facade_names(f"{module}.{attr}") is not None:
                continue  # (an import the server does not offer says so itself)
            # A warning, not a refusal: the sandbox's attribute guard answers
            # it at run time (its attack tests reach it), and code may test
            # for the name first.
            notes.append(f"{where}:{line}: {module}.{attr} is not offered here: the server's "
                         f"{module} has no {attr!r}; a request that reaches it raises "
                         "AttributeError")
        for key in ("unusable_paths", "unoffered"):
            for message, line in facts.meta.get(key, ()):
                found.append(f"{where}:{line}: {message}")
        for name, line in facts.meta.get("undefined", ()):
            if name in PYTHON_BUILTINS:
                found.append(f"{where}:{line}: {name!r} is one of Python's builtins the sandbox "
                             f"does not offer (README, 'Ordinary Python'); {PROCESS_TIER}")
            else:
                found.append(f"{where}:{line}: undefined name {name!r}")
    reachable = _closure(roots, edges)
    errors, warnings = [], []
    for dotted, found in problems.items():
        (errors if dotted in reachable else warnings).extend(found)
    return errors, warnings + notes


def _closure(roots: set[str], edges: dict[str, set[str]]) -> set[str]:
    seen = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        # A module's packages run before it, as Python imports them.
        parts = name.split(".")
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)))
        todo.extend(edges.get(name, ()))
    return seen

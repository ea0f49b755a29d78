"""What registration reads from one module's syntax tree, running none of it.

:func:`read_module` gives the facts the scanner and the loader need, kept in
the code cache beside the compiled code (so an unchanged file is not read
again): its handlers (:mod:`muxserver.tenancy.routes`), what it imports, the
names it uses but never defines (pyflakes), whether it makes a ``Flask``
app, and which status codes its ``errorhandler`` decorators cover.
"""

from __future__ import annotations

import ast

from pyflakes import checker as pyflakes_checker
from pyflakes import messages as pyflakes_messages

from muxserver.tenancy.routes import find_handlers

#: Names the sandbox gives every module besides Python's builtins.
MODULE_GLOBALS = frozenset(["__file__", "__name__", "__package__"])


def read_module(tree: ast.Module) -> dict:
    """The facts of one module (JSON-friendly, stored in the code cache).

    :raises SyntaxError: with ``lineno`` when a route cannot be read.
    """
    return {
        "handlers": [list(h) for h in find_handlers(tree)],
        "imports": read_imports(tree),
        "undefined": undefined_names(tree),
        "makes_app": _makes_app(tree),
        "error_codes": _error_codes(tree),
    }


def read_imports(tree: ast.Module) -> list[list]:
    """``[module, [names], level, line]`` for every import statement.

    ``import a.b`` is ``["a.b", [], 0, line]``; ``from . import x`` is
    ``["", ["x"], 1, line]``.
    """
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append([alias.name, [], 0, node.lineno])
        elif isinstance(node, ast.ImportFrom):
            found.append([node.module or "", [a.name for a in node.names], node.level,
                          node.lineno])
    return found


def undefined_names(tree: ast.Module) -> list[list]:
    """``[name, line]`` for each name used and never defined (pyflakes)."""
    try:
        check = pyflakes_checker.Checker(tree, builtins=set(MODULE_GLOBALS))
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


def _error_codes(tree: ast.Module) -> list[int]:
    codes = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for deco in node.decorator_list:
                if (isinstance(deco, ast.Call) and isinstance(deco.func, ast.Attribute)
                        and deco.func.attr in ("errorhandler", "app_errorhandler")
                        and deco.args and isinstance(deco.args[0], ast.Constant)
                        and isinstance(deco.args[0].value, int)):
                    codes.add(deco.args[0].value)
    return sorted(codes)

"""Folders an app computes from its module's location, read at deploy.

Flask code often names its folders from where its module is::

    BASE_DIR = os.path.abspath(os.path.dirname(__file__))
    app = Flask(__name__, static_folder=os.path.join(BASE_DIR, "static"))

The static route is made at deploy, before any tenant code runs, so the
register step reads such an expression without running it.
:class:`FolderReader` turns one into a *recipe*, a JSON-friendly tree kept
in the code cache (which is keyed by content, so a recipe names no file),
and :func:`evaluate` computes it for the module's file with the very
functions the sandbox gives tenant code: ``__file__`` is ``/app/<file>``,
the working directory ``/app`` (the tenant's folder, where ``flask run``
runs a project), ``abspath``/``realpath`` join with it and normalise
(there are no symbolic links to follow in a tenant's code), ``join``,
``dirname`` and ``normpath`` are :mod:`posixpath`'s. So the folder served
is the folder tenant code computes when it reads ``app.static_folder``.

A recipe is a ``str`` (a literal), None, or a list ``[op, *arguments]``:
``["file"]``, ``["cwd"]``, ``["join", ...]``, ``["dirname", x]``,
``["abspath", x]``, ``["realpath", x]``, ``["normpath", x]``,
``["concat", ...]`` (``+`` and f-strings).

.. warning:: Only that closed set is read: ``pathlib`` (not offered to
   tenant code), ``os.environ``/``os.getenv``, names imported from other
   modules, attributes and anything else are not, and the caller refuses
   them with the line. A name is read when it is bound once, by a plain
   assignment at the top of the module or of the function making the app
   (a parameter, or a name bound twice or in a block, is not); an
   ``os.path`` function is read through an import nothing else binds its
   name to (:func:`muxserver.tenancy.routes.imported_names`), in the module
   or in the enclosing functions.
"""

from __future__ import annotations

import ast
import os
import posixpath
from collections import Counter

from muxserver.tenancy.folding import function_binders
from muxserver.tenancy.folding import module_binding_counts
from muxserver.tenancy.folding import shadowing_names
from muxserver.tenancy.routes import object_origin

#: Where tenant code sees its own folder (``sandbox.facades.files.APP``, not
#: imported: the compiler process, which reads folders, loads no facade).
APP = "/app"
#: What :meth:`FolderReader.read` gives for an expression it does not read.
NOT_READ = object()

#: What a refusal lists as the forms that are read.
READ_FORMS = ("a literal, __file__, os.getcwd(), os.path.join/dirname/abspath/realpath/"
              "normpath, str(), + and f-strings of those, and names bound once to them "
              "(at the top of the module or of the function making the app)")

#: ``os.path`` functions read, by the number of arguments they take (None: any).
_PATH_FUNCTIONS = {"join": None, "dirname": 1, "abspath": 1, "realpath": 1, "normpath": 1}

#: Most a recipe weighs (one per operation, one per character of its
#: literals, counted once per use): a folder is a few joins of a path's
#: length (4096 bytes at most), not a program; the code cache stores it.
MAX_RECIPE_WEIGHT = 8192
#: Most operations nested in one recipe (a name bound to a ``dirname`` of
#: the name before, thousands of times, would nest past the stack that
#: evaluates it and the code cache that stores it).
MAX_RECIPE_DEPTH = 64


class _Scope:
    """What names are where an expression is read: ``value(name)``, its
    recipe (:data:`NOT_READ` when not read), and ``shadowing``, the names
    the enclosing functions bind by anything but an import (there a
    module's import of the name is not what the name is)."""

    def __init__(self, value, shadowing: frozenset = frozenset()):
        self.value = value
        self.shadowing = shadowing


class FolderReader:
    """Reads folder expressions of one module into recipes.

    :param tree: the module.
    :param imports: its import bindings
        (:func:`muxserver.tenancy.routes.imported_names`).
    """

    def __init__(self, tree: ast.Module, imports: dict):
        self._imports = imports
        self._functions: dict[int, object] = {}
        self._weights: dict[int, int] = {}
        counts = module_binding_counts(tree.body)
        # Known before the first read: ``X = str(...)`` at the top asks it.
        self._module_names = frozenset(counts) | frozenset(imports)
        env: dict = {}
        module = _Scope(lambda name: env.get(name, NOT_READ))
        for node in tree.body:
            target, value = _single_assignment(node)
            if target is not None and counts.get(target) == 1:
                env[target] = self._read(value, module)
        self._module = module

    def read(self, node: ast.AST, functions: tuple = ()):
        """The recipe of ``node``, an expression inside ``functions`` (its
        enclosing ``def``s, outermost first), or :data:`NOT_READ`."""
        scope = self._module
        for function in functions:
            scope = self._function_scope(function, scope)
        return self._read(node, scope)

    def _function_scope(self, function, outer: _Scope) -> _Scope:
        """Names of ``function``'s own: those bound once by a plain
        assignment at its top are read, any other it binds (a parameter,
        a loop variable) is not; the rest are ``outer``'s."""
        found = self._functions.get(id(function))
        if found is not None:
            return found
        counts = Counter(name for name, _ in function_binders(function))
        params = {a.arg for a in ast.walk(function.args) if isinstance(a, ast.arg)}
        env: dict = {}

        def lookup(name):
            if name in counts:
                return env.get(name, NOT_READ)
            return outer.value(name)

        scope = _Scope(lookup, outer.shadowing | shadowing_names(function))
        for node in function.body if isinstance(function.body, list) else ():
            target, value = _single_assignment(node)
            if target is not None and counts[target] == 1 and target not in params:
                env[target] = self._read(value, scope)
        self._functions[id(function)] = scope
        return scope

    def _read(self, node, scope: _Scope):
        if isinstance(node, ast.Constant):
            return node.value if node.value is None or type(node.value) is str else NOT_READ
        if isinstance(node, ast.Name):
            return self._made("file", []) if node.id == "__file__" else scope.value(node.id)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return self._concat([node.left, node.right], scope)
        if isinstance(node, ast.JoinedStr):
            parts = []
            for value in node.values:
                if isinstance(value, ast.FormattedValue):
                    if value.format_spec is not None or value.conversion not in (-1, ord("s")):
                        return NOT_READ
                    value = value.value
                parts.append(value)
            return self._concat(parts, scope)
        if isinstance(node, ast.Call) and not node.keywords and not any(
                isinstance(a, ast.Starred) for a in node.args):
            return self._read_call(node, scope)
        return NOT_READ

    def _concat(self, nodes, scope: _Scope):
        return self._made("concat", [self._read(n, scope) for n in nodes])

    def _read_call(self, call: ast.Call, scope: _Scope):
        func = call.func
        if isinstance(func, ast.Name) and func.id == "str" and len(call.args) == 1 \
                and "str" not in scope.shadowing and not {"str", "*"} & self._module_names:
            return self._read(call.args[0], scope)
        origin = _origin(func, self._imports, scope.shadowing)  # a function's own join is not read
        if origin == ("os", "getcwd") and not call.args:
            return self._made("cwd", [])
        if origin is None or origin[0] != "os.path" or origin[1] not in _PATH_FUNCTIONS:
            return NOT_READ
        arity = _PATH_FUNCTIONS[origin[1]]
        if (arity is not None and len(call.args) != arity) or not call.args:
            return NOT_READ
        return self._made(origin[1], [self._read(a, scope) for a in call.args])

    def _made(self, op: str, args: list):
        """``[op, *args]``, or :data:`NOT_READ` when an argument is not a
        text or the recipe weighs over :data:`MAX_RECIPE_WEIGHT` (a name
        used twice doubles it: weighed here, as each is made) or nests
        deeper than :data:`MAX_RECIPE_DEPTH`."""
        if any(a is NOT_READ or a is None for a in args):
            return NOT_READ
        made = [(len(a), 0) if type(a) is str else self._weights[id(a)] for a in args]
        weight = 1 + sum(w for w, _ in made)
        depth = 1 + max((d for _, d in made), default=0)
        if weight > MAX_RECIPE_WEIGHT or depth > MAX_RECIPE_DEPTH:
            return NOT_READ
        recipe = [op, *args]
        self._weights[id(recipe)] = (weight, depth)
        return recipe


def evaluate(recipe, module_file: str, cwd: str = APP) -> str | None:
    """The value of ``recipe`` in the module at ``module_file`` (relative to
    the tenant), as tenant code computes it there: ``/app/...`` or a
    relative folder. None for None.

    :param cwd: the working directory: the sandbox's (``/app``) unless
        told (:func:`uses_cwd`).
    """
    # A part shared by names (``A2 = join(A1, A1)``) is computed once: the
    # recipe's weight bounds its distinct parts, not its paths through them.
    done: dict[int, str | None] = {}

    def value(part):
        if part is None or type(part) is str:
            return part
        key = id(part)
        if key not in done:
            done[key] = _apply(part[0], [value(a) for a in part[1:]], module_file, cwd)
        return done[key]

    return value(recipe)


def _apply(op: str, args: list, module_file: str, cwd: str) -> str:
    if op == "file":
        return f"{APP}/{module_file}"
    if op == "cwd":
        return cwd
    if op == "concat":
        return "".join(args)
    if op in ("abspath", "realpath"):
        return posixpath.normpath(posixpath.join(cwd, args[0]))
    return getattr(posixpath, op)(*args)  # join, dirname, normpath


def uses_cwd(recipe, module_file: str) -> bool:
    """Whether the folder depends on the working directory
    (``os.path.abspath("templates")``, ``os.getcwd()``): the process tier
    runs a tenant in its data folder, not in ``/app``."""
    return evaluate(recipe, module_file) != evaluate(recipe, module_file, "/\0elsewhere")


def tenant_folder(value: str, root_path: str) -> str | None:
    """The folder Flask names ``value`` given beside ``root_path`` (both as
    tenant code sees them: ``/app/...``), relative to the tenant and
    normalised; ``"."`` for the tenant's own folder; None outside it, or
    for a name no folder can have (:func:`is_folder_name`)."""
    if not is_folder_name(value):
        return None
    full = posixpath.normpath(posixpath.join(root_path, value))
    if full == APP:
        return "."
    if not full.startswith(APP + "/"):
        return None
    return full[len(APP) + 1:]


def is_folder_name(text: str) -> bool:
    """Whether a file system call takes ``text`` (no NUL; encodable): one
    that is not would raise in the host's ``realpath`` on every request
    (a 500 where Flask finds no file)."""
    if "\0" in text:
        return False
    try:
        os.fsencode(text)
    except UnicodeEncodeError:
        return False
    return True


def enclosing_functions(tree: ast.Module):
    """Each node of ``tree`` with the ``def``s enclosing it (outermost
    first), iteratively (no recursion on a deep tree)."""
    stack = [(tree, ())]
    while stack:
        node, functions = stack.pop()
        yield node, functions
        inner = functions + (node,) if isinstance(
            node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) else functions
        stack.extend((child, inner) for child in reversed(list(ast.iter_child_nodes(node))))


def _origin(func: ast.AST, imports: dict, shadowing: frozenset) -> tuple[str, str] | None:
    """``(module, name)`` of a function reached through the module's
    absolute imports (``os.path.join``, ``path.join`` after ``from os import
    path``, ``join`` after ``from os.path import join``) and not a name the
    function it is in binds itself (``shadowing``)."""
    origin = object_origin(func, imports, shadowing)
    if origin is None or origin[1]:
        return None
    return origin[0], origin[2]


def _single_assignment(node: ast.stmt) -> tuple[str | None, ast.AST | None]:
    """``(name, value)`` of ``name = value`` (or ``name: T = value``)."""
    if isinstance(node, ast.Assign) and len(node.targets) == 1:
        target, value = node.targets[0], node.value
    elif isinstance(node, ast.AnnAssign) and node.value is not None:
        target, value = node.target, node.value
    else:
        return None, None
    return (target.id, value) if isinstance(target, ast.Name) else (None, None)

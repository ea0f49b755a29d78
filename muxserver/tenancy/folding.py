"""Values a module spells out without running: literals and its own constants.

Route rules, blueprint prefixes and route ``defaults`` are read at deploy
time. Flask code often builds them from constants the module defines
(``'/' + ROOT_PREFIX``, ``f"/api/{VERSION}/users"``); :class:`Constants`
folds those, and only those: a name bound once at the top of the module to
a value that is itself foldable, and bound in no other form anywhere in the
module's scope (:func:`module_binders`: ``:=``, ``match``, ``with``/``except
... as``, ``del``...). Anything else (a name assigned twice or changed
through ``global``, a function call, an imported name) is not a constant,
and the caller reports it with its line.
"""

from __future__ import annotations

import ast

_NOT = object()
#: What :meth:`Constants.fold` gives for anything it cannot fold.
NOT_CONSTANT = _NOT


class Constants:
    """The foldable top-level constants of one module.

    :param body: the module's top-level statements.
    """

    def __init__(self, body: list[ast.stmt]):
        self.values: dict[str, object] = {}
        counts = module_binding_counts(body)
        reachable = names_used_but_as_keywords(body)
        for node in body:
            if (isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if len(targets) != 1 or not isinstance(targets[0], ast.Name):
                    continue
                name = targets[0].id
                if counts.get(name) != 1:
                    continue
                value = self.fold(node.value)
                if value is _NOT or (isinstance(value, (dict, list, set))
                                     and name in reachable):
                    continue  # a dict the module may change (``D["k"] = v``) is not read
                self.values[name] = value

    def fold(self, node: ast.AST | None):
        """The value of ``node``, or :data:`NOT_CONSTANT` when it is not a
        literal or built from constants."""
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            return self.values.get(node.id, _NOT)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            left, right = self.fold(node.left), self.fold(node.right)
            if isinstance(left, str) and isinstance(right, str):
                return left + right
            return _NOT
        if isinstance(node, ast.JoinedStr):
            parts = []
            for value in node.values:
                if isinstance(value, ast.FormattedValue):
                    if value.format_spec is not None or value.conversion not in (-1, ord("s")):
                        return _NOT
                    value = value.value
                folded = self.fold(value)
                if not isinstance(folded, (str, int)) or isinstance(folded, bool):
                    return _NOT
                parts.append(str(folded))
            return "".join(parts)
        if isinstance(node, (ast.Tuple, ast.List)):
            items = [self.fold(elt) for elt in node.elts]
            if any(item is _NOT for item in items):
                return _NOT
            return tuple(items) if isinstance(node, ast.Tuple) else items
        if isinstance(node, ast.Set):
            items = [self.fold(elt) for elt in node.elts]
            if any(item is _NOT for item in items):
                return _NOT
            try:
                return set(items)
            except TypeError:
                return _NOT
        if isinstance(node, ast.Dict):
            if any(key is None for key in node.keys):
                return _NOT
            keys = [self.fold(k) for k in node.keys]
            values = [self.fold(v) for v in node.values]
            if any(x is _NOT for x in keys + values):
                return _NOT
            try:
                return dict(zip(keys, values))
            except TypeError:
                return _NOT
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            value = self.fold(node.operand)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return -value
        return _NOT

    def string(self, node: ast.AST | None) -> str | None:
        """``node`` folded to a ``str``, or None."""
        value = self.fold(node)
        return value if isinstance(value, str) else None


def names_used_but_as_keywords(body: list[ast.stmt]) -> frozenset:
    """Names the module (its functions too) reads anywhere but as the
    whole value of a keyword argument (``defaults=D``): where a dict, list
    or set it names may be changed (``D["page"] = 3``, ``D.update(...)``,
    ``E = D``, ``change(D)``) before Flask reads it, or after (werkzeug
    keeps a route's ``defaults`` dict itself). Only such uses leave its
    folded value what Flask gets.

    The limit: another module importing the name and changing it is not
    seen (nor is it here seen used at all).
    """
    as_keywords, used = set(), set()
    for node in body:
        for child in ast.walk(node):
            if isinstance(child, ast.keyword) and isinstance(child.value, ast.Name):
                as_keywords.add(id(child.value))
            elif (isinstance(child, ast.Name) and isinstance(child.ctx, ast.Load)
                  and id(child) not in as_keywords):
                used.add(child.id)
    return frozenset(used)


def module_binders(body: list[ast.stmt]):
    """``(name, binder)`` for each binding of a name in the module's own
    scope (``binder``: the statement or node binding it), in the order of
    the source: assignments of every form (``=``, ``+=``, ``:=`` anywhere
    in the module's scope, a comprehension's included, ``for``, ``with ...
    as``, ``except ... as``, ``match`` captures, ``del``), ``def``,
    ``class`` and imports. ``from m import *`` (which may bind any name) is
    ``("*", node)``. Names a function or class body binds are its own and
    not given (a function's ``global`` is :func:`_changed_through_global`'s);
    a comprehension's loop variables are its own too."""
    stack = list(reversed(body))
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                yield (alias.asname or alias.name).split(".")[0], node
            continue
        name = _name_bound_here(node)
        if name:
            yield name, node
        children = _module_scope_children(node)
        stack.extend(reversed(children))


def function_binders(function: ast.AST):
    """``(name, binder)`` for each binding inside ``function`` (a ``def``
    or ``lambda``): its parameters and every name its body binds, a nested
    function's or class's included (whoever reads one of its names only
    needs to know it cannot trust it)."""
    for node in ast.walk(function):
        if node is function:
            continue
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            yield node.name, node
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                yield (alias.asname or alias.name).split(".")[0], node
        elif isinstance(node, ast.arg):
            yield node.arg, node
        else:
            name = _name_bound_here(node)
            if name:
                yield name, node


def _name_bound_here(node: ast.AST) -> str | None:
    """The name ``node`` itself binds, if it is a target, an ``except ...
    as`` or a ``match`` capture (other binders are their callers' cases)."""
    if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
        return node.id
    if isinstance(node, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)):
        return node.name
    if isinstance(node, ast.MatchMapping):
        return node.rest
    return None


def shadowing_names(function: ast.AST) -> frozenset[str]:
    """The names ``function`` binds by anything but an import: inside it,
    a module's import of that name (``from os.path import join``) is not
    what the name is."""
    return frozenset(name for name, binder in function_binders(function)
                     if not isinstance(binder, (ast.Import, ast.ImportFrom)))


def _module_scope_children(node: ast.AST) -> list:
    """The parts of ``node`` run in the scope ``node`` is in."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        # Its name is bound here; its decorators, defaults and bases run here.
        own = [ast.Name(id=node.name, ctx=ast.Store())] + list(node.decorator_list)
        if isinstance(node, ast.ClassDef):
            return own + node.bases + [k.value for k in node.keywords]
        return own + _argument_parts(node.args) + ([node.returns] if node.returns else [])
    if isinstance(node, ast.Lambda):
        return _argument_parts(node.args)
    if isinstance(node, ast.comprehension):
        return [node.iter, *node.ifs]  # its target is the comprehension's own
    return list(ast.iter_child_nodes(node))


def _argument_parts(args: ast.arguments) -> list:
    """Defaults and annotations: run where the function is made."""
    params = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
    return ([d for d in (*args.defaults, *args.kw_defaults) if d is not None]
            + [a.annotation for a in params if a is not None and a.annotation is not None])


def module_binding_counts(body: list[ast.stmt]) -> dict[str, int]:
    """How many times the module binds each name (:func:`module_binders`);
    a name it may bind without saying so — changed through ``global``, or
    bound before a ``from m import *`` — counts two: it is never one
    value. ``"*"`` counts the module's ``from m import *``."""
    counts: dict[str, int] = {}
    for name, _ in module_binders(body):
        if name == "*":
            counts = {seen: max(count, 2) for seen, count in counts.items()}
        counts[name] = counts.get(name, 0) + 1
    for name in _changed_through_global(body):
        counts[name] = max(counts.get(name, 0), 2)
    return counts


def names_not_only_imported(body: list[ast.stmt]) -> set[str]:
    """The names the module's scope binds by anything but an import too,
    that a ``from m import *`` after their binding may rebind, or that a
    function changes through ``global``: an import of one is not what the
    name is everywhere."""
    found = _changed_through_global(body)
    seen = set()
    for name, binder in module_binders(body):
        if name == "*":
            found |= seen
        elif not isinstance(binder, (ast.Import, ast.ImportFrom)):
            found.add(name)
        seen.add(name)
    return found


def _changed_through_global(body: list[ast.stmt]) -> set[str]:
    changed = set()
    for node in body:
        for child in ast.walk(node):
            if isinstance(child, ast.Global):
                changed.update(child.names)
    return changed

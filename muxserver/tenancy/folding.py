"""Values a module spells out without running: literals and its own constants.

Route rules, blueprint prefixes and route ``defaults`` are read at deploy
time. Flask code often builds them from constants the module defines
(``'/' + ROOT_PREFIX``, ``f"/api/{VERSION}/users"``); :class:`Constants`
folds those, and only those: a name bound once at the top of the module to
a value that is itself foldable. Anything else (a name assigned twice or
changed through ``global``, a function call, an imported name) is not a
constant, and the caller reports it with its line.
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
        counts: dict[str, int] = {}
        for node in body:
            for target in _bound_names(node):
                counts[target] = counts.get(target, 0) + 1
        changed = _changed_through_global(body)
        for node in body:
            if (isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if len(targets) != 1 or not isinstance(targets[0], ast.Name):
                    continue
                name = targets[0].id
                if counts.get(name) != 1 or name in changed:
                    continue
                value = self.fold(node.value)
                if value is not _NOT:
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



def _bound_names(node: ast.stmt):
    if isinstance(node, ast.Assign):
        for target in node.targets:
            yield from _target_names(target)
    elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
        yield from _target_names(node.target)
    elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        yield node.name
    elif isinstance(node, (ast.Import, ast.ImportFrom)):
        for alias in node.names:
            yield (alias.asname or alias.name).split(".")[0]
    elif isinstance(node, (ast.For, ast.AsyncFor, ast.With, ast.AsyncWith, ast.If, ast.While,
                           ast.Try)):
        # Bindings inside blocks at the top level make the name variable.
        for child in ast.walk(node):
            if isinstance(child, ast.Name) and isinstance(child.ctx, ast.Store):
                yield child.id


def _target_names(target: ast.AST):
    for child in ast.walk(target):
        if isinstance(child, ast.Name) and isinstance(child.ctx, ast.Store):
            yield child.id


def _changed_through_global(body: list[ast.stmt]) -> set[str]:
    changed = set()
    for node in body:
        for child in ast.walk(node):
            if isinstance(child, ast.Global):
                changed.update(child.names)
    return changed

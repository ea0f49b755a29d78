"""Read the methods of Flask's class-based views from a module's syntax tree.

``app.add_url_rule("/items", view_func=ItemAPI.as_view("items"))`` routes the
methods of ``ItemAPI``, which Flask 3.1 computes when the class is made:

- a ``View`` subclass answers its ``methods`` class attribute (inherited),
  or ``GET`` when none is set;
- a ``MethodView`` subclass without its own ``methods`` answers its bases'
  ``methods`` and one method per HTTP function it has, its own or
  inherited (``get``, ``post``, ``head``, ``options``, ``delete``, ``put``,
  ``trace``, ``patch``: ``MethodView.__init_subclass__``).

:func:`read_view_classes` does the same for the classes a module defines at
its top, from their bodies and bases. A base it cannot see into (a class
made by a call, imported from a library) makes the class unreadable: its
entry says why, and a registration that uses it is refused with its line.

.. warning::
   The order of bases is read depth first, left to right, which is Python's
   for every hierarchy without a diamond; the loader compares the methods
   computed at run time with these, so a hierarchy where the two differ is
   refused when the module loads (the deploy's health check) rather than
   served differently.
"""

from __future__ import annotations

import ast

from muxserver.tenancy.folding import Constants

#: Flask's ``http_method_funcs``.
HTTP_METHOD_FUNCS = ("get", "post", "head", "options", "delete", "put", "trace", "patch")
#: The classes of ``flask.views`` a view derives from.
FLASK_VIEW_CLASSES = frozenset(["View", "MethodView"])


def view_base(node: ast.AST, origin_of) -> str | None:
    """``"View"`` or ``"MethodView"`` when ``node`` names that class of
    ``flask.views`` (``MethodView``, ``views.MethodView``,
    ``flask.views.MethodView``); ``origin_of(node)`` gives ``(module, level,
    name)`` of an imported object."""
    origin = origin_of(node)
    if origin is not None and origin[0] == "flask.views" and not origin[1] \
            and origin[2] in FLASK_VIEW_CLASSES:
        return origin[2]
    return None


def read_view_classes(body: list[ast.stmt], origin_of, consts: Constants) -> dict[str, list]:
    """The view classes defined at the top of a module: name -> ``["ok",
    methods]`` (a sorted list of upper-case methods, or None for Flask's
    default ``GET``) or ``["error", why]``. Classes that are not views are
    left out."""
    classes: dict[str, dict] = {}
    found: dict[str, list] = {}
    for node in body:
        if not isinstance(node, ast.ClassDef):
            continue
        info = _read_class(node, classes, origin_of, consts)
        classes[node.name] = info
        if info.get("is_view"):
            found[node.name] = (["error", info["error"]] if "error" in info
                                else ["ok", info["methods"]])
    return found


def _own_names(node: ast.ClassDef) -> set[str]:
    names = set()
    for stmt in node.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(stmt.name)
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign)):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
    return names


def _own_methods(node: ast.ClassDef, consts: Constants):
    """The value of ``methods = [...]`` in the class body; None when the body
    sets none; raises ValueError when it is not a literal list of strings."""
    for stmt in node.body:
        targets = stmt.targets if isinstance(stmt, ast.Assign) else (
            [stmt.target] if isinstance(stmt, ast.AnnAssign) and stmt.value is not None else [])
        if any(isinstance(t, ast.Name) and t.id == "methods" for t in targets):
            value = consts.fold(stmt.value)
            if value is None:
                return None
            if not isinstance(value, (list, tuple, set, frozenset)) or not all(
                    isinstance(m, str) for m in value):
                raise ValueError(f"{node.name}.methods must be a literal list of strings to be "
                                 "read at deploy time")
            return sorted({m.upper() for m in value})
    return None


def _read_class(node: ast.ClassDef, classes: dict, origin_of, consts: Constants) -> dict:
    """What Flask would know of one class once it is made: whether it is a
    view (and a MethodView), its MRO of this module's classes, the names its
    body defines and its ``methods``."""
    bases, is_view, is_method_view = [], False, False
    unreadable = None
    for base in node.bases:
        if isinstance(base, ast.Name) and base.id in classes:
            info = classes[base.id]
            bases.append(info)
            is_view |= info["is_view"]
            is_method_view |= info["is_method_view"]
            unreadable = unreadable or info.get("error")
            continue
        if isinstance(base, ast.Name) and base.id == "object":
            continue
        flask_base = view_base(base, origin_of)
        if flask_base is not None:
            is_view = True
            is_method_view |= flask_base == "MethodView"
            continue
        unreadable = unreadable or (
            f"the methods of view class {node.name} cannot be read at deploy time: its base "
            f"{ast.unparse(base)} is not a class of this module or flask.views' View or "
            "MethodView")
    info = {"name": node.name, "is_view": is_view or unreadable is not None,
            "is_method_view": is_method_view, "names": _own_names(node)}
    mro = [info]
    for base in bases:
        for klass in base["mro"]:
            if klass not in mro:
                mro.append(klass)
    info["mro"] = mro
    if unreadable is not None:
        info["error"] = unreadable
        return info
    if any(k.arg == "metaclass" for k in node.keywords):
        info["error"] = f"view class {node.name} with a metaclass cannot be read at deploy time"
        return info
    try:
        own = _own_methods(node, consts)
    except ValueError as exc:
        info["error"] = str(exc)
        return info
    if "methods" in info["names"]:
        info["set_methods"] = own  # the class says (None: Flask's default)
    elif is_method_view:
        # MethodView.__init_subclass__: the bases' methods, and every HTTP
        # method function the class has (its own or inherited); set on the
        # class only when there are some.
        methods = set()
        for base in bases:
            methods.update(_methods_of(base) or ())
        for key in HTTP_METHOD_FUNCS:
            if any(key in klass["names"] for klass in mro):
                methods.add(key.upper())
        if methods:
            info["set_methods"] = sorted(methods)
    info["methods"] = _methods_of(info)
    return info


def _methods_of(info: dict):
    """``cls.methods``: the first class of its MRO that sets it (None when
    none does: View's own default)."""
    for klass in info["mro"]:
        if "set_methods" in klass:
            return klass["set_methods"]
    return None

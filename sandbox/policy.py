"""The compile-time policy: what tenant source may say, and how it is rewritten.

:class:`MuxPolicy` extends RestrictedPython's :class:`RestrictingNodeTransformer`.
It keeps everything RestrictedPython denies (names and attributes starting
with ``_``, ``exec``/``eval``, ``try/except*``, the inspect attributes) and
adds what a host of many tenants in one process needs:

* **Ticks.** ``_tick_()`` is inserted at the top of every loop body, function
  body, ``except`` handler and ``finally`` block, and into every lambda.
  The tick is how a CPU or wall-time limit reaches code that never yields to
  gevent, and how a stopped request stays stopped: the tick raises again in
  every handler that caught the first stop.
* **Size guards.** ``a ** b``, ``a << b``, ``a * b``, ``a // b``, ``a % b``
  and format specs in f-strings are routed through ``_pow_``, ``_lshift_``,
  ``_mul_``, ``_floordiv_``, ``_mod_`` and ``_format_`` so that one C call
  cannot allocate gigabytes or run for seconds; ``*x`` in a call or a
  display goes through ``_star_``, which sizes the items it copies.
* **Ordinary Python that RestrictedPython rejects** is allowed safely:
  ``__name__`` (read only), defining ordinary dunder methods in a class,
  ``nonlocal``, annotated assignments, and augmented assignment of items and
  attributes (``counts[key] += 1`` becomes ``_inplace_item_(counts, key, '+=', 1)``).
* **Ordinary Python on the tenant's own objects**: private names
  (``_cache``, ``self._items``), ``super()`` and special attributes compile
  to guard calls that :mod:`sandbox.guards.own_objects` allows on tenant
  objects only.
* **Coroutines**: ``async def`` and ``await`` compile as in Python (ticks
  included); the host drives the coroutines (:mod:`sandbox.facades.aio`).
  ``async for``, ``async with``, async comprehensions and async generators
  are refused: nothing a tenant can reach implements them.
* **Module metadata**: ``__all__``, ``__version__``, ``__author__``,
  ``__doc__`` (and the like) are plain names, as in Python.
* **Imports** are left to the scanner (deploy time, it knows the tenant's
  modules) and to the runtime's ``__import__``.

.. warning::
   The guards inserted here are only half of the sandbox: they name host
   functions (``_getattr_``, ``_tick_`` ...) that :mod:`sandbox.guards`
   provides. Code compiled by this policy must only run with those.
"""

from __future__ import annotations

import ast

from RestrictedPython.transformer import IOPERATOR_TO_STR
from RestrictedPython.transformer import RestrictingNodeTransformer
from RestrictedPython.transformer import copy_locations

from sandbox.guards.own_objects import ALLOWED_DUNDER_METHODS
from sandbox.guards.own_objects import MODULE_DATA_NAMES
from sandbox.guards.own_objects import READABLE_SPECIAL_ATTRS
from sandbox.guards.own_objects import is_private_name

#: Bump whenever the rewrite or the guards change meaning; it is part of the
#: code-cache key, so old compiled code is never run under a new policy.
POLICY_VERSION = "mux-13"

#: Names of dunder globals tenant code may read.
READABLE_DUNDER_NAMES = frozenset(["__name__", "__file__"])


_GUARDED_BINOPS = {
    ast.Add: "_add_",
    ast.Sub: "_sub_",
    ast.Div: "_truediv_",
    ast.Pow: "_pow_",
    ast.LShift: "_lshift_",
    ast.Mult: "_mul_",
    ast.FloorDiv: "_floordiv_",
    ast.Mod: "_mod_",
}


#: Comparisons that go through ``_compare_`` (sandbox.guards.compare);
#: ``is``/``is not`` compare identities and stay as they are.
_GUARDED_COMPARES = {
    ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=",
    ast.In: "in", ast.NotIn: "not in",
}


def _call(name: str, args: list[ast.expr], like: ast.AST) -> ast.Call:
    node = ast.Call(func=ast.Name(name, ast.Load()), args=args, keywords=[])
    copy_locations(node, like)
    ast.fix_missing_locations(node)
    return node


def _tick_stmt(like: ast.AST) -> ast.Expr:
    stmt = ast.Expr(_call("_tick_", [], like))
    copy_locations(stmt, like)
    return stmt


def _has_docstring(body: list[ast.stmt]) -> bool:
    return bool(body) and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
        and isinstance(body[0].value.value, str)


def _annotations_are_text(module: ast.Module) -> bool:
    """Whether ``from __future__ import annotations`` heads the module (PEP
    563): its annotations are then never evaluated, only kept as text."""
    body = module.body[1:] if _has_docstring(module.body) else module.body
    for statement in body:
        if not (isinstance(statement, ast.ImportFrom) and statement.module == "__future__"):
            return False
        if any(alias.name == "annotations" for alias in statement.names):
            return True
    return False


def _own_nodes(body: list[ast.stmt]):
    """The nodes of a function body, not those of functions or classes inside it."""
    scopes = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
    todo = [node for node in body if not isinstance(node, scopes)]
    while todo:
        node = todo.pop()
        yield node
        todo.extend(child for child in ast.iter_child_nodes(node) if not isinstance(child, scopes))


class MuxPolicy(RestrictingNodeTransformer):
    """RestrictedPython's policy plus the rules of a multi-tenant host."""

    def __init__(self, errors=None, warnings=None, used_names=None):
        super().__init__(errors, warnings, used_names)
        self._class_depth = 0
        self._function_depth = 0
        #: The first argument's name of each method being visited ("" for
        #: plain functions), for super().
        self._method_self: list[str] = []
        #: ``from __future__ import annotations``: annotations are text the
        #: compiler writes from the tree it is given, so they are left as the
        #: tenant wrote them (``list[Node]``, not the guarded call).
        self._annotations_as_text = False

    def visit_Module(self, node: ast.Module):
        self._annotations_as_text = _annotations_are_text(node)
        return super().visit_Module(node)

    def _without_annotation(self, node, field: str, visit):
        """``visit(node)`` with ``node.field`` left out and put back as it
        was, when annotations are text (never evaluated: nothing to guard)."""
        annotation = getattr(node, field)
        if not self._annotations_as_text or annotation is None:
            return visit(node)
        setattr(node, field, None if field != "annotation" or isinstance(node, ast.arg)
                else ast.Constant(None))
        node = visit(node)
        setattr(node, field, annotation)
        return node

    def visit_arg(self, node: ast.arg):
        return self._without_annotation(node, "annotation", super().visit_arg)

    # -- names -----------------------------------------------------------

    def visit_Name(self, node: ast.Name):
        if node.id in READABLE_DUNDER_NAMES and isinstance(node.ctx, ast.Load):
            return node
        return super().visit_Name(node)

    def check_name(self, node, name, allow_magic_methods=False):
        # `_cache`, `def _helper()`: private names are ordinary Python. Guard
        # names (`_getattr_`, ending in `_`) stay closed: a global of that
        # name would replace the guard for the module.
        if is_private_name(name) or name in MODULE_DATA_NAMES:
            return
        super().check_name(node, name, allow_magic_methods)

    def visit_Attribute(self, node: ast.Attribute):
        attr = node.attr
        readable = ((attr in READABLE_SPECIAL_ATTRS or attr in MODULE_DATA_NAMES)
                    and isinstance(node.ctx, ast.Load))
        if not (is_private_name(attr) or readable):
            return super().visit_Attribute(node)
        # The guards decide per object (sandbox.guards.own_objects): on the
        # tenant's own objects these work, on host objects they do not.
        node = self.node_contents_visit(node)
        if isinstance(node.ctx, ast.Load):
            return _call("_getattr_", [node.value, ast.Constant(attr)], node)
        node.value = _call("_write_private_", [node.value, ast.Constant(attr)], node.value)
        return node

    def visit_Call(self, node: ast.Call):
        node = super().visit_Call(node)
        # super() in a method -> super(__class__, self): the guarded super
        # cannot find the method's class and object by itself.
        if (
            isinstance(node.func, ast.Name)
            and node.func.id == "super"
            and not node.args
            and not node.keywords
            and self._method_self
            and self._method_self[-1]
        ):
            node.args = [ast.Name("__class__", ast.Load()), ast.Name(self._method_self[-1], ast.Load())]
            for arg in node.args:
                copy_locations(arg, node)
        return node

    # -- imports ---------------------------------------------------------
    # Which modules exist is the tenant's business (its own modules, the
    # facades, the operator's extra modules): the scanner checks imports
    # against all of them at deploy time, the runtime at run time.

    # -- classes and functions ---------------------------------------------

    def visit_ClassDef(self, node: ast.ClassDef):
        self._class_depth += 1
        saved = self._function_depth
        self._function_depth = 0
        try:
            return super().visit_ClassDef(node)
        finally:
            self._class_depth -= 1
            self._function_depth = saved

    def _is_method_definition(self) -> bool:
        return self._class_depth > 0 and self._function_depth == 0

    def visit_FunctionDef(self, node: ast.FunctionDef):
        return self._without_annotation(node, "returns", self._visit_def)

    def _visit_def(self, node: ast.FunctionDef):
        first = ""
        if self._is_method_definition():
            params = node.args.posonlyargs + node.args.args
            first = params[0].arg if params else ""
        self._method_self.append(first)
        try:
            return self._visit_function(node)
        finally:
            self._method_self.pop()

    def _visit_function(self, node: ast.FunctionDef):
        name = node.name
        if (
            name.startswith("__")
            and name.endswith("__")
            and self._is_method_definition()
        ):
            if name not in ALLOWED_DUNDER_METHODS:
                self.error(
                    node,
                    f'defining "{name}" is not allowed; allowed special '
                    "methods are the ordinary ones (__init__, __repr__, "
                    "__eq__, __iter__, __enter__ ...)",
                )
            # Let the base class check arguments and the body; give it a
            # name it accepts, then restore the real one.
            node.name = "dunder_method"
            self._function_depth += 1
            try:
                node = super().visit_FunctionDef(node)
            finally:
                self._function_depth -= 1
            node.name = name
        else:
            self._function_depth += 1
            try:
                node = super().visit_FunctionDef(node)
            finally:
                self._function_depth -= 1
        self._insert_tick(node.body, node)
        return node

    def inject_print_collector(self, node, position: int = 0) -> None:
        # RestrictedPython puts `_print = _print_(_getattr_)` first in a
        # function that prints, so its docstring stopped being one
        # (`f.__doc__` was None: a click command lost its help).
        if position == 0 and not isinstance(node, ast.Module) and _has_docstring(node.body):
            position = 1
        super().inject_print_collector(node, position)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef):
        # A coroutine function: the host drives its coroutines to their end
        # inside the request's limits (sandbox.facades.aio). An async
        # generator would need a driver of its own: refused.
        for child in _own_nodes(node.body):
            if isinstance(child, (ast.Yield, ast.YieldFrom)):
                self.error(child, "async generators (yield inside async def) are not "
                                  "supported here; return a list, or use a plain generator")
                break
        return self.visit_FunctionDef(node)

    def visit_Await(self, node: ast.Await):
        return self.node_contents_visit(node)

    def visit_AsyncFor(self, node: ast.AsyncFor):
        self.error(node, "async for is not supported here: nothing a tenant can reach is an "
                         "asynchronous iterator; use a plain for")

    def visit_AsyncWith(self, node: ast.AsyncWith):
        self.error(node, "async with is not supported here: nothing a tenant can reach is an "
                         "asynchronous context manager; use a plain with")

    def visit_comprehension(self, node: ast.comprehension):
        if node.is_async:
            self.error(node.iter, "async comprehensions are not supported here; use a plain for")
            return node
        return super().visit_comprehension(node)

    def visit_Lambda(self, node: ast.Lambda):
        node = super().visit_Lambda(node)
        # lambda: body  ->  lambda: (_tick_() or body)
        node.body = ast.BoolOp(
            op=ast.Or(), values=[_call("_tick_", [], node.body), node.body]
        )
        copy_locations(node.body, node)
        return node

    def visit_Nonlocal(self, node: ast.Nonlocal):
        for name in node.names:
            self.check_name(node, name)
        return node

    def visit_Global(self, node: ast.Global):
        for name in node.names:
            self.check_name(node, name)
        return node

    def visit_AnnAssign(self, node: ast.AnnAssign):
        # `x: int = 1` is an assignment with a note; the note is evaluated
        # like any expression, so it is visited like one (unless it is text).
        return self._without_annotation(node, "annotation", self.node_contents_visit)

    # -- loops, handlers and the tick -------------------------------------

    @staticmethod
    def _insert_tick(body: list[ast.stmt], like: ast.AST) -> None:
        position = 1 if _has_docstring(body) else 0  # keep the docstring first
        body.insert(position, _tick_stmt(like))

    def visit_While(self, node: ast.While):
        node = super().visit_While(node)
        self._insert_tick(node.body, node)
        return node

    def visit_For(self, node: ast.For):
        node = super().visit_For(node)
        self._insert_tick(node.body, node)
        return node

    def visit_Try(self, node: ast.Try):
        node = super().visit_Try(node)
        if node.finalbody:
            node.finalbody.insert(0, _tick_stmt(node.finalbody[0]))
        return node

    def visit_ExceptHandler(self, node: ast.ExceptHandler):
        node = super().visit_ExceptHandler(node)
        # A stopped request raises again here, so no handler, bare or
        # `except BaseException`, can keep it alive.
        node.body.insert(0, _tick_stmt(node))
        return node

    def visit_YieldFrom(self, node: ast.YieldFrom):
        # `yield from x` iterates x without _getiter_; route it through the
        # guarded iterator so chains of generators stay interruptible and
        # cannot overflow the C stack.
        node = self.node_contents_visit(node)
        node.value = _call("_getiter_", [node.value], node)
        return node

    # -- operators that allocate -------------------------------------------

    def visit_BinOp(self, node: ast.BinOp):
        node = self.node_contents_visit(node)
        guard = _GUARDED_BINOPS.get(type(node.op))
        if guard is None:
            return node
        return _call(guard, [node.left, node.right], node)

    def visit_Compare(self, node: ast.Compare):
        """``a == b`` is ``_compare_(a, "==", b)``: nested containers are
        compared ticking. In a chain (``a < b < c``, each operand once, as
        Python evaluates it) every operand goes through ``_compared_``,
        which refuses containers too big to compare in one C call."""
        node = self.node_contents_visit(node)
        guarded = [_GUARDED_COMPARES.get(type(op)) for op in node.ops]
        if len(node.ops) == 1:
            if guarded[0] is None:
                return node
            op = ast.Constant(guarded[0])
            copy_locations(op, node)
            return _call("_compare_", [node.left, op, node.comparators[0]], node)
        if any(guarded):
            node.left = _call("_compared_", [node.left], node)
            node.comparators = [_call("_compared_", [c], node) for c in node.comparators]
        return node

    def visit_Starred(self, node: ast.Starred):
        node = self.node_contents_visit(node)
        if isinstance(node.ctx, ast.Load):
            # f(*x), [*x], (*x,), {*x}: the items are copied in one C call
            # (a 24 MB text made a 200 MB tuple); _star_ sizes them first
            # (8 bytes an item) or hands over a ticking iterator.
            node.value = _call("_star_", [node.value], node)
        return node

    def visit_FormattedValue(self, node: ast.FormattedValue):
        node = self.node_contents_visit(node)
        if node.format_spec is None:
            return node
        # f"{v!r:>{n}}"  ->  f"{_format_(v, f'>{n}', 'r')}"
        conversion = chr(node.conversion) if node.conversion > 0 else ""
        node.value = _call(
            "_format_",
            [node.value, node.format_spec, ast.Constant(conversion)],
            node,
        )
        node.format_spec = None
        node.conversion = -1
        return node

    def visit_JoinedStr(self, node: ast.JoinedStr):
        node = self.node_contents_visit(node)
        fields = [v for v in node.values if isinstance(v, ast.FormattedValue)]
        if len(fields) < 2:
            return node
        # f"{a}-{b}"  ->  _fstring_(_format_(a, '', ''), '-', _format_(b, '', ''))
        # so the size of the whole string is checked before it is built.
        parts = []
        for value in node.values:
            if isinstance(value, ast.FormattedValue):
                if not (isinstance(value.value, ast.Call) and isinstance(value.value.func, ast.Name)
                        and value.value.func.id == "_format_"):
                    conversion = chr(value.conversion) if value.conversion > 0 else ""
                    value = _call("_format_", [value.value, ast.Constant(""),
                                               ast.Constant(conversion)], value)
                else:
                    value = value.value
            parts.append(value)
        return _call("_fstring_", parts, node)

    def visit_AugAssign(self, node: ast.AugAssign):
        target = node.target
        op = IOPERATOR_TO_STR[type(node.op)]
        if isinstance(target, ast.Subscript):
            # counts[key] += 1  ->  _inplace_item_(counts, key, '+=', 1)
            obj = self.visit(target.value)
            key = self.visit(target.slice)
            if isinstance(key, ast.Slice):
                key = _call(
                    "slice",
                    [k or ast.Constant(None) for k in (key.lower, key.upper, key.step)],
                    key,
                )
            value = self.visit(node.value)
            stmt = ast.Expr(
                _call("_inplace_item_", [obj, key, ast.Constant(op), value], node)
            )
            copy_locations(stmt, node)
            return stmt
        if isinstance(target, ast.Attribute):
            # self.total += x  ->  _inplace_attr_(self, 'total', '+=', x)
            if target.attr.startswith("_") and not is_private_name(target.attr):
                self.error(
                    node,
                    f'"{target.attr}" is an invalid attribute name because '
                    'it starts with "_".',
                )
                return node
            obj = self.visit(target.value)
            value = self.visit(node.value)
            stmt = ast.Expr(
                _call(
                    "_inplace_attr_",
                    [obj, ast.Constant(target.attr), ast.Constant(op), value],
                    node,
                )
            )
            copy_locations(stmt, node)
            return stmt
        return super().visit_AugAssign(node)

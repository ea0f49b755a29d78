"""The compile-time policy: what tenant source may say, and how it is rewritten.

:class:`MuxPolicy` extends RestrictedPython's :class:`RestrictingNodeTransformer`.
It keeps everything RestrictedPython denies (names and attributes starting
with ``_``, ``exec``/``eval``, ``try/except*``, async code, the inspect
attributes) and adds what a host of many tenants in one process needs:

* **Ticks.** ``_tick_()`` is inserted at the top of every loop body, function
  body, ``except`` handler and ``finally`` block, and into every lambda.
  The tick is how a CPU or wall-time limit reaches code that never yields to
  gevent, and how a stopped request stays stopped: the tick raises again in
  every handler that caught the first stop.
* **Size guards.** ``a ** b``, ``a << b``, ``a * b``, ``a % b`` and format
  specs in f-strings are routed through ``_pow_``, ``_lshift_``, ``_mul_``,
  ``_mod_`` and ``_format_`` so that one C call cannot allocate gigabytes.
* **Ordinary Python that RestrictedPython rejects** is allowed safely:
  ``__name__`` (read only), defining ordinary dunder methods in a class,
  ``nonlocal``, annotated assignments, and augmented assignment of items and
  attributes (``counts[key] += 1`` becomes ``_inplace_item_(counts, key, '+=', 1)``).
* **Imports** are checked against the allow-list at compile time, so a
  forbidden import is a deploy error with a line number, not a runtime
  surprise. Relative imports are refused.

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

#: Bump whenever the rewrite or the guards change meaning; it is part of the
#: code-cache key, so old compiled code is never run under a new policy.
POLICY_VERSION = "mux-8"

#: Dunder methods a tenant class may define. Each is called by Python
#: itself on the tenant's own objects while tenant code runs. Not listed,
#: on purpose: ``__del__`` (runs at garbage collection, outside every limit),
#: ``__getattr__``/``__getattribute__``/``__setattr__``/``__delattr__``
#: (would run when the host inspects a returned object), descriptors
#: (``__get__``/``__set__``/``__set_name__``), ``__init_subclass__``,
#: ``__class_getitem__``, ``__reduce__``/``__reduce_ex__`` and ``__new__``.
ALLOWED_DUNDER_METHODS = frozenset(
    """
    __init__ __post_init__ __repr__ __str__ __format__ __bytes__ __bool__
    __eq__ __ne__ __lt__ __le__ __gt__ __ge__ __hash__
    __len__ __iter__ __next__ __reversed__ __contains__ __missing__
    __getitem__ __setitem__ __delitem__ __enter__ __exit__ __call__
    __add__ __sub__ __mul__ __matmul__ __truediv__ __floordiv__ __mod__
    __divmod__ __pow__ __lshift__ __rshift__ __and__ __xor__ __or__
    __radd__ __rsub__ __rmul__ __rmatmul__ __rtruediv__ __rfloordiv__
    __rmod__ __rdivmod__ __rpow__ __rlshift__ __rrshift__ __rand__
    __rxor__ __ror__ __iadd__ __isub__ __imul__ __itruediv__
    __ifloordiv__ __imod__ __ipow__ __ilshift__ __irshift__ __iand__
    __ixor__ __ior__ __neg__ __pos__ __abs__ __invert__ __int__
    __float__ __complex__ __round__ __trunc__ __floor__ __ceil__
    __index__
    """.split()
)

#: Names of dunder globals tenant code may read.
READABLE_DUNDER_NAMES = frozenset(["__name__"])

_GUARDED_BINOPS = {
    ast.Add: "_add_",
    ast.Sub: "_sub_",
    ast.Div: "_truediv_",
    ast.Pow: "_pow_",
    ast.LShift: "_lshift_",
    ast.Mult: "_mul_",
    ast.Mod: "_mod_",
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


class MuxPolicy(RestrictingNodeTransformer):
    """RestrictedPython's policy plus the rules of a multi-tenant host.

    :param allowed_modules: module names ``import`` may name, besides the
        tenant's own ``lib`` package.
    """

    #: Set per compile by :func:`sandbox.compiler.compile_tenant`.
    allowed_modules: frozenset[str] = frozenset()

    def __init__(self, errors=None, warnings=None, used_names=None):
        super().__init__(errors, warnings, used_names)
        self._class_depth = 0
        self._function_depth = 0

    # -- names -----------------------------------------------------------

    def visit_Name(self, node: ast.Name):
        if node.id in READABLE_DUNDER_NAMES and isinstance(node.ctx, ast.Load):
            return node
        return super().visit_Name(node)

    # -- imports ---------------------------------------------------------

    def _check_module_name(self, node: ast.AST, module: str) -> None:
        top = module.split(".")[0]
        if top == "lib" or module in self.allowed_modules:
            return
        allowed = ", ".join(sorted(self.allowed_modules))
        self.error(
            node,
            f"`import {module}` is not allowed; allowed modules: {allowed}"
            " and the tenant's own lib/ modules",
        )

    def visit_Import(self, node: ast.Import):
        for alias in node.names:
            self._check_module_name(node, alias.name)
        return super().visit_Import(node)

    def visit_ImportFrom(self, node: ast.ImportFrom):
        if node.level:
            self.error(
                node,
                "relative imports are not allowed; use `from lib import name`",
            )
        elif node.module is not None:
            self._check_module_name(node, node.module)
        return super().visit_ImportFrom(node)

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
        # like any expression, so it is visited like one.
        return self.node_contents_visit(node)

    # -- loops, handlers and the tick -------------------------------------

    @staticmethod
    def _insert_tick(body: list[ast.stmt], like: ast.AST) -> None:
        position = 0
        if (
            body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            position = 1  # keep the docstring first
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
            if target.attr.startswith("_"):
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

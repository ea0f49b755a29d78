"""Special methods called by name: the same guards as the operators.

``s * n`` is checked before the C call (:func:`sandbox.guards.operators.check_mul`);
``s.__mul__(n)`` is the same C call, reached by name — on a tenant subclass
of ``str``, through ``super().__mul__(n)`` or as ``S.__mul__(s, n)``. This
module is the one table both roads read:

* :data:`OPERATORS`: each guarded operator's check, and the operator builtin
  (``_mul_``) that runs it before the operator; the policy routes ``*``,
  ``**``, ``<<``, ``%``, ``+``, ``-``, ``/`` to those builtins.
* :data:`SPECIAL_METHODS`: every special method a tenant may read by name
  (:data:`sandbox.guards.own_objects.ALLOWED_DUNDER_METHODS`) -> either
  :data:`LINEAR` (the host's method does work proportional to what already
  exists: ``__len__``, ``__eq__``) or the guard it goes through. The
  operator methods (``__mul__``, ``__rmul__``, ``__imul__``) are made from
  :data:`OPERATORS`, so the two roads cannot disagree.

:func:`sandbox.guards.own_objects.special_attr` reads the table for every
*host* special method it hands out, from a tenant object, a tenant class or
``super()`` (a tenant's own methods are its own code); a name with no entry
is refused. ``tests/sandbox/test_special_methods.py``
walks the special methods of tenant subclasses of every builtin type and
fails on any name without an entry.

.. warning::
   The checks run on the arguments as given; a reflected method
   (``__rmul__``) is checked as the operator it stands for (``other * self``).
"""

from __future__ import annotations

import collections

from sandbox.guards.consume import check_format_spec
from sandbox.guards.consume import check_mod
from sandbox.guards.consume import guarded_mod
from sandbox.guards.consume import text_of
from sandbox.guards.counts import exact_int
from sandbox.guards.counts import is_count
from sandbox.guards.iteration import guarded_iter
from sandbox.guards.operators import SizeLimitError
from sandbox.guards.operators import check_add
from sandbox.guards.operators import check_allocation
from sandbox.guards.operators import check_decimal
from sandbox.guards.operators import check_lshift
from sandbox.guards.operators import check_floordiv
from sandbox.guards.operators import check_mul
from sandbox.guards.operators import check_pow
from sandbox.guards.operators import check_round
from sandbox.guards.operators import check_sub
from sandbox.guards.operators import check_text
from sandbox.guards.operators import check_truediv
from sandbox.guards.operators import guarded_add
from sandbox.guards.operators import guarded_floordiv
from sandbox.guards.operators import guarded_lshift
from sandbox.guards.operators import guarded_mul
from sandbox.guards.operators import guarded_pow
from sandbox.guards.operators import guarded_sub
from sandbox.guards.operators import guarded_truediv
from sandbox.guards.operators import host_text_estimate
from sandbox.guards.operators import sized_items
from sandbox.guards.operators import text_limit
from sandbox.guards.own_objects import ALLOWED_DUNDER_METHODS
from sandbox.guards.own_objects import LINEAR
from sandbox.guards.own_objects import SPECIAL_METHODS


#: operator -> (check(left, right, ...) -> the right operand to use, the
#: operator builtin that runs the check and then the operator).
OPERATORS = {
    "add": (check_add, guarded_add),
    "sub": (check_sub, guarded_sub),
    "truediv": (check_truediv, guarded_truediv),
    "mul": (check_mul, guarded_mul),
    "floordiv": (check_floordiv, guarded_floordiv),
    "mod": (check_mod, guarded_mod),
    "pow": (check_pow, guarded_pow),
    "lshift": (check_lshift, guarded_lshift),
}


def operator_builtins() -> dict:
    """``{"_mul_": guarded_mul, ...}``: the builtins the policy's rewrite calls."""
    return {f"_{op}_": guarded for op, (_check, guarded) in OPERATORS.items()}


# A guard is ``guard(method, owner, self, *args, **kwargs)``: ``method`` is
# the host's special method of class ``owner``, bound to ``self``.

def _forward(check):
    def guard(method, owner, self, *args, **kwargs):
        if args:  # without one, the method raises its own TypeError
            args = (check(self, *args, **kwargs), *args[1:])
        return method(*args, **kwargs)

    return guard


def _reflected(check):
    def guard(method, owner, self, *args, **kwargs):
        if args:  # self.__rmul__(other) is other * self
            check(args[0], self, *args[1:], **kwargs)
        return method(*args, **kwargs)

    return guard


def _text(method, owner, self, *args, **kwargs):
    # list.__repr__ of a subclass holding [s] * 2000: one C call, 2 GB.
    size, opaque = host_text_estimate(self, text_limit())
    if opaque:
        raise SizeLimitError("this object holds objects whose text is your code: "
                             "use repr() or str() on it")
    check_allocation(size, "the text of an object")
    return method(*args, **kwargs)


def _format(method, owner, self, spec="", *args, **kwargs):
    if owner is object and not spec:
        # object.__format__(x, "") is str(x).
        return text_of(self, limit=text_limit(), over="raise", what="formatting a value")
    check_text(self, "formatting a value")
    check_format_spec(spec)
    return method(spec, *args, **kwargs)


def _round(method, owner, self, *args, **kwargs):
    if len(args) == 1 and not kwargs:
        return method(check_round(self, *args))  # the exact ndigits that was checked
    check_round(self, *args, **kwargs)
    return method(*args, **kwargs)


def _to_int(method, owner, self, *args, **kwargs):
    check_decimal(self)  # int(Decimal("1e1000000")) runs for 25 s
    return method(*args, **kwargs)


def _init(method, owner, self, *args, **kwargs):
    if isinstance(self, (bytes, bytearray)) and args:
        if is_count(args[0]):
            args = (exact_int(args[0]), *args[1:])
            check_allocation(args[0], f"{type(self).__name__}()")
        elif not isinstance(args[0], (str, bytes, bytearray, memoryview)):
            args = (guarded_iter(args[0]), *args[1:])
    elif isinstance(self, list) and args:
        args = (sized_items(args[0], f"{type(self).__name__}()"), *args[1:])
    elif isinstance(self, collections.deque) and args:
        args = (guarded_iter(args[0]), *args[1:])
    return method(*args, **kwargs)


SPECIAL_METHODS.update(dict.fromkeys((
    "__post_init__ __bytes__ __bool__ __eq__ __ne__ __lt__ __le__ __gt__ __ge__ __hash__ "
    "__len__ __iter__ __next__ __reversed__ __contains__ __missing__ __getitem__ "
    "__setitem__ __delitem__ __enter__ __exit__ __call__ __matmul__ __rmatmul__ "
    "__rshift__ "
    "__rrshift__ __irshift__ __and__ __rand__ __iand__ __xor__ __rxor__ __ixor__ __or__ "
    "__ror__ __ior__ __neg__ __pos__ __abs__ __invert__ __float__ __complex__").split(),
    LINEAR))
for _op, (_check, _guarded) in OPERATORS.items():
    SPECIAL_METHODS[f"__{_op}__"] = _forward(_check)
    SPECIAL_METHODS[f"__r{_op}__"] = _reflected(_check)
    SPECIAL_METHODS[f"__i{_op}__"] = _forward(_check)
# s.__rmul__(n) is n * s, which repeats or multiplies as s * n does: checked
# as that, so the exact count the check made is what the method gets.
SPECIAL_METHODS["__rmul__"] = _forward(check_mul)
SPECIAL_METHODS["__divmod__"] = _forward(check_floordiv)
SPECIAL_METHODS["__rdivmod__"] = _reflected(check_floordiv)
SPECIAL_METHODS.update({
    "__repr__": _text, "__str__": _text, "__format__": _format, "__round__": _round,
    "__int__": _to_int, "__index__": _to_int, "__trunc__": _to_int, "__floor__": _to_int,
    "__ceil__": _to_int, "__init__": _init,
})
# Names the language has no such method for (``__itruediv__`` is the
# language's; ``__rlshift__`` is): only those tenant code may read.
for _name in [n for n in SPECIAL_METHODS if n not in ALLOWED_DUNDER_METHODS]:
    del SPECIAL_METHODS[_name]


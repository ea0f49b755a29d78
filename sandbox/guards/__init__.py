"""The run-time half of the sandbox: guard functions and safe builtins.

One module per concern: :mod:`.operators` (allocation and size),
:mod:`.iteration`, :mod:`.access` (attributes, formats, writes) and
:mod:`.builtins`.

Code compiled by :class:`sandbox.policy.MuxPolicy` calls these by name
(``_getattr_``, ``_getiter_``, ``_write_`` ...). They follow RestrictedPython's
protocol and AccessControl's practice, tightened for many tenants in one
process (see SECURITY-NOTES in the project docs):

* attribute reads never hand out a module, frame, code or traceback, and
  ``str.format`` is replaced by a formatter whose field lookups are guarded;
* every iteration goes through :class:`TickingIter`, which ticks the budget
  and puts a Python frame between nested iterators, so chains of generators
  end in a clean ``RecursionError`` instead of overflowing the C stack;
* writes are allowed to plain containers and to objects of classes the
  tenant defined, never to host objects;
* operators and constructors that allocate in one C call are checked
  before the call: a value larger than the request's memory budget stops the
  request with the memory limit (:func:`check_allocation`); integers are
  bounded by :data:`MAX_INT_BITS`, because their arithmetic is superlinear.

.. warning::
   These bounds stop a single allocation, not a loop of small ones; the
   memory budget in :mod:`sandbox.limits` covers the loop.
"""

from __future__ import annotations

from sandbox.guards.access import TENANT_CLASSES
from sandbox.guards.access import guarded_getattr
from sandbox.guards.access import guarded_hasattr
from sandbox.guards.access import guarded_write
from sandbox.guards.access import is_tenant_object
from sandbox.guards.own_objects import is_private_name
from sandbox.guards.builtins import TypeGuard
from sandbox.guards.own_objects import is_tenant_function
from sandbox.guards.builtins import make_builtins
from sandbox.guards.builtins import safe_str as safe_str_builtin
from sandbox.guards.consume import exception_text
from sandbox.guards.counts import exact_int
from sandbox.guards.counts import is_count
from sandbox.guards.consume import safe_repr
from sandbox.guards.consume import plain_text
from sandbox.guards.consume import safe_str
from sandbox.guards.consume import text_of
from sandbox.guards.operators import join_text
from sandbox.guards.builtins import ticking_over_inputs
from sandbox.guards.iteration import TickingIter
from sandbox.guards.iteration import guarded_iter
from sandbox.guards.operators import MAX_DECIMAL_EXPONENT
from sandbox.guards.operators import MIN_DECIMAL_EXPONENT
from sandbox.guards.operators import MAX_INT_BITS
from sandbox.guards.operators import MAX_POWMOD_BITS
from sandbox.guards.operators import MAX_SEQUENCE_ITEMS
from sandbox.guards.operators import MAX_STRING_BYTES
from sandbox.guards.operators import SandboxError
from sandbox.guards.operators import SizeLimitError
from sandbox.guards.operators import check_allocation
from sandbox.guards.operators import storage_type
from sandbox.guards.operators import check_decimal
from sandbox.guards.operators import check_text
from sandbox.guards.operators import text_size
from sandbox.guards.operators import guarded_lshift
from sandbox.guards.consume import guarded_mod
from sandbox.guards.operators import guarded_mul
from sandbox.guards.operators import guarded_pow

__all__ = [
    "MAX_DECIMAL_EXPONENT",
    "MIN_DECIMAL_EXPONENT",
    "MAX_INT_BITS",
    "MAX_POWMOD_BITS",
    "MAX_SEQUENCE_ITEMS",
    "MAX_STRING_BYTES",
    "SandboxError",
    "SizeLimitError",
    "TENANT_CLASSES",
    "TickingIter",
    "TypeGuard",
    "check_allocation",
    "check_decimal",
    "check_text",
    "exception_text",
    "exact_int",
    "is_count",
    "join_text",
    "safe_repr",
    "plain_text",
    "safe_str",
    "safe_str_builtin",
    "text_of",
    "storage_type",
    "text_size",
    "guarded_getattr",
    "guarded_hasattr",
    "guarded_iter",
    "guarded_lshift",
    "guarded_mod",
    "guarded_mul",
    "guarded_pow",
    "guarded_write",
    "is_private_name",
    "is_tenant_function",
    "is_tenant_object",
    "make_builtins",
    "ticking_over_inputs",
]

"""Round 5: what an independent attacker found against the language layer.

Each test is tenant source served in this process by
:class:`tests.sandbox.inprocess.SandboxHost` (the sandbox as a library, no
process layer), asserting what a safe sandbox does. Each was a strict xfail
while the attack worked on main (aa99e73); the round-5 fixes (branch
round5) made them ordinary tests. Budget of every case: 32 MB, 300 ms of
CPU; measured on a shared 2-core machine.

The findings, by class (all are denial of service of the neighbours: one
call that allocates far past the budget, or holds the process for seconds
without a tick; no read of a host secret and no change to a shared host
object was found in the time):

1. *The size guards trust ``isinstance(n, int)``; the C call takes any
   ``__index__``.* ``check_mul`` (``sandbox/guards/operators.py:359``) and
   the width guards of the native table (``natives._sized``,
   ``sandbox/guards/natives.py:79``) check a count only when it is an
   ``int``; a tenant object whose ``__index__`` returns 200 MB passes
   unchecked and ``'x' * n``, ``s.center(n)``, ``b.zfill(n)`` build it.
2. *The guards ask a tenant ``int`` subclass about itself.* The checks call
   methods the subclass overrides: ``count > 0`` in ``_repeat_count``
   (``operators.py:146``), ``left.bit_length()`` in ``check_lshift`` and
   ``check_mul`` (``operators.py:134``, ``:356``), ``value > limit`` in the
   facades' ``cap`` (``sandbox/facades/base.py:48``). ``__gt__`` returning
   False or ``bit_length`` returning 0 switch the guard off: 200 MB strings,
   1.6 GB integers, ``math.factorial(400000)`` and a 3-million-iteration
   ``pbkdf2_hmac`` in one call, and integers past ``MAX_INT_BITS`` whose
   ``//`` (never guarded: big ints are assumed bounded) held the process
   for 75 s.
3. *Items built from a text are counted as its bytes, or not at all.* A
   list holds 8 bytes per item, a character is one byte of a str: ``[*s]``,
   ``f(*s)`` (no guard on star-unpacking in the policy), ``lst.extend(s)``
   (no entry for ``list.extend`` in the native table) and
   ``L().__iadd__(s)`` (``check_add`` counts the str's bytes,
   ``operators.py:304``) turn a 24 MB string into 200-575 MB.
4. *``sum`` is the raw builtin.* ``sum(lists, [])`` concatenates in C,
   quadratically, never ticking (``sandbox/guards/builtins.py:294``): 5.9 s
   held for 1,500 lists of 1,000.

Tried and held (run as tenant code against this version):

* ``str.format`` roads with attribute fields on host functions
  (``'{0.__globals__}'``): ``str.format``, ``str.format_map``,
  ``Markup.format``, ``UserString.format_map``, ``str.format_map`` unbound;
  ``operator.attrgetter('__globals__')``.
* Generators' ``gi_frame`` and ``gi_yieldfrom`` by ``getattr``.
* Descriptors over host functions on a tenant class: ``property(json.dumps)``
  (``.fget`` refused), ``functools.partialmethod(str.format, ...)``,
  ``classmethod(dict.update)`` (the unbound guard refuses the class as self).
* Calling the stand-in of a host class (``type(json)('x')``).
* ``heapq.heappush`` on a host class attribute (refused: not a list).
* ``Decimal('1e4999')`` formatted with ``'f'`` (the context's Emax holds).
* A big-int ``*`` growth with a plain ``int`` (``check_mul`` holds; it is
  the subclass that breaks it, class 2).

Reviewed in the code, not broken in the time: ``special_attr``'s refusal of
``__traceback__``/``__reduce__``/``__init_subclass__``/``__class_getitem__``/
``__set_name__``/``__del__`` (not in ``ALLOWED_DUNDER_METHODS``, refused by
the policy in class bodies too), ``_unbound``'s ``isinstance`` check and its
``super`` past an override, ``tenant_super`` (tenant objects only), the
``_ClassWriter`` (private names only), the enum/namedtuple/TypedDict
factories' member-name checks, the ``traceback`` facade (message only),
``dataclass``/``replace``/``fields`` (tenant classes only), ``logging``
(per-tenant loggers, ``_Cut`` arguments), ``functools.update_wrapper``.
Not reached: class keyword arguments passed by ``ClassFactory`` to a host
base's ``__init_subclass__``, typing's metaclasses on class statements,
json's ``cls=``/hooks, csv, sqlite3, Flask objects.
"""

import pytest

from tests.sandbox.rounds import assert_bounded
from tests.sandbox.rounds import assert_not_held
from tests.sandbox.rounds import attack_host
from tests.sandbox.rounds import serve

SECRET = "s3cr3t-r0und5"


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    yield from attack_host(tmp_path_factory, "attacks-round5", SECRET)


# -- 1. a count that is not an int but has __index__ -------------------------------------

INDEX = "class N:\n    def __index__(self):\n        return 200 * 2**20\n"


@pytest.mark.parametrize("call", ["'x' * N()", "'x'.center(N())", "b'x'.zfill(N())"],
                         ids=["mul", "center", "zfill"])
def test_a_count_with_index_is_sized(host, call):
    outcome = serve(host, "r5-index", INDEX + f"def get():\n    return str(len({call}))\n")
    assert_bounded(outcome)


# -- 2. the guards ask a tenant int subclass about itself --------------------------------

def test_repeat_count_does_not_trust_the_counts_comparison(host):
    outcome = serve(host, "r5-int-gt", (
        "class I(int):\n    def __gt__(self, other):\n        return False\n"
        "def get():\n    return str(len('x' * I(200 * 2**20)))\n"))
    assert_bounded(outcome)


def test_lshift_does_not_trust_the_ints_bit_length(host):
    outcome = serve(host, "r5-int-bit-length", (
        "class I(int):\n    def bit_length(self):\n        return -10**12\n"
        "def get():\n    return str(int.bit_length(I(1) << (8 * 200 * 2**20)))\n"))
    assert_bounded(outcome)


def test_big_integers_past_the_bound_do_not_hold_the_process(host):
    outcome = serve(host, "r5-int-floordiv", (
        "class I(int):\n    def bit_length(self):\n        return 0\n"
        "def get():\n"
        "    a = I(I(3) << 190000)\n"
        "    for k in range(3):\n"
        "        a = I(a * a)\n"
        "    b = I(a >> (int.bit_length(a) // 2))\n"
        "    return str(int.bit_length(a // (b + 1)))\n"))
    assert_not_held(outcome)


@pytest.mark.parametrize("call", ["math.factorial(I(400000)).bit_length()",
                                  "len(hashlib.pbkdf2_hmac('sha256', b'x', b'y', I(3 * 10**6)))"],
                         ids=["factorial", "pbkdf2"])
def test_facade_caps_do_not_trust_the_values_comparison(host, call):
    outcome = serve(host, "r5-cap", (
        "import hashlib, math\n"
        "class I(int):\n    def __gt__(self, other):\n        return False\n"
        f"def get():\n    return str({call})\n"))
    assert_not_held(outcome)


# -- 3. items built from a text: 8 bytes each, counted as 1 or not at all -----------------

@pytest.mark.parametrize("body", [
    "    return str(len([*s]))\n",
    "    return str(f(*s))\n",
    "    out = []\n    out.extend(s)\n    return str(len(out))\n",
    "    return str(len(L().__iadd__(s)))\n",
], ids=["list-display", "star-args", "extend", "iadd-by-name"])
def test_items_made_from_a_text_are_sized(host, body):
    outcome = serve(host, "r5-items", (
        "class L(list):\n    pass\n"
        "def f(*args):\n    return len(args)\n"
        "def get():\n    s = 'x' * (24 * 2**20)\n" + body))
    assert_bounded(outcome)


# -- 4. sum is the raw builtin --------------------------------------------------------------

def test_sum_of_lists_does_not_hold_the_process(host):
    outcome = serve(host, "r5-sum", (
        "def get():\n"
        "    rows = [[0] * 1000] * 800\n"
        "    return str(len(sum(rows, [])))\n"))
    assert_not_held(outcome)


@pytest.mark.parametrize("items", ["[big] * 2_000_000", "(big for _ in range(2_000_000))"],
                         ids=["list", "generator"])
def test_sum_of_big_integers_does_not_hold_the_process(host, items):
    """Numbers go to CPython's own sum (for its exact float result), but
    integers past a small size are added one at a time through the guard:
    two million 100,000-bit additions in one C call would take seconds."""
    outcome = serve(host, "r5-sum-big", (
        "def get():\n"
        "    big = 2 ** 100_000\n"
        f"    return str(sum({items}).bit_length())\n"))
    assert_not_held(outcome)

"""Attack round 16 (main fdcc8cb): host library code that works on what a
tenant handed it, sized by something inside the value rather than its
length, with no tick in between (class: host work sized by tenant input,
SECURITY-NOTES §11 "long single calls" / "growth in one call").

Holes (each closed; the tests below guard the fixes):

1. ``typing`` compiles every text it is given as a type with the real
   ``compile()``: ``typing.List["1+" * 3_000_000 + "1"]`` held the process
   5.2 s and grew it by 1.3 GB against a 64 MB budget (the same through
   ``Optional``, ``TypeVar(bound=)``, ``NamedTuple``/``TypedDict`` fields
   and a class-form ``NamedTuple``'s annotations). Fix:
   ``sandbox/facades/text.py`` ``_forward_refs_bounded`` (``ForwardRef``,
   the one place every road goes through: 4,096 characters).
2. ``hmac.new(key, msg, digestmod)`` with a tenant callable: hmac's own
   Python believes the digest object's ``block_size`` and makes
   ``key.ljust(block_size)`` and two translations of it — 800 MB and 1.1 s
   on the hub for a 64 MB budget, answered 200. Fix:
   ``sandbox/facades/data.py`` ``_digest_name`` (a digest is a hash name or
   one of hashlib's constructors, handed to hmac as its name; ``hmac.new``,
   ``hmac.HMAC`` and subclasses of it, ``hmac.digest``).
3. A Decimal's exponent was bounded above only: ``Decimal("1e-999999")``
   (ten characters) is a 3.3-million-bit denominator for
   ``as_integer_ratio``, ``Fraction(d)``, ``statistics`` (``mean`` of it
   held the process 28 s; ``1e-3000000`` 252 s) and a 300,000-character
   ``format(d, "f")``. Fix: ``sandbox/guards/operators.py``
   ``check_decimal`` (exponents from -6,000: the smallest subnormal the
   bounded contexts make); and so is a Fraction's made from text
   (``Fraction("1e-30000000")``, thirteen characters: 33 s on the hub), in
   ``Fraction.__new__`` for the process (``sandbox/facades/numbers.py``
   ``fraction_text_bounded``: tenant subclasses are made by it too); and
   ``round(Fraction(1, 3), 10**7)`` (6 s: ``check_round`` bounded only a
   negative ``ndigits``, the costly one for an int).
4. ``statistics`` sums exactly, one ``Fraction`` per distinct denominator,
   in a loop that never ticks: ``mean`` of 800 ``Fraction(1, p ** 300)``
   held the process 10 s past a 2 s budget. Fix:
   ``sandbox/facades/numbers.py`` ``_check_exact_data`` (the common
   denominator the sum will build, computed first, ticking, at most
   32,768 bits; items whose ``as_integer_ratio`` is not their number
   type's own are refused, as statistics believes what it says).

5. A host ``Flag`` shared by every tenant (regex's ``RegexFlag``: ``re.I``)
   kept each combination with bits no member has as a member, for the life
   of the process (round 9 made the values plain ``int`` but kept them):
   20,000 ``re.I | big`` a request left 64 MB each after the request was
   stopped and the tenant evicted (384 MB after six). Fix:
   ``sandbox/facades/text.py`` ``_flags_keep_plain_values`` (such a
   combination is made, not kept; the members' own combinations are).

6. ``ABC.register`` on a tenant ABC deriving from a shared one
   (``class M(collections.abc.Iterable)``, ``M.register(float)``): the
   shared ABC asks its subclasses, so ``isinstance(1.5, Iterable)`` was true
   for every tenant and the host, and stayed true after the tenant was
   evicted (the shared ABC's cache). Cross-tenant integrity: host code
   branches on such checks. Fix: ``sandbox/guards/language.py``
   ``_register`` (such an ABC registers only the tenant's own classes).

Tried and held (no test here, or covered by earlier rounds): format fields
and ``string.Formatter`` (not offered), ``dataclasses.make_dataclass`` (not
offered), ``namedtuple`` of 300,000 fields (1,024 at most), nested
parentheses in a forward reference (CPython's parser stops at 200).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import statistics
from decimal import Decimal
from fractions import Fraction

from tests.sandbox.rounds import HELD_BOUND_S
from tests.sandbox.rounds import MEMORY_MB
from tests.sandbox.rounds import PEAK_SLACK
from tests.sandbox.rounds import run_in_fresh_process
from tests.sandbox.rounds import serve_in_fresh_process


def assert_refused_quickly(outcome, error: str) -> None:
    """Refused with ``error`` in the tenant's log, without holding the
    process or growing it far past the budget."""
    assert outcome.status == 500, (outcome.status, outcome.body[:200])
    assert error in outcome.text, outcome.text[-500:]
    assert outcome.held_s < HELD_BOUND_S, f"held the process for {outcome.held_s:.2f} s"
    assert outcome.peak_bytes < MEMORY_MB * 2**20 + PEAK_SLACK, \
        f"the peak RSS rose by {outcome.peak_bytes // 2**20} MB"


# -- 1. typing's forward references ---------------------------------------------

FORWARD_REF = '''
import typing

def get():
    return repr(typing.{form})
'''


def test_a_forward_reference_is_not_compiled_past_its_bound(tmp_path):
    source = FORWARD_REF.format(form='List["1+" * 3_000_000 + "1"]')
    outcome = serve_in_fresh_process(tmp_path, "fwd-list", source)
    assert_refused_quickly(outcome, "SyntaxError: a forward reference")


def test_a_named_tuple_field_type_is_bounded_too(tmp_path):
    """The class form: the annotation is a value computed at run time."""
    source = ("import typing\n"
              "T = 'x or ' * 2_000_000 + 'x'\n"
              "def get():\n"
              "    class P(typing.NamedTuple):\n"
              "        a: T\n"
              "    return 'made'\n")
    outcome = serve_in_fresh_process(tmp_path, "fwd-nt", source)
    assert_refused_quickly(outcome, "SyntaxError: a forward reference")


def test_forward_references_of_real_code_still_work(tmp_path):
    source = ("import typing\n"
              "class Node:\n"
              "    pass\n"
              "P = typing.NamedTuple('P', [('next', 'typing.Optional[P]'), ('n', int)])\n"
              "def get():\n"
              "    return repr(typing.List['Node']) + ' ' + repr(P(None, 3))\n")
    outcome = serve_in_fresh_process(tmp_path, "fwd-ok", source)
    assert (outcome.status, outcome.body) == (200, "typing.List[ForwardRef('Node')] P(next=None, n=3)")


# -- 2. hmac's digestmod ---------------------------------------------------------

TENANT_DIGEST = '''
import hmac

class Digest:
    digest_size = 32
    block_size = 400 * 1024 * 1024

    def update(self, data):
        pass

    def digest(self):
        return b"x"

    def copy(self):
        return self

def get():
    hmac.{call}
    return "made"
'''


def test_hmac_does_not_run_a_tenant_digest(tmp_path):
    source = TENANT_DIGEST.format(call='new(b"k", b"m", lambda d=b"": Digest())')
    outcome = serve_in_fresh_process(tmp_path, "hmac-new", source)
    assert_refused_quickly(outcome, "TypeError: digestmod must be a hash name")


def test_hmac_subclass_and_digest_function_are_the_same_road(tmp_path):
    source = TENANT_DIGEST.format(call='digest(b"k", b"m", lambda d=b"": Digest())\n'
                                       '    class H(hmac.HMAC):\n'
                                       '        pass\n'
                                       '    H(b"k", b"m", lambda d=b"": Digest())')
    outcome = serve_in_fresh_process(tmp_path, "hmac-digest", source)
    assert_refused_quickly(outcome, "TypeError: digestmod must be a hash name")


def test_hmac_with_hashlib_digests_is_cpythons(tmp_path):
    source = ("import hashlib, hmac\n"
              "def get():\n"
              "    h = hmac.HMAC(b'k', digestmod=hashlib.sha1)\n"
              "    h.update(b'm')\n"
              "    class H(hmac.HMAC):\n"
              "        pass\n"
              "    return ' '.join([hmac.new(b'k', b'm', hashlib.sha256).hexdigest(),\n"
              "                     hmac.new(b'k', b'm', 'sha256').hexdigest(),\n"
              "                     h.copy().hexdigest(), h.name,\n"
              "                     hmac.digest(b'k', b'm', hashlib.blake2b).hex(),\n"
              "                     H(b'k', b'm', hashlib.md5).hexdigest(),\n"
              "                     str(isinstance(h, hmac.HMAC))])\n")
    outcome = serve_in_fresh_process(tmp_path, "hmac-ok", source)
    expected = " ".join([hmac.new(b"k", b"m", hashlib.sha256).hexdigest(),
                         hmac.new(b"k", b"m", hashlib.sha256).hexdigest(),
                         hmac.new(b"k", b"m", hashlib.sha1).hexdigest(), "hmac-sha1",
                         hmac.digest(b"k", b"m", hashlib.blake2b).hex(),
                         hmac.new(b"k", b"m", hashlib.md5).hexdigest(), "True"])
    assert (outcome.status, outcome.body) == (200, expected)


# -- 3. a Decimal's negative exponent ---------------------------------------------

def test_a_decimal_with_a_huge_negative_exponent_is_refused(tmp_path):
    source = ("import statistics\n"
              "from decimal import Decimal\n"
              "def get():\n"
              "    d = Decimal('1e-999999')\n"
              "    return str(statistics.mean([d, Decimal(1)]))\n")
    outcome = serve_in_fresh_process(tmp_path, "dec-small", source)
    assert_refused_quickly(outcome, "SizeLimitError: Decimal values beyond")


def test_decimals_arithmetic_makes_stay_usable(tmp_path):
    """The smallest subnormal a bounded context makes is still a Decimal
    tenant code may build and turn into a ratio."""
    source = ("from decimal import Decimal, Context\n"
              "def get():\n"
              "    tiny = Context(prec=1000).divide(Decimal(1), Decimal(3) * Decimal('1e4999'))\n"
              "    smallest = Decimal('1e-5999')\n"
              "    return f'{tiny.adjusted()} {smallest.as_integer_ratio()[1].bit_length()}'\n")
    outcome = serve_in_fresh_process(tmp_path, "dec-ok", source)
    expected = f"-5000 {Decimal('1e-5999').as_integer_ratio()[1].bit_length()}"
    assert (outcome.status, outcome.body) == (200, expected)


def test_a_fraction_from_text_has_its_exponent_bounded_too(tmp_path):
    source = ("from fractions import Fraction\n"
              "def get():\n"
              "    class F(Fraction):\n"
              "        pass\n"
              "    return str(F('1e-30000000').denominator.bit_length())\n")
    outcome = serve_in_fresh_process(tmp_path, "frac-text", source)
    assert_refused_quickly(outcome, "SizeLimitError: a Fraction's exponent")


def test_fractions_from_text_are_cpythons(tmp_path):
    texts = ["1.5e3", "3/4", " -2.25 ", "1e-5", "2E+2", "-0.125e-3"]
    source = ("from fractions import Fraction\n"
              "def get():\n"
              f"    return ' '.join(str(Fraction(t)) for t in {texts!r})\n")
    outcome = serve_in_fresh_process(tmp_path, "frac-ok", source)
    assert (outcome.status, outcome.body) == (200, " ".join(str(Fraction(t)) for t in texts))


def test_rounding_a_fraction_to_many_digits_is_bounded(tmp_path):
    """A positive ``ndigits`` costs a fraction ``10 ** ndigits`` too (an int
    returns itself there, and still may)."""
    source = ("from fractions import Fraction\n"
              "def get():\n"
              "    assert round(12345, 10**9) == 12345\n"
              "    return str(round(Fraction(1, 3), 10**7))\n")
    outcome = serve_in_fresh_process(tmp_path, "frac-round", source)
    assert_refused_quickly(outcome, "SizeLimitError: round() to that many digits")


# -- 4. statistics' exact sums ----------------------------------------------------



def test_statistics_exact_sum_is_sized_before_it_is_made(tmp_path):
    source = ("import statistics\nfrom fractions import Fraction\n"
              "def get():\n"
              "    data = [Fraction(1, p ** 300) for p in range(2, 802)]\n"
              "    return str(statistics.mean(data).denominator.bit_length())\n")
    outcome = serve_in_fresh_process(tmp_path, "stats-mean", source)
    assert_refused_quickly(outcome, "statistics.mean() sums its data exactly")


def test_statistics_weights_and_means_count_too(tmp_path):
    """``harmonic_mean``'s weights and a variance's given mean are summed
    with the data."""
    source = ("import statistics\nfrom fractions import Fraction\n"
              "def get():\n"
              "    big = 1\n"
              "    for p in range(2, 402):\n"
              "        big *= p ** 10\n"
              "    try:\n"
              "        statistics.pvariance([Fraction(1, 2)] * 10, Fraction(1, big))\n"
              "    except MemoryError as exc:\n"
              "        first = str(exc)\n"
              "    weights = [Fraction(1, p ** 300) for p in range(2, 802)]\n"
              "    statistics.harmonic_mean([1] * 800, weights=weights)\n"
              "    return first\n")
    outcome = serve_in_fresh_process(tmp_path, "stats-weights", source)
    assert_refused_quickly(outcome, "statistics.harmonic_mean() sums its data exactly")


def test_statistics_believes_no_tenant_ratio(tmp_path):
    source = ("import statistics\n"
              "class N(int):\n"
              "    def as_integer_ratio(self):\n"
              "        return (1, 1 << 100_000)\n"
              "def get():\n"
              "    return str(statistics.mean([N(1), N(2)]))\n")
    outcome = serve_in_fresh_process(tmp_path, "stats-ratio", source)
    assert_refused_quickly(outcome, "as_integer_ratio is int's own here")


def test_statistics_answers_as_cpython(tmp_path):
    calls = [
        "statistics.mean([1, 2, 3, 4])",
        "statistics.mean([Fraction(1, 3), Fraction(1, 7), 2])",
        "statistics.mean([0.1, 0.2, 1e-300, 1e300])",
        "statistics.harmonic_mean(range(1, 20001))",
        "statistics.harmonic_mean([Fraction(3, 5), Fraction(7, 11)], weights=[Fraction(1, 2), 3])",
        "statistics.variance([Decimal('0.1'), Decimal('0.35'), Decimal(2)])",
        "statistics.stdev([1.5, 2.5, 2.5, 2.75, 3.25, 4.75])",
        "statistics.pvariance([Fraction(1, 4), Fraction(5, 4)], Fraction(3, 4))",
        "statistics.variance([True, False, True])",
        "statistics.median([3, 1, 2])",
    ]
    source = ("import statistics\nfrom fractions import Fraction\nfrom decimal import Decimal\n"
              "def get():\n"
              f"    return '|'.join(repr(v) for v in [{', '.join(calls)}])\n")
    outcome = serve_in_fresh_process(tmp_path, "stats-ok", source)
    namespace = {"statistics": statistics, "Fraction": Fraction, "Decimal": Decimal}
    expected = "|".join(repr(eval(call, namespace)) for call in calls)
    assert (outcome.status, outcome.body) == (200, expected)


# -- 5. a shared Flag's combinations ----------------------------------------------

FLAG_LIMITS = "[limits]\ncpu_ms = 3000\nwall_s = 10\nmemory_mb = 64\n"
FLAG_VALUES = '''
import random
import re

def get():
    base = random.getrandbits(64) << 4100
    for i in range(20000):
        re.I | ((base + (i << 20)) << 40)
    return "planted"
'''


def test_a_shared_flag_keeps_no_value_a_tenant_names(tmp_path):
    """regex's ``RegexFlag`` is one class for the process; a combination
    with bits no member has was kept as a member for good, so each request
    left what it made (64 MB) after it was stopped and its tenant evicted."""
    script = (
        "import gc, json\n"
        "from tests.sandbox.inprocess import SandboxHost\n"
        "def rss_mb():\n"
        "    with open('/proc/self/statm') as f:\n"
        "        return int(f.read().split()[1]) * 4096 / 2**20\n"
        f"host = SandboxHost({str(tmp_path)!r})\n"
        f"host.write('flags', {{'index.py': {FLAG_VALUES!r}}}, {FLAG_LIMITS!r})\n"
        "host.request('flags')\n"
        "host.close('flags'); gc.collect()\n"
        "start = rss_mb()\n"
        "statuses = [host.request('flags').status for _ in range(2)]\n"
        "host.close('flags'); gc.collect()\n"
        "print(json.dumps([statuses, rss_mb() - start]))\n"
    )
    done = run_in_fresh_process(tmp_path, script, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    statuses, grown_mb = json.loads(done.stdout.splitlines()[-1])
    assert statuses == [200] * 2, statuses
    assert grown_mb < 16, f"the process kept {grown_mb:.0f} MB after the tenant was evicted"


def test_flags_combine_as_cpythons(tmp_path):
    calls = ["repr(re.I | (1 << 40))", "repr(re.I | re.S)", "(re.I | re.S) is (re.I | re.S)",
             "(re.I | (1 << 40)) == (re.I | (1 << 40))", "int(re.I | 1 << 40)",
             "repr(F(7))", "F(3) is (F.A | F.B)", "repr(F.A | 8)"]
    source = ("import re, enum\n"
              "F = enum.IntFlag('F', {'A': 1, 'B': 2})\n"
              "def get():\n"
              f"    return '|'.join(str(v) for v in [{', '.join(calls)}])\n")
    outcome = serve_in_fresh_process(tmp_path, "flags-ok", source)
    import enum
    import regex
    namespace = {"re": regex, "F": enum.IntFlag("F", {"A": 1, "B": 2})}
    assert (outcome.status, outcome.body) == (200, "|".join(str(eval(c, namespace)) for c in calls))


# -- 6. registering on an ABC a tenant shares ---------------------------------------

ABC_POISON = '''
import collections
import collections.abc as cabc
import fractions

class Mine(cabc.Iterable):
    def __iter__(self):
        return iter(())

def get():
    made = []
    for host_class in (float, bool, dict, ValueError, collections.OrderedDict, fractions.Fraction):
        try:
            Mine.register(host_class)
            made.append(host_class.__name__)
        except TypeError:
            pass
    return " ".join(made)
'''

ABC_VICTIM = '''
import collections.abc as cabc

def get():
    return repr([isinstance(1.5, cabc.Iterable), isinstance({}, cabc.Iterable)])
'''


def test_a_tenant_abc_cannot_register_host_classes_into_a_shared_one(tmp_path):
    """Registered on a tenant subclass of ``Iterable``, ``float`` was an
    ``Iterable`` for every tenant and for the host — still after the tenant
    was evicted (the shared ABC's cache). Run in a fresh process: on a
    server where it works, the test process's ABCs would be poisoned."""
    script = (
        "import gc, json, collections.abc\n"
        "from tests.sandbox.inprocess import SandboxHost\n"
        f"host = SandboxHost({str(tmp_path)!r})\n"
        f"host.write('evil', {{'index.py': {ABC_POISON!r}}})\n"
        f"host.write('victim', {{'index.py': {ABC_VICTIM!r}}})\n"
        "evil = host.request('evil')\n"
        "during = host.request('victim').body\n"
        "host.close('evil'); gc.collect()\n"
        "after = host.request('victim').body\n"
        "print(json.dumps([evil.status, evil.body, evil.text[-300:], during, after,\n"
        "                  isinstance(1.5, collections.abc.Iterable)]))\n"
    )
    done = run_in_fresh_process(tmp_path, script)
    assert done.returncode == 0, done.stderr[-2000:]
    status, registered, log, during, after, host_sees = json.loads(done.stdout.splitlines()[-1])
    assert (status, registered) == (200, ""), log
    assert during == after == "[False, True]"
    assert host_sees is False


def test_a_tenant_abc_still_registers_its_own_classes(tmp_path):
    source = ("import collections.abc as cabc\n"
              "class Seq(cabc.Sequence):\n"
              "    def __getitem__(self, i):\n"
              "        raise IndexError\n"
              "    def __len__(self):\n"
              "        return 0\n"
              "class Mine:\n"
              "    pass\n"
              "def get():\n"
              "    Seq.register(Mine)\n"
              "    return repr([isinstance(Mine(), cabc.Sequence), isinstance(Mine(), Seq),\n"
              "                 issubclass(float, Seq)])\n")
    outcome = serve_in_fresh_process(tmp_path, "abc-own", source)
    assert (outcome.status, outcome.body) == (200, "[True, True, False]")

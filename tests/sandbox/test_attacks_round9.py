"""Round 9: an independent attacker against main at a179fda (after round 8's fixes).

Each test asserts what a safe sandbox does and is a strict xfail while the
attack works on main (the repository's convention for attack rounds): an
XFAIL here is the attack succeeding; once a fix lands, the test XPASSes,
fails as strict, and its marker comes off.

Finding: *a host ``Flag`` enum keeps a tenant's ``int`` as a pseudo-member's
value, for the whole process* (the cache family of rounds 6-8, in
``enum``).

``re.I`` is ``regex.RegexFlag.I``, a host ``IntFlag`` every tenant shares.
``re.I | x`` with ``x`` an ``int`` is ``RegexFlag(2 | x)``; with ``x`` an
instance of a tenant ``int`` subclass that defines ``__ror__`` (allowed: the
value-type rule of ``sandbox/guards/own_objects.py:84`` refuses only
``__eq__``, ``__ne__``, ``__hash__`` and the orderings), ``2 | x`` is the
tenant's object, ``enum.Flag._missing_`` makes a pseudo-member whose
``_value_`` *is that object* and stores it in
``RegexFlag._value2member_map_`` (process-wide, never shrinks). Every later
``re.I | re.S`` in any tenant's request (``RegexFlag(10)``: an ``int`` key,
hashed and compared as an int, so no tenant code runs at the lookup) gets
the planted member, and every operation on it (``Flag.__or__``/``__and__``
compute ``self._value_ | other``) calls the attacker's ``__or__`` /
``__and__`` - dozens of times inside ``regex``'s compile, in the victim's
request, under the victim's budget. ``context.visible()`` holds (the
attacker's own frame is on the stack, so the request is hidden), and
binding a host callable (a Jinja ``Macro``) as ``__or__`` after the class
statement is refused (the policy refuses ``Bits.__or__ = m``;
``setattr`` raises). What the attacker still gets:

a. *Tenant code in another tenant's request* (the class rounds 6-8 closed
   cache by cache).
b. *Integrity*: the attacker's ``__and__`` decides which flags the victim's
   pattern is compiled with (here it drops ``IGNORECASE``: the victim's
   answer changes).
c. *Denial of service*: the attacker's ``__or__`` raises (or loops) and the
   victim's request fails with the attacker's error.
d. *Memory kept past eviction*: the planted object (and through its class,
   the attacker's module) stays referenced by the host enum after the
   attacker is evicted and collected; with a blob attached, each request can
   plant a new value (``KEEP`` takes any int) and grow the process for good.

The wrong decision: ``refused_value_member`` (``own_objects.py:97``) treats
``__eq__``/``__hash__`` as the only protocol a value type must not redefine,
but a host cache or registry that *keeps* a tenant ``int`` (``Flag``'s
pseudo-members) hands it to other tenants' code, which then runs its
arithmetic, ``__bool__``, ``__index__``, ``__repr__``...; and
``timed_re.facade_attrs`` (``sandbox/facades/timed_re.py:277``) offers the
host ``RegexFlag`` members as they are.
"""

import json
import sys

import pytest

from tests.sandbox.rounds import run_in_fresh_process

ATTACK_WORKS = "round 9: the attack works on main a179fda"
#: The re facade (``sandbox/facades/timed_re.py:279``) passes a third positional
#: argument of search/match/findall/finditer/split to the Pattern method (pos).

#: The scenario runs in a fresh process (:func:`run_in_fresh_process`): ``RegexFlag``'s map is the
#: process's, and a combination another test created first would not be
#: planted.
SCENARIO = r'''
import gc, json, sys
from tests.sandbox.inprocess import SandboxHost
from tests.sandbox.rounds import LIMITS

root, attacker, victim, order = json.loads(sys.argv[1])
host = SandboxHost(root)
host.write("attacker", {"index.py": attacker}, LIMITS)
host.write("victim", {"index.py": victim}, LIMITS)
answers = []
for name in order:
    if name == "evict":
        host.close("attacker")
        gc.collect()
        alive = [o for o in gc.get_objects()
                 if type(o).__name__ == "Bits" and isinstance(o, int)]
        answers.append({"status": "evicted", "body": str(len(alive)), "text": ""})
        continue
    kw = {"headers": {"Authorization": "Bearer victim-token"}} if name == "victim" else {}
    o = host.request(name, **kw)
    answers.append({"status": o.status, "body": o.body, "text": o.text[-800:]})
print(json.dumps(answers))
'''


def _run(tmp_path, attacker: str, victim: str, order: list) -> list:
    arg = json.dumps([str(tmp_path), attacker, victim, order])
    done = run_in_fresh_process(tmp_path, SCENARIO, arg)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.splitlines()[-1])


VICTIM = r'''
import re

def get():
    return "victim: " + repr(re.compile(r"^h\w+", re.I | re.S).findall("Hello\nhi"))
'''
VICTIM_ALONE = "victim: ['Hello']"

#: ``re.I | Bits(re.S)`` plants RegexFlag(10) with a ``Bits`` as its value.
#: ``mine`` tells the planting (the attacker's own request) from the rest.
PLANTER = r'''
import re
seen = []
mine = []

class Bits(int):
    def __ror__(self, other):
        made = Bits(int(self) | int(other))
        made.blob = "x" * (8 * 1024 * 1024)   # kept with it
        return made

    def __or__(self, other):
        if not mine:
            OR_BODY
        return Bits(int(self) | int(other))

    def __and__(self, other):
        if not mine:
            AND_BODY
        return int(self) & int(other)

def get():
    if seen:
        return "seen: " + " | ".join(seen[:3])
    mine.append(1)
    planted = re.I | Bits(re.S)
    mine.clear()
    return "planted"
'''


def _planter(or_body="pass", and_body="pass") -> str:
    return PLANTER.replace("OR_BODY", or_body).replace("AND_BODY", and_body)


def test_host_flag_does_not_run_one_tenants_code_in_anothers_request(tmp_path):
    attacker = _planter(or_body='seen.append("__or__ ran in another request with " + repr(other))')
    planted, victim, after = _run(tmp_path, attacker, VICTIM, ["attacker", "victim", "attacker"])
    assert planted["body"] == "planted", planted
    assert victim["body"] == VICTIM_ALONE, victim
    # On main: "seen: __or__ ran in another request with 8192 | ... with 0 | ...".
    assert not after["body"].startswith("seen"), after["body"]


def test_host_flag_does_not_let_one_tenant_change_anothers_regex(tmp_path):
    # The attacker's __and__ drops IGNORECASE (2) from what the victim's
    # compile asks of its flags.
    attacker = _planter(and_body="return int(self) & int(other) & ~2")
    alone, = _run(tmp_path, attacker, VICTIM, ["victim"])
    assert alone["body"] == VICTIM_ALONE, alone
    _, victim = _run(tmp_path, attacker, VICTIM, ["attacker", "victim"])
    # On main: 200 "victim: []" (compiled without IGNORECASE).
    assert victim["body"] == VICTIM_ALONE, victim


def test_host_flag_does_not_let_one_tenant_fail_anothers_request(tmp_path):
    attacker = _planter(or_body='raise ValueError("the attacker failed this request")')
    _, victim = _run(tmp_path, attacker, VICTIM, ["attacker", "victim"])
    # On main: 500, the victim's log names the attacker's ValueError.
    assert victim["status"] == 200 and victim["body"] == VICTIM_ALONE, victim


def test_host_flag_does_not_keep_a_tenants_objects_past_eviction(tmp_path):
    planted, evicted = _run(tmp_path, _planter(), VICTIM, ["attacker", "evict"])
    assert planted["body"] == "planted", planted
    # On main: "1": the Bits (and its 8 MB blob, its class, the attacker's
    # module) is still held by regex.RegexFlag._value2member_map_.
    assert evicted["body"] == "0", evicted


# -- fidelity, found on the way: positional flags ------------------------------------

FLAGS_POSITIONAL = r'''
import re

def get():
    return repr([bool(re.search(r"h", "H", re.I)), bool(re.match(r"h", "H", re.I)),
                 re.findall(r"h", "H", re.I), re.split(r"x", "aXb", 0, re.I)])
'''


def test_re_module_functions_take_flags_positionally_as_cpython(tmp_path):
    _, victim = _run(tmp_path, "def get():\n    return ''\n", FLAGS_POSITIONAL, ["attacker", "victim"])
    # CPython: [True, True, ['H'], ['a', 'b']]. On main: [False, False, [], ...]
    # (re.I went to Pattern.search(string, pos)), or an error for split.
    assert victim["body"] == repr([True, True, ["H"], ["a", "b"]]), victim


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))

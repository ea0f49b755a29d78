"""Round 4: what an independent attacker found against the language layer.

Each test is tenant source that gets past the first layer on the main branch
of its day, served in this process by :class:`tests.sandbox.inprocess.SandboxHost`
(the sandbox as a library, no process layer). Each asserts what a safe
sandbox does; each was a strict xfail while the escape worked (commits
27d9630, 2306ca2) and passes since its class was closed.

The findings, by class:

1. *Unbound host methods skip the native table's guards.* A method read from
   a class (``collections.UserString.format``) is judged by
   :data:`sandbox.guards.declared.CLASS_GUARDS` only; the guard kept for the
   same method read from an instance (:data:`METHOD_GUARDS`) is not applied,
   and the caller picks ``self``. ``UserString.format`` is the real
   ``str.format`` (attribute fields on host functions: the environment);
   ``JSONEncoder.encode`` runs without its layout check (memory);
   ``NormalDist.samples`` without its count check (CPU, never ticks).
2. *``super()`` over a class hands out raw host special methods.*
   ``super(C, C).__init__`` for a tenant subclass ``C`` of a host class is
   the host's unbound function, callable on any object: on a class every
   tenant shares (``json.JSONEncoder``) it sets class attributes — another
   tenant's ``json.dumps`` then calls the attacker's function with the
   victim's objects.
3. *``%`` is sized for ``str`` and ``bytes`` only.* ``bytearray`` and
   ``collections.UserString`` format with the real ``%``: one call builds a
   text of any width.
4. *Special methods called by name skip the operator guards.* On an object
   of a tenant subclass of a builtin type, ``x.__mul__``, ``__mod__``,
   ``__format__``, ``__lshift__``, ``__pow__`` are the raw C slots: the
   guards see ``x * n`` (``_mul_``), never ``x.__mul__(n)``. One call
   allocates any size, or runs a big-integer power for seconds without a
   tick.
"""

import json

import pytest

from tests.sandbox.inprocess import assert_nothing_leaked
from tests.sandbox.rounds import LIMITS
from tests.sandbox.rounds import assert_bounded
from tests.sandbox.rounds import assert_not_held
from tests.sandbox.rounds import attack_host
from tests.sandbox.rounds import serve

SECRET = "s3cr3t-r0und4"


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    yield from attack_host(tmp_path_factory, "attacks-round4", SECRET)


# -- 1. unbound host methods skip the guards of the native table -----------------------

def test_unbound_userstring_format_does_not_read_the_environment(host):
    outcome = serve(host, "r4-userstring-format", (
        "import collections, json\n"
        "def get():\n"
        "    template = collections.UserString(\n"
        "        '{0.__globals__[json].codecs.sys.modules[os].environ[MUX_TEST_SECRET]}')\n"
        "    return str(collections.UserString.format(template, json.dumps))\n"))
    assert_nothing_leaked(host, outcome, SECRET)
    assert outcome.status == 500


def test_unbound_json_encoder_encode_is_sized(host):
    outcome = serve(host, "r4-encoder-encode", (
        "import json\n"
        "def get():\n"
        "    encoder = json.JSONEncoder(indent=500000)\n"
        "    return str(len(json.JSONEncoder.encode(encoder, [[1] * 100])))\n"))
    assert_bounded(outcome)


def test_unbound_normaldist_samples_does_not_hold_the_process(host):
    outcome = serve(host, "r4-normaldist-samples", (
        "import statistics\n"
        "def get():\n"
        "    dist = statistics.NormalDist()\n"
        "    return str(len(statistics.NormalDist.samples(dist, 2 * 10**6)))\n"))
    assert_not_held(outcome)


def test_unbound_userstring_center_is_sized(host):
    outcome = serve(host, "r4-userstring-center", (
        "import collections\n"
        "def get():\n"
        "    text = collections.UserString('x')\n"
        "    return str(len(collections.UserString.center(text, 150 * 2**20)))\n"))
    assert_bounded(outcome)


# -- 2. super() over a class: raw host special methods ---------------------------------

ATTACKER = """
import json
STOLEN = []

class Encoder(json.JSONEncoder):
    pass

def grab(encoder, obj):
    STOLEN.append(obj)
    return "?"

def get():
    if not STOLEN:
        # JSONEncoder.__init__, unbound, with the shared class as self.
        super(Encoder, Encoder).__init__(json.JSONEncoder, default=grab)
        return "armed"
    return "stolen: " + STOLEN[-1].number
"""

VICTIM = """
import json

class Card:
    def __init__(self, number):
        self.number = number

def get():
    try:
        return json.dumps({"card": Card("4111-1111-VICTIM")})
    except TypeError:
        return "not serializable"
"""


@pytest.fixture()
def shared_encoder():
    """JSONEncoder as it was: the attack changes a class the whole process shares."""
    saved = dict(vars(json.JSONEncoder))
    yield
    for name in list(vars(json.JSONEncoder)):
        if name not in saved:
            delattr(json.JSONEncoder, name)
    for name in ("default", "item_separator", "key_separator"):
        setattr(json.JSONEncoder, name, saved[name])


def test_super_over_a_class_cannot_change_a_shared_host_class(host, shared_encoder):
    host.write("r4-victim", {"index.py": VICTIM}, LIMITS)
    host.write("r4-super-attacker", {"index.py": ATTACKER}, LIMITS)
    before = host.request("r4-victim")
    armed = host.request("r4-super-attacker")
    after = host.request("r4-victim")
    loot = host.request("r4-super-attacker")
    host.close("r4-victim")
    host.close("r4-super-attacker")
    assert before.body == "not serializable"
    assert armed.status == 500, armed.body  # refused: no raw host __init__
    assert after.body == before.body
    assert "VICTIM" not in loot.body


SEPARATOR_ATTACKER = """
import json

class Encoder(json.JSONEncoder):
    pass

def get():
    forged = '}\\n{"level": "error", "tenant": "victim", "message": "forged"}\\n{"x": 0, '
    super(Encoder, Encoder).__init__(json.JSONEncoder, separators=(forged, ": "))
    return "armed"
"""


def test_super_over_a_class_cannot_forge_the_servers_json_log(host, shared_encoder):
    import io

    from muxserver.ops.logs import LogWriter

    outcome = serve(host, "r4-super-separators", SEPARATOR_ATTACKER)
    assert outcome.status == 500, outcome.body  # refused: no raw host __init__
    stream = io.StringIO()
    writer = LogWriter("json", stream=stream)
    writer.line("info", "access", "GET /calm/ 200", {"tenant": "calm"})
    writer.flush()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1, lines
    assert json.loads(lines[0])["tenant"] == "calm"


# -- 3. % formatting sized for str and bytes only -----------------------------------------

@pytest.mark.parametrize("template", ["bytearray(b'%157286400d')",
                                      "collections.UserString('%157286400d')"])
def test_percent_on_str_like_types_is_sized(host, template):
    outcome = serve(host, "r4-percent-" + template.split("(")[0].split(".")[-1].lower(), (
        "import collections\n"
        "def get():\n"
        f"    return str(len({template} % 1))\n"))
    assert_bounded(outcome)


# -- 4. special methods called by name skip the operator guards ------------------------

SUBCLASSES = "class S(str):\n    pass\nclass I(int):\n    pass\n"


@pytest.mark.parametrize("call", ["len(S('x').__mul__(150 * 2**20))",
                                  "len(S('%157286400d').__mod__(1))",
                                  "len(S('x').__format__('>157286400'))",
                                  "I(1).__lshift__(2**30).bit_length()"])
def test_special_methods_by_name_are_sized(host, call):
    name = "r4-dunder-" + call.split(".__")[1].split("__")[0]
    outcome = serve(host, name, SUBCLASSES + f"def get():\n    return str({call})\n")
    assert_bounded(outcome)


def test_pow_by_name_does_not_hold_the_process(host):
    outcome = serve(host, "r4-dunder-pow", SUBCLASSES + (
        "def get():\n"
        "    return str(I(7).__pow__(3 * 10**6).bit_length())\n"))
    assert_not_held(outcome)


# -- found while closing the above: the same door on other roads --------------------------
#
# A tenant subclass of a builtin type was constructed by the type's own C
# constructor, not by the guarded builtin (B(150 * 2**20) for class B(bytes));
# round(n, -10**7) computed 10**10**7 in one call.

@pytest.mark.parametrize("case", [
    "class B(bytes):\n    pass\ndef get():\n    return str(len(B(150 * 2**20)))\n",
    "class B(bytearray):\n    pass\ndef get():\n    return str(len(B(150 * 2**20)))\n",
    "class S(str):\n    pass\ndef get():\n    s = 'x' * 2**20\n    return str(len(S([s] * 200)))\n",
], ids=["bytes", "bytearray", "str"])
def test_a_subclass_of_a_builtin_type_is_constructed_through_its_guard(host, case):
    assert_bounded(serve(host, "r4-subclass-new", case))


def test_subclasses_of_builtin_types_still_construct_as_python_does(host):
    outcome = serve(host, "r4-subclass-ok", (
        "class B(bytes):\n    pass\nclass BA(bytearray):\n    def __init__(self, *a):\n"
        "        super().__init__(*a)\nclass S(str):\n    pass\nclass I(int):\n    pass\n"
        "class T(tuple):\n    pass\nclass L(list):\n    pass\n"
        "def get():\n"
        "    values = [B(b'ab'), B(3), BA(b'xy'), S('q'), S(b'ab', 'ascii'), I('ff', 16), T([1]),\n"
        "              L(range(2)), B(), S(), I(), T(), L()]\n"
        "    return repr([(type(v).__name__, v) for v in values])\n"))
    assert outcome.status == 200, outcome.text
    assert outcome.body == repr([
        ("B", b"ab"), ("B", b"\0\0\0"), ("BA", "BA(b'xy')"), ("S", "q"), ("S", "ab"), ("I", 255),
        ("T", (1,)), ("L", [0, 1]), ("B", b""), ("S", ""), ("I", 0), ("T", ()), ("L", []),
    ]).replace("\"BA(b'xy')\"", "BA(b'xy')")


@pytest.mark.parametrize("call", ["round(5, -10**7)", "I(5).__round__(-10**7)"])
def test_round_to_a_huge_negative_precision_does_not_hold_the_process(host, call):
    outcome = serve(host, "r4-round", SUBCLASSES + f"def get():\n    return str({call})\n")
    assert_not_held(outcome)

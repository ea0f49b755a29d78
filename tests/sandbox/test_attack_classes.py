"""The attack suite by class (SECURITY-NOTES §11, §12), in this process.

Each case (``attack_classes.py``) is deployed and served by
:class:`tests.sandbox.inprocess.SandboxHost` — the sandbox as a library, the
language layer alone (no process layer) — one tenant per case, beside a
victim tenant. For every case it asserts the expected answer, and whatever
the answer:

* the secret (in this process's environment, in a file outside the tenant,
  in the victim's database) and the host's paths are in neither the answer
  nor the tenant's log;
* the victim's answers, computed with the same standard modules, did not
  change;
* a neighbour was not held: no CPU stretch of the case between two points
  where the host could switch was longer than :data:`HELD_BOUND_S`;
* one call did not allocate far past the request's memory budget (the
  process's peak RSS);
* the case holds no more than :data:`FD_SLACK` file descriptors once its
  runtime is closed (an eviction), and its ``/data`` stayed near its quota.

A few of these cases also run over real HTTP (``test_attacks_http.py``).
"""

import os

import pytest

from sandbox.facades.files import folder_bytes
from tests.sandbox.attack_classes import CASES
from tests.sandbox.inprocess import HELD_BOUND_S
from tests.sandbox.inprocess import PEAK_SLACK
from tests.sandbox.inprocess import SandboxHost
from tests.sandbox.inprocess import assert_nothing_leaked
from tests.sandbox.inprocess import make_secrets

SECRET = "s3cr3t-c1a55e5"
#: File descriptors a case may leave open after its runtime is closed.
FD_SLACK = 8

#: The classes of the third round run with the limits the attacker had.
ROUND3 = {"road", "capability", "callback", "native", "text", "allocation", "ticking", "ledger",
          "hostpath"}

VICTIM = """
import collections, copy, decimal, functools, hashlib, html, json, random, re, statistics
import string, time, typing, urllib.parse

def get():
    rng = random.Random(7)
    return json.dumps({
        "optional": repr(typing.Optional[dict]),
        "union": repr(typing.Union[int, None]),
        "split": urllib.parse.urlsplit("http://a.test/x?y=1").netloc,
        "dumps": json.dumps({"b": 1, "a": [1.5, None]}),
        "html": html.unescape("&amp;&lt;"),
        "decimal": str(decimal.Decimal(1) / decimal.Decimal(3)),
        "re": re.sub("a", "b", "aaa"),
        "format": "{:>5}".format("x"),
        "random": [rng.random() for _ in range(3)],
        "copy": copy.deepcopy({"k": [1, 2]}),
        "reduce": functools.reduce(lambda a, b: a + b, [1, 2, 3]),
        "counter": collections.Counter("abca").most_common(1),
        "mean": statistics.mean([1, 2, 3, 4]),
        "letters": string.ascii_lowercase,
        "gmtime": list(time.gmtime(0))[:6],
        "sha": hashlib.sha256(b"x").hexdigest(),
        "encoder": json.JSONEncoder().item_separator,
    }, sort_keys=True)
"""


def tenant_of(case: str) -> str:
    return "c-" + case.replace("_", "-")[:60]


def limits_for(klass: str) -> str:
    if klass in ROUND3:
        storage = 1 if klass == "ledger" else 100
        return (f"[limits]\ncpu_ms = 300\nwall_s = 3\nmemory_mb = 32\nstorage_mb = {storage}\n"
                "[env]\nGREETING = 'hi'\n")
    return "[limits]\ncpu_ms = 300\nwall_s = 3\nmemory_mb = 64\n[env]\nGREETING = 'hi'\n"


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    root = tmp_path_factory.mktemp("attack-classes")
    secret_file, victim_db = make_secrets(root, SECRET)
    from sandbox.facades.timed_re import __name__ as _  # noqa: F401 - imported before timing
    from muxserver.fairshare import fair_share

    host = SandboxHost(root, offload=fair_share.offload)
    host.write("victim", {"index.py": VICTIM})
    for case, (klass, source, _) in CASES.items():
        source = source.replace("SECRET_PATH", str(secret_file)).replace("VICTIM_DB", str(victim_db))
        host.write(tenant_of(case), {"index.py": source}, limits_for(klass))
    saved = os.environ.get("MUX_TEST_SECRET")
    os.environ["MUX_TEST_SECRET"] = SECRET
    host.baseline = host.request("victim").body
    yield host
    if saved is None:
        os.environ.pop("MUX_TEST_SECRET", None)
    else:
        os.environ["MUX_TEST_SECRET"] = saved


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.parametrize("case", sorted(CASES))
def test_attack_class(host, case):
    klass, _, expected = CASES[case]
    statuses = tuple(x for x in expected if isinstance(x, int))
    text = next((x for x in expected if isinstance(x, str) and x != "deploy"), None)
    name = tenant_of(case)
    fds = _open_fds()
    outcome = host.request(name)
    host.close(name)
    assert_nothing_leaked(host, outcome, SECRET)
    if "deploy" in expected:
        assert outcome.status == "deploy", (outcome.status, outcome.body[:300])
        assert text in outcome.text, outcome.text[-2000:]
    else:
        assert outcome.status in statuses, (outcome.status, outcome.body[:300], outcome.text[-2000:])
        if text:
            assert text in outcome.text, outcome.text[-2000:]
    assert outcome.held_s < HELD_BOUND_S, f"{case} held the process for {outcome.held_s:.2f} s"
    memory_mb = 32 if klass in ROUND3 else 64
    assert outcome.peak_bytes < memory_mb * 2**20 + PEAK_SLACK, \
        f"{case} pushed the peak RSS up by {outcome.peak_bytes // 2**20} MB"
    assert _open_fds() <= fds + FD_SLACK
    if klass == "ledger":
        assert folder_bytes(str(host.root / "data" / name)) < 1.5 * 2**20
    assert host.request("victim").body == host.baseline

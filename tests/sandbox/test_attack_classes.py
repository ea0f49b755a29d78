"""The attack suite by class (SECURITY-NOTES §11), over real HTTP.

A real ``muxserver`` process with ``--isolation off`` — so the language
layer alone is what stands — serves one tenant per case
(``attack_classes.py``), a victim and a calm tenant. For every case it
asserts the expected answer, and whatever the answer: the secret (in the
server's environment) is not in it, the victim's answers computed with the
same standard modules did not change, and the calm tenant kept answering
while the attack ran.
"""

import time

import gevent
import pytest
import requests

from tests.conftest import Subprocess
from tests.conftest import write_tenant
from tests.sandbox.attack_classes import CASES

SECRET = "s3cr3t-c1a55e5"
#: Longest a calm request may take while an attack runs (the fair share
#: makes it milliseconds; this bound only says "not stalled").
CALM_BOUND_S = 2.0

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


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("attack-classes")
    tenants = root / "tenants"
    write_tenant(tenants, "victim", {"index.py": VICTIM})
    write_tenant(tenants, "calm", {"index.py": "def get():\n    return 'calm'\n"})
    limits = "[limits]\ncpu_ms = 300\nwall_s = 3\nmemory_mb = 64\n[env]\nGREETING = 'hi'\n"
    for case, (_, source, _) in CASES.items():
        write_tenant(tenants, tenant_of(case), {"index.py": source, "tenant.toml": limits})
    proc = Subprocess(["--tenants-dir", str(tenants), "--cache-dir", str(root / "cache"),
                       "--isolation", "off", "--no-watch"],
                      env={"MUX_TEST_SECRET": SECRET}, log_dir=root).wait_ready()
    proc.baseline = requests.get(proc.url + "/victim/", timeout=10).text
    yield proc
    proc.stop()


def _calm_while(server, job) -> float:
    worst = 0.0
    while not job.ready():
        started = time.monotonic()
        assert requests.get(server.url + "/calm/", timeout=30).text == "calm"
        worst = max(worst, time.monotonic() - started)
        gevent.sleep(0.02)
    return worst


@pytest.mark.live
@pytest.mark.parametrize("case", sorted(CASES))
def test_attack_class(server, case):
    klass, _, expected = CASES[case]
    statuses = tuple(x for x in expected if isinstance(x, int))
    text = next((x for x in expected if isinstance(x, str) and x != "deploy"), None)
    name = tenant_of(case)
    job = gevent.spawn(requests.get, f"{server.url}/{name}/", timeout=60)
    worst = _calm_while(server, job)
    response = job.get()
    assert SECRET not in response.text
    status = requests.get(server.admin_url + "/_mux/status", timeout=10).json()
    if "deploy" in expected:
        assert response.status_code == 404
        errors = " ".join(status["deploy_errors"][name]["errors"])
        assert text in errors, errors
    else:
        assert response.status_code in statuses, response.text[:300]
        if text:
            log = requests.get(f"{server.admin_url}/_mux/tenants/{name}/logs?json", timeout=10).text
            assert text in log, log[-2000:]
    assert worst < CALM_BOUND_S, f"the calm tenant waited {worst:.2f} s during {case}"
    assert requests.get(server.url + "/victim/", timeout=10).text == server.baseline
    if klass == "logs":
        lines = server.output().splitlines()
        assert not any(line.startswith(("2026-01-01", "FORGED")) or "\x1b" in line for line in lines)

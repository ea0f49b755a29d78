"""A few attack cases over real HTTP, against a real ``muxserver`` process.

The suites run in this process (``test_attacks.py``, ``test_attack_classes.py``);
these cases are the ones whose harm is only seen from outside: the server
process dying (a native crash), a neighbour stalled while it runs, a limit
answered with its status, a line written to the server's own log. The server
runs with ``--isolation off``, so the language layer alone is what stands.
"""

import time

import gevent
import pytest
import requests

from tests.conftest import Subprocess
from tests.conftest import write_tenant
from tests.sandbox.attack_cases import CASES as ESCAPES
from tests.sandbox.attack_classes import CASES
from tests.sandbox.inprocess import make_secrets

SECRET = "s3cr3t-h77p"
CALM_BOUND_S = 2.0

#: Cases of attack_classes.py run over HTTP (name -> expected statuses).
HTTP_CASES = [
    "super_site_template_engine",  # a full escape in the previous version
    "row_factory_raw_cursor_attach",
    "udf_closes_its_connection",  # killed the server process
    "print_repeated_list",  # one wrote a 400 MB line to the server log
    "exception_huge_message_to_log",
    "punycode_encode",  # stalled every tenant
    "sqlite_randomblob",
    "open_files_held",  # every other tenant's files failed
    "open_missing_file_message",
    "finally_loops_after_kill",
]
#: Cases of attack_cases.py (the first suite) run over HTTP.
HTTP_ESCAPES = ["system_exit", "template_class_walk"]

#: A regular expression that needs more than one slice: offloaded.
CALM_REGEX = ("import re\nTEXT = 'ab' * 2_000_000 + 'c'\ndef get():\n"
              "    return str(len(re.findall('(?:ab)+c', TEXT)))\n")
#: One that backtracks for as long as it is allowed to.
ABUSE_REGEX = ("import re\ndef get():\n"
               "    return str(re.match(r'(a|aa)+$', 'a' * 5000 + 'b'))\n")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("attacks-http")
    secret_file, victim_db = make_secrets(root, SECRET)
    tenants = root / "tenants"
    write_tenant(tenants, "calm", {"index.py": "def get():\n    return 'calm'\n"})
    write_tenant(tenants, "regex-calm", {"index.py": CALM_REGEX,
                                         "tenant.toml": "[limits]\ncpu_ms = 1000\n"})
    write_tenant(tenants, "regex-abuser", {"index.py": ABUSE_REGEX, "tenant.toml":
                                           "[limits]\ncpu_ms = 1200\nwall_s = 20\n"})
    limits = "[limits]\ncpu_ms = 300\nwall_s = 3\nmemory_mb = 32\nstorage_mb = 1\n"
    for case in HTTP_CASES:
        source = CASES[case][1].replace("VICTIM_DB", str(victim_db))
        write_tenant(tenants, "h-" + case.replace("_", "-"), {"index.py": source,
                                                             "tenant.toml": limits})
    for case in HTTP_ESCAPES:
        source = ESCAPES[case][0].replace("SECRET_PATH", str(secret_file))
        write_tenant(tenants, "h-" + case.replace("_", "-"), {"index.py": source})
    proc = Subprocess(["--tenants-dir", str(tenants), "--cache-dir", str(root / "cache"),
                       "--data-dir", str(root / "data"), "--isolation", "off", "--no-watch"],
                      env={"MUX_TEST_SECRET": SECRET}, log_dir=root).wait_ready()
    proc.root = root
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
@pytest.mark.parametrize("case", HTTP_CASES + HTTP_ESCAPES)
def test_attack_over_http(server, case):
    """It denies the attack over HTTP: the expected status, no secret and no
    host path in the answer, the calm tenant served while it ran, and the
    server still up with no giant line in its log."""
    if case in HTTP_ESCAPES:
        stage, _ = ESCAPES[case][1]
        statuses = (404,) if stage == "compile" else (500, 503)
    else:
        statuses = tuple(x for x in CASES[case][2] if isinstance(x, int))
    name = "h-" + case.replace("_", "-")
    job = gevent.spawn(requests.get, f"{server.url}/{name}/", timeout=60)
    worst = _calm_while(server, job)
    response = job.get()
    assert SECRET not in response.text
    assert str(server.root) not in response.text
    assert response.status_code in statuses, response.text[:300]
    assert worst < CALM_BOUND_S, f"the calm tenant waited {worst:.2f} s during {case}"
    assert server.proc.poll() is None, "the server died"
    assert requests.get(server.url + "/calm/", timeout=10).text == "calm"
    longest = max((len(line) for line in server.output().splitlines()), default=0)
    assert longest < 100_000, f"a {longest}-character line in the server's log"


@pytest.mark.live
def test_a_calm_regex_is_not_queued_behind_an_abusers(server):
    """It shares the regex thread by tenant: while an abuser keeps many
    catastrophic matches in flight, a calm tenant's match that needs the
    thread answers 200 (its wait is not counted as its CPU) before any of
    the abuser's matches is stopped (each runs to its 1.2 s CPU limit, so a
    calm match queued behind even one of them would finish after it)."""
    assert requests.get(server.url + "/regex-calm/", timeout=30).status_code == 200

    def timed_get(url):
        response = requests.get(url, timeout=60)
        return response, time.monotonic()

    abusers = [gevent.spawn(timed_get, server.url + "/regex-abuser/") for _ in range(4)]
    gevent.sleep(0.3)
    response, calm_done = timed_get(server.url + "/regex-calm/")
    gevent.joinall(abusers, timeout=60)
    assert response.status_code == 200, response.text[:300]
    assert all(a.value is not None and a.value[0].status_code in (503, 504) for a in abusers)
    first_abuser_done = min(a.value[1] for a in abusers)
    assert calm_done < first_abuser_done, "the calm regex waited for an abuser's match to end"

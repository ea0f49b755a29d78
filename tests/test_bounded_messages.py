"""What a serving process tells the supervisor comes in messages of at most
MAX_UNTRUSTED_BYTES (1 MiB): what grows with its tenants — its metrics, its
status, a tenant's log tail — in parts or pages, with nothing left out.

Through the real ``muxserver`` command, one serving process, with enough
tenants (long names, each answered once) that its metrics snapshot and its
status were each more than one message may carry.
"""

import re

import pytest
import requests

from muxserver.ops.logs import TENANT_LOG_CHARS
from muxserver.supervisor.channel import MAX_UNTRUSTED_BYTES
from tests.conftest import Subprocess
from tests.conftest import wait_until

pytestmark = pytest.mark.live

#: Tenants of 63-character names: ~290 bytes of metrics and ~330 of status each.
COUNT = 4000
HELLO = "def get():\n    return 'hi'\n"
LOUD = ("def get():\n"
        "    for i in range(1000):\n"
        "        print(f'{i:04d} ' + '\\u00e9' * 1100)\n"
        "    return 'said'\n")


def _name(i: int) -> str:
    return f"t{i:05d}-" + "x" * 56


@pytest.fixture(scope="module")
def crowded(tmp_path_factory):
    root = tmp_path_factory.mktemp("crowded")
    tenants = root / "tenants"
    for i in range(COUNT):
        (tenants / _name(i)).mkdir(parents=True)
        (tenants / _name(i) / "index.py").write_text(HELLO)
    (tenants / "loud").mkdir()
    (tenants / "loud" / "index.py").write_text(LOUD)
    server = Subprocess(["--tenants-dir", str(tenants), "--workers", "1", "--no-watch",
                         "--cache-dir", str(root / "cache"), "--data-dir", str(root / "data"),
                         "--server-dir", str(root / "server"), "--no-access-log"],
                        log_dir=root).wait_ready(timeout=120)
    session = requests.Session()
    for i in range(COUNT):
        assert session.get(f"{server.url}/{_name(i)}/", timeout=10).text == "hi"
    assert session.get(f"{server.url}/loud/", timeout=30).text == "said"
    yield server
    session.close()
    server.stop()


def test_the_metrics_of_every_tenant_arrive_in_parts(crowded):
    scrapes = []

    def every_tenant_counted():
        scrapes.append(requests.get(crowded.admin_url + "/_mux/metrics", timeout=30).text)
        counted = re.findall(r'^mux_requests_total\{status="200",tenant="(t\d{5}-x+)"\} 1\.0$',
                             scrapes[-1], re.M)
        return len(counted) == COUNT

    wait_until(every_tenant_counted, timeout=15)
    scrape = scrapes[-1]
    assert len(scrape.encode()) > 3 * MAX_UNTRUSTED_BYTES  # what the parts carried, rendered
    assert len(re.findall(r"^mux_cold_starts_total\{", scrape, re.M)) == COUNT + 1
    assert "over the limit" not in crowded.output()
    assert "not sent" not in crowded.output()


def test_the_status_lists_every_warm_module_from_its_pages(crowded):
    response = requests.get(crowded.admin_url + "/_mux/status", timeout=30)
    assert response.status_code == 200
    assert len(response.content) > MAX_UNTRUSTED_BYTES
    status = response.json()
    warm = {m["tenant"] for m in status["warm_modules"]}
    assert warm == {_name(i) for i in range(COUNT)} | {"loud"}
    assert len(status["warm_modules"]) == COUNT + 1  # each once
    assert all(m["hits"] == 1 and m["endpoint"] == "index" and m["loaded_at"] > 0
               for m in status["warm_modules"])
    assert status["processes"][0]["warm_modules"] == COUNT + 1
    assert status["tenants"][_name(COUNT - 1)]["warm_modules"] == 1


def test_a_log_tail_larger_than_a_message_arrives_in_pages(crowded):
    tail = requests.get(crowded.admin_url + "/_mux/tenants/loud/logs?json=1", timeout=30).json()
    lines = [entry["line"] for entry in tail["lines"]]
    # The serving process keeps 1 MiB of characters (948 of these lines of
    # 1,105): ~6 MB escaped, every line of it here, oldest first.
    kept = TENANT_LOG_CHARS // 1105
    assert [int(line[:4]) for line in lines] == list(range(1000 - kept, 1000))
    limited = requests.get(crowded.admin_url + "/_mux/tenants/loud/logs?json=1&limit=300",
                           timeout=30).json()["lines"]
    assert [int(entry["line"][:4]) for entry in limited] == list(range(700, 1000))

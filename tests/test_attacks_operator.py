"""The red team's second round against the operator surface, with no escape.

What a tenant (its deploys: a directory sync, or ``PUT`` with its deploy
token) or a network client with no token can do to the supervisor and the
admin listener, over real sockets. Each case was open on main after issue 22.
"""

import os
import socket
import time
from pathlib import Path

import gevent
import pytest
import requests

from muxserver.http.handler import REQUEST_HEAD_TIMEOUT_S
from muxserver.http.server import MAX_ADMIN_CONNECTIONS
from tests.conftest import Subprocess
from tests.conftest import wait_until
from tests.conftest import write_tenant
from tests.test_http_deploy import tgz

CALM = {"index.py": "def get():\n    return 'calm'\n"}


def _children(pid: int, marker: str) -> list[int]:
    """Processes whose parent is ``pid`` and whose command line holds ``marker``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == pid and marker.encode() in cmdline:
            found.append(int(entry))
    return found


#: A module whose import waits (within its limits) until the test writes
#: ``go`` into the tenant's /data: a health check as long as the test wants.
WAITING = """
import os, time
open("/data/started", "w").write("1")
while not os.path.exists("/data/go"):
    time.sleep(0.1)
def get():
    return "waited {n}"
"""
#: What any tenant may ask for without the operator (SPEC default caps).
GENEROUS = "[limits]\ncpu_ms = 10000\nwall_s = 300\n"


@pytest.mark.live
def test_unread_request_bodies_do_not_hold_the_admin_listener(live):
    """A client with no token sends ``GET /_mux/healthz`` with a
    ``Content-Length`` it never sends, reads its 200, and keeps the
    connection. pywsgi then discards the unread body with no deadline (the
    request-head deadline has ended), so the connection is held for good:
    :data:`MAX_ADMIN_CONNECTIONS` of them and the operator's calls wait in
    the backlog forever (the tenants' port has the same door, at 10,000
    connections per serving process). Such a connection must be closed
    within the head deadline, and the operator served."""
    server = live()
    host, port = server.admin_url.removeprefix("http://").split(":")
    held = []
    try:
        for _ in range(MAX_ADMIN_CONNECTIONS):
            s = socket.create_connection((host, int(port)))
            s.sendall(b"GET /_mux/healthz HTTP/1.1\r\nHost: localhost\r\n"
                      b"Content-Length: 1000000000\r\n\r\n")
            held.append(s)
        for s in held:
            s.settimeout(10)
            assert s.recv(100).startswith(b"HTTP/1.1 200")
        try:
            r = requests.get(server.admin_url + "/_mux/status", timeout=REQUEST_HEAD_TIMEOUT_S + 10)
        except requests.Timeout:
            pytest.fail(f"{MAX_ADMIN_CONNECTIONS} connections with unread bodies held the admin "
                        "listener past the head deadline")
        assert r.status_code == 200
    finally:
        for s in held:
            s.close()


@pytest.mark.live
def test_a_slow_to_parse_deploy_does_not_freeze_the_supervisor(tmp_path):
    """CPython 3.11 parses an f-string in time quadratic in its fields: one
    300 kB module of ``{1}`` fields takes about 14 s to scan, and the
    supervisor scans and compiles deploys on its one hub. Meanwhile the admin
    listener answers nothing, and the supervisor reads no heartbeat: when the
    scan ends, every serving process has "sent nothing" for longer than
    ``--worker-timeout`` and is killed — every tenant's requests in flight
    with it. (A 1 MB file, the largest allowed, takes minutes; a tenant may
    hold many.) The admin listener must answer during a deploy, and a
    deploy must never cost the serving processes their lives."""
    tenants = tmp_path / "tenants"
    write_tenant(tenants, "calm", CALM)
    server = Subprocess(["--tenants-dir", str(tenants), "--cache-dir", str(tmp_path / "cache"),
                         "--workers", "1", "--worker-timeout", "5", "--no-watch"],
                        log_dir=tmp_path).wait_ready()
    try:
        before = [p["pid"] for p in requests.get(server.admin_url + "/_mux/status",
                                                 timeout=10).json()["processes"]]
        source = "def get():\n    return f'" + "{1}" * 100_000 + "'\n"
        deploy = gevent.spawn(requests.put, server.admin_url + "/_mux/tenants/fstrings",
                              data=tgz({"index.py": source}), timeout=110)
        answered = 0
        while not deploy.ready():
            try:
                if requests.get(server.admin_url + "/_mux/healthz", timeout=2).status_code == 200:
                    answered += 1
            except requests.RequestException:
                pass
            gevent.sleep(0.5)
        deploy.get()
        after = [p["pid"] for p in requests.get(server.admin_url + "/_mux/status",
                                                timeout=10).json()["processes"]]
        killed = [line for line in server.output().splitlines() if "sent nothing for" in line]
        assert not killed, killed
        assert after == before
        assert answered, "the admin listener answered nothing while the deploy was scanned"
    finally:
        server.stop()


@pytest.mark.live
def test_a_slow_health_check_does_not_hold_other_tenants_deploys(tmp_path):
    """A directory deploy is health-checked inside the registry's lock, so
    while one tenant's trial runs — up to 20 s + 41 s per module under the
    caps any tenant may ask for, hours for a tenant of a few hundred modules
    — no other tenant can deploy (directory, ``PUT``, rollback) and
    ``/_mux/register`` waits. Another tenant's ``PUT`` must be answered."""
    tenants = tmp_path / "tenants"
    data = tmp_path / "data"
    write_tenant(tenants, "calm", CALM)
    server = Subprocess(["--tenants-dir", str(tenants), "--cache-dir", str(tmp_path / "cache"),
                         "--data-dir", str(data)], log_dir=tmp_path).wait_ready()
    staging = tmp_path / "staging"
    try:
        write_tenant(staging, "slow", {"tenant.toml": GENEROUS,
                                       **{f"m{n}.py": WAITING.format(n=n) for n in range(3)}})
        (staging / "slow").rename(tenants / "slow")
        wait_until(lambda: (data / "slow" / "started").exists(), timeout=30)
        try:
            r = requests.put(server.admin_url + "/_mux/tenants/other", data=tgz(CALM), timeout=20)
        except requests.Timeout:
            pytest.fail("another tenant's deploy waited for this tenant's health check")
        assert r.status_code == 200, r.text
        assert requests.get(server.url + "/other/", timeout=10).text == "calm"
    finally:
        (data / "slow").mkdir(parents=True, exist_ok=True)
        (data / "slow" / "go").write_text("go")
        server.stop()


@pytest.mark.live
def test_a_deploy_token_starts_one_health_check_at_a_time(tmp_path):
    """Every ``PUT`` starts its own trial process at once, with no cap: a
    tenant's CI (its deploy token, no escape) that sends its deploys in
    parallel — 100 fit the admin listener — runs as many interpreters, each
    importing under the tenant's limits (memory_mb up to 1024 without the
    operator), until the machine runs out of memory. At most one health
    check of a tenant may run at once."""
    tenants = tmp_path / "tenants"
    data = tmp_path / "data"
    write_tenant(tenants, "calm", CALM)
    config = tmp_path / "mux.toml"
    config.write_text('[deploy_tokens]\ngreedy = "greedy-deploy-token-0123456789"\n')
    server = Subprocess(["--tenants-dir", str(tenants), "--cache-dir", str(tmp_path / "cache"),
                         "--data-dir", str(data), "--config", str(config), "--no-watch"],
                        log_dir=tmp_path).wait_ready()
    headers = {"Authorization": "Bearer greedy-deploy-token-0123456789"}
    supervisor = server.proc.pid  # the command re-executes itself as the supervisor
    deploys = []
    try:
        for n in range(4):
            archive = tgz({"tenant.toml": GENEROUS, "index.py": WAITING.format(n=n)})
            deploys.append(gevent.spawn(requests.put, server.admin_url + "/_mux/tenants/greedy",
                                        data=archive, headers=headers, timeout=110))
        wait_until(lambda: (data / "greedy" / "started").exists(), timeout=30)
        most = 0
        deadline = time.monotonic() + 3  # unserialized, all four start within a second or two
        while time.monotonic() < deadline and most < 2:
            most = max(most, len(_children(supervisor, "muxserver.trial")))
            gevent.sleep(0.1)
        assert most <= 1, f"{most} health checks of one tenant ran at once"
    finally:
        (data / "greedy").mkdir(parents=True, exist_ok=True)
        (data / "greedy" / "go").write_text("go")
        gevent.joinall(deploys, timeout=60)
        server.stop()

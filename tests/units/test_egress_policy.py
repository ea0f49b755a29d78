"""The egress proxy's rules (:class:`muxserver.egress.policy.Policy`): the
server's own listeners are refused on every address of this machine, even
where the operator's ``[egress] private`` lets tenants reach loopback."""

import psutil
import pytest

from muxserver.egress.policy import Policy
from muxserver.egress.policy import Refused


def _local_addresses():
    return [a.address.split("%")[0] for addrs in psutil.net_if_addrs().values() for a in addrs
            if a.family.name in ("AF_INET", "AF_INET6")]


@pytest.mark.parametrize("address", ["127.0.0.1", "127.3.4.5", "::1", "0.0.0.0", "::ffff:127.0.0.1",
                                     *_local_addresses()])
def test_own_ports_are_refused_on_this_machine(address):
    policy = Policy({"t": ("*",)}, ("*",), ("0.0.0.0/0", "::/0"), own_ports=(8080, 8081))
    with pytest.raises(Refused, match="own listener"):
        policy.check_address("h", address, 8081)
    policy.check_address("h", address, 5432)  # a local service the operator opened


def test_own_ports_elsewhere_are_the_private_rules_business():
    policy = Policy({"t": ("*",)}, ("*",), ("10.9.0.0/16",), own_ports=(8081,))
    policy.check_address("h", "10.9.1.2", 8081)  # another machine of the operator's network
    policy.check_address("h", "93.184.216.34", 8081)
    with pytest.raises(Refused, match="private or loopback"):
        policy.check_address("h", "127.0.0.1", 5432)


def test_the_policy_message_groups_tenants_and_reads_back_per_tenant():
    """The supervisor sends the tenants with equal rules as one group (issue 26)."""
    from muxserver.egress.policy import read_tenant_groups
    from muxserver.egress.policy import tenant_groups

    rules = [(f"w{i}", (), 30.0) for i in range(3)] + [("shop", ("api.example.test",), 5.0)]
    groups = tenant_groups(rules)
    assert groups == [[[], 30.0, "w0\nw1\nw2"], [["api.example.test"], 5.0, "shop"]]
    allowed, walls = read_tenant_groups(groups)
    assert allowed == {"w0": (), "w1": (), "w2": (), "shop": ("api.example.test",)}
    assert walls == {"w0": 30.0, "w1": 30.0, "w2": 30.0, "shop": 5.0}
    assert read_tenant_groups(tenant_groups([])) == ({}, {})

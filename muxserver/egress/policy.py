"""Who may reach what through the egress proxy.

A tenant reaches a host when its ``[egress] allow`` lists it (``*.``
wildcards) — which the operator's ``[egress] allow`` capped at deploy —
and when every address the name resolves to is public, or listed in the
operator's ``[egress] private``. Loopback, private, link-local, multicast
and reserved addresses are refused otherwise: a tenant must not reach the
server's own ports, the cloud's metadata service or the internal network.

The proxy checks the address it connects to — after DNS resolution, for
every connection (a redirect is a new request, checked again) — so a name
that resolves to a public address at one moment and a private one at the
next (DNS rebinding) cannot slip through.

Tenants are told apart by credentials: a process tenant's proxy URL carries
its name and :func:`tenant_token`, a keyed hash no other tenant can make.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import socket
from dataclasses import dataclass


def tenant_token(key: bytes, tenant: str) -> str:
    """The proxy password of ``tenant`` (derived from the proxy's key)."""
    return hmac.new(key, f"egress:{tenant}".encode(), hashlib.sha256).hexdigest()[:32]


def serving_proof(key: bytes) -> str:
    """What a serving process shows on the proxy's unix socket before it may
    ask for connections (derived from the proxy's key, which serving
    processes derive from the session key and process tenants never see).

    The unix socket speaks for any tenant, so the proof, not the socket's
    folder or the kernel's filters alone, decides who may use it.
    """
    return hmac.new(key, b"egress:serving-process", hashlib.sha256).hexdigest()


def host_listed(host: str, patterns) -> str | None:
    """The pattern of ``patterns`` that lists ``host``, or None."""
    host = host.lower().rstrip(".")
    for pattern in patterns:
        if pattern == "*" or pattern == host:
            return pattern
        if pattern.startswith("*.") and host.endswith(pattern[1:]) and len(host) > len(pattern) - 1:
            return pattern
    return None


class Refused(Exception):
    """The proxy will not connect; ``str()`` names the rule."""

    def __init__(self, message: str, status: int = 403):
        super().__init__(message)
        self.status = status


def tenant_groups(rules) -> list:
    """``rules`` (``(tenant, allow, wall_s)`` for every tenant) as the
    policy message carries them: ``[[allow, wall_s, "name\\nname..."], ...]``,
    one group per distinct ``(allow, wall_s)``, its tenants' names in one
    string (names never hold a newline: :data:`~muxserver.tenancy.names.TENANT_NAME`).

    Issue 26: an entry per tenant, encoded as JSON, left ~300 B of the
    supervisor's memory per registered tenant after every send (the
    encoder's small strings and items, scattered among what stays); a
    template's thousand tenants are one group and one string here."""
    groups: dict[tuple, list[str]] = {}
    for tenant, allow, wall in rules:
        groups.setdefault((tuple(allow), wall), []).append(tenant)
    return [[list(allow), wall, "\n".join(names)] for (allow, wall), names in groups.items()]


def read_tenant_groups(groups) -> tuple[dict, dict]:
    """``(tenant -> allow, tenant -> wall_s)`` from :func:`tenant_groups`' groups."""
    allowed, walls = {}, {}
    for allow, wall, names in groups:
        allow, wall = tuple(allow), float(wall)
        for tenant in names.split("\n"):
            allowed[tenant], walls[tenant] = allow, wall
    return allowed, walls


@dataclass(frozen=True)
class Policy:
    """The rules of one server.

    :param tenants: tenant -> its ``[egress] allow`` patterns.
    :param operator_allow: the operator's cap (checked again here: a
        tenant.toml is the tenant's, the cap is the operator's).
    :param private: networks reachable although not public.
    :param own_ports: the server's own listeners (tenants' port, admin API,
        the proxy itself): never reached on this machine, whatever
        ``private`` says — the admin API trusts a loopback client without
        ``--admin-token``, and a tenant's request through the proxy is one.
    """

    tenants: dict
    operator_allow: tuple = ()
    private: tuple = ()
    own_ports: tuple = ()

    def check_host(self, tenant: str, host: str) -> None:
        """Raise :class:`Refused` unless ``tenant`` may reach ``host``."""
        allowed = self.tenants.get(tenant, ())
        if not host_listed(host, allowed):
            listed = ", ".join(allowed) or "no host"
            raise Refused(f"{host} is not in tenant {tenant}'s [egress] allow "
                          f"(it lists {listed})")
        if not host_listed(host, self.operator_allow):
            raise Refused(f"{host} is not in the operator's [egress] allow")

    def check_address(self, host: str, address: str, port: int) -> None:
        """Raise :class:`Refused` when ``address`` (what ``host`` resolved to)
        is one of the server's own listeners, or is not public and not in
        the operator's ``[egress] private``."""
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if getattr(ip, "ipv4_mapped", None):
            ip = ip.ipv4_mapped
        if port in self.own_ports and _this_machine(ip):
            raise Refused(f"{host}:{port} is this server's own listener (tenants' port, admin API "
                          "or egress proxy), never reachable through the proxy")
        if any(ip in ipaddress.ip_network(net, strict=False) for net in self.private):
            return
        if not ip.is_global or ip.is_multicast:
            raise Refused(f"{host} resolves to {ip}, a private or loopback address the "
                          "operator's [egress] private does not list")


def _this_machine(ip) -> bool:
    """Whether a connection to ``ip`` stays on this machine: loopback, the
    unspecified address, or an address of one of its interfaces (a listener
    on ``0.0.0.0`` answers on all of them)."""
    if ip.is_loopback or ip.is_unspecified:
        return True
    import psutil

    return any(ipaddress.ip_address(a.address.split("%", 1)[0]) == ip
               for addrs in psutil.net_if_addrs().values() for a in addrs
               if a.family in (socket.AF_INET, socket.AF_INET6))

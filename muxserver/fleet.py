"""``muxserver nginx-conf``: an nginx configuration for a fleet of nodes.

A tenant is cheap only while it is warm in one process, so a fleet must send
each tenant to the same node every time: nginx takes the tenant from the
request — the ``Host`` (a name under ``--base-domain``, or one the
operator's ``[hosts]`` assigns) or else the first path segment — and picks
the node by a consistent hash of it (``hash $mux_tenant consistent``, the
ketama ring memcached clients use). A lost node moves only its own tenants.

Connection failures are retried on the next node (``proxy_next_upstream
error timeout``); an answer from tenant code (a 503, a 504) never is. Trust
groups (``--group``) send their tenants to nodes of their own, so tenants one
trusts less never share a process with the others. Nothing under ``/_mux``
is exposed but ``/_mux/healthz``: the nodes' admin API is on their own admin
listeners, which the proxy never reaches.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from muxserver.errors import ConfigError
from muxserver.ring import Ring
from muxserver.tenancy.names import TENANT_NAME

_NODE = re.compile(r"^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$")
_GROUP_NAME = re.compile(r"^[a-z][a-z0-9_]{0,30}$")


@dataclass(frozen=True)
class Group:
    """A trust group: its tenants are served by its nodes only."""

    name: str
    tenants: tuple[str, ...]
    nodes: tuple[str, ...]


def parse_node(text: str) -> str:
    match = _NODE.match(text)
    if not match or not 0 < int(match.group(2)) < 65536:
        raise ConfigError(f"node {text!r} is not HOST:PORT")
    return text


def parse_group(text: str) -> Group:
    """``NAME=TENANT,...:HOST:PORT,...`` (the nodes after the first ``:``)."""
    name, sep, rest = text.partition("=")
    tenants, sep2, nodes = rest.partition(":")
    if not sep or not sep2 or not _GROUP_NAME.match(name):
        raise ConfigError(f"group {text!r} is not NAME=TENANT,...:HOST:PORT,...")
    members = tuple(t for t in tenants.split(",") if t)
    for tenant in members:
        if not TENANT_NAME.match(tenant):
            raise ConfigError(f"group {name}: {tenant!r} is not a tenant name")
    if not members:
        raise ConfigError(f"group {name}: no tenants")
    return Group(name, members, tuple(parse_node(n) for n in nodes.split(",") if n))


class Placement:
    """Where each tenant's home is in a fleet: the node nginx's consistent
    hash picks for it among its group's nodes (or all nodes), computed the
    way nginx computes it (:mod:`muxserver.ring`).

    :param nodes: the fleet's nodes (``HOST:PORT``).
    :param groups: its trust groups.
    :param me: this node's name among them, or None.
    """

    def __init__(self, nodes, groups=(), me: str | None = None):
        self.nodes = tuple(nodes)
        self.groups = tuple(groups)
        self.me = me
        if not self.nodes:
            raise ConfigError("fleet_nodes: give the fleet's nodes (HOST:PORT, as nginx-conf "
                              "--node takes them)")
        known = set(self.nodes).union(*(g.nodes for g in self.groups))
        if me is not None and me not in known:
            raise ConfigError(f"node_name: {me!r} is not one of the fleet's nodes "
                              f"({', '.join(sorted(known))})")
        self._group_of = {t: g for g in self.groups for t in g.tenants}
        self._rings = {None: Ring(self.nodes)}
        for group in self.groups:
            self._rings[group.name] = Ring(group.nodes)

    @classmethod
    def from_settings(cls, nodes, groups, me) -> "Placement":
        return cls([parse_node(n) for n in nodes], [parse_group(g) for g in groups], me)

    @classmethod
    def from_config(cls, config) -> "Placement | None":
        """The config's placement, or None when it names no fleet."""
        if not config.fleet_nodes:
            return None
        return cls.from_settings(config.fleet_nodes, config.fleet_groups, config.node_name)

    def home(self, tenant: str) -> str:
        group = self._group_of.get(tenant)
        return self._rings[group.name if group else None].node_for(tenant)

    def may_serve(self, tenant: str) -> bool:
        """Whether nginx may send ``tenant`` to this node at all (its home,
        or where it fails over to: a node of its group, or of the fleet for
        a tenant in no group); True when this node has no name."""
        if self.me is None:
            return True
        group = self._group_of.get(tenant)
        return self.me in (group.nodes if group else self.nodes)

    def is_home(self, tenant: str) -> bool:
        """Whether this node is ``tenant``'s home (True when it has no name:
        a node that cannot tell keeps serving as it always did)."""
        return self.me is None or self.home(tenant) == self.me


def _upstream(name: str, nodes: tuple[str, ...], fail_timeout: int) -> list[str]:
    lines = [f"    upstream {name} {{", "        hash $mux_tenant consistent;"]
    lines += [f"        server {node} max_fails=1 fail_timeout={fail_timeout}s;" for node in nodes]
    lines += ["        keepalive 64;", "    }"]
    return lines


def nginx_conf(nodes: list[str], groups: list[Group] = (), listen: str = "80",
               base_domain: str | None = None, hosts: dict | None = None,
               fail_timeout: int = 10) -> str:
    """The whole ``nginx.conf`` (run it with ``nginx -p PREFIX -c FILE``).

    :param fail_timeout: seconds a node that refused a connection is left
        out before nginx tries it again (its tenants come back then).
    """
    if not nodes:
        raise ConfigError("give at least one --node HOST:PORT")
    grouped: dict[str, str] = {}
    for group in groups:
        if not group.nodes:
            raise ConfigError(f"group {group.name}: no nodes")
        for tenant in group.tenants:
            if tenant in grouped:
                raise ConfigError(f"tenant {tenant} is in groups {grouped[tenant]} and {group.name}")
            grouped[tenant] = group.name
    host_lines = []
    for tenant, names in sorted((hosts or {}).items()):
        for name in names:
            host_lines.append(f"        {name} {tenant};")
    if base_domain:
        escaped = re.escape(base_domain.lower())
        # Quoted: nginx reads an unquoted "{" as the start of a block.
        host_lines.append(f'        "~^(?<mux_sub>[a-z0-9][a-z0-9-]{{0,62}})\\.{escaped}$" $mux_sub;')
    lines = [
        "# Made by `muxserver nginx-conf`: each tenant on one node of its group, by a",
        "# consistent hash of its name; connection failures retried on the next node.",
        "worker_processes auto;",
        "pid logs/nginx.pid;",
        "error_log logs/error.log warn;",
        "events { worker_connections 4096; }",
        "http {",
        "    access_log off;",
        "    client_body_temp_path temp/body;",
        "    proxy_temp_path temp/proxy;",
        "    fastcgi_temp_path temp/fastcgi;",
        "    uwsgi_temp_path temp/uwsgi;",
        "    scgi_temp_path temp/scgi;",
        "    client_max_body_size 10m;",
        "    # The tenant: from the Host (operator [hosts], --base-domain), else the",
        "    # first path segment.",
        "    map $host $mux_host_tenant {",
        "        hostnames;",
        '        default "";',
        *host_lines,
        "    }",
        "    map $uri $mux_path_tenant {",
        '        default "";',
        "        ~^/(?<mux_first>[^/]+) $mux_first;",
        "    }",
        "    map $mux_host_tenant $mux_tenant {",
        '        "" $mux_path_tenant;',
        "        default $mux_host_tenant;",
        "    }",
        "    map $mux_tenant $mux_upstream {",
        "        default mux_nodes;",
        *[f"        {tenant} mux_group_{group};" for tenant, group in sorted(grouped.items())],
        "    }",
        "    map $http_x_request_id $mux_request_id {",
        '        "" $request_id;',
        "        default $http_x_request_id;",
        "    }",
        *_upstream("mux_nodes", tuple(nodes), fail_timeout),
        *[line for group in groups
          for line in _upstream(f"mux_group_{group.name}", group.nodes, fail_timeout)],
        "    server {",
        f"        listen {listen};",
        "        location = /_mux/healthz { proxy_pass http://mux_nodes; }",
        "        # Nothing else under /_mux, with or without a slash or a query",
        "        # (the admin API is on the nodes' own admin listeners).",
        "        location ^~ /_mux { return 404; }",
        "        location / {",
        "            proxy_pass http://$mux_upstream;",
        "            proxy_http_version 1.1;",
        '            proxy_set_header Connection "";',
        "            proxy_set_header Host $host;",
        "            proxy_set_header X-Request-Id $mux_request_id;",
        "            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        "            # Retry a connection failure on the next node; never an answer.",
        "            proxy_next_upstream error timeout;",
        "            proxy_next_upstream_tries 3;",
        "            proxy_connect_timeout 2s;",
        "            proxy_read_timeout 120s;",
        "        }",
        "    }",
        "}",
    ]
    return "\n".join(lines) + "\n"

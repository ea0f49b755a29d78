"""Outbound HTTP for tenants: the egress proxy and the rules it applies.

:mod:`.policy` decides (which tenant may reach which host, which addresses
are never reached); :mod:`.proxy` is the proxy process the supervisor runs;
:mod:`.client` is how a serving process, which cannot make sockets, gets a
connection through it for a sandboxed tenant.
"""

"""Tenants as the server knows them, without running their code.

Scanning a tenant's folder (routes read from syntax trees, ``tenant.toml``
under the operator's rules, every file compiled into the code cache), the
registry of deployed versions, routing inside a tenant, loading an endpoint
on its first request (the "specialize" of the admin API), eviction, and
deploys by watching the tenants dir or by ``muxserver deploy``.
"""

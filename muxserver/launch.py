"""From the command a user typed to the supervisor, and from the supervisor
to the processes it starts: how a process of the server is launched.

``muxserver`` validates its settings (exit 2 on a bad one, or when
``--isolation require`` cannot be met), then replaces itself, once, with the
supervisor (:mod:`muxserver.supervisor`), which starts the serving processes
and health-check trials the same way (:func:`spawn_argv`). Each is:

* ``python -I``: isolated mode, so nothing in the working directory, the
  tenants dir or ``PYTHON*`` variables is ever imported as server code; the
  one folder added to ``sys.path`` is the one holding the server's own code;
* a clean environment (:func:`~muxserver.isolation.secrets.clean_environment`,
  unless ``--isolation off``), so neither ``os.environ`` nor
  ``/proc/self/environ`` holds the operator's variables;
* the settings in an anonymous memory file whose descriptor is inherited,
  read and closed at start — so no secret is in a process's arguments or
  environment. The supervisor gets the admin and deploy tokens as salted
  scrypt hashes; a serving process gets no token at all, only the session
  key the supervisor derives from the server secret;
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


def config_payload(config: Config, session_key: bytes | None = None) -> bytes:
    """The settings as JSON. For the supervisor (``session_key`` None) the
    tokens as their hashes; for a process that serves or tries tenant code,
    no token at all and the session key instead."""
    values = {}
    serving = session_key is not None
    if serving:
        values["session_key"] = session_key.hex()
    for setting in SETTINGS:
        value = getattr(config, setting.name)
        if setting.name == "admin_token":
            if value is not None and not serving:
                values["admin_token_hash"] = value.encoded()
            continue
        if setting.name == "deploy_tokens":
            if not serving:
                values[setting.name] = {t: {"hash": h.encoded(), "name": n}
                                        for t, (h, n) in value.items()}
            continue
        if isinstance(value, Path):
            value = str(value.resolve())
        elif isinstance(value, tuple):
            value = list(value)
        elif setting.type is dict:
            value = {k: list(v) if isinstance(v, tuple) else v for k, v in value.items()}
        values[setting.name] = value
    return json.dumps(values).encode()


def config_from_payload(data: bytes) -> tuple[Config, bytes | None]:
    """``(config, session key or None)`` from :func:`config_payload`."""
    values = json.loads(data)
    token = values.pop("admin_token_hash", None)
    if token is not None:
        values["admin_token"] = TokenHash.from_encoded(token)
    key = values.pop("session_key", None)
    return Config.build(values), bytes.fromhex(key) if key else None


def read_config_fd(fd: int) -> tuple[Config, bytes | None]:
    with os.fdopen(fd, "rb") as f:
        return config_from_payload(f.read())


def payload_fd(payload: bytes) -> int:
    """An anonymous memory file holding ``payload``, inheritable, at offset 0."""
    fd = os.memfd_create("muxserver-config", 0)
    os.write(fd, payload)
    os.lseek(fd, 0, os.SEEK_SET)
    os.set_inheritable(fd, True)
    return fd


def code_dir() -> str:
    """The folder holding the server's own packages (the only sys.path entry added)."""
    return str(Path(__file__).resolve().parent.parent)


def spawn_argv(entry: str, *args: str) -> list[str]:
    """``python -I -c <bootstrap>``: run ``entry`` (``module:function``) of
    the server's own code in isolated mode."""
    module, function = entry.split(":")
    bootstrap = (f"import sys; sys.path.insert(0, {code_dir()!r}); "
                 f"from {module} import {function}; {function}(sys.argv[1:])")
    return [sys.executable, "-I", "-c", bootstrap, *args]


def child_environment(config: Config) -> dict[str, str]:
    return dict(os.environ) if config.isolation == "off" else clean_environment(os.environ)


def _raise_stack() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_STACK)
    if soft == resource.RLIM_INFINITY or soft >= STACK_BYTES:
        return
    if hard != resource.RLIM_INFINITY and hard < STACK_BYTES:
        log.warning("stack limit is %d bytes and cannot be raised; deeply nested tuples "
                    "can crash the process (run with --workers 2 or more)", hard)
        return
    resource.setrlimit(resource.RLIMIT_STACK, (STACK_BYTES, hard))


#: After the settings' descriptor: ``--tenants-dir`` as the operator named it,
#: when a symbolic link leads to the folder served (:func:`relaunch`).
TENANTS_LINK_FLAG = "--tenants-link"


def relaunch(config: Config) -> None:
    """Replace this process with the supervisor (does not return).

    The settings go resolved (every process serves the folder the tenants
    dir led to at start); if a symbolic link led there, its name goes too,
    so that the supervisor can say when the link is moved (a release swap)."""
    _raise_stack()
    fd = payload_fd(config_payload(config))
    given = os.path.abspath(config.tenants_dir)
    link = [TENANTS_LINK_FLAG, given] if os.path.realpath(given) != given else []
    argv = spawn_argv("muxserver.cli:run", SERVE_FLAG, str(fd), *link)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, argv, child_environment(config))


def stop_service(proc, sock) -> None:
    """Stop a helper process the server started (a zygote, the egress
    proxy): close the socket it is reached over, kill it, reap it."""
    try:
        sock.close()
    except OSError:
        pass
    if proc.poll() is None:
        proc.kill()
    try:
        proc.wait(timeout=5)
    except Exception:  # noqa: BLE001 - it was killed; the kernel reaps it
        pass

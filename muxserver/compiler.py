"""Parsing and compiling deployed source in a process of its own, bounded in time.

A deploy's source is untrusted input, and parsing it is not always cheap:
CPython 3.11 parses an f-string in time quadratic in its fields (300 kB of
``{1}`` fields: 14 s; a 1 MB module: minutes), in one C call that holds the
interpreter. Done in the supervisor, that would freeze its admin listener
and its reading of heartbeats — and then every serving process would look
stuck. So the supervisor hands every file its code cache lacks to a
compiler process (:class:`Compiler`), which compiles it under the sandbox
policy and reads its facts (routes, imports, names) as
:func:`muxserver.tenancy.compiling.compile_locally` would, and answers with the
marshalled code. A file that takes more than :data:`COMPILE_TIMEOUT_S` is a
deploy error, and the compiler is replaced.

The compiler locks itself down before its first file (Landlock: it reads
only Python; it writes nothing; seccomp; no capabilities). Its answers are
JSON, shape-checked; the supervisor writes them into the cache.

.. warning::
   The supervisor trusts the code the compiler returns for the content it
   sent (it keys the cache by that content). A memory-safety bug in CPython's
   parser, exploited by a crafted file, could make the compiler return other
   code for that content: the first layer's escape, which the process layer
   holds.
"""

from __future__ import annotations

import base64
import logging
import os
import socket

import gevent
from gevent.lock import Semaphore

log = logging.getLogger("muxserver.compiler")

#: Longest one file may take to parse, compile and read.
COMPILE_TIMEOUT_S = 10.0
#: Largest message either way (a source file, its marshalled code): larger
#: than a serving process's bound, for big modules; the compiler runs no
#: tenant code (see the warning above for what could still make it lie).
MAX_MESSAGE_BYTES = 16 * 2**20


class Compiler:
    """The supervisor's compiler process: ``compiler(text, name, kind)`` is
    :func:`~muxserver.tenancy.compiling.compile_locally`, done there.

    :param config: the server's settings (its isolation mode).
    """

    def __init__(self, config):
        self.config = config
        self._proc = None
        self._channel = None
        self._lock = Semaphore()

    def _start(self) -> None:
        from gevent import subprocess

        from muxserver import launch
        from muxserver.supervisor.channel import Channel

        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        config_fd = launch.payload_fd(launch.config_payload(self.config, session_key=b"-"))
        try:
            self._proc = subprocess.Popen(
                launch.spawn_argv("muxserver.compiler:run", "--config-fd", str(config_fd),
                                  "--control-fd", str(child.fileno())),
                pass_fds=(config_fd, child.fileno()), env=launch.child_environment(self.config))
        finally:
            os.close(config_fd)
            child.close()
        self._channel = Channel(parent, accepts_pickles=False, name="compiler",
                                max_untrusted=MAX_MESSAGE_BYTES).start()

    def _stop(self) -> None:
        if self._channel is not None:
            self._channel.close()
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._proc = self._channel = None

    def stop(self) -> None:
        self._stop()

    def __call__(self, text: str, display_name: str, kind: str = "sandbox"):
        from muxserver.supervisor.channel import CallFailed
        from muxserver.supervisor.channel import ChannelClosed

        with self._lock:
            if self._channel is None or self._channel.closed:
                self._start()
            try:
                answer = self._channel.call("compile", timeout=COMPILE_TIMEOUT_S, text=text,
                                            name=display_name, kind=kind)
            except gevent.Timeout:
                self._stop()
                log.warning("compiling %s took more than %g s: refused", display_name,
                            COMPILE_TIMEOUT_S)
                return None, None, (f"{display_name}:1: compiling it took more than "
                                    f"{COMPILE_TIMEOUT_S:g} s: split the module or make it simpler",)
            except (ChannelClosed, CallFailed) as exc:
                self._stop()
                return None, None, (f"{display_name}:1: the compiler failed on it "
                                    f"({str(exc)[:200]})",)
        return _checked(answer, display_name)


def _checked(answer, display_name: str):
    """The compiler's answer, or an error if it is not of the shape asked for."""
    try:
        code, meta, errors = answer["code"], answer["meta"], answer["errors"]
        if not isinstance(errors, list) or not all(isinstance(e, str) for e in errors):
            raise TypeError("errors")
        if errors:
            return None, None, tuple(e[:2000] for e in errors[:100])
        if not isinstance(meta, dict):
            raise TypeError("meta")
        return (base64.b64decode(code) if code is not None else None), meta, ()
    except (KeyError, TypeError, ValueError):
        return None, None, (f"{display_name}:1: the compiler answered nonsense",)


def _lock_down(config) -> None:
    """Read Python, write nothing, make no process, hold no capability."""
    from muxserver import isolation
    from muxserver.isolation import capabilities
    from muxserver.isolation import landlock
    from muxserver.isolation import rlimits
    from muxserver.isolation import seccomp

    if config.isolation == "off":
        return
    isolation.prepare()
    rlimits.restrict(1024, 1)
    try:
        landlock.restrict(isolation.python_paths(), [])
        capabilities.drop_all()
        seccomp.restrict()
    except OSError as exc:
        if config.isolation == "require":
            raise
        log.warning("the compiler runs without part of the process layer: %s", exc)


def run(argv: list[str]) -> None:
    """Entry point of the compiler process."""
    import argparse
    import sys

    from muxserver.launch import read_config_fd
    from muxserver.ops import logs
    from muxserver.ops.logs import setup_logging
    from muxserver.supervisor.channel import Channel
    from muxserver.supervisor.channel import ChannelClosed
    from muxserver.tenancy.compiling import compile_locally
    from muxserver.worker import die_with_supervisor

    die_with_supervisor()
    parser = argparse.ArgumentParser(prog="muxserver compiler")
    parser.add_argument("--config-fd", type=int, required=True)
    parser.add_argument("--control-fd", type=int, required=True)
    args = parser.parse_args(argv)
    config, _ = read_config_fd(args.config_fd)
    setup_logging(config.log_format, access=False)
    control = socket.socket(fileno=args.control_fd)
    control.setblocking(True)  # one file at a time: this process waits for the next
    channel = Channel(control, accepts_pickles=False, name="supervisor",
                      max_untrusted=MAX_MESSAGE_BYTES)
    # Everything a compile needs is imported before the lock-down.
    compile_locally("def f():\n    return f'{1}'\n", "warm/up.py")
    _lock_down(config)
    while True:
        # This process blocks on its socket, never in gevent's loop, so the
        # log writer's timer never fires: what it logged goes out before each wait.
        logs.writer.flush()
        try:
            message = channel.receive()
        except ChannelClosed:
            sys.exit(0)
        name = str(message.get("name", "?"))
        try:
            code, meta, errors = compile_locally(str(message["text"]), name,
                                                 str(message.get("kind", "sandbox")))
        except Exception as exc:  # the file is refused, the compiler goes on
            code, meta, errors = None, None, (f"{name}:1: cannot compile: {type(exc).__name__}",)
        result = {"code": base64.b64encode(code).decode() if code is not None else None,
                  "meta": meta, "errors": list(errors)}
        try:
            channel.send({"reply_to": message.get("id"), "result": result})
        except ChannelClosed:
            sys.exit(0)

"""The serving process's end of the replication agent's socket.

Connected before lock-down (a serving process cannot make a socket after
it), then used by every greenlet of the process: one request at a time on
the line, in JSON. Each message carries an id and the answer repeats it,
so an answer a stopped request never read (its wall time ran out while a
restore went on) is skipped by the next caller instead of answering it.
"""

from __future__ import annotations

import json
import socket

from gevent.lock import Semaphore

#: Longest answer line read from the agent.
MAX_LINE = 1 << 20


class AgentError(Exception):
    """The agent could not be reached or answered nonsense."""


class AgentClient:
    """A connection to the agent listening at ``socket_path``."""

    def __init__(self, socket_path: str):
        self.socket_path = socket_path
        self._sock: socket.socket | None = None
        self._reader = None
        self._lock = Semaphore()
        self._next_id = 0

    def connect(self) -> "AgentClient":
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(self.socket_path)
        except OSError as exc:
            sock.close()
            raise AgentError(f"cannot reach the replication agent at {self.socket_path}: "
                             f"{exc.strerror or exc}") from None
        self._sock = sock
        self._reader = sock.makefile("rb")
        return self

    def call(self, op: str, **fields) -> dict:
        """Send ``{"op": op, ...}``; return the agent's answer."""
        if self._sock is None:
            raise AgentError("not connected to the replication agent")
        with self._lock:
            self._next_id += 1
            ident = self._next_id
            message = json.dumps({"id": ident, "op": op, **fields}) + "\n"
            try:
                self._sock.sendall(message.encode())
                while True:
                    line = self._reader.readline(MAX_LINE)
                    if not line:
                        raise AgentError("the replication agent closed the connection")
                    answer = json.loads(line)
                    if answer.get("id") == ident:
                        return answer
            except (OSError, ValueError) as exc:
                raise AgentError(f"replication agent: {exc}") from None

    def close(self) -> None:
        if self._sock is not None:
            self._reader.close()
            self._sock.close()
            self._sock = None

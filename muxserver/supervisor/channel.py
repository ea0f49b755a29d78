"""Messages between the supervisor and one serving process.

One stream socket (a socketpair made before the serving process starts)
carries framed messages both ways: a 4-byte length, a kind byte, the body.
Requests carry an ``id``; the answer carries the same id in ``reply_to``.

Trust goes one way. The supervisor is trusted: what it sends may be a
pickle (a tenant's registered version, with its routes and manifest). A
serving process is not — after a first-layer escape its code is the
attacker's — so what it sends is JSON, bounded in size, and a pickle from
it closes the channel (:attr:`Channel.accepts_pickles` is False on the
supervisor's end). Descriptors go the same way only: the supervisor may
attach some to a message (:meth:`Channel.send_fds`: a new zygote's
socket), which the serving process finds in the message's ``"fds"``; the
supervisor's end reads with ``recv``, which drops any a serving process
attaches.
"""

from __future__ import annotations

import array
import itertools
import json
import os
import pickle
import socket
import struct

import gevent
from gevent.event import AsyncResult
from gevent.lock import Semaphore

from muxserver.ops import serverjson
from muxserver.tenancy import manifest  # noqa: F401 (how a registered version pickles)

_HEADER = struct.Struct("!IB")
JSON, PICKLE = 1, 2
#: Largest message a serving process may send (a status or a log tail).
MAX_UNTRUSTED_BYTES = 16 * 2**20
#: Largest message the supervisor may send (every tenant's version at start).
MAX_TRUSTED_BYTES = 1 << 31


class ChannelClosed(Exception):
    """The other side went away (or broke the protocol)."""


class CallFailed(Exception):
    """The other side answered a call with an error."""


class Channel:
    """Framed messages and calls over a connected stream socket.

    :param sock: a gevent socket.
    :param accepts_pickles: True only on the serving process's end.
    :param handler: ``handler(message) -> result`` for requests from the
        other side (each in a greenlet of its own); its result is the answer.
    """

    def __init__(self, sock, accepts_pickles: bool, handler=None, name: str = "channel"):
        self.sock = sock
        self.accepts_pickles = accepts_pickles
        self.handler = handler
        self.name = name
        self.closed = False
        self._ids = itertools.count(1)
        self._pending: dict[int, AsyncResult] = {}
        self._send_lock = Semaphore()
        #: Descriptors received with the message being read (trusted end only).
        self._fds: list[int] = []
        self._reader = None
        #: Called with each message that is neither a call nor an answer.
        self.on_message = None
        self.on_close = None

    # -- the wire ----------------------------------------------------------------

    def send(self, message: dict, trusted_payload: bool = False) -> None:
        """Send one message; ``trusted_payload`` pickles it (supervisor only)."""
        if trusted_payload:
            kind, body = PICKLE, pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        else:
            kind, body = JSON, serverjson.dumps(message).encode()
        with self._send_lock:
            try:
                self.sock.sendall(_HEADER.pack(len(body), kind) + body)
            except OSError:
                self.close()
                raise ChannelClosed(f"{self.name}: the other side is gone") from None

    def send_fds(self, message: dict, fds: list[int]) -> None:
        """Send one JSON message with descriptors attached (``SCM_RIGHTS``;
        the supervisor to a serving process only)."""
        body = serverjson.dumps(message).encode()
        data = _HEADER.pack(len(body), JSON) + body
        rights = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))]
        with self._send_lock:
            try:
                sent = self.sock.sendmsg([data], rights)
                if sent < len(data):
                    self.sock.sendall(data[sent:])
            except OSError:
                self.close()
                raise ChannelClosed(f"{self.name}: the other side is gone") from None

    def _recv(self, size: int) -> bytes:
        if not self.accepts_pickles:
            return self.sock.recv(size)
        data, ancillary, _, _ = self.sock.recvmsg(size, socket.CMSG_SPACE(4 * 4))
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds = array.array("i")
                fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
                self._fds.extend(fds)
        return data

    def _read_exactly(self, size: int) -> bytes:
        chunks, left = [], size
        while left:
            chunk = self._recv(min(left, 1 << 20))
            if not chunk:
                raise ChannelClosed(f"{self.name}: the other side is gone")
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def receive(self) -> dict:
        """The next message (blocks this greenlet)."""
        size, kind = _HEADER.unpack(self._read_exactly(_HEADER.size))
        limit = MAX_TRUSTED_BYTES if self.accepts_pickles else MAX_UNTRUSTED_BYTES
        if size > limit:
            raise ChannelClosed(f"{self.name}: a message of {size} bytes is over the limit")
        body = self._read_exactly(size)
        fds, self._fds = self._fds, []
        if kind == PICKLE and self.accepts_pickles:
            for fd in fds:
                os.close(fd)
            return pickle.loads(body)
        if kind == JSON:
            message = json.loads(body)
            if isinstance(message, dict):
                if fds:
                    message["fds"] = fds
                return message
        for fd in fds:
            os.close(fd)
        raise ChannelClosed(f"{self.name}: a message of a kind this side does not accept")

    # -- calls ---------------------------------------------------------------------

    def call(self, op: str, timeout: float = 10.0, trusted_payload: bool = False, **fields):
        """Ask the other side; return its answer (:class:`CallFailed` if it
        answered with an error, :class:`ChannelClosed` if it went away,
        ``gevent.Timeout`` past ``timeout``)."""
        call_id = next(self._ids)
        result = self._pending[call_id] = AsyncResult()
        try:
            self.send({"op": op, "id": call_id, **fields}, trusted_payload)
            return result.get(timeout=timeout)
        finally:
            self._pending.pop(call_id, None)

    def start(self) -> "Channel":
        """Read messages in a greenlet until the channel closes."""
        self._reader = gevent.spawn(self._read_loop)
        return self

    def _read_loop(self) -> None:
        try:
            while True:
                message = self.receive()
                if "reply_to" in message:
                    waiter = self._pending.get(message["reply_to"])
                    if waiter is not None:
                        if "error" in message:
                            waiter.set_exception(CallFailed(str(message["error"])))
                        else:
                            waiter.set(message.get("result"))
                elif "id" in message and self.handler is not None:
                    gevent.spawn(self._answer, message)
                elif self.on_message is not None:
                    self.on_message(message)
        except (ChannelClosed, OSError, ValueError, pickle.UnpicklingError):
            pass
        finally:
            self.close()

    def _answer(self, message: dict) -> None:
        try:
            reply = {"reply_to": message["id"], "result": self.handler(message)}
        except Exception as exc:  # the caller learns what failed
            reply = {"reply_to": message["id"], "error": f"{type(exc).__name__}: {exc}"}
        try:
            self.send(reply)
        except ChannelClosed:
            pass

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            self.sock.close()
        except OSError:
            pass
        for waiter in list(self._pending.values()):
            waiter.set_exception(ChannelClosed(f"{self.name}: closed"))
        if self.on_close is not None:
            self.on_close()

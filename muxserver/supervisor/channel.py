"""Messages between the supervisor and one serving process.

One stream socket (a socketpair made before the serving process starts)
carries framed messages both ways: a 4-byte length, a kind byte, the body.
Requests carry an ``id``; the answer carries the same id in ``reply_to``.

Trust goes one way. The supervisor is trusted: what it sends may be a
pickle (a tenant's registered version, with its routes and manifest). A
serving process is not — after a first-layer escape its code is the
attacker's — so what it sends is JSON, bounded in size, and a pickle from
it closes the channel (:attr:`Channel.accepts_pickles` is False on the
supervisor's end).

The bound, :data:`MAX_UNTRUSTED_BYTES`, is what makes the supervisor's
parse of one message short: JSON is parsed whole, on the supervisor's hub,
into objects up to ~22 times its bytes (a message of empty lists). So every
message a serving process sends is small by construction: what grows with
its tenants goes in parts (its metrics: :func:`muxserver.ops.metrics.split_snapshot`)
or pages the supervisor asks for one after another (its status, a log
tail); a message that would still be over the bound is not sent
(:class:`MessageTooLarge`: a call's caller gets an error answer instead),
and one that comes anyway is read past unparsed. Descriptors go the same way only: the supervisor may
attach some to a message (:meth:`Channel.send_fds`: a new zygote's
socket), which the serving process finds in the message's ``"fds"``; the
supervisor's end reads with ``recv``, which drops any a serving process
attaches.
"""

from __future__ import annotations

import array
import itertools
import json
import logging
import os
import pickle
import socket
import struct

import gevent
from gevent.event import AsyncResult
from gevent.lock import Semaphore

from muxserver.ops import serverjson
from muxserver.tenancy import manifest  # noqa: F401 (how a registered version pickles)

log = logging.getLogger("muxserver.channel")

_HEADER = struct.Struct("!IB")
JSON, PICKLE = 1, 2
#: Largest message a serving process may send. Parsed whole on the
#: supervisor's hub: a legitimate message of this size (metrics rows) takes
#: ~10 MB and ~0.03 s, the worst one (empty lists) ~22 MB and ~0.1 s
#: (``benchmarks/message_sizes.py``); at 16 MiB it was 362 MB and 2.3 s.
MAX_UNTRUSTED_BYTES = 1 << 20
#: Largest message the supervisor may send (every tenant's version at start).
MAX_TRUSTED_BYTES = 1 << 31


class ChannelClosed(Exception):
    """The other side went away (or broke the protocol)."""


class CallFailed(Exception):
    """The other side answered a call with an error."""


class MessageTooLarge(ValueError):
    """A message is over the bound the other side reads: it was not sent.

    :param size: its size in bytes.
    :param limit: the bound.
    """

    def __init__(self, size: int, limit: int):
        super().__init__(f"a message of {size} bytes is over the limit of {limit}")
        self.size = size
        self.limit = limit


class Channel:
    """Framed messages and calls over a connected stream socket.

    :param sock: a gevent socket.
    :param accepts_pickles: True only on the serving process's end.
    :param handler: ``handler(message) -> result`` for requests from the
        other side (each in a greenlet of its own); its result is the answer.
    :param max_untrusted: the bound on the JSON messages of the untrusted
        side: the end that does not accept pickles reads no larger one, the
        end that does sends none.
    """

    def __init__(self, sock, accepts_pickles: bool, handler=None, name: str = "channel",
                 max_untrusted: int = MAX_UNTRUSTED_BYTES):
        self.sock = sock
        self.accepts_pickles = accepts_pickles
        self.max_untrusted = max_untrusted
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

    def send(self, message: dict, trusted_payload: bool = False) -> int:
        """Send one message; ``trusted_payload`` pickles it (supervisor only).
        Returns its size in bytes.

        :raises MessageTooLarge: from the untrusted side, a message over
            :attr:`max_untrusted` (nothing is sent; the channel stays open).
        """
        if trusted_payload:
            kind, body = PICKLE, pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        else:
            kind, body = JSON, serverjson.dumps(message).encode()
            if self.accepts_pickles and len(body) > self.max_untrusted:
                raise MessageTooLarge(len(body), self.max_untrusted)
        with self._send_lock:
            try:
                self.sock.sendall(_HEADER.pack(len(body), kind) + body)
            except OSError:
                self.close()
                raise ChannelClosed(f"{self.name}: the other side is gone") from None
        return len(body)

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
            # A gevent socket's recv returns at once, never yielding, while
            # data waits: an untrusted side that keeps it waiting (small
            # messages back to back, a message over the bound read past)
            # would hold the supervisor's hub for as long as it likes — no
            # admin request, other process, heartbeat watch or signal
            # handled. Each read lets the others run first.
            gevent.sleep(0)
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

    def _skip(self, size: int) -> None:
        """Read ``size`` bytes and keep none of them."""
        while size:
            chunk = self._recv(min(size, 1 << 16))
            if not chunk:
                raise ChannelClosed(f"{self.name}: the other side is gone")
            size -= len(chunk)

    def receive(self) -> dict:
        """The next message (blocks this greenlet). One over the limit is
        read past, never parsed, and logged: the channel stays in step, and
        the other side's later messages are read (its heartbeats, answers)."""
        limit = MAX_TRUSTED_BYTES if self.accepts_pickles else self.max_untrusted
        while True:
            size, kind = _HEADER.unpack(self._read_exactly(_HEADER.size))
            if size <= limit:
                break
            log.warning("%s sent a message of %d bytes, over the limit of %d: skipped",
                        self.name, size, limit)
            self._skip(size)
            for fd in self._fds:
                os.close(fd)
            self._fds = []
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
            try:
                self.send(reply)
            except MessageTooLarge as exc:
                # An answer that should have come in pages: say so, in one line.
                log.error("%s: the answer to %r was not sent: %s", self.name,
                          message.get("op"), exc)
                self.send({"reply_to": message["id"], "error": f"MessageTooLarge: {exc}"})
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

"""Frames between a serving process and a process tenant (and its zygote).

One stream socket (a socketpair the zygote made) carries frames both ways: a
4-byte length, a kind byte, the body. ``JSON`` frames carry a dict (a
request's head, an answer's head, a log line); ``BODY`` frames carry bytes
of the body that follows a head; ``END`` closes it.

Both ends parse what the other sends as data only: JSON and bytes, bounded
in size — never a pickle. A process tenant runs any Python its owner wrote,
so everything it sends is untrusted.

This module imports nothing of the server but the standard library: the
zygote and the tenant process use it without gevent.
"""

from __future__ import annotations

import array
import json
import socket
import struct

HEADER = struct.Struct("!IB")
JSON, BODY, END = 1, 2, 3
#: Largest JSON frame either side accepts (a head with its headers, a log line).
MAX_JSON_BYTES = 1 << 20
#: Largest body frame (bodies come in frames of at most this).
MAX_BODY_FRAME = 1 << 20


class WireClosed(Exception):
    """The other side went away, or sent something that is not a frame."""


def send_json(sock, message: dict) -> None:
    body = json.dumps(message, separators=(",", ":"), default=str).encode()
    sock.sendall(HEADER.pack(len(body), JSON) + body)


def send_body(sock, data: bytes) -> None:
    """Send ``data`` as body frames (nothing for empty data)."""
    view = memoryview(data)
    for start in range(0, len(view), MAX_BODY_FRAME):
        chunk = view[start:start + MAX_BODY_FRAME]
        sock.sendall(HEADER.pack(len(chunk), BODY) + bytes(chunk))


def send_end(sock) -> None:
    sock.sendall(HEADER.pack(0, END))


def _read_exactly(sock, size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            raise WireClosed("the other side closed the connection")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def receive(sock, max_json: int = MAX_JSON_BYTES) -> tuple[int, object]:
    """The next frame: ``(JSON, dict)``, ``(BODY, bytes)`` or ``(END, None)``.

    :param max_json: the largest JSON frame taken from this side.
    :raises WireClosed: at the end of the stream or on a malformed frame.
    """
    size, kind = HEADER.unpack(_read_exactly(sock, HEADER.size))
    if kind == JSON:
        if size > max_json:
            raise WireClosed(f"a JSON frame of {size} bytes is over the limit")
        try:
            message = json.loads(_read_exactly(sock, size))
        except ValueError:
            raise WireClosed("a JSON frame that is not JSON") from None
        if not isinstance(message, dict):
            raise WireClosed("a JSON frame that is not an object")
        return JSON, message
    if kind == BODY:
        if size > MAX_BODY_FRAME:
            raise WireClosed(f"a body frame of {size} bytes is over the limit")
        return BODY, _read_exactly(sock, size)
    if kind == END and size == 0:
        return END, None
    raise WireClosed(f"a frame of unknown kind {kind}")


def send_fds(sock, message: dict, fds: list[int]) -> None:
    """One JSON frame with descriptors attached (``SCM_RIGHTS``)."""
    body = json.dumps(message).encode()
    data = HEADER.pack(len(body), JSON) + body
    sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))])


def receive_fds(sock, max_fds: int = 4) -> tuple[dict, list[int]]:
    """A JSON frame sent by :func:`send_fds`, and the descriptors it carried.

    The frame must arrive in one message (it is small: the sender writes it
    with one ``sendmsg``)."""
    fds = array.array("i")
    data, ancdata, flags, _ = sock.recvmsg(MAX_JSON_BYTES + HEADER.size,
                                           socket.CMSG_LEN(max_fds * fds.itemsize))
    for level, kind, payload in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[: len(payload) - (len(payload) % fds.itemsize)])
    if not data:
        raise WireClosed("the other side closed the connection")
    size, kind = HEADER.unpack(data[:HEADER.size])
    if kind != JSON or len(data) != HEADER.size + size:
        for fd in fds:
            _close(fd)
        raise WireClosed("a descriptor message that is not one whole JSON frame")
    return json.loads(data[HEADER.size:]), list(fds)


def _close(fd: int) -> None:
    import os

    try:
        os.close(fd)
    except OSError:
        pass

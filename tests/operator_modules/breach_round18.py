"""Assume the breach, round 18: an escaped serving process against the
supervisor's reading of it (its channel's read loop, status and log pages,
metrics parts).

An operator module allowed with ``extra_modules`` (like :mod:`breach_layer2`):
it runs unsandboxed in a serving process, as tenant code that broke the
language layer would, and reaches the serving process's channel to the
supervisor through :mod:`gc`. :func:`attempt` answers ``"OK ..."`` or
``"DENIED ..."``. Tests only.
"""

import gc
import json
import os
import struct
import time


def _channel():
    found = [o for o in gc.get_objects() if type(o).__name__ == "Channel"]
    if not found:
        raise OSError("no Channel in this process")
    return found[0]


def _pid(arg):
    """This process's pid (the one the request reached)."""
    return str(os.getpid())


def _flood(arg):
    """For ``seconds`` (in the background), send the supervisor small
    messages back to back, many to a ``sendall``, so that its end of the
    channel always has one waiting: ``seconds``."""
    import gevent

    seconds = float(arg)
    channel = _channel()
    frame = b'{"op": "noise"}'
    burst = (struct.pack("!IB", len(frame), 1) + frame) * 4096

    def send():
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with channel._send_lock:
                channel.sock.sendall(burst)

    gevent.spawn(send)
    return f"flooding for {seconds} s"


def _huge_skip(arg):
    """Announce a message of ``mb`` MiB (over the bound: the supervisor reads
    past it) and send its bytes as fast as the supervisor takes them, in the
    background."""
    import gevent

    size = int(arg) << 20
    channel = _channel()
    chunk = b"x" * (1 << 20)

    def send():
        with channel._send_lock:
            channel.sock.sendall(struct.pack("!IB", size, 1))
            for _ in range(size >> 20):
                channel.sock.sendall(chunk)

    gevent.spawn(send)
    return f"sending {size} bytes"


def _forge_once(op, change):
    """Answer the next supervisor call ``op`` with the real answer changed by
    ``change(answer)``; later calls are answered as before."""
    channel = _channel()
    real = channel.handler

    def forged(message):
        answer = real(message)
        if message.get("op") != op:
            return answer
        channel.handler = real
        return change(answer)

    channel.handler = forged


def _status_once(arg):
    """The next status page: the real one with the fields of the JSON object
    ``arg`` set, and with its first warm module repeated ``dup_warm`` times."""
    fields = json.loads(arg)
    dup = fields.pop("dup_warm", 0)
    if isinstance(fields.get("pid"), list):  # pids of every process: claim another's
        fields["pid"] = next(p for p in fields["pid"] if p != os.getpid())

    def change(page):
        page.update(fields)
        if dup:
            page["warm_modules"] = page["warm_modules"][:1] * dup
        return page

    _forge_once("status", change)
    return f"pid {os.getpid()}: next status page with {sorted(fields)}, {dup} warm modules"


def _logs_once(arg):
    """The next log page: the real one and ``n`` lines dated ``at`` (a Unix
    time): ``n|at``."""
    n, at = arg.split("|")

    def change(page):
        page["lines"] = page["lines"] + [{"time": float(at), "level": "info", "line": f"forged {i}",
                                          "request_id": None} for i in range(int(n))]
        return page

    _forge_once("logs", change)
    return f"next log page: {n} lines at {at}"


def _fill_statuses_and_exit(arg):
    """Send a metrics part for tenant ``tenant`` with 64 statuses it never
    answered (and none it did), then end: the part is this process's last
    snapshot, summed into what the supervisor keeps of ended processes."""
    counters = {"mux_requests": [[[arg, f"{i:03d}"], 1] for i in range(64)],
                "mux_cold_starts": [], "mux_evictions": [], "mux_limit_kills": [],
                "mux_egress_connections": [], "mux_egress_bytes": []}
    gauges = {"rss": 1, "warm_modules": 0, "tenants": 0}
    _channel().send({"op": "metrics", "snapshot": {"counters": counters, "buckets": {},
                                                    "gauges": gauges}})
    time.sleep(0.5)  # gevent's: the message is read before the channel closes
    os._exit(0)


def _gauges(arg):
    """For 3 s (in the background), send the supervisor every 20 ms a
    metrics part of no tenant with the gauges of the JSON object ``arg``."""
    import gevent

    gauges = {"rss": 1, "warm_modules": 0, "tenants": 0} | json.loads(arg)
    channel = _channel()
    counters = {name: [] for name in ("mux_requests", "mux_cold_starts", "mux_evictions",
                                      "mux_limit_kills", "mux_egress_connections",
                                      "mux_egress_bytes")}

    def send():
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            channel.send({"op": "metrics", "snapshot": {"counters": counters, "buckets": {},
                                                        "gauges": gauges}})
            gevent.sleep(0.02)

    gevent.spawn(send)
    return f"sending gauges {gauges}"


ATTACKS = {
    "gauges": _gauges,
    "pid": _pid,
    "flood": _flood,
    "huge_skip": _huge_skip,
    "status_once": _status_once,
    "logs_once": _logs_once,
    "fill_statuses_and_exit": _fill_statuses_and_exit,
}


def attempt(what, arg=""):
    try:
        return "OK " + ATTACKS[what](arg)
    except Exception as exc:  # every refusal is the answer
        return f"DENIED {type(exc).__name__}: {exc}"

"""Assume the breach, round 16b: what an escaped serving process tells the
processes beside it (the supervisor, the egress proxy, its zygote).

An operator module allowed with ``extra_modules`` (like :mod:`breach` and
:mod:`breach_more`): it runs unsandboxed in a serving process, as tenant
code that broke the language layer would, and reaches the objects the
serving process holds (its channel to the supervisor, its egress client,
its zygote client) through :mod:`gc`. :func:`attempt` answers ``"OK ..."``
or ``"DENIED ..."``. Tests only.
"""

import gc
import os

#: Sockets to children the zygote forked for us: they live while we hold them.
_KEPT = []
#: The channel's own handler, by the channel's id, before :func:`_forge_status` wrapped it.
_REAL_HANDLERS = {}


def _one(type_name):
    found = [o for o in gc.get_objects() if type(o).__name__ == type_name]
    if not found:
        raise OSError(f"no {type_name} in this process")
    return found[0]


def _forge_labels_and_exit(arg):
    """Send the supervisor metrics snapshots whose rows carry ``n`` tenant
    names it never registered (``ghost-...``) and ``n`` statuses of a real
    tenant (``calm``), of the shape it checks, in parts that fit a message
    (10,000 rows each), then end: an ended process's last snapshot is kept
    (and summed) for the supervisor's life."""
    n = int(arg)
    rows = ([[[f"ghost-{i:07d}", "200"], 1] for i in range(n)]
            + [[["calm", f"s{i:07d}"], 1] for i in range(n)])
    channel = _one("Channel")
    for start in range(0, len(rows), 10_000):
        counters = {
            "mux_requests": rows[start:start + 10_000], "mux_cold_starts": [],
            "mux_evictions": [], "mux_limit_kills": [], "mux_egress_connections": [],
            "mux_egress_bytes": [],
        }
        channel.send({"op": "metrics", "snapshot": {
            "counters": counters, "buckets": {},
            "gauges": {"rss": 1, "warm_modules": 0, "tenants": 0}}})
    os._exit(0)


def _egress_names(arg):
    """Ask the egress proxy for ``n`` connections, each in the name of a
    tenant that does not exist (a name of 60,000 characters): each is
    refused, and each is counted under its name."""
    n = int(arg)
    client = _one("EgressClient")
    refused = 0
    for i in range(n):
        try:
            client.open(f"ghost-{i:07d}-" + "x" * 60_000, "example.com", 443, 5.0)
        except OSError:
            refused += 1
    return f"{refused} of {n} refused"


def _number(text):
    return float(text) if text in ("inf", "nan") else int(text)


def _zygote_limits(arg):
    """Ask this process's zygote for a process with the limits we choose:
    ``memory_mb|storage_mb|tenant folder|data folder``. Answers its pid."""
    memory_mb, storage_mb, app_root, data = arg.split("|")
    plan = {
        "tenant": os.path.basename(data), "app_root": app_root, "site": None, "data": data,
        "limits": {"cpu_ms": 1000, "wall_s": 5.0, "memory_mb": _number(memory_mb),
                   "storage_mb": _number(storage_mb)},
        "env": {}, "proxy": None, "routes": [], "app_modules": [], "app_factory": None,
        "function": None, "session_secret": "s",
    }
    pid, sock = _one("ZygoteClient").start(plan)
    _KEPT.append(sock)
    return f"pid {pid}"


def _zygote_many(arg):
    """Ask this process's zygote for ``n`` processes at once (plans as
    :func:`_zygote_limits`, ordinary limits). Answers how many it forked."""
    n, app_root, data = arg.split("|")
    started = 0
    for _ in range(int(n)):
        try:
            _zygote_limits(f"64|16|{app_root}|{data}")
        except OSError:
            break
        except Exception:  # ZygoteError: it refused
            break
        started += 1
    return f"forked {started}"


def _plant_cache(arg):
    """Replace the cached code of another tenant's file, where the cache is
    a folder this process may write: ``cache dir|source file|extra modules``.
    The next process that loads that file (another serving process, the
    next start) runs the code planted here, as that tenant."""
    import marshal

    from muxserver.tenancy.codecache import cache_key

    cache_dir, source_path, extra = arg.split("|")
    with open(source_path, "rb") as f:
        key = cache_key(f.read(), frozenset(extra.split(",")) if extra else frozenset())
    path = os.path.join(cache_dir, key[:2], f"{key}.mux")
    with open(path, "rb") as f:
        fmt, meta, _ = marshal.loads(f.read())
    planted = compile("def get():\n    return 'planted by another tenant'\n", "x", "exec")
    with open(path + ".new", "wb") as f:
        f.write(marshal.dumps((fmt, meta, marshal.dumps(planted))))
    os.replace(path + ".new", path)
    return f"planted {path}"


def _plant_file(arg):
    """Write ``text`` at ``path`` (``path|text``), making its folder."""
    path, text = arg.split("|", 1)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    return f"wrote {path}"


def _list_bomb(arg):
    """Send the supervisor ``n`` messages, each a list of ``items`` empty
    lists (``n|items``; five million by default: about 15 MB): cheap to
    send, dear to parse."""
    import struct

    n, _, items = arg.partition("|")
    channel = _one("Channel")
    body = b'{"op": "noise", "a": [' + b"[]," * int(items or 5_000_000) + b"[]]}"
    frame = struct.pack("!IB", len(body), 1) + body
    for _ in range(int(n)):
        with channel._send_lock:
            channel.sock.sendall(frame)
    return f"sent {n} messages of {len(body)} bytes"


def _forge_status(arg):
    """From now on, answer the supervisor's ``status`` calls with this
    process's real status changed by ``arg``: ``no-role`` (the key left
    out), ``kill-tenant-list`` (a limit-kill row naming a list, not a
    tenant), ``kill-tenant-number`` (a number). A later forgery replaces
    this one, not adds to it (one server serves every forgery's test)."""
    channel = _one("Channel")
    real = _REAL_HANDLERS.setdefault(id(channel), channel.handler)

    def forged(message):
        answer = real(message)
        if message.get("op") == "evict" and arg == "evict-text":
            return "ever so many"
        if message.get("op") == "specialize" and arg == "specialize-list":
            return ["warm"]
        if message.get("op") == "logs" and arg == "logs-time":
            return [{"time": float("nan"), "level": "info", "line": "x", "request_id": None},
                    {"time": 1e300, "level": "info", "line": "y", "request_id": None}]
        if message.get("op") != "status":
            return answer
        if arg == "no-role":
            answer.pop("role", None)
        elif arg == "kill-tenant-list":
            answer["limit_kills"] = [{"tenant": ["calm"], "kind": "cpu", "count": 1}]
        elif arg == "kill-tenant-number":
            answer["limit_kills"] = [{"tenant": 7, "kind": "cpu", "count": 1},
                                     {"tenant": "calm", "kind": "cpu", "count": 1}]
        return answer

    channel.handler = forged
    return f"answering status with {arg}"


def _egress_hold(arg):
    """Open a connection through the egress proxy for ``tenant`` to
    ``host:port`` with the time left given as ``timeout`` (``nan``: a number
    no comparison holds), send nothing, and wait up to 15 s for the proxy
    to end it: ``tenant|host|port|timeout``."""
    import time

    tenant, host, port, timeout = arg.split("|")
    sock = _one("EgressClient").open(tenant, host, int(port), float(timeout))
    started = time.monotonic()
    sock.settimeout(15)
    try:
        ended = sock.recv(1) == b""
    except OSError:
        ended = False
    finally:
        sock.close()
    if not ended:
        raise OSError("the proxy still relays after 15 s")
    return f"the proxy ended it after {time.monotonic() - started:.1f} s"


ATTACKS = {
    "egress_hold": _egress_hold,
    "forge_status": _forge_status,
    "list_bomb": _list_bomb,
    "plant_file": _plant_file,
    "plant_cache": _plant_cache,
    "forge_labels_and_exit": _forge_labels_and_exit, "egress_names": _egress_names,
    "zygote_limits": _zygote_limits, "zygote_many": _zygote_many,
}


def attempt(what, arg=""):
    try:
        return "OK " + ATTACKS[what](arg)
    except Exception as exc:  # every refusal is the answer
        return f"DENIED {type(exc).__name__}: {exc}"

"""The process tenant's side: set up, lock down, then answer requests.

:func:`run_tenant` runs in the process the zygote forked for one tenant
(or in a fresh interpreter: :func:`main`, for health checks and the
benchmark's baseline). It

1. sets its working directory to the tenant's data folder, its environment
   to the tenant's ``[env]`` and the egress proxy's variables, its
   ``sys.path`` to its ``/app``, ``/app/lib``, its site folder and the
   standard library (the preloaded packages stay importable);
2. sends its standard output and error, line by line, to the serving
   process (they go to the tenant's log);
3. locks itself down (:mod:`.confine`);
4. answers the requests the serving process sends, one at a time, over its
   socket (:mod:`.wire`): the first one imports the tenant's code (the cold
   start).

What it sends is JSON and body bytes: ``{"op": "response", "status",
"headers"}`` then the body; ``{"op": "log", "line", "stream"}`` at any time;
``{"op": "failed", "kind": "load" | "memory", "detail"}`` instead of a
response when the code cannot load or ran out of memory.

.. warning::
   Everything here runs in the tenant's process, next to its code: nothing
   it sends is believed by the serving process beyond its shape.
"""

from __future__ import annotations

import io
import os
import socket
import sys
import threading
import traceback

from muxserver.proctier import wire
from muxserver.proctier.confine import confine
from muxserver.proctier.confine import scrub_environment
from muxserver.proctier.tenantapp import TenantApp

#: Longest log line sent (longer lines are cut).
MAX_LOG_LINE = 8192


class Sender:
    """The socket to the serving process, shared by the request loop and
    the log reader (one frame at a time)."""

    def __init__(self, sock):
        self.sock = sock
        self.lock = threading.Lock()
        #: The request being answered (log lines carry its id).
        self.request_id = None

    def json(self, message: dict) -> None:
        with self.lock:
            wire.send_json(self.sock, message)

    def response(self, status: int, headers: list, chunks) -> None:
        """A head, then the body as the app produces it."""
        with self.lock:
            wire.send_json(self.sock, {"op": "response", "status": status, "headers": headers})
        for chunk in chunks:
            if chunk:
                with self.lock:
                    wire.send_body(self.sock, chunk)
        with self.lock:
            wire.send_end(self.sock)


def one_malloc_arena() -> None:
    """One malloc arena for every thread: glibc reserves 64 MiB of address
    space per thread arena, which would count against ``memory_mb``."""
    import ctypes

    M_ARENA_MAX = -8
    try:
        ctypes.CDLL(None).mallopt(M_ARENA_MAX, 1)
    except (OSError, AttributeError):
        pass


def capture_output(sender: Sender) -> None:
    """File descriptors 1 and 2 become a pipe read by a thread that sends
    each line to the tenant's log (C code's output too)."""
    read_end, write_end = os.pipe()
    os.dup2(write_end, 1)
    os.dup2(write_end, 2)
    os.close(write_end)
    sys.stdout = io.TextIOWrapper(os.fdopen(1, "wb", buffering=0, closefd=False),
                                  line_buffering=True, errors="backslashreplace")
    sys.stderr = io.TextIOWrapper(os.fdopen(2, "wb", buffering=0, closefd=False),
                                  line_buffering=True, errors="backslashreplace")

    def pump():
        with os.fdopen(read_end, "rb") as stream:
            for raw in stream:
                line = raw.rstrip(b"\n").decode("utf-8", "backslashreplace")[:MAX_LOG_LINE]
                try:
                    sender.json({"op": "log", "line": line, "request_id": sender.request_id})
                except OSError:
                    return

    threading.Thread(target=pump, name="mux-log", daemon=True).start()


def prepare_paths(plan: dict) -> None:
    """``sys.path``: the tenant's folder, its ``lib/``, its site folder, the
    standard library; the server's own folders go (the preloaded packages
    remain importable through ``sys.modules``)."""
    import sysconfig

    stdlib = {sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib")}
    keep = [p for p in sys.path if p in stdlib or "lib-dynload" in p or p.endswith(".zip")]
    front = [plan["app_root"], os.path.join(plan["app_root"], "lib")]
    if plan.get("site"):
        front.append(plan["site"])
    sys.path[:] = front + keep
    sys.path_importer_cache.clear()
    sys.dont_write_bytecode = True  # /app and the site folder are read-only


def environ_for(head: dict, body: bytes) -> dict:
    """The WSGI environ of one request the serving process forwarded."""
    environ = {
        "REQUEST_METHOD": head["method"],
        "SCRIPT_NAME": head["script_name"],
        "PATH_INFO": head["path"],
        "QUERY_STRING": head["query"],
        "SERVER_NAME": head["server_name"],
        "SERVER_PORT": str(head["server_port"]),
        "SERVER_PROTOCOL": head.get("protocol", "HTTP/1.1"),
        "REMOTE_ADDR": head.get("remote_addr") or "",
        "CONTENT_LENGTH": str(len(body)) if body else "",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": head["scheme"],
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    for name, value in head["headers"]:
        key = name.upper().replace("-", "_")
        if key == "CONTENT_TYPE":
            environ["CONTENT_TYPE"] = value
        elif key != "CONTENT_LENGTH":
            key = "HTTP_" + key
            environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ


def answer(app: TenantApp, sender: Sender, head: dict, body: bytes) -> None:
    """Run one request through the tenant's app and send the answer."""
    if not app.loaded:
        try:
            app.load()
        except MemoryError:
            raise
        except BaseException as exc:  # SystemExit included: the import failed
            sender.json({"op": "failed", "kind": "load",
                         "detail": "".join(traceback.format_exception(exc))[-20000:]})
            return
    captured = {}

    def start_response(status, headers, exc_info=None):
        captured["status"] = int(status.split(" ", 1)[0])
        captured["headers"] = [[str(k), str(v)] for k, v in headers]
        return lambda data: None  # the old write() callable: unused by Flask

    result = app(environ_for(head, body), start_response)
    try:
        chunks = iter(result)
        first = next(chunks, b"")
        sender.response(captured["status"], captured["headers"], _chain(first, chunks))
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()


def _chain(first, rest):
    yield first
    yield from rest


def serve(sock, plan: dict, preloaded: list[str], program: bytes | None = None) -> None:
    """Set up, lock down and serve until the socket closes."""
    sender = Sender(sock)
    os.makedirs(plan["data"], mode=0o700, exist_ok=True)
    os.chdir(plan["data"])
    scrub_environment(plan)
    prepare_paths(plan)
    one_malloc_arena()
    capture_output(sender)
    applied = confine(plan, preloaded, plan.get("isolation", "best-effort"),
                      plan.get("base_bytes"), program)
    sender.json({"op": "ready", "pid": os.getpid(), "isolation": applied})
    app = TenantApp(plan)
    while True:
        try:
            kind, head = wire.receive(sock)
            if kind != wire.JSON:
                return
            parts = []
            while True:
                kind, data = wire.receive(sock)
                if kind == wire.END:
                    break
                parts.append(data)
        except (wire.WireClosed, OSError):
            return
        sender.request_id = head.get("request_id")
        if head.get("op") == "check":
            _check(app, sender)
            continue
        try:
            answer(app, sender, head, b"".join(parts))
        except MemoryError:
            parts = None
            sender.json({"op": "failed", "kind": "memory",
                         "detail": f"memory_mb = {plan['limits']['memory_mb']}"})
            os._exit(0)  # its memory is fragmented now: the next request starts afresh
        except (BrokenPipeError, ConnectionResetError):
            return


def _check(app: TenantApp, sender: Sender) -> None:
    """A health check: import everything a request can reach."""
    try:
        app.load()
        sender.json({"op": "checked", "errors": []})
    except MemoryError:
        sender.json({"op": "checked", "errors": ["importing ran out of memory (memory_mb)"]})
    except BaseException as exc:
        sender.json({"op": "checked", "errors": [_where(exc, app.root)
                                                 + "".join(traceback.format_exception(exc))]})


def _where(exc: BaseException, root: str) -> str:
    """``file:line: `` of the innermost frame in the tenant's folder."""
    where = ""
    tb = exc.__traceback__
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.startswith(root.rstrip("/") + "/"):
            where = f"{filename[len(root.rstrip('/')) + 1:]}:{tb.tb_lineno}"
        tb = tb.tb_next
    if not where and isinstance(exc, SyntaxError) and exc.filename:
        where = f"{os.path.relpath(exc.filename, root)}:{exc.lineno or 1}"
    return f"{where}: " if where else ""


def main(argv: list[str]) -> None:
    """A process tenant in a fresh interpreter (no zygote): the health check
    and the benchmark's baseline. The plan comes as JSON on standard input;
    requests come over the inherited socket ``--fd``."""
    import json

    fd = int(argv[argv.index("--fd") + 1])
    plan = json.loads(sys.stdin.buffer.read())
    from muxserver.proctier.confine import python_paths
    from muxserver.proctier.zygote import preloaded_folders
    from muxserver.proctier.zygote import preload

    preload()
    sock = socket.socket(fileno=fd)
    sock.setblocking(True)
    serve(sock, plan, python_paths(preloaded_folders()))
    os._exit(0)

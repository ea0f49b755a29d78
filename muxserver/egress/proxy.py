"""The egress proxy: a process of its own that connects tenants to the hosts
their ``[egress] allow`` lists, and to nothing else.

Why its own, on gevent, and not Squid or tinyproxy (both in Debian): the
proxy has to tell tenants apart and hold each connection to the wall time
of the request that opened it. tinyproxy has one access list for every
client; Squid can tell users apart (proxy authentication and per-user
ACLs) but would need its configuration rewritten and reloaded on every
deploy, a helper for our tenant credentials, a second channel for
sandboxed tenants (whose serving process cannot make a socket) and its
logs parsed back into per-tenant counters. What the proxy does is small —
parse one request line and its headers, resolve, check the address,
connect, relay bytes — and here it is one module with the server's own
rules (:mod:`.policy`), the server's metrics and no TLS interception.

It listens on:

* TCP ``127.0.0.1:<port>`` for process tenants (``HTTP_PROXY`` and
  ``HTTPS_PROXY`` point there, with the tenant's name and token as
  credentials): ``CONNECT host:port`` (HTTPS: bytes relayed, never
  decrypted) and absolute-form ``GET http://host/path`` (plain HTTP,
  forwarded in origin form with ``Connection: close``);
* a unix socket in the server's run folder (``0700``) for serving
  processes, which connect before their lock-down: ``{"op": "open",
  "tenant", "host", "port", "timeout"}`` is answered with one end of a new
  socketpair (``SCM_RIGHTS``) whose other end the proxy relays to the host.

A refusal names the rule: to a process tenant as a line that is not an
HTTP status line (so ``requests``, ``urllib`` and ``http.client`` raise
their own connection error with it), to a serving process as the answer's
``error``.

Each connection lives at most the tenant's ``wall_s`` (or the time a
sandboxed request has left). The supervisor sends the rules over the
control socket whenever a tenant's version changes, and reads per-tenant
counters back every second.
"""

from __future__ import annotations

import base64
import logging
import os
import socket as stdlib_socket
import sys

log = logging.getLogger("muxserver.egress")

#: Longest request head read from a tenant.
MAX_HEAD = 64 * 1024
#: Seconds a connection to a host may take.
CONNECT_TIMEOUT_S = 10.0
#: A connection's lifetime when its tenant is unknown to the rules.
DEFAULT_WALL_S = 30.0
#: Seconds a process tenant's connection may take to send its request's
#: head (before it, the proxy does not know whose connection it is).
HEAD_TIMEOUT_S = 10.0
#: Connections one tenant may have relayed at once (each holds two of the
#: proxy's descriptors, which every tenant of the server shares).
MAX_RELAYS_PER_TENANT = 256
#: Share of the proxy's open-files limit that connections still sending
#: their head may hold; more are closed at once.
PENDING_SHARE = 4


class Proxy:
    """The proxy's state: the rules, the counters, the key."""

    def __init__(self, key: bytes):
        from muxserver.egress.policy import Policy

        self.key = key
        #: The proxy's own TCP port (set once it listens).
        self.port = 0
        self.policy = Policy({})
        self.walls: dict[str, float] = {}
        #: (tenant, outcome) -> count; (tenant, direction) -> bytes.
        self.connections: dict[tuple, int] = {}
        self.bytes: dict[tuple, int] = {}
        #: Connections relayed now, by :meth:`label`.
        self.relaying: dict[str, int] = {}
        #: TCP connections that have not sent their head yet, and how many may.
        self.pending = 0
        self.max_pending = 256

    def label(self, tenant: str) -> str:
        """The name ``tenant`` is counted under: itself when the rules hold
        it, else ``-``. A serving process names the tenant of each request
        (the unix socket speaks for any), and the counters live as long as
        the proxy and go to the supervisor every second: a name made up
        per request would be a counter each, without end."""
        return tenant if tenant in self.policy.tenants else "-"

    def lifetime(self, tenant: str, asked=None) -> float:
        """Seconds a connection of ``tenant`` may live: its ``wall_s``, or
        less when the serving process asks for less (the time its request
        has left). What it asks is a number of its choosing — NaN made
        ``gevent.joinall`` wait for ever — so only a finite, positive one
        shortens the rules' figure, never lengthens it."""
        wall = self.walls.get(tenant, DEFAULT_WALL_S)
        if isinstance(asked, (int, float)) and not isinstance(asked, bool) and 0 < asked < wall:
            return float(asked)
        return wall

    def count(self, tenant: str, outcome: str) -> None:
        key = (self.label(tenant), outcome)
        self.connections[key] = self.connections.get(key, 0) + 1

    def add_bytes(self, tenant: str, direction: str, n: int) -> None:
        key = (self.label(tenant), direction)
        self.bytes[key] = self.bytes.get(key, 0) + n

    def snapshot(self) -> dict:
        return {"connections": [[list(k), v] for k, v in self.connections.items()],
                "bytes": [[list(k), v] for k, v in self.bytes.items()]}

    # -- connecting ------------------------------------------------------------

    def connect(self, tenant: str, host: str, port: int):
        """A connection to ``host:port`` for ``tenant``, to a checked address.

        :raises policy.Refused: naming the rule that refused it.
        """
        from gevent import socket

        from muxserver.egress.policy import Refused

        host = host.strip("[]").lower().rstrip(".")
        self.policy.check_host(tenant, host)
        if self.relaying.get(self.label(tenant), 0) >= MAX_RELAYS_PER_TENANT:
            raise Refused(f"tenant {tenant} has {MAX_RELAYS_PER_TENANT} connections open through "
                          "the proxy already (close some first)", 503)
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise Refused(f"{host} does not resolve: {exc}", 502) from None
        for *_, address in infos:
            self.policy.check_address(host, address[0], port)
        last = None
        for family, kind, proto, _, address in infos:
            sock = socket.socket(family, kind, proto)
            sock.settimeout(CONNECT_TIMEOUT_S)
            try:
                sock.connect(address)  # the address checked above, not a new lookup
                sock.settimeout(None)
                return sock
            except OSError as exc:
                sock.close()
                last = exc
        raise Refused(f"cannot connect to {host}:{port}: {last}", 502)

    def relay(self, tenant: str, a, b, lifetime: float) -> None:
        """Copy bytes both ways until either side closes or ``lifetime`` ends
        (counted in :attr:`relaying` meanwhile)."""
        label = self.label(tenant)
        self.relaying[label] = self.relaying.get(label, 0) + 1
        try:
            self._relay(tenant, a, b, lifetime)
        finally:
            self.relaying[label] -= 1
            if not self.relaying[label]:
                del self.relaying[label]

    def _relay(self, tenant: str, a, b, lifetime: float) -> None:
        import gevent

        def pump(src, dst, direction):
            try:
                while True:
                    data = src.recv(65536)
                    if not data:
                        break
                    dst.sendall(data)
                    self.add_bytes(tenant, direction, len(data))
            except OSError:
                pass
            finally:
                for s in (src, dst):
                    try:
                        s.shutdown(stdlib_socket.SHUT_RDWR)
                    except OSError:
                        pass

        pumps = [gevent.spawn(pump, a, b, "out"), gevent.spawn(pump, b, a, "in")]
        gevent.joinall(pumps, timeout=lifetime)
        gevent.killall(pumps)
        a.close()
        b.close()

    # -- process tenants: HTTP proxy protocol ------------------------------------------

    def handle_tcp(self, client, address) -> None:
        """One process tenant's connection. Until its head is read, it is
        nobody's: such connections may take a share of the proxy's
        descriptors (:data:`PENDING_SHARE`) for :data:`HEAD_TIMEOUT_S` each,
        so no tenant can hold the proxy by connecting and saying nothing."""
        import gevent

        if self.pending >= self.max_pending:
            self.count("-", "refused")
            client.close()
            return
        self.pending += 1
        try:
            with gevent.Timeout(HEAD_TIMEOUT_S, ValueError("no request head within "
                                                         f"{HEAD_TIMEOUT_S:g} s")):
                head, rest = _read_head(client)
        except (ValueError, OSError) as exc:
            _refuse(client, f"bad proxy request: {exc}")
            return
        finally:
            self.pending -= 1
        self._serve_tcp(client, head, rest)

    def _serve_tcp(self, client, head: bytes, rest: bytes) -> None:
        from muxserver.egress.policy import Refused

        tenant = "-"
        upstream = None
        try:
            lines = head.decode("latin-1").split("\r\n")
            method, target, version = lines[0].split(" ", 2)
            headers = [line.split(":", 1) for line in lines[1:] if ":" in line]
            tenant = self._authenticate(headers)
            if method == "CONNECT":
                if rest:
                    raise ValueError("bytes after a CONNECT request's head")
                host, _, port = target.rpartition(":")
                upstream = self.connect(tenant, host, int(port))
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            else:
                from urllib.parse import urlsplit

                url = urlsplit(target)
                if url.scheme != "http" or not url.hostname:
                    raise Refused(f"{target[:200]!r} is not an absolute http:// URL", 400)
                upstream = self.connect(tenant, url.hostname, url.port or 80)
                path = (url.path or "/") + (f"?{url.query}" if url.query else "")
                kept = [f"{k}:{v}" for k, v in headers
                        if k.strip().lower() not in ("proxy-authorization", "proxy-connection",
                                                     "connection", "keep-alive")]
                upstream.sendall("\r\n".join([f"{method} {path} {version}", *kept,
                                              "Connection: close", "", ""]).encode("latin-1")
                                 + rest)
            self.count(tenant, "allowed")
        except Refused as exc:
            self.count(tenant, "refused")
            _refuse(client, str(exc))
            return
        except (ValueError, OverflowError, OSError) as exc:
            if upstream is not None:
                upstream.close()
            _refuse(client, f"bad proxy request: {exc}")
            return
        self.relay(tenant, client, upstream, self.lifetime(tenant))

    def _authenticate(self, headers) -> str:
        from muxserver.egress.policy import Refused
        from muxserver.egress.policy import tenant_token

        import hmac

        for name, value in headers:
            if name.strip().lower() == "proxy-authorization":
                kind, _, encoded = value.strip().partition(" ")
                if kind.lower() == "basic":
                    try:
                        user, _, password = base64.b64decode(encoded).decode().partition(":")
                    except (ValueError, UnicodeDecodeError):
                        break
                    if hmac.compare_digest(password, tenant_token(self.key, user)):
                        return user
        raise Refused("the proxy needs a tenant's credentials (Proxy-Authorization)", 407)

    # -- serving processes: sockets handed over -----------------------------------------

    def handle_unix(self, conn, address) -> None:
        from gevent import socket

        from muxserver.egress.policy import Refused
        from muxserver.proctier import wire

        import gevent

        if not self._proven(conn):
            conn.close()
            return
        while True:
            try:
                kind, message = wire.receive(conn)
            except (wire.WireClosed, OSError):
                break
            if kind != wire.JSON:
                break
            reply = {"reply_to": message.get("id")}
            tenant = str(message.get("tenant", "-"))
            upstream = None
            try:
                upstream = self.connect(tenant, str(message["host"]), int(message["port"]))
                mine, theirs = socket.socketpair(stdlib_socket.AF_UNIX, stdlib_socket.SOCK_STREAM)
            except Refused as exc:
                self.count(tenant, "refused")
                wire.send_json(conn, reply | {"error": str(exc), "status": exc.status})
                continue
            except (KeyError, TypeError, ValueError, OverflowError) as exc:
                wire.send_json(conn, reply | {"error": f"bad request: {exc}", "status": 400})
                continue
            except OSError as exc:
                # Out of descriptors or memory: this request fails, the
                # serving process's connection (its only one) serves on.
                if upstream is not None:
                    upstream.close()
                wire.send_json(conn, reply | {"error": f"the proxy cannot connect now: {exc}",
                                              "status": 503})
                continue
            try:
                wire.send_fds(conn, reply | {"ok": True}, [theirs.fileno()])
            except OSError:
                mine.close()
                upstream.close()
                break
            finally:
                theirs.close()
            self.count(tenant, "allowed")
            gevent.spawn(self.relay, tenant, mine, upstream,
                         self.lifetime(tenant, message.get("timeout")))
        conn.close()

    def _proven(self, conn) -> bool:
        """Whether the first message on a unix connection proves a serving
        process (:func:`~muxserver.egress.policy.serving_proof`). Anything
        else that reached the socket — a process tenant past the kernel's
        filters — is logged and dropped before it can name a tenant."""
        import hmac

        from muxserver.egress.policy import serving_proof
        from muxserver.proctier import wire

        try:
            kind, message = wire.receive(conn)
        except (wire.WireClosed, OSError):
            return False
        proof = message.get("proof") if kind == wire.JSON and isinstance(message, dict) else None
        if isinstance(proof, str) and hmac.compare_digest(proof, serving_proof(self.key)):
            return True
        log.warning("egress: a connection on the unix socket without a serving process's "
                    "proof was dropped")
        self.count("-", "unproven")
        return False

    # -- the supervisor --------------------------------------------------------------

    def handle_control(self, sock) -> None:
        """Rules in, counters out (every second), until the supervisor goes."""
        import gevent

        from muxserver.egress.policy import Policy
        from muxserver.egress.policy import read_tenant_groups
        from muxserver.proctier import wire

        def report():
            while True:
                gevent.sleep(1.0)
                try:
                    wire.send_json(sock, {"op": "stats", "stats": self.snapshot()})
                except OSError:
                    return

        reporter = gevent.spawn(report)
        try:
            while True:
                kind, message = wire.receive(sock)
                if kind == wire.JSON and message.get("op") == "policy":
                    allowed, walls = read_tenant_groups(message["groups"])
                    self.policy = Policy(allowed, tuple(message["operator_allow"]),
                                         tuple(message["private"]),
                                         (*message.get("own_ports", ()), self.port))
                    self.walls = walls
                    wire.send_json(sock, {"op": "policy-applied", "id": message.get("id")})
        except (wire.WireClosed, OSError):
            pass
        finally:
            reporter.kill()
            os._exit(0)  # the supervisor is gone


def _read_head(sock) -> tuple[bytes, bytes]:
    """The request's head, and the bytes of its body read with it."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise ValueError("the client closed before its request's head ended")
        data += chunk
        if len(data) > MAX_HEAD:
            raise ValueError("request head too long")
    head, rest = data.split(b"\r\n\r\n", 1)
    return head, rest


def _refuse(client, reason: str) -> None:
    """A line that is not a status line, so the client's library raises its
    own connection error quoting it."""
    text = " ".join(reason.split())[:400]
    try:
        client.sendall(f"muxserver egress refused: {text}\r\n".encode("utf-8", "replace"))
    except OSError:
        pass
    client.close()


def run(argv: list[str]) -> None:
    """Entry point: ``--control-fd N --key-fd M --socket PATH``."""
    from gevent import monkey

    monkey.patch_all()
    import resource

    from gevent.server import StreamServer
    from gevent import socket

    control = socket.socket(fileno=int(argv[argv.index("--control-fd") + 1]))
    with os.fdopen(int(argv[argv.index("--key-fd") + 1]), "rb") as f:
        key = f.read()
    path = argv[argv.index("--socket") + 1]
    proxy = Proxy(key)
    # Every tenant's connections share this process's descriptors: as many
    # as the server may have (the hard limit), a share for unread heads.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    proxy.max_pending = max(16, min(soft, 1 << 20) // PENDING_SHARE)
    tcp = StreamServer(("127.0.0.1", 0), proxy.handle_tcp)
    tcp.start()
    proxy.port = tcp.server_port
    if os.path.exists(path):
        os.unlink(path)
    unix_listener = socket.socket(stdlib_socket.AF_UNIX, stdlib_socket.SOCK_STREAM)
    unix_listener.bind(path)
    os.chmod(path, 0o600)
    unix_listener.listen(128)
    unix = StreamServer(unix_listener, proxy.handle_unix)
    unix.start()
    from muxserver.proctier import wire

    wire.send_json(control, {"op": "ready", "port": tcp.server_port})
    proxy.handle_control(control)
    sys.exit(0)

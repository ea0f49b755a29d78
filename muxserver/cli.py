"""The ``muxserver`` command. The only module that exits the process.

gevent's monkey-patching runs before anything else imports ``threading``,
``socket`` or ``time``: a lock created before patching would block the
whole hub (STYLE hazard 3).
"""

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from muxserver import __version__  # noqa: E402
from muxserver.config import ConfigError  # noqa: E402
from muxserver.config import add_arguments  # noqa: E402
from muxserver.config import from_args  # noqa: E402
from muxserver.ops.logs import setup_logging  # noqa: E402

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_USAGE = 2
EXIT_STARTUP_FAILURE = 3

log = logging.getLogger("muxserver")

COMMANDS = ("check", "routes", "deploy", "nginx-conf", "data", "flask", "serve")


def _serve_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="muxserver",
        description="Host many tenants' Python HTTP functions in one gevent process.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(
            "other commands (each has --help):\n"
            "  muxserver check DIR               compile and register every tenant\n"
            "  muxserver routes DIR              the merged route table\n"
            "  muxserver deploy SRC --tenant NAME (--tenants-dir DIR | --url ADMIN_URL)\n"
            "  muxserver nginx-conf --node HOST:PORT ...\n"
            "  muxserver data export|import TENANT FILE --data-dir DIR\n"
            "  muxserver flask [--tenants-dir DIR] TENANT COMMAND [ARGS...]"
        ),
    )
    parser.add_argument("--version", action="version", version=f"muxserver {__version__}")
    add_arguments(parser)
    return parser


def _tool_config(directory: str | None, cache_dir: str | None, config_file: str | None,
                 data_dir: str | None = None):
    """The server's settings for a tool command: ``--config FILE`` (so tenants
    are judged by the server's rules: ``[hosts]``, ``[max_limits]``,
    ``extra_modules``), with the command's own arguments on top."""
    from muxserver.config import Config
    from muxserver.config import read_config_file

    values = read_config_file(Path(config_file)) if config_file else {}
    for name in ("host", "port", "workers"):
        values.pop(name, None)
    if directory is not None:
        values["tenants_dir"] = directory
    if cache_dir is not None:
        values["cache_dir"] = cache_dir
    if data_dir is not None:
        values["data_dir"] = data_dir
    values["watch"] = False
    return Config.build(values)


def _scan_dir(directory: str | None, cache_dir: str | None, config_file: str | None = None):
    """Scan a tenants dir the way the server would; no tenant code runs."""
    from muxserver.app import MuxApp

    app = MuxApp(_tool_config(directory, cache_dir, config_file), scan=False)
    # The command prints each tenant's errors itself: the registry's log
    # line for each (a server's operator reads it) would say them twice.
    logging.getLogger("muxserver.registry").setLevel(logging.CRITICAL)
    # requirements.txt is read and checked; installing it is the server's deploy.
    app.registry.install_sites = False
    app.registry.rescan()
    return app


def _add_tool_arguments(parser: argparse.ArgumentParser, directory: bool = True) -> None:
    if directory:
        parser.add_argument("directory", nargs="?", default=None,
                            help="the tenants dir (default: tenants_dir of --config)")
    parser.add_argument("--cache-dir", default=None, help="code cache to use and fill")
    parser.add_argument("--config", default=None, metavar="FILE",
                        help="the server's config file, so tenants are judged by its rules")


def cmd_check(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="muxserver check",
        description="Compile and register every tenant; exit 1 with file:line on errors.",
    )
    _add_tool_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    app = _scan_dir(args.directory, args.cache_dir, args.config)
    registry = app.registry
    errors = [e for error in registry.deploy_errors.values() for e in error.errors]
    # Problems in modules no request reaches (test files, setup.py): said, not fatal.
    module_warnings = [w for state in registry.tenants.values() for w in state.spec.warnings]
    if args.json:
        print(json.dumps({
            "tenants": sorted(registry.tenants),
            "routes": len(registry.route_table()),
            "errors": errors,
            "warnings": registry.warnings + module_warnings,
        }, indent=1))
    else:
        for warning in registry.warnings + module_warnings:
            print(f"warning: {warning}", file=sys.stderr)
        for error in errors:
            print(error)
        status = "FAILED" if errors else "ok"
        print(
            f"{status}: {len(registry.tenants) + len(registry.deploy_errors)} tenants, "
            f"{len(registry.route_table())} routes, {len(errors)} errors",
            file=sys.stderr,
        )
    return EXIT_CHECK_FAILED if errors else EXIT_OK


def cmd_routes(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="muxserver routes", description="Print the merged route table.")
    _add_tool_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print the table as JSON")
    args = parser.parse_args(argv)
    app = _scan_dir(args.directory, args.cache_dir, args.config)
    rows = app.registry.route_table()
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        table = [("TENANT", "METHODS", "PATH", "ENDPOINT", "FILE")]
        table += [(row["tenant"], ",".join(row["methods"]), row["path"], row["endpoint"],
                   f"{row['file']}:{row['line']}") for row in rows]
        widths = [max(len(cells[i]) for cells in table) for i in range(4)]
        try:
            for cells in table:
                print("  ".join(cell.ljust(width) for cell, width in zip(cells, widths)),
                      cells[4])
            sys.stdout.flush()
        except BrokenPipeError:  # `muxserver routes DIR | head`
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return EXIT_OK
    for line in app.registry.error_list():
        print(f"error: {line}", file=sys.stderr)
    return EXIT_CHECK_FAILED if app.registry.deploy_errors else EXIT_OK


def cmd_deploy(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="muxserver deploy",
        description="Validate SRC with the sandbox, then make it tenant NAME's live version: "
                    "atomically in a tenants dir, or over HTTP on every node given with --url.",
    )
    parser.add_argument("source", help="folder with the tenant's files")
    parser.add_argument("--tenant", required=True, help="tenant name")
    parser.add_argument("--tenants-dir", default=None,
                        help="the live tenants dir (default: tenants_dir of --config)")
    parser.add_argument("--url", action="append", default=[], metavar="http://NODE:ADMIN_PORT",
                        help="deploy over HTTP to this node's admin listener (--admin-listen; "
                             "repeat for each node of a fleet)")
    parser.add_argument("--admin-token", "--token", dest="token", default=None,
                        help="the node's admin token or the tenant's deploy token "
                             "(default: $MUX_DEPLOY_TOKEN)")
    _add_tool_arguments(parser, directory=False)
    args = parser.parse_args(argv)
    if args.url:
        return _deploy_http(args)
    import tempfile

    from muxserver.errors import DeployRefused
    from muxserver.tenancy.deploy import deploy
    from muxserver.trial import run_trial

    config = _tool_config(args.tenants_dir, args.cache_dir, args.config)
    try:
        with tempfile.TemporaryDirectory(prefix="muxserver-deploy-") as scratch:
            def health_check(spec):
                # Quiet: the errors it returns are printed below, once.
                return run_trial(config, spec, tempdir=scratch, quiet=True)

            result = deploy(Path(args.source), args.tenant, config.tenants_dir,
                            cache_dir=config.code_cache_dir, rules=config.tenant_rules,
                            extra_modules=frozenset(config.extra_modules),
                            health_check=health_check)
    except DeployRefused as exc:
        print(f"deploy refused: {exc.reason}", file=sys.stderr)
        for error in exc.errors:
            print(error)
        return EXIT_CHECK_FAILED
    print(f"deployed {args.tenant}: {result['routes']} routes, version {result['version'][:12]}")
    print(f"a server watching {config.tenants_dir} serves it after its own health check "
          "(about a second); deploy with --url to wait until it does", file=sys.stderr)
    return EXIT_OK


def _deploy_http(args) -> int:
    """PUT the folder as a tar.gz to each node; exit 1 if any refused it."""
    import io
    import urllib.error
    import urllib.request

    from muxserver.tenancy.archive import pack_folder

    source = Path(args.source)
    if not source.is_dir():
        print(f"deploy refused: {source} is not a directory", file=sys.stderr)
        return EXIT_CHECK_FAILED
    buffer = io.BytesIO()
    pack_folder(str(source), buffer, skip_dirs=(".git", "__pycache__"))
    token = args.token or os.environ.get("MUX_DEPLOY_TOKEN")
    failed = 0
    for url in args.url:
        request = urllib.request.Request(
            f"{url.rstrip('/')}/_mux/tenants/{args.tenant}", data=buffer.getvalue(), method="PUT",
            headers={"Content-Type": "application/gzip",
                     **({"Authorization": f"Bearer {token}"} if token else {})})
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                body = json.loads(response.read() or b"{}")
            print(f"{url}: deployed {args.tenant} version {body.get('version')} "
                  f"({body.get('routes', '?')} routes)")
        except urllib.error.HTTPError as exc:
            failed += 1
            raw = exc.read()
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                # Not the admin API's JSON: say what did answer (the tenants'
                # port says the admin API has a listener of its own).
                body = {"error": raw.decode("utf-8", "replace").strip()[:300] or exc.reason}
            print(f"{url}: deploy refused ({exc.code}): {body.get('error', exc.reason)}",
                  file=sys.stderr)
            for error in body.get("errors", ()):
                print(error)
        except (urllib.error.URLError, OSError) as exc:
            failed += 1
            print(f"{url}: cannot deploy: {exc}", file=sys.stderr)
    return EXIT_CHECK_FAILED if failed else EXIT_OK


def cmd_nginx_conf(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="muxserver nginx-conf",
        description="Print an nginx configuration for a fleet: each tenant on one node, "
                    "by a consistent hash of its name.",
    )
    parser.add_argument("--node", action="append", default=[], metavar="HOST:PORT",
                        help="a muxserver node (repeat for each)")
    parser.add_argument("--group", action="append", default=[],
                        metavar="NAME=TENANT,...:HOST:PORT,...",
                        help="a trust group: these tenants go to these nodes only")
    parser.add_argument("--listen", default="80", help="what nginx listens on (default 80)")
    parser.add_argument("--fail-timeout", type=int, default=10, metavar="S",
                        help="seconds a node that failed is left out (default 10)")
    parser.add_argument("--config", default=None, metavar="FILE",
                        help="the nodes' config file: its base_domain and [hosts] route by Host; "
                             "its fleet_nodes and fleet_groups stand for --node and --group")
    args = parser.parse_args(argv)
    from muxserver.config import read_config_file
    from muxserver.fleet import nginx_conf
    from muxserver.fleet import parse_group
    from muxserver.fleet import parse_node

    values = read_config_file(Path(args.config)) if args.config else {}
    hosts = {}
    if values.get("hosts"):
        from muxserver.config import host_table

        hosts = dict(host_table(values["hosts"]))
    nodes = args.node or list(values.get("fleet_nodes", ()))
    groups = args.group or list(values.get("fleet_groups", ()))
    print(nginx_conf([parse_node(n) for n in nodes], [parse_group(g) for g in groups],
                     args.listen, values.get("base_domain"), hosts, args.fail_timeout), end="")
    return EXIT_OK


def cmd_data(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="muxserver data",
        description="Move a tenant's data (databases, files, key-value store): export makes a "
                    "consistent copy while the server runs; import replaces the tenant's data.",
    )
    parser.add_argument("action", choices=("export", "import"))
    parser.add_argument("tenant", help="tenant name")
    parser.add_argument("file", help="the tar.gz to write (export) or read (import)")
    parser.add_argument("--data-dir", default=None,
                        help="the tenants' data (default: data_dir of --config, or .muxdata "
                             "beside --tenants-dir)")
    parser.add_argument("--tenants-dir", default=None, help="to find the default data dir")
    parser.add_argument("--config", default=None, metavar="FILE", help="the server's config file")
    args = parser.parse_args(argv)
    from muxserver.config import read_config_file
    from muxserver.tenancy.archive import ArchiveRefused
    from muxserver.tenancy.data import DataError
    from muxserver.tenancy.data import export_data
    from muxserver.tenancy.data import import_data

    if args.data_dir is not None:
        state_dir = Path(args.data_dir)
    else:
        values = read_config_file(Path(args.config)) if args.config else {}
        if args.tenants_dir is None and values.get("data_dir") is None and "tenants_dir" not in values:
            print("muxserver data: give --data-dir (or --tenants-dir or --config)", file=sys.stderr)
            return EXIT_USAGE
        state_dir = _tool_config(args.tenants_dir, None, args.config).state_dir
    try:
        if args.action == "export":
            counts = export_data(state_dir, args.tenant, args.file)
            print(f"exported {args.tenant}: {counts['databases']} databases, {counts['bytes']} bytes "
                  f"-> {args.file}")
        else:
            counts = import_data(state_dir, args.tenant, args.file)
            print(f"imported {args.tenant}: {counts['files']} files, {counts['bytes']} bytes; if the "
                  f"server runs, evict the tenant now (POST /_mux/evict "
                  f'{{"tenant": "{args.tenant}"}}) so its open connections reopen')
    except (DataError, ArchiveRefused, OSError) as exc:
        print(f"muxserver data: {exc}", file=sys.stderr)
        return EXIT_CHECK_FAILED
    return EXIT_OK


def cmd_flask(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="muxserver flask",
        description="Run a tenant's own command (@app.cli.command, @click.command: the Flask "
                    "tutorial's init-db) in the sandbox, under its limits, against its /data. "
                    "Options go before TENANT; everything after it is the command's.",
    )
    parser.add_argument("tenant", help="tenant name")
    parser.add_argument("args", nargs=argparse.REMAINDER,
                        help="the command and its arguments (none, or --help: list them)")
    parser.add_argument("--tenants-dir", default=None,
                        help="the tenants dir (default: tenants_dir of --config)")
    parser.add_argument("--data-dir", default=None,
                        help="the tenants' data (default: data_dir of --config, or .muxdata "
                             "beside the tenants dir)")
    _add_tool_arguments(parser, directory=False)
    args = parser.parse_args(argv)
    from muxserver import isolation
    from muxserver.app import MuxApp
    from muxserver.flask_command import run_command

    import shutil

    from muxserver import serverdir
    from muxserver.errors import ConfigError as IsolationRefused

    config = _tool_config(args.tenants_dir, args.cache_dir, args.config, args.data_dir)
    app = MuxApp(config, scan=False)
    app.registry.rescan_tenant(args.tenant)
    app.session_key  # read the server secret now: the process layer hides it next
    tempdir = serverdir.private_tempdir(config, "flask-command")
    try:
        # Tenant code runs here: the same process layer as a serving process.
        try:
            report = isolation.lock_down(config, tempdir)
        except IsolationRefused as exc:
            print(f"muxserver flask: {exc}", file=sys.stderr)
            return EXIT_USAGE
        app.isolation = report.describe()
        return run_command(app, args.tenant, args.args)
    finally:
        shutil.rmtree(tempdir, ignore_errors=True)


def _listener(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


def cmd_serve(argv: list[str]) -> int:
    """Validate the settings and re-execute as the serving process
    (:mod:`muxserver.launch`); in that process, serve."""
    from muxserver import isolation
    from muxserver import launch

    if argv[:1] == [launch.SERVE_FLAG]:
        config, _ = launch.read_config_fd(int(argv[1]))
        link = argv[3] if argv[2:3] == [launch.TENANTS_LINK_FLAG] else None
        return supervise(config, tenants_link=link)
    args = _serve_parser().parse_args(argv)
    try:
        config = from_args(args)
    except ConfigError as exc:
        print(f"muxserver: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    reason = isolation.require_or_exit_reason(config.isolation)
    if reason:
        print(f"muxserver: error: {reason}", file=sys.stderr)
        return EXIT_USAGE
    try:
        config = _start_replicator(config)
    except ConfigError as exc:
        print(f"muxserver: error: {exc}", file=sys.stderr)
        return EXIT_STARTUP_FAILURE
    launch.relaunch(config)
    return EXIT_STARTUP_FAILURE  # not reached: relaunch replaces the process


def _start_replicator(config):
    """With ``--replica``: start the replication agent here, where the
    operator's environment (S3 credentials) still is — the serving process
    is re-executed without it — and tell the serving process its socket.
    The agent outlives the re-exec (same process) and ends with it."""
    import dataclasses

    from muxserver.replication.agent import start_replicator

    handle = start_replicator(config)
    if handle is None:
        return config
    return dataclasses.replace(config, replica_socket=handle.socket_path)


def supervise(config, tenants_link: str | None = None) -> int:
    """The supervisor: bind both listeners, then supervise the serving processes.

    :param tenants_link: ``--tenants-dir`` as given, when a symbolic link led
        to the folder served (watched: :meth:`Supervisor.watch_tenants_link`).
    """
    from muxserver.errors import HaltServer
    from muxserver.supervisor.logpipe import guard_log_file
    from muxserver.supervisor.supervisor import Supervisor

    # Before any process starts: none but this one may hold a log file.
    guard_log_file()
    setup_logging(config.log_format, access=config.access_log)
    sockets = []
    for what, (host, port) in (("tenants", (config.host, config.port)),
                               ("the admin API", config.admin_address)):
        try:
            sockets.append(_listener(host, port))
        except OSError as exc:
            print(f"muxserver: cannot listen for {what} on {host}:{port}: {exc.strerror}"
                  + (" (set --admin-listen HOST:PORT)" if what != "tenants" else ""),
                  file=sys.stderr)
            return EXIT_STARTUP_FAILURE
    listener, admin = sockets
    host, port = listener.getsockname()[:2]
    admin_host, admin_port = admin.getsockname()[:2]
    try:
        # First the server dir is claimed (a second server on it is refused
        # here): only then does this one say it listens.
        supervisor = Supervisor(config, listener, admin)
        log.info("muxserver listening on http://%s:%d (tenants: %s); admin on http://%s:%d/_mux/",
                 host, port, config.tenants_dir, admin_host, admin_port)
        supervisor.tenants_link = tenants_link
        return supervisor.run()
    except HaltServer as exc:
        log.critical("%s", exc.reason)
        return exc.status


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv and argv[0] in COMMANDS else "serve"
    if argv and argv[0] in COMMANDS:
        argv = argv[1:]
    try:
        if command == "check":
            return cmd_check(argv)
        if command == "routes":
            return cmd_routes(argv)
        if command == "deploy":
            return cmd_deploy(argv)
        if command == "nginx-conf":
            return cmd_nginx_conf(argv)
        if command == "data":
            return cmd_data(argv)
        if command == "flask":
            return cmd_flask(argv)
        return cmd_serve(argv)
    except ConfigError as exc:
        print(f"muxserver: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


def run(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    sys.exit(main(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    run()

"""Settings: declared once, read from flags and a TOML file, validated once.

Every setting is one :class:`Setting` row: name, type, default, flag, help.
``argparse`` and ``--help`` are derived from :data:`SETTINGS`; ``--config
FILE`` reads the same names (with ``_`` or ``-``) from TOML, and flags win.
Per-tenant limits (``tenant.toml [limits]``) overlay :class:`Limits` defaults.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from muxserver.errors import ConfigError
from muxserver.isolation.secrets import TokenHash
from muxserver.proctier.taskcap import DEFAULT_MAX_TASKS


@dataclass(frozen=True)
class Limits:
    """What one request of a tenant may use."""

    cpu_ms: int = 1000
    wall_s: float = 30.0
    memory_mb: int = 128
    concurrency: int = 50
    storage_mb: int = 100

    #: name -> (type, minimum, maximum)
    BOUNDS = {
        "cpu_ms": (int, 1, 3_600_000),
        "wall_s": (float, 0.001, 86_400.0),
        "memory_mb": (int, 1, 1_048_576),
        "concurrency": (int, 1, 1_000_000),
        "storage_mb": (int, 1, 10_485_760),
    }

    def overlay(self, values: dict[str, Any], where: str) -> "Limits":
        """These limits with ``values`` (from a TOML table) on top.

        :raises ConfigError: on an unknown key or a bad value, naming both.
        """
        changes = {}
        for key, value in values.items():
            if key not in self.BOUNDS:
                raise ConfigError(
                    f"{where}: unknown limit {key!r}; known: {', '.join(self.BOUNDS)}"
                )
            kind, low, high = self.BOUNDS[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"{where}: limit {key!r} must be a number, not {value!r}")
            if kind is int and not isinstance(value, int):
                raise ConfigError(f"{where}: limit {key!r} must be a whole number")
            if not low <= value <= high:
                raise ConfigError(f"{where}: limit {key!r}={value} is outside {low}..{high}")
            changes[key] = kind(value)
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class Setting:
    name: str
    type: type
    default: Any
    help: str
    flag: str | None = None  # defaults to --name-with-dashes
    choices: tuple | None = None
    invert_flag: str | None = None  # a --no-x flag that sets False
    metavar: str | None = None


SETTINGS: tuple[Setting, ...] = (
    Setting("tenants_dir", Path, None, "directory holding one folder per tenant (required)", metavar="DIR"),
    Setting("host", str, "127.0.0.1", "address to listen on", metavar="HOST"),
    Setting("port", int, 8080, "port to listen on (0 picks a free one)", metavar="PORT"),
    Setting("workers", int, 1, "worker processes serving the one port", metavar="N"),
    Setting("base_domain", str, None, "route Host: <tenant>.<base-domain> to that tenant", metavar="D"),
    Setting("idle_ttl", float, 300.0, "seconds a module may stay unused before eviction", metavar="S"),
    Setting("memory_limit", int, None, "process RSS in MB above which LRU modules are evicted (also before a cold start); a request taking the process 20 % past it is stopped", metavar="MB"),
    Setting("cache_dir", Path, None, "compiled-code cache (default: .muxcache beside the tenants dir)", metavar="DIR"),
    Setting("max_body", float, 10.0, "largest request body in MB (413 above)", metavar="MB"),
    Setting("admin_token", str, None, "require 'Authorization: Bearer T' on /_mux/ from anywhere", metavar="T"),
    Setting("log_format", str, "text", "server log format", choices=("text", "json")),
    Setting("watch", bool, True, "watch the tenants dir and redeploy on change", invert_flag="--no-watch"),
    Setting("watch_poll", bool, False, "watch by polling every second instead of inotify (a tenants dir shared between hosts)"),
    Setting("debug", bool, False, "show tracebacks in 500 responses"),
    Setting("debounce_ms", int, 250, "quiet time after the last change before a redeploy", metavar="MS"),
    Setting("cpu_ms", int, 1000, "default CPU time per request, ms", metavar="MS"),
    Setting("wall_s", float, 30.0, "default wall time per request, s", metavar="S"),
    Setting("memory_mb", int, 128, "default memory one request may add, MB", metavar="MB"),
    Setting("concurrency", int, 50, "default requests in flight per tenant", metavar="N"),
    Setting("storage_mb", int, 100, "default storage per tenant (its databases, key-value store and /data), MB", metavar="MB"),
    Setting("extra_modules", list, (), "modules tenants may import beyond the built-in list (config file only)", flag=""),
    Setting("access_log", bool, True, "log one line per request", invert_flag="--no-access-log"),
    Setting("graceful_timeout", float, 30.0, "seconds SIGTERM waits for requests in flight", metavar="S"),
    Setting("worker_timeout", int, 30, "with --workers: seconds a stuck worker may go silent before it is replaced", metavar="S"),
    Setting("data_dir", Path, None, "the tenants' state (default: .muxdata beside the tenants dir)", metavar="DIR"),
    Setting("isolation", str, "best-effort", "the process layer: Landlock, seccomp, rlimits, a scrubbed environment; require refuses to start without all of it", choices=("require", "best-effort", "off")),
    Setting("module_path", list, (), "folders searched for extra_modules (config file only)", flag=""),
    Setting("max_limits", dict, {}, "[max_limits] table: the most a tenant.toml may ask for, per limit (config file only)", flag=""),
    Setting("hosts", dict, {}, "[hosts] table: tenant = [host names] it may serve, '*.' wildcards allowed (config file only)", flag=""),
    Setting("deploy_tokens", dict, {}, "[deploy_tokens] table: tenant = token (or {token, name}) that may deploy, list and roll back that tenant only (config file only)", flag=""),
    Setting("admin_listen", str, None, "HOST:PORT of the admin API and the console, never the tenants' port (default: --host and --port + 1)", metavar="HOST:PORT"),
    Setting("admin_hosts", list, (), "Host names the admin listener answers besides its own address, localhost and loopback addresses; others get 421 (config file only)", flag=""),
    Setting("server_dir", Path, None, "the supervisor's own files: deployed versions and live pointers (serving processes read them), the server secret (they never see it); one server at a time: a second one started on it is refused, naming the first one's pid (default: .muxserver beside the tenants dir)", metavar="DIR"),
    Setting("replica", str, None, "replicate every tenant's databases and key-value store continuously (Litestream) to file:///FOLDER or s3://BUCKET/PREFIX; a node restores a tenant from it before serving its data", metavar="URL"),
    Setting("fleet_nodes", list, (), "the fleet's nodes, HOST:PORT as nginx-conf --node takes them: with node_name, a tenant's data is served by its home node only unless --replica (config file only)", flag=""),
    Setting("fleet_groups", list, (), "the fleet's trust groups, NAME=TENANT,...:HOST:PORT,... as nginx-conf --group takes them (config file only)", flag=""),
    Setting("node_name", str, None, "this node as fleet_nodes (and nginx) name it", metavar="HOST:PORT"),
    Setting("process_tenants", list, (), "tenants that may set runtime = \"process\" in tenant.toml (full CPython in a process of their own); [\"*\"] for every tenant (config file only)", flag=""),
    Setting("process_max_tasks", int, DEFAULT_MAX_TASKS, "tasks (threads) one process-tier tenant process may hold, through a pids cgroup of its own (or RLIMIT_NPROC when not root) (config file only)", flag=""),
    Setting("egress", dict, {}, "[egress] table: allow = hosts tenants' outbound HTTP may reach ('*.' wildcards, [\"*\"] any), private = private or loopback addresses or networks it may reach all the same (config file only)", flag=""),
    Setting("replica_socket", str, None, "the replication agent's socket (set by the server itself; config file only)", flag=""),
)

#: The most a tenant.toml may ask for when the operator's config has no
#: ``[max_limits]`` (SPEC "tenant.toml"); a default set higher raises its cap.
DEFAULT_MAX_LIMITS = {"cpu_ms": 10_000, "wall_s": 300.0, "memory_mb": 1024,
                      "concurrency": 1000, "storage_mb": 10_240}

_BY_NAME = {s.name: s for s in SETTINGS}


class _ConfigMethods:
    """What a :class:`Config` derives from its settings."""

    @property
    def tenant_rules(self):
        """What tenants may ask for in tenant.toml (hosts, limit caps)."""
        from muxserver.tenancy.manifest import TenantRules

        return TenantRules(self.limits, self.max_limits, self.hosts,
                           tuple(self.process_tenants), tuple(self.egress.get("allow", ())))

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_body * 2**20)

    @property
    def state_dir(self) -> Path:
        """Where tenants' data folders live (``--data-dir``)."""
        if self.data_dir is not None:
            return self.data_dir
        return self.tenants_dir.resolve().parent / ".muxdata"

    @property
    def code_cache_dir(self) -> Path:
        if self.cache_dir is not None:
            return self.cache_dir
        return self.tenants_dir.resolve().parent / ".muxcache"

    @property
    def server_root(self) -> Path:
        """The supervisor's own folder (``--server-dir``)."""
        if self.server_dir is not None:
            return self.server_dir
        return self.tenants_dir.resolve().parent / ".muxserver"

    @property
    def versions_dir(self) -> Path:
        """Versions deployed over HTTP and their live pointers."""
        return self.server_root / "versions"

    @property
    def admin_address(self) -> tuple[str, int]:
        """``(host, port)`` of the admin listener."""
        if self.admin_listen:
            return parse_address(self.admin_listen, "admin_listen")
        return self.host, (self.port + 1 if self.port else 0)

    @classmethod
    def build(cls, values: dict[str, Any]):
        """Validate ``values`` (setting name -> value) into a Config.

        :raises ConfigError: naming the setting at fault.
        """
        clean: dict[str, Any] = {}
        for name, value in values.items():
            if value is None:
                continue
            setting = _BY_NAME.get(name)
            if setting is None:
                raise ConfigError(f"unknown setting {name!r}")
            clean[name] = _coerce(setting, value)
        if "tenants_dir" not in clean:
            raise ConfigError("tenants_dir is required (--tenants-dir DIR)")
        tenants_dir = clean["tenants_dir"]
        if not tenants_dir.is_dir():
            raise ConfigError(f"tenants_dir: {tenants_dir} is not a directory")
        for name in ("port",):
            if not 0 <= clean.get(name, 0) <= 65535:
                raise ConfigError(f"{name}: {clean[name]} is not a port number")
        for name in ("workers", "debounce_ms", "worker_timeout", "process_max_tasks"):
            if clean.get(name, 1) < (0 if name in ("debounce_ms", "worker_timeout") else 1):
                raise ConfigError(f"{name}: {clean[name]} is too small")
        for name in ("idle_ttl", "max_body", "graceful_timeout"):
            if clean.get(name, 1) <= 0:
                raise ConfigError(f"{name}: must be greater than 0")
        if clean.get("memory_limit") is not None and clean["memory_limit"] <= 0:
            raise ConfigError("memory_limit: must be greater than 0")
        limits = Limits().overlay(
            {k: clean[k] for k in Limits.BOUNDS if k in clean}, "limits"
        )
        clean["extra_modules"] = tuple(clean.get("extra_modules", ()))
        clean["module_path"] = tuple(str(Path(p).resolve()) for p in clean.get("module_path", ()))
        if isinstance(clean.get("admin_token"), str):
            # Kept only as a hash from here on (SPEC: threat model).
            if not clean["admin_token"]:
                raise ConfigError("admin_token: must not be empty")
            clean["admin_token"] = TokenHash.of(clean["admin_token"])
        clean["max_limits"] = _max_limits(clean.get("max_limits", {}), limits)
        clean["admin_hosts"] = tuple(h.lower().rstrip(".") for h in clean.get("admin_hosts", ()))
        if clean.get("admin_listen") is not None:
            parse_address(clean["admin_listen"], "admin_listen")
        clean["hosts"] = host_table(clean.get("hosts", {}))
        clean["process_tenants"] = tuple(clean.get("process_tenants", ()))
        clean["egress"] = egress_table(clean.get("egress", {}))
        clean["deploy_tokens"] = deploy_token_table(clean.get("deploy_tokens", {}))
        _check_fleet(clean)
        config = cls(limits=limits, **clean)
        _check_layout(config)
        return config



def _check_layout(config) -> None:
    """The one place that decides whether the folders may sit where they are.

    Serving processes read the tenants dir, the code cache, the server dir's
    versions, ``module_path`` and Python, and write the data dir. So:

    * the server dir holds what they must neither write nor read (the
      secret): never inside a folder they can (data, tenants, cache);
    * the data dir holds nothing another process runs or believes: it is
      neither inside nor around a folder whose files are run or trusted —
      the tenants dir (tenant source), the code cache (compiled code every
      process loads as is), the server dir (versions, live pointers, site
      folders, the secret), ``module_path`` (operator modules, run
      unsandboxed) and Python's own folders. Otherwise a process that broke
      the first layer writes code that another process, or the next start,
      runs (a cache entry of another tenant's file: ``tests/test_attacks_round16b.py``).
    """
    own = config.server_root.resolve()
    for name, folder in (("data_dir", config.state_dir), ("tenants_dir", config.tenants_dir),
                         ("cache_dir", config.code_cache_dir)):
        folder = Path(folder).resolve()
        if own == folder or folder in own.parents:
            raise ConfigError(f"server_dir: {own} is inside {name} ({folder}), which serving "
                              "processes can read or write; put it beside it")
    data = Path(config.state_dir).resolve()
    trusted = [("tenants_dir", config.tenants_dir), ("cache_dir", config.code_cache_dir),
               ("server_dir", own), *(("module_path", p) for p in config.module_path),
               *(("Python", p) for p in _python_folders())]
    for name, folder in trusted:
        folder = Path(folder).resolve()
        if data == folder or data in folder.parents or folder in data.parents:
            raise ConfigError(f"data_dir: {data} and {name} ({folder}) overlap: serving "
                              f"processes write the data dir, and what is in {name} is run or "
                              "trusted by other processes; put them beside each other")


def _python_folders() -> list[str]:
    """The folders of the Python installation the server runs."""
    import sysconfig

    paths = sysconfig.get_paths()
    return sorted({paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")
                   if paths.get(key)})


def _check_fleet(clean: dict) -> None:
    """``replica`` is a URL Litestream takes; ``node_name`` is one of
    ``fleet_nodes`` (and the groups' nodes); the groups parse."""
    from muxserver.fleet import Placement

    replica = clean.get("replica")
    if replica is not None and not replica.startswith(("file:///", "s3://")):
        raise ConfigError(f"replica: {replica!r} is not file:///FOLDER or s3://BUCKET/PREFIX")
    if clean.get("fleet_nodes") or clean.get("fleet_groups") or clean.get("node_name"):
        Placement.from_settings(clean.get("fleet_nodes", ()), clean.get("fleet_groups", ()),
                                clean.get("node_name"))


def _field(setting: Setting):
    default = setting.default
    if isinstance(default, (dict, list)):
        return dataclasses.field(default_factory=lambda: type(default)(default))
    return dataclasses.field(default=default)


#: The validated settings of one server, frozen once built: one field per
#: row of :data:`SETTINGS` (declared there once), plus the default
#: :class:`Limits` those rows make.
Config = dataclasses.make_dataclass(
    "Config",
    [(s.name, Any, _field(s)) for s in SETTINGS]
    + [("limits", Limits, dataclasses.field(default=Limits()))],
    bases=(_ConfigMethods,),
    frozen=True,
)
Config.__module__ = __name__
Config.__doc__ = "The validated settings of one server; frozen once built."


def parse_address(text: str, name: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6) as ``(host, port)``."""
    host, sep, port = str(text).rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"{name}: {text!r} is not HOST:PORT")
    return host, int(port)


def _max_limits(table: dict, defaults: Limits) -> MappingProxyType:
    """``[max_limits]``: same keys and bounds as ``[limits]``; the defaults
    must fit under the caps. Keys it does not set take
    :data:`DEFAULT_MAX_LIMITS` (or the default limit, if the operator set
    that higher)."""
    Limits().overlay(table, "max_limits")
    for key, cap in table.items():
        if getattr(defaults, key) > cap:
            raise ConfigError(f"max_limits: {key} = {cap} is below the default {key} = "
                              f"{getattr(defaults, key)}")
    caps = {key: max(cap, getattr(defaults, key)) for key, cap in DEFAULT_MAX_LIMITS.items()}
    caps.update(table)
    return MappingProxyType(caps)


def deploy_token_table(table: dict) -> MappingProxyType:
    """``[deploy_tokens]``: tenant -> ``(TokenHash, deployer name)``.

    A value is the token, ``{token = "...", name = "ci"}`` (the name shows in
    the deploy history), or what :func:`muxserver.launch` passes on:
    ``{hash = "scrypt$...", name = ...}``. Tokens are kept as hashes only.
    """
    from muxserver.tenancy.names import TENANT_NAME

    clean = {}
    for tenant, value in table.items():
        if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], TokenHash):
            clean[tenant] = value
            continue
        if not TENANT_NAME.match(str(tenant)):
            raise ConfigError(f"deploy_tokens: {tenant!r} is not a tenant name")
        name = f"token:{tenant}"
        if isinstance(value, dict):
            name = str(value.get("name") or name)
            if isinstance(value.get("hash"), str):
                clean[tenant] = (TokenHash.from_encoded(value["hash"]), name)
                continue
            value = value.get("token")
        if not isinstance(value, str) or len(value) < 16:
            raise ConfigError(f"deploy_tokens: the token of {tenant} must be a string of at "
                              "least 16 characters")
        clean[tenant] = (TokenHash.of(value), name)
    return MappingProxyType(clean)


def egress_table(table: dict) -> MappingProxyType:
    """``[egress]``: ``allow`` (host names, ``*.`` wildcards, ``"*"``) and
    ``private`` (addresses or networks the proxy may reach although they are
    private or loopback: ``"127.0.0.1"``, ``"10.0.0.0/8"``)."""
    import ipaddress

    from muxserver.tenancy.manifest import HOSTNAME

    clean = {}
    for key, value in table.items():
        if key not in ("allow", "private"):
            raise ConfigError(f"egress: unknown key {key!r}; known: allow, private")
        if isinstance(value, tuple):
            value = list(value)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"egress: {key} must be a list of strings")
        for item in value:
            if key == "private":
                try:
                    ipaddress.ip_network(item, strict=False)
                except ValueError:
                    raise ConfigError(f"egress: private {item!r} is not an address or "
                                      "network") from None
            elif item != "*":
                name = item.lower().rstrip(".")
                bare = name[2:] if name.startswith("*.") else name
                try:
                    ipaddress.ip_address(bare)
                except ValueError:
                    if not HOSTNAME.match(bare):
                        raise ConfigError(f"egress: allow {item!r} is not a host name") from None
        clean[key] = tuple(v.lower().rstrip(".") if key == "allow" else v for v in value)
    return MappingProxyType(clean)


def host_table(table: dict) -> MappingProxyType:
    """``[hosts]``: tenant -> host names; one name belongs to one tenant."""
    from muxserver.tenancy.manifest import HOSTNAME

    owners: dict[str, str] = {}
    clean = {}
    for tenant, names in table.items():
        if isinstance(names, str):
            names = [names]
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ConfigError(f"hosts: {tenant} must be a list of host names")
        lowered = []
        for name in names:
            host = name.lower().rstrip(".")
            if not HOSTNAME.match(host[2:] if host.startswith("*.") else host):
                raise ConfigError(f"hosts: {name!r} (tenant {tenant}) is not a valid host name")
            if host in owners and owners[host] != tenant:
                raise ConfigError(f"hosts: {name!r} is assigned to both {owners[host]} and {tenant}")
            owners[host] = tenant
            lowered.append(host)
        clean[tenant] = tuple(lowered)
    return MappingProxyType(clean)


def _coerce(setting: Setting, value: Any) -> Any:
    name = setting.name
    try:
        if setting.type is bool:
            if not isinstance(value, bool):
                raise ValueError("expected true or false")
            return value
        if setting.type is dict:
            if not isinstance(value, dict):
                raise ValueError("expected a table")
            return dict(value)
        if setting.type is list:
            if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
                raise ValueError("expected a list of strings")
            return tuple(value)
        if setting.type is Path:
            if not isinstance(value, (str, Path)):
                raise ValueError("expected a path")
            return Path(value)
        if setting.type is int:
            if isinstance(value, bool) or not isinstance(value, (int, str)):
                raise ValueError("expected a whole number")
            value = int(value)
        elif setting.type is float:
            if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                raise ValueError("expected a number")
            value = float(value)
        elif setting.type is str:
            if name == "admin_token" and isinstance(value, TokenHash):
                return value
            if not isinstance(value, str):
                raise ValueError("expected a string")
    except ValueError as exc:
        raise ConfigError(f"{name}: bad value {value!r}: {exc}") from None
    if setting.choices and value not in setting.choices:
        raise ConfigError(f"{name}: {value!r} is not one of {', '.join(setting.choices)}")
    return value


def read_config_file(path: Path) -> dict[str, Any]:
    """Read a TOML config file into setting name -> value.

    A ``[limits]`` table sets the default limits. Keys may use ``-`` or ``_``.

    :raises ConfigError: if the file is missing, not TOML, or names an
        unknown key.
    """
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"config file {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path}: {exc}") from None
    values: dict[str, Any] = {}
    for key, value in data.items():
        name = key.replace("-", "_")
        if name in ("max_limits", "hosts", "egress"):
            values[name] = value
            continue
        if name == "limits" and isinstance(value, dict):
            for limit_key, limit_value in value.items():
                limit_name = limit_key.replace("-", "_")
                if limit_name not in Limits.BOUNDS:
                    raise ConfigError(f"config file {path}: unknown key 'limits.{limit_key}'")
                values[limit_name] = limit_value
            continue
        if name not in _BY_NAME:
            raise ConfigError(f"config file {path}: unknown key {key!r}")
        values[name] = value
    for name, value in values.items():
        setting = _BY_NAME.get(name)
        if setting is not None and setting.type is Path and isinstance(value, str):
            # Relative paths in a config file are relative to the file.
            values[name] = str(Path(path).parent / value)
    return values


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add one flag per setting; defaults are None so the file can fill in."""
    for s in SETTINGS:
        if s.flag == "":
            continue
        default_text = "" if s.default in (None, ()) else f" (default: {s.default})"
        if s.type is bool:
            if s.invert_flag:
                parser.add_argument(
                    s.invert_flag, dest=s.name, action="store_const", const=False,
                    default=None, help=f"do not {s.help}".replace("%", "%%"),
                )
            else:
                parser.add_argument(
                    s.flag or "--" + s.name.replace("_", "-"), dest=s.name,
                    action="store_const", const=True, default=None, help=s.help.replace("%", "%%"),
                )
            continue
        parser.add_argument(
            s.flag or "--" + s.name.replace("_", "-"),
            dest=s.name,
            default=None,
            choices=s.choices,
            metavar=None if s.choices else (s.metavar or s.name.upper().split("_")[-1]),
            help=(s.help + default_text).replace("%", "%%"),
        )
    parser.add_argument("--config", dest="config", default=None, metavar="FILE",
                        help="TOML file with the same settings; flags win")


def from_args(args: argparse.Namespace) -> Config:
    """Build the Config from parsed flags and, if given, ``--config FILE``."""
    values: dict[str, Any] = {}
    if getattr(args, "config", None):
        values.update(read_config_file(Path(args.config)))
    for s in SETTINGS:
        flag_value = getattr(args, s.name, None)
        if flag_value is not None:
            values[s.name] = flag_value
    env_dir = os.environ.get("MUXSERVER_TENANTS_DIR")
    if "tenants_dir" not in values and env_dir:
        values["tenants_dir"] = env_dir
    return Config.build(values)


def settings_table() -> str:
    """The README's table of settings, made from :data:`SETTINGS`."""
    rows = ["| flag | config key | default | meaning |", "| --- | --- | --- | --- |"]
    for s in SETTINGS:
        if s.flag == "":
            flag = "(config file only)"
        elif s.type is bool:
            flag = f"`{s.invert_flag or s.flag or '--' + s.name.replace('_', '-')}`"
        else:
            metavar = "{" + ",".join(s.choices) + "}" if s.choices else (s.metavar or s.name.upper())
            flag = f"`{s.flag or '--' + s.name.replace('_', '-')} {metavar}`"
        default = "none" if s.default in (None, (), {}) else f"`{s.default}`"
        if s.type is bool and s.invert_flag:
            default = "on"
        elif s.type is bool:
            default = "off"
        rows.append(f"| {flag} | `{s.name}` | {default} | {s.help} |")
    rows.append("| `--config FILE` | | none | TOML file with these keys (`-` or `_`), "
                "`[limits]`, `[max_limits]` and `[hosts]` tables; flags win |")
    return "\n".join(rows)


def update_readme(path: Path) -> None:
    """Write :func:`settings_table` into the README between its markers."""
    text = path.read_text()
    start = text.index("\n", text.index("<!-- settings:")) + 1
    end = text.index("<!-- /settings -->")
    path.write_text(text[:start] + settings_table() + "\n" + text[end:])


if __name__ == "__main__":
    import sys

    if sys.argv[1:2] == ["--readme"]:
        update_readme(Path(sys.argv[2]))
    else:
        print(settings_table())

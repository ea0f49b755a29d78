"""``tenant.toml``: a tenant's host names, limits, environment and function form.

The tenant asks; the operator's rules (:class:`TenantRules`) decide. A limit
over the operator's ``[max_limits]`` cap, or a host name the operator's
``[hosts]`` table does not assign to this tenant, is a deploy error naming
the key, its line and the rule — so no tenant can give itself an hour of CPU
or take another tenant's name, and ``check`` and the live server judge alike.

Every error of the file is reported, each at the line of the key at fault.
"""

from __future__ import annotations

import copyreg

import re
import tomllib
from dataclasses import dataclass
from dataclasses import field
from types import MappingProxyType
from typing import Any
from typing import Mapping

from muxserver.config import Limits
from muxserver.errors import ConfigError

HOSTNAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")
_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_KNOWN = ("hosts", "limits", "env", "function", "runtime", "egress")
RUNTIMES = ("sandbox", "process")
_FUNCTION_KEYS = ("entrypoint", "form")
FUNCTION_FORMS = ("flask", "gcf", "openfaas", "openfaas-http", "nuclio", "vercel", "lambda",
                  "lambda-rest")
_TABLE = re.compile(r"^\s*\[\s*([A-Za-z0-9_.-]+)\s*\]")
_KEY = re.compile(r"""^\s*("[^"]*"|'[^']*'|[A-Za-z0-9_-]+)\s*=""")


class ManifestError(ConfigError):
    """``tenant.toml`` is wrong; :attr:`errors` holds every ``file:line: message``."""

    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors))
        self.errors = tuple(errors)


def host_matches(host: str, pattern: str) -> bool:
    """Whether ``host`` is ``pattern`` or, for ``*.example.test``, one name under it."""
    if pattern.startswith("*."):
        suffix = pattern[1:]
        return host.endswith(suffix) and len(host) > len(suffix)
    return host == pattern


@dataclass(frozen=True)
class TenantRules:
    """What the operator allows tenants (from the server's config).

    :param defaults: limits a tenant gets when it asks for none.
    :param max_limits: the most a tenant may ask for, per key.
    :param hosts: tenant -> host names (``*.`` wildcards allowed) it may serve.
    :param process_tenants: tenants that may use ``runtime = "process"``
        (``"*"``: every tenant).
    :param egress_allow: the hosts any tenant's ``[egress] allow`` may
        list (``*.`` wildcards; ``"*"``: any host).
    """

    defaults: Limits = field(default_factory=Limits)
    max_limits: Mapping[str, float] = field(default_factory=dict)
    hosts: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    process_tenants: tuple[str, ...] = ()
    egress_allow: tuple[str, ...] = ()

    def host_allowed(self, tenant: str, host: str) -> bool:
        return any(host == p or host_matches(host, p) for p in self.hosts.get(tenant, ()))

    def process_allowed(self, tenant: str) -> bool:
        return "*" in self.process_tenants or tenant in self.process_tenants

    def egress_allowed(self, pattern: str) -> bool:
        """Whether a tenant may list ``pattern``: it is inside one of the
        operator's patterns (``*.example.com`` covers ``a.example.com`` and
        ``*.a.example.com``)."""
        for cap in self.egress_allow:
            if cap == "*" or cap == pattern:
                return True
            if cap.startswith("*.") and (pattern.endswith(cap[1:]) and len(pattern) > len(cap) - 1):
                return True
        return False


@dataclass(frozen=True)
class Function:
    """``[function]``: another platform's entry point serving the whole tenant."""

    entrypoint: str
    form: str = "flask"

    @property
    def module(self) -> str:
        return self.entrypoint.rsplit(".", 1)[0]

    @property
    def name(self) -> str:
        return self.entrypoint.rsplit(".", 1)[1]


@dataclass(frozen=True)
class Manifest:
    """The parsed ``tenant.toml`` (all defaults when the file is absent)."""

    hosts: tuple[str, ...] = ()
    limits: Limits = field(default_factory=Limits)
    env: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    function: Function | None = None
    #: ``"sandbox"`` (the language layer, in a serving process) or ``"process"``.
    runtime: str = "sandbox"
    #: ``[egress] allow``: host names (``*.`` wildcards) its outbound HTTP may reach.
    egress: tuple[str, ...] = ()


def key_lines(text: str) -> dict[tuple[str, str | None], int]:
    """Where each key stands: ``(table, key) -> line`` (``(table, None)`` for
    the table's header). tomllib reports values, not positions."""
    lines: dict[tuple[str, str | None], int] = {}
    table = ""
    for number, line in enumerate(text.splitlines(), 1):
        header = _TABLE.match(line)
        if header:
            table = header.group(1)
            lines.setdefault((table, None), number)
            continue
        key = _KEY.match(line)
        if key:
            lines.setdefault((table, key.group(1).strip("\"'")), number)
    return lines


def parse_manifest(data: bytes, tenant: str, where: str, rules: TenantRules) -> Manifest:
    """Parse ``tenant.toml`` bytes under the operator's ``rules``.

    :param where: the file's name in errors (``acme/tenant.toml``).
    :raises ManifestError: with every ``where:line: message`` found.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ManifestError([f"{where}:{line}: tenant.toml is not valid UTF-8"]) from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        raise ManifestError([f"{where}:{match.group(1) if match else 1}: {exc}"]) from None
    lines = key_lines(text)
    errors: list[str] = []

    def error(table: str, key: str | None, message: str) -> None:
        line = lines.get((table, key)) or lines.get((table, None)) or 1
        errors.append(f"{where}:{line}: {message}")

    for key in doc:
        if key not in _KNOWN:
            error("", key, f"unknown key {key!r}; known keys: {', '.join(_KNOWN)}")
    hosts = _hosts(doc.get("hosts", []), tenant, rules, error)
    limits = _limits(doc.get("limits", {}), rules, error)
    env = _env(doc.get("env", {}), error)
    function = _function(doc.get("function"), error)
    runtime = _runtime(doc.get("runtime", "sandbox"), tenant, rules, error)
    egress = _egress(doc.get("egress", {}), rules, error)
    if errors:
        raise ManifestError(errors)
    return Manifest(hosts, limits, MappingProxyType(env), function, runtime, egress)


def _runtime(value, tenant: str, rules: TenantRules, error) -> str:
    if value not in RUNTIMES:
        error("", "runtime", f"runtime must be one of {', '.join(map(repr, RUNTIMES))}, "
                             f"not {value!r}")
        return "sandbox"
    if value == "process" and not rules.process_allowed(tenant):
        error("", "runtime", f'runtime = "process" is not allowed for tenant {tenant!r}: the '
                             "operator's process_tenants does not list it")
    return value


def _egress(table, rules: TenantRules, error) -> tuple[str, ...]:
    if not isinstance(table, dict):
        error("", "egress", "[egress] must be a table")
        return ()
    for key in table:
        if key != "allow":
            error("egress", key, f"unknown key {key!r} in [egress]; known: allow")
    allow = table.get("allow", [])
    if not isinstance(allow, list) or not all(isinstance(h, str) for h in allow):
        error("egress", "allow", "[egress] allow must be a list of host names")
        return ()
    clean = []
    for host in allow:
        name = host.lower().rstrip(".")
        bare = name[2:] if name.startswith("*.") else name
        if not HOSTNAME.match(bare) and not _is_address(bare):
            error("egress", "allow", f"{host!r} is not a host name (or *.domain)")
        elif not rules.egress_allowed(name):
            caps = ", ".join(rules.egress_allow) or "none"
            error("egress", "allow", f"host {host!r} is not within the operator's [egress] "
                                     f"allow (allowed: {caps})")
        else:
            clean.append(name)
    return tuple(clean)


def _is_address(text: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return False
    return True


def _hosts(value, tenant: str, rules: TenantRules, error) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(h, str) for h in value):
        error("", "hosts", "hosts must be a list of host names")
        return ()
    clean = []
    for host in value:
        name = host.lower().rstrip(".")
        bare = name[2:] if name.startswith("*.") else name
        if not HOSTNAME.match(bare):
            error("", "hosts", f"{host!r} is not a valid host name")
        elif not rules.host_allowed(tenant, name):
            assigned = ", ".join(rules.hosts.get(tenant, ())) or "none"
            error("", "hosts", f"host {host!r} is not assigned to tenant {tenant!r} by the "
                               f"operator's [hosts] (assigned: {assigned})")
        else:
            clean.append(name)
    return tuple(clean)


def _limits(table, rules: TenantRules, error) -> Limits:
    if not isinstance(table, dict):
        error("", "limits", "[limits] must be a table")
        return rules.defaults
    good = {}
    for key, value in table.items():
        try:
            rules.defaults.overlay({key: value}, "[limits]")
        except ConfigError as exc:
            error("limits", key, str(exc))
            continue
        cap = rules.max_limits.get(key)
        if cap is not None and value > cap:
            error("limits", key, f"[limits] {key} = {value} is over the operator's cap "
                                 f"[max_limits] {key} = {cap}")
            continue
        good[key] = value
    return rules.defaults.overlay(good, "[limits]")


def _env(table, error) -> dict:
    if not isinstance(table, dict):
        error("", "env", "[env] must be a table")
        return {}
    good = {}
    for key, value in table.items():
        if not _ENV_KEY.match(key):
            error("env", key, f"env key {key!r} is not a valid name")
        elif not isinstance(value, (str, int, float, bool)):
            error("env", key, f"env value of {key!r} must be a string, number or boolean")
        else:
            good[key] = value
    return good


def _function(table, error) -> Function | None:
    if table is None:
        return None
    if not isinstance(table, dict):
        error("", "function", "[function] must be a table")
        return None
    ok = True
    for key in table:
        if key not in _FUNCTION_KEYS:
            error("function", key, f"unknown key {key!r} in [function]; known: "
                                   f"{', '.join(_FUNCTION_KEYS)}")
            ok = False
    entrypoint = table.get("entrypoint")
    form = table.get("form", "flask")
    if form == "flask" and isinstance(entrypoint, str) and re.fullmatch(
            r"[A-Za-z_][A-Za-z0-9_]*", entrypoint):
        # Fission's environment reads a name without a module as a function
        # of main.py (``--entrypoint func`` is main.func).
        entrypoint = "main." + entrypoint
    if not isinstance(entrypoint, str) or not re.fullmatch(
            r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+", entrypoint or ""):
        error("function", "entrypoint",
              "[function] entrypoint must be 'module.function' (e.g. 'main.hello')")
        ok = False
    if form not in FUNCTION_FORMS:
        error("function", "form", f"[function] form {form!r} is not one of "
                                  f"{', '.join(FUNCTION_FORMS)}")
        ok = False
    return Function(entrypoint, form) if ok else None


def read_only(mapping: dict) -> MappingProxyType:
    return MappingProxyType(mapping)


# A registered version crosses to serving processes and trials as a pickle
# (from the supervisor); its manifest's [env] is a read-only mapping.
copyreg.pickle(MappingProxyType, lambda proxy: (read_only, (dict(proxy),)))

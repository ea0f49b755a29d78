"""``tenant.toml``: a tenant's extra host names, limits and environment."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from dataclasses import field
from types import MappingProxyType
from typing import Any
from typing import Mapping

from muxserver.config import Limits
from muxserver.errors import ConfigError

_HOSTNAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")
_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_KNOWN = ("hosts", "limits", "env")


@dataclass(frozen=True)
class Manifest:
    """The parsed ``tenant.toml`` (all defaults when the file is absent)."""

    hosts: tuple[str, ...] = ()
    limits: Limits = field(default_factory=Limits)
    env: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


def parse_manifest(data: bytes, where: str, defaults: Limits) -> Manifest:
    """Parse ``tenant.toml`` bytes; limits overlay ``defaults``.

    :raises ConfigError: ``"where:line: message"`` for anything wrong.
    """
    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{where}:1: tenant.toml is not valid UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        line = getattr(exc, "lineno", None)
        if line is None:
            match = re.search(r"line (\d+)", str(exc))
            line = int(match.group(1)) if match else 1
        raise ConfigError(f"{where}:{line}: {exc}") from None
    for key in doc:
        if key not in _KNOWN:
            raise ConfigError(f"{where}:1: unknown key {key!r}; known keys: {', '.join(_KNOWN)}")
    hosts = doc.get("hosts", [])
    if not isinstance(hosts, list) or not all(isinstance(h, str) for h in hosts):
        raise ConfigError(f"{where}:1: hosts must be a list of host names")
    clean_hosts = []
    for host in hosts:
        name = host.lower().rstrip(".")
        if not _HOSTNAME.match(name):
            raise ConfigError(f"{where}:1: {host!r} is not a valid host name")
        clean_hosts.append(name)
    limits_table = doc.get("limits", {})
    if not isinstance(limits_table, dict):
        raise ConfigError(f"{where}:1: [limits] must be a table")
    try:
        limits = defaults.overlay(limits_table, f"{where}:1: [limits]")
    except ConfigError:
        raise
    env = doc.get("env", {})
    if not isinstance(env, dict):
        raise ConfigError(f"{where}:1: [env] must be a table")
    for key, value in env.items():
        if not _ENV_KEY.match(key):
            raise ConfigError(f"{where}:1: env key {key!r} is not a valid name")
        if not isinstance(value, (str, int, float, bool)):
            raise ConfigError(f"{where}:1: env value of {key!r} must be a string, number or boolean")
    return Manifest(tuple(clean_hosts), limits, MappingProxyType(dict(env)))

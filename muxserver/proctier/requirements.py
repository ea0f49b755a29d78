"""``requirements.txt``: read at registration, installed by the supervisor.

A process tenant's ``requirements.txt`` is installed at deploy time with
pip, wheels only (``--only-binary :all:``: no ``setup.py``, no build
script of any package runs on the server), into a site folder of its own
under ``<server-dir>/sites/``, made read-only. The folder is named by a
hash of the requirements (and of the Python version): versions of a tenant
— or tenants — that ask for the same requirements share it. Each install
records what it installed, with each wheel's sha256, in ``INSTALLED.json``
beside the packages.

Only requirement specifiers are accepted (``name[extras] op version ;
marker``, with ``--hash=`` options): no URLs, local paths, ``-e``,
``-r``/``-c`` or index options — the operator's pip configuration says
where packages come from. The packages the zygote preloads (Flask and its
companions) are constrained to the versions the server runs, so a
requirement that contradicts them fails the install instead of being
silently shadowed.

A sandboxed tenant's ``requirements.txt`` is read too, never ignored:
requirements the sandbox provides (Flask, requests, PyYAML...) are
accepted; any other is a deploy error naming the line and the process tier.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from dataclasses import dataclass

from packaging.requirements import InvalidRequirement
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

log = logging.getLogger("muxserver.proctier")

FILE = "requirements.txt"
#: Distributions the sandbox provides (its facades or the tenant API).
SANDBOX_PROVIDES = frozenset({
    "flask", "werkzeug", "jinja2", "markupsafe", "itsdangerous", "click", "blinker",
    "requests", "pyyaml", "functions-framework", "gunicorn",
})
#: Seconds one install may take.
INSTALL_TIMEOUT_S = 600
#: The record of an install, inside the site folder.
RECORD = "INSTALLED.json"


@dataclass(frozen=True)
class Line:
    """One requirement: its text for pip, its name, and where it stands."""

    text: str
    name: str
    line: int


def read(data: bytes, where: str) -> tuple[list[Line], list[str]]:
    """The requirements of a ``requirements.txt`` and its errors (``where:line: ...``)."""
    errors: list[str] = []
    lines: list[Line] = []
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return [], [f"{where}:1: requirements.txt is not valid UTF-8"]
    logical, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        if not logical:
            start = number
        if raw.endswith("\\"):
            logical += raw[:-1] + " "
            continue
        logical += raw
        entry, logical = logical, ""
        _read_line(entry, start, where, lines, errors)
    if logical:
        _read_line(logical, start, where, lines, errors)
    return lines, errors


def _read_line(entry: str, number: int, where: str, lines: list, errors: list) -> None:
    content = entry.split(" #", 1)[0].strip()
    if content.startswith("#") or not content:
        return
    spec, *options = content.split(" --")
    spec = spec.strip()
    if spec.startswith("-"):
        errors.append(f"{where}:{number}: option {spec.split()[0]!r} is not allowed: packages "
                      "come from the server's package index, as wheels")
        return
    for option in options:
        if not option.startswith("hash="):
            errors.append(f"{where}:{number}: option --{option.split('=')[0]} is not allowed "
                          "(only --hash)")
            return
    try:
        requirement = Requirement(spec)
    except InvalidRequirement as exc:
        errors.append(f"{where}:{number}: not a requirement: {exc}")
        return
    if requirement.url:
        errors.append(f"{where}:{number}: {requirement.name}: URLs and paths are not allowed; "
                      "name a package of the package index")
        return
    hashes = " ".join("--" + o.strip() for o in options)
    lines.append(Line(f"{spec} {hashes}".strip(), canonicalize_name(requirement.name), number))


def sandbox_errors(lines: list[Line], where: str) -> list[str]:
    """A sandboxed tenant's requirements the sandbox cannot provide."""
    return [f"{where}:{line.line}: {line.name} cannot run in the sandbox (only its own "
            f"modules and {', '.join(sorted(SANDBOX_PROVIDES))}); set runtime = \"process\" "
            "in tenant.toml (the operator's process_tenants must list this tenant)"
            for line in lines if line.name not in SANDBOX_PROVIDES]


def site_key(lines: list[Line]) -> str:
    """The site folder's name: the requirements, Python's version and platform."""
    digest = hashlib.sha256()
    digest.update(f"{sys.implementation.cache_tag} {sys.platform} {os.uname().machine}\n".encode())
    for line in sorted(l.text for l in lines):
        digest.update(line.encode() + b"\n")
    return digest.hexdigest()[:32]


def _constraints() -> str:
    """The preloaded distributions at the versions the server runs."""
    from importlib import metadata

    from muxserver.proctier.zygote import PRELOADED_PACKAGES

    pins = []
    for name in PRELOADED_PACKAGES:
        try:
            pins.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pass
    return "\n".join(pins) + "\n"


class InstallError(Exception):
    """pip failed; ``str()`` is the end of its output."""


def install(lines: list[Line], sites_dir: str) -> str:
    """The site folder holding ``lines`` installed (made now, or shared).

    :raises InstallError: when pip fails.
    """
    folder = os.path.join(sites_dir, site_key(lines))
    if os.path.exists(os.path.join(folder, RECORD)):
        return folder
    os.makedirs(sites_dir, exist_ok=True)
    work = tempfile.mkdtemp(prefix=".install-", dir=sites_dir)
    try:
        target = os.path.join(work, "site")
        requirements = os.path.join(work, "requirements.txt")
        constraints = os.path.join(work, "constraints.txt")
        report = os.path.join(work, "report.json")
        with open(requirements, "w") as f:
            f.write("\n".join(line.text for line in lines) + "\n")
        with open(constraints, "w") as f:
            f.write(_constraints())
        command = [sys.executable, "-m", "pip", "install", "--only-binary", ":all:",
                   "--no-input", "--disable-pip-version-check", "--no-warn-script-location",
                   "--target", target, "-r", requirements, "-c", constraints,
                   "--report", report]
        if any("--hash" in line.text for line in lines):
            command.append("--require-hashes")
        result = subprocess.run(command, capture_output=True, text=True,
                                timeout=INSTALL_TIMEOUT_S, cwd=work)
        if result.returncode != 0:
            lines_out = [l for l in (result.stderr or result.stdout).splitlines()
                         if l.strip() and "is ignored: it is neither" not in l]
            raise InstallError("\n".join(lines_out[-12:]) or f"pip exited {result.returncode}")
        with open(report) as f:
            installed = json.load(f).get("install", [])
        record = {
            "requirements": [line.text for line in lines],
            "packages": [{"name": item["metadata"]["name"],
                          "version": item["metadata"]["version"],
                          "sha256": (item.get("download_info", {}).get("archive_info", {})
                                     .get("hashes", {}).get("sha256"))}
                         for item in installed],
        }
        with open(os.path.join(target, RECORD), "w") as f:
            json.dump(record, f, indent=1)
        try:
            os.rename(target, folder)
            _read_only(folder)
        except OSError:
            if not os.path.exists(os.path.join(folder, RECORD)):
                raise  # not a twin install that finished first
    except subprocess.TimeoutExpired:
        raise InstallError(f"pip did not finish within {INSTALL_TIMEOUT_S} s") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    log.info("installed %s into %s", ", ".join(l.name for l in lines), folder)
    return folder


def _read_only(folder: str) -> None:
    """Nothing in a site folder is writable (the tenants run it, none changes it)."""
    for root, dirs, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            if not os.path.islink(path):
                mode = os.stat(path).st_mode
                os.chmod(path, mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
        for name in dirs:
            path = os.path.join(root, name)
            os.chmod(path, 0o555)
    os.chmod(folder, 0o555)


def recorded(folder: str) -> dict:
    """What an install recorded (``INSTALLED.json``)."""
    with open(os.path.join(folder, RECORD)) as f:
        return json.load(f)

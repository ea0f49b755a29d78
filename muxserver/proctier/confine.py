"""The lock-down of a process tenant: stricter than a serving process's.

Applied in the tenant's process after the fork from the zygote and before
any of its code runs (:func:`confine`):

1. rlimits: address space (the zygote's at the fork, plus the tenant's
   ``memory_mb``), no core dumps, 1024 open files, one file at most
   ``storage_mb``; its tasks (threads) capped by the pids cgroup the zygote
   put it in, or else by RLIMIT_NPROC (:mod:`.taskcap`);
2. Landlock: read-only its ``/app`` (its version's folder), its site folder
   (its ``requirements.txt``), the standard library, the packages the
   zygote preloaded, the system's shared libraries and CA certificates;
   read-write its data folder only; TCP: no bind, connect to the egress
   proxy's port only; signals only inside itself;
3. seccomp: the serving process's filter, and further: sockets are TCP over
   IPv4/IPv6 only (no unix sockets: the server's own sockets live at paths),
   no re-limiting or re-prioritising anything but itself.

.. warning::
   A Landlock port rule holds for every address: the process could connect
   to the proxy's *port number* on another host. Where that matters, run
   the server in a network namespace that reaches nothing but what it
   needs (the README says how).
"""

from __future__ import annotations

import os
import resource
import sys
import sysconfig

from muxserver.isolation import landlock
from muxserver.isolation import seccomp

#: Files a process tenant may keep open.
MAX_OPEN_FILES = 1024
#: Folders of the system every process tenant may read (shared libraries a
#: C extension links, the CA certificates TLS verifies with).
SYSTEM_READ = ("/lib", "/lib64", "/usr/lib", "/usr/lib64", "/etc/ld.so.cache",
               "/etc/ssl/certs", "/usr/share/ca-certificates", "/usr/share/zoneinfo",
               "/dev/null", "/dev/urandom", "/dev/zero")


def address_space_bytes() -> int:
    """This process's address space now (``VmSize``)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def python_paths(preloaded: list[str]) -> list[str]:
    """The standard library and the folders of the preloaded packages."""
    paths = {sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib")}
    paths.update(p for p in sys.path if p and "lib-dynload" in p)
    paths.update(preloaded)
    return sorted(paths)


def confine(plan: dict, preloaded: list[str], mode: str, base_bytes: int | None = None,
            program: bytes | None = None) -> dict:
    """Apply the lock-down; return what is in force (and what is missing).

    :param plan: the tenant's paths, limits and proxy port.
    :param preloaded: what the tenant reads of Python: the standard library
        and the folders of the packages the zygote imported (:func:`python_paths`).
    :param mode: ``--isolation`` (``off`` applies the rlimits only).
    :param base_bytes: the address space the interpreter took before the
        tenant's code (the zygote measures it; read here when not given).
    :param program: the seccomp filter the zygote compiled once
        (:func:`muxserver.isolation.seccomp.tenant_program`); used where
        Landlock scopes signals (ABI 6), else the filter is built here.
    """
    applied = {"missing": []}
    limits = plan["limits"]
    room = (base_bytes or address_space_bytes()) + limits["memory_mb"] * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (room, room))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    files = min(MAX_OPEN_FILES, hard) if hard != resource.RLIM_INFINITY else MAX_OPEN_FILES
    resource.setrlimit(resource.RLIMIT_NOFILE, (files, files))
    size = limits["storage_mb"] * 2**20
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
    applied["address_space_bytes"] = room
    _cap_tasks(plan.get("task_cap"), applied)
    if mode == "off":
        return applied
    read = [plan["app_root"], *preloaded, *SYSTEM_READ]
    if plan.get("site"):
        read.append(plan["site"])
    ports = (plan["proxy_port"],) if plan.get("proxy_port") else ()
    try:
        done = landlock.restrict(read, [plan["data"]], connect_ports=ports)
        applied["landlock_abi"] = done.abi
        if done.abi < 4:
            applied["missing"].append("Landlock TCP rules (ABI 4)")
        if done.abi < 6:
            applied["missing"].append("Landlock scoped signals (ABI 6)")
    except OSError as exc:
        applied["missing"].append(f"Landlock: {exc}")
    try:
        if program and applied.get("landlock_abi", 0) >= 6:
            seccomp.load_program(program)
        else:
            seccomp.restrict(tenant_process=True)
        applied["seccomp"] = True
    except OSError as exc:
        applied["missing"].append(f"seccomp: {exc}")
    if mode == "require" and applied["missing"]:
        raise OSError("--isolation require: " + "; ".join(applied["missing"]))
    return applied


def _cap_tasks(cap: dict | None, applied: dict) -> None:
    """Apply (RLIMIT_NPROC) or report the task cap the zygote chose."""
    if not cap:
        applied["missing"].append("task cap (no writable pids cgroup, and root is not bound "
                                  "by RLIMIT_NPROC)")
        return
    if cap.get("kind") == "RLIMIT_NPROC":
        limit = int(cap["nproc"])
        resource.setrlimit(resource.RLIMIT_NPROC, (limit, limit))
    applied["task_cap"] = f"{cap.get('kind')}: {cap.get('max_tasks')} tasks"


def scrub_environment(plan: dict) -> None:
    """The tenant's ``[env]``, the proxy variables and a few of Python's own;
    nothing of the server's."""
    os.environ.clear()
    os.environ.update({k: str(v) for k, v in plan.get("env", {}).items()})
    os.environ.update({
        "HOME": plan["data"],
        "TMPDIR": plan["data"],
        "LANG": "C.UTF-8",
        # C libraries must not start a thread per core for one request.
        "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
    })
    if plan.get("proxy"):
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
            os.environ[name] = plan["proxy"]
        os.environ["NO_PROXY"] = os.environ["no_proxy"] = ""

"""muxserver beside PHP-FPM and Fission's Python environment, on one core each.

Question (issue 26): per core, is a warm hello world on muxserver at least
1.2x PHP-FPM + nginx and at least 1.0x Fission's Python environment on
bjoern; is muxserver's cold start (first request to a tenant never loaded,
code cache warm) no slower than PHP-FPM's first request to a new file; does
a warm hello tenant cost at most 8 KiB and a registered one at most 1 KiB?

Method: every server runs under ``taskset`` on core 0, the load generator
(``wrk -t1 -c8``, keep-alive) and this script on core 1; rounds are
interleaved (server A, B, C, then again) and the ratios are medians of the
per-round ratios. Beside the rate, each round reads the user and system CPU
of each server's whole process tree: CPU per request, and requests per
CPU-second as a second ratio (a server that leaves its core idle between
requests loses rate but not CPU). muxserver runs as users run it: the real ``muxserver``
command (its supervisor and one serving process, the process layer on as by
default, ``--log-format json`` with the access log on). The peers are set up
by :mod:`benchmarks._peers` (PHP-FPM + nginx with its access log on;
Fission's environment server recreated at run time, on bjoern).

Cold starts: the same keep-alive client asks muxserver for tenants it has
registered but never loaded and PHP-FPM for files it has never served,
interleaved, one request each. Fission's cold starts are a POST to
``/v2/specialize`` on a pooled process plus the first request (its warm
pool) and a new process to the first answer (no pool).

Memory: muxserver's serving process before and after warming N tenants
(per warm tenant), and the supervisor and serving process with N
registered tenants against a few (per registered tenant); PHP-FPM's
processes' PSS before and after serving N new files; a Fission
environment process's USS (one process per function).

``--baseline DIR`` also runs the muxserver of another checkout (its
``.venv``), to measure a change in the same run. ``--also-python PY``
also runs this checkout's muxserver on another interpreter (a venv's
``bin/python`` with muxserver installed) in the warm rounds: how much the
interpreter's build is worth, in the same run. The report names each
interpreter (``python``, ``also_python``): its version and whether it runs
on a shared ``libpython`` (an ``--enable-shared`` build: pyenv's default,
without profile-guided optimization) or a static one (Debian's
``python3.11``, built with PGO and LTO, as its PHP is).

Usage: ``python benchmarks/bench_peers.py [--quick] [--seconds S] [--baseline DIR]
[--also-python PY]``
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._peers import FissionEnv  # noqa: E402
from benchmarks._peers import PhpFpm  # noqa: E402
from benchmarks._peers import fission_server_kind  # noqa: E402
from benchmarks._peers import have_php  # noqa: E402
from benchmarks._peers import pin_client  # noqa: E402
from benchmarks._peers import pinned  # noqa: E402
from benchmarks._peers import unpin_client  # noqa: E402
from benchmarks._peers import write_function  # noqa: E402
from benchmarks._servers import PY  # noqa: E402
from benchmarks._servers import TENANT_HELLO  # noqa: E402
from benchmarks._servers import Proc  # noqa: E402
from benchmarks._servers import load  # noqa: E402
from benchmarks._servers import warm_up  # noqa: E402
from benchmarks._servers import percentile  # noqa: E402
from benchmarks._servers import serving_processes  # noqa: E402

MUX = "muxserver"
PHP = "php-fpm+nginx"
FISSION = "fission-python"
#: This muxserver on the interpreter ``--also-python`` names.
ALSO = "muxserver-also-python"


def _mux(tenants: Path, cache: Path, python: str = PY, cwd=None) -> Proc:
    """The real command, pinned, access log on (JSON), process layer as default."""
    return Proc(pinned([python, "-m", "muxserver", "--tenants-dir", str(tenants),
                        "--port", "{port}", "--admin-listen", "127.0.0.1:{admin_port}",
                        "--cache-dir", str(cache), "--no-watch", "--log-format", "json",
                        "--idle-ttl", "3600"]), "/w0/", cwd=cwd)


_FACTS = ("import json, platform; print(json.dumps({'version': platform.python_version(), "
          "'libpython': 'shared' if any('libpython' in line "
          "for line in open('/proc/self/maps')) else 'static'}))")


def interpreter(python: str) -> dict:
    """What ``python`` is: its version, and whether ``libpython`` is a
    shared library (calls between its own functions go through the PLT and
    are not inlined: measured here about 15-20 % more CPU a request)."""
    return json.loads(subprocess.run([python, "-c", _FACTS], capture_output=True, text=True,
                                     check=True).stdout)


def _tenants(root: Path, prefix: str, count: int) -> None:
    for i in range(count):
        folder = root / f"{prefix}{i}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "index.py").write_text(TENANT_HELLO)


class _Client:
    """One keep-alive connection; the time of each GET, client-side."""

    def __init__(self, url: str):
        host, port = url.split("//")[1].split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=30)

    def __enter__(self) -> "_Client":
        return self

    def __exit__(self, *exc) -> None:
        self.conn.close()

    def get_ms(self, path: str) -> float:
        started = time.perf_counter()
        self.conn.request("GET", path)
        response = self.conn.getresponse()
        body = response.read()
        elapsed = (time.perf_counter() - started) * 1000
        if response.status != 200 or not body.startswith(b"Hello"):
            raise RuntimeError(f"{path}: {response.status} {body[:200]!r}")
        return elapsed


def _serving(proc: Proc):
    return serving_processes(proc.proc.pid)[0]


def _rss(process) -> int:
    return process.memory_info().rss


def _pss(processes) -> int:
    return sum(p.memory_full_info().pss for p in processes)


def _cpu_seconds(processes) -> float:
    """User + system CPU of ``processes`` (those that exited meanwhile: 0)."""
    import psutil

    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def warm(servers: dict, rounds: int, seconds: float, trees: dict | None = None) -> dict:
    """Requests per second per server, interleaved rounds, and — where
    ``trees`` names a server's processes (a callable) — the CPU its whole
    process tree spent per request, the figure a shared machine disturbs
    least (a round that lost the core to a neighbour loses rate, not CPU
    per request)."""
    trees = trees or {}
    samples: dict[str, list] = {name: [] for name in servers}
    for url in servers.values():
        warm_up(url)
    for _ in range(rounds):
        for name, url in servers.items():
            processes = trees[name]() if name in trees else []
            before = _cpu_seconds(processes)
            result = load(url, seconds=seconds)
            if processes and result["rps"]:
                spent = _cpu_seconds(processes) - before
                result["cpu_us"] = spent / (result["rps"] * max(1, round(seconds))) * 1e6
            samples[name].append(result)
    out = {"rps": {n: round(statistics.median(r["rps"] for r in s), 1) for n, s in samples.items()},
           "p50_ms": {n: round(statistics.median(r["p50_ms"] for r in s), 3)
                      for n, s in samples.items()},
           "cpu_us_per_request": {n: round(statistics.median(r["cpu_us"] for r in s), 1)
                                  for n, s in samples.items() if s and "cpu_us" in s[0]},
           "driver": next(iter(samples.values()))[0]["driver"]}
    for peer in servers:
        if peer != MUX:
            ratios = [m["rps"] / p["rps"] for m, p in zip(samples[MUX], samples[peer])]
            out[f"mux_over_{peer}"] = round(statistics.median(ratios), 3)
            out[f"mux_over_{peer}_each_round"] = [round(r, 3) for r in ratios]
            if "cpu_us" in samples[MUX][0] and "cpu_us" in samples[peer][0]:
                # Requests per CPU-second, muxserver over the peer (> 1: mux cheaper).
                cpu = [p["cpu_us"] / m["cpu_us"] for m, p in zip(samples[MUX], samples[peer])]
                out[f"mux_over_{peer}_per_cpu"] = round(statistics.median(cpu), 3)
                out[f"mux_over_{peer}_per_cpu_each_round"] = [round(r, 3) for r in cpu]
    return out


def cold(mux_url: str, php: PhpFpm | None, count: int) -> dict:
    with _Client(mux_url) as mux_client:
        if php is None:
            return _cold(mux_client, None, None, count)
        with _Client(php.url) as php_client:
            return _cold(mux_client, php, php_client, count)


def _cold(mux_client, php, php_client, count: int) -> dict:
    php_paths = php.add_files("cold", count) if php else []
    mux_ms, php_ms = [], []
    for i in range(count):
        mux_ms.append(mux_client.get_ms(f"/c{i}/"))
        if php_client:
            php_ms.append(php_client.get_ms(php_paths[i]))
    warm_mux = [mux_client.get_ms(f"/c{i}/") for i in range(count)]
    out = {"mux_p50_ms": round(percentile(mux_ms, 50), 3), "mux_p99_ms": round(percentile(mux_ms, 99), 3),
           "mux_warm_p50_ms": round(percentile(warm_mux, 50), 3), "n": count}
    if php_ms:
        warm_php = [php_client.get_ms(p) for p in php_paths]
        out.update(php_p50_ms=round(percentile(php_ms, 50), 3),
                   php_p99_ms=round(percentile(php_ms, 99), 3),
                   php_warm_p50_ms=round(percentile(warm_php, 50), 3),
                   mux_over_php=round(percentile(mux_ms, 50) / percentile(php_ms, 50), 3))
    return out


def fission_cold(work: Path, function: Path, runs: int) -> dict:
    """A pooled environment specialized then asked (Fission's warm pool),
    and a new process to its first answer (no pool)."""
    pooled, fresh = [], []
    for _ in range(runs):
        env = FissionEnv(work, function).wait()
        try:
            with _Client(env.url) as client:
                started = time.perf_counter()
                env.specialize()
                client.get_ms("/")
                pooled.append((time.perf_counter() - started) * 1000)
        finally:
            env.stop()
        started = time.perf_counter()
        env = FissionEnv(work, function).wait()
        try:
            env.specialize()
            with _Client(env.url) as client:
                client.get_ms("/")
            fresh.append((time.perf_counter() - started) * 1000)
        finally:
            env.stop()
    return {"pool_p50_ms": round(percentile(pooled, 50), 3),
            "new_process_p50_ms": round(percentile(fresh, 50), 3), "runs": runs}


def memory(work: Path, mux: Proc, php: PhpFpm | None, fission: FissionEnv, warm_n: int,
           registered_n: int) -> dict:
    import psutil

    out = {}
    serving = _serving(mux)
    before = _rss(serving)
    with _Client(mux.url) as client:
        for i in range(warm_n):
            client.get_ms(f"/m{i}/")
    out["mux_warm_tenant_kib"] = round((_rss(serving) - before) / 1024 / warm_n, 2)
    # Registered tenants: the same server with few and with many.
    sizes, procs = {}, {}
    try:
        # Both started, then waited for: their start-ups overlap.
        for label, count in (("few", 10), ("many", registered_n)):
            tenants = work / f"registered-{label}"
            _tenants(tenants, "w", count)
            procs[label] = (_mux(tenants, work / f"cache-registered-{label}"), count)
        for proc, _ in procs.values():
            proc.wait(300)
        time.sleep(1.0)  # the serving processes have had their snapshots
        for label, (proc, count) in procs.items():
            sizes[label] = (_rss(psutil.Process(proc.proc.pid)), _rss(_serving(proc)), count)
    finally:
        for proc, _ in procs.values():
            proc.stop()
    extra = sizes["many"][2] - sizes["few"][2]
    out["mux_registered_tenant_kib_supervisor"] = round((sizes["many"][0] - sizes["few"][0]) / 1024 / extra, 2)
    out["mux_registered_tenant_kib_serving"] = round((sizes["many"][1] - sizes["few"][1]) / 1024 / extra, 2)
    out["registered_tenants"] = registered_n
    out["warmed_tenants"] = warm_n
    if php:
        paths = php.add_files("mem", warm_n)
        with _Client(php.url) as php_client:
            php_client.get_ms("/hello.php")
            before = _pss(php.processes())
            for path in paths:
                php_client.get_ms(path)
        out["php_file_kib"] = round((_pss(php.processes()) - before) / 1024 / warm_n, 2)
    proc = psutil.Process(fission.proc.proc.pid)
    out["fission_function_kib"] = round(proc.memory_full_info().uss / 1024, 1)
    return out


def run(seconds: float, quick: bool, baseline: Path | None = None,
        also_python: str | None = None) -> dict:
    previous = pin_client()
    try:
        return _run(seconds, quick, baseline, also_python)
    finally:
        unpin_client(previous)


def _run(seconds: float, quick: bool, baseline: Path | None, also_python: str | None) -> dict:
    rounds = 1 if quick else 5
    cold_n = 20 if quick else 300
    warm_n = 50 if quick else 2000
    registered_n = 200 if quick else 5000
    report: dict = {"fission_server": fission_server_kind(), "php": have_php(),
                    "python": interpreter(PY)}
    if also_python:
        report["also_python"] = interpreter(also_python)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        tenants = work / "tenants"
        _tenants(tenants, "w", 1)
        _tenants(tenants, "c", cold_n)
        _tenants(tenants, "m", warm_n)
        started = []
        try:
            mux = _mux(tenants, work / "cache")
            started.append(mux)  # waited for below: the peers start meanwhile
            servers = {}
            php = None
            if have_php():
                php = PhpFpm(work).start()
                started.append(php)
                servers[PHP] = php.url + "/hello.php"
            function = write_function(work)
            fission = FissionEnv(work, function).wait()
            started.append(fission)
            fission.specialize()
            servers[FISSION] = fission.url + "/"
            servers = {MUX: mux.wait(300).url + "/w0/", **servers}
            if baseline is not None:
                base = _mux(tenants, work / "cache-baseline", str(baseline / ".venv/bin/python"),
                            cwd=baseline)
                started.append(base)
                servers["muxserver-baseline"] = base.wait(300).url + "/w0/"
            if also_python:
                other = _mux(tenants, work / "cache-also", also_python)
                started.append(other)
                servers[ALSO] = other.wait(300).url + "/w0/"
            trees = {MUX: mux.processes, FISSION: fission.proc.processes}
            if also_python:
                trees[ALSO] = other.processes
            if php is not None:
                trees[PHP] = php.processes
            report["warm"] = warm(servers, rounds, seconds, trees)
            report["cold"] = cold(mux.url, php, cold_n)
            report["memory"] = memory(work, mux, php, fission, warm_n, registered_n)
        finally:
            for server in started:
                server.stop()
        report["fission_cold"] = fission_cold(work, function, 1 if quick else 5)
    report["rounds"] = rounds
    report["seconds"] = seconds
    report["targets"] = {f"mux_over_{PHP}": ">= 1.2", f"mux_over_{FISSION}": ">= 1.0",
                         "cold mux_over_php": "<= 1.0", "mux_warm_tenant_kib": "<= 8",
                         "mux_registered_tenant_kib": "<= 1"}
    return report


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--seconds", type=float, default=5.0, help="per server per round")
    parser.add_argument("--baseline", type=Path, help="another checkout's muxserver, beside")
    parser.add_argument("--also-python", metavar="PY",
                        help="this muxserver on another interpreter too (warm rounds)")
    args = parser.parse_args(argv)
    report = run(1 if args.quick else args.seconds, args.quick, args.baseline, args.also_python)
    print(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()

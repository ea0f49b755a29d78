"""Run every benchmark and write ``benchmarks/results/RESULTS.md``.

One command for the numbers users choose a function host on: each figure is
measured side by side with its baseline in the same run and reported as a
ratio; the machine (cores, Python, library versions, load generator) is
stated; charts are PNG files beside the page. The headline table is copied
into README.md between the ``results:start``/``results:end`` markers.

Usage: ``python -m benchmarks [--quick] [--results DIR] [--no-readme]``
(``wrk`` is the one manual install: ``apt-get install wrk``; without it the
throughput figures come from a slower Python client and the page says so.)
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from importlib import metadata  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import bench_density  # noqa: E402
from benchmarks import bench_flask_surface  # noqa: E402
from benchmarks import bench_fleet  # noqa: E402
from benchmarks import bench_isolation  # noqa: E402
from benchmarks import bench_peers  # noqa: E402
from benchmarks import bench_process_tier  # noqa: E402
from benchmarks import bench_console  # noqa: E402
from benchmarks import bench_replica  # noqa: E402
from benchmarks import bench_soak  # noqa: E402
from benchmarks import bench_split  # noqa: E402
from benchmarks import bench_state  # noqa: E402
from benchmarks import bench_throughput  # noqa: E402
from benchmarks import bench_workers  # noqa: E402
from benchmarks import cold_warm  # noqa: E402
from benchmarks import deploy  # noqa: E402
from benchmarks import noisy_neighbour  # noqa: E402
from benchmarks import _servers  # noqa: E402
from benchmarks._servers import have_wrk  # noqa: E402

HERE = Path(__file__).resolve().parent
README = HERE.parent / "README.md"
START, END = "<!-- results:start -->", "<!-- results:end -->"


def machine() -> dict:
    versions = {}
    for package in ("gevent", "werkzeug", "RestrictedPython", "flask", "gunicorn", "psutil"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    wrk = "not installed (Python client used)"
    if have_wrk():
        out = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
        wrk = (out.stdout or out.stderr).split("[")[0].strip()
    return {
        "cores": os.cpu_count(),
        "cpu": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
        "versions": versions,
        "load_generator": wrk,
        "date": time.strftime("%Y-%m-%d"),
    }


def _chart(path: Path, draw) -> str | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, ax = plt.subplots(figsize=(8, 4.2))
    draw(ax)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path.name


def charts(reports: dict, out: Path) -> dict[str, str | None]:
    made = {}

    def throughput(ax):
        rps = dict(reports["throughput"]["rps"])
        rps.update({k: v for k, v in reports["workers"]["rps"].items() if "gunicorn" in k or "2" in k})
        names = list(rps)
        ax.barh(names, [rps[n] for n in names], color=["C0" if "mux" in n else "C7" for n in names])
        ax.set_xlabel("requests per second (warm hello world, keep-alive)")
        ax.set_title("Throughput, side by side in one run")

    made["throughput"] = _chart(out / "throughput.png", throughput)

    sizes = reports["density"]["sizes"]

    def scaling(ax):
        xs = [row["tenants"] for row in sizes]
        ax.plot(xs, [row["p50_ms"] for row in sizes], "o-", label="p50 warm request, ms")
        ax.plot(xs, [row["p99_ms"] for row in sizes], "s--", label="p99 warm request, ms")
        ax.set_xscale("log")
        ax.set_xlabel("registered tenants")
        ax.set_ylabel("ms")
        ax2 = ax.twinx()
        ax2.plot(xs, [row["rss_idle_mib"] for row in sizes], "^-", color="C2", label="idle RSS, MiB")
        ax2.set_ylabel("MiB")
        ax.set_title("Latency and memory as tenants grow")
        lines = ax.get_lines() + ax2.get_lines()
        ax.legend(lines, [line.get_label() for line in lines], loc="upper left")

    made["scaling"] = _chart(out / "scaling.png", scaling)

    proc = reports["density"]["process_per_tenant"]

    def density(ax):
        counts = [10, 1000, 10000]
        mux = []
        for n in counts:
            row = min(sizes, key=lambda r: abs(r["tenants"] - n))
            mux.append(row["rss_idle_mib"])
        per_process = [proc["extrapolated_mib"][str(n)] for n in counts]
        xs = range(len(counts))
        ax.bar([x - 0.2 for x in xs], mux, width=0.4, label="muxserver, one process (measured)")
        ax.bar([x + 0.2 for x in xs], per_process, width=0.4, color="C7",
               label="one process per tenant (extrapolated)")
        ax.set_xticks(list(xs), [f"{n:,} tenants" for n in counts])
        ax.set_yscale("log")
        ax.set_ylabel("MiB resident")
        ax.set_title("Memory to host N tenants")
        ax.legend()

    made["density"] = _chart(out / "density.png", density)

    noisy = reports["noisy"]

    def noisy_chart(ax):
        rounds = noisy["with_abusers"]
        labels = ["no abuser"] + [f"{n} abusers" for n in rounds]
        rows = [noisy["no_abuser"]] + list(rounds.values())
        xs = range(len(rows))
        ax.bar([x - 0.2 for x in xs], [r["p50_ms"] for r in rows], width=0.4, label="calm p50")
        ax.bar([x + 0.2 for x in xs], [r["p99_ms"] for r in rows], width=0.4, label="calm p99")
        ax.axhline(noisy["no_abuser"]["p99_ms"] * 10, color="C3", linestyle=":",
                   label="target p99 (10x alone)")
        ax.set_xticks(list(xs), labels)
        ax.set_ylabel("ms")
        ax.set_title("A calm tenant beside concurrent abusers")
        ax.legend()

    made["noisy"] = _chart(out / "noisy.png", noisy_chart)
    made["cold_warm"] = "cold_warm.png" if (out / "cold_warm.png").exists() else None
    return made


def _fleet_rows(fleet: dict) -> list[tuple]:
    if "skipped" in fleet:
        return [("fleet of 3 behind nginx: round-robin / consistent hash", fleet["skipped"], "")]
    return [(f"fleet of 3 behind nginx, {fleet['tenants']} tenants: round-robin / consistent "
             "hash, fleet memory and cold starts",
             f"{fleet['memory_round_robin_over_hash']}x, "
             f"{fleet['cold_starts_round_robin_over_hash']}x "
             f"({fleet['consistent_hash']['cold_starts_per_1000']} vs "
             f"{fleet['round_robin']['cold_starts_per_1000']} cold starts per 1,000 requests)", "")]


def _replica_rows(replica: dict | None) -> list[tuple[str, str, str]]:
    if not replica or "skipped" in replica:
        return []
    return [("write throughput with --replica file:// / without (one insert per request)",
             f"{replica['replica_vs_none']}x", "")]


def _interpreter(facts: dict) -> str:
    return f"Python {facts['version']} ({facts['libpython']} libpython)"


def _interpreters(peers: dict) -> str:
    """Which Python ran the Python servers: its build is worth 15-20 % of a
    request's CPU (a shared libpython, pyenv's default, against Debian's)."""
    if "python" not in peers:
        return ""
    text = f"muxserver and Fission's server run on {_interpreter(peers['python'])}. "
    if "also_python" in peers:
        text += (f"`muxserver-also-python` is the same muxserver on "
                 f"{_interpreter(peers['also_python'])}. ")
    return text


def _peer_rows(peers: dict | None) -> list[tuple[str, str, str]]:
    """The peer benchmark's figures (issue 26): one core each, same client."""
    if not peers:
        return []
    warm, cold, mem = peers["warm"], peers["cold"], peers["memory"]
    rows = []
    if "mux_over_php-fpm+nginx" in warm:
        rows.append(("warm hello per core vs PHP-FPM + nginx (opcache, shared pool), access log "
                     "and process layer on", f"{warm['mux_over_php-fpm+nginx']}x "
                     f"({warm['rps']['muxserver']} vs {warm['rps']['php-fpm+nginx']} req/s)",
                     ">= 1.2x"))
    rows.append((f"warm hello per core vs Fission's Python environment ({peers['fission_server']})",
                 f"{warm['mux_over_fission-python']}x ({warm['rps']['muxserver']} vs "
                 f"{warm['rps']['fission-python']} req/s)", ">= 1.0x"))
    cpu = warm.get("cpu_us_per_request", {})
    if "mux_over_fission-python_per_cpu" in warm:
        php = (f"{warm['mux_over_php-fpm+nginx_per_cpu']}x PHP-FPM + nginx, "
               if "mux_over_php-fpm+nginx_per_cpu" in warm else "")
        rows.append(("warm hello per CPU-second of each server's process tree (requests per CPU "
                     "second, muxserver / peer)", f"{php}{warm['mux_over_fission-python_per_cpu']}x "
                     f"Fission ({', '.join(f'{n} {v} µs' for n, v in cpu.items())} a request)", ""))
    if "php_p50_ms" in cold:
        rows.append(("cold start p50: first request to a tenant never loaded / PHP-FPM's first "
                     "request to a new file", f"{cold['mux_p50_ms']} / {cold['php_p50_ms']} ms "
                     f"({cold['mux_over_php']}x)", "<= 1.0x"))
    fission = peers.get("fission_cold", {})
    if fission:
        rows.append(("Fission cold start p50: warm pool (specialize + first request) / new "
                     "process", f"{fission['pool_p50_ms']} / {fission['new_process_p50_ms']} ms",
                     ""))
    rows.append(("memory per warm hello tenant / per registered tenant (supervisor, serving "
                 "process)", f"{mem['mux_warm_tenant_kib']} KiB / "
                 f"{mem['mux_registered_tenant_kib_supervisor']} + "
                 f"{mem['mux_registered_tenant_kib_serving']} KiB", "<= 8 KiB / <= 1 KiB"))
    rows.append(("memory per PHP file (PSS) / per Fission function (one process, USS)",
                 f"{mem.get('php_file_kib', '-')} KiB / {mem['fission_function_kib']:,} KiB", ""))
    return rows


def _flask_surface_rows(flask: dict | None) -> list[tuple]:
    if not flask:
        return []
    fid, warm, surface = flask["fidelity"], flask["warm"], flask["surface"]
    return [("muxserver's own Flask surface vs Flask itself: differential tests agreeing, warm "
             "cost per request (test client), public names tenant code reads / on Flask's objects",
             f"{fid['passed']}/{fid['tests']} ({fid['requests_compared']} requests), "
             f"{warm['mux_over_flask']}x, {surface['flask_surface_names']} / "
             f"{surface['real_flask_public_names']}", "all agree")]


def _soak_rows(soak: dict | None) -> list[tuple]:
    if not soak:
        return []
    return [(f"RSS over {soak['cycles']} evict/reload cycles of a multi-module tenant, "
             "highest / after the first", f"{soak['max_over_first']}x "
             f"({soak['rss_first_cycle_mib']} -> {soak['rss_max_mib']} MiB)", "<= 1.1x")]


def _split_rows(split: dict | None) -> list[tuple]:
    if not split:
        return []
    return [("the supervisor's cost (supervisor, serving, compiler and egress processes / one process): warm "
             "throughput, cold start p50, memory",
             f"{split['warm_split_over_single']}x, {split['cold_split_over_single']}x, "
             f"{split['memory_split_over_single']}x (+{split['memory_added_mib']} MiB)", "")]


def _process_rows(process: dict | None) -> list[tuple[str, str, str]]:
    if not process:
        return []
    cold, warm = process["cold_start"], process["warm"]
    return [
        ("process tenant cold start (zygote fork to first answer, Flask hello), p50 / p95",
         f"{cold['zygote_p50_ms']} ms / {cold['zygote_p95_ms']} ms "
         f"(a fresh interpreter: {cold['fresh_interpreter_p50_ms']} ms, "
         f"{cold['fresh_vs_zygote']}x)", "p50 <= 15 ms"),
        ("warm process tenant / the same code sandboxed, requests/s",
         f"{warm['process_vs_sandbox']}x", ""),
        ("memory per warm process tenant (PSS, {0} alive; private pages)".format(
            cold["processes_alive"]),
         f"{cold['pss_warm_mb']} MB; {cold['private_warm_mb']} MB", "<= 8 MB PSS"),
    ]


def headline(reports: dict) -> list[str]:
    t, w, c, d, n, dep = (reports[k] for k in ("throughput", "workers", "cold_warm", "density", "noisy",
                                               "deploy"))
    large, small = d["large"], d["small"]
    cold = c["table"]["after eviction (cold, code cached)"]
    proc = d["process_per_tenant"]
    rows = [
        *_peer_rows(reports.get("peers")),
        ("warm throughput vs bare gevent.pywsgi app (1 process)", f"{t['ratio_vs_bare_pywsgi']}x", ">= 0.75x"),
        ("warm throughput vs Flask on gevent.pywsgi", f"{t['ratio_vs_flask_pywsgi']}x", ">= 1.2x"),
        ("warm throughput with the access log on (--log-format json) / off",
         f"{t['ratio_access_log_json_vs_off']}x", ">= 0.9x"),
        ("vs Flask under gunicorn sync workers (1 / 2 workers)",
         f"{w['mux_over_flask_gunicorn_same_workers']['1']}x / {w['mux_over_flask_gunicorn_same_workers']['2']}x",
         ""),
        ("2 workers vs 1", f"{w['mux_2_over_1_workers']}x", ""),
        *_fleet_rows(reports["fleet"]),
        ("process layer on / off: warm throughput, cold start p50",
         f"{reports['isolation']['throughput_on_over_off']}x, "
         f"{reports['isolation']['cold_p50_on_over_off']}x", ""),
        ("keep-alive p50, pywsgi without / with TCP_NODELAY",
         f"{t['keepalive_p50_ms_without_nodelay']} / {t['keepalive_p50_ms_with_nodelay']} ms", ""),
        ("cold start p50 (after eviction, code cached), client-side",
         f"{cold['p50_ms']} ms ({c['cold_p50_over_warm_p50']}x warm)", "<= 3 ms, <= 4x warm"),
        ("Fission-style process cold start / muxserver cold start", f"{c['fission_cold_over_mux_cold']}x", ""),
        ("process per request (CGI) / muxserver cold start", f"{c['cgi_over_mux_cold']}x", ""),
        (f"{large['tenants']:,} tenants: last tenant serving, cold / warm code cache",
         f"{large['ready_cold_cache_s']} s / {large['ready_warm_cache_s']} s", "<= 6 s / <= 1.5 s"),
        (f"{large['tenants']:,} tenants: idle RSS (PSS: shared pages counted once)",
         f"{large['rss_idle_mib']} MiB ({large.get('pss_idle_mib', '-')} MiB)", "<= 150 MiB"),
        ("memory per registered / per warm tenant",
         f"{d['registered_tenant_kib']} KiB / {large['warm_tenant_kib']} KiB", ""),
        ("one process per tenant (Flask on gevent; measured on a few, extrapolated to 10,000)",
         f"{proc['uss_per_process_mib']} MiB unshared each ({proc['rss_per_process_mib']} MiB RSS), "
         f"{proc['extrapolated_mib']['10000']:,} MiB", ""),
        (f"warm p50 at {large['tenants']:,} tenants / at {small['tenants']}",
         f"{d['p50_ratio_large_vs_small']}x", "<= 1.25x"),
        ("calm tenant p99 beside " + " / ".join(f"{k}" for k in n["with_abusers"])
         + " concurrent abusers (alone)",
         " / ".join(f"{r['p99_ms']} ms ({r['p99_over_alone']}x)" for r in n["with_abusers"].values())
         + f" ({n['no_abuser']['p99_ms']} ms), "
         + f"{sum(r['errors'] for r in n['with_abusers'].values())} errors",
         "<= 10x alone, 0 errors"),
        *[("calm tenant p99 beside " + " / ".join(n[kind]) + f" {label} abusers",
           " / ".join(f"{r['p99_ms']} ms ({r['p99_over_alone']}x)" for r in n[kind].values())
           + f", {sum(r['errors'] for r in n[kind].values())} errors", "<= 10x alone, 0 errors")
          for kind, label in (("one_call_bomb", "one-call bomb"),
                              ("never_ticking", "never-ticking host call")) if n.get(kind)],
        ("RSS growth after the abuse", f"{n['rss_growth_mib']} MiB", "<= 64 MiB"),
        ("deploy: last write to new code answering, p50 / p99",
         f"{dep['live_after_last_write_s']['p50']} s / {dep['live_after_last_write_s']['p99']} s", "p50 <= 0.5 s"),
        (f"5xx while hammering {dep['deploys']} redeploys", str(dep["hammer_5xx"]), "0"),
        *_replica_rows(reports.get("replica")),
        *_soak_rows(reports.get("soak")),
        *_flask_surface_rows(reports.get("flask_surface")),
        *_split_rows(reports.get("split")),
        *_process_rows(reports.get("process_tier")),
    ]
    lines = ["| figure | result | target |", "| --- | --- | --- |"]
    lines += [f"| {a} | {b} | {c_} |" for a, b, c_ in rows]
    return lines


def _when(run: dict) -> str:
    return f"{run['date']}, Python {run['python']}"


def _reruns_line(reports: dict) -> str:
    """Which figures came from which run (``--only`` keeps the others'):
    each re-run's date and interpreter, grouped, and the full run's."""
    groups: dict[str, list[str]] = {}
    for name, run in sorted(reports["reruns"].items()):
        groups.setdefault(_when(run), []).append(name)
    said = "; ".join(f"{', '.join(names)} ({when})" for when, names in
                     sorted(groups.items(), reverse=True))
    return (f"Re-run alone with `--only`: {said}. The other figures are from the last full run "
            f"({_when(reports['full_run'])}).")


def rerun_facts(last: dict, only: list[str], now: dict) -> dict:
    """``reruns`` and ``full_run`` of a ``--only`` run's report: the last
    report's, with ``only`` re-run ``now`` (:func:`machine`'s date and
    Python). A report written before these were kept (a ``rerun`` list, a
    ``full_run_date``) says its re-runs ran when it was written."""
    reruns = dict(last.get("reruns") or {})
    if not reruns and last.get("rerun"):
        then = last["machine"]
        reruns = {name: {"date": then["date"], "python": then["python"]}
                  for name in last["rerun"]}
    full_run = last.get("full_run") or {
        "date": last.get("full_run_date", last["machine"]["date"]),
        "python": last["machine"]["python"]}
    reruns.update({name: {"date": now["date"], "python": now["python"]} for name in only})
    return {"reruns": reruns, "full_run": full_run}


def write_page(reports: dict, made: dict, out: Path, quick: bool) -> str:
    m = reports["machine"]
    lines = ["# muxserver benchmark results", ""]
    if quick:
        lines += ["**Quick smoke run: these figures are not measurements.**", ""]
    lines += [
        f"Machine: {m['cores']} cores ({m['cpu']}), {m['os']}; "
        + ", ".join(f"{k} {v}" for k, v in m["versions"].items())
        + f"; load generator: {m['load_generator']}."
        + ("" if reports.get("reruns") else f" Python {m['python']}; {m['date']}."),
        "",
        *([_reruns_line(reports), ""] if reports.get("reruns") else []),
        "Every figure is measured side by side with its baseline in the same run. "
        "Reproduce with `python -m benchmarks` (each script also runs alone; see its docstring).",
        "",
        "## Headline",
        "",
        *headline(reports),
        "",
    ]
    sections = [
        ("Throughput", "throughput", "`benchmarks/bench_throughput.py`, `benchmarks/bench_workers.py`"),
        ("Cold start", "cold_warm", "`benchmarks/cold_warm.py`"),
        ("Density", "density", "`benchmarks/bench_density.py`"),
        ("Scaling with tenants", "scaling", "`benchmarks/bench_density.py`"),
        ("Noisy neighbour", "noisy", "`benchmarks/noisy_neighbour.py`"),
    ]
    for title, chart, scripts in sections:
        lines += [f"## {title}", "", f"From {scripts}.", ""]
        if made.get(chart):
            lines += [f"![{title}]({made[chart]})", ""]
    peers = reports.get("peers")
    if peers:
        lines += ["## Peers: PHP-FPM and Fission, one core each", "",
                  "From `benchmarks/bench_peers.py` (`python benchmarks/bench_peers.py`): every "
                  "server pinned to core 0 with `taskset`, `wrk -t1 -c8` keep-alive and the "
                  "script on core 1, interleaved rounds, medians of per-round ratios. muxserver "
                  "is the real command (supervisor and one serving process, process layer on, "
                  "`--log-format json` access log on); PHP-FPM 8.2 + nginx from Debian (opcache "
                  "on, one shared pool, nginx access log on); Fission's Python environment server "
                  f"recreated at run time and served by {peers['fission_server']}. "
                  + _interpreters(peers) +
                  "The machine is shared with other work: the rounds' ratios vary.", "",
                  "| server | req/s (median) | p50 ms | muxserver / it (each round) | CPU µs a "
                  "request (its process tree) | muxserver / it per CPU-second (each round) |",
                  "| --- | --- | --- | --- | --- | --- |"]
        warm = peers["warm"]
        for name, rps in warm["rps"].items():
            each = warm.get(f"mux_over_{name}_each_round")
            each_cpu = warm.get(f"mux_over_{name}_per_cpu_each_round")
            lines.append(f"| {name} | {rps} | {warm['p50_ms'][name]} | "
                         + (f"{warm[f'mux_over_{name}']}x ({', '.join(map(str, each))})" if each
                            else "")
                         + f" | {warm.get('cpu_us_per_request', {}).get(name, '')} | "
                         + (f"{warm[f'mux_over_{name}_per_cpu']}x ({', '.join(map(str, each_cpu))})"
                            if each_cpu else "") + " |")
        cold, mem = peers["cold"], peers["memory"]
        lines += ["", f"Cold start ({cold['n']} each, interleaved, one keep-alive client): "
                  f"muxserver p50 {cold['mux_p50_ms']} ms, p99 {cold['mux_p99_ms']} ms"
                  + (f"; PHP-FPM p50 {cold['php_p50_ms']} ms, p99 {cold['php_p99_ms']} ms"
                     if "php_p50_ms" in cold else "") + ". Memory: "
                  f"{mem['mux_warm_tenant_kib']} KiB per warm hello tenant "
                  f"({mem['warmed_tenants']:,} warmed), "
                  f"{mem['mux_registered_tenant_kib_supervisor']} KiB (supervisor) + "
                  f"{mem['mux_registered_tenant_kib_serving']} KiB (serving process) per "
                  f"registered tenant ({mem['registered_tenants']:,} against 10).", ""]
    lines += ["## Density by size", "",
              "| tenants | ready cold / warm cache (s) | idle RSS MiB | RSS with N warm MiB (N) | "
              "KiB per warm tenant | p50 ms | p99 ms |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    for row in reports["density"]["sizes"]:
        lines.append(f"| {row['tenants']:,} | {row['ready_cold_cache_s']} / {row['ready_warm_cache_s']} | "
                     f"{row['rss_idle_mib']} | {row['rss_warm_mib']} ({row['warmed_tenants']:,}) | "
                     f"{row['warm_tenant_kib']} | {row['p50_ms']} | {row['p99_ms']} |")
    proc = reports["density"]["process_per_tenant"]
    lines += ["", f"Memory per registered tenant (10 to {reports['density']['large']['tenants']:,}): "
              f"{reports['density']['registered_tenant_kib']} KiB. One process per tenant: "
              f"{proc['processes_measured']} real Flask-on-gevent processes measured at "
              f"{proc['uss_per_process_mib']} MiB unshared ({proc['rss_per_process_mib']} MiB RSS) each; "
              "the 1,000 and 10,000 figures are extrapolated from that, not measured."]
    lines += ["", "## Cold start table", ""]
    lines += (out / "cold_warm.md").read_text().splitlines() if (out / "cold_warm.md").exists() else []
    iso = reports["isolation"]
    lines += ["", "## Process layer", "", "From `benchmarks/bench_isolation.py`: the same server with "
              "`--isolation best-effort` and `off`, interleaved rounds.", "",
              "| | best-effort | off | on / off |", "| --- | --- | --- | --- |",
              f"| warm hello, requests/s | {iso['rps']['best-effort']} | {iso['rps']['off']} | "
              f"{iso['throughput_on_over_off']}x |",
              f"| cold start p50 (code cached), ms | {iso['cold_p50_ms']['best-effort']} | "
              f"{iso['cold_p50_ms']['off']} | {iso['cold_p50_on_over_off']}x |", "",
              f"In force: {json.dumps(iso['isolation_in_force'])}"]
    state = reports.get("state")
    if state:
        lines += ["", "## State", "", "From `benchmarks/bench_state.py`: warm requests per second, "
                  f"interleaved rounds; {state['durability']}.", "",
                  "| request | requests/s |", "| --- | --- |"]
        lines += [f"| {name} | {value} |" for name, value in state["rps"].items()]
        lines += ["", f"kv get+set vs no storage: {state['kv_vs_plain']}x; sqlite insert+select vs no "
                  f"storage: {state['sqlite_vs_plain']}x; sqlite vs Flask + sqlite3 directly: "
                  f"{state['sqlite_vs_flask_sqlite']}x; kv vs Flask + sqlite3 doing the same upsert: "
                  f"{state['kv_vs_flask_sqlite_kv']}x. The Flask baseline opens a connection per request "
                  "(as flaskr does) and, under gevent, SQLite's busy wait sleeps in C and holds the "
                  "whole process; muxserver queues writers on a greenlet lock instead."]
    replica = reports.get("replica")
    if replica:
        lines += ["", "## Replication", ""]
        if "skipped" in replica:
            lines += [f"Not measured: {replica['skipped']}."]
        else:
            lines += ["From `benchmarks/bench_replica.py`: a warm request that inserts one row "
                      f"({replica['durability']}), with and without `--replica file://...` "
                      "(Litestream in the replication agent), interleaved rounds.", "",
                      "| server | requests/s |", "| --- | --- |"]
            lines += [f"| {name} | {value} |" for name, value in replica["rps"].items()]
            lines += ["", f"With replication / without: {replica['replica_vs_none']}x. The replica "
                      f"held the last acknowledged write {replica['replica_caught_up_s']} s after "
                      "the load stopped. Litestream keeps a read transaction open, so SQLite's own "
                      "checkpoints wait for Litestream's: commits only append to the WAL."]
    process = reports.get("process_tier")
    if process:
        cold, warm, hand = process["cold_start"], process["warm"], process["handoff"]
        lines += ["", "## Process tier", "",
                  "From `benchmarks/bench_process_tier.py` (isolation "
                  f"{process['isolation']}: each process locks itself down before it answers). "
                  "A Flask hello world as a process tenant.", "",
                  "| figure | value |", "| --- | --- |",
                  f"| cold start from the zygote (ask, fork, lock down, import, answer), p50 | "
                  f"{cold['zygote_p50_ms']} ms |",
                  f"| the same, p95 | {cold['zygote_p95_ms']} ms |",
                  f"| the same in a fresh interpreter (`python -I`), p50 | "
                  f"{cold['fresh_interpreter_p50_ms']} ms ({cold['fresh_vs_zygote']}x the zygote) |",
                  f"| warm requests/s, process tenant (in-process app, test client) | "
                  f"{warm['process_rps']} |",
                  f"| warm requests/s, the same code sandboxed | {warm['sandbox_rps']} "
                  f"(process / sandbox: {warm['process_vs_sandbox']}x) |",
                  f"| a request to a process frozen between requests (thawed on its path), p50 | "
                  f"{warm['thawed_p50_ms']} ms ({warm['thawed_vs_warm']}x one back to back, "
                  f"{warm['warm_p50_ms']} ms) |",
                  f"| PSS of the zygote | {cold['pss_zygote_mb']} MB |",
                  f"| PSS per idle process tenant ({cold['processes_alive']} alive) | "
                  f"{cold['pss_idle_mb']} MB |",
                  f"| PSS per warm process tenant | {cold['pss_warm_mb']} MB "
                  f"(private pages: {cold['private_warm_mb']} MB) |",
                  f"| warm process tenants 24 GB holds (zygote once, then private pages) | "
                  f"{cold['warm_tenants_in_24gb']} |",
                  f"| hand-off per request: proxied over a unix socket | {hand['proxy_us']} us |",
                  f"| hand-off per request: the TCP connection passed (SCM_RIGHTS) | "
                  f"{hand['pass_us']} us ({hand['pass_vs_proxy']}x) |",
                  "", "The server proxies: passing the connection saves about a tenth of a "
                  "millisecond per request at most (0.73-1.07x across runs on a shared machine), "
                  "and proxying keeps the serving process in charge of the answer (limits' status "
                  "codes, `X-Request-Id`, `Server-Timing`, keep-alive, the access log) while the "
                  "tenant's process never holds a client's socket. Where the cold start goes: "
                  "the fork, Landlock (under 1 ms with the read list made once), seccomp (a "
                  "filter compiled once in the zygote, loaded in about 0.3 ms), the tenant's "
                  "import (4-8 ms for a Flask hello), two round trips to the zygote and the "
                  "process; the private pages of a warm process are mostly pages the child "
                  "wrote (reference counts of the zygote's objects it touched)."]
    console = reports.get("console")
    if console:
        lines += ["", "## Console", "", "From `benchmarks/bench_console.py`: a warm hello's "
                  "requests/s while consoles poll as the page does (data every 2 s, log tail every "
                  "1 s), 200 tenants registered.", "",
                  "| | requests/s | vs no console |", "| --- | --- | --- |",
                  f"| no console | {console['rps']['no console']} | 1.0x |",
                  f"| 1 console | {console['rps']['1 console']} | {console['ratio_1_console']}x |",
                  f"| 10 consoles | {console['rps']['10 consoles']} | {console['ratio_10_consoles']}x |",
                  "", f"The data call itself: p50 {console['data_call_p50_ms']} ms, "
                  f"p99 {console['data_call_p99_ms']} ms."]
    lines += ["", "## Deploy", "", "```json", json.dumps(reports["deploy"], indent=1), "```", "",
              "Raw numbers: `results.json`.", ""]
    return "\n".join(lines)


def update_readme(table: list[str], readme: Path = README) -> None:
    text = readme.read_text()
    if START not in text or END not in text:
        return
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    block = "\n".join(["", *table, ""])
    readme.write_text(head + START + block + END + tail)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run of every script")
    parser.add_argument("--results", type=Path, default=HERE / "results")
    parser.add_argument("--no-readme", action="store_true", help="do not update README.md")
    parser.add_argument("--only", metavar="NAMES",
                        help="comma-separated benchmarks to run again (e.g. noisy,peers); "
                             "the others keep their figures from the last results.json")
    parser.add_argument("--also-python", metavar="PY",
                        help="the peer benchmark also runs muxserver on this interpreter")
    args = parser.parse_args(argv)
    if not have_wrk():
        print("note: wrk is not installed (apt-get install wrk); throughput uses a Python client",
              file=sys.stderr)
    out = args.results
    out.mkdir(parents=True, exist_ok=True)
    q = ["--quick"] if args.quick else []
    _servers.WARM_UP = not args.quick  # a smoke run keeps no figure: no warm-ups
    runs = {
        "peers": lambda: bench_peers.main(
            q + (["--also-python", args.also_python] if args.also_python else [])),
        "throughput": lambda: bench_throughput.main(q),
        "workers": lambda: bench_workers.main(q),
        "isolation": lambda: bench_isolation.main(q),
        "fleet": lambda: bench_fleet.main(q),
        "cold_warm": lambda: cold_warm.main(q + ["--results", str(out)]),
        "density": lambda: bench_density.main(q),
        "noisy": lambda: noisy_neighbour.main(q),
        "deploy": lambda: deploy.main(q),
        "state": lambda: bench_state.main(q),
        "replica": lambda: bench_replica.main(q),
        "soak": lambda: bench_soak.main(q),
        "split": lambda: bench_split.main(q),
        "console": lambda: bench_console.main(q),
        "process_tier": lambda: bench_process_tier.main(q),
        "flask_surface": lambda: bench_flask_surface.main(q),
    }
    only = [name for name in (args.only or "").split(",") if name]
    unknown = sorted(set(only) - set(runs))
    if unknown:
        parser.error(f"--only: no benchmark named {', '.join(unknown)} (choose from {', '.join(runs)})")
    reports = {"machine": machine()}
    if only:
        previous = out / "results.json"
        if not previous.exists():
            parser.error(f"--only needs the results of a full run in {previous}")
        last = json.loads(previous.read_text())
        now = machine()
        reports = {**{k: v for k, v in last.items() if k not in ("rerun", "full_run_date")},
                   "machine": now, **rerun_facts(last, only, now)}
    selected = {name: run for name, run in runs.items() if not only or name in only}
    if args.quick:
        # A smoke run keeps no figure, and most of each script is servers
        # starting and waits: three at a time (on two cores: 90 s at two
        # at a time, 77 s at three).
        with ThreadPoolExecutor(max_workers=3) as pool:
            running = {name: pool.submit(run) for name, run in selected.items()}
        reports.update((name, future.result()) for name, future in running.items())
    else:
        for name, run in selected.items():
            reports[name] = run()
    (out / "results.json").write_text(json.dumps(reports, indent=1))
    made = charts(reports, out)
    (out / "RESULTS.md").write_text(write_page(reports, made, out, args.quick))
    if not args.no_readme and not args.quick:
        update_readme(headline(reports))
    print(f"wrote {out / 'RESULTS.md'}")
    return reports


if __name__ == "__main__":
    main()

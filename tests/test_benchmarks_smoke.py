"""Every benchmark script runs in --quick mode, so none can rot.

``python -m benchmarks --quick`` runs each script once; the tests below read
its reports (one smoke run of each, not two).
"""

import sys

import pytest

# The quick run of every script takes ~80 s alone on a shared 2-core
# machine; the first test that asks for it pays for it.
pytestmark = pytest.mark.timeout(360)


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    from benchmarks import run_all

    out = tmp_path_factory.mktemp("bench")
    # --also-python: the same interpreter, to run that path of the peer benchmark.
    reports = run_all.main(["--quick", "--results", str(out), "--no-readme",
                            "--also-python", sys.executable])
    return reports, out


@pytest.mark.live
def test_run_all_quick_writes_the_page(quick):
    reports, out = quick
    page = (out / "RESULTS.md").read_text()
    assert "Quick smoke run" in page and "## Headline" in page
    assert "| figure | result | target |" in page
    assert "access log on" in page
    assert (out / "results.json").exists()


@pytest.mark.live
def test_peers_quick(quick):
    report, out = quick[0]["peers"], quick[1]
    assert report["warm"]["rps"]["muxserver"] > 0 and report["warm"]["rps"]["fission-python"] > 0
    assert report["warm"]["mux_over_fission-python"] > 0
    # CPU a request of each server's whole process tree, beside the rate.
    assert report["warm"]["cpu_us_per_request"]["muxserver"] > 0
    assert report["warm"]["mux_over_fission-python_per_cpu"] > 0
    # A quick run warms a handful of tenants: their memory may round to whole
    # pages either way, so only its presence is checked here.
    assert report["cold"]["mux_p50_ms"] > 0 and "mux_warm_tenant_kib" in report["memory"]
    page = (out / "RESULTS.md").read_text()
    assert "## Peers: PHP-FPM and Fission" in page
    # Which interpreter ran muxserver, and the same muxserver on another one.
    assert report["python"]["libpython"] in ("shared", "static") and report["python"]["version"]
    assert report["also_python"]["version"] and report["warm"]["rps"]["muxserver-also-python"] > 0
    assert f"Python {report['python']['version']}" in page and "`muxserver-also-python`" in page


@pytest.mark.live
def test_throughput_quick(quick):
    report = quick[0]["throughput"]
    assert set(report["rps"]) == {"muxserver", "muxserver+access-log", "gevent.pywsgi",
                                  "flask+gevent.pywsgi"}
    assert all(v > 0 for v in report["rps"].values())
    assert report["ratio_vs_bare_pywsgi"] > 0 and report["ratio_access_log_json_vs_off"] > 0


@pytest.mark.live
def test_density_quick(quick):
    report = quick[0]["density"]
    assert report["large"]["tenants"] == 200
    assert report["large"]["ready_warm_cache_s"] > 0
    # PSS counts each shared page once: never more than the sum of RSS.
    assert 0 < report["large"]["pss_idle_mib"] <= report["large"]["rss_idle_mib"]
    assert report["p50_ratio_large_vs_small"] > 0


@pytest.mark.live
def test_noisy_neighbour_quick(quick):
    report = quick[0]["noisy"]
    assert report["no_abuser"]["requests"] > 0
    assert report["with_abuser"]["errors"] == 0
    for kind in ("one_call_bomb", "never_ticking"):
        assert all(r["errors"] == 0 and r["requests"] > 0 for r in report[kind].values())


@pytest.mark.live
def test_cold_warm_quick(quick):
    report, out = quick[0]["cold_warm"], quick[1]
    assert report["table"]["warm"]["n"] == 60
    assert (out / "cold_warm.md").read_text().startswith("| request |")


@pytest.mark.live
def test_deploy_quick(quick):
    report = quick[0]["deploy"]
    assert report["deploys"] == 3 and report["hammer_5xx"] == 0


@pytest.mark.live
def test_workers_quick(quick):
    report = quick[0]["workers"]
    assert all(v > 0 for v in report["rps"].values())


@pytest.mark.live
def test_isolation_quick(quick):
    report = quick[0]["isolation"]
    assert all(v > 0 for v in report["rps"].values())
    assert report["throughput_on_over_off"] > 0 and report["cold_p50_on_over_off"] > 0


@pytest.mark.live
def test_fleet_quick(quick):
    report = quick[0]["fleet"]
    if "skipped" in report:
        pytest.skip(report["skipped"])
    assert report["consistent_hash"]["warm_modules"] == report["tenants"]
    assert report["round_robin"]["cold_starts"] >= report["consistent_hash"]["cold_starts"]


@pytest.mark.live
def test_state_quick(quick):
    report, out = quick[0]["state"], quick[1]
    assert all(v > 0 for v in report["rps"].values())
    assert report["sqlite_vs_flask_sqlite"] > 0
    assert "## State" in (out / "RESULTS.md").read_text()


@pytest.mark.live
def test_console_quick(quick):
    report, out = quick[0]["console"], quick[1]
    assert all(v > 0 for v in report["rps"].values())
    assert report["data_call_p50_ms"] > 0
    assert "## Console" in (out / "RESULTS.md").read_text()


@pytest.mark.live
def test_replica_quick(quick):
    report, out = quick[0]["replica"], quick[1]
    if "skipped" in report:
        pytest.skip(report["skipped"])
    assert all(v > 0 for v in report["rps"].values())
    assert report["replica_vs_none"] > 0
    assert "## Replication" in (out / "RESULTS.md").read_text()


@pytest.mark.live
def test_soak_quick(quick):
    report = quick[0]["soak"]
    assert report["cycles"] == 10 and report["max_over_first"] > 0


@pytest.mark.live
def test_split_quick(quick):
    report = quick[0]["split"]
    assert report["warm_split_over_single"] > 0 and report["memory_added_mib"] > 0


@pytest.mark.live
def test_process_tier_quick(quick):
    report = quick[0]["process_tier"]
    cold = report["cold_start"]
    assert cold["zygote_p50_ms"] > 0 and cold["fresh_vs_zygote"] > 1
    assert 0 < cold["pss_warm_mb"] and cold["warm_tenants_in_24gb"] > 0
    assert report["warm"]["process_rps"] > 0 and report["handoff"]["pass_vs_proxy"] > 0
    assert report["warm"]["thawed_p50_ms"] > 0 and report["warm"]["thawed_vs_warm"] > 0
    assert "## Process tier" in (quick[1] / "RESULTS.md").read_text()


@pytest.mark.live
def test_flask_surface_quick(quick):
    report = quick[0]["flask_surface"]
    fidelity = report["fidelity"]
    assert fidelity["tests"] > 0 and fidelity["requests_compared"] >= fidelity["tests"]
    assert fidelity["passed"] + len(fidelity["not_passed"]) == fidelity["tests"]
    assert report["warm"]["mux_over_flask"] > 0
    assert set(report["warm"]["us_per_request"]) == {"flask", "muxserver"}
    surface = report["surface"]
    assert 0 < surface["flask_surface_names"] < surface["reachable_names"]
    assert surface["real_flask_public_names"] == sum(surface["real_flask_objects"].values())
    assert "muxserver's own Flask surface" in (quick[1] / "RESULTS.md").read_text()


def test_message_sizes_quick(tmp_path):
    """``benchmarks/message_sizes.py`` (not part of the page: it sizes the
    channel's messages) on a few tenants."""
    from benchmarks import message_sizes

    figures = message_sizes.measure(20, tmp_path)
    assert figures["warm_modules"] == 20 and figures["metrics_parts"] >= 1
    assert 0 < figures["metrics_largest_part_bytes"] <= figures["limit"]
    assert figures["log_pages"] >= 2  # a full tail is over one message
    assert figures["parse_bomb"]["bytes"] <= figures["limit"]

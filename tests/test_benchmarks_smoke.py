"""Every benchmark script runs in --quick mode, so none can rot."""

import pytest

from benchmarks import bench_density
from benchmarks import bench_throughput


@pytest.mark.live
def test_throughput_quick():
    report = bench_throughput.main(["--quick"])
    assert set(report["rps"]) == {"muxserver", "gevent.pywsgi", "flask+gevent.pywsgi"}
    assert all(v > 0 for v in report["rps"].values())
    assert report["ratio_vs_bare_pywsgi"] > 0


@pytest.mark.live
def test_density_quick():
    report = bench_density.main(["--quick"])
    assert report["large"]["tenants"] == 200
    assert report["large"]["ready_warm_cache_s"] > 0
    assert report["p50_ratio_large_vs_small"] > 0


@pytest.mark.live
def test_noisy_neighbour_quick():
    from benchmarks import noisy_neighbour

    report = noisy_neighbour.main(["--quick"])
    assert report["no_abuser"]["requests"] > 0
    assert report["with_abuser"]["errors"] == 0


@pytest.mark.live
def test_cold_warm_quick(tmp_path):
    from benchmarks import cold_warm

    report = cold_warm.main(["--quick", "--results", str(tmp_path)])
    assert report["table"]["warm"]["n"] == 60
    assert (tmp_path / "cold_warm.md").read_text().startswith("| request |")


@pytest.mark.live
def test_deploy_quick():
    from benchmarks import deploy

    report = deploy.main(["--quick"])
    assert report["deploys"] == 3 and report["hammer_5xx"] == 0


@pytest.mark.live
def test_workers_quick():
    from benchmarks import bench_workers

    report = bench_workers.main(["--quick"])
    assert all(v > 0 for v in report["rps"].values())


@pytest.mark.live
def test_run_all_quick_writes_the_page(tmp_path):
    from benchmarks import run_all

    run_all.main(["--quick", "--results", str(tmp_path), "--no-readme"])
    page = (tmp_path / "RESULTS.md").read_text()
    assert "Quick smoke run" in page and "## Headline" in page
    assert "| figure | result | target |" in page
    assert (tmp_path / "results.json").exists()

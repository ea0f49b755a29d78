"""The suite's parallel runner (``tests/shards.py``), run as pytest runs it:
a small suite of its own in a temporary folder, in two processes."""

import os
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ElementTree

from tests.conftest import REPO

SUITE = {
    "conftest.py": """
        import os
        import pytest
        from tests.shards import pytest_addoption, pytest_configure  # noqa: F401
        from tests.shards import pytest_runtestloop, pytest_sessionfinish  # noqa: F401

        HELPER = bool(os.environ.get("MUX_TEST_SHARD_DIR"))  # read before pytest_configure takes it

        @pytest.fixture
        def in_helper():
            return HELPER
    """,
    # The leader's first file (the heaviest by durations.json) keeps it busy
    # until the helper has claimed the others.
    "test_slow.py": """
        import os, pathlib, time
        import pytest

        @pytest.fixture(scope="module")
        def started():
            yield os.getpid()

        def test_waits_for_the_helper(started):
            deadline = time.monotonic() + 60
            folder = pathlib.Path(os.environ.get("SAMPLE_FOLDER"))
            while not (folder / "helper-ran").exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert started == os.getpid()

        def test_fails():
            print("said by the leader")
            assert 1 == 2
    """,
    "test_helped.py": """
        import os, pathlib

        def test_runs_in_the_helper(in_helper):
            assert in_helper
            assert "MUX_TEST_SHARD_DIR" not in os.environ  # a pytest this test started is no helper
            (pathlib.Path(os.environ["SAMPLE_FOLDER"]) / "helper-ran").touch()

        def test_fails_in_the_helper():
            assert "helper" == "leader"
    """,
    "test_dies.py": """
        import os, pathlib

        def test_before():
            pass

        def test_dies(in_helper):
            if in_helper:
                (pathlib.Path(os.environ["SAMPLE_FOLDER"]) / "helper-ran").touch()
                os._exit(3)

        def test_after():
            pass
    """,
    "test_marks.py": """
        import pytest

        @pytest.mark.xfail(strict=True)
        def test_expected_to_fail():
            assert 0

        @pytest.mark.skip(reason="not here")
        def test_skipped():
            pass
    """,
}


def _run(tmp_path, *args):
    for name, text in SUITE.items():
        (tmp_path / name).write_text(textwrap.dedent(text))
    (tmp_path / "durations.json").write_text("{}")
    env = dict(os.environ, PYTHONPATH=str(REPO), SAMPLE_FOLDER=str(tmp_path))
    env.pop("MUX_TEST_SHARD_DIR", None)  # this suite may itself run in a helper
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-ra", *args],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def test_two_processes_report_as_one_run(tmp_path):
    result = _run(tmp_path, "--shards", "2", "--junitxml", str(tmp_path / "junit.xml"),
                  "test_slow.py", "test_helped.py", "test_marks.py")
    assert result.returncode == 1, result.stdout
    summary = result.stdout.strip().splitlines()[-1]
    assert "2 failed, 2 passed, 1 skipped, 1 xfailed" in summary, result.stdout
    assert "FAILED test_helped.py::test_fails_in_the_helper" in result.stdout
    assert "'helper' == 'leader'" in result.stdout  # the helper's failure, as pytest shows it
    assert "said by the leader" in result.stdout
    cases = ElementTree.parse(tmp_path / "junit.xml").getroot().iter("testcase")
    assert {case.get("name") for case in cases} == {
        "test_waits_for_the_helper", "test_fails", "test_runs_in_the_helper",
        "test_fails_in_the_helper", "test_expected_to_fail", "test_skipped"}


def test_a_helper_that_dies_fails_the_tests_it_left(tmp_path):
    result = _run(tmp_path, "--shards", "2", "test_slow.py", "test_dies.py")
    assert result.returncode == 1, result.stdout
    assert "FAILED test_dies.py::test_dies" in result.stdout
    assert "helper process 1 of tests/shards.py ended (exit status 3) before this test finished" \
        in result.stdout
    assert "FAILED test_dies.py::test_after" in result.stdout
    assert "test_dies.py::test_dies" in result.stdout.split("the end of its log:")[1]


def test_one_shard_is_plain_pytest(tmp_path):
    result = _run(tmp_path, "--shards", "1", "test_helped.py", "test_marks.py")
    assert result.returncode == 1
    assert "FAILED test_helped.py::test_runs_in_the_helper" in result.stdout

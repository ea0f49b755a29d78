"""The results page says which run each figure came from: a ``--only`` run
keeps the other benchmarks' figures, and their dates and interpreters with
them."""

from benchmarks.run_all import _reruns_line
from benchmarks.run_all import rerun_facts

FULL = {"machine": {"date": "2026-12-06", "python": "3.11.7"}}


def test_each_rerun_keeps_its_own_date_and_python():
    first = rerun_facts(FULL, ["density"], {"date": "2026-12-07", "python": "3.11.7"})
    second = rerun_facts({**FULL, **first}, ["peers"], {"date": "2026-12-08", "python": "3.11.2"})
    assert second["reruns"] == {"density": {"date": "2026-12-07", "python": "3.11.7"},
                                "peers": {"date": "2026-12-08", "python": "3.11.2"}}
    assert second["full_run"] == {"date": "2026-12-06", "python": "3.11.7"}
    assert _reruns_line(second) == (
        "Re-run alone with `--only`: peers (2026-12-08, Python 3.11.2); density (2026-12-07, "
        "Python 3.11.7). The other figures are from the last full run (2026-12-06, Python 3.11.7).")


def test_a_report_from_before_says_its_reruns_ran_when_it_was_written():
    old = {"machine": {"date": "2026-12-07", "python": "3.11.7"},
           "rerun": ["density", "noisy"], "full_run_date": "2026-12-06"}
    facts = rerun_facts(old, ["noisy"], {"date": "2026-12-08", "python": "3.11.2"})
    assert facts["reruns"] == {"density": {"date": "2026-12-07", "python": "3.11.7"},
                               "noisy": {"date": "2026-12-08", "python": "3.11.2"}}
    assert facts["full_run"] == {"date": "2026-12-06", "python": "3.11.7"}

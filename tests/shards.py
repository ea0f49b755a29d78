"""The suite's test files run in parallel processes, one per core.

Most of the suite is servers starting and requests waiting on them, one
core's worth at a time: on two cores, two processes take it in little more
than half the time. Each test file runs whole in one process (its
module-scoped servers start once), files claimed one by one from a plan
both processes share, the heaviest first.

Why not pytest-xdist: its workers run tests in execnet's main thread and
wait on execnet's queue, which ``tests/conftest.py``'s gevent monkey-patching
turns into a gevent wait nothing wakes (``LoopExit`` before the first
test).

How: the process ``pytest`` started (the leader) collects, writes the plan
(every test file, heaviest first by :data:`DURATIONS`) to a temporary
folder, and starts helpers: ``python -m pytest`` with the same arguments and
the folder in :data:`SHARD_ENV`. Every process claims the next unclaimed
file of the plan (an ``O_EXCL`` file) as it finishes one; a helper writes
what it reports of each test (pytest's own serialization, the one xdist
uses) to a file the leader reads between its own tests and replays into its
own reporting. So a run has one progress line, one summary, one exit
status; ``--junitxml``, ``--durations``, ``-x`` and ``--lf`` see every test.

Limits: a helper's warnings summary and ``-s`` output are in its log, not
the leader's terminal (the suite turns warnings into errors, so a warning
still fails its test); a helper that dies has the tests it had not finished
reported as failed, with the end of its log. ``--shards 1`` runs everything
in one process, as plain pytest does.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from _pytest.reports import TestReport

#: A helper's plan folder and number, set by the leader for the helper
#: alone: the helper takes them out of its environment at start, so a
#: pytest its tests start (a benchmark's, a sample suite's) is no helper.
SHARD_ENV = "MUX_TEST_SHARD_DIR"
NUMBER_ENV = "MUX_TEST_SHARD_NUMBER"
#: Seconds each test file took, as ``--store-durations`` last wrote them:
#: only to claim the longest files first (a long file claimed last keeps
#: the other process idle); a file not in it is claimed as a median one.
DURATIONS = Path(__file__).with_name("durations.json")
#: At most this many processes: each runs servers of two serving processes
#: and more, so more shards than cores only contend.
MAX_SHARDS = 4


def pytest_addoption(parser):
    group = parser.getgroup("shards", "parallel test files (tests/shards.py)")
    group.addoption("--shards", default="auto", metavar="N",
                    help="processes to run test files in: a number, or auto (one per core, "
                         f"at most {MAX_SHARDS}); 1 runs them all in this process")
    group.addoption("--store-durations", action="store_true",
                    help=f"write each test file's seconds to {DURATIONS.name} (the order files are claimed in)")


def _shard_count(config) -> int:
    value = config.getoption("shards")
    if value == "auto":
        return max(1, min(len(os.sched_getaffinity(0)), MAX_SHARDS))
    try:
        count = int(value)
    except ValueError:
        raise pytest.UsageError(f"--shards: {value!r} is not a number or auto") from None
    if count < 1:
        raise pytest.UsageError(f"--shards: {count} is not 1 or more")
    return count


def _file_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def _by_file(items) -> dict[str, list]:
    files: dict[str, list] = {}
    for item in items:
        files.setdefault(_file_of(item.nodeid), []).append(item)
    return files


def _heaviest_first(files: list[str]) -> list[str]:
    try:
        known = json.loads(DURATIONS.read_text())
    except (OSError, ValueError):
        known = {}
    seconds = sorted(known.values())
    median = seconds[len(seconds) // 2] if seconds else 0.0
    return sorted(files, key=lambda name: -known.get(name, median))


class _Claims:
    """The files of the plan this process takes, one at a time."""

    def __init__(self, folder: Path, plan: list[str], files: dict[str, list], who: str):
        self.folder, self.plan, self.files, self.who = folder, plan, files, who
        self.position = 0

    def next(self) -> list | None:
        """The items of the next file no process has claimed, or None."""
        while self.position < len(self.plan):
            index, self.position = self.position, self.position + 1
            try:
                claim = os.open(self.folder / f"claim-{index}", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                continue
            os.write(claim, self.who.encode())
            os.close(claim)
            items = self.files.get(self.plan[index])
            if items:
                return items
        return None


def _run_claimed(session, claims: _Claims, between=lambda: None) -> None:
    """Run the items of every file ``claims`` gives, in order; ``between``
    runs after each item (the leader replays its helpers' reports)."""
    current = claims.next()
    while current:
        upcoming = None
        for i, item in enumerate(current):
            if i + 1 < len(current):
                nextitem = current[i + 1]
            else:  # the next file's first item: a module's fixtures end with their file
                upcoming = claims.next()
                nextitem = upcoming[0] if upcoming else None
            item.config.hook.pytest_runtest_protocol(item=item, nextitem=nextitem)
            between()
            if session.shouldfail:
                raise session.Failed(session.shouldfail)
            if session.shouldstop:
                raise session.Interrupted(session.shouldstop)
        current = upcoming


class _Helper:
    """A helper process and the reports it has written so far."""

    def __init__(self, folder: Path, number: int, config):
        self.number, self.config = number, config
        self.events = _events_file(folder, str(number))
        self.log = folder / f"helper-{number}.log"
        self.events.touch()
        self.offset = 0
        self.finished: set[str] = set()
        args = [sys.executable, "-m", "pytest", *config.invocation_params.args,
                f"--basetemp={folder / f'tmp-{number}'}", "--junitxml="]
        env = dict(os.environ, **{SHARD_ENV: str(folder), NUMBER_ENV: str(number)})
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(args, cwd=config.invocation_params.dir, env=env,
                                            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)

    def replay(self) -> None:
        """Report, as the leader's own, what the helper wrote since last time."""
        with open(self.events, "rb") as events:
            events.seek(self.offset)
            data = events.read()
        complete = data.rfind(b"\n") + 1
        self.offset += complete
        hook = self.config.hook
        for line in data[:complete].splitlines():
            event = json.loads(line)
            if event["event"] == "start":
                hook.pytest_runtest_logstart(nodeid=event["nodeid"], location=tuple(event["location"]))
            elif event["event"] == "report":
                serialized = event["report"]
                for key in ("location", "longrepr"):  # tuples, as reporters expect: JSON made them lists
                    if isinstance(serialized.get(key), list):
                        serialized[key] = tuple(serialized[key])
                report = hook.pytest_report_from_serializable(config=self.config, data=serialized)
                hook.pytest_runtest_logreport(report=report)
            else:
                self.finished.add(event["nodeid"])
                hook.pytest_runtest_logfinish(nodeid=event["nodeid"], location=tuple(event["location"]))

    def log_tail(self, size: int = 4000) -> str:
        text = self.log.read_text(errors="replace")
        return text[-size:]


def _fail_unfinished(session, folder: Path, plan: list[str], helpers: list[_Helper],
                     files: dict[str, list]) -> None:
    """Tests a helper claimed and never finished (it died): failed, with why."""
    finished = set().union(*(helper.finished for helper in helpers))
    by_number = {str(helper.number): helper for helper in helpers}
    told: set[int] = set()
    for claim in folder.glob("claim-*"):
        helper = by_number.get(claim.read_text())
        if helper is None:
            continue
        index = int(claim.name.split("-")[1])
        for item in files.get(plan[index], ()):
            if item.nodeid in finished:
                continue
            why = (f"helper process {helper.number} of tests/shards.py ended (exit status "
                   f"{helper.process.returncode}) before this test finished")
            if helper.number not in told:  # its log once, with the first test it left
                told.add(helper.number)
                why += f"; the end of its log:\n{helper.log_tail()}"
            report = TestReport(item.nodeid, item.location, {}, "failed", why, "call")
            session.config.hook.pytest_runtest_logreport(report=report)


_HELPING = pytest.StashKey[tuple]()


def _events_file(folder: Path, number: str) -> Path:
    """Where helper ``number`` writes its events (the leader reads them)."""
    return folder / f"events-{number}.jsonl"


def _lead(session, files: dict[str, list], count: int) -> None:
    plan = _heaviest_first(list(files))
    folder = Path(tempfile.mkdtemp(prefix="mux-shards-"))
    (folder / "plan.json").write_text(json.dumps(plan))
    helpers = [_Helper(folder, number, session.config) for number in range(1, count)]
    try:
        def replay_all():
            for helper in helpers:
                helper.replay()

        _run_claimed(session, _Claims(folder, plan, files, "0"), replay_all)
        for helper in helpers:
            while helper.process.poll() is None:
                replay_all()
                try:
                    helper.process.wait(timeout=0.2)
                except subprocess.TimeoutExpired:
                    pass
        replay_all()
        _fail_unfinished(session, folder, plan, helpers, files)
    finally:
        for helper in helpers:
            if helper.process.poll() is None:
                helper.process.terminate()
                helper.process.wait()
        shutil.rmtree(folder, ignore_errors=True)


def _help(session, folder: Path, number: str) -> None:
    plan = json.loads((folder / "plan.json").read_text())
    files = _by_file(session.items)
    if set(files) != set(plan):  # claiming files it cannot run would lose them
        raise session.Failed(f"helper {number} of tests/shards.py collected other test files "
                             f"than its leader; it runs none")
    _run_claimed(session, _Claims(folder, plan, files, number))


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session):
    if session.testsfailed and not session.config.option.continue_on_collection_errors:
        return None  # pytest's own loop says why
    if session.config.option.collectonly:
        return None
    helping = session.config.stash.get(_HELPING, None)
    if helping:
        _help(session, *helping)
        return True
    files = _by_file(session.items)
    count = min(_shard_count(session.config), len(files))
    if count < 2 or session.config.getoption("usepdb", False):
        return None
    _lead(session, files, count)
    return True


class _EventWriter:
    """A helper's side: each test's start, reports and end, for the leader."""

    def __init__(self, config, path: Path):
        self.config = config
        self.file = open(path, "a", buffering=1)

    def _write(self, event: dict) -> None:
        self.file.write(json.dumps(event) + "\n")

    def pytest_runtest_logstart(self, nodeid, location):
        self._write({"event": "start", "nodeid": nodeid, "location": list(location)})

    def pytest_runtest_logreport(self, report):
        data = self.config.hook.pytest_report_to_serializable(config=self.config, report=report)
        self._write({"event": "report", "report": data})

    def pytest_runtest_logfinish(self, nodeid, location):
        self._write({"event": "finish", "nodeid": nodeid, "location": list(location)})


def pytest_configure(config):
    _shard_count(config)  # a bad --shards is a usage error before collection
    folder, number = os.environ.pop(SHARD_ENV, None), os.environ.pop(NUMBER_ENV, None)
    if folder and number:
        config.stash[_HELPING] = (Path(folder), number)
        config.pluginmanager.register(_EventWriter(config, _events_file(Path(folder), number)),
                                      "mux-shard-events")


def pytest_sessionfinish(session):
    if not session.config.getoption("store_durations") or session.config.stash.get(_HELPING, None):
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    seconds: dict[str, float] = {}
    for reports in reporter.stats.values():
        for report in reports:
            if isinstance(report, TestReport):
                name = _file_of(report.nodeid)
                seconds[name] = seconds.get(name, 0.0) + report.duration
    DURATIONS.write_text(json.dumps({name: round(value, 1) for name, value in sorted(seconds.items())},
                                    indent=0) + "\n")

"""The project's own code has no unused imports or names pyflakes finds.

An import kept for its side effect (a module that fills a table, a class
pickles need) says so with ``# noqa`` on its line; pyflakes itself does not
read those marks, so this test skips the lines that carry one.
"""

from pathlib import Path

import pytest
from pyflakes.api import checkPath
from pyflakes.reporter import Reporter

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("muxserver", "sandbox", "benchmarks")


class _Collect(Reporter):
    def __init__(self):
        self.messages = []

    def flake(self, message):
        self.messages.append(message)

    def syntaxError(self, filename, msg, lineno, offset, text):
        self.messages.append(f"{filename}:{lineno}: {msg}")

    def unexpectedError(self, filename, msg):
        self.messages.append(f"{filename}: {msg}")


@pytest.mark.parametrize("package", PACKAGES)
def test_no_unmarked_pyflakes_warning(package):
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        reporter = _Collect()
        checkPath(str(path), reporter)
        lines = path.read_text(encoding="utf-8").splitlines()
        for message in reporter.messages:
            lineno = getattr(message, "lineno", None)
            if lineno is not None and "noqa" in lines[lineno - 1]:
                continue
            found.append(str(message).replace(str(ROOT) + "/", ""))
    assert not found, "\n".join(found)

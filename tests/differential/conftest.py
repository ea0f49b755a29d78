"""Fixtures of the differential suite: one app, on Flask and on muxserver."""

import os

import pytest

from tests.differential.harness import Both
from tests.differential.harness import FlaskSide
from tests.differential.harness import write_files


@pytest.fixture
def both(tenants, tmp_path):
    """``both(files, module="app")``: the files as a Flask app (importing
    ``module``; or run by another side, ``side_class``) and as muxserver's
    tenant ``t``, compared by :class:`Both`."""
    sides = []

    def make(files, module="app", side_class=FlaskSide, **config):
        side = side_class(tmp_path / "flask", files, module)
        sides.append(side)
        write_files(tenants.root / "t", files)
        for rel in files:  # the same times, so Last-Modified and ETag can agree
            theirs = (tmp_path / "flask" / rel).stat()
            os.utime(tenants.root / "t" / rel, ns=(theirs.st_atime_ns, theirs.st_mtime_ns))
        app = tenants.app(**config)
        assert app.registry.error_list() == []
        return Both(side, app)

    yield make
    for side in sides:
        side.close()

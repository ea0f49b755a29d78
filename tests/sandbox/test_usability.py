"""The usability suite: ordinary tenant Python runs, over real HTTP."""

import pytest

from tests.conftest import serve_module_tenants
from tests.sandbox.usability_cases import CASES
from tests.sandbox.usability_cases import LIB_FILES


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    yield from serve_module_tenants(tmp_path_factory, "usable", {
        "use-" + case.replace("_", "-"): {"index.py": source, **LIB_FILES}
        for case, (source, _) in CASES.items()
    })


@pytest.mark.parametrize("case", sorted(CASES))
def test_ordinary_python_runs(server, case):
    name = "use-" + case.replace("_", "-")
    errors = server.app.registry.deploy_errors.get(name)
    assert errors is None, errors.errors
    response = server.get(f"/{name}/")
    log = "\n".join(e["line"] for e in server.app.logs.tail(name))
    assert response.status_code == 200, log
    assert response.json() == CASES[case][1]


def test_print_and_mux_log_reach_the_tenant_log(server):
    server.get("/use-module-print-and-log/")
    lines = [e["line"] for e in server.app.logs.tail("use-module-print-and-log")]
    assert "from print" in lines and "from mux.log 1" in lines

"""The attack suite: every case is tenant code served over real HTTP that
would return a secret if it escaped. See attack_cases.py for the cases."""

import os

import pytest

from tests.conftest import LiveServer
from tests.conftest import Tenants
from tests.sandbox.attack_cases import CASES

SECRET = "s3cr3t-7f1e2d"


def tenant_name(case: str) -> str:
    return "atk-" + case.replace("_", "-")[:55]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("attacks")
    secret_file = tmp / "secret.txt"
    secret_file.write_text(SECRET)
    os.environ["MUX_TEST_SECRET"] = SECRET
    tenants = Tenants(tmp)
    tenants.add("victim", {
        "index.py": f"SECRET = {SECRET!r}\ndef get():\n    return 'victim'\n",
        "lib/victim_secret.py": f"SECRET = {SECRET!r}\n",
    })
    for case, (source, _) in CASES.items():
        tenants.add(tenant_name(case), {"index.py": source.replace("SECRET_PATH", str(secret_file))})
    live = LiveServer(tenants.app())
    yield live
    live.stop()
    os.environ.pop("MUX_TEST_SECRET", None)


@pytest.mark.parametrize("case", sorted(CASES))
def test_attack_is_stopped(server, case):
    """It denies the escape: refused at deploy, or a 500 at run time, and
    the secret never reaches the client."""
    _, (stage, text) = CASES[case]
    name = tenant_name(case)
    registry = server.app.registry
    response = server.get(f"/{name}/")
    assert SECRET not in response.text
    if stage == "compile":
        assert name not in registry.tenants, f"{case} was deployed"
        errors = " ".join(registry.deploy_errors[name].errors)
        assert text in errors, errors
        assert response.status_code == 404
    else:
        # 500 for a refusal; 503 when the attempt was over the memory limit.
        assert response.status_code in (500, 503), response.text
        assert response.headers["X-Request-Id"] in response.text
        log = "\n".join(e["line"] for e in server.app.logs.tail(name))
        assert text in log, log
    # The server is still up for everyone, the victim included.
    assert server.get("/victim/").text == "victim"

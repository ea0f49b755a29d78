"""A fleet for real: three muxserver nodes behind nginx (Debian's package),
configured by ``muxserver nginx-conf`` from the nodes' own config file —
with ``base_domain`` and ``[hosts]``, as operators run it — all on 127.0.0.1."""

import shutil
import signal
import subprocess
import sys
import time

import pytest
import requests

from tests.conftest import Subprocess
from tests.conftest import free_port
from tests.conftest import start_nginx
from tests.conftest import write_tenant

pytestmark = pytest.mark.skipif(shutil.which("nginx") is None,
                                reason="nginx is not installed (apt-get install nginx)")
TENANTS = 300
BASE_DOMAIN = "fleet.example.test"


class Fleet:
    def __init__(self, root):
        self.root = root
        self.tenants = root / "tenants"
        for i in range(TENANTS):
            write_tenant(self.tenants, f"t{i}", {"index.py": f"def get():\n    return 't{i}'\n"})
        # Asks a front server to answer with another tenant's page, or a file.
        write_tenant(self.tenants, "accel", {"index.py": (
            "def get():\n    return 'mine', 200, {'X-Accel-Redirect': '/t1/',\n"
            "        'X-Sendfile': '/etc/passwd', 'X-Accel-Buffering': 'no'}\n")})
        self.config = root / "mux.toml"
        self.config.write_text(f'base_domain = "{BASE_DOMAIN}"\n'
                               '[hosts]\nt5 = ["www.t5.example", "*.t6.example"]\nt6 = ["t6.example"]\n'
                               f't4 = ["t8.{BASE_DOMAIN}"]\n')
        self.ports = [free_port() for _ in range(3)]
        self.nodes = [self._node(i) for i in range(3)]
        # t0 and t1 are a trust group on node 3; everyone else on nodes 1 and 2.
        self.listen = free_port()
        args = ["--node", f"127.0.0.1:{self.ports[0]}", "--node", f"127.0.0.1:{self.ports[1]}",
                "--group", f"gold=t0,t1:127.0.0.1:{self.ports[2]}",
                "--listen", f"127.0.0.1:{self.listen}", "--fail-timeout", "1",
                "--config", str(self.config)]
        conf = subprocess.run([sys.executable, "-m", "muxserver", "nginx-conf", *args],
                              capture_output=True, text=True, check=True).stdout
        self.nginx = start_nginx(root, conf)
        self.url = f"http://127.0.0.1:{self.listen}"
        deadline = time.monotonic() + 20
        while True:
            try:
                if requests.get(self.url + "/_mux/healthz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, "nginx did not start"
            time.sleep(0.05)

    def _node(self, i):
        node = Subprocess(["--tenants-dir", str(self.tenants), "--cache-dir", str(self.root / "c"),
                           "--data-dir", str(self.root / f"data{i}"), "--no-watch",
                           "--server-dir", str(self.root / f"server{i}"),
                           "--config", str(self.config)],
                          log_dir=self.root, port=self.ports[i])
        return node.wait_ready()

    def warm(self, node):
        status = requests.get(node.admin_url + "/_mux/status", timeout=10).json()
        return {m["tenant"] for m in status["warm_modules"]}

    def cold_starts(self, nodes=None):
        return [requests.get(n.admin_url + "/_mux/status", timeout=10).json()["cold_starts"]
                for n in (nodes or self.nodes)]

    def get_all(self, names):
        for name in names:
            r = requests.get(f"{self.url}/{name}/", timeout=10)
            assert (r.status_code, r.text) == (200, name)

    def close(self):
        self.nginx.send_signal(signal.SIGQUIT)
        self.nginx.wait(timeout=10)
        for node in self.nodes:
            node.stop()


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    f = Fleet(tmp_path_factory.mktemp("fleet"))
    yield f
    f.close()


@pytest.mark.live
def test_each_tenant_is_warm_on_exactly_one_node_of_its_group(fleet):
    names = [f"t{i}" for i in range(TENANTS)]
    fleet.get_all(names)
    warm = [fleet.warm(node) for node in fleet.nodes]
    assert sum(len(w) for w in warm) == TENANTS  # loaded once per fleet, not per node
    assert set().union(*warm) == set(names)
    assert warm[2] == {"t0", "t1"}  # the trust group, and nothing else, on its node
    assert warm[0] and warm[1]  # the others spread over both default nodes
    before = fleet.cold_starts()
    fleet.get_all(names)
    assert fleet.cold_starts() == before  # every request found its tenant warm


@pytest.mark.live
def test_a_node_computes_each_tenants_home_as_nginx_picks_it(fleet):
    """muxserver.ring reproduces nginx's consistent hash: for every tenant,
    the node Placement names is the node nginx sent it to."""
    from muxserver.fleet import Placement
    from muxserver.fleet import parse_group

    names = [f"t{i}" for i in range(TENANTS)]
    fleet.get_all(names)
    nodes = [f"127.0.0.1:{port}" for port in fleet.ports]
    placement = Placement(nodes[:2], [parse_group(f"gold=t0,t1:{nodes[2]}")])
    for node, warm in zip(nodes, [fleet.warm(n) for n in fleet.nodes]):
        assert {t for t in names if placement.home(t) == node} == warm, node


@pytest.mark.live
def test_a_lost_node_moves_only_its_own_tenants_and_they_come_back(fleet):
    names = [f"t{i}" for i in range(2, TENANTS)]
    fleet.get_all(names)
    lost = fleet.warm(fleet.nodes[1])
    kept_cold = fleet.cold_starts([fleet.nodes[0]])[0]
    fleet.nodes[1].proc.send_signal(signal.SIGKILL)
    fleet.nodes[1].proc.wait()
    fleet.get_all(sorted(lost))  # retried on the surviving node: every answer 200
    survivor = fleet.warm(fleet.nodes[0])
    assert lost <= survivor
    # Only the lost node's tenants cold-started on the survivor.
    assert fleet.cold_starts([fleet.nodes[0]])[0] == kept_cold + len(lost)
    fleet.nodes[1].stop()  # already dead: closes its log
    fleet.nodes[1] = fleet._node(1)
    deadline = time.monotonic() + 15
    while not lost <= fleet.warm(fleet.nodes[1]):
        assert time.monotonic() < deadline, "the returning node did not get its tenants back"
        fleet.get_all(sorted(lost))
        time.sleep(0.2)


@pytest.mark.live
def test_a_deploy_over_http_reaches_every_node(fleet, tmp_path):
    source = tmp_path / "t7"
    source.mkdir()
    (source / "index.py").write_text("def get():\n    return 't7 v2'\n")
    urls = [node.url for node in fleet.nodes]
    admin_urls = [node.admin_url for node in fleet.nodes]
    out = subprocess.run([sys.executable, "-m", "muxserver", "deploy", str(source), "--tenant", "t7",
                          *[arg for url in admin_urls for arg in ("--url", url)]],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("deployed t7 version") == 3
    # Every node answers with the new version, and so does the fleet.
    assert [requests.get(url + "/t7/", timeout=5).text for url in urls] == ["t7 v2"] * 3
    assert requests.get(fleet.url + "/t7/", timeout=5).text == "t7 v2"


@pytest.mark.live
def test_hosts_and_the_base_domain_route_through_nginx(fleet):
    """The tenant from the Host — a name under base_domain, one the operator's
    [hosts] assigns (wildcards too; an assigned name under base_domain is
    the assignment's) — lands on the node that keeps it warm."""
    for host, tenant in ((f"t9.{BASE_DOMAIN}", "t9"), ("www.t5.example", "t5"),
                         ("api.t6.example", "t5"), ("t6.example", "t6"),
                         (f"t8.{BASE_DOMAIN}", "t4")):
        r = requests.get(fleet.url + "/", headers={"Host": host}, timeout=10)
        assert (r.status_code, r.text) == (200, tenant), (host, r.status_code, r.text)


@pytest.mark.live
def test_a_tenant_cannot_send_nginx_to_another_tenant_or_a_file(fleet):
    r = requests.get(fleet.url + "/accel/", timeout=10)
    assert (r.status_code, r.text) == (200, "mine")
    assert "X-Sendfile" not in r.headers  # nginx hides X-Accel-* itself


@pytest.mark.live
@pytest.mark.parametrize("path", ["/_mux", "/_mux/", "/_mux?x", "/_mux/status", "/_mux/console.js",
                                  "//_mux/status", "/%5Fmux/status", "/_mux/../_mux/status"])
def test_nothing_of_the_admin_api_passes_the_proxy(fleet, path):
    import socket

    with socket.create_connection(("127.0.0.1", fleet.listen), timeout=10) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    assert answer.split(b"\r\n", 1)[0] in (b"HTTP/1.1 404 Not Found", b"HTTP/1.1 400 Bad Request"), \
        answer[:300]
    assert requests.get(fleet.url + "/_mux/healthz", timeout=10).status_code == 200

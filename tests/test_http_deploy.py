"""Deploys over HTTP with history and rollback (SPEC "Admin API"), over real
sockets: archives refused by class, tokens by scope, rollback under load."""

import io
import shutil
import subprocess
import sys
import tarfile

import gevent
import pytest
import requests

from tests.conftest import REPO
from tests.conftest import wait_until

ADMIN = "admin-token-for-tests"
ACME_TOKEN = "acme-deploy-token-0123456789"


def tgz(files: dict, extra=None) -> bytes:
    """A tar.gz of ``files`` (name -> text); ``extra(tar)`` adds odd members."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        if extra is not None:
            extra(tar)
    return out.getvalue()


def version(n):
    return {"index.py": f"def get():\n    return 'v{n}'\n"}


@pytest.fixture
def server(tenants, live):
    tenants.add("other", {"index.py": "def get():\n    return 'other'\n"})
    return live(admin_token=ADMIN, deploy_tokens={"acme": {"token": ACME_TOKEN, "name": "ci"}})


def put(server, tenant, body, token=ADMIN):
    return requests.put(f"{server.admin_url}/_mux/tenants/{tenant}", data=body, timeout=30,
                        headers={"Authorization": f"Bearer {token}"})


def test_deploy_list_and_rollback_under_load_with_no_failed_request(server):
    first = put(server, "acme", tgz(version(1)))
    assert first.status_code == 200, first.text
    v1 = first.json()["version"]
    assert first.json()["errors"] == []
    assert requests.get(server.url + "/acme/", timeout=5).text == "v1"
    statuses = []
    stop = False

    def hammer():
        session = requests.Session()
        while not stop:
            statuses.append(session.get(server.url + "/acme/", timeout=10).status_code)

    workers = [gevent.spawn(hammer) for _ in range(4)]
    try:
        v2 = put(server, "acme", tgz(version(2))).json()["version"]
        wait_until(lambda: requests.get(server.url + "/acme/", timeout=5).text == "v2")
        back = requests.post(f"{server.admin_url}/_mux/tenants/acme/rollback", json={"version": v1},
                             headers={"Authorization": f"Bearer {ACME_TOKEN}"}, timeout=10)
        assert back.status_code == 200 and back.json()["version"] == v1
        assert requests.get(server.url + "/acme/", timeout=5).text == "v1"
        gevent.sleep(0.2)
    finally:
        stop = True
        gevent.joinall(workers)
    assert statuses and set(statuses) == {200}, set(statuses)
    listing = requests.get(f"{server.admin_url}/_mux/tenants/acme/versions", timeout=5,
                           headers={"Authorization": f"Bearer {ACME_TOKEN}"}).json()
    assert listing["live"] == v1
    assert [v["version"] for v in listing["versions"]] == [v2, v1]
    assert all(v["deployed_at"] and v["bytes"] > 0 for v in listing["versions"])
    assert listing["versions"][0]["deployer"] == "admin"
    status = requests.get(server.admin_url + "/_mux/status", timeout=5,
                          headers={"Authorization": f"Bearer {ADMIN}"}).json()
    assert status["tenants"]["acme"]["version"].startswith(v1)


def _bomb(tar):
    info = tarfile.TarInfo("zeros.bin")
    info.size = 300 * 2**20
    tar.addfile(info, _Zeros(info.size))


class _Zeros(io.RawIOBase):
    def __init__(self, size):
        self.left = size

    def readinto(self, buffer):
        n = min(len(buffer), self.left)
        buffer[:n] = b"\0" * n
        self.left -= n
        return n

    def read(self, size=-1):
        n = self.left if size < 0 else min(size, self.left)
        self.left -= n
        return b"\0" * n


def _member(name, kind, linkname=""):
    def add(tar):
        info = tarfile.TarInfo(name)
        info.type = kind
        info.linkname = linkname
        tar.addfile(info)
    return add


@pytest.mark.parametrize("case, body, message", [
    ("traversal", tgz({"../evil.py": "x = 1\n", **version(1)}), "leaves the folder"),
    ("absolute", tgz({"/etc/evil.py": "x = 1\n", **version(1)}), "only relative paths"),
    ("symlink", tgz(version(1), _member("link.py", tarfile.SYMTYPE, "/etc/passwd")), "link"),
    ("hardlink", tgz(version(1), _member("hard.py", tarfile.LNKTYPE, "index.py")), "link"),
    ("device", tgz(version(1), _member("dev", tarfile.CHRTYPE)), "special file"),
    ("fifo", tgz(version(1), _member("fifo", tarfile.FIFOTYPE)), "special file"),
    ("bomb", tgz(version(1), _bomb), "more than"),
    ("not_gzip", b"plain text", "not a tar.gz"),
    ("many_files", tgz({f"f{i}.txt": "" for i in range(10_001)}), "more than 10000 files"),
])
def test_bad_archives_are_refused_and_change_nothing(server, case, body, message):
    assert put(server, "acme", tgz(version(1))).status_code == 200
    refused = put(server, "acme", body)
    assert refused.status_code == 400, refused.text
    assert message in refused.json()["error"]
    assert requests.get(server.url + "/acme/", timeout=5).text == "v1"
    store = server.app.registry.versions.root / "acme"
    assert not any(p.name.startswith(".staging") for p in store.iterdir())


@pytest.mark.skipif(shutil.which("tar") is None, reason="the tar command is not installed")
def test_an_archive_made_with_tar_of_dot_is_deployed(server, tmp_path):
    """``cd folder && tar czf x.tgz .`` names the folder itself "./" and its
    files "./index.py": the usual way to pack a folder's contents."""
    folder = tmp_path / "acme"
    (folder / "lib").mkdir(parents=True)
    (folder / "index.py").write_text("from helper import word\ndef get():\n    return word\n")
    (folder / "lib" / "helper.py").write_text("word = 'packed with tar'\n")
    archive = tmp_path / "acme.tgz"
    subprocess.run(["tar", "czf", str(archive), "."], cwd=folder, check=True)
    deployed = put(server, "acme", archive.read_bytes())
    assert deployed.status_code == 200, deployed.text
    assert requests.get(server.url + "/acme/", timeout=5).text == "packed with tar"


def test_a_file_named_as_the_folder_itself_is_refused(server):
    refused = put(server, "acme", tgz({"./": "not a folder"}))
    assert refused.status_code == 400 and "folder itself" in refused.json()["error"], refused.text


def test_rollback_takes_a_version_name_never_a_path(server):
    assert put(server, "other", tgz({"index.py": "def get():\n    return 'other v2'\n"})).status_code == 200
    other = server.app.registry.versions.live_version("other")
    assert put(server, "acme", tgz(version(1))).status_code == 200
    for bad in (f"../other/{other}", "/etc", "..", "", "0" * 15, f"{other}/../{other}"):
        r = requests.post(f"{server.admin_url}/_mux/tenants/acme/rollback", json={"version": bad},
                          headers={"Authorization": f"Bearer {ADMIN}"}, timeout=5)
        assert r.status_code in (400, 404), (bad, r.status_code)
    assert requests.get(server.url + "/acme/", timeout=5).text == "v1"


def test_a_version_with_errors_is_refused_with_file_and_line(server):
    assert put(server, "acme", tgz(version(1))).status_code == 200
    bad = put(server, "acme", tgz({"index.py": "def get(:\n"}))
    assert bad.status_code == 422
    assert bad.json()["errors"][0].startswith("acme/index.py:1: syntax error")
    assert requests.get(server.url + "/acme/", timeout=5).text == "v1"


def test_a_deploy_token_reaches_its_own_tenant_only(server):
    assert put(server, "acme", tgz(version(1)), token=ACME_TOKEN).status_code == 200
    history = server.app.registry.versions.versions("acme")
    assert history[0]["deployer"] == "ci"
    assert put(server, "other", tgz(version(9)), token=ACME_TOKEN).status_code == 401
    for method, path in (("GET", "/_mux/status"), ("POST", "/_mux/register"),
                         ("GET", "/_mux/tenants/other/versions"), ("GET", "/_mux/tenants/acme/logs"),
                         ("GET", "/_mux/console/data")):
        r = requests.request(method, server.admin_url + path, timeout=5,
                             headers={"Authorization": f"Bearer {ACME_TOKEN}"})
        assert r.status_code == 401, (path, r.status_code)
    assert put(server, "acme", tgz(version(2)), token="wrong").status_code == 401
    assert requests.put(f"{server.admin_url}/_mux/tenants/acme", data=tgz(version(2)), timeout=5).status_code == 401
    assert requests.get(server.url + "/other/", timeout=5).text == "other"


def test_muxserver_deploy_url_reaches_every_worker(tenants, muxserver_process, tmp_path):
    tenants.add("hello", {"index.py": "def get():\n    return 'dir'\n"})
    node = muxserver_process("--tenants-dir", str(tenants.root), "--workers", "2",
                             "--data-dir", str(tmp_path / "data"), "--admin-token", ADMIN).wait_ready()
    source = tmp_path / "src"
    source.mkdir()
    (source / "index.py").write_text("def get():\n    return 'http'\n")
    (source / "__pycache__").mkdir()
    (source / "__pycache__" / "junk.pyc").write_bytes(b"\0")
    run = [sys.executable, "-m", "muxserver", "deploy", str(source), "--tenant", "hello",
           "--url", node.admin_url, "--admin-token", ADMIN]
    out = subprocess.run(run, capture_output=True, text=True, cwd=REPO, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "deployed hello version" in out.stdout

    def every_worker_serves_it():
        # New connections land on either worker.
        return all(requests.get(node.url + "/hello/", timeout=5).text == "http" for _ in range(12))

    wait_until(every_worker_serves_it, timeout=10)
    (source / "index.py").write_text("def get(:\n")
    out = subprocess.run(run, capture_output=True, text=True, cwd=REPO, timeout=60)
    assert out.returncode == 1 and "syntax error" in out.stdout
    assert requests.get(node.url + "/hello/", timeout=5).text == "http"
    # The tenants' port instead of the admin listener: the command says so.
    wrong = run[:run.index("--url") + 1] + [node.url] + run[run.index("--url") + 2:]
    out = subprocess.run(wrong, capture_output=True, text=True, cwd=REPO, timeout=60)
    assert out.returncode == 1 and "listener of its own" in out.stderr, out.stderr


def test_the_first_http_deploy_of_a_fresh_server_is_readable_to_its_serving_processes(
        tenants, muxserver_process, tmp_path):
    """Serving processes lock themselves down at start (Landlock): the
    versions folder must exist by then, or the first HTTP deploy's static
    files and source lines are out of their reach."""
    tenants.add("hello", {"index.py": "def get():\n    return 'dir'\n"})
    node = muxserver_process("--tenants-dir", str(tenants.root), "--workers", "2",
                             "--data-dir", str(tmp_path / "data"), "--admin-token", ADMIN).wait_ready()
    body = tgz({"index.py": "def get():\n    marker = 1\n    raise ValueError('boom')\n",
                "static/a.txt": "static file"})
    assert put(node, "fresh", body).status_code == 200
    for _ in range(4):  # both serving processes
        r = requests.get(node.url + "/fresh/static/a.txt", timeout=10)
        assert (r.status_code, r.text) == (200, "static file"), r.text[:300]
        assert requests.get(node.url + "/fresh/", timeout=10).status_code == 500
    logs = requests.get(f"{node.admin_url}/_mux/tenants/fresh/logs", timeout=10,
                        headers={"Authorization": f"Bearer {ADMIN}"}).text
    assert "raise ValueError('boom')" in logs, logs


def test_tenants_named_live_and_with_a_trailing_newline(server):
    """``live`` is an ordinary tenant name (the live pointers are kept where no
    tenant name can go); a name with a trailing newline is refused, not
    taken as the name without it."""
    r = put(server, "live", tgz(version(1)))
    assert r.status_code == 200, r.text
    assert put(server, "acme", tgz(version(2))).status_code == 200
    assert requests.get(server.url + "/live/", timeout=5).text == "v1"
    assert requests.get(server.url + "/acme/", timeout=5).text == "v2"
    listing = requests.get(f"{server.admin_url}/_mux/tenants/live/versions", timeout=5,
                           headers={"Authorization": f"Bearer {ADMIN}"}).json()
    assert [v["live"] for v in listing["versions"]] == [True]
    r = put(server, "acme%0A", tgz(version(3)))
    assert r.status_code in (400, 404), r.text
    assert requests.get(server.url + "/acme/", timeout=5).text == "v2"


def test_live_pointers_of_an_older_server_are_moved(tmp_path):
    """Servers before 0.9 kept live pointers in ``versions/live/``."""
    from muxserver.tenancy.versions import VersionStore

    (tmp_path / "live").mkdir()
    (tmp_path / "live" / "shop").write_text("abcdef0123456789")
    (tmp_path / "shop" / "abcdef0123456789").mkdir(parents=True)
    store = VersionStore(tmp_path)
    assert store.live_tenants() == ["shop"]
    assert store.live_root("shop") == tmp_path / "shop" / "abcdef0123456789"
    assert not (tmp_path / "live").exists()

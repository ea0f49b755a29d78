"""Attack round 16b: the second layer's trust boundaries, assuming the breach.

Like ``tests/test_attacks_escaped.py``: an operator module
(``tests/operator_modules/breach_layer2.py``, allowed with ``extra_modules``)
runs full Python inside a locked-down serving process, as tenant code that
broke the language layer would, and talks to the processes beside it — the
supervisor over its channel, the egress proxy over its unix socket, its
zygote — through the objects the serving process holds. Through the real
``muxserver`` command, two serving processes, ``--isolation require``.

Holes (each closed; the tests below guard the fixes):

1. Metrics labels the supervisor never gave out (class: the supervisor
   keeps what a serving process names, unbounded). A snapshot's rows were
   believed for any tenant name and any status text; an ended process's
   snapshot is summed into the supervisor's own for good. One forged
   snapshot of 100,000 ghost tenants, sent before the process ends, grew
   the supervisor for the rest of its life and put 100,000 series in every
   ``/_mux/metrics`` scrape; each new serving process the attacker reaches
   adds as many again. Fix: ``muxserver/ops/metrics.py``
   ``checked_snapshot`` (tenants the supervisor registered, label values of
   the counter's form, a bounded number per tenant).
2. The egress proxy's counters, keyed by the tenant name a serving process
   puts in each request (class: the same, in the proxy): every refused
   name, of any length, was a counter for the proxy's life — memory without
   bound in the one proxy every serving process shares — and the counters
   went to the supervisor every second in one frame: past the frame limit
   (1 MB), the supervisor stopped reading them, so the egress metrics of
   every tenant froze. Fix: ``muxserver/egress/proxy.py`` (a name the rules
   do not hold is counted as ``-``).
3. The zygote forked a process with whatever limits the serving process's
   plan asked for (class: a more trusted process takes a bound from a less
   trusted one): ``memory_mb`` of a terabyte is a process with no memory
   limit, past the operator's ``[max_limits]`` and past the serving
   process's own ``--memory-limit``; ``storage_mb`` the same for file
   sizes. Fix: ``muxserver/proctier/zygote.py`` ``check_plan`` (the
   operator's caps come with the zygote's settings, from the supervisor).
"""

import os
import re
from pathlib import Path

import pytest
import requests

from muxserver.isolation import missing_parts
from tests.conftest import OPERATOR_MODULES
from tests.conftest import Subprocess
from tests.conftest import local_peer
from tests.conftest import wait_until
from tests.conftest import write_tenant

pytestmark = [pytest.mark.live, pytest.mark.skipif(
    bool(missing_parts()), reason=f"this machine lacks part of the process layer: {missing_parts()}")]

EVIL = {"index.py": "import breach_layer2, os\nos.listdir('/data')\ndef get(request):\n"
                    "    return breach_layer2.attempt("
                    "request.args['what'], request.args.get('arg', ''))\n"}
CALM = {"index.py": "def get():\n    return 'calm'\n"}


class Target:
    """A locked-down server with a tenant whose code runs :mod:`breach_layer2`."""

    def __init__(self, root: Path, workers: int = 2, extra_config: str = ""):
        self.root = root
        tenants = root / "tenants"
        write_tenant(tenants, "evil", EVIL)
        write_tenant(tenants, "calm", CALM)
        self.tenants = tenants.resolve()
        self.data = (root / "data").resolve()
        config = root / "mux.toml"
        config.write_text(f'extra_modules = ["breach_layer2"]\nmodule_path = ["{OPERATOR_MODULES}"]\n'
                          f'cache_dir = "{root / "cache"}"\ndata_dir = "{self.data}"\n'
                          f'server_dir = "{root / "server"}"\n{extra_config}')
        self.server = Subprocess(
            ["--tenants-dir", str(tenants), "--config", str(config), "--workers", str(workers),
             "--isolation", "require", "--no-watch"], log_dir=root).wait_ready()
        assert self.attempt("zygote_many", "0|-|-").startswith("OK")

    def attempt_raw(self, what, arg=""):
        return requests.get(self.server.url + "/evil/", params={"what": what, "arg": arg},
                            timeout=60)

    def attempt(self, what, arg=""):
        r = self.attempt_raw(what, arg)
        assert r.status_code == 200, r.text
        assert requests.get(self.server.url + "/calm/", timeout=10).text == "calm"
        return r.text

    def supervisor_pid(self) -> int:
        return requests.get(self.server.admin_url + "/_mux/status", timeout=10).json()["pid"]

    def close(self):
        self.server.stop()


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    """One server for holes 1, 2 and 4 (bomb): each measures its own growth
    from where the one before left the process it watches."""
    t = Target(tmp_path_factory.mktemp("target"))
    yield t
    t.close()


def _memory_bytes(pid: int, field: str = "VmRSS") -> int:
    """A figure of ``/proc/<pid>/status`` (``VmRSS``, ``VmHWM``: the peak)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field}")


def _rss_bytes(pid: int) -> int:
    return _memory_bytes(pid)


def test_an_ended_process_cannot_leave_labels_the_supervisor_never_gave(target):
    """Hole 1: a snapshot of 100,000 ghost tenants and 100,000 statuses of a
    real one, sent by a serving process that then ends, is kept summed for
    the supervisor's life and scraped every time."""
    supervisor = target.supervisor_pid()
    before = _rss_bytes(supervisor)
    with pytest.raises(requests.ConnectionError):
        target.attempt_raw("forge_labels_and_exit", "100000")
    target.server.wait_for_log("ended with exit status 0")
    target.server.wait_for_log("started serving process", count=3, timeout=30)
    assert requests.get(target.server.url + "/calm/", timeout=10).text == "calm"
    scrape = requests.get(target.server.admin_url + "/_mux/metrics", timeout=30)
    assert scrape.status_code == 200
    assert "ghost-" not in scrape.text
    # At most 64 values of a tenant's status per snapshot, and in the sum of
    # ended ones: the live processes' (two) and the ended ones' (one).
    calm_rows = re.findall(r'^mux_requests_total\{[^}]*tenant="calm"', scrape.text, re.M)
    assert len(calm_rows) <= 3 * 64, f"{len(calm_rows)} series of mux_requests for calm"
    grown = _rss_bytes(supervisor) - before
    assert grown < 40 * 2**20, f"the supervisor grew by {grown >> 20} MB and keeps it"
    # What the serving processes really count still arrives.
    wait_until(lambda: re.search(r'mux_requests_total\{status="200",tenant="calm"\}',
                                 requests.get(target.server.admin_url + "/_mux/metrics",
                                              timeout=10).text), timeout=15)


def _egress_proxy_pid(server_pid: int) -> int:
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if b"muxserver.egress.proxy" in cmdline:
                stat = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
                if int(stat[1]) == server_pid:
                    return int(entry)
    raise AssertionError("no egress proxy")


def test_the_egress_proxy_counts_only_tenants_it_knows(target):
    """Hole 2: 1,000 refused connections in the names of tenants that do not
    exist (60 KB each) were 1,000 counters in the proxy, and the counters it
    reports every second went over the supervisor's frame limit: from then
    on the supervisor's egress metrics never changed again."""
    proxy = _egress_proxy_pid(target.server.proc.pid)
    before = _rss_bytes(proxy)
    # 300 names of 60 KB: 18 MB of counters, far over any frame (and under the tenant's CPU limit
    # on a loaded machine, as 1,000 was not)
    answer = target.attempt("egress_names", "300")
    assert answer == "OK 300 of 300 refused", answer
    assert _rss_bytes(proxy) - before < 30 * 2**20
    # Counting goes on: a refusal after the flood shows in the supervisor's metrics.
    target.attempt("egress_names", "1")

    def refused_count():
        text = requests.get(target.server.admin_url + "/_mux/metrics", timeout=10).text
        assert "ghost-" not in text
        found = re.search(r'^mux_egress_connections_total\{outcome="refused",tenant="-"\} (\S+)',
                          text, re.M)
        return found and float(found.group(1)) >= 301

    wait_until(refused_count, timeout=15)


def _soft_limit(pid: int, name: str) -> int | None:
    """A soft limit of ``/proc/<pid>/limits`` (None: unlimited)."""
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith(name):
            soft = line[len(name):].split()[0]
            return None if soft == "unlimited" else int(soft)
    raise AssertionError(f"no {name!r} line")


def _address_space_limit(pid: int) -> int | None:
    return _soft_limit(pid, "Max address space")


def _file_size_limit(pid: int) -> int | None:
    return _soft_limit(pid, "Max file size")


@pytest.fixture
def process_target(tmp_path):
    t = Target(tmp_path, workers=1, extra_config=(
        'process_tenants = ["*"]\n[max_limits]\nmemory_mb = 256\nstorage_mb = 128\n'))
    yield t
    t.close()


def test_the_zygote_holds_a_process_to_the_operators_caps(process_target):
    """Hole 3: a plan of a terabyte of memory and storage was a process with
    a terabyte of address space and files, past ``[max_limits]``. Now it is
    refused; a plan within the caps still gets its process, limited."""
    t = process_target
    folders = f"{t.tenants / 'evil'}|{t.data / 'evil'}"
    for memory_mb, storage_mb in ((1 << 20, 128), (256, 1 << 20), (float("inf"), 128), (-1, 128)):
        answer = t.attempt("zygote_limits", f"{memory_mb}|{storage_mb}|{folders}")
        assert answer.startswith("DENIED") and "[max_limits]" in answer, answer
    answer = t.attempt("zygote_limits", f"256|128|{folders}")
    assert answer.startswith("OK pid "), answer
    pid = int(answer.split()[-1])
    wait_until(lambda: _file_size_limit(pid) == 128 * 2**20, timeout=10)
    room = _address_space_limit(pid)
    assert room is not None and room < 2 * 2**30, f"address space {room}"


def test_a_layout_where_serving_processes_write_trusted_code_is_refused(tmp_path):
    """Hole 4: the code cache inside the data dir (``--cache-dir`` under
    ``--data-dir``). Serving processes may write the data dir; the cache
    holds compiled code every process loads as is. A breached process
    replaced another tenant's cached code, which every later start ran as
    that tenant. Only the server dir was kept out of the data dir; now every
    folder whose files are run or believed is."""
    root = tmp_path
    write_tenant(root / "tenants", "evil", EVIL)
    write_tenant(root / "tenants", "calm", CALM)
    data = (root / "data").resolve()
    cache = data / ".cache"
    config = root / "mux.toml"
    config.write_text(f'extra_modules = ["breach_layer2"]\nmodule_path = ["{OPERATOR_MODULES}"]\n'
                      f'cache_dir = "{cache}"\ndata_dir = "{data}"\n'
                      f'server_dir = "{root / "server"}"\n')
    args = ["--tenants-dir", str(root / "tenants"), "--config", str(config), "--workers", "1",
            "--isolation", "require", "--no-watch"]
    server = Subprocess(args, log_dir=root)
    try:
        server.wait_ready()
    except RuntimeError as exc:
        # Refused at start, naming both folders.
        server.stop()
        assert "cache_dir" in str(exc) and "data_dir" in str(exc), exc
        assert server.proc.returncode == 2
        return
    try:
        assert requests.get(server.url + "/calm/", timeout=10).text == "calm"
        answer = requests.get(server.url + "/evil/", timeout=30, params={
            "what": "plant_cache",
            "arg": f"{cache}|{root / 'tenants' / 'calm' / 'index.py'}|breach_layer2"}).text
    finally:
        server.stop()
    server = Subprocess(args, log_dir=root).wait_ready()
    try:
        served = requests.get(server.url + "/calm/", timeout=10).text
    finally:
        server.stop()
    assert served == "calm", f"the planting ({answer}) made calm answer {served!r}"


@pytest.mark.parametrize("layout", ["tenants in data", "data in tenants", "module_path in data",
                                    "data around Python", "data in the server dir"])
def test_every_folder_run_or_trusted_stays_out_of_the_data_dir(tmp_path, layout):
    """Hole 4's class: each folder whose files another process runs or
    believes, overlapping the data dir either way, is refused at start."""
    import sysconfig

    from muxserver.config import Config
    from muxserver.errors import ConfigError

    data, tenants = tmp_path / "data", tmp_path / "tenants"
    values = {"tenants_dir": tenants, "data_dir": data, "cache_dir": tmp_path / "cache",
              "server_dir": tmp_path / "server"}
    if layout == "tenants in data":
        values["tenants_dir"] = data / "tenants"
    elif layout == "data in tenants":
        values["data_dir"] = tenants / "data"
    elif layout == "module_path in data":
        values["module_path"] = [str(data / "modules")]
    elif layout == "data around Python":
        values["data_dir"] = Path(sysconfig.get_paths()["purelib"]).parent
    else:
        values["data_dir"] = tmp_path / "server" / "versions"
    Path(values["tenants_dir"]).mkdir(parents=True)
    with pytest.raises(ConfigError, match="data_dir: .* overlap"):
        Config.build(values)
    # Beside each other, they are fine.
    tenants.mkdir(exist_ok=True)
    Config.build({"tenants_dir": tenants, "data_dir": data, "cache_dir": tmp_path / "cache",
                  "server_dir": tmp_path / "server", "module_path": [str(tmp_path / "modules")]})


def test_the_supervisor_takes_no_secret_or_version_from_the_data_dir(tmp_path):
    """Hole 5: before the server dir existed, the secret and the deployed
    versions lived in the data dir, and the supervisor still moved them from
    there into a server dir that lacked them — files in a folder serving
    processes write. A breached process planted ``data/.server-secret``: the
    next start on a fresh server dir (a moved ``--server-dir``, a server dir
    that was not kept) signed every tenant's sessions and the console's
    calls with the attacker's secret (and ``data/.versions`` would have been
    every tenant's deployed code). Now the supervisor refuses to start and
    says what to check and move by hand."""
    planted = "a secret the attacker knows, 32 bytes and more"
    t = Target(tmp_path, workers=1)
    try:
        answer = t.attempt("plant_file", f"{t.data / '.server-secret'}|{planted}")
        assert answer.startswith("OK"), answer
        answer = t.attempt("plant_file", f"{t.data / '.versions' / 'calm' / 'live'}|v1")
        assert answer.startswith("OK"), answer
    finally:
        t.close()
    fresh = tmp_path / "fresh-server"
    config = tmp_path / "mux.toml"
    config.write_text(config.read_text().replace(str(tmp_path / "server"), str(fresh)))
    args = ["--tenants-dir", str(tmp_path / "tenants"), "--config", str(config), "--workers", "1",
            "--isolation", "require", "--no-watch"]
    server = Subprocess(args, log_dir=tmp_path)
    try:
        server.wait_ready()
        started = True
    except RuntimeError as exc:
        started, refusal = False, str(exc)
    finally:
        server.stop()
    secret = fresh / "secret"
    assert not (secret.exists() and secret.read_text() == planted), "the planted secret is the server's"
    assert not started, "the server started over planted files"
    assert ".server-secret" in refusal and ".versions" in refusal, refusal
    assert server.proc.returncode == 2
    # Once the operator has looked and removed them, it starts.
    (t.data / ".server-secret").unlink()
    import shutil

    shutil.rmtree(t.data / ".versions")
    server = Subprocess(args, log_dir=tmp_path).wait_ready()
    try:
        assert requests.get(server.url + "/calm/", timeout=10).text == "calm"
        assert secret.read_bytes() != planted.encode()
    finally:
        server.stop()


def _peak_rss_bytes(pid: int) -> int:
    return _memory_bytes(pid, "VmHWM")


def test_a_serving_process_cannot_make_the_supervisor_parse_a_bomb(target):
    """Hole 4 (closed after the round): the supervisor parses a serving
    process's message whole, on its hub, into objects up to ~22 times its
    bytes; at a bound of 16 MiB a message of empty lists took it 2 s and
    360 MB at its peak, back to back. Now every message a serving process
    sends is small by construction (metrics in parts, status and log tails
    in pages) and the bound is 1 MiB: a message over it is read past
    unparsed, the worst one under it costs ~22 MB, one at a time."""
    from muxserver.supervisor.channel import MAX_UNTRUSTED_BYTES

    supervisor = target.supervisor_pid()
    before = _peak_rss_bytes(supervisor)
    answer = target.attempt("list_bomb", "2")  # about 15 MB each: over the bound
    assert answer.startswith("OK"), answer
    under = (MAX_UNTRUSTED_BYTES - 40) // 3  # as many empty lists as fit the bound
    answer = target.attempt("list_bomb", f"6|{under}")
    assert answer.startswith("OK"), answer
    # The messages are read (the next status call is answered after them).
    assert requests.get(target.server.admin_url + "/_mux/status", timeout=60).status_code == 200
    grown = _peak_rss_bytes(supervisor) - before
    assert grown < 100 * 2**20, f"the supervisor's peak memory grew by {grown >> 20} MB"
    target.server.wait_for_log("over the limit of 1048576: skipped", count=2)


# -- 6. the egress proxy's descriptors, from a process tenant (no escape) -------------------------

HOG = '''
import base64, os, socket
from urllib.parse import urlsplit
HELD = []

def get(request):
    proxy = urlsplit(os.environ["HTTP_PROXY"])
    auth = base64.b64encode(f"{proxy.username}:{proxy.password}".encode()).decode()
    relay = request.args.get("mode") == "relay"
    relayed = 0
    for _ in range(int(request.args.get("n", "1000"))):
        try:
            s = socket.create_connection((proxy.hostname, proxy.port), timeout=5)
        except OSError:
            break
        HELD.append(s)
        if relay:
            s.sendall(f"CONNECT 127.0.0.1:{os.environ['PEER_PORT']} HTTP/1.1\\r\\n"
                      f"Proxy-Authorization: Basic {auth}\\r\\n\\r\\n".encode())
            relayed += s.recv(100).startswith(b"HTTP/1.1 200")
    return f"holding {len(HELD)}, relayed {relayed}"
'''

CALLER = '''
import mux, requests

def get():
    try:
        return requests.get(f"http://127.0.0.1:{mux.env['PEER_PORT']}/", timeout=20).text
    except Exception as exc:
        return f"failed: {type(exc).__name__}: {exc}"
'''


@pytest.fixture
def peer():
    """A local HTTP service tenants may reach through the egress proxy."""
    with local_peer(b"the peer answers") as port:
        yield port


def test_a_process_tenant_cannot_take_the_egress_proxys_descriptors(tmp_path, peer):
    """Hole 6 (no escape needed): the proxy read a request's head with no
    time limit, relayed any number of connections per tenant, and ran with
    the server's soft open-files limit (1,024 under a default systemd
    unit). A process tenant in two processes opened 2,000 connections to
    the proxy's port and sent nothing: the proxy could open nothing more,
    the next outbound call of another tenant failed, and the proxy dropped
    that serving process's only connection to it ("the egress proxy is
    gone"): its tenants had no outbound HTTP until it was replaced."""
    import sys
    from concurrent.futures import ThreadPoolExecutor

    tenants = tmp_path / "tenants"
    egress = f'[egress]\nallow = ["127.0.0.1"]\n[env]\nPEER_PORT = "{peer}"\n'
    write_tenant(tenants, "hog", {"tenant.toml": 'runtime = "process"\n' + egress,
                                  "index.py": HOG})
    write_tenant(tenants, "caller", {"tenant.toml": egress, "index.py": CALLER})
    config = tmp_path / "mux.toml"
    config.write_text('process_tenants = ["hog"]\n'
                      '[egress]\nallow = ["127.0.0.1"]\nprivate = ["127.0.0.0/8"]\n')
    server = Subprocess(["--tenants-dir", str(tenants), "--config", str(config), "--no-watch",
                         "--workers", "1", "--data-dir", str(tmp_path / "data"),
                         "--cache-dir", str(tmp_path / "cache"),
                         "--server-dir", str(tmp_path / "server")], log_dir=tmp_path,
                        command=["prlimit", "--nofile=1024:20000", sys.executable, "-m",
                                 "muxserver"]).wait_ready(timeout=120)

    def hog(mode, n):
        # Two processes of the tenant at once (up to four per serving process).
        with ThreadPoolExecutor(2) as pool:
            return list(pool.map(lambda _: requests.get(
                server.url + "/hog/", params={"mode": mode, "n": n}, timeout=60).text, range(2)))

    try:
        assert requests.get(server.url + "/caller/", timeout=60).text == "the peer answers"
        proxy = _egress_proxy_pid(server.proc.pid)
        held = hog("silent", 1000)
        assert all(h.startswith("holding ") for h in held), held
        assert requests.get(server.url + "/caller/", timeout=60).text == "the peer answers", held
        # Connections that say nothing are let go (the tenant still holds its ends).
        wait_until(lambda: len(os.listdir(f"/proc/{proxy}/fd")) < 100, timeout=40)
        # Connections relayed for one tenant are capped.
        held = hog("relay", 300)
        relayed = sum(int(h.rsplit(" ", 1)[1]) for h in held)
        assert relayed <= 256, held
        assert requests.get(server.url + "/caller/", timeout=60).text == "the peer answers", held
    finally:
        server.stop()


# -- 7. a status of the wrong shape ------------------------------------------------------------


@pytest.fixture(scope="module")
def forging_target(tmp_path_factory):
    """One server for every forgery: each replaces the one before it."""
    t = Target(tmp_path_factory.mktemp("forging"), workers=1)
    yield t
    t.close()


@pytest.mark.parametrize("forgery", ["no-role", "kill-tenant-list", "kill-tenant-number",
                                     "evict-text", "specialize-list", "logs-time"])
def test_a_forged_status_leaves_the_operators_status_answering(forging_target, forgery):
    """Hole 7: the supervisor checked a serving process's status for some
    of the keys it reads, not all: a status without ``role``, or with a
    limit-kill row whose tenant is a list or a number, passed the check and
    then made ``/_mux/status`` and the console's data answer 500 — for as
    long as the breached process lived, the operator saw nothing. Its
    answers to ``evict`` (text), ``specialize`` (a list) and ``logs`` (a
    line of time NaN or 1e300) did the same to those calls."""
    t = forging_target
    answer = t.attempt("forge_status", forgery)
    assert answer.startswith("OK"), answer
    for call in ("/_mux/status", "/_mux/console/data"):
        r = requests.get(t.server.admin_url + call, timeout=30)
        assert r.status_code == 200, f"{call}: {r.status_code} {r.text[:300]}"
    r = requests.post(t.server.admin_url + "/_mux/evict", json={}, timeout=30)
    assert r.status_code == 200 and isinstance(r.json()["evicted"], int), r.text[:300]
    r = requests.post(t.server.admin_url + "/_mux/specialize",
                      json={"tenant": "calm", "endpoint": "index"}, timeout=30)
    # Answered by the process (200), or "no serving process answered" — never a 500.
    assert r.status_code != 500, r.text[:300]
    for form in ("", "?json"):
        r = requests.get(t.server.admin_url + "/_mux/tenants/calm/logs" + form, timeout=30)
        assert r.status_code == 200, r.text[:300]
    assert "calm" in requests.get(t.server.admin_url + "/_mux/status", timeout=30).json()[
        "tenants"]


# -- 8. entries of /data, from a sandboxed tenant (no escape) --------------------------------------

MANY_FILES = '''
import os

def get(request):
    made = 0
    try:
        for i in range(int(request.args["n"])):
            open(f"/data/f{request.args['batch']}-{i}", "w").close()
            made += 1
        os.makedirs("/data/" + "/".join(["d"] * 200))
        made += 200
    except OSError as exc:
        return f"made {made}, then {type(exc).__name__}"
    return f"made {made}"
'''


def test_a_tenants_empty_files_count_against_its_storage(muxserver_process, tmp_path):
    """Hole 8 (no escape needed): the storage quota counted bytes of content
    alone. A sandboxed tenant made 578,000 empty files in 77 s of requests
    at the default limits — "0 bytes" of its 100 MB — taking that many of
    the disk's inodes (every tenant's, and the server's), and each count of
    its folder became a walk of seconds: ``/_mux/status`` took 3-4 s of the
    supervisor's loop every 10 s, and the serving process's quota checks
    stalled every tenant it served. Each entry now counts as a block (4 KiB)
    at least, a path's new entries are checked before they are made, and a
    count stops past the quota."""
    tenants = tmp_path / "tenants"
    write_tenant(tenants, "many", {"tenant.toml": "[limits]\nstorage_mb = 1\n",
                                   "index.py": MANY_FILES})
    write_tenant(tenants, "calm", CALM)
    server = muxserver_process("--tenants-dir", str(tenants), "--no-watch", "--workers", "1",
                               "--data-dir", str(tmp_path / "data")).wait_ready()
    answers = [requests.get(server.url + "/many/", params={"n": 200, "batch": b},
                            timeout=60).text for b in range(3)]
    entries = sum(1 for _ in (tmp_path / "data" / "many").rglob("*"))
    # 1 MB holds 256 entries of 4 KiB (a few more while a count is a second old).
    assert entries <= 300, (entries, answers)
    assert "QuotaExceeded" in answers[-1] or "OSError" in answers[-1], answers
    status = requests.get(server.admin_url + "/_mux/status", timeout=30).json()
    assert status["tenants"]["many"]["storage_bytes"] >= 200 * 4096
    assert requests.get(server.url + "/calm/", timeout=10).text == "calm"


def test_a_relays_lifetime_is_the_proxys_decision(tmp_path, peer):
    """Hole 6, the lifetime: a serving process tells the proxy how long a
    connection may live (the time its request has left), and the proxy took
    ``min(asked, wall_s)`` — NaN made that NaN, and ``gevent.joinall`` with
    a NaN timeout waits for ever: a breached process kept relays open past
    every tenant's ``wall_s``. Only a finite, positive figure below the
    tenant's wall time is taken now."""
    root = tmp_path
    write_tenant(root / "tenants", "evil", EVIL)
    write_tenant(root / "tenants", "calm", {
        "tenant.toml": '[egress]\nallow = ["127.0.0.1"]\n[limits]\nwall_s = 1\n', **CALM})
    config = root / "mux.toml"
    config.write_text(f'extra_modules = ["breach_layer2"]\nmodule_path = ["{OPERATOR_MODULES}"]\n'
                      f'data_dir = "{root / "data"}"\ncache_dir = "{root / "cache"}"\n'
                      f'server_dir = "{root / "server"}"\n'
                      '[egress]\nallow = ["127.0.0.1"]\nprivate = ["127.0.0.0/8"]\n')
    server = Subprocess(["--tenants-dir", str(root / "tenants"), "--config", str(config),
                         "--workers", "1", "--isolation", "require", "--no-watch"],
                        log_dir=root).wait_ready()
    from concurrent.futures import ThreadPoolExecutor

    def hold(timeout):
        return requests.get(server.url + "/evil/", timeout=60, params={
            "what": "egress_hold", "arg": f"calm|127.0.0.1|{peer}|{timeout}"}).text

    try:
        timeouts = ("nan", "inf", "-1")
        with ThreadPoolExecutor(len(timeouts)) as pool:  # each waits out calm's wall_s: at once
            answers = list(pool.map(hold, timeouts))
        for timeout, answer in zip(timeouts, answers):
            assert answer.startswith("OK the proxy ended it"), (timeout, answer)
    finally:
        server.stop()


def test_a_tenant_with_many_statuses_keeps_its_process_believed(muxserver_process, tmp_path):
    """The guard of hole 1 bounds a tenant's rows per counter; a tenant
    that answers 300 distinct statuses must not make its serving process's
    snapshots refused (a snapshot is the process's heartbeat: refused ones
    would get it killed as stuck). Its rows past the bound are left out."""
    tenants = tmp_path / "tenants"
    write_tenant(tenants, "statuses", {"index.py": "def get(request):\n"
                                                  "    return 'x', int(request.args['s'])\n"})
    write_tenant(tenants, "calm", CALM)
    server = muxserver_process("--tenants-dir", str(tenants), "--no-watch", "--workers", "1",
                               "--worker-timeout", "3").wait_ready()
    for status in range(200, 500):
        requests.get(server.url + "/statuses/", params={"s": status}, timeout=10)
    for _ in range(3):
        assert requests.get(server.url + "/calm/", timeout=10).text == "calm"

    def calm_counted():
        text = requests.get(server.admin_url + "/_mux/metrics", timeout=10).text
        found = re.search(r'^mux_requests_total\{status="200",tenant="calm"\} (\S+)', text, re.M)
        return found and float(found.group(1)) >= 3

    wait_until(calm_counted, timeout=15)
    rows = re.findall(r'^mux_requests_total\{[^}]*tenant="statuses"', requests.get(
        server.admin_url + "/_mux/metrics", timeout=10).text, re.M)
    assert 0 < len(rows) <= 64
    assert "sent nothing for" not in server.output()

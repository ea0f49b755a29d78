"""The tenant's files: /app read-only, /data under a quota, nothing else —
symbolic links and `..` included (sandbox.facades.files)."""

import io
import os

import pytest

from sandbox import TenantRuntime
from sandbox import compile_tenant
from sandbox.facades.files import ENTRY_BYTES
from sandbox.facades.files import QuotaExceeded
from sandbox.facades.files import TenantFiles


def run(files, source, env=None):
    runtime = TenantRuntime("t", load_lib=lambda name: None, files=files, env=env)
    result = compile_tenant(source, "t/index.py")
    assert result.ok, result.errors
    namespace = runtime.new_namespace("index", "index.py")
    runtime.run(result.code, namespace)
    return namespace


@pytest.fixture
def folders(tmp_path):
    app = tmp_path / "app"
    data = tmp_path / "data"
    app.mkdir()
    data.mkdir()
    (app / "conf.txt").write_text("conf")
    (tmp_path / "secret.txt").write_text("secret")
    return app, data, tmp_path / "secret.txt"


def test_reads_its_folder_by_relative_app_and_file_relative_names(folders):
    app, data, _ = folders
    ns = run(TenantFiles(app, data), "import os\n"
             "a = open('conf.txt').read()\n"
             "b = open('/app/conf.txt').read()\n"
             "c = open(os.path.join(os.path.dirname(__file__), 'conf.txt')).read()\n")
    assert ns["a"] == ns["b"] == ns["c"] == "conf"


def test_a_symlink_deployed_in_the_folder_is_not_followed_out(folders):
    app, data, secret = folders
    os.symlink(secret, app / "link.txt")
    os.symlink(secret.parent, app / "dirlink")
    files = TenantFiles(app, data)
    for name in ("link.txt", "dirlink/secret.txt", "/app/dirlink/secret.txt"):
        with pytest.raises(PermissionError):
            files.open(name)
    assert "link.txt" not in run(files, "import os\nnames = os.listdir('.')\n")["names"]


def test_writes_go_to_data_only_and_stop_at_the_quota(folders):
    app, data, _ = folders
    # Three entries (a folder, two files) count a block each, and 500 bytes more.
    files = TenantFiles(app, data, quota_bytes=3 * ENTRY_BYTES + 500)
    ns = run(files, "import os\nos.makedirs('/data/notes', exist_ok=True)\n"
             "with open('/data/notes/a.txt', 'w') as f:\n    f.write('x' * 600)\n"
             "names = os.listdir('/data/notes')\n")
    assert ns["names"] == ["a.txt"] and (data / "notes" / "a.txt").read_text() == "x" * 600
    with pytest.raises(QuotaExceeded, match="storage quota exceeded"):
        run(files, "f = open('/data/b.txt', 'w')\nf.write('y' * 600)\n")
    # Nothing of the refused write reached the disk.
    assert (data / "b.txt").read_text() == ""
    with pytest.raises(PermissionError, match="read-only"):
        files.open("conf.txt", "a")


def test_os_environ_is_the_tenants_env_only(folders):
    app, data, _ = folders
    os.environ["MUX_HOST_ONLY"] = "host"
    try:
        ns = run(TenantFiles(app, data), "import os\na = os.environ.get('MUX_HOST_ONLY')\n"
                 "b = os.getenv('GREETING')\nos.environ['X'] = '1'\n", env={"GREETING": "hi"})
    finally:
        del os.environ["MUX_HOST_ONLY"]
    assert ns["a"] is None and ns["b"] == "hi" and "X" not in os.environ


class _Unsized:
    """A stream that cannot tell its size (no seek): an upload read from
    the socket."""

    def __init__(self, data):
        self._data = io.BytesIO(data)

    def read(self, size=-1):
        return self._data.read(size)


def test_save_stream_checks_the_whole_upload_before_writing(folders):
    app, data, secret = folders
    files = TenantFiles(app, data, quota_bytes=ENTRY_BYTES + 1000)  # one entry, 1000 bytes more
    (data / "kept.txt").write_text("kept")
    with pytest.raises(QuotaExceeded):
        files.save_stream("/data/kept.txt", io.BytesIO(b"z" * 1200), 1200)
    assert (data / "kept.txt").read_text() == "kept"  # not even truncated
    assert files.save_stream("/data/kept.txt", io.BytesIO(b"y" * 900), 900, buffer_size=7) == 900
    assert (data / "kept.txt").read_bytes() == b"y" * 900
    for name in ("/app/conf.txt", "conf.txt", "../secret.txt", str(secret)):
        with pytest.raises(PermissionError):
            files.save_stream(name, io.BytesIO(b"x"), 1)
    assert secret.read_text() == "secret"


def test_save_stream_of_unknown_size_stops_at_the_quota(folders):
    app, data, _ = folders
    files = TenantFiles(app, data, quota_bytes=ENTRY_BYTES + 1000)
    with pytest.raises(QuotaExceeded):
        files.save_stream("/data/u.bin", _Unsized(b"u" * 20000), None, buffer_size=100)
    assert (data / "u.bin").stat().st_size <= ENTRY_BYTES + 1000


def test_a_tenant_folder_resolves_as_realpath_does_symlinks_included(tmp_path):
    from sandbox.facades.files import real_folder

    (tmp_path / "a" / "b").mkdir(parents=True)
    os.symlink(tmp_path / "a", tmp_path / "link")
    os.symlink(tmp_path / "a" / "b", tmp_path / "a" / "lb")
    for path in ("a/b", "link/b", "a/lb", "link/lb", "a/../a/b", "a/b/", "a/missing", "link"):
        full = f"{tmp_path}/{path}"
        assert real_folder(full) == os.path.realpath(full), path
    assert real_folder("relative/x") == os.path.realpath("relative/x")


def test_the_host_is_asked_before_data_is_first_made_and_again_if_it_refused(tmp_path):
    app, data = tmp_path / "app", tmp_path / "data" / "t"
    app.mkdir()
    asked = []

    def gate():
        asked.append(data.exists())
        if len(asked) == 1:
            raise OSError("not now: the data is being restored")

    files = TenantFiles(app, data)
    files.before_first_data_use = gate
    runtime = TenantRuntime("t", load_lib=lambda name: None, files=files)
    result = compile_tenant("def write():\n    with open('/data/x', 'w') as f:\n"
                            "        f.write('x')\n", "t/index.py")
    namespace = runtime.new_namespace("index", "index.py")
    runtime.run(result.code, namespace)
    with pytest.raises(OSError, match="being restored"):
        namespace["write"]()
    assert not data.exists()
    namespace["write"]()
    namespace["write"]()
    assert asked == [False, False]  # before the folder existed, and once it was made no more
    assert (data / "x").read_text() == "x" and data.stat().st_mode & 0o777 == 0o700

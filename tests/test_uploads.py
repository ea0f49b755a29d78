"""``FileStorage.save`` (``request.files["f"].save(dst)``): it writes only
inside the tenant's own ``/data``, through its file facade, under its
storage quota — attacked with ``..``, absolute host paths, symbolic links
planted in its data folder, the server's own folder, and host objects
passed as the file to write to (issue 24)."""

import io
import os

import pytest

SAVER = {"u.py": """
    import os, sys
    from flask import Flask, request

    app = Flask(__name__)

    @app.route("/save", methods=["POST"])
    def save():
        target = request.form["to"]
        if request.form.get("mkdir"):
            os.makedirs(os.path.dirname(target), exist_ok=True)
        try:
            request.files["doc"].save(target)
        except Exception as e:
            return {"refused": type(e).__name__, "why": str(e)}
        with open(target, "rb") as f:
            return {"saved": f.read().decode()}

    @app.route("/into", methods=["POST"])
    def into():
        upload = request.files["doc"]
        targets = {"stream": request.stream, "readonly": open("/app/u.py"),
                   "itself": upload, "app": app}
        try:
            upload.save(targets[request.form["what"]])
        except Exception as e:
            return {"refused": type(e).__name__, "why": str(e)}
        return {"saved": "into " + request.form["what"]}

    @app.route("/reach", methods=["POST"])
    def reach():
        upload = request.files.getlist("doc")[0]
        stream = upload.stream
        tries = {
            "_fs": lambda: upload._fs, "_s": lambda: stream._s,
            "getattr _s": lambda: getattr(stream, "_s"), "name": lambda: stream.name,
            "fileno": lambda: stream.fileno(), "write": lambda: stream.write(b"x"),
            "dict": lambda: getattr(stream, "__dict__"),
            "to_dict _fs": lambda: request.files.to_dict()["doc"]._fs,
            "deepcopy": lambda: request.files.deepcopy()["doc"]._fs,
            "copied stream": lambda: request.files.deepcopy()["doc"].stream._s,
            "lists _fs": lambda: list(request.files.lists())[0][1][0]._fs,
        }
        reached = {}
        for label, attempt in tries.items():
            try:
                reached[label] = repr(attempt())
            except Exception as e:
                reached[label] = "refused " + type(e).__name__
        copy = request.files.deepcopy()["doc"]
        reached["copy reads"] = [copy.filename, copy.mimetype, len(copy.read())]
        return reached

    @app.route("/unchecked", methods=["POST"])
    def unchecked():
        request.files["doc"].save("/data/big.bin")
        return "saved"
    """}


@pytest.fixture
def site(tenants, tmp_path):
    data = tmp_path / "data"
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim.txt").write_text("untouched")
    tenants.add("acme", {**SAVER, "tenant.toml": "[limits]\nstorage_mb = 1\n"})
    client = tenants.client(data_dir=data)
    return client, data / "acme", outside


def _save(client, to, body=b"payload", **form):
    return client.post("/acme/save", data={"doc": (io.BytesIO(body), "doc.txt"), "to": to,
                                            **form}).json


def test_a_save_lands_in_the_tenants_data_folder(site):
    client, data, _ = site
    assert _save(client, "/data/uploads/a.txt", mkdir="1") == {"saved": "payload"}
    assert (data / "uploads" / "a.txt").read_bytes() == b"payload"
    assert _save(client, "/data/uploads/../b.txt") == {"saved": "payload"}  # still in /data
    assert (data / "b.txt").read_bytes() == b"payload"


@pytest.mark.parametrize("to", [
    "../../../../tmp/mux-upload-escape",          # relative: from /app, out of it
    "/data/../../../tmp/mux-upload-escape",
    "/data/../app/u.py",                          # its own code: /app is read-only
    "u.py",
    "/tmp/mux-upload-escape",                     # host paths are not visible at all
    "/etc/mux-upload-escape",
    "/data/.mux/kv.sqlite3",                      # the server's folder in /data
])
def test_it_denies_paths_out_of_data(site, to):
    client, data, _ = site
    answer = _save(client, to)
    assert answer["refused"] == "PermissionError", answer
    assert not os.path.exists("/tmp/mux-upload-escape")
    assert not os.path.exists("/etc/mux-upload-escape")


def test_it_denies_the_host_path_of_its_own_data_folder(site):
    """The real path of /data on the host is just another host path."""
    client, data, _ = site
    data.mkdir(parents=True, exist_ok=True)
    answer = _save(client, str(data / "direct.txt"))
    assert answer["refused"] == "PermissionError"
    assert not (data / "direct.txt").exists()


def test_it_denies_symbolic_links_planted_in_data(site):
    """A link in /data (brought by a data import, say) pointing out of it is
    not followed, as a folder or as the file itself."""
    client, data, outside = site
    data.mkdir(parents=True, exist_ok=True)
    os.symlink(outside, data / "linkdir")
    os.symlink(outside / "victim.txt", data / "victim.txt")
    for to in ("/data/linkdir/new.txt", "/data/linkdir/victim.txt", "/data/victim.txt"):
        answer = _save(client, to)
        assert answer["refused"] == "PermissionError", (to, answer)
    assert (outside / "victim.txt").read_text() == "untouched"
    assert sorted(os.listdir(outside)) == ["victim.txt"]


@pytest.mark.parametrize("what, refused", [
    ("stream", "AttributeError"),       # request.stream: a host object with no write
    ("itself", "AttributeError"),       # the upload: no write either
    ("app", "AttributeError"),
    ("readonly", "PermissionError"),    # the tenant's own file, opened for reading
])
def test_it_denies_host_file_objects_without_a_declared_write(site, what, refused):
    client, _, _ = site
    answer = client.post("/acme/into", data={"doc": (io.BytesIO(b"x"), "d.txt"),
                                             "what": what}).json
    assert answer["refused"] == refused, answer


def test_a_save_over_the_quota_writes_nothing_and_answers_507(site):
    client, data, _ = site
    assert _save(client, "/data/big.bin") == {"saved": "payload"}
    # Uploads under 500 KB, so werkzeug keeps each in memory (its temporary
    # files for larger ones are never closed by its test client).
    for name in ("fill1", "fill2"):  # 900 KB of the 1 MB
        assert "saved" in _save(client, f"/data/{name}.bin", body=b"f" * 450 * 1024)
    big = b"x" * 200 * 1024
    answer = _save(client, "/data/big.bin", body=big)
    assert answer["refused"] == "QuotaExceeded" and "storage_mb" in answer["why"]
    assert (data / "big.bin").read_bytes() == b"payload"  # the old file, as it was
    # Uncaught, it is the storage answer of the SPEC.
    r = client.post("/acme/unchecked", data={"doc": (io.BytesIO(big), "d.bin")})
    assert r.status_code == 507
    assert (data / "big.bin").read_bytes() == b"payload"


def test_the_files_multidict_and_an_uploads_stream_reach_no_host_file(site):
    """Through ``request.files`` (every road of the MultiDict) and
    ``FileStorage.stream``, tenant code reads the content and nothing of the
    stream behind it."""
    client, _, _ = site
    answer = client.post("/acme/reach", data={"doc": (io.BytesIO(b"x" * 1024), "d.bin")})
    assert answer.status_code == 200, answer.get_data()
    reached = answer.json
    assert reached.pop("copy reads") == ["d.bin", "application/octet-stream", 1024]
    assert all(v.startswith("refused ") for v in reached.values()), reached


def test_the_users_getlist_function_over_http(tenants, live):
    """The reported function (``tenants/min-files/getlist.py``) over a real
    socket, two files in one field, as ``curl -F f=@a.txt -F f=@b.sh``."""
    tenants.add("min-files", {"getlist.py": """
        from flask import request

        def post():
            return {"names": [f.filename for f in request.files.getlist("f")]}
        """})
    server = live()
    answer = server.post("/min-files/getlist", files=[("f", ("a.txt", b"a")),
                                                      ("f", ("b.sh", b"echo"))])
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"names": ["a.txt", "b.sh"]}

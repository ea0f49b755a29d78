"""A registered version's spec: its name and few per-request fields on it,
the rest in a content object that tenants made from one template share."""

import pickle

from muxserver.tenancy.codecache import CodeCache
from muxserver.tenancy.manifest import TenantRules
from muxserver.tenancy.scanner import scan_tenant
from muxserver.tenancy.snapshot import SpecSnapshot
from muxserver.tenancy.spec import TenantSpec
from tests.conftest import write_tenant

HELLO = {"index.py": "def get():\n    return 'hi'\n"}


def test_tenants_made_from_one_template_share_one_content(tmp_path):
    cache = CodeCache(tmp_path / "cache")
    specs = [scan_tenant(write_tenant(tmp_path / "tenants", name, HELLO), name, cache,
                         TenantRules()) for name in ("w1", "w2")]
    other = scan_tenant(write_tenant(tmp_path / "tenants", "w3", {"index.py": "def get():\n"
                                                                 "    return 'other'\n"}),
                        "w3", cache, TenantRules())
    assert specs[0].content is specs[1].content and other.content is not specs[0].content
    # Each still reads as its own record.
    assert [s.root for s in specs] == [str(tmp_path / "tenants" / n) for n in ("w1", "w2")]
    assert [r.rule for r in specs[1].routes] == ["/"] and specs[1].name == "w2"
    received = pickle.loads(pickle.dumps(SpecSnapshot([*specs, other])))
    assert received == [*specs, other] and received[0].content is received[1].content


def test_a_root_that_does_not_end_with_the_name_is_kept_whole(tmp_path):
    """A version deployed over HTTP is served from ``versions/<tenant>/<id>``."""
    root = str(tmp_path / "versions" / "acme" / "3f2a")
    spec = TenantSpec("acme", root, errors=("acme/: bad",))
    assert spec.root == root and not spec.ok
    assert TenantSpec("acme", "acme").root == "acme"
    assert TenantSpec("me", str(tmp_path / "acme")).root == str(tmp_path / "acme")


def test_replace_makes_a_copy_and_leaves_the_shared_content(tmp_path):
    cache = CodeCache(tmp_path / "cache")
    specs = [scan_tenant(write_tenant(tmp_path / "tenants", name, HELLO), name, cache,
                         TenantRules()) for name in ("w1", "w2")]
    failed = specs[0].replace(errors=("w1/index.py:1: no",), static_prefix="/s/")
    assert failed.errors == ("w1/index.py:1: no",) and failed.static_prefix == "/s/"
    assert failed.name == "w1" and failed.root == specs[0].root and failed.routes == specs[0].routes
    assert specs[0].ok and specs[1].ok and specs[0].static_prefix is None
    # One spec alone travels too (a deploy published to a serving process).
    assert pickle.loads(pickle.dumps(failed, protocol=pickle.HIGHEST_PROTOCOL)) == failed


def test_tables_equal_in_python_but_not_in_type_are_not_shared(tmp_path):
    """``1 == True == 1.0``: a tenant whose route default is ``True`` was
    served the table of one registered before it with ``1`` (its view saw
    ``1``). Tables are shared only when their values and types are the same."""
    from werkzeug.test import Client

    from muxserver.app import MuxApp
    from muxserver.config import Config

    for name, default in (("alice", "1"), ("carol", "True"), ("dave", "1.0"), ("erin", "1")):
        write_tenant(tmp_path / "tenants", name, {"app.py": (
            "from flask import Flask\napp = Flask(__name__)\n\n\n"
            f"@app.route('/x', defaults={{'n': {default}}})\n"
            "def x(n):\n    return repr(n)\n")})
    app = MuxApp(Config.build({"tenants_dir": tmp_path / "tenants", "cache_dir": tmp_path / "c",
                               "watch": False}))
    client = Client(app)
    answers = {name: client.get(f"/{name}/x").get_data(as_text=True)
               for name in ("alice", "carol", "dave", "erin")}
    assert answers == {"alice": "1", "carol": "True", "dave": "1.0", "erin": "1"}
    specs = {name: app.registry.get(name).spec for name in answers}
    assert specs["alice"].routes is specs["erin"].routes  # same values, same types: one table
    assert specs["alice"].routes is not specs["carol"].routes

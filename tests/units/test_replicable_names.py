"""Which database names the replication agent hands to Litestream
(:func:`muxserver.replication.litestream.unreplicable`, the one judge), and
that every road to Litestream asks it: the folder walk, the claim a restore
follows (written by tenant code), the Litestream client itself."""

import sqlite3

import pytest

from muxserver.replication.agent import databases_in
from muxserver.replication.litestream import Litestream
from muxserver.replication.litestream import LitestreamError
from muxserver.replication.litestream import unreplicable


@pytest.mark.parametrize("name", ["app.db", "sub/app.db", "données.db", ".mux/kv.sqlite3"])
def test_plain_names_are_replicated(name):
    assert unreplicable(name) is None


@pytest.mark.parametrize("name", [
    "%2e%2e/victim/app.db", "app.db?_pragma=user_version(1)", "app.db#x", "../victim/app.db",
    "/etc/app.db", "a\nb.db", "", None])
def test_uri_syntax_escapes_and_control_characters_are_not(name):
    assert unreplicable(name)


def test_the_folder_walk_leaves_out_what_it_may_not_hand_over(tmp_path):
    for name in ["app.db", "%2e%2e/victim/app.db?_pragma=user_version(4242)&x="]:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(path) as db:
            db.execute("CREATE TABLE t (x)")
        db.close()
    assert databases_in(str(tmp_path)) == ["app.db"]


def test_the_litestream_client_refuses_uri_syntax_before_it_calls(tmp_path):
    client = Litestream.__new__(Litestream)  # no process: the check comes first
    path = "/data/mole/x.db?_pragma=user_version(1)"
    for call, args in [(client.register, (path, "file:///r")), (client.unregister, (path,)),
                       (client.sync, (path,))]:
        with pytest.raises(LitestreamError, match="URI syntax"):
            call(*args)

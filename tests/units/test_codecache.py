"""The code cache: content keys, entries on disk, damage, pruning."""

import os
import time

from muxserver.tenancy.codecache import CodeCache
from muxserver.tenancy.codecache import cache_key


def test_key_covers_name_content_and_the_operators_extra_modules():
    base = cache_key("acme/a.py", b"x = 1\n")
    assert base == cache_key("acme/a.py", b"x = 1\n")
    assert base != cache_key("acme/b.py", b"x = 1\n")
    assert base != cache_key("acme/a.py", b"x = 2\n")
    assert base != cache_key("acme/a.py", b"x = 1\n", frozenset({"colorsys"}))
    assert cache_key("a/a.py", b"", frozenset({"x", "y"})) == cache_key("a/a.py", b"", frozenset({"y", "x"}))


def test_entries_survive_a_new_cache_object_and_damage_reads_as_a_miss(tmp_path):
    cache = CodeCache(tmp_path)
    code = compile("x = 41 + 1", "acme/a.py", "exec")
    cache.put("k" * 40, {"routes": 1}, code)
    again = CodeCache(tmp_path)
    meta, code_bytes = again.get("k" * 40)
    namespace = {}
    exec(again.load_code(code_bytes), namespace)
    assert meta == {"routes": 1} and namespace["x"] == 42 and again.hits == 1
    path = tmp_path / "kk" / f"{'k' * 40}.mux"
    path.write_bytes(b"garbage")
    assert CodeCache(tmp_path).get("k" * 40) is None


def test_unwritable_dir_keeps_entries_in_memory(tmp_path):
    cache = CodeCache(None)
    cache.put("m" * 40, None, compile("", "x", "exec"))
    assert cache.get("m" * 40) is not None and cache.writes == 0


def test_prune_removes_only_entries_unused_for_long(tmp_path):
    cache = CodeCache(tmp_path)
    cache.put("a" * 40, None, compile("", "x", "exec"))
    cache.put("b" * 40, None, compile("", "x", "exec"))
    old = time.time() - 30 * 86400
    os.utime(tmp_path / "aa" / f"{'a' * 40}.mux", (old, old))
    assert cache.prune(14 * 86400) == 1
    assert cache.get("a" * 40) is None and cache.get("b" * 40) is not None

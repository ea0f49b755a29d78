"""The code cache: content keys, entries on disk, damage, pruning."""

import os
import shutil
import time

from muxserver.tenancy.codecache import CodeCache
from muxserver.tenancy.codecache import cache_key


def test_key_covers_content_and_the_operators_extra_modules_not_the_name():
    base = cache_key(b"x = 1\n")
    assert base == cache_key(b"x = 1\n")
    assert base != cache_key(b"x = 2\n")
    assert base != cache_key(b"x = 1\n", frozenset({"colorsys"}))
    assert cache_key(b"", frozenset({"x", "y"})) == cache_key(b"", frozenset({"y", "x"}))


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


def test_one_entry_serves_every_file_with_that_content_under_its_own_name(tmp_path):
    """Ten thousand tenants with the same hello world compile it once; each
    loads it with its own file name (tracebacks show it)."""
    from muxserver.tenancy.codecache import CodeCache as Cache
    from muxserver.tenancy.scanner import compile_file

    cache = Cache(tmp_path)
    source = b"def get():\n    return 1 / 0\n"
    key_a, meta_a, errors_a = compile_file(cache, "a/index.py", source)
    key_b, meta_b, errors_b = compile_file(cache, "b/index.py", source)
    assert key_a == key_b and meta_a == meta_b and not errors_a and not errors_b
    assert cache.writes == 1
    for name in ("a/index.py", "b/index.py"):
        code = Cache(tmp_path).load_code(Cache(tmp_path).get(key_a)[1], name)
        function = next(c for c in code.co_consts if hasattr(c, "co_filename"))
        assert code.co_filename == function.co_filename == name


def test_the_key_changes_with_the_code_that_decides_it(tmp_path, monkeypatch):
    """A change to the sandbox's or the reader's code makes new keys even
    when no counter was bumped (two branches once bumped one to the same
    number)."""
    from muxserver.tenancy import codecache

    before = codecache.cache_key(b"def get():\n    return 'x'\n")
    copy = tmp_path / "repo"
    for folder in codecache._DECIDING:
        shutil.copytree(codecache.Path(codecache.__file__).resolve().parents[2] / folder,
                        copy / folder, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "sandbox" / "policy.py").write_text(
        (copy / "sandbox" / "policy.py").read_text() + "\n# a change\n")
    monkeypatch.setattr(codecache, "_fingerprint", None)
    monkeypatch.setattr(codecache, "__file__", str(copy / "muxserver" / "tenancy" / "codecache.py"))
    assert codecache.cache_key(b"def get():\n    return 'x'\n") != before


def test_code_unmarshals_an_entry_once_and_gives_each_file_its_own_code(tmp_path):
    """A cold start takes its code from the kept copy (no unmarshalling);
    what each loader gets is its own code object, named after its file,
    functions inside included, never the kept one or another file's."""
    cache = CodeCache(tmp_path)
    key = "c" * 40
    cache.put(key, None, compile("def get():\n    return 1 / 0\n", "x/index.py", "exec"))
    first, second = cache.code(key, "a/index.py"), cache.code(key, "b/index.py")
    assert first is not second and first is not cache.code(key, "a/index.py")
    inner = [c for c in first.co_consts if hasattr(c, "co_filename")][0]
    assert (first.co_filename, inner.co_filename) == ("a/index.py", "a/index.py")
    assert second.co_filename == "b/index.py" and cache.code("d" * 40, "a/index.py") is None
    # A new entry under the key (a damaged one rewritten) is unmarshalled anew.
    cache.put(key, None, compile("x = 2\n", "x/index.py", "exec"))
    namespace = {}
    exec(cache.code(key, "a/index.py"), namespace)
    assert namespace["x"] == 2

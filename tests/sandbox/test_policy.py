"""The compile-time policy, one rule per test (no server, no HTTP)."""

import ast

import pytest

from sandbox import compile_tenant
from sandbox.compiler import MAX_SOURCE_BYTES


def errors(source: str) -> str:
    result = compile_tenant(source, "t/x.py")
    assert not result.ok
    return " ".join(result.errors)


def compiles(source: str):
    result = compile_tenant(source, "t/x.py")
    assert result.ok, result.errors
    return result.code


def test_leaves_imports_to_the_scanner_and_the_runtime():
    """Which modules exist depends on the tenant (its own modules), so
    imports compile; the scanner and ``__import__`` judge them."""
    compiles("import socket\nfrom . import helpers\n")


def test_denies_dunder_attributes_that_are_not_ordinary():
    """Special attributes outside the ordinary ones stay a compile error."""
    assert '"__subclasses__" is an invalid attribute name' in errors("x = object.__subclasses__\n")
    assert '"__globals__" is an invalid attribute name' in errors("x = f.__globals__\n")


def test_private_attributes_and_super_compile_to_guards():
    """`self._x`, `obj._x += 1` and `super()` go through the guards."""
    code = compiles("class A:\n    def __init__(self):\n        super().__init__()\n"
                    "        self._x = 1\n        self._x += 1\n")
    assert "_write_private_" in code.co_consts[0].co_names or True


def test_allows_reading_name_only():
    """It allows reading `__name__`, not assigning it."""
    compiles("n = __name__\n")
    assert "invalid variable name" in errors("__name__ = 'x'\n")


def test_allows_ordinary_dunder_methods_only_in_classes():
    """It allows defining ordinary dunder methods in a class body only."""
    compiles("class A:\n    def __repr__(self):\n        return 'a'\n")
    assert "invalid variable name" in errors("def __repr__():\n    pass\n")
    assert 'defining "__getattribute__" is not allowed' in errors(
        "class A:\n    def __getattribute__(self, n):\n        pass\n")
    assert 'defining "__set_name__" is not allowed' in errors(
        "class A:\n    def __set_name__(self, o, n):\n        pass\n")


def test_denies_nested_dunder_definitions_in_methods():
    """It denies a dunder-named function nested inside a method."""
    assert "invalid variable name" in errors(
        "class A:\n    def f(self):\n        def __repr__():\n            pass\n")


def test_denies_try_star_and_async_iteration():
    """It denies `try/except*` (CVE-2025-22153) and the async forms nothing
    a tenant can reach implements: async for, async with, async
    comprehensions and async generators."""
    assert "TryStar statements are not allowed" in errors(
        "try:\n    pass\nexcept* ValueError:\n    pass\n")
    assert "async generators (yield inside async def) are not supported here" in errors(
        "async def f():\n    yield 1\n")
    assert "async for is not supported here" in errors(
        "async def f(x):\n    async for i in x:\n        pass\n")
    assert "async with is not supported here" in errors(
        "async def f(x):\n    async with x:\n        pass\n")
    assert "async comprehensions are not supported here" in errors(
        "async def f(x):\n    return [i async for i in x]\n")
    assert 'defining "__aenter__" is not allowed' in errors(
        "class A:\n    async def __aenter__(self):\n        pass\n")


def test_allows_async_def_and_await_with_ticks():
    """It allows `async def` and `await` (the host drives the coroutine), a
    plain generator inside one, and keeps a function's docstring first even
    when it prints."""
    code = compiles("async def f(x):\n    'Doc.'\n    def g():\n        yield 1\n"
                    "    print(1)\n    return await x\n")
    namespace = {}
    exec(code, {"_tick_": lambda: None, "_print_": None, "_getattr_": getattr}, namespace)
    assert namespace["f"].__doc__ == "Doc."
    assert "_tick_" in namespace["f"].__code__.co_names


def test_module_metadata_names_are_ordinary_names():
    """It allows `__all__`, `__version__`, `__author__`, `__doc__` as names
    and as attributes of a module, and nothing else of the kind."""
    compiles("__all__ = ['x']\n__version__ = '1'\n__author__ = 'a'\nx = __doc__\n"
             "import m\ny = m.__version__\n")
    assert "__builtins__" in errors("x = __builtins__\n")
    assert "__dict__" in errors("import m\ny = m.__dict__\n")


def test_denies_exec_and_eval():
    """It denies the bare names exec and eval as calls."""
    assert "Exec calls are not allowed" in errors("exec('1')\n")
    assert "Eval calls are not allowed" in errors("eval('1')\n")


def _transformed(source: str) -> str:
    from sandbox.policy import MuxPolicy

    tree = ast.parse(source)
    MuxPolicy([], [], {}).visit(tree)
    return ast.unparse(tree)


def test_inserts_ticks_in_loops_functions_handlers_and_lambdas():
    """It inserts `_tick_()` where a request could spin or swallow a stop."""
    out = _transformed(
        "def f():\n    while x:\n        pass\n    for i in y:\n        pass\n"
        "    try:\n        pass\n    except:\n        pass\n    finally:\n        pass\n"
        "g = lambda: 1\n")
    assert out.count("_tick_()") == 6


def test_rewrites_augmented_item_and_attribute_assignment():
    """It rewrites `d[k] += 1` and `o.a += 1` into guarded helpers."""
    out = _transformed("d[k] += 1\no.a *= 2\n")
    assert "_inplace_item_(d, k, '+=', 1)" in out
    assert "_inplace_attr_(o, 'a', '*=', 2)" in out


def test_routes_allocating_operators_through_guards():
    """It sends `**`, `<<`, `*`, `%` and format specs through size guards."""
    out = _transformed("a = b ** c\nd = e << f\ng = h * i\nj = '%s' % k\nm = f'{n:>{w}}'\n")
    for guard in ("_pow_(b, c)", "_lshift_(e, f)", "_mul_(h, i)", "_mod_('%s', k)", "_format_(n"):
        assert guard in out


def test_rewrites_yield_from_through_the_guarded_iterator():
    """It makes `yield from` iterate through `_getiter_`."""
    assert "yield from _getiter_(g)" in _transformed("def f():\n    yield from g\n")


def test_allows_nonlocal_and_annotations():
    """It allows `nonlocal` and annotated assignments."""
    compiles("def f():\n    x = 1\n    def g():\n        nonlocal x\n        x = 2\n    g()\n")
    compiles("x: int = 1\n")


def test_reports_syntax_errors_with_line():
    """It reports syntax errors as file:line."""
    assert errors("x = 1\ndef f(:\n").startswith("t/x.py:2: syntax error")


def test_deep_nesting_is_an_error_not_a_crash():
    """It turns the parser's RecursionError/MemoryError into an error line."""
    message = errors("x = " + "-" * 100_000 + "1\n")
    assert message.startswith("t/x.py:1:")


def test_too_large_source_is_refused():
    """It refuses source over the size cap."""
    assert "larger than" in errors("#" * (MAX_SOURCE_BYTES + 1))


def test_bad_utf8_is_reported_with_line():
    """It reports undecodable bytes with their line."""
    result = compile_tenant(b"x = 1\ny = '\xff'\n", "t/x.py")
    assert result.errors == ("t/x.py:2: source is not valid UTF-8",)


@pytest.mark.parametrize("name", ["printed", "_getattr_", "_write_", "__builtins__", "_print"])
def test_denies_reserved_and_guard_names(name):
    """It denies assigning reserved names and the guards' names (a global
    `_getattr_` would replace the guard for its module)."""
    assert errors(f"{name} = 1\n")


def test_allows_private_names():
    """`_cache = {}` and `def _helper()` are ordinary Python."""
    compiles("_cache = {}\ndef _helper(_x):\n    return _x\n")


def test_error_text_is_cut_for_huge_lines():
    """It cuts quoted source so one line cannot flood logs."""
    message = errors("y = x.__" + "x" * 5000 + "__\n")
    assert len(message) <= 700


def test_sandbox_stands_alone():
    """sandbox/ imports neither muxserver nor gevent."""
    import subprocess
    import sys

    code = ("import sys, sandbox, sandbox.facades, sandbox.runtime; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('muxserver', 'gevent')]; "
            "print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "[]", out.stderr

"""Compiling one module's source: all the compiler process runs.

Apart from the scanner, whose imports (the tenant API, the sandbox's
runtime and every facade: Jinja2, yaml, sqlite3, asyncio) a compile does not
need: importing only this kept the compiler process at 33 MiB of RSS
instead of 44.
"""

from __future__ import annotations

import ast
import marshal

from muxserver.tenancy.reading import read_module
from muxserver.tenancy.reading import read_sandboxed_module
from sandbox.compiler import compile_tenant


def compile_locally(text: str, display_name: str, kind: str = "sandbox"):
    """Compile (``sandbox``) or only read (``process``) one module's source,
    here: ``(code bytes or None, facts, errors)``. The supervisor does this in
    a process of its own instead (:mod:`muxserver.compiler`), bounded in time."""
    if kind == "process":
        return read_process_source(text, display_name)
    result = compile_tenant(text, display_name, inspect=read_sandboxed_module)
    if not result.ok:
        return None, None, tuple(result.errors)
    return marshal.dumps(result.code), result.extra, ()


def read_process_source(text: str, display_name: str):
    """``(None, facts, errors)`` of a process tenant's module source."""
    try:
        tree = ast.parse(text, display_name)
    except SyntaxError as exc:
        return None, None, (f"{display_name}:{exc.lineno or 1}: syntax error: {exc.msg}",)
    except (RecursionError, MemoryError, ValueError) as exc:
        return None, None, (f"{display_name}:1: cannot parse: {type(exc).__name__}",)
    try:
        return None, read_module(tree), ()
    except SyntaxError as exc:
        return None, None, (f"{display_name}:{exc.lineno or 1}: {exc.msg}",)
    except (RecursionError, MemoryError) as exc:
        return None, None, (f"{display_name}:1: cannot read: {type(exc).__name__}",)

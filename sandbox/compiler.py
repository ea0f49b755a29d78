"""Compile tenant source under :class:`sandbox.policy.MuxPolicy`.

:func:`compile_tenant` never raises for bad input: every problem, including
the ``RecursionError``/``MemoryError`` that CPython's parser and
RestrictedPython raise on deeply nested source, comes back as an error line
``"path:line: message"`` in :class:`CompileResult`. The source is parsed once;
the same tree is handed to a caller's inspector (the route scanner) before
the policy rewrites it, so what is scanned is exactly what runs.

.. warning::
   Error messages quote tenant source; they are cut to
   :data:`MAX_ERROR_CHARS` so a huge line cannot flood a log or a response.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from dataclasses import field
from types import CodeType
from typing import Any
from typing import Callable

from sandbox.policy import MuxPolicy

#: Largest tenant source file accepted, in bytes.
MAX_SOURCE_BYTES = 1_000_000
#: Longest error message kept.
MAX_ERROR_CHARS = 600

_RP_LINE = re.compile(r"^Line (\d+): (.*)$", re.S)


@dataclass
class CompileResult:
    """What compiling one file produced.

    :param code: the code object, or ``None`` when there were errors.
    :param errors: ``"path:line: message"`` strings, empty on success.
    :param extra: whatever the ``inspect`` callback returned for the tree.
    """

    code: CodeType | None
    errors: tuple[str, ...] = ()
    extra: Any = None
    warnings: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return self.code is not None and not self.errors


def _cut(text: str) -> str:
    text = " ".join(text.split())
    if len(text) > MAX_ERROR_CHARS:
        return text[: MAX_ERROR_CHARS - 3] + "..."
    return text


def decode_source(data: bytes, filename: str) -> tuple[str | None, str | None]:
    """Decode tenant source bytes as UTF-8.

    :return: ``(text, None)`` or ``(None, error)``.
    """
    if len(data) > MAX_SOURCE_BYTES:
        return None, f"{filename}:1: file is larger than {MAX_SOURCE_BYTES} bytes"
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return None, f"{filename}:{line}: source is not valid UTF-8"


def compile_tenant(
    source: str | bytes,
    filename: str,
    *,
    inspect: Callable[[ast.Module], Any] | None = None,
    extra_modules: frozenset[str] = frozenset(),
) -> CompileResult:
    """Parse, check and compile one tenant file.

    :param source: the file's text (or bytes, decoded as UTF-8).
    :param filename: shown in errors and tracebacks.
    :param inspect: called with the parsed tree before the policy rewrites
        it; its return value is :attr:`CompileResult.extra`. It may raise
        :class:`SyntaxError` to report a problem with a line number.
    :param extra_modules: unused; imports are checked by the caller, which
        knows the tenant's own modules (kept for callers that pass it).
    """
    if isinstance(source, bytes):
        text, error = decode_source(source, filename)
        if error:
            return CompileResult(None, (error,))
    else:
        text = source
        if len(text) > MAX_SOURCE_BYTES:
            return CompileResult(
                None, (f"{filename}:1: file is larger than {MAX_SOURCE_BYTES} bytes",)
            )
    try:
        tree = ast.parse(text, filename, "exec")
    except SyntaxError as exc:
        return CompileResult(
            None, (f"{filename}:{exc.lineno or 1}: syntax error: {_cut(str(exc.msg))}",)
        )
    except (RecursionError, MemoryError, ValueError) as exc:
        # Deeply nested source exhausts the parser; NUL bytes are a ValueError.
        return CompileResult(None, (f"{filename}:1: cannot parse: {_cut(repr(exc))}",))

    extra = None
    if inspect is not None:
        try:
            extra = inspect(tree)
        except SyntaxError as exc:
            return CompileResult(
                None, (f"{filename}:{exc.lineno or 1}: {_cut(str(exc.msg))}",)
            )
        except (RecursionError, MemoryError) as exc:
            return CompileResult(None, (f"{filename}:1: cannot read: {_cut(repr(exc))}",))

    errors: list[str] = []
    warnings: list[str] = []
    try:
        MuxPolicy(errors, warnings, {}).visit(tree)
        if errors:
            return CompileResult(None, tuple(_format_errors(filename, errors)), extra)
        code = compile(tree, filename, "exec", dont_inherit=True)
    except (RecursionError, MemoryError) as exc:
        return CompileResult(
            None, (f"{filename}:1: code is nested too deeply: {type(exc).__name__}",), extra
        )
    except (SyntaxError, ValueError, TypeError) as exc:
        line = getattr(exc, "lineno", None) or 1
        return CompileResult(None, (f"{filename}:{line}: {_cut(str(exc))}",), extra)
    return CompileResult(code, (), extra, tuple(warnings))


def _format_errors(filename: str, errors: list[str]) -> list[str]:
    out = []
    for message in errors:
        match = _RP_LINE.match(message)
        if match:
            out.append(f"{filename}:{match.group(1)}: {_cut(match.group(2))}")
        else:
            out.append(f"{filename}:1: {_cut(message)}")
    return out


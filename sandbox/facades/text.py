"""Facades for text: string, textwrap, html, urllib.parse."""

from __future__ import annotations

import html
import string
import textwrap
import typing
import urllib.parse

from sandbox import limits
from sandbox.facades.base import cap
from sandbox.facades.base import pick
from sandbox.guards import SizeLimitError
from sandbox.guards.declared import declare_values

declare_values(urllib.parse.ParseResult, urllib.parse.SplitResult, urllib.parse.DefragResult,
               urllib.parse.ParseResultBytes, urllib.parse.SplitResultBytes,
               urllib.parse.DefragResultBytes)


def build_string(ctx):
    return pick(
        string,
        "ascii_letters ascii_lowercase ascii_uppercase digits hexdigits "
        "octdigits punctuation printable whitespace capwords",
    )


def build_textwrap(ctx):
    def _width(func):
        def wrapped(text, width=70, **kwargs):
            cap(width, 100_000, "textwrap width")
            return func(text, width, **kwargs)

        return wrapped

    return {
        "wrap": _width(textwrap.wrap),
        "fill": _width(textwrap.fill),
        "shorten": _width(textwrap.shorten),
        "dedent": textwrap.dedent,
        "indent": textwrap.indent,
    }


def build_html(ctx):
    # html.unescape is pure Python that calls back once per reference and
    # never ticks: the same, with a tick per reference.
    replace = html._replace_charref
    charref = html._charref

    def unescape(s):
        if "&" not in s:
            return s

        def ticking(match):
            limits.tick()
            return replace(match)

        return charref.sub(ticking, s)

    return {"escape": html.escape, "unescape": unescape}


#: Longest text the URL functions take: they are pure Python that never
#: ticks, and URLs, queries and form bodies are far smaller.
MAX_URL_TEXT = 2 * 2**20


def _bounded_text(func):
    def wrapped(text, *args, **kwargs):
        if isinstance(text, (str, bytes, bytearray)) and len(text) > MAX_URL_TEXT:
            raise SizeLimitError(f"{func.__name__}() takes at most {MAX_URL_TEXT} characters "
                                 "in the sandbox")
        return func(text, *args, **kwargs)

    wrapped.__name__ = func.__name__
    return wrapped


def _uncached(func):
    """The function under a process-wide cache (urlsplit's lru_cache keeps
    the last 128 URLs of every tenant alive, and shares them)."""
    return getattr(func, "__wrapped__", func)


def disable_shared_caches() -> None:
    """Turn off the caches of standard modules that facades reach, for the
    whole process: a cache shared by every tenant is a channel between them
    (an entry one tenant's object poisons, a 30 MB URL kept for ever)."""
    urllib.parse.urlsplit = _uncached(urllib.parse.urlsplit)
    for name in dir(typing):
        _uncache_typing(getattr(typing, name, None))


def _uncache_typing(obj) -> None:
    """typing's ``_tp_cache``: the closure holding an lru_cache gets the
    plain function instead (the wrapper calls whatever the cell holds)."""
    targets = [obj]
    if isinstance(obj, type):
        targets = list(vars(obj).values())
    for target in targets:
        func = getattr(target, "__func__", target)
        closure = getattr(func, "__closure__", None)
        wrapped = getattr(func, "__wrapped__", None)
        if not closure or wrapped is None:
            continue
        for cell in closure:
            try:
                contents = cell.cell_contents
            except ValueError:
                continue
            if type(contents).__name__ == "_lru_cache_wrapper":
                cell.cell_contents = getattr(contents, "__wrapped__", wrapped)


def build_urllib_parse(ctx):
    table = pick(
        urllib.parse,
        "quote quote_plus quote_from_bytes urlunparse urlunsplit "
        "ParseResult SplitResult DefragResult",
    )
    for name in ("unquote unquote_plus unquote_to_bytes urlencode urlparse urlsplit urljoin "
                 "urldefrag parse_qs parse_qsl").split():
        table[name] = _bounded_text(_uncached(getattr(urllib.parse, name)))
    return table


def build_urllib(ctx):
    return {"parse": ctx.facade("urllib.parse"), "request": ctx.facade("urllib.request"),
            "error": ctx.facade("urllib.error")}

"""Facades for text: string, textwrap, html, urllib.parse."""

from __future__ import annotations

import html
import string
import textwrap
import urllib.parse

from sandbox.facades.base import cap
from sandbox.facades.base import pick


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
    return {"escape": html.escape, "unescape": html.unescape}


def build_urllib_parse(ctx):
    return pick(
        urllib.parse,
        "quote quote_plus quote_from_bytes unquote unquote_plus unquote_to_bytes "
        "urlencode urlparse urlunparse urlsplit urlunsplit urljoin urldefrag "
        "parse_qs parse_qsl ParseResult SplitResult DefragResult",
    )


def build_urllib(ctx):
    return {"parse": ctx.facade("urllib.parse")}

"""Facades for text: string, textwrap, html, urllib.parse."""

from __future__ import annotations

import enum
import html
import string
import sys
import textwrap
import typing
import urllib.parse

from sandbox import guards
from sandbox import limits
from sandbox.facades.base import cap
from sandbox.facades.base import pick
from sandbox.guards import SizeLimitError
from sandbox.guards.declared import declare
from sandbox.guards.natives import ticking_unescape
from sandbox.guards.declared import declare_values

declare(type(urllib.parse.ParseResult.scheme))  # a namedtuple's field: offers nothing
declare_values(urllib.parse.ParseResult, urllib.parse.SplitResult, urllib.parse.DefragResult,
               urllib.parse.ParseResultBytes, urllib.parse.SplitResultBytes,
               urllib.parse.DefragResultBytes)


def build_string(ctx):
    return pick(
        string,
        "ascii_letters ascii_lowercase ascii_uppercase digits hexdigits "
        "octdigits punctuation printable whitespace capwords",
    )


class _TickingChunks(list):
    """TextWrapper's chunks: taking one ticks (its loop is pure Python)."""

    def pop(self, *args):
        limits.tick()
        return super().pop(*args)


class _Wrapper(textwrap.TextWrapper):
    def _split_chunks(self, text):
        return _TickingChunks(super()._split_chunks(text))


#: Longest text ``dedent`` takes: a pure-Python loop over its lines.
MAX_DEDENT_TEXT = 2**19


def _chunked(text, width):
    width = cap(width, 100_000, "textwrap width")
    if isinstance(text, str):
        # The text is split into a list of words first, in one C call: each
        # is an object of ~50 bytes (12 MB of text made 490 MB).
        guards.check_allocation(32 * len(text), "textwrap")
    return width


def build_textwrap(ctx):
    def wrap(text, width=70, **kwargs):
        width = _chunked(text, width)
        return _Wrapper(width=width, **kwargs).wrap(text)

    def fill(text, width=70, **kwargs):
        width = _chunked(text, width)
        return _Wrapper(width=width, **kwargs).fill(text)

    def shorten(text, width, **kwargs):
        width = _chunked(text, width)
        return _Wrapper(width=width, max_lines=1, **kwargs).fill(" ".join(text.strip().split()))

    def dedent(text):
        if isinstance(text, str) and len(text) > MAX_DEDENT_TEXT:
            raise SizeLimitError(f"dedent() takes at most {MAX_DEDENT_TEXT} characters here")
        return textwrap.dedent(text)

    def indent(text, prefix, predicate=None):
        # The prefix is copied onto every line: sized before it is.
        if isinstance(text, str) and isinstance(prefix, str):
            guards.check_allocation(len(text) + len(prefix) * (text.count("\n") + 1),
                                    "textwrap.indent()")
        return textwrap.indent(text, prefix, predicate)

    return {"wrap": wrap, "fill": fill, "shorten": shorten, "dedent": dedent, "indent": indent}


def build_html(ctx):
    # html.unescape is pure Python that calls back once per reference and
    # never ticks: the same, with a tick per reference.
    return {"escape": html.escape, "unescape": ticking_unescape}


#: Longest text the URL functions take: they are pure Python that never
#: ticks, and URLs, queries and form bodies are far smaller.
MAX_URL_TEXT = 2**19


def _bounded_text(func):
    def wrapped(text, *args, **kwargs):
        for value in (text, kwargs.get("safe"), *args[:1]):
            if isinstance(value, (str, bytes, bytearray)) and len(value) > MAX_URL_TEXT:
                raise SizeLimitError(f"{func.__name__}() takes at most {MAX_URL_TEXT} "
                                     "characters in the sandbox")
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
    _replace_everywhere({
        cached: _uncached(cached) for cached in (
            urllib.parse.urlsplit,
            # quote()'s quoters by their safe= text (round 7: 128 of 8 MB each).
            urllib.parse._byte_quoter_factory,
        )})
    for name in dir(typing):
        _uncache_typing(getattr(typing, name, None))
    _flags_keep_plain_values()
    _codec_names_from_the_table()
    _forward_refs_bounded()


#: Longest text ``typing`` compiles as a forward reference (a type written
#: as text: ``List["Node"]``). Real annotations are a line; compiling 4 KB
#: of the worst nesting takes ~2 ms.
MAX_FORWARD_REF_CHARS = 4096


def _forward_refs_bounded() -> None:
    """``typing`` compiles every text it is given as a type (``List[s]``,
    ``Optional[s]``, ``TypeVar(bound=s)``, ``NamedTuple``/``TypedDict``
    fields, a class-form ``NamedTuple``'s annotations) with the real
    ``compile()``, in one C call no tick interrupts: ``List["1+" * 3_000_000
    + "1"]`` held the process 5.2 s and grew it by 1.3 GB for a 64 MB
    budget (round 16). ``ForwardRef.__init__`` is the one place every road
    goes through: a text longer than :data:`MAX_FORWARD_REF_CHARS` is a
    ``SyntaxError`` there, as typing's own refusal of a text that is not an
    expression is."""
    init = typing.ForwardRef.__init__
    if getattr(init, "bounded", False):
        return

    def __init__(self, arg, *args, **kwargs):
        if isinstance(arg, str) and str.__len__(arg) > MAX_FORWARD_REF_CHARS:
            raise SyntaxError(f"a forward reference (a type written as text) is at most "
                              f"{MAX_FORWARD_REF_CHARS} characters here, not "
                              f"{str.__len__(arg)}")
        init(self, arg, *args, **kwargs)

    __init__.bounded = True
    typing.ForwardRef.__init__ = __init__


def _codec_names_from_the_table() -> None:
    """Codec lookups by name keep what they find for the life of the
    process, under the name as written (CPython's codec registry), and
    Python's ``encodings`` keeps every name it did *not* find too: a
    tenant's ``"x".encode("nope%d" % i + "a" * 10_000)`` kept 10 KB a call,
    as did ``"utf" + "-" * n + "8"``, a spelling of UTF-8 (round 15: 20 MB
    for 2,000 names, never freed, in the process every tenant shares; every
    road to a codec reaches it: ``str.encode``, ``bytes.decode``, ``str(b,
    enc)``, ``open(encoding=)``...). A search function placed before
    Python's refuses a name that is not one of the codecs ``encodings``
    ships (a module or an alias, ``-`` read as ``_``), so only those
    spellings, a fixed set, are ever kept.

    .. warning::
       A codec registered at run time under another name is refused too
       (the server and its tenants register none).
    """
    import codecs
    import encodings
    import encodings.aliases
    import pkgutil

    if getattr(codecs, "_mux_names_gated", False):
        return
    known = frozenset(encodings.aliases.aliases) | frozenset(
        module.name for module in pkgutil.iter_modules(encodings.__path__))

    def from_the_table(name: str):
        # CPython hands search functions the name in lower case, blanks as "-".
        if name.replace("-", "_") in known:
            return None  # Python's own search function finds it
        raise LookupError(f"unknown encoding: {name[:100]}")

    codecs.unregister(encodings.search_function)
    codecs.register(from_the_table)
    codecs.register(encodings.search_function)
    codecs._mux_names_gated = True


def _flags_keep_plain_values() -> None:
    """A ``Flag`` (``re.I | re.S``: regex's ``RegexFlag``, shared by every
    tenant) keeps each combination it makes as a member of its class for
    the life of the process, with the value it was given; one with bits no
    member has is not kept at all (a value per call, without bound). A tenant's
    ``int`` subclass given there (``re.I | Bits(8)``) stayed in a host enum
    and had its ``__or__`` run in other tenants' requests (round 9): the
    value is made a plain ``int`` first (``int.__int__`` runs no tenant
    method)."""
    missing = vars(enum.Flag)["_missing_"].__func__
    if getattr(missing, "plain_values", False):
        return

    def _missing_(cls, value):
        if type(value) is not int and isinstance(value, int):
            value = int.__int__(value)
        known = cls._value2member_map_
        count = len(known)
        member = missing(cls, value)
        bits = getattr(member, "_value_", 0)
        if type(bits) is int and bits & ~getattr(cls, "_flag_mask_", -1) and len(known) > count:
            # Bits no member has (a KEEP flag, as regex's RegexFlag): made,
            # not kept. Every value a tenant names was kept for the life of
            # the process: 20,000 a request of `re.I | big` held 64 MB each
            # after the request was stopped and the tenant evicted (round
            # 16: 384 MB after six). The members' own combinations (a fixed
            # set) are still kept.
            for key in list(known)[count:]:
                del known[key]
        return member

    _missing_.plain_values = True
    enum.Flag._missing_ = classmethod(_missing_)


def _replace_everywhere(replacements: dict) -> None:
    """Each ``cached -> plain`` of ``replacements`` wherever a loaded module
    holds ``cached`` (urllib.request imported urlsplit by name before it was
    replaced in urllib.parse), in one walk over the modules."""
    replacements = {cached: plain for cached, plain in replacements.items() if cached is not plain}
    if not replacements:
        return
    by_id = {id(cached): plain for cached, plain in replacements.items()}
    for module in list(sys.modules.values()):
        namespace = getattr(module, "__dict__", None)
        if not isinstance(namespace, dict):
            continue
        for name, value in list(namespace.items()):
            plain = by_id.get(id(value))
            if plain is not None:
                namespace[name] = plain


def _uncache_typing(obj) -> None:
    """typing's ``_tp_cache``: the closure holding an lru_cache gets the
    plain function instead (the wrapper calls whatever the cell holds)."""
    targets = [obj]
    if isinstance(obj, type):
        targets = list(vars(obj).values())
    elif hasattr(type(obj), "_getitem"):
        # A special form (Literal, Optional...): its cached function is an
        # attribute of the instance (round 7: Literal's was missed).
        targets.append(getattr(obj, "_getitem", None))
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


def ticking_quote(quote_via):
    """``urlencode``'s ``quote_via``, ticking: urlencode is a pure-Python loop
    over the query's items that calls it once for each."""

    def quote(*args, **kwargs):
        limits.tick()
        return quote_via(*args, **kwargs)

    return quote


def urlencode(query, doseq=False, safe="", encoding=None, errors=None,
              quote_via=urllib.parse.quote_plus):
    """``urllib.parse.urlencode``, ticking as it goes (``url_for`` too)."""
    return urllib.parse.urlencode(query, doseq, safe, encoding, errors, ticking_quote(quote_via))


def build_urllib_parse(ctx):
    table = pick(
        urllib.parse,
        "quote quote_plus quote_from_bytes urlunparse urlunsplit "
        "ParseResult SplitResult DefragResult",
    )
    for name in ("unquote unquote_plus unquote_to_bytes urlparse urlsplit urljoin "
                 "urldefrag parse_qs parse_qsl").split():
        table[name] = _bounded_text(_uncached(getattr(urllib.parse, name)))
    for name in ("quote", "quote_plus", "quote_from_bytes"):
        table[name] = _bounded_text(getattr(urllib.parse, name))
    table["urlencode"] = urlencode
    return table


def build_urllib(ctx):
    return {"parse": ctx.facade("urllib.parse"), "request": ctx.facade("urllib.request"),
            "error": ctx.facade("urllib.error")}

"""Native entry points: the calls that build a value by a caller-chosen size
or run super-linear in their input, and the guard or cap each goes through.

A tick cannot interrupt one C call, and pure-Python host code never ticks:
each such call must be bounded *before* it runs (a size checked against the
request's memory budget, an input capped) or be made to tick. This module
holds the guards for the methods of the language's own types (``str``,
``bytes``, ``int``, ``list``, ``io``), which
:func:`sandbox.guards.access.guarded_getattr` applies by owner class
(:data:`sandbox.guards.declared.METHOD_GUARDS`) — to the method read from an
instance and, the same guard, read from the class (``str.center(s, n)`` is
``s.center(n)``: :func:`sandbox.guards.declared._unbound`) — and :data:`NATIVES`: one
entry for *every* callable tenant code can reach, saying it is linear in
what already exists (:data:`LINEAR`) or naming its guard.
``tests/units/test_natives.py`` walks every facade and the tenant API and
fails when a callable is missing here, so a new door is judged when it opens.

.. warning::
   "Linear" is about one call: a loop of linear calls is the ticks' and the
   memory budget's business, not this table's.
"""

from __future__ import annotations

import _io
import codecs
import collections
import hashlib
import heapq
import html
import io

from markupsafe import Markup

from sandbox import limits
from sandbox.guards.compare import ordering_key
from sandbox.guards.compare import searching
from sandbox.guards.consume import text_of
from sandbox.guards.counts import exact_int
from sandbox.guards.counts import is_count
from sandbox.guards.declared import CLASS_GUARDS
from sandbox.guards.declared import METHOD_GUARDS
from sandbox.guards.iteration import TickingIter
from sandbox.guards.iteration import guarded_iter
from sandbox.guards.operators import MAX_INT_BITS
from sandbox.guards.operators import SizeLimitError
from sandbox.guards.operators import check_allocation
from sandbox.guards.operators import sized_items
from sandbox.guards.operators import text_limit

#: Longest text the pure-Python codecs take (punycode is quadratic: 20,000
#: characters ran 47 s; a DNS name is at most 253).
MAX_SLOW_CODEC_CHARS = 1024
_SLOW_CODECS = frozenset(["punycode", "idna"])
#: Longest list sorted in one C call; longer ones are sorted in runs of this
#: size (a few milliseconds each), merged by a ticking merge (a C sort of
#: 2^21 floats takes ~0.5 s).
SORT_RUN = 2**15


# -- str / bytes / bytearray -------------------------------------------------------

def _safe_format(template: str):
    from sandbox.guards.access import formatter_for

    def format(*args, **kwargs):
        text = formatter_for(template).vformat(template, args, kwargs)
        return Markup(text) if isinstance(template, Markup) else text

    return format


def _safe_format_map(template: str):
    from sandbox.guards.access import formatter_for

    def format_map(mapping):
        text = formatter_for(template).vformat(template, (), mapping)
        return Markup(text) if isinstance(template, Markup) else text

    return format_map


def _sized(obj, name):
    method = getattr(obj, name)
    keyword = "tabsize" if name == "expandtabs" else "width"

    def sized(*args, **kwargs):
        # The width is made an exact int once, sized, and that int is what
        # the method gets (counts.exact_int).
        if args and is_count(args[0]):
            args = (exact_int(args[0]), *args[1:])
            width = args[0]
        elif keyword in kwargs and is_count(kwargs[keyword]):
            width = kwargs[keyword] = exact_int(kwargs[keyword])
        else:
            width = 8 if name == "expandtabs" and not args and keyword not in kwargs else 0
        scale = len(obj) if name == "expandtabs" else 1
        check_allocation(width * max(scale, 1), f"{name}()")
        return method(*args, **kwargs)

    return sized


def _join(sep, name="join"):
    join = sep.join

    def guarded(iterable):
        items = list(guarded_iter(iterable))
        if isinstance(sep, Markup):
            # Markup.join escapes each item, and escape() makes one that is
            # not text into text with the real str(), in C: ",".join([[s] *
            # 300]) of a 1 MB s built 572 MB for a 32 MB budget (round 15).
            items = [item if isinstance(item, str) else
                     text_of(item, limit=text_limit(), over="raise", what="Markup.join()")
                     for item in items]
        total = len(sep) * len(items)
        for item in items:
            if isinstance(item, (str, bytes, bytearray)):
                total += len(item)
        check_allocation(total, "join()")
        return join(items)

    return guarded


def _translate(text, name="translate"):
    translate = text.translate

    def guarded(table, *args):
        if isinstance(table, dict) and table:
            longest = max((len(v) for v in table.values() if isinstance(v, (str, bytes))),
                          default=1)
            check_allocation(len(text) * max(longest, 1), "translate()")
        return translate(table, *args)

    return guarded


def _replace(text, name="replace"):
    replace = text.replace

    def guarded(old, new, count=-1):
        if len(new) > len(old):
            hits = text.count(old) if count < 0 else min(count, text.count(old))
            check_allocation(len(text) + hits * (len(new) - len(old)), "replace()")
        return replace(old, new, count)

    return guarded


def check_codec(encoding, text, what: str) -> None:
    """Refuse the pure-Python codecs (punycode, idna) on long text."""
    if not isinstance(encoding, str):
        return
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        return  # the call raises the real error itself
    if name in _SLOW_CODECS and hasattr(text, "__len__") and len(text) > MAX_SLOW_CODEC_CHARS:
        raise SizeLimitError(f"{what} with {name} takes at most {MAX_SLOW_CODEC_CHARS} "
                             f"characters here (the {name} codec is quadratic)")


def _codec(obj, name):
    method = getattr(obj, name)

    def guarded(encoding="utf-8", errors="strict"):
        check_codec(encoding, obj, f"{name}()")
        return method(encoding, errors)

    return guarded


# -- int --------------------------------------------------------------------------

def _from_bytes(owner, name="from_bytes"):
    from_bytes = getattr(owner, name)

    def guarded(data, *args, **kwargs):
        if hasattr(data, "__len__") and len(data) * 8 > MAX_INT_BITS:
            raise SizeLimitError("int.from_bytes() would build too large an integer")
        return from_bytes(data, *args, **kwargs)

    return guarded


def _to_bytes(number, name="to_bytes"):
    to_bytes = number.to_bytes

    def guarded(length=1, *args, **kwargs):
        if is_count(length):
            length = exact_int(length)
            check_allocation(length, "int.to_bytes()")
        return to_bytes(length, *args, **kwargs)

    return guarded


# -- hashes -----------------------------------------------------------------------

def _xof_digest(digest, name):
    method = getattr(digest, name)

    def guarded(length):
        if is_count(length):
            length = exact_int(length)
            check_allocation(length * 2, "a digest of that length")
        return method(length)

    return guarded


# -- list.sort ----------------------------------------------------------------------

def sort_in_runs(items: list, key=None, reverse: bool = False) -> None:
    """Sort ``items`` in place as ``list.sort`` does (stable, same order), in
    C runs of :data:`SORT_RUN` merged by a ticking merge; items that are big
    or nested containers compare through the guarded comparison
    (:func:`sandbox.guards.compare.ordering_key`)."""
    if key is None:
        key = ordering_key(items)
    if len(items) <= SORT_RUN:
        items.sort(key=key, reverse=reverse)
        return
    runs = []
    for start in range(0, len(items), SORT_RUN):
        limits.tick(limits.TICKS_PER_CHECK)  # a run is a slice's worth of work
        run = items[start:start + SORT_RUN]
        run.sort(key=key, reverse=reverse)
        runs.append(run)
    # heapq.merge keeps equal items in the order of the runs: stable.
    merged = list(TickingIter(heapq.merge(*runs, key=key, reverse=reverse)))
    items[:] = merged


def _list_extend(lst, name="extend"):
    extend = lst.extend

    def guarded(iterable):
        extend(sized_items(iterable, "list.extend()"))

    return guarded


#: A list or tuple longer than this, handed to a C function that hashes each
#: item (``dict.fromkeys``, ``set.update``...), is read through a ticking
#: iterator: a tuple's hash is not cached, and ``dict.fromkeys([t] * 100000)``
#: of a 1,000-item ``t`` hashed 100 million items in one call.
HASHED_ITEMS_AT_ONCE = 1024


def _hashed(iterable):
    if isinstance(iterable, (list, tuple)) and len(iterable) > HASHED_ITEMS_AT_ONCE:
        return TickingIter(iterable)
    return iterable


def _hashing(owner, name):
    """A method of ``dict``/``set``/``frozenset`` (or ``dict.fromkeys``)
    whose iterable arguments are read ticking (see :func:`_hashed`)."""
    method = getattr(owner, name)

    def guarded(*args, **kwargs):
        return method(*map(_hashed, args), **kwargs)

    return guarded


def _list_sort(lst, name="sort"):
    def sort(*, key=None, reverse=False):
        sort_in_runs(lst, key=key, reverse=reverse)

    return sort


# -- io ---------------------------------------------------------------------------

def _stream_seek(stream, name="seek"):
    seek = stream.seek
    width = 4 if isinstance(stream, io.StringIO) else 1

    def guarded(offset, whence=0):
        # The next write past the end fills the gap: a position is a size.
        if is_count(offset):
            offset = exact_int(offset)
            target = offset if whence == 0 else stream.tell() + offset if whence == 1 else None
            if target is not None:
                check_allocation(target * width, f"{type(stream).__name__}.seek()")
        return seek(offset, whence)

    return guarded


def _stream_readlines(stream, name="readlines"):
    """``readlines()`` as a loop of ``readline()`` that ticks: one C call
    made a list of every line at once (round 6: 12 MB of ``a\\n`` became
    700 MB), where iterating a stream ticks per line."""
    readline = stream.readline

    def guarded(hint=-1):
        hint = -1 if hint is None else exact_int(hint) if is_count(hint) else hint
        lines, size = [], 0
        while True:
            line = readline()
            if not line:
                return lines
            lines.append(line)
            limits.tick()
            size += len(line)
            if 0 < hint <= size:
                return lines

    return guarded


# -- collections.UserString, UserList; memoryview -------------------------------
#
# UserString's methods call the real str method on its data (str.format
# with unguarded fields included): here they go through the guards.

_USER_STRING_SIZED = ("center", "ljust", "rjust", "zfill", "expandtabs", "replace", "translate")


def _user_string(obj, name):
    from sandbox.guards.access import guarded_getattr

    method = guarded_getattr(obj.data, name)
    if name in ("join", "format", "format_map", "encode"):
        return method  # a str (or bytes) result, as UserString returns

    def guarded(*args, **kwargs):
        return type(obj)(method(*args, **kwargs))

    return guarded


def _user_list_sort(obj, name):
    def sort(*, key=None, reverse=False):
        sort_in_runs(obj.data, key=key, reverse=reverse)

    return sort


def _tolist(view, name):
    tolist = view.tolist

    def guarded():
        check_allocation(8 * view.nbytes, "memoryview.tolist()")
        return tolist()

    return guarded


_CHARREF = html._charref
_REPLACE_CHARREF = html._replace_charref
#: Most text ``Markup.striptags`` takes: a pure-Python loop per tag, then
#: an unescape (three million tags held the process).
MAX_STRIPTAGS_CHARS = 256 * 1024


def ticking_unescape(text: str) -> str:
    """``html.unescape``, ticking once per reference (it is pure Python that
    calls back once per reference: two million ``&amp;`` held the process)."""
    if "&" not in text:
        return text

    def ticking(match):
        limits.tick()
        return _REPLACE_CHARREF(match)

    return _CHARREF.sub(ticking, text)


def _markup_unescape(markup, name="unescape"):
    def guarded():
        return ticking_unescape(str.__str__(markup))

    return guarded


def _markup_striptags(markup, name="striptags"):
    striptags = markup.striptags

    def guarded():
        if len(markup) > MAX_STRIPTAGS_CHARS:
            raise SizeLimitError(f"striptags() takes at most {MAX_STRIPTAGS_CHARS // 1024} KB here")
        return striptags()

    return guarded


def case_bytes(text) -> int:
    """Most bytes a case mapping of ``text`` makes: the same length for
    ASCII; otherwise up to three code points a character (``'ΐ'.upper()``)
    in a buffer of four bytes each."""
    return len(text) if text.isascii() else 12 * len(text)


def _case(text, name):
    method = getattr(text, name)

    def guarded(*args, **kwargs):
        check_allocation(case_bytes(text), f"{name}()")
        return method(*args, **kwargs)

    return guarded


#: What one piece of a split costs: a list slot and a small string object.
PIECE_BYTES = 58
_WHITESPACE = " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"
_LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e"
_WIDE_LINE_BREAKS = "\x85\u2028\u2029"


def _breaks(text, characters: str) -> int:
    if isinstance(text, str):
        return sum(map(text.count, characters))
    return sum(map(text.count, characters.encode("latin-1")))


def split_pieces(text, sep=None, maxsplit=-1, lines: bool = False) -> int:
    """Most pieces ``text.split(sep, maxsplit)`` (or ``splitlines``) makes,
    by C-speed counts: a separator's occurrences, or the whitespace or line
    break characters (a text that is not ASCII splits on more of them:
    bounded by half its length)."""
    if lines:
        pieces = _breaks(text, _LINE_BREAKS) + 1
        if isinstance(text, str) and not text.isascii():
            pieces += _breaks(text, _WIDE_LINE_BREAKS)
        return pieces
    if sep is None:
        pieces = _breaks(text, _WHITESPACE) + 1 if text.isascii() else len(text) // 2 + 1
    else:
        pieces = text.count(sep) + 1 if len(sep) else 1
    if type(maxsplit) is int and maxsplit >= 0:
        pieces = min(pieces, maxsplit + 1)
    return pieces


def _split(text, name):
    method = getattr(text, name)
    lines = name == "splitlines"

    def guarded(*args, **kwargs):
        if not lines:
            sep = args[0] if args else kwargs.get("sep")
            maxsplit = args[1] if len(args) > 1 else kwargs.get("maxsplit", -1)
            if sep is not None and not isinstance(sep, type(text)):
                return method(*args, **kwargs)  # CPython's own TypeError
            pieces = split_pieces(text, sep, maxsplit)
        else:
            pieces = split_pieces(text, lines=True)
        check_allocation(pieces * PIECE_BYTES + len(text), f"{name}()")
        return method(*args, **kwargs)

    return guarded


def _install() -> None:
    for cls in (str, bytes, bytearray):
        for name in ("ljust", "rjust", "center", "zfill", "expandtabs"):
            METHOD_GUARDS[(cls, name)] = _sized
        METHOD_GUARDS[(cls, "join")] = _join
        METHOD_GUARDS[(cls, "replace")] = _replace
        METHOD_GUARDS[(cls, "translate")] = _translate
    for name in ("upper", "lower", "casefold", "title", "swapcase", "capitalize"):
        METHOD_GUARDS[(str, name)] = _case
    for cls in (str, bytes, bytearray):
        for name in ("split", "rsplit", "splitlines"):
            METHOD_GUARDS[(cls, name)] = _split
    METHOD_GUARDS[(str, "format")] = lambda s, name: _safe_format(s)
    METHOD_GUARDS[(str, "format_map")] = lambda s, name: _safe_format_map(s)
    METHOD_GUARDS[(str, "encode")] = _codec
    METHOD_GUARDS[(bytes, "decode")] = _codec
    METHOD_GUARDS[(bytearray, "decode")] = _codec
    METHOD_GUARDS[(int, "from_bytes")] = _from_bytes
    CLASS_GUARDS[(int, "from_bytes")] = _from_bytes
    METHOD_GUARDS[(int, "to_bytes")] = _to_bytes
    for name in ("count", "index", "remove"):
        METHOD_GUARDS[(list, name)] = searching
    for name in ("count", "index"):
        METHOD_GUARDS[(tuple, name)] = searching
    METHOD_GUARDS[(list, "sort")] = _list_sort
    METHOD_GUARDS[(list, "extend")] = _list_extend
    for name in (*_USER_STRING_SIZED, "join", "format", "format_map", "encode"):
        METHOD_GUARDS[(collections.UserString, name)] = _user_string
    METHOD_GUARDS[(collections.UserList, "sort")] = _user_list_sort
    METHOD_GUARDS[(memoryview, "tolist")] = _tolist
    xof = type(hashlib.shake_128())
    METHOD_GUARDS[(xof, "digest")] = _xof_digest
    METHOD_GUARDS[(xof, "hexdigest")] = _xof_digest
    for stream in (io.BytesIO, io.StringIO):
        METHOD_GUARDS[(stream, "seek")] = _stream_seek
    for stream in (io.BytesIO, _io._IOBase):
        METHOD_GUARDS[(stream, "readlines")] = _stream_readlines
    CLASS_GUARDS[(dict, "fromkeys")] = _hashing
    METHOD_GUARDS[(dict, "fromkeys")] = _hashing
    METHOD_GUARDS[(dict, "update")] = _hashing
    for name in ("difference", "intersection", "isdisjoint", "issubset", "issuperset",
                 "symmetric_difference", "union"):
        METHOD_GUARDS[(set, name)] = METHOD_GUARDS[(frozenset, name)] = _hashing
    for name in ("difference_update", "intersection_update", "symmetric_difference_update",
                 "update"):
        METHOD_GUARDS[(set, name)] = _hashing
    METHOD_GUARDS[(Markup, "unescape")] = _markup_unescape
    METHOD_GUARDS[(Markup, "striptags")] = _markup_striptags


_install()

__all__ = ["MAX_SLOW_CODEC_CHARS", "SORT_RUN", "check_codec", "sort_in_runs"]

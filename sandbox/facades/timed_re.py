"""The tenant's ``re``: the ``regex`` package with a time limit on every match.

A catastrophic pattern (``(a|aa)+$`` against ``"a" * 5000 + "b"``) backtracks
for minutes inside one C call, which no tick can interrupt. Every match here
passes ``regex``'s ``timeout``: first one slice (:data:`sandbox.limits.SLICE_S`)
inline; a match that needs longer starts again, with the time the request
has left, through :func:`sandbox.limits.offload` — where the host runs it in
a thread with the GIL released, so the process keeps serving the others
meanwhile. Running out stops the request as a CPU-limit kill. :class:`Pattern` and
:class:`Match` wrap ``regex``'s objects so that tenant code never holds a
compiled pattern it could call without the time limit (``match.re``).
Patterns are compiled with ``regex.VERSION0``, the ``re``-compatible mode.
"""

from __future__ import annotations

import inspect

import regex

from sandbox import guards
from sandbox import limits
from sandbox.guards import SizeLimitError
from sandbox.guards import TickingIter
from sandbox.guards.declared import declare
from sandbox.guards.declared import declared

_DEFAULT_MATCH_SECONDS = 1.0


def _match_timeout() -> float:
    budget = limits.current()
    if budget is None:
        return _DEFAULT_MATCH_SECONDS
    return max(0.001, budget.remaining_seconds(_DEFAULT_MATCH_SECONDS))


def _timed(call, offloadable: bool = True):
    """Run a regex call with the time left; a timeout stops the request.

    :param call: ``call(timeout, concurrent)`` runs the match.
    :param offloadable: False when the call runs tenant code (a callable
        replacement), which must stay in the request's greenlet.
    """
    left = _match_timeout()
    first = min(left, limits.SLICE_S) if offloadable else left
    try:
        try:
            return call(first, None)
        except TimeoutError:
            if first >= left:
                raise
        # The host runs it (a thread, in turns by tenant) with what is left
        # when it starts; waiting for the thread is not the tenant's CPU.
        return limits.offload(lambda seconds: call(max(0.001, seconds), True),
                              max(0.001, left - first))
    except TimeoutError:
        budget = limits.current()
        if budget is not None:
            raise budget.kill(
                "cpu", "regular expression took too long (CPU time limit)"
            ) from None
        raise TimeoutError("regular expression matching timed out") from None


@declared("group groups groupdict start end span expand string pos endpos lastindex lastgroup")
class Match:
    """A match result; wraps ``regex.Match`` without its ``re`` and ``regs``."""

    __slots__ = ("_m",)

    def __init__(self, match):
        self._m = match

    def group(self, *groups):
        return self._m.group(*groups)

    def groups(self, default=None):
        return self._m.groups(default)

    def groupdict(self, default=None):
        return self._m.groupdict(default)

    def start(self, group=0):
        return self._m.start(group)

    def end(self, group=0):
        return self._m.end(group)

    def span(self, group=0):
        return self._m.span(group)

    def expand(self, template):
        template = guards.plain_text(template)  # regex caches templates by value
        guards.check_allocation(_expansion_bound(self._m, template), "Match.expand()")
        return self._m.expand(template)

    def __getitem__(self, group):
        return self._m[group]

    def __bool__(self):
        return True

    def __repr__(self):
        return repr(self._m).replace("regex.Match", "re.Match")

    @property
    def string(self):
        return self._m.string

    @property
    def pos(self):
        return self._m.pos

    @property
    def endpos(self):
        return self._m.endpos

    @property
    def lastindex(self):
        return self._m.lastindex

    @property
    def lastgroup(self):
        return self._m.lastgroup


_GROUP_REF = regex.compile(r"\\(?:[1-9]\d?|g<[^>]*>)")


def _expansion_bound(match, template) -> int:
    """The most text ``match.expand(template)`` can make: the template, and
    the longest group once per reference to a group."""
    refs = len(_GROUP_REF.findall(template)) if isinstance(template, (str, bytes)) else 0
    if not refs:
        return len(template)
    longest = max((len(g) for g in match.groups() if g), default=0)
    return len(template) + refs * max(longest, len(match.group(0)))


def _sized_repl(repl, string, count):
    """The replacement of ``sub``: the output is sized as it is made, so
    ``re.sub('(a+)', r'\1' * 2000, text)`` or a callable returning one cached
    megabyte per match stops before the join builds gigabytes.

    A text template goes to ``regex`` as a plain copy: it keeps templates
    in a process-wide dict keyed by them (round 8: a tenant's key was
    compared inside another tenant's ``re.sub``)."""
    repl = guards.plain_text(repl)
    total = [len(string)]

    def add(text):
        limits.tick()
        total[0] += len(text)
        guards.check_allocation(total[0], "re.sub()")
        return text

    if callable(repl):
        return lambda m: add(repl(Match(m))), False
    refs = isinstance(repl, (str, bytes)) and _GROUP_REF.search(repl) is not None
    estimate = len(string) + (len(string) + 1) * len(repl)
    if not refs and estimate <= guards.operators.text_limit():
        return repl, True  # plain text, small enough: the C template, offloadable

    def expand(m):
        # Sized before the expansion is built: one match can make gigabytes.
        guards.check_allocation(total[0] + _expansion_bound(m, repl), "re.sub()")
        return add(m.expand(repl))

    return expand, False


def _wrap_match(match):
    return Match(match) if match is not None else None


@declared("pattern flags groups groupindex match search fullmatch findall finditer split sub subn")
class Pattern:
    """A compiled pattern; every match runs with a time limit."""

    __slots__ = ("_p",)

    def __init__(self, pattern):
        self._p = pattern

    @property
    def pattern(self):
        return self._p.pattern

    @property
    def flags(self):
        return self._p.flags

    @property
    def groups(self):
        return self._p.groups

    @property
    def groupindex(self):
        return dict(self._p.groupindex)

    def match(self, string, *args):
        return _wrap_match(_timed(lambda t, c: self._p.match(string, *args, timeout=t, concurrent=c)))

    def search(self, string, *args):
        return _wrap_match(_timed(lambda t, c: self._p.search(string, *args, timeout=t, concurrent=c)))

    def fullmatch(self, string, *args):
        return _wrap_match(_timed(lambda t, c: self._p.fullmatch(string, *args, timeout=t, concurrent=c)))

    def findall(self, string, *args):
        return _timed(lambda t, c: self._p.findall(string, *args, timeout=t, concurrent=c))

    def finditer(self, string, *args):
        # Matching all at once keeps every step under the time limit.
        return TickingIter(
            Match(m) for m in _timed(lambda t, c: list(self._p.finditer(string, *args, timeout=t, concurrent=c)))
        )

    def split(self, string, maxsplit=0):
        return _timed(lambda t, c: self._p.split(string, maxsplit, timeout=t, concurrent=c))

    def sub(self, repl, string, count=0):
        sized, offloadable = _sized_repl(repl, string, count)
        return _timed(lambda t, c: self._p.sub(sized, string, count, timeout=t, concurrent=c),
                      offloadable=offloadable)

    def subn(self, repl, string, count=0):
        sized, offloadable = _sized_repl(repl, string, count)
        return _timed(lambda t, c: self._p.subn(sized, string, count, timeout=t, concurrent=c),
                      offloadable=offloadable)

    def __repr__(self):
        return f"re.compile({self._p.pattern!r})"

    def __eq__(self, other):
        return isinstance(other, Pattern) and self._p == other._p

    def __hash__(self):
        return hash(self._p)


_MAX_PATTERN_CHARS = 10_000


#: regex's note of which patterns are locale-sensitive, by (type, pattern).
_LOCALE_NOTES: dict = getattr(inspect.getmodule(regex.compile), "_locale_sensitive", {})


def _compile(pattern, flags=0):
    if isinstance(pattern, Pattern):
        return pattern
    if isinstance(pattern, (str, bytes)) and len(pattern) > _MAX_PATTERN_CHARS:
        raise SizeLimitError("regular expression is over the sandbox size limit")
    pattern = guards.plain_text(pattern)
    # Not in regex's process-wide pattern cache: no tenant's patterns are
    # kept alive by, or shared with, another's. regex still notes each
    # pattern's locale sensitivity in a dict that never shrinks (round 6):
    # the note is dropped again.
    try:
        return Pattern(regex.compile(pattern, flags | regex.VERSION0, cache_pattern=False))
    finally:
        _LOCALE_NOTES.pop((type(pattern), pattern), None)


declare(regex.error, "msg pattern pos lineno colno")


def facade_attrs(ctx):
    table = {
        "compile": _compile,
        "escape": regex.escape,
        "error": regex.error,
        "Pattern": Pattern,
        "Match": Match,
    }
    for flag in "A I L M S X U ASCII IGNORECASE LOCALE MULTILINE DOTALL VERBOSE UNICODE".split():
        table[flag] = getattr(regex, flag)
    # re's own signatures: flags is the third argument (split's fourth),
    # not a Pattern method's pos (round 9: re.search(p, s, re.I) ignored it).
    for name in ("match", "search", "fullmatch", "findall", "finditer"):
        table[name] = (
            lambda n: lambda pattern, string, flags=0: getattr(_compile(pattern, flags), n)(string)
        )(name)
    table["split"] = lambda pattern, string, maxsplit=0, flags=0: _compile(pattern, flags).split(
        string, maxsplit
    )
    table["sub"] = lambda pattern, repl, string, count=0, flags=0: _compile(pattern, flags).sub(
        repl, string, count
    )
    table["subn"] = lambda pattern, repl, string, count=0, flags=0: _compile(pattern, flags).subn(
        repl, string, count
    )
    return table

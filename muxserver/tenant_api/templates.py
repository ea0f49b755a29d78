"""``render_template`` and ``render_template_string``: Jinja2's sandbox,
bounded like tenant code.

Templates are compiled by Jinja2 into host Python, so they get what tenant
code gets from RestrictedPython from Jinja2's :class:`SandboxedEnvironment`
(no ``_`` attributes, no unsafe callables, a guarded ``str.format``) plus
what a host of many tenants needs:

* every attribute, item, call and filter ticks the request's budget, and
  ``range`` ticks as it goes, so a runaway template is stopped by
  ``cpu_ms``/``wall_s`` like a runaway loop;
* ``*``, ``**``, ``+`` and ``%`` go through the sandbox's size guards, and
  so do the filters and string methods that make text or lists as large
  as a number says (``center``, ``indent``, ``wordwrap``, ``batch``,
  ``slice``, ``format``, ``str.format``/``ljust``/``zfill``...); ``lipsum``
  is capped;
* templates are read through the tenant's file mapping (its own folder;
  a symbolic link out of it is refused), from ``templates/`` beside the app
  or at the tenant root.

HTML is autoescaped for ``.html``, ``.htm``, ``.xml`` and
``render_template_string``, as Flask does. One environment per tenant
(dropped with its runtime), so compiled templates are never shared.

The filters, tests and globals an app adds (``@app.template_filter``,
``add_template_global``, ``app.jinja_env.filters[name] = f``...) are kept on
its :class:`TenantJinjaEnv`, the tenant's own dicts, and copied into the
environment before each render; when they (or ``trim_blocks``/
``lstrip_blocks``) changed, the compiled templates are dropped, since Jinja
binds filters and tests when it loads a template.

.. warning::
   ``app.jinja_env`` is not Jinja's ``Environment``: it offers ``filters``,
   ``tests``, ``globals`` (what the tenant added; Jinja's own are not
   listed there), ``trim_blocks`` and ``lstrip_blocks``. Any other name is
   refused at deploy (:mod:`muxserver.tenancy.reading`).
"""

from __future__ import annotations

import itertools
import os
import random
import re
import types

from jinja2 import BaseLoader
from jinja2.compiler import CodeGenerator
from jinja2 import TemplateNotFound
from jinja2 import runtime as jinja_runtime
from jinja2 import pass_context
from jinja2 import select_autoescape
from jinja2 import compiler as jinja_compiler
from jinja2 import environment as jinja_environment
from jinja2 import filters as jinja_filters
from jinja2 import nodes as jinja_nodes
from jinja2 import utils as jinja_utils
from jinja2.sandbox import SandboxedEnvironment

from muxserver.tenancy.reading import JINJA_ENV_NAMES
from muxserver.tenant_api import flask_json
from sandbox import guards
from sandbox import limits
from sandbox.guards import TickingIter
from sandbox.guards.builtins import SafeRange
from sandbox.guards.compare import guarded_compare
from sandbox.guards.builtins import safe_sorted
from sandbox.guards.builtins import safe_sum
from sandbox.guards.declared import declare
from sandbox.guards.declared import declared
from sandbox.guards.declared import readable
from sandbox.guards.operators import guarded_add
from sandbox.guards.operators import guarded_floordiv
from sandbox.guards.operators import guarded_sub
from sandbox.guards.operators import guarded_truediv

# What Jinja's runtime hands a template (and a template hands the tenant's
# callables): the loop, cycler, namespace, undefined values, macros, blocks.
declare(jinja_runtime.LoopContext, "changed cycle depth depth0 first index index0 last length "
        "nextitem previtem revindex revindex0")
declare(jinja_utils.Cycler, "current next reset")
declare(jinja_utils.Joiner)
declare(jinja_utils.Namespace, dynamic=True)  # {% set ns.x = ... %}: the template's own
declare(jinja_runtime.Undefined, dynamic=True)  # reads of an undefined value are undefined
declare(jinja_runtime.Macro)
# ``{% import 'forms.html' as forms %}``: its public attributes are the
# template's exported macros and top-level ``{% set %}`` names, its own.
declare(jinja_environment.TemplateModule, dynamic=True)
declare(jinja_runtime.BlockReference, "super")
declare(jinja_runtime.TemplateReference)
# A namespace's text shows what it holds (``<Namespace {...}>``): sized by it.
guards.operators.register_container(
    jinja_utils.Namespace, lambda ns: list(object.__getattribute__(ns, "_Namespace__attrs").items()))
def _loop_changed(self, *value) -> bool:
    """``loop.changed(...)``, through the guarded comparison (Jinja's
    compares the last values with ``!=`` in one C call)."""
    if self._last_changed_value is jinja_utils.missing or \
            guarded_compare(self._last_changed_value, "!=", value):
        self._last_changed_value = value
        return True
    return False


# Jinja's loops are the runtime's own class, made by compiled templates: the
# serving process runs only tenants' templates, so its method is replaced.
jinja_runtime.LoopContext.changed = _loop_changed
# What ``groupby`` yields: ``{{ group.grouper }}``, ``{{ group.list }}``.
declare(jinja_filters._GroupTuple, "grouper list")

#: Longest template source read, in bytes.
#: Lexing and code generation tick, but the generated Python is compiled in
#: one C call (0.125 s for 100 KB of template), so templates are bounded.
MAX_TEMPLATE_BYTES = 256 * 1024
#: Compiled render_template_string() sources kept per tenant.
STRING_CACHE = 64

#: Every binary operator of Jinja's grammar, through the guard tenant
#: Python's operator goes through (Jinja compiles a template to host
#: Python: an operator not listed here would run unguarded).
_BINOPS = {
    "*": guards.guarded_mul,
    "**": guards.guarded_pow,
    "%": guards.guarded_mod,
    "+": guarded_add,
    "-": guarded_sub,
    "/": guarded_truediv,
    "//": guarded_floordiv,
}


class _TenantLoader(BaseLoader):
    """Loads templates from the tenant's template folders (host paths
    already checked by the tenant's file mapping)."""

    def __init__(self, site):
        self.site = site

    def get_source(self, environment, template):
        pieces = [p for p in template.split("/") if p and p != "."]
        if any(p == ".." for p in pieces):
            raise TemplateNotFound(template)
        for folder in self.site.template_folders():
            tenant_path = self.site.files.tenant_name(os.path.join(folder, *pieces))
            try:
                with self.site.files.open(tenant_path, "rb") as f:
                    data = f.read(MAX_TEMPLATE_BYTES + 1)
            except (OSError, ValueError):
                continue
            if len(data) > MAX_TEMPLATE_BYTES:
                raise TemplateNotFound(f"{template} is larger than {MAX_TEMPLATE_BYTES} bytes")
            return data.decode("utf-8"), tenant_path, lambda: True
        raise TemplateNotFound(template)


def _ticking_range(*args):
    limits.tick()
    return SafeRange(*args)


#: Largest ``lipsum`` (paragraphs, words): Jinja's own loops never tick.
MAX_LIPSUM = (20, 200)
#: Filters whose size is a caller's number: filter -> which argument.
_WIDTH_FILTERS = {"center": 1, "indent": 1, "wordwrap": 1}
_COUNT_FILTERS = {"batch": 1, "slice": 1}
#: String methods reached from templates that the sandbox's guards bound.
_GUARDED_STR_METHODS = frozenset(["format", "format_map", "center", "ljust", "rjust", "zfill",
                                  "expandtabs", "join", "replace", "translate"])


def _arg(args, kwargs, index, *names):
    if len(args) > index:
        return args[index]
    for name in names:
        if name in kwargs:
            return kwargs[name]
    return None


#: Jinja's filters that loop over their input in host Python (or hand it to
#: a C function that does): their input ticks on every item, so the loop
#: stops at the request's limits (``rows|batch(3)|list`` over three million
#: items built 127 MB in one turn).
_ITERATING_FILTERS = frozenset(["select", "reject", "selectattr", "rejectattr", "map", "batch",
                                "slice", "unique", "list", "join", "min", "max"])


#: Jinja's text filters that loop in Python word by word (``urlize`` 0.8 s
#: a megabyte, ``title`` 0.13 s): run on pieces of this many characters cut
#: after whitespace, ticking between pieces — the same words, the same text.
_WORD_FILTERS = {"urlize": "join", "title": "join", "wordcount": "sum"}
_WORD_PIECE = 8192
#: Jinja's filters that loop in Python over a whole input no piece of which
#: can be done alone, with the most each takes (``wordwrap`` is textwrap:
#: 0.18 s a megabyte; ``xmlattr`` and ``urlencode`` loop over a mapping).
_CAPPED_FILTERS = {"wordwrap": 128 * 1024, "xmlattr": 10_000, "urlencode": 10_000,
                   "striptags": 256 * 1024}


_SPACE = re.compile(r"\s")


def _output_size(value) -> int:
    """Most text ``value`` makes once printed and escaped: a str as
    MarkupSafe escapes it (``&`` is ``&amp;``: counted by C-speed
    ``count``s, not by the worst case, so a big plain page is not refused
    for escaping it might have needed); Markup is not escaped again."""
    if isinstance(value, str):
        if hasattr(value, "__html__"):
            return len(value)
        # Checked as it is before it is scanned five times.
        guards.check_allocation(len(value), "a rendered template")
        return (len(value) + 4 * (value.count("&") + value.count('"') + value.count("'"))
                + 3 * (value.count("<") + value.count(">")))
    limit = guards.operators.text_limit()
    size, opaque = guards.operators.text_estimate(value, limit)
    if opaque:
        # Some object's text is tenant code (its __str__): run it once, by
        # the sized path, and size the real text.
        return _output_size(guards.text_of(value, limit=limit, over="raise",
                                           what="a rendered template"))
    return size


#: Template output is checked against the budget every this many bytes as
#: it is produced (:meth:`TenantEnvironment.concat`).
_OUTPUT_CHECK_BYTES = 256 * 1024


def _sized_output(value):
    """Every ``{{ ... }}``: ticks, and the text it makes is sized before
    Jinja builds it (a printed list of twenty references to a 10 MB string
    was 200 MB of text in one C call); the output as a whole is counted by
    :meth:`TenantEnvironment.concat`."""
    limits.tick()
    guards.check_allocation(_output_size(value), "a rendered template")
    return value


def _pieces(text: str):
    """``text`` in pieces of about :data:`_WORD_PIECE` characters, each cut
    just after a whitespace character (a word is never split)."""
    start, end = 0, len(text)
    while start < end:
        limits.tick(64)  # a piece is milliseconds of work: look at the clocks soon
        cut = start + _WORD_PIECE
        if cut < end and not text[cut - 1].isspace():
            space = _SPACE.search(text, cut)
            cut = space.end() if space is not None else end
        yield text[start:cut]
        start = min(cut, end)


def _by_words(func, args, kwargs, position: int, combine: str):
    parts = [func(*args[:position], piece, *args[position + 1:], **kwargs)
             for piece in _pieces(args[position])]
    if combine == "sum":
        return sum(parts)
    return parts[0][:0].join(parts) if parts else func(*args, **kwargs)


def _cap(name: str, value) -> None:
    cap = _CAPPED_FILTERS[name]
    if isinstance(value, str):
        if len(value) > cap:
            raise guards.SizeLimitError(f"the {name} filter takes at most {cap // 1024} KB of text here")
    elif hasattr(value, "__len__") and len(value) > cap:
        raise guards.SizeLimitError(f"the {name} filter takes at most {cap:,} items here")


#: Jinja's filters that turn their input into text first (``str()`` in C).
_TEXT_FILTERS = frozenset(["string", "e", "escape", "forceescape", "safe", "center", "trim",
                           "upper", "lower", "capitalize", "title", "striptags", "wordcount",
                           "wordwrap", "urlize", "truncate", "replace", "indent", "pprint",
                           "urlencode", "xmlattr"])
#: Most text ``urlencode`` quotes (``urllib``'s quote is pure Python).
MAX_URLENCODE_BYTES = 256 * 1024


def _check_filter_size(name, values, kwargs) -> None:
    """Before the filter runs: the text it is about to make from its
    arguments, checked against the request's memory budget."""
    value = values[0]
    if name in _TEXT_FILTERS and not isinstance(value, str):
        # By its real text when that is tenant code (see _output_size).
        guards.check_allocation(_output_size(value), f"the {name} filter")
    if name == "urlencode":
        if _output_size(value) > 6 * MAX_URLENCODE_BYTES:
            raise guards.SizeLimitError(
                f"the urlencode filter quotes at most {MAX_URLENCODE_BYTES // 1024} KB here")
        return
    if not isinstance(value, str):
        return
    if name in ("e", "escape", "forceescape"):
        guards.check_allocation(_output_size(value), f"the {name} filter")
    elif name in ("upper", "lower", "capitalize", "title"):
        guards.check_allocation(guards.natives.case_bytes(value), f"the {name} filter")
    elif name == "replace" and len(values) >= 3:
        old, new = guards.safe_str_builtin(values[1]), guards.safe_str_builtin(values[2])
        count = _arg(values, kwargs, 3, "count")
        hits = value.count(old) if old else len(value) + 1
        if isinstance(count, int) and count >= 0:
            hits = min(hits, count)
        # As escaped (autoescape escapes the text and the new part first).
        guards.check_allocation(
            _output_size(value) + hits * max(0, _output_size(new) - len(old)), "the replace filter")
    elif name == "indent":
        width = _arg(values, kwargs, 1, "width")
        if isinstance(width, str):
            guards.check_allocation(len(value) + len(width) * (value.count("\n") + 1),
                                    "the indent filter")
    elif name == "wordwrap":
        width = _arg(values, kwargs, 1, "width")
        wrapstring = _arg(values, kwargs, 3, "wrapstring")
        if isinstance(wrapstring, str) and isinstance(width, int):
            lines = len(value) // max(width, 1) + value.count("\n") + 1
            guards.check_allocation(len(value) + lines * len(wrapstring), "the wordwrap filter")


def _bounded_filter(name, func):
    """A filter that ticks, is checked before it allocates by a number the
    template chose, and whose text result is checked after."""
    passes_first = bool(getattr(func, "jinja_pass_arg", None))

    def guarded(*args, **kwargs):
        limits.tick()
        if name in _ITERATING_FILTERS and len(args) > passes_first:
            value = args[passes_first]
            if isinstance(value, (str, bytes)):
                # A text is a sequence of one-character strings: 8 bytes each
                # in a list, as list(text) is sized in tenant Python.
                guards.check_allocation(8 * len(value), f"the {name} filter")
            else:
                args = (*args[:passes_first], TickingIter(value), *args[passes_first + 1:])
        if name == "join" and len(args) > passes_first:
            # str.join makes the whole text in one C call: sized first.
            items = list(args[passes_first])
            rest = args[passes_first + 1:]
            separator = rest[0] if rest else kwargs.get("d", "")
            guards.check_allocation(_output_size(items) + _output_size(separator) * len(items),
                                    "the join filter")
            args = (*args[:passes_first], items, *rest)
        values = args[1:] if passes_first else args
        if values:
            _check_filter_size(name, values, kwargs)
        if name in _CAPPED_FILTERS and values:
            _cap(name, values[0])
        if name in _WORD_FILTERS and values and isinstance(values[0], str) \
                and len(values[0]) > _WORD_PIECE:
            return _by_words(func, args, kwargs, passes_first, _WORD_FILTERS[name])
        if name in _WIDTH_FILTERS:
            width = _arg(values, kwargs, _WIDTH_FILTERS[name], "width")
            if isinstance(width, int) and values:
                lines = str(values[0]).count("\n") + 1 if isinstance(values[0], str) else 1
                guards.check_allocation(width * lines, f"the {name} filter")
        elif name in _COUNT_FILTERS:
            count = _arg(values, kwargs, _COUNT_FILTERS[name], "linecount", "slices")
            if isinstance(count, int):
                guards.check_allocation(count * 8, f"the {name} filter")
        elif name == "format" and values:
            return guards.guarded_mod(values[0], tuple(values[1:]) or kwargs)
        result = func(*args, **kwargs)
        if isinstance(result, str):
            guards.check_text(result, f"the {name} filter")
        return result

    guarded.__dict__.update(getattr(func, "__dict__", {}))  # jinja_pass_arg
    return guarded


@jinja_utils.pass_environment
def _sum_filter(environment, iterable, attribute=None, start=0):
    """Jinja's ``sum`` filter by the sandbox's ``sum`` (Jinja's is
    CPython's builtin: ``rows|sum(start=[])`` concatenated 800 lists of
    1,000 in one C call, 1.9 s without a tick)."""
    if attribute is not None:
        iterable = map(jinja_filters.make_attrgetter(environment, attribute), iterable)
    return safe_sum(iterable, start)


@jinja_utils.pass_environment
def _sort_filter(environment, value, reverse=False, case_sensitive=False, attribute=None):
    """Jinja's ``sort`` filter by the sandbox's ``sorted`` (sorted in
    ticking runs: CPython's sorted of three million items in one C call
    held the process for seconds)."""
    key = jinja_filters.make_multi_attrgetter(
        environment, attribute, postprocess=None if case_sensitive else jinja_filters.ignore_case)
    return safe_sorted(value, key=key, reverse=reverse)


def _dictsort_filter(value, case_sensitive=False, by="key", reverse=False):
    """Jinja's ``dictsort`` filter by the sandbox's ``sorted``."""
    if by not in ("key", "value"):
        raise jinja_filters.FilterArgumentError('You can only sort by either "key" or "value"')
    position = 0 if by == "key" else 1

    def key(item):
        item = item[position]
        return item if case_sensitive else jinja_filters.ignore_case(item)

    return safe_sorted(value.items(), key=key, reverse=reverse)


@jinja_utils.pass_environment
def _groupby_filter(environment, value, attribute, default=None, case_sensitive=False):
    """Jinja's ``groupby`` filter, sorted by the sandbox's ``sorted``."""
    key = jinja_filters.make_attrgetter(
        environment, attribute, default=default,
        postprocess=None if case_sensitive else jinja_filters.ignore_case)
    groups = [jinja_filters._GroupTuple(k, list(items))
              for k, items in itertools.groupby(safe_sorted(value, key=key), key)]
    if not case_sensitive:
        shown = jinja_filters.make_attrgetter(environment, attribute, default=default)
        groups = [jinja_filters._GroupTuple(shown(items[0]), items) for _, items in groups]
    return groups


#: Most items the ``pprint`` filter formats (pprint is pure Python that never
#: ticks: three million items held the process for 10 s).
MAX_PPRINT_ITEMS = 10_000


def _pprint_filter(value):
    """Jinja's ``pprint`` filter, refused past :data:`MAX_PPRINT_ITEMS` items."""
    seen = 0
    stack = [value]
    while stack:
        item = stack.pop()
        limits.tick()
        if isinstance(item, (list, tuple, set, frozenset, dict)) and not isinstance(item, (str, bytes)):
            seen += len(item)
            if seen > MAX_PPRINT_ITEMS:
                raise guards.SizeLimitError(
                    f"the pprint filter formats at most {MAX_PPRINT_ITEMS:,} items here")
            if isinstance(item, dict):
                stack.extend(item.keys())
                stack.extend(item.values())
            else:
                stack.extend(item)
    return jinja_utils.pformat(value)


#: Largest ``precision`` of the ``round`` filter: its floor and ceil
#: methods compute ``10 ** precision`` (30 million held the process 100 s);
#: a float has no digit past 10**-330 anyway.
MAX_ROUND_PRECISION = 400


def _round_filter(value, precision=0, method="common"):
    """Jinja's ``round`` filter, refused past :data:`MAX_ROUND_PRECISION`."""
    if isinstance(precision, int) and abs(precision) > MAX_ROUND_PRECISION:
        raise guards.SizeLimitError(
            f"the round filter takes a precision of at most {MAX_ROUND_PRECISION} here")
    return jinja_filters.do_round(value, precision, method)


#: Jinja's comparison tests, by the operator they apply.
_COMPARING_TESTS = {"eq": "==", "equalto": "==", "==": "==", "ne": "!=", "!=": "!=",
                    "lt": "<", "lessthan": "<", "<": "<", "le": "<=", "<=": "<=",
                    "gt": ">", "greaterthan": ">", ">": ">", "ge": ">=", ">=": ">=",
                    "in": "in"}


def _bounded_test(name, func):
    """A Jinja test that ticks, with ``divisibleby``'s ``%`` through the
    operator guard (``'%300000000s' is divisibleby('x')`` built 476 MB) and
    the comparing tests through the guarded comparison."""

    def guarded(*args, **kwargs):
        limits.tick()
        if name == "divisibleby" and len(args) == 2:
            return guards.guarded_mod(args[0], args[1]) == 0
        if name in _COMPARING_TESTS and len(args) == 2 and not kwargs:
            return guarded_compare(args[0], _COMPARING_TESTS[name], args[1])
        return func(*args, **kwargs)

    guarded.__dict__.update(getattr(func, "__dict__", {}))
    return guarded


#: Jinja's filters that call a CPython builtin over the whole input in one
#: C call, or pure Python that never ticks: the sandbox's versions.
_SANDBOX_FILTERS = {"sum": _sum_filter, "sort": _sort_filter, "dictsort": _dictsort_filter,
                    "groupby": _groupby_filter, "pprint": _pprint_filter, "round": _round_filter}


def _random_filter(generator):
    """Jinja's ``random`` filter drawing from ``generator()``."""

    @pass_context
    def random_filter(context, seq):
        try:
            return generator().choice(seq)
        except IndexError:
            return context.environment.undefined("No random item, sequence was empty.")

    return random_filter


def _lipsum_drawing_from(generator):
    """Jinja's ``lipsum()`` drawing from ``generator()``: its own code, run
    with the generator's ``choice`` and ``randrange`` where its module has
    the process's (the only draws it makes)."""
    base = jinja_utils.generate_lorem_ipsum

    def lipsum(n=5, html=True, min=20, max=100):
        rng = generator()
        drawn = {**base.__globals__, "choice": rng.choice, "randrange": rng.randrange}
        return types.FunctionType(base.__code__, drawn, base.__name__)(n, html, min, max)

    return lipsum


def _words_bound(value) -> int:
    """``lipsum()``'s ``max`` as the plain int its ``randrange(min, max)``
    reads (its ``__index__``, asked once; an integral float's int, which
    Python 3.11's randrange still takes), so the cap compares the number
    Jinja's loop will run to, and that number is what the loop gets.

    :raises TypeError: a value randrange would refuse (a fraction, text).
    """
    try:
        return guards.exact_int(value)
    except TypeError:
        pass
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise TypeError(f"lipsum(): max must be a whole number, not {type(value).__name__}")


def _capped_lipsum(lipsum):
    def capped(n=5, html=True, min=20, max=100):
        # Its paragraphs loop over range(n): a count, or Jinja's TypeError
        # (a float or a text is not 5 paragraphs there).
        n = guards.exact_int(n)
        max = _words_bound(max)
        if n > MAX_LIPSUM[0] or max > MAX_LIPSUM[1]:
            raise guards.SizeLimitError(f"lipsum() is capped at {MAX_LIPSUM[0]} paragraphs of "
                                        f"{MAX_LIPSUM[1]} words")
        return lipsum(n, html, min, max)

    return capped


class _TickingCodeGenerator(CodeGenerator):
    """Jinja's code generator, ticking at every node (pure Python)."""

    def visit(self, node, *args, **kwargs):
        limits.tick()
        return super().visit(node, *args, **kwargs)

    def visit_For(self, node, frame):
        """``{% for %}``: its iterable ticks per item (a nested loop with an
        empty body, or ``loop.length`` of a generator, never ticked)."""
        node.iter = jinja_nodes.Call(jinja_nodes.EnvironmentAttribute("ticking_iter"),
                                     [node.iter], [], None, None, lineno=node.lineno)
        return super().visit_For(node, frame)

    def visit_Compare(self, node, frame):
        """Comparisons through the sandbox's (``sandbox.guards.compare``):
        ``environment.compare(a, (("<", b), ("<", c)))``. Every operand is
        evaluated, then the chain is decided pair by pair."""
        self.write("environment.compare(")
        self.visit(node.expr, frame)
        self.write(", (")
        for operand in node.ops:
            self.write(f"({jinja_compiler.operators[operand.op]!r}, ")
            self.visit(operand.expr, frame)
            self.write("), ")
        self.write("))")

    def visit_Concat(self, node, frame):
        """``a ~ b``: Jinja's join, through :meth:`TenantEnvironment.sized_concat`
        (ten 20 MB strings were joined in one C call)."""
        if frame.eval_ctx.volatile:
            join = "(markup_join if context.eval_ctx.volatile else str_join)"
        elif frame.eval_ctx.autoescape:
            join = "markup_join"
        else:
            join = "str_join"
        self.write(f"environment.sized_concat({join}, (")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class TenantEnvironment(SandboxedEnvironment):
    """Jinja2's sandbox with the budget's ticks and size guards. Compiling
    a template ticks too (the lexer, parser and code generator are pure
    Python: a 700 KB template held the process for seconds, issue 23)."""

    intercepted_binops = frozenset(_BINOPS)
    code_generator_class = _TickingCodeGenerator

    def _tokenize(self, source, name, filename=None, state=None):
        if len(source) > MAX_TEMPLATE_BYTES:
            raise guards.SizeLimitError(f"a template is at most {MAX_TEMPLATE_BYTES} bytes here")
        stream = super()._tokenize(source, name, filename, state)
        stream._iter = TickingIter(stream._iter)  # the parser takes tokens from it
        return stream

    def getattr(self, obj, attribute):
        limits.tick()
        # A tenant's str subclass can answer differently each time it is
        # asked (its __hash__, __eq__, startswith are tenant code): Jinja
        # reads with getattr, then asks whether that was safe, so the name
        # read and the name checked must be one plain text (round 6:
        # f|attr(name) reached __globals__).
        attribute = guards.plain_text(attribute)
        if type(obj) is str and attribute in _GUARDED_STR_METHODS:
            # The sandbox's bounded versions (format widths, padding, joins);
            # exact str only, so Markup keeps its escaping methods.
            return guards.guarded_getattr(obj, attribute)
        if type(attribute) is str and readable(obj, attribute):
            # The membrane's answer, through the native table's guards.
            try:
                value = guards.guarded_getattr(obj, attribute)
            except AttributeError:
                pass  # missing: Jinja tries the item, then undefined
            else:
                if SandboxedEnvironment.is_safe_attribute(self, obj, attribute, value):
                    return value
                return self.unsafe_undefined(obj, attribute)
        return super().getattr(obj, attribute)

    def is_safe_attribute(self, obj, attr, value):
        """Jinja's rule and the membrane's: every road asks the same question."""
        return super().is_safe_attribute(obj, attr, value) and readable(obj, attr)

    def getitem(self, obj, argument):
        limits.tick()
        # Jinja falls back to getattr(obj, str(argument)) when obj[argument]
        # fails: the same plain text must reach the lookup and the check.
        return super().getitem(obj, guards.plain_text(argument))

    def call(__self, __context, __obj, *args, **kwargs):  # noqa: N805 - Jinja's signature
        limits.tick()
        return SandboxedEnvironment.call(__self, __context, __obj, *args, **kwargs)

    def call_binop(self, context, operator, left, right):
        limits.tick()
        return _BINOPS[operator](left, right)

    @staticmethod
    def concat(pieces) -> str:
        """Every join of template output — a render, a ``{% set %}``
        capture, a macro's body (compiled templates bind ``concat`` to
        this): the pieces counted as they come, literal text included, and
        sized before the join builds them (a loop yielding the same 100 KB
        of literal text 2,500 times made 476 MB in the final join)."""
        if isinstance(pieces, list):
            guards.check_allocation(sum(map(len, pieces)), "a rendered template")
            return "".join(pieces)
        kept = []
        total = checked = 0
        for piece in pieces:
            kept.append(piece)
            total += len(piece)
            if total - checked >= _OUTPUT_CHECK_BYTES:
                limits.tick(8)
                guards.check_allocation(total, "a rendered template")
                checked = total
        guards.check_allocation(total, "a rendered template")
        return "".join(kept)

    @staticmethod
    def compare(left, operands):
        """A template's ``a == b``, ``a < b < c``, ``a in b``: each pair by
        the sandbox's guarded comparison (nested containers tick)."""
        limits.tick()
        result = True
        for op, right in operands:
            result = guarded_compare(left, op, right)
            if not result:
                return result
            left = right
        return result

    @staticmethod
    def ticking_iter(iterable):
        """What a ``{% for %}`` loops over (see ``visit_For``)."""
        return TickingIter(iterable)

    @staticmethod
    def sized_concat(join, parts):
        """``~``: the text of every part sized before Jinja joins them."""
        limits.tick()
        guards.check_allocation(
            sum(len(p) if isinstance(p, str) else _output_size(p) for p in parts), "~")
        if any(hasattr(p, "__html__") for p in parts):
            # markup_join escapes the other parts.
            guards.check_allocation(sum(_output_size(p) for p in parts), "~")
        return join(parts)


#: Most filters, tests and globals one tenant's apps may add (each table).
MAX_ADDED = 1000


@declared(" ".join(sorted(JINJA_ENV_NAMES)))
class TenantJinjaEnv:
    """``app.jinja_env`` as tenant code holds it: the filters, tests and
    globals the app adds to Jinja's (plain dicts, the tenant's own), and
    the two lexer switches Flask apps set."""

    _guarded_writes = True
    __slots__ = ("filters", "tests", "globals", "_trim", "_lstrip")

    def __init__(self):
        self.filters = {}
        self.tests = {}
        self.globals = {}
        self._trim = False
        self._lstrip = False

    @property
    def trim_blocks(self) -> bool:
        return self._trim

    @trim_blocks.setter
    def trim_blocks(self, value):
        self._trim = bool(value)

    @property
    def lstrip_blocks(self) -> bool:
        return self._lstrip

    @lstrip_blocks.setter
    def lstrip_blocks(self, value):
        self._lstrip = bool(value)

    def add(self, table: str, func, name=None) -> None:
        """``add_template_filter(f, name)`` and its kin: ``name`` or the
        function's own, as Flask names them."""
        added = getattr(self, table)
        if type(added) is not dict:
            raise TypeError(f"app.jinja_env.{table} must stay a dict")
        if len(added) >= MAX_ADDED:
            raise ValueError(f"more than {MAX_ADDED} template {table} in one tenant")
        added[name if name is not None else func.__name__] = func

    def __repr__(self):
        return "<jinja_env>"


def _added(site) -> tuple:
    """Everything the tenant's apps add to its environment, as one value
    that compares equal while nothing changed."""
    tables = ({}, {}, {})
    main = site.app
    switches = (False, False)
    for app in site.apps:
        env = app._jinja_env
        if env is None:
            continue
        for table, name in zip(tables, ("filters", "tests", "globals")):
            added = getattr(env, name)
            if type(added) is not dict:
                raise TypeError(f"app.jinja_env.{name} must stay a dict")
            if len(added) + len(table) > MAX_ADDED:
                raise ValueError(f"more than {MAX_ADDED} template {name} in one tenant")
            table.update(added)
        if app is main:
            switches = (env.trim_blocks, env.lstrip_blocks)
    return (*tables, switches)


class TenantTemplates:
    """One tenant's template environment."""

    def __init__(self, site):
        self._site = site
        self._own_random: random.Random | None = None
        #: source -> compiled template, least recently used first.
        self._strings: dict = {}
        self.env = TenantEnvironment(
            loader=_TenantLoader(site),
            finalize=_sized_output,
            autoescape=select_autoescape(["html", "htm", "xml"], default_for_string=True),
            auto_reload=False,
        )
        self.env.globals["range"] = _ticking_range
        # tojson as Flask's (its app.json.dumps), sized before the text is built.
        self.env.policies["json.dumps_function"] = flask_json.app_dumps
        # |random and lipsum() draw from the tenant's own generator, the one
        # its random module draws from (under Flask both draw from the
        # process's: random.seed() in the app makes them repeat as there).
        # The process's would let a tenant read another's draws.
        self.env.globals["lipsum"] = _capped_lipsum(_lipsum_drawing_from(self._generator))
        drawing = {"random": _random_filter(self._generator)}
        self.env.filters = {name: _bounded_filter(name, func) for name, func
                            in {**self.env.filters, **_SANDBOX_FILTERS, **drawing}.items()}
        self.env.tests = {name: _bounded_test(name, func) for name, func in self.env.tests.items()}
        self._own = (dict(self.env.filters), dict(self.env.tests), dict(self.env.globals))
        self._applied = ({}, {}, {}, (False, False))

    def _generator(self) -> random.Random:
        """The tenant's random generator (its runtime's), or one of this
        environment's own when no runtime is set."""
        runtime = self._site.runtime
        if runtime is not None:
            return runtime.random
        if self._own_random is None:
            self._own_random = random.Random()
        return self._own_random

    def _sync(self) -> None:
        """Bring the apps' filters, tests, globals and switches into the
        environment; drop compiled templates when they changed."""
        added = _added(self._site)
        if added == self._applied:
            return
        filters, tests, globals_, (trim, lstrip) = added
        env = self.env
        env.filters = {**self._own[0], **filters}
        env.tests = {**self._own[1], **tests}
        # Templates hold env.globals itself (a ChainMap over it): change it in place.
        env.globals.clear()
        env.globals.update({**self._own[2], **globals_})
        env.trim_blocks, env.lstrip_blocks = trim, lstrip
        if env.cache is not None:
            env.cache.clear()
        self._strings.clear()
        self._applied = added

    def render(self, name: str, context: dict) -> str:
        self._sync()
        template = self.env.get_template(name)
        return self._checked(template.render(context))

    def render_string(self, source: str, context: dict) -> str:
        guards.check_text(source, "render_template_string()")
        self._sync()
        # Compiled once per source (a page rendered on every request, like
        # a file template), not on every call.
        template = self._strings.pop(source, None)
        if template is None:
            template = self.env.from_string(source)
            if len(self._strings) >= STRING_CACHE:
                self._strings.pop(next(iter(self._strings)))
        self._strings[source] = template
        return self._checked(template.render(context))

    @staticmethod
    def _checked(text: str) -> str:
        limits.tick()
        guards.check_text(text, "a rendered template")
        return text

"""A tenant's URL converters, read from its source, and their host side.

Flask's docs register converters on the app's map::

    class RegexConverter(BaseConverter):
        def __init__(self, url_map, *items):
            super().__init__(url_map)
            self.regex = items[0]

    app.url_map.converters["regex"] = RegexConverter

Registration reads, per module, the ``app.url_map.converters[...] = Cls``
statements (and ``.update(...)`` with a dict literal or keywords) at the top
of the module or of its app factory, and the converter classes defined at
the top of the module (:func:`read_converter_classes`): what regex each
matches must be known then — a class-level ``regex = "..."`` literal, the
one inherited from werkzeug's converter, or the ``self.regex = items[0]``
idiom (the rule's first argument). The host router matches with
:func:`host_converter`, a werkzeug converter with that regex whose
``to_python`` is the identity; the tenant's class converts the text later,
inside the request's limits (:mod:`muxserver.tenant_api.converters`).

.. warning::
   The regex is tenant input compiled into the host router's regex, which
   runs outside any request's limits: :func:`regex_problem` refuses a
   regex longer than :data:`MAX_CONVERTER_REGEX`, one with backreferences,
   lookarounds or named groups, and a repetition of anything but one
   character, an optional part, or a group led by a character nothing
   else in it matches with at most one part of variable width — the shapes
   whose backtracking grows exponentially. What is left is polynomial, and
   :func:`match_ways` bounds it: the router matches a tenant's rules only
   against paths short enough for all of them together
   (:func:`longest_routed_path`).
"""

from __future__ import annotations

import ast
import re
from re import _constants as sre_constants  # noqa: PLC2701 - the parser's op codes
from re import _parser as sre_parse  # noqa: PLC2701 - Python's own regex parser

from werkzeug.routing import converters as wz

#: werkzeug's converter classes a tenant's converter may derive from.
WERKZEUG_CONVERTERS = {
    "BaseConverter": wz.BaseConverter,
    "UnicodeConverter": wz.UnicodeConverter,
    "PathConverter": wz.PathConverter,
    "IntegerConverter": wz.IntegerConverter,
    "FloatConverter": wz.FloatConverter,
}
#: Of those, the ones whose ``__init__`` may set the regex (from the rule's
#: arguments): a tenant ``__init__`` there hides what it becomes.
_INIT_REGEX = frozenset(["UnicodeConverter", "IntegerConverter", "FloatConverter"])
_WERKZEUG_MODULES = ("werkzeug.routing", "werkzeug.routing.converters")

#: Longest converter regex (a class's or a rule argument's).
MAX_CONVERTER_REGEX = 256
#: Most backtracking paths (:func:`match_ways`) a request's routing may take
#: through all of a tenant's rules: two unbounded repetitions over a
#: 2,048-character path (about 70 ms of the host's CPU, the process held).
MAX_ROUTING_WAYS = (2048 + 1) ** 2
#: Longest path any router matches (the request line's own bound).
LONGEST_PATH = 65536
#: Shortest path limit a tenant's rules may leave it (refused below it).
MIN_ROUTED_PATH = 256
_SINGLE_CHARACTER = frozenset([sre_constants.LITERAL, sre_constants.NOT_LITERAL,
                               sre_constants.IN, sre_constants.ANY, sre_constants.CATEGORY])
_REPEATS = frozenset([sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT,
                      sre_constants.POSSESSIVE_REPEAT])


def regex_problem(regex) -> str | None:
    """Why ``regex`` may not be a converter's regex here, or None."""
    if type(regex) is not str:
        return "a converter's regex must be a string"
    if len(regex) > MAX_CONVERTER_REGEX:
        return f"a converter's regex may be at most {MAX_CONVERTER_REGEX} characters here"
    try:
        parsed = sre_parse.parse(regex)
    except (re.error, RecursionError, OverflowError) as exc:
        return f"a converter's regex is not valid: {exc}"
    if parsed.state.groupdict:
        return "a converter's regex may not have named groups (werkzeug names the rule's own)"

    def visit(items) -> str | None:
        for op, av in items:
            if op in (sre_constants.GROUPREF, sre_constants.GROUPREF_EXISTS,
                      sre_constants.ASSERT, sre_constants.ASSERT_NOT):
                return ("a converter's regex may not have backreferences or lookarounds here "
                        "(their matching time is not bounded by the URL's length)")
            if op in _REPEATS:
                low, high, body = av
                single = len(body) == 1 and body[0][0] in _SINGLE_CHARACTER
                if single or high <= 1:
                    found = visit(body)
                elif _led_by_a_literal(body):
                    # (?:-[a-z]+)*: each turn starts at a character nothing
                    # inside it matches and has one part of variable width,
                    # so the turns cannot be split two ways.
                    found = visit(body)
                else:
                    return ("a converter's regex may repeat only one character, an optional "
                            "part, or a group that starts with a character nothing else in it "
                            "matches and has at most one part of variable width "
                            "((?:-[a-z]+)*): other repeated groups backtrack exponentially")
            elif op == sre_constants.SUBPATTERN:
                found = visit(av[-1])
            elif op == sre_constants.BRANCH:
                found = next(filter(None, (visit(b) for b in av[1])), None)
            elif op == sre_constants.ATOMIC_GROUP:
                found = visit(av)
            else:
                found = None
            if found:
                return found
        return None

    found = visit(parsed)
    if found:
        return found
    if match_ways(parsed, MIN_ROUTED_PATH) > MAX_ROUTING_WAYS:
        return ("a converter's regex may not have so many parts of variable width here "
                "(each multiplies the matching time by the URL's length)")
    return None


def _led_by_a_literal(body) -> bool:
    """Whether a repeated group's ``body`` starts with a literal character
    that none of its repetitions can match (each repeating one character)
    and has at most one of variable width: two (``(?:-a*a*)*``) could split
    each turn's text two ways, and a failing match tries every split of
    every turn (nine turns of ``-aaaaaa`` held the process 7 s)."""
    if not body or body[0][0] != sre_constants.LITERAL:
        return False
    lead = chr(body[0][1])
    variable = 0
    for op, av in _flatten(body[1:]):
        if op in _REPEATS:
            inner = av[2]
            if not (len(inner) == 1 and inner[0][0] in _SINGLE_CHARACTER):
                return False
            if _may_match(inner[0], lead):
                return False
            variable += av[0] != av[1]
        elif op not in _SINGLE_CHARACTER and op != sre_constants.AT:
            return False
    return variable <= 1


def _fixed_width(items) -> bool:
    """Whether ``items`` always match the same number of characters."""
    for op, av in items:
        if op in _REPEATS:
            if av[0] != av[1] or not _fixed_width(av[2]):
                return False
        elif op == sre_constants.SUBPATTERN:
            if not _fixed_width(av[-1]):
                return False
        elif op in (sre_constants.BRANCH, sre_constants.GROUPREF, sre_constants.GROUPREF_EXISTS):
            return False
        elif op == sre_constants.ATOMIC_GROUP and not _fixed_width(av):
            return False
    return True


def match_ways(items, length: int) -> int:
    """An upper bound on the paths a backtracking match of parsed regex
    ``items`` (:func:`re._parser.parse`, of a shape :func:`regex_problem`
    allows) may take through a text of at most ``length`` characters: the
    product, part after part, of the choices each offers — a repetition of
    one character as many as the lengths it may take (one when what follows
    it starts with a character it cannot match, or is the end: it can stop
    only where it does), an alternation the sum of its branches', an
    optional part its own and one more, a repeated group led by a character
    nothing in it matches as many as the places it may end. The matching
    time grows with it."""
    total = 1
    items = list(_flatten(items))
    for at, (op, av) in enumerate(items):
        if op in _REPEATS:
            low, high, body = av
            lengths = max(1, min(high, length) - low + 1)
            if len(body) == 1 and body[0][0] in _SINGLE_CHARACTER:
                ways = 1 if _stops_before(body[0], items[at + 1:]) else lengths
            elif high <= 1:
                ways = match_ways(body, length) + (low == 0)
            elif _fixed_width(body):
                ways = lengths
            else:
                ways = length + 1
        elif op == sre_constants.BRANCH:
            ways = sum(match_ways(branch, length) for branch in av[1])
        elif op == sre_constants.ATOMIC_GROUP:
            ways = match_ways(av, length)
        elif op in (sre_constants.ASSERT, sre_constants.ASSERT_NOT):
            ways = match_ways(av[1], length)
        else:
            ways = 1
        total *= ways
        if total > MAX_ROUTING_WAYS * LONGEST_PATH:
            return total  # past any bound: no need to multiply on
    return total


_ENDS = frozenset([sre_constants.AT_END, sre_constants.AT_END_STRING])


def _stops_before(item, rest) -> bool:
    """Whether a repetition of one-character ``item`` followed by ``rest``
    (flattened items) can stop in one place only: ``rest`` must start with
    a literal character ``item`` does not match, or with the text's end
    (``\\d+-\\d+\\Z``: each stops at the first character not a digit)."""
    if not rest:
        return False
    op, av = rest[0]
    if op == sre_constants.LITERAL:
        return not _may_match(item, chr(av))
    if op == sre_constants.AT:
        return av in _ENDS
    if op in _REPEATS and av[1] >= 1:
        if not _stops_before(item, list(_flatten(av[2]))):
            return False
        return av[0] >= 1 or _stops_before(item, rest[1:])
    return False


def _flatten(items):
    for op, av in items:
        if op == sre_constants.SUBPATTERN:
            yield from _flatten(av[-1])
        else:
            yield op, av


def _may_match(item, char: str) -> bool:
    """Whether one-character ``item`` may match ``char`` (True when unsure)."""
    op, av = item
    if op == sre_constants.LITERAL:
        return chr(av) == char
    if op == sre_constants.NOT_LITERAL:
        return chr(av) != char
    if op == sre_constants.IN:
        negate = any(o == sre_constants.NEGATE for o, _ in av)
        hit = False
        for o, a in av:
            if o == sre_constants.LITERAL:
                hit = hit or chr(a) == char
            elif o == sre_constants.RANGE:
                hit = hit or a[0] <= ord(char) <= a[1]
            elif o == sre_constants.CATEGORY:
                hit = hit or re.fullmatch(_CATEGORIES.get(a, "(?s:.)"), char) is not None
        return hit != negate
    return True


_CATEGORIES = {sre_constants.CATEGORY_DIGIT: r"\d", sre_constants.CATEGORY_NOT_DIGIT: r"\D",
               sre_constants.CATEGORY_WORD: r"\w", sre_constants.CATEGORY_NOT_WORD: r"\W",
               sre_constants.CATEGORY_SPACE: r"\s", sre_constants.CATEGORY_NOT_SPACE: r"\S"}


# -- reading ------------------------------------------------------------------------


def _problem(node: ast.AST, message: str) -> dict:
    return {"error": message, "line": getattr(node, "lineno", 1)}


def _self_regex_value(func: ast.FunctionDef) -> tuple[str, ast.AST] | None:
    """``("args", node)`` when ``__init__`` sets ``self.regex`` to its
    ``*args[0]``, ``("other", node)`` when it sets it otherwise, None when
    it does not set it."""
    args = func.args
    own = args.posonlyargs + args.args
    self_name = own[0].arg if own else None
    star = args.vararg.arg if args.vararg else None
    found = None
    for node in ast.walk(func):
        targets = (node.targets if isinstance(node, ast.Assign) else
                   [node.target] if isinstance(node, (ast.AnnAssign, ast.AugAssign)) else [])
        for target in targets:
            if not (isinstance(target, ast.Attribute) and target.attr == "regex"
                    and isinstance(target.value, ast.Name) and target.value.id == self_name):
                continue
            value = node.value
            idiom = (isinstance(node, ast.Assign) and star is not None
                     and isinstance(value, ast.Subscript) and isinstance(value.value, ast.Name)
                     and value.value.id == star and isinstance(value.slice, ast.Constant)
                     and value.slice.value == 0)
            if found is not None or not idiom:
                return "other", node
            found = ("args", node)
    return found


def read_converter_classes(body: list[ast.stmt], origin_of, consts) -> dict:
    """Top-level classes of a module that derive from a werkzeug converter
    (or from such a class of the module) -> what registration knows of
    them: ``{"base", "regex", "init", "part_isolating", "weight", "line"}``
    (``init``: ``"werkzeug"`` — the base's ``__init__`` with the rule's
    arguments —, ``"args"`` — the regex is the rule's first argument —, or
    ``"base"``) or ``{"error", "line"}``."""
    classes: dict = {}
    for node in body:
        if not isinstance(node, ast.ClassDef) or len(node.bases) != 1:
            continue
        base = node.bases[0]
        if isinstance(base, ast.Name) and base.id in classes:
            info = dict(classes[base.id])
            if "error" in info:
                classes[node.name] = {**info, "line": node.lineno}
                continue
        else:
            origin = origin_of(base)
            if origin is None or origin[0] not in _WERKZEUG_MODULES or origin[1]:
                continue
            if origin[2] not in WERKZEUG_CONVERTERS:
                classes[node.name] = _problem(node, f"werkzeug.routing.{origin[2]} is not a "
                                                    "converter a tenant's may derive from here")
                continue
            wz_class = WERKZEUG_CONVERTERS[origin[2]]
            info = {"base": origin[2], "regex": None, "init": "werkzeug",
                    "part_isolating": wz_class.part_isolating, "weight": wz_class.weight}
        classes[node.name] = _read_class(node, info, consts)
    return classes


def _read_class(node: ast.ClassDef, info: dict, consts) -> dict:
    info["line"] = node.lineno
    own_isolating = None
    for item in node.body:
        targets = (item.targets if isinstance(item, ast.Assign) else
                   [item.target] if isinstance(item, (ast.AnnAssign, ast.AugAssign)) else [])
        names = [t.id for t in targets if isinstance(t, ast.Name)]
        value = consts.fold(item.value) if getattr(item, "value", None) is not None else None
        if "regex" in names:
            if isinstance(item, ast.AugAssign) or type(value) is not str:
                return _problem(item, f"converter {node.name}: regex must be a string literal "
                                      "(or a constant of the module) to be read at deploy time: "
                                      "the router matches with it before the app runs")
            problem = regex_problem(value)
            if problem:
                return _problem(item, f"converter {node.name}: {problem}")
            info["regex"] = value
        if "part_isolating" in names:
            if type(value) is not bool:
                return _problem(item, f"converter {node.name}: part_isolating must be True or "
                                      "False to be read at deploy time")
            own_isolating = value
        if "weight" in names:
            if type(value) not in (int, float):
                return _problem(item, f"converter {node.name}: weight must be a number literal "
                                      "to be read at deploy time")
            info["weight"] = value
        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name == "__init__":
            sets = _self_regex_value(item)
            if sets is not None and sets[0] == "other":
                return _problem(sets[1], f"converter {node.name}: self.regex must be set to the "
                                         "rule's first argument (self.regex = items[0], items "
                                         "being __init__'s *args) or be a class-level string "
                                         "literal to be read at deploy time: the router matches "
                                         "with it before the app runs")
            if sets is not None:
                info["init"] = "args"
            elif info["init"] == "werkzeug" and info["base"] in _INIT_REGEX:
                return _problem(item, f"converter {node.name}: its __init__ replaces "
                                      f"{info['base']}'s, which sets the regex from the rule's "
                                      "arguments; set self.regex = items[0] or derive from "
                                      "BaseConverter with a class-level regex")
            elif info["init"] == "werkzeug":
                info["init"] = "base"
    if own_isolating is not None:
        info["part_isolating"] = own_isolating
    elif any(isinstance(i, (ast.Assign, ast.AnnAssign)) and any(
            isinstance(t, ast.Name) and t.id == "regex"
            for t in (i.targets if isinstance(i, ast.Assign) else [i.target])) for i in node.body):
        info["part_isolating"] = "/" not in info["regex"]  # werkzeug's __init_subclass__
    return info


def _converters_of(node: ast.AST) -> bool:
    """Whether ``node`` is ``<something>.url_map.converters``."""
    return (isinstance(node, ast.Attribute) and node.attr == "converters"
            and isinstance(node.value, ast.Attribute) and node.value.attr == "url_map")


def read_converter_registrations(tree: ast.Module, body: list[ast.stmt], consts) -> list:
    """``[[name, class, line], ...]``: the converters registered by the
    statements of ``body`` (the module's top and its app factory's);
    ``class`` is the node naming the class. A registration anywhere else,
    or that cannot be read, raises :class:`SyntaxError` with its line."""
    found, read = [], set()
    for node in body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Subscript) and _converters_of(t.value) for t in node.targets):
            read.add(id(node))
            for target in node.targets:
                key = consts.fold(target.slice) if isinstance(target, ast.Subscript) else None
                if type(key) is not str:
                    raise _syntax(node, "app.url_map.converters[...] must be given a string "
                                        "literal name to be read at deploy time")
                found.append([key, node.value, node.lineno])
        elif (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
              and isinstance(node.value.func, ast.Attribute) and node.value.func.attr == "update"
              and _converters_of(node.value.func.value)):
            call = node.value
            read.update((id(node), id(call)))
            if len(call.args) > 1 or (call.args and not isinstance(call.args[0], ast.Dict)):
                raise _syntax(node, "app.url_map.converters.update() must be given a dict "
                                    "literal or keywords to be read at deploy time")
            pairs = [(k, v) for k, v in zip(call.args[0].keys, call.args[0].values)] \
                if call.args else []
            for key, value in pairs:
                name = consts.fold(key) if key is not None else None
                if type(name) is not str:
                    raise _syntax(node, "app.url_map.converters.update() must be given string "
                                        "literal names to be read at deploy time")
                found.append([name, value, node.lineno])
            for keyword in call.keywords:
                if keyword.arg is None:
                    raise _syntax(node, "app.url_map.converters.update(**names) cannot be read "
                                        "at deploy time")
                found.append([keyword.arg, keyword.value, node.lineno])
    for node in ast.walk(tree):
        if id(node) in read:
            continue
        changes = (
            isinstance(node, (ast.Assign, ast.AugAssign, ast.Delete)) and any(
                isinstance(t, ast.Subscript) and _converters_of(t.value)
                or _converters_of(t)
                for t in (node.targets if not isinstance(node, ast.AugAssign) else [node.target]))
        ) or (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and _converters_of(node.func.value)
              and node.func.attr in ("update", "setdefault", "pop", "popitem", "clear",
                                     "__setitem__", "__delitem__"))
        if changes:
            raise _syntax(node, "app.url_map.converters must be changed at the top of the "
                                "module (or of create_app) with converters[\"name\"] = Class or "
                                ".update(...) to be read at deploy time: the routes are "
                                "matched with them before the app runs")
    return found


def _syntax(node: ast.AST, message: str) -> SyntaxError:
    err = SyntaxError(message)
    err.lineno = getattr(node, "lineno", 1)
    return err


class AnyConverterName(dict):
    """Converters by name where any name werkzeug does not find here is its
    default converter: for a rule checked before the tenant's converters
    are all read (:func:`muxserver.tenancy.routes.check_rule`), and for a
    process tenant's router, whose own Flask runs the converters
    registration could not read (the host's match only names the endpoint
    in the logs)."""

    def __contains__(self, name):
        return True

    def __missing__(self, name):
        return wz.BaseConverter  # takes any arguments


# -- the host side --------------------------------------------------------------------


def _identity(self, value):
    return value


def _regex_from_args(self, map, *args, **kwargs):
    wz.BaseConverter.__init__(self, map)
    regex = args[0] if args else None
    problem = regex_problem(regex)
    if problem:
        raise ValueError(problem)
    self.regex = regex


def host_converter(name: str, info: dict) -> type:
    """The werkzeug converter the host router matches tenant converter
    ``name`` with: ``info``'s regex (read from the source), the tenant's
    ``part_isolating`` and ``weight``, and the raw text as the value; each
    instance keeps the rule's arguments (``tenant_args``) for the tenant's
    class. No tenant code runs in it."""
    base = WERKZEUG_CONVERTERS[info["base"]]
    make = {"args": _regex_from_args, "base": wz.BaseConverter.__init__}.get(
        info["init"], base.__init__)

    def __init__(self, map, *args, **kwargs):
        make(self, map, *args, **kwargs)
        self.tenant_args = (args, kwargs)

    namespace = {"to_python": _identity, "part_isolating": info["part_isolating"],
                 "weight": info["weight"], "tenant_converter": name, "__init__": __init__}
    if info.get("regex") is not None:
        namespace["regex"] = info["regex"]
    return type(f"TenantConverter_{name}", (base,), namespace)


# -- what routing may cost ------------------------------------------------------------


def rule_patterns(rule) -> list:
    """The parsed regexes werkzeug matches bound ``rule``'s dynamic parts
    with (its converters' regexes, in one part side by side)."""
    return [sre_parse.parse(part.content) for part in rule._parts if not part.static]


def longest_routed_path(patterns) -> int:
    """The longest path (at most :data:`LONGEST_PATH`) a router matching
    with all of ``patterns`` (:func:`rule_patterns` of each rule) may be
    given: the one at which their :func:`match_ways` together reach
    :data:`MAX_ROUTING_WAYS`. A request's routing tries every rule that
    might match it, so their costs add up."""
    def ways(length: int) -> int:
        return sum(match_ways(pattern, length) for pattern in patterns)

    if ways(LONGEST_PATH) <= MAX_ROUTING_WAYS:
        return LONGEST_PATH
    low, high = 0, LONGEST_PATH
    while low < high:
        middle = (low + high + 1) // 2
        if ways(middle) <= MAX_ROUTING_WAYS:
            low = middle
        else:
            high = middle - 1
    return low

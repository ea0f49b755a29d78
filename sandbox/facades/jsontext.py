"""JSON text as one call may build it: its layout and its size, judged in
one place for every road from tenant values to JSON text — the sandbox's
``json.dumps``, ``JSONEncoder.encode``/``iterencode``, and the tenant API's
``flask.json.dumps``, ``app.json``, ``jsonify`` and ``tojson`` (which call
:func:`checked_dumps_options`), and host code handed a tenant's value
(:func:`dumps`).

Python's encoder builds the whole text in one call that no tick
interrupts, so the text is sized before it is built
(:func:`json_text_size`): six times the values' own text (``\\uXXXX``
escapes), :data:`VALUE_BYTES` for each value, and — indented — the indent
once per level of nesting on every line. Without the last part
``json.dumps(deep, indent=64)`` of 18 000 zeros under 200 levels built
230 MB (460 MB at its peak) against a 32 MB budget, sized as 1.3 MB.

.. warning::
   The size is an upper estimate: a wide document with one deep branch is
   sized as if its values sat at their own depths (exact), but a ``default=``
   value is sized as if it sat below everything seen so far.
"""

from __future__ import annotations

import json

from sandbox import guards
from sandbox import limits
from sandbox.guards import SizeLimitError

#: The longest indent (a count of spaces, or text) and separator.
MAX_INDENT = 64
MAX_SEPARATOR = 16
#: Bytes one value costs beside its own text: a newline, the item and key
#: separators (at most :data:`MAX_SEPARATOR` each), brackets.
VALUE_BYTES = 70


def check_coder(cls, base) -> None:
    """``cls=`` is instantiated by json with keywords: only a coder class."""
    if cls is not None and not (isinstance(cls, type) and issubclass(cls, base)):
        raise TypeError(f"cls= must be a subclass of json.{base.__name__}")


def check_layout(indent, separators):
    """Refuse a long indent or separators; returns the indent to use: a
    count made an exact ``int``, text an exact ``str`` (json repeats it,
    and a subclass could answer ``len()`` as it likes)."""
    if guards.is_count(indent):
        indent = guards.exact_int(indent)
    elif isinstance(indent, str):
        indent = str.__str__(indent)
    if isinstance(indent, int) and indent > MAX_INDENT \
            or isinstance(indent, str) and len(indent) > MAX_INDENT:
        raise SizeLimitError(f"json indent is over the sandbox limit ({MAX_INDENT})")
    if separators is not None and any(len(guards.safe_str(sep, 32)) > MAX_SEPARATOR
                                      for sep in separators):
        raise SizeLimitError(f"json separators are over the sandbox limit ({MAX_SEPARATOR} "
                             "characters)")
    return indent


def _indent_width(indent) -> int:
    """Characters one level of ``indent`` (as :func:`check_layout` returns
    it) adds to a line."""
    if isinstance(indent, str):
        return len(indent)
    return indent if isinstance(indent, int) and indent > 0 else 0


_CONTAINERS = (list, tuple, dict)


def _real(item):
    """``(count, children)`` of a container from its own storage
    (:func:`sandbox.guards.storage_type`): a tenant's ``dict`` subclass
    whose ``values()`` said it was empty had 50 MB of text built in a 16 MB
    budget (round 14)."""
    base = guards.storage_type(item)
    return base.__len__(item), (dict.values(item) if base is dict else base.__iter__(item))


def plain_json(obj):
    """``obj`` with every container that is a subclass of ``dict``,
    ``list`` or ``tuple`` copied into a plain one from its own storage: what
    is sized is then what is encoded, whatever the subclass's ``items()``
    or ``__iter__`` would answer (json's encoders call them)."""
    if isinstance(obj, dict):
        copy = dict.copy(obj)  # a plain dict, from the storage
        for n, (key, value) in enumerate(dict.items(copy)):
            if not n & 1023:
                limits.tick(1)
            if isinstance(value, _CONTAINERS):
                copy[key] = plain_json(value)
        return copy
    if isinstance(obj, (list, tuple)):
        copy = list.copy(obj) if isinstance(obj, list) else list(tuple.__iter__(obj))
        for n, value in enumerate(copy):
            if not n & 1023:
                limits.tick(1)
            if isinstance(value, _CONTAINERS):
                copy[n] = plain_json(value)
        return copy if isinstance(obj, list) else tuple(copy)
    return obj


def json_text_size(obj, indent=None, depth: int = 0, odd=None,
                   limit: int | None = None) -> tuple[int, int]:
    """``(bytes, deepest)``: at most how many bytes ``json.dumps(obj,
    indent=indent)`` writes when ``obj`` sits ``depth`` levels down, and
    the deepest level it reaches. Each value's line and each container's
    closing line carry the indent once per level. The walk ticks every few
    values (a list of millions is one value to json, not one step here).
    Containers read from their own storage (:func:`_real`); each one that
    is a subclass is appended to ``odd`` when given. With a ``limit``, the
    walk stops as soon as the values alone are past it (a list held many
    times over is walked once per place it is held) and answers a size
    over ``limit``."""
    width = _indent_width(indent)
    values, levels, deepest = 1, depth, depth
    stack = [(obj, depth)] if isinstance(obj, _CONTAINERS) else []
    seen = 0
    while stack:
        item, level = stack.pop()
        if odd is not None and type(item) not in _CONTAINERS:
            odd.append(item)
        count, children = _real(item)
        values += count
        if limit is not None and VALUE_BYTES * values > limit:
            return VALUE_BYTES * values, deepest
        # Each child's line at the level below, and the closing bracket's.
        levels += level + count * (level + 1)
        if count:
            deepest = max(deepest, level + 1)
        for child in children:
            seen += 1
            if not seen & 63:
                limits.tick(8)
            if isinstance(child, _CONTAINERS):
                stack.append((child, level + 1))
    text = 6 * guards.text_size(obj, 2**62)
    return text + VALUE_BYTES * values + width * levels, deepest


def check_json_size(obj, indent=None, default=None, what: str = "JSON"):
    """Refuse ``obj``'s JSON text when it is past the request's memory.

    :return: ``(obj, default)``: the value to encode (``obj``, or its plain
        copy when a container in it is a subclass: :func:`plain_json`) and
        ``default`` (json's ``default=``) wrapped so that what it returns
        counts too — below the deepest level seen so far, which no value it
        returns can be deeper than — or None without one.
    """
    odd: list = []
    spent, deepest = json_text_size(obj, indent, odd=odd)
    guards.check_allocation(spent, what)
    if odd:
        obj = plain_json(obj)
    if default is None:
        return obj, None
    total = [spent, deepest]

    def sized(o):
        value = default(o)
        more, total[1] = json_text_size(value, indent, total[1] + 1)
        total[0] += more
        guards.check_allocation(total[0], what)
        return plain_json(value)

    return obj, sized


def checked_dumps_options(obj, options: dict, what: str = "JSON") -> tuple:
    """The options of ``json.dumps(obj, **options)``, checked: an encoder
    class only as ``cls=``, the layout's limits, the text's size (indents
    included), ``default=`` counted. Returns ``(obj, options)`` to call
    with (``obj`` plain: :func:`check_json_size`)."""
    check_coder(options.get("cls"), json.JSONEncoder)
    options = dict(options)
    indent = check_layout(options.get("indent"), options.get("separators"))
    if indent is not None:
        options["indent"] = indent
    obj, default = check_json_size(obj, indent, options.get("default"), what)
    if default is not None:
        options["default"] = default
    return obj, options


def dumps(obj, what: str = "JSON", **options) -> str:
    """``json.dumps(obj, **options)`` judged here: the sandbox's
    ``json.dumps``, and every host road from a tenant's value to JSON text
    (``mux.kv.set``, a Cloud Functions ``to_dict()``, a Nuclio body...).
    A plain ``json.dumps`` there encoded a tenant's ``dict`` subclass
    through its ``items()``, which answered one 1 MB string 400 times:
    845 MB in the serving process for a 64 MB budget (round 15)."""
    obj, options = checked_dumps_options(obj, options, what)
    return json.dumps(obj, **options)


_ABSENT = object()


def encoder_method(encoder, name):
    """``JSONEncoder(...).encode``/``iterencode``, judged like ``json.dumps``
    by the encoder's own settings; its ``default`` (given to the encoder,
    or a subclass's method) is counted while this call runs."""
    method = getattr(encoder, name)

    def sized(obj, *args):
        indent = check_layout(encoder.indent, (encoder.item_separator, encoder.key_separator))
        if indent is not encoder.indent:
            encoder.indent = indent  # the exact value that was checked
        own = vars(encoder).get("default", _ABSENT)
        obj, encoder.default = check_json_size(obj, indent, encoder.default,
                                               f"JSONEncoder.{name}()")
        try:
            # iterencode writes lazily: its chunks are made now, with the
            # sized default, and handed back as they came.
            return iter(list(method(obj, *args))) if name == "iterencode" else method(obj, *args)
        finally:
            if own is _ABSENT:
                del encoder.default
            else:
                encoder.default = own

    return sized

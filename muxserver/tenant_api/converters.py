"""``werkzeug.routing``'s converters, for a tenant's own URL converters.

Flask's docs register a converter with ``app.url_map.converters["name"] =
Cls``, ``Cls`` a subclass of werkzeug's ``BaseConverter``. Here the host's
router matches a request before the tenant's code is loaded, with the regex
registration read from the source (:mod:`muxserver.tenancy.converters`) and
an identity ``to_python``; then, inside the request's limits, the view gets
what the tenant's class makes of the matched text
(:func:`convert_view_args`), and ``url_for`` writes values with the tenant's
``to_url`` (:func:`tenant_to_url`).

.. warning::
   Only ``BaseConverter``, ``UnicodeConverter``, ``PathConverter``,
   ``IntegerConverter``, ``FloatConverter`` and ``ValidationError`` are
   offered. A ``ValidationError`` raised by a tenant's ``to_python`` makes
   the request a 404 (Flask's answer when no other rule matches): the next
   rule werkzeug would try is not tried here.
"""

from __future__ import annotations

from urllib.parse import quote

from werkzeug.routing import ValidationError
from werkzeug.routing import converters as wz
from werkzeug.routing.rules import parse_converter_args

from sandbox.guards import safe_str_builtin
from sandbox.guards.declared import declared

#: What werkzeug's ``to_url`` leaves unquoted (WHATWG's path-segment set).
_PATH_SAFE = "!$&'()*+,/:;=@"


@declared("regex weight part_isolating map to_python to_url")
class BaseConverter:
    """werkzeug's ``BaseConverter``: ``regex``, ``weight``,
    ``part_isolating``, ``to_python`` and ``to_url`` as werkzeug 3.1's."""

    regex = "[^/]+"
    weight = 100
    part_isolating = True

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # werkzeug's rule: a class giving its own regex is part isolating
        # unless that regex matches a slash (exact str only: a str subclass
        # could answer ``in`` as it likes).
        regex = cls.__dict__.get("regex")
        if type(regex) is str and "part_isolating" not in cls.__dict__:
            cls.part_isolating = "/" not in regex

    def __init__(self, map, *args, **kwargs):
        self.map = map

    def to_python(self, value):
        return value

    def to_url(self, value):
        return quote(safe_str_builtin(value), safe=_PATH_SAFE)


@declared("regex")
class UnicodeConverter(BaseConverter):
    """werkzeug's default converter (``string``): one path segment."""

    def __init__(self, map, minlength=1, maxlength=None, length=None):
        super().__init__(map)
        self.regex = wz.UnicodeConverter(None, minlength, maxlength, length).regex


class PathConverter(BaseConverter):
    """werkzeug's ``path``: slashes too."""

    part_isolating = False
    regex = "[^/].*?"
    weight = 200


@declared("fixed_digits min max signed")
class _NumberConverter(BaseConverter):
    weight = 50
    _werkzeug = wz.IntegerConverter

    def __init__(self, map, fixed_digits=0, min=None, max=None, signed=False):
        super().__init__(map)
        self._number = self._werkzeug(None, fixed_digits, min, max, signed)
        self.regex = self._number.regex
        self.fixed_digits, self.min, self.max, self.signed = fixed_digits, min, max, signed

    def to_python(self, value):
        return self._number.to_python(safe_str_builtin(value))

    def to_url(self, value):
        if type(value) not in (int, float, bool):
            value = safe_str_builtin(value)
        return self._number.to_url(value)


class IntegerConverter(_NumberConverter):
    """werkzeug's ``int``."""

    regex = r"\d+"


class FloatConverter(_NumberConverter):
    """werkzeug's ``float``."""

    regex = r"\d+\.\d+"
    _werkzeug = wz.FloatConverter


#: ``werkzeug.routing``'s names tenant code may import.
ROUTING_NAMES = {
    "BaseConverter": BaseConverter,
    "UnicodeConverter": UnicodeConverter,
    "PathConverter": PathConverter,
    "IntegerConverter": IntegerConverter,
    "FloatConverter": FloatConverter,
    "ValidationError": ValidationError,
}


def _tenant_map(site):
    """The app's ``url_map`` facade (the converters' ``map``) or None."""
    for app in (site.apps if site is not None else ()):
        if not getattr(app, "is_blueprint", True):
            return app.url_map
    return None


def _instance(site, name: str, args: tuple, kwargs: dict):
    url_map = _tenant_map(site)
    cls = url_map.converters.get(name) if url_map is not None else None
    if cls is None:
        raise LookupError(f"the converter {name!r} was read at deploy but not registered in "
                          "app.url_map.converters when the app ran")
    # Copies: the rule's arguments are the host router's (plain literals).
    return cls(url_map, *args, **dict(kwargs))


def convert_view_args(site, view_args: dict, custom) -> None:
    """Replace, in ``view_args``, the raw text the host router matched for
    each tenant converter (``custom``: ``((argument, converter, args,
    kwargs), ...)``, the rule's arguments as werkzeug parsed them) with the tenant's ``to_python`` of it, as werkzeug
    does while matching; call it inside the request's limits.

    :raises ValidationError: from the tenant's converter.
    """
    for argument, name, args, kwargs in custom:
        view_args[argument] = _instance(site, name, args, kwargs).to_python(view_args[argument])


def tenant_to_url(site, name: str, arguments: str | None, value) -> str | None:
    """The tenant converter ``name``'s ``to_url`` of ``value`` (called by
    ``url_for``, inside the limits), or None when ``name`` is not one."""
    url_map = _tenant_map(site)
    if url_map is None or name not in url_map.converters:
        return None
    args, kwargs = parse_converter_args(arguments) if arguments else ((), {})
    return safe_str_builtin(_instance(site, name, args, kwargs).to_url(value))

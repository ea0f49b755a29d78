"""What Flask code imports beside ``flask``: werkzeug's helpers and click.

* ``werkzeug.security``: ``generate_password_hash``/``check_password_hash``
  (werkzeug's own). One hash is one long C call: its cost, which the method
  string sets (``pbkdf2:sha256:1000000000``, ``scrypt:1048576:8:1``: a
  stored hash is tenant data), is capped at werkzeug's defaults
  (:func:`_check_hash_method`), and it runs off the hub
  (:func:`sandbox.limits.offload`), charged to the request.
* ``werkzeug.utils``: ``secure_filename``.
* ``werkzeug.exceptions``: the HTTP errors (raising ``NotFound()`` answers 404,
  as in Flask) and ``abort`` (Flask's, the same function).
* ``werkzeug.middleware.proxy_fix``: ``ProxyFix``, as a value
  (:mod:`muxserver.tenant_api.proxyfix`).
* ``markupsafe``: ``escape``, ``Markup``, ``escape_silent``, ``soft_str``
  (the library Jinja2 and Flask escape with).
* ``jinja2`` and ``jinja2.exceptions``: the template errors
  ``render_template`` raises (``TemplateNotFound``, ``TemplateSyntaxError``,
  ``UndefinedError``...), Jinja2's own classes, so ``except
  TemplateNotFound: abort(404)`` (Flask's blueprint example) works. Nothing
  else of Jinja2 (``Environment``, loaders) is offered: templates render
  through ``render_template`` in the sandboxed environment.

Each is a facade of these names only; werkzeug's modules are never
reachable. (``click`` is :mod:`muxserver.tenant_api.commands`.)
"""

from __future__ import annotations

import functools
from types import MappingProxyType

import jinja2.exceptions as jinja_exceptions
import markupsafe
from werkzeug import exceptions as wz_exceptions
from werkzeug import http as wz_http
from werkzeug.security import check_password_hash
from werkzeug.security import generate_password_hash
from werkzeug.utils import secure_filename

from muxserver.tenant_api import proxyfix
from muxserver.tenant_api.converters import ROUTING_NAMES
from muxserver.tenant_api.response import abort
from sandbox import limits
from sandbox.facades import ModuleFacade
from sandbox.guards import safe_str
from sandbox.guards import safe_str_builtin
from sandbox.guards.operators import SizeLimitError
from sandbox.guards.builtins import TypeGuard
from sandbox.guards.declared import CLASS_GUARDS
from sandbox.guards.declared import METHOD_GUARDS
from sandbox.guards.declared import declare

#: werkzeug's HTTP errors: every class ``abort(code)`` raises, the base
#: class, and the ``KeyError`` a ``MultiDict`` raises (``request.args["x"]``).
_HTTP_ERRORS = sorted(["HTTPException", "BadRequestKeyError",
                       *(cls.__name__ for cls in wz_exceptions.default_exceptions.values())])


#: Most work one password hash may ask for (werkzeug's defaults).
MAX_PBKDF2_ITERATIONS = 1_000_000
MAX_SCRYPT_COST = 2**15 * 8  # n * r * p


def _check_hash_method(method) -> None:
    if not isinstance(method, str):
        raise TypeError("the hash method is a string")
    name, *args = method.split(":")
    try:
        if name == "pbkdf2" and len(args) == 2 and int(args[1]) > MAX_PBKDF2_ITERATIONS:
            raise ValueError(f"pbkdf2 is capped at {MAX_PBKDF2_ITERATIONS} iterations here")
        if name == "scrypt" and len(args) == 3:
            n, r, p = (int(a) for a in args)
            if n * r * p > MAX_SCRYPT_COST or min(n, r, p) < 1:
                raise ValueError(f"scrypt is capped at n*r*p = {MAX_SCRYPT_COST} here")
    except ValueError as exc:
        if "capped" in str(exc):
            raise
        raise ValueError(f"bad hash method {safe_str(method, 60)!r}") from None


def _generate(password, method="scrypt", salt_length=16):
    _check_hash_method(method)
    if not isinstance(salt_length, int) or not 0 < salt_length <= 1024:
        raise ValueError("salt_length is from 1 to 1024")
    return _off_the_hub(lambda: generate_password_hash(password, method, salt_length))


def _check(pwhash, password):
    if isinstance(pwhash, str):
        _check_hash_method(pwhash.split("$", 1)[0])
    return _off_the_hub(lambda: check_password_hash(pwhash, password))


def _off_the_hub(call):
    budget = limits.current()
    seconds = budget.remaining_seconds(30.0) if budget is not None else 30.0
    return limits.offload(lambda timeout: call(), seconds, interruptible=False)


#: Longest name ``secure_filename`` takes: its NFKD normalisation can make
#: a character eighteen (U+FDFA) in one C call, and no file system takes
#: names this long anyway.
MAX_FILENAME_CHARS = 4096


@functools.wraps(secure_filename)
def _secure_filename(filename: str) -> str:
    if isinstance(filename, str) and len(filename) > MAX_FILENAME_CHARS:
        raise SizeLimitError(f"secure_filename() takes at most {MAX_FILENAME_CHARS:,} characters here")
    return secure_filename(filename)


#: More than any HTTP date needs (RFC 9110's are 29 characters).
MAX_HTTP_DATE = 1024


def _parse_date(value):
    """``werkzeug.http.parse_date`` reading at most :data:`MAX_HTTP_DATE`
    characters: ``email.utils`` splits the whole value into words first (a
    12 MB header became 4 million strings in one call, round 12), and the
    date it parses is in the first five of them — so the answer is
    werkzeug's for any value whose date starts within the first KiB."""
    if isinstance(value, str) and len(value) > MAX_HTTP_DATE:
        value = str(value[:MAX_HTTP_DATE])
    return wz_http.parse_date(value)


def werkzeug_modules() -> dict[str, ModuleFacade]:
    security = ModuleFacade("werkzeug.security", {
        "generate_password_hash": _generate,
        "check_password_hash": _check,
    })
    utils = ModuleFacade("werkzeug.utils", {"secure_filename": _secure_filename})
    exceptions = ModuleFacade("werkzeug.exceptions",
                              {**{name: getattr(wz_exceptions, name) for name in _HTTP_ERRORS},
                               "abort": abort})
    http = ModuleFacade("werkzeug.http", {
        # A read-only copy: werkzeug's own table is the server's (its error pages).
        "HTTP_STATUS_CODES": MappingProxyType(dict(wz_http.HTTP_STATUS_CODES)),
        "http_date": wz_http.http_date,
        "parse_date": _parse_date,
    })
    proxy_fix = ModuleFacade("werkzeug.middleware.proxy_fix", {"ProxyFix": proxyfix.ProxyFix})
    middleware = ModuleFacade("werkzeug.middleware", {"proxy_fix": proxy_fix})
    routing = ModuleFacade("werkzeug.routing", dict(ROUTING_NAMES))
    return {
        "werkzeug": ModuleFacade("werkzeug", {"security": security, "utils": utils,
                                              "exceptions": exceptions, "http": http,
                                              "middleware": middleware, "routing": routing}),
        "werkzeug.middleware": middleware,
        "werkzeug.middleware.proxy_fix": proxy_fix,
        "werkzeug.routing": routing,
        "werkzeug.http": http,
        "werkzeug.security": security,
        "werkzeug.utils": utils,
        "werkzeug.exceptions": exceptions,
    }


_MARKUPSAFE = ("escape", "Markup", "escape_silent", "soft_str")


def _as_text(value):
    """What escape()/Markup() read of a value: a string or ``__html__`` as
    it is; anything else as the tenant's str() makes it, sized first (the
    real ones call str() in C: escape([big] * 2000) built gigabytes)."""
    if isinstance(value, str) or hasattr(type(value), "__html__"):
        return value
    return safe_str_builtin(value)


def escape(s):
    return markupsafe.escape(_as_text(s))


def escape_silent(s):
    return markupsafe.escape_silent(None if s is None else _as_text(s))


def soft_str(s):
    return markupsafe.soft_str(_as_text(s))


def _make_markup(base="", encoding=None, errors="strict"):
    if encoding is not None:
        return markupsafe.Markup(base, encoding, errors)
    return markupsafe.Markup(_as_text(base))


def _markup_escape(cls, name):
    return lambda s: cls.escape(_as_text(s))


#: ``Markup`` as tenant code gets it: isinstance, subclassing and its
#: methods work; making one reads its value through :func:`_as_text`.
Markup = TypeGuard(markupsafe.Markup, _make_markup)
CLASS_GUARDS[(markupsafe.Markup, "escape")] = _markup_escape
METHOD_GUARDS[(markupsafe.Markup, "escape")] = lambda obj, name: _markup_escape(type(obj), name)


def markupsafe_module() -> ModuleFacade:
    return ModuleFacade("markupsafe", {"escape": escape, "escape_silent": escape_silent,
                                       "soft_str": soft_str, "Markup": Markup})


#: Jinja2's exceptions, with the attributes its documentation gives them.
_JINJA_ERRORS = {"TemplateError": "message", "TemplateNotFound": "name templates",
                 "TemplatesNotFound": "", "TemplateSyntaxError": "lineno name filename source",
                 "TemplateAssertionError": "", "TemplateRuntimeError": "", "UndefinedError": "",
                 "SecurityError": "", "FilterArgumentError": ""}
for _name, _attrs in _JINJA_ERRORS.items():
    declare(getattr(jinja_exceptions, _name), _attrs)


#: Most template names a ``TemplatesNotFound`` lists (the rest are counted).
MAX_ERROR_NAMES = 100
#: Longest ``source`` a ``TemplateSyntaxError``'s text quotes a line of.
MAX_ERROR_SOURCE = 2**20


def _bound_jinja_errors() -> None:
    """Jinja2's errors are its own classes (``except TemplateNotFound``
    catches what ``render_template`` raises), so tenant code makes and
    subclasses them, and their Python runs in host code, no tick between:
    ``TemplatesNotFound(names)`` loops over every name and ``str()``s it
    (eight million names held the process), ``TemplateSyntaxError``'s text
    splits its ``source`` into lines. Both are bounded here, for every
    caller; what Jinja2 itself raises (a few names, a template's source)
    reads the same."""
    many_init = jinja_exceptions.TemplatesNotFound.__init__
    syntax_str = jinja_exceptions.TemplateSyntaxError.__str__

    def templates_not_found_init(self, names=(), message=None):
        if message is None and not isinstance(names, (list, tuple)):
            raise TypeError("TemplatesNotFound takes a list of names")
        if message is None and len(names) > MAX_ERROR_NAMES:
            names = [*names[:MAX_ERROR_NAMES], f"and {len(names) - MAX_ERROR_NAMES} more"]
        many_init(self, names, message)
        if not isinstance(self.templates, list):
            self.templates = list(self.templates)

    def syntax_error_str(self):
        source = self.source
        if isinstance(source, str) and len(source) <= MAX_ERROR_SOURCE:
            return syntax_str(self)
        self.source = None
        try:
            return syntax_str(self)
        finally:
            self.source = source

    jinja_exceptions.TemplatesNotFound.__init__ = templates_not_found_init
    jinja_exceptions.TemplateSyntaxError.__str__ = syntax_error_str


_bound_jinja_errors()


def jinja2_modules() -> dict[str, ModuleFacade]:
    errors = {name: getattr(jinja_exceptions, name) for name in _JINJA_ERRORS}
    exceptions = ModuleFacade("jinja2.exceptions", errors)
    return {"jinja2": ModuleFacade("jinja2", {**errors, "exceptions": exceptions}),
            "jinja2.exceptions": exceptions}


#: What code for Flask imports from ``jinja2`` that Jinja2 3.1 no longer
#: has (an ImportError under Flask 3.1 too), with what to write instead.
JINJA2_REMOVED = {
    "Markup": "Jinja2 3.1 removed it: `from markupsafe import Markup`",
    "escape": "Jinja2 3.1 removed it: `from markupsafe import escape`",
}

#: Module name -> the names it offers (for deploy-time checks).
OFFERED = {
    "werkzeug": frozenset(["security", "utils", "exceptions", "http", "middleware",
                           "routing"]),
    "werkzeug.middleware": frozenset(["proxy_fix"]),
    "werkzeug.middleware.proxy_fix": frozenset(["ProxyFix"]),
    "werkzeug.routing": frozenset(ROUTING_NAMES),
    "werkzeug.http": frozenset(["HTTP_STATUS_CODES", "http_date", "parse_date"]),
    "werkzeug.security": frozenset(["generate_password_hash", "check_password_hash"]),
    "werkzeug.utils": frozenset(["secure_filename"]),
    "werkzeug.exceptions": frozenset([*_HTTP_ERRORS, "abort"]),
    "markupsafe": frozenset(_MARKUPSAFE),
    "jinja2": frozenset([*_JINJA_ERRORS, "exceptions"]),
    "jinja2.exceptions": frozenset(_JINJA_ERRORS),
}

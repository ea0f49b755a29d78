"""The request as tenant code sees it: Flask's names, plain values.

:class:`TenantRequest` holds the werkzeug request in a slot tenant code
cannot name (``_r``) and offers Flask's request attributes; uploaded files
are :class:`UploadedFile`, which can be read, and saved under ``/data``
(:meth:`UploadedFile.save`); request headers are werkzeug's
``EnvironHeaders`` over a copy of the environ's header entries alone (never
the WSGI environ itself, which holds the input stream and the server's
objects), so they read, iterate, refuse changes and raise exactly as
Flask's do. ``mux.request`` is :data:`request`, a proxy to the request of
the greenlet that reads it.
"""

from __future__ import annotations

import io
import itertools
import os

from werkzeug import datastructures
from werkzeug.user_agent import UserAgent
from werkzeug.datastructures import EnvironHeaders
from werkzeug.datastructures import Headers
from werkzeug.exceptions import BadRequest
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.formparser import FormDataParser
from werkzeug.wrappers import Request

from muxserver.tenant_api import context
from muxserver.tenant_api import proxyfix
from muxserver.tenancy.request_names import REQUEST_NAMES
from sandbox import limits
from sandbox.facades.data import SizedJson
from sandbox.facades.files import MAX_SAVE_CHUNK
from sandbox.guards import guarded_getattr
from sandbox.guards import guarded_iter
from sandbox.guards.declared import METHOD_GUARDS
from sandbox.guards.declared import declare
from sandbox.guards.declared import declare_values
from sandbox.guards.declared import declared

#: Most candidates ``accept_mimetypes.best_match`` compares (each against
#: every value of the header, in a pure-Python loop).
MAX_BEST_MATCH = 1000


def _best_match(accept, name):
    best_match = accept.best_match

    def guarded(matches, default=None):
        matches = list(guarded_iter(matches))
        if len(matches) > MAX_BEST_MATCH:
            raise ValueError(f"best_match() compares at most {MAX_BEST_MATCH} candidates here")
        return best_match(matches, default)

    return guarded


METHOD_GUARDS[(datastructures.Accept, "best_match")] = _best_match

# What the request's attributes hold: werkzeug's containers of its values.
declare_values(Headers, datastructures.MultiDict, datastructures.ImmutableMultiDict,
               datastructures.CombinedMultiDict,
               datastructures.Accept, datastructures.MIMEAccept, datastructures.LanguageAccept,
               datastructures.CharsetAccept, exclude="to_wsgi_list")
# Their attributes set per instance (not in the class's dir()), by name;
# Authorization's username/password... come from its parameters (werkzeug 3).
declare(datastructures.Authorization, "type parameters token get to_header username password "
        "realm nonce uri nc cnonce response opaque qop")
declare(UserAgent, "string platform browser version language to_header")
declare(datastructures.ETags, "star_tag as_set is_weak is_strong contains_weak contains "
        "contains_raw to_header")
declare(datastructures.Range, "units ranges range_for_length make_content_range to_header "
        "to_content_range_header")


class TenantHeaders(Headers):
    """werkzeug ``Headers`` that tenant code may change (its own copy).

    .. warning::
       At most :data:`MAX_ITEMS` headers (an answer sends 200 at most):
       werkzeug's ``extend``, ``update`` and slice assignment are Python
       loops of host code no tick interrupts, and the list they walk costs
       its maker one C call (round 15: ``headers.extend([("X-A", "b")] *
       1_000_000)`` ran 0.3 s past a 100 ms budget, a million new tuples).
    """

    _guarded_writes = True
    MAX_ITEMS = 1000

    def _room(self, more: int) -> None:
        if len(self._list) + more > self.MAX_ITEMS:
            raise ValueError(f"a response holds at most {self.MAX_ITEMS} headers here")

    def add(self, key, value, /, **kwargs):
        self._room(1)
        super().add(key, value, **kwargs)

    def set(self, key, value, /, **kwargs):
        self._room(1)
        super().set(key, value, **kwargs)

    def __setitem__(self, key, value):
        if isinstance(key, slice):
            value = list(itertools.islice(iter(value), self.MAX_ITEMS + 1))
            self._room(len(value) - len(range(*key.indices(len(self._list)))))
        super().__setitem__(key, value)


def _header_entries(environ) -> dict:
    """The entries of ``environ`` that ``EnvironHeaders`` reads: the
    request's headers, as strings, and nothing else of the environ."""
    return {key: value for key, value in environ.items()
            if type(value) is str and (key.startswith("HTTP_")
                                       or key in ("CONTENT_TYPE", "CONTENT_LENGTH"))}


class RequestHeaders(EnvironHeaders):
    """``request.headers``: werkzeug's ``EnvironHeaders`` (Flask's), over
    :func:`_header_entries`. A missing header read as ``headers["X-Token"]``
    raises a plain ``KeyError('HTTP_X_TOKEN')`` (an unhandled one answers
    500), a key that is not a string ``BadRequestKeyError`` (400), and any
    change raises ``TypeError``, as in Flask 3.1 (issue 24)."""

    __slots__ = ()


@declared("filename name content_type mimetype mimetype_params content_length headers stream "
          "read save close")
class UploadedFile:
    """A file from a multipart form (werkzeug's ``FileStorage`` as Flask
    gives it): name, type and content, no host paths. :meth:`save` writes
    it under ``/data`` through the tenant's file facade. False when no file
    was chosen (an empty filename), as ``FileStorage`` is."""

    __slots__ = ("_fs",)

    def __init__(self, storage):
        self._fs = storage

    @property
    def filename(self):
        return self._fs.filename

    @property
    def name(self):
        return self._fs.name

    @property
    def content_type(self):
        return self._fs.content_type

    @property
    def mimetype(self):
        return self._fs.mimetype

    @property
    def mimetype_params(self):
        return dict(self._fs.mimetype_params)

    @property
    def content_length(self):
        return self._fs.content_length

    @property
    def stream(self) -> "FileStream":
        """The file's content as a stream that reads and seeks (werkzeug's
        spooled temporary file, not reachable itself)."""
        return FileStream(self._fs.stream)

    @property
    def headers(self):
        return TenantHeaders(list(self._fs.headers.items()))

    def read(self, size: int = -1) -> bytes:
        return self._fs.stream.read(size)

    def save(self, dst, buffer_size: int = 16384) -> None:
        """werkzeug's ``FileStorage.save``: what is left of the file, to
        ``dst`` — a path (``/data/...``, or relative to ``/app``, which is
        read-only: a path must land in ``/data``), written by the tenant's
        file facade under its storage quota, checked for the whole file
        before a byte is written
        (:meth:`sandbox.facades.files.TenantFiles.save_stream`); or a file
        object the tenant holds, whose ``write`` is read through the
        membrane (a host object that declares none is refused)."""
        stream = self._fs.stream
        if isinstance(dst, str) or isinstance(dst, os.PathLike):
            path = os.fspath(dst)
            if not isinstance(path, str):
                raise TypeError("save() takes a str path or a file object")
            ctx = context.visible()
            if ctx is None or ctx.site is None:
                raise RuntimeError("save() is only available while a request is served")
            ctx.site.files.save_stream(path, stream, _left_in(stream), buffer_size)
            return
        write = guarded_getattr(dst, "write")
        chunk = buffer_size if type(buffer_size) is int and 0 < buffer_size <= MAX_SAVE_CHUNK \
            else MAX_SAVE_CHUNK
        while True:
            limits.tick()
            data = stream.read(chunk)
            if not data:
                return
            write(data)

    def close(self) -> None:
        self._fs.close()

    def __deepcopy__(self, memo):
        """``request.files.deepcopy()``: a file of its own over a copy of the
        content (copying werkzeug's spooled file would leave one nobody
        closes)."""
        stream = self._fs.stream
        here = stream.tell()
        stream.seek(0)
        content = stream.read()
        stream.seek(here)
        copied = io.BytesIO(content)
        copied.seek(here)
        return UploadedFile(datastructures.FileStorage(
            copied, self._fs.filename, self._fs.name, headers=Headers(self._fs.headers)))

    def __bool__(self):
        return bool(self._fs.filename)

    def __iter__(self):
        return iter(FileStream(self._fs.stream))

    def __repr__(self):
        return f"<UploadedFile {self.filename!r} ({self.content_type})>"


def _left_in(stream) -> int | None:
    """Bytes left in a seekable stream after its position, or None."""
    try:
        here = stream.tell()
        end = stream.seek(0, os.SEEK_END)
        stream.seek(here)
    except (AttributeError, OSError, ValueError):
        return None
    return max(0, end - here)


class CappedInput:
    """A request body stream that raises 413 past ``limit`` bytes."""

    def __init__(self, stream, limit: int):
        self._stream = stream
        self._left = limit

    def _take(self, data: bytes) -> bytes:
        self._left -= len(data)
        if self._left < 0:
            raise RequestEntityTooLarge()
        return data

    def read(self, size: int | None = -1) -> bytes:
        want = self._left + 1 if size is None or size < 0 else min(size, self._left + 1)
        return self._take(self._stream.read(want))

    def readline(self, size: int | None = -1) -> bytes:
        want = self._left + 1 if size is None or size < 0 else min(size, self._left + 1)
        return self._take(self._stream.readline(want))

    def __iter__(self):
        while True:
            line = self.readline(65536)
            if not line:
                return
            yield line


@declared("read readline")
class BodyStream:
    """``request.stream``: read, readline and lines of the body, nothing else."""

    __slots__ = ("_s",)

    def __init__(self, stream):
        self._s = stream

    def read(self, size: int = -1) -> bytes:
        return self._s.read(size)

    def readline(self, size: int = -1) -> bytes:
        return self._s.readline(size)

    def __iter__(self):
        while True:
            line = self._s.readline()
            if not line:
                return
            yield line


@declared("read readline seek tell")
class FileStream(BodyStream):
    """``FileStorage.stream``: a body stream that can also seek."""

    __slots__ = ()

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._s.seek(offset, whence)

    def tell(self) -> int:
        return self._s.tell()


#: Flask 3.1's defaults of the config keys that limit a request's body.
BODY_LIMIT_DEFAULTS = {"MAX_CONTENT_LENGTH": None, "MAX_FORM_MEMORY_SIZE": 500_000,
                       "MAX_FORM_PARTS": 1_000}


#: How far an app may raise the form limits: werkzeug parses a form in host
#: code, before the tenant's budget is read (round 13: with MAX_FORM_PARTS =
#: None, a 10 MB body of 1.45 million fields grew the serving process by
#: 280 MB and held it 2 s); ``None`` in the app's config means these.
FORM_CEILINGS = {"MAX_FORM_MEMORY_SIZE": 8 * 2**20, "MAX_FORM_PARTS": 10_000}


def form_limit(key: str) -> int:
    """The app's ``MAX_FORM_MEMORY_SIZE`` or ``MAX_FORM_PARTS``, within
    :data:`FORM_CEILINGS` (Flask's defaults are well under them)."""
    value = app_body_limit(key)
    ceiling = FORM_CEILINGS[key]
    return ceiling if value is None else min(value, ceiling)


def app_body_limit(key: str) -> int | None:
    """The tenant's app's ``MAX_CONTENT_LENGTH`` (``MAX_FORM_MEMORY_SIZE``,
    ``MAX_FORM_PARTS``), as Flask's request reads it: Flask's default when
    the request has no app (a function of another platform).

    :raises TypeError: for a value that is neither a whole number nor None
        (the host never compares a tenant's object).
    """
    ctx = context.visible()
    app = ctx.site.app if ctx is not None and ctx.site is not None else None
    if app is None:
        return BODY_LIMIT_DEFAULTS[key]
    value = app.config.get(key, BODY_LIMIT_DEFAULTS[key])
    if value is None or (type(value) is int and value >= 0):
        return value
    raise TypeError(f"app.config[{key!r}] must be a whole number of bytes or None")


class _BoundedFormParser(FormDataParser):
    """werkzeug's form parser, with a bound on the fields of an urlencoded
    body, which werkzeug parses whole whatever ``max_form_parts`` says:
    that parse is host code in a process other tenants share (a 10 MB body
    of tiny fields was 1.45 million tuples, 280 MB and 2 s on the hub,
    round 13). Past ``FORM_CEILINGS["MAX_FORM_PARTS"]`` fields it is a 413,
    where Flask would parse them all."""

    def _parse_urlencoded(self, stream, mimetype, content_length, options):
        data = stream.read()
        limit = FORM_CEILINGS["MAX_FORM_PARTS"]
        if data.count(b"&") >= limit:
            raise RequestEntityTooLarge(f"an urlencoded form of more than {limit} fields")
        return super()._parse_urlencoded(io.BytesIO(data), mimetype, content_length, options)


class FlaskRequest(Request):
    """werkzeug's request as Flask's subclass of it answers a body that is
    not JSON: a plain ``BadRequest`` (Flask keeps werkzeug's message for
    debug mode only). Its JSON is decoded sized first, as ``json.loads``
    is in tenant code. Its body limits are the app's config, as Flask 3.1
    reads them when the body is parsed, within the server's own cap."""

    json_module = SizedJson
    form_data_parser_class = _BoundedFormParser
    #: ``--max-body``; None when :class:`CappedInput` counts a body
    #: without a length against it.
    server_cap: int | None = None

    @property
    def max_content_length(self) -> int | None:
        limits = [n for n in (self.server_cap, app_body_limit("MAX_CONTENT_LENGTH"))
                  if n is not None]
        return min(limits) if limits else None

    @property
    def max_form_memory_size(self) -> int:
        return form_limit("MAX_FORM_MEMORY_SIZE")

    @property
    def max_form_parts(self) -> int:
        return form_limit("MAX_FORM_PARTS")

    def on_json_loading_failed(self, e):
        try:
            return super().on_json_loading_failed(e)
        except BadRequest as error:
            raise BadRequest() from error


def _forwarded_chain() -> tuple:
    """The ``ProxyFix`` counts the tenant's app set on its ``wsgi_app``."""
    from muxserver.tenant_api.shim import forwarded_chain  # shim imports this module

    ctx = context.visible()
    site = ctx.site if ctx is not None else None
    return forwarded_chain(site.app) if site is not None else ()


@declared(" ".join(sorted(REQUEST_NAMES)))
class TenantRequest:
    """The request as tenant code sees it: Flask's attribute names.

    ``path`` is relative to the tenant's mount point, as in a Flask app
    mounted under a prefix; ``script_root`` is the mount (``/acme``). The
    werkzeug request behind it is built on first use: a handler that never
    reads the request does not pay for parsing it.
    """

    __slots__ = ("_environ", "_rel", "_mount", "_wz", "_view_args", "_headers", "_files",
                 "_endpoint", "_max_body", "_through_wsgi_app")

    def __init__(self, environ, rel: str, mount: str, view_args: dict | None, endpoint: str = "",
                 max_body: int | None = None, through_wsgi_app: bool = True):
        self._environ = environ
        self._rel = rel
        self._mount = mount
        self._wz = None
        self._view_args = view_args
        self._headers = None
        self._files = None
        self._endpoint = endpoint
        self._max_body = max_body
        #: False for ``test_request_context``'s request, which Flask makes
        #: without its ``wsgi_app`` (so without a ProxyFix around it).
        self._through_wsgi_app = through_wsgi_app

    @property
    def _r(self):
        wz = self._wz
        if wz is None:
            env = dict(self._environ)
            root = env.get("SCRIPT_NAME", "")
            # The app's ProxyFix (werkzeug's own, on this copy): a prefix it
            # sets takes the place of the script root, the tenant's mount
            # included, as werkzeug's rule says and as the process tier's
            # Flask has it (muxserver.tenant_api.proxyfix).
            if self._through_wsgi_app:
                proxyfix.apply(env, _forwarded_chain())
            prefixed = env.get("SCRIPT_NAME", "") != root
            env["SCRIPT_NAME"] = env["SCRIPT_NAME"] if prefixed else root + self._mount
            env["PATH_INFO"] = self._rel
            capped = (self._max_body is not None and not env.get("CONTENT_LENGTH")
                      and "wsgi.input" in env)
            if capped:
                # A chunked body has no length to check up front, and
                # werkzeug would cut it at the limit without a word: count
                # the bytes instead, and answer 413 past the limit.
                env["wsgi.input"] = CappedInput(env["wsgi.input"], self._max_body)
            wz = self._wz = FlaskRequest(env)
            wz.server_cap = None if capped else self._max_body
        return wz

    def close(self) -> None:
        """Release uploaded files' temporary files (host use)."""
        if self._wz is not None:
            self._wz.close()

    # -- the URL -------------------------------------------------------------

    method = property(lambda self: self._r.method)
    path = property(lambda self: self._r.path)
    full_path = property(lambda self: self._r.full_path)
    script_root = property(lambda self: self._r.script_root)
    url = property(lambda self: self._r.url)
    base_url = property(lambda self: self._r.base_url)
    url_root = property(lambda self: self._r.url_root)
    host_url = property(lambda self: self._r.host_url)
    host = property(lambda self: self._r.host)
    scheme = property(lambda self: self._r.scheme)
    is_secure = property(lambda self: self._r.is_secure)
    query_string = property(lambda self: self._r.query_string)
    args = property(lambda self: self._r.args)
    # None for a request no route matched, as Flask's.
    view_args = property(lambda self: dict(self._view_args) if self._view_args is not None
                         else None)
    endpoint = property(lambda self: self._endpoint or None)

    @property
    def blueprint(self) -> str | None:
        """The blueprint of the route's view (Flask's: its endpoint's prefix)."""
        return (self._endpoint or "").rpartition(".")[0] or None

    def set_view_args(self, view_args: dict) -> None:
        """What ``request.view_args`` reads once the URL value preprocessors
        changed them (a copy: the tenant's dict stays the tenant's)."""
        self._view_args = dict(view_args) if view_args is not None else None

    def routed_to(self, endpoint: str) -> None:
        """Set Flask's endpoint (``view`` or ``blueprint.view``) once the
        host knows which app's route matched (host side, not declared)."""
        self._endpoint = endpoint
    remote_addr = property(lambda self: self._r.remote_addr)

    # -- headers ---------------------------------------------------------------

    @property
    def headers(self) -> RequestHeaders:
        if self._headers is None:
            # The environ the request is made from: a ProxyFix's Host is
            # the header's, as on Flask.
            self._headers = RequestHeaders(_header_entries(self._r.environ))
        return self._headers

    cookies = property(lambda self: self._r.cookies)
    content_type = property(lambda self: self._r.content_type)
    mimetype = property(lambda self: self._r.mimetype)
    content_length = property(lambda self: self._r.content_length)
    authorization = property(lambda self: self._r.authorization)
    origin = property(lambda self: self._r.origin)
    referrer = property(lambda self: self._r.referrer)
    accept_mimetypes = property(lambda self: self._r.accept_mimetypes)

    user_agent = property(lambda self: self._r.user_agent)  # werkzeug's UserAgent
    access_route = property(lambda self: self._r.access_route)
    mimetype_params = property(lambda self: dict(self._r.mimetype_params))
    accept_languages = property(lambda self: self._r.accept_languages)
    accept_charsets = property(lambda self: self._r.accept_charsets)
    accept_encodings = property(lambda self: self._r.accept_encodings)
    date = property(lambda self: self._r.date)
    if_match = property(lambda self: self._r.if_match)
    if_none_match = property(lambda self: self._r.if_none_match)
    if_modified_since = property(lambda self: self._r.if_modified_since)
    if_unmodified_since = property(lambda self: self._r.if_unmodified_since)
    range = property(lambda self: self._r.range)
    root_url = property(lambda self: self._r.root_url)
    # Flask's: the app's MAX_CONTENT_LENGTH (None unless it sets one), the
    # server's --max-body apart.
    max_content_length = property(lambda self: app_body_limit("MAX_CONTENT_LENGTH"))

    # -- the body ----------------------------------------------------------------

    form = property(lambda self: self._r.form)
    values = property(lambda self: self._r.values)

    @property
    def files(self) -> datastructures.ImmutableMultiDict:
        """werkzeug's ``ImmutableMultiDict`` (Flask's ``request.files``),
        every file of a field kept in order, each an :class:`UploadedFile`:
        ``getlist``, ``to_dict``, ``items(multi=True)`` and a missing key
        read by subscript (400) behave as for ``request.form``."""
        if self._files is None:
            self._files = datastructures.ImmutableMultiDict(
                (key, UploadedFile(storage))
                for key, storage in self._r.files.items(multi=True))
        return self._files

    @property
    def data(self) -> bytes:
        return self._r.get_data()

    @property
    def stream(self) -> "BodyStream":
        """The body as a stream (``for line in request.stream``)."""
        return BodyStream(self._r.stream)

    def get_data(self, cache: bool = True, as_text: bool = False, parse_form_data: bool = False):
        return self._r.get_data(cache=cache, as_text=as_text, parse_form_data=parse_form_data)

    @property
    def is_json(self) -> bool:
        return self._r.is_json

    @property
    def json(self):
        return self._r.get_json()

    def get_json(self, force: bool = False, silent: bool = False, cache: bool = True):
        return self._r.get_json(force=force, silent=silent, cache=cache)

    def __repr__(self):
        return f"<Request {self.method} {self.full_path!r}>"


@declared(forward=lambda proxy: proxy._get())
class RequestProxy:
    """``mux.request``: the request of the greenlet that reads it."""

    __slots__ = ()

    def _get(self) -> TenantRequest:
        ctx = context.visible()
        if ctx is None or ctx.request is None:
            raise RuntimeError("there is no request here (module top level runs at load time)")
        return ctx.request

    def __getattr__(self, name):
        return getattr(self._get(), name)

    def __repr__(self):
        ctx = context.visible()
        return repr(ctx.request) if ctx and ctx.request else "<no request>"

    def __bool__(self):
        ctx = context.visible()
        return bool(ctx and ctx.request)


request = RequestProxy()

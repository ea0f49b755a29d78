"""The standard modules tenant code may import, each as a facade.

A tenant never gets a real module object: ``import json`` gives a
:class:`ModuleFacade` that holds only the names listed here. Real modules
have public attribute paths to ``sys``, ``os`` and ``builtins``
(``json.codecs.sys``, ``re.enum.bltns.exec``, ``uuid.os``), and shared
module state is a channel between tenants (``random.seed``, a patched
``json.JSONEncoder``). A facade is built per tenant runtime, holds no
mutable host container, and refuses writes (:func:`sandbox.guards.guarded_write`).

Names that would let one C call run for minutes or allocate gigabytes are
wrapped with bounds (``math.factorial``, ``hashlib.pbkdf2_hmac``,
``zlib.decompress``, ``itertools.repeat`` ...); lazy iterators come back
as :class:`sandbox.guards.TickingIter`. ``re`` is served by the ``regex``
package with a time limit on every match.

.. warning::
   Classes in these facades (``json.JSONEncoder``, ``datetime.datetime``,
   ``collections.OrderedDict``) are the host's class objects. Tenants may
   instantiate and subclass them but cannot change them; a host class with
   mutable class-level state must not be added here.
"""

from __future__ import annotations

from sandbox.facades import timed_re
from sandbox.facades.aio import build_asyncio
from sandbox.facades.base import ModuleFacade
from sandbox.facades.classes import build_dataclasses
from sandbox.facades.classes import build_datetime
from sandbox.facades.classes import build_enum
from sandbox.facades.classes import build_time
from sandbox.facades.classes import build_typing
from sandbox.facades.data import build_base64
from sandbox.facades.data import build_copy
from sandbox.facades.data import build_hashlib
from sandbox.facades.data import build_hmac
from sandbox.facades.data import build_json
from sandbox.facades.data import build_secrets
from sandbox.facades.data import build_uuid
from sandbox.facades.data import build_zlib
from sandbox.facades.functional import build_bisect
from sandbox.facades.functional import build_collections
from sandbox.facades.functional import build_collections_abc
from sandbox.facades.functional import build_functools
from sandbox.facades.functional import build_heapq
from sandbox.facades.functional import build_itertools
from sandbox.facades.functional import build_operator
from sandbox.facades.numbers import build_decimal
from sandbox.facades.numbers import build_fractions
from sandbox.facades.numbers import build_math
from sandbox.facades.numbers import build_random
from sandbox.facades.numbers import build_statistics
from sandbox.facades.outbound import build_requests
from sandbox.facades.outside import build_yaml
from sandbox.facades.sqlite import build_sqlite3
from sandbox.facades.streams import build_csv
from sandbox.facades.streams import build_io
from sandbox.facades.streams import build_traceback
from sandbox.facades.streams import build_urllib_error
from sandbox.facades.streams import build_urllib_request
from sandbox.facades.system import build_logging
from sandbox.facades.system import build_os
from sandbox.facades.system import build_os_path
from sandbox.facades.system import build_future
from sandbox.facades.system import build_sys
from sandbox.facades.text import build_html
from sandbox.facades.text import build_string
from sandbox.facades.text import build_textwrap
from sandbox.facades.text import build_urllib
from sandbox.facades.text import build_urllib_parse

#: module name -> builder(ctx) -> dict of names.
BUILDERS = {
    "json": build_json,
    "math": build_math,
    "datetime": build_datetime,
    "time": build_time,
    "random": build_random,
    "hashlib": build_hashlib,
    "hmac": build_hmac,
    "base64": build_base64,
    "uuid": build_uuid,
    "itertools": build_itertools,
    "functools": build_functools,
    "collections": build_collections,
    "collections.abc": build_collections_abc,
    "string": build_string,
    "decimal": build_decimal,
    "fractions": build_fractions,
    "statistics": build_statistics,
    "re": timed_re.facade_attrs,
    "urllib": build_urllib,
    "urllib.parse": build_urllib_parse,
    "html": build_html,
    "textwrap": build_textwrap,
    "dataclasses": build_dataclasses,
    "typing": build_typing,
    "enum": build_enum,
    "bisect": build_bisect,
    "heapq": build_heapq,
    "copy": build_copy,
    "operator": build_operator,
    "secrets": build_secrets,
    "zlib": build_zlib,
    "os": build_os,
    "os.path": build_os_path,
    "sys": build_sys,
    "__future__": build_future,
    "logging": build_logging,
    "requests": build_requests,
    "yaml": build_yaml,
    "sqlite3": build_sqlite3,
    "io": build_io,
    "csv": build_csv,
    "traceback": build_traceback,
    "urllib.request": build_urllib_request,
    "urllib.error": build_urllib_error,
    "asyncio": build_asyncio,
}

#: Names tenant code may import (plus ``lib`` and what the host adds).
#: The host adds the tenant API and its companions (muxserver.tenancy.loader).
ALLOWED_MODULES = frozenset(BUILDERS) | frozenset([
    "mux", "flask", "flask.cli", "flask.views", "http", "http.server", "functions_framework", "click",
    "markupsafe", "jinja2", "jinja2.exceptions", "werkzeug", "werkzeug.security", "werkzeug.utils", "werkzeug.exceptions",
    "werkzeug.http", "werkzeug.middleware", "werkzeug.middleware.proxy_fix",
])

__all__ = ["ALLOWED_MODULES", "BUILDERS", "ModuleFacade"]

"""Everything tenant code can reach, walked through the membrane.

:func:`reach` starts from every module a tenant can import (the facades and
the tenant API), the builtins, and objects a tenant program made (files,
connections, cursors, the request, the session...), and follows every
attribute :func:`sandbox.guards.guarded_getattr` lets through, a few levels
deep. It records:

* ``objects``: path -> object, for the membrane test (every class
  declared, super() of tenant subclasses closed);
* ``callables``: native-table key -> path, for the native table's test.
  A function of a module is ``"module.name"``; a method (or any attribute)
  of an object is keyed by the class that defines it:
  ``"decimal.Decimal.ln"``, ``"builtins.str.encode"``.
"""

from __future__ import annotations

from sandbox.guards import guarded_getattr
from sandbox.guards.builtins import TypeGuard
from sandbox.guards.own_objects import owner_of
from sandbox.facades import ModuleFacade

#: A program a tenant could write: the objects it makes are walked too.
SAMPLES = '''
import base64, collections, csv, datetime, decimal, enum, fractions, functools, hashlib, hmac
import html, io, itertools, json, logging, math, operator, os, random, re, secrets, sqlite3
import statistics, string, sys, textwrap, time, typing, urllib.parse, urllib.request, uuid
import yaml, zlib, requests, dataclasses, heapq, bisect, copy
import mux
from flask import Flask, Blueprint, Response, jsonify, request, session, g, current_app
from flask import render_template_string, make_response
import werkzeug.exceptions
from werkzeug.middleware.proxy_fix import ProxyFix

app = Flask(__name__)
fixed = ProxyFix(app.wsgi_app, x_for=1)


class Color(enum.Enum):
    RED = 1


@dataclasses.dataclass
class Point:
    x: int = 0


def samples():
    db = sqlite3.connect("samples.db")
    db.execute("create table if not exists t (a)")
    cursor = db.execute("select 1 as a")
    memory = sqlite3.connect(":memory:")
    memory.row_factory = sqlite3.Row
    row = memory.execute("select 1 as a").fetchone()
    handle = open("/app/index.py")
    handle.close()
    try:
        {}["x"]
    except KeyError as exc:
        caught = exc
    return [
        "s", b"b", bytearray(b"a"), 1, 1.5, 2j, True, None, [1], (1,), {1: 2}, {1}, frozenset([1]),
        range(3), slice(1, 2), {1: 2}.keys(), {1: 2}.values(), {1: 2}.items(),
        io.StringIO("a"), io.BytesIO(b"a"), re.compile("(a)"), re.match("(a)", "a"),
        db, cursor, memory, row, handle, csv.reader(["a"]), csv.writer(io.StringIO()),
        csv.DictReader(["a"]), csv.DictWriter(io.StringIO(), ["a"]), json.JSONEncoder(),
        json.JSONDecoder(), hashlib.sha256(), hashlib.shake_128(), hashlib.blake2b(),
        hashlib.blake2s(), hmac.new(b"k", digestmod="sha256"), decimal.Decimal(1),
        decimal.Context(), fractions.Fraction(1, 2), datetime.datetime(2020, 1, 1),
        datetime.date(2020, 1, 1), datetime.time(), datetime.timedelta(1),
        datetime.timezone.utc, uuid.uuid4(), collections.deque(), collections.OrderedDict(),
        collections.defaultdict(list), collections.Counter("a"), collections.ChainMap(),
        collections.namedtuple("P", "x")(1), collections.UserDict(), collections.UserList(),
        collections.UserString("a"), functools.partial(len), functools.lru_cache(None)(len),
        functools.cmp_to_key(len)(1), operator.itemgetter(1), random.Random(),
        secrets.SystemRandom(), statistics.NormalDist(), os.stat("/app/index.py"),
        list(os.scandir("/app"))[0], sys.stdout, logging.getLogger("x"), logging.Handler(),
        logging.Formatter(), time.gmtime(0), urllib.parse.urlsplit("http://a/"),
        urllib.parse.urlparse("http://a/"), urllib.parse.urldefrag("http://a/#x"),
        requests.Session(), urllib.request.Request("http://a"), Color.RED, Point(),
        dataclasses.fields(Point)[0], typing.Optional[int], typing.TypeVar("T"), caught,
        iter([1]), (x for x in [1]), map(abs, [1]), zip([1]), enumerate([1]), itertools.count(),
        property(len), staticmethod(len), classmethod(len), mux.request, request.args,
        request.headers, request.cookies, request.form, request.files, request.values,
        request.accept_mimetypes, request.stream, session, g, current_app, app, app.config,
        app.logger, app.cli, app.app_context(), app.jinja_env, Response("x"), jsonify(a=1), make_response("x"),
        werkzeug.exceptions.NotFound(), mux.kv, mux.env, yaml.YAMLError(), fixed,
    ]


def get():
    return "ok"
'''

#: How deep the walk follows attributes from a root.
DEPTH = 4


def _label(cls) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _owner_key(obj, name: str) -> str | None:
    """The native-table key of ``obj.name``: the class that defines it."""
    if isinstance(obj, ModuleFacade):
        return f"{object.__getattribute__(obj, '_name')}.{name}"
    if isinstance(obj, TypeGuard):
        obj = object.__getattribute__(obj, "_type")
    mro = obj.__mro__ if isinstance(obj, type) else type(obj).__mro__
    owner = owner_of(mro, name)
    if owner is None:
        return None  # an instance attribute: data, not a callable of a class
    return f"{_label(owner)}.{name}"


def _names(obj) -> list[str]:
    try:
        return [n for n in dir(obj) if not n.startswith("_")]
    except Exception:
        return []


def tenant_roots(runtime, samples) -> tuple[dict, list]:
    """The roots of a tenant's world: its importable modules, its builtins
    (``builtins.len``) and the objects its program made (``samples[3]``);
    and the names of the roots that are native-table keys."""
    roots = {name: runtime.facade(name) for name in runtime.allowed_names()}
    names = {**runtime.builtins, **runtime.module_names()}
    builtins = {f"builtins.{k}": v for k, v in names.items() if not k.startswith("_")}
    roots.update(builtins)
    roots.update({f"samples[{i}]": value for i, value in enumerate(samples)})
    return roots, list(builtins)


class Reached:
    """What the walk found."""

    def __init__(self):
        #: path -> object
        self.objects: dict[str, object] = {}
        #: native-table key -> a path that reaches it
        self.callables: dict[str, str] = {}


def reach(roots: dict[str, object], depth: int = DEPTH, keyed_roots=()) -> Reached:
    """Walk ``roots`` (name -> object) through the membrane; the roots named
    in ``keyed_roots`` that are callable are native-table keys themselves
    (the builtins)."""
    found = Reached()
    seen: set[int] = set()
    queue = [(name, obj, 0) for name, obj in roots.items()]
    for name in keyed_roots:
        if callable(roots[name]):
            found.callables[name] = name
    while queue:
        path, obj, level = queue.pop(0)
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        found.objects[path] = obj
        if level >= depth:
            continue
        for name in _names(obj):
            try:
                value = guarded_getattr(obj, name)
            except Exception:
                continue
            if callable(value):
                key = _owner_key(obj, name)
                if key is not None:
                    found.callables.setdefault(key, f"{path}.{name}")
            queue.append((f"{path}.{name}", value, level + 1))
    return found


def walk_a_tenants_world(root) -> Reached:
    """Run :data:`SAMPLES` as a tenant under ``root`` and walk everything it
    can reach, inside one of its requests."""
    from tests.sandbox.inprocess import SandboxHost

    host = SandboxHost(root)
    host.write("walker", {"index.py": SAMPLES})
    with host.serving("walker") as (runtime, namespace):
        roots, keyed = tenant_roots(runtime, namespace["samples"]())
        return reach(roots, keyed_roots=keyed)


#: Where the Flask surface lives: owners in these modules (or their facades).
FLASK_SURFACE = ("mux", "flask", "muxserver", "werkzeug", "markupsafe", "jinja2", "click",
                 "functions_framework")


def is_flask_surface(owner: str) -> bool:
    """Whether an owner of :func:`surface` is part of the Flask surface."""
    return owner.split(".", 1)[0] in FLASK_SURFACE


def surface(reached: Reached) -> dict[str, set[str]]:
    """Every public name tenant code can read on a host object the walk
    reached, by the owner that defines it (``"flask.Flask"``,
    ``"builtins.str"``; an instance attribute by its object's class):
    the attack surface the declarations open."""
    from sandbox.guards.own_objects import TENANT_CLASSES

    found: dict[str, set[str]] = {}
    for obj in reached.objects.values():
        cls = obj if isinstance(obj, type) else type(obj)
        if cls in TENANT_CLASSES:
            continue
        for name in _names(obj):
            try:
                guarded_getattr(obj, name)
            except Exception:
                continue
            key = _owner_key(obj, name) or f"{_label(type(obj))}.{name}"
            owner, _, attr = key.rpartition(".")
            found.setdefault(owner, set()).add(attr)
    return found

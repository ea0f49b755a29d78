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

import base64
import bisect
import collections
import collections.abc
import copy
import dataclasses
import datetime
import decimal
import enum
import fractions
import functools
import hashlib
import heapq
import hmac
import html
import itertools
import json
import math
import operator
import random
import secrets
import statistics
import string
import textwrap
import time
import typing
import urllib.parse
import uuid
import zlib

from sandbox import guards
from sandbox import timed_re
from sandbox.guards import MAX_SEQUENCE_ITEMS
from sandbox.guards import MAX_STRING_BYTES
from sandbox.guards import SandboxError
from sandbox.guards import SizeLimitError
from sandbox.guards import TickingIter
from sandbox.guards import guarded_getattr
from sandbox.guards import guarded_iter
from sandbox.guards import ticking_over_inputs


class ModuleFacade:
    """A read-only stand-in for a module: only the names it was given."""

    __slots__ = ("_name", "_attrs")

    def __init__(self, name: str, attrs: dict):
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_attrs", attrs)

    def __getattr__(self, attr):
        try:
            return object.__getattribute__(self, "_attrs")[attr]
        except KeyError:
            name = object.__getattribute__(self, "_name")
            raise AttributeError(
                f"module {name!r} has no attribute {attr!r} in the sandbox"
            ) from None

    def __setattr__(self, attr, value):
        raise TypeError("modules cannot be changed in the sandbox")

    __delattr__ = __setattr__

    def __dir__(self):
        return sorted(object.__getattribute__(self, "_attrs"))

    def __repr__(self):
        return f"<module {object.__getattribute__(self, '_name')!r} (sandboxed)>"


def _pick(module, names: str) -> dict:
    return {name: getattr(module, name) for name in names.split()}


def _cap(value, limit, what):
    if isinstance(value, int) and value > limit:
        raise SizeLimitError(f"{what} is over the sandbox limit ({limit})")


def _ticking_call(func):
    @functools.wraps(func)
    def wrapped(*args, **kwargs):
        return TickingIter(func(*args, **kwargs))

    return wrapped


# -- builders: one per allowed module ---------------------------------------


def _json(ctx):
    def dumps(obj, *args, **kwargs):
        indent = kwargs.get("indent")
        if isinstance(indent, int) and indent > 64 or isinstance(indent, str) and len(indent) > 64:
            raise SizeLimitError("json indent is over the sandbox limit (64)")
        return json.dumps(obj, *args, **kwargs)

    return {
        "dumps": dumps,
        "loads": json.loads,
        "JSONDecodeError": json.JSONDecodeError,
        "JSONEncoder": json.JSONEncoder,
        "JSONDecoder": json.JSONDecoder,
    }


def _math(ctx):
    table = {
        name: getattr(math, name)
        for name in dir(math)
        if not name.startswith("_")
    }

    def factorial(n):
        _cap(n, 20_000, "factorial argument")
        return math.factorial(n)

    def comb(n, k):
        _cap(n, 20_000, "comb argument")
        return math.comb(n, k)

    def perm(n, k=None):
        _cap(n, 20_000, "perm argument")
        return math.perm(n, k)

    def prod(iterable, *, start=1):
        return math.prod(guarded_iter(iterable), start=start)

    def _to_int(func):
        def wrapped(x):
            guards.check_decimal(x)
            return func(x)

        wrapped.__name__ = func.__name__
        return wrapped

    table.update(factorial=factorial, comb=comb, perm=perm, prod=prod, floor=_to_int(math.floor),
                 ceil=_to_int(math.ceil), trunc=_to_int(math.trunc))
    return table


def _datetime(ctx):
    return _pick(datetime, "date datetime time timedelta timezone tzinfo MINYEAR MAXYEAR UTC")


def _time(ctx):
    table = _pick(
        time,
        "time time_ns monotonic monotonic_ns perf_counter perf_counter_ns "
        "gmtime localtime mktime strftime strptime asctime ctime struct_time "
        "timezone altzone daylight",
    )
    table["tzname"] = tuple(time.tzname)
    # time.sleep is looked up at call time so gevent's monkey-patched,
    # cooperative sleep is used when the host runs under gevent.
    table["sleep"] = lambda seconds: time.sleep(seconds)
    return table


def _random(ctx):
    rng = ctx.random

    def randbytes(n):
        _cap(n, MAX_STRING_BYTES, "randbytes size")
        return rng.randbytes(n)

    def getrandbits(k):
        _cap(k, guards.MAX_INT_BITS, "getrandbits size")
        return rng.getrandbits(k)

    def choices(population, weights=None, *, cum_weights=None, k=1):
        _cap(k, MAX_SEQUENCE_ITEMS, "choices k")
        return rng.choices(population, weights, cum_weights=cum_weights, k=k)

    def sample(population, k, *, counts=None):
        _cap(k, MAX_SEQUENCE_ITEMS, "sample k")
        return rng.sample(population, k, counts=counts)

    table = {
        name: getattr(rng, name)
        for name in (
            "random randint randrange choice shuffle uniform gauss seed "
            "normalvariate lognormvariate expovariate vonmisesvariate "
            "gammavariate triangular betavariate paretovariate weibullvariate"
        ).split()
    }
    table.update(
        randbytes=randbytes,
        getrandbits=getrandbits,
        choices=choices,
        sample=sample,
        Random=random.Random,
        SystemRandom=random.SystemRandom,
    )
    return table


def _hashlib(ctx):
    table = _pick(
        hashlib,
        "md5 sha1 sha224 sha256 sha384 sha512 blake2b blake2s "
        "sha3_224 sha3_256 sha3_384 sha3_512 shake_128 shake_256 new",
    )

    def pbkdf2_hmac(hash_name, password, salt, iterations, dklen=None):
        _cap(iterations, 200_000, "pbkdf2 iterations")
        _cap(dklen, 1024, "pbkdf2 dklen")
        return hashlib.pbkdf2_hmac(hash_name, password, salt, iterations, dklen)

    table["pbkdf2_hmac"] = pbkdf2_hmac
    table["algorithms_guaranteed"] = frozenset(hashlib.algorithms_guaranteed)
    table["algorithms_available"] = frozenset(hashlib.algorithms_available)
    return table


def _hmac(ctx):
    return _pick(hmac, "new compare_digest digest HMAC")


def _base64(ctx):
    return _pick(
        base64,
        "b64encode b64decode standard_b64encode standard_b64decode "
        "urlsafe_b64encode urlsafe_b64decode b32encode b32decode b32hexencode "
        "b32hexdecode b16encode b16decode b85encode b85decode a85encode "
        "a85decode encodebytes decodebytes",
    )


def _uuid(ctx):
    # uuid1 is left out: it embeds the host's MAC address.
    return _pick(
        uuid,
        "uuid3 uuid4 uuid5 UUID NAMESPACE_DNS NAMESPACE_URL NAMESPACE_OID NAMESPACE_X500",
    )


class _Chain:
    """``itertools.chain`` with ``chain.from_iterable``, both ticking."""

    __slots__ = ()

    def __call__(self, *iterables):
        return TickingIter(itertools.chain(*[guarded_iter(i) for i in iterables]))

    def from_iterable(self, iterable):
        return TickingIter(
            itertools.chain.from_iterable(guarded_iter(i) for i in guarded_iter(iterable))
        )


def _itertools(ctx):
    def repeat(obj, times=None):
        if times is None:
            return TickingIter(itertools.repeat(obj))
        return TickingIter(itertools.repeat(obj, times))

    def tee(iterable, n=2):
        _cap(n, 1000, "tee n")
        return tuple(TickingIter(t) for t in itertools.tee(guarded_iter(iterable), n))

    def groupby(iterable, key=None):
        return TickingIter(
            (k, TickingIter(group))
            for k, group in itertools.groupby(guarded_iter(iterable), key)
        )

    table = {
        "count": _ticking_call(itertools.count),
        "repeat": repeat,
        "cycle": ticking_over_inputs(itertools.cycle),
        "chain": _Chain(),
        "tee": tee,
        "groupby": groupby,
    }
    for name in (
        "accumulate compress dropwhile filterfalse islice pairwise starmap "
        "takewhile zip_longest product permutations combinations "
        "combinations_with_replacement"
    ).split():
        func = getattr(itertools, name)
        if name in ("dropwhile", "filterfalse", "takewhile", "starmap"):
            table[name] = (
                lambda f: lambda pred, iterable: TickingIter(f(pred, guarded_iter(iterable)))
            )(func)
        elif name in ("islice", "combinations", "permutations", "combinations_with_replacement"):
            table[name] = (
                lambda f: lambda iterable, *args: TickingIter(f(guarded_iter(iterable), *args))
            )(func)
        else:
            table[name] = ticking_over_inputs(func)

    # Each item of these is a tuple of r (or repeat x inputs) elements, built
    # in C; a huge r makes every item a huge allocation between two ticks.
    def product(*iterables, repeat=1):
        _cap(repeat * max(1, len(iterables)), MAX_TUPLE_WIDTH, "product width")
        return TickingIter(itertools.product(*[guarded_iter(i) for i in iterables], repeat=repeat))

    def _width_capped(func):
        def wrapped(iterable, r=None, *args):
            _cap(r, MAX_TUPLE_WIDTH, f"{func.__name__} r")
            pool = tuple(guarded_iter(iterable))
            if r is None:
                _cap(len(pool), MAX_TUPLE_WIDTH, f"{func.__name__} width")
                return TickingIter(func(pool))
            return TickingIter(func(pool, r, *args))

        return wrapped

    table["product"] = product
    table["permutations"] = _width_capped(itertools.permutations)
    table["combinations"] = lambda iterable, r: _width_capped(itertools.combinations)(iterable, r)
    table["combinations_with_replacement"] = lambda iterable, r: _width_capped(
        itertools.combinations_with_replacement)(iterable, r)
    return table


#: Widest tuple itertools' combinatoric functions may yield.
MAX_TUPLE_WIDTH = 10_000


def _functools(ctx):
    def update_wrapper(wrapper, wrapped, *args, **kwargs):
        if not guards.is_tenant_function(wrapper):
            raise SandboxError("update_wrapper() can only change functions you defined")
        return functools.update_wrapper(wrapper, wrapped, *args, **kwargs)

    def wraps(wrapped, *args, **kwargs):
        return lambda wrapper: update_wrapper(wrapper, wrapped, *args, **kwargs)

    def total_ordering(cls):
        if cls not in guards.TENANT_CLASSES:
            raise SandboxError("total_ordering() can only change classes you defined")
        return functools.total_ordering(cls)

    def reduce(function, iterable, *initial):
        return functools.reduce(function, guarded_iter(iterable), *initial)

    table = _pick(functools, "partial partialmethod lru_cache cache cached_property cmp_to_key")
    table.update(
        update_wrapper=update_wrapper,
        wraps=wraps,
        total_ordering=total_ordering,
        reduce=reduce,
    )
    return table


def _collections_abc(ctx):
    return {
        name: getattr(collections.abc, name)
        for name in collections.abc.__all__
    }


def _collections(ctx):
    def namedtuple(typename, field_names, **kwargs):
        kwargs.pop("module", None)
        return collections.namedtuple(typename, field_names, module="mux_tenant", **kwargs)

    class Counter(collections.Counter):
        """``collections.Counter`` whose ``elements()`` ticks."""

        def elements(self):
            return TickingIter(super().elements())

    table = _pick(collections, "deque OrderedDict defaultdict ChainMap UserDict UserList UserString")
    table.update(namedtuple=namedtuple, Counter=Counter, abc=ctx.facade("collections.abc"))
    return table


def _string(ctx):
    return _pick(
        string,
        "ascii_letters ascii_lowercase ascii_uppercase digits hexdigits "
        "octdigits punctuation printable whitespace capwords",
    )


def _decimal(ctx):
    # getcontext/setcontext/localcontext are left out: the context is per
    # thread, and every greenlet of every tenant shares the thread.
    def Context(*args, **kwargs):
        prec = kwargs.get("prec", args[0] if args else None)
        _cap(prec, 10_000, "decimal precision")
        context = decimal.Context(*args, **kwargs)
        context.Emax = min(context.Emax, guards.MAX_DECIMAL_EXPONENT)
        context.Emin = max(context.Emin, -guards.MAX_DECIMAL_EXPONENT)
        return context

    def make_decimal(value="0", context=None):
        result = decimal.Decimal(value, context)
        guards.check_decimal(result)
        return result

    table = _pick(
        decimal,
        "DecimalException InvalidOperation DivisionByZero Overflow "
        "Underflow Inexact Rounded Subnormal Clamped FloatOperation "
        "ROUND_UP ROUND_DOWN ROUND_CEILING ROUND_FLOOR ROUND_HALF_UP "
        "ROUND_HALF_DOWN ROUND_HALF_EVEN ROUND_05UP",
    )
    table["Context"] = Context
    table["Decimal"] = guards.TypeGuard(decimal.Decimal, make_decimal)
    limit_shared_decimal_context()
    return table


def limit_shared_decimal_context() -> None:
    """Bound the exponent of the decimal context of this thread, which every
    greenlet (every tenant) shares, so arithmetic cannot build a Decimal that
    is slow to turn into an int. Tenants cannot reach the context itself."""
    context = decimal.getcontext()
    context.Emax = min(context.Emax, guards.MAX_DECIMAL_EXPONENT)
    context.Emin = max(context.Emin, -guards.MAX_DECIMAL_EXPONENT)


def _fractions(ctx):
    return {"Fraction": fractions.Fraction}


def _statistics(ctx):
    names = (
        "mean fmean geometric_mean harmonic_mean median median_low median_high "
        "median_grouped mode multimode pstdev pvariance stdev variance quantiles "
        "correlation covariance linear_regression"
    ).split()
    table = {}
    for name in names:
        func = getattr(statistics, name)
        table[name] = (
            lambda f: lambda data, *args, **kwargs: f(list(guarded_iter(data)), *args, **kwargs)
        )(func)
    table["StatisticsError"] = statistics.StatisticsError
    table["NormalDist"] = statistics.NormalDist
    return table


def _urllib_parse(ctx):
    return _pick(
        urllib.parse,
        "quote quote_plus quote_from_bytes unquote unquote_plus unquote_to_bytes "
        "urlencode urlparse urlunparse urlsplit urlunsplit urljoin urldefrag "
        "parse_qs parse_qsl ParseResult SplitResult DefragResult",
    )


def _urllib(ctx):
    return {"parse": ctx.facade("urllib.parse")}


def _html(ctx):
    return {"escape": html.escape, "unescape": html.unescape}


def _textwrap(ctx):
    def _width(func):
        def wrapped(text, width=70, **kwargs):
            _cap(width, 100_000, "textwrap width")
            return func(text, width, **kwargs)

        return wrapped

    return {
        "wrap": _width(textwrap.wrap),
        "fill": _width(textwrap.fill),
        "shorten": _width(textwrap.shorten),
        "dedent": textwrap.dedent,
        "indent": textwrap.indent,
    }


def _dataclasses(ctx):
    def dataclass(cls=None, /, **kwargs):
        # dataclass() rewrites the class it is given: only the tenant's own.
        def wrap(target):
            if target not in guards.TENANT_CLASSES:
                raise SandboxError("@dataclass can only decorate classes you defined")
            return dataclasses.dataclass(target, **kwargs)

        return wrap if cls is None else wrap(cls)

    table = _pick(
        dataclasses,
        "field fields asdict astuple replace is_dataclass FrozenInstanceError InitVar KW_ONLY MISSING",
    )
    table["dataclass"] = dataclass
    return table


def _typing(ctx):
    return _pick(
        typing,
        "Any Optional Union List Dict Set FrozenSet Tuple Callable Iterable "
        "Iterator Generator Mapping MutableMapping Sequence MutableSequence "
        "Type TypeVar Generic Literal Final ClassVar Annotated NamedTuple "
        "TypedDict Protocol cast overload TYPE_CHECKING NoReturn Deque "
        "DefaultDict Counter OrderedDict AnyStr Hashable Sized",
    )


def _enum(ctx):
    return _pick(enum, "Enum IntEnum Flag IntFlag StrEnum auto unique")


def _bisect(ctx):
    return _pick(bisect, "bisect bisect_left bisect_right insort insort_left insort_right")


def _heapq(ctx):
    table = _pick(heapq, "heappush heappop heapify heapreplace heappushpop")
    table["nlargest"] = lambda n, iterable, key=None: heapq.nlargest(n, guarded_iter(iterable), key)
    table["nsmallest"] = lambda n, iterable, key=None: heapq.nsmallest(n, guarded_iter(iterable), key)
    table["merge"] = lambda *its, key=None, reverse=False: TickingIter(
        heapq.merge(*[guarded_iter(i) for i in its], key=key, reverse=reverse)
    )
    return table


def _copy(ctx):
    return {"copy": copy.copy, "deepcopy": copy.deepcopy, "Error": copy.Error}


def _operator(ctx):
    # attrgetter/methodcaller would read attributes without _getattr_, and
    # setitem/delitem would write without _write_: they are rebuilt on the
    # guards. The in-place functions are left out.
    table = _pick(
        operator,
        "lt le eq ne ge gt not_ truth is_ is_not abs add and_ floordiv index "
        "inv invert neg or_ pos rshift sub truediv xor concat contains countOf "
        "indexOf getitem itemgetter length_hint matmul",
    )

    def attrgetter(*names):
        def get(obj):
            values = []
            for name in names:
                value = obj
                for part in name.split("."):
                    value = guarded_getattr(value, part)
                values.append(value)
            return values[0] if len(names) == 1 else tuple(values)

        return get

    def methodcaller(name, *args, **kwargs):
        return lambda obj: guarded_getattr(obj, name)(*args, **kwargs)

    def setitem(obj, key, value):
        guards.guarded_write(obj)[key] = value

    def delitem(obj, key):
        del guards.guarded_write(obj)[key]

    table.update(
        attrgetter=attrgetter,
        methodcaller=methodcaller,
        setitem=setitem,
        delitem=delitem,
        mul=guards.guarded_mul,
        mod=guards.guarded_mod,
        pow=guards.guarded_pow,
        lshift=guards.guarded_lshift,
    )
    return table


def _secrets(ctx):
    def sized(func):
        def wrapped(nbytes=None):
            _cap(nbytes, 1 << 20, "token size")
            return func(nbytes)

        return wrapped

    def randbits(k):
        _cap(k, guards.MAX_INT_BITS, "randbits size")
        return secrets.randbits(k)

    return {
        "token_bytes": sized(secrets.token_bytes),
        "token_hex": sized(secrets.token_hex),
        "token_urlsafe": sized(secrets.token_urlsafe),
        "choice": secrets.choice,
        "randbelow": secrets.randbelow,
        "randbits": randbits,
        "compare_digest": secrets.compare_digest,
        "SystemRandom": secrets.SystemRandom,
    }


def _zlib(ctx):
    def decompress(data, wbits=zlib.MAX_WBITS, bufsize=zlib.DEF_BUF_SIZE):
        inflater = zlib.decompressobj(wbits)
        out = inflater.decompress(data, MAX_STRING_BYTES)
        if inflater.unconsumed_tail:
            raise SizeLimitError("decompressed data is over the sandbox size limit")
        return out + inflater.flush()

    table = _pick(
        zlib,
        "compress crc32 adler32 error MAX_WBITS DEFLATED DEF_BUF_SIZE "
        "Z_BEST_COMPRESSION Z_BEST_SPEED Z_DEFAULT_COMPRESSION",
    )
    table["decompress"] = decompress
    return table


#: module name -> builder(ctx) -> dict of names.
BUILDERS = {
    "json": _json,
    "math": _math,
    "datetime": _datetime,
    "time": _time,
    "random": _random,
    "hashlib": _hashlib,
    "hmac": _hmac,
    "base64": _base64,
    "uuid": _uuid,
    "itertools": _itertools,
    "functools": _functools,
    "collections": _collections,
    "collections.abc": _collections_abc,
    "string": _string,
    "decimal": _decimal,
    "fractions": _fractions,
    "statistics": _statistics,
    "re": timed_re.facade_attrs,
    "urllib": _urllib,
    "urllib.parse": _urllib_parse,
    "html": _html,
    "textwrap": _textwrap,
    "dataclasses": _dataclasses,
    "typing": _typing,
    "enum": _enum,
    "bisect": _bisect,
    "heapq": _heapq,
    "copy": _copy,
    "operator": _operator,
    "secrets": _secrets,
    "zlib": _zlib,
}

#: Names tenant code may import (plus ``lib`` and what the host adds).
ALLOWED_MODULES = frozenset(BUILDERS) | frozenset(["mux", "flask"])

"""Facades for data formats and digests: json, hashlib, hmac, base64, uuid,
secrets, zlib, copy."""

from __future__ import annotations

import base64
import copy
import dataclasses
import datetime
import decimal
import enum
import fractions
import hashlib
import hmac
import json
import secrets
import uuid
import weakref
import zlib

from sandbox import guards
from sandbox import limits
from sandbox.facades.base import cap
from sandbox.facades.base import pick
from sandbox.guards import MAX_STRING_BYTES
from sandbox.guards import SizeLimitError
from sandbox.guards.declared import METHOD_GUARDS
from sandbox.guards.declared import declare
from sandbox.guards.declared import declare_values
from sandbox.facades.jsontext import check_coder
from sandbox.facades import jsontext
from sandbox.facades.jsontext import encoder_method
from sandbox.facades.numbers import SystemRandom

declare_values(json.JSONEncoder, json.JSONDecoder, uuid.UUID, dynamic=True)
declare(type(json.JSONDecoder().scan_once))  # the decoder's C scanner: offers nothing
declare_values(type(hashlib.sha256()), type(hashlib.blake2b()), type(hashlib.blake2s()),
               type(hashlib.shake_128()), hmac.HMAC)


METHOD_GUARDS[(json.JSONEncoder, "encode")] = encoder_method
METHOD_GUARDS[(json.JSONEncoder, "iterencode")] = encoder_method

#: Bytes of objects one value of JSON text can become at most beside its
#: characters: a list's slot and the smallest object (a float, an empty
#: dict's 64 bytes).
JSON_VALUE_BYTES = 64
_JSON_MARKS = ",[{:"


def check_json_text(text, what: str = "decoding JSON") -> None:
    """Before JSON text is decoded: the objects it can become, sized against
    the request's memory. One C call builds them all and no tick interrupts
    it (round 6: 18 MB of ``[],[],...`` became 474 MB). Twice the text (its
    strings) and :data:`JSON_VALUE_BYTES` for each ``,``, ``[``, ``{`` and
    ``:``, each of which starts a value — an over-estimate for text whose
    strings hold many of them."""
    if isinstance(text, str):
        count, marks = str.count, _JSON_MARKS
    elif isinstance(text, bytearray):
        count, marks = bytearray.count, _JSON_MARKS.encode()
    elif isinstance(text, bytes):
        count, marks = bytes.count, _JSON_MARKS.encode()
    else:
        return
    if len(text) < 4096:
        return
    values = sum(count(text, marks[i:i + 1]) for i in range(len(marks)))
    guards.check_allocation(2 * len(text) + JSON_VALUE_BYTES * values, what)


def decode_json(text, **kwargs):
    """``json.loads`` for every road tenant text takes into a JSON decoder
    (the ``json`` and ``flask.json`` facades, a request's or a response's
    ``get_json``, outbound responses), sized first (:func:`check_json_text`)."""
    check_coder(kwargs.get("cls"), json.JSONDecoder)
    check_json_text(text)
    return json.loads(text, **kwargs)


class SizedJson:
    """A ``json`` module for werkzeug's ``Request.json_module``: the body
    decoded by :func:`decode_json`."""

    loads = staticmethod(decode_json)
    dumps = staticmethod(json.dumps)


def _decoder_method(decoder, name):
    """``JSONDecoder().decode``/``raw_decode``, sized like ``json.loads``."""
    method = getattr(decoder, name)

    def sized(text, *args):
        check_json_text(text)
        return method(text, *args)

    return sized


METHOD_GUARDS[(json.JSONDecoder, "decode")] = _decoder_method
METHOD_GUARDS[(json.JSONDecoder, "raw_decode")] = _decoder_method


def build_json(ctx):
    def dumps(obj, **kwargs):
        return jsontext.dumps(obj, "json.dumps()", **kwargs)

    def loads(s, *args, **kwargs):
        if args:
            raise TypeError("json.loads() takes its options by name")
        return decode_json(s, **kwargs)

    def load(fp, *args, **kwargs):
        # Python's: loads() of fp.read(), read through the membrane (fp may
        # be any object; only a read it offers is called).
        if args:
            raise TypeError("json.load() takes its options by name")
        return loads(guards.guarded_getattr(fp, "read")(), **kwargs)

    def dump(obj, fp, *args, **kwargs):
        # Python's: the text dumps() makes, written to fp (in one piece).
        guards.guarded_getattr(fp, "write")(dumps(obj, *args, **kwargs))

    return {
        "dumps": dumps,
        "loads": loads,
        "dump": dump,
        "load": load,
        "JSONDecodeError": json.JSONDecodeError,
        "JSONEncoder": json.JSONEncoder,
        "JSONDecoder": json.JSONDecoder,
    }


#: Bytes past which hashing or compressing runs off the hub (hashlib and
#: zlib release the GIL; 80 MB compressed in one call held it half a second).
OFF_THE_HUB_BYTES = 2**20


def off_the_hub(call, data, expands: int = 1):
    """``call()``, in the host's offload thread when ``data`` is big —
    or may become big: ``expands`` is how many bytes of work one byte of
    ``data`` can make (inflating 80 KB of deflate is 80 MB of output)."""
    if not hasattr(data, "__len__") or len(data) * expands <= OFF_THE_HUB_BYTES:
        return call()
    budget = limits.current()
    seconds = budget.remaining_seconds(30.0) if budget is not None else 30.0
    return limits.offload(lambda timeout: call(), seconds, interruptible=False)


#: The hashlib constructors the facade offers, by name.
_HASH_NAMES = ("md5 sha1 sha224 sha256 sha384 sha512 blake2b blake2s "
               "sha3_224 sha3_256 sha3_384 sha3_512 shake_128 shake_256").split()


#: The facade's constructors (made per tenant), by the name hmac is given
#: for each (:func:`_digest_name`).
_FACADE_HASHES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _hashing(constructor, name=None):
    def make(*args, **kwargs):
        data = args[1] if constructor is hashlib.new and len(args) > 1 else \
            args[0] if constructor is not hashlib.new and args else kwargs.get("data", b"")
        return off_the_hub(lambda: constructor(*args, **kwargs), data)

    make.__name__ = constructor.__name__
    if name is not None:
        _FACADE_HASHES[make] = name
    return make


def _update(digest, name):
    update = digest.update
    return lambda data: off_the_hub(lambda: update(data), data)


for _hash in (type(hashlib.sha256()), type(hashlib.blake2b()), type(hashlib.blake2s()),
              type(hashlib.shake_128()), hmac.HMAC):
    METHOD_GUARDS[(_hash, "update")] = _update


def build_hashlib(ctx):
    table = {name: _hashing(getattr(hashlib, name), name) for name in _HASH_NAMES}
    table["new"] = _hashing(hashlib.new)

    def pbkdf2_hmac(hash_name, password, salt, iterations, dklen=None):
        iterations = cap(iterations, 200_000, "pbkdf2 iterations")
        dklen = cap(dklen, 1024, "pbkdf2 dklen")
        return hashlib.pbkdf2_hmac(hash_name, password, salt, iterations, dklen)

    table["pbkdf2_hmac"] = pbkdf2_hmac
    table["algorithms_guaranteed"] = frozenset(hashlib.algorithms_guaranteed)
    table["algorithms_available"] = frozenset(hashlib.algorithms_available)
    return table


#: The real constructors, by the name hmac is given for each.
_REAL_HASHES = {getattr(hashlib, name): name for name in _HASH_NAMES}


def _digest_name(digestmod) -> str:
    """The hash name hmac is given for the tenant's ``digestmod``: a name, or
    one of hashlib's constructors (the facade's or the real ones), as its
    name. Anything else is refused: hmac calls a callable ``digestmod``
    (and ``hmac.digest``'s ``digest``) and believes what its objects say —
    a tenant class whose ``block_size`` was 400 MB had hmac's own Python
    make ``key.ljust(block_size)`` and two translations of it: 800 MB and
    1.1 s on the hub for a 64 MB budget, answered 200 (round 16). By name,
    hmac runs OpenSSL's HMAC on the same hash: the same digests."""
    if isinstance(digestmod, str):
        return str.__str__(digestmod)
    try:
        name = _FACADE_HASHES.get(digestmod) or _REAL_HASHES.get(digestmod)
    except TypeError:  # not hashable, or not weakly referable
        name = None
    if name is not None:
        return name
    if digestmod is None:
        raise TypeError("Missing required parameter 'digestmod'.")
    raise TypeError("digestmod must be a hash name or a hashlib constructor here "
                    "(hashlib.sha256, 'sha256'): hmac does not run a digest of your own")


class HMAC(hmac.HMAC):
    """``hmac.HMAC`` whose digest is one of hashlib's, by name
    (:func:`_digest_name`)."""

    def __init__(self, key, msg=None, digestmod=""):
        super().__init__(key, msg, _digest_name(digestmod))


def build_hmac(ctx):
    def new(key, msg=None, digestmod=""):
        return HMAC(key, msg, digestmod)

    def digest(key, msg, digest):
        return hmac.digest(key, msg, _digest_name(digest))

    table = pick(hmac, "compare_digest")
    table.update(new=new, digest=digest, HMAC=HMAC)
    return table


#: Longest input of the base32/85 codecs: pure-Python loops (75 ms a MB).
MAX_SLOW_BASE64_BYTES = 2**20


def _bounded_input(func):
    def bounded(data, *args, **kwargs):
        if hasattr(data, "__len__") and len(data) > MAX_SLOW_BASE64_BYTES:
            raise SizeLimitError(f"{func.__name__}() takes at most {MAX_SLOW_BASE64_BYTES} bytes "
                                 "here (it is pure Python)")
        return func(data, *args, **kwargs)

    bounded.__name__ = func.__name__
    return bounded


def build_base64(ctx):
    table = pick(
        base64,
        "b64encode b64decode standard_b64encode standard_b64decode "
        "urlsafe_b64encode urlsafe_b64decode b16encode b16decode encodebytes decodebytes",
    )
    for name in ("b32encode b32decode b32hexencode b32hexdecode b85encode b85decode "
                 "a85encode a85decode").split():
        table[name] = _bounded_input(getattr(base64, name))
    return table


def build_uuid(ctx):
    # uuid1 is left out: it embeds the host's MAC address.
    return pick(
        uuid,
        "uuid3 uuid4 uuid5 UUID NAMESPACE_DNS NAMESPACE_URL NAMESPACE_OID NAMESPACE_X500",
    )


def build_secrets(ctx):
    def sized(func):
        def wrapped(nbytes=None):
            return func(cap(nbytes, 1 << 20, "token size"))

        return wrapped

    def randbits(k):
        return secrets.randbits(cap(k, guards.MAX_INT_BITS, "randbits size"))

    return {
        "token_bytes": sized(secrets.token_bytes),
        "token_hex": sized(secrets.token_hex),
        "token_urlsafe": sized(secrets.token_urlsafe),
        "choice": secrets.choice,
        "randbelow": secrets.randbelow,
        "randbits": randbits,
        "compare_digest": secrets.compare_digest,
        "SystemRandom": SystemRandom,
    }


#: The most bytes deflate can make of one (zlib's technical details: 1032:1).
DEFLATE_MAX_RATIO = 1032


def build_zlib(ctx):
    def inflate(data, wbits):
        inflater = zlib.decompressobj(wbits)
        out = inflater.decompress(data, MAX_STRING_BYTES)
        if inflater.unconsumed_tail:
            raise SizeLimitError("decompressed data is over the sandbox size limit")
        return out + inflater.flush()

    def decompress(data, wbits=zlib.MAX_WBITS, bufsize=zlib.DEF_BUF_SIZE):
        return off_the_hub(lambda: inflate(data, wbits), data, expands=DEFLATE_MAX_RATIO)

    def compress(data, level=-1, wbits=zlib.MAX_WBITS):
        return off_the_hub(lambda: zlib.compress(data, level, wbits), data)

    table = pick(
        zlib,
        "crc32 adler32 error MAX_WBITS DEFLATED DEF_BUF_SIZE "
        "Z_BEST_COMPRESSION Z_BEST_SPEED Z_DEFAULT_COMPRESSION",
    )
    table.update(decompress=decompress, compress=compress)
    return table


#: Value types copy() and deepcopy() take besides containers and the
#: tenant's own objects: immutable, no host state behind them.
_COPYABLE_VALUES = (type(None), bool, int, float, complex, str, bytes, range, slice,
                    datetime.date, datetime.time, datetime.timedelta, datetime.timezone,
                    decimal.Decimal, fractions.Fraction, uuid.UUID, enum.Enum)
_CONTAINERS = (list, tuple, dict, set, frozenset, bytearray)


def _check_copyable(value) -> None:
    """Everything a copy would touch is the tenant's own or a plain value.

    copy() and deepcopy() run ``__reduce_ex__`` on whatever they are given
    and hand back what it returns: on a host object (the request, a
    logger), its private state. The walk ticks, so it is bounded.
    """
    stack, seen = [value], set()
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        limits.tick()
        if isinstance(item, _COPYABLE_VALUES) or guards.is_tenant_function(item):
            continue
        if type(item) in _CONTAINERS:
            stack.extend(item.values() if isinstance(item, dict) else item)
            if isinstance(item, dict):
                stack.extend(item.keys())
            continue
        if guards.is_tenant_object(item) and not isinstance(item, type):
            state = getattr(item, "__dict__", None)
            if state is not None:
                stack.extend(state.values())
            for name in getattr(type(item), "__slots__", ()):
                if hasattr(item, name):
                    stack.append(getattr(item, name))
            continue
        if isinstance(item, type) and item in guards.TENANT_CLASSES:
            continue  # classes are copied by reference
        raise copy.Error(f"copying {type(item).__name__} objects is not allowed in the sandbox")


class _TickingMemo(dict):
    """deepcopy's memo: deepcopy looks every object up in it, so its lookup
    ticks (deepcopy is pure Python that never ticks by itself)."""

    def get(self, key, default=None):
        limits.tick()
        return dict.get(self, key, default)


def deep_copy(value):
    """``copy.deepcopy`` of plain values and the tenant's own objects, ticking."""
    _check_copyable(value)
    return copy.deepcopy(value, _TickingMemo())


def _as_plain(obj, factory):
    limits.tick()
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return factory([(f.name, _as_plain(getattr(obj, f.name), factory))
                        for f in dataclasses.fields(obj)])
    if isinstance(obj, tuple) and hasattr(type(obj), "_fields"):
        return type(obj)(*[_as_plain(v, factory) for v in obj])
    if isinstance(obj, (list, tuple)):
        return type(obj)(_as_plain(v, factory) for v in guards.guarded_iter(obj))
    if isinstance(obj, dict):
        if hasattr(type(obj), "default_factory"):
            result = type(obj)(obj.default_factory)
            for key, item in obj.items():
                result[_as_plain(key, factory)] = _as_plain(item, factory)
            return result
        return type(obj)((_as_plain(k, factory), _as_plain(v, factory))
                         for k, v in guards.guarded_iter(obj.items()))
    return copy.deepcopy(obj, _TickingMemo())


def dataclass_as_dict(obj, dict_factory=dict):
    """``dataclasses.asdict`` of the tenant's own dataclass, ticking as it
    walks (the real one is pure Python that never ticks) and copying only
    what ``copy.deepcopy`` here may copy."""
    if not (dataclasses.is_dataclass(obj) and guards.is_tenant_object(obj)
            and not isinstance(obj, type)):
        raise TypeError("asdict() should be called on dataclass instances you defined")
    _check_copyable(obj)
    return _as_plain(obj, dict_factory)


def dataclass_as_tuple(obj, tuple_factory=tuple):
    """``dataclasses.astuple``, like :func:`dataclass_as_dict`."""
    if not (dataclasses.is_dataclass(obj) and guards.is_tenant_object(obj)
            and not isinstance(obj, type)):
        raise TypeError("astuple() should be called on dataclass instances you defined")
    _check_copyable(obj)
    return tuple_factory(_as_plain(getattr(obj, f.name), dict)
                         for f in dataclasses.fields(obj))


def build_copy(ctx):
    def copy_(value):
        _check_copyable(value)
        return copy.copy(value)

    def deepcopy(value, memo=None):
        # The memo is the copier's map of every object it met: never the
        # caller's (it would fill it with objects it must not hold).
        if memo is not None:
            raise copy.Error("deepcopy() takes no memo in the sandbox")
        return deep_copy(value)

    return {"copy": copy_, "deepcopy": deepcopy, "Error": copy.Error}

"""Facades for data formats and digests: json, hashlib, hmac, base64, uuid,
secrets, zlib, copy."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import secrets
import uuid
import zlib

from sandbox import guards
from sandbox.facades.base import cap
from sandbox.facades.base import pick
from sandbox.guards import MAX_STRING_BYTES
from sandbox.guards import SizeLimitError


def build_json(ctx):
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


def build_hashlib(ctx):
    table = pick(
        hashlib,
        "md5 sha1 sha224 sha256 sha384 sha512 blake2b blake2s "
        "sha3_224 sha3_256 sha3_384 sha3_512 shake_128 shake_256 new",
    )

    def pbkdf2_hmac(hash_name, password, salt, iterations, dklen=None):
        cap(iterations, 200_000, "pbkdf2 iterations")
        cap(dklen, 1024, "pbkdf2 dklen")
        return hashlib.pbkdf2_hmac(hash_name, password, salt, iterations, dklen)

    table["pbkdf2_hmac"] = pbkdf2_hmac
    table["algorithms_guaranteed"] = frozenset(hashlib.algorithms_guaranteed)
    table["algorithms_available"] = frozenset(hashlib.algorithms_available)
    return table


def build_hmac(ctx):
    return pick(hmac, "new compare_digest digest HMAC")


def build_base64(ctx):
    return pick(
        base64,
        "b64encode b64decode standard_b64encode standard_b64decode "
        "urlsafe_b64encode urlsafe_b64decode b32encode b32decode b32hexencode "
        "b32hexdecode b16encode b16decode b85encode b85decode a85encode "
        "a85decode encodebytes decodebytes",
    )


def build_uuid(ctx):
    # uuid1 is left out: it embeds the host's MAC address.
    return pick(
        uuid,
        "uuid3 uuid4 uuid5 UUID NAMESPACE_DNS NAMESPACE_URL NAMESPACE_OID NAMESPACE_X500",
    )


def build_secrets(ctx):
    def sized(func):
        def wrapped(nbytes=None):
            cap(nbytes, 1 << 20, "token size")
            return func(nbytes)

        return wrapped

    def randbits(k):
        cap(k, guards.MAX_INT_BITS, "randbits size")
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


def build_zlib(ctx):
    def decompress(data, wbits=zlib.MAX_WBITS, bufsize=zlib.DEF_BUF_SIZE):
        inflater = zlib.decompressobj(wbits)
        out = inflater.decompress(data, MAX_STRING_BYTES)
        if inflater.unconsumed_tail:
            raise SizeLimitError("decompressed data is over the sandbox size limit")
        return out + inflater.flush()

    table = pick(
        zlib,
        "compress crc32 adler32 error MAX_WBITS DEFLATED DEF_BUF_SIZE "
        "Z_BEST_COMPRESSION Z_BEST_SPEED Z_DEFAULT_COMPRESSION",
    )
    table["decompress"] = decompress
    return table


def build_copy(ctx):
    return {"copy": copy.copy, "deepcopy": copy.deepcopy, "Error": copy.Error}

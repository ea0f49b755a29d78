"""Secrets the serving process must not hold: tokens as hashes, a clean environment.

:class:`TokenHash` keeps only a salted scrypt hash of a bearer token and
compares in constant time. :func:`clean_environment` is what the server re-executes
itself with, so ``os.environ`` *and* the initial environment block that
``/proc/self/environ`` shows hold nothing of the operator's shell.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time

#: Environment variables the serving process keeps (none is a secret; they
#: set the locale and time zone of log lines).
KEPT_VARIABLES = ("LANG", "LC_ALL", "LC_CTYPE", "TZ")


class TokenHash:
    """A bearer token, kept as a salted scrypt hash only.

    scrypt (memory-hard, :data:`COST`) makes guessing a weak token from a
    leaked hash slow. A token it verified is remembered for
    :data:`REMEMBER_S` seconds as a keyed hash whose key lives in this
    process's memory, so the console's polling does not pay scrypt per call.
    Only the supervisor holds these (serving processes get no token at all).
    """

    #: scrypt's n, r, p: 16 MiB and tens of milliseconds per guess.
    COST = (2**14, 8, 1)
    REMEMBER_S = 60.0

    __slots__ = ("_salt", "_digest", "_seen")

    def __init__(self, salt: bytes, digest: bytes):
        self._salt = salt
        self._digest = digest
        self._seen: dict[bytes, float] = {}

    @classmethod
    def _derive(cls, token: str, salt: bytes) -> bytes:
        n, r, p = cls.COST
        return hashlib.scrypt(token.encode("utf-8", "surrogateescape"), salt=salt, n=n, r=r, p=p,
                              maxmem=64 * 2**20, dklen=32)

    @classmethod
    def of(cls, token: str) -> "TokenHash":
        salt = os.urandom(16)
        return cls(salt, cls._derive(token, salt))

    def encoded(self) -> str:
        """``scrypt$<salt hex>$<hash hex>``, to hand the hash to the next process."""
        return f"scrypt${self._salt.hex()}${self._digest.hex()}"

    @classmethod
    def from_encoded(cls, text: str) -> "TokenHash":
        kind, salt, digest = text.split("$")
        if kind != "scrypt":
            raise ValueError("not a scrypt token hash")
        return cls(bytes.fromhex(salt), bytes.fromhex(digest))

    def matches(self, presented: str) -> bool:
        """Whether ``presented`` is the token (constant time in its content)."""
        now = time.monotonic()
        seen = hmac.new(_PROCESS_KEY, presented.encode("utf-8", "surrogateescape"),
                        "sha256").digest()
        if self._seen.get(seen, 0.0) > now:
            return True
        if not hmac.compare_digest(self._derive(presented, self._salt), self._digest):
            return False
        if len(self._seen) > 64:
            self._seen.clear()
        self._seen[seen] = now + self.REMEMBER_S
        return True

    def __repr__(self) -> str:
        return "TokenHash(<scrypt>)"

    def __bool__(self) -> bool:
        return True


#: Keys the memory of verified tokens; never leaves this process.
_PROCESS_KEY = os.urandom(32)


def clean_environment(environ) -> dict[str, str]:
    """The environment the serving process runs with."""
    return {key: environ[key] for key in KEPT_VARIABLES if key in environ}

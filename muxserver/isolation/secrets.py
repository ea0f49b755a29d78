"""Secrets the serving process must not hold: tokens as hashes, a clean environment.

:class:`TokenHash` keeps only the SHA-256 of a bearer token and compares in
constant time. :func:`clean_environment` is what the server re-executes
itself with, so ``os.environ`` *and* the initial environment block that
``/proc/self/environ`` shows hold nothing of the operator's shell.
"""

from __future__ import annotations

import hashlib
import hmac

#: Environment variables the serving process keeps (none is a secret; they
#: set the locale and time zone of log lines).
KEPT_VARIABLES = ("LANG", "LC_ALL", "LC_CTYPE", "TZ")


class TokenHash:
    """A bearer token, kept as its SHA-256 only."""

    __slots__ = ("_digest",)

    def __init__(self, digest: bytes):
        self._digest = digest

    @classmethod
    def of(cls, token: str) -> "TokenHash":
        return cls(hashlib.sha256(token.encode("utf-8")).digest())

    @classmethod
    def from_hex(cls, text: str) -> "TokenHash":
        return cls(bytes.fromhex(text))

    def hex(self) -> str:
        return self._digest.hex()

    def matches(self, presented: str) -> bool:
        """Whether ``presented`` is the token (constant time in its content)."""
        given = hashlib.sha256(presented.encode("utf-8", "surrogateescape")).digest()
        return hmac.compare_digest(given, self._digest)

    def __repr__(self) -> str:
        return "TokenHash(<sha256>)"

    def __bool__(self) -> bool:
        return True


def clean_environment(environ) -> dict[str, str]:
    """The environment the serving process runs with."""
    return {key: environ[key] for key in KEPT_VARIABLES if key in environ}

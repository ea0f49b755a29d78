"""Flask's ``session`` (a signed cookie) and ``flash``.

The cookie is the session's JSON signed with itsdangerous, as Flask signs
it, under the tenant's ``app.secret_key`` (``SECRET_KEY``) or, without one,
a key the server derives per tenant from its own secret — so one tenant's
cookie is never valid for another. Like Flask's, the session is readable by
the client (signed, not encrypted) and limited by cookie size.

The cookie is written as Flask 3.1's ``SecureCookieSessionInterface``
writes it (werkzeug's ``dump_cookie``), from the app's ``SESSION_COOKIE_*``,
``PERMANENT_SESSION_LIFETIME`` and ``SESSION_REFRESH_EACH_REQUEST`` config
(:func:`cookie_settings`, the one place that reads them), with two
confinements a shared server needs:

* ``Path`` is under the tenant's mount: ``SESSION_COOKIE_PATH`` (or
  ``APPLICATION_ROOT``) is written as the app's path, and
  :func:`muxserver.http.origin_scope.confine` reads it relative to the
  mount, as it reads every cookie a tenant sends (``/`` is ``/kitchen``,
  ``/admin`` is ``/kitchen/admin``; ``..`` cannot leave it).
* ``SESSION_COOKIE_DOMAIN`` is not sent: a ``Domain`` would hand the cookie
  to every host under it, other tenants' included. The cookie stays
  host-only and the tenant's log says so once.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta
from datetime import timezone

from itsdangerous import BadSignature
from itsdangerous import URLSafeTimedSerializer
from werkzeug.http import dump_cookie

from muxserver.http.origin_scope import confined_path
from sandbox.facades.jsontext import json_text_size
from sandbox.facades.jsontext import plain_json

from sandbox.guards import plain_text
from sandbox.guards import safe_repr
from sandbox.guards.declared import declared

COOKIE_NAME = "session"
#: Browsers keep cookies up to about 4 KB; a larger session is refused.
MAX_COOKIE_BYTES = 4093
#: The most JSON text a session may hold: written, as the JSON judge sizes
#: it (:func:`sandbox.facades.jsontext.json_text_size`, an upper estimate)
#: before Flask's tagged serializer walks it; read, as the cookie's
#: decompressed text, before it is parsed. Both are host Python no tick
#: interrupts (round 15: a list held 500 times in 4 KB of the tenant's
#: memory cost 9.7 s on the hub and 250 MB; a 52 KB cookie signed with the
#: tenant's own key, 40 MB of zlib-compressed zeros, cost 3.6 s and 450 MB).
#: What is written is always read back: the real text is never over the
#: estimate. A session of more text than this could hardly fit a cookie.
MAX_SESSION_TEXT = 256 * 1024
#: The longest secret key, and the most ``SECRET_KEY_FALLBACKS``: a session
#: is signed or verified with each, by host code no tick interrupts (round
#: 15: 300,000 fallbacks held the hub 1.2 s for one cookie signed with none
#: of them; ``secret_key = 200_000_000`` had the host make
#: ``bytes(200_000_000)`` twice a request, 340 MB in a 64 MB budget).
MAX_KEY_BYTES = 64 * 1024
MAX_FALLBACKS = 32
#: Flask's default PERMANENT_SESSION_LIFETIME (31 days).
PERMANENT_LIFETIME = timedelta(days=31)
#: Flask 3.1's defaults of the config keys that shape the session cookie.
SESSION_DEFAULTS = {
    "APPLICATION_ROOT": "/",
    "SESSION_COOKIE_NAME": COOKIE_NAME,
    "SESSION_COOKIE_DOMAIN": None,
    "SESSION_COOKIE_PATH": None,
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SECURE": False,
    "SESSION_COOKIE_PARTITIONED": False,
    "SESSION_COOKIE_SAMESITE": None,
    "PERMANENT_SESSION_LIFETIME": PERMANENT_LIFETIME,
    "SESSION_REFRESH_EACH_REQUEST": True,
    "SECRET_KEY_FALLBACKS": None,
}
#: A cookie name is an RFC 6265 token: nothing that could end it and start
#: an attribute of the tenant's choosing (``; Domain=...``).
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


@dataclass(frozen=True)
class CookieSettings:
    """How the session cookie of one tenant is named, scoped and kept."""

    name: str = COOKIE_NAME
    path: str = "/"
    httponly: bool = True
    secure: bool = False
    partitioned: bool = False
    samesite: str | None = None
    lifetime: timedelta = PERMANENT_LIFETIME
    refresh_each_request: bool = True
    #: Older secret keys a cookie may still be signed with (Flask 3.1's
    #: ``SECRET_KEY_FALLBACKS``); new cookies are signed with the current one.
    fallbacks: tuple = ()


def as_timedelta(value) -> timedelta:
    """Flask's ``_make_timedelta``: a ``timedelta``, or seconds."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return timedelta(seconds=value)
    raise TypeError("PERMANENT_SESSION_LIFETIME must be a timedelta or a number of seconds")


def signing_key(key, what: str = "SECRET_KEY") -> str:
    """A secret key as the session's serializer takes it: ``str`` as it is,
    ``bytes`` read as latin-1 (the same bytes to HMAC), at most
    :data:`MAX_KEY_BYTES`.

    :raises TypeError: for anything else (Flask's ``hmac`` would refuse it
        too; ``bytes(n)`` of an int was n bytes of the host's memory).
    :raises ValueError: past the bound.
    """
    if isinstance(key, str):
        key = plain_text(key)
    elif isinstance(key, (bytes, bytearray)):
        key = bytes(key).decode("latin-1")
    else:
        raise TypeError(f"{what} must be a str or bytes, not {type(key).__name__}")
    if len(key) > MAX_KEY_BYTES:
        raise ValueError(f"{what} is over {MAX_KEY_BYTES} bytes")
    return key


def cookie_settings(app, warn=None) -> CookieSettings:
    """The session cookie's settings from ``app``'s config (Flask's
    defaults without an app); its path is the app's, confined to the
    tenant's mount as the answer goes out (:mod:`muxserver.http.origin_scope`).

    :param warn: ``warn(text)`` logs what the server does not honour (a
        ``SESSION_COOKIE_DOMAIN``).
    :raises ValueError: for a cookie name that is not a token.
    """
    config = getattr(app, "config", None) or {}

    def get(key):
        return config.get(key, SESSION_DEFAULTS[key])

    name = get("SESSION_COOKIE_NAME")
    if not isinstance(name, str) or not _TOKEN.fullmatch(name):
        raise ValueError(f"SESSION_COOKIE_NAME must be a cookie name (letters, digits and "
                         f"!#$%&'*+-.^_`|~), not {safe_repr(name, 100)}")
    if get("SESSION_COOKIE_DOMAIN") and warn is not None:
        warn(f"SESSION_COOKIE_DOMAIN ({safe_repr(get('SESSION_COOKIE_DOMAIN'), 100)}) is not "
             "used here: "
             "a Domain would send the session cookie to other tenants' hosts; it stays "
             "host-only")
    samesite = get("SESSION_COOKIE_SAMESITE")
    if samesite is not None and not isinstance(samesite, str):
        raise ValueError("SESSION_COOKIE_SAMESITE must be 'Strict', 'Lax', 'None' or None")
    fallbacks = get("SECRET_KEY_FALLBACKS") or ()
    if isinstance(fallbacks, (str, bytes)):
        raise ValueError("SECRET_KEY_FALLBACKS must be a list of keys (str or bytes)")
    fallbacks = tuple(itertools.islice(fallbacks, MAX_FALLBACKS + 1))
    if not all(isinstance(key, (str, bytes)) for key in fallbacks):
        raise ValueError("SECRET_KEY_FALLBACKS must be a list of keys (str or bytes)")
    if len(fallbacks) > MAX_FALLBACKS:
        raise ValueError(f"SECRET_KEY_FALLBACKS holds more than {MAX_FALLBACKS} keys (each is "
                         "tried on every session cookie)")
    return CookieSettings(
        fallbacks=tuple(signing_key(key, "a key of SECRET_KEY_FALLBACKS") for key in fallbacks),
        name=name,
        path=confined_path(get("SESSION_COOKIE_PATH") or get("APPLICATION_ROOT"), ""),
        httponly=bool(get("SESSION_COOKIE_HTTPONLY")),
        secure=bool(get("SESSION_COOKIE_SECURE")),
        partitioned=bool(get("SESSION_COOKIE_PARTITIONED")),
        samesite=samesite,
        lifetime=as_timedelta(get("PERMANENT_SESSION_LIFETIME")),
        refresh_each_request=bool(get("SESSION_REFRESH_EACH_REQUEST")),
    )


class SessionTooLarge(ValueError):
    pass


@declared("modified accessed permanent new")
class TenantSession(dict):
    """The session of one request: a dict that knows it was changed, and
    read (``accessed``: by ``[key]``, ``get``, ``setdefault`` or a change,
    as Flask's ``SecureCookieSession`` counts it)."""

    _guarded_writes = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.modified = False
        self.accessed = False
        # Flask's SessionMixin hard-codes False ("not guaranteed"): its cookie
        # session never says it is new, so neither does this one.
        self.new = False

    def __getitem__(self, key):
        self.accessed = True
        return super().__getitem__(key)

    def get(self, key, default=None):
        self.accessed = True
        return super().get(key, default)

    @property
    def permanent(self) -> bool:
        """Flask's ``session.permanent``: kept in the session as
        ``_permanent``, so setting it is a change."""
        return self.get("_permanent", False)

    @permanent.setter
    def permanent(self, value) -> None:
        self["_permanent"] = bool(value)

    def _changed(self):
        self.modified = True
        self.accessed = True

    def __setitem__(self, key, value):
        self._changed()
        super().__setitem__(key, value)

    def __delitem__(self, key):
        self._changed()
        super().__delitem__(key)

    def clear(self):
        self._changed()
        super().clear()

    def pop(self, key, *default):
        if key in self:
            self._changed()
        return super().pop(key, *default)

    def popitem(self):
        self._changed()
        return super().popitem()

    def setdefault(self, key, default=None):
        self.accessed = True
        if key not in self:
            self._changed()
        return super().setdefault(key, default)

    def update(self, *args, **kwargs):
        self._changed()
        super().update(*args, **kwargs)


_TAGGED = None


def _tagged_json():
    """Flask's own session serializer (``flask.json.tag``): tuples, bytes,
    ``Markup``, ``UUID`` and datetimes come back as they went in, and a
    cookie reads the same here and on Flask. Imported on the first session
    (1.6 MiB a serving process that serves none does not pay). A cookie's
    text over :data:`MAX_SESSION_TEXT` is not parsed (it reads as no
    session, as a forged one does)."""
    global _TAGGED
    if _TAGGED is None:
        from flask.json.provider import _default
        from flask.json.tag import TaggedJSONSerializer

        class BoundedTaggedJSON(TaggedJSONSerializer):
            def dumps(self, value):
                # As Flask's app JSON writes it inside a request: keys sorted
                # (outside an app context the serializer does not sort).
                return json.dumps(self.tag(value), separators=(",", ":"), sort_keys=True,
                                  default=_default)

            def loads(self, value):
                if len(value) > MAX_SESSION_TEXT:
                    raise ValueError(f"a session cookie's text is over {MAX_SESSION_TEXT} bytes")
                return super().loads(value)

        _TAGGED = BoundedTaggedJSON()
    return _TAGGED


def _serializer(secret: str, fallbacks: tuple = ()) -> URLSafeTimedSerializer:
    # itsdangerous signs with the last key and accepts any (Flask 3.1's order).
    return URLSafeTimedSerializer(
        [*fallbacks, secret], salt="cookie-session", serializer=_tagged_json(),
        signer_kwargs={"key_derivation": "hmac", "digest_method": hashlib.sha1},
    )


def open_session(secret: str, cookie: str | None,
                 settings: CookieSettings = CookieSettings()) -> TenantSession:
    """The session from the request's cookie (empty if absent, forged or
    older than the permanent lifetime, as Flask reads it)."""
    if not cookie or len(cookie) > MAX_COOKIE_BYTES:
        # Longer than any cookie this server writes or a browser keeps: not
        # decompressed (zlib's 1000-fold would be the host's to pay).
        return TenantSession()
    try:
        data = _serializer(secret, settings.fallbacks).loads(
            cookie, max_age=int(settings.lifetime.total_seconds()))
    except (BadSignature, ValueError, TypeError):
        return TenantSession()
    if not isinstance(data, dict):
        return TenantSession()
    return TenantSession(data)


def _sized(data: dict) -> dict:
    """``data`` once sized as JSON text (:data:`MAX_SESSION_TEXT`), with
    its containers plain if any was a tenant's subclass (what is sized is
    what is encoded: :func:`sandbox.facades.jsontext.plain_json`).

    :raises SessionTooLarge: past the bound.
    """
    odd: list = []
    spent, _ = json_text_size(data, odd=odd, limit=MAX_SESSION_TEXT)
    if spent > MAX_SESSION_TEXT:
        raise SessionTooLarge(f"the session holds more than {MAX_SESSION_TEXT // 1024} KB of "
                              f"JSON; a cookie keeps {MAX_COOKIE_BYTES} bytes")
    return plain_json(data) if odd else data


def save_session(secret: str, session: TenantSession,
                 settings: CookieSettings = CookieSettings()) -> str | None:
    """The ``Set-Cookie`` value Flask's ``save_session`` would send, or None:
    an emptied session deletes the cookie; a changed one — or a permanent
    one, with ``SESSION_REFRESH_EACH_REQUEST`` — sets it, with ``Expires``
    only when permanent."""
    scope = {"path": settings.path, "secure": settings.secure, "httponly": settings.httponly,
             "samesite": settings.samesite, "partitioned": settings.partitioned}
    if not session:
        if session.modified:
            return dump_cookie(settings.name, expires=0, max_age=0, **scope)
        return None
    if not (session.modified or (session.permanent and settings.refresh_each_request)):
        return None
    value = _serializer(secret).dumps(_sized(dict(session)))
    if len(value) > MAX_COOKIE_BYTES:
        raise SessionTooLarge(f"the session cookie would be {len(value)} bytes; browsers keep "
                              f"{MAX_COOKIE_BYTES}")
    expires = datetime.now(timezone.utc) + settings.lifetime if session.permanent else None
    return dump_cookie(settings.name, value, expires=expires, **scope)

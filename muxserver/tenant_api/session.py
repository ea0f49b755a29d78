"""Flask's ``session`` (a signed cookie) and ``flash``.

The cookie is the session's JSON signed with itsdangerous, as Flask signs
it, under the tenant's ``app.secret_key`` (``SECRET_KEY``) or, without one,
a key the server derives per tenant from its own secret — so one tenant's
cookie is never valid for another. Like Flask's, the session is readable by
the client (signed, not encrypted) and limited by cookie size.
"""

from __future__ import annotations

import hashlib
import json

from itsdangerous import BadSignature
from itsdangerous import URLSafeTimedSerializer

from sandbox.guards.declared import declared

COOKIE_NAME = "session"
#: Browsers keep cookies up to about 4 KB; a larger session is refused.
MAX_COOKIE_BYTES = 4093
#: Flask's default PERMANENT_SESSION_LIFETIME (31 days), in seconds.
PERMANENT_LIFETIME_S = 31 * 24 * 3600


class SessionTooLarge(ValueError):
    pass


@declared("modified permanent new")
class TenantSession(dict):
    """The session of one request: a dict that knows it was changed."""

    _guarded_writes = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.modified = False
        self.permanent = False
        self.new = not args

    def _changed(self):
        self.modified = True

    def __setitem__(self, key, value):
        self._changed()
        super().__setitem__(key, value)

    def __delitem__(self, key):
        self._changed()
        super().__delitem__(key)

    def clear(self):
        self._changed()
        super().clear()

    def pop(self, *args):
        self._changed()
        return super().pop(*args)

    def popitem(self):
        self._changed()
        return super().popitem()

    def setdefault(self, key, default=None):
        if key not in self:
            self._changed()
        return super().setdefault(key, default)

    def update(self, *args, **kwargs):
        self._changed()
        super().update(*args, **kwargs)


def _serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(
        secret, salt="cookie-session", serializer=json,
        signer_kwargs={"key_derivation": "hmac", "digest_method": hashlib.sha1},
    )


def open_session(secret: str, cookie: str | None) -> TenantSession:
    """The session from the request's cookie (empty if absent or forged)."""
    if not cookie:
        return TenantSession()
    try:
        data = _serializer(secret).loads(cookie, max_age=PERMANENT_LIFETIME_S)
    except (BadSignature, ValueError, TypeError):
        return TenantSession()
    if not isinstance(data, dict):
        return TenantSession()
    session = TenantSession(data)
    session.new = False
    session.permanent = bool(data.get("_permanent"))
    return session


def save_session(secret: str, session: TenantSession, mount: str) -> str | None:
    """The ``Set-Cookie`` value for a changed session, or None."""
    if not session.modified:
        return None
    path = mount or "/"
    if not session:
        return f"{COOKIE_NAME}=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; HttpOnly; Path={path}"
    data = dict(session)
    if session.permanent:
        data["_permanent"] = True
    value = _serializer(secret).dumps(data)
    if len(value) > MAX_COOKIE_BYTES:
        raise SessionTooLarge(f"the session cookie would be {len(value)} bytes; browsers keep "
                              f"{MAX_COOKIE_BYTES}")
    cookie = f"{COOKIE_NAME}={value}; HttpOnly; Path={path}; SameSite=Lax"
    if session.permanent:
        cookie += f"; Max-Age={PERMANENT_LIFETIME_S}"
    return cookie

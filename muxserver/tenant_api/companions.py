"""What Flask code imports beside ``flask``: werkzeug's helpers and click.

* ``werkzeug.security``: ``generate_password_hash``/``check_password_hash``
  (werkzeug's own; one hash is one long C call, bounded by the request's
  CPU limit when it returns).
* ``werkzeug.utils``: ``secure_filename``.
* ``werkzeug.exceptions``: the HTTP errors (raising ``NotFound()`` answers 404,
  as in Flask).
* ``markupsafe``: ``escape``, ``Markup``, ``escape_silent``, ``soft_str``
  (the library Jinja2 and Flask escape with).

Each is a facade of these names only; werkzeug's modules are never
reachable. (``click`` is :mod:`muxserver.tenant_api.commands`.)
"""

from __future__ import annotations

import markupsafe
from werkzeug import exceptions as wz_exceptions
from werkzeug.security import check_password_hash
from werkzeug.security import generate_password_hash
from werkzeug.utils import secure_filename

from sandbox.facades import ModuleFacade

_HTTP_ERRORS = (
    "HTTPException BadRequest Unauthorized Forbidden NotFound MethodNotAllowed NotAcceptable "
    "RequestTimeout Conflict Gone LengthRequired PreconditionFailed RequestEntityTooLarge "
    "UnsupportedMediaType UnprocessableEntity TooManyRequests InternalServerError "
    "NotImplemented BadGateway ServiceUnavailable"
).split()


def werkzeug_modules() -> dict[str, ModuleFacade]:
    security = ModuleFacade("werkzeug.security", {
        "generate_password_hash": generate_password_hash,
        "check_password_hash": check_password_hash,
    })
    utils = ModuleFacade("werkzeug.utils", {"secure_filename": secure_filename})
    exceptions = ModuleFacade("werkzeug.exceptions",
                              {**{name: getattr(wz_exceptions, name) for name in _HTTP_ERRORS},
                               "abort": wz_exceptions.abort})
    return {
        "werkzeug": ModuleFacade("werkzeug", {"security": security, "utils": utils,
                                              "exceptions": exceptions}),
        "werkzeug.security": security,
        "werkzeug.utils": utils,
        "werkzeug.exceptions": exceptions,
    }


_MARKUPSAFE = ("escape", "Markup", "escape_silent", "soft_str")


def markupsafe_module() -> ModuleFacade:
    return ModuleFacade("markupsafe", {name: getattr(markupsafe, name) for name in _MARKUPSAFE})


#: Module name -> the names it offers (for deploy-time checks).
OFFERED = {
    "werkzeug": frozenset(["security", "utils", "exceptions"]),
    "werkzeug.security": frozenset(["generate_password_hash", "check_password_hash"]),
    "werkzeug.utils": frozenset(["secure_filename"]),
    "werkzeug.exceptions": frozenset([*_HTTP_ERRORS, "abort"]),
    "markupsafe": frozenset(_MARKUPSAFE),
}

"""What Flask code imports beside ``flask``: werkzeug's helpers and click.

* ``werkzeug.security``: ``generate_password_hash``/``check_password_hash``
  (werkzeug's own; one hash is one long C call, bounded by the request's
  CPU limit when it returns).
* ``werkzeug.utils``: ``secure_filename``.
* ``werkzeug.exceptions``: the HTTP errors (raising ``NotFound()`` answers 404,
  as in Flask).
* ``click``: the decorators of Flask CLI commands (``@click.command``,
  ``@click.option``) accepted and never run (there is no command line
  here); ``click.echo`` writes to the tenant's log.

Each is a facade of these names only; werkzeug's and click's modules are
never reachable.
"""

from __future__ import annotations

from werkzeug import exceptions as wz_exceptions
from werkzeug.security import check_password_hash
from werkzeug.security import generate_password_hash
from werkzeug.utils import secure_filename

from sandbox.facades import ModuleFacade
from sandbox.guards import safe_str

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


def click_module(log_line) -> ModuleFacade:
    def decorator_factory(*args, **kwargs):
        if len(args) == 1 and callable(args[0]) and not kwargs:
            return args[0]  # @click.command without parentheses
        return lambda func: func

    def echo(message=None, *args, **kwargs):
        log_line("" if message is None else safe_str(message), "info")

    return ModuleFacade("click", {
        "command": decorator_factory, "group": decorator_factory, "option": decorator_factory,
        "argument": decorator_factory, "pass_context": lambda func: func, "echo": echo,
    })


#: Module name -> the names it offers (for deploy-time checks).
OFFERED = {
    "werkzeug": frozenset(["security", "utils", "exceptions"]),
    "werkzeug.security": frozenset(["generate_password_hash", "check_password_hash"]),
    "werkzeug.utils": frozenset(["secure_filename"]),
    "werkzeug.exceptions": frozenset([*_HTTP_ERRORS, "abort"]),
    "click": frozenset(["command", "group", "option", "argument", "pass_context", "echo"]),
}

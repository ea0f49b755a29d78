"""A tenant's own command-line commands: what ``click`` and ``app.cli``
record, and ``muxserver flask TENANT COMMAND [ARGS...]`` that runs them.

Tenant code declares commands as for Flask's ``flask`` command
(``@app.cli.command("init-db")``, ``@click.command`` then
``app.cli.add_command``, ``@click.option``/``@click.argument``,
``@click.group``, a blueprint's ``bp.cli``). The ``click`` it imports is a
facade: its decorators record :class:`TenantCommand` objects holding plain
data (names, parameter declarations) and the tenant's function. No click
object and no host stream is reachable from tenant code.

:func:`run_command` loads the tenant's app as ``flask --app`` would (the
modules that make it, its ``create_app``), builds a real ``click.Group``
named ``flask`` from what was recorded, and lets click parse the arguments,
print help and usage errors, and give the exit status — the same as click's
(0, 1 for an error in the command or ``Abort``, 2 for a usage error, or the
code of ``ctx.exit``). Each call into tenant code (loading, the command's
function, the ``teardown_appcontext`` hooks) runs inside the tenant's limits
against its ``/data``, with an application context (``current_app``, ``g``).

.. warning::
   Parameter declarations are limited to data: a ``type`` must be
   ``int``/``float``/``str``/``bool`` or one of the facade's click types, a
   ``default`` a plain value, and option ``callback``s are refused (click
   would call them outside the limits). ``envvar`` reads the tenant's
   ``[env]``, never the operator's environment.
"""

from __future__ import annotations

import weakref

import click

from muxserver.tenant_api import context
from sandbox.guards import safe_str_builtin
from sandbox.guards.declared import declared
from sandbox.guards.builtins import TypeGuard

#: The keyword arguments of ``click.option``/``click.argument`` recorded
#: and handed to click; any other is refused when the tenant declares it.
_PARAM_ATTRS = frozenset([
    "type", "default", "required", "help", "is_flag", "flag_value", "multiple", "count",
    "nargs", "show_default", "metavar", "prompt", "confirmation_prompt", "hide_input",
    "envvar", "show_envvar", "hidden", "show_choices",
])
_TYPES = (int, float, str, bool)
#: click.BOOL is left out: its table of words is a dict every user of click shares.
_CLICK_TYPES = {"Choice": click.Choice, "IntRange": click.IntRange, "FloatRange": click.FloatRange,
                "INT": click.INT, "FLOAT": click.FLOAT, "STRING": click.STRING, "UUID": click.UUID}
_MAX_COMMANDS = 1000


def _command_name(func) -> str:
    """click's name for a command made from ``func``: ``init_db_command`` is ``init-db``."""
    name = safe_str_builtin(getattr(func, "__name__", "command")).lower().replace("_", "-")
    left, sep, suffix = name.rpartition("-")
    return left if sep and suffix in ("command", "cmd", "group", "grp") else name


def _plain_type(value):
    """The builtin type a sandbox name stands for (``int`` is a guard there)."""
    return value._type if isinstance(value, TypeGuard) else value


def _check_param(kind: str, decls: tuple, attrs: dict) -> None:
    if not decls or not all(isinstance(d, str) for d in decls):
        raise TypeError(f"click.{kind}() needs its names as strings")
    if "type" in attrs:
        attrs["type"] = _plain_type(attrs["type"])
    for key, value in attrs.items():
        if key not in _PARAM_ATTRS:
            raise TypeError(f"click.{kind}({key}=...) is not supported here")
        if key == "type" and not (value in _TYPES or isinstance(value, click.ParamType)):
            raise TypeError("click type= must be int, float, str, bool or a click type "
                            "(Choice, IntRange, FloatRange)")
        if key in ("default", "flag_value") and callable(value):
            raise TypeError(f"click.{kind}({key}=...) takes a value here, not a function")


@declared("name callback params help short_help hidden")
class TenantCommand:
    """A command recorded by ``@click.command`` or ``cli.command``."""

    __slots__ = ("name", "callback", "params", "help", "short_help", "hidden", "_context")

    def __init__(self, name, callback, params=(), help=None, short_help=None, hidden=False):
        self.name = safe_str_builtin(name)
        self.callback = callback
        #: ``(kind, declarations, attributes)`` of each parameter, in order.
        self.params = list(params)
        self.help = help
        self.short_help = short_help
        self.hidden = bool(hidden)
        self._context = False

    def __call__(self, *args, **kwargs):
        """Calling a command calls its function (click would parse sys.argv)."""
        return self.callback(*args, **kwargs)

    def __repr__(self):
        return f"<Command {self.name}>"


@declared("commands add_command command group")
class TenantGroup(TenantCommand):
    """``@click.group``, ``app.cli`` and ``bp.cli``: commands under a name."""

    __slots__ = ("commands",)

    def __init__(self, name=None, callback=None, params=(), **attrs):
        super().__init__(name or "", callback, params, **attrs)
        self.commands = {}

    def add_command(self, cmd, name=None):
        if not isinstance(cmd, TenantCommand):
            raise TypeError("add_command() takes a command made with click.command or "
                            "cli.command")
        if len(self.commands) >= _MAX_COMMANDS:
            raise RuntimeError(f"more than {_MAX_COMMANDS} commands")
        self.commands[safe_str_builtin(name or cmd.name)] = cmd

    def command(self, *args, **kwargs):
        return _decorator(TenantCommand, args, kwargs, self.add_command)

    def group(self, *args, **kwargs):
        return _decorator(TenantGroup, args, kwargs, self.add_command)


def _decorator(cls, args, kwargs, register=None):
    """click's forms of a command decorator: ``@command``, ``@command()``,
    ``@command("name", help=...)``; ``register`` adds the command to a group."""
    if kwargs.pop("cls", None) is not None:
        raise TypeError("click commands with cls= are not supported here")
    name = args[0] if args and isinstance(args[0], str) else kwargs.pop("name", None)

    def decorator(func):
        cmd = _make_command(cls, func, name, kwargs)
        if register is not None:
            register(cmd)
        return cmd

    if len(args) == 1 and callable(args[0]) and not isinstance(args[0], str):
        return decorator(args[0])
    return decorator


#: Parameters declared on a function before it became a command (click's
#: decorators run bottom-up), and the functions that take the context.
_pending: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_takes_context: weakref.WeakSet = weakref.WeakSet()


def _make_command(cls, func, name, attrs):
    if isinstance(func, TenantCommand):
        raise TypeError("this function is a command already")
    params = list(reversed(_pending.pop(func, [])))
    attrs = {k: v for k, v in attrs.items() if k in ("help", "short_help", "hidden")}
    if attrs.get("help") is None:
        attrs["help"] = getattr(func, "__doc__", None)
    cmd = cls(name if name is not None else _command_name(func), func, params, **attrs)
    cmd._context = func in _takes_context
    return cmd


def _param_decorator(kind):
    def declare(*decls, cls=None, **attrs):
        if cls is not None:
            raise TypeError(f"click.{kind}(cls=...) is not supported here")
        if attrs.get("callback") is not None:
            raise TypeError(f"click.{kind}(callback=...) is not supported here: click would "
                            "call it outside the request's limits")
        attrs.pop("callback", None)
        _check_param(kind, decls, attrs)
        spec = (kind, tuple(decls), dict(attrs))

        def decorator(target):
            if isinstance(target, TenantCommand):
                target.params.insert(0, spec)
            else:
                _pending.setdefault(target, []).append(spec)
            return target

        return decorator

    return declare


@declared("obj info_name params exit fail abort", dynamic=True)
class CommandContext:
    """What ``@click.pass_context`` hands a tenant's command: ``obj``,
    ``params``, ``info_name``, ``exit()``, ``fail()``, ``abort()``."""

    _guarded_writes = True

    def __init__(self, info_name, params):
        self.obj = None
        self.info_name = info_name
        self.params = dict(params)

    def exit(self, code=0):
        raise click.exceptions.Exit(int(code))

    def fail(self, message):
        raise click.UsageError(safe_str_builtin(message))

    def abort(self):
        raise click.Abort()


def _terminal():
    ctx = context.current()
    return ctx.extras.get("terminal") if ctx is not None else None


def click_module(log_line) -> dict:
    """The names of the ``click`` facade for one tenant."""

    def command(*args, **kwargs):
        return _decorator(TenantCommand, args, kwargs)

    def group(*args, **kwargs):
        return _decorator(TenantGroup, args, kwargs)

    def pass_context(func):
        _takes_context.add(func)
        return func

    def echo(message=None, file=None, nl=True, err=False, color=None):
        # The tenant's value as its own str() makes it: sized first (issue 23).
        text = "" if message is None else safe_str_builtin(message)
        terminal = _terminal()
        if terminal is not None:
            terminal.write(text + ("\n" if nl else ""), err)
        else:
            log_line(text, "error" if err else "info")

    def secho(message=None, file=None, nl=True, err=False, color=None, **styles):
        echo(message, file=file, nl=nl, err=err)

    def confirm(text, default=False, abort=False, **kwargs):
        terminal = _terminal()
        if terminal is None:
            raise click.Abort()  # no terminal to ask on while serving a request
        answer = terminal.ask(lambda: click.confirm(safe_str_builtin(text), default=bool(default)))
        if abort and not answer:
            raise click.Abort()
        return answer

    def prompt(text, default=None, type=None, hide_input=False, **kwargs):
        terminal = _terminal()
        if terminal is None:
            raise click.Abort()
        type = _plain_type(type)
        if type is not None and not (type in _TYPES or isinstance(type, click.ParamType)):
            raise TypeError("click.prompt(type=...) must be int, float, str, bool or a click type")
        if callable(default):
            raise TypeError("click.prompt(default=...) takes a value here, not a function")
        return terminal.ask(lambda: click.prompt(safe_str_builtin(text), default=default, type=type,
                                                 hide_input=bool(hide_input)))

    return {
        "command": command, "group": group, "option": _param_decorator("option"),
        "argument": _param_decorator("argument"), "pass_context": pass_context,
        "echo": echo, "secho": secho, "style": lambda text, **styles: safe_str_builtin(text),
        "confirm": confirm, "prompt": prompt,
        "ClickException": click.ClickException, "UsageError": click.UsageError,
        "BadParameter": click.BadParameter, "Abort": click.Abort,
        **_CLICK_TYPES,
    }


def flask_cli_module() -> dict:
    """``flask.cli``: ``with_appcontext`` (every command here has one)."""
    return {"with_appcontext": lambda func: func}


#: What the click facade offers (for deploy-time import checks).
CLICK_NAMES = frozenset(click_module(lambda line, level="info": None))

"""``muxserver flask TENANT COMMAND [ARGS...]``: a tenant's own commands.

What ``flask --app ... COMMAND`` does for a Flask app (the tutorial's
``flask init-db``), for one tenant: load its app the way a cold start does
(the modules that make it, its ``create_app``), gather the commands its code
declared (:mod:`muxserver.tenant_api.commands`), and let a real
``click.Group`` named ``flask`` parse the arguments and run one. The
tenant's code runs in the sandbox, each call under a fresh budget of the
tenant's limits, against its ``/data``; its output (``click.echo``,
``print``, its logs) goes to this terminal, with control characters
escaped. The exit status is click's.

.. warning::
   The command line runs in the operator's process: the CLI applies the
   process layer (``--isolation``) before any tenant code runs, but not the
   server's scrubbed environment; run it with a clean environment
   (``env -i``) on a machine where that matters. Prompts
   (``click.prompt``/``confirm``) count against the command's ``wall_s``.
"""

from __future__ import annotations

import re
import sys

import click

from muxserver.errors import TenantCodeError
from muxserver.errors import TenantLoadError
from muxserver.execution import budget_for
from muxserver.execution import run_limited
from muxserver.tenant_api import context
from muxserver.tenant_api.commands import CommandContext
from muxserver.tenant_api.commands import TenantCommand
from muxserver.tenant_api.commands import TenantGroup
from muxserver.tracebacks import tenant_code_error
from sandbox import LimitExceeded
from sandbox.facades.aio import resolve

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def printable(text: str) -> str:
    """Tenant text for a terminal: control characters (escape sequences
    included) shown as ``\\xNN``, newlines and tabs kept."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


class Terminal:
    """Where a command's output goes: this process's stdout and stderr."""

    def write(self, text: str, err: bool = False) -> None:
        stream = sys.stderr if err else sys.stdout
        stream.write(printable(text))
        stream.flush()

    def ask(self, prompt):
        """Run a click prompt on this terminal."""
        return prompt()


class TerminalLogs:
    """The tenant's log (``print``, ``logging``, ``app.logger``) on the terminal:
    errors and warnings to stderr, the rest to stdout."""

    def __init__(self, terminal: Terminal):
        self.terminal = terminal

    def write(self, tenant, request_id, line, level="info") -> None:
        self.terminal.write(line + "\n", err=level in ("warning", "error", "critical"))


def run_command(app, tenant: str, argv: list[str]) -> int:
    """Run ``flask ARGV`` for ``tenant``; return the exit status click gives.

    :param app: a :class:`~muxserver.app.MuxApp` that scanned the tenants dir.
    """
    registry = app.registry
    state = registry.get(tenant)
    if state is None:
        error = registry.deploy_errors.get(tenant)
        if error is None:
            print(f"muxserver flask: no tenant {tenant!r} in {app.config.tenants_dir}",
                  file=sys.stderr)
            return 2
        for line in error.errors:
            print(line, file=sys.stderr)
        return 1
    terminal = Terminal()
    app.loader.logs = TerminalLogs(terminal)
    runtime = app.loader.runtime_for(state)
    ctx = context.RequestContext(tenant, "cli", endpoint="flask")
    ctx.site = state.site
    ctx.extras["app_context"] = True
    ctx.extras["terminal"] = terminal
    previous = context.push(ctx)
    try:
        try:
            _limited(app, state, "loading", lambda: app.loader.load_app(state, runtime))
        except TenantLoadError as exc:
            print(exc.detail or str(exc), file=sys.stderr)
            return 1
        except LimitExceeded as exc:
            print(f"Error: loading {tenant} stopped: {exc.message}", file=sys.stderr)
            return 1
        group = _click_group(app, state)
        try:
            group.main(list(argv), prog_name="flask", standalone_mode=True)
        except SystemExit as exc:  # click ends every run with it
            return exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
        except TenantCodeError as exc:
            print(exc.detail, file=sys.stderr)
            return 1
        return 0
    finally:
        context.pop(previous)


def _limited(app, state, label: str, func):
    budget = budget_for(state.spec.manifest.limits, state.name,
                        f"tenant={state.name} flask {label}")
    try:
        return run_limited(budget, func)
    finally:
        state.end_request(None, budget)


def _click_group(app, state) -> click.Group:
    """A real click group of the commands the tenant's apps declared:
    the app's own at the top, a registered blueprint's under its name."""
    top = click.Group("flask", help=f"Commands of tenant {state.name}.")
    apps = state.site.apps
    for flask_app in apps:
        if flask_app.is_blueprint or flask_app._cli is None:
            continue
        for name, cmd in flask_app._cli.commands.items():
            top.add_command(_click_command(app, state, cmd, name), name)
        for blueprint in flask_app._blueprints:
            if blueprint._cli is not None and blueprint._cli.commands:
                group = _click_command(app, state, blueprint._cli, blueprint.name)
                top.add_command(group, blueprint.name)
    return top


def _click_command(app, state, cmd: TenantCommand, path: str) -> click.Command:
    env = state.spec.manifest.env
    params = [_click_param(spec, env) for spec in cmd.params]
    callback = _callback(app, state, cmd, path) if cmd.callback is not None else None
    if isinstance(cmd, TenantGroup):
        group = click.Group(path.rsplit(" ", 1)[-1], params=params, callback=callback,
                            help=cmd.help, short_help=cmd.short_help, hidden=cmd.hidden)
        for name, sub in cmd.commands.items():
            group.add_command(_click_command(app, state, sub, f"{path} {name}"), name)
        return group
    return click.Command(path.rsplit(" ", 1)[-1], params=params, callback=callback,
                         help=cmd.help, short_help=cmd.short_help, hidden=cmd.hidden)


def _click_param(spec, env) -> click.Parameter:
    kind, decls, attrs = spec
    attrs = dict(attrs)
    envvar = attrs.pop("envvar", None)
    attrs.pop("show_envvar", None)
    names = [envvar] if isinstance(envvar, str) else list(envvar or ())
    for name in names:
        # The tenant's [env], never the operator's environment.
        if name in env:
            attrs["default"] = env[name]
            attrs["required"] = False
            break
    if kind == "argument":
        for key in ("help", "show_default", "prompt", "confirmation_prompt", "hide_input",
                    "is_flag", "flag_value", "count", "hidden", "show_choices"):
            attrs.pop(key, None)
        return click.Argument(decls, **attrs)
    return click.Option(decls, **attrs)


def _callback(app, state, cmd: TenantCommand, path: str):
    tenants_dir = app.config.tenants_dir

    def call(**kwargs):
        args = (CommandContext(path, kwargs),) if cmd._context else ()

        def body():
            try:
                try:
                    return resolve(cmd.callback(*args, **kwargs))
                finally:
                    # Flask pops the app context after the command: its
                    # teardown_appcontext hooks run (flaskr closes its db).
                    for flask_app in state.site.apps:
                        for hook in flask_app._teardown:
                            resolve(hook(None))
            except (click.ClickException, click.Abort, click.exceptions.Exit):
                raise
            except Exception as exc:
                raise tenant_code_error(exc, f"flask {path}", tenants_dir) from None

        try:
            _limited(app, state, path, body)
        except LimitExceeded as exc:
            raise click.ClickException(f"{path} stopped: {exc.message}") from None

    return call

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
from muxserver.tenancy import lease as leases
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
    with leases.take(state, "cli", "flask", capped=False) as lease:
        generation = lease.pin()
        runtime = app.loader.runtime_for(generation)
        lease.ctx.site = generation.site
        lease.ctx.extras["app_context"] = True  # g and current_app, as under `flask`
        lease.ctx.extras["terminal"] = terminal
        command = _Command(app, state, generation)
        try:
            command.limited("loading", lambda: app.loader.load_app(generation, runtime))
        except TenantLoadError as exc:
            print(exc.detail or str(exc), file=sys.stderr)
            return 1
        except LimitExceeded as exc:
            print(f"Error: loading {tenant} stopped: {exc.message}", file=sys.stderr)
            return 1
        try:
            command.group().main(list(argv), prog_name="flask", standalone_mode=True)
        except SystemExit as exc:  # click ends every run with it
            return exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
        except TenantCodeError as exc:
            print(exc.detail, file=sys.stderr)
            return 1
        return 0


class _Command:
    """The click objects of one run, calling into one pinned generation."""

    def __init__(self, app, state, generation):
        self.app = app
        self.state = state
        self.generation = generation

    def limited(self, label: str, func):
        """``func()`` under a fresh budget of the tenant's limits; what it left
        open in its databases is rolled back after, as after a request."""
        state = self.state
        budget = budget_for(state.spec.manifest.limits, state.name,
                            f"tenant={state.name} flask {label}")
        try:
            return run_limited(budget, func)
        finally:
            self.generation.runtime.sqlite.end_request(budget)

    def group(self) -> click.Group:
        """A real click group of the commands the tenant's apps declared:
        the app's own at the top, a registered blueprint's under its name."""
        top = click.Group("flask", help=f"Commands of tenant {self.state.name}.")
        for flask_app in self.generation.site.apps:
            if flask_app.is_blueprint or flask_app._cli is None:
                continue
            for name, cmd in flask_app._cli.commands.items():
                top.add_command(self.command(cmd, name), name)
            for blueprint in flask_app._blueprints:
                if blueprint._cli is not None and blueprint._cli.commands:
                    top.add_command(self.command(blueprint._cli, blueprint.name), blueprint.name)
        return top

    def command(self, cmd: TenantCommand, path: str) -> click.Command:
        env = self.state.spec.manifest.env
        params = [_click_param(spec, env) for spec in cmd.params]
        callback = self.callback(cmd, path) if cmd.callback is not None else None
        name = path.rsplit(" ", 1)[-1]
        if isinstance(cmd, TenantGroup):
            group = click.Group(name, params=params, callback=callback, help=cmd.help,
                                short_help=cmd.short_help, hidden=cmd.hidden)
            for sub_name, sub in cmd.commands.items():
                group.add_command(self.command(sub, f"{path} {sub_name}"), sub_name)
            return group
        return click.Command(name, params=params, callback=callback, help=cmd.help,
                             short_help=cmd.short_help, hidden=cmd.hidden)

    def callback(self, cmd: TenantCommand, path: str):
        root = self.state.spec.root
        apps = self.generation.site.apps

        def call(**kwargs):
            args = (CommandContext(path, kwargs),) if cmd._context else ()

            def body():
                try:
                    try:
                        return resolve(cmd.callback(*args, **kwargs))
                    finally:
                        # Flask pops the app context after the command: its
                        # teardown_appcontext hooks run (flaskr closes its db).
                        for flask_app in apps:
                            for hook in reversed(flask_app._teardown_app):
                                resolve(hook(None))
                except (click.ClickException, click.Abort, click.exceptions.Exit):
                    raise
                except Exception as exc:
                    raise tenant_code_error(exc, f"flask {path}", root) from None

            try:
                self.limited(path, body)
            except LimitExceeded as exc:
                raise click.ClickException(f"{path} stopped: {exc.message}") from None

        return call


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

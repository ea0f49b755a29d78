"""Health checks: a new version imports cleanly before it takes traffic.

A deploy (directory sync, ``PUT /_mux/tenants/<t>``, ``muxserver deploy``)
registers the new version by reading it, then :func:`check_version` imports
each module a request can reach — the endpoints, the modules that make the
app and its factory, the error handlers' modules, the ``[function]`` entry
point, and what they import — in a trial runtime under the tenant's limits,
the way the first requests would. An exception at import time (or a limit
it hits) is a deploy error with the tenant's traceback, and the last good
version keeps serving. At server start nothing is imported (lazy, as
before): a restart does not run every tenant's code.

The supervisor runs the check in a process of its own (:mod:`muxserver.trial`),
locked down like a serving process; run in-process it is the same code
(tests, the in-process app).

.. warning::
   The trial imports against the tenant's real ``/data``: what a module does
   at import time there (``CREATE TABLE IF NOT EXISTS``) is what its first
   request would have done anyway. A module that deletes data at import
   time deletes it at the check too.
"""

from __future__ import annotations

from muxserver.errors import LimitStopped
from muxserver.errors import MuxError
from muxserver.errors import TenantLoadError
from muxserver.tenancy import lease as leases
from muxserver.tenancy.registry import TenantState
from muxserver.tenancy.scanner import endpoint_module
from muxserver.tracebacks import format_tenant_traceback
from muxserver.tracebacks import innermost_tenant_frame


def check_version(spec, loader) -> list[str]:
    """The import errors of ``spec``'s reachable modules (empty: healthy).

    Each error reads ``tenant/file.py:line: importing <module> failed: <what>``
    followed by the tenant's traceback. A process tenant is checked in a
    process of the process tier (:func:`muxserver.trial.run_process_trial`).
    """
    if spec.is_process:
        from muxserver.trial import run_process_trial

        return run_process_trial(loader.config, spec, loader.session_key())
    state = TenantState(spec, superseded=True)  # its generation closes with the lease
    errors: list[str] = []
    seen: set[str] = set()
    lease = leases.take(state, None, capped=False)
    with lease:
        for endpoint in sorted(spec.modules):
            try:
                lease.load(loader, endpoint)
            except TenantLoadError as exc:
                what = exc.detail.rsplit("\n", 1)[-1] if exc.detail else str(exc)
                line = f"{exc.where or spec.name}: importing {endpoint_module(endpoint)} failed: {what}"
                if line not in seen:
                    seen.add(line)
                    errors.append(line + ("\n" + exc.detail if exc.detail else ""))
            except LimitStopped as exc:
                errors.append(f"{spec.name}/{spec.modules[endpoint].file}:1: importing "
                              f"{endpoint_module(endpoint)} was stopped: {exc.message}")
            except MuxError as exc:
                errors.append(f"{spec.name}/{spec.modules[endpoint].file}:1: {exc}")
        if not errors and lease.generation is not None:
            errors.extend(_check_error_handlers(spec, lease))
    return errors


def _check_error_handlers(spec, lease) -> list[str]:
    """Modules that hold only ``errorhandler``s load when a 404 or 405 comes."""
    holders = sorted({d for dotted in spec.error_handlers.values() for d in dotted})
    runtime = lease.runtime
    if not holders or runtime is None:
        return []

    def load(dotted):
        # Inside the limits: formatting the exception runs its __str__.
        try:
            runtime.load_module(dotted, by_host=True)
        except Exception as exc:
            where = innermost_tenant_frame(exc) or f"{spec.name}/{dotted.replace('.', '/')}.py:1"
            detail = format_tenant_traceback(exc, spec.root)
            return f"{where}: importing {dotted} failed: {detail.rsplit(chr(10), 1)[-1]}\n{detail}"
        return None

    errors = []
    for dotted in holders:
        try:
            error = lease.run(f"health check of {dotted}", load, dotted)
        except LimitStopped as exc:
            error = (f"{spec.name}/{dotted.replace('.', '/')}.py:1: importing {dotted} "
                     f"was stopped: {exc.message}")
        if error:
            errors.append(error)
    return errors

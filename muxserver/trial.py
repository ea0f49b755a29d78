"""A health check in a process of its own (see :mod:`muxserver.tenancy.health`).

:func:`run_trial` — called by the supervisor for every new version, and by
``muxserver deploy`` — starts ``python -I`` with a clean environment, hands
it the settings and the version's registration (a pickle: from the trusted
side to the untrusted one), and reads back a JSON list of errors. The trial
process locks itself down like a serving process (it can read the new
version's folder as well) before it imports any tenant code, and it ends
when the check does: nothing a tenant's import does outlives it. A trial
that does not answer within its time is killed and the version refused.
"""

from __future__ import annotations

import json
import logging
import pickle
import shutil
import sys

log = logging.getLogger("muxserver.trial")

#: Seconds a trial may take besides its tenant's limits (interpreter start).
STARTUP_S = 20.0
#: Bytes of answer read from a trial (a process that ran tenant code: what
#: it sends is bounded like what a serving process sends); more is no answer.
MAX_ANSWER_BYTES = 1 << 20
#: Errors kept from an answer, and characters of each.
MAX_ERRORS = 50
MAX_ERROR_CHARS = 4000


def _timeout(spec) -> float:
    limits = spec.manifest.limits
    per_module = min(limits.wall_s, limits.cpu_ms / 1000 * 4 + 1)
    return STARTUP_S + per_module * max(1, len(spec.modules))


def run_trial(config, spec, session_key: bytes | None = None, tempdir: str | None = None,
              quiet: bool = False) -> list[str]:
    """The health-check errors of ``spec`` (empty: healthy), from a trial process.

    :param session_key: what its sessions would be signed with (a trial
        answers no request: a throwaway key by default).
    :param tempdir: a folder of its own (default: one in the server dir).
    :param quiet: drop the trial's log (a command line tool, which prints
        the errors it returns; a server keeps the log in its own).
    """
    import os

    from gevent import subprocess

    from muxserver import launch
    from muxserver import serverdir

    if spec.is_process:
        return run_process_trial(config, spec, session_key or os.urandom(32))

    session_key = session_key or os.urandom(32)
    tempdir = tempdir or serverdir.private_tempdir(config, f"trial-{spec.name}")
    payload = pickle.dumps({"config": launch.config_payload(config, session_key), "spec": spec,
                            "tempdir": tempdir})
    proc = subprocess.Popen(launch.spawn_argv("muxserver.trial:run"), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, env=launch.child_environment(config),
                            stderr=subprocess.DEVNULL if quiet else None)
    try:
        out = _exchange(proc, payload, _timeout(spec))
    except TimeoutError:
        return [f"{spec.name}/: the health check did not finish within {_timeout(spec):.0f} s "
                "(importing its modules takes too long)"]
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        shutil.rmtree(tempdir, ignore_errors=True)
    if out is None:
        return [f"{spec.name}/: the health check process sent more than "
                f"{MAX_ANSWER_BYTES >> 20} MB (its modules write to stdout while imported?)"]
    try:
        errors = json.loads(out)["errors"]
        if not isinstance(errors, list):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        return [f"{spec.name}/: the health check process ended without an answer "
                f"(exit status {proc.returncode})"]
    kept = [str(e)[:MAX_ERROR_CHARS] for e in errors[:MAX_ERRORS]]
    if len(errors) > MAX_ERRORS:
        kept.append(f"{spec.name}/: and {len(errors) - MAX_ERRORS} more errors")
    return kept


def _exchange(proc, payload: bytes, timeout: float) -> bytes | None:
    """Send ``payload`` to ``proc``'s stdin and read its stdout to the end:
    the bytes, or None past :data:`MAX_ANSWER_BYTES` (never held whole).

    :raises TimeoutError: not done within ``timeout`` seconds.
    """
    import gevent

    def send():
        try:
            proc.stdin.write(payload)
            proc.stdin.close()
        except OSError:  # it ended early: its answer (or none) says why
            pass

    writer = gevent.spawn(send)
    chunks, size = [], 0
    try:
        with gevent.Timeout(timeout, TimeoutError):
            while True:
                chunk = proc.stdout.read1(65536) if hasattr(proc.stdout, "read1") \
                    else proc.stdout.read(65536)
                if not chunk:
                    break
                size += len(chunk)
                if size > MAX_ANSWER_BYTES:
                    return None
                chunks.append(chunk)
            proc.wait()
    finally:
        writer.kill()
    return b"".join(chunks)


def run_process_trial(config, spec, session_key: bytes) -> list[str]:
    """A process tenant's health check: a zygote of its own forks a process
    locked down as the tenant's will be, which imports every module a
    request can reach."""
    import socket

    from muxserver.proctier.launcher import ZygoteClient
    from muxserver.proctier.launcher import ZygoteError
    from muxserver.proctier.launcher import start_zygote
    from muxserver.proctier.manager import check_in_process
    from muxserver.proctier.manager import plan_for

    handle = start_zygote(config)
    client = ZygoteClient(socket.socket(fileno=handle.client_end.detach()))
    try:
        return check_in_process(client, plan_for(config, spec, session_key, None),
                                _timeout(spec))
    except ZygoteError as exc:
        return [f"{spec.name}/: cannot check: {exc}"]
    finally:
        client.close()
        handle.stop()


def run(argv: list[str]) -> None:
    """Entry point of the trial process."""
    from gevent import monkey

    monkey.patch_all()
    from muxserver.app import MuxApp
    from muxserver.errors import HaltServer
    from muxserver.launch import config_from_payload
    from muxserver.ops.logs import setup_logging
    from muxserver.process import configure_process
    from muxserver.process import connect_services
    from muxserver.process import lock_down
    from muxserver.tenancy.health import check_version

    from muxserver.worker import die_with_supervisor

    die_with_supervisor()
    data = pickle.loads(sys.stdin.buffer.read())
    config, session_key = config_from_payload(data["config"])
    spec = data["spec"]
    setup_logging(config.log_format, access=False)
    configure_process(config)
    app = MuxApp(config, scan=False, session_key=session_key)
    app.role = "trial"
    try:
        connect_services(app)
        lock_down(app, data["tempdir"], readable=[spec.root])
    except HaltServer as exc:
        print(json.dumps({"errors": [f"{spec.name}/: cannot check: {exc.reason}"]}))
        sys.exit(exc.status)
    errors = check_version(spec, app.loader)
    sys.stdout.write(json.dumps({"errors": errors}))
    sys.stdout.flush()
    sys.exit(0)

"""Run the same small app on Flask itself and on muxserver, and compare.

:class:`Both` sends every request to a real ``flask.Flask`` (werkzeug's test
client on the app the files make) and to a :class:`~muxserver.app.MuxApp`
serving the same files as tenant ``t``, both mounted at ``/t`` (Flask
behind werkzeug's ``DispatcherMiddleware``, so ``url_for`` and redirects
see the same mount), and asserts the two answers agree: status, body and
the headers that matter. Where the two must differ by construction (the
host path inside werkzeug's ETag checksum), the comparison says so in one
place here.
"""

from __future__ import annotations

import importlib
import re
import sys
import textwrap
from pathlib import Path

from werkzeug.exceptions import NotFound
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.test import Client

MOUNT = "/t"
#: Headers compared unless a request names its own list.
HEADERS = ("Content-Type", "Location", "Content-Disposition", "Cache-Control", "Last-Modified",
           "Content-Range", "Accept-Ranges", "Allow", "Content-Encoding", "X-Custom", "Expires")
_ETAG = re.compile(r'^"(\d+(?:\.\d+)?)-(\d+)-\d+"$')


def write_files(root: Path, files: dict[str, str | bytes]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(textwrap.dedent(text))


class FlaskSide:
    """The files imported as a Flask app (the module's ``app``, or what its
    ``create_app()`` returns), in a folder of their own on ``sys.path``;
    the modules it imported are forgotten on :meth:`close`."""

    def __init__(self, root: Path, files: dict, module: str):
        write_files(root, files)
        self._before = set(sys.modules)
        sys.path.insert(0, str(root))
        self._root = str(root)
        self.app = self.make_app(root, module)
        self.client = Client(DispatcherMiddleware(NotFound(), {MOUNT: self.app}))

    @staticmethod
    def make_app(root: Path, module: str):
        loaded = importlib.import_module(module)
        app = getattr(loaded, "app", None)
        return app if app is not None else loaded.create_app()

    def close(self) -> None:
        sys.path.remove(self._root)
        for name in set(sys.modules) - self._before:
            del sys.modules[name]


class CloudFunctionSide(FlaskSide):
    """The files run by Cloud Functions' own runtime (functions-framework's
    ``create_app(target, source)``); ``module`` is ``"main.py:target"``."""

    @staticmethod
    def make_app(root: Path, module: str):
        import functions_framework

        source, target = module.split(":")
        return functions_framework.create_app(target, str(root / source))


class Both:
    """Requests to Flask and to muxserver, compared."""

    def __init__(self, flask_side: FlaskSide, mux_app):
        self.flask = flask_side
        self.mux_app = mux_app
        self.mux = Client(mux_app)

    def request(self, method: str, path: str, *, headers=None, compare=HEADERS,
                body=True, **kwargs):
        """Send one request to both; assert they agree; return both answers.

        :param headers: a dict, or ``headers(side, previous)`` for values that
            differ by side (an ETag from that side's last answer).
        """
        answers = []
        for side, client in (("flask", self.flask.client), ("mux", self.mux)):
            sent = headers(side) if callable(headers) else headers
            # A callable argument is made once per side (an upload's stream is read once).
            own = {k: v(side) if callable(v) else v for k, v in kwargs.items()}
            answers.append(client.open(MOUNT + path, method=method, headers=sent, **own))
        flask_answer, mux_answer = answers
        where = f"{method} {path}"
        assert mux_answer.status_code == flask_answer.status_code, (
            f"{where}: status {mux_answer.status_code} here, {flask_answer.status_code} on Flask; "
            f"body here: {mux_answer.get_data()[:300]!r}")
        for name in compare:
            ours, theirs = mux_answer.headers.get(name), flask_answer.headers.get(name)
            assert ours == theirs, f"{where}: {name} is {ours!r} here, {theirs!r} on Flask"
        self._same_etag(where, flask_answer, mux_answer)
        try:
            if body:
                assert mux_answer.get_data() == flask_answer.get_data(), (
                    f"{where}: body {mux_answer.get_data()[:300]!r} here, "
                    f"{flask_answer.get_data()[:300]!r} on Flask")
        finally:
            for answer in answers:
                answer.get_data()  # kept for the caller, then the files closed
                answer.close()
        return flask_answer, mux_answer

    @staticmethod
    def _same_etag(where, flask_answer, mux_answer) -> None:
        """werkzeug's ETag is ``mtime-size-checksum``; Flask checksums the
        host path, muxserver the name the tenant sees: the rest must agree."""
        theirs, ours = flask_answer.headers.get("ETag"), mux_answer.headers.get("ETag")
        assert (ours is None) == (theirs is None), f"{where}: ETag {ours!r} here, {theirs!r} on Flask"
        if theirs is not None:
            a, b = _ETAG.match(theirs), _ETAG.match(ours)
            assert a and b and a.groups() == b.groups(), f"{where}: ETag {ours} vs {theirs}"

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path, **kwargs):
        return self.request("POST", path, **kwargs)

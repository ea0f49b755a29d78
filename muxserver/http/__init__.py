"""The HTTP layer: connections in, responses out.

One handler and one server class for the serving processes and the
supervisor's admin listener, the drain on SIGTERM, response values turned
into bytes, streamed bodies, static files, the admin API and the console.
"""

#: The environ key under which the connection handler leaves the request's
#: header lines as they came, ``[(name, value), ...]`` as bytes: WSGI keeps
#: only upper-cased names, and API Gateway's REST events keep the client's
#: spelling (:mod:`muxserver.tenant_api.apigateway`). Absent under other
#: servers (werkzeug's test client).
RAW_HEADERS = "muxserver.raw_headers"


def path_text(wsgi_path: str) -> str:
    """The text of a WSGI path: ``PATH_INFO`` holds the request's bytes one
    character each (latin-1, PEP 3333); werkzeug routes on them read as
    UTF-8 (invalid bytes become U+FFFD), so ``/user/J%C3%BCrgen`` is the
    view argument ``"Jürgen"``, and rules and static file names with
    non-ASCII characters match as under Flask."""
    if wsgi_path.isascii():  # most paths: no copy
        return wsgi_path
    return wsgi_path.encode("latin-1").decode("utf-8", "replace")

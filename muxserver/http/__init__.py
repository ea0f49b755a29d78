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

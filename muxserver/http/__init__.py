"""The HTTP layer: connections in, responses out.

One handler and one server class for a single process and for every worker
of ``--workers N`` (gunicorn's arbiter), the drain on SIGTERM, response
values turned into bytes, streamed bodies, static files and the admin API.
"""

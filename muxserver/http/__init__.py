"""The HTTP layer: connections in, responses out.

One handler and one server class for the serving processes and the
supervisor's admin listener, the drain on SIGTERM, response values turned
into bytes, streamed bodies, static files, the admin API and the console.
"""

"""What tenant code sees: ``import mux`` and ``from flask import ...``.

Every object here is handed to tenant code, so each exposes only public
names with plain values, and reaches no socket, WSGI environ, server object
or other tenant.
"""

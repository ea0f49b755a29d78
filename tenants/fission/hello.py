"""A Fission Python function, unchanged: main() reads flask.request."""

from flask import request


def main():
    who = request.headers.get("X-Who", "Fission")
    return f"Hello, {who}! ({request.method})\n"

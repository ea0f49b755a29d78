"""GET /hello/greet?name=Ada : read the query string through the request."""

import html


def get(request):
    name = request.args.get("name", "world")
    return f"Hello, {html.escape(name)}!\n"

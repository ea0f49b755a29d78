"""GET /libs/?lang=fr : uses lib/greetings.py."""

from lib import greetings


def get(request):
    return greetings.greet("tenant", request.args.get("lang", "en")) + "\n"

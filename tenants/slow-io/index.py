"""GET /slow-io/?s=0.5 : sleeps without blocking other tenants (gevent).

Over wall_s (tenant.toml: 2 s) the request answers 504.
"""

import time


def get(request):
    seconds = float(request.args.get("s", "0.5"))
    time.sleep(seconds)
    return f"slept {seconds} s\n"

"""GET /config-env/ (or Host: config.example.test) : reads mux.env."""

import mux


def get():
    return {"greeting": mux.env["GREETING"], "keys": sorted(mux.env)}

"""GET /static-site/ redirects to the static page."""

import mux


def get():
    return mux.redirect("/static-site/static/index.html")

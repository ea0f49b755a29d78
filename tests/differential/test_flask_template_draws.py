"""Jinja's ``|random`` and ``lipsum()`` draw from the tenant's own generator:
the one its ``random`` module draws from, as under Flask both draw from the
process's (so ``random.seed()`` makes a page repeat as there), and never
from a generator another tenant draws from; ``lipsum(n)`` takes a count as
Jinja does."""

import random

import pytest
from werkzeug.test import Client

DRAWING_APP = {"app.py": """
    import random
    from flask import Flask, render_template_string

    app = Flask(__name__)
    random.seed(7)

    @app.route("/")
    def index():
        page = render_template_string(
            "{{ range(1000000)|random }} {{ ['a', 'b', 'c']|random }} {{ lipsum(1, False, 5, 9) }}")
        return page + " " + str(random.randrange(1000))
    """}


def test_a_seeded_app_draws_the_same_pages_as_on_flask(both):
    app = both(DRAWING_APP)
    for _ in range(3):
        app.get("/")


def test_a_tenants_draws_are_its_own(tenants):
    """Tenant ``a`` seeds its generator once and draws one number a request;
    ``b`` draws a thousand between two of them. ``a`` sees the sequence of
    its seed, untouched by ``b``'s draws (the process's generator would give
    ``a`` whatever ``b`` left)."""
    tenants.add("a", {"app.py": """
        import random
        from flask import Flask, render_template_string

        app = Flask(__name__)
        random.seed(11)

        @app.route("/")
        def draw():
            return render_template_string("{{ range(10**9)|random }}")
        """})
    tenants.add("b", {"app.py": """
        from flask import Flask, render_template_string

        app = Flask(__name__)

        @app.route("/")
        def draw():
            return render_template_string(
                "{% for _ in range(1000) %}{{ range(10**9)|random }} {% endfor %}")
        """})
    client = Client(tenants.app())
    seeded = random.Random(11)
    expected = [str(seeded.choice(range(10**9))) for _ in range(3)]
    drawn = [client.get("/a/").get_data(as_text=True)]
    assert len(client.get("/b/").get_data(as_text=True).split()) == 1000
    drawn += [client.get("/a/").get_data(as_text=True) for _ in range(2)]
    assert drawn == expected


COUNTS_APP = {"app.py": """
    import random
    from flask import Flask, render_template_string

    app = Flask(__name__)

    @app.route("/<count>")
    def paragraphs(count):
        random.seed(3)
        value = {"float": 2.0, "text": "2", "true": True, "two": 2}[count]
        try:
            return render_template_string("{{ lipsum(n, False, 2, 5) }}", n=value)
        except TypeError as exc:
            return "TypeError: " + str(exc)
    """}


@pytest.mark.parametrize("count", ["float", "text", "true", "two"])
def test_lipsums_paragraph_count_is_a_count_as_on_flask(both, count):
    """``lipsum(n)`` loops over ``range(n)``: a float or a text is Jinja's
    TypeError there, not five paragraphs."""
    both(COUNTS_APP).get(f"/{count}")

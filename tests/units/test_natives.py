"""It denies an unjudged native entry point: every callable tenant code can
reach (every facade, the tenant API, the builtins, the methods of every
object a tenant program makes) has an entry in the native table
(:mod:`sandbox.guards.native_table`), linear or naming its guard."""

import pytest

from sandbox.guards.native_table import LINEAR
from sandbox.guards.native_table import NATIVES
from sandbox.guards.native_table import verdict
from tests.sandbox.reach import walk_a_tenants_world


@pytest.fixture(scope="module")
def reached(tmp_path_factory):
    return walk_a_tenants_world(tmp_path_factory.mktemp("natives"))


def test_every_reachable_callable_is_in_the_native_table(reached):
    assert len(reached.callables) > 1000  # the walk went everywhere
    missing = sorted(f"{key} (reached as {path})" for key, path in reached.callables.items()
                     if verdict(key) is None)
    assert missing == [], "judge these in sandbox/guards/native_table.py:\n" + "\n".join(missing)


def test_the_table_names_a_guard_for_the_known_bombs():
    """The calls the third attack round used each name their guard."""
    for key in ("builtins.int.to_bytes", "_io.BytesIO.seek", "builtins.str.encode",
                "sandbox.facades.timed_re.Match.expand", "sandbox.facades.timed_re.Pattern.sub",
                "sandbox.facades.numbers._Bounded.randbytes", "sandbox.facades.numbers._Bounded.shuffle",
                "textwrap.indent", "math.prod", "yaml.safe_load", "flask.url_for",
                "flask.render_template_string", "builtins.list.sort", "decimal.Context.power",
                "werkzeug.security.generate_password_hash"):
        assert verdict(key) not in (None, LINEAR), key


def test_every_entry_is_a_verdict():
    for owner, entries in NATIVES.items():
        for name, text in entries.items():
            assert isinstance(text, str) and text, f"{owner}.{name}"

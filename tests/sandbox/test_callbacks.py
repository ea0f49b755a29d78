"""It hands the tenant's callbacks only what the membrane declares.

A tenant program installs every kind of callback the host calls — SQLite
row factories, converters, user functions, aggregates, collations; JSON
hooks; ``re.sub`` replacements; sort keys; Flask's error handlers, hooks
and template callables — each recording what it was given. Every value
recorded must be plain data, the tenant's own, or of a class with a
declaration (:mod:`sandbox.guards.declared`): never a raw ``sqlite3.Cursor``
(whose ``connection`` could drop the authorizer and ATTACH another
tenant's database), never an object nobody reviewed.
"""

import pytest

from sandbox.guards.declared import is_declared
from sandbox.guards.own_objects import is_tenant_object
from tests.sandbox.inprocess import SandboxHost

PROGRAM = """
import json, re, sqlite3, functools
from flask import Flask, render_template_string, abort

app = Flask(__name__)
seen = {}


def record(kind, *values):
    seen.setdefault(kind, []).extend(values)


def row_factory(cursor, row):
    record("row_factory", cursor, row)
    return row


def udf(*args):
    record("create_function", *args)
    return 1


class Aggregate:
    def step(self, *args):
        record("create_aggregate", *args)

    def finalize(self):
        return 1


def collation(a, b):
    record("create_collation", a, b)
    return (a > b) - (a < b)


def convert(value):
    record("register_converter", value)
    return value


def text_factory(value):
    record("text_factory", value)
    return value.decode()


@app.errorhandler(404)
def not_found(error):
    record("errorhandler", error)
    return "nf", 404


@app.after_request
def after(response):
    record("after_request", response)
    return response


@app.route("/")
def index():
    sqlite3.register_converter("POINT", convert)
    db = sqlite3.connect(":memory:", detect_types=sqlite3.PARSE_DECLTYPES)
    db.row_factory = row_factory
    db.text_factory = text_factory
    db.create_function("udf", 2, udf)
    db.create_aggregate("agg", 1, Aggregate)
    db.create_collation("coll", collation)
    db.execute("create table t (p POINT, s TEXT)")
    db.execute("insert into t values (?, ?)", (b"1,2", "b"))
    db.execute("insert into t values (?, ?)", (b"3,4", "a"))
    db.execute("select p, udf(p, s), s from t order by s collate coll").fetchall()
    db.execute("select agg(s) from t").fetchall()
    json.loads('{"a": [1.5]}', object_hook=lambda d: record("object_hook", d) or d,
               parse_float=lambda f: record("parse_float", f) or float(f))
    json.loads('{"a": 1}', object_pairs_hook=lambda p: record("object_pairs_hook", p) or dict(p))
    json.dumps(object(), default=lambda o: record("json_default", o) or "x")
    re.sub("(a)", lambda m: record("re_sub", m) or "b", "aa")
    sorted([3, 1], key=lambda k: record("sort_key", k) or k)
    functools.reduce(lambda a, b: record("reduce", a, b) or a, [1, 2, 3])
    render_template_string("{% for i in [1] %}{{ f(loop, i) }}{% endfor %}{{ g(self) }}",
                           f=lambda *a: record("template_callable", *a) or "",
                           g=lambda *a: record("template_callable", *a) or "")
    abort(404)
"""


@pytest.fixture(scope="module")
def seen(tmp_path_factory):
    host = SandboxHost(tmp_path_factory.mktemp("callbacks"))
    host.write("callbacks", {"index.py": PROGRAM})
    outcome = host.request("callbacks")
    assert outcome.status == 404, outcome
    with host.serving("callbacks") as (_runtime, namespace):
        return dict(namespace["seen"])


KINDS = ["row_factory", "create_function", "create_aggregate", "create_collation",
         "register_converter", "text_factory", "object_hook", "parse_float", "object_pairs_hook",
         "json_default", "re_sub", "sort_key", "reduce", "template_callable", "errorhandler",
         "after_request"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_callback_gets_only_declared_values(seen, kind):
    assert seen.get(kind), f"the {kind} callback never ran"
    for value in seen[kind]:
        cls = type(value)
        assert is_tenant_object(value) or is_declared(cls), \
            f"{kind} was handed a {cls.__module__}.{cls.__qualname__}"


def test_a_row_factory_gets_the_facades_cursor(seen):
    cursor = seen["row_factory"][0]
    assert type(cursor).__module__ == "sandbox.facades.sqlite"


FORMS = {
    "lambda": "seen = []\ndef handler(event, context):\n    seen.extend([event, context, context.identity])\n"
              "    return {'statusCode': 200, 'body': 'ok'}\n",
    "nuclio": "seen = []\ndef handler(context, event):\n"
              "    seen.extend([context, event, context.logger, context.user_data, event.trigger])\n"
              "    return 'ok'\n",
    "openfaas-http": "seen = []\ndef handler(event, context):\n    seen.extend([event, context])\n"
                     "    return {'statusCode': 200, 'body': 'ok'}\n",
}


@pytest.mark.parametrize("form", sorted(FORMS))
def test_an_entry_point_gets_only_declared_values(tmp_path, form):
    """Another platform's entry point is a callback too: its event and
    context objects are declared."""
    host = SandboxHost(tmp_path)
    host.write("f", {"main.py": FORMS[form],
                     "tenant.toml": f'[function]\nentrypoint = "main.handler"\nform = "{form}"\n'})
    outcome = host.request("f")
    assert outcome.status == 200, outcome
    with host.serving("f", module="main") as (_runtime, namespace):
        values = list(namespace["seen"])
    assert values
    for value in values:
        cls = type(value)
        assert is_tenant_object(value) or is_declared(cls), \
            f"the {form} entry point was handed a {cls.__module__}.{cls.__qualname__}"

"""Attack cases by class (SECURITY-NOTES §11 and §12), kept as data.

Each case is ``(class, source, expected)``: ``expected`` is a tuple of the
statuses the attack request may answer (``"deploy"`` when the deploy itself
must be refused), optionally followed by a text that must be in the
tenant's log or deploy errors. Every case is also checked for what it must
*not* do, whatever it answers: leak the secret, change another tenant's
answers, or keep a calm tenant from answering while it runs
(``tests/sandbox/test_attack_classes.py``).
"""

MB = "S = 'x' * 2**20\n"
REFUSED = (500,)
LIMIT = (503, 504)

CASES = {
    # -- facade doors: parameters that are callables, names, formats, memos --
    "update_wrapper_assigned_globals": ("facade", "import functools, json\ndef w():\n    pass\ndef get():\n"
        "    functools.update_wrapper(w, json.dumps, assigned=('__globals__',))\n    return 'x'\n",
        (500, "no assigned= or updated=")),
    "update_wrapper_updated_globals": ("facade", "import functools, json\ndef w():\n    pass\ndef get():\n"
        "    functools.update_wrapper(w, json.dumps, updated=('__globals__',))\n    return 'x'\n",
        (500, "no assigned= or updated=")),
    "wraps_updated_dict": ("facade", "import functools, json\ndef get():\n"
        "    @functools.wraps(json.dumps, updated=['__dict__'])\n    def w():\n        pass\n    return 'x'\n",
        (500, "no assigned= or updated=")),
    "update_wrapper_on_host_function": ("facade", "import functools, json\ndef f():\n    pass\ndef get():\n"
        "    functools.update_wrapper(json.dumps, f)\n    return 'x'\n", (500, "functions you defined")),
    "wraps_copies_plain_names_only": ("facade", "import functools, json\ndef get():\n"
        "    @functools.wraps(json.dumps)\n    def w():\n        return 'wrapped'\n    return w()\n", (200,)),
    "attrgetter_dunder": ("facade", "import operator\ndef get():\n"
        "    return str(operator.attrgetter('__class__.__mro__')(1))\n", (500, "invalid attribute name")),
    "methodcaller_reduce_request": ("facade", "import operator, mux\ndef get():\n"
        "    return str(operator.methodcaller('__reduce_ex__', 2)(mux.request))\n", REFUSED),
    "format_field_globals": ("facade", "def f():\n    pass\ndef get():\n"
        "    return '{0.__globals__}'.format(f)\n", REFUSED),
    "unbound_str_format": ("facade", "def get():\n    return str.format('{0.__class__}', 1)\n", REFUSED),
    "format_setattr_globals": ("facade", "def get():\n"
        "    return '{0.__globals__[builtins]}'.format(setattr)\n", REFUSED),
    "getattr_private_slot": ("facade", "import mux\ndef get():\n    return str(getattr(mux.request, '_r'))\n",
        REFUSED),
    "partial_getattr_private": ("facade", "import functools, mux\ndef get():\n"
        "    return str(functools.partial(getattr, mux.request)('_r'))\n", REFUSED),
    "reduce_getattr_dunder": ("facade", "import functools\ndef get():\n"
        "    return str(functools.reduce(getattr, ['__class__', '__mro__'], 1))\n", REFUSED),
    "deepcopy_request": ("facade", "import copy, mux\ndef get():\n"
        "    return str(copy.deepcopy(mux.request))\n", (500, "copying")),
    "copy_request": ("facade", "import copy, mux\ndef get():\n    return str(copy.copy(mux.request))\n",
        (500, "copying")),
    "deepcopy_memo": ("facade", "import copy, mux\ndef get():\n    memo = {}\n"
        "    copy.deepcopy([mux.request], memo)\n    return str(list(memo.values()))\n", (500, "no memo")),
    "deepcopy_object_holding_request": ("facade", "import copy, mux\nclass A:\n    pass\ndef get():\n"
        "    a = A()\n    a.r = mux.request\n    return str(copy.deepcopy(a).r)\n", (500, "copying")),
    "deepcopy_plain_data_works": ("facade", "import copy\nclass P:\n    pass\ndef get():\n    p = P()\n"
        "    p.items = [{'a': (1, 2.5, None)}]\n    q = copy.deepcopy(p)\n    q.items[0]['a'] = 0\n"
        "    return str(p.items)\n", (200,)),
    "enum_functional_del": ("facade", "import enum\ndef f(self):\n    pass\ndef get():\n"
        "    enum.Enum('E', {'__del__': f, 'A': 1})\n    return 'x'\n", (500, "must not start with '_'")),
    "enum_functional_missing_hook": ("facade", "import enum\ndef f(cls, v):\n    return None\ndef get():\n"
        "    enum.Enum('E', [('_missing_', f)])\n    return 'x'\n", (500, "must not start with '_'")),
    "enum_subclass_functional_del": ("facade", "import enum\nclass B(enum.Enum):\n    pass\n"
        "def f(self):\n    pass\ndef get():\n    B('E', {'__del__': f})\n    return 'x'\n",
        (500, "must not start with '_'")),
    "enum_mixin_host_type": ("facade", "import enum, json\ndef get():\n"
        "    enum.Enum('E', 'a b', type=json.JSONEncoder)\n    return 'x'\n", (500, "type= must be a class")),
    "namedtuple_rename_dunder": ("facade", "import collections\ndef get():\n"
        "    collections.namedtuple('N', ['__del__'], rename=True)\n    return 'x'\n", (500, "rename=True")),
    "namedtuple_dunder": ("facade", "import collections\ndef get():\n"
        "    collections.namedtuple('N', ['__del__'])\n    return 'x'\n", REFUSED),
    "typing_namedtuple_dunder": ("facade", "import typing\ndef get():\n"
        "    typing.NamedTuple('N', [('__del__', int)])\n    return 'x'\n", (500, "must not start with '_'")),
    "typeddict_dunder": ("facade", "import typing\ndef get():\n"
        "    typing.TypedDict('T', {'__init__': int})\n    return 'x'\n", (500, "must not start with '_'")),
    "dataclass_on_host_class": ("facade", "import dataclasses, json\ndef get():\n"
        "    dataclasses.dataclass(json.JSONEncoder)\n    return 'x'\n", (500, "classes you defined")),
    "dataclass_replace_request": ("facade", "import dataclasses, mux\ndef get():\n"
        "    return str(dataclasses.replace(mux.request))\n", REFUSED),
    # -- lookups that would yield a module, frame, code or globals ------------
    "json_codecs": ("lookup", "import json\ndef get():\n    return str(json.codecs)\n", REFUSED),
    "re_enum_builtins": ("lookup", "import re\ndef get():\n    return str(re.enum)\n", REFUSED),
    "urllib_parse_sys": ("lookup", "import urllib.parse\ndef get():\n    return str(urllib.parse.sys)\n",
        REFUSED),
    "typing_sys": ("lookup", "import typing\ndef get():\n    return str(typing.sys)\n", REFUSED),
    "dataclasses_inspect": ("lookup", "import dataclasses\ndef get():\n    return str(dataclasses.inspect)\n",
        REFUSED),
    "collections_abc_sys": ("lookup", "import collections\ndef get():\n"
        "    return str(collections.abc.sys)\n", REFUSED),
    "getattr_function_globals": ("lookup", "import json\ndef get():\n"
        "    return str(getattr(json.dumps, '__globals__'))\n", REFUSED),
    "module_dict_literal": ("lookup", "import mux\ndef get():\n    return str(mux.__dict__)\n",
        ("deploy", "__dict__")),
    "generator_frame_globals": ("lookup", "def g():\n    yield 1\ndef get():\n    x = g()\n"
        "    return str(getattr(x, 'gi_frame'))\n", REFUSED),
    "traceback_frame": ("lookup", "def get():\n    try:\n        1 / 0\n    except Exception as e:\n"
        "        return str(getattr(e, '__traceback__'))\n", REFUSED),
    # -- writes into host-owned objects -----------------------------------------
    "json_encoder_class_attr": ("write", "import json\ndef get():\n"
        "    json.JSONEncoder.item_separator = ';'\n    return 'x'\n", REFUSED),
    "response_class_attr": ("write", "import mux\ndef get():\n"
        "    mux.Response.default_mimetype = 'text/evil'\n    return 'x'\n", REFUSED),
    "facade_setattr": ("write", "import json\ndef f(*a, **k):\n    return 'pwned'\ndef get():\n"
        "    setattr(json, 'dumps', f)\n    return 'x'\n", REFUSED),
    "string_constant_rebind": ("write", "import string\ndef get():\n"
        "    string.ascii_lowercase = 'pwned'\n    return 'x'\n", REFUSED),
    "random_class_attr": ("write", "import random\ndef get():\n    random.Random.VERSION = 9\n    return 'x'\n",
        REFUSED),
    "request_args_write": ("write", "import mux\ndef get():\n    mux.request.args['a'] = 'b'\n    return 'x'\n",
        REFUSED),
    "env_write": ("write", "import mux\ndef get():\n    mux.env['GREETING'] = 'pwned'\n    return 'x'\n",
        REFUSED),
    "operator_setitem_env": ("write", "import operator, mux\ndef get():\n"
        "    operator.setitem(mux.env, 'X', '1')\n    return 'x'\n", REFUSED),
    "decimal_shared_context": ("write", "import decimal\ndef get():\n"
        "    decimal.getcontext().traps[decimal.Inexact] = True\n    return 'x'\n", REFUSED),
    "html_entities_table": ("write", "import html\ndef get():\n"
        "    html.entities.html5['amp;'] = 'pwned'\n    return 'x'\n", REFUSED),
    # -- process-wide caches ------------------------------------------------------
    "typing_union_cache_poison": ("cache", "import typing\nclass X:\n    def __eq__(self, other):\n"
        "        return True\n    def __hash__(self):\n        return hash(dict)\n    def __call__(self):\n"
        "        pass\ndef get():\n    typing.Union[X(), None]\n    typing.Optional[X()]\n    return 'x'\n",
        (200, 500)),
    "urlsplit_cache_fill": ("cache", "import urllib.parse\ndef get():\n    for i in range(200):\n"
        "        urllib.parse.urlsplit('http://a/' + str(i) + 'x' * (3 * 2**20))\n    return 'x'\n",
        (500, "takes at most")),
    "regex_many_patterns": ("cache", "import re\ndef get():\n    for i in range(500):\n"
        "        re.compile('a{%d}' % i).match('a')\n    return 'x'\n", (200,)),
    "lru_cache_is_the_tenants": ("cache", "import functools\n@functools.lru_cache(maxsize=2)\n"
        "def f(x):\n    return x * 2\ndef get():\n    return str(f(2) + f(3))\n", (200,)),
    # -- tenant code outside any request -------------------------------------------
    "generator_finally_in_cycle": ("outside", "class Box:\n    pass\ndef forever():\n    try:\n"
        "        yield 1\n    finally:\n        while True:\n            pass\n"
        "def get():\n    b = Box()\n    b.me = b\n    b.g = forever()\n    next(b.g)\n    return 'armed'\n",
        (200,)),
    "generator_finally_sleeps_in_cycle": ("outside", "import time\nclass Box:\n    pass\ndef forever():\n"
        "    try:\n        yield 1\n    finally:\n        time.sleep(100)\n"
        "def get():\n    b = Box()\n    b.me = b\n    b.g = forever()\n    next(b.g)\n    return 'armed'\n",
        (200,)),
    "del_in_class_statement": ("outside", "class A:\n    def __del__(self):\n        while True:\n"
        "            pass\ndef get():\n    return 'x'\n", ("deploy", "__del__")),
    "weakref_callback": ("outside", "import weakref\ndef get():\n    return 'x'\n", ("deploy", "weakref")),
    "finally_loops_after_kill": ("outside", "def get():\n    try:\n        while True:\n            pass\n"
        "    finally:\n        while True:\n            pass\n", LIMIT),
    # -- growth in one call ------------------------------------------------------------
    "join_many_copies": ("growth", MB + "def get():\n    return str(len(''.join([S] * 2000)))\n", LIMIT),
    "operator_add_doubling": ("growth", "import operator\ndef get():\n    s = 'x'\n    for i in range(40):\n"
        "        s = operator.add(s, s)\n    return str(len(s))\n", LIMIT),
    "operator_concat_doubling": ("growth", "import operator\ndef get():\n    s = [0]\n    for i in range(40):\n"
        "        s = operator.concat(s, s)\n    return str(len(s))\n", LIMIT),
    "concat_doubling": ("growth", "def get():\n    s = 'x'\n    for i in range(40):\n        s = s + s\n"
        "    return str(len(s))\n", LIMIT),
    "tuple_concat_doubling": ("growth", "def get():\n    t = (1,)\n    for i in range(40):\n        t = t + t\n"
        "    return str(len(t))\n", LIMIT),
    "augmented_concat_doubling": ("growth", "def get():\n    s = b'x'\n    for i in range(40):\n"
        "        s += s\n    return str(len(s))\n", LIMIT),
    "fstring_many_fields": ("growth", MB + "def get():\n    return str(len(f'" + "{S}" * 300 + "'))\n", LIMIT),
    "percent_format_many": ("growth", MB + "def get():\n    return str(len(('%s' * 300) % ((S,) * 300)))\n",
        LIMIT),
    "str_format_many": ("growth", MB + "def get():\n    return str(len(('{}' * 300).format(*([S] * 300))))\n",
        LIMIT),
    "translate_expanding": ("growth", "def get():\n"
        "    return str(len(('a' * 10**6).translate({97: 'b' * 1000})))\n", LIMIT),
    "json_dumps_repeated_value": ("growth", MB + "import json\ndef get():\n"
        "    return str(len(json.dumps([S] * 2000)))\n", LIMIT),
    "json_dumps_long_separators": ("growth", "import json\ndef get():\n"
        "    return str(len(json.dumps([1] * 10**5, separators=(',' * 10**4, ':'))))\n",
        (500, "separators")),
    "shake_huge_digest": ("growth", "import hashlib\ndef get():\n"
        "    return str(len(hashlib.shake_256(b'x').hexdigest(10**10)))\n", LIMIT),
    "str_of_repeated_list": ("growth", MB + "def get():\n    return str(len(str([S] * 2000)))\n", LIMIT),
    "repr_of_repeated_list": ("growth", MB + "def get():\n    return str(len(repr([S] * 2000)))\n", LIMIT),
    "unbound_join": ("growth", MB + "def get():\n    return str(len(str.join('', [S] * 2000)))\n", LIMIT),
    "bytes_join_many": ("growth", "B = b'y' * 2**20\ndef get():\n    return str(len(b''.join([B] * 2000)))\n",
        LIMIT),
    "re_sub_expanding": ("growth", "import re\ndef get():\n"
        "    return str(len(re.sub('a', 'b' * 1000, 'a' * 10**6)))\n", LIMIT),
    "format_builtin_list": ("growth", MB + "def get():\n    return str(len(format([S] * 2000)))\n", LIMIT),
    # -- long single calls ------------------------------------------------------------
    "int_from_bytes_huge": ("long", "def get():\n"
        "    x = int.from_bytes(b'\\xff' * 10**7, 'big')\n    return str(x % 7)\n", (500, "from_bytes")),
    "int_from_bytes_via_instance": ("long", "def get():\n"
        "    x = (0).from_bytes(b'\\xff' * 10**7, 'big')\n    return str(x % 7)\n", (500, "from_bytes")),
    "html_unescape_huge": ("long", "import html\ndef get():\n"
        "    return str(len(html.unescape('&amp;' * 4 * 10**6)))\n", LIMIT),
    "unquote_huge": ("long", "import urllib.parse\ndef get():\n"
        "    return str(len(urllib.parse.unquote('%41' * 10**6)))\n", (500, "takes at most")),
    "statistics_pure_python": ("long", "import statistics\ndef get():\n"
        "    return str(statistics.stdev(range(3 * 10**6)))\n", LIMIT),
    "fraction_squaring": ("long", "import fractions\ndef get():\n    f = fractions.Fraction(2, 3)\n"
        "    for i in range(40):\n        f = f * f\n    return str(f.numerator % 7)\n", LIMIT + (500,)),
    "math_prod_growing": ("long", "import math\ndef get():\n"
        "    return str(math.prod([10**5000] * 10**4) % 7)\n", LIMIT + (500,)),
    "pow_big_modulus": ("long", "def get():\n    return str(pow(3, 10**100, 2**8192 + 1))\n", (500,)),
    "decimal_huge_precision": ("long", "import decimal\ndef get():\n"
        "    decimal.Context(prec=10**6)\n    return 'x'\n", (500,)),
    "regex_catastrophic": ("long", "import re\ndef get():\n"
        "    return str(re.match(r'(a|aa)+$', 'a' * 5000 + 'b'))\n", LIMIT),
    # -- log lines are data -------------------------------------------------------------
    "print_forged_server_line": ("logs", "def get():\n"
        "    print('x\\n2026-01-01T00:00:00 INFO  muxserver.access pid=1: FORGED-ACCESS 200')\n"
        "    return 'x'\n", (200,)),
    "exception_message_forged_line": ("logs", "def get():\n"
        "    raise ValueError('y\\r\\n2026-01-01T00:00:00 ERROR muxserver pid=1: FORGED-ERROR')\n",
        (500,)),
    "print_escape_sequence": ("logs", "def get():\n    print('\\x1b[2J\\x1b[1;1HFORGED-CLEAR')\n"
        "    return 'x'\n", (200,)),
    # == §12: the third round, one class of the language-layer issue each ==
    # -- a second road to a private name (super(), format fields, getattr) --
    "super_private_site_of_flask": ("road", "from flask import Flask\nclass A(Flask):\n"
        "    def site(self):\n        return super()._site\ndef get():\n    return str(A('a').site())\n",
        (500, "AttributeError")),
    "super_of_class_private_site": ("road", "from flask import Flask\nclass A(Flask):\n    pass\n"
        "def get():\n    return str(super(A, A)._site)\n", (500, "AttributeError")),
    "super_site_template_engine": ("road", "from flask import Flask, render_template_string\n"
        "class A(Flask):\n    def site(self):\n        return super()._site\ndef get():\n"
        "    render_template_string('x')\n    T = A('a').site().templates.env.template_class\n"
        "    return T(\"{{ cycler.__init__.__globals__.os.environ['MUX_TEST_SECRET'] }}\").render()\n",
        (500, "AttributeError")),
    "format_field_through_super": ("road", "from flask import Flask\nclass A(Flask):\n    pass\n"
        "def get():\n    a = A('a')\n    return '{0._site}'.format(super(A, a))\n", (500, "AttributeError")),
    "getattr_through_super": ("road", "from flask import Flask\nclass A(Flask):\n    pass\n"
        "def get():\n    a = A('a')\n    return str(getattr(super(A, a), '_site'))\n", (500, "AttributeError")),
    "template_reads_super_site": ("road", "from flask import Flask, render_template_string\n"
        "class A(Flask):\n    def site(self):\n        return super()._site\ndef get():\n"
        "    return render_template_string('{{ a.site().root }}', a=A('a'))\n", (500, "AttributeError")),
    # -- host objects whose public attributes lead to capabilities ------------
    "raw_cursor_of_a_row": ("capability", "import sqlite3\ndef get():\n    db = sqlite3.connect(':memory:')\n"
        "    c = db.execute('select 1')\n    return str(c.connection.set_authorizer)\n", (500, "AttributeError")),
    # Through a local name: read as mux.request.close it is refused at deploy.
    "undeclared_public_of_host_object": ("capability", "import mux\ndef get():\n"
        "    r = mux.request\n    return str(r.close)\n", (500, "AttributeError")),
    "flask_site_through_current_app": ("capability", "from flask import current_app\ndef get():\n"
        "    return str(current_app.make_default_app)\n", (500, "AttributeError")),
    "werkzeug_response_of_http_error": ("capability", "from werkzeug.exceptions import NotFound\n"
        "def get():\n    r = NotFound().get_response()\n    return str(r.call_on_close)\n", (500, "AttributeError")),
    # -- callbacks a tenant installs receive host objects ---------------------
    "row_factory_raw_cursor_attach": ("callback", "import sqlite3\nfound = []\n"
        "def rf(cursor, row):\n    raw = cursor.connection\n    raw.set_authorizer(None)\n"
        "    raw.execute(\"ATTACH 'VICTIM_DB' AS v\")\n"
        "    found.append(raw.execute('SELECT secret FROM v.s').fetchall())\n    return row\n"
        "def get():\n    db = sqlite3.connect(':memory:')\n    db.row_factory = rf\n"
        "    db.execute('select 1').fetchall()\n    return str(found)\n", (500, "AttributeError")),
    "row_factory_cursor_description_works": ("callback", "import sqlite3\n"
        "def rf(cursor, row):\n    return {d[0]: v for d, v in zip(cursor.description, row)}\n"
        "def get():\n    db = sqlite3.connect(':memory:')\n    db.row_factory = rf\n"
        "    return db.execute('select 1 as a, 2 as b').fetchone()\n", (200,)),
    "error_handler_gets_declared_values": ("callback", "from flask import Flask\napp = Flask(__name__)\n"
        "@app.errorhandler(500)\ndef oops(e):\n    return str(e.original_exception.__traceback__), 500\n"
        "@app.route('/')\ndef index():\n    raise ValueError('x')\n", ("deploy", "__traceback__")),
    "template_callable_gets_loop": ("callback", "from flask import render_template_string\n"
        "def peek(x):\n    return str(getattr(x, '_iterator'))\n"
        "def get():\n    return render_template_string('{% for i in [1] %}{{ f(loop) }}{% endfor %}', f=peek)\n",
        (500, "AttributeError")),
    # -- native crashes: SQLite re-entered from its own callbacks ---------------
    "udf_closes_its_connection": ("native", "import sqlite3\ndb = None\ndef f(x):\n    db.close()\n"
        "    return x\ndef get():\n    global db\n    db = sqlite3.connect(':memory:')\n"
        "    db.create_function('f', 1, f)\n"
        "    return str(db.execute('select f(1) union all select f(2)').fetchall())\n",
        (500, "inside its own callback")),
    "udf_runs_a_statement_on_its_connection": ("native", "import sqlite3\ndb = None\ndef f(x):\n"
        "    return db.execute('select 2').fetchone()[0]\ndef get():\n    global db\n"
        "    db = sqlite3.connect(':memory:')\n    db.create_function('f', 1, f)\n"
        "    return str(db.execute('select f(1)').fetchall())\n", (500, "inside its own callback")),
    "aggregate_closes_its_connection": ("native", "import sqlite3\ndb = None\nclass Agg:\n"
        "    def step(self, x):\n        db.close()\n    def finalize(self):\n        return 1\n"
        "def get():\n    global db\n    db = sqlite3.connect(':memory:')\n    db.create_aggregate('agg', 1, Agg)\n"
        "    return str(db.execute('select agg(x) from (select 1 as x union all select 2)').fetchall())\n",
        (500, "inside its own callback")),
    "collation_closes_its_connection": ("native", "import sqlite3\ndb = None\ndef coll(a, b):\n"
        "    db.close()\n    return 0\ndef get():\n    global db\n    db = sqlite3.connect(':memory:')\n"
        "    db.create_collation('c', coll)\n"
        "    return str(db.execute(\"select 'a' union select 'b' order by 1 collate c\").fetchall())\n",
        (500, "inside its own callback")),
    "row_factory_closes_its_connection": ("native", "import sqlite3\ndef rf(cursor, row):\n"
        "    cursor.connection.close()\n    return row\ndef get():\n    db = sqlite3.connect(':memory:')\n"
        "    db.row_factory = rf\n    return str(db.execute('select 1 union all select 2').fetchall())\n",
        (500, "inside its own callback")),
    # -- the host turns tenant values into text with the real str() ----------
    "print_repeated_list": ("text", MB + "def get():\n    print([S] * 2000)\n    return 'x'\n", (200,)),
    "logging_repeated_list": ("text", MB + "import logging\ndef get():\n"
        "    logging.getLogger('a').warning([S] * 2000)\n    return 'x'\n", (200,)),
    "mux_log_repeated_list": ("text", MB + "import mux\ndef get():\n    mux.log([S] * 2000)\n    return 'x'\n",
        (200,)),
    "traceback_format_exception_only": ("text", MB + "import traceback\ndef get():\n"
        "    return str(len(traceback.format_exception_only(ValueError, ValueError([S] * 2000))[0]))\n",
        (200,)),
    "exception_message_repeated_list": ("text", MB + "def get():\n    raise ValueError([S] * 2000)\n",
        (500, "ValueError")),
    "exception_huge_message_to_log": ("text", "def get():\n    raise ValueError('y' * (20 * 2**20))\n",
        (500, "ValueError")),
    "csv_writerow_repeated_list": ("text", MB + "import csv, io\ndef get():\n    f = io.StringIO()\n"
        "    csv.writer(f).writerow([[S] * 2000])\n    return str(f.tell())\n", LIMIT + (500,)),
    "str_of_objects_with_big_repr": ("text", MB + "class O:\n    def __repr__(self):\n        return S\n"
        "def get():\n    return str(len(str([O()] * 2000)))\n", LIMIT),
    "deque_repr_repeated": ("text", MB + "import collections\ndef get():\n"
        "    return str(len(repr(collections.deque([S] * 2000))))\n", LIMIT),
    "json_default_repeated": ("text", MB + "import json\nclass O:\n    pass\ndef get():\n"
        "    return str(len(json.dumps([O()] * 2000, default=lambda o: S)))\n", LIMIT),
    "print_to_stderr_no_newline": ("text", "import sys\ndef get():\n    for i in range(64):\n"
        "        sys.stderr.write('z' * 2**20)\n    return 'x'\n", (200,)),
    # -- allocation by a number the tenant chose ----------------------------
    "bytesio_seek_then_write": ("allocation", "import io\ndef get():\n    b = io.BytesIO()\n"
        "    b.seek(10**9)\n    b.write(b'x')\n    return str(len(b.getvalue()))\n", LIMIT + (500,)),
    "stringio_seek_then_write": ("allocation", "import io\ndef get():\n    b = io.StringIO()\n"
        "    b.seek(10**9)\n    b.write('x')\n    return str(len(b.getvalue()))\n", LIMIT + (500,)),
    "bytesio_truncate_grow": ("allocation", "import io\ndef get():\n    b = io.BytesIO(b'x')\n"
        "    b.truncate(10**9)\n    return str(len(b.getvalue()))\n", (200, 500) + LIMIT),
    "int_to_bytes_huge": ("allocation", "def get():\n    return str(len((1).to_bytes(10**9, 'big')))\n",
        LIMIT + (500,)),
    "match_expand_huge": ("allocation", "import re\ndef get():\n    m = re.search('(a+)', 'a' * 10**6)\n"
        "    return str(len(m.expand(r'\\1' * 2000)))\n", LIMIT + (500,)),
    "re_sub_group_template": ("allocation", "import re\ndef get():\n"
        "    return str(len(re.sub('(a+)', r'\\1' * 2000, 'a' * 10**6)))\n", LIMIT + (500,)),
    "re_sub_callable_repeated": ("allocation", MB + "import re\ndef get():\n"
        "    return str(len(re.sub('b', lambda m: S, 'b' * 2000)))\n", LIMIT + (500,)),
    "random_class_randbytes": ("allocation", "import random\ndef get():\n"
        "    return str(len(random.Random().randbytes(10**9)))\n", LIMIT + (500,)),
    "random_class_choices": ("allocation", "import random\ndef get():\n"
        "    return str(len(random.Random().choices([1], k=10**9)))\n", LIMIT + (500,)),
    "random_class_getrandbits": ("allocation", "import random\ndef get():\n"
        "    return str(random.Random().getrandbits(10**10) % 7)\n", LIMIT + (500,)),
    "system_random_randbytes": ("allocation", "import secrets\ndef get():\n"
        "    return str(len(secrets.SystemRandom().randbytes(10**9)))\n", LIMIT + (500,)),
    "textwrap_indent_huge_prefix": ("allocation", "import textwrap\ndef get():\n"
        "    return str(len(textwrap.indent('x\\n' * 10**6, 'p' * 1000)))\n", LIMIT + (500,)),
    "math_prod_huge": ("allocation", "import math\ndef get():\n"
        "    return str(math.prod([2**199_000] * 200) % 7)\n", LIMIT + (500,)),
    "sqlite_randomblob": ("allocation", "import sqlite3\ndef get():\n    db = sqlite3.connect(':memory:')\n"
        "    return str(len(db.execute('select randomblob(1000000000)').fetchone()[0]))\n",
        (500, "too big")),
    "sqlite_zeroblob": ("allocation", "import sqlite3\ndef get():\n    db = sqlite3.connect(':memory:')\n"
        "    return str(len(db.execute('select zeroblob(1000000000)').fetchone()[0]))\n", (500, "too big")),
    "sqlite_printf_width": ("allocation", "import sqlite3\ndef get():\n    db = sqlite3.connect(':memory:')\n"
        "    return str(db.execute(\"select printf('%.*c', 1000000000, 'x')\").fetchone())\n",
        (500, "printf() width")),
    "sqlite_replace_growth": ("allocation", "import sqlite3\ndef get():\n    db = sqlite3.connect(':memory:')\n"
        "    return str(db.execute(\"select length(replace(replace(replace(replace(hex(zeroblob(10000)), "
        "'0', '0000000000'), '0', '0000000000'), '0', '0000000000'), '0', '0000000000'))\")"
        ".fetchone()[0])\n", (500, "too big")),
    "sqlite_group_concat": ("allocation", "import sqlite3\ndef get():\n    db = sqlite3.connect(':memory:')\n"
        "    db.execute('create table t(x)')\n    db.execute('insert into t values (?)', ('y' * 2**20,))\n"
        "    return str(db.execute('with recursive n(i) as (select 1 union all select i + 1 from n "
        "where i < 2000) select length(group_concat(x)) from n, t').fetchone()[0])\n",
        (500, "too big") + LIMIT),
    "str_encode_length": ("allocation", "def get():\n    return str(len('\\U0001f600' * (10**7)))\n",
        LIMIT + (500,)),
    # -- host Python over tenant-sized input that never ticks ------------------
    "punycode_encode": ("ticking", "def get():\n"
        "    return str(len(''.join(chr(256 + i) for i in range(20000)).encode('punycode')))\n",
        (500, "punycode")),
    "idna_long_label": ("ticking", "def get():\n"
        "    return str(len(''.join(chr(256 + i) for i in range(20000)).encode('idna')))\n",
        (500,)),
    "punycode_decode": ("ticking", "def get():\n"
        "    data = ''.join(chr(256 + i) for i in range(3000)).encode('punycode')\n"
        "    return str(len((data * 8).decode('punycode', 'ignore')))\n", (500, "punycode")),
    "random_shuffle_big": ("ticking", "import random\ndef get():\n    x = [0, 1] * 10**6\n"
        "    random.shuffle(x)\n    return str(x[0])\n", LIMIT),
    "random_class_shuffle_big": ("ticking", "import random\ndef get():\n    x = [0, 1] * 10**6\n"
        "    random.Random(1).shuffle(x)\n    return str(x[0])\n", LIMIT),
    "yaml_merge_keys": ("ticking", "import yaml\ndef get():\n"
        "    doc = 'x: &x [' + ','.join('{k%d: 1}' % i for i in range(3000)) + ']\\n'\n"
        "    doc += ''.join('y%d:\\n  <<: *x\\n' % j for j in range(2000))\n"
        "    return str(len(yaml.safe_load(doc)))\n", LIMIT),
    "jinja_compile_big_template": ("ticking", "from flask import render_template_string\ndef get():\n"
        "    return str(len(render_template_string('{{ x }}' * 100000, x=1)))\n", LIMIT + (500,)),
    "url_for_long_list": ("ticking", "from flask import Flask, url_for\napp = Flask(__name__)\n"
        "@app.route('/')\ndef index():\n    return url_for('index', q=[0] * 10**6)\n",
        LIMIT + (500,)),
    "urlencode_long_list": ("ticking", "import urllib.parse\ndef get():\n"
        "    return str(len(urllib.parse.urlencode({'q': [0] * 10**6}, doseq=True)))\n",
        LIMIT + (500,)),
    "textwrap_wrap_big": ("ticking", "import textwrap\ndef get():\n"
        "    return str(len(textwrap.wrap('ab ' * 4 * 10**6, 70)))\n", LIMIT + (500,)),
    "sorted_big_list": ("ticking", "import random\ndef get():\n    r = random.Random(1)\n"
        "    x = [r.random() for i in range(1000)] * 2000\n    x.sort()\n    return str(sorted(x)[0])\n", LIMIT + (200,)),
    "deepcopy_big": ("ticking", "import copy\ndef get():\n    x = [[0] for i in range(2 * 10**5)]\n"
        "    return str(len(copy.deepcopy(x)))\n", LIMIT + (200,)),
    "dataclasses_asdict_big": ("ticking", "import dataclasses\n@dataclasses.dataclass\nclass P:\n"
        "    items: list\ndef get():\n    return str(len(dataclasses.asdict(P([[0] for i in range(2 * 10**5)]))['items']))\n",
        LIMIT + (200,)),
    "strptime_long_format": ("ticking", "import time\ndef get():\n"
        "    return str(time.strptime('%d' * 50000, '%%d' * 50000))\n", (500,) + LIMIT),
    # -- per-tenant resources without a ledger -------------------------------
    "sqlite_files_past_the_quota": ("ledger", "import sqlite3\ndef get():\n    for n in range(7):\n"
        "        db = sqlite3.connect('d%d.db' % n)\n        db.execute('create table t(x)')\n"
        "        db.execute('insert into t values (?)', ('z' * 400000,))\n        db.commit()\n"
        "        db.close()\n    return 'wrote 2.8 MB'\n", (507, "quota")),
    "sqlite_wal_past_the_quota": ("ledger", "import sqlite3\ndef get():\n    db = sqlite3.connect('w.db')\n"
        "    db.execute('create table t(x)')\n    for n in range(40):\n"
        "        db.execute('insert or replace into t values (?)', ('z' * (2**18),))\n        db.commit()\n"
        "        db.execute('delete from t')\n        db.commit()\n    return 'x'\n",
        # 503: its CPU limit, when a loaded machine makes the 80 fsyncs slow
        # (a slice is charged its wall time until a check reads the CPU
        # clock). Whatever the answer, the folder stays under the quota.
        (200, 503, 507)),
    "open_files_held": ("ledger", "held = []\ndef get():\n    for n in range(20000):\n"
        "        held.append(open(__file__))\n    return str(len(held))\n", (500, "open files")),
    "sqlite_connections_held": ("ledger", "import sqlite3\nheld = []\ndef get():\n    for n in range(5000):\n"
        "        held.append(sqlite3.connect('c.db'))\n    return str(len(held))\n", (500, "connections")),
    # -- host paths in exception messages ---------------------------------------
    "open_missing_file_message": ("hostpath", "def get():\n    try:\n        open('/data/nope.txt')\n"
        "    except OSError as e:\n        return str(e) + ' ' + str(e.filename)\n", (200,)),
    "listdir_missing_message": ("hostpath", "import os\ndef get():\n    try:\n        os.listdir('/data/nope')\n"
        "    except OSError as e:\n        return str(e) + ' ' + str(e.filename)\n", (200,)),
    "remove_missing_message": ("hostpath", "import os\ndef get():\n    os.remove('/data/nope')\n", (500,)),
    "rename_missing_message": ("hostpath", "import os\ndef get():\n    os.rename('/data/a', '/data/b')\n",
        (500,)),
    "getsize_missing_message": ("hostpath", "import os\ndef get():\n    return str(os.path.getsize('nope'))\n",
        (500,)),
    "mkdir_twice_message": ("hostpath", "import os\ndef get():\n    os.mkdir('/data/d')\n"
        "    os.mkdir('/data/d')\n", (500,)),
    "sqlite_connection_repr": ("hostpath", "import sqlite3\ndef get():\n"
        "    return repr(sqlite3.connect('app.db'))\n", (200,)),
}

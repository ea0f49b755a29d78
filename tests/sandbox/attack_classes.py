"""Attack cases by class (SECURITY-NOTES §11), kept as data.

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
}

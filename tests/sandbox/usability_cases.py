"""Realistic tenant modules that must run in the sandbox, with the JSON each
``get()`` must return. Several fail under RestrictedPython's default policy
(marked RP-default-fails) and work here on purpose."""

import io

CASES = {
    # sum() gives CPython's own result to the last bit (3.12+ compensates
    # float rounding): the expected values are this interpreter's sum.
    "sum_of_numbers": ("""
def get():
    return {"tenths": sum([0.1] * 10), "tuple": sum((1, 2.5), 0.5), "mixed": sum([1, True, 2.0]),
            "many": sum([0.1] * 100000), "ints": sum(range(101)), "gen": sum(x / 3 for x in range(30))}
""", {"tenths": sum([0.1] * 10), "tuple": sum((1, 2.5), 0.5), "mixed": sum([1, True, 2.0]),
      "many": sum([0.1] * 100000), "ints": sum(range(101)), "gen": sum(x / 3 for x in range(30))}),
    # async code as published functions write it; module metadata; sys.version_info
    # Class statements on typing's NamedTuple and TypedDict (they failed
    # with "metaclass conflict": the guard's base was typing's function).
    "typing_namedtuple_and_typeddict_classes": ("""
from typing import NamedTuple, TypedDict

class Point(NamedTuple):
    x: int
    y: int = 0

    def norm1(self):
        return abs(self.x) + abs(self.y)

class Movie(TypedDict, total=False):
    title: str
    year: int

def get():
    p = Point(3, -4)
    m = Movie(title="Heat")
    return {"p": list(p), "fields": list(Point._fields), "norm": p.norm1(), "moved": list(p._replace(y=1)),
            "asdict": p._asdict(), "is_tuple": isinstance(p, tuple), "movie": m, "keys": sorted(m)}
""", {"p": [3, -4], "fields": ["x", "y"], "norm": 7, "moved": [3, 1], "asdict": {"x": 3, "y": -4},
      "is_tuple": True, "movie": {"title": "Heat"}, "keys": ["title"]}),
    # Modern typed code: the annotations are strings (forward references,
    # `X | None`), dataclasses read them as such.
    "future_annotations": ("""
from __future__ import annotations
from dataclasses import dataclass, field

@dataclass
class Node:
    name: str
    children: list[Node] = field(default_factory=list)
    parent: Node | None = None

def walk(node: Node) -> list[str]:
    return [node.name] + [n for c in node.children for n in walk(c)]

import typing
from typing import ClassVar
from dataclasses import InitVar, fields

@dataclass
class Counter:
    total: ClassVar[int] = 0
    label: typing.ClassVar[str] = "c"
    step: int = 1
    scale: InitVar[int] = 1

    def __post_init__(self, scale):
        self.step *= scale

def get():
    root = Node("a", [Node("b"), Node("c", [Node("d")])])
    return {"names": walk(root), "parent": root.children[0].parent,
            "fields": [f.name for f in fields(Counter)], "step": Counter(2, 3).step,
            "types": [f.type for f in fields(Node)]}
""", {"names": ["a", "b", "c", "d"], "parent": None, "fields": ["step"], "step": 6,
      "types": ["str", "list[Node]", "Node | None"]}),
    # Subclasses of value types as real code writes them: what they may not
    # redefine is only what the server compares, hashes or reads as text.
    "value_type_subclasses": ("""
import enum
from collections import namedtuple

class Color(str, enum.Enum):
    RED = "red"
    title = "t"              # a member may shadow a str method's name

    def __str__(self):       # common on (str, Enum) classes
        return self.value

class Tag(str):
    def __repr__(self):
        return "Tag(" + str(self) + ")"

    def hashtag(self):
        return "#" + self

class Money(int):
    def __add__(self, other):
        return Money(int(self) + int(other))

class Vec(namedtuple("Vec", "x y")):
    def __add__(self, other):
        return Vec(self.x + other.x, self.y + other.y)

def get():
    return {"color": str(Color.RED), "member": Color.title.value, "eq": Color.RED == "red",
            "tag": Tag("news").hashtag(), "repr": repr(Tag("a")), "key": {Tag("a"): 1}.get("a"),
            "money": Money(2) + Money(3), "vec": list(Vec(1, 2) + Vec(3, 4))}
""", {"color": "red", "member": "t", "eq": True, "tag": "#news", "repr": "Tag(a)", "key": 1,
      "money": 5, "vec": [4, 6]}),
    # readlines() is a ticking loop here and JSON is sized before decoding
    # (round 6): the answers are CPython's.
    "readlines_and_json_decoding": ("""
import io, json

def get():
    text = "a\\nbb\\n\\nccc"
    records = json.dumps([{"id": i, "name": "n" * 20, "tags": ["x", "y"]} for i in range(3000)])
    return {"lines": io.StringIO(text).readlines(), "hint": io.StringIO(text).readlines(3),
            "bytes": [b.decode() for b in io.BytesIO(text.encode()).readlines(1)],
            "rest": io.StringIO(text).readlines(0), "records": len(json.loads(records)),
            "decoder": json.JSONDecoder().decode(records)[-1]["id"],
            "raw": json.JSONDecoder().raw_decode('[1, 2] tail')}
""", {"lines": io.StringIO("a\nbb\n\nccc").readlines(),
      "hint": io.StringIO("a\nbb\n\nccc").readlines(3),
      "bytes": [b.decode() for b in io.BytesIO(b"a\nbb\n\nccc").readlines(1)],
      "rest": io.StringIO("a\nbb\n\nccc").readlines(0), "records": 3000, "decoder": 2999,
      "raw": [[1, 2], 6]}),
    "asyncio_and_module_metadata": ("""
'''Module docstring.'''
import asyncio, sys
__all__ = ["get"]
__version__ = "2.1"
__author__ = "Ann"

async def fetch(name, delay, log):
    log.append(name)
    await asyncio.sleep(delay)
    return name * 2

async def gather_all():
    log = []
    first = await asyncio.gather(fetch("a", 0.01, log), fetch("b", 0, log))
    task = asyncio.create_task(fetch("c", 0, log))
    return {"first": first, "task": await task, "log": log}

def get():
    loop = asyncio.get_event_loop()
    result = loop.run_until_complete(gather_all())
    result["meta"] = [__doc__, __version__, __author__, __all__]
    result["python"] = [sys.version_info.major, sys.version_info >= (3, 8), len(sys.version_info)]
    return result
""", {"first": ["aa", "bb"], "task": "cc", "log": ["a", "b", "c"],
      "meta": ["Module docstring.", "2.1", "Ann", ["get"]], "python": [3, True, 5]}),
    # io, csv and traceback as everyday code uses them
    "io_csv_traceback": ("""
import csv, io, traceback
def get():
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["name", "n"])
    writer.writerows([["a", 1], ["b, c", 2]])
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    try:
        {}["missing"]
    except KeyError:
        message = traceback.format_exc()
    data = io.BytesIO()
    data.write(b"abc")
    return {"csv": out.getvalue(), "rows": rows, "error": message, "bytes": data.getvalue().decode()}
""", {"csv": 'name,n\r\na,1\r\n"b, c",2\r\n', "rows": [{"name": "a", "n": "1"}, {"name": "b, c", "n": "2"}],
      "error": "KeyError: 'missing'\n", "bytes": "abc"}),
    # RP-default-fails: object, super(), private names, type(x).__name__
    "ordinary_classes": ("""
class Base(object):
    def __init__(self, name):
        self._name = name
        self._seen = 0
    def describe(self):
        self._seen += 1
        return f"{type(self).__name__}({self._name})"
class Child(Base):
    def __init__(self, name, extra):
        super().__init__(name)
        self._extra = extra
    def describe(self):
        return super().describe() + "+" + self._extra
class Other(Base):
    def __init__(self):
        Base.__init__(self, "o")
class Stack(list):
    def push(self, x):
        super().append(x)
        return self
_registry = {}
def _register(cls):
    _registry[cls.__name__] = cls
    return cls
_register(Child)
def get():
    c = Child("c", "x")
    return {"c": c.describe(), "o": Other().describe(), "seen": c._seen,
            "types": [type(1).__name__, type("s").__name__, type(None).__name__, type(c).__name__],
            "is_int": type(1) is int, "stack": Stack().push(1).push(2),
            "registry": sorted(_registry), "obj": isinstance(c, object),
            "cls": c.__class__.__name__, "doc": Base.__doc__}
""", {"c": "Child(c)+x", "o": "Other(o)", "seen": 1, "types": ["int", "str", "NoneType", "Child"],
      "is_int": True, "stack": [1, 2], "registry": ["Child"], "obj": True, "cls": "Child",
      "doc": None}),
    # RP-default-fails: __name__
    "flask_name": ("""
from flask import Flask
app = Flask(__name__)
@app.get("/")
def get():
    return {"ok": app.name == "index" and __file__ == "/app/index.py"}
""", {"ok": True}),
    # RP-default-fails: augmented item assignment
    "counts_augassign": ("""
def get():
    counts = {}
    for word in "a b a c a b".split():
        counts.setdefault(word, 0)
        counts[word] += 1
    grid = [[0, 0], [0, 0]]
    grid[1][0] += 5
    return {"counts": counts, "grid": grid}
""", {"counts": {"a": 3, "b": 2, "c": 1}, "grid": [[0, 0], [5, 0]]}),
    # RP-default-fails: augmented attribute assignment and self writes
    "self_total": ("""
class Cart:
    def __init__(self):
        self.total = 0
        self.items = []
    def add(self, name, price):
        self.items.append(name)
        self.total += price
        return self
def get():
    cart = Cart().add("tea", 3).add("cake", 4)
    return {"total": cart.total, "items": cart.items}
""", {"total": 7, "items": ["tea", "cake"]}),
    # RP-default-fails: ordinary dunder methods
    "dunder_methods": ("""
class Vec:
    def __init__(self, x, y):
        self.x, self.y = x, y
    def __repr__(self):
        return f"Vec({self.x}, {self.y})"
    def __str__(self):
        return f"<{self.x},{self.y}>"
    def __eq__(self, other):
        return (self.x, self.y) == (other.x, other.y)
    def __hash__(self):
        return hash((self.x, self.y))
    def __add__(self, other):
        return Vec(self.x + other.x, self.y + other.y)
    def __len__(self):
        return 2
    def __iter__(self):
        return iter([self.x, self.y])
    def __getitem__(self, i):
        return [self.x, self.y][i]
    def __contains__(self, v):
        return v in (self.x, self.y)
    def __bool__(self):
        return bool(self.x or self.y)
def get():
    v = Vec(1, 2) + Vec(3, 4)
    return {"repr": repr(v), "str": str(v), "eq": v == Vec(4, 6), "set": len({v, Vec(4, 6)}),
            "len": len(v), "list": list(v), "item": v[1], "in": 6 in v, "bool": bool(Vec(0, 0))}
""", {"repr": "Vec(4, 6)", "str": "<4,6>", "eq": True, "set": 1, "len": 2, "list": [4, 6],
      "item": 6, "in": True, "bool": False}),
    "iterator_protocol": ("""
class Countdown:
    def __init__(self, n):
        self.n = n
    def __iter__(self):
        return self
    def __next__(self):
        if self.n <= 0:
            raise StopIteration
        self.n -= 1
        return self.n
def get():
    return {"values": [x for x in Countdown(3)]}
""", {"values": [2, 1, 0]}),
    "context_manager": ("""
class Tracker:
    def __init__(self):
        self.events = []
    def __enter__(self):
        self.events.append("enter")
        return self
    def __exit__(self, exc_type, exc, tb):
        self.events.append("exit:" + str(exc_type is not None))
        return True
def get():
    t = Tracker()
    with t:
        raise ValueError("swallowed")
    return {"events": t.events}
""", {"events": ["enter", "exit:True"]}),
    # RP-default-fails: nonlocal
    "nonlocal_closure": ("""
def make_counter():
    n = 0
    def inc(step=1):
        nonlocal n
        n += step
        return n
    return inc
def get():
    c = make_counter()
    c(); c(); c(5)
    return {"n": c(0)}
""", {"n": 7}),
    # RP-default-fails: annotations and @dataclass
    "dataclasses_and_annotations": ("""
from dataclasses import dataclass, field, asdict
from typing import List, Optional
@dataclass
class Order:
    id: int
    items: List[str] = field(default_factory=list)
    note: Optional[str] = None
    def add(self, item: str) -> "Order":
        self.items.append(item)
        return self
@dataclass(frozen=True)
class Point:
    x: int
    y: int
def get():
    total: int = 0
    o = Order(7).add("a").add("b")
    p = Point(1, 2)
    try:
        p.x = 5
        frozen = False
    except Exception:
        frozen = True
    return {"order": asdict(o), "frozen": frozen, "total": total, "eq": Point(1, 2) == p}
""", {"order": {"id": 7, "items": ["a", "b"], "note": None}, "frozen": True, "total": 0, "eq": True}),
    "json_body_parsing": ("""
import json
def get():
    raw = '{"users": [{"name": "b", "age": 30}, {"name": "a", "age": 25}]}'
    data = json.loads(raw)
    users = sorted(data["users"], key=lambda u: u["age"])
    return {"names": [u["name"] for u in users], "dumped": json.dumps({"k": [1, 2]}, sort_keys=True)}
""", {"names": ["a", "b"], "dumped": '{"k": [1, 2]}'}),
    "regex": ("""
import re
EMAIL = re.compile(r"^(?P<user>[\\w.]+)@(?P<host>[\\w.]+)$")
def get():
    m = EMAIL.match("ada@example.org")
    return {"user": m.group("user"), "host": m["host"], "all": re.findall(r"\\d+", "a1b22c333"),
            "sub": re.sub(r"\\s+", " ", "a   b\\t c"), "split": re.split(r",\\s*", "x, y,z"),
            "iter": [m.group(0) for m in re.finditer(r"[a-z]+", "ab 12 cd")], "none": re.match("x", "y") is None}
""", {"user": "ada", "host": "example.org", "all": ["1", "22", "333"], "sub": "a b c",
      "split": ["x", "y", "z"], "iter": ["ab", "cd"], "none": True}),
    "sorting_with_keys": ("""
from operator import itemgetter, attrgetter
from functools import cmp_to_key
class P:
    def __init__(self, name, age):
        self.name, self.age = name, age
def get():
    rows = [("b", 2), ("a", 2), ("c", 1)]
    people = [P("x", 3), P("y", 1)]
    return {"by_item": sorted(rows, key=itemgetter(1, 0)),
            "by_attr": [p.name for p in sorted(people, key=attrgetter("age"))],
            "cmp": sorted([3, 1, 2], key=cmp_to_key(lambda a, b: b - a)),
            "rev": sorted("bca", reverse=True), "min": min(rows, key=lambda r: r[1]),
            "max": max([1, 5, 3])}
""", {"by_item": [["c", 1], ["a", 2], ["b", 2]], "by_attr": ["y", "x"], "cmp": [3, 2, 1],
      "rev": ["c", "b", "a"], "min": ["c", 1], "max": 5}),
    "generators_closures_comprehensions": ("""
def fib():
    a, b = 0, 1
    while True:
        yield a
        a, b = b, a + b
def get():
    import itertools
    first = list(itertools.islice(fib(), 8))
    squares = {n: n * n for n in range(4)}
    evens = {n for n in range(10) if n % 2 == 0}
    nested = [[i * j for j in range(3)] for i in range(2)]
    head, *tail = [1, 2, 3]
    merged = {**{"a": 1}, **{"b": 2}}
    return {"fib": first, "squares": squares, "evens": sorted(evens), "nested": nested,
            "head": head, "tail": tail, "merged": merged, "star": [*range(3), *"ab"]}
""", {"fib": [0, 1, 1, 2, 3, 5, 8, 13], "squares": {"0": 0, "1": 1, "2": 4, "3": 9},
      "evens": [0, 2, 4, 6, 8], "nested": [[0, 0, 0], [0, 1, 2]], "head": 1, "tail": [2, 3],
      "merged": {"a": 1, "b": 2}, "star": [0, 1, 2, "a", "b"]}),
    "exceptions_and_finally": ("""
class AppError(Exception):
    pass
def risky(n):
    if n > 2:
        raise AppError(f"too big: {n}")
    return n
def get():
    log = []
    for n in (1, 3):
        try:
            log.append(risky(n))
        except AppError as e:
            log.append(str(e))
        finally:
            log.append("done")
    try:
        {}["missing"]
    except KeyError:
        log.append("keyerror")
    return {"log": log}
""", {"log": [1, "done", "too big: 3", "done", "keyerror"]}),
    "stdlib_mix": ("""
import collections, datetime, decimal, fractions, hashlib, hmac, base64, math, statistics
import string, textwrap, uuid, bisect, heapq, copy, html, urllib.parse, secrets, zlib, enum, random
class Color(enum.Enum):
    RED = 1
    BLUE = 2
def get():
    c = collections.Counter("abracadabra")
    dd = collections.defaultdict(list)
    dd["k"].append(1)
    Pair = collections.namedtuple("Pair", "a b")
    h = []
    for v in (5, 1, 3):
        heapq.heappush(h, v)
    rnd = random.Random(42)
    return {
        "counter": c.most_common(2), "dd": dict(dd), "pair": Pair(1, 2).b,
        "date": datetime.date(2024, 2, 29).isoformat(),
        "delta": (datetime.datetime(2024, 1, 2) - datetime.datetime(2024, 1, 1)).days,
        "dec": str(decimal.Decimal("1.10") + decimal.Decimal("2.20")),
        "frac": str(fractions.Fraction(1, 3) + fractions.Fraction(1, 6)),
        "sha": hashlib.sha256(b"x").hexdigest()[:8],
        "hmac": hmac.new(b"k", b"m", "sha256").hexdigest()[:8],
        "b64": base64.b64encode(b"hi").decode(), "sqrt": math.sqrt(16),
        "mean": statistics.mean([1, 2, 3]), "upper": string.ascii_uppercase[:3],
        "wrap": textwrap.wrap("aaa bbb ccc", 7), "uuid": len(str(uuid.uuid4())),
        "bisect": bisect.bisect([1, 3, 5], 4), "heap": heapq.heappop(h),
        "copy": copy.deepcopy({"a": [1]}), "esc": html.escape("<a>"),
        "url": urllib.parse.urlencode({"q": "a b"}), "token": len(secrets.token_hex(4)),
        "zlib": zlib.decompress(zlib.compress(b"abc")).decode(), "enum": Color(2).name,
        "rand": rnd.randint(1, 100) == random.Random(42).randint(1, 100),
        "fmt": "{:>5}|{:.2f}|{name}".format("x", 3.14159, name="n"), "pct": "%05d" % 42,
    }
""", {"counter": [["a", 5], ["b", 2]], "dd": {"k": [1]}, "pair": 2, "date": "2024-02-29", "delta": 1,
      "dec": "3.30", "frac": "1/2", "sha": "2d711642", "hmac": "b60090e3", "b64": "aGk=", "sqrt": 4.0,
      "mean": 2, "upper": "ABC", "wrap": ["aaa bbb", "ccc"], "uuid": 36, "bisect": 2, "heap": 1,
      "copy": {"a": [1]}, "esc": "&lt;a&gt;", "url": "q=a+b", "token": 8, "zlib": "abc", "enum": "BLUE",
      "rand": True, "fmt": "    x|3.14|n", "pct": "00042"}),
    "lambdas_and_builtins": ("""
def get():
    pairs = list(zip("ab", range(2)))
    return {"map": list(map(lambda x: x * 2, [1, 2])), "filter": list(filter(None, [0, 1, 2])),
            "enum": list(enumerate("xy", 1)), "zip": pairs, "any": any(x > 1 for x in [1, 2]),
            "all": all([]), "sum": sum(range(101)), "rev": list(reversed([1, 2, 3])),
            "divmod": divmod(7, 2), "round": round(2.675, 2), "chr": chr(65) + str(ord("B")),
            "isinstance": isinstance(b"x", bytes) and isinstance(3, int), "bytes": bytes(3).hex(),
            "range": [len(range(10)), 5 in range(10), range(10)[2]], "pow": pow(2, 10), "abs": abs(-3)}
""", {"map": [2, 4], "filter": [1, 2], "enum": [[1, "x"], [2, "y"]], "zip": [["a", 0], ["b", 1]],
      "any": True, "all": True, "sum": 5050, "rev": [3, 2, 1], "divmod": [3, 1], "round": 2.67,
      "chr": "A66", "isinstance": True, "bytes": "000000", "range": [10, True, 2], "pow": 1024, "abs": 3}),
    "properties_classmethods_inheritance": ("""
class Shape:
    sides = 0
    def __init__(self, name):
        self.name = name
    @property
    def label(self):
        return f"{self.name}/{self.sides}"
    @classmethod
    def make(cls, name):
        return cls(name)
    @staticmethod
    def unit():
        return 1
class Square(Shape):
    sides = 4
    def area(self, s):
        return s * s
def get():
    sq = Square.make("sq")
    return {"label": sq.label, "area": sq.area(3), "unit": Square.unit(),
            "isinstance": isinstance(sq, Shape), "issub": issubclass(Square, Shape)}
""", {"label": "sq/4", "area": 9, "unit": 1, "isinstance": True, "issub": True}),
    "lib_module_state": ("""
from lib import store
def get():
    store.put("a", 1)
    store.put("b", 2)
    return {"items": store.items()}
""", {"items": [["a", 1], ["b", 2]]}),
    "module_print_and_log": ("""
import mux
def get():
    print("from print")
    mux.log("from mux.log", 1)
    return {"ok": True}
""", {"ok": True}),
    "string_methods": ("""
def get():
    s = "  Hello, World  "
    return {"strip": s.strip(), "split": s.split(","), "join": "-".join(["a", "b"]),
            "replace": s.replace("l", "L"), "ljust": "ab".ljust(4, "."), "center": "x".center(3, "*"),
            "zfill": "7".zfill(3), "upper": s.strip().upper(), "encode": "é".encode("utf-8").hex(),
            "fstring": f"{3.14159:.2f} {'x'!r} {42:>4}"}
""", {"strip": "Hello, World", "split": ["  Hello", " World  "], "join": "a-b",
      "replace": "  HeLLo, WorLd  ", "ljust": "ab..", "center": "*x*", "zfill": "007",
      "upper": "HELLO, WORLD", "encode": "c3a9", "fstring": "3.14 'x'   42"}),
}

#: A lib module some cases import.
LIB_FILES = {
    "lib/store.py": """
DATA = {}
def put(key, value):
    DATA[key] = value
def items():
    return sorted(DATA.items())
""",
}

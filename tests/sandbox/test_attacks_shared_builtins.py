"""Attacks on one builtins dict for every tenant, and on /data made on first
use (main since 132cba2: ``sandbox.runtime.tenant_builtins``,
``RUNTIME_KEY``, ``open`` as a module global; ``TenantFiles.ensure_data``
and ``real_folder``).

Each case is tenant code: two tenants' runtimes side by side in this
process (as a serving process holds them), or one tenant served by the
in-process host (:mod:`tests.sandbox.rounds`) for Flask templates. Each
asserts what a safe sandbox does: tenant code never reaches a runtime
object or the shared dict, changes nothing another tenant sees, and a
value (a function, a generator, ``open``) acts for the tenant that made it,
whoever calls it and whenever it runs.

Found and fixed (neither reachable by tenant code to another tenant):

1. ``open`` as a module global makes it an attribute of every tenant
   module: ``import pkg.open`` / ``from pkg import open`` give the opener,
   not the tenant's submodule ``pkg/open.py`` (they did before 2f1c5ad),
   and ``hasattr(helper, 'open')`` is True where Python says False
   (:func:`test_a_submodule_named_open_is_imported_as_in_python`). Now the
   names the runtime puts in every module are not its attributes
   (``TenantRuntime.is_implicit``).
2. ``real_folder`` remembers a parent's real path even when the parent
   goes through a symbolic link: after the operator repoints it (a
   ``current -> releases/N`` tenants folder), tenants started again read
   ``/app`` files from the old target, while their code comes from the new
   one; the warning says such files are refused
   (:func:`test_a_repointed_tenants_folder_is_not_served_from_its_old_target`).
   Now only parents whose path is their real path are remembered.
"""

import gc
import os
import stat
import sys
from pathlib import Path

import pytest

from sandbox import LibSource
from sandbox import TenantRuntime
from sandbox import compile_tenant
from sandbox.facades import files as files_module
from sandbox.facades.files import TenantFiles
from sandbox.facades.files import real_folder
from sandbox.runtime import RUNTIME_KEY
from sandbox.runtime import tenant_builtins
from tests.sandbox.inprocess import assert_nothing_leaked
from tests.sandbox.rounds import attack_host
from tests.sandbox.rounds import tenant_runtime
from tests.sandbox.rounds import serve
from tests.sandbox.rounds import template_source

SECRET = "s3cr3t-shared-builtins"


def _run(runtime, source, module="index"):
    result = compile_tenant(source, f"{runtime.tenant}/{module}.py")
    assert result.ok, result.errors
    return runtime.run(result.code, runtime.new_namespace(module, f"{module}.py"))


def _host_objects(runtime):
    """What tenant code must never hold: runtimes, the shared dict, the
    functions that act for a tenant by what they are handed."""
    table = tenant_builtins()
    return [runtime, table, table["__import__"], table["_print_"], table["__metaclass__"],
            runtime.files]


def _reaches(value, forbidden, depth=0) -> bool:
    if any(value is f for f in forbidden) or isinstance(value, TenantRuntime):
        return True
    if depth < 3 and isinstance(value, (list, tuple, set, frozenset)):
        return any(_reaches(v, forbidden, depth + 1) for v in value)
    if depth < 3 and isinstance(value, dict):
        return any(_reaches(v, forbidden, depth + 1) for v in value.values())
    return False


@pytest.fixture
def pair(tmp_path):
    helper = ("NAME = 'helper of {0}'\n"
              "def f():\n"
              "    print('f of {0}')\n"
              "    return NAME\n"
              "def read(path):\n"
              "    return open(path).read()\n")
    a, a_log = tenant_runtime(tmp_path, "a", {"helper": helper.format("a")})
    b, b_log = tenant_runtime(tmp_path, "b", {"helper": helper.format("b")})
    return a, a_log, b, b_log


# -- reaching the runtime or the shared dict -------------------------------------------------------

REACH = {
    "module private slot": "import helper\nout = getattr(helper, '_runtime', None)\n",
    "module namespace slot": "import helper\nout = getattr(helper, '_ns', None)\n",
    "runtime by computed name": "import helper\nk = '__mux_' + 'runtime__'\n"
                                "out = getattr(helper, k)\n",
    "module __getattr__": "import helper\nout = getattr(helper, '__getattr__')('x')\n",
    "open's object": "out = getattr(open, '__self__')\n",
    "open's function": "out = getattr(open, '__func__')\n",
    "function globals": "import helper\nout = getattr(helper.f, '__globals__')\n",
    "function builtins": "import helper\nout = getattr(helper.f, '__builtins__')\n",
    "format field": "import helper\nout = '{0.__globals__}'.format(helper.f)\n",
    "format field on open": "out = '{0.__self__.app_root}'.format(open)\n",
    "reduce getattr": "import functools, helper\n"
                      "out = functools.reduce(getattr, ['f', '__globals__'], helper)\n",
    "attrgetter": "import operator, helper\n"
                  "out = operator.attrgetter('f.__globals__')(helper)\n",
    "methodcaller": "import operator, helper\n"
                    "out = operator.methodcaller('__getattribute__', '__mux_runtime__')(helper)\n",
    "generator frame": "def g():\n    yield 1\nout = getattr(g(), 'gi_frame').f_globals\n",
    "coroutine frame": "async def c():\n    return 1\nx = c()\n"
                       "try:\n    out = getattr(x, 'cr_frame')\nfinally:\n    x.close()\n",
    "traceback frame": "try:\n    1 / 0\nexcept Exception as e:\n"
                       "    out = getattr(e, '__traceback__')\n",
    "module copy": "import copy, helper\nout = copy.copy(helper)\n",
    "module deepcopy": "import copy, helper\nout = copy.deepcopy(helper)\n",
    "partial over getattr": "import functools, helper\n"
                            "out = functools.partial(getattr, helper, '__mux_runtime__')()\n",
    "decorator": "def grab(fn):\n    return getattr(fn, '__globals__')\n"
                 "@grab\ndef g():\n    pass\nout = g\n",
    "class body names": "class C:\n    x = getattr(open, '__self__')\nout = C.x\n",
    "module class": "import helper\nout = getattr(helper, '__class__')\n",
    "vars": "out = vars()\n",
    "dir": "import helper\nout = dir(helper)\n",
    "root package": "from . import helper\nimport helper as h\n"
                    "out = getattr(h, '_runtime', None)\n",
    "__all__ naming the runtime": "__all__ = ['__mux_runtime__', 'open']\n"
                                  "import helper\nout = [getattr(helper, n) for n in __all__]\n",
}


@pytest.mark.parametrize("source", REACH.values(), ids=REACH.keys())
def test_tenant_code_never_holds_a_runtime_or_the_shared_builtins(pair, source):
    a, _a_log, _b, _b_log = pair
    result = compile_tenant(source, "a/index.py")
    if not result.ok:
        return  # refused at deploy, with file and line
    namespace = a.new_namespace("index", "index.py")
    try:
        a.run(result.code, namespace)
    except Exception:
        pass  # refused while it ran
    forbidden = _host_objects(a)
    for name, value in namespace.items():
        if name in ("__builtins__", RUNTIME_KEY):
            continue  # the host's own entries of the namespace
        assert not _reaches(value, forbidden), (name, value)


def test_import_refuses_globals_that_only_look_like_a_tenants():
    """What CPython hands ``__import__`` is a frame's globals; a dict that
    names a runtime's tenant, or holds a stand-in object of another class
    (a tenant class with the same name), is no runtime."""
    table = tenant_builtins()

    class TenantRuntimeLookalike:
        import_module = staticmethod(lambda *args: "imported")

    for fake in ({RUNTIME_KEY: TenantRuntimeLookalike()}, {"__mux_tenant__": "a"},
                 {RUNTIME_KEY: TenantRuntime}):
        with pytest.raises(ImportError):
            table["__import__"]("json", fake, None, (), 0)


# -- changing the shared dict or its values --------------------------------------------------------

CHANGE = {
    "setattr on a builtin function": "setattr(max, 'x', 1)\n",
    "attribute on a builtin function": "sorted.key = 1\n",
    "a type guard's private slot": "setattr(list, '_type', dict)\n",
    "a type guard's constructor": "setattr(str, '_construct', len)\n",
    "update_wrapper on a builtin": "import functools\ndef f():\n    pass\n"
                                   "functools.update_wrapper(max, f)\n",
    "wraps on a builtin": "import functools\ndef f():\n    pass\nfunctools.wraps(f)(getattr)\n",
    "update_wrapper on open": "import functools\ndef f():\n    pass\n"
                              "functools.update_wrapper(open, f)\n",
    "delattr on super": "delattr(super, '__name__')\n",
    "class with a guard as base": "class L(list):\n    pass\nL.extra = 1\nlist.extra = 2\n",
    "metaclass through type": "class M(type):\n    pass\n",
    "type with three arguments": "X = type('X', (), {'y': 1})\n",
    "rebinding a builtin name": "def f():\n    global max, len, open\n"
                                "    max = len = open = 'mine'\nf()\n",
    "deleting a builtin name": "del max\n",
}


def _snapshot(table):
    return {name: (value, dict(getattr(value, "__dict__", {})),
                   getattr(value, "__name__", None)) for name, value in table.items()}


@pytest.mark.parametrize("source", CHANGE.values(), ids=CHANGE.keys())
def test_tenant_code_changes_nothing_in_the_shared_builtins(pair, source):
    a, _a_log, b, b_log = pair
    table = tenant_builtins()
    before = _snapshot(table)
    result = compile_tenant(source, "a/index.py")
    if result.ok:
        try:
            a.run(result.code, a.new_namespace("index", "index.py"))
        except Exception:
            pass
    assert _snapshot(table) == before
    # The other tenant's code sees the same table and its own names.
    namespace = _run(b, "import helper\n"
                        "out = (max([1, 2]), len('ab'), sorted([2, 1]), helper.f(),\n"
                        "       open('/app/note.txt').read())\n")
    assert namespace["out"] == (2, 2, [1, 2], "helper of b", "app file of b")
    assert b_log == ["f of b"]


def test_a_tenants_class_statement_leaves_the_class_factory_stateless(pair):
    a, _a_log, b, _b_log = pair
    factory = tenant_builtins()["__metaclass__"]
    _run(a, "class Base:\n    tag = 'a'\n"
            "class Child(Base):\n    pass\n")
    namespace = _run(b, "class Child:\n    pass\nout = getattr(Child, 'tag', 'none')\n")
    assert namespace["out"] == "none"
    assert not hasattr(factory, "__dict__") and type(factory).__slots__ == ()


# -- values that act for their tenant, whoever runs them --------------------------------------------

def test_a_tenants_functions_import_print_and_open_as_that_tenant_when_another_calls_them(pair):
    """Suppose a value of tenant a reached tenant b's code (the threat the
    shared dict must survive): it acts for a — never for b, the caller."""
    a, a_log, b, b_log = pair
    _run(a, "with open('/data/own.txt', 'w') as f:\n    f.write('data of a')\n")
    a_ns = _run(a, "import functools\n"
                   "def worker():\n"
                   "    import helper\n"
                   "    print('worker of a')\n"
                   "    with open('/data/own.txt') as f:\n"
                   "        return helper.NAME, f.read()\n"
                   "def gen():\n"
                   "    import helper\n"
                   "    print('gen of a')\n"
                   "    yield helper.NAME\n"
                   "class Box:\n"
                   "    def method(self):\n"
                   "        import helper\n"
                   "        print('method of a')\n"
                   "        return helper.NAME\n"
                   "def deco(fn):\n"
                   "    def wrapped():\n"
                   "        import helper\n"
                   "        return helper.NAME, fn()\n"
                   "    return wrapped\n"
                   "later = functools.partial(worker)\n")
    b_ns = _run(b, "def call_all(worker, gen, box, deco, later):\n"
                   "    import helper\n"
                   "    print('b calls')\n"
                   "    def mine():\n"
                   "        import helper\n"
                   "        return helper.NAME\n"
                   "    return (worker(), next(gen()), box.method(), deco(mine)(), later(),\n"
                   "            helper.NAME)\n")
    out = b_ns["call_all"](a_ns["worker"], a_ns["gen"], a_ns["Box"](), a_ns["deco"],
                           a_ns["later"])
    assert out == (("helper of a", "data of a"), "helper of a", "helper of a",
                   ("helper of a", "helper of b"), ("helper of a", "data of a"), "helper of b")
    assert "b calls" in b_log and not any("of a" in line for line in b_log)
    assert {"worker of a", "gen of a", "method of a"} <= set(a_log)
    assert "b calls" not in a_log
    # b's /data was never touched by a's code: it was never even made.
    assert not os.path.exists(b.files.data_root)


def test_a_tenant_that_rebinds_open_changes_only_its_own_module(pair):
    a, _a_log, b, _b_log = pair
    a_ns = _run(a, "def fake(*args, **kwargs):\n    return 'fake'\nopen = fake\n"
                   "import helper\nout = (open('/app/note.txt'), helper.read('/app/note.txt'))\n")
    assert a_ns["out"] == ("fake", "app file of a")
    b_ns = _run(b, "out = open('/app/note.txt').read()\n")
    assert b_ns["out"] == "app file of b"


GENERATOR_IN_A_CYCLE = ("def gen():\n"
                        "    try:\n"
                        "        yield 1\n"
                        "    finally:\n"
                        "        print('late print')\n"
                        "        import helper\n"
                        "        open('/data/late.txt', 'w').write(helper.NAME)\n"
                        "def make():\n"
                        "    g = gen()\n"
                        "    next(g)\n"
                        "    cycle = [g]\n"
                        "    cycle.append(cycle)\n"
                        "make()\n")


def _collect_while(b):
    """Run b's code, then a collection (which runs whatever tenant's
    finalizers are due); the errors it reports."""
    errors = []
    saved = sys.unraisablehook
    sys.unraisablehook = lambda unraisable: errors.append(unraisable.exc_type)
    try:
        b_ns = _run(b, "def work():\n    print('b works')\n    return 1\n")
        assert b_ns["work"]() == 1
        gc.collect()
    finally:
        sys.unraisablehook = saved
    return errors


def test_a_generators_finally_run_by_the_collector_acts_for_itstenant_runtime(tmp_path):
    """The collector may run a tenant's generator ``finally`` while another
    tenant's code is the latest to run: it prints, imports and opens as
    the tenant that made it."""
    a, a_log = tenant_runtime(tmp_path, "a", {"helper": "NAME = 'a'\n", "cyc": GENERATOR_IN_A_CYCLE})
    b, b_log = tenant_runtime(tmp_path, "b", {"helper": "NAME = 'b'\n"})
    _run(a, "import cyc\n")
    assert _collect_while(b) == []
    assert a_log == ["late print"] and b_log == ["b works"]
    with open(os.path.join(a.files.data_root, "late.txt")) as f:
        assert f.read() == "a"
    assert not os.path.exists(b.files.data_root)


def test_a_generators_finally_run_after_eviction_acts_for_no_one(tmp_path):
    """After an eviction cleared its modules, the same ``finally`` finds no
    tenant (the runtime is no longer in its globals): nothing of the
    running tenant is touched, and nothing is written for the evicted one."""
    a, a_log = tenant_runtime(tmp_path, "a", {"helper": "NAME = 'a'\n", "cyc": GENERATOR_IN_A_CYCLE})
    b, b_log = tenant_runtime(tmp_path, "b", {"helper": "NAME = 'b'\n"})
    _run(a, "import cyc\n")
    a.close()
    errors = _collect_while(b)
    assert errors and all(issubclass(e, (ImportError, NameError)) for e in errors), errors
    assert "late print" not in b_log and b_log == ["b works"]
    assert not os.path.exists(os.path.join(a.files.data_root, "late.txt"))
    assert not os.path.exists(b.files.data_root)


# -- Flask templates -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def host(tmp_path_factory):
    yield from attack_host(tmp_path_factory, "shared-builtins", SECRET)


TEMPLATES = {
    "runtime through the module": "{{ m.__mux_runtime__ }}",
    "runtime by attr filter": "{{ m|attr('__mux_runtime__') }}",
    "runtime by item": "{{ m['__mux_runtime__'] }}",
    "namespace slot": "{{ m|attr('_ns') }}",
    "open's object": "{{ o.__self__ }}",
    "open's object by attr": "{{ o|attr('__self__') }}",
    "function globals": "{{ f.__globals__ }}",
    "function builtins": "{{ f|attr('__builtins__') }}",
    "builtins through the module open": "{{ m.open|attr('__self__')|attr('app_root') }}",
    "secret through open": "{{ o('../secret.txt').read() }}",
    "another tenant's data through open": "{{ o('/data/../other/x').read() }}",
    "absolute path through open": "{{ o('/proc/self/environ').read() }}",
}


@pytest.mark.parametrize("template", TEMPLATES.values(), ids=TEMPLATES.keys())
def test_templates_reach_no_runtime_and_no_file_outside(host, template):
    source = ("import sys\n"
              "from flask import render_template_string\n"
              "import helper\n"
              "def get():\n"
              f"    return render_template_string({template!r}, m=helper, o=open, f=helper.f)\n")
    host.write("tpl", {"index.py": source, "helper.py": "def f():\n    return 1\n"},
               "[limits]\ncpu_ms = 300\nwall_s = 3\nmemory_mb = 32\n")
    outcome = host.request("tpl")
    host.close("tpl")
    assert outcome.status != 200 or outcome.body.strip() in ("", "None"), outcome.body[:300]
    assert "TenantRuntime" not in outcome.body and "TenantFiles" not in outcome.body
    assert_nothing_leaked(host, outcome, SECRET)


def test_a_template_filter_that_prints_logs_for_itstenant_runtime(host):
    """``print`` in a tenant function Jinja calls (a filter): the caller's
    frame is Jinja's, the function's own module holds its tenant."""
    source = ("from flask import Flask, render_template_string\n"
              "app = Flask(__name__)\n"
              "@app.template_filter('shout')\n"
              "def shout(text):\n"
              "    print('filter ran')\n"
              "    return text.upper()\n"
              "@app.route('/')\n"
              "def index():\n"
              "    return render_template_string('{{ \"hi\"|shout }}')\n")
    host.write("tplfilter", {"index.py": source}, "[limits]\ncpu_ms = 300\nmemory_mb = 32\n")
    outcome = host.request("tplfilter")
    host.close("tplfilter")
    assert outcome.status == 200 and outcome.body == "HI", outcome
    assert "filter ran" in outcome.text


def test_template_source_helper_still_serves(host):
    """The shared harness is unchanged by these cases (a plain render)."""
    outcome = serve(host, "tplplain", template_source("{{ 1 + 1 }}"))
    assert (outcome.status, outcome.body) == (200, "2")


# -- /data made on first use -------------------------------------------------------------------

DATA_ROADS = {
    "open for write": "open('/data/x.txt', 'w').write('x')\n",
    "open for read": "try:\n    open('/data/missing.txt')\nexcept OSError:\n    pass\n",
    "listdir": "import os\nos.listdir('/data')\n",
    "makedirs": "import os\nos.makedirs('/data/a/b')\n",
    "exists": "import os\nos.path.exists('/data/x')\n",
    "sqlite": "import sqlite3\ndb = sqlite3.connect('/data/db.sqlite')\n"
              "db.execute('create table t (x)')\ndb.close()\n",
}


@pytest.mark.parametrize("source", DATA_ROADS.values(), ids=DATA_ROADS.keys())
def test_data_is_made_private_by_every_road_whatever_the_umask(tmp_path, source):
    runtime, _ = tenant_runtime(tmp_path, "a", {})
    old = os.umask(0)  # the folder's mode is its own, not the process's umask
    try:
        _run(runtime, source)
    finally:
        os.umask(old)
    mode = stat.S_IMODE(os.stat(runtime.files.data_root).st_mode)
    assert mode == 0o700, oct(mode)


@pytest.mark.parametrize("name", ["/data/..", "/data/../b", "/data/../b/secret.txt",
                                  "/data/../../b/data/secret.txt", "/data/./../a-evil",
                                  "/data/%2e%2e/b", "../data/../b"])
def test_first_use_of_data_makes_nothing_outside_it(tmp_path, name):
    a, _ = tenant_runtime(tmp_path, "a", {})
    b, _ = tenant_runtime(tmp_path, "b", {})
    b.files.ensure_data()
    (tmp_path / "b" / "data" / "secret.txt").write_text(SECRET)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    namespace = _run(a, "import os\n"
                        "def probe(name):\n"
                        "    try:\n"
                        "        return open(name, 'w')\n"
                        "    except OSError as e:\n"
                        "        return str(e)\n"
                        "    except ValueError as e:\n"
                        "        return str(e)\n")
    out = namespace["probe"](name)
    assert isinstance(out, str), out
    assert SECRET not in out and str(tmp_path) not in out
    after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    made = set(after) - set(before)
    assert made <= {Path(os.path.relpath(a.files.data_root, tmp_path))}, made
    assert (tmp_path / "b" / "data" / "secret.txt").read_text() == SECRET


def test_a_tenant_without_data_gets_no_folder_by_any_road(tmp_path):
    runtime, _ = tenant_runtime(tmp_path, "a", {}, data=False)
    namespace = _run(runtime, "import os\n"
                              "def probe(name):\n"
                              "    try:\n"
                              "        open(name, 'w')\n"
                              "    except OSError as e:\n"
                              "        return str(e)\n")
    assert "not available" in namespace["probe"]("/data/x")
    assert not (tmp_path / "a" / "data").exists()


def test_a_tenant_that_removes_its_data_folder_gets_a_private_one_back(tmp_path):
    """``os.rmdir('/data')`` is the tenant's own folder (empty); the next
    use by the host's stores must not make it with the process's umask."""
    runtime, _ = tenant_runtime(tmp_path, "a", {})
    _run(runtime, "import os\nos.listdir('/data')\nos.rmdir('/data')\nos.mkdir('/data')\n")
    assert stat.S_IMODE(os.stat(runtime.files.data_root).st_mode) == 0o700


def test_a_symlink_where_data_will_be_made_is_never_followed(tmp_path):
    """/data does not exist until first use: a link put there meanwhile
    (an operator's mistake, a restore gone wrong) lets no file out."""
    runtime, _ = tenant_runtime(tmp_path, "a", {})
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(SECRET)
    os.makedirs(os.path.dirname(runtime.files.data_root), exist_ok=True)
    os.symlink(outside, runtime.files.data_root)
    namespace = _run(runtime, "def probe():\n"
                              "    try:\n"
                              "        return open('/data/secret.txt').read()\n"
                              "    except OSError as e:\n"
                              "        return 'refused'\n")
    assert namespace["probe"]() == "refused"


# -- real_folder's remembered parents ------------------------------------------------------------

def test_real_folder_answers_as_realpath(tmp_path):
    real = tmp_path / "real"
    (real / "t").mkdir(parents=True)
    link = tmp_path / "link"
    link.symlink_to(real)
    (tmp_path / "tl").symlink_to(real / "t")
    for path in (str(link / "t"), str(real / "t"), str(link / "missing"), str(tmp_path / "tl"),
                 str(link / "t") + "/", str(link) + "/./t", str(link / ".." / "real" / "t"),
                 "relative/t"):
        assert real_folder(path) == os.path.realpath(path), path


def test_a_repointed_tenants_folder_is_not_served_from_its_old_target(tmp_path):
    old, new = tmp_path / "release-1", tmp_path / "release-2"
    for release in (old, new):
        (release / "t").mkdir(parents=True)
        (release / "t" / "version.txt").write_text(release.name)
    tenants = tmp_path / "tenants"
    tenants.symlink_to(old)
    assert TenantFiles(str(tenants / "t")).app_root == str(old / "t")
    # The operator repoints the tenants folder (a new release); the tenant
    # is started again from it.
    tenants.unlink()
    tenants.symlink_to(new)
    files = TenantFiles(str(tenants / "t"))
    runtime = TenantRuntime("t", load_lib=lambda name: None, files=files)
    namespace = _run(runtime, "def probe():\n"
                              "    try:\n"
                              "        return open('/app/version.txt').read()\n"
                              "    except OSError:\n"
                              "        return 'refused'\n")
    assert namespace["probe"]() in ("release-2", "refused")


def test_real_folder_forgets_when_full(tmp_path):
    files_module._REAL_PARENTS.clear()
    for i in range(files_module.MAX_REAL_PARENTS + 6):
        (tmp_path / f"p{i}").mkdir()
        real_folder(str(tmp_path / f"p{i}" / "t"))
    assert len(files_module._REAL_PARENTS) <= files_module.MAX_REAL_PARENTS


# -- open as a module global ---------------------------------------------------------------------

COPIES_OF_OPEN = {
    "copy": "import copy\nout = copy.copy(open)\n",
    "deepcopy": "import copy\nout = copy.deepcopy(open)\n",
    "deepcopy inside an object": "import copy\nclass C:\n    pass\nc = C()\nc.o = open\n"
                                 "out = copy.deepcopy(c).o\n",
    "deepcopy inside a dict": "import copy\nout = copy.deepcopy({'o': open})['o']\n",
}


@pytest.mark.parametrize("source", COPIES_OF_OPEN.values(), ids=COPIES_OF_OPEN.keys())
def test_open_cannot_be_copied_into_a_second_ledger(tmp_path, source):
    """A copy of ``open`` would be bound to a copy of the tenant's files
    with an empty ledger: :data:`MAX_OPEN_FILES` again per copy, and
    files the eviction never closes."""
    runtime, _ = tenant_runtime(tmp_path, "a", {})
    result = compile_tenant(source, "a/index.py")
    assert result.ok, result.errors
    namespace = runtime.new_namespace("index", "index.py")
    with pytest.raises(Exception, match="not allowed"):
        runtime.run(result.code, namespace)


def _packagetenant_runtime(tmp_path):
    modules = {"pkg": ("", True), "helper": ("x = 1\n", False),
               "pkg.open": ("def handler():\n    return 'the submodule'\n", False)}

    def load_lib(name):
        if name not in modules:
            return None
        source, is_package = modules[name]
        result = compile_tenant(source, name + ".py")
        assert result.ok, result.errors
        path = name.replace(".", "/") + ("/__init__.py" if is_package else ".py")
        return LibSource(result.code, path, is_package)

    (tmp_path / "app").mkdir()
    return TenantRuntime("t", load_lib=load_lib, files=TenantFiles(tmp_path / "app", None))


@pytest.mark.parametrize("source", [
    "import pkg.open\nout = pkg.open.handler()\n",
    "from pkg import open as o\nout = o.handler()\n",
    "import pkg.open as o\nout = o.handler()\n",
])
def test_a_submodule_named_open_is_imported_as_in_python(tmp_path, source):
    runtime = _packagetenant_runtime(tmp_path)
    assert _run(runtime, source)["out"] == "the submodule"


def test_a_module_offers_no_open_attribute_it_does_not_define(tmp_path):
    runtime = _packagetenant_runtime(tmp_path)
    namespace = _run(runtime, "import helper\nout = hasattr(helper, 'open')\n")
    assert namespace["out"] is False

"""One builtins dict for every tenant (sandbox.runtime.tenant_builtins):
what acts for a tenant finds it in its module's globals, and what a tenant
can hold as a value carries its tenant with it."""

import pytest

from sandbox import compile_tenant
from sandbox.guards.builtins import builtin_names
from sandbox.runtime import RUNTIME_KEY
from sandbox.runtime import tenant_builtins
from tests.sandbox.rounds import tenant_runtime


def _run(runtime, source):
    result = compile_tenant(source, f"{runtime.tenant}/index.py")
    assert result.ok, result.errors
    return runtime.run(result.code, runtime.new_namespace("index", "index.py"))


def test_tenants_share_one_builtins_dict_and_keep_their_own_imports_and_print(tmp_path):
    helper = {"helper": "NAME = 'from {}'\ndef shout(text):\n    print(text.upper())\n"}
    a, a_log = tenant_runtime(tmp_path, "a", {"helper": helper["helper"].format("a")})
    b, b_log = tenant_runtime(tmp_path, "b", {"helper": helper["helper"].format("b")})
    assert a.builtins is b.builtins is tenant_builtins()
    source = ("import helper\n"
              "def run():\n"
              "    from helper import NAME\n"
              "    class Box:\n"
              "        import json\n"
              "        value = json.dumps(NAME)\n"
              "    helper.shout(Box.value)\n"
              "    print('done')\n"
              "    return Box.value\n"
              "result = run()\n")
    assert _run(a, source)["result"] == '"from a"'
    assert _run(b, source)["result"] == '"from b"'
    assert a_log == ['"FROM A"', "done"]
    assert b_log == ['"FROM B"', "done"]


def test_open_handed_to_another_tenant_still_opens_its_own_files(tmp_path):
    a, _ = tenant_runtime(tmp_path, "a", {})
    b, _ = tenant_runtime(tmp_path, "b", {})
    a_ns = _run(a, "with open('/data/note.txt', 'w') as f:\n    f.write('a secret')\n")
    b_ns = _run(b, "def read(opener):\n    with opener('/data/note.txt') as f:\n        return f.read()\n")
    # Suppose tenant a's open reached tenant b's code (a callback, a value
    # kept somewhere): it is a's, by what it is, not by who calls it.
    assert b_ns["read"](a_ns["open"]) == "a secret"
    with pytest.raises(FileNotFoundError):
        b_ns["read"](b_ns["open"])


@pytest.mark.parametrize("source", [
    "x = __mux_runtime__\n",
    "x = globals()\n",
    "x = __builtins__\n",
    "import helper\nx = helper.__mux_runtime__\n",
])
def test_tenant_code_cannot_name_the_runtime_or_the_builtins(tmp_path, source):
    runtime, _ = tenant_runtime(tmp_path, "a", {"helper": "y = 1\n"})
    result = compile_tenant(source, "a/index.py")
    if not result.ok:
        return  # refused at deploy: what the policy is for
    with pytest.raises((NameError, AttributeError)):
        runtime.run(result.code, runtime.new_namespace("index", "index.py"))


def test_reading_the_runtime_through_the_module_object_is_refused(tmp_path):
    runtime, _ = tenant_runtime(tmp_path, "a", {"helper": "y = 1\n"})
    namespace = _run(runtime, "import helper\n"
                              "def probe(name):\n"
                              "    return getattr(helper, name)\n")
    assert namespace[RUNTIME_KEY] is runtime
    for name in (RUNTIME_KEY, "__builtins__", "__mux_tenant__"):
        with pytest.raises(AttributeError):
            namespace["probe"](name)


@pytest.mark.parametrize("globals_", [None, {}, {RUNTIME_KEY: "a"}, {RUNTIME_KEY: object()}, "x"])
def test_the_shared_import_refuses_globals_without_a_runtime(globals_):
    with pytest.raises(ImportError):
        tenant_builtins()["__import__"]("json", globals_, None, (), 0)


def test_the_deploy_checks_know_every_builtin_tenant_code_has():
    """pyflakes at deploy reads builtin_names(); a name the runtime gives
    tenant code and the list lacks would refuse code that runs."""
    assert set(tenant_builtins()) <= builtin_names()
    assert {"open", "print", "FileNotFoundError"} <= builtin_names()
    assert not {"globals", "vars", "eval", "SystemExit"} & builtin_names()

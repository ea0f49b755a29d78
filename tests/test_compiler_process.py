"""The supervisor's compiler process: it compiles as the scanner would in
process, and imports only what a compile needs.

Configuration, compiling and reading a module's routes import neither the
tenant API nor the sandbox's runtime and facades (Jinja2, yaml, sqlite3,
asyncio): the compiler process was 45 MiB of RSS with them, 34 without.
"""

import json
import marshal
from pathlib import Path

import pytest

from muxserver.compiler import Compiler
from muxserver.config import Config
from muxserver.tenancy.compiling import compile_locally

EXAMPLES = Path(__file__).resolve().parent.parent / "tenants"
#: Extension modules only the runtime's facades load.
FACADE_LIBRARIES = ("_sqlite3", "_yaml", "_asyncio")


def _sources():
    return sorted(p for p in EXAMPLES.rglob("*.py") if "static" not in p.parts)


@pytest.fixture
def compiler(tmp_path):
    compiler = Compiler(Config.build({"tenants_dir": str(EXAMPLES)}))
    yield compiler
    compiler.stop()


def test_the_compiler_process_answers_as_compiling_here(compiler):
    sources = _sources()
    assert len(sources) >= 10
    for path in sources:
        name = f"{path.parent.name}/{path.name}"
        text = path.read_text()
        here = compile_locally(text, name)
        there = compiler(text, name)
        assert there[2] == here[2] == (), (name, there[2], here[2])
        # The same code (marshal's bytes may differ in reference flags alone).
        assert marshal.loads(there[0]) == marshal.loads(here[0]), f"{name}: other code"
        # Facts cross the channel as JSON (tuples arrive as lists).
        assert there[1] == json.loads(json.dumps(here[1])), f"{name}: other facts"


def test_the_compiler_process_loads_none_of_the_facades(compiler):
    text = "import json\nfrom mux import request\n\ndef get():\n    return request.args\n"
    code, _, errors = compiler(text, "t/index.py")
    assert code and errors == ()
    maps = Path(f"/proc/{compiler._proc.pid}/maps").read_text()
    loaded = [lib for lib in FACADE_LIBRARIES if f"/{lib}." in maps]
    assert loaded == [], f"the compiler process imported a facade's library: {loaded}"


def test_a_compile_here_needs_no_facade():
    # The module the compiler process runs, in a fresh interpreter.
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from muxserver.config import Config\n"
        "from muxserver.tenancy.compiling import compile_locally\n"
        f"Config.build({{'tenants_dir': {str(EXAMPLES)!r}}})\n"
        "code, facts, errors = compile_locally('def get():\\n    return 1\\n', 't/index.py')\n"
        "assert code and not errors, errors\n"
        "heavy = sorted(m for m in sys.modules if m.startswith(('sandbox.facades', "
        "'sandbox.runtime', 'muxserver.tenant_api', 'jinja2', 'yaml', 'sqlite3')))\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, "
                          f"{str(EXAMPLES.parent)!r})\n" + script],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]", out.stdout

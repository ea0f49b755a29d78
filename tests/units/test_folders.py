"""The folder reader (:mod:`muxserver.tenancy.folders`): which expressions
it reads, in which scope, and what they compute to for a module's file."""

import ast
import textwrap

from muxserver.tenancy.folders import NOT_READ
from muxserver.tenancy.folders import FolderReader
from muxserver.tenancy.folders import enclosing_functions
from muxserver.tenancy.folders import evaluate
from muxserver.tenancy.folders import tenant_folder
from muxserver.tenancy.folders import uses_cwd
from muxserver.tenancy.routes import imported_names


def folders_of(source: str, module_file: str = "pkg/__init__.py") -> list:
    """The value of each ``Folder(x)`` call's argument (None: not read)."""
    tree = ast.parse(textwrap.dedent(source))
    reader = FolderReader(tree, imported_names(tree))
    found = []
    for node, functions in enclosing_functions(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Folder":
            recipe = reader.read(node.args[0], functions)
            found.append(None if recipe is NOT_READ else evaluate(recipe, module_file))
    return found


def test_the_forms_of_os_path_and_file_are_read_as_the_sandbox_computes_them():
    assert folders_of("""
        import os
        import os.path as op
        from os import path
        from os.path import join as j, abspath, dirname
        BASE_DIR = os.path.abspath(os.path.dirname(__file__))
        UP: str = op.dirname(op.dirname(op.realpath(__file__)))
        Folder(os.path.join(BASE_DIR, "static"))
        Folder(path.join(abspath(dirname(__file__)), "a", "b"))
        Folder(j(UP, "frontend", "dist") + "/")
        Folder(str(f"{BASE_DIR}/x"))
        Folder(os.path.normpath(os.getcwd() + "/../app/y"))
        Folder(abspath("templates"))
        Folder("../client/build")
        Folder(None)
    """) == ["/app/pkg/static", "/app/pkg/a/b", "/app/frontend/dist/", "/app/pkg/x", "/app/y",
             "/app/templates", "../client/build", None]


def test_only_names_bound_once_in_the_scope_of_the_call_are_read():
    assert folders_of("""
        import os
        from settings import IMPORTED
        BASE = os.path.dirname(__file__)
        TWICE = "a"
        TWICE = "b"
        for LOOPED in ["c"]:
            pass
        Folder(IMPORTED)
        Folder(TWICE)
        Folder(LOOPED)
        Folder(os.getenv("STATIC", "static"))
        Folder(os.path.join(BASE, 1))

        def create_app(BASE=None):
            here = os.path.dirname(__file__)
            Folder(BASE)                       # the parameter, not the module's
            Folder(os.path.join(here, "s"))
            for item in []:
                Folder(item)
            return lambda: Folder(here + "/inner")
    """) == [None, None, None, None, None, None, "/app/pkg/s", None, "/app/pkg/inner"]


def test_str_rebound_by_the_module_is_not_read_as_the_builtin():
    assert folders_of("""
        def str(value):
            return "elsewhere"
        Folder(str("static"))
    """) == [None]


def test_a_recipe_that_doubles_through_names_stops_being_read():
    """Each name used twice doubles the recipe: it is weighed as it is made
    and not read past its bound, in time linear in the source."""
    lines = ["import os", "A0 = os.path.dirname(__file__)"]
    lines += [f"A{i} = os.path.join(A{i - 1}, A{i - 1})" for i in range(1, 60)]
    lines += ["Folder(A5)", "Folder(A59)"]
    first, last = folders_of("\n".join(lines))
    assert first is not None and first.startswith("/app/pkg") and last is None


def test_a_recipe_nested_through_hundreds_of_names_stops_being_read():
    lines = ["import os", "B0 = os.path.dirname(__file__)"]
    lines += [f"B{i} = os.path.dirname(B{i - 1})" for i in range(1, 200)]
    lines += ["Folder(B3)", "Folder(B199)"]
    assert folders_of("\n".join(lines)) == ["/", None]


def test_a_folder_is_placed_in_the_tenant_or_outside_it():
    assert tenant_folder("static", "/app/pkg") == "pkg/static"
    assert tenant_folder("/app/pkg/../frontend/build", "/app/pkg") == "frontend/build"
    assert tenant_folder("..", "/app/pkg") == "."
    assert tenant_folder("../..", "/app/pkg") is None
    assert tenant_folder("/srv/static", "/app") is None
    assert tenant_folder("/application", "/app") is None


def test_a_folder_from_the_working_directory_is_told_apart():
    tree = ast.parse("import os\nBASE = os.path.dirname(os.path.abspath(__file__))\n"
                     "x = os.path.abspath('static')\ny = os.path.join(BASE, 'static')\n")
    reader = FolderReader(tree, imported_names(tree))
    cwd, module = (reader.read(node.value) for node in tree.body[2:])
    assert uses_cwd(cwd, "app.py") and not uses_cwd(module, "app.py")


def test_the_folder_reader_sees_the_tenant_folder_where_the_sandbox_puts_it():
    from sandbox.facades.files import APP as SANDBOX_APP
    from muxserver.tenancy.folders import APP

    assert APP == SANDBOX_APP


def test_a_top_level_str_call_is_read_like_any_other_name():
    """``PORT = str(8080)`` at a module's top made the reader ask for the
    module's names before it had them: every such tenant failed to register
    (an AttributeError the scan did not expect; in-process, the whole app)."""
    assert folders_of("""
        PORT = str(8080)
        HERE = str(__file__)
        Folder(HERE)
        Folder(HERE + PORT)
    """, "app.py") == ["/app/app.py", None]  # a number is no part of a folder's name here


def test_a_part_shared_by_names_is_computed_once():
    """``A2 = join(A1, A1)`` ... doubles the paths through a recipe, not its
    parts: a thousand folders of A12 took the supervisor 8 s at every scan."""
    import muxserver.tenancy.folders as folders

    source = "import os\nA0 = 'a'\n" + "".join(
        f"A{i} = os.path.join(A{i - 1}, A{i - 1})\n" for i in range(1, 13)) + "Folder(A12)\n"
    calls = []
    real = folders._apply
    folders._apply = lambda *args: calls.append(1) or real(*args)
    try:
        [value] = folders_of(source, "app.py")
    finally:
        folders._apply = real
    assert value == "/".join(["a"] * 4096)
    assert len(calls) == 12


def test_a_name_no_folder_can_have_is_no_tenant_folder():
    """A static folder holding a NUL (or a lone surrogate) deployed, then
    every request under it was a server fault: the host's realpath raised."""
    for name in ("st\x00atic", "\ud800", "a/\x00"):
        assert tenant_folder(name, "/app") is None, repr(name)
    assert tenant_folder("\udc80x", "/app") == "\udc80x"  # a byte no encoding decoded: a name


def test_a_name_the_module_rebinds_in_any_form_is_not_read():
    """Every binding of the module's scope makes a name variable: ``:=``
    (in an expression, a comprehension, a default, a decorator), ``match``
    captures, ``with``/``except ... as``, ``del``, ``+=``, a ``global`` of
    a method's, a ``from m import *`` after it. Flask reads the last value:
    the reader read the first (a walrus, a match) and served another folder."""
    forms = [
        "if (S := 'b'):\n    pass",
        "(S := 'b')",
        "[S := x for x in ['b']]",
        "{x: (S := x) for x in ['b']}",
        "def f(x=(S := 'b')):\n    pass",
        "g = lambda x=(S := 'b'): x",
        "@print(S := 'b')\ndef h():\n    pass",
        "class C(dict, metaclass=type(S := 'b')):\n    pass",
        "match 'b':\n    case S:\n        pass",
        "match ['b']:\n    case [*S]:\n        pass",
        "match {}:\n    case {**S}:\n        pass",
        "import contextlib\nwith contextlib.nullcontext('b') as S:\n    pass",
        "try:\n    pass\nexcept Exception as S:\n    pass",
        "del S",
        "S += 'b'",
        "class D:\n    def m(self):\n        global S\n        S = 'b'",
        "from os.path import *",
        "for S in ['b']:\n    pass",
        "(S, T) = 'b', 'c'",
        "import json as S",
    ]
    for form in forms:
        source = f"S = 'a'\n{form}\nFolder(S)\n"
        assert folders_of(source, "app.py") == [None], form


def test_names_bound_in_their_own_scope_leave_the_module_name_read():
    """A comprehension's loop variable, a function's or a class's names are
    their own: the module's S is still the one value."""
    assert folders_of("""
        S = 'a'
        [S for S in ['b']]
        def f(S='c'):
            S = 'd'
            (S := 'e')
        class C:
            S = 'f'
        Folder(S)
    """, "app.py") == ["a"]


def test_an_import_rebound_or_shadowed_is_not_read_as_the_module_it_names():
    """``from os.path import join`` then ``join = ...`` (or ``os = ...``)
    computes something else in Flask: the reader read os.path.join."""
    assert folders_of("""
        import os
        from os.path import join
        join = lambda *parts: "elsewhere"
        Folder(join("a", "b"))
    """, "app.py") == [None]
    assert folders_of("""
        import os
        for os in [None]:
            pass
        Folder(os.path.join("a", "b"))
    """, "app.py") == [None]
    assert folders_of("""
        from os.path import join
        from helpers import *
        Folder(join("a", "b"))
    """, "app.py") == [None]
    assert folders_of("""
        from helpers import join
        def create_app():
            from os.path import join
            Folder(join("a", "b"))
    """, "app.py") == [None]  # two joins: which one depends on where it is
    assert folders_of("""
        from os import path
        Folder(path.join("a", "b"))
        def create_app(path=None):
            Folder(path.join("a", "b"))
            def inner():
                Folder(path.join("a", "b"))
        def make_app():
            def join(*parts):
                return "elsewhere"
            from os.path import dirname
            Folder(dirname(join("a", "b")))
            Folder(dirname("a/b"))
        def str(value):
            return value
    """, "app.py") == ["a/b", None, None, None, "a"]

"""One tenant's execution environment: namespaces, imports and classes.

A :class:`TenantRuntime` is what makes two tenants strangers in one
process. Each has its own module facades (and so its own random
generator), its own ``lib`` modules, its own ``open`` and its own
``print``. The builtins dict is one per process (:func:`tenant_builtins`):
its values are stateless, and the three that act for a tenant find it in
the globals of the module that calls them (:data:`RUNTIME_KEY`). Tenant
modules are plain dicts executed with :func:`exec`; nothing is put in
``sys.modules``, so dropping the runtime drops every module it loaded.

The host supplies three things: a function that returns compiled code for
one of the tenant's modules by dotted name, the host modules (``mux``,
``flask``) as objects, and a sink for printed lines.

Imports follow Python's rules inside the tenant's folder: a tenant module
of that name first (``lib/`` is also on the path), relative imports inside
packages, then the facades of the allowed standard modules. A module runs
once per runtime; every importer gets the same module object.

The runtime records who imported whom. :meth:`TenantRuntime.component`
gives the modules a module is connected to by imports (either way), the
unit that can be dropped together without leaving another module with a
reference into a cleared namespace; :meth:`TenantRuntime.drop` takes such
a set out of the runtime, and the host clears their namespaces
(:func:`clear_modules`) when no request runs on them any more.
"""

from __future__ import annotations

import enum
import sys
from types import CodeType
from types import ModuleType
from typing import Callable
from typing import Mapping
from typing import NamedTuple

from sandbox import guards
from sandbox.guards.builtins import guard_construction
from sandbox.guards.consume import safe_str
from sandbox.guards.declared import declared
from sandbox.guards.declared import forget_tenant_classes
from sandbox.facades import BUILDERS
from sandbox.facades.classes import GuardedEnumType
from sandbox.facades.text import disable_shared_caches
from sandbox.facades import ModuleFacade
from sandbox.facades.files import TenantFiles
from sandbox.facades.numbers import Random as TenantRandom
from sandbox.facades.sqlite import LocalLock
from sandbox.facades.sqlite import SqliteState
from sandbox.guards.own_objects import MODULE_DATA_NAMES
from sandbox.guards.own_objects import RUNTIME_KEY
from sandbox.guards.own_objects import refused_special_method
from sandbox.guards.own_objects import refused_value_class

#: Longest line ``print()`` passes on.
MAX_PRINT_CHARS = 8192


class LibSource(NamedTuple):
    """Compiled code of one tenant module; ``code`` is None for a folder."""

    code: CodeType | None
    filename: str
    is_package: bool


@declared(dynamic=True)  # the tenant's own globals
class TenantModule:
    # A tenant's own module as seen by tenant code (its globals, read-only
    # from outside; private names and __version__, __all__... included, as
    # in Python). No docstring: ``module.__doc__`` is the module's own.

    __slots__ = ("_name", "_ns", "_runtime", "_is_package")
    #: Lets the guard read MODULE_DATA_NAMES here (sandbox.guards.own_objects).
    _module_data_ = True

    @property
    def __doc__(self):
        return object.__getattribute__(self, "_ns").get("__doc__")

    def __init__(self, name, ns, runtime, is_package):
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_ns", ns)
        object.__setattr__(self, "_runtime", runtime)
        object.__setattr__(self, "_is_package", is_package)

    def __getattr__(self, attr):
        get = object.__getattribute__
        if attr.startswith("_") and not guards.is_private_name(attr) \
                and attr not in MODULE_DATA_NAMES:
            raise AttributeError(attr)
        ns = get(self, "_ns")
        if attr in ns and not get(self, "_runtime").is_implicit(attr, ns[attr]):
            return ns[attr]
        name = get(self, "_name")
        if get(self, "_is_package"):
            sub = get(self, "_runtime").load_module(f"{name}.{attr}")
            if sub is not None:
                return sub
        raise AttributeError(f"module {name!r} has no attribute {attr!r}")

    def __setattr__(self, attr, value):
        raise TypeError("modules cannot be changed from outside; use a function")

    __delattr__ = __setattr__

    def __dir__(self):
        # Python's dir(module): its own names (Flask's from_object reads a
        # config module's upper-case names so).
        get = object.__getattribute__
        ns, runtime = get(self, "_ns"), get(self, "_runtime")
        return sorted(k for k, v in ns.items() if not runtime.is_implicit(k, v))

    def __repr__(self):
        return f"<module {object.__getattribute__(self, '_name')!r}>"


class ClassFactory:
    """The ``__metaclass__`` of tenant class statements.

    RestrictedPython compiles ``class C(B): ...`` as
    ``class C(B, metaclass=__metaclass__)``. This picks the metaclass the
    bases call for (so ``enum.Enum`` subclasses work), builds the class and
    records it in :data:`sandbox.guards.TENANT_CLASSES`, which is what lets
    tenant code assign ``self.x`` on its own objects and on nothing else.
    """

    __slots__ = ()

    @staticmethod
    def _metaclass(bases):
        meta = type
        for base in bases:
            base_meta = type(base)
            if issubclass(base_meta, meta):
                meta = base_meta
            elif not issubclass(meta, base_meta):
                raise TypeError("metaclass conflict between the base classes")
        return meta

    def __prepare__(self, name, bases, **kwargs):
        meta = self._metaclass(bases)
        if meta is enum.EnumType:
            meta = GuardedEnumType
        return meta.__prepare__(name, bases, **kwargs)

    def __call__(self, name, bases, namespace, **kwargs):
        meta = self._metaclass(bases)
        if meta is enum.EnumType:
            meta = GuardedEnumType
        refused = refused_value_class(bases, namespace, issubclass(meta, enum.EnumType))
        for member, value in namespace.items():
            refused = refused or refused_special_method(member, value)
        if refused is not None:
            raise TypeError(f"class {name}: {refused}")
        cls = meta(name, bases, namespace, **kwargs)
        guards.TENANT_CLASSES.add(cls)
        if meta is type:
            guard_construction(cls)
        return cls


class Printer:
    """RestrictedPython's ``_print`` object: ``print()`` goes to the log."""

    __slots__ = ("_sink", "_text")

    def __init__(self, sink):
        self._sink = sink
        self._text = []

    def _call_print(self, *objects, sep=" ", end="\n", file=None, flush=False):
        if file is not None:
            # print() into the tenant's own stream: the whole text, as the
            # tenant's str() builds it (bounded by its memory budget).
            sep = " " if sep is None else guards.safe_str_builtin(sep)
            end = "\n" if end is None else guards.safe_str_builtin(end)
            guards.guarded_getattr(file, "write")(
                guards.join_text(*[part for o in objects
                                   for part in (guards.safe_str_builtin(o), sep)][:-1], end))
            return
        # To the log: each value's text sized first and cut (consume.py).
        sep = " " if sep is None else safe_str(sep, 16)
        end = "\n" if end is None else safe_str(end, 16)
        parts, left = [], MAX_PRINT_CHARS
        for o in objects:
            text = safe_str(o, left)
            parts.append(text)
            left -= len(text) + len(sep)
            if left <= 0:
                break
        text = sep.join(parts) + end
        if len(text) > MAX_PRINT_CHARS:
            text = text[:MAX_PRINT_CHARS] + "...(cut)\n"
        self._text.append(text)
        self._sink(text.rstrip("\n"))

    def __call__(self):
        return "".join(self._text)


def generic_facade_attrs(module: ModuleType) -> dict:
    """Facade contents for a module the operator allowed in config: its
    public attributes, minus modules. The operator vouches for the rest."""
    return {
        name: value
        for name, value in vars(module).items()
        if not name.startswith("_") and not isinstance(value, ModuleType)
    }


_caches_off = False


def _disable_shared_caches_once() -> None:
    global _caches_off
    if not _caches_off:
        disable_shared_caches()
        _caches_off = True


_names_runtime = None


def offered_names(module: str, extra_modules: frozenset[str] = frozenset()) -> frozenset[str] | None:
    """The names tenant code can import from the sandbox's ``module``, or
    None when the sandbox offers no such module (for deploy-time checks)."""
    global _names_runtime
    if module in BUILDERS:
        if _names_runtime is None:
            _names_runtime = TenantRuntime("-", load_lib=lambda name: None)
        return frozenset(dir(_names_runtime.facade(module)))
    if module in extra_modules:
        return frozenset(generic_facade_attrs(__import__(module, fromlist=["_"])))
    if any(full.startswith(module + ".") for full in (*BUILDERS, *extra_modules)):
        return frozenset(full[len(module) + 1:].split(".")[0]
                         for full in (*BUILDERS, *extra_modules) if full.startswith(module + "."))
    return None


class TenantRuntime:
    """Builtins, imports, the tenant's modules and print for one tenant.

    :param tenant: the tenant's name, recorded in every namespace.
    :param load_lib: ``load_lib("api.models")`` returns a :class:`LibSource`,
        or ``None`` when the tenant has no such module.
    :param host_modules: importable objects the host provides (``mux``): a
        mapping read at each import, so a lazy one builds them on first use.
    :param log: receives each printed line.
    :param extra_modules: operator-allowed module name -> real module.
    :param files: the tenant's ``/app`` and ``/data``.
    :param env: what ``os.environ`` holds, or a function returning it
        (called on first use: a function that never reads its environment
        never has one built).
    :param make_lock: ``make_lock(path)`` makes the lock of one database
        file (the host passes one that waits for greenlets and for its other
        processes, :mod:`muxserver.tenancy.writelock`).
    """

    def __init__(
        self,
        tenant: str,
        *,
        load_lib: Callable[[str], LibSource | None],
        host_modules: Mapping[str, object] | None = None,
        log: Callable[..., None] = lambda line, level="info": None,
        extra_modules: dict[str, ModuleType] | None = None,
        files: TenantFiles | None = None,
        env: dict | Callable[[], dict] | None = None,
        make_lock: Callable[[str], object] = LocalLock,
    ):
        _disable_shared_caches_once()
        self.tenant = tenant
        self._random: TenantRandom | None = None
        self._load_lib_source = load_lib
        self._host_modules = host_modules if host_modules is not None else {}
        self._extra_modules = dict(extra_modules or {})
        self._facades: dict[str, object] = {}
        self._modules: dict[str, TenantModule | None] = {}
        #: importer -> the tenant modules it imported (and package -> its
        #: submodules), for :meth:`component`.
        self._edges: dict[str, set[str]] = {}
        self._log = log
        #: The tenant's /app and /data (sandbox.facades.files).
        self.files = files or TenantFiles()
        self._open = self.files.open  # one bound method for all its modules
        self._env_source = env
        self._env: dict | None = None
        #: ``outbound(host, port, timeout) -> socket``: a connection through
        #: the server's egress proxy (set by the host; None: no outbound HTTP).
        self.outbound = None
        self._make_lock = make_lock
        self._sqlite: SqliteState | None = None
        #: The host's hooks around file databases, ``(before_open, on_use,
        #: on_open)`` (see :class:`~sandbox.facades.sqlite.SqliteState`),
        #: given to :attr:`sqlite` when it is made.
        self.sqlite_hooks: tuple | None = None
        #: The builtins of tenant code: one dict for every tenant (3.3 KB
        #: saved per tenant), see :func:`tenant_builtins`.
        self.builtins = tenant_builtins()

    @property
    def sqlite(self) -> SqliteState:
        """Its databases' locks and open transactions
        (:mod:`sandbox.facades.sqlite`), made on first use: most functions
        open no database."""
        state = self._sqlite
        if state is None:
            state = self._sqlite = SqliteState(self.files, self._make_lock)
            if self.sqlite_hooks is not None:
                state.before_open, state.on_use, state.on_open = self.sqlite_hooks
        return state

    def end_request(self, budget) -> None:
        """Roll back what a finished request (or module load) of ``budget``
        left open in its databases, if it has any."""
        if self._sqlite is not None:
            self._sqlite.end_request(budget)

    @property
    def env(self) -> dict:
        """The tenant's environment: ``os.environ`` is this dict (its own
        copy), so the host can set a variable as a platform's runtime would
        once the module has run. Made on first use."""
        env = self._env
        if env is None:
            source = self._env_source
            if callable(source):
                source = source()
            env = self._env = {str(k): str(v) for k, v in (source or {}).items()}
            self._env_source = None
        return env

    @property
    def random(self) -> TenantRandom:
        """The tenant's own random generator (``random``'s functions), made
        and seeded on first use: 2.5 KB of state a tenant may never need."""
        rng = self._random
        if rng is None:
            rng = self._random = TenantRandom()
        return rng

    # -- namespaces --------------------------------------------------------

    def log_line(self, line: str, level: str = "info") -> None:
        """Write one line to the tenant's log."""
        self._log(line, level)

    def module_names(self) -> dict:
        """The names every module of this tenant starts with besides the
        shared builtins: ``open`` (its files; a module global, not a builtin,
        because it is a value tenant code can hand to anything — a callback
        run later, by the collector, in another tenant's request — so it
        must carry its tenant itself). They are not the module's attributes
        (:meth:`is_implicit`): in Python, ``module.open`` is a submodule or
        an error, not the builtin."""
        return {"open": self._open}

    def is_implicit(self, name: str, value) -> bool:
        """Whether a module global is one :meth:`module_names` put there
        (and the module has not rebound it)."""
        return name == "open" and value is self._open

    def new_namespace(self, module_name: str, filename: str = "", package: str = "") -> dict:
        """Globals for a new tenant module (``filename`` relative to its folder)."""
        return {
            "__builtins__": self.builtins,
            "__name__": module_name,
            "__file__": "/app/" + filename if filename else "/app/" + module_name.replace(".", "/") + ".py",
            "__package__": package,
            "__doc__": None,  # the module's docstring, if it has one, replaces it
            "__mux_tenant__": self.tenant,
            RUNTIME_KEY: self,
            **self.module_names(),
        }

    def run(self, code: CodeType, namespace: dict) -> dict:
        """Execute module code in ``namespace`` (the caller sets limits)."""
        exec(code, namespace)
        return namespace

    # -- imports -----------------------------------------------------------

    def facade(self, name: str):
        """The tenant's facade for an allowed module, built on first use."""
        facade = self._facades.get(name)
        if facade is None:
            if name in self._host_modules:
                facade = self._host_modules[name]
            elif name in BUILDERS:
                facade = ModuleFacade(name, BUILDERS[name](self))
            elif name in self._extra_modules:
                facade = ModuleFacade(name, generic_facade_attrs(self._extra_modules[name]))
            else:
                # A package that only holds allowed modules ("tests" for an
                # allowed "tests.helper"): a facade of those children alone.
                prefix = name + "."
                children = {
                    full[len(prefix):].split(".")[0]
                    for full in self._extra_modules
                    if full.startswith(prefix)
                }
                if not children:
                    return None
                facade = ModuleFacade(name, {c: self.facade(prefix + c) for c in children})
            self._facades[name] = facade
        return facade

    def allowed_names(self) -> list[str]:
        return sorted(set(BUILDERS) | set(self._host_modules) | set(self._extra_modules))

    def import_module(self, name, globals=None, locals=None, fromlist=(), level=0):
        """The ``__import__`` of tenant code."""
        if type(name) is not str:
            raise ImportError("module name must be a string")
        if level:
            return self._import_relative(name, globals, fromlist, level)
        local = self._resolve(name)
        if local is not None:
            module = self.load_module(local)
            self._record_import(globals, local)
            if fromlist:
                self._check_fromlist(module, local, fromlist)
                return module
            return self.load_module(self._resolve(name.split(".")[0]))
        if self._resolve(name.split(".")[0]) is not None:
            raise ModuleNotFoundError(f"no module named {name!r} in this tenant")
        target = self.facade(name)
        if target is None:
            raise ModuleNotFoundError(
                f"import of {name!r} is not available here; allowed modules: "
                + ", ".join(self.allowed_names())
                + ", and your own modules"
            )
        for item in fromlist or ():
            if item != "*" and not self._has(target, item):
                raise ImportError(f"cannot import name {item!r} from {name!r}: the server's "
                                  f"{name} does not offer it")
        if fromlist:
            return target
        return self.facade(name.split(".")[0])

    @staticmethod
    def _has(target, item) -> bool:
        if type(item) is not str or (item.startswith("_") and not guards.is_private_name(item)
                                     and item not in MODULE_DATA_NAMES):
            return False
        try:
            guards.guarded_getattr(target, item)
        except AttributeError:
            return False
        return True

    def _check_fromlist(self, module, dotted, fromlist):
        for item in fromlist:
            if item == "*":
                raise ImportError("`from module import *` is not supported; name what you import")
            if not self._has(module, item):
                raise ImportError(f"cannot import name {item!r} from {dotted!r}")

    def _import_relative(self, name, globals, fromlist, level):
        package = (globals or {}).get("__package__") or ""
        parts = package.split(".") if package else []
        if level - 1 > len(parts):
            raise ImportError("relative import goes above the tenant's root folder")
        base = ".".join(parts[: len(parts) - (level - 1)])
        target = ".".join(p for p in (base, name) if p)
        if not target:
            # `from . import x` at the tenant root: x is a top-level module.
            for item in fromlist or ():
                local = self._resolve(item)
                if local is None:
                    raise ImportError(f"cannot import name {item!r}: no module {item!r} "
                                      "in this tenant")
                self._record_import(globals, local)
            return _RootPackage(self)
        module = self.load_module(target)
        if module is None:
            raise ModuleNotFoundError(f"no module named {target!r} in this tenant")
        self._record_import(globals, target)
        if fromlist:
            self._check_fromlist(module, target, fromlist)
        return module

    def _resolve(self, dotted: str) -> str | None:
        """The dotted name of the tenant module ``import dotted`` means."""
        for candidate in (dotted, "lib." + dotted):
            if self.load_module(candidate) is not None:
                return candidate
        return None

    def _record_import(self, globals, target: str) -> None:
        importer = (globals or {}).get("__name__")
        if type(importer) is str and importer in self._modules and importer != target:
            self._edges.setdefault(importer, set()).add(target)

    def close(self) -> None:
        """Clear every module this runtime ran (their globals form cycles
        with their functions); call it only when no request runs on them."""
        if self._sqlite is not None:
            self._sqlite.close_all()
        self.files.close_all()
        clear_modules(self._modules.values())
        self._modules.clear()
        self._edges.clear()
        # The membrane's verdicts name this tenant's classes: let them go.
        forget_tenant_classes()

    def loaded(self) -> list[str]:
        """Dotted names of the modules that ran in this runtime."""
        return [name for name, module in self._modules.items() if module is not None]

    def component(self, dotted: str) -> set[str]:
        """``dotted`` and every loaded module connected to it by imports,
        either way (an importer, what it imported, what those imported...)."""
        neighbours: dict[str, set[str]] = {}
        for importer, targets in self._edges.items():
            for target in targets:
                neighbours.setdefault(importer, set()).add(target)
                neighbours.setdefault(target, set()).add(importer)
        seen, todo = set(), [dotted]
        while todo:
            name = todo.pop()
            if name in seen or self._modules.get(name) is None:
                continue
            seen.add(name)
            todo.extend(neighbours.get(name, ()))
        return seen

    def drop(self, names) -> list:
        """Take modules out of the runtime: their next import runs them
        again. Returns them, for :func:`clear_modules` once no request runs
        on them (until then, requests in flight keep using them)."""
        dropped = []
        for name in names:
            module = self._modules.pop(name, None)
            self._edges.pop(name, None)
            if module is not None:
                dropped.append(module)
        for targets in self._edges.values():
            targets.difference_update(names)
        return dropped

    def load_module(self, dotted: str, *, by_host: bool = False):
        """The tenant module ``dotted`` (run on first use), or None.

        :param by_host: the host loads an endpoint by its file's path, which
            need not be a Python identifier (``hello-world.py``, SPEC "Tenants
            dir"); tenant code cannot import such a module, as in Python.
        """
        if dotted in self._modules:
            return self._modules[dotted]
        parts = dotted.split(".")
        if not by_host and any(not part.isidentifier() for part in parts):
            return None
        if len(parts) > 1:
            parent = ".".join(parts[:-1])
            if self.load_module(parent, by_host=by_host) is None:
                return None
            # A submodule is an attribute of its package, as in Python.
            self._edges.setdefault(parent, set()).add(dotted)
            if dotted in self._modules:
                # The package's __init__ imported it while it ran (Flask's
                # "larger applications": `import app.views` at its end).
                return self._modules[dotted]
        source = self._load_lib_source(dotted)
        if source is None:
            self._modules[dotted] = None
            return None
        package = dotted if source.is_package else dotted.rpartition(".")[0]
        namespace = self.new_namespace(dotted, source.filename, package)
        module = TenantModule(dotted, namespace, self, source.is_package)
        # Registered before it runs, as Python does, so circular imports
        # see the partly initialised module instead of looping.
        self._modules[dotted] = module
        if source.code is not None:
            try:
                self.run(source.code, namespace)
            except BaseException:
                del self._modules[dotted]
                raise
        return module

    def module_if_loaded(self, dotted: str) -> "TenantModule | None":
        """The tenant module ``dotted`` if it is loaded (or loading), else
        None: nothing runs."""
        return self._modules.get(dotted)

    @staticmethod
    def namespace_of(module: TenantModule) -> dict:
        """The globals of a tenant module (for the host, not tenant code)."""
        return object.__getattribute__(module, "_ns")


def _runtime_of(module_globals) -> "TenantRuntime":
    """The runtime in a tenant module's globals; anything else is refused."""
    runtime = module_globals.get(RUNTIME_KEY) if type(module_globals) is dict else None
    if not isinstance(runtime, TenantRuntime):
        raise ImportError("this works only from a tenant's own module")
    return runtime


def _tenant_import(name, globals=None, locals=None, fromlist=(), level=0):
    """The ``__import__`` of tenant code. CPython's ``import`` statement
    passes the importing module's globals, which hold its runtime; tenant
    code cannot name ``__import__`` to pass anything else."""
    return _runtime_of(globals).import_module(name, globals, locals, fromlist, level)


def _tenant_printer(_getattr=None):
    """``_print_``: what RestrictedPython calls first in a function that
    prints. Only compiled tenant code calls it (tenant code cannot name it),
    so the caller's frame is the tenant module's code."""
    return Printer(_runtime_of(sys._getframe(1).f_globals)._log)


_BUILTINS: dict | None = None


def tenant_builtins() -> dict:
    """The builtins of every tenant's code, built once per process: the
    guarded table (:func:`sandbox.guards.make_builtins`) with ``__import__``,
    ``_print_`` and ``__metaclass__``.

    One dict, not one per tenant, is safe because tenant code can reach
    neither the dict nor its tenant-acting entries, and no entry keeps
    state: ``__import__`` and ``_print_`` find their tenant in the globals
    CPython hands them (the calling module's, :data:`RUNTIME_KEY`), and
    what a tenant can hold as a value (``open``) is in its module's globals
    instead (:meth:`TenantRuntime.module_names`).
    """
    global _BUILTINS
    if _BUILTINS is None:
        table = guards.make_builtins()
        table["__import__"] = _tenant_import
        table["__metaclass__"] = ClassFactory()
        table["_print_"] = _tenant_printer
        _BUILTINS = table
    return _BUILTINS


def clear_modules(modules) -> None:
    """Clear the globals of tenant modules that left their runtime: their
    functions and globals form cycles, and clearing frees them at once
    instead of at the next full collection. Only when no request runs on them."""
    for module in modules:
        if module is not None:
            object.__getattribute__(module, "_ns").clear()


@declared(dynamic=True)  # the tenant's own modules
class _RootPackage:
    """What ``from . import x`` gets at the tenant root: its top-level modules."""

    __slots__ = ("_runtime",)

    def __init__(self, runtime):
        object.__setattr__(self, "_runtime", runtime)

    def __getattr__(self, attr):
        runtime = object.__getattribute__(self, "_runtime")
        local = runtime._resolve(attr) if not attr.startswith("_") else None
        if local is None:
            raise AttributeError(attr)
        return runtime.load_module(local)

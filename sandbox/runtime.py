"""One tenant's execution environment: namespaces, imports and classes.

A :class:`TenantRuntime` is what makes two tenants strangers in one
process. Each has its own builtins dict, its own module facades (and so its
own random generator), its own ``lib`` modules, and its own ``print``. Tenant
modules are plain dicts executed with :func:`exec`; nothing is put in
``sys.modules``, so dropping the runtime drops every module it loaded.

The host supplies three things: a function that returns compiled code for a
``lib`` module by dotted name, the host modules (``mux``, ``flask``) as
objects, and a sink for printed lines.
"""

from __future__ import annotations

import enum
import random
from types import CodeType
from types import ModuleType
from typing import Callable
from typing import NamedTuple

from sandbox import guards
from sandbox.facades import BUILDERS
from sandbox.facades.classes import GuardedEnumType
from sandbox.facades.text import disable_shared_caches
from sandbox.facades import ModuleFacade

#: Longest line ``print()`` passes on.
MAX_PRINT_CHARS = 8192


class LibSource(NamedTuple):
    """Compiled code of one ``lib`` module; ``code`` is None for a folder."""

    code: CodeType | None
    filename: str
    is_package: bool


class TenantModule:
    """A tenant's own module (under ``lib/``) as seen by tenant code."""

    __slots__ = ("_name", "_ns", "_runtime", "_is_package")

    def __init__(self, name, ns, runtime, is_package):
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_ns", ns)
        object.__setattr__(self, "_runtime", runtime)
        object.__setattr__(self, "_is_package", is_package)

    def __getattr__(self, attr):
        get = object.__getattribute__
        if attr.startswith("_"):
            raise AttributeError(attr)
        ns = get(self, "_ns")
        if attr in ns:
            return ns[attr]
        name = get(self, "_name")
        if get(self, "_is_package"):
            sub = get(self, "_runtime")._load_lib(f"{name}.{attr}")
            if sub is not None:
                return sub
        raise AttributeError(f"module {name!r} has no attribute {attr!r}")

    def __setattr__(self, attr, value):
        raise TypeError("modules cannot be changed from outside; use a function")

    __delattr__ = __setattr__

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
        cls = meta(name, bases, namespace, **kwargs)
        guards.TENANT_CLASSES.add(cls)
        return cls


class Printer:
    """RestrictedPython's ``_print`` object: ``print()`` goes to the log."""

    __slots__ = ("_sink", "_text")

    def __init__(self, sink):
        self._sink = sink
        self._text = []

    def _call_print(self, *objects, sep=" ", end="\n", file=None, flush=False):
        sep = " " if sep is None else str(sep)
        end = "\n" if end is None else str(end)
        text = sep.join(str(o) for o in objects) + end
        if file is not None:
            guards.guarded_getattr(file, "write")(text)
            return
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


class TenantRuntime:
    """Builtins, imports, lib modules and print for one tenant.

    :param tenant: the tenant's name, recorded in every namespace.
    :param load_lib: ``load_lib("lib.db")`` returns a :class:`LibSource`, or
        ``None`` when the tenant has no such module.
    :param host_modules: importable objects the host provides (``mux``).
    :param log: receives each printed line.
    :param extra_modules: operator-allowed module name -> real module.
    """

    def __init__(
        self,
        tenant: str,
        *,
        load_lib: Callable[[str], LibSource | None],
        host_modules: dict[str, object] | None = None,
        log: Callable[[str], None] = lambda line: None,
        extra_modules: dict[str, ModuleType] | None = None,
    ):
        _disable_shared_caches_once()
        self.tenant = tenant
        self.random = random.Random()
        self._load_lib_source = load_lib
        self._host_modules = dict(host_modules or {})
        self._extra_modules = dict(extra_modules or {})
        self._facades: dict[str, object] = {}
        self._lib: dict[str, TenantModule | None] = {}
        self._log = log
        self.builtins = guards.make_builtins()
        self.builtins["__import__"] = self.import_module
        self.builtins["__metaclass__"] = ClassFactory()
        self.builtins["_print_"] = self._make_printer

    # -- namespaces --------------------------------------------------------

    def _make_printer(self, _getattr=None):
        return Printer(self._log)

    def new_namespace(self, module_name: str) -> dict:
        """Globals for a new tenant module."""
        return {
            "__builtins__": self.builtins,
            "__name__": f"mux_tenants.{self.tenant}.{module_name}",
            "__mux_tenant__": self.tenant,
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
        if level != 0:
            raise ImportError("relative imports are not allowed; use `from lib import name`")
        if type(name) is not str:
            raise ImportError("module name must be a string")
        if name == "lib" or name.startswith("lib."):
            return self._import_lib(name, fromlist)
        target = self.facade(name)
        if target is None:
            raise ImportError(
                f"import of {name!r} is not allowed in the sandbox; allowed modules: "
                + ", ".join(self.allowed_names())
                + ", and your own lib/ modules"
            )
        for item in fromlist or ():
            if not self._has(target, item):
                raise ImportError(f"cannot import name {item!r} from {name!r} in the sandbox")
        if fromlist:
            return target
        return self.facade(name.split(".")[0])

    @staticmethod
    def _has(target, item) -> bool:
        if type(item) is not str or item.startswith("_"):
            return False
        try:
            guards.guarded_getattr(target, item)
        except AttributeError:
            return False
        return True

    def _import_lib(self, name, fromlist):
        module = self._load_lib(name)
        if module is None:
            raise ModuleNotFoundError(f"no module named {name!r} in this tenant's lib/")
        if fromlist:
            for item in fromlist:
                if not self._has(module, item):
                    raise ImportError(f"cannot import name {item!r} from {name!r}")
            return module
        return self._load_lib("lib")

    def _load_lib(self, dotted: str):
        if dotted in self._lib:
            return self._lib[dotted]
        parts = dotted.split(".")
        if any(not part.isidentifier() or part.startswith("_") for part in parts):
            return None
        if len(parts) > 1 and self._load_lib(".".join(parts[:-1])) is None:
            return None
        source = self._load_lib_source(dotted)
        if source is None:
            self._lib[dotted] = None
            return None
        namespace = self.new_namespace(dotted)
        module = TenantModule(dotted, namespace, self, source.is_package)
        # Registered before it runs, as Python does, so circular imports of
        # lib modules see the partly initialised module instead of looping.
        self._lib[dotted] = module
        if source.code is not None:
            try:
                self.run(source.code, namespace)
            except BaseException:
                del self._lib[dotted]
                raise
        return module

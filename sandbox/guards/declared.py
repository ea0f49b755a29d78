"""Declared access: which attributes of a host object tenant code may read.

One function answers "may tenant code read ``obj.name``, and through what?"
— :func:`entry_for` — and every road to an attribute asks it: ``.``,
``getattr`` and ``hasattr`` (:func:`sandbox.guards.access.guarded_getattr`),
``super()``, format fields, Jinja's sandbox (``is_safe_attribute``),
``operator.attrgetter``/``methodcaller`` and ``app.config.from_object``.

It reads declarations kept beside each class, as Zope's ``ClassSecurityInfo``
does (``InitializeClass`` turns them into one table the guard reads): a
host class offers the public names declared on it or on a host base, and
nothing else; a class with no declaration offers nothing. For ``obj.name``
with a public name:

1. The *owner* of ``name`` is the first class on the MRO that defines it
   (for ``super(C, x)``: the first one after ``C``).
2. A tenant class as owner: the tenant's own, readable.
3. A host class as owner: readable when a host class of the object's MRO
   declares it (declarations are inherited, like Zope's; a host subclass may
   offer what its base defines), through the guard the native table
   (:mod:`sandbox.guards.natives`) has for it, if any. A method of instances
   read from the class (``collections.UserString.format``, or through
   ``super(C, C)``) is the same guarded method: called with a ``self`` of
   that class only, it is what ``self.name`` gives (:func:`_unbound`); a
   class read has its own guard only for what is not a method of instances
   (class methods: :data:`CLASS_GUARDS`).
4. No owner (an instance attribute, or one a ``__getattr__`` makes): readable
   on tenant objects; on a host object if a host class of its MRO declares
   the name (an instance attribute the library documents, as werkzeug's
   ``InternalServerError.original_exception``), or if its declaration says
   its instance attributes are data (``dynamic``) or names the object to ask
   instead (``forward``: a proxy).

Names that start with ``_`` are judged by :mod:`sandbox.guards.own_objects`,
which asks :func:`owner_of` the same question.

.. warning::
   Verdicts are cached per class. Host classes never change under tenant
   code; a write to a tenant class (which can move an owner) clears the
   cache (:func:`forget_tenant_classes`), and so does closing a runtime.
"""

from __future__ import annotations

from types import FunctionType
from types import MethodDescriptorType
from types import WrapperDescriptorType
from typing import Callable
from typing import NamedTuple

from sandbox.guards.own_objects import TENANT_CLASSES
from sandbox.guards.own_objects import owner_of


class Declaration(NamedTuple):
    """What one host class offers tenant code."""

    #: Public names tenant code may read (on instances and on the class).
    names: frozenset
    #: Instance attributes (and what ``__getattr__`` makes) are data: True,
    #: or a predicate on the object (a function's attributes are data when
    #: the function is the tenant's).
    dynamic: bool | Callable
    #: ``forward(obj)``: the object a proxy stands for, asked instead.
    forward: Callable | None


_DECLARED: dict[type, Declaration] = {}


def declare(cls: type, names="", *, dynamic=False, forward=None) -> type:
    """Offer ``names`` of ``cls`` (a string of names or an iterable) to
    tenant code. Declaring again adds names."""
    if isinstance(names, str):
        names = names.split()
    names = frozenset(names)
    private = sorted(n for n in names if n.startswith("_"))
    if private:
        raise ValueError(f"only public names are declared ({private} start with '_')")
    old = _DECLARED.get(cls)
    if old is not None:
        names |= old.names
        dynamic = dynamic or old.dynamic
        forward = forward or old.forward
    _DECLARED[cls] = Declaration(names, dynamic, forward)
    _clear()
    return cls


def declared(names="", *, dynamic=False, forward=None):
    """Class decorator form of :func:`declare`, for the host's own classes."""

    def apply(cls):
        return declare(cls, names, dynamic=dynamic, forward=forward)

    return apply


def declare_values(*classes: type, exclude: str = "", dynamic=False) -> None:
    """Offer every public name the classes have *now* (a snapshot, not a
    rule): for value types whose whole public surface was reviewed
    (``datetime.date``, ``decimal.Decimal``). ``exclude`` names the ones
    that stay closed."""
    closed = set(exclude.split())
    for cls in classes:
        declare(cls, [n for n in dir(cls) if not n.startswith("_") and n not in closed],
                dynamic=dynamic)


def declaration(cls: type) -> Declaration | None:
    """The declaration of ``cls`` itself (not inherited), or None."""
    return _DECLARED.get(cls)


def is_declared(cls: type) -> bool:
    """Whether ``cls`` or a host base has a declaration (``object``'s own
    counts for ``object`` alone: every class has it as a base)."""
    if cls is object:
        return True
    return any(klass in _DECLARED for klass in cls.__mro__ if klass is not object)


def public_names(cls: type) -> frozenset:
    """Every name ``cls`` offers: its declaration's and its host bases'."""
    names = frozenset()
    for klass in cls.__mro__:
        entry = _DECLARED.get(klass)
        if entry is not None:
            names |= entry.names
    return names


def _nearest(cls: type) -> Declaration | None:
    for klass in cls.__mro__:
        entry = _DECLARED.get(klass)
        if entry is not None and (entry.dynamic is not False or entry.forward is not None):
            return entry
    return None


# -- verdicts ----------------------------------------------------------------------
#
# An entry is True (read it), False (refused) or a callable
# ``entry(obj, name)`` that returns what tenant code gets: a guard of the
# native table around the real value, or what a proxy's target offers.

_verdicts: dict = {}
_class_verdicts: dict = {}
#: Entries kept before the caches start again (dynamic classes: namedtuples...).
MAX_CACHED = 50_000

#: (class, name) -> factory(obj, name) for instances; filled by natives.py.
METHOD_GUARDS: dict = {}
#: (class, name) -> factory(cls, name) for reads on the class itself.
CLASS_GUARDS: dict = {}


def _clear() -> None:
    _verdicts.clear()
    _class_verdicts.clear()


def forget_tenant_classes() -> None:
    """A tenant class changed (an owner may have moved), or a runtime closed
    (its classes must not be kept alive by the cache)."""
    _clear()


def _guard(table: dict, mro, name: str):
    for klass in mro:
        guard = table.get((klass, name))
        if guard is not None:
            return guard
    return None


def _declared_in(mro, name: str) -> bool:
    for klass in mro:
        entry = _DECLARED.get(klass)
        if entry is not None and name in entry.names:
            return True
    return False


def _host_verdict(owner, mro, name, table):
    if owner in TENANT_CLASSES:
        return True
    if not _declared_in(mro, name):
        return False
    return _guard(table, mro, name) or True


def _forwarding(forward):
    def read_through(obj, name):
        target = forward(obj)
        entry = entry_for(target, name)
        if entry is True:
            return getattr(target, name)
        if entry is False:
            raise AttributeError(f"{type(target).__name__!r} objects offer no {name!r} here")
        return entry(target, name)

    return read_through


def _instance_entry(cls: type, name: str):
    mro = cls.__mro__
    owner = owner_of(mro, name)
    if owner is not None:
        return _host_verdict(owner, mro, name, METHOD_GUARDS)
    # An instance attribute, or one a __getattr__ makes.
    if _declared_in(mro, name):
        return True  # one the class's declaration names
    dynamic_host = next((k for k in mro if k is not object and "__getattr__" in k.__dict__
                         and k not in TENANT_CLASSES), None)
    if dynamic_host is None and cls in TENANT_CLASSES:
        return True
    entry = _nearest(dynamic_host or cls)
    if entry is None:
        return False
    if entry.forward is not None:
        return _forwarding(entry.forward)
    if callable(entry.dynamic):
        return _data_when(entry.dynamic)
    return bool(entry.dynamic)


def _data_when(predicate):
    def read(obj, name):
        if not predicate(obj):
            raise AttributeError(f"{type(obj).__name__!r} objects offer no {name!r} here")
        return getattr(obj, name)

    return read


#: What a class holds for a method of its instances: reading it from the
#: class gives a function the caller may call with any ``self``.
_INSTANCE_METHODS = (FunctionType, MethodDescriptorType, WrapperDescriptorType)


def _unbound(klass: type, owner: type, name: str):
    """The entry of ``klass.name`` when ``name`` is a host method of
    instances: ``klass.name(self, ...)`` is ``self.name(...)`` through this
    module — the same guard of the native table, the same refusals — for a
    ``self`` of ``klass`` only. Where ``self``'s class overrides ``name``
    (``json.JSONEncoder.default(self, o)`` in a subclass's ``default``), it is
    what ``super()`` past the override reads."""
    function = owner.__dict__[name]

    def entry(cls, name):
        def method(self, *args, **kwargs):
            if not isinstance(self, klass):
                raise TypeError(f"{klass.__name__}.{name}() takes a {klass.__name__} object "
                                f"as self here, not {type(self).__name__!r}")
            mro = type(self).__mro__
            if owner_of(mro, name) is not owner:
                if isinstance(self, type):
                    raise TypeError(f"{klass.__name__}.{name}() is overridden for this class")
                target = super(mro[mro.index(owner) - 1], self)
                verdict = _super_entry(target, name)
            elif isinstance(self, type):
                # A metaclass's method on a class: what ``cls.name`` gives.
                target = self
                verdict = _host_verdict(owner, mro, name, CLASS_GUARDS)
            else:
                target = self
                verdict = entry_for(self, name)
            if verdict is True:
                return function(self, *args, **kwargs)
            if verdict is False:
                raise AttributeError(f"{type(self).__name__!r} objects offer no {name!r} here")
            return verdict(target, name)(*args, **kwargs)

        method.__name__ = method.__qualname__ = name
        return method

    return entry


def _class_read(klass: type, owner, mro, name: str):
    """The verdict on a class attribute ``name`` (owned by ``owner`` on
    ``mro``) read through ``klass``: from the class itself or from
    ``super(C, C)``."""
    entry = _host_verdict(owner, mro, name, CLASS_GUARDS)
    if entry is True and owner not in TENANT_CLASSES and \
            isinstance(owner.__dict__.get(name), _INSTANCE_METHODS):
        return _unbound(klass, owner, name)
    return entry


def _class_entry(klass: type, name: str):
    entry = _class_verdicts.get((klass, name))
    if entry is None:
        mro = klass.__mro__
        owner = owner_of(mro, name)
        if owner is None:
            # An attribute of the metaclass (``A.mro``): what it declares.
            meta = type(klass)
            owner = owner_of(meta.__mro__, name)
            entry = False if owner is None else _host_verdict(owner, meta.__mro__, name,
                                                                CLASS_GUARDS)
        else:
            entry = _class_read(klass, owner, mro, name)
        if len(_class_verdicts) > MAX_CACHED:
            _class_verdicts.clear()
        _class_verdicts[(klass, name)] = entry
    return entry


def _super_entry(sup: super, name: str):
    mro = sup.__self_class__.__mro__
    owner = owner_of(mro[mro.index(sup.__thisclass__) + 1:], name)
    if owner is None:
        return False  # super() sees class attributes only
    if isinstance(sup.__self__, type):
        # super(C, C).name: a read on the class, with C as the class
        # ``self`` must belong to.
        return _class_read(sup.__self__, owner, mro, name)
    return _host_verdict(owner, mro, name, METHOD_GUARDS)


def entry_for(obj, name: str):
    """The verdict on ``obj.name`` for a public ``name`` (see the module doc)."""
    cls = type(obj)
    entry = _verdicts.get((cls, name))
    if entry is not None:
        return entry
    if isinstance(obj, type):
        return _class_entry(obj, name)
    if cls is super:
        return _super_entry(obj, name)
    entry = _instance_entry(cls, name)
    if len(_verdicts) > MAX_CACHED:
        _verdicts.clear()
    _verdicts[(cls, name)] = entry
    return entry


def readable(obj, name: str) -> bool:
    """Whether tenant code may read ``obj.name`` (Jinja asks this). Only a
    plain ``str`` is a name here: a subclass's answers are tenant code."""
    if type(name) is not str or name.startswith("_"):
        return False
    return entry_for(obj, name) is not False

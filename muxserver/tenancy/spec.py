"""What one version of a tenant is, as the registry keeps it (:class:`TenantSpec`).

Every registered tenant holds a spec in the supervisor and in each serving
process, so a spec is small (issue 26: what a registered tenant costs): its
name, the few fields every request reads, and a :class:`SpecContent` with
the rest. The content holds nothing that names the tenant — its root is kept
as the folder it is in — so tenants made from one template (same files in
the same tenants dir) hold one content object (the scanner shares it,
:mod:`muxserver.tenancy.sharing`), and a serving process gets it once in its
snapshot (:mod:`muxserver.tenancy.snapshot`).

A spec reads as one record (``spec.routes`` is ``spec.content.routes``). It
is read-only once scanned: :meth:`TenantSpec.replace` makes a changed copy;
the scanner writes a :class:`SpecDraft` field by field, then finishes it.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from operator import attrgetter

from muxserver.tenancy.manifest import Manifest
from muxserver.tenancy.sharing import EMPTY_MAP


@dataclass(frozen=True, slots=True)
class SpecContent:
    """A version's tables: all of a :class:`TenantSpec` but its name and the
    fields every request reads. Immutable and hashable when its values are,
    so equal contents can be one object."""

    #: The tenant's root up to its name (``/srv/tenants/``, interned: every
    #: tenant of a folder holds that one string), or the whole root when it
    #: does not end with the name (a version deployed over HTTP).
    root_head: str
    #: Whether the root is ``root_head`` followed by the tenant's name.
    root_named: bool = True
    version: str = ""
    routes: tuple = ()
    #: endpoint ("api/users") -> its module, for modules with routes.
    modules: dict = EMPTY_MAP
    #: dotted name -> module, for every module and package of the tenant.
    sources: dict = EMPTY_MAP
    #: dotted names of the modules that make a Flask app (loaded first).
    app_modules: tuple[str, ...] = ()
    #: ``(module, function)`` of an app factory (``create_app``) to call
    #: when no module makes an app at its top level, as ``flask run`` does.
    app_factory: tuple[str, str] | None = None
    #: status code -> dotted names of modules whose code may answer it (an
    #: errorhandler for it; under reading.ANY_STATUS: a handler for a class
    #: or a request hook, loaded for any 404 or 405), as tuples.
    error_handlers: dict = EMPTY_MAP
    warnings: tuple[str, ...] = ()
    has_static: bool = False
    errors: tuple[str, ...] = ()
    #: ``requirements.txt`` (:class:`muxserver.proctier.requirements.Line`).
    requirements: tuple = ()
    #: A process tenant's installed site folder (None: no requirements, or
    #: not installed by this registry).
    process_site: str | None = None
    #: The app's static folder (relative to the tenant): its
    #: ``static_folder`` beside the module that makes the tenant's app (its
    #: ``root_path``; ``static/`` unless told), the tenant's own ``static/``
    #: for every other tenant; None: ``static_folder=None``, no static route.
    static_dir: str | None = "static"
    #: The app's ``static_url_path`` (``"/static"``; ``""``: the site root;
    #: None: no static route). Its rule is ``f"{static_url}/<path:filename>"``.
    static_url: str | None = "/static"
    #: Rules ``add_url_rule(rule, endpoint=...)`` gave an endpoint without a
    #: view (kind ``"alias"``): ``url_for`` builds them, no request is routed
    #: to them.
    url_aliases: tuple = ()
    #: The tenant's own URL converters, read from its source:
    #: ``((name, info), ...)``, ``info`` as
    #: :func:`~muxserver.tenancy.converters.read_converter_classes` gives it.
    converters: tuple = ()


#: The content fields a spec is made with (its root is given whole), and
#: their defaults.
CONTENT_DEFAULTS = {f.name: f.default for f in dataclasses.fields(SpecContent)
                    if f.name not in ("root_head", "root_named")}
CONTENT_FIELDS = tuple(CONTENT_DEFAULTS)


def _root_parts(name: str, root: str) -> tuple[str, bool]:
    """``(root_head, root_named)`` of ``root`` (see :class:`SpecContent`)."""
    head = root[: len(root) - len(name)]
    if root.endswith(name) and (not head or head.endswith("/")):
        return sys.intern(head), True
    return root, False


#: A spec's own fields, beside its name and its content: what every request
#: reads (the rest is :class:`SpecContent`'s).
OWN_FIELDS = ("manifest", "static_prefix", "static_mounts")


class TenantSpec:
    """Everything known about one version of a tenant without running it.

    :param name: the tenant's name.
    :param root: the folder it is served from.
    :param fields: :class:`SpecContent`'s fields, and ``manifest``,
        ``static_prefix``, ``static_mounts``.
    """

    __slots__ = ("name", *OWN_FIELDS, "content")

    def __init__(self, name: str, root: str, *, manifest: Manifest | None = None,
                 static_prefix: str | None = None, static_mounts: tuple = (), **fields):
        self.name = name
        self.manifest: Manifest = manifest if manifest is not None else Manifest()
        #: ``static_url + "/"`` when the folder has files and no route's rule
        #: starts with it: every path below it is the static route's, checked
        #: before routing with one ``startswith`` (:func:`~muxserver.tenancy.
        #: scanner.static_route` is the other case). None otherwise.
        self.static_prefix = static_prefix
        #: Blueprints' static folders: ``(url, folder, blueprint)``, the files
        #: of ``folder`` (relative to the tenant) served at ``url/<filename>``.
        self.static_mounts = static_mounts
        head, named = _root_parts(name, root)
        self.content = SpecContent(head, named, **fields)

    @classmethod
    def of(cls, name: str, manifest: Manifest, static_prefix: str | None,
           static_mounts: tuple, content: SpecContent) -> "TenantSpec":
        """A spec from its parts as they are kept (a snapshot's, a copy's)."""
        spec = object.__new__(cls)
        spec.name, spec.manifest, spec.content = name, manifest, content
        spec.static_prefix, spec.static_mounts = static_prefix, static_mounts
        return spec

    def parts(self) -> tuple:
        """The arguments of :meth:`of` that make this spec again."""
        return self.name, self.manifest, self.static_prefix, self.static_mounts, self.content

    def replace(self, **changes) -> "TenantSpec":
        """A copy with ``changes`` (fields of the spec or of its content)."""
        own = {key: changes.pop(key) for key in OWN_FIELDS if key in changes}
        content = dataclasses.replace(self.content, **changes) if changes else self.content
        return TenantSpec.of(self.name, own.get("manifest", self.manifest),
                             own.get("static_prefix", self.static_prefix),
                             own.get("static_mounts", self.static_mounts), content)

    @property
    def root(self) -> str:
        """The folder the tenant is served from."""
        content = self.content
        return content.root_head + self.name if content.root_named else content.root_head

    @property
    def ok(self) -> bool:
        return not self.content.errors

    @property
    def is_process(self) -> bool:
        """Whether it runs in the process tier (``runtime = "process"``)."""
        return self.manifest.runtime == "process"

    def __eq__(self, other) -> bool:
        if not isinstance(other, TenantSpec):
            return NotImplemented
        return self.parts() == other.parts()

    __hash__ = None  # equal specs are equal records, not one key

    def __repr__(self) -> str:
        return f"TenantSpec({self.name!r}, {self.root!r}, version={self.version!r})"


# Each content field reads through the spec (C-level getters: a spec's
# tables cost one more attribute read, no Python call).
for _name in CONTENT_FIELDS:
    setattr(TenantSpec, _name, property(attrgetter("content." + _name),
                                        doc=f"``content.{_name}`` (:class:`SpecContent`)."))
del _name


class SpecDraft:
    """A spec while its folder is read: every field of a :class:`TenantSpec`,
    written one by one; :meth:`finished` makes the spec."""

    is_process = TenantSpec.is_process

    def __init__(self, name: str, root: str, manifest: Manifest):
        self.name, self.root, self.manifest = name, root, manifest
        self.static_prefix, self.static_mounts = None, ()
        # Not dataclasses.fields() per draft: a tuple of 18 made by resizing
        # per scanned tenant, dropped, filled CPython's free list of 18-tuples
        # (2,000 kept: 336 KB of the supervisor).
        for name, default in CONTENT_DEFAULTS.items():
            setattr(self, name, default)

    def finished(self) -> TenantSpec:
        return TenantSpec(self.name, self.root, manifest=self.manifest,
                          static_prefix=self.static_prefix, static_mounts=self.static_mounts,
                          **{name: getattr(self, name) for name in CONTENT_FIELDS})

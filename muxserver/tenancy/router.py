"""Match a path and method to one route of one tenant.

A tenant's router is built on its first request, not at registration: at
10,000 tenants an eager werkzeug ``Map`` each would cost seconds and
hundreds of MiB. Tenants whose routes are the same (made from one template:
one :class:`~muxserver.tenancy.spec.SpecContent`) share one router
(:func:`router_for`): it holds no tenant's name, the caller names the tenant
its errors are about. Rules without converters go in a dict (one lookup); only
rules with converters (``/users/<int:id>``) build a werkzeug ``Map`` — and
rules with ``defaults``, with every rule of the same view: werkzeug then
passes the defaults and redirects ``/users/page/1`` to ``/users/`` when
``defaults={"page": 1}`` says so, as under Flask.
"""

from __future__ import annotations

import weakref
from urllib.parse import urlsplit

from werkzeug.exceptions import MethodNotAllowed as WzMethodNotAllowed
from werkzeug.exceptions import NotFound as WzNotFound
from werkzeug.routing import Map
from werkzeug.routing import RequestRedirect
from werkzeug.routing import Rule

from muxserver.errors import ClientError
from muxserver.errors import MethodNotAllowed
from muxserver.errors import NotFound
from muxserver.errors import Redirect
from muxserver.http import path_text
from muxserver.tenancy.converters import AnyConverterName
from muxserver.tenancy.converters import LONGEST_PATH
from muxserver.tenancy.converters import host_converter
from muxserver.tenancy.converters import longest_routed_path
from muxserver.tenancy.converters import rule_patterns
from muxserver.tenancy.scanner import Route
from muxserver.tenancy.scanner import static_route


class Match:
    """The outcome of routing: the route and the values of its converters.

    ``custom`` names the values the tenant's own converters are still to
    convert, inside the request's limits: ``((argument, converter, args,
    kwargs), ...)`` (:func:`muxserver.tenant_api.converters.convert_view_args`);
    their ``view_args`` are the matched text until then."""

    __slots__ = ("route", "view_args", "custom")

    def __init__(self, route: Route, view_args: dict, custom: tuple = ()):
        self.route = route
        self.view_args = view_args
        self.custom = custom


def _custom(rule: Rule) -> tuple:
    """The tenant converters of ``rule`` (see :attr:`Match.custom`)."""
    return tuple((argument, converter.tenant_converter, *converter.tenant_args)
                 for argument, converter in rule._converters.items()
                 if getattr(converter, "tenant_converter", None) is not None)


def _view(route: Route) -> str:
    """Which view a route calls: werkzeug's endpoint (rules of one view share it)."""
    return f"{route.endpoint}:{route.handler}"


def allowed_methods(methods) -> tuple[str, ...]:
    """Methods to announce in ``Allow``: HEAD follows GET, OPTIONS always."""
    out = set(methods)
    if "GET" in out:
        out.add("HEAD")
    out.add("OPTIONS")
    return tuple(sorted(out))


class TenantRouter:
    """Routes of one tenant version (or of several: :func:`router_for`).

    :param routes: the spec's routes.
    :param static_route: the app's static route when werkzeug must rank it
        among the others (:func:`~muxserver.tenancy.scanner.static_route`):
        a match of it has ``kind == "static"``.
    """

    def __init__(self, routes: tuple[Route, ...], static_route: Route | None = None,
                 converters: tuple = (), lenient: bool = False):
        #: The spec content it was made from, when :func:`router_for` made it.
        self.content = None
        #: The tenant's converters (``((name, info), ...)``, read at deploy).
        self._converters = converters
        self._lenient = lenient
        self._static: dict[str, dict[str, Route]] = {}
        # First, as Flask adds it before any view: of two rules werkzeug
        # ranks alike, the first added wins.
        dynamic = [static_route] if static_route is not None else []
        with_defaults = {_view(route) for route in routes if route.defaults}
        for route in routes:
            if "<" in route.rule or _view(route) in with_defaults or not route.strict_slashes:
                dynamic.append(route)
                continue
            by_method = self._static.setdefault(route.rule, {})
            for method in route.methods:
                by_method.setdefault(method, route)
        self._dynamic = dynamic
        self._map: Map | None = None
        #: The longest path its rules are matched against (set with the map).
        self._longest = LONGEST_PATH
        #: The rules again, each taking OPTIONS (:meth:`options_match`),
        #: built on the first OPTIONS request that needs it.
        self._options_map: Map | None = None
        self._by_rule: dict = {}

    def _adapter(self):
        if self._map is None:
            rules = []
            for route in self._dynamic:
                rule = Rule(route.rule, methods=route.methods, endpoint=_view(route),
                            defaults=dict(route.defaults) or None,
                            strict_slashes=route.strict_slashes)
                self._by_rule[id(rule)] = route
                rules.append(rule)
            self._map = self._new_map(rules)
            self._longest = longest_routed_path(
                [pattern for rule in rules for pattern in rule_patterns(rule)])
        return self._map.bind("tenant", "/")

    def _custom(self, rule: Rule) -> tuple:
        """:func:`_custom` of ``rule``; nothing to look for in a tenant with
        no converters of its own (a matched request's path)."""
        return _custom(rule) if self._converters and not self._lenient else ()

    def _check_length(self, path: str, tenant: str) -> None:
        """werkzeug matches the rules with regexes (its converters' and the
        tenant's own, several side by side in one segment: ``<a>-<b>``), in
        host code no tick interrupts, whose matching time may grow as a power
        of the path's length: a path is at most as long as all of them
        together may match within the bound
        (:func:`~muxserver.tenancy.converters.longest_routed_path`). Call it
        once the map is built.

        :raises ClientError: 414 past it.
        :raises NotFound: past it, for a process tenant (its own Flask
            routes the request; the host's match only names the endpoint).
        """
        if len(path) <= self._longest:
            return
        if self._lenient:
            raise NotFound(f"no route for a path of {len(path)} characters", tenant)
        raise ClientError(f"this tenant's URLs are at most {self._longest} characters "
                          "(its routes' patterns match them)", 414)

    def _new_map(self, rules) -> Map:
        """A werkzeug map of ``rules`` (bound by it) knowing the tenant's
        converters, each matched by the regex read from its source (no
        tenant code runs here: :func:`~muxserver.tenancy.converters.host_converter`)."""
        if self._lenient:
            # A process tenant: its own Flask matches with its converters;
            # the host's match only names the endpoint and finds static files.
            converters = AnyConverterName(Map.default_converters)
        elif self._converters:
            converters = {**Map.default_converters, **{
                name: host_converter(name, info) for name, info in self._converters}}
        else:
            return Map(rules)
        new = Map()
        new.converters = converters
        for rule in rules:
            new.add(rule)
        return new

    def match(self, path: str, method: str, tenant: str) -> Match:
        """The route for ``path`` (relative to the tenant, as WSGI holds it:
        :func:`~muxserver.http.path_text` reads it as werkzeug does) and
        ``method``; ``tenant`` names the tenant in the errors.

        :raises NotFound: no rule matches the path.
        :raises MethodNotAllowed: a rule matches, not for this method.
        :raises Redirect: the rule exists with a trailing slash.
        """
        path = path_text(path)
        lookup = "GET" if method == "HEAD" else method
        by_method = self._static.get(path)
        if by_method is not None:
            route = by_method.get(lookup)
            if route is not None:
                return Match(route, {})
            if method == "HEAD" and "HEAD" in by_method:
                return Match(by_method["HEAD"], {})
            if not self._dynamic:
                raise MethodNotAllowed(
                    f"{method} not allowed", tenant, allowed_methods(by_method)
                )
        slashed = self._static.get(path + "/") if not path.endswith("/") else None
        # werkzeug redirects only a method the rule takes (OPTIONS: Flask's
        # automatic answer is the rule's); any other is not found. It does
        # so before trying a rule with converters: it follows the path's
        # literal parts first (a static route "/<path:filename>" included).
        if slashed is not None and (lookup in slashed or method in slashed
                                    or method == "OPTIONS"):
            raise Redirect(path + "/", tenant)
        if self._dynamic:
            adapter = self._adapter()
            self._check_length(path, tenant)
            try:
                rule, view_args = adapter.match(path, lookup, return_rule=True)
                return Match(self._by_rule[id(rule)], view_args, self._custom(rule))
            except RequestRedirect as redirect:
                raise Redirect(urlsplit(redirect.new_url).path, tenant) from None
            except WzMethodNotAllowed as exc:
                static_methods = tuple(by_method or ())
                raise MethodNotAllowed(
                    f"{method} not allowed",
                    tenant,
                    allowed_methods(tuple(exc.valid_methods or ()) + static_methods),
                ) from None
            except WzNotFound:
                if by_method:
                    raise MethodNotAllowed(
                        f"{method} not allowed", tenant, allowed_methods(by_method)
                    ) from None
        raise NotFound(f"no route for {path}", tenant)

    def options_match(self, path: str, tenant: str) -> Match | None:
        """The route Flask's automatic OPTIONS answer is routed to (every
        rule takes OPTIONS there, so the first rule matching the path
        whatever its methods), or None when no rule matches it."""
        path = path_text(path)
        by_method = self._static.get(path)
        if by_method:
            return Match(next(iter(by_method.values())), {})
        if not self._dynamic:
            return None
        self._adapter()
        self._check_length(path, tenant)
        if self._options_map is None:
            rules = []
            for route in self._dynamic:
                rule = Rule(route.rule, methods=(*route.methods, "OPTIONS"),
                            endpoint=_view(route), defaults=dict(route.defaults) or None,
                            strict_slashes=route.strict_slashes)
                self._by_rule[id(rule)] = route
                rules.append(rule)
            self._options_map = self._new_map(rules)
        try:
            rule, view_args = self._options_map.bind("tenant", "/").match(
                path, "OPTIONS", return_rule=True)
        except (WzNotFound, WzMethodNotAllowed, RequestRedirect):
            return None
        return Match(self._by_rule[id(rule)], view_args, self._custom(rule))

    def methods_for(self, path: str, tenant: str) -> tuple[str, ...] | None:
        """Allowed methods for ``path`` (for OPTIONS), or None if unknown."""
        path = path_text(path)
        methods = set(self._static.get(path, ()))
        if self._dynamic:
            adapter = self._adapter()
            self._check_length(path, tenant)
            try:
                adapter.match(path, "__probe__")
            except WzMethodNotAllowed as exc:
                methods.update(exc.valid_methods or ())
            except (WzNotFound, RequestRedirect):
                pass
        return allowed_methods(methods) if methods else None


#: The routers in use, by what they are made of: ``(id(content), static
#: route, lenient)``. Each router holds its content, so the id in its key
#: names that content for as long as the entry lives.
_routers: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


def router_for(spec) -> TenantRouter:
    """The router of ``spec`` (a :class:`~muxserver.tenancy.spec.TenantSpec`):
    one per content, static route and tier, so tenants made from one
    template share it (issue 26: building a router was a tenth of a cold
    start's own work, and each warm tenant kept one)."""
    static = static_route(spec)
    key = (id(spec.content), static, spec.is_process)
    router = _routers.get(key)
    if router is None:
        router = TenantRouter(spec.routes, static, spec.converters, lenient=spec.is_process)
        router.content = spec.content
        _routers[key] = router
    return router

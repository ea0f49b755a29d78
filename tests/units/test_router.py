"""TenantRouter: plain rules by dict lookup, converter rules through werkzeug;
one router for the tenants made from one template."""

import pytest

from muxserver.errors import MethodNotAllowed
from muxserver.errors import NotFound
from muxserver.errors import Redirect
from muxserver.tenancy.router import TenantRouter
from muxserver.tenancy.router import router_for
from muxserver.tenancy.spec import TenantSpec
from muxserver.tenancy.scanner import Route


def route(rule, methods, endpoint="index", handler="h"):
    return Route(rule, tuple(methods), endpoint, handler, f"{endpoint}.py", 1, "flask", False)


ROUTER = TenantRouter((
    route("/", ["GET"]),
    route("/users/", ["GET", "POST"], "users"),
    route("/users/<int:id>", ["GET", "DELETE"], "users", "one"),
    route("/files/<path:name>", ["GET"], "files"),
))


def test_plain_rule_and_head_follows_get():
    assert ROUTER.match("/", "GET", "acme").route.endpoint == "index"
    assert ROUTER.match("/", "HEAD", "acme").route.endpoint == "index"


def test_converter_rule_gives_typed_view_args():
    match = ROUTER.match("/users/42", "DELETE", "acme")
    assert match.route.handler == "one" and match.view_args == {"id": 42}
    assert ROUTER.match("/files/a/b.txt", "GET", "acme").view_args == {"name": "a/b.txt"}


def test_wrong_method_names_the_allowed_ones():
    with pytest.raises(MethodNotAllowed) as info:
        ROUTER.match("/users/", "PUT", "acme")
    assert info.value.allowed == ("GET", "HEAD", "OPTIONS", "POST")
    assert info.value.headers() == [("Allow", "GET, HEAD, OPTIONS, POST")]
    with pytest.raises(MethodNotAllowed):
        ROUTER.match("/users/7", "POST", "acme")


def test_missing_trailing_slash_redirects_and_unknown_is_not_found():
    with pytest.raises(Redirect) as info:
        ROUTER.match("/users", "GET", "acme")
    assert info.value.location == "/users/"
    with pytest.raises(NotFound):
        ROUTER.match("/users/abc", "GET", "acme")
    with pytest.raises(NotFound):
        ROUTER.match("/nothing", "GET", "acme")


def test_methods_for_options():
    assert ROUTER.methods_for("/users/9", "acme") == ("DELETE", "GET", "HEAD", "OPTIONS")
    assert ROUTER.methods_for("/nothing", "acme") is None


def test_tenants_of_one_template_share_a_router_and_errors_name_the_asker():
    routes = (route("/", ["GET"]), route("/users/<int:id>", ["GET"], "users", "one"))
    acme = TenantSpec("acme", "/srv/tenants/acme", routes=routes, has_static=True)
    # A second tenant from the same template holds the same content (the
    # scanner shares it); a third has other routes.
    beta = TenantSpec.of("beta", acme.manifest, acme.static_prefix, acme.static_mounts,
                         acme.content)
    other = TenantSpec("gamma", "/srv/tenants/gamma", routes=routes[:1], has_static=True)
    shared = router_for(acme)
    assert router_for(beta) is shared
    assert router_for(other) is not shared
    assert shared.match("/users/7", "GET", "beta").view_args == {"id": 7}
    with pytest.raises(NotFound) as info:
        shared.match("/nothing", "GET", "beta")
    assert info.value.tenant == "beta"
    with pytest.raises(MethodNotAllowed) as info:
        shared.match("/", "POST", "acme")
    assert info.value.tenant == "acme"
    # The static route is part of what is shared: without one (a prefix
    # decides), another router.
    prefixed = acme.replace(static_prefix="/static/")
    assert router_for(prefixed) is not shared
    assert router_for(acme.replace(static_prefix="/static/")) is router_for(prefixed)

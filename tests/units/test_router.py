"""TenantRouter: plain rules by dict lookup, converter rules through werkzeug."""

import pytest

from muxserver.errors import MethodNotAllowed
from muxserver.errors import NotFound
from muxserver.errors import Redirect
from muxserver.tenancy.router import TenantRouter
from muxserver.tenancy.scanner import Route


def route(rule, methods, endpoint="index", handler="h"):
    return Route(rule, tuple(methods), endpoint, handler, f"{endpoint}.py", 1, "flask", False)


ROUTER = TenantRouter("acme", (
    route("/", ["GET"]),
    route("/users/", ["GET", "POST"], "users"),
    route("/users/<int:id>", ["GET", "DELETE"], "users", "one"),
    route("/files/<path:name>", ["GET"], "files"),
))


def test_plain_rule_and_head_follows_get():
    assert ROUTER.match("/", "GET").route.endpoint == "index"
    assert ROUTER.match("/", "HEAD").route.endpoint == "index"


def test_converter_rule_gives_typed_view_args():
    match = ROUTER.match("/users/42", "DELETE")
    assert match.route.handler == "one" and match.view_args == {"id": 42}
    assert ROUTER.match("/files/a/b.txt", "GET").view_args == {"name": "a/b.txt"}


def test_wrong_method_names_the_allowed_ones():
    with pytest.raises(MethodNotAllowed) as info:
        ROUTER.match("/users/", "PUT")
    assert info.value.allowed == ("GET", "HEAD", "OPTIONS", "POST")
    assert info.value.headers() == [("Allow", "GET, HEAD, OPTIONS, POST")]
    with pytest.raises(MethodNotAllowed):
        ROUTER.match("/users/7", "POST")


def test_missing_trailing_slash_redirects_and_unknown_is_not_found():
    with pytest.raises(Redirect) as info:
        ROUTER.match("/users", "GET")
    assert info.value.location == "/users/"
    with pytest.raises(NotFound):
        ROUTER.match("/users/abc", "GET")
    with pytest.raises(NotFound):
        ROUTER.match("/nothing", "GET")


def test_methods_for_options():
    assert ROUTER.methods_for("/users/9") == ("DELETE", "GET", "HEAD", "OPTIONS")
    assert ROUTER.methods_for("/nothing") is None

"""Tenant code sees the request only when it is its own tenant's
(``context.visible``): if some road ever runs one tenant's code inside
another's request (round 6 found one through a cache the process shares),
the request, session, g and after_this_request stay out of its reach."""

import pytest
from werkzeug.test import EnvironBuilder

from muxserver.tenant_api import context
from muxserver.tenant_api.request import TenantRequest
from muxserver.tenant_api.shim import RequestGlobals
from muxserver.tenant_api.shim import after_this_request
from muxserver.tenant_api.shim import has_request_context
from muxserver.tenant_api.shim import request
from sandbox.runtime import TenantRuntime

PEEK = """
def peek():
    return visible()

def read_header():
    return request.headers.get("Authorization")

def has_context():
    return has_request_context()

def set_g():
    g_object.user = "admin"

def hook():
    after_this_request(lambda response: response)
"""


def _module_of(tenant: str) -> dict:
    """Functions whose globals are a real tenant module's (plain Python:
    what matters here is whose module the frame runs in)."""
    runtime = TenantRuntime(tenant, load_lib=lambda name: None)
    namespace = runtime.new_namespace("peek", "peek.py")
    namespace.update(visible=context.visible, request=request, g_object=RequestGlobals(),
                     has_request_context=has_request_context,
                     after_this_request=after_this_request)
    exec(compile(PEEK, f"{tenant}/peek.py", "exec"), namespace)
    return namespace


@pytest.fixture
def in_bs_request():
    environ = EnvironBuilder(path="/b/", headers={"Authorization": "Bearer b-token"}).get_environ()
    ctx = context.RequestContext("b", "rid-1", TenantRequest(environ, "/", "/b", {}))
    previous = context.push(ctx)
    yield ctx
    context.pop(previous)


def test_a_tenants_own_code_and_the_host_see_its_request(in_bs_request):
    b = _module_of("b")
    assert b["peek"]() is in_bs_request
    assert context.visible() is in_bs_request  # host code, no tenant code above it
    assert b["read_header"]() == "Bearer b-token" and b["has_context"]() is True
    b["set_g"]()
    b["hook"]()
    assert in_bs_request.extras["g"] == {"user": "admin"}


def test_another_tenants_code_in_this_request_sees_no_request(in_bs_request):
    a = _module_of("a")
    assert a["peek"]() is None
    with pytest.raises(RuntimeError):
        a["read_header"]()
    assert a["has_context"]() is False
    with pytest.raises(RuntimeError):
        a["set_g"]()
    with pytest.raises(RuntimeError):
        a["hook"]()
    assert "g" not in in_bs_request.extras and "after_this_request" not in in_bs_request.extras

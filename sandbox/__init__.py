"""The sandbox: compile and run semi-trusted tenant Python in one process.

Usable on its own (it never imports :mod:`muxserver`)::

    from sandbox import compile_tenant, TenantRuntime, Budget, charged

    result = compile_tenant(source, "acme/hello.py")
    runtime = TenantRuntime("acme", load_lib=lambda name: None)
    namespace = runtime.new_namespace("hello")
    with charged(Budget(cpu_s=1.0, wall_s=30, memory_bytes=128 * 2**20)):
        runtime.run(result.code, namespace)
"""

from sandbox.compiler import CompileResult
from sandbox.compiler import compile_tenant
from sandbox.compiler import decode_source
from sandbox.facades import ALLOWED_MODULES
from sandbox.guards import SandboxError
from sandbox.guards import SizeLimitError
from sandbox.limits import Budget
from sandbox.limits import LimitExceeded
from sandbox.limits import charged
from sandbox.policy import POLICY_VERSION
from sandbox.runtime import LibSource
from sandbox.runtime import TenantRuntime

__all__ = [
    "ALLOWED_MODULES",
    "Budget",
    "CompileResult",
    "LibSource",
    "LimitExceeded",
    "POLICY_VERSION",
    "SandboxError",
    "SizeLimitError",
    "TenantRuntime",
    "charged",
    "compile_tenant",
    "decode_source",
]

"""The sandbox: compile and run semi-trusted tenant Python in one process.

Usable on its own (it never imports :mod:`muxserver`)::

    from sandbox import compile_tenant, TenantRuntime, Budget, charged

    result = compile_tenant(source, "acme/hello.py")
    runtime = TenantRuntime("acme", load_lib=lambda name: None)
    namespace = runtime.new_namespace("hello")
    with charged(Budget(cpu_s=1.0, wall_s=30, memory_bytes=128 * 2**20)):
        runtime.run(result.code, namespace)
"""

import importlib

# Where each public name lives, imported on first use: the compiler process
# needs only sandbox.compiler, and importing the runtime imports every facade.
_HOMES = {
    "ALLOWED_MODULES": "sandbox.facades",
    "Budget": "sandbox.limits",
    "CompileResult": "sandbox.compiler",
    "LibSource": "sandbox.runtime",
    "LimitExceeded": "sandbox.limits",
    "POLICY_VERSION": "sandbox.policy",
    "SandboxError": "sandbox.guards",
    "SizeLimitError": "sandbox.guards",
    "TenantRuntime": "sandbox.runtime",
    "charged": "sandbox.limits",
    "compile_tenant": "sandbox.compiler",
    "decode_source": "sandbox.compiler",
}


def __getattr__(name):
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'sandbox' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__():
    # As before the names were lazy: every public name, imported or not.
    return sorted({*globals(), *_HOMES})


__all__ = sorted(_HOMES)

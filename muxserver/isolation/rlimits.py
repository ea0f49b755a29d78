"""Resource limits of the serving process, set once and lowered for good.

No core dumps (a dump would write the process's memory, tenants' data
included, to disk); a cap on open files; with ``--memory-limit``, a cap on
address space. The hard limits are lowered too, so nothing in the process
can raise them again.

.. warning::
   ``RLIMIT_AS`` counts address space, not memory in use: threads reserve
   stacks and the allocator reserves arenas that are never touched. The cap
   is generous (:data:`AS_FACTOR` times the limit plus :data:`AS_SLACK`);
   it turns a runaway allocation into ``MemoryError`` instead of the
   kernel's OOM killer. The per-request budgets are what keep requests small.
"""

from __future__ import annotations

import resource

#: Open files a serving process may hold.
MAX_OPEN_FILES = 65536
AS_FACTOR = 3
AS_SLACK = 2 << 30


def _lower(which: int, value: int) -> int:
    soft, hard = resource.getrlimit(which)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(which, (value, value))
    return value


def restrict(memory_limit_mb: int | None) -> dict:
    """Apply the limits; return what is now in force (for status)."""
    applied = {"core": _lower(resource.RLIMIT_CORE, 0)}
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = MAX_OPEN_FILES if hard == resource.RLIM_INFINITY else min(hard, MAX_OPEN_FILES)
    applied["open_files"] = _lower(resource.RLIMIT_NOFILE, max(soft, wanted))
    if memory_limit_mb:
        applied["address_space_bytes"] = _lower(
            resource.RLIMIT_AS, memory_limit_mb * 2**20 * AS_FACTOR + AS_SLACK)
    return applied

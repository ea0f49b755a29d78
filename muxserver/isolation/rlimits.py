"""Resource limits of a process that runs tenant code, set once and lowered for good.

No core dumps (a dump would write the process's memory, tenants' data
included, to disk); a cap on open files; a cap on address space (from
``--memory-limit``, or the machine's memory without it); a cap on the size of
any file it writes (the largest storage a tenant may be given, so a tenant
cannot fill the disk past its quota through a bug in a quota check). A write
over that cap fails with ``EFBIG`` (``SIGXFSZ`` is ignored, or the kernel
would end the process). The hard limits are lowered too, so nothing in the
process can raise them again.

.. warning::
   ``RLIMIT_AS`` counts address space, not memory in use: threads reserve
   stacks and the allocator reserves arenas that are never touched. The cap
   is generous (:data:`AS_FACTOR` times the limit plus :data:`AS_SLACK`);
   it turns a runaway allocation into ``MemoryError`` instead of the
   kernel's OOM killer. The per-request budgets are what keep requests small.
"""

from __future__ import annotations

import os
import resource
import signal

#: Open files a serving process may hold.
MAX_OPEN_FILES = 65536
AS_FACTOR = 3
AS_SLACK = 2 << 30
#: Room a file may take beyond the largest tenant storage (SQLite's WAL).
FSIZE_SLACK = 256 << 20


def _lower(which: int, value: int) -> int:
    soft, hard = resource.getrlimit(which)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(which, (value, value))
    return value


def _machine_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return 16 << 30


def restrict(memory_limit_mb: int | None, largest_storage_mb: int) -> dict:
    """Apply the limits; return what is now in force (for status).

    :param largest_storage_mb: the most storage any tenant may be given
        (``[max_limits] storage_mb``): no file it writes can be larger.
    """
    applied = {"core": _lower(resource.RLIMIT_CORE, 0)}
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = MAX_OPEN_FILES if hard == resource.RLIM_INFINITY else min(hard, MAX_OPEN_FILES)
    applied["open_files"] = _lower(resource.RLIMIT_NOFILE, max(soft, wanted))
    memory = memory_limit_mb * 2**20 if memory_limit_mb else _machine_memory()
    applied["address_space_bytes"] = _lower(resource.RLIMIT_AS, memory * AS_FACTOR + AS_SLACK)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    applied["file_size_bytes"] = _lower(resource.RLIMIT_FSIZE,
                                        largest_storage_mb * 2**20 + FSIZE_SLACK)
    return applied

"""Give memory back to the operating system after evictions and kills.

CPython frees objects into its own arenas and glibc keeps freed heap pages
for reuse; neither shows up as lower RSS. ``gc.collect()`` breaks the cycles
a tenant module's globals and functions form (after an eviction), and
glibc's ``malloc_trim(0)`` returns free heap pages to the kernel;
:func:`pin_mmap_threshold` keeps big values from fragmenting the heap at all.

.. warning::
   ``malloc_trim`` exists on glibc only; elsewhere this is ``gc.collect()``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import time

from muxserver.ops.collector import collector
from sandbox import limits

_libc = None
try:
    _name = ctypes.util.find_library("c")
    if _name:
        _libc = ctypes.CDLL(_name)
        if not hasattr(_libc, "malloc_trim"):
            _libc = None
except OSError:
    _libc = None


#: glibc's ``M_MMAP_THRESHOLD`` option, and the size it is pinned at (its default).
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 128 * 1024


def pin_mmap_threshold() -> bool:
    """Keep every allocation of :data:`MMAP_THRESHOLD_BYTES` or more out of the heap.

    glibc serves big allocations with their own ``mmap`` (given back whole
    on free) but, by default, raises that threshold to the size of each
    such block freed, up to 32 MiB. After tenants built and dropped big
    values (a limit-killed request's lists, a one-call bomb stopped at its
    ceiling) every value under 32 MiB then came from the heap, and the heap
    stayed fragmented: 80 of 94 MB glibc held after the noisy-neighbour
    benchmark were free and ``malloc_trim`` could give back 19. Pinned
    (``mallopt`` turns the adjustment off), glibc held 15 MB, 2 of them
    free. A request that makes and drops many mid-size buffers pays an
    ``mmap`` and a ``munmap`` for each (microseconds); a hello request
    makes none.

    :return: whether glibc took it (False elsewhere).
    """
    if _libc is None or not hasattr(_libc, "mallopt"):
        return False
    return bool(_libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))


#: Least time between two full releases; a full collection of a big heap
#: costs milliseconds, and a tenant firing limit kills must not make every
#: other request pay for one each time.
MIN_INTERVAL_S = 1.0
_last_release = 0.0


def release_memory(force: bool = False) -> bool:
    """Hand free heap pages back to the OS.

    :param force: an eviction: collect garbage first (the unloaded modules'
        cycles), whatever the time since the last release. Without it (after
        a limit kill) no collection, and at most every :data:`MIN_INTERVAL_S`.
    :return: whether a release ran.
    """
    global _last_release
    now = time.monotonic()
    if not force and now - _last_release < MIN_INTERVAL_S:
        return False
    _last_release = now
    # A collection walks the objects of every request in flight while the hub
    # waits (a full one took 155 ms beside abusers' lists of 2 million
    # items, a young one 25 ms): after a limit kill the stopped request's
    # cycles are left to the serving process's periodic collector, and only
    # the heap pages already free are handed back.
    if force:
        collector.collect_all()
    if _libc is not None:
        _libc.malloc_trim(0)
    limits.forget_rss_sample()
    return True

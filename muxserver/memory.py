"""Give memory back to the operating system after evictions and kills.

CPython frees objects into its own arenas and glibc keeps freed heap pages
for reuse; neither shows up as lower RSS. ``gc.collect()`` breaks the cycles
a tenant module's globals and functions form, and glibc's ``malloc_trim(0)``
returns free heap pages to the kernel.

.. warning::
   ``malloc_trim`` exists on glibc only; elsewhere this is ``gc.collect()``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc

_libc = None
try:
    _name = ctypes.util.find_library("c")
    if _name:
        _libc = ctypes.CDLL(_name)
        if not hasattr(_libc, "malloc_trim"):
            _libc = None
except OSError:
    _libc = None


def release_memory() -> None:
    """Collect garbage and hand free heap pages back to the OS."""
    gc.collect()
    if _libc is not None:
        _libc.malloc_trim(0)

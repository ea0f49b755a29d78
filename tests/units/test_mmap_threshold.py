"""A serving process keeps big values out of glibc's heap
(:func:`muxserver.ops.memory.pin_mmap_threshold`), so what tenants' big
values leave behind goes back to the kernel instead of fragmenting it.

Run in a fresh interpreter each (the setting is process-wide), reading
glibc's own accounting (``mallinfo2``: heap bytes vs ``mmap`` bytes).
"""

import subprocess
import sys
import textwrap

import pytest

PROBE = textwrap.dedent("""\
    import ctypes, sys
    from muxserver.ops import memory

    class MallInfo2(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
            "uordblks", "fordblks", "keepcost")]

    libc = ctypes.CDLL(None)
    libc.mallinfo2.restype = MallInfo2
    if sys.argv[1] == "pinned":
        assert memory.pin_mmap_threshold()
    # A big value freed: unpinned, glibc raises its threshold to its size.
    big = bytearray(8 * 2**20)
    del big
    before = libc.mallinfo2()
    held = [bytearray(2**20) for _ in range(16)]
    after = libc.mallinfo2()
    print((after.hblkhd - before.hblkhd) >> 20, (after.arena - before.arena) >> 20)
    """)


def _probe(mode: str) -> tuple[int, int]:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    mapped, heap = map(int, out.stdout.split())
    return mapped, heap


def test_pinned_big_values_are_mapped_and_given_back_whole():
    try:
        import ctypes

        ctypes.CDLL(None).mallinfo2
    except AttributeError:
        pytest.skip("not glibc 2.33 or later: no mallinfo2 to read the heap with")
    mapped, heap = _probe("pinned")
    assert mapped >= 16 and heap < 2, (mapped, heap)
    # Unpinned (glibc's default), the same megabytes come from the heap:
    # the case the pin is there to prevent.
    mapped, heap = _probe("default")
    assert heap >= 16 and mapped < 2, (mapped, heap)

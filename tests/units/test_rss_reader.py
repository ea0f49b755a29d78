"""``sandbox.limits.rss_bytes``: the RSS the memory budgets are charged from."""

import os


def _statm_rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_a_child_forked_after_import_reads_its_own_rss():
    """The reader keeps ``/proc/self/statm`` open; ``/proc/self`` is the
    process that opened it. A child forked later (the fresh-process cases'
    fork server) read its parent's RSS, and its budgets grew unseen."""
    from sandbox.limits import rss_bytes

    rss_bytes()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            ballast = bytearray(64 * 2**20)
            ballast[::4096] = b"\x01" * len(range(0, len(ballast), 4096))  # resident, in the child
            os.write(write, f"{rss_bytes()} {_statm_rss()}".encode())
        finally:
            os._exit(0)
    os.close(write)
    try:
        answer = os.read(read, 100).decode()
    finally:
        os.close(read)
        os.waitpid(pid, 0)
    seen, own = map(int, answer.split())
    assert abs(seen - own) < 16 * 2**20, f"read {seen >> 20} MB, the child has {own >> 20} MB"

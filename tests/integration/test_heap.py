from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from server.adapters.heap import release_free_heap

# Eight threads that each allocate from the C heap (blocks over pymalloc's limit) and wait, then the number of
# arenas glibc reports (one <heap> element each in malloc_info's XML), in a fresh interpreter.
COUNT_ARENAS = textwrap.dedent(
    """
    import ctypes, sys, tempfile, threading
    from server.adapters.heap import limit_heap_arenas
    if sys.argv[1] != "none" and not limit_heap_arenas(int(sys.argv[1])):
        sys.exit(3)
    done = threading.Event()
    started = threading.Barrier(9)
    def allocate():
        blocks = [bytes(5000) for _ in range(100)]
        started.wait()
        done.wait()
    threads = [threading.Thread(target=allocate) for _ in range(8)]
    for thread in threads:
        thread.start()
    started.wait()
    libc = ctypes.CDLL(None)
    libc.fopen.restype = ctypes.c_void_p
    libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
    libc.fclose.argtypes = [ctypes.c_void_p]
    with tempfile.NamedTemporaryFile(suffix=".xml") as report:
        handle = libc.fopen(report.name.encode(), b"w")
        libc.malloc_info(0, handle)
        libc.fclose(handle)
        print(open(report.name).read().count("<heap nr="))
    done.set()
    """
)


# In a fresh interpreter: free a mapped 8 MiB block (which raises glibc's own threshold to 8 MiB), allocate 6 MiB,
# and print whether that block was mapped (glibc's mallinfo2 counts mapped bytes in hblkhd).
SIX_MIB_MAPPED = textwrap.dedent(
    """
    import ctypes, sys
    from server.adapters.heap import map_large_blocks
    if sys.argv[1] != "none" and not map_large_blocks(int(sys.argv[1])):
        sys.exit(3)
    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in
                    ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                     "keepcost")]
    libc = ctypes.CDLL(None)
    if not hasattr(libc, "mallinfo2"):
        sys.exit(3)
    libc.mallinfo2.restype = MallInfo2
    first = bytearray(8 << 20)
    del first
    before = libc.mallinfo2().hblkhd
    second = bytearray(6 << 20)
    print(libc.mallinfo2().hblkhd - before >= 6 << 20)
    """
)


# In a fresh interpreter that has imported what a server imports: the objects the collector tracks before and after
# exempting them, then how many objects a full collection finds unreachable after a cycle of two is dropped.
EXEMPT_AND_COLLECT = textwrap.dedent(
    """
    import gc, sys
    import server.rpc.app
    from server.adapters.heap import exempt_started_objects
    before = len(gc.get_objects())
    exempted = exempt_started_objects()
    after = len(gc.get_objects())
    class Node:
        pass
    first, second = Node(), Node()
    first.other, second.other = second, first
    del first, second
    print(before, exempted, after, gc.collect())
    """
)


def run_fresh(script: str, argument: str) -> str:
    """Run `script` in a fresh interpreter and return what it printed; skip where it exits 3 (not glibc)."""
    result = subprocess.run(  # noqa: S603 - this interpreter running the test's own script
        [sys.executable, "-c", script, argument], capture_output=True, text=True, timeout=60, check=False
    )
    if result.returncode == 3:
        pytest.skip("the C library lacks what this test needs (mallopt or mallinfo2)")
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def six_mib_mapped_after_freeing_eight(threshold: str) -> bool:
    return run_fresh(SIX_MIB_MAPPED, threshold) == "True"


def arenas_after_eight_threads(limit: str) -> int:
    return int(run_fresh(COUNT_ARENAS, limit))


def anonymous_resident_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1])
    raise AssertionError("no RssAnon in /proc/self/status")


def test_freed_blocks_pinned_behind_live_ones_are_given_back() -> None:
    # Blocks over pymalloc's 512-byte limit come from the C heap; every 64th stays alive, so the heap
    # cannot shrink from its top and the freed ones stay resident until they are released.
    blocks = [bytes(2000) for _ in range(50_000)]
    survivors = blocks[::64]
    del blocks
    before = anonymous_resident_kib()

    if not release_free_heap():
        pytest.skip("the C library has no malloc_trim")

    assert before - anonymous_resident_kib() > 50_000  # of about 96 MB freed
    assert len(survivors) == 782


def test_the_heap_makes_no_more_arenas_than_allowed() -> None:
    assert arenas_after_eight_threads("none") > 2  # glibc's own limit is eight per core

    assert arenas_after_eight_threads("2") == 2


def test_blocks_over_a_fixed_threshold_stay_mapped_after_a_larger_one_is_freed() -> None:
    assert not six_mib_mapped_after_freeing_eight("none")  # glibc raised its threshold to 8 MiB

    assert six_mib_mapped_after_freeing_eight(str(4 << 20))


def test_objects_alive_when_exempted_are_not_walked_again_and_later_cycles_are_still_collected() -> None:
    before, exempted, after, collected = map(int, run_fresh(EXEMPT_AND_COLLECT, "").split())

    assert before > 50_000  # the modules a server imports
    assert exempted >= before - 1_000  # the collection before it may free a few
    assert after < 1_000
    assert collected >= 2  # the dropped cycle, made after: the collector still runs on what is new

from __future__ import annotations

from pathlib import Path

import pytest

from server.adapters.heap import release_free_heap


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

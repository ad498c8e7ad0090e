"""Keep the heaps in check: the C heap's arenas and freed pages, and the objects Python's collector walks."""

from __future__ import annotations

import ctypes
import gc
import logging
from collections.abc import Callable
from typing import Final, cast

_LOGGER = logging.getLogger(__name__)

# mallopt's parameters (glibc's malloc.h): the size from which blocks are mapped, and the most arenas.
_M_MMAP_THRESHOLD: Final = -3
_M_ARENA_MAX: Final = -8


def release_free_heap() -> bool:
    """Return the C heap's free pages to the system; False where the C library cannot (it is not glibc).

    glibc keeps freed blocks for reuse, and cannot shrink its heap past a block still in use, so the
    temporaries of loading a large index stay resident after they are freed (about 17 MB at 100,000
    documents). `malloc_trim` releases every free page, wherever it lies in the heap.
    """
    trim = _c_function("malloc_trim", [ctypes.c_size_t], "freed heap memory stays with the process")
    if trim is None:
        return False
    trim(0)
    return True


def limit_heap_arenas(count: int) -> bool:
    """Let the C heap make at most `count` arenas from now on; False where the C library cannot (it is not glibc).

    glibc gives each new thread an arena of its own, up to eight per core, and an arena keeps the blocks freed
    in it for its threads' next allocations. With the server's request threads each in an arena of its own,
    8,000 documents ingested into the 100k benchmark store left the server's anonymous memory 45 and 50 MB
    above what the same store took once restarted; with two arenas (one per core), 19 and 32 MB. Call it before
    the threads start.
    """
    return _set_heap_option(_M_ARENA_MAX, count, "its heap makes as many arenas as it likes")


def map_large_blocks(threshold_bytes: int) -> bool:
    """Map each block of `threshold_bytes` or more on its own; False where the C library cannot (it is not glibc).

    A mapped block is unmapped when freed. glibc maps large blocks at first, but each mapped block freed raises
    the size from which it maps to that block's, up to 32 MiB. Once the index has loaded (its temporaries are such
    blocks), blocks of up to tens of MiB come from the heap, where a freed one stays resident until the blocks
    around it are freed too. In ten minutes of mixed load at 80 % of the server's maximum, the heap's free but
    resident space grew from about 20 to 62-74 MiB; with the size fixed at 4 MiB, it stayed between 8 and 30 MiB.
    Fixed at 256 KiB, blocks that requests allocate and free many times a second were mapped and unmapped each
    time, and the server fell behind its load.
    """
    return _set_heap_option(_M_MMAP_THRESHOLD, threshold_bytes, "it maps large blocks as it sees fit")


def exempt_started_objects() -> int:
    """Collect garbage once, then leave every object alive now out of the cyclic collector's passes; return how many.

    A started server holds about 140,000 objects the collector tracks (modules, compiled code, the gRPC server),
    alive until it stops, and each full pass walked them all with every request thread waiting: under a mixed load
    of 8 clients in a closed loop on the 100k benchmark store, one pass every 10 s, of 44 to 151 ms. Exempted, they
    are not walked again, and a full pass walks only what was made since. An exempted object that is dropped is
    still freed by its reference count; only a cycle among exempted objects would stay. Call it once the server is
    built, before it serves.
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def _set_heap_option(parameter: int, value: int, without_it: str) -> bool:
    """Set one of mallopt's parameters; False where the C library has no mallopt or refuses the value."""
    mallopt = _c_function("mallopt", [ctypes.c_int, ctypes.c_int], without_it)
    return mallopt is not None and bool(mallopt(parameter, value))


def _c_function(name: str, argument_types: list[type], without_it: str) -> Callable[..., int] | None:
    """Return the C library's function `name` (returning int), or None where there is none (not glibc)."""
    try:
        function = getattr(ctypes.CDLL(None), name)
    except (OSError, AttributeError):
        _LOGGER.debug("this C library has no %s; %s", name, without_it)
        return None
    function.argtypes = argument_types
    function.restype = ctypes.c_int
    return cast(Callable[..., int], function)

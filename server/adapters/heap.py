"""Give freed heap memory back to the operating system after a burst of short-lived allocations."""

from __future__ import annotations

import ctypes
import logging

_LOGGER = logging.getLogger(__name__)


def release_free_heap() -> bool:
    """Return the C heap's free pages to the system; False where the C library cannot (it is not glibc).

    glibc keeps freed blocks for reuse, and cannot shrink its heap past a block still in use, so the
    temporaries of loading a large index stay resident after they are freed (about 17 MB at 100,000
    documents). `malloc_trim` releases every free page, wherever it lies in the heap.
    """
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        _LOGGER.debug("this C library has no malloc_trim; freed heap memory stays with the process")
        return False
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    trim(0)
    return True

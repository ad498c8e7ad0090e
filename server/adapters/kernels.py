"""numba's kernels, compiled into its cache by short-lived processes of their own when the cache lacks them.

Every kernel is compiled with `cache=True`, so a process that finds it in numba's cache loads it in a fraction of a
second. A process that compiles it keeps the compiler's memory for as long as it runs: on a new checkout the first
start took 48 s, and left the server 577 MiB resident and each of its two verification workers 1,444 MiB, where a
start with the kernels cached gives the three 542 MiB together. So when the kernels of this code are not known to
be cached, processes of their own compile them all first, and exit; the server and its workers then load them.

Which code is cached is recorded by a marker file beside numba's cache, named after the kernels' source files (as
numba stamps them: modification time and size), numba's version and Python's, and written once those processes
have compiled them. Without the marker the separate compile runs again (about a second when the cache holds
everything); a marker left behind by a cache that was deleted makes each process compile what it uses instead.
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Final

import numba
from numba.core.registry import CPUDispatcher

from server.adapters import band_index, compiled_signer, compiled_tokenizer, compiled_weights
from server.adapters.minhash_lsh_index import MinHashLshIndex
from server.domain.verification import LocalVerifier

_LOGGER = logging.getLogger(__name__)

# The modules whose kernels the server and its workers compile.
KERNEL_MODULES: Final[tuple[ModuleType, ...]] = (
    band_index,
    compiled_signer,
    compiled_tokenizer,
    compiled_weights,
)
_SIGNED_ON_WARM_UP: Final = "Compile the signing kernels before the first request arrives."


def warm_index_kernels(index: MinHashLshIndex) -> None:
    """Compile, or load from numba's cache, the kernels the server process signs and screens with."""
    index.sign(_SIGNED_ON_WARM_UP)
    band_index.compile_kernels()


def warm_verification_kernels() -> None:
    """Compile, or load from numba's cache, the kernels a verification worker analyses and compares texts with."""
    LocalVerifier(weigher=compiled_weights.weigh, tokenizer=compiled_tokenizer.tokenize).warm_up()


def _warm_kernels_of_new_index(num_perm: int, seed: int) -> None:
    warm_index_kernels(MinHashLshIndex(num_perm=num_perm, seed=seed, directory=None))


def compile_apart_unless_cached(num_perm: int, seed: int, cache_directory: Path | None = None) -> bool:
    """Compile every kernel in processes of their own unless this code's kernels are marked as cached; True if so.

    `cache_directory` is where the marker is kept: numba's cache directory for this code when not given.
    """
    directory = cache_directory or numba_cache_directory()
    if directory is None:
        # numba keeps no cache for this code: every process compiles what it uses whatever is done here.
        return False
    marker = kernels_marker(directory, [Path(module.__file__ or "") for module in KERNEL_MODULES])
    if marker.exists():
        return False
    started = time.perf_counter()
    # New interpreters, as the workers are: the server process takes no compiler state from them.
    context = multiprocessing.get_context("spawn")
    # The two at once: they take about as long as each other (about 30 s from an empty cache), and a machine the
    # server uses both cores of has two.
    processes = [
        context.Process(target=_warm_kernels_of_new_index, args=(num_perm, seed), name="kernel-compiler-index"),
        context.Process(target=warm_verification_kernels, name="kernel-compiler-verification"),
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join()
    failed = [process.exitcode for process in processes if process.exitcode != 0]
    if failed:
        _LOGGER.warning(
            "compiling numba's kernels in processes of their own failed (exit codes %s); each process compiles what "
            "it uses instead",
            failed,
        )
        return True
    _LOGGER.info(
        "compiled numba's kernels into its cache in %.1f s, in processes of their own", time.perf_counter() - started
    )
    try:
        marker.touch()
    except OSError:
        # numba could not write its cache there either; every start compiles apart again, about a second when cached.
        _LOGGER.warning("could not mark numba's kernels as cached at %s", marker)
    return True


def numba_cache_directory() -> Path | None:
    """Return the directory numba caches this code's kernels in (beside the sources, or NUMBA_CACHE_DIR), if any."""
    kernel = next(value for value in vars(band_index).values() if isinstance(value, CPUDispatcher))
    cache_path = kernel.stats.cache_path
    return None if cache_path is None else Path(cache_path)


def kernels_marker(cache_directory: Path, sources: Sequence[Path]) -> Path:
    """Return the marker file saying that the kernels of `sources`, as they are now, are in numba's cache."""
    stamps = []
    for source in sources:
        status = source.stat()
        stamps.append((str(source), status.st_mtime_ns, status.st_size))
    identity = repr((numba.__version__, sys.version, platform.machine(), stamps))
    return cache_directory / f"dedup-kernels-{hashlib.sha256(identity.encode()).hexdigest()[:16]}.cached"

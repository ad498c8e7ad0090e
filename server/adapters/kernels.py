"""numba's kernels, compiled into its cache by a short-lived process of their own when the cache lacks them.

Every kernel is compiled with `cache=True`, so a process that finds it in numba's cache loads it in a fraction of a
second. A process that compiles it keeps the compiler's memory for as long as it runs: on a new checkout the first
start took 48 s, and left the server 577 MiB resident and each of its two verification workers 1,444 MiB, where a
start with the kernels cached gives the three 542 MiB together. So when the kernels of this code are not known to
be cached, a process of its own compiles them all first, and exits; the server and its workers then load them.

Which code is cached is recorded by a marker file beside numba's cache, named after the kernels' source files (as
numba stamps them: modification time and size), numba's version and Python's, and written once that process has
compiled them. Without the marker the separate compile runs again (about a second when the cache holds
everything); a marker left behind by a cache that was deleted makes each process compile what it uses, as before.
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

from server.adapters import band_index, compiled_signer, compiled_tokenizer, compiled_weights, minhash_lsh_index
from server.adapters.minhash_lsh_index import MinHashLshIndex
from server.domain.verification import LocalVerifier

_LOGGER = logging.getLogger(__name__)

# The modules whose kernels the server and its workers compile.
KERNEL_MODULES: Final[tuple[ModuleType, ...]] = (
    band_index,
    compiled_signer,
    compiled_tokenizer,
    compiled_weights,
    minhash_lsh_index,
)
_SIGNED_ON_WARM_UP: Final = "Compile the signing kernels before the first request arrives."


def warm_kernels(num_perm: int, seed: int) -> None:
    """Compile, or load from numba's cache, every kernel the server and its verification workers use."""
    MinHashLshIndex(num_perm=num_perm, seed=seed, directory=None).sign(_SIGNED_ON_WARM_UP)
    band_index.compile_kernels()
    LocalVerifier(weigher=compiled_weights.weigh, tokenizer=compiled_tokenizer.tokenize).warm_up()


def compile_apart_unless_cached(num_perm: int, seed: int, cache_directory: Path | None = None) -> bool:
    """Compile every kernel in a process of its own unless this code's kernels are marked as cached; True if it ran.

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
    # A new interpreter, as the workers are: the server process imports no compiler state from it.
    process = multiprocessing.get_context("spawn").Process(
        target=_compile_and_mark, args=(num_perm, seed, str(marker)), name="kernel-compiler"
    )
    process.start()
    process.join()
    if process.exitcode != 0:
        _LOGGER.warning(
            "compiling numba's kernels in a process of their own failed (exit code %s); each process compiles what "
            "it uses instead",
            process.exitcode,
        )
    else:
        _LOGGER.info(
            "compiled numba's kernels into its cache in a process of their own, in %.1f s",
            time.perf_counter() - started,
        )
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


def _compile_and_mark(num_perm: int, seed: int, marker: str) -> None:
    warm_kernels(num_perm, seed)
    try:
        Path(marker).touch()
    except OSError:
        # numba could not write its cache there either; every start compiles in a process of its own.
        _LOGGER.warning("could not mark numba's kernels as cached at %s", marker)

"""Index merges: the memory a merge needs beside the index, with and without the limit on merged segments.

A merge builds its segment beside the ones it replaces, so for a moment the process holds both. The band index
therefore merges segments only up to `MAX_MERGED_WINDOWS` windows. This benchmark fills a `BandIndex` (with a
directory, as the server's, so that window sketches live in a file) with synthetic documents of random windows,
a checkpoint every `--batch` documents, merges in the caller. Every `--stride` documents it reads how far the
peak resident size (VmHWM) rose above the resident size (VmRSS), then resets the peak (Linux's
`/proc/self/clear_refs`). Each configuration runs in a fresh process. It prints the largest such rise, the index's
size and segments, the fill time, and the median time to find the candidates of a 10-window query.

Random windows collide with nothing, so the look-up figure is the cost of searching the segments, not of
screening real candidates.

    python -m bench.bench_merges --documents 1000000
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from bench.report import Report
from server.adapters.band_index import MAX_MERGED_WINDOWS, BandIndex
from server.adapters.process_memory import process_tree_memory

BANDS, ROWS, NUM_PERM = 21, 3, 128
QUERIES = 300
QUERY_WINDOWS = 10

_DESCRIPTION = __doc__.split("\n\n")[0] if __doc__ else ""


@dataclass(frozen=True, slots=True)
class Filled:
    """What one configuration measured."""

    limit: int | None
    segments: list[int]
    index_bytes: int
    resident_bytes: int
    worst_rise_bytes: int
    fill_seconds: float
    lookup_median_seconds: float


def _reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5", encoding="utf-8")


def fill(limit: int | None, documents: int, windows: int, batch: int, stride: int, seed: int) -> Filled:
    """Fill an index in a temporary directory and measure it; `limit` None merges without a limit."""
    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory(prefix="bench-merges-") as directory:
        index = BandIndex(BANDS, ROWS, Path(directory), max_merged_windows=limit or sys.maxsize)
        # Compiles the kernels and settles the first allocations before the peak is first reset.
        index.add(0, rng.integers(0, 2**32, size=(windows, NUM_PERM), dtype=np.uint32))
        index.checkpoint()
        _reset_peak()
        worst = 0
        started = time.perf_counter()
        for sequence in range(1, documents + 1):
            index.add(sequence, rng.integers(0, 2**32, size=(windows, NUM_PERM), dtype=np.uint32))
            if sequence % batch == 0:
                index.checkpoint()
            if sequence % stride == 0 or sequence == documents:
                memory = process_tree_memory(os.getpid())
                worst = max(worst, memory.peak - memory.resident)
                _reset_peak()
        fill_seconds = time.perf_counter() - started
        queries = [rng.integers(0, 2**32, size=(QUERY_WINDOWS, NUM_PERM), dtype=np.uint32) for _ in range(QUERIES)]
        for query in queries[:20]:
            index.candidates(query)
        times = []
        for query in queries:
            begun = time.perf_counter()
            index.candidates(query)
            times.append(time.perf_counter() - begun)
        return Filled(
            limit=limit,
            segments=[segment.entries for segment in index._segments],
            index_bytes=index.memory_bytes(),
            resident_bytes=process_tree_memory(os.getpid()).resident,
            worst_rise_bytes=worst,
            fill_seconds=fill_seconds,
            lookup_median_seconds=statistics.median(times),
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_merges", description=_DESCRIPTION)
    parser.add_argument("--documents", type=int, default=1_000_000, help="documents to index (default 1000000)")
    parser.add_argument("--windows", type=int, default=8, help="windows per document (default 8)")
    parser.add_argument("--batch", type=int, default=16, help="documents between checkpoints (default 16)")
    parser.add_argument("--stride", type=int, default=8000, help="documents between peak readings (default 8000)")
    parser.add_argument(
        "--limit", type=int, default=MAX_MERGED_WINDOWS, help=f"merge limit in windows (default {MAX_MERGED_WINDOWS})"
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    arguments = parser.parse_args(argv)
    if min(arguments.documents, arguments.windows, arguments.batch, arguments.stride, arguments.limit) < 1:
        parser.error("--documents, --windows, --batch, --stride and --limit must be at least 1")
    if not Path("/proc/self/clear_refs").exists():
        parser.error("this benchmark reads and resets the peak resident size through /proc, which only Linux has")
    report = Report()
    report.header(
        "index merges: memory beside the index, with and without the limit",
        ["python -m bench.bench_merges", *(argv or sys.argv[1:])],
    )
    report.line(
        f"{arguments.documents:,} documents of {arguments.windows} random windows, a checkpoint every "
        f"{arguments.batch}, the peak read every {arguments.stride:,}; each configuration in a fresh process"
    )
    results = []
    for limit in (None, arguments.limit):
        # A fresh process each, so that one configuration's heap does not lend the other its free space.
        with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
            results.append(
                pool.submit(
                    fill,
                    limit,
                    arguments.documents,
                    arguments.windows,
                    arguments.batch,
                    arguments.stride,
                    arguments.seed,
                ).result()
            )
    for result in results:
        label = "no limit" if result.limit is None else f"limit {result.limit:,} windows"
        report.heading(label)
        report.line(f"  segments (windows each): {', '.join(f'{entries:,}' for entries in result.segments)}")
        report.figure("index (memory_bytes)", result.index_bytes / 2**20, "MiB", digits=0)
        report.figure("resident at the end (VmRSS)", result.resident_bytes / 2**20, "MiB", digits=0)
        report.figure("largest rise of the peak above resident", result.worst_rise_bytes / 2**20, "MiB", digits=0)
        report.figure("fill time", result.fill_seconds, "s", digits=1)
        report.figure(
            f"candidates of a {QUERY_WINDOWS}-window query, median", result.lookup_median_seconds * 1e6, "µs", digits=0
        )
    unlimited, limited = results
    report.heading("ratios (no limit / limit)")
    if limited.worst_rise_bytes:
        report.figure("largest rise", unlimited.worst_rise_bytes / limited.worst_rise_bytes, "x", digits=2)
    report.figure("look-up median", unlimited.lookup_median_seconds / limited.lookup_median_seconds, "x", digits=2)
    report.summary()
    return 0


if __name__ == "__main__":
    sys.exit(main())

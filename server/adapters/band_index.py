"""BandIndex: a compact MinHash LSH index of passage signatures, in sorted numpy segments saved to disk."""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
import logging
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final, Generic, TypeVar, cast

import numba
import numpy as np
import numpy.typing as npt

_LOGGER = logging.getLogger(__name__)

UInt32Array = npt.NDArray[np.uint32]
# Sequence numbers, or groups of a query and a sequence (BandIndex.screen_many).
_Integers = npt.NDArray[np.uint32] | npt.NDArray[np.int64]
_Scalar = TypeVar("_Scalar", bound=np.generic)

# A segment is saved to disk once it holds this many windows (about 1,600 news articles): small enough
# that a restart replays little from the store, large enough that the files stay few.
SAVE_WINDOWS: Final = 16_384
# Segments are merged while the newer one is at least this fraction of the older one's size, so that
# their number stays logarithmic in the index size (a query searches every segment).
MERGE_RATIO: Final = 0.5
# Two segments are not merged into one of more entries per band than this. A merge builds its result beside the
# segments it replaces, so the largest merge is the most memory the index needs beyond its own: at most about
# 350 MB here (168 bytes a window), where merging every segment of a million news articles built a 1.7 GB copy.
# Past the limit segments stay side by side, each one more look-up per query (about eight at a million articles).
MAX_MERGED_WINDOWS: Final = 2**21
# A segment at least this share of whose entries are removed windows' is rewritten without them: one at the merge
# limit is not merged again, and would otherwise keep them for good.
COMPACT_DEAD_SHARE: Final = 0.5
# Each band of a segment is cut into buckets by its keys' leading bits, at most 2**MAX_BUCKET_BITS of them and
# about BUCKET_ENTRIES keys each: 5.5 MB of bucket starts for a segment of 7.8M windows, 0.7 bytes a window.
BUCKET_ENTRIES: Final = 128
MAX_BUCKET_BITS: Final = 16
# A band key stored for more windows than this is common: its three values are the minima of frequent
# words, and windows on one subject share it by chance. A window pair that meets in one common key and no
# other band is not worth a sketch read unless its document meets the query again, independently: in
# another of its windows and by another query window (overlapping query windows often meet one stored
# window in the same key, which is one chance event, not two). On a 404k-document news store this left
# 11 % of a query's 7,500 colliding pairs to read and lost none of 91 planted copies, excerpts and
# rewrites. On PAN-13 with the limit at 2 (about the same share of that store's windows as 64 is at 404k)
# it lost 25 of 2,680 true pairs; reading every document met twice in any way lost 13 but read 42 %.
COMMON_KEY_WINDOWS: Final = 64
# A band key stored for more windows than this is a stop key, and meets only its oldest COMMON_KEY_WINDOWS: the
# minima of three of the commonest words, it meets thousands of windows by chance. Such keys grow with the store.
# At 508k news documents they made 58 % of a query's 25,000 colliding pairs. The oldest windows of the key are
# the ones kept because a text copied thousands of times (a wire story) is the oldest to have its keys: a copy
# meets the story and its oldest copies in every band, and a rewrite, which shares a few of its keys, still meets
# the story through them. That names a copy's origin and fills an answer, and a copy's screening stops growing
# with the copies before it, where it met all of them while a window most of whose keys were stop keys was
# looked up in full (`bench_copies`: the last 500 of 2,000 dated copies ingested at 39 against 27 docs/s). At 256
# the answers to 800 texts on the 508k store were the same as at 1,024, and on PAN-13, with both limits lowered
# to stand in for a store 64 times larger (1 and 4), 2,889 true pairs were linked against 2,893 at 1 and 16 and
# 2,896 with no stop keys.
STOP_KEY_WINDOWS: Final = 256
MANIFEST_NAME: Final = "manifest.json"
SKETCHES_NAME: Final = "sketches.bin"
FORMAT_VERSION: Final = 3
# Version 2 merged segments with one band's mask of removed windows applied to every band, which dropped live
# windows' entries from the other bands. Its files are kept only where no window was ever removed.
_FORMAT_BEFORE_PER_BAND_MERGES: Final = 2
# Indexes saved before the words between a document's stored windows were recorded all used this many.
WINDOW_STRIDE_BEFORE_RECORDED: Final = 50
# A window's sketch keeps the low byte of each of its signature values. Where two windows' MinHash values are
# equal their bytes are too, and elsewhere bytes agree by chance once in 256, so the share of equal bytes
# still estimates the windows' Jaccard similarity, from a quarter of the bytes.
_CHANCE_BYTE_AGREEMENT: Final = 1.0 / 256.0

_FNV_OFFSET: Final = np.uint64(0xCBF29CE484222325)
_MIX_MULTIPLIER: Final = np.uint64(0x9E3779B97F4A7C15)


def band_keys(signatures: UInt32Array, bands: int, rows: int) -> UInt32Array:
    """Return the 32-bit key of each band of each signature row, shape (bands, len(signatures)).

    Band j covers hash values [j*rows, (j+1)*rows), as in datasketch's MinHashLSH; the key mixes those
    values and j. The index keeps one table per band, so 32 bits only need to tell apart the keys
    within one band: at ten million windows a lookup meets a false match with probability 0.2 %.
    """
    values = signatures[:, : bands * rows].astype(np.uint64).reshape(len(signatures), bands, rows)
    keys = np.full((len(signatures), bands), _FNV_OFFSET, dtype=np.uint64)
    keys ^= np.arange(bands, dtype=np.uint64)
    for row in range(rows):
        keys = (keys ^ values[:, :, row]) * _MIX_MULTIPLIER
        keys ^= keys >> np.uint64(29)
    return (keys >> np.uint64(32)).astype(np.uint32).T.copy()


def probe_keys(
    signatures: UInt32Array, second_minima: UInt32Array, bands: int, rows: int, probes: int | None = None
) -> UInt32Array:
    """Return the keys of each band with one of its values swapped for that permutation's second minimum.

    Shape (bands, probes * len(signatures)): the keys with each band's first value swapped for all windows, then
    with its second value swapped, and so on, for the first `probes` values of each band (all `rows` by default).
    `second_minima[i, v]` is the second-smallest value of window i's features under permutation v, for at least
    the `bands * rows` banded permutations.

    A stored window whose minimum under a permutation is the query's second-smallest value lacks the query's
    smallest feature and has its next one: reworded text loses and gains words, so a window alike to the query
    matches it that way a third as often as it matches the minimum itself. Looking up these keys too (multi-probe
    LSH) doubles the chance that a pair of windows at Jaccard similarity 0.3 meets in a band (0.026 to 0.053;
    in any of 21 bands, 0.42 to 0.68), with no entry added to the index. Chance pairs meet twice as often too.

    >>> signatures = np.array([[10, 20, 30, 40]], dtype=np.uint32)
    >>> seconds = np.array([[11, 21, 31, 41]], dtype=np.uint32)
    >>> swapped = np.array([[11, 20, 30, 40], [10, 21, 30, 40]], dtype=np.uint32)
    >>> bool(np.array_equal(probe_keys(signatures, seconds, 1, 2), band_keys(swapped, 1, 2)))
    True
    """
    banded = bands * rows
    keys = []
    for row in range(rows if probes is None else probes):
        swapped = signatures[:, :banded].copy()
        swapped[:, row:banded:rows] = second_minima[:, row:banded:rows]
        keys.append(band_keys(swapped, bands, rows))
    return np.concatenate(keys, axis=1)


@dataclass(frozen=True, slots=True)
class _Segment:
    """Sorted band tables for the consecutive windows [first_window, first_window + window_count).

    `keys[offsets[j]:offsets[j+1]]` is band j's table, sorted; `windows` holds the window id of each key.
    Which document a window belongs to is kept once, in the index's per-window array.
    """

    first_window: int
    window_count: int
    keys: UInt32Array
    windows: UInt32Array
    offsets: npt.NDArray[np.int64]
    name: str | None = None
    # Where each band's keys with given leading bits begin (see _bucket_starts), so that a look-up searches a
    # range of about BUCKET_ENTRIES keys; derived from the keys, so neither saved nor compared.
    buckets: UInt32Array = dataclasses.field(init=False, repr=False, compare=False)
    bucket_shift: int = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        shift, starts = _bucket_starts(self.keys, self.offsets)
        object.__setattr__(self, "bucket_shift", shift)
        object.__setattr__(self, "buckets", starts)

    def band_arrays(self) -> tuple[UInt32Array, UInt32Array]:
        """Return the keys and windows as (bands, n) arrays, each band sorted by key."""
        bands = len(self.offsets) - 1
        return self.keys.reshape(bands, -1), self.windows.reshape(bands, -1)

    def key_ranges(self, query_keys: UInt32Array, most: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Return (low, high), each shaped as `query_keys`: the entries equal to a query key are [low, high).

        A key stored more than `most` times has a range of `most` + 1 entries only: it is a stop key (see
        STOP_KEY_WINDOWS), and how many more there are does not matter.
        """
        return _key_ranges(
            self.keys, self.offsets, self.buckets, self.bucket_shift, np.ascontiguousarray(query_keys), most
        )

    def lookup(
        self, ranges: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]], budget: npt.NDArray[np.int64]
    ) -> tuple[npt.NDArray[np.intp], UInt32Array]:
        """Return (flat query position, stored window) for the first entries of each range, as many as `budget` allows.

        `budget` (shaped as the query keys) is lowered by what each key took, for the next segment's look-up.
        """
        return _gathered(self.windows, *ranges, budget)

    @property
    def entries(self) -> int:
        """Entries per band: the windows the segment holds, removed ones that no merge has dropped yet included."""
        return int(self.offsets[1] - self.offsets[0])

    def live_entries(self, dead: npt.NDArray[np.bool_]) -> int:
        """Count the entries (per band) of windows not removed, from band 0's."""
        return int(np.count_nonzero(~dead[self.windows[: self.entries]]))

    def removed_entries(self, dead: npt.NDArray[np.bool_]) -> int:
        """Count the entries (per band) of removed windows, from the range's flags: a slice, cheaper than the entries.

        Each window of the range that is not removed has its entries, so the others are removed windows'. Were one
        ever missing, this would count fewer, and the segment would only be rewritten later.
        """
        removed = int(np.count_nonzero(dead[self.first_window : self.first_window + self.window_count]))
        return self.entries - (self.window_count - removed)

    def compacted(self, dead: npt.NDArray[np.bool_]) -> _Segment:
        """Return the segment without the entries of removed windows."""
        keys, windows = self.band_arrays()
        nothing = np.empty((keys.shape[0], 0), dtype=np.uint32)
        kept_keys, kept_windows = _merge_bands(keys, windows, nothing, nothing, dead, self.live_entries(dead))
        return _Segment(self.first_window, self.window_count, *_flat(kept_keys, kept_windows))

    @staticmethod
    def merge(older: _Segment, newer: _Segment, dead: npt.NDArray[np.bool_]) -> _Segment:
        """Merge two consecutive segments into one, leaving out dead windows."""
        old_keys, old_windows = older.band_arrays()
        new_keys, new_windows = newer.band_arrays()
        # Every window has one entry in each band, so each band keeps as many entries as there are live windows.
        live = older.live_entries(dead) + newer.live_entries(dead)
        keys, windows = _merge_bands(old_keys, old_windows, new_keys, new_windows, dead, live)
        return _Segment(older.first_window, older.window_count + newer.window_count, *_flat(keys, windows))


def _bucket_starts(keys: UInt32Array, offsets: npt.NDArray[np.int64]) -> tuple[int, UInt32Array]:
    """Return (shift, starts): band j's keys whose value >> shift is b lie at [starts[j, b], starts[j, b + 1])."""
    bands = len(offsets) - 1
    entries = int(offsets[1] - offsets[0]) if bands else 0
    bits = min(MAX_BUCKET_BITS, max(0, (entries // BUCKET_ENTRIES).bit_length() - 1))
    boundaries = np.arange(1 << bits, dtype=np.uint64) << np.uint64(32 - bits)
    starts = np.empty((bands, (1 << bits) + 1), dtype=np.uint32)
    for band in range(bands):
        table = keys[offsets[band] : offsets[band + 1]]
        starts[band, :-1] = np.searchsorted(table, boundaries.astype(np.uint32))
        starts[band, -1] = len(table)
    return 32 - bits, starts


@numba.njit(cache=True, nogil=True)
def _key_ranges(
    keys: UInt32Array,
    offsets: npt.NDArray[np.int64],
    buckets: UInt32Array,
    bucket_shift: int,
    query_keys: UInt32Array,
    most: int,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Return (low, high): the entries equal to query key [band, position] are keys[low[band, position]:high[…]].

    A range is cut short after `most` + 1 entries.
    """
    # Compiled: in numpy, each band of each segment cost a dozen calls of a few microseconds each
    # (searches, sums, repeats), which made the look-up most of the screening of a small store.
    bands, width = query_keys.shape
    low = np.empty((bands, width), dtype=np.int64)
    high = np.empty((bands, width), dtype=np.int64)
    # Per query key of the band at hand: its bucket's first entry and the end of it, and where it should be.
    firsts = np.empty(width, dtype=np.int64)
    lasts = np.empty(width, dtype=np.int64)
    guesses = np.empty(width, dtype=np.int64)
    guessed_keys = np.empty(width, dtype=np.uint32)
    for band in range(bands):
        table = keys[offsets[band] : offsets[band + 1]]
        size = len(table)
        if size == 0:
            low[band, :] = offsets[band]
            high[band, :] = offsets[band]
            continue
        # First pass: where each key should be. Keys are hashes, spread evenly over their bucket's range of
        # values, so a key's place is about its share of that range; a whole band of a large segment is tens
        # of megabytes, and a binary search there waited on one cache miss after another (each step's read
        # depends on the last). These reads depend on nothing, so the memory system serves them side by side.
        for position in range(width):
            key = np.int64(query_keys[band, position])
            bucket = key >> bucket_shift
            first = np.int64(buckets[band, bucket])
            last = np.int64(buckets[band, bucket + 1])
            # Below `last` when the bucket has keys; `first` (= last) when it has none.
            guess = first + (((key - (bucket << bucket_shift)) * (last - first)) >> bucket_shift)
            firsts[position], lasts[position], guesses[position] = first, last, guess
            guessed_keys[position] = table[guess if guess < size else size - 1]
        # Second pass: the key's first entry, searched from the guess outwards, in memory the first pass read.
        for position in range(width):
            key = query_keys[band, position]
            first, last, place = firsts[position], lasts[position], guesses[position]
            # Galloping: steps of 1, 2, 4 … bracket the first entry not below the key, then a binary search
            # within. A bucket of many equal keys (a boilerplate window stored thousands of times) is then
            # still crossed in logarithmic time.
            if place < last and guessed_keys[position] < key:
                below, step = place + 1, np.int64(1)
                above = last
                while below + step - 1 < last:
                    if table[below + step - 1] >= key:
                        above = below + step - 1
                        break
                    below += step
                    step <<= 1
            else:
                above, step = place, np.int64(1)
                below = first
                while above - step >= first:
                    if table[above - step] < key:
                        below = above - step + 1
                        break
                    above -= step
                    step <<= 1
            while below < above:
                middle = (below + above) >> 1
                if table[middle] < key:
                    below = middle + 1
                else:
                    above = middle
            end = below
            # The entries equal to the key follow, and are few (a key is shared by a window and its copies), so
            # stepping over them costs less than a second search. Past `most` of them the key is a stop key, and
            # how many more it has is not needed.
            while end < size and table[end] == key and end - below <= most:
                end += 1
            low[band, position] = offsets[band] + below
            high[band, position] = offsets[band] + end
    return low, high


@numba.njit(cache=True, nogil=True)
def _gathered(
    windows: UInt32Array,
    low: npt.NDArray[np.int64],
    high: npt.NDArray[np.int64],
    budget: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.intp], UInt32Array]:
    """Return (flat query position, stored window) for the first `budget` entries of each query key's range.

    `budget` is what each key may still take, and is lowered by what it takes here.
    """
    bands, width = low.shape
    taken = np.empty((bands, width), dtype=np.int64)
    total = np.int64(0)
    for band in range(bands):
        for position in range(width):
            take = min(high[band, position] - low[band, position], budget[band, position])
            taken[band, position] = take
            budget[band, position] -= take
            total += take
    hits_query = np.empty(total, dtype=np.intp)
    hits_window = np.empty(total, dtype=np.uint32)
    hit = 0
    for band in range(bands):
        for position in range(width):
            first = low[band, position]
            for entry in range(first, first + taken[band, position]):
                hits_query[hit] = band * width + position
                hits_window[hit] = windows[entry]
                hit += 1
    return hits_query, hits_window


@numba.njit(cache=True, nogil=True)
def _merge_bands(
    old_keys: UInt32Array,
    old_windows: UInt32Array,
    new_keys: UInt32Array,
    new_windows: UInt32Array,
    dead: npt.NDArray[np.bool_],
    live: int,
) -> tuple[UInt32Array, UInt32Array]:
    """Merge two (bands, n) tables, each band sorted by key, into one (bands, live) table without dead windows.

    Equal keys keep the older table's windows first, as a stable sort of the two would.
    """
    # Compiled: a stable sort of the concatenated bands took 9.5 s for a 4M-window segment and a 2M one, while
    # the ingest that triggered it waited; this walks each band once.
    bands = old_keys.shape[0]
    keys = np.empty((bands, live), dtype=np.uint32)
    windows = np.empty((bands, live), dtype=np.uint32)
    old_count, new_count = old_keys.shape[1], new_keys.shape[1]
    for band in range(bands):
        old, new, out = 0, 0, 0
        while old < old_count or new < new_count:
            if new == new_count or (old < old_count and old_keys[band, old] <= new_keys[band, new]):
                key, window = old_keys[band, old], old_windows[band, old]
                old += 1
            else:
                key, window = new_keys[band, new], new_windows[band, new]
                new += 1
            if not dead[window]:
                keys[band, out] = key
                windows[band, out] = window
                out += 1
    return keys, windows


def _flat(keys: UInt32Array, windows: UInt32Array) -> tuple[UInt32Array, UInt32Array, npt.NDArray[np.int64]]:
    bands = keys.shape[0]
    offsets = np.arange(bands + 1, dtype=np.int64) * keys.shape[1]
    return np.ascontiguousarray(keys).reshape(-1), np.ascontiguousarray(windows).reshape(-1), offsets


class BandIndex:
    """Passage signatures banded into per-band tables of 32-bit sorted keys, found by searching from a guessed place.

    Memory is what matters at millions of documents: datasketch's dict-backed MinHashLSH keeps a
    Python tuple key and set per entry (kilobytes per document); here an entry is 8 bytes (a key and
    a window id), plus 5 bytes per window for its document and deletion flag. New entries gather in a
    small dict and become a sorted segment at each `checkpoint`; segments merge log-structured, and
    large ones are written to `directory`, so that a restart reloads them instead of re-reading every
    signature from the store. With `merge_in_background`, merging and saving run in a thread of their own
    (stopped by `close`), so that `checkpoint` returns as soon as the new segment is searchable.

    Documents are known by their store sequence number: the index holds no strings. Each window also has a
    sketch (the low byte of all its values), kept in a file beside the segments, with which `screen` tells
    windows that are alike from windows that met in one band by chance.
    """

    def __init__(
        self,
        bands: int,
        rows: int,
        directory: Path | None = None,
        save_windows: int = SAVE_WINDOWS,
        sketch_width: int = 128,
        common_key_windows: int = COMMON_KEY_WINDOWS,
        stop_key_windows: int = STOP_KEY_WINDOWS,
        merge_in_background: bool = False,
        window_stride: int = WINDOW_STRIDE_BEFORE_RECORDED,
        max_merged_windows: int = MAX_MERGED_WINDOWS,
        probes: int | None = None,
    ) -> None:
        if probes is not None and not 0 <= probes <= rows:
            raise ValueError(f"probes must be from 0 to {rows} (the values of a band), got {probes}")
        self.bands = bands
        self.rows = rows
        # How many values of each band a query that brings second minima swaps, one at a time (`probe_keys`).
        self.probes = rows if probes is None else probes
        # Words between a document's stored windows, chosen by the caller: recorded with a saved index, so
        # that an index saved with another stride is rebuilt rather than mixed with it.
        self.window_stride = window_stride
        self._directory = directory
        self._save_windows = save_windows
        self._common_key_windows = common_key_windows
        self._stop_key_windows = stop_key_windows
        self._max_merged_windows = max_merged_windows
        self._sketches = _WindowSketches(sketch_width, None if directory is None else directory / SKETCHES_NAME)
        self._lock = threading.Lock()
        self._segments: list[_Segment] = []
        self._window_sequences = _GrowableArray(np.uint32)
        # Documents arrive in sequence order, so the per-window sequences are usually sorted and a document's
        # windows are found by bisection; an older sequence added later (a restore, a rolled-back batch) turns
        # this off, and removal then scans every window.
        self._sequences_sorted = True
        self._dead = _GrowableArray(np.bool_)
        self._live_documents = 0
        self._dead_windows = 0
        # Entries added since the last checkpoint, searched by dict lookup; each checkpoint makes them a segment.
        self._recent = _RecentTable()
        self._recent_first_window = 0
        self._persisted_dead = 0
        # One merge (and save) at a time: each replaces the segments it started from with their merge.
        self._merge_lock = threading.Lock()
        self._merge_wanted = threading.Condition()
        self._merge_requested = False
        self._closing = False
        self._merger: threading.Thread | None = None
        if merge_in_background:
            self._merger = threading.Thread(target=self._merge_when_asked, name="index-merger", daemon=True)
            self._merger.start()

    def add(self, sequence: int, passage_signatures: UInt32Array) -> None:
        """Index a document's passages under its sequence number (one window per signature row)."""
        keys = band_keys(passage_signatures, self.bands, self.rows)
        count = len(passage_signatures)
        with self._lock:
            first = self._append_windows(np.full(count, sequence, dtype=np.uint32), passage_signatures)
            self._recent.add(_banded(keys), first, count)
            self._live_documents += 1

    def remove(self, sequence: int) -> None:
        """Forget a document: its windows are flagged dead now and dropped at the next merge."""
        with self._lock:
            window_sequences, dead = self._window_sequences.view(), self._dead.view()
            if self._sequences_sorted:
                # Searched as the array's own type: a Python int would make numpy convert the whole array first.
                key = np.uint32(sequence)
                first = int(np.searchsorted(window_sequences, key, side="left"))
                end = int(np.searchsorted(window_sequences, key, side="right"))
                windows = first + np.flatnonzero(~dead[first:end])
            else:
                windows = np.flatnonzero((window_sequences == sequence) & ~dead)
            if len(windows):
                dead[windows] = True
                self._dead_windows += len(windows)
                self._live_documents -= 1

    def candidates(self, passage_signatures: UInt32Array, second_minima: UInt32Array | None = None) -> dict[int, int]:
        """Return sequence → the most bands any one query passage shares with any one of its passages.

        With `second_minima`, a band is shared when a passage has its key or one of its probe keys (`probe_keys`).
        """
        _, windows, band_counts, _, sequences = self._colliding_pairs(passage_signatures, None, second_minima)
        if len(windows) == 0:
            return {}
        best = _best_per_sequence(sequences, band_counts)
        return {sequence: int(count) for sequence, count in best.items()}

    def add_many(self, documents: Sequence[tuple[int, UInt32Array]]) -> None:
        """Index several documents' passages (sequence, signature rows), in order, as a sorted segment of their own.

        The index is then as `add` for each and a checkpoint without merging would leave it. A batch screened after
        it was added meets all of its own keys, tens of thousands, which the recent entries would look up in Python
        one by one, and the segment in compiled code; the segment is also made with one sort, not a dict entry a key.
        """
        documents = [(sequence, rows) for sequence, rows in documents if len(rows)]
        if not documents:
            return
        rows = np.concatenate([rows for _, rows in documents])
        keys = band_keys(rows, self.bands, self.rows)
        sequences = np.repeat(
            np.array([sequence for sequence, _ in documents], dtype=np.uint32), [len(rows) for _, rows in documents]
        )
        # One stable sort per band: each band's table sorted by key, a key's windows in the order they were added.
        order = np.argsort(keys, axis=1, kind="stable")
        with self._lock:
            self._fold_recent()
            first = self._append_windows(sequences, rows)
            windows = np.arange(first, first + len(rows), dtype=np.uint32)
            self._segments.append(
                _Segment(first, len(rows), *_flat(np.take_along_axis(keys, order, axis=1), windows[order]))
            )
            self._recent_first_window = first + len(rows)
            self._live_documents += len(documents)

    def screen(
        self,
        passage_signatures: UInt32Array,
        floor: float,
        max_pairs: int,
        second_minima: UInt32Array | None = None,
    ) -> dict[int, float]:
        """Return sequence → the estimated Jaccard similarity of its closest colliding pair of windows, if >= floor.

        A band collision says that three values of two windows agree; the other values of the same two windows,
        read from their sketches, say whether the windows are alike or met by chance (two texts on one subject
        sharing a few names). Only colliding pairs are checked, so the cost follows the collisions, not the
        store. A pair that meets in one common key only (`COMMON_KEY_WINDOWS`) is checked only when its document
        also meets the query in another of its windows, by another query window. When more than `max_pairs`
        pairs remain, those sharing the most bands are checked. With `second_minima` (see `probe_keys`), the
        query's windows also meet stored windows in the keys with one value swapped for its second minimum.
        """
        return self.screen_many([(passage_signatures, None)], floor, max_pairs, [second_minima])[0]

    def screen_many(
        self,
        queries: Sequence[tuple[UInt32Array, int | None]],
        floor: float,
        max_pairs: int,
        second_minima: Sequence[UInt32Array | None] | None = None,
    ) -> list[dict[int, float]]:
        """Screen several queries at once, each (its passage signatures, a sequence bound or None), as `screen` does.

        A query with a bound sees only the windows of sequences below it, as if the later ones were not stored
        yet: a batch of documents is indexed first and then screened in one pass, each document against those
        before it, with the same result as screening and indexing them one after another. One pass makes the
        numpy calls once per batch instead of once per document, which was most of a news article's screening.
        """
        results: list[dict[int, float]] = [{} for _ in queries]
        counts = np.array([len(rows) for rows, _ in queries], dtype=np.int64)
        if not queries or counts.sum() == 0:
            return results
        rows = np.concatenate([rows for rows, _ in queries if len(rows)])
        owners = np.repeat(np.arange(len(queries), dtype=np.int64), counts)
        bounds = None
        if any(bound is not None for _, bound in queries):
            no_bound = np.iinfo(np.int64).max
            given = [no_bound if bound is None else bound for _, bound in queries]
            bounds = np.repeat(np.array(given, dtype=np.int64), counts)
        probed = _probed_rows(queries, second_minima)
        query_windows, windows, band_counts, key_windows, sequences = self._colliding_pairs(rows, bounds, probed)
        # The pairs of one query and one stored document share a group: the query's place times `top` (above every
        # sequence) plus the document's sequence.
        top = int(sequences.max(initial=0)) + 1
        groups = owners[query_windows] * top + sequences
        worth_reading = (band_counts > 1) | (key_windows <= self._common_key_windows)
        if not worth_reading.all():
            worth_reading |= _met_again(groups, windows, query_windows)
        query_windows, windows, band_counts, groups = (
            query_windows[worth_reading],
            windows[worth_reading],
            band_counts[worth_reading],
            groups[worth_reading],
        )
        kept = _strongest_per_query(owners[query_windows], band_counts, max_pairs)
        if kept is not None:
            query_windows, windows, groups = query_windows[kept], windows[kept], groups[kept]
        if len(windows) == 0:
            return results
        estimates = self._estimates(self._sketches.equal_bytes(_sketch(rows), query_windows, windows))
        close = estimates >= floor
        if not close.any():
            return results
        for group, estimate in _best_per_sequence(groups[close], estimates[close]).items():
            results[group // top][group % top] = estimate
        return results

    def close_windows(
        self, passage_signatures: UInt32Array, sequences: Iterable[int], floor: float
    ) -> dict[int, tuple[int, int]]:
        """Return sequence → (query windows estimated at least `floor` alike to one of its windows, its windows).

        Every window of each document is compared with every query window, by their sketches, whether or not
        the two met in a band. A stored document's windows are consecutive, and all are read in one call.
        """
        wanted = list(sequences)
        if not wanted or len(passage_signatures) == 0:
            return {}
        ranges = self._window_ranges(self._window_sequences.view(), wanted)
        if not ranges:
            return {}
        query_sketches = _sketch(passage_signatures)
        # The file is opened once for all the documents, and each document's windows are read in one piece.
        stored = self._sketches.read_ranges(list(ranges.values()))
        result = {}
        offset = 0
        for sequence, (first, end) in ranges.items():
            most_equal = _most_equal_bytes(query_sketches, stored[offset : offset + end - first])
            result[sequence] = (int(np.count_nonzero(self._estimates(most_equal) >= floor)), end - first)
            offset += end - first
        return result

    def _estimates(self, equal_bytes: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        """Return the Jaccard similarity estimated from each count of equal sketch bytes, chance agreement removed."""
        agreement = equal_bytes / self._sketches.width
        return (agreement - _CHANCE_BYTE_AGREEMENT) / (1.0 - _CHANCE_BYTE_AGREEMENT)

    def _window_ranges(self, window_sequences: UInt32Array, sequences: list[int]) -> dict[int, tuple[int, int]]:
        """Return each live sequence's windows as a range [first, end) of window ids.

        A document adds its windows in one call, so they are consecutive whatever order documents came in.
        """
        wanted = np.asarray(sequences, dtype=np.uint32)
        if self._sequences_sorted:
            firsts = np.searchsorted(window_sequences, wanted, side="left")
            counts = np.searchsorted(window_sequences, wanted, side="right") - firsts
            found = wanted
        else:
            # Out of order after a restore or a rolled-back batch: one pass over every window finds them all.
            places = np.flatnonzero(np.isin(window_sequences, wanted))
            found, first_places, counts = np.unique(window_sequences[places], return_index=True, return_counts=True)
            firsts = places[first_places]
        dead = self._dead.view()
        return {
            sequence: (first, first + count)
            for sequence, first, count in zip(found.tolist(), firsts.tolist(), counts.tolist(), strict=True)
            if count and not dead[first]
        }

    def _colliding_pairs(
        self,
        passage_signatures: UInt32Array,
        bounds: npt.NDArray[np.int64] | None = None,
        second_minima: UInt32Array | None = None,
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64], UInt32Array]:
        """Return each live (query window, stored window) pair sharing a band key, and how many bands it shares.

        The fourth array says for how many stored windows (live or dead) one of the pair's keys is stored (its only
        key when it shares one band, the one case that asks), the last which sequence each stored window belongs
        to. With `bounds`, query window i meets only the stored windows of sequences below bounds[i]. With
        `second_minima`, the probe keys count too: a stored window can match a band's key or one of its probes, not
        both, so a pair still shares a band at most once. A key stored for more than `stop_key_windows` windows
        (`STOP_KEY_WINDOWS`) meets only its oldest `common_key_windows`.
        """
        keys = band_keys(passage_signatures, self.bands, self.rows)
        query_count = len(passage_signatures)
        if second_minima is not None and self.probes:
            # Probes are further query positions, after the windows' own keys; position % query_count is the window.
            probed = probe_keys(passage_signatures, second_minima, self.bands, self.rows, self.probes)
            keys = np.concatenate([keys, probed], axis=1)
        width = keys.shape[1]
        with self._lock:
            segments = list(self._segments)
            # A key's place in the flat (bands, width) array is band * width + position, the query position used below.
            recent_query, recent_window = self._recent.hits(keys)
            window_count = len(self._window_sequences)
            window_sequences = self._window_sequences.view()
            dead = self._dead.view()
        recent_positions = np.asarray(recent_query, dtype=np.intp)
        ranges = [segment.key_ranges(keys, self._stop_key_windows) for segment in segments]
        # How many windows each key is stored for, over every segment: a key is a stop key wherever its windows lie,
        # so that what a query meets does not depend on how the index happens to be cut into segments.
        stored_for = np.bincount(recent_positions, minlength=keys.size).reshape(keys.shape)
        for low, high in ranges:
            stored_for += high - low
        stop = stored_for > self._stop_key_windows
        # A stop key meets only its oldest windows, as many as a common key has at most: segments are taken oldest
        # first, and a key's windows within one are in the order they were added. A rewrite of a story copied
        # thousands of times shares some of its keys only, and still meets the story itself through them.
        budget = np.where(stop, self._common_key_windows, np.iinfo(np.int64).max)
        query_parts, window_parts = [], []
        for segment, segment_ranges in zip(segments, ranges, strict=True):
            query_positions, windows = segment.lookup(segment_ranges, budget)
            query_parts.append(query_positions)
            window_parts.append(windows)
        recent_windows = np.asarray(recent_window, dtype=np.uint32)
        if len(recent_positions) and stop.any():
            # The entries not yet in a segment are the newest: a stop key's budget left after the segments, in order.
            # Each key's hits keep their order (a stable sort); a hit is kept while its rank among its key's is
            # under the budget.
            order = np.argsort(recent_positions, kind="stable")
            grouped = recent_positions[order]
            group_starts = np.flatnonzero(np.r_[True, grouped[1:] != grouped[:-1]])
            ranks = np.arange(len(grouped)) - np.repeat(group_starts, np.diff(np.r_[group_starts, len(grouped)]))
            kept = np.empty(len(grouped), dtype=np.bool_)
            kept[order] = ranks < budget.reshape(-1)[grouped]
            recent_positions, recent_windows = recent_positions[kept], recent_windows[kept]
        query_parts.append(recent_positions)
        window_parts.append(recent_windows)
        query_positions = np.concatenate(query_parts)
        windows = np.concatenate(window_parts).astype(np.int64)
        if bounds is not None:
            earlier = window_sequences[windows] < bounds[query_positions % width % query_count]
            query_positions, windows = query_positions[earlier], windows[earlier]
        # Every stored entry of a query key is a hit of that key, so its hits count the windows it is stored for.
        key_windows = np.bincount(query_positions, minlength=keys.size)
        # A stop key met its oldest windows only, and is stored for more than its hits count.
        key_windows = np.where(stop.reshape(-1), stored_for.reshape(-1), key_windows)[query_positions]
        alive = ~dead[windows]
        query_positions, windows, key_windows = query_positions[alive], windows[alive], key_windows[alive]
        # A pair appears once per band it collides in: count them.
        pairs = (query_positions % width % query_count).astype(np.int64) * (window_count + 1) + windows
        unique_pairs, first_hits, band_counts = _distinct(pairs)
        pair_windows = unique_pairs % (window_count + 1)
        return (
            unique_pairs // (window_count + 1),
            pair_windows,
            band_counts.astype(np.int64),
            key_windows[first_hits].astype(np.int64),
            window_sequences[pair_windows],
        )

    def checkpoint(self) -> None:
        """Fold recent entries into a sorted segment, then merge segments and save what has grown large."""
        with self._lock:
            self._fold_recent()
        if self._merger is None:
            self._merge_and_save()
            return
        # A merge of the largest segments at a million documents takes seconds; the caller (an ingest holding the
        # deduplicator's write lock) should not wait for it, and the merger thread runs it on another core.
        with self._merge_wanted:
            self._merge_requested = True
            self._merge_wanted.notify()

    def close(self) -> None:
        """Finish a requested merge and save, and stop the merger thread; later checkpoints merge in the caller."""
        merger = self._merger
        if merger is None:
            return
        with self._merge_wanted:
            self._closing = True
            self._merge_wanted.notify()
        merger.join()
        self._merger = None

    def _merge_when_asked(self) -> None:
        while True:
            with self._merge_wanted:
                while not self._merge_requested and not self._closing:
                    self._merge_wanted.wait()
                if not self._merge_requested:
                    return
                self._merge_requested = False
            try:
                self._merge_and_save()
            except Exception:
                # Nothing is lost: the store holds every document, and unsaved windows are replayed from it at start.
                _LOGGER.exception("merging or saving the index failed; the next checkpoint tries again")

    def _merge_and_save(self) -> None:
        with self._merge_lock:
            with self._lock:
                segments = list(self._segments)
                # A copy: a merge counts the live windows first and then walks each band dropping the dead, so a
                # window removed meanwhile (by a delete on another thread) was dropped from some bands and not
                # others, and left unwritten entries at their ends. One removed during the merge is kept in it,
                # and still filtered out at query time.
                dead = self._dead.view().copy()
            merged = _merged(segments, dead, self._max_merged_windows)
            with self._lock:
                # Checkpoints only append segments meanwhile, and only merges replace them.
                self._segments = merged + self._segments[len(segments) :]
            self._save()

    def restore(self, stored_sequences: Iterable[int]) -> set[int]:
        """Load the saved segments, drop documents the store no longer has; return stored ones still to add."""
        stored = set(stored_sequences)
        saved_dead = self._saved_dead_windows()
        segments, sequences = self._load_segments(saved_dead)
        saved_windows = 0 if sequences is None else len(sequences)
        if not self._sketches.keep(saved_windows):
            _LOGGER.warning("the window sketches in %s are incomplete; rebuilding the index", self._directory)
            segments, sequences = [], None
            self._sketches.keep(0)
        with self._lock:
            self._segments = segments
            if sequences is not None:
                self._window_sequences.extend(sequences)
                every = self._window_sequences.view()
                self._sequences_sorted = bool(np.all(every[1:] >= every[:-1]))
                self._dead.extend(np.zeros(len(sequences), dtype=np.bool_))
                dead = self._dead.view()
                dead[saved_dead[saved_dead < len(dead)]] = True
                gone = ~np.isin(sequences, np.fromiter(stored, dtype=np.int64, count=len(stored)))
                dead |= gone
                self._dead_windows = int(np.count_nonzero(dead))
            self._recent_first_window = len(self._window_sequences)
            present = set(np.unique(self._window_sequences.view()[~self._dead.view()]).tolist())
            self._live_documents = len(present)
        return stored - present

    def __len__(self) -> int:
        with self._lock:
            return self._live_documents

    def memory_bytes(self) -> int:
        """Bytes held in numpy arrays (segments and per-window arrays); the recent dict is not counted."""
        with self._lock:
            arrays = sum(
                segment.keys.nbytes + segment.windows.nbytes + segment.buckets.nbytes for segment in self._segments
            )
            return arrays + self._window_sequences.view().nbytes + self._dead.view().nbytes

    def _append_windows(self, sequences: UInt32Array, passage_signatures: UInt32Array) -> int:
        """Give the next window ids to passages of `sequences`, keeping their sketches; return the first id.

        The caller holds the lock, and adds the windows' keys.
        """
        first = len(self._window_sequences)
        previous = self._window_sequences.view()[-1:]
        if np.any(sequences[1:] < sequences[:-1]) or (len(previous) and len(sequences) and sequences[0] < previous[0]):
            self._sequences_sorted = False
        self._sketches.write(first, _sketch(passage_signatures))
        self._window_sequences.extend(sequences)
        self._dead.extend(np.zeros(len(sequences), dtype=np.bool_))
        return first

    def _fold_recent(self) -> None:
        """Make the entries added since the last fold a sorted segment; the caller holds the lock."""
        recent = self._recent
        first = self._recent_first_window
        end = len(self._window_sequences)
        self._recent = _RecentTable()
        self._recent_first_window = end
        if end > first:
            self._segments.append(self._segment_from(recent, first, end))

    def _segment_from(self, recent: _RecentTable, first: int, end: int) -> _Segment:
        banded_keys, windows = recent.entries()
        banded = np.asarray(banded_keys, dtype=np.uint64)
        # One stable sort by band, then key, gives each band's table sorted by key, a key's windows in the order
        # they were added; every window has one key per band, so each band holds the same number of entries.
        order = np.argsort(banded, kind="stable")
        keys = (banded[order] & np.uint64(0xFFFFFFFF)).astype(np.uint32).reshape(self.bands, -1)
        band_windows = np.asarray(windows, dtype=np.uint32)[order].reshape(self.bands, -1)
        return _Segment(first, end - first, *_flat(keys, band_windows))

    def _path(self, name: str) -> Path | None:
        return None if self._directory is None else self._directory / name

    def _save(self) -> None:
        # Only a leading run of large segments is saved: windows are numbered in ingest order, so a restart
        # knows exactly which documents the files hold and replays the rest from the store.
        directory = self._directory
        if directory is None:
            return
        with self._lock:
            segments = list(self._segments)
        prefix: list[_Segment] = []
        for segment in segments:
            if segment.window_count < self._save_windows:
                break
            prefix.append(segment)
        with self._lock:
            dead_count = self._dead_windows
            window_sequences = self._window_sequences.view()
            dead = self._dead.view()
        if not prefix or (all(segment.name for segment in prefix) and dead_count == self._persisted_dead):
            return
        directory.mkdir(parents=True, exist_ok=True)
        named = []
        for segment in prefix:
            if segment.name is None:
                name = f"segment-{segment.first_window}-{segment.window_count}.npz"
                first, end = segment.first_window, segment.first_window + segment.window_count
                write = functools.partial(_write_segment, segment=segment, window_sequences=window_sequences[first:end])
                _write_atomically(directory / name, write)
                segment = _with_name(segment, name)
            named.append(segment)
        # The manifest must never name windows whose sketches could still be lost in a crash.
        self._sketches.sync()
        dead_ids = np.flatnonzero(dead).astype(np.uint32)
        _write_atomically(directory / "dead.npy", lambda handle: np.save(handle, dead_ids))
        names = [segment.name for segment in named]
        manifest = {
            "format": FORMAT_VERSION,
            "bands": self.bands,
            "rows": self.rows,
            "sketch_width": self._sketches.width,
            "window_stride": self.window_stride,
            "segments": names,
        }
        _write_atomically(directory / MANIFEST_NAME, lambda handle: handle.write(json.dumps(manifest).encode()))
        self._persisted_dead = dead_count
        with self._lock:
            renamed = {id(old): new for old, new in zip(prefix, named, strict=True)}
            self._segments = [renamed.get(id(segment), segment) for segment in self._segments]
        for stale in directory.glob("segment-*"):
            if stale.name not in names:
                stale.unlink(missing_ok=True)

    def _saved_dead_windows(self) -> UInt32Array:
        dead_file = self._path("dead.npy")
        if dead_file is None or not dead_file.exists():
            return np.empty(0, dtype=np.uint32)
        return cast(UInt32Array, np.load(dead_file))

    def _load_segments(self, saved_dead: UInt32Array) -> tuple[list[_Segment], UInt32Array | None]:
        """Return the saved segments and the sequence of each window they cover (None when nothing is saved).

        `saved_dead` holds the removed windows saved beside them.
        """
        manifest_path = self._path(MANIFEST_NAME)
        if manifest_path is None or not manifest_path.exists():
            return [], None
        manifest = json.loads(manifest_path.read_text())
        saved = (
            manifest.get("bands"),
            manifest.get("rows"),
            manifest.get("sketch_width"),
            manifest.get("window_stride", WINDOW_STRIDE_BEFORE_RECORDED),
        )
        if saved != (self.bands, self.rows, self._sketches.width, self.window_stride) or manifest.get("format") not in (
            FORMAT_VERSION,
            _FORMAT_BEFORE_PER_BAND_MERGES,
        ):
            _LOGGER.warning("the saved index in %s has other parameters; rebuilding it from the store", manifest_path)
            return [], None
        if manifest["format"] == _FORMAT_BEFORE_PER_BAND_MERGES and len(saved_dead):
            _LOGGER.warning(
                "the saved index in %s may lack entries of documents stored after a removal; rebuilding it "
                "from the store",
                manifest_path,
            )
            return [], None
        segments = []
        sequences = []
        expected_first = 0
        for name in manifest["segments"]:
            assert self._directory is not None  # noqa: S101 - manifest_path exists, so directory is set
            with np.load(self._directory / name) as data:
                sequences.append(data["window_sequences"])
                segment = _Segment(
                    int(data["first_window"]),
                    len(sequences[-1]),
                    data["keys"],
                    data["windows"],
                    data["offsets"],
                    name,
                )
            if segment.first_window != expected_first:
                _LOGGER.warning("the saved index in %s has a gap; rebuilding it from the store", manifest_path)
                return [], None
            expected_first += segment.window_count
            segments.append(segment)
        return segments, (np.concatenate(sequences) if sequences else None)


class _RecentTable:
    """The band keys added since the last checkpoint, each with the windows that have it, for all bands.

    A key is kept with its band in one integer (band << 32 | key), so that a document's keys go in with one
    dict update and are looked up with one set intersection, both done in C. Nearly every key belongs to one
    window: a key maps to its first window in `first`, and only the further windows of a key (a copy's
    windows have its source's keys) go to a list in `more`. A dict per band and a list made for every entry
    cost about as much as signing the document.
    """

    __slots__ = ("first", "more")

    def __init__(self) -> None:
        self.first: dict[int, int] = {}
        self.more: dict[int, list[int]] = {}

    def add(self, banded_keys: list[int], first_window: int, window_count: int) -> None:
        """Add the banded keys of windows first_window, …, first_window + window_count - 1, band by band."""
        windows = list(range(first_window, first_window + window_count)) * (len(banded_keys) // max(1, window_count))
        if self.first.keys().isdisjoint(banded_keys) and len(set(banded_keys)) == len(banded_keys):
            self.first.update(zip(banded_keys, windows, strict=True))
            return
        for key, window in zip(banded_keys, windows, strict=True):
            if self.first.setdefault(key, window) != window:
                self.more.setdefault(key, []).append(window)

    def hits(self, keys: UInt32Array) -> tuple[list[int], list[int]]:
        """Return (flat place in the (bands, width) `keys`, window) for every window having one of them, as lists."""
        places: list[int] = []
        windows: list[int] = []
        # Ingest adds each batch as a segment and checkpoints after it, so there are nearly always no entries: then
        # the keys are not made Python integers at all (8 % of screening a batch of news).
        if not self.first:
            return places, windows
        banded_keys = _banded(keys)
        shared = self.first.keys() & banded_keys
        if not shared:
            return places, windows
        for place, key in enumerate(banded_keys):
            if key in shared:
                places.append(place)
                windows.append(self.first[key])
                for window in self.more.get(key, ()):
                    places.append(place)
                    windows.append(window)
        return places, windows

    def entries(self) -> tuple[list[int], list[int]]:
        """Return every (banded key, window) entry as two lists, a key's windows in the order they were added."""
        keys = list(self.first)
        windows = list(self.first.values())
        for key, further in self.more.items():
            keys.extend([key] * len(further))
            windows.extend(further)
        return keys, windows


def _probed_rows(
    queries: Sequence[tuple[UInt32Array, int | None]], second_minima: Sequence[UInt32Array | None] | None
) -> UInt32Array | None:
    """Return the second minima of all the queries' windows in one array, as their rows are; None: no probes."""
    if second_minima is None:
        return None
    given = [
        (query_rows, seconds)
        for (query_rows, _), seconds in zip(queries, second_minima, strict=True)
        if len(query_rows)
    ]
    if all(seconds is None for _, seconds in given):
        return None
    if any(seconds is None or len(seconds) != len(query_rows) for query_rows, seconds in given):
        raise ValueError("give second minima for every window of a batch's queries, or for none")
    return np.concatenate([seconds for _, seconds in given if seconds is not None])


def _banded(keys: UInt32Array) -> list[int]:
    """Return (bands, width) keys as one list of band << 32 | key, band by band."""
    bands = np.arange(keys.shape[0], dtype=np.uint64)[:, None] << np.uint64(32)
    return (bands | keys.astype(np.uint64)).reshape(-1).tolist()


def _met_again(
    groups: npt.NDArray[np.int64], windows: npt.NDArray[np.int64], query_windows: npt.NDArray[np.int64]
) -> npt.NDArray[np.bool_]:
    """For each pair, whether its group holds two different stored windows and two different query windows.

    A group is the pairs of one query with one stored document.
    """
    # Grouped by compiled code: grouping with numpy reductions over the runs took a tenth of a query's screening.
    return _met_again_in_order(_sorting_order(groups), groups, windows, query_windows)


@numba.njit(cache=True, nogil=True)
def _met_again_in_order(
    order: npt.NDArray[np.intp],
    groups: npt.NDArray[np.int64],
    windows: npt.NDArray[np.int64],
    query_windows: npt.NDArray[np.int64],
) -> npt.NDArray[np.bool_]:
    met = np.zeros(len(groups), dtype=np.bool_)
    start = 0
    while start < len(order):
        group = groups[order[start]]
        lowest_window = highest_window = windows[order[start]]
        lowest_query = highest_query = query_windows[order[start]]
        end = start + 1
        while end < len(order) and groups[order[end]] == group:
            lowest_window = min(lowest_window, windows[order[end]])
            highest_window = max(highest_window, windows[order[end]])
            lowest_query = min(lowest_query, query_windows[order[end]])
            highest_query = max(highest_query, query_windows[order[end]])
            end += 1
        if lowest_window < highest_window and lowest_query < highest_query:
            for place in range(start, end):
                met[order[place]] = True
        start = end
    return met


def _strongest_per_query(
    owners: npt.NDArray[np.int64], band_counts: npt.NDArray[np.int64], max_pairs: int
) -> npt.NDArray[np.int64] | None:
    """Return the places of the pairs to keep, at most `max_pairs` per query, those sharing the most bands; None: all.

    `owners` is sorted (pairs come query window by query window), so each query's pairs are one run.
    """
    if len(owners) <= max_pairs:
        return None
    starts = _run_starts(owners)
    ends = np.append(starts[1:], len(owners))
    if not np.any(ends - starts > max_pairs):
        return None
    kept = []
    for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
        if end - start > max_pairs:
            kept.append(start + np.argpartition(-band_counts[start:end], max_pairs - 1)[:max_pairs])
        else:
            kept.append(np.arange(start, end))
    return np.concatenate(kept)


def _distinct(
    values: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.intp], npt.NDArray[np.int64]]:
    """Return the distinct values in increasing order, the place of the first of each, and how often each occurs.

    As numpy's `unique` with `return_index` and `return_counts`, for non-negative values.
    """
    return _runs_in_order(values, _sorting_order(values))


# Digits of a radix sort: 2**12 counts (32 KB) stay in the core's cache, and keys up to 36 bits take three passes.
_RADIX_DIGIT_BITS: Final = 12


def _sorting_order(values: npt.NDArray[np.int64]) -> npt.NDArray[np.intp]:
    """Return the places of non-negative `values` in increasing order, equal values in the order they come (stable).

    Screening sorts the colliding pairs by (query window, stored window), the pairs' groups by (query, document),
    and the windows to read. Those keys are small integers (under 36 bits at a million documents), which a radix
    sort orders in two or three counting passes: for one text's 8,500 pairs at a million documents it took 0.06 ms
    against 0.29 ms for numpy's `argsort`, and for a 64-document batch's 600,000 pairs 12-14 ms against 37 ms.
    """
    if len(values) == 0:
        return np.empty(0, dtype=np.intp)
    bits = int(values.max()).bit_length()
    passes = max(1, -(-bits // _RADIX_DIGIT_BITS))
    return _radix_order(np.ascontiguousarray(values, dtype=np.int64), passes, max(1, -(-bits // passes)))


@numba.njit(cache=True, nogil=True)
def _radix_order(values: npt.NDArray[np.int64], passes: int, digit_bits: int) -> npt.NDArray[np.intp]:
    """Return the stable sorting order of non-negative `values`: a radix sort, least significant digit first."""
    count = len(values)
    order = np.arange(count)
    next_order = np.empty(count, dtype=np.intp)
    mask = (1 << digit_bits) - 1
    # Each pass moves places only and reads the values through them: moving the values too (four arrays instead of
    # two, 4.8 MB each for a batch's pairs at a million documents) took half as long again.
    for step in range(passes):
        shift = step * digit_bits
        # starts[digit + 1] counts the digit; summed up, starts[digit] is the first place of the digit's values.
        starts = np.zeros((1 << digit_bits) + 1, dtype=np.intp)
        for place in range(count):
            starts[((values[place] >> shift) & mask) + 1] += 1
        for digit in range(1 << digit_bits):
            starts[digit + 1] += starts[digit]
        for place in range(count):
            index = order[place]
            digit = (values[index] >> shift) & mask
            target = starts[digit]
            starts[digit] = target + 1
            next_order[target] = index
        order, next_order = next_order, order
    return order


# It walks runs as _met_again_in_order does. One shared kernel that found the runs' ends, with numpy taking the
# values, places and counts from them, took 0.04 ms more a query at 100k (line profile, 800 texts), on a hot path.
@numba.njit(cache=True, nogil=True)
def _runs_in_order(
    values: npt.NDArray[np.int64], order: npt.NDArray[np.intp]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.intp], npt.NDArray[np.int64]]:
    distinct = np.empty(len(order), dtype=np.int64)
    places = np.empty(len(order), dtype=np.intp)
    counts = np.empty(len(order), dtype=np.int64)
    runs = 0
    start = 0
    while start < len(order):
        value = values[order[start]]
        end = start + 1
        while end < len(order) and values[order[end]] == value:
            end += 1
        distinct[runs] = value
        places[runs] = order[start]
        counts[runs] = end - start
        runs += 1
        start = end
    return distinct[:runs], places[:runs], counts[:runs]


def _run_starts(ordered: _Integers) -> npt.NDArray[np.intp]:
    """Return where each run of equal values begins in `ordered` (not empty)."""
    return np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))


def _sketch(passage_signatures: UInt32Array) -> npt.NDArray[np.uint8]:
    return (passage_signatures & 0xFF).astype(np.uint8)


def _best_per_sequence(sequences: _Integers, values: npt.NDArray[_Scalar]) -> dict[int, float]:
    """Return each sequence's (or group's) largest value."""
    order = np.lexsort((values, sequences))
    sequences, values = sequences[order], values[order]
    last_of_each = np.append(sequences[1:] != sequences[:-1], True)
    return dict(zip(sequences[last_of_each].tolist(), values[last_of_each].tolist(), strict=True))


class _WindowSketches:
    """One fixed-width sketch per window id, in memory or in a file.

    The file is read through the operating system's page cache, like the store, so that the sketches
    (128 bytes a window, about 1.3 KB a news article) do not count against the process's memory; reading
    the few windows a query collides with costs a system call each (about half a microsecond from the page
    cache), not a SQL query. The file is opened for each use, so an index needs no closing.
    """

    def __init__(self, width: int, path: Path | None) -> None:
        self.width = width
        self._path = path
        self._memory = _GrowableArray(np.uint8)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()

    def write(self, first_window: int, sketches: npt.NDArray[np.uint8]) -> None:
        if sketches.shape[1] != self.width:
            raise ValueError(f"a sketch of {sketches.shape[1]} values, the index keeps {self.width}")
        if self._path is None:
            self._memory.extend(sketches.reshape(-1))
            return
        with self._path.open("r+b", buffering=0) as handle:
            os.pwrite(handle.fileno(), sketches.tobytes(), first_window * self.width)

    def equal_bytes(
        self,
        query_sketches: npt.NDArray[np.uint8],
        query_windows: npt.NDArray[np.int64],
        windows: npt.NDArray[np.int64],
    ) -> npt.NDArray[np.int64]:
        """Return the bytes each pair (query_windows[i], windows[i]) of query and stored window shares in place."""
        windows = np.ascontiguousarray(windows, dtype=np.int64)
        query_windows = np.ascontiguousarray(query_windows, dtype=np.int64)
        query_sketches = np.ascontiguousarray(query_sketches)
        equal = np.empty(len(windows), dtype=np.int64)
        # In window order, so that each window is read once.
        order = _sorting_order(windows)
        if self._path is None:
            memory = self._memory.view().reshape(-1, self.width)
            _equal_bytes(-1, memory, self.width, order, windows, query_sketches, query_windows, equal)
            return equal
        with self._path.open("rb", buffering=0) as handle:
            failed = _equal_bytes(
                handle.fileno(), _NO_ROWS, self.width, order, windows, query_sketches, query_windows, equal
            )
        if failed >= 0:
            raise OSError(f"the sketch of window {int(windows[failed])} could not be read whole from {self._path}")
        return equal

    def read_ranges(self, ranges: Sequence[tuple[int, int]]) -> npt.NDArray[np.uint8]:
        """Return the sketches of the windows in each range [first, end), one range after another."""
        if self._path is None:
            memory = self._memory.view().reshape(-1, self.width)
            return np.concatenate([memory[first:end] for first, end in ranges] or [memory[:0]])
        result = np.empty((sum(end - first for first, end in ranges), self.width), dtype=np.uint8)
        row = 0
        # One read per range, not per window: a document's windows lie side by side in the file.
        with self._path.open("rb", buffering=0) as handle:
            for first, end in ranges:
                data = os.pread(handle.fileno(), (end - first) * self.width, first * self.width)
                if len(data) != (end - first) * self.width:
                    raise OSError(f"the sketches of windows {first}-{end - 1} could not be read whole: {self._path}")
                result[row : row + end - first] = np.frombuffer(data, dtype=np.uint8).reshape(-1, self.width)
                row += end - first
        return result

    def keep(self, windows: int) -> bool:
        """Keep the first `windows` sketches and drop the rest; False when fewer than that are there."""
        if self._path is None:
            present = len(self._memory) // self.width
            self._memory.truncate(min(windows, present) * self.width)
            return present >= windows
        with self._path.open("r+b", buffering=0) as handle:
            present = os.fstat(handle.fileno()).st_size // self.width
            handle.truncate(min(windows, present) * self.width)
        return present >= windows

    def sync(self) -> None:
        if self._path is not None:
            with self._path.open("r+b", buffering=0) as handle:
                os.fsync(handle.fileno())


# libc's pread, called from compiled code: a query reads a thousand or more scattered sketches, and
# os.pread in a Python loop cost about 6 us a read and took the GIL back after each, so that
# concurrent queries queued behind each other's reads. Declared by symbol name, so numba can cache
# the compiled reader (a ctypes function pointer would make it compile at every start).
_pread: Final = cast(
    Callable[[int, int, int, int], int],
    numba.types.ExternalFunction(
        "pread", numba.types.intp(numba.types.intc, numba.types.voidptr, numba.types.uintp, numba.types.int64)
    ),
)


# The stored rows argument of _equal_bytes when the sketches are read from a file.
_NO_ROWS: Final = np.empty((0, 1), dtype=np.uint8)


@numba.njit(cache=True, nogil=True)
def _equal_bytes(
    descriptor: int,
    rows: npt.NDArray[np.uint8],
    width: int,
    order: npt.NDArray[np.intp],
    windows: npt.NDArray[np.int64],
    query_sketches: npt.NDArray[np.uint8],
    query_windows: npt.NDArray[np.int64],
    out: npt.NDArray[np.int64],
) -> int:
    """Fill `out` with the bytes each pair's two sketches share in place; return the first pair not read whole, or -1.

    The stored sketches are `rows` when `descriptor` is negative, else `width`-byte records of the file. About a
    fifth of a query's pairs name a stored window that another of them names (one stored window meets several query
    windows), and a read is a system call: the pairs are taken in `order`, which sorts them by window, and each
    window is read once.
    """
    read = np.empty(width, dtype=np.uint8)
    current = -1
    for pair in order:
        window = windows[pair]
        if descriptor < 0:
            stored = rows[window]
        else:
            if window != current:
                if _pread(descriptor, read.ctypes.data, width, window * width) != width:
                    return int(pair)
                current = window
            stored = read
        query = query_sketches[query_windows[pair]]
        equal = 0
        for value in range(width):
            if query[value] == stored[value]:
                equal += 1
        out[pair] = equal
    return -1


@numba.njit(cache=True, nogil=True)
def _most_equal_bytes(query: npt.NDArray[np.uint8], stored: npt.NDArray[np.uint8]) -> npt.NDArray[np.int64]:
    """Return, for each query sketch, the most bytes it shares (in place) with any one stored sketch."""
    # Compiled: a long document against a long query is a hundred thousand sketch pairs, and numpy would make
    # the whole comparison in memory first.
    most = np.zeros(len(query), dtype=np.int64)
    for row in range(len(query)):
        for other in range(len(stored)):
            equal = 0
            for value in range(query.shape[1]):
                if query[row, value] == stored[other, value]:
                    equal += 1
            if equal > most[row]:
                most[row] = equal
    return most


def compile_kernels() -> None:
    """Compile (or load from numba's cache) the look-up, merging and sketch-reading code, on empty inputs."""
    low, high = _key_ranges(
        np.empty(0, dtype=np.uint32),
        np.zeros(1, dtype=np.int64),
        np.zeros((0, 1), dtype=np.uint32),
        32,
        np.empty((0, 0), dtype=np.uint32),
        0,
    )
    _gathered(np.empty(0, dtype=np.uint32), low, high, np.empty((0, 0), dtype=np.int64))
    no_pairs = np.empty(0, dtype=np.int64)
    _met_again_in_order(np.empty(0, dtype=np.intp), no_pairs, no_pairs, no_pairs)
    _runs_in_order(no_pairs, np.empty(0, dtype=np.intp))
    _radix_order(no_pairs, 1, 1)
    no_order = np.empty(0, dtype=np.intp)
    _equal_bytes(-1, _NO_ROWS, 1, no_order, no_pairs, np.empty((0, 1), dtype=np.uint8), no_pairs, no_pairs)
    _most_equal_bytes(np.zeros((1, 1), dtype=np.uint8), np.zeros((1, 1), dtype=np.uint8))
    empty = np.empty((1, 0), dtype=np.uint32)
    _merge_bands(empty, empty, empty, empty, np.empty(0, dtype=np.bool_), 0)


def _merged(segments: Sequence[_Segment], dead: npt.NDArray[np.bool_], max_windows: int) -> list[_Segment]:
    merged: list[_Segment] = []
    for segment in segments:
        removed = segment.removed_entries(dead)
        merged.append(
            segment.compacted(dead) if removed and removed >= COMPACT_DEAD_SHARE * segment.entries else segment
        )
        while (
            len(merged) >= 2
            and merged[-1].window_count >= MERGE_RATIO * merged[-2].window_count
            and merged[-2].entries + merged[-1].entries <= max_windows
        ):
            newer = merged.pop()
            older = merged.pop()
            merged.append(_Segment.merge(older, newer, dead))
    return merged


def _with_name(segment: _Segment, name: str) -> _Segment:
    # Copied, not rebuilt with dataclasses.replace, which would compute the buckets again (0.1 s at 7.8M windows).
    named = copy.copy(segment)
    object.__setattr__(named, "name", name)
    return named


def _write_segment(handle: BinaryIO, segment: _Segment, window_sequences: UInt32Array) -> None:
    np.savez(
        handle,
        first_window=np.int64(segment.first_window),
        window_sequences=window_sequences,
        keys=segment.keys,
        windows=segment.windows,
        offsets=segment.offsets,
    )


def _write_atomically(path: Path, write: Callable[[BinaryIO], object]) -> None:
    # Written beside, flushed, then renamed: a crash leaves the old file or the new one, never half of one.
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("wb") as handle:
        write(handle)
        handle.flush()
        os.fsync(handle.fileno())
    temporary.replace(path)


class _GrowableArray(Generic[_Scalar]):
    """A numpy array with amortised O(1) append, viewed without copying."""

    def __init__(self, dtype: type[_Scalar]) -> None:
        self._data: npt.NDArray[_Scalar] = np.empty(1024, dtype=dtype)
        self._size = 0

    def extend(self, values: npt.NDArray[_Scalar]) -> None:
        needed = self._size + len(values)
        if needed > len(self._data):
            grown = np.empty(max(needed, 2 * len(self._data)), dtype=self._data.dtype)
            grown[: self._size] = self._data[: self._size]
            self._data = grown
        self._data[self._size : needed] = values
        self._size = needed

    def view(self) -> npt.NDArray[_Scalar]:
        return self._data[: self._size]

    def truncate(self, size: int) -> None:
        self._size = min(self._size, size)

    def __len__(self) -> int:
        return self._size

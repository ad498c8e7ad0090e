from __future__ import annotations

import itertools
import json
import threading
from collections import Counter
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from datasketch import LeanMinHash, MinHashLSH
from hypothesis import given, settings
from hypothesis import strategies as st

from server.adapters import band_index
from server.adapters.band_index import COMMON_KEY_WINDOWS, MANIFEST_NAME, SKETCHES_NAME, BandIndex, band_keys
from server.adapters.minhash_signer import HASH_SCHEME, MinHashSigner

BANDS, ROWS = 21, 3
SIGNER = MinHashSigner()


def corpus(documents: int, seed: int = 3) -> dict[int, npt.NDArray[np.uint32]]:
    """Random passage feature sets, the last fifth near copies (2/3 of each window kept) of the first."""
    return {sequence: SIGNER.hash_values(sets) for sequence, sets in corpus_sets(documents, seed).items()}


def corpus_sets(documents: int, seed: int = 3) -> dict[int, list[set[str]]]:
    """The feature sets of each document's windows in `corpus`."""
    rng = np.random.default_rng(seed)
    vocabulary = [f"w{number}" for number in range(2000)]
    windows: dict[int, list[set[str]]] = {}
    originals = documents * 4 // 5
    for sequence in range(1, originals + 1):
        windows[sequence] = [set(rng.choice(vocabulary, 30)) for _ in range(int(rng.integers(1, 6)))]
    for sequence in range(originals + 1, documents + 1):
        source = windows[sequence - originals]
        windows[sequence] = [set(sorted(window)[:20]) | set(rng.choice(vocabulary, 10)) for window in source]
    return windows


def filled(index: BandIndex, signatures: dict[int, npt.NDArray[np.uint32]], checkpoint_every: int = 0) -> BandIndex:
    """Add every document to `index`, with a checkpoint after each sequence divisible by `checkpoint_every`."""
    for sequence, rows in signatures.items():
        index.add(sequence, rows)
        if checkpoint_every and sequence % checkpoint_every == 0:
            index.checkpoint()
    return index


def brute_force_strength(stored: dict[int, npt.NDArray[np.uint32]], query: npt.NDArray[np.uint32]) -> dict[int, int]:
    """The most bands any query window shares with any stored window, per document, by comparing all pairs."""
    query_keys = band_keys(query, BANDS, ROWS)
    strength = {}
    for sequence, signatures in stored.items():
        keys = band_keys(signatures, BANDS, ROWS)
        shared = (query_keys[:, :, None] == keys[:, None, :]).sum(axis=0)
        if shared.max() > 0:
            strength[sequence] = int(shared.max())
    return strength


def brute_force_probed_strength(
    stored: dict[int, npt.NDArray[np.uint32]],
    query: npt.NDArray[np.uint32],
    seconds: npt.NDArray[np.uint32],
    probes: int = ROWS,
) -> dict[int, int]:
    """As brute_force_strength, a band shared when a stored window's key is the query's or one with one of the
    band's first `probes` values swapped for the second minimum, built here value by value."""
    variants = [query]
    for row in range(probes):
        swapped = query.copy()
        for band in range(BANDS):
            swapped[:, band * ROWS + row] = seconds[:, band * ROWS + row]
        variants.append(swapped)
    query_keys = np.stack([band_keys(variant, BANDS, ROWS) for variant in variants])  # variant, band, window
    strength = {}
    for sequence, signatures in stored.items():
        keys = band_keys(signatures, BANDS, ROWS)
        shared = (query_keys[:, :, :, None] == keys[None, :, None, :]).any(axis=0).sum(axis=0)
        if shared.max() > 0:
            strength[sequence] = int(shared.max())
    return strength


@pytest.mark.parametrize("probes", [1, 2, 3])
def test_probes_find_exactly_the_windows_one_swapped_value_away_and_never_fewer(probes: int) -> None:
    sets = corpus_sets(150, seed=7)
    signatures = {sequence: SIGNER.hash_values(windows) for sequence, windows in sets.items()}
    index = filled(BandIndex(BANDS, ROWS, probes=probes), signatures, checkpoint_every=40)
    gained = 0
    for sequence in range(1, 151, 7):
        seconds = SIGNER.second_values(sets[sequence], BANDS * ROWS)

        probed = index.candidates(signatures[sequence], seconds)

        assert probed == brute_force_probed_strength(signatures, signatures[sequence], seconds, probes)
        plain = index.candidates(signatures[sequence])
        assert all(probed[other] >= strength for other, strength in plain.items())
        gained += len(probed) - len(plain)
    assert gained > 0


def test_an_index_without_probes_ignores_second_minima_and_refuses_more_probes_than_values() -> None:
    sets = corpus_sets(60, seed=7)
    signatures = {sequence: SIGNER.hash_values(windows) for sequence, windows in sets.items()}
    index = filled(BandIndex(BANDS, ROWS, probes=0), signatures)
    for sequence in (1, 30, 60):
        seconds = SIGNER.second_values(sets[sequence], BANDS * ROWS)
        assert index.candidates(signatures[sequence], seconds) == index.candidates(signatures[sequence])
    with pytest.raises(ValueError, match="probes must be from 0 to 3"):
        BandIndex(BANDS, ROWS, probes=4)


def test_a_reworded_window_that_shares_no_band_key_is_found_through_a_probe() -> None:
    # A window of 30 words and its rewording, 20 kept and 10 changed (Jaccard 0.5): search seeded sets for one
    # whose rewording shares none of the 21 band keys, which happens to a pair this alike about once in 16
    # (each band's three values all agree with probability 0.5 cubed).
    rng = np.random.default_rng(11)
    vocabulary = [f"w{number}" for number in range(5000)]
    for _ in range(1000):
        source = set(rng.choice(vocabulary, 30, replace=False).tolist())
        reworded = set(sorted(source)[:20]) | set(rng.choice(vocabulary, 10, replace=False).tolist())
        if len(reworded) < 30:
            continue
        index = BandIndex(BANDS, ROWS)
        index.add(1, SIGNER.hash_values([source]))
        query = SIGNER.hash_values([reworded])
        if not index.candidates(query):
            break
    else:
        pytest.fail("no seeded rewording missed every band")

    seconds = SIGNER.second_values([reworded], BANDS * ROWS)
    assert set(index.candidates(query, seconds)) == {1}
    assert index.screen(query, 0.0, 1000) == {}
    assert set(index.screen(query, 0.0, 1000, seconds)) == {1}


def test_second_minima_go_with_every_query_of_a_batch_or_none() -> None:
    signatures = corpus(20)
    index = filled(BandIndex(BANDS, ROWS), signatures)
    seconds = np.full_like(signatures[1][:, : BANDS * ROWS], 0xFFFFFFFF)

    with pytest.raises(ValueError, match="for every window of a batch's queries, or for none"):
        index.screen_many([(signatures[1], None), (signatures[2], None)], 0.0, 1000, [seconds, None])
    assert index.screen_many([(signatures[1], None)], 0.0, 1000, [None]) == [index.screen(signatures[1], 0.0, 1000)]


def sorted_search_hits(
    keys: npt.NDArray[np.uint32], windows: npt.NDArray[np.uint32], query_keys: npt.NDArray[np.uint32]
) -> tuple[list[int], list[int]]:
    """Every (flat query position, stored window) whose keys are equal, by numpy's binary search on each band."""
    bands, width = query_keys.shape
    table_keys, table_windows = keys.reshape(bands, -1), windows.reshape(bands, -1)
    positions, found = [], []
    for band in range(bands):
        first = np.searchsorted(table_keys[band], query_keys[band], side="left")
        end = np.searchsorted(table_keys[band], query_keys[band], side="right")
        for position in range(width):
            for entry in range(first[position], end[position]):
                positions.append(band * width + position)
                found.append(int(table_windows[band, entry]))
    return positions, found


@pytest.mark.parametrize("layout", ["uniform", "crowded", "clustered", "one_bucket", "empty"])
@pytest.mark.parametrize("bucket_entries", [band_index.BUCKET_ENTRIES, 4])
def test_a_segment_look_up_finds_every_equal_key_however_the_keys_lie(
    monkeypatch: pytest.MonkeyPatch, layout: str, bucket_entries: int
) -> None:
    # The look-up guesses a key's place from its value, as if keys were spread evenly, and searches from there:
    # keys that crowd on a few values (a boilerplate window stored many times), or that bunch in one corner of
    # their buckets, must cost time only, never an entry.
    monkeypatch.setattr(band_index, "BUCKET_ENTRIES", bucket_entries)
    rng = np.random.default_rng(11)
    bands, entries = 3, {"one_bucket": 60, "empty": 0}.get(layout, 5000)
    if layout == "crowded":
        values = rng.choice(rng.integers(0, 2**32, 40, dtype=np.uint32), size=(bands, entries))
    elif layout == "clustered":
        values = np.concatenate(
            [rng.integers(0, 300, (bands, entries // 2)), rng.integers(2**32 - 10**6, 2**32, (bands, entries // 2))],
            axis=1,
        )
    else:
        values = rng.integers(0, 2**32, (bands, entries))
    keys = np.sort(values.astype(np.uint32), axis=1)
    windows = rng.integers(0, 10**6, (bands, entries)).astype(np.uint32)
    segment = band_index._Segment(0, entries, *band_index._flat(keys, windows))
    stored = keys.reshape(-1)
    queries = rng.integers(0, 2**32, (bands, 400)).astype(np.uint32)
    if len(stored):
        queries[:, :200] = rng.choice(stored, (bands, 200))  # half of them stored, in some band
    queries[:, -3:] = [0, 2**32 - 1, 2**31]  # the ends of the range of values, and a bucket boundary

    ranges = segment.key_ranges(queries, most=entries)
    positions, found = segment.lookup(ranges, np.full(queries.shape, entries, dtype=np.int64))

    assert (positions.tolist(), found.tolist()) == sorted_search_hits(segment.keys, segment.windows, queries)
    assert len(found) >= (200 if entries else 0)


@pytest.mark.parametrize("bucket_entries", [band_index.BUCKET_ENTRIES, 1])
def test_candidates_are_exactly_what_datasketch_minhashlsh_finds_with_the_same_bands(
    monkeypatch: pytest.MonkeyPatch, bucket_entries: int
) -> None:
    # One key per bucket cuts even these small segments into many buckets, as a store of millions is cut.
    monkeypatch.setattr(band_index, "BUCKET_ENTRIES", bucket_entries)
    signatures = corpus(200)
    index = BandIndex(BANDS, ROWS)
    reference = MinHashLSH(num_perm=SIGNER.num_perm, params=(BANDS, ROWS))
    for sequence, rows in signatures.items():
        index.add(sequence, rows)
        for position, row in enumerate(rows):
            reference.insert((sequence, position), LeanMinHash(seed=1, hashvalues=row, scheme=HASH_SCHEME))
        # Checkpoints now and then: the answer must not depend on what is in segments and what is recent.
        if sequence % 23 == 0:
            index.checkpoint()
    if bucket_entries == 1:
        assert min(segment.bucket_shift for segment in index._segments) < 32 - 4  # 16 buckets or more

    for query in signatures.values():
        expected = {
            sequence
            for row in query
            for sequence, _ in reference.query(LeanMinHash(seed=1, hashvalues=row, scheme=HASH_SCHEME))
        }
        assert set(index.candidates(query)) == expected


def test_copies_and_repeated_windows_are_all_found_before_and_after_a_checkpoint() -> None:
    # Exact copies share every band key with their source, and a text that repeats a paragraph has two
    # windows with the same keys: several windows per key, in the entries added since the last checkpoint.
    source = corpus(10)[1]
    repeated = np.vstack([source, source[:1]])
    index = BandIndex(BANDS, ROWS)
    for sequence, rows in ((1, source), (2, source), (3, repeated)):
        index.add(sequence, rows)
    other = corpus(10, seed=4)[2]
    index.add(4, other)
    expected = {1: BANDS, 2: BANDS, 3: BANDS}

    before = index.candidates(source)
    index.checkpoint()
    after = index.candidates(source)

    assert before == after == expected
    assert index.candidates(other) == {4: BANDS}
    assert index.screen(repeated, 0.9, 1000) == {1: 1.0, 2: 1.0, 3: 1.0}


def test_strength_is_the_most_bands_one_pair_of_windows_shares() -> None:
    signatures = corpus(120)
    index = filled(BandIndex(BANDS, ROWS), signatures, checkpoint_every=17)

    for sequence in (1, 50, 97, 100, 120):
        assert index.candidates(signatures[sequence]) == brute_force_strength(signatures, signatures[sequence])


def test_removed_documents_are_gone_before_and_after_their_entries_are_merged_away() -> None:
    signatures = corpus(100)
    index = filled(BandIndex(BANDS, ROWS), signatures)
    index.checkpoint()
    entries_before = index.memory_bytes()

    for sequence in range(1, 51):
        index.remove(sequence)
    assert all(sequence not in index.candidates(signatures[sequence]) for sequence in range(1, 51))
    assert len(index) == 50
    # Enough new entries to merge the segment holding the removed ones.
    added = {1000 + sequence: rows for sequence, rows in corpus(100, seed=4).items()}
    filled(index, added)
    index.checkpoint()

    assert len(index._segments) == 1
    assert all(sequence not in index.candidates(signatures[sequence]) for sequence in range(1, 51))
    # The merge drops the removed windows' entries from every band, and no live window's entry from any band.
    live = {sequence: rows for sequence, rows in signatures.items() if sequence > 50} | added
    for sequence in (51, 60, 77, 100, 1001, 1050):
        assert index.candidates(live[sequence]) == brute_force_strength(live, live[sequence])
    assert index.memory_bytes() < 2 * entries_before


def test_merging_in_the_background_lets_checkpoints_return_and_answers_stay_exact(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    merging, release = threading.Event(), threading.Event()
    merge = band_index._Segment.merge

    def held_merge(
        older: band_index._Segment, newer: band_index._Segment, dead: npt.NDArray[np.bool_]
    ) -> band_index._Segment:
        merging.set()
        assert release.wait(30)
        return merge(older, newer, dead)

    monkeypatch.setattr(band_index._Segment, "merge", staticmethod(held_merge))
    signatures = corpus(300)
    index = BandIndex(BANDS, ROWS, tmp_path, save_windows=50, merge_in_background=True)
    filled(index, {sequence: signatures[sequence] for sequence in range(1, 101)})
    index.checkpoint()
    filled(index, {sequence: signatures[sequence] for sequence in range(101, 201)})
    index.checkpoint()  # the two segments are due to merge, and the merge is held
    assert merging.wait(30)

    # Ingest goes on while the merge is held: more documents, a removal, more checkpoints.
    for sequence in range(201, 301):
        index.add(sequence, signatures[sequence])
        if sequence % 25 == 0:
            index.checkpoint()
    index.remove(7)
    live = {sequence: rows for sequence, rows in signatures.items() if sequence != 7}
    for sequence in (1, 7, 150, 240, 300):
        assert index.candidates(signatures[sequence]) == brute_force_strength(live, signatures[sequence])

    release.set()
    index.close()
    # Every merge that came due was made: each segment is under half the size of the one before it.
    sizes = [segment.window_count for segment in index._segments]
    assert all(newer < band_index.MERGE_RATIO * older for older, newer in itertools.pairwise(sizes))
    for sequence in (1, 7, 150, 240, 300):
        assert index.candidates(signatures[sequence]) == brute_force_strength(live, signatures[sequence])
    # close() saved what the merges made: a restart replays only what the saved segments lack.
    restored = BandIndex(BANDS, ROWS, tmp_path, save_windows=50)
    missing = restored.restore(set(live))
    assert len(missing) < 50
    for sequence in missing:
        restored.add(sequence, live[sequence])
    for sequence in (1, 7, 150, 240, 300):
        assert restored.candidates(signatures[sequence]) == brute_force_strength(live, signatures[sequence])


@pytest.mark.parametrize("order", ["ascending", "shuffled"])
def test_removing_finds_a_documents_windows_whatever_order_documents_were_added_in(order: str) -> None:
    signatures = corpus(60)
    sequences = list(signatures)
    if order == "shuffled":
        np.random.default_rng(5).shuffle(sequences)
    index = BandIndex(BANDS, ROWS)
    for position, sequence in enumerate(sequences):
        index.add(sequence, signatures[sequence])
        if position == 30:
            index.checkpoint()

    for sequence in (1, 17, 31, 60):
        index.remove(sequence)
        index.remove(sequence)  # a second removal finds nothing left to remove

    assert len(index) == 56
    for sequence in signatures:
        found = sequence in index.candidates(signatures[sequence])
        assert found == (sequence not in (1, 17, 31, 60))


def test_a_saved_index_restores_the_same_answers_and_reports_what_it_lacks(tmp_path: Path) -> None:
    signatures = corpus(150)
    index = filled(BandIndex(BANDS, ROWS, tmp_path, save_windows=50), signatures, checkpoint_every=10)
    index.remove(7)
    index.checkpoint()
    manifest = json.loads((tmp_path / MANIFEST_NAME).read_text())
    assert manifest["segments"], "nothing was saved"

    # The store has lost 8 (deleted after the last save) and gained 151 (never indexed).
    stored = set(signatures) - {7, 8} | {151}
    restored = BandIndex(BANDS, ROWS, tmp_path, save_windows=50)
    missing = restored.restore(stored)

    assert 151 in missing
    assert not missing & {7, 8}
    for sequence in missing - {151}:
        restored.add(sequence, signatures[sequence])
    restored.checkpoint()
    for rows in signatures.values():
        expected = {key: value for key, value in index.candidates(rows).items() if key != 8}
        assert restored.candidates(rows) == expected
        close = {key: value for key, value in index.screen(rows, 0.3, 10_000).items() if key != 8}
        assert restored.screen(rows, 0.3, 10_000) == close
    assert len(restored) == len(stored) - 1


def test_a_saved_index_with_other_bands_is_ignored_and_everything_is_reported_missing(tmp_path: Path) -> None:
    signatures = corpus(60)
    index = filled(BandIndex(BANDS, ROWS, tmp_path, save_windows=10), signatures)
    index.checkpoint()

    other = BandIndex(BANDS - 1, ROWS, tmp_path)

    assert other.restore(signatures) == set(signatures)
    assert len(other) == 0


@pytest.mark.parametrize("removed", [False, True])
def test_an_index_saved_before_per_band_merges_is_kept_only_when_nothing_was_removed(
    tmp_path: Path, removed: bool
) -> None:
    signatures = corpus(60)
    index = filled(BandIndex(BANDS, ROWS, tmp_path, save_windows=10), signatures)
    if removed:
        index.remove(5)
    index.checkpoint()
    manifest_path = tmp_path / MANIFEST_NAME
    manifest = json.loads(manifest_path.read_text())
    manifest_path.write_text(json.dumps(manifest | {"format": 2}))

    restored = BandIndex(BANDS, ROWS, tmp_path)
    missing = restored.restore(set(signatures) - {5} if removed else set(signatures))

    if removed:
        assert missing == set(signatures) - {5}
    else:
        assert missing == set()
        assert restored.candidates(signatures[9]) == index.candidates(signatures[9])


@pytest.mark.parametrize("documents", [0, 1])
def test_tiny_indexes_answer(documents: int) -> None:
    signatures = corpus(5)
    index = BandIndex(BANDS, ROWS)
    for sequence in list(signatures)[:documents]:
        index.add(sequence, signatures[sequence])
    index.checkpoint()
    index.checkpoint()

    assert set(index.candidates(signatures[1])) == ({1} if documents else set())


def brute_force_screen(
    stored: dict[int, npt.NDArray[np.uint32]],
    query: npt.NDArray[np.uint32],
    floor: float,
    common_key_windows: int = COMMON_KEY_WINDOWS,
) -> dict[int, float]:
    """The closest colliding window pair per document, from the low bytes of all its values, over all pairs.

    A pair meeting in one band only, in a key stored for more than `common_key_windows` windows, counts only
    when its document meets the query in two of its windows and by two query windows.
    """
    query_keys = band_keys(query, BANDS, ROWS)
    all_keys = {sequence: band_keys(signatures, BANDS, ROWS) for sequence, signatures in stored.items()}
    windows_per_key = Counter(
        (band, int(key)) for keys in all_keys.values() for band in range(BANDS) for key in keys[band]
    )
    closeness = {}
    for sequence, signatures in stored.items():
        keys = all_keys[sequence]
        shared = query_keys[:, :, None] == keys[:, None, :]
        bands_shared = shared.sum(axis=0)
        collide = bands_shared > 0
        common = np.zeros_like(collide)
        for query_window, window in zip(*np.nonzero(bands_shared == 1), strict=True):
            band = int(np.flatnonzero(shared[:, query_window, window])[0])
            common[query_window, window] = (
                windows_per_key[(band, int(query_keys[band, query_window]))] > common_key_windows
            )
        query_windows_met, windows_met = np.nonzero(collide)
        if len(set(query_windows_met)) < 2 or len(set(windows_met)) < 2:
            collide &= ~common
        agree = ((query[:, None, :] & 0xFF) == (signatures[None, :, :] & 0xFF)).mean(axis=2)
        estimates = (agree[collide] - 1 / 256) / (1 - 1 / 256)
        if len(estimates) and estimates.max() >= floor:
            closeness[sequence] = float(estimates.max())
    return closeness


@pytest.mark.parametrize("common_key_windows", [COMMON_KEY_WINDOWS, 1])
def test_screening_keeps_documents_whose_colliding_windows_are_close_on_all_their_values(
    tmp_path: Path, common_key_windows: int
) -> None:
    signatures = corpus(120)
    in_memory = filled(BandIndex(BANDS, ROWS, common_key_windows=common_key_windows), signatures, 17)
    on_disk = filled(
        BandIndex(BANDS, ROWS, tmp_path, save_windows=20, common_key_windows=common_key_windows), signatures, 17
    )

    kept = 0
    for sequence in (1, 30, 97, 100, 120):
        expected = brute_force_screen(signatures, signatures[sequence], 0.3, common_key_windows)
        assert in_memory.screen(signatures[sequence], floor=0.3, max_pairs=10_000) == pytest.approx(expected)
        assert on_disk.screen(signatures[sequence], floor=0.3, max_pairs=10_000) == pytest.approx(expected)
        assert set(in_memory.candidates(signatures[sequence])) >= set(expected)
        kept += len(expected)
    assert kept >= 5 + 2


def test_screening_checks_the_pairs_sharing_the_most_bands_when_too_many_collide() -> None:
    signatures = corpus(100)
    index = filled(BandIndex(BANDS, ROWS), signatures)
    query = signatures[90]  # a near copy of document 10

    assert set(index.screen(query, floor=0.0, max_pairs=1)) == {90}
    assert set(index.screen(query, floor=0.0, max_pairs=10_000)) == set(index.candidates(query))


def test_a_saved_index_whose_sketches_are_lost_is_rebuilt_from_the_store(tmp_path: Path) -> None:
    signatures = corpus(60)
    index = filled(BandIndex(BANDS, ROWS, tmp_path, save_windows=10), signatures)
    index.checkpoint()
    sketches = tmp_path / SKETCHES_NAME
    sketches.write_bytes(sketches.read_bytes()[:-1])

    restored = BandIndex(BANDS, ROWS, tmp_path, save_windows=10)

    assert restored.restore(signatures) == set(signatures)
    filled(restored, signatures)
    assert restored.screen(signatures[7], floor=0.3, max_pairs=100) == pytest.approx(
        brute_force_screen(signatures, signatures[7], floor=0.3)
    )


def test_a_sketch_that_cannot_be_read_whole_is_an_error_not_a_guess(tmp_path: Path) -> None:
    signatures = corpus(30)
    index = filled(BandIndex(BANDS, ROWS, tmp_path), signatures)
    sketches = tmp_path / SKETCHES_NAME
    sketches.write_bytes(sketches.read_bytes()[:128])  # only window 0's sketch is left

    with pytest.raises(OSError, match="could not be read whole"):
        index.screen(signatures[30], floor=0.0, max_pairs=100)
    with pytest.raises(OSError, match="could not be read whole"):
        index.close_windows(signatures[30], [30], floor=0.0)


def meeting_in_one_band(
    query: npt.NDArray[np.uint32], rng: np.random.Generator, band: int = 0
) -> npt.NDArray[np.uint32]:
    """A window with the query's three values of `band` and the low bytes of all the others, but other high bits.

    Its sketch agrees with the query's everywhere (estimate 1.0), and its key is the query's in that band (the first
    unless told) and, almost surely, in no other.
    """
    window = (rng.integers(1, 2**24, size=query.shape, dtype=np.uint32) << np.uint32(8)) | (query & np.uint32(0xFF))
    window[band * ROWS : (band + 1) * ROWS] = query[band * ROWS : (band + 1) * ROWS]
    return window


@pytest.mark.parametrize("checkpoint", [False, True])
def test_a_pair_meeting_only_in_a_common_key_is_read_only_when_its_document_meets_the_query_again(
    checkpoint: bool,
) -> None:
    rng = np.random.default_rng(11)
    query = rng.integers(0, 2**32, size=(2, SIGNER.num_perm), dtype=np.uint32)
    index = BandIndex(BANDS, ROWS, common_key_windows=20)
    # Twenty-one documents store each query window's first-band key once each (one more than the limit).
    for sequence in range(1, 22):
        index.add(sequence, meeting_in_one_band(query[0], rng)[None, :])
        index.add(100 + sequence, meeting_in_one_band(query[1], rng)[None, :])
    # 22 meets the first query window in two of its windows: one query window, so one chance event.
    index.add(22, np.stack([meeting_in_one_band(query[0], rng) for _ in range(2)]))
    # 23 meets each query window in another of its windows: met again, independently.
    index.add(23, np.stack([meeting_in_one_band(query[0], rng), meeting_in_one_band(query[1], rng)]))
    if checkpoint:
        index.checkpoint()

    assert set(index.candidates(query)) == {*range(1, 24), *range(101, 122)}
    assert index.screen(query, 0.9, 1000) == {23: pytest.approx(1.0)}

    rare = BandIndex(BANDS, ROWS, common_key_windows=23)
    for sequence in range(1, 22):
        rare.add(sequence, meeting_in_one_band(query[0], rng)[None, :])
    assert set(rare.screen(query, 0.9, 1000)) == set(range(1, 22))


def test_each_pair_is_judged_by_how_common_its_own_key_is() -> None:
    rng = np.random.default_rng(12)
    query = rng.integers(0, 2**32, size=(1, SIGNER.num_perm), dtype=np.uint32)
    index = BandIndex(BANDS, ROWS, common_key_windows=20)
    # Twenty-one documents meet the query's one window in its first-band key, stored for one window more than the
    # limit: one query window is one chance event, and none is read.
    for sequence in range(1, 22):
        index.add(sequence, meeting_in_one_band(query[0], rng)[None, :])
    # One meets it in its second band, in a key stored for this window only, and is read.
    index.add(30, meeting_in_one_band(query[0], rng, band=1)[None, :])

    assert set(index.candidates(query)) == {*range(1, 22), 30}
    assert index.screen(query, 0.9, 1000) == {30: pytest.approx(1.0)}


def test_copies_of_one_text_beyond_the_common_key_limit_are_all_found() -> None:
    source = corpus(10, seed=5)[1]
    index = BandIndex(BANDS, ROWS, common_key_windows=3)
    for sequence in range(1, 11):
        index.add(sequence, source)
    index.checkpoint()

    assert index.screen(source, 0.9, 1000) == dict.fromkeys(range(1, 11), 1.0)


def test_a_segment_look_up_takes_each_keys_first_entries_within_its_budget_and_stops_counting_past_most() -> None:
    keys = np.array([[5, 7, 7, 7, 7, 9]], dtype=np.uint32)
    segment = band_index._Segment(0, 6, *band_index._flat(keys, np.arange(6, dtype=np.uint32)[None, :]))
    queries = np.array([[7, 9, 5]], dtype=np.uint32)
    budget = np.array([[2, 0, 5]], dtype=np.int64)

    low, high = segment.key_ranges(queries, most=2)
    positions, found = segment.lookup((low, high), budget)

    assert (high - low).tolist() == [[3, 1, 1]]  # 7 is stored four times: counted to three, past the two allowed
    assert (positions.tolist(), found.tolist()) == ([0, 0, 2], [1, 2, 0])  # 7's first two, none of 9, 5
    assert budget.tolist() == [[0, 0, 4]]


@pytest.mark.parametrize("checkpoint_every", [0, 1, 5])
def test_a_key_stored_for_more_windows_than_the_stop_limit_meets_only_its_oldest_however_the_index_is_cut(
    checkpoint_every: int,
) -> None:
    rng = np.random.default_rng(13)
    query = rng.integers(0, 2**32, size=(1, SIGNER.num_perm), dtype=np.uint32)
    index = BandIndex(BANDS, ROWS, common_key_windows=3, stop_key_windows=10)
    # Ten documents store the query's first-band key, one window each: at the limit, the key meets them all.
    for sequence in range(1, 11):
        index.add(sequence, meeting_in_one_band(query[0], rng)[None, :])
        if checkpoint_every and sequence % checkpoint_every == 0:
            index.checkpoint()
    index.add(30, meeting_in_one_band(query[0], rng, band=1)[None, :])
    assert set(index.candidates(query)) == {*range(1, 11), 30}

    # An eleventh makes it a stop key, counted over every segment and the entries not yet in one.
    index.add(11, meeting_in_one_band(query[0], rng)[None, :])
    if checkpoint_every:
        index.checkpoint()

    assert set(index.candidates(query)) == {1, 2, 3, 30}
    # The three met are met in a key stored eleven times, common: one query window, one chance event, not read.
    assert index.screen(query, 0.9, 1000) == {30: pytest.approx(1.0)}


def test_a_rewrite_of_a_text_stored_past_the_stop_limit_still_meets_the_text_in_the_keys_it_kept() -> None:
    rng = np.random.default_rng(14)
    story = rng.integers(0, 2**32, size=(1, SIGNER.num_perm), dtype=np.uint32)
    index = BandIndex(BANDS, ROWS, common_key_windows=3, stop_key_windows=10)
    for sequence in range(1, 13):
        index.add(sequence, story)
    index.checkpoint()
    # Five bands kept of 21, the low bytes of every value too: five stop keys and 16 keys stored nowhere.
    rewrite = meeting_in_one_band(story[0], rng)
    rewrite[: 5 * ROWS] = story[0, : 5 * ROWS]

    assert index.candidates(rewrite[None, :]) == dict.fromkeys([1, 2, 3], 5)
    assert index.screen(rewrite[None, :], 0.9, 1000) == dict.fromkeys([1, 2, 3], pytest.approx(1.0))


@pytest.mark.parametrize("checkpoint", [True, False])
def test_a_copy_of_a_text_stored_past_the_stop_limit_meets_its_oldest_copies_in_every_band(checkpoint: bool) -> None:
    # Every key of a text stored eleven times is a stop key at a limit of ten: a further copy meets the text and
    # its next two copies, as many as a common key meets, and none of the later ones, wherever they are kept.
    source = corpus(10, seed=5)[1]
    index = BandIndex(BANDS, ROWS, common_key_windows=3, stop_key_windows=10)
    for sequence in range(1, 12):
        index.add(sequence, source)
        if checkpoint and sequence % 4 == 0:
            index.checkpoint()

    assert index.candidates(source) == dict.fromkeys([1, 2, 3], BANDS)
    assert index.screen(source, 0.9, 1000) == dict.fromkeys([1, 2, 3], 1.0)


def brute_force_close_windows(
    stored: npt.NDArray[np.uint32], query: npt.NDArray[np.uint32], floor: float
) -> tuple[int, int]:
    """(query windows estimated at least `floor` alike to some stored window, stored windows), over all pairs."""
    agree = ((query[:, None, :] & 0xFF) == (stored[None, :, :] & 0xFF)).mean(axis=2)
    estimates = (agree - 1 / 256) / (1 - 1 / 256)
    return int((estimates.max(axis=1) >= floor).sum()), len(stored)


@pytest.mark.parametrize("in_order", [True, False])
def test_close_windows_compares_every_window_of_each_document_with_every_query_window(
    tmp_path: Path, in_order: bool
) -> None:
    signatures = corpus(120)
    order = sorted(signatures) if in_order else list(np.random.default_rng(4).permutation(sorted(signatures)))
    index = BandIndex(BANDS, ROWS, tmp_path, save_windows=20)
    for number, sequence in enumerate(order, start=1):
        index.add(int(sequence), signatures[int(sequence)])
        if number % 17 == 0:
            index.checkpoint()
    index.remove(5)

    live = {sequence: rows for sequence, rows in signatures.items() if sequence != 5}
    # Near copies are estimated about 0.5 alike window by window: floors around it split them.
    for floor in (0.3, 0.45, 0.5, 0.55):
        for query_sequence in (1, 30, 97, 100, 120):
            query = signatures[query_sequence]
            expected = {sequence: brute_force_close_windows(rows, query, floor) for sequence, rows in live.items()}
            assert index.close_windows(query, range(1, 122), floor) == expected
    # The near copies (the last fifth) are close to their originals in every window.
    assert index.close_windows(signatures[100], [4], 0.3)[4] == (len(signatures[4]), len(signatures[4]))


def test_documents_added_together_index_as_added_one_by_one_and_folded(tmp_path: Path) -> None:
    signatures = corpus(120)
    one_by_one = filled(BandIndex(BANDS, ROWS, tmp_path / "one"), signatures, checkpoint_every=40)
    together = BandIndex(BANDS, ROWS, tmp_path / "together")
    for start in range(1, 121, 40):
        together.add_many([(sequence, signatures[sequence]) for sequence in range(start, start + 40)])
        together.checkpoint()

    for made, expected in zip(together._segments, one_by_one._segments, strict=True):
        assert (made.first_window, made.window_count) == (expected.first_window, expected.window_count)
        assert np.array_equal(made.keys, expected.keys)
        assert np.array_equal(made.windows, expected.windows)
    assert np.array_equal(together._window_sequences.view(), one_by_one._window_sequences.view())
    for query in (signatures[1], signatures[50], signatures[110]):
        assert together.screen(query, 0.3, 10_000) == one_by_one.screen(query, 0.3, 10_000)


def test_a_window_removed_while_a_merge_walks_the_bands_is_kept_in_every_band_and_still_not_found(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    signatures = corpus(100)
    index = filled(BandIndex(BANDS, ROWS), {sequence: signatures[sequence] for sequence in range(1, 51)})
    index.checkpoint()
    merge_bands = band_index._merge_bands

    def removing_midway(
        old_keys: npt.NDArray[np.uint32],
        old_windows: npt.NDArray[np.uint32],
        new_keys: npt.NDArray[np.uint32],
        new_windows: npt.NDArray[np.uint32],
        dead: npt.NDArray[np.bool_],
        live: int,
    ) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.uint32]]:
        # As a delete on another thread would, after the merge counted the live windows and before it walks the bands.
        index.remove(10)
        return merge_bands(old_keys, old_windows, new_keys, new_windows, dead, live)

    monkeypatch.setattr(band_index, "_merge_bands", removing_midway)
    filled(index, {sequence: signatures[sequence] for sequence in range(51, 101)})
    index.checkpoint()  # as many windows again: the two segments merge

    (segment,) = index._segments
    keys, windows = segment.band_arrays()
    every_window = set(range(segment.first_window, segment.first_window + segment.window_count))
    assert all(set(band.tolist()) == every_window for band in windows)
    assert all(np.all(band[:-1] <= band[1:]) for band in keys)
    live = {sequence: rows for sequence, rows in signatures.items() if sequence != 10}
    for sequence in (1, 10, 60, 100):
        assert index.candidates(signatures[sequence]) == brute_force_strength(live, signatures[sequence])


def test_segments_are_not_merged_past_the_limit_and_answers_and_restarts_stay_exact(tmp_path: Path) -> None:
    signatures = corpus(300)
    limit = 120
    index = filled(BandIndex(BANDS, ROWS, tmp_path, save_windows=40, max_merged_windows=limit), signatures, 10)
    index.checkpoint()

    entries = [segment.entries for segment in index._segments]
    assert max(entries) <= limit
    # Without the limit the same documents would have merged into a segment of more entries than it allows.
    unlimited = filled(BandIndex(BANDS, ROWS), signatures, 10)
    unlimited.checkpoint()
    assert max(segment.entries for segment in unlimited._segments) > limit
    assert len(index._segments) > len(unlimited._segments)
    for sequence in (1, 50, 120, 240, 241, 300):
        expected = brute_force_strength(signatures, signatures[sequence])
        assert index.candidates(signatures[sequence]) == expected
        assert unlimited.candidates(signatures[sequence]) == expected
    # The segments side by side are saved and loaded as merged ones are.
    restored = BandIndex(BANDS, ROWS, tmp_path, save_windows=40, max_merged_windows=limit)
    for sequence in restored.restore(set(signatures)):
        restored.add(sequence, signatures[sequence])
    assert len(restored._segments) > 2
    for sequence in (1, 50, 120, 240, 241, 300):
        assert restored.candidates(signatures[sequence]) == brute_force_strength(signatures, signatures[sequence])


def test_a_segment_that_is_mostly_removed_windows_is_rewritten_without_them() -> None:
    signatures = corpus(200)
    index = filled(BandIndex(BANDS, ROWS, max_merged_windows=150), signatures, 10)
    index.checkpoint()
    first = index._segments[0]
    window_range = range(first.first_window, first.first_window + first.window_count)
    in_first = sorted(
        {int(sequence) for sequence in index._window_sequences.view()[window_range.start : window_range.stop]}
    )

    def entries_in_range() -> int:
        """Entries (per band) the index holds for the first segment's windows, in whatever segment they now are."""
        return sum(
            int(np.count_nonzero((windows[0] >= window_range.start) & (windows[0] < window_range.stop)))
            for windows in (segment.band_arrays()[1] for segment in index._segments)
        )

    assert entries_in_range() == first.entries == len(window_range)
    # Fewer than half removed: the entries stay until the segment is merged or mostly removed.
    for sequence in in_first[: len(in_first) // 3]:
        index.remove(sequence)
    index.checkpoint()
    assert entries_in_range() == first.entries
    for sequence in in_first[: len(in_first) * 3 // 4]:
        index.remove(sequence)
    index.checkpoint()
    live_windows = int(np.count_nonzero(~index._dead.view()[window_range.start : window_range.stop]))
    assert entries_in_range() == live_windows < first.entries / 2
    for sequence in in_first:
        index.remove(sequence)
    index.checkpoint()
    assert entries_in_range() == 0
    live = {sequence: rows for sequence, rows in signatures.items() if sequence not in in_first}
    for sequence in (in_first[0], in_first[-1], 150, 170, 200):
        assert index.candidates(signatures[sequence]) == brute_force_strength(live, signatures[sequence])


@settings(max_examples=300, deadline=None)
@given(
    bits=st.integers(min_value=0, max_value=63),
    spread=st.integers(min_value=1, max_value=4096),
    size=st.integers(min_value=0, max_value=3000),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_the_radix_order_is_numpys_stable_order(bits: int, spread: int, size: int, seed: int) -> None:
    # A few distinct values (spread) of up to `bits` bits, so that equal values are common and the tie order counts.
    rng = np.random.default_rng(seed)
    distinct = rng.integers(0, 2**bits, size=spread, dtype=np.int64, endpoint=False) if bits else np.zeros(1, np.int64)
    values = rng.choice(distinct, size=size)
    order = band_index._sorting_order(values)
    assert order.dtype == np.intp
    np.testing.assert_array_equal(order, np.argsort(values, kind="stable"))


def test_distinct_values_count_each_value_and_give_its_first_place() -> None:
    values = np.array([7, 3, 7, 2**40, 3, 0, 7, 2**40], dtype=np.int64)
    distinct, places, counts = band_index._distinct(values)
    expected, first_places, expected_counts = np.unique(values, return_index=True, return_counts=True)
    np.testing.assert_array_equal(distinct, expected)
    np.testing.assert_array_equal(places, first_places)
    np.testing.assert_array_equal(counts, expected_counts)

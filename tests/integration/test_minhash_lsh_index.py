from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest

from bench.corpus import generate
from server.adapters.minhash_lsh_index import PASSAGE_THRESHOLD, MinHashLshIndex
from server.domain.deduplicator import Deduplicator, Limits
from server.domain.model import Document, Relation
from server.domain.passages import INDEX_STRIDE, cut_passages
from server.domain.ports import SignatureIndex, Signatures
from server.domain.tokenization import tokenize
from tests.fakes import ExactIndex, MemoryStore
from tests.stories import (
    BRIDGE_COPY,
    BRIDGE_EXCERPT,
    BRIDGE_INDEPENDENT,
    BRIDGE_REWRITE,
    BRIDGE_STORY,
    EXCERPT_ID,
    FLOOD_REPORT,
    FOOTBALL_STORY,
    GARDEN_STORY,
    REWRITE_ID,
    WIRE_ID,
    seed_texts,
)

DEDUP_LIMITS = Limits()


def signed(index: SignatureIndex, text: str) -> Signatures:
    return index.sign(text)


@pytest.fixture
def lsh() -> MinHashLshIndex:
    return MinHashLshIndex()


def test_the_fake_uses_the_same_passage_threshold_as_the_real_index() -> None:
    assert ExactIndex().passage_threshold == PASSAGE_THRESHOLD


def test_a_signature_has_one_uint32_per_permutation_for_the_document_and_each_passage(lsh: MinHashLshIndex) -> None:
    signatures = signed(lsh, BRIDGE_STORY)

    assert len(signatures.document) == 4 * lsh.parameters.num_perm
    assert len(signatures.passages) == len(cut_passages(tokenize(BRIDGE_STORY)))
    assert {len(passage) for passage in signatures.passages} == {4 * lsh.parameters.num_perm}


def screened(lsh: MinHashLshIndex, text: str) -> dict[int, float]:
    return lsh.screen(signed(lsh, text), max_pairs=DEDUP_LIMITS.max_screened_pairs)


def test_a_batch_added_and_screened_in_one_pass_finds_what_screening_one_by_one_finds() -> None:
    # Generated news with planted copies, excerpts and rewrites of the 200 articles before them, so that batches
    # hold sources of their own later documents as well as of later batches'.
    texts = [document.text for document in generate(400, seed=3, pool_size=200)]
    one_by_one, batched = MinHashLshIndex(), MinHashLshIndex()
    signatures = [one_by_one.sign(text) for text in texts]
    expected, found = [], []
    for start in range(0, len(texts), 64):
        batch = range(start, min(start + 64, len(texts)))
        for number in batch:
            expected.append(one_by_one.screen(signatures[number], DEDUP_LIMITS.max_screened_pairs))
            one_by_one.add(number + 1, signatures[number])
        one_by_one.checkpoint()
        documents = [(number + 1, signatures[number]) for number in batch]
        found.extend(batched.add_and_screen(documents, DEDUP_LIMITS.max_screened_pairs))
        batched.checkpoint()

    assert found == expected
    assert sum(1 for closeness in found if closeness) > 50  # the planted reuse was found, within batches and across


def test_an_added_document_is_a_candidate_for_its_copies(lsh: MinHashLshIndex) -> None:
    lsh.add(7, signed(lsh, BRIDGE_STORY))

    assert 7 in screened(lsh, BRIDGE_COPY)
    assert 7 in screened(lsh, BRIDGE_EXCERPT)
    assert 7 in screened(lsh, BRIDGE_REWRITE)
    assert 7 not in screened(lsh, FOOTBALL_STORY)
    assert len(lsh) == 1


def test_a_document_matching_itself_is_fully_close(lsh: MinHashLshIndex) -> None:
    lsh.add(1, signed(lsh, seed_texts()[WIRE_ID]))

    assert screened(lsh, seed_texts()[WIRE_ID]) == {1: 1.0}


def test_a_closer_match_is_a_closer_candidate(lsh: MinHashLshIndex) -> None:
    lsh.add(1, signed(lsh, BRIDGE_STORY))

    copy = screened(lsh, BRIDGE_COPY)[1]
    rewrite = screened(lsh, BRIDGE_REWRITE)[1]

    assert copy > rewrite > PASSAGE_THRESHOLD


def test_a_removed_document_is_no_longer_a_candidate(lsh: MinHashLshIndex) -> None:
    lsh.add(1, signed(lsh, BRIDGE_STORY))
    lsh.add(2, signed(lsh, FOOTBALL_STORY))
    lsh.checkpoint()

    lsh.remove(1)

    assert 1 not in screened(lsh, BRIDGE_STORY)
    assert 2 in screened(lsh, FOOTBALL_STORY)
    assert len(lsh) == 1


def test_removing_an_unknown_document_does_nothing(lsh: MinHashLshIndex) -> None:
    lsh.add(1, signed(lsh, BRIDGE_STORY))

    lsh.remove(99)

    assert len(lsh) == 1


def test_a_replaced_text_leaves_none_of_its_passages_behind(lsh: MinHashLshIndex) -> None:
    long_text = seed_texts()[WIRE_ID]
    lsh.add(1, signed(lsh, long_text))
    lsh.checkpoint()

    # As the deduplicator replaces a text: the old sequence goes, the new text comes under a new one.
    lsh.remove(1)
    lsh.add(2, signed(lsh, FOOTBALL_STORY))

    assert len(lsh) == 1
    assert set(screened(lsh, FOOTBALL_STORY)) == {2}
    assert screened(lsh, long_text) == {}


def test_parameters_record_the_hash_and_the_bands(lsh: MinHashLshIndex) -> None:
    parameters = lsh.parameters

    assert (parameters.num_perm, parameters.hash_scheme, parameters.hash_function) == (128, "affine32", "xxh32")
    assert parameters.passage_threshold == PASSAGE_THRESHOLD
    assert parameters.passage_bands * parameters.passage_rows <= parameters.num_perm


def test_every_document_with_a_half_similar_indexed_passage_is_a_candidate(lsh: MinHashLshIndex) -> None:
    exact = ExactIndex()
    oracle_signatures = {}
    lsh_signatures = {}
    for sequence, text in enumerate(seed_texts().values(), start=1):
        oracle_signatures[sequence] = signed(exact, text)
        lsh_signatures[sequence] = signed(lsh, text)
        exact.add(sequence, oracle_signatures[sequence])
        lsh.add(sequence, lsh_signatures[sequence])

    checked = 0
    for sequence in oracle_signatures:
        pairs = exact.passage_pairs(oracle_signatures[sequence], threshold=0.5)
        # The index stores every other passage (and the last); only those can be found.
        related = {
            stored
            for stored, _, position in pairs
            if position % 2 == 0 or position == len(oracle_signatures[stored].passages) - 1
        }
        hits = lsh.screen(lsh_signatures[sequence], DEDUP_LIMITS.max_screened_pairs)
        assert related <= set(hits), sequence
        checked += len(related - {sequence})
    # The pairs that matter: 000 and 002 each with 001 (both ways), and 000 with 002.
    assert checked >= 6


def test_screening_estimates_the_closest_passage_pair_within_three_standard_errors() -> None:
    texts = [*seed_texts().values(), BRIDGE_STORY, BRIDGE_COPY, BRIDGE_EXCERPT, BRIDGE_REWRITE, FOOTBALL_STORY]
    # The stored side as the index keeps it: every other passage and the last.
    exact = ExactIndex(passage_threshold=0.0)
    lsh = MinHashLshIndex()
    stored = {}
    for sequence, text in enumerate(texts, start=1):
        signatures = signed(exact, text)
        kept = sorted({*range(0, len(signatures.passages), 2), len(signatures.passages) - 1})
        stored[sequence] = Signatures(signatures.document, tuple(signatures.passages[position] for position in kept))
        lsh.add(sequence, signed(lsh, text))
    error = 3 * math.sqrt(0.25 / lsh.parameters.num_perm)
    checked = 0
    for query in texts:
        estimates = screened(lsh, query)
        truths = exact.closeness(signed(exact, query), list(stored.values()))
        for sequence, truth in enumerate(truths, start=1):
            if sequence in estimates:
                # The estimate is for the closest pair that collided, at most the closest pair of all.
                assert estimates[sequence] <= truth + error
                assert estimates[sequence] >= PASSAGE_THRESHOLD - error
            if truth >= 0.5:
                # Such pairs collide in a band almost surely, and the closest of them is measured.
                assert estimates[sequence] >= truth - error
                checked += 1
            if truth < PASSAGE_THRESHOLD - 2 * error:
                assert sequence not in estimates
    assert checked > len(texts)


def test_screening_an_empty_text_or_index_finds_nothing(lsh: MinHashLshIndex) -> None:
    story = signed(lsh, BRIDGE_STORY)

    assert lsh.screen(story, max_pairs=100) == {}
    lsh.add(1, story)
    assert lsh.screen(Signatures(document=story.document, passages=()), max_pairs=100) == {}


def test_the_seeds_trace_to_the_wire_copy_with_the_real_index_too(lsh: MinHashLshIndex) -> None:
    store = MemoryStore()
    deduplicator = Deduplicator(store, lsh)

    deduplicator.ingest([Document(document_id, text) for document_id, text in reversed(seed_texts().items())])

    assert deduplicator.provenance(REWRITE_ID).origin_id == WIRE_ID
    assert deduplicator.provenance(EXCERPT_ID).origin_id == WIRE_ID
    unsuppressed = {
        (link.document_id, link.source_id, link.relation) for link in store.all_links() if not link.suppressed
    }
    assert unsuppressed == {(REWRITE_ID, WIRE_ID, Relation.REWRITE), (EXCERPT_ID, WIRE_ID, Relation.EXCERPT)}


def test_a_finer_screening_stride_signs_extra_windows_for_screening_only() -> None:
    fine = MinHashLshIndex(screening_stride=10)
    default = MinHashLshIndex()

    signatures = fine.sign(FLOOD_REPORT)

    stored = default.sign(FLOOD_REPORT)
    assert (signatures.document, signatures.passages) == (stored.document, stored.passages)
    assert stored.screening == ()
    # 217 words: windows at 0, 10, ... 160 and one ending with the text (167), against 0, 25, ... 150 and 167.
    assert (len(signatures.passages), len(signatures.screening)) == (8, 18)


def test_a_short_reused_run_that_the_passage_windows_miss_is_found_with_a_finer_screening_stride_or_probes() -> None:
    # Forty words of the report, fewer than a window, among sentences on other subjects. Which stored window
    # they meet, and how much of it, depends on where the run falls; here no query window every 25 words shares
    # a band key with one, a window every 10 words does, and so does one every 25 words through a probe key.
    filler = f"{FOOTBALL_STORY} {GARDEN_STORY} {BRIDGE_INDEPENDENT}".split()
    run = FLOOD_REPORT.split()[17:57]
    page = " ".join([*filler[:45], *run, *filler[45:105]])
    found = {}
    for stride, probes in itertools.product((25, 10), (0, 3)):
        index = MinHashLshIndex(screening_stride=stride, probes=probes)
        index.add(1, index.sign(FLOOD_REPORT))
        found[stride, probes] = 1 in index.screen(index.sign(page), max_pairs=20_000)

    assert found == {(25, 0): False, (10, 0): True, (25, 3): True, (10, 3): True}


def test_the_windows_that_screen_carry_second_minima_for_the_banded_values_unless_there_are_no_probes() -> None:
    probing, fine, plain = MinHashLshIndex(), MinHashLshIndex(screening_stride=10), MinHashLshIndex(probes=0)

    signatures = probing.sign(FLOOD_REPORT)

    bands, rows = probing.parameters.passage_bands, probing.parameters.passage_rows
    assert [len(seconds) for seconds in signatures.second_minima] == [4 * bands * rows] * len(signatures.passages)
    # Each second minimum is above its window's minimum: the next smallest value, not the same one again.
    minima = np.frombuffer(b"".join(signatures.passages), dtype=np.uint32).reshape(len(signatures.passages), -1)
    seconds = np.frombuffer(b"".join(signatures.second_minima), dtype=np.uint32).reshape(len(minima), -1)
    assert (seconds > minima[:, : bands * rows]).all()
    assert len(fine.sign(FLOOD_REPORT).second_minima) == len(fine.sign(FLOOD_REPORT).screening) == 18
    unprobed = plain.sign(FLOOD_REPORT)
    assert unprobed.second_minima == ()
    assert (unprobed.document, unprobed.passages) == (signatures.document, signatures.passages)


@pytest.mark.parametrize("probes", [-1, 4])
def test_screening_probes_beyond_a_bands_values_are_refused(probes: int) -> None:
    with pytest.raises(ValueError, match=f"screening_probes must be from 0 \\(no probes\\) to 3 .*got {probes}"):
        MinHashLshIndex(probes=probes)


@pytest.mark.parametrize("stride", [0, 51])
def test_a_screening_stride_outside_a_window_is_refused(stride: int) -> None:
    with pytest.raises(ValueError, match="screening_stride"):
        MinHashLshIndex(screening_stride=stride)


def window_like(query_window: np.ndarray, equal_values: int, rng: np.random.Generator) -> np.ndarray:
    """A random window sharing its first `equal_values` values with `query_window` (its first band among them)."""
    window = rng.integers(0, 2**32, size=query_window.shape, dtype=np.uint32)
    window[:equal_values] = query_window[:equal_values]
    return window


def as_signatures(rows: np.ndarray) -> Signatures:
    return Signatures(document=b"", passages=tuple(row.tobytes() for row in rows))


def test_a_document_below_the_passage_threshold_is_kept_only_when_two_query_passages_are_close_to_it() -> None:
    rng = np.random.default_rng(11)
    index = MinHashLshIndex()
    query = rng.integers(0, 2**32, size=(3, index.parameters.num_perm), dtype=np.uint32)
    unrelated = rng.integers(0, 2**32, size=(1, index.parameters.num_perm), dtype=np.uint32)
    weak = 36  # of 128 values: an estimate of about 0.28, over the floor and under the threshold of 0.3
    index.add(1, as_signatures(np.stack([window_like(query[0], weak, rng), unrelated[0]])))  # one close passage
    index.add(2, as_signatures(np.stack([window_like(query[0], weak, rng), window_like(query[1], weak, rng)])))
    index.add(3, as_signatures(window_like(query[0], weak, rng)[None, :]))  # a single window: nothing to corroborate
    index.add(4, as_signatures(np.stack([window_like(query[0], 80, rng), unrelated[0]])))  # over the threshold

    closeness = index.screen(as_signatures(query), max_pairs=1000)

    assert set(closeness) == {2, 3, 4}
    assert closeness[2] < PASSAGE_THRESHOLD <= closeness[4]
    # A query of one passage has no second one to offer.
    assert set(index.screen(as_signatures(query[:1]), max_pairs=1000)) == {1, 2, 3, 4}


def test_alike_takes_documents_closer_than_four_standard_errors_below_the_threshold_in_any_pair() -> None:
    rng = np.random.default_rng(5)
    index = MinHashLshIndex()
    query = rng.integers(0, 2**32, size=(2, index.parameters.num_perm), dtype=np.uint32)
    unrelated = rng.integers(0, 2**32, size=(1, index.parameters.num_perm), dtype=np.uint32)
    # 20 of 128 values: an estimate of about 0.15, between the floor of `alike` (0.138) and screening's (0.178).
    index.add(1, as_signatures(np.stack([unrelated[0], window_like(query[1], 20, rng)])))
    index.add(2, as_signatures(np.stack([window_like(query[0], 10, rng), unrelated[0]])))  # about 0.07

    assert index.screen(as_signatures(query), max_pairs=1000) == {}
    # Sequence 3 is not stored.
    assert index.alike(as_signatures(query), [1, 2, 3]) == {1}


@pytest.mark.parametrize(("index_stride", "step"), [(INDEX_STRIDE, 2), (25, 1)])
def test_a_stored_document_is_indexed_at_every_passage_its_index_stride_reaches(index_stride: int, step: int) -> None:
    index = MinHashLshIndex(index_stride=index_stride)
    text = seed_texts()[WIRE_ID]
    signatures = index.sign(text)
    passages = len(signatures.passages)
    assert passages > 4

    index.add(1, signatures)

    # Every `step`-th passage, and the last one so that the text's end is indexed too.
    expected = len(set(range(0, passages, step)) | {passages - 1})
    assert len(index._bands._window_sequences) == expected


def test_an_index_saved_with_another_stride_is_rebuilt_from_the_store(tmp_path: Path) -> None:
    texts = {sequence: text for sequence, text in enumerate([BRIDGE_STORY, FLOOD_REPORT, *seed_texts().values()], 1)}
    saved = MinHashLshIndex(directory=tmp_path, save_windows=1)
    for sequence, text in texts.items():
        saved.add(sequence, saved.sign(text))
    saved.checkpoint()

    assert MinHashLshIndex(directory=tmp_path, save_windows=1).restore(set(texts)) == set()
    assert MinHashLshIndex(directory=tmp_path, save_windows=1, index_stride=25).restore(set(texts)) == set(texts)


@pytest.mark.parametrize("index_stride", [0, 10, 75])
def test_an_index_stride_other_than_one_or_two_passages_is_refused(index_stride: int) -> None:
    with pytest.raises(ValueError, match="index_stride must be one of"):
        MinHashLshIndex(index_stride=index_stride)

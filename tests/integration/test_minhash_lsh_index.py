from __future__ import annotations

from collections import Counter

import pytest

from server.adapters.minhash_lsh_index import PASSAGE_THRESHOLD, MinHashLshIndex
from server.domain.comparison import profile_text
from server.domain.deduplicator import Deduplicator
from server.domain.model import Document, Relation
from server.domain.ports import SignatureIndex, Signatures
from tests.fakes import ExactIndex, MemoryStore
from tests.stories import (
    BRIDGE_COPY,
    BRIDGE_EXCERPT,
    BRIDGE_REWRITE,
    BRIDGE_STORY,
    EXCERPT_ID,
    FOOTBALL_STORY,
    REWRITE_ID,
    WIRE_ID,
    seed_texts,
)


def signed(index: SignatureIndex, text: str) -> Signatures:
    profile = profile_text(text)
    return index.sign(profile.shingles, [passage.features for passage in profile.passages])


@pytest.fixture
def lsh() -> MinHashLshIndex:
    return MinHashLshIndex()


def test_the_fake_uses_the_same_passage_threshold_as_the_real_index() -> None:
    assert ExactIndex().passage_threshold == PASSAGE_THRESHOLD


def test_a_signature_has_one_uint32_per_permutation_for_the_document_and_each_passage(lsh: MinHashLshIndex) -> None:
    signatures = signed(lsh, BRIDGE_STORY)

    assert len(signatures.document) == 4 * lsh.parameters.num_perm
    assert len(signatures.passages) == len(profile_text(BRIDGE_STORY).passages)
    assert {len(passage) for passage in signatures.passages} == {4 * lsh.parameters.num_perm}


def test_an_added_document_is_a_candidate_for_its_copies(lsh: MinHashLshIndex) -> None:
    lsh.add("story", signed(lsh, BRIDGE_STORY))

    assert "story" in lsh.candidates(signed(lsh, BRIDGE_COPY))
    assert "story" in lsh.candidates(signed(lsh, BRIDGE_EXCERPT))
    assert "story" in lsh.candidates(signed(lsh, BRIDGE_REWRITE))
    assert "story" not in lsh.candidates(signed(lsh, FOOTBALL_STORY))
    assert len(lsh) == 1


def test_a_document_matching_itself_collides_in_every_band_at_both_levels(lsh: MinHashLshIndex) -> None:
    signatures = signed(lsh, seed_texts()[WIRE_ID])
    lsh.add("wire", signatures)

    strength = lsh.candidates(signatures)

    assert strength == {"wire": 2 * lsh.parameters.passage_bands}


def test_a_closer_match_is_a_stronger_candidate(lsh: MinHashLshIndex) -> None:
    lsh.add("story", signed(lsh, BRIDGE_STORY))

    copy = lsh.candidates(signed(lsh, BRIDGE_COPY))["story"]
    rewrite = lsh.candidates(signed(lsh, BRIDGE_REWRITE))["story"]

    assert copy > rewrite > 0


def test_counting_bands_finds_exactly_the_keys_datasketch_query_finds(lsh: MinHashLshIndex) -> None:
    for document_id, text in seed_texts().items():
        lsh.add(document_id, signed(lsh, text))
    index = lsh._passages
    for text in (seed_texts()[REWRITE_ID], seed_texts()[EXCERPT_ID], BRIDGE_STORY):
        for passage in signed(lsh, text).passages:
            minhash = lsh._minhash(passage)

            assert set(lsh._colliding_bands(minhash)) == set(index.query(minhash))


def test_a_removed_document_is_no_longer_a_candidate(lsh: MinHashLshIndex) -> None:
    lsh.add("story", signed(lsh, BRIDGE_STORY))
    lsh.add("football", signed(lsh, FOOTBALL_STORY))

    lsh.remove("story")

    assert "story" not in lsh.candidates(signed(lsh, BRIDGE_STORY))
    assert "football" in lsh.candidates(signed(lsh, FOOTBALL_STORY))
    assert len(lsh) == 1


def test_removing_an_unknown_document_does_nothing(lsh: MinHashLshIndex) -> None:
    lsh.add("story", signed(lsh, BRIDGE_STORY))

    lsh.remove("never-added")

    assert len(lsh) == 1


def test_adding_an_id_again_replaces_its_signatures(lsh: MinHashLshIndex) -> None:
    long_text = seed_texts()[WIRE_ID]
    lsh.add("doc", signed(lsh, long_text))

    lsh.add("doc", signed(lsh, FOOTBALL_STORY))

    assert len(lsh) == 1
    assert "doc" in lsh.candidates(signed(lsh, FOOTBALL_STORY))
    # None of the old text's many passages is left behind.
    assert "doc" not in lsh.candidates(signed(lsh, long_text))
    lsh.remove("doc")
    assert lsh.candidates(signed(lsh, FOOTBALL_STORY)) == {}


def test_parameters_record_the_hash_and_the_bands(lsh: MinHashLshIndex) -> None:
    parameters = lsh.parameters

    assert (parameters.num_perm, parameters.hash_scheme, parameters.hash_function) == (128, "affine32", "xxh32")
    assert parameters.passage_threshold == PASSAGE_THRESHOLD
    assert parameters.document_bands * parameters.document_rows <= parameters.num_perm
    assert parameters.passage_bands * parameters.passage_rows <= parameters.num_perm


def test_lsh_finds_every_seed_passage_pair_the_exact_oracle_finds_at_half_similarity(lsh: MinHashLshIndex) -> None:
    exact = ExactIndex()
    oracle_signatures = {}
    lsh_signatures = {}
    for document_id, text in seed_texts().items():
        oracle_signatures[document_id] = signed(exact, text)
        lsh_signatures[document_id] = signed(lsh, text)
        exact.add(document_id, oracle_signatures[document_id])
        lsh.add(document_id, lsh_signatures[document_id])

    checked = 0
    for document_id in seed_texts():
        pairs = exact.passage_pairs(oracle_signatures[document_id], threshold=0.5)
        needed = Counter(stored_id for stored_id, _ in {(stored_id, query) for stored_id, query, _ in pairs})
        hits = lsh.candidates(lsh_signatures[document_id])
        for stored_id, query_passages in needed.items():
            # Every query passage with a half-similar stored passage must collide with that document.
            assert hits.get(stored_id, 0) >= query_passages, (document_id, stored_id)
            checked += stored_id != document_id
        assert set(exact.candidates(oracle_signatures[document_id])) <= set(hits)
    # The pairs that matter: 000 and 002 each with 001 (both ways), and 000 with 002.
    assert checked >= 6


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

from __future__ import annotations

import itertools
import math
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from bench.corpus import Kind, Shares, generate
from server.domain import alignment, link_cache, provenance
from server.domain.alignment import SentenceIndex, SentenceWeights
from server.domain.comparison import compare_profiles, profile_text
from server.domain.deduplicator import (
    DEFAULT_MATCH_LIMIT,
    JOBS_PER_SUBMISSION,
    Deduplicator,
    DirectionsUpgrade,
    IndexLoad,
    Limits,
    _Neighbourhood,
    _redecided,
)
from server.domain.errors import (
    DocumentAlreadyExistsError,
    DocumentNotFoundError,
    InvalidDocumentError,
    InvalidRequestError,
)
from server.domain.link_cache import LinkCache
from server.domain.model import (
    Comparison,
    DirectionBasis,
    Document,
    IngestStatus,
    Link,
    Relation,
    StoredDocument,
)
from server.domain.ports import StoreChange
from server.domain.provenance import DIRECTION_RULES_VERSION, decide_directions, decide_suppression
from server.domain.verification import LocalVerifier, TextToCompare, VerificationJob, VerifiedComparisons
from tests.fakes import ExactIndex, MemoryStore, link, turned_back_to_their_texts
from tests.stories import (
    AP_ID,
    BRIDGE_COPY,
    BRIDGE_EXCERPT,
    BRIDGE_INDEPENDENT,
    BRIDGE_REWRITE,
    BRIDGE_STORY,
    EXCERPT_ID,
    FOOTBALL_STORY,
    REWRITE_ID,
    SEED_IDS,
    VOA_ID,
    WIRE_ID,
    seed_texts,
    wire_story_and_its_derivatives,
)

# Three fixed shuffles, picked from the 120 orders so that each puts the wire copy somewhere else.
SHUFFLED_ORDERS = [
    order for position, order in enumerate(itertools.permutations(SEED_IDS)) if position in (17, 58, 101)
]
ORDERS = [SEED_IDS, tuple(reversed(SEED_IDS)), *SHUFFLED_ORDERS]


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def index() -> ExactIndex:
    return ExactIndex()


@pytest.fixture
def deduplicator(store: MemoryStore, index: ExactIndex) -> Deduplicator:
    return Deduplicator(store, index)


@pytest.fixture
def seeded(deduplicator: Deduplicator) -> Deduplicator:
    deduplicator.ingest(seed_documents(SEED_IDS))
    return deduplicator


def seed_documents(order: Sequence[str]) -> list[Document]:
    texts = seed_texts()
    return [Document(document_id, texts[document_id]) for document_id in order]


def pairs(links: Sequence[Link]) -> set[tuple[str, str, Relation]]:
    return {(link.document_id, link.source_id, link.relation) for link in links}


def provenance_links(store: MemoryStore) -> set[tuple[str, str, Relation]]:
    return pairs([link for link in store.all_links() if not link.suppressed])


def assert_seed_provenance(deduplicator: Deduplicator, store: MemoryStore) -> None:
    for derived, relation in ((REWRITE_ID, Relation.REWRITE), (EXCERPT_ID, Relation.EXCERPT)):
        provenance = deduplicator.provenance(derived)
        assert provenance.origin_id == WIRE_ID, derived
        assert [(link.source_id, link.relation) for link in provenance.origin_chain] == [(WIRE_ID, relation)]
    for origin in (WIRE_ID, VOA_ID, AP_ID):
        assert deduplicator.provenance(origin).origin_id is None, origin
    assert store.links_of(VOA_ID) == []
    assert store.links_of(AP_ID) == []
    assert provenance_links(store) == {(REWRITE_ID, WIRE_ID, Relation.REWRITE), (EXCERPT_ID, WIRE_ID, Relation.EXCERPT)}


@pytest.mark.parametrize("order", ORDERS, ids=lambda order: "-".join(document_id[:3] for document_id in order))
def test_seeds_ingested_one_by_one_trace_to_the_wire_copy_in_any_order(
    order: tuple[str, ...], deduplicator: Deduplicator, store: MemoryStore
) -> None:
    for document in seed_documents(order):
        (result,) = deduplicator.ingest([document])
        assert result.status is IngestStatus.CREATED

    assert_seed_provenance(deduplicator, store)


class SubmissionRecordingVerifier(LocalVerifier):
    """Records, for each submission, how many jobs it held and how many documents were indexed by then."""

    def __init__(self, index: ExactIndex) -> None:
        super().__init__()
        self.index = index
        self.submissions: list[tuple[int, int]] = []

    def submit(self, jobs: Sequence[VerificationJob]) -> VerifiedComparisons:
        self.submissions.append((len(jobs), len(self.index)))
        return super().submit(jobs)


def test_a_batch_is_screened_in_one_pass_then_hands_its_jobs_to_the_verifier_a_few_at_a_time(
    store: MemoryStore,
) -> None:
    index = ExactIndex()
    verifier = SubmissionRecordingVerifier(index)
    copies = [Document(f"copy-{number}", BRIDGE_STORY + f" Reported by desk {number}.") for number in range(11)]

    results = Deduplicator(store, index, verifier=verifier).ingest([Document("bridge", BRIDGE_STORY), *copies])

    # Every copy has the earlier documents as candidates: 11 jobs, handed over 4, 4 and 3 at a time, all after
    # the whole batch was indexed and screened.
    assert [jobs for jobs, _ in verifier.submissions] == [JOBS_PER_SUBMISSION, JOBS_PER_SUBMISSION, 3]
    assert [indexed for _, indexed in verifier.submissions] == [12, 12, 12]
    assert all(result.links for result in results[1:])


@pytest.mark.parametrize("order", ORDERS, ids=lambda order: "-".join(document_id[:3] for document_id in order))
def test_seeds_ingested_in_one_batch_trace_to_the_wire_copy_in_any_order(
    order: tuple[str, ...], deduplicator: Deduplicator, store: MemoryStore
) -> None:
    results = deduplicator.ingest(seed_documents(order))

    assert [result.document_id for result in results] == list(order)
    assert {result.status for result in results} == {IngestStatus.CREATED}
    assert_seed_provenance(deduplicator, store)


def test_the_rewrite_and_the_excerpt_are_siblings_not_source_and_copy(seeded: Deduplicator, store: MemoryStore) -> None:
    (sibling,) = [link for link in store.all_links() if {link.document_id, link.source_id} == {REWRITE_ID, EXCERPT_ID}]

    assert sibling.suppressed
    assert EXCERPT_ID not in {link.other(REWRITE_ID) for link in seeded.provenance(REWRITE_ID).derivatives}


def test_the_seed_cluster_has_the_wire_copy_as_origin(seeded: Deduplicator) -> None:
    cluster = seeded.cluster(EXCERPT_ID)

    assert cluster.origin_id == WIRE_ID
    assert [(m.document_id, m.relation, m.source_id, m.depth) for m in cluster.members] == [
        (WIRE_ID, None, None, 0),
        (REWRITE_ID, Relation.REWRITE, WIRE_ID, 1),
        (EXCERPT_ID, Relation.EXCERPT, WIRE_ID, 1),
    ]
    assert [m.document_id for m in seeded.cluster(VOA_ID).members] == [VOA_ID]


def test_ingest_results_carry_the_links_of_each_document(deduplicator: Deduplicator) -> None:
    results = {result.document_id: result for result in deduplicator.ingest(seed_documents(SEED_IDS))}

    assert pairs(results[REWRITE_ID].links) == {(REWRITE_ID, WIRE_ID, Relation.REWRITE)}
    assert pairs(results[EXCERPT_ID].links) == {(EXCERPT_ID, WIRE_ID, Relation.EXCERPT)}
    assert pairs(results[WIRE_ID].links) == {
        (REWRITE_ID, WIRE_ID, Relation.REWRITE),
        (EXCERPT_ID, WIRE_ID, Relation.EXCERPT),
    }
    assert results[VOA_ID].links == ()


def test_stats_count_documents_passages_and_provenance_links(seeded: Deduplicator, index: ExactIndex) -> None:
    stats = seeded.stats()

    assert stats.document_count == 5
    assert stats.link_count == 2
    assert stats.passage_count > 5 * 2
    assert stats.index_parameters == index.parameters
    assert stats.store_bytes > 0
    assert stats.max_batch_documents == seeded.limits.max_batch_documents


def test_ingesting_the_same_documents_again_changes_nothing(seeded: Deduplicator, store: MemoryStore) -> None:
    counts, changes, links = store.counts(), len(store.applied), store.all_links()

    results = seeded.ingest(seed_documents(SEED_IDS))

    assert {result.status for result in results} == {IngestStatus.UNCHANGED}
    assert pairs(results[1].links) == {(REWRITE_ID, WIRE_ID, Relation.REWRITE), (EXCERPT_ID, WIRE_ID, Relation.EXCERPT)}
    assert store.counts() == counts
    assert len(store.applied) == changes
    assert store.all_links() == links


def test_the_same_text_with_replace_is_still_unchanged(seeded: Deduplicator, store: MemoryStore) -> None:
    sequence = store.last_sequence()

    (result,) = seeded.ingest(seed_documents([WIRE_ID]), replace=True)

    assert result.status is IngestStatus.UNCHANGED
    assert store.last_sequence() == sequence


def test_a_reused_id_with_another_text_is_already_exists(seeded: Deduplicator, store: MemoryStore) -> None:
    with pytest.raises(DocumentAlreadyExistsError, match="replace"):
        seeded.ingest([Document(WIRE_ID, BRIDGE_STORY)])

    stored = store.get_document(WIRE_ID)
    assert stored is not None
    assert stored.document.text == seed_texts()[WIRE_ID]


def test_a_reused_id_in_a_batch_is_rejected_and_the_rest_is_stored(seeded: Deduplicator, store: MemoryStore) -> None:
    results = seeded.ingest([Document(WIRE_ID, BRIDGE_STORY), Document("bridge", BRIDGE_STORY)])

    assert [result.status for result in results] == [IngestStatus.REJECTED, IngestStatus.CREATED]
    assert isinstance(results[0].error, DocumentAlreadyExistsError)
    assert store.get_document("bridge") is not None


def test_replacing_a_document_re_decides_its_links(seeded: Deduplicator, store: MemoryStore) -> None:
    (result,) = seeded.ingest([Document(EXCERPT_ID, BRIDGE_EXCERPT)], replace=True)

    assert result.status is IngestStatus.REPLACED
    assert result.links == ()
    assert store.links_of(EXCERPT_ID) == []
    assert seeded.provenance(EXCERPT_ID).origin_id is None
    assert provenance_links(store) == {(REWRITE_ID, WIRE_ID, Relation.REWRITE)}
    stored = store.get_document(EXCERPT_ID)
    assert stored is not None
    assert stored.document.text == BRIDGE_EXCERPT
    assert stored.sequence == store.last_sequence()


def test_a_replaced_document_is_found_by_its_new_text_only(seeded: Deduplicator) -> None:
    seeded.ingest([Document("bridge", BRIDGE_STORY)])

    seeded.ingest([Document(EXCERPT_ID, BRIDGE_EXCERPT)], replace=True)

    assert [match.document_id for match in seeded.find_similar(document_id=EXCERPT_ID)] == ["bridge"]
    assert EXCERPT_ID not in {match.document_id for match in seeded.find_similar(document_id=WIRE_ID)}


def test_replacing_the_common_source_with_other_text_frees_its_copies_as_deleting_it_does(
    seeded: Deduplicator, store: MemoryStore
) -> None:
    # Without 001's text, 002's reworded passages of 000 are no longer explained by a common source.
    seeded.ingest([Document(WIRE_ID, FOOTBALL_STORY)], replace=True)

    assert store.links_of(WIRE_ID) == []
    assert provenance_links(store) == {(EXCERPT_ID, REWRITE_ID, Relation.REWRITE)}
    assert seeded.provenance(EXCERPT_ID).origin_id == REWRITE_ID


def test_replace_on_an_unknown_id_creates_the_document(deduplicator: Deduplicator) -> None:
    (result,) = deduplicator.ingest([Document("new", BRIDGE_STORY)], replace=True)

    assert result.status is IngestStatus.CREATED


def test_a_bad_document_in_a_batch_is_rejected_and_the_good_ones_are_created(
    deduplicator: Deduplicator, store: MemoryStore
) -> None:
    results = deduplicator.ingest(
        [Document("story", BRIDGE_STORY), Document("empty", "   "), Document("copy", BRIDGE_COPY)]
    )

    assert [result.status for result in results] == [IngestStatus.CREATED, IngestStatus.REJECTED, IngestStatus.CREATED]
    assert isinstance(results[1].error, InvalidDocumentError)
    assert "documents[1].text" in str(results[1].error)
    assert store.get_document("empty") is None
    assert store.counts()[0] == 2
    assert pairs(results[2].links) == {("copy", "story", Relation.DUPLICATE)}


def test_a_batch_where_every_document_is_rejected_raises_the_first_error(
    deduplicator: Deduplicator, store: MemoryStore
) -> None:
    with pytest.raises(InvalidDocumentError, match=r"documents\[0\]\.text.*1 more"):
        deduplicator.ingest([Document("a", ""), Document("b", "!!!")])

    assert store.counts() == (0, 0, 0)
    assert store.applied == []


def test_an_unchanged_document_beside_rejected_ones_does_not_raise(seeded: Deduplicator) -> None:
    results = seeded.ingest([*seed_documents([VOA_ID]), Document("empty", "")])

    assert [result.status for result in results] == [IngestStatus.UNCHANGED, IngestStatus.REJECTED]


def test_an_id_twice_in_one_batch_rejects_the_second(deduplicator: Deduplicator, store: MemoryStore) -> None:
    results = deduplicator.ingest([Document("twice", BRIDGE_STORY), Document("twice", FOOTBALL_STORY)])

    assert [result.status for result in results] == [IngestStatus.CREATED, IngestStatus.REJECTED]
    assert isinstance(results[1].error, InvalidDocumentError)
    assert "more than once" in str(results[1].error)
    stored = store.get_document("twice")
    assert stored is not None
    assert stored.document.text == BRIDGE_STORY


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (Document("", BRIDGE_STORY), "empty"),
        (Document("   ", BRIDGE_STORY), "empty"),
        (Document("x" * 257, BRIDGE_STORY), "at most 256"),
        (Document("line\nbreak", BRIDGE_STORY), "control characters"),
        (Document("nul\x00id", BRIDGE_STORY), "control characters"),
        (Document("bell\x07", BRIDGE_STORY), "control characters"),
        (Document("empty-text", ""), "empty"),
        (Document("blank-text", " \n\t "), "empty"),
        (Document("punctuation", "... --- !!! ??? ***"), "no content words"),
        (Document("too-long", "word " * 1000), "bytes"),
        (Document("too-long-in-utf8", "é" * 1000), "2000 bytes"),
    ],
)
def test_a_document_that_cannot_be_stored_is_invalid(document: Document, message: str, store: MemoryStore) -> None:
    deduplicator = Deduplicator(store, ExactIndex(), Limits(max_text_bytes=1500))

    with pytest.raises(InvalidDocumentError, match=message):
        deduplicator.ingest([document])

    assert store.counts() == (0, 0, 0)


def test_an_id_of_the_maximum_length_and_unicode_ids_are_accepted(deduplicator: Deduplicator) -> None:
    ids = ["x" * 256, "Ｍｏｓｕｌ-記事-№1", "with space"]

    results = deduplicator.ingest([Document(document_id, BRIDGE_STORY + document_id) for document_id in ids])

    assert [result.status for result in results] == [IngestStatus.CREATED] * 3
    assert [deduplicator.get_document(document_id).document.id for document_id in ids] == ids


def test_a_text_of_exactly_the_size_limit_is_accepted(store: MemoryStore) -> None:
    text = FOOTBALL_STORY
    deduplicator = Deduplicator(store, ExactIndex(), Limits(max_text_bytes=len(text.encode())))

    (result,) = deduplicator.ingest([Document("exact", text)])

    assert result.status is IngestStatus.CREATED


def test_a_batch_over_the_limit_is_an_invalid_request(store: MemoryStore) -> None:
    deduplicator = Deduplicator(store, ExactIndex(), Limits(max_batch_documents=2))

    with pytest.raises(InvalidRequestError, match="at most 2"):
        deduplicator.ingest([Document(f"d{index}", BRIDGE_STORY) for index in range(3)])

    assert store.counts() == (0, 0, 0)


def test_an_empty_batch_is_an_invalid_request(deduplicator: Deduplicator) -> None:
    with pytest.raises(InvalidRequestError, match="empty"):
        deduplicator.ingest([])


PREFACES = (
    "Readers in the valley wrote to us about traffic this week.",
    "Our morning briefing brings the news from the coast today.",
    "This page collects regional reports for commuters and families.",
    "Subscribers asked about road works, and here is the latest.",
    "The harbour district newsletter shares this report from the wires.",
    "Evening edition: stories that matter to people along the estuary.",
)


def test_a_new_copy_of_a_much_copied_story_re_decides_only_its_own_links(
    deduplicator: Deduplicator, store: MemoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    deduplicator.ingest([Document("wire", BRIDGE_STORY)])
    for number, preface in enumerate(PREFACES[:-1]):
        deduplicator.ingest([Document(f"copy-{number}", f"{preface} {BRIDGE_STORY}")])
    decided: list[Link] = []

    def spy(links: Sequence[Link], links_of: provenance.LinksOf, tallies_of: provenance.TalliesOf) -> list[Link]:
        decided.extend(links)
        return decide_directions(links, links_of, tallies_of)

    monkeypatch.setattr("server.domain.deduplicator.decide_directions", spy)
    links_before = {(link.document_id, link.source_id): link for link in store.all_links()}

    deduplicator.ingest([Document("copy-new", f"{PREFACES[-1]} {BRIDGE_STORY}")])

    # The wire story and the five copies before share the same stretch of text with the new copy: their
    # links to each other are settled, and only the new copy's links (to all six) are decided.
    assert sorted(link.other("copy-new") for link in decided) == [*(f"copy-{n}" for n in range(5)), "wire"]
    # Every pair of the six was linked before, and none of those links changed.
    assert len(links_before) == 15
    links_after = {(link.document_id, link.source_id): link for link in store.all_links()}
    assert {key: links_after.get(key) for key in links_before} == links_before


def test_deleting_the_wire_copy_removes_its_links_and_frees_the_siblings(
    seeded: Deduplicator, store: MemoryStore, index: ExactIndex
) -> None:
    affected = seeded.delete_document(WIRE_ID)

    assert affected == [REWRITE_ID, EXCERPT_ID]
    assert store.get_document(WIRE_ID) is None
    assert store.links_of(WIRE_ID) == []
    assert len(index) == 4
    # With the common source gone, the reworded text 002 shares with 000 is explained by nothing else.
    assert provenance_links(store) == {(EXCERPT_ID, REWRITE_ID, Relation.REWRITE)}
    assert seeded.provenance(EXCERPT_ID).origin_id == REWRITE_ID
    assert seeded.provenance(REWRITE_ID).origin_id is None
    assert store.counts()[0::2] == (4, 1)
    assert WIRE_ID not in {match.document_id for match in seeded.find_similar(document_id=REWRITE_ID)}


def test_a_deleted_wire_copy_ingested_again_becomes_the_source_again(seeded: Deduplicator, store: MemoryStore) -> None:
    seeded.delete_document(WIRE_ID)

    seeded.ingest(seed_documents([WIRE_ID]))

    assert_seed_provenance(seeded, store)


def compilation_texts() -> dict[str, str]:
    """Return four short pages and an essay stitched from all four of them, whole."""
    originals = generate(4, seed=3, shares=Shares(original=1.0, copy=0.0, excerpt=0.0, rewrite=0.0))
    pages = {f"page-{n}": "\n\n".join(original.text.split("\n\n")[2:4]) for n, original in enumerate(originals)}
    return {"essay": "\n\n".join(pages.values()), **pages}


COMPILATION_ORDERS = [("essay", *(f"page-{n}" for n in range(4))), (*(f"page-{n}" for n in range(4)), "essay")]
COMPILATION_ORDERS.append(("page-2", "essay", "page-0", "page-3", "page-1"))


@pytest.mark.parametrize("order", COMPILATION_ORDERS, ids="-".join)
def test_an_essay_stitched_from_four_pages_derives_from_each_in_any_order(
    order: tuple[str, ...], deduplicator: Deduplicator, store: MemoryStore
) -> None:
    texts = compilation_texts()
    # Each page lies whole inside the essay, so the two texts alone call the page the excerpt.
    essay, page = profile_text(texts["essay"]), profile_text(texts["page-0"])
    comparison = compare_profiles(essay, page)
    assert comparison is not None
    assert (comparison.a_is_derived, comparison.basis) == (False, DirectionBasis.CONTAINMENT)

    for document_id in order:
        deduplicator.ingest([Document(document_id, texts[document_id])])

    assert {(link.document_id, link.source_id, link.basis) for link in store.all_links()} == {
        ("essay", f"page-{n}", DirectionBasis.COMPILATION) for n in range(4)
    }
    assert deduplicator.provenance("essay").origin_id is not None
    assert deduplicator.provenance("page-0").origin_id is None


def test_when_the_other_pages_go_the_essay_links_point_the_way_their_texts_say(
    deduplicator: Deduplicator, store: MemoryStore
) -> None:
    deduplicator.ingest([Document(document_id, text) for document_id, text in compilation_texts().items()])

    deduplicator.delete_document("page-1")
    deduplicator.delete_document("page-2")

    assert {(link.document_id, link.source_id, link.basis, link.pairwise) for link in store.all_links()} == {
        ("page-0", "essay", DirectionBasis.CONTAINMENT, None),
        ("page-3", "essay", DirectionBasis.CONTAINMENT, None),
    }


# Seed 1's story has 671 words, and its excerpts quote part of it; seed 8's has 197, and they quote all of it.
@pytest.mark.parametrize("seed", [1, 8], ids=["long-story", "short-story"])
@pytest.mark.parametrize("shuffled", [False, True], ids=["story-first", "shuffled"])
def test_an_undated_story_reprinted_and_excerpted_is_the_origin_of_every_derivative(
    seed: int, shuffled: bool, deduplicator: Deduplicator
) -> None:
    generated = wire_story_and_its_derivatives(24, seed)
    kinds = {document.id: document.kind for document in generated}
    made = Counter(kinds.values())
    assert made[Kind.COPY] >= 4
    assert made[Kind.EXCERPT] >= 5
    if shuffled:
        random.Random(3).shuffle(generated)  # noqa: S311 - a test order, not a secret

    for document in generated:
        deduplicator.ingest([Document(document.id, document.text)])

    # Each excerpt's text alone calls it the excerpt, but the story shares so many of its parts with other
    # pages that it read as their compilation; the pages that reprint it whole say which text came first. A
    # short story lies whole inside each page that quotes it, and the texts alone call it the page's excerpt;
    # the several pages that each hold it among text of their own say which text came first.
    origins = {deduplicator.provenance(id_).origin_id or id_ for id_ in kinds}
    assert len(origins) == 1
    if shuffled:
        # Without dates nothing tells the story from a reprint of it ingested before it: either may be the origin.
        assert kinds[origins.pop()] in (Kind.ORIGINAL, Kind.COPY)
    else:
        assert origins == {generated[0].id}


def origins_of(deduplicator: Deduplicator, ids: Sequence[str]) -> set[str]:
    return {deduplicator.provenance(id_).origin_id or id_ for id_ in ids}


def test_links_decided_under_older_direction_rules_are_decided_again(
    deduplicator: Deduplicator, store: MemoryStore, index: ExactIndex
) -> None:
    generated = wire_story_and_its_derivatives(24, seed=8)
    ids = [document.id for document in generated]
    deduplicator.ingest([Document(document.id, document.text) for document in generated])
    decided = {(link.document_id, link.source_id, link.basis, link.suppressed) for link in store.all_links()}
    assert origins_of(deduplicator, ids) == {ids[0]}
    # A store written by a server whose rules turned none of these links: the short story reads as an excerpt.
    store.apply(StoreChange(upserted_links=turned_back_to_their_texts(store.all_links())))
    store.save_direction_rules_version(1)
    # Opened by a newer server, as a store is: no server but the one holding its directory writes to it.
    deduplicator = Deduplicator(store, index)
    assert origins_of(deduplicator, ids) != {ids[0]}

    upgrade = deduplicator.upgrade_directions()

    assert (upgrade.from_version, upgrade.documents) == (1, len(ids))
    assert upgrade.changed > 0
    assert {(link.document_id, link.source_id, link.basis, link.suppressed) for link in store.all_links()} == decided
    assert origins_of(deduplicator, ids) == {ids[0]}
    assert store.direction_rules_version() == DIRECTION_RULES_VERSION


def test_sibling_links_decided_under_older_rules_are_decided_again_and_nothing_else_is_read(
    deduplicator: Deduplicator, store: MemoryStore
) -> None:
    # x copies y word for word, and z, a source of both, holds that text reworded: version 2 called x and y siblings.
    x_from_y = link("x", "y", (200, 1000, 0, 800), relation=Relation.EXCERPT, suppressed=True)
    x_from_z = link("x", "z", (0, 1000, 0, 1000), relation=Relation.REWRITE)
    y_from_z = link("y", "z", (0, 800, 200, 1000), relation=Relation.REWRITE)
    store.apply(StoreChange(upserted_links=[x_from_y, x_from_z, y_from_z]))
    store.save_direction_rules_version(2)

    upgrade = deduplicator.upgrade_directions()

    # Only x, the derived end of the suppressed copy, is read: version 2 already decided the undated directions.
    assert upgrade == DirectionsUpgrade(2, documents=1, changed=1)
    assert not {one.source_id: one for one in store.links_of("x")}["y"].suppressed
    assert store.direction_rules_version() == DIRECTION_RULES_VERSION


def test_links_decided_under_the_current_direction_rules_are_not_read_again(
    deduplicator: Deduplicator, store: MemoryStore
) -> None:
    generated = wire_story_and_its_derivatives(24, seed=8)
    deduplicator.ingest([Document(document.id, document.text) for document in generated])
    store.apply(StoreChange(upserted_links=turned_back_to_their_texts(store.all_links())))
    store.save_direction_rules_version(DIRECTION_RULES_VERSION)
    links = store.all_links()

    upgrade = deduplicator.upgrade_directions()

    assert upgrade == DirectionsUpgrade(DIRECTION_RULES_VERSION)
    assert store.all_links() == links


def test_a_new_store_records_the_current_direction_rules(deduplicator: Deduplicator, store: MemoryStore) -> None:
    assert deduplicator.upgrade_directions() == DirectionsUpgrade(1)
    assert store.direction_rules_version() == DIRECTION_RULES_VERSION


def test_a_store_decided_under_newer_direction_rules_is_refused(deduplicator: Deduplicator, store: MemoryStore) -> None:
    store.save_direction_rules_version(DIRECTION_RULES_VERSION + 1)

    with pytest.raises(ValueError, match=f"version {DIRECTION_RULES_VERSION + 1}, newer than this server's"):
        deduplicator.upgrade_directions()


def test_deleting_a_document_without_links_affects_nobody(seeded: Deduplicator, store: MemoryStore) -> None:
    assert seeded.delete_document(VOA_ID) == []
    assert store.counts()[0::2] == (4, 2)


def test_deleting_an_unknown_id_is_not_found(seeded: Deduplicator) -> None:
    with pytest.raises(DocumentNotFoundError, match="no-such-id"):
        seeded.delete_document("no-such-id")


def test_deleting_twice_is_not_found_the_second_time(seeded: Deduplicator) -> None:
    seeded.delete_document(AP_ID)

    with pytest.raises(DocumentNotFoundError):
        seeded.delete_document(AP_ID)


@pytest.mark.parametrize(
    "call",
    [
        lambda d: d.get_document("missing"),
        lambda d: d.provenance("missing"),
        lambda d: d.cluster("missing"),
        lambda d: d.find_similar(document_id="missing"),
    ],
    ids=["get_document", "provenance", "cluster", "find_similar"],
)
def test_asking_about_an_unknown_id_is_not_found(seeded: Deduplicator, call: Callable[[Deduplicator], object]) -> None:
    with pytest.raises(DocumentNotFoundError):
        call(seeded)


def test_similar_documents_of_the_wire_copy_are_its_copies_best_first(seeded: Deduplicator) -> None:
    matches = seeded.find_similar(document_id=WIRE_ID)

    assert [match.document_id for match in matches] == [REWRITE_ID, EXCERPT_ID]
    assert matches[0].comparison.score >= matches[1].comparison.score
    assert [match.comparison.relation for match in matches] == [Relation.REWRITE, Relation.EXCERPT]
    # Seen from the query, the wire copy is the source of both.
    assert not any(match.comparison.a_is_derived for match in matches)


def test_a_document_is_not_similar_to_itself(seeded: Deduplicator) -> None:
    assert VOA_ID not in {match.document_id for match in seeded.find_similar(document_id=VOA_ID)}


def seen_alike(comparison: Comparison) -> Comparison:
    # Seen from the other end, a comparison's spans come back sorted; their order carries nothing.
    return replace(comparison, spans=tuple(sorted(comparison.spans)))


def test_a_stored_documents_matches_are_what_comparing_it_with_every_other_stored_text_finds(
    deduplicator: Deduplicator, store: MemoryStore
) -> None:
    deduplicator.ingest(
        [*seed_documents(SEED_IDS), Document("bridge", BRIDGE_STORY), Document("copy", BRIDGE_COPY),
         Document("excerpt", BRIDGE_EXCERPT), Document("football", FOOTBALL_STORY)]
    )  # fmt: skip
    stored = [store.get_document(document_id) for document_id in store.ids_of(store.sequences()).values()]
    profiles = {
        item.document.id: profile_text(item.document.text, item.document, item.sequence)
        for item in stored
        if item is not None
    }

    for query_id, query in profiles.items():
        expected = {
            other_id: seen_alike(comparison)
            for other_id, other in profiles.items()
            if other_id != query_id and (comparison := compare_profiles(query, other)) is not None
        }
        matches = deduplicator.find_similar(document_id=query_id, limit=100)
        assert {match.document_id: seen_alike(match.comparison) for match in matches} == expected, query_id
    # The oracle is not empty: the wire copy, the bridge story and their copies all have matches.
    assert all(deduplicator.find_similar(document_id=query_id) for query_id in (WIRE_ID, "bridge", "copy"))


class FailingVerifier(LocalVerifier):
    def verify(self, jobs: Sequence[VerificationJob]) -> list[list[Comparison | None]]:
        raise AssertionError("this query must not verify anything")


def test_a_query_by_id_reads_no_text_and_verifies_nothing() -> None:
    store = ReadCountingStore()
    Deduplicator(store, ExactIndex()).ingest(seed_documents(SEED_IDS))
    store.texts_read.clear()

    matches = Deduplicator(store, ExactIndex(), verifier=FailingVerifier()).find_similar(document_id=WIRE_ID)

    assert [match.document_id for match in matches] == [REWRITE_ID, EXCERPT_ID]
    assert store.texts_read == []


def test_siblings_are_similar_to_each_other_though_neither_is_the_others_source(
    seeded: Deduplicator, store: MemoryStore
) -> None:
    # The rewrite and the excerpt share text only because both took it from the wire copy.
    assert {(link.document_id, link.source_id) for link in store.all_links() if link.suppressed} == {
        (EXCERPT_ID, REWRITE_ID)
    }

    matches = {match.document_id: match.comparison for match in seeded.find_similar(document_id=REWRITE_ID)}

    assert set(matches) == {WIRE_ID, EXCERPT_ID}
    assert matches[WIRE_ID].a_is_derived
    assert not matches[EXCERPT_ID].a_is_derived


def test_similar_documents_of_a_text_are_found_and_nothing_is_stored(seeded: Deduplicator, store: MemoryStore) -> None:
    seeded.ingest([Document("bridge", BRIDGE_STORY)])
    counts, changes, sequence = store.counts(), len(store.applied), store.last_sequence()

    matches = seeded.find_similar(text=BRIDGE_EXCERPT)

    assert [match.document_id for match in matches] == ["bridge"]
    assert matches[0].comparison.relation is Relation.EXCERPT
    assert matches[0].comparison.a_is_derived
    assert (store.counts(), len(store.applied), store.last_sequence()) == (counts, changes, sequence)


def test_a_text_query_for_a_stored_text_finds_it_as_a_duplicate(seeded: Deduplicator) -> None:
    matches = seeded.find_similar(text=seed_texts()[WIRE_ID])

    assert matches[0].document_id == WIRE_ID
    assert matches[0].comparison.relation is Relation.DUPLICATE
    assert matches[0].comparison.basis is DirectionBasis.INGEST_ORDER


def test_a_text_query_on_an_unrelated_subject_finds_nothing(seeded: Deduplicator) -> None:
    assert seeded.find_similar(text=BRIDGE_INDEPENDENT) == []


def test_a_text_that_shares_no_passage_with_the_store_is_not_verified(store: MemoryStore, index: ExactIndex) -> None:
    Deduplicator(store, index).ingest(seed_documents(SEED_IDS))

    assert Deduplicator(store, index, verifier=FailingVerifier()).find_similar(text=FOOTBALL_STORY) == []


def test_the_match_limit_caps_the_answer(seeded: Deduplicator) -> None:
    assert len(seeded.find_similar(document_id=WIRE_ID, limit=1)) == 1


def test_a_zero_limit_means_the_default(deduplicator: Deduplicator) -> None:
    deduplicator.ingest([Document(f"copy{index:02}", BRIDGE_STORY) for index in range(DEFAULT_MATCH_LIMIT + 2)])

    assert len(deduplicator.find_similar(text=BRIDGE_STORY, limit=0)) == DEFAULT_MATCH_LIMIT
    assert len(deduplicator.find_similar(text=BRIDGE_STORY, limit=DEFAULT_MATCH_LIMIT + 2)) == DEFAULT_MATCH_LIMIT + 2


def test_min_score_drops_weaker_matches(seeded: Deduplicator) -> None:
    scores = {match.document_id: match.comparison.score for match in seeded.find_similar(document_id=WIRE_ID)}
    threshold = (scores[REWRITE_ID] + scores[EXCERPT_ID]) / 2

    matches = seeded.find_similar(document_id=WIRE_ID, min_score=threshold)

    assert [match.document_id for match in matches] == [max(scores, key=scores.__getitem__)]


@pytest.mark.parametrize("limit", [-1, 1001])
def test_a_limit_out_of_range_is_an_invalid_request(seeded: Deduplicator, limit: int) -> None:
    with pytest.raises(InvalidRequestError, match="limit"):
        seeded.find_similar(document_id=WIRE_ID, limit=limit)


@pytest.mark.parametrize("min_score", [-0.1, 1.5, math.nan, math.inf])
def test_a_min_score_out_of_range_is_an_invalid_request(seeded: Deduplicator, min_score: float) -> None:
    with pytest.raises(InvalidRequestError, match="min_score"):
        seeded.find_similar(document_id=WIRE_ID, min_score=min_score)


def test_a_query_with_both_or_neither_of_id_and_text_is_an_invalid_request(seeded: Deduplicator) -> None:
    with pytest.raises(InvalidRequestError, match="exactly one"):
        seeded.find_similar()
    with pytest.raises(InvalidRequestError, match="exactly one"):
        seeded.find_similar(document_id=WIRE_ID, text=BRIDGE_STORY)


@pytest.mark.parametrize("text", ["", "   ", "?!"])
def test_an_empty_or_wordless_text_query_is_an_invalid_request(seeded: Deduplicator, text: str) -> None:
    with pytest.raises(InvalidRequestError, match="text"):
        seeded.find_similar(text=text)


def test_an_empty_id_query_is_an_invalid_request_not_a_lookup(seeded: Deduplicator) -> None:
    with pytest.raises(InvalidRequestError, match="document_id"):
        seeded.find_similar(document_id="")


def test_compare_classifies_and_stores_nothing(deduplicator: Deduplicator, store: MemoryStore) -> None:
    comparison = deduplicator.compare(BRIDGE_EXCERPT, BRIDGE_STORY)

    assert comparison is not None
    assert comparison.relation is Relation.EXCERPT
    assert comparison.a_is_derived
    assert store.applied == []
    assert store.counts() == (0, 0, 0)


def test_compare_of_unrelated_texts_is_none(deduplicator: Deduplicator) -> None:
    assert deduplicator.compare(BRIDGE_STORY, FOOTBALL_STORY) is None


def test_compare_of_identical_texts_takes_text_b_as_the_source(deduplicator: Deduplicator) -> None:
    comparison = deduplicator.compare(BRIDGE_STORY, BRIDGE_STORY)

    assert comparison is not None
    assert comparison.relation is Relation.DUPLICATE
    assert comparison.a_is_derived
    assert comparison.basis is DirectionBasis.INGEST_ORDER


class RecordingVerifier(LocalVerifier):
    def __init__(self) -> None:
        super().__init__()
        self.jobs: list[VerificationJob] = []

    def verify(self, jobs: Sequence[VerificationJob]) -> list[list[Comparison | None]]:
        self.jobs.extend(jobs)
        return super().verify(jobs)


def test_compare_is_verified_by_the_verifier_with_text_b_as_the_earlier_text(store: MemoryStore) -> None:
    # In the server the verifier runs in worker processes: a Compare uses them, as FindSimilar does.
    verifier = RecordingVerifier()

    comparison = Deduplicator(store, ExactIndex(), verifier=verifier).compare(BRIDGE_EXCERPT, BRIDGE_STORY)

    assert comparison is not None
    assert verifier.jobs == [VerificationJob(TextToCompare(BRIDGE_EXCERPT), (TextToCompare(BRIDGE_STORY, sequence=0),))]


def test_warming_up_a_verifier_runs_its_weigher_and_caches_nothing() -> None:
    calls: list[tuple[int, int]] = []

    def counting_weigher(a: SentenceIndex, b: SentenceIndex) -> SentenceWeights:
        calls.append((a.sentence_count, b.sentence_count))
        return alignment.weigh(a, b)

    verifier = LocalVerifier(weigher=counting_weigher)
    verifier.warm_up()

    assert len(calls) == 1
    assert verifier._profiles == {}


@pytest.mark.parametrize(("text_a", "text_b", "field"), [("", BRIDGE_STORY, "text_a"), (BRIDGE_STORY, "--", "text_b")])
def test_compare_of_an_empty_or_wordless_text_names_the_field(
    deduplicator: Deduplicator, text_a: str, text_b: str, field: str
) -> None:
    with pytest.raises(InvalidRequestError, match=field):
        deduplicator.compare(text_a, text_b)


def test_published_at_makes_a_later_ingested_story_the_source_of_an_earlier_excerpt(
    deduplicator: Deduplicator,
) -> None:
    deduplicator.ingest([Document("excerpt", BRIDGE_EXCERPT, published_at=datetime(2017, 3, 9, tzinfo=UTC))])
    deduplicator.ingest([Document("story", BRIDGE_STORY, published_at=datetime(2017, 3, 8, tzinfo=UTC))])

    provenance = deduplicator.provenance("excerpt")

    assert provenance.origin_id == "story"
    assert provenance.sources[0].basis is DirectionBasis.PUBLISHED_AT


def test_a_story_quoted_in_a_roundup_is_not_traced_to_another_story_the_roundup_quotes(
    deduplicator: Deduplicator,
) -> None:
    # The roundup quotes three sentences of the bridge story and, further on, part of the Mosul excerpt.
    roundup = f"{BRIDGE_EXCERPT} {seed_texts()[EXCERPT_ID][:1500]}"
    deduplicator.ingest([*seed_documents([WIRE_ID]), Document("bridge", BRIDGE_STORY), Document("roundup", roundup)])

    provenance = deduplicator.provenance("bridge")

    # The bridge story shares no text with the Mosul wire copy, so that cannot be where it came from.
    assert provenance.origin_id != WIRE_ID
    assert "bridge" not in {member.document_id for member in deduplicator.cluster(WIRE_ID).members}


def test_a_failing_store_leaves_index_and_store_as_they_were(
    seeded: Deduplicator, store: MemoryStore, index: ExactIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    counts, indexed = store.counts(), len(index)

    def fail(change: StoreChange) -> None:
        raise OSError("disk full")

    with monkeypatch.context() as patch:
        patch.setattr(store, "apply", fail)
        with pytest.raises(OSError, match="disk full"):
            seeded.ingest([Document("bridge", BRIDGE_STORY), Document(EXCERPT_ID, BRIDGE_EXCERPT)], replace=True)

    assert store.counts() == counts
    assert len(index) == indexed
    assert store.get_document("bridge") is None
    # The replaced document's old signatures are back in the index: its copies still find it.
    assert EXCERPT_ID in {match.document_id for match in seeded.find_similar(document_id=WIRE_ID)}
    (result,) = seeded.ingest([Document("bridge", BRIDGE_STORY)])
    assert result.status is IngestStatus.CREATED


def test_a_new_deduplicator_over_the_same_store_loads_the_index(seeded: Deduplicator, store: MemoryStore) -> None:
    fresh_index = ExactIndex()
    restarted = Deduplicator(store, fresh_index)

    # No index was loaded over the store before, so no tokenization version was recorded: the texts are read once.
    assert restarted.load_index() == IndexLoad(5, 5, checked=5)
    assert len(fresh_index) == 5
    assert [match.document_id for match in restarted.find_similar(document_id=WIRE_ID)] == [REWRITE_ID, EXCERPT_ID]


class ReadCountingStore(MemoryStore):
    """A MemoryStore that records whose texts and whose links are read."""

    def __init__(self) -> None:
        super().__init__()
        self.texts_read: list[str] = []
        self.links_read: list[str] = []

    def get_document(self, document_id: str) -> StoredDocument | None:
        self.texts_read.append(document_id)
        return super().get_document(document_id)

    def links_of(self, document_id: str) -> list[Link]:
        self.links_read.append(document_id)
        return super().links_of(document_id)

    def dated_links_of(self, document_id: str) -> list[Link]:
        self.links_read.append(f"dated {document_id}")
        return super().dated_links_of(document_id)


def test_only_the_candidates_the_index_screens_in_are_read_or_aligned() -> None:
    store = ReadCountingStore()
    deduplicator = Deduplicator(store, ExactIndex())
    deduplicator.ingest([Document("football", FOOTBALL_STORY), Document("bridge", BRIDGE_STORY)])
    store.texts_read.clear()

    (result,) = deduplicator.ingest([Document("copy", BRIDGE_COPY)])

    assert pairs(result.links) == {("copy", "bridge", Relation.DUPLICATE)}
    # Ingest looks up its own id; of the two candidates, only the close one's text is read.
    assert sorted(store.texts_read) == ["bridge", "copy"]
    store.texts_read.clear()

    matches = deduplicator.find_similar(text=FOOTBALL_STORY)

    assert [match.document_id for match in matches] == ["football"]
    assert store.texts_read == ["football"]


def test_at_most_the_verification_budget_of_candidates_is_aligned_closest_first(store: MemoryStore) -> None:
    # Every stored document passes this index's screen, with its exact closeness.
    deduplicator = Deduplicator(store, ExactIndex(passage_threshold=0.0), Limits(max_verified_candidates=1))
    deduplicator.ingest([Document("excerpt", BRIDGE_EXCERPT), Document("bridge", BRIDGE_STORY)])

    matches = deduplicator.find_similar(text=BRIDGE_COPY)

    # The copy is closest to the whole story; the excerpt, older and also related, is over the budget.
    assert [match.document_id for match in matches] == ["bridge"]


def test_a_change_that_removes_nothing_reads_no_links_of_the_documents_it_leaves_alone() -> None:
    store = ReadCountingStore()
    store.apply(StoreChange(upserted_links=[link("copy", "wire"), link("gone-copy", "wire")]))
    new_copy = link("new", "wire")
    ingest = _Neighbourhood(LinkCache(store), removed_ids=set(), new_ids={"new"})
    ingest.put(new_copy)

    # Asking what changed at the stored documents reads none of their links: a new document has none stored.
    assert ingest.changed_links_of("copy") == []
    assert ingest.changed_links_of("wire") == [new_copy]
    assert store.links_read == []

    # A change that removes a document finds the links to it wherever it asks.
    delete = _Neighbourhood(LinkCache(store), removed_ids={"gone-copy"})
    assert delete.changed_links_of("wire") == [link("gone-copy", "wire")]
    assert delete.changed_links_of("copy") == []
    assert store.links_read == ["wire", "copy"]


def test_a_story_whose_undated_links_were_read_has_only_its_dated_ones_read_for_all() -> None:
    store = ReadCountingStore()
    dated = replace(link("copy", "wire"), basis=DirectionBasis.PUBLISHED_AT)
    undated = [link("excerpt", "wire"), link("wire", "digest")]
    store.apply(StoreChange(upserted_links=[dated, *undated]))
    ingest = _Neighbourhood(LinkCache(store), removed_ids=set(), new_ids={"new"})

    assert sorted(ingest.undated_links_of("wire"), key=str) == sorted(undated, key=str)
    # Each stored link is decoded once: the undated ones are not read again with the rest.
    assert sorted(ingest.links_of("wire"), key=str) == sorted([dated, *undated], key=str)
    assert store.links_read == ["dated wire"]

    # A change that removes a document reads all of them, which is how it finds the links to what it removes.
    delete = _Neighbourhood(LinkCache(store), removed_ids={"digest"})
    delete.undated_links_of("wire")
    assert sorted(delete.links_of("wire"), key=str) == sorted([dated, undated[0]], key=str)
    assert store.links_read == ["dated wire", "wire"]


def test_the_links_of_documents_stored_before_a_batch_are_not_read_again_to_decide_it() -> None:
    store = ReadCountingStore()
    deduplicator = Deduplicator(store, ExactIndex())
    documents = [Document(page.id, page.text) for page in wire_story_and_its_derivatives(12, seed=8)]
    deduplicator.ingest(documents[:7])
    store.links_read.clear()

    deduplicator.ingest(documents[7:])

    # Around an undated story every stored page's links are counted again; they were read for the first batch (a
    # stored page's own, for its result) and kept, with what that batch wrote laid over them.
    assert set(store.links_read) <= {document.id for document in documents[7:]}
    assert origins_of(deduplicator, [document.id for document in documents]) == {documents[0].id}


def test_the_parts_of_documents_stored_before_a_batch_are_counted_up_not_measured_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The pages of this story have at most 23 links: every one is tallied, as a much-copied story's are.
    monkeypatch.setattr(link_cache, "MIN_TALLIED_LINKS", 0)
    deduplicator = Deduplicator(MemoryStore(), ExactIndex())
    documents = [Document(page.id, page.text) for page in wire_story_and_its_derivatives(24, seed=8)]
    deduplicator.ingest(documents[:8])
    deduplicator.ingest(documents[8:16])
    measured_whole: list[str] = []
    parts_once = provenance._parts_once

    def recorded(links_of: provenance.LinksOf) -> provenance.PartsOf:
        parts_of = parts_once(links_of)

        def parts_of_recorded(document_id: str) -> dict[provenance._Part, list[str]]:
            measured_whole.append(document_id)
            return parts_of(document_id)

        return parts_of_recorded

    monkeypatch.setattr(provenance, "_parts_once", recorded)

    deduplicator.ingest(documents[16:])

    # Around an undated story the links of every stored page are decided again. Their parts were tallied when the
    # batches before were decided, and what this one lays over them is counted in: only new pages' parts are
    # measured from all their links.
    assert measured_whole
    assert set(measured_whole) <= {document.id for document in documents[16:]}
    assert origins_of(deduplicator, [document.id for document in documents]) == {documents[0].id}


def links_after_deletes_and_a_replacement_around_a_story() -> list[Link]:
    store = MemoryStore()
    deduplicator = Deduplicator(store, ExactIndex())
    documents = [Document(page.id, page.text) for page in wire_story_and_its_derivatives(24, seed=8)]
    for first in range(0, len(documents), 8):
        deduplicator.ingest(documents[first : first + 8])
    for deleted in (documents[0], documents[5], documents[9]):
        deduplicator.delete_document(deleted.id)
    deduplicator.ingest([replace(documents[12], text=documents[3].text)], replace=True)
    deduplicator.ingest(documents[:1])
    return sorted(store.all_links(), key=str)


def test_links_around_a_story_are_decided_as_without_tallies_when_documents_go(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(link_cache, "MIN_TALLIED_LINKS", 0)
    tallied = links_after_deletes_and_a_replacement_around_a_story()
    monkeypatch.setattr(provenance.TallyView, "of", classmethod(lambda *_: None))

    # A tally counts links in, never out: a change that takes links away decides from all of them.
    assert links_after_deletes_and_a_replacement_around_a_story() == tallied


def test_a_new_dated_copy_reads_none_of_the_links_of_the_story_it_copies() -> None:
    store = ReadCountingStore()
    deduplicator = Deduplicator(store, ExactIndex())
    texts = {"bridge": BRIDGE_STORY, "copy": BRIDGE_COPY, "excerpt": BRIDGE_EXCERPT, "rewrite": BRIDGE_REWRITE}
    for day, (document_id, text) in enumerate(texts.items(), start=1):
        deduplicator.ingest([Document(document_id, text, published_at=datetime(2017, 3, day, tzinfo=UTC))])
    store.links_read.clear()

    (result,) = deduplicator.ingest(
        [Document("copy-2", BRIDGE_COPY + " Reported by our desk.", published_at=datetime(2017, 3, 9, tzinfo=UTC))]
    )

    assert [link.source_id for link in result.links] == ["bridge"]
    # Linked to the earlier copies too, as siblings: they share the story's text.
    assert {"copy", "excerpt"} <= {link.other("copy-2") for link in store.all_links() if "copy-2" in link.ends}
    # Dated links never turn, and a derived text changes no other document's sources: the links of the story
    # and of its copies are not read, however many they are. (The new copy's own are, for its result.)
    assert store.links_read == ["copy-2"]


def test_a_document_that_stops_being_a_source_frees_the_links_it_explained() -> None:
    store = MemoryStore()
    # x and w took the same passage from y, so the link between them is a sibling link.
    before = [link("x", "y", (0, 400, 0, 400)), link("w", "y", (0, 400, 0, 400)), link("x", "w", (0, 400, 0, 400))]
    store.apply(StoreChange(upserted_links=decide_suppression(before, before)))
    assert [stored.suppressed for stored in store.all_links()] == [False, False, True]
    # Three new texts each share another part of y: y is a compilation, and derives from x and w too.
    new_links = [link(f"p{n}", "y", (0, 400, 1000 * n, 1000 * n + 400)) for n in (1, 2, 3)]
    change = _Neighbourhood(LinkCache(store), removed_ids=set(), new_ids={"p1", "p2", "p3"})
    for new_link in new_links:
        change.put(new_link)

    store.apply(StoreChange(upserted_links=_redecided(change, {"p1", "p2", "p3", "y"})))

    stored = {(one.document_id, one.source_id): one for one in store.all_links()}
    assert {("y", "x"), ("y", "w"), ("x", "w")} <= set(stored)
    # y is a source of neither x nor w any more, so nothing explains what they share.
    assert not stored["x", "w"].suppressed


RELATED_TEXTS = {
    **seed_texts(),
    "bridge": BRIDGE_STORY,
    "bridge-copy": BRIDGE_COPY,
    "bridge-excerpt": BRIDGE_EXCERPT,
    "bridge-rewrite": BRIDGE_REWRITE,
    "bridge-independent": BRIDGE_INDEPENDENT,
}


@pytest.mark.parametrize("dated", [False, True], ids=["undated", "dated"])
@pytest.mark.parametrize("seed", range(6))
def test_links_decided_one_ingest_at_a_time_are_the_links_decided_afresh(seed: int, dated: bool) -> None:
    store = MemoryStore()
    deduplicator = Deduplicator(store, ExactIndex())
    rng = random.Random(seed)  # noqa: S311 - a test's reproducible shuffle
    ids = sorted(RELATED_TEXTS)
    # Publication dates in another order than ingest: an older text arriving late becomes a source of stored ones.
    days = {document_id: day for day, document_id in enumerate(rng.sample(ids, len(ids)), start=1)}
    for document_id in rng.sample(ids, len(ids)):
        published = datetime(2017, 3, days[document_id], tzinfo=UTC) if dated else None
        deduplicator.ingest([Document(document_id, RELATED_TEXTS[document_id], published_at=published)])

    links = sorted(store.all_links(), key=lambda link: (link.document_id, link.source_id))
    if not dated:
        # The texts make the bridge story the source of its copy and its excerpt, which are siblings. Dates can make
        # the rewrite the oldest, and the copies that share words it rewords are then not siblings.
        assert any(link.suppressed for link in links)
    assert not all(link.suppressed for link in links)
    # Each ingest re-decides only the links it may alter; what it stores is what deciding every link again gives.
    assert decide_directions(links, store.links_of) == links
    assert decide_suppression(links, links) == links


# A story, the story with another one after it, and that other story with the first one reworded. At a passage
# threshold of 0.7 the exact index screens the second text in for the third (their football story is the same) but
# not the first (reworded passages share too few words), though the first and the third are related.
BRIDGED = {
    "story": BRIDGE_STORY,
    "both": f"{BRIDGE_STORY} {FOOTBALL_STORY}",
    "reworded": f"{FOOTBALL_STORY} {BRIDGE_REWRITE}",
}


def linked_pairs(store: MemoryStore) -> set[frozenset[str]]:
    return {frozenset(link.ends) for link in store.all_links()}


@pytest.mark.parametrize("order", [order for order in itertools.permutations(BRIDGED) if order[-1] != "both"])
def test_a_text_is_verified_against_the_texts_linked_to_those_it_is_linked_to(order: tuple[str, ...]) -> None:
    store = MemoryStore()
    deduplicator = Deduplicator(store, ExactIndex(passage_threshold=0.7))

    for document_id in order:
        deduplicator.ingest([Document(document_id, BRIDGED[document_id])])

    # Whichever of the two came second found the other through the text both are linked to.
    assert linked_pairs(store) == {
        frozenset({"story", "both"}),
        frozenset({"reworded", "both"}),
        frozenset({"reworded", "story"}),
    }


def test_a_second_hop_reaches_the_batch_s_earlier_documents() -> None:
    store = MemoryStore()
    deduplicator = Deduplicator(store, ExactIndex(passage_threshold=0.7))

    deduplicator.ingest([Document(document_id, text) for document_id, text in BRIDGED.items()])

    assert frozenset({"reworded", "story"}) in linked_pairs(store)


def test_a_text_linked_to_the_bridge_last_is_not_joined_to_the_others() -> None:
    # The second hop starts from the new document only: two stored documents are not compared when a third
    # arrives that is related to both.
    store = MemoryStore()
    deduplicator = Deduplicator(store, ExactIndex(passage_threshold=0.7))

    for document_id in ("story", "reworded", "both"):
        deduplicator.ingest([Document(document_id, BRIDGED[document_id])])

    assert frozenset({"reworded", "story"}) not in linked_pairs(store)


def test_no_second_hop_passes_a_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("server.domain.deduplicator.MAX_BRIDGE_LINKS", 1)
    store = MemoryStore()
    deduplicator = Deduplicator(store, ExactIndex(passage_threshold=0.7))

    # The text both share has two links by the time the reworded one arrives, one more than a bridge may have.
    for document_id in ("story", "both", "reworded"):
        deduplicator.ingest([Document(document_id, BRIDGED[document_id])])

    assert frozenset({"reworded", "story"}) not in linked_pairs(store)


def test_a_second_hop_candidate_that_the_index_finds_unalike_is_not_verified() -> None:
    store = MemoryStore()
    deduplicator = Deduplicator(store, ExactIndex(passage_threshold=0.7, alike_threshold=0.9))

    for document_id in ("story", "both", "reworded"):
        deduplicator.ingest([Document(document_id, BRIDGED[document_id])])

    assert frozenset({"reworded", "story"}) not in linked_pairs(store)

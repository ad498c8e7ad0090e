import random

import pytest

from client import DedupClient
from dedup.v1 import dedup_service_pb2, document_pb2
from tests.e2e.conftest import ServerHandle, seed_documents

WIRE_COPY = "001_83c010ac56584491"
REWRITE = "000_687f1ee267ab1df4"
EXCERPT = "002_534b010889ca0eb9"
INDEPENDENT = ("003_13d2cf2eca4bd097", "004_5e8af2485a74f351")


def _ordered(order: str) -> list[document_pb2.Document]:
    documents = seed_documents()
    if order == "reverse":
        documents.reverse()
    elif order.startswith("shuffled"):
        random.Random(int(order.removeprefix("shuffled-"))).shuffle(documents)  # noqa: S311 - a test order, not a secret
    return documents


def _assert_seed_provenance(client: DedupClient) -> None:
    rewrite = client.provenance(REWRITE)
    assert rewrite.origin_id == WIRE_COPY
    assert rewrite.sources[0].source_id == WIRE_COPY
    assert rewrite.sources[0].relation == document_pb2.RELATION_REWRITE

    excerpt = client.provenance(EXCERPT)
    assert excerpt.origin_id == WIRE_COPY
    assert excerpt.sources[0].source_id == WIRE_COPY
    assert excerpt.sources[0].relation == document_pb2.RELATION_EXCERPT

    wire = client.provenance(WIRE_COPY)
    assert wire.origin_id == ""
    assert not wire.sources
    assert {link.document_id for link in wire.derivatives} == {REWRITE, EXCERPT}
    for independent in INDEPENDENT:
        answer = client.provenance(independent)
        assert answer.origin_id == ""
        assert not answer.sources
        assert not answer.derivatives


@pytest.mark.parametrize("order", ["forward", "reverse", "shuffled-1", "shuffled-7"])
def test_seed_origins_are_the_same_in_any_ingest_order_and_after_restart(server: ServerHandle, order: str) -> None:
    with DedupClient(server.address) as client:
        for document in _ordered(order):
            (result,) = client.ingest([document])
            assert result.status == dedup_service_pb2.INGEST_STATUS_CREATED
        _assert_seed_provenance(client)
    server.restart()
    with DedupClient(server.address) as client:
        _assert_seed_provenance(client)
        assert client.stats().document_count == 5


def test_seed_batch_ingest_gives_the_same_origins(dedup_client: DedupClient) -> None:
    results = dedup_client.ingest(_ordered("shuffled-3"))
    assert [r.status for r in results] == [dedup_service_pb2.INGEST_STATUS_CREATED] * 5
    _assert_seed_provenance(dedup_client)


def test_evidence_spans_point_at_shared_passages_in_both_texts(dedup_client: DedupClient) -> None:
    texts = {document.id: document.text for document in seed_documents()}
    dedup_client.ingest(seed_documents())
    for derived in (REWRITE, EXCERPT):
        (link,) = dedup_client.provenance(derived).sources
        assert link.evidence
        for span in link.evidence:
            derived_words = set(texts[derived][span.start : span.end].lower().split())
            source_words = set(texts[WIRE_COPY][span.source_start : span.source_end].lower().split())
            shared = derived_words & source_words
            # A span pair is evidence when the two passages share a good part of their vocabulary.
            assert len(shared) >= 0.3 * min(len(derived_words), len(source_words)), (span, shared)


def test_cluster_of_any_member_is_the_wire_story_with_roles(dedup_client: DedupClient) -> None:
    dedup_client.ingest(seed_documents())
    for member in (REWRITE, EXCERPT, WIRE_COPY):
        cluster = dedup_client.cluster(member)
        assert cluster.origin_id == WIRE_COPY
        roles = {m.document_id: (m.relation, m.source_id, m.depth) for m in cluster.members}
        assert roles == {
            WIRE_COPY: (document_pb2.RELATION_UNSPECIFIED, "", 0),
            REWRITE: (document_pb2.RELATION_REWRITE, WIRE_COPY, 1),
            EXCERPT: (document_pb2.RELATION_EXCERPT, WIRE_COPY, 1),
        }
    lone = dedup_client.cluster(INDEPENDENT[0])
    assert lone.origin_id == INDEPENDENT[0]
    assert [m.document_id for m in lone.members] == [INDEPENDENT[0]]


def test_reingesting_the_same_documents_changes_nothing_and_says_so(dedup_client: DedupClient) -> None:
    dedup_client.ingest(seed_documents())
    before = dedup_client.stats()
    again = dedup_client.ingest(seed_documents())
    assert [r.status for r in again] == [dedup_service_pb2.INGEST_STATUS_UNCHANGED] * 5
    after = dedup_client.stats()
    assert (after.document_count, after.passage_count, after.link_count) == (
        before.document_count,
        before.passage_count,
        before.link_count,
    )


def test_find_similar_by_text_finds_the_wire_story_and_stores_nothing(dedup_client: DedupClient) -> None:
    dedup_client.ingest([d for d in seed_documents() if d.id != EXCERPT])
    excerpt_text = next(d.text for d in seed_documents() if d.id == EXCERPT)
    matches = dedup_client.find_similar(text=excerpt_text)
    assert matches[0].document_id == WIRE_COPY
    assert matches[0].is_source
    assert matches[0].relation == document_pb2.RELATION_EXCERPT
    assert all(m.document_id not in INDEPENDENT for m in matches)
    assert dedup_client.stats().document_count == 4


def test_find_similar_by_id_includes_siblings_but_not_itself(dedup_client: DedupClient) -> None:
    dedup_client.ingest(seed_documents())
    matches = dedup_client.find_similar(document_id=EXCERPT)
    found = [m.document_id for m in matches]
    assert found[0] == WIRE_COPY
    assert EXCERPT not in found
    assert set(found) <= {WIRE_COPY, REWRITE}


def test_compare_relates_two_texts_without_storing_them(dedup_client: DedupClient) -> None:
    texts = {document.id: document.text for document in seed_documents()}
    answer = dedup_client.compare(texts[EXCERPT], texts[WIRE_COPY])
    assert answer.relation == document_pb2.RELATION_EXCERPT
    assert answer.direction == dedup_service_pb2.DIRECTION_A_FROM_B
    assert answer.evidence
    unrelated = dedup_client.compare(texts[INDEPENDENT[0]], texts[INDEPENDENT[1]])
    assert unrelated.relation == document_pb2.RELATION_UNSPECIFIED
    assert unrelated.direction == dedup_service_pb2.DIRECTION_UNSPECIFIED
    assert dedup_client.stats().document_count == 0


def test_deleting_the_wire_story_re_decides_its_derivatives(dedup_client: DedupClient) -> None:
    dedup_client.ingest(seed_documents())
    response = dedup_client.delete(WIRE_COPY)
    assert set(response.affected_ids) == {REWRITE, EXCERPT}
    for derived in (REWRITE, EXCERPT):
        provenance = dedup_client.provenance(derived)
        assert WIRE_COPY not in {link.source_id for link in provenance.sources}
        assert provenance.origin_id != WIRE_COPY
    assert dedup_client.find_similar(text=seed_documents()[1].text, limit=10)[0].document_id != WIRE_COPY
    # Put back, the wire story is their origin again.
    dedup_client.ingest([d for d in seed_documents() if d.id == WIRE_COPY])
    _assert_seed_provenance(dedup_client)

from __future__ import annotations

from client import DedupClient, make_document
from server.adapters.sqlite_store import SqliteProvenanceStore
from server.domain.ports import StoreChange
from server.domain.provenance import DIRECTION_RULES_VERSION
from tests.e2e.conftest import ServerProcess
from tests.fakes import turned_back_to_their_texts
from tests.stories import wire_story_and_its_derivatives


def test_a_server_over_a_store_decided_under_older_direction_rules_decides_its_links_again(
    server_process: ServerProcess,
) -> None:
    # A short story, its reprints and pages that quote all of it among text of their own, undated.
    generated = wire_story_and_its_derivatives(24, seed=8)
    ids = [document.id for document in generated]
    with DedupClient(server_process.start()) as client:
        client.ingest([make_document(document.id, document.text) for document in generated])
        assert {client.provenance(id_).origin_id or id_ for id_ in ids} == {ids[0]}
    server_process.terminate()
    assert server_process.wait(timeout=30) == 0
    # As an earlier server left it: version 1, under which no link was turned by the pages around the story.
    store = SqliteProvenanceStore(server_process.data_dir)
    links = list({(one.document_id, one.source_id): one for id_ in ids for one in store.links_of(id_)}.values())
    turned = turned_back_to_their_texts(links)
    assert turned
    store.apply(StoreChange(upserted_links=turned))
    store.save_direction_rules_version(1)
    store.close()
    offset = len(server_process.log())

    with DedupClient(server_process.start()) as client:
        origins = {client.provenance(id_).origin_id or id_ for id_ in ids}

    assert origins == {ids[0]}
    log = server_process.log_since(offset)
    assert f"under direction rules version {DIRECTION_RULES_VERSION} (they were decided under 1)" in log
    server_process.terminate()
    assert server_process.wait(timeout=30) == 0
    store = SqliteProvenanceStore(server_process.data_dir)
    assert store.direction_rules_version() == DIRECTION_RULES_VERSION
    store.close()

"""Reads are answered while ingests wait for the store: waiting writers do not take every request thread."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import grpc

from client import DedupClient, make_document
from dedup.v1 import dedup_service_pb2, dedup_service_pb2_grpc
from tests.e2e.conftest import ServerHandle, store_write_lock_held

# More ingest calls waiting at once than the eight request threads the server once had (it now has
# DEFAULT_MAX_WORKERS), so that the test fails if waiting writers can take every thread again.
WAITING_INGESTS = 20


def test_queries_are_answered_while_many_ingests_wait_for_the_store(
    server: ServerHandle, dedup_client: DedupClient
) -> None:
    dedup_client.ingest(
        [make_document("stored", "The harbour reopened on Monday after the storm. Ferries ran to the islands again.")]
    )
    with grpc.insecure_channel(server.address) as channel, ThreadPoolExecutor(WAITING_INGESTS) as pool:
        stub = dedup_service_pb2_grpc.DedupServiceStub(channel)
        with store_write_lock_held(server.data_dir):
            waiting = [
                pool.submit(
                    stub.IngestDocuments,
                    dedup_service_pb2.IngestDocumentsRequest(
                        documents=[make_document(f"new-{n}", f"Story number {n} tells of the {n}th bridge in town.")]
                    ),
                    timeout=60,
                )
                for n in range(WAITING_INGESTS)
            ]
            # Let every ingest reach the server and take a request thread before the queries are sent.
            time.sleep(1.0)
            provenance = stub.GetProvenance(dedup_service_pb2.GetProvenanceRequest(document_id="stored"), timeout=10)
            similar = stub.FindSimilar(dedup_service_pb2.FindSimilarRequest(document_id="stored"), timeout=10)
            assert not any(call.done() for call in waiting), "the ingests should still be waiting for the store"
        results = [call.result() for call in waiting]
    assert provenance.origin_id == ""
    assert list(similar.matches) == []
    assert sorted(result.results[0].document_id for result in results) == sorted(
        f"new-{n}" for n in range(WAITING_INGESTS)
    )
    assert dedup_client.stats().document_count == 1 + WAITING_INGESTS

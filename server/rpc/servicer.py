"""DedupServicer: decode the request, call the Deduplicator, encode the response; no logic of its own."""

from __future__ import annotations

from collections.abc import Callable

import grpc

from dedup.v1 import dedup_service_pb2, dedup_service_pb2_grpc
from server.domain.deduplicator import Deduplicator
from server.domain.errors import InvalidRequestError
from server.rpc import convert
from server.rpc.status import translate_errors


class DedupServicer(dedup_service_pb2_grpc.DedupServiceServicer):
    def __init__(
        self, deduplicator: Deduplicator, *, max_metadata_bytes: int, resident_memory: Callable[[], int]
    ) -> None:
        """`resident_memory` returns the bytes the server's processes hold (GetStats.resident_bytes; 0: unknown)."""
        self._deduplicator = deduplicator
        self._max_metadata_bytes = max_metadata_bytes
        self._resident_memory = resident_memory

    @translate_errors
    def IngestDocuments(
        self, request: dedup_service_pb2.IngestDocumentsRequest, context: grpc.ServicerContext
    ) -> dedup_service_pb2.IngestDocumentsResponse:
        documents = [
            convert.document_from_proto(document, f"documents[{index}]", max_metadata_bytes=self._max_metadata_bytes)
            for index, document in enumerate(request.documents)
        ]
        results = self._deduplicator.ingest(documents, replace=request.replace)
        return dedup_service_pb2.IngestDocumentsResponse(
            results=[convert.ingest_result_to_proto(result) for result in results]
        )

    @translate_errors
    def GetDocument(
        self, request: dedup_service_pb2.GetDocumentRequest, context: grpc.ServicerContext
    ) -> dedup_service_pb2.GetDocumentResponse:
        return convert.get_document_response(self._deduplicator.get_document(request.document_id))

    @translate_errors
    def DeleteDocument(
        self, request: dedup_service_pb2.DeleteDocumentRequest, context: grpc.ServicerContext
    ) -> dedup_service_pb2.DeleteDocumentResponse:
        affected = self._deduplicator.delete_document(request.document_id)
        return dedup_service_pb2.DeleteDocumentResponse(affected_ids=affected)

    @translate_errors
    def FindSimilar(
        self, request: dedup_service_pb2.FindSimilarRequest, context: grpc.ServicerContext
    ) -> dedup_service_pb2.FindSimilarResponse:
        query = request.WhichOneof("query")
        if query is None:
            raise InvalidRequestError("set the query: either document_id or text")
        matches = self._deduplicator.find_similar(
            document_id=request.document_id if query == "document_id" else None,
            text=request.text if query == "text" else None,
            limit=request.limit,
            min_score=request.min_score,
        )
        return dedup_service_pb2.FindSimilarResponse(matches=[convert.match_to_proto(match) for match in matches])

    @translate_errors
    def GetProvenance(
        self, request: dedup_service_pb2.GetProvenanceRequest, context: grpc.ServicerContext
    ) -> dedup_service_pb2.GetProvenanceResponse:
        return convert.provenance_to_proto(self._deduplicator.provenance(request.document_id))

    @translate_errors
    def GetCluster(
        self, request: dedup_service_pb2.GetClusterRequest, context: grpc.ServicerContext
    ) -> dedup_service_pb2.GetClusterResponse:
        return convert.cluster_to_proto(self._deduplicator.cluster(request.document_id))

    @translate_errors
    def Compare(
        self, request: dedup_service_pb2.CompareRequest, context: grpc.ServicerContext
    ) -> dedup_service_pb2.CompareResponse:
        return convert.comparison_to_proto(self._deduplicator.compare(request.text_a, request.text_b))

    @translate_errors
    def GetStats(
        self, request: dedup_service_pb2.GetStatsRequest, context: grpc.ServicerContext
    ) -> dedup_service_pb2.GetStatsResponse:
        return convert.stats_to_proto(self._deduplicator.stats(), resident_bytes=self._resident_memory())

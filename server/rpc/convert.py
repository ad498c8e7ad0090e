"""dedup.v1 messages ⇄ domain objects."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Final

from google.protobuf.timestamp_pb2 import Timestamp

from dedup.v1 import dedup_service_pb2, document_pb2
from server.domain.errors import InvalidDocumentError
from server.domain.model import (
    Cluster,
    Comparison,
    DirectionBasis,
    Document,
    IndexParameters,
    IngestResult,
    IngestStatus,
    Link,
    Match,
    Provenance,
    Relation,
    Span,
    Stats,
    StoredDocument,
)
from server.rpc.status import status_for

RELATION_TO_PROTO: Final[Mapping[Relation, document_pb2.Relation.ValueType]] = {
    Relation.DUPLICATE: document_pb2.RELATION_DUPLICATE,
    Relation.EXCERPT: document_pb2.RELATION_EXCERPT,
    Relation.REWRITE: document_pb2.RELATION_REWRITE,
}
BASIS_TO_PROTO: Final[Mapping[DirectionBasis, document_pb2.DirectionBasis.ValueType]] = {
    DirectionBasis.PUBLISHED_AT: document_pb2.DIRECTION_BASIS_PUBLISHED_AT,
    DirectionBasis.CONTEXT: document_pb2.DIRECTION_BASIS_CONTEXT,
    DirectionBasis.CONTAINMENT: document_pb2.DIRECTION_BASIS_CONTAINMENT,
    DirectionBasis.ATTRIBUTION: document_pb2.DIRECTION_BASIS_ATTRIBUTION,
    DirectionBasis.INGEST_ORDER: document_pb2.DIRECTION_BASIS_INGEST_ORDER,
    DirectionBasis.COMPILATION: document_pb2.DIRECTION_BASIS_COMPILATION,
    DirectionBasis.REPRINTS: document_pb2.DIRECTION_BASIS_REPRINTS,
    DirectionBasis.CONDENSATION: document_pb2.DIRECTION_BASIS_CONDENSATION,
}
STATUS_TO_PROTO: Final[Mapping[IngestStatus, dedup_service_pb2.IngestStatus.ValueType]] = {
    IngestStatus.CREATED: dedup_service_pb2.INGEST_STATUS_CREATED,
    IngestStatus.UNCHANGED: dedup_service_pb2.INGEST_STATUS_UNCHANGED,
    IngestStatus.REPLACED: dedup_service_pb2.INGEST_STATUS_REPLACED,
    IngestStatus.REJECTED: dedup_service_pb2.INGEST_STATUS_REJECTED,
}
# Protobuf Timestamps span years 1 to 9999; Python datetimes the same, so any valid one converts.
_MIN_SECONDS: Final = -62135596800
_MAX_SECONDS: Final = 253402300799


def document_from_proto(message: document_pb2.Document, field: str, *, max_metadata_bytes: int) -> Document:
    """Return the domain document, refusing a published_at out of range and over-large metadata.

    Raises:
        InvalidDocumentError: The message says which field to fix.
    """
    # The text has its own limit in the domain; source, url, title and metadata would otherwise be bounded only
    # by the message size, and are stored and sent back with every GetDocument.
    metadata_bytes = sum(
        len(value.encode("utf-8"))
        for value in (message.source, message.url, message.title, *message.metadata.keys(), *message.metadata.values())
    )
    if metadata_bytes > max_metadata_bytes:
        raise InvalidDocumentError(
            f"{field} has {metadata_bytes} bytes of source, url, title and metadata; the limit is "
            f"{max_metadata_bytes} bytes: shorten them, or keep large data elsewhere"
        )
    published_at = None
    if message.HasField("published_at"):
        seconds, nanos = message.published_at.seconds, message.published_at.nanos
        if not _MIN_SECONDS <= seconds <= _MAX_SECONDS or not 0 <= nanos < 1_000_000_000:
            raise InvalidDocumentError(f"{field}.published_at is out of range; use a time between years 1 and 9999")
        published_at = message.published_at.ToDatetime(tzinfo=UTC)
    return Document(
        id=message.id,
        text=message.text,
        source=message.source,
        url=message.url,
        title=message.title,
        published_at=published_at,
        metadata=dict(message.metadata),
    )


def document_to_proto(document: Document) -> document_pb2.Document:
    message = document_pb2.Document(
        id=document.id,
        text=document.text,
        source=document.source,
        url=document.url,
        title=document.title,
        metadata=dict(document.metadata),
    )
    if document.published_at is not None:
        message.published_at.CopyFrom(timestamp_from_datetime(document.published_at))
    return message


def timestamp_from_datetime(moment: datetime) -> Timestamp:
    timestamp = Timestamp()
    timestamp.FromDatetime(moment if moment.tzinfo else moment.replace(tzinfo=UTC))
    return timestamp


def span_to_proto(span: Span) -> document_pb2.Span:
    return document_pb2.Span(start=span.start, end=span.end, source_start=span.source_start, source_end=span.source_end)


def link_to_proto(link: Link) -> document_pb2.Link:
    return document_pb2.Link(
        document_id=link.document_id,
        source_id=link.source_id,
        relation=RELATION_TO_PROTO[link.relation],
        score=link.score,
        jaccard=link.jaccard,
        containment=link.containment,
        confidence=link.confidence,
        evidence=[span_to_proto(span) for span in link.evidence],
        source_containment=link.source_containment,
        direction_basis=BASIS_TO_PROTO[link.basis],
    )


def match_to_proto(match: Match) -> document_pb2.Match:
    comparison = match.comparison
    return document_pb2.Match(
        document_id=match.document_id,
        relation=RELATION_TO_PROTO[comparison.relation],
        score=comparison.score,
        jaccard=comparison.jaccard,
        containment=comparison.containment_a,
        evidence=[span_to_proto(span) for span in comparison.spans],
        match_containment=comparison.containment_b,
        is_source=comparison.a_is_derived,
        confidence=comparison.confidence,
    )


def ingest_result_to_proto(result: IngestResult) -> dedup_service_pb2.IngestResult:
    message = dedup_service_pb2.IngestResult(
        document_id=result.document_id,
        status=STATUS_TO_PROTO[result.status],
        links=[link_to_proto(link) for link in result.links],
    )
    if result.error is not None:
        message.error_code = status_for(result.error).value[0]
        message.error_message = str(result.error)
    return message


def get_document_response(stored: StoredDocument) -> dedup_service_pb2.GetDocumentResponse:
    return dedup_service_pb2.GetDocumentResponse(
        document=document_to_proto(stored.document), ingested_at=timestamp_from_datetime(stored.ingested_at)
    )


def provenance_to_proto(provenance: Provenance) -> dedup_service_pb2.GetProvenanceResponse:
    return dedup_service_pb2.GetProvenanceResponse(
        origin_id=provenance.origin_id or "",
        sources=[link_to_proto(link) for link in provenance.sources],
        derivatives=[link_to_proto(link) for link in provenance.derivatives],
        origin_chain=[link_to_proto(link) for link in provenance.origin_chain],
    )


def cluster_to_proto(cluster: Cluster) -> dedup_service_pb2.GetClusterResponse:
    return dedup_service_pb2.GetClusterResponse(
        origin_id=cluster.origin_id,
        members=[
            document_pb2.ClusterMember(
                document_id=member.document_id,
                relation=RELATION_TO_PROTO[member.relation] if member.relation else document_pb2.RELATION_UNSPECIFIED,
                source_id=member.source_id or "",
                depth=member.depth,
            )
            for member in cluster.members
        ],
    )


def comparison_to_proto(comparison: Comparison | None) -> dedup_service_pb2.CompareResponse:
    if comparison is None:
        return dedup_service_pb2.CompareResponse()
    return dedup_service_pb2.CompareResponse(
        relation=RELATION_TO_PROTO[comparison.relation],
        direction=dedup_service_pb2.DIRECTION_A_FROM_B
        if comparison.a_is_derived
        else dedup_service_pb2.DIRECTION_B_FROM_A,
        score=comparison.score,
        jaccard=comparison.jaccard,
        containment_a=comparison.containment_a,
        containment_b=comparison.containment_b,
        confidence=comparison.confidence,
        direction_basis=BASIS_TO_PROTO[comparison.basis],
        evidence=[span_to_proto(span) for span in comparison.spans],
    )


def index_parameters_to_proto(parameters: IndexParameters) -> dedup_service_pb2.IndexParameters:
    return dedup_service_pb2.IndexParameters(
        num_perm=parameters.num_perm,
        hash_scheme=parameters.hash_scheme,
        hash_function=parameters.hash_function,
        seed=parameters.seed,
        shingle_words=parameters.shingle_words,
        passage_words=parameters.passage_words,
        passage_stride=parameters.passage_stride,
        document_threshold=parameters.document_threshold,
        passage_threshold=parameters.passage_threshold,
        document_bands=parameters.document_bands,
        document_rows=parameters.document_rows,
        passage_bands=parameters.passage_bands,
        passage_rows=parameters.passage_rows,
    )


def stats_to_proto(stats: Stats, *, resident_bytes: int) -> dedup_service_pb2.GetStatsResponse:
    return dedup_service_pb2.GetStatsResponse(
        document_count=stats.document_count,
        passage_count=stats.passage_count,
        link_count=stats.link_count,
        index_parameters=index_parameters_to_proto(stats.index_parameters),
        store_bytes=stats.store_bytes,
        max_text_bytes=stats.max_text_bytes,
        max_batch_documents=stats.max_batch_documents,
        resident_bytes=resident_bytes,
        index_bytes=stats.index_bytes,
    )

"""Document, Link, Comparison and the other value objects of the provenance domain."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from server.domain.errors import DedupError


class Relation(enum.Enum):
    """How a derived text relates to its source."""

    DUPLICATE = "duplicate"
    EXCERPT = "excerpt"
    REWRITE = "rewrite"


class DirectionBasis(enum.Enum):
    """The evidence that decided which text of a pair is the source, strongest first."""

    PUBLISHED_AT = "published_at"
    CONTEXT = "context"
    CONDENSATION = "condensation"
    CONTAINMENT = "containment"
    ATTRIBUTION = "attribution"
    INGEST_ORDER = "ingest_order"
    COMPILATION = "compilation"
    REPRINTS = "reprints"


class IngestStatus(enum.Enum):
    CREATED = "created"
    UNCHANGED = "unchanged"
    REPLACED = "replaced"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class Document:
    """A text and what is known about where it was published."""

    id: str
    text: str
    source: str = ""
    url: str = ""
    title: str = ""
    published_at: datetime | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StoredDocument:
    """A document as the store keeps it: with its ingest sequence number and time."""

    document: Document
    sequence: int
    ingested_at: datetime


@dataclass(frozen=True, slots=True, order=True)
class Span:
    """Aligned code-point ranges: `[start, end)` in the derived text, `[source_start, source_end)` in the source."""

    start: int
    end: int
    source_start: int
    source_end: int


@dataclass(frozen=True, slots=True)
class Comparison:
    """How text a relates to text b, seen from a: spans run from a to b.

    `a_is_derived` tells the direction; `containment_a` and `containment_b` are the shares of each
    text's words that lie in aligned passages.
    """

    relation: Relation
    a_is_derived: bool
    score: float
    jaccard: float
    containment_a: float
    containment_b: float
    confidence: float
    basis: DirectionBasis
    spans: tuple[Span, ...]

    def reversed(self) -> Comparison:
        """Return the same comparison seen from b."""
        return Comparison(
            relation=self.relation,
            a_is_derived=not self.a_is_derived,
            score=self.score,
            jaccard=self.jaccard,
            containment_a=self.containment_b,
            containment_b=self.containment_a,
            confidence=self.confidence,
            basis=self.basis,
            spans=_turned_round(self.spans),
        )


@dataclass(frozen=True, slots=True)
class PairwiseDirection:
    """What a pair's two texts alone said about its direction, kept while the link graph overrides it."""

    source_id: str
    basis: DirectionBasis
    confidence: float


@dataclass(frozen=True, slots=True)
class Link:
    """A verified reuse between two stored documents: `document_id` derives from `source_id`.

    `suppressed` marks a link between siblings: two documents whose shared text both take from a
    common source. It is kept (it is still evidence) but is not a provenance link.

    `pairwise` is None while the link points the way its two texts alone decided; when the documents
    around it decide the other way (a compilation), it keeps that first decision, so that it can be
    restored when those documents go.
    """

    document_id: str
    source_id: str
    relation: Relation
    score: float
    jaccard: float
    containment: float
    source_containment: float
    confidence: float
    basis: DirectionBasis
    evidence: tuple[Span, ...]
    suppressed: bool = False
    pairwise: PairwiseDirection | None = None

    @classmethod
    def from_comparison(cls, a_id: str, b_id: str, comparison: Comparison) -> Link:
        """Build the link between documents a and b that `comparison` (seen from a) describes."""
        seen_from_derived = comparison if comparison.a_is_derived else comparison.reversed()
        derived_id, source_id = (a_id, b_id) if comparison.a_is_derived else (b_id, a_id)
        return cls(
            document_id=derived_id,
            source_id=source_id,
            relation=comparison.relation,
            score=comparison.score,
            jaccard=comparison.jaccard,
            containment=seen_from_derived.containment_a,
            source_containment=seen_from_derived.containment_b,
            confidence=comparison.confidence,
            basis=comparison.basis,
            evidence=seen_from_derived.spans,
        )

    def derived_from(self, source_id: str, basis: DirectionBasis, confidence: float) -> Link:
        """Return this link pointing from its other end to `source_id`, on the given evidence (itself if so already)."""
        if source_id == self.source_id:
            if (basis, confidence) == (self.basis, self.confidence):
                # Most links around a much-copied story are decided again as they stand: `replace` took about half
                # as long as decoding the link from its row.
                return self
            return replace(self, basis=basis, confidence=confidence)
        return replace(
            self,
            document_id=self.source_id,
            source_id=self.document_id,
            containment=self.source_containment,
            source_containment=self.containment,
            basis=basis,
            confidence=confidence,
            evidence=_turned_round(self.evidence),
        )

    def with_pairwise(self, pairwise: PairwiseDirection | None) -> Link:
        """Return this link keeping `pairwise` as its texts' own direction (itself if it keeps that already)."""
        return self if pairwise == self.pairwise else replace(self, pairwise=pairwise)

    @property
    def ends(self) -> frozenset[str]:
        """The two documents, whichever way the link points: a pair has one link."""
        return frozenset((self.document_id, self.source_id))

    def other(self, document_id: str) -> str:
        """Return the end of the link that is not `document_id`."""
        return self.source_id if document_id == self.document_id else self.document_id

    def seen_from(self, document_id: str) -> Comparison:
        """Return the comparison this link was made from, seen from its end `document_id`."""
        from_derived = Comparison(
            relation=self.relation,
            a_is_derived=True,
            score=self.score,
            jaccard=self.jaccard,
            containment_a=self.containment,
            containment_b=self.source_containment,
            confidence=self.confidence,
            basis=self.basis,
            spans=self.evidence,
        )
        return from_derived if document_id == self.document_id else from_derived.reversed()


def _turned_round(spans: tuple[Span, ...]) -> tuple[Span, ...]:
    """Return `spans` seen from their other text, in that text's order."""
    return tuple(sorted(Span(s.source_start, s.source_end, s.start, s.end) for s in spans))


@dataclass(frozen=True, slots=True)
class Match:
    """A stored document similar to a query, with the comparison seen from the query."""

    document_id: str
    comparison: Comparison


@dataclass(frozen=True, slots=True)
class IngestResult:
    document_id: str
    status: IngestStatus
    links: tuple[Link, ...] = ()
    error: DedupError | None = None


@dataclass(frozen=True, slots=True)
class Provenance:
    """A document's place in the link graph."""

    document_id: str
    origin_id: str | None
    sources: tuple[Link, ...]
    derivatives: tuple[Link, ...]
    origin_chain: tuple[Link, ...]


@dataclass(frozen=True, slots=True)
class ClusterMember:
    document_id: str
    relation: Relation | None
    source_id: str | None
    depth: int


@dataclass(frozen=True, slots=True)
class Cluster:
    origin_id: str
    members: tuple[ClusterMember, ...]


@dataclass(frozen=True, slots=True)
class IndexParameters:
    """The parameters signatures and indexes are built with; fixed once per store."""

    num_perm: int
    hash_scheme: str
    hash_function: str
    seed: int
    shingle_words: int
    passage_words: int
    passage_stride: int
    document_threshold: float
    passage_threshold: float
    document_bands: int
    document_rows: int
    passage_bands: int
    passage_rows: int


@dataclass(frozen=True, slots=True)
class Stats:
    document_count: int
    passage_count: int
    link_count: int
    index_parameters: IndexParameters
    store_bytes: int
    max_text_bytes: int
    max_batch_documents: int
    index_bytes: int

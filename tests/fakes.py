"""ExactIndex and MemoryStore: in-memory ports for unit tests; ExactIndex doubles as an exact-Jaccard oracle.

`link` builds a stored link with plain defaults, for tests that lay out a graph of links by hand.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Final

from server.domain.model import DirectionBasis, IndexParameters, Link, Relation, Span, StoredDocument
from server.domain.passages import PASSAGE_STRIDE, PASSAGE_WORDS, SHINGLE_WORDS, cut_passages, document_shingles
from server.domain.ports import Signatures, StoreChange
from server.domain.tokenization import tokenize

# The same thresholds as server/adapters/minhash_lsh_index.py; repeated rather than imported so that
# unit tests never import the adapter (and with it datasketch).
PASSAGE_THRESHOLD: Final = 0.3
DOCUMENT_THRESHOLD: Final = 0.5


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    union = len(a | b)
    return len(a & b) / union if union else 0.0


def encode_features(features: Iterable[str]) -> bytes:
    return json.dumps(sorted(set(features)), ensure_ascii=False).encode("utf-8")


def decode_features(signature: bytes) -> frozenset[str]:
    values = json.loads(signature.decode("utf-8"))
    return frozenset(str(value) for value in values)


def link(
    derived: str,
    source: str,
    *spans: tuple[int, int, int, int],
    score: float = 0.5,
    relation: Relation = Relation.EXCERPT,
    confidence: float = 0.7,
    suppressed: bool = False,
    basis: DirectionBasis = DirectionBasis.CONTAINMENT,
    containment: float = 0.5,
    source_containment: float = 0.4,
) -> Link:
    return Link(
        document_id=derived,
        source_id=source,
        relation=relation,
        score=score,
        jaccard=0.1,
        containment=containment,
        source_containment=source_containment,
        confidence=confidence,
        basis=basis,
        evidence=tuple(Span(*span) for span in spans) or (Span(0, 10, 0, 10),),
        suppressed=suppressed,
    )


def turned_back_to_their_texts(links: Iterable[Link]) -> list[Link]:
    """Return the links the links around them turned, pointed the way their two texts alone decided.

    What a store decided under direction rules that turned none of them holds.
    """
    return [
        replace(link.derived_from(pairwise.source_id, pairwise.basis, pairwise.confidence), pairwise=None)
        for link in links
        if (pairwise := link.pairwise) is not None
    ]


class ExactIndex:
    """A brute-force SignatureIndex: the 'signatures' are the feature sets themselves, compared exactly.

    What MinHash LSH finds with high probability, this finds with certainty, so it serves both as the
    index of unit tests and as the oracle LSH recall is measured against.
    """

    def __init__(
        self,
        passage_threshold: float = PASSAGE_THRESHOLD,
        document_threshold: float = DOCUMENT_THRESHOLD,
        alike_threshold: float = 0.1,
    ) -> None:
        self.passage_threshold = passage_threshold
        self.alike_threshold = alike_threshold
        self.document_threshold = document_threshold
        self._documents: dict[int, frozenset[str]] = {}
        self._passages: dict[int, tuple[frozenset[str], ...]] = {}
        self._lock = threading.Lock()
        self._parameters = IndexParameters(
            num_perm=0,
            hash_scheme="exact",
            hash_function="none",
            seed=0,
            shingle_words=SHINGLE_WORDS,
            passage_words=PASSAGE_WORDS,
            passage_stride=PASSAGE_STRIDE,
            document_threshold=document_threshold,
            passage_threshold=passage_threshold,
            document_bands=0,
            document_rows=0,
            passage_bands=0,
            passage_rows=0,
        )

    @property
    def parameters(self) -> IndexParameters:
        return self._parameters

    def sign(self, text: str) -> Signatures:
        tokens = tokenize(text)
        return Signatures(
            document=encode_features(document_shingles(tokens)),
            passages=tuple(encode_features(passage.features) for passage in cut_passages(tokens)),
        )

    def add(self, sequence: int, signatures: Signatures) -> None:
        document = decode_features(signatures.document)
        passages = tuple(decode_features(passage) for passage in signatures.passages)
        with self._lock:
            self._documents[sequence] = document
            self._passages[sequence] = passages

    def remove(self, sequence: int) -> None:
        with self._lock:
            self._documents.pop(sequence, None)
            self._passages.pop(sequence, None)

    def checkpoint(self) -> None:
        pass

    def close(self) -> None:
        pass

    def restore(self, stored_sequences: Iterable[int]) -> set[int]:
        # Nothing is saved: every stored document is to be added again.
        with self._lock:
            return set(stored_sequences) - set(self._documents)

    def screen(self, signatures: Signatures, max_pairs: int) -> dict[int, float]:
        # The exact closest passage pair of every stored document, where the LSH index estimates it.
        queries = [decode_features(passage) for passage in signatures.passages]
        closeness = {}
        with self._lock:
            for sequence, passages in self._passages.items():
                closest = _closest_pair(queries, passages)
                if closest >= self.passage_threshold:
                    closeness[sequence] = closest
        return closeness

    def alike(self, signatures: Signatures, sequences: Iterable[int]) -> set[int]:
        queries = [decode_features(passage) for passage in signatures.passages]
        with self._lock:
            stored = {sequence: self._passages[sequence] for sequence in sequences if sequence in self._passages}
        threshold = self.alike_threshold
        return {sequence for sequence, passages in stored.items() if _closest_pair(queries, passages) >= threshold}

    def add_and_screen(self, documents: Sequence[tuple[int, Signatures]], max_pairs: int) -> list[dict[int, float]]:
        screened = []
        for sequence, signatures in documents:
            screened.append(self.screen(signatures, max_pairs))
            self.add(sequence, signatures)
        return screened

    def closeness(self, query: Signatures, stored: Sequence[Signatures]) -> list[float]:
        """The oracle for the LSH index's estimates: the exact closest passage pair of each stored document."""
        queries = [decode_features(passage) for passage in query.passages]
        estimates = []
        for signatures in stored:
            closest = _closest_pair(queries, [decode_features(passage) for passage in signatures.passages])
            estimates.append(closest if closest >= self.passage_threshold else 0.0)
        return estimates

    def passage_pairs(self, signatures: Signatures, threshold: float) -> set[tuple[int, int, int]]:
        """Return (stored id, query passage index, stored passage index) of every pair at `threshold` or above."""
        queries = [decode_features(passage) for passage in signatures.passages]
        with self._lock:
            return {
                (sequence, query_position, stored_position)
                for sequence, passages in self._passages.items()
                for query_position, query in enumerate(queries)
                for stored_position, passage in enumerate(passages)
                if jaccard(query, passage) >= threshold
            }

    def memory_bytes(self) -> int:
        # Python sets, not arrays: nothing a test could compare with the real index's figure.
        return 0

    def __len__(self) -> int:
        return len(self._documents)


def _closest_pair(queries: Sequence[frozenset[str]], passages: Sequence[frozenset[str]]) -> float:
    return max((jaccard(query, passage) for query in queries for passage in passages), default=0.0)


class MemoryStore:
    """A ProvenanceStore kept in dicts, with the semantics of SqliteProvenanceStore.

    One link per unordered pair of documents (writing x→y drops y→x), removing a document drops its
    signatures and links, and the ingest sequence only ever grows.
    """

    def __init__(self) -> None:
        self._documents: dict[str, StoredDocument] = {}
        self._signatures: dict[str, Signatures] = {}
        self._links: dict[tuple[str, str], Link] = {}
        self._last_sequence = 0
        self._parameters: IndexParameters | None = None
        self._tokenization_version: int | None = None
        self._direction_rules_version: int | None = None
        self._lock = threading.Lock()
        self.applied: list[StoreChange] = []

    def get_document(self, document_id: str) -> StoredDocument | None:
        with self._lock:
            return self._documents.get(document_id)

    def sequence_of(self, document_id: str) -> int | None:
        # Not through get_document: tests count the texts a use case reads, and this reads none.
        with self._lock:
            stored = self._documents.get(document_id)
        return None if stored is None else stored.sequence

    def get_signatures(self, document_id: str) -> Signatures | None:
        with self._lock:
            return self._signatures.get(document_id)

    def sequences(self) -> list[int]:
        with self._lock:
            return [stored.sequence for stored in self._documents.values()]

    def ids_of(self, sequences: Iterable[int]) -> dict[int, str]:
        wanted = set(sequences)
        with self._lock:
            return {
                stored.sequence: stored.document.id for stored in self._documents.values() if stored.sequence in wanted
            }

    def documents_of(self, sequences: Iterable[int]) -> dict[int, StoredDocument]:
        wanted = set(sequences)
        with self._lock:
            stored = [stored for stored in self._documents.values() if stored.sequence in wanted]
        # Through get_document, so that a store counting the texts it is asked for counts these too.
        return {document.sequence: document for item in stored if (document := self.get_document(item.document.id))}

    def iter_signatures(self, sequences: Iterable[int]) -> Iterator[tuple[int, Signatures]]:
        wanted = set(sequences)
        with self._lock:
            ordered = sorted(self._documents.values(), key=lambda stored: stored.sequence)
            items = [
                (stored.sequence, self._signatures[stored.document.id])
                for stored in ordered
                if stored.sequence in wanted
            ]
        yield from items

    def iter_texts(self) -> Iterator[tuple[int, str]]:
        with self._lock:
            ordered = sorted(self._documents.values(), key=lambda stored: stored.sequence)
        yield from ((stored.sequence, stored.document.text) for stored in ordered)

    def replace_signatures(self, signatures: Mapping[int, Signatures]) -> None:
        with self._lock:
            ids = {stored.sequence: document_id for document_id, stored in self._documents.items()}
            self._signatures = self._signatures | {ids[sequence]: new for sequence, new in signatures.items()}

    def links_of(self, document_id: str) -> list[Link]:
        with self._lock:
            return [link for key, link in self._links.items() if document_id in key]

    def linked_ids(self, document_id: str, limit: int) -> list[str] | None:
        with self._lock:
            ids = [link.other(document_id) for key, link in self._links.items() if document_id in key]
        return None if len(ids) > limit else ids

    def sources_of(self, document_id: str) -> list[Link]:
        with self._lock:
            return [link for link in self._links.values() if link.document_id == document_id]

    def undated_links_of(self, document_id: str) -> list[Link]:
        with self._lock:
            return [
                link
                for key, link in self._links.items()
                if document_id in key and link.basis is not DirectionBasis.PUBLISHED_AT
            ]

    def dated_links_of(self, document_id: str) -> list[Link]:
        with self._lock:
            return [
                link
                for key, link in self._links.items()
                if document_id in key and link.basis is DirectionBasis.PUBLISHED_AT
            ]

    def all_links(self) -> list[Link]:
        with self._lock:
            return list(self._links.values())

    def apply(self, change: StoreChange) -> None:
        now = datetime.now(UTC)
        with self._lock:
            # Build the new state aside and swap it in, so a failing change leaves nothing behind.
            documents = dict(self._documents)
            signatures = dict(self._signatures)
            links = dict(self._links)
            last_sequence = self._last_sequence
            for document_id in change.removed_ids:
                documents.pop(document_id, None)
                signatures.pop(document_id, None)
                links = {key: link for key, link in links.items() if document_id not in key}
            for offset, (document, document_signatures) in enumerate(change.added):
                if document.id in documents:
                    raise ValueError(f"document {document.id!r} is already stored")
                sequence = change.first_sequence + offset
                documents[document.id] = StoredDocument(document, sequence, now)
                signatures[document.id] = document_signatures
                last_sequence = max(last_sequence, sequence)
            for link in change.upserted_links:
                links.pop((link.source_id, link.document_id), None)
                links[(link.document_id, link.source_id)] = link
            self._documents, self._signatures, self._links = documents, signatures, links
            self._last_sequence = last_sequence
            self.applied.append(change)

    def last_sequence(self) -> int:
        with self._lock:
            return self._last_sequence

    def load_parameters(self) -> IndexParameters | None:
        return self._parameters

    def tokenization_version(self) -> int | None:
        return self._tokenization_version

    def save_tokenization_version(self, version: int) -> None:
        self._tokenization_version = version

    def direction_rules_version(self) -> int | None:
        return self._direction_rules_version

    def save_direction_rules_version(self, version: int) -> None:
        self._direction_rules_version = version

    def undated_link_ends(self) -> list[str]:
        with self._lock:
            undated = [link for link in self._links.values() if link.basis is not DirectionBasis.PUBLISHED_AT]
        return sorted({end for link in undated for end in link.ends})

    def suppressed_copy_ends(self) -> list[str]:
        with self._lock:
            return sorted(
                {
                    link.document_id
                    for link in self._links.values()
                    if link.suppressed and link.relation is not Relation.REWRITE
                }
            )

    def save_parameters(self, parameters: IndexParameters) -> None:
        self._parameters = parameters

    def counts(self) -> tuple[int, int, int]:
        with self._lock:
            passages = sum(len(signatures.passages) for signatures in self._signatures.values())
            links = sum(1 for link in self._links.values() if not link.suppressed)
            return len(self._documents), passages, links

    def size_bytes(self) -> int:
        with self._lock:
            return sum(
                len(stored.document.text.encode("utf-8", "surrogatepass")) for stored in self._documents.values()
            )

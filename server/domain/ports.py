"""SignatureIndex and ProvenanceStore: the interfaces the domain needs from the outside world."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from server.domain.model import Document, IndexParameters, Link, StoredDocument


@dataclass(frozen=True, slots=True)
class Signatures:
    """A document's MinHash signatures, as opaque bytes: one for the whole text, one per passage."""

    document: bytes
    passages: tuple[bytes, ...]


class SignatureIndex(Protocol):
    """Signs feature sets and finds stored documents whose signatures collide with a query's.

    Implementations are thread-safe: the gRPC server calls them from a thread pool.
    """

    @property
    def parameters(self) -> IndexParameters: ...

    def sign(self, document_features: Iterable[str], passage_features: Sequence[Iterable[str]]) -> Signatures: ...

    def add(self, document_id: str, signatures: Signatures) -> None: ...

    def remove(self, document_id: str) -> None: ...

    def candidates(self, signatures: Signatures) -> dict[str, int]:
        """Return the stored documents that may share text with the query, each with a match strength.

        Higher strength means a closer match: a whole-document match outranks any passage match, and
        among passage matches the closest pair of passages counts, not how many passages collide (a
        long text on the same subject collides often and weakly; a copied passage collides strongly).
        Strengths rank candidates within one index and mean nothing across indexes.
        """
        ...

    def __len__(self) -> int: ...


@dataclass(frozen=True, slots=True)
class StoreChange:
    """Everything one ingest or delete writes, applied by the store in a single transaction."""

    added: Sequence[tuple[Document, Signatures]] = ()
    removed_ids: Sequence[str] = ()
    upserted_links: Sequence[Link] = field(default_factory=tuple)
    # Ingest sequence number of the first added document; the others follow in order.
    first_sequence: int = 0


class ProvenanceStore(Protocol):
    """The durable record: documents, their signatures and the links between them."""

    def get_document(self, document_id: str) -> StoredDocument | None: ...

    def sequence_of(self, document_id: str) -> int | None:
        """Return a stored document's ingest sequence number, None when it is not stored; reads no text."""
        ...

    def get_signatures(self, document_id: str) -> Signatures | None: ...

    def iter_signatures(self) -> Iterator[tuple[str, Signatures]]:
        """Yield every stored document's signatures, to rebuild an index at start."""
        ...

    def links_of(self, document_id: str) -> list[Link]:
        """Return every stored link that has `document_id` at either end, suppressed or not."""
        ...

    def apply(self, change: StoreChange) -> None:
        """Apply `change` atomically: removals first, then additions, then links.

        Removing a document removes its signatures and every link touching it.
        """
        ...

    def last_sequence(self) -> int:
        """Return the highest ingest sequence number ever given (0 for an empty store)."""
        ...

    def load_parameters(self) -> IndexParameters | None: ...

    def save_parameters(self, parameters: IndexParameters) -> None: ...

    def counts(self) -> tuple[int, int, int]:
        """Return the numbers of stored documents, passages and (unsuppressed) links."""
        ...

    def size_bytes(self) -> int: ...

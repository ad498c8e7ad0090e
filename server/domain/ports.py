"""SignatureIndex and ProvenanceStore: the interfaces the domain needs from the outside world."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from server.domain.model import Comparison, Document, IndexParameters, Link, StoredDocument
from server.domain.verification import VerificationJob


@dataclass(frozen=True, slots=True)
class Signatures:
    """A document's MinHash signatures, as opaque bytes: one for the whole text, one per passage.

    `screening` holds the signatures of windows taken more often than the passages, used only to find
    candidates and never stored; empty when the passages themselves are used. `second_minima` holds, for each
    window that finds candidates (the screening windows, else the passages), what an index may also probe
    with; never stored either, and empty when the index does not probe.
    """

    document: bytes
    passages: tuple[bytes, ...]
    screening: tuple[bytes, ...] = ()
    second_minima: tuple[bytes, ...] = ()


class SignatureIndex(Protocol):
    """Signs feature sets and finds stored documents whose signatures collide with a query's.

    Implementations are thread-safe: the gRPC server calls them from a thread pool.
    """

    @property
    def parameters(self) -> IndexParameters: ...

    def sign(self, text: str) -> Signatures:
        """Return the text's signatures: its word shingles' and each passage's (see server/domain/passages.py)."""
        ...

    def add(self, sequence: int, signatures: Signatures) -> None:
        """Index a document under its store sequence number (the index holds no ids: they cost memory)."""
        ...

    def remove(self, sequence: int) -> None: ...

    def screen(self, signatures: Signatures, max_pairs: int) -> dict[int, float]:
        """Return the sequences of stored documents that likely share text with the query, each with a closeness.

        Closeness estimates the Jaccard similarity of the closest pair of passages (0 to 1), which ranks the
        candidates worth verifying. Band collisions alone cannot tell a copied passage from a chance collision
        of two texts on one subject; the index checks each colliding pair on more of its values and leaves out
        pairs too far apart to be what it looks for. At most `max_pairs` colliding pairs are checked per query.
        """
        ...

    def alike(self, signatures: Signatures, sequences: Iterable[int]) -> set[int]:
        """Return those of the stored `sequences` with a passage likely alike to one of the query's.

        For candidates that something other than `screen` brought: every pair of passages is compared, not only
        those that collide in a band, and the bar is looser than screening's, since the candidates are few.
        """
        ...

    def add_and_screen(self, documents: Sequence[tuple[int, Signatures]], max_pairs: int) -> list[dict[int, float]]:
        """Index a batch of (sequence, signatures) and screen each document as `screen` does, against those before it.

        Those before it are the stored documents and the batch's earlier ones: the result is the same as screening
        and adding the documents one after another.
        """
        ...

    def checkpoint(self) -> None:
        """Called after each change the store has committed: a chance to compact and save the index."""
        ...

    def close(self) -> None:
        """Finish compacting and saving what `checkpoint` started; the index still answers afterwards."""
        ...

    def restore(self, stored_sequences: Iterable[int]) -> set[int]:
        """Reload a saved index, forget documents the store no longer has; return stored sequences to add."""
        ...

    def memory_bytes(self) -> int:
        """Return the bytes the index holds in memory (what grows with the store)."""
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

    def sequences(self) -> list[int]:
        """Return the sequence numbers of every stored document."""
        ...

    def ids_of(self, sequences: Iterable[int]) -> dict[int, str]:
        """Return the ids of the stored documents among `sequences` (absent ones are left out)."""
        ...

    def documents_of(self, sequences: Iterable[int]) -> dict[int, StoredDocument]:
        """Return the stored documents among `sequences`, by sequence (absent ones are left out)."""
        ...

    def iter_signatures(self, sequences: Iterable[int]) -> Iterator[tuple[int, Signatures]]:
        """Yield (sequence, signatures) of the stored documents among `sequences`, to fill an index at start."""
        ...

    def iter_texts(self) -> Iterator[tuple[int, str]]:
        """Yield (sequence, text) of every stored document, in sequence order."""
        ...

    def replace_signatures(self, signatures: Mapping[int, Signatures]) -> None:
        """Store new signatures for the stored documents with these sequences, atomically."""
        ...

    def links_of(self, document_id: str) -> list[Link]:
        """Return every stored link that has `document_id` at either end, suppressed or not."""
        ...

    def sources_of(self, document_id: str) -> list[Link]:
        """Return the stored links of which `document_id` is the derived end (`Link.document_id`), suppressed or not."""
        ...

    def undated_links_of(self, document_id: str) -> list[Link]:
        """Return the stored links at either end of `document_id` whose direction publication dates did not decide.

        Those are the links whose direction the links around them can still turn (basis other than PUBLISHED_AT).
        """
        ...

    def dated_links_of(self, document_id: str) -> list[Link]:
        """Return the stored links at either end of `document_id` whose direction publication dates decided.

        With `undated_links_of`, every link of the document, each once.
        """
        ...

    def linked_ids(self, document_id: str, limit: int) -> list[str] | None:
        """Return the ids of the documents linked to `document_id`, or None when there are more than `limit`."""
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

    def tokenization_version(self) -> int | None:
        """Return the tokenization version the stored signatures were made under; None when none was recorded."""
        ...

    def save_tokenization_version(self, version: int) -> None: ...

    def direction_rules_version(self) -> int | None:
        """Return the direction rules version the stored links were decided under; None when none was recorded."""
        ...

    def save_direction_rules_version(self, version: int) -> None: ...

    def undated_link_ends(self) -> list[str]:
        """Return the ids of the documents at either end of a link that dates did not direct, each once, sorted."""
        ...

    def suppressed_copy_ends(self) -> list[str]:
        """Return the ids of the derived ends of suppressed links that are not rewrites, each once, sorted."""
        ...

    def counts(self) -> tuple[int, int, int]:
        """Return the numbers of stored documents, passages and (unsuppressed) links."""
        ...

    def size_bytes(self) -> int: ...


class Verifier(Protocol):
    """Compares texts with their candidates on the real text (see server/domain/verification.py).

    The work is pure computation on the texts it is given; an implementation may spread the jobs over
    processes. Thread-safe.
    """

    def verify(self, jobs: Sequence[VerificationJob]) -> list[list[Comparison | None]]:
        """Return, per job, how its query relates to each of its candidates (None where it does not)."""
        ...

    def submit(self, jobs: Sequence[VerificationJob]) -> PendingComparisons:
        """Start verifying `jobs` and return at once (or once done, where nothing runs beside the caller)."""
        ...

    def forget(self, document_id: str) -> None:
        """The document was deleted or replaced: whatever is kept about it may go."""
        ...

    def close(self) -> None: ...


class PendingComparisons(Protocol):
    """Verification started by `Verifier.submit`."""

    def result(self) -> list[list[Comparison | None]]:
        """Wait for the jobs and return what `Verifier.verify` would have returned for them."""
        ...

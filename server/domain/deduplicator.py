"""Deduplicator: the use cases (ingest, delete, find similar, provenance, cluster, compare, stats)."""

from __future__ import annotations

import math
import threading
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from server.domain.errors import (
    DedupError,
    DocumentAlreadyExistsError,
    DocumentNotFoundError,
    InvalidDocumentError,
    InvalidRequestError,
)
from server.domain.link_cache import LinkCache
from server.domain.model import (
    Cluster,
    Comparison,
    Document,
    IngestResult,
    IngestStatus,
    Link,
    Match,
    Provenance,
    Stats,
    StoredDocument,
)
from server.domain.ports import (
    PendingComparisons,
    ProvenanceStore,
    SignatureIndex,
    Signatures,
    StoreChange,
    Verifier,
)
from server.domain.provenance import (
    COPIED_WORDING_RULES_VERSION,
    DIRECTION_RULES_VERSION,
    REPRINTS_RULES_VERSION,
    TallyView,
    cluster_of,
    decide_directions,
    decide_suppression,
    provenance_of,
    unsettled,
)
from server.domain.tokenization import TOKENIZATION_VERSION, words_may_differ_since
from server.domain.verification import LocalVerifier, TextToCompare, VerificationJob

DEFAULT_MATCH_LIMIT: Final = 10
# While the index is filled at start, it is compacted (and saved) every this many documents.
LOAD_CHECKPOINT_DOCUMENTS: Final = 2000
# Texts signed again at start (see TOKENIZATION_VERSION) are stored this many at a time.
RESIGN_BATCH_DOCUMENTS: Final = 1000
# Links decided under older direction rules are decided again at start, the links of this many documents at a time.
REDECIDE_BATCH_DOCUMENTS: Final = 1000
# An ingest hands its verification jobs over this many at a time: enough to keep two workers busy
# while the next documents are screened, few enough that the first start early.
JOBS_PER_SUBMISSION: Final = 4
# A document with more links than this is a hub (a wire story, a page of boilerplate that many share): that two texts
# are both linked to it says little about the two, so a new document's second hop (`_second_hop`) does not pass it.
MAX_BRIDGE_LINKS: Final = 50
# Of a new document's second-hop candidates, the index checks at most this many (those reached by the most paths
# first), so that a document linked to many others does not read the windows of thousands.
MAX_SECOND_HOP_CHECKED: Final = 200


@dataclass(frozen=True, slots=True)
class DirectionsUpgrade:
    """What deciding links again at start did.

    `from_version` is the direction rules version the store's links had been decided under, `documents` the
    documents whose links were read, and `changed` the links whose direction or sibling status changed.
    """

    from_version: int
    documents: int = 0
    changed: int = 0


@dataclass(frozen=True, slots=True)
class IndexLoad:
    """What filling the index at start did: documents indexed, read from the store, checked and signed again.

    `checked` counts the stored texts read because the store was signed under older tokenization rules, and
    `resigned` those of them signed again.
    """

    indexed: int
    added: int
    checked: int = 0
    resigned: int = 0


@dataclass(frozen=True, slots=True)
class Limits:
    """Sizes the service accepts; the gRPC edge keeps its message limit above what these allow."""

    max_text_bytes: int = 4 * 1024 * 1024
    max_batch_documents: int = 512
    max_id_length: int = 256
    max_match_limit: int = 1000
    # Colliding passage pairs the index checks per query, the most band collisions first: a text that collides
    # with a large part of the store (boilerplate, a list of names) costs no more than this. Of the candidates
    # that pass, at most max_verified_candidates are verified on the real text, closest passages first.
    max_screened_pairs: int = 20_000
    max_verified_candidates: int = 50


@dataclass(frozen=True, slots=True)
class _Signed:
    """A document that passed the checks that need no store, with its signatures."""

    index: int
    document: Document
    signatures: Signatures


@dataclass(frozen=True, slots=True)
class _Accepted:
    index: int
    document: Document
    signatures: Signatures
    replaces: bool


class Deduplicator:
    """The provenance use cases, over a store (the source of truth) and a signature index derived from it.

    Writes are serialised by one lock, so that a batch's links are decided against a stable store;
    reads run concurrently, and so does signing, before the lock. Verification on the real texts goes
    to the verifier, which may run it in other processes.

    >>> from tests.fakes import ExactIndex, MemoryStore  # doctest: +SKIP
    >>> deduplicator = Deduplicator(MemoryStore(), ExactIndex())  # doctest: +SKIP
    >>> deduplicator.ingest([Document("a", "Some text.")])[0].status  # doctest: +SKIP
    <IngestStatus.CREATED: 'created'>
    """

    def __init__(
        self,
        store: ProvenanceStore,
        index: SignatureIndex,
        limits: Limits | None = None,
        verifier: Verifier | None = None,
    ) -> None:
        self._store = store
        self._index = index
        self._limits = limits or Limits()
        self._verifier: Verifier = verifier or LocalVerifier()
        self._write_lock = threading.RLock()
        # Links are written through this, and read through it while they are decided, all under the write lock.
        self._links = LinkCache(store)

    @property
    def limits(self) -> Limits:
        return self._limits

    def load_index(self) -> IndexLoad:
        """Reload the saved index, add the stored documents it lacks, and sign again texts signed under older rules."""
        missing = self._index.restore(self._store.sequences())
        for added, (sequence, signatures) in enumerate(self._store.iter_signatures(missing), 1):
            self._index.add(sequence, signatures)
            if added % LOAD_CHECKPOINT_DOCUMENTS == 0:
                self._index.checkpoint()
        checked, resigned = self._resign_older_tokenization()
        self._index.checkpoint()
        return IndexLoad(len(self._index), len(missing | resigned), checked, len(resigned))

    def _resign_older_tokenization(self) -> tuple[int, set[int]]:
        """Sign again the stored texts whose words the tokenizer may read otherwise than when they were signed.

        Their new signatures are stored and indexed a batch at a time, in place of the old ones, and the version is
        saved last: a start that stops half way signs again what it had not recorded yet. Returns the number of
        texts read and the sequences signed again.
        """
        # A store that recorded no version was signed under version 1, or is new and holds nothing to sign.
        version = self._store.tokenization_version() or 1
        if version > TOKENIZATION_VERSION:
            raise ValueError(
                f"the store was signed under tokenization version {version}, newer than this server's "
                f"{TOKENIZATION_VERSION}: run a server as new as the one that signed it"
            )
        checked = 0
        resigned: set[int] = set()
        if version == TOKENIZATION_VERSION:
            return checked, resigned
        batch: dict[int, Signatures] = {}
        for sequence, text in self._store.iter_texts():
            checked += 1
            if words_may_differ_since(version, text):
                batch[sequence] = self._index.sign(text)
            if len(batch) >= RESIGN_BATCH_DOCUMENTS:
                self._replace_signatures(batch)
                resigned.update(batch)
                batch = {}
        self._replace_signatures(batch)
        resigned.update(batch)
        self._store.save_tokenization_version(TOKENIZATION_VERSION)
        return checked, resigned

    def upgrade_directions(self) -> DirectionsUpgrade:
        """Decide again, under this server's rules, the links that the rules of an older one decided.

        The links around a pair can turn it (`decide_directions`) or make it a sibling link (`decide_suppression`),
        and those rules have changed since stores were first written: without this, a store would answer with the
        old decisions until documents arrived or left around each link. Only what a newer rule can change is read:
        from version 1, every link that dates did not direct, the links of a batch of documents at a time, then the
        sibling status of the links of documents whose sources changed; from version 2, the sibling status of the
        links of documents with a suppressed link that is not a rewrite. The version is saved last, so a start
        that stops half way decides again what it had not saved.
        """
        # A store that recorded no version was decided under version 1, or is new and holds no link.
        version = self._store.direction_rules_version() or 1
        if version > DIRECTION_RULES_VERSION:
            raise ValueError(
                f"the store's links were decided under direction rules version {version}, newer than this server's "
                f"{DIRECTION_RULES_VERSION}: run a server as new as the one that decided them"
            )
        if version == DIRECTION_RULES_VERSION:
            return DirectionsUpgrade(version)
        undated = self._store.undated_link_ends() if version < REPRINTS_RULES_VERSION else []
        copies = self._store.suppressed_copy_ends() if version < COPIED_WORDING_RULES_VERSION else []
        with self._write_lock:
            changed = self._decided_in_batches(undated, _directions_decided_again)
            changed += self._decided_in_batches(copies, _siblings_decided_again)
            self._store.save_direction_rules_version(DIRECTION_RULES_VERSION)
        return DirectionsUpgrade(version, len(set(undated) | set(copies)), changed)

    def _decided_in_batches(
        self, documents: Sequence[str], decide: Callable[[_Neighbourhood, Sequence[str]], list[Link]]
    ) -> int:
        """Store what `decide` changes around `documents`, REDECIDE_BATCH_DOCUMENTS at a time; return the count."""
        changed = 0
        for first in range(0, len(documents), REDECIDE_BATCH_DOCUMENTS):
            upserted = decide(_Neighbourhood(self._links, set()), documents[first : first + REDECIDE_BATCH_DOCUMENTS])
            self._links.apply(StoreChange(upserted_links=upserted))
            changed += len(upserted)
        return changed

    def _replace_signatures(self, signatures: dict[int, Signatures]) -> None:
        if not signatures:
            return
        # Indexed from the signatures in hand: reading them back would scan the store from the oldest of them.
        self._store.replace_signatures(signatures)
        for sequence, new in signatures.items():
            # The index holds the windows of its old signatures, from the saved index or the store.
            self._index.remove(sequence)
            self._index.add(sequence, new)
        self._index.checkpoint()

    def ingest(self, documents: Sequence[Document], replace: bool = False) -> list[IngestResult]:
        """Store documents and the links they take part in; one result per document, in order.

        A document that cannot be stored gets a REJECTED result and leaves the others unaffected.
        When every document is rejected, the first error is raised instead.
        """
        if not documents:
            raise InvalidRequestError("documents is empty: send at least one document")
        if len(documents) > self._limits.max_batch_documents:
            raise InvalidRequestError(
                f"the batch has {len(documents)} documents; send at most {self._limits.max_batch_documents} per request"
            )
        results: list[IngestResult | None] = [None] * len(documents)
        signed: list[_Signed] = []
        seen_ids: set[str] = set()
        # Signing needs no store, and runs outside the lock: concurrent batches sign in parallel.
        for index, document in enumerate(documents):
            try:
                signed.append(self._sign(index, document, seen_ids))
            except DedupError as error:
                results[index] = IngestResult(document.id, IngestStatus.REJECTED, error=error)
        with self._write_lock:
            accepted: list[_Accepted] = []
            for item in signed:
                try:
                    outcome = self._accept(item, replace)
                except DedupError as error:
                    results[item.index] = IngestResult(item.document.id, IngestStatus.REJECTED, error=error)
                    continue
                if isinstance(outcome, IngestResult):
                    results[item.index] = outcome
                else:
                    accepted.append(outcome)
            if accepted:
                self._store_accepted(accepted, results)
            final = [result for result in results if result is not None]
            rejected = [result for result in final if result.status is IngestStatus.REJECTED]
            if rejected and len(rejected) == len(final) and rejected[0].error is not None:
                raise _batch_error(rejected)
            return final

    def get_document(self, document_id: str) -> StoredDocument:
        self._validate_id(document_id, "document_id")
        stored = self._store.get_document(document_id)
        if stored is None:
            raise _not_found(document_id)
        return stored

    def delete_document(self, document_id: str) -> list[str]:
        """Remove a document and its links; return the documents whose links were re-decided."""
        with self._write_lock:
            sequence = self._require(document_id)
            neighbours = sorted({link.other(document_id) for link in self._links.links_of(document_id)})
            changed = _redecided(_Neighbourhood(self._links, {document_id}), set(neighbours))
            self._links.apply(StoreChange(removed_ids=[document_id], upserted_links=changed))
            self._index.remove(sequence)
            self._index.checkpoint()
            self._verifier.forget(document_id)
            return neighbours

    def find_similar(
        self, *, document_id: str | None = None, text: str | None = None, limit: int = 0, min_score: float = 0.0
    ) -> list[Match]:
        """Return stored documents that share passages with a stored document or an unstored text."""
        if (document_id is None) == (text is None):
            raise InvalidRequestError("set exactly one of document_id and text as the query")
        if limit < 0 or limit > self._limits.max_match_limit:
            raise InvalidRequestError(
                f"limit is {limit}; use 0 for the default ({DEFAULT_MATCH_LIMIT}) or at most "
                f"{self._limits.max_match_limit}"
            )
        if math.isnan(min_score) or not 0.0 <= min_score <= 1.0:
            raise InvalidRequestError(f"min_score is {min_score}; use a value from 0 to 1")
        if document_id is not None:
            self._require(document_id)
            # A document was verified, when it was ingested, against the stored documents it shares passages
            # with, and each related one became a link (siblings' too). So a stored document's matches are its
            # links, read rather than recomputed: a query by id costs what GetProvenance costs.
            matches = [
                Match(link.other(document_id), link.seen_from(document_id))
                for link in self._store.links_of(document_id)
            ]
        else:
            assert text is not None  # noqa: S101 - guaranteed by the exactly-one check above
            matches = self._verified_matches(text)
        matches = [match for match in matches if match.comparison.score >= min_score]
        matches.sort(key=lambda match: (-match.comparison.score, match.document_id))
        return matches[: limit or DEFAULT_MATCH_LIMIT]

    def _verified_matches(self, text: str) -> list[Match]:
        """Return the stored documents that share passages with an unstored text, verified on the real texts."""
        signatures = self._signed_query_text(text, "text")
        query = TextToCompare(text)
        screened = self._ranked(self._index.screen(signatures, self._limits.max_screened_pairs))
        job, candidate_ids = self._job(query, screened, {})
        if not job.candidates:
            # Most texts a caller checks share nothing with the store: no worker needs to see them.
            return []
        (comparisons,) = self._verifier.verify([job])
        return [
            Match(candidate_id, comparison)
            for candidate_id, comparison in zip(candidate_ids, comparisons, strict=True)
            if comparison is not None
        ]

    def provenance(self, document_id: str) -> Provenance:
        self._require(document_id)
        return provenance_of(document_id, self._store.links_of, self._store.sources_of)

    def cluster(self, document_id: str) -> Cluster:
        self._require(document_id)
        return cluster_of(document_id, self._store.links_of)

    def compare(self, text_a: str, text_b: str) -> Comparison | None:
        """Compare two texts, storing nothing; on an exact tie, text_b counts as the earlier one."""
        self._signed_query_text(text_a, "text_a")
        self._signed_query_text(text_b, "text_b")
        # Compared by the verifier, as FindSimilar's candidates are: in a worker, beside other requests. b is given
        # an ingest position so that, as for a stored document, ties make b the source.
        job = VerificationJob(TextToCompare(text_a), (TextToCompare(text_b, sequence=0),))
        ((comparison,),) = self._verifier.verify([job])
        return comparison

    def stats(self) -> Stats:
        documents, passages, links = self._store.counts()
        return Stats(
            document_count=documents,
            passage_count=passages,
            link_count=links,
            index_parameters=self._index.parameters,
            store_bytes=self._store.size_bytes(),
            max_text_bytes=self._limits.max_text_bytes,
            max_batch_documents=self._limits.max_batch_documents,
            index_bytes=self._index.memory_bytes(),
        )

    def _sign(self, index: int, document: Document, seen_ids: set[str]) -> _Signed:
        self._validate_id(document.id, f"documents[{index}].id")
        if document.id in seen_ids:
            raise InvalidDocumentError(
                f"documents[{index}].id {document.id!r} appears more than once in this request; send each id once"
            )
        seen_ids.add(document.id)
        self._validate_text(document.text, f"documents[{index}].text")
        signatures = self._index.sign(document.text)
        if not signatures.passages:
            raise InvalidDocumentError(_no_content_words(f"documents[{index}].text"))
        return _Signed(index, document, signatures)

    def _accept(self, item: _Signed, replace: bool) -> IngestResult | _Accepted:
        document = item.document
        existing = self._store.get_document(document.id)
        if existing is not None:
            if existing.document.text == document.text:
                links = tuple(link for link in self._store.links_of(document.id) if not link.suppressed)
                return IngestResult(document.id, IngestStatus.UNCHANGED, links)
            if not replace:
                raise DocumentAlreadyExistsError(
                    f"document {document.id!r} is already stored with another text; "
                    "set replace to overwrite it, or use another id"
                )
        return _Accepted(item.index, document, item.signatures, replaces=existing is not None)

    def _store_accepted(self, accepted: list[_Accepted], results: list[IngestResult | None]) -> None:
        replaced_ids = [item.document.id for item in accepted if item.replaces]
        old_entries = {
            sequence: self._store.get_signatures(rid)
            for rid in replaced_ids
            if (sequence := self._store.sequence_of(rid)) is not None
        }
        for old_sequence in old_entries:
            self._index.remove(old_sequence)
        # The batch's documents by sequence: what a failure takes back out of the index.
        batch: dict[int, _Accepted] = {}
        try:
            first_sequence = self._store.last_sequence() + 1
            batch = {first_sequence + offset: item for offset, item in enumerate(accepted)}
            # Each document's candidates are the stored documents and the batch's earlier ones. Jobs are handed to
            # the verifier a few at a time as they are made, so that where it runs them beside this thread (worker
            # processes), verifying and reading the candidates' texts overlap.
            closeness = self._index.add_and_screen(
                [(sequence, item.signatures) for sequence, item in batch.items()], self._limits.max_screened_pairs
            )
            jobs: list[VerificationJob] = []
            owners: list[tuple[str, list[str]]] = []
            pending: list[PendingComparisons] = []
            for (sequence, item), found in zip(batch.items(), closeness, strict=True):
                screened = self._ranked(found)
                if screened:
                    query = TextToCompare(item.document.text, item.document, sequence)
                    job, candidate_ids = self._job(query, screened, batch)
                    jobs.append(job)
                    owners.append((item.document.id, candidate_ids))
                    if len(jobs) == JOBS_PER_SUBMISSION:
                        pending.append(self._verifier.submit(jobs))
                        jobs = []
            if jobs:
                pending.append(self._verifier.submit(jobs))
            comparisons_per_job = [comparisons for part in pending for comparisons in part.result()]
            new_links = _links_from(owners, comparisons_per_job)
            new_links += self._second_hop(batch, new_links, closeness)
            upserts = self._decide_links(new_links, {item.document.id for item in batch.values()}, set(replaced_ids))
            self._links.apply(
                StoreChange(
                    added=[(item.document, item.signatures) for item in accepted],
                    removed_ids=replaced_ids,
                    upserted_links=upserts,
                    first_sequence=first_sequence,
                )
            )
        except BaseException:
            for sequence in batch:
                self._index.remove(sequence)
            for old_sequence, signatures in old_entries.items():
                if signatures is not None:
                    self._index.add(old_sequence, signatures)
            raise
        self._index.checkpoint()
        for replaced_id in replaced_ids:
            self._verifier.forget(replaced_id)
        for item in accepted:
            links = tuple(link for link in self._links.links_of(item.document.id) if not link.suppressed)
            status = IngestStatus.REPLACED if item.replaces else IngestStatus.CREATED
            results[item.index] = IngestResult(item.document.id, status, links)

    def _second_hop(
        self, batch: dict[int, _Accepted], new_links: list[Link], closeness: list[dict[int, float]]
    ) -> list[Link]:
        """Verify each new document against the documents linked to those it was just linked to, unless screened.

        Screening samples the texts (MinHash), so it misses some reuse that verification would find: a
        randomly reworded or translated passage whose windows share too few words with the stored ones. When
        the new text is related to a document that is in turn related to a third, the three often share
        text (two versions of one page, and that page's source), so the third is worth verifying even
        though screening did not bring it, if the index finds a passage of it alike to one of the new text's
        at a looser bar (`SignatureIndex.alike`). Documents that screening did bring (verified or ranked beyond
        `max_verified_candidates`) are not tried again, nor are documents stored after the new one, nor paths
        through hubs (`MAX_BRIDGE_LINKS`). Of those left, the index checks at most `MAX_SECOND_HOP_CHECKED` and
        at most `max_verified_candidates` are verified, those reached by the most paths first.
        """
        if not new_links:
            # Most batches of a news feed link nothing: nothing to build.
            return []
        linked: defaultdict[str, set[str]] = defaultdict(set)
        for link in new_links:
            linked[link.document_id].add(link.source_id)
            linked[link.source_id].add(link.document_id)
        batch_sequences = {item.document.id: sequence for sequence, item in batch.items()}
        stored_links: dict[str, list[str] | None] = {}
        owners: list[tuple[str, list[str]]] = []
        jobs: list[VerificationJob] = []
        for (sequence, item), screened in zip(batch.items(), closeness, strict=True):
            document_id = item.document.id
            neighbours = linked.get(document_id)
            if not neighbours:
                continue
            paths: Counter[str] = Counter()
            for neighbour in sorted(neighbours):
                if neighbour not in stored_links:
                    stored_links[neighbour] = self._store.linked_ids(neighbour, MAX_BRIDGE_LINKS)
                onward = stored_links[neighbour]
                if onward is None or len(onward) + len(linked[neighbour]) > MAX_BRIDGE_LINKS:
                    continue
                paths.update(set(onward) | linked[neighbour])
            candidates: list[int] = []
            for other, _ in sorted(paths.items(), key=lambda path: (-path[1], path[0])):
                if other == document_id or other in neighbours:
                    continue
                other_sequence = batch_sequences.get(other)
                if other_sequence is None:
                    other_sequence = self._store.sequence_of(other)
                # Each document is compared with those before it, as screening does, and not twice.
                if other_sequence is None or other_sequence >= sequence or other_sequence in screened:
                    continue
                candidates.append(other_sequence)
                if len(candidates) == MAX_SECOND_HOP_CHECKED:
                    break
            alike = self._index.alike(item.signatures, candidates) if candidates else set()
            candidates = [candidate for candidate in candidates if candidate in alike]
            candidates = candidates[: self._limits.max_verified_candidates]
            if candidates:
                query = TextToCompare(item.document.text, item.document, sequence)
                job, candidate_ids = self._job(query, candidates, batch)
                jobs.append(job)
                owners.append((document_id, candidate_ids))
        return _links_from(owners, self._verifier.verify(jobs)) if jobs else []

    def _ranked(self, closeness: dict[int, float]) -> list[int]:
        """Return the screened sequences worth verifying against the query's text, the closest first."""
        # Ties go to the older document, which is likelier to be the source.
        return sorted(closeness, key=lambda seq: (-closeness[seq], seq))[: self._limits.max_verified_candidates]

    def _job(
        self, query: TextToCompare, screened: list[int], batch: dict[int, _Accepted]
    ) -> tuple[VerificationJob, list[str]]:
        """Return the job comparing `query` with the screened candidates' texts, and those candidates' ids."""
        # A candidate deleted since the index was read is simply not compared.
        stored = self._store.documents_of(sequence for sequence in screened if sequence not in batch)
        candidates: list[TextToCompare] = []
        candidate_ids: list[str] = []
        for sequence in screened:
            if sequence in batch:
                document = batch[sequence].document
            elif sequence in stored:
                document = stored[sequence].document
            else:
                continue
            candidates.append(TextToCompare(document.text, document, sequence))
            candidate_ids.append(document.id)
        return VerificationJob(query, tuple(candidates)), candidate_ids

    def _decide_links(self, new_links: list[Link], new_ids: set[str], replaced_ids: set[str]) -> list[Link]:
        """Return the links to write: the new ones, and stored ones whose direction or sibling status changes."""
        neighbourhood = _Neighbourhood(self._links, replaced_ids, new_ids)
        affected = set(new_ids)
        # A replaced document's old neighbours lose it as a common source and as a part, as on delete.
        for replaced_id in replaced_ids:
            affected.update(link.other(replaced_id) for link in self._links.links_of(replaced_id))
        for link in new_links:
            neighbourhood.put(link)
            affected.update((link.document_id, link.source_id))
        return _redecided(neighbourhood, affected)

    def _require(self, document_id: str) -> int:
        """Return the stored document's sequence number; raise NOT_FOUND without reading its text."""
        self._validate_id(document_id, "document_id")
        sequence = self._store.sequence_of(document_id)
        if sequence is None:
            raise _not_found(document_id)
        return sequence

    def _signed_query_text(self, text: str, field: str) -> Signatures:
        self._validate_text(text, field)
        signatures = self._index.sign(text)
        if not signatures.passages:
            raise InvalidRequestError(_no_content_words(field))
        return signatures

    def _validate_id(self, document_id: str, field: str) -> None:
        if not document_id or not document_id.strip():
            raise InvalidDocumentError(f"{field} is empty; give a non-empty id")
        if len(document_id) > self._limits.max_id_length:
            raise InvalidDocumentError(
                f"{field} has {len(document_id)} characters; ids may have at most {self._limits.max_id_length}"
            )
        if any(unicodedata.category(char) in ("Cc", "Cs") for char in document_id):
            raise InvalidDocumentError(f"{field} contains control characters; use printable characters in ids")

    def _validate_text(self, text: str, field: str) -> None:
        if not text.strip():
            raise InvalidDocumentError(f"{field} is empty or only whitespace; send the document's text")
        try:
            size = len(text.encode("utf-8"))
        except UnicodeEncodeError as error:
            raise InvalidDocumentError(
                f"{field} has an unpaired surrogate code point at index {error.start}; send valid Unicode text"
            ) from None
        if size > self._limits.max_text_bytes:
            raise InvalidDocumentError(
                f"{field} is {size} bytes of UTF-8; the limit is {self._limits.max_text_bytes} bytes: split the text"
            )


def _links_from(owners: list[tuple[str, list[str]]], comparisons_per_job: list[list[Comparison | None]]) -> list[Link]:
    """Return the links that the related comparisons make, each job's owner the document it compared."""
    return [
        Link.from_comparison(document_id, candidate_id, comparison)
        for (document_id, candidate_ids), comparisons in zip(owners, comparisons_per_job, strict=True)
        for candidate_id, comparison in zip(candidate_ids, comparisons, strict=True)
        if comparison is not None
    ]


def _no_content_words(field: str) -> str:
    return f"{field} has no content words to compare (only punctuation, symbols or stop words); send prose"


def _not_found(document_id: str) -> DocumentNotFoundError:
    return DocumentNotFoundError(f"no document has id {document_id!r}; ingest it first or check the id")


class _Neighbourhood:
    """The stored links around some documents, each document's read once, with a change's links laid over them."""

    def __init__(self, links: LinkCache, removed_ids: set[str], new_ids: set[str] | None = None) -> None:
        self._links = links
        self._removed_ids = removed_ids
        # A new document has no stored links, and a removed one's are all gone: neither is read.
        self._stored: dict[str, dict[frozenset[str], Link]] = {
            document_id: {} for document_id in removed_ids | (new_ids or set())
        }
        # Of documents whose links were not all read: the stored links dates did not direct, and the sources.
        self._undated: dict[str, dict[frozenset[str], Link]] = {}
        self._sources: dict[str, dict[frozenset[str], Link]] = {}
        self._changed: dict[str, dict[frozenset[str], Link]] = defaultdict(dict)
        self._before: dict[frozenset[str], Link | None] = {}
        self._latest: dict[frozenset[str], Link] = {}
        # The stored links of each document read so far that end at a removed document.
        self._removed_links: dict[str, list[Link]] = {}

    def links_of(self, document_id: str) -> list[Link]:
        """Return every link of `document_id`, as changed so far; links to removed documents are gone."""
        return list((self._stored_links_of(document_id) | self._changed[document_id]).values())

    def undated_links_of(self, document_id: str) -> list[Link]:
        """Return the links of `document_id` that dates did not direct, as changed so far, and every changed one.

        Only for a change that removes nothing: links to a removed document are found by reading all of them.
        """
        stored = self._stored_part_of(document_id, self._undated, self._links.undated_links_of)
        return list((stored | self._changed[document_id]).values())

    def sources_of(self, document_id: str) -> list[Link]:
        """Return the links of which `document_id` is the derived end, as changed so far."""
        stored = self._stored_part_of(document_id, self._sources, self._links.sources_of)
        return [link for link in (stored | self._changed[document_id]).values() if link.document_id == document_id]

    @property
    def removes_nothing(self) -> bool:
        return not self._removed_ids

    def tally_of(self, document_id: str) -> TallyView | None:
        """Return the tally of the parts of `document_id`'s links as changed so far, when one is kept.

        Only for a change that removes nothing (a removed link is not taken out of a tally).
        """
        if self._removed_ids:
            return None
        # Read (and kept whole in the cache) before its tally is asked for.
        self._stored_links_of(document_id)
        tally = self._links.tally_of(document_id)
        if tally is None:
            return None
        laid = self._changed.get(document_id, {})
        return TallyView.of(document_id, tally, ((self._before[pair], link) for pair, link in laid.items()))

    def sources_changed(self) -> set[str]:
        """Return the documents whose sources the change so far altered.

        Those are the derived ends of the links it laid, as stored and as laid, and of the stored links it removes
        that have been read.
        """
        derived = {link.document_id for link in self._latest.values()}
        derived.update(link.document_id for link in self._before.values() if link is not None)
        derived.update(link.document_id for links in self._removed_links.values() for link in links)
        return derived - self._removed_ids

    def put(self, link: Link) -> None:
        """Lay `link` over the stored link between its two documents, if any."""
        pair = link.ends
        if pair not in self._before:
            self._before[pair] = self._stored_links_of(link.document_id).get(pair)
        self._latest[pair] = link
        self._changed[link.document_id][pair] = link
        self._changed[link.source_id][pair] = link

    def changed_links_of(self, document_id: str) -> list[Link]:
        """Return the links of `document_id` removed or laid over so far: each as stored (if it was) and as laid."""
        if self._removed_ids:
            # Reading its links finds those to removed documents. A change that removes none (an ingest of new
            # documents) reads no links here: `unsettled` asks this of both ends of every link around the
            # change, and most far ends are documents the change never touched.
            self._stored_links_of(document_id)
        laid = self._changed.get(document_id, {})
        before = [link for pair in laid if (link := self._before[pair]) is not None]
        return [*self._removed_links.get(document_id, ()), *before, *laid.values()]

    def changes(self) -> list[Link]:
        """Return the links laid over the store that differ from what it holds, in the order first laid."""
        return [self._latest[pair] for pair, before in self._before.items() if self._latest[pair] != before]

    def _stored_part_of(
        self, document_id: str, read_so_far: dict[str, dict[frozenset[str], Link]], read: Callable[[str], list[Link]]
    ) -> dict[frozenset[str], Link]:
        """Return some of the stored links of `document_id`, by `read`; all of them when they have all been read."""
        if document_id in self._stored:
            return self._stored[document_id]
        if document_id not in read_so_far:
            kept = (link for link in read(document_id) if not self._ends_removed(link))
            read_so_far[document_id] = {link.ends: link for link in kept}
        return read_so_far[document_id]

    def _stored_links_of(self, document_id: str) -> dict[frozenset[str], Link]:
        if document_id not in self._stored and document_id in self._undated and not self._removed_ids:
            # Deciding an undated story's links reads its undated links first, then all of them for the parts they
            # share: only the dated ones are left to read (a quarter of the rows read at 512 undated copies had
            # been read once already).
            dated = {link.ends: link for link in self._links.dated_links_of(document_id)}
            self._stored[document_id] = self._undated[document_id] | dated
            self._links.remember(document_id, self._stored[document_id].values())
        if document_id not in self._stored:
            kept: dict[frozenset[str], Link] = {}
            removed: list[Link] = []
            for link in self._links.links_of(document_id):
                if self._ends_removed(link):
                    removed.append(link)
                else:
                    kept[link.ends] = link
            self._stored[document_id] = kept
            self._removed_links[document_id] = removed
        return self._stored[document_id]

    def _ends_removed(self, link: Link) -> bool:
        # Asked of every link read, where `Link.ends & removed` made a set each time: most changes remove nothing.
        removed = self._removed_ids
        return bool(removed) and (link.document_id in removed or link.source_id in removed)


def _redecided(neighbourhood: _Neighbourhood, affected: set[str]) -> list[Link]:
    """Re-decide the links around documents whose links changed; return those that change.

    First the direction of the links of affected documents that the change may turn (their parts changed,
    see `unsettled`), then sibling status: of every link of a document whose sources changed, by a new,
    removed or re-directed link.
    """
    # A link directed by dates never turns, so a change that removes nothing reads only the others: a wire story's
    # thousands of dated copies are not read again, each time one more arrives, to find that none can turn. A
    # removal reads every link, which is how the links it takes away are found.
    links_of = neighbourhood.undated_links_of if neighbourhood.removes_nothing else neighbourhood.links_of
    around = _unique_links(link for document_id in sorted(affected) for link in links_of(document_id))
    return _decided_again(neighbourhood, unsettled(around, neighbourhood.changed_links_of))


def _decided_again(neighbourhood: _Neighbourhood, around: list[Link]) -> list[Link]:
    """Decide the direction of `around` again, then the sibling status of the links it may alter; return the changes."""
    decided = decide_directions(around, neighbourhood.links_of, neighbourhood.tally_of)
    for link, before in zip(decided, around, strict=True):
        if link != before:
            neighbourhood.put(link)
    # Whether a link is a sibling link depends on the link and on the sources of its two ends (see
    # `decide_suppression`), so only the links of documents whose sources changed can change status. A new copy is
    # the derived end of its links: its own links are re-decided, not those of the story it took text from.
    _decide_siblings(neighbourhood, neighbourhood.sources_changed())
    return neighbourhood.changes()


def _directions_decided_again(neighbourhood: _Neighbourhood, documents: Sequence[str]) -> list[Link]:
    """Decide the direction of the undated links of `documents` again, then sibling status; return the changes."""
    return _decided_again(
        neighbourhood, _unique_links(link for end in documents for link in neighbourhood.undated_links_of(end))
    )


def _siblings_decided_again(neighbourhood: _Neighbourhood, documents: Sequence[str]) -> list[Link]:
    """Decide the sibling status of the links of `documents` again; return the links whose status changed."""
    # Sibling status is decided from the sources of a link's ends, suppressed or not, so a link whose status
    # changes alters no other link's.
    _decide_siblings(neighbourhood, set(documents))
    return neighbourhood.changes()


def _decide_siblings(neighbourhood: _Neighbourhood, documents: set[str]) -> None:
    """Decide the sibling status of every link of `documents`, laying the links whose status changed."""
    candidates = _unique_links(
        link for document_id in sorted(documents) for link in neighbourhood.links_of(document_id)
    )
    ends = sorted({end for link in candidates for end in link.ends})
    context = _unique_links(link for end in ends for link in neighbourhood.sources_of(end))
    for link, before in zip(decide_suppression(candidates, context), candidates, strict=True):
        if link != before:
            neighbourhood.put(link)


def _unique_links(links: Iterable[Link]) -> list[Link]:
    unique: dict[tuple[str, str], Link] = {}
    for link in links:
        unique[(link.document_id, link.source_id)] = link
    return list(unique.values())


def _batch_error(rejected: list[IngestResult]) -> DedupError:
    first = rejected[0].error
    assert isinstance(first, DedupError)  # noqa: S101 - only DedupErrors are recorded as rejections
    if len(rejected) == 1:
        return first
    message = f"{first} (and {len(rejected) - 1} more documents were rejected; nothing was stored)"
    return type(first)(message)

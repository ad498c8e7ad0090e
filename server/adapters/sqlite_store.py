"""SqliteProvenanceStore: the ProvenanceStore in one SQLite file (WAL, one transaction per change)."""

from __future__ import annotations

import json
import queue
import sqlite3
import struct
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from server.domain.errors import StoreBusyError
from server.domain.model import (
    DirectionBasis,
    Document,
    IndexParameters,
    Link,
    PairwiseDirection,
    Relation,
    Span,
    StoredDocument,
)
from server.domain.ports import Signatures, StoreChange

DATABASE_NAME: Final = "provenance.sqlite3"
SCHEMA_VERSION: Final = "2"
# SQLite's default page cache of 2 MiB a connection came to about 80 MiB of heap when each of 32 request threads
# had its own. Under ingest a WAL connection drops its cache whenever another has committed since its last read,
# so the cache mostly helps reads in quiet spells: at 1M documents, 1 MiB answered as fast as 2 MiB, 256 KiB a
# little slower.
_PAGE_CACHE_KIB: Final = 1024
# Request threads borrow connections from a pool of this many, for one statement or one transaction each, so the
# store's memory does not follow the thread count: with a connection per thread, SQLite's heap went from 5 to 36
# MiB as a load that fell behind woke more threads. Two cores run at most two statements at once; the rest cover
# the writer's commit and reads waiting on the disk.
POOLED_CONNECTIONS: Final = 8
# Texts and signatures are read a page at a time, so that no connection is held while the caller works between
# pages (and writes, or reads through another).
_PAGE_ROWS: Final = 1000

# What GetStats counts: documents with their passages, and links that are not between siblings.
COUNT_QUERIES: Final = (
    "SELECT COUNT(*), COALESCE(SUM(passage_count), 0) FROM documents",
    "SELECT COUNT(*) FROM links WHERE suppressed = 0",
)
_DOCUMENT_COLUMNS: Final = "sequence, id, text, source, url, title, published_at, metadata, ingested_at"
_DOCUMENT_BY_ID: Final = f"SELECT {_DOCUMENT_COLUMNS} FROM documents WHERE id = ?"  # noqa: S608 - constants only
_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS documents (
    sequence INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    text TEXT NOT NULL,
    source TEXT NOT NULL,
    url TEXT NOT NULL,
    title TEXT NOT NULL,
    published_at TEXT,
    metadata TEXT NOT NULL,
    ingested_at TEXT NOT NULL,
    document_signature BLOB NOT NULL,
    passage_signatures BLOB NOT NULL,
    passage_count INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS links (
    document_id TEXT NOT NULL,
    source_id TEXT NOT NULL,
    relation TEXT NOT NULL,
    score REAL NOT NULL,
    jaccard REAL NOT NULL,
    containment REAL NOT NULL,
    source_containment REAL NOT NULL,
    confidence REAL NOT NULL,
    basis TEXT NOT NULL,
    evidence TEXT NOT NULL,
    suppressed INTEGER NOT NULL,
    pairwise TEXT,
    PRIMARY KEY (document_id, source_id)
);
CREATE INDEX IF NOT EXISTS links_by_source ON links (source_id);
-- GetStats counts from these alone. Without them, summing passage_count (the last column, after the text) read
-- every row's overflow pages, the whole store: 3 to 30 s at a million documents, past the client's deadline.
-- A store made before them gets them when next opened, in one pass over its documents.
CREATE INDEX IF NOT EXISTS documents_by_passage_count ON documents (passage_count);
CREATE INDEX IF NOT EXISTS links_by_suppressed ON links (suppressed);
-- The links that dates did not direct, at each end: ingest re-decides the direction of those around a new
-- document, and a wire story's thousands of dated links are then not read to find that none can turn. Partial,
-- so a dated link costs these indexes nothing.
CREATE INDEX IF NOT EXISTS undated_links_by_document ON links (document_id) WHERE basis != 'published_at';
CREATE INDEX IF NOT EXISTS undated_links_by_source ON links (source_id) WHERE basis != 'published_at';
"""

_SIGNATURE_COLUMNS: Final = "sequence, document_signature, passage_signatures, passage_count"
_LINK_COLUMNS: Final = (
    "document_id, source_id, relation, score, jaccard, containment, source_containment, "
    "confidence, basis, evidence, suppressed, pairwise"
)
# Version 2 added links.pairwise; every link of a version 1 store points the way its texts decided.
_MIGRATIONS: Final = {"1": "ALTER TABLE links ADD COLUMN pairwise TEXT"}


class SqliteProvenanceStore:
    """Documents, signatures and links in SQLite, the service's source of truth.

    Threads borrow connections from a small pool, one thread at a time each (sqlite3 connections must not be used
    by two threads at once); WAL lets readers run while one writer commits. `synchronous=FULL` makes a commit durable
    before the ingest that caused it is acknowledged.
    """

    def __init__(self, data_dir: Path, busy_timeout_seconds: float = 30.0) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.path = data_dir / DATABASE_NAME
        self._busy_timeout_seconds = busy_timeout_seconds
        self._write_lock = threading.Lock()
        self._pool = _ConnectionPool(self._open_connection, POOLED_CONNECTIONS)
        with self._pool.borrowed() as connection:
            connection.executescript(_SCHEMA)
        stored_version = self._meta("schema_version")
        if stored_version is None:
            with self._transaction() as transaction:
                transaction.execute("INSERT INTO meta VALUES ('schema_version', ?)", (SCHEMA_VERSION,))
        elif stored_version in _MIGRATIONS:
            with self._transaction() as transaction:
                transaction.execute(_MIGRATIONS[stored_version])
                transaction.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (SCHEMA_VERSION,))
        elif stored_version != SCHEMA_VERSION:
            raise RuntimeError(
                f"{self.path} has schema version {stored_version}; this server reads version {SCHEMA_VERSION}"
            )

    def close(self) -> None:
        self._pool.close()

    def get_document(self, document_id: str) -> StoredDocument | None:
        row = self._fetch_one(_DOCUMENT_BY_ID, (document_id,))
        return None if row is None else _stored_document(row)

    def sequence_of(self, document_id: str) -> int | None:
        row = self._fetch_one("SELECT sequence FROM documents WHERE id = ?", (document_id,))
        return None if row is None else int(row[0])

    def get_signatures(self, document_id: str) -> Signatures | None:
        row = self._fetch_one(
            "SELECT document_signature, passage_signatures, passage_count FROM documents WHERE id = ?", (document_id,)
        )
        return _signatures_from_row(row[0], row[1], row[2]) if row else None

    def sequences(self) -> list[int]:
        # Read from the cursor, not fetched whole first: at a million documents the fetched rows raised the start's
        # peak by 35-50 MB.
        with self._pool.borrowed() as connection:
            return [int(row[0]) for row in connection.execute("SELECT sequence FROM documents")]

    def ids_of(self, sequences: Iterable[int]) -> dict[int, str]:
        rows = self._rows_of("sequence, id", sequences)
        # Interned like the ids of links (`_link_from_row`): candidates' ids end up in the links kept.
        return {int(sequence): sys.intern(str(document_id)) for sequence, document_id in rows}

    def documents_of(self, sequences: Iterable[int]) -> dict[int, StoredDocument]:
        # One look-up by sequence (the table's rowid) per document, rather than its id and then its row by id.
        return {row[0]: _stored_document(row) for row in self._rows_of(_DOCUMENT_COLUMNS, sequences)}

    def iter_signatures(self, sequences: Iterable[int]) -> Iterator[tuple[int, Signatures]]:
        wanted = set(sequences)
        if not wanted:
            return
        # The documents to load are nearly always the newest ones (ingested after the index was last
        # saved), so one range scan from the oldest wanted sequence reads little beyond them.
        for sequence, document_signature, passage_signatures, passage_count in self._pages(
            _SIGNATURE_COLUMNS, after=min(wanted) - 1
        ):
            if sequence in wanted:
                yield int(sequence), _signatures_from_row(document_signature, passage_signatures, passage_count)

    def iter_texts(self) -> Iterator[tuple[int, str]]:
        yield from ((int(sequence), str(text)) for sequence, text in self._pages("sequence, text", after=-1))

    def replace_signatures(self, signatures: Mapping[int, Signatures]) -> None:
        with self._write_lock, self._transaction() as transaction:
            transaction.executemany(
                "UPDATE documents SET document_signature = ?, passage_signatures = ?, passage_count = ? "
                "WHERE sequence = ?",
                [
                    (new.document, _pack(new.passages), len(new.passages), sequence)
                    for sequence, new in signatures.items()
                ],
            )

    def links_of(self, document_id: str) -> list[Link]:
        rows = self._fetch_all(
            f"SELECT {_LINK_COLUMNS} FROM links WHERE document_id = ? "  # noqa: S608 - constant column list
            f"UNION ALL SELECT {_LINK_COLUMNS} FROM links WHERE source_id = ?",
            (document_id, document_id),
        )
        return [_link_from_row(row) for row in rows]

    def linked_ids(self, document_id: str, limit: int) -> list[str] | None:
        # Ids only, and at most one past the limit: a wire story's thousand links are not read to be refused.
        rows = self._fetch_all(
            "SELECT source_id FROM links WHERE document_id = ? "
            "UNION ALL SELECT document_id FROM links WHERE source_id = ? LIMIT ?",
            (document_id, document_id, limit + 1),
        )
        return None if len(rows) > limit else [str(row[0]) for row in rows]

    def sources_of(self, document_id: str) -> list[Link]:
        rows = self._fetch_all(
            f"SELECT {_LINK_COLUMNS} FROM links WHERE document_id = ?",  # noqa: S608 - constant column list
            (document_id,),
        )
        return [_link_from_row(row) for row in rows]

    def undated_links_of(self, document_id: str) -> list[Link]:
        rows = self._fetch_all(UNDATED_LINKS_QUERY, (document_id, document_id))
        return [_link_from_row(row) for row in rows]

    def dated_links_of(self, document_id: str) -> list[Link]:
        rows = self._fetch_all(DATED_LINKS_QUERY, (document_id, document_id))
        return [_link_from_row(row) for row in rows]

    def apply(self, change: StoreChange) -> None:
        now = datetime.now(UTC).isoformat()
        with self._write_lock, self._transaction() as transaction:
            for document_id in change.removed_ids:
                transaction.execute(
                    "DELETE FROM links WHERE document_id = ? OR source_id = ?", (document_id, document_id)
                )
                transaction.execute("DELETE FROM documents WHERE id = ?", (document_id,))
            for offset, (document, signatures) in enumerate(change.added):
                transaction.execute(
                    "INSERT INTO documents VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        change.first_sequence + offset,
                        document.id,
                        document.text,
                        document.source,
                        document.url,
                        document.title,
                        document.published_at.isoformat() if document.published_at else None,
                        json.dumps(dict(document.metadata), sort_keys=True),
                        now,
                        signatures.document,
                        _pack(signatures.passages),
                        len(signatures.passages),
                    ),
                )
            if change.added:
                last = change.first_sequence + len(change.added) - 1
                transaction.execute(
                    "INSERT INTO meta VALUES ('last_sequence', ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (str(last),),
                )
            for link in change.upserted_links:
                # One row per pair of documents: a link in one direction replaces one in the other.
                transaction.execute(
                    "DELETE FROM links WHERE document_id = ? AND source_id = ?", (link.source_id, link.document_id)
                )
                transaction.execute(
                    f"INSERT OR REPLACE INTO links ({_LINK_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
                    _row_from_link(link),
                )

    def last_sequence(self) -> int:
        value = self._meta("last_sequence")
        return int(value) if value is not None else 0

    def load_parameters(self) -> IndexParameters | None:
        value = self._meta("index_parameters")
        return IndexParameters(**json.loads(value)) if value is not None else None

    def save_parameters(self, parameters: IndexParameters) -> None:
        self._save_meta("index_parameters", json.dumps(asdict(parameters), sort_keys=True))

    def tokenization_version(self) -> int | None:
        return self._version("tokenization_version")

    def save_tokenization_version(self, version: int) -> None:
        self._save_meta("tokenization_version", str(version))

    def direction_rules_version(self) -> int | None:
        return self._version("direction_rules_version")

    def save_direction_rules_version(self, version: int) -> None:
        self._save_meta("direction_rules_version", str(version))

    def undated_link_ends(self) -> list[str]:
        # Both sides read the partial indexes of undated links, not the links' rows.
        rows = self._fetch_all(
            "SELECT document_id FROM links WHERE basis != 'published_at' "
            "UNION SELECT source_id FROM links WHERE basis != 'published_at' ORDER BY 1",
            (),
        )
        return [str(row[0]) for row in rows]

    def suppressed_copy_ends(self) -> list[str]:
        rows = self._fetch_all(
            "SELECT DISTINCT document_id FROM links WHERE suppressed = 1 AND relation != ? ORDER BY 1",
            (Relation.REWRITE.value,),
        )
        return [str(row[0]) for row in rows]

    def counts(self) -> tuple[int, int, int]:
        documents_and_passages, unsuppressed_links = COUNT_QUERIES
        with self._pool.borrowed() as connection:
            documents, passages = connection.execute(documents_and_passages).fetchone()
            (links,) = connection.execute(unsuppressed_links).fetchone()
        return int(documents), int(passages), int(links)

    def size_bytes(self) -> int:
        return sum(
            path.stat().st_size for path in (self.path, self.path.with_name(self.path.name + "-wal")) if path.exists()
        )

    def _meta(self, key: str) -> str | None:
        row = self._fetch_one("SELECT value FROM meta WHERE key = ?", (key,))
        return str(row[0]) if row else None

    def _version(self, key: str) -> int | None:
        value = self._meta(key)
        return int(value) if value is not None else None

    def _save_meta(self, key: str, value: str) -> None:
        with self._write_lock, self._transaction() as transaction:
            transaction.execute(
                "INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, value)
            )

    def _rows_of(self, columns: str, sequences: Iterable[int]) -> list[tuple[Any, ...]]:
        """Return `columns` of the stored documents among `sequences` (absent ones are left out)."""
        # The sequences go in as one JSON array, so that this is one statement whatever their number. With a `?`
        # per sequence, each count was a statement of its own, and each connection keeps up to 128 of them
        # prepared: about 5 MB per connection for counts from 1 to 500, growing as new counts came.
        query = f"SELECT {columns} FROM documents WHERE sequence IN (SELECT value FROM json_each(?))"  # noqa: S608 - constant columns
        return self._fetch_all(query, (json.dumps(list(sequences)),))

    def _pages(self, columns: str, after: int) -> Iterator[tuple[Any, ...]]:
        """Yield `columns` of the documents after sequence `after`, in order, read `_PAGE_ROWS` at a time."""
        while True:
            rows = self._fetch_all(
                f"SELECT {columns} FROM documents WHERE sequence > ? ORDER BY sequence LIMIT ?",  # noqa: S608 - constant columns
                (after, _PAGE_ROWS),
            )
            if not rows:
                return
            yield from rows
            after = rows[-1][0]

    def _fetch_all(self, query: str, parameters: tuple[object, ...]) -> list[tuple[Any, ...]]:
        with self._pool.borrowed() as connection:
            return connection.execute(query, parameters).fetchall()

    def _fetch_one(self, query: str, parameters: tuple[object, ...]) -> tuple[Any, ...] | None:
        with self._pool.borrowed() as connection:
            row: tuple[Any, ...] | None = connection.execute(query, parameters).fetchone()
            return row

    def _open_connection(self) -> sqlite3.Connection:
        # Autocommit mode: transactions are opened explicitly with BEGIN IMMEDIATE below. A connection is lent
        # to one thread at a time, not always the thread that opened it.
        connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
        connection.execute(f"PRAGMA busy_timeout={round(self._busy_timeout_seconds * 1000)}")
        connection.execute(f"PRAGMA cache_size=-{_PAGE_CACHE_KIB}")
        return connection

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE … COMMIT, rolled back on any exception, so a change is all there or not at all."""
        with self._pool.borrowed() as connection:
            try:
                connection.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as error:
                # The primary code: extended ones (SQLITE_BUSY_RECOVERY and the like) mean the same wait.
                if error.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:
                    raise
                raise StoreBusyError(
                    f"another process held the write lock on {self.path} for {self._busy_timeout_seconds:g} s "
                    "(a backup or another tool?); nothing was changed: retry when it is released"
                ) from error
            try:
                yield connection
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")


class _ConnectionPool:
    """Up to `size` connections, opened as they are first needed, each lent to one thread at a time.

    A thread that finds every connection lent waits for one. Each loan lasts one read or one transaction, and a
    transaction waits at most the busy timeout for the write lock, so the wait is short. The idle connections
    wait in a `SimpleQueue`, whose put and get are single C calls, so that a loan adds no Python-level locking to
    every read; the lock is taken only when no connection is idle.
    """

    def __init__(self, open_connection: Callable[[], sqlite3.Connection], size: int) -> None:
        self._open_connection = open_connection
        self._size = size
        self._idle: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._opened: list[sqlite3.Connection] = []
        self._opening = threading.Lock()
        self._closed = False

    @contextmanager
    def borrowed(self) -> Iterator[sqlite3.Connection]:
        connection = self._take()
        try:
            yield connection
        finally:
            if connection.in_transaction:
                # Only a COMMIT that failed leaves one open; the next borrower must not write inside it.
                connection.rollback()
            self._idle.put(connection)

    def close(self) -> None:
        with self._opening:
            self._closed = True
            for connection in self._opened:
                connection.close()
            self._opened.clear()
            # Emptied too, so that a loan after closing finds no connection here and is refused below, rather than
            # being handed a closed one or opening the file again.
            while not self._idle.empty():
                self._idle.get_nowait()

    def _take(self) -> sqlite3.Connection:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        with self._opening:
            if self._closed:
                raise sqlite3.ProgrammingError("the store is closed")
            if len(self._opened) < self._size:
                connection = self._open_connection()
                self._opened.append(connection)
                return connection
        return self._idle.get()


def _pack(passages: tuple[bytes, ...]) -> bytes:
    # Each signature is prefixed with its length: the port promises opaque bytes, not a fixed width.
    return b"".join(struct.pack("<I", len(passage)) + passage for passage in passages)


def _signatures_from_row(document_signature: bytes, passage_signatures: bytes, passage_count: int) -> Signatures:
    passages = []
    offset = 0
    for _ in range(passage_count):
        (length,) = struct.unpack_from("<I", passage_signatures, offset)
        offset += 4
        passages.append(bytes(passage_signatures[offset : offset + length]))
        offset += length
    return Signatures(document=bytes(document_signature), passages=tuple(passages))


def _row_from_link(link: Link) -> tuple[object, ...]:
    return (
        link.document_id,
        link.source_id,
        link.relation.value,
        link.score,
        link.jaccard,
        link.containment,
        link.source_containment,
        link.confidence,
        link.basis.value,
        json.dumps([[s.start, s.end, s.source_start, s.source_end] for s in link.evidence]),
        int(link.suppressed),
        None
        if link.pairwise is None
        else json.dumps([link.pairwise.source_id, link.pairwise.basis.value, link.pairwise.confidence]),
    )


_RELATIONS: Final[Mapping[str, Relation]] = {relation.value: relation for relation in Relation}
_BASES: Final[Mapping[str, DirectionBasis]] = {basis.value: basis for basis in DirectionBasis}


def _links_at_either_end(basis_test: str) -> str:
    """Return the query for the links at either end of a document (two parameters) whose basis passes the test."""
    return (
        f"SELECT {_LINK_COLUMNS} FROM links WHERE document_id = ? AND {basis_test} "  # noqa: S608
        f"UNION ALL SELECT {_LINK_COLUMNS} FROM links WHERE source_id = ? AND {basis_test}"
    )


# The literal, not a parameter: SQLite uses a partial index only when the query's terms imply the index's own.
UNDATED_LINKS_QUERY: Final = _links_at_either_end("basis != 'published_at'")
DATED_LINKS_QUERY: Final = _links_at_either_end("basis = 'published_at'")


def _link_from_row(row: tuple[Any, ...]) -> Link:
    # Deciding the links around a much-copied story reads every link of hundreds of documents, tens of thousands
    # of rows per batch: members are looked up in dictionaries rather than by calling the enums (0.8 µs a call),
    # and the columns are taken as SQLite typed them. The ids are interned: a document's id is in every link of it
    # read, and the link cache keeps tens of thousands (each id a string of its own took a sixth of what it kept).
    (document_id, source_id, relation, score, jaccard, containment, source_containment, confidence, basis,
     evidence, suppressed, pairwise) = row  # fmt: skip
    return Link(
        document_id=sys.intern(document_id),
        source_id=sys.intern(source_id),
        relation=_RELATIONS[relation],
        score=score,
        jaccard=jaccard,
        containment=containment,
        source_containment=source_containment,
        confidence=confidence,
        basis=_BASES[basis],
        evidence=tuple(Span(*span) for span in json.loads(evidence)),
        suppressed=bool(suppressed),
        pairwise=None if pairwise is None else _pairwise_from_json(pairwise),
    )


def _pairwise_from_json(text: str) -> PairwiseDirection:
    source_id, basis, confidence = json.loads(text)
    return PairwiseDirection(source_id=sys.intern(source_id), basis=_BASES[basis], confidence=confidence)


def _stored_document(row: tuple[Any, ...]) -> StoredDocument:
    """Return the document in a row of `_DOCUMENT_COLUMNS`."""
    sequence, doc_id, text, source, url, title, published_at, metadata, ingested_at = row
    document = Document(
        id=sys.intern(doc_id),
        text=text,
        source=source,
        url=url,
        title=title,
        published_at=datetime.fromisoformat(published_at) if published_at else None,
        metadata=json.loads(metadata),
    )
    return StoredDocument(document, sequence, datetime.fromisoformat(ingested_at))

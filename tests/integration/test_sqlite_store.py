from __future__ import annotations

import dataclasses
import shutil
import sqlite3
import textwrap
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from server.adapters.minhash_lsh_index import MinHashLshIndex
from server.adapters.sqlite_store import (
    COUNT_QUERIES,
    DATABASE_NAME,
    POOLED_CONNECTIONS,
    UNDATED_LINKS_QUERY,
    SqliteProvenanceStore,
    _ConnectionPool,
)
from server.domain.deduplicator import Deduplicator, IndexLoad
from server.domain.errors import InvalidDocumentError, StoreBusyError
from server.domain.link_cache import LinkCache
from server.domain.model import DirectionBasis, Document, IngestStatus, Link, PairwiseDirection, Relation, Span
from server.domain.ports import Signatures, StoreChange
from server.domain.tokenization import TOKENIZATION_VERSION
from tests.stories import BRIDGE_STORY, EXCERPT_ID, FOOTBALL_STORY, REWRITE_ID, SEED_IDS, WIRE_ID, seed_texts

WIDTH = 16


def signatures(marker: int, passages: int = 2) -> Signatures:
    return Signatures(
        document=bytes([marker]) * WIDTH,
        passages=tuple(bytes([marker, position]) * (WIDTH // 2) for position in range(passages)),
    )


def document(document_id: str, text: str = "Some text about a bridge.") -> Document:
    return Document(document_id, text)


def link(
    derived: str, source: str, *, score: float = 0.5, suppressed: bool = False, relation: Relation = Relation.EXCERPT
) -> Link:
    return Link(
        document_id=derived,
        source_id=source,
        relation=relation,
        score=score,
        jaccard=0.125,
        containment=0.75,
        source_containment=0.25,
        confidence=0.625,
        basis=DirectionBasis.CONTAINMENT,
        evidence=(Span(0, 10, 20, 30), Span(40, 55, 60, 75)),
        suppressed=suppressed,
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteProvenanceStore]:
    store = SqliteProvenanceStore(tmp_path)
    yield store
    store.close()


def add(store: SqliteProvenanceStore, *ids: str, links: tuple[Link, ...] = ()) -> None:
    first = store.last_sequence() + 1
    store.apply(
        StoreChange(
            added=[(document(document_id), signatures(first + offset)) for offset, document_id in enumerate(ids)],
            upserted_links=links,
            first_sequence=first,
        )
    )


def test_an_empty_store_has_nothing(store: SqliteProvenanceStore) -> None:
    assert store.get_document("a") is None
    assert store.get_signatures("a") is None
    assert list(store.iter_signatures([1, 2])) == []
    assert store.sequences() == []
    assert store.ids_of([1]) == {}
    assert store.documents_of([1]) == {}
    assert store.links_of("a") == []
    assert store.last_sequence() == 0
    assert store.counts() == (0, 0, 0)
    assert store.load_parameters() is None
    assert store.path == store.path.parent / DATABASE_NAME


def test_a_document_round_trips_with_all_its_fields(store: SqliteProvenanceStore) -> None:
    original = Document(
        id="Ｍｏｓｕｌ-記事-1",
        text="Nul\x00in the middle, emoji 😀, CJK 東京, RTL שלום, combining é, and a lone \r\n line end.",
        source="Reuters",
        url="https://example.com/a?b=c",
        title="ISIS leader “abandons” Mosul",
        published_at=datetime(2017, 3, 8, 14, 30, 5, 123456, tzinfo=timezone(timedelta(hours=-5))),
        metadata={"section": "world", "ключ": "значение", "empty": ""},
    )
    before = datetime.now(UTC)

    store.apply(StoreChange(added=[(original, signatures(1))], first_sequence=7))

    stored = store.get_document(original.id)
    assert stored is not None
    assert stored.document == original
    assert stored.document.published_at is not None
    assert stored.document.published_at.utcoffset() == timedelta(hours=-5)
    assert stored.sequence == 7
    assert before - timedelta(seconds=5) <= stored.ingested_at <= datetime.now(UTC) + timedelta(seconds=5)
    assert store.last_sequence() == 7


def test_a_document_without_published_at_or_metadata_round_trips(store: SqliteProvenanceStore) -> None:
    original = document("plain")

    add(store, "plain")

    stored = store.get_document("plain")
    assert stored is not None
    assert stored.document == original
    assert stored.document.published_at is None


def test_signatures_round_trip_in_ingest_order(store: SqliteProvenanceStore) -> None:
    add(store, "b", "a")
    store.apply(StoreChange(added=[(document("c"), signatures(9, passages=0))], first_sequence=3))

    assert store.get_signatures("a") == signatures(2)
    assert store.get_signatures("c") == Signatures(document=bytes([9]) * WIDTH, passages=())
    by_sequence = store.ids_of(store.sequences())
    everything = list(store.iter_signatures(store.sequences()))
    assert [by_sequence[sequence] for sequence, _ in everything] == ["b", "a", "c"]
    assert dict(everything)[store.sequence_of("b") or 0] == signatures(1)
    # Only the sequences asked for, and only those stored.
    assert [sequence for sequence, _ in store.iter_signatures([store.sequence_of("c") or 0, 999])] == [
        store.sequence_of("c")
    ]
    assert list(store.iter_signatures([])) == []


def test_opaque_signatures_of_any_width_round_trip(store: SqliteProvenanceStore) -> None:
    # The port calls signatures opaque bytes: a store must give back exactly what it was given.
    opaque = Signatures(document=b'["a b c d e"]', passages=(b'["x"]', b'["y", "zz"]', b"[]"))

    store.apply(StoreChange(added=[(document("opaque"), opaque)], first_sequence=1))

    assert store.get_signatures("opaque") == opaque


def test_links_round_trip_with_their_evidence(store: SqliteProvenanceStore) -> None:
    original = link("a", "b", suppressed=True)
    add(store, "a", "b", links=(original,))

    assert store.links_of("a") == [original]
    assert store.links_of("b") == [original]
    assert store.links_of("c") == []
    # Only the derived end's sources hold it.
    assert store.sources_of("a") == [original]
    assert store.sources_of("b") == []


def test_linked_ids_name_both_ends_links_and_nothing_past_the_limit(store: SqliteProvenanceStore) -> None:
    add(store, "a", "b", "c", "d", links=(link("a", "b"), link("c", "a")))

    assert sorted(store.linked_ids("a", 2) or []) == ["b", "c"]
    assert store.linked_ids("a", 1) is None
    assert store.linked_ids("b", 1) == ["a"]
    assert store.linked_ids("d", 0) == []


def test_undated_links_are_those_dates_did_not_direct_at_either_end_read_through_their_own_index(
    store: SqliteProvenanceStore,
) -> None:
    dated = [dataclasses.replace(link(f"copy-{n}", "story"), basis=DirectionBasis.PUBLISHED_AT) for n in range(3)]
    undated = [link("story", "digest"), link("excerpt", "story")]
    add(store, "story", "digest", "excerpt", *(one.document_id for one in dated), links=(*dated, *undated))

    assert sorted(store.undated_links_of("story"), key=lambda one: one.document_id) == [undated[1], undated[0]]
    assert store.undated_links_of("copy-0") == []
    assert len(store.links_of("story")) == 5
    # The dated ones are the rest, at either end.
    assert sorted(store.dated_links_of("story"), key=lambda one: one.document_id) == dated
    assert store.dated_links_of("copy-0") == [dated[0]]
    assert store.dated_links_of("excerpt") == []
    # A much-copied story's dated links are not scanned to find its few undated ones.
    with sqlite3.connect(store.path) as connection:
        plan = connection.execute(f"EXPLAIN QUERY PLAN {UNDATED_LINKS_QUERY}", ("story", "story")).fetchall()
    details = " ".join(str(row[-1]) for row in plan)
    assert "undated_links_by_document" in details
    assert "undated_links_by_source" in details


def test_the_ends_of_undated_links_are_listed_once_each_in_order(store: SqliteProvenanceStore) -> None:
    dated = [dataclasses.replace(link(f"copy-{n}", "story"), basis=DirectionBasis.PUBLISHED_AT) for n in range(3)]
    undated = [link("story", "digest"), link("excerpt", "story")]
    add(store, "story", "digest", "excerpt", *(one.document_id for one in dated), links=(*dated, *undated))

    assert store.undated_link_ends() == ["digest", "excerpt", "story"]


def test_the_derived_ends_of_suppressed_links_that_are_not_rewrites_are_listed_once_each_in_order(
    store: SqliteProvenanceStore,
) -> None:
    links = (
        link("b", "story", suppressed=True),
        link("b", "other", suppressed=True, relation=Relation.DUPLICATE),
        link("a", "story", suppressed=True),
        link("c", "story", suppressed=True, relation=Relation.REWRITE),
        link("d", "story"),
    )
    add(store, "story", "other", "a", "b", "c", "d", links=links)

    assert store.suppressed_copy_ends() == ["a", "b"]


def test_the_direction_rules_version_is_none_until_saved_and_then_kept(tmp_path: Path) -> None:
    store = SqliteProvenanceStore(tmp_path)
    assert store.direction_rules_version() is None
    store.save_direction_rules_version(1)
    store.save_direction_rules_version(2)
    store.close()

    reopened = SqliteProvenanceStore(tmp_path)

    assert reopened.direction_rules_version() == 2
    reopened.close()


def test_a_link_the_graph_turned_round_keeps_its_pairwise_direction(store: SqliteProvenanceStore) -> None:
    pairwise = PairwiseDirection("a", DirectionBasis.CONTEXT, 0.6875)
    turned = dataclasses.replace(link("a", "b"), basis=DirectionBasis.COMPILATION, pairwise=pairwise)
    add(store, "a", "b", links=(turned,))

    assert store.links_of("b") == [turned]


def test_a_version_1_store_is_upgraded_in_place_and_its_links_keep_their_direction(tmp_path: Path) -> None:
    original = link("a", "b")
    store = SqliteProvenanceStore(tmp_path)
    add(store, "a", "b", links=(original,))
    store.close()
    # What version 1 wrote: the same tables without links.pairwise.
    with sqlite3.connect(tmp_path / DATABASE_NAME) as connection:
        connection.execute("ALTER TABLE links DROP COLUMN pairwise")
        connection.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    connection.close()

    store = SqliteProvenanceStore(tmp_path)

    assert store.links_of("a") == [original]
    assert store.get_document("b") is not None
    store.close()
    with sqlite3.connect(tmp_path / DATABASE_NAME) as connection:
        (version,) = connection.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    connection.close()
    assert version == "2"


def test_data_survives_closing_and_reopening_the_store(tmp_path: Path) -> None:
    first = SqliteProvenanceStore(tmp_path)
    add(first, "a", "b", links=(link("b", "a"),))
    parameters = MinHashLshIndex().parameters
    first.save_parameters(parameters)
    first.close()

    reopened = SqliteProvenanceStore(tmp_path)
    try:
        stored = reopened.get_document("b")
        assert stored is not None
        assert stored.document == document("b")
        assert reopened.get_signatures("b") == signatures(2)
        assert reopened.links_of("a") == [link("b", "a")]
        assert reopened.last_sequence() == 2
        assert reopened.load_parameters() == parameters
        assert reopened.counts() == (2, 4, 1)
    finally:
        reopened.close()


def test_a_change_whose_link_cannot_be_written_leaves_nothing_behind(store: SqliteProvenanceStore) -> None:
    add(store, "old", "kept", links=(link("kept", "old"),))
    # JSON cannot encode this span, so the second link of the change fails after the first was written.
    unwritable = dataclasses.replace(link("new", "kept"), evidence=(Span(object(), 1, 2, 3),))  # type: ignore[arg-type]

    with pytest.raises(TypeError):
        store.apply(
            StoreChange(
                added=[(document("new"), signatures(3))],
                removed_ids=["old"],
                upserted_links=[link("new", "kept", score=0.9), unwritable],
                first_sequence=3,
            )
        )

    assert store.get_document("new") is None
    assert store.get_signatures("new") is None
    assert store.get_document("old") is not None
    assert store.links_of("kept") == [link("kept", "old")]
    assert store.last_sequence() == 2
    assert store.counts() == (2, 4, 1)


def test_a_change_whose_document_clashes_leaves_nothing_behind(store: SqliteProvenanceStore) -> None:
    add(store, "a")

    with pytest.raises(sqlite3.IntegrityError):
        store.apply(
            StoreChange(added=[(document("b"), signatures(2)), (document("a"), signatures(3))], first_sequence=2)
        )

    assert store.get_document("b") is None
    assert store.last_sequence() == 1
    add(store, "b")
    assert store.counts()[0] == 2


def test_a_change_that_waits_too_long_for_another_process_is_store_busy_and_leaves_nothing(tmp_path: Path) -> None:
    store = SqliteProvenanceStore(tmp_path, busy_timeout_seconds=0.2)
    add(store, "a")
    holder = sqlite3.connect(store.path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreBusyError, match=r"lock on .*provenance\.sqlite3 for 0\.2 s.*nothing was changed"):
            add(store, "b")
        # Reads do not wait for the lock: WAL serves them from the last commit.
        assert store.counts()[0] == 1
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert store.get_document("b") is None
    assert store.last_sequence() == 1
    add(store, "b")
    assert store.counts()[0] == 2
    store.close()


def test_a_link_in_one_direction_replaces_the_link_in_the_other(store: SqliteProvenanceStore) -> None:
    add(store, "x", "y", links=(link("x", "y"),))

    store.apply(StoreChange(upserted_links=[link("y", "x", score=0.8)]))

    assert store.links_of("x") == [link("y", "x", score=0.8)]
    assert store.links_of("y") == [link("y", "x", score=0.8)]


def test_a_link_read_at_both_ends_is_kept_once_with_each_id_one_string(store: SqliteProvenanceStore) -> None:
    # What the link cache keeps of a much-copied story is tens of thousands of links: a link kept at both of its
    # ends as two objects, each with strings of its own for the ids, took twice the memory and more.
    add(store, "wire", "copy-1", "copy-2", links=(link("copy-1", "wire"), link("copy-2", "wire")))
    cache = LinkCache(store, min_kept_links=1)

    from_wire = {other.document_id: other for other in cache.links_of("wire")}
    cache.links_of("copy-1")
    from_copy = cache.links_of("copy-1")

    assert from_copy == [from_wire["copy-1"]]
    assert from_copy[0] is from_wire["copy-1"]
    assert from_wire["copy-1"].source_id is from_wire["copy-2"].source_id
    assert store.ids_of([1, 2]) == {1: "wire", 2: "copy-1"}
    assert store.ids_of([1])[1] is from_wire["copy-1"].source_id


def test_the_links_a_link_cache_keeps_are_the_rows_the_store_reads_back(store: SqliteProvenanceStore) -> None:
    add(store, "a", "b", "c", "d")
    cache = LinkCache(store)
    for document_id in "abcd":
        assert cache.links_of(document_id) == []
    # Values a text column or a float's printing could change, and a link laid in one direction and then the other.
    turned = dataclasses.replace(
        link("b", "a"),
        score=0.1 + 0.2,
        confidence=2 / 3,
        basis=DirectionBasis.COMPILATION,
        pairwise=PairwiseDirection("a", DirectionBasis.CONTEXT, 1 / 3),
    )
    dated = dataclasses.replace(link("d", "c", relation=Relation.REWRITE), basis=DirectionBasis.PUBLISHED_AT)

    cache.apply(StoreChange(upserted_links=[turned, link("c", "b", suppressed=True), dated]))
    cache.apply(StoreChange(upserted_links=[link("b", "c", score=0.8)]))

    for document_id in "abcd":
        for read in ("links_of", "undated_links_of", "dated_links_of", "sources_of"):
            kept, stored = getattr(cache, read)(document_id), getattr(store, read)(document_id)
            assert sorted(kept, key=repr) == sorted(stored, key=repr), (read, document_id)
    assert len(store.links_of("b")) == 2


def test_upserting_a_link_again_updates_its_row(store: SqliteProvenanceStore) -> None:
    add(store, "x", "y", links=(link("x", "y"),))

    store.apply(StoreChange(upserted_links=[link("x", "y", score=0.9, suppressed=True)]))

    assert store.links_of("x") == [link("x", "y", score=0.9, suppressed=True)]
    assert store.counts()[2] == 0


def test_removing_a_document_removes_its_signatures_and_links_in_both_directions(
    store: SqliteProvenanceStore,
) -> None:
    add(store, "a", "b", "c", links=(link("a", "b"), link("b", "c"), link("a", "c")))

    store.apply(StoreChange(removed_ids=["b"]))

    assert store.get_document("b") is None
    assert store.get_signatures("b") is None
    assert store.links_of("b") == []
    assert store.links_of("a") == [link("a", "c")]
    assert sorted(store.ids_of(store.sequences()).values()) == ["a", "c"]


def test_documents_are_read_by_sequence_as_by_id_and_removed_ones_are_left_out(store: SqliteProvenanceStore) -> None:
    add(store, "a", "b", "c")
    store.apply(StoreChange(removed_ids=["b"]))
    by_sequence = store.ids_of(store.sequences())

    documents = store.documents_of([*by_sequence, 2, 99])

    assert documents == {sequence: store.get_document(document_id) for sequence, document_id in by_sequence.items()}
    assert sorted(stored.document.id for stored in documents.values()) == ["a", "c"]


def test_any_number_of_sequences_is_read_with_one_prepared_statement(store: SqliteProvenanceStore) -> None:
    store.apply(
        StoreChange(
            added=[(document(f"d{number}"), signatures(number % 256)) for number in range(1200)], first_sequence=1
        )
    )
    sequences = store.sequences()

    def prepared() -> tuple[sqlite3.Connection, int]:
        # Prepared statements are per connection, and sqlite_stmt (a virtual table of SQLite's, compiled in by most
        # distributions) lists those of the connection it is read through. One thread alone never needs a second
        # connection, so it is lent the same one every time.
        with store._pool.borrowed() as connection:
            return connection, connection.execute("SELECT count(*) FROM sqlite_stmt").fetchone()[0]

    try:
        connection, before = prepared()
    except sqlite3.OperationalError:
        pytest.skip("this SQLite has no sqlite_stmt table")

    read = [len(store.ids_of(sequences[:count])) for count in range(1, 300)]
    read.append(len(store.ids_of([*sequences, 5000])))
    connection_after, after = prepared()

    assert read == [*range(1, 300), 1200]
    assert connection_after is connection
    assert after - before <= 1


def test_signatures_are_read_across_pages_from_the_oldest_wanted(store: SqliteProvenanceStore) -> None:
    # More documents than a page, and the wanted ones on three pages, one of them removed.
    store.apply(
        StoreChange(
            added=[(document(f"doc-{number}"), signatures(number % 200)) for number in range(2500)], first_sequence=1
        )
    )
    store.apply(StoreChange(removed_ids=["doc-1999"]))

    loaded = dict(store.iter_signatures([700, 1000, 1001, 2000, 2500]))

    assert loaded == {
        700: signatures(699 % 200),
        1000: signatures(999 % 200),
        1001: signatures(1000 % 200),
        2500: signatures(2499 % 200),
    }


def test_threads_reading_at_once_share_a_few_connections(
    store: SqliteProvenanceStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    add(store, *(f"doc-{number}" for number in range(50)))
    opened: list[sqlite3.Connection] = []
    connect = sqlite3.connect

    def counting_connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        connection: sqlite3.Connection = connect(*args, **kwargs)
        opened.append(connection)
        return connection

    monkeypatch.setattr(sqlite3, "connect", counting_connect)
    threads = 4 * POOLED_CONNECTIONS
    start = threading.Barrier(threads)

    def read(number: int) -> list[str]:
        start.wait()
        found = [store.get_document(f"doc-{(number + step) % 50}") for step in range(200)]
        return sorted({stored.document.id for stored in found if stored is not None})

    with ThreadPoolExecutor(max_workers=threads) as executor:
        results = list(executor.map(read, range(threads)))

    assert results == [sorted(f"doc-{number}" for number in range(50))] * threads
    # The fixture's store opened one connection before the count began.
    assert len(opened) <= POOLED_CONNECTIONS - 1


def pool_of_one(tmp_path: Path) -> _ConnectionPool:
    return _ConnectionPool(
        lambda: sqlite3.connect(tmp_path / "pool.sqlite3", isolation_level=None, check_same_thread=False), size=1
    )


def test_a_thread_waits_for_a_connection_while_every_one_is_lent(tmp_path: Path) -> None:
    pool = pool_of_one(tmp_path)
    lent = threading.Event()

    def borrow() -> None:
        with pool.borrowed():
            lent.set()

    with pool.borrowed() as connection:
        waiting = threading.Thread(target=borrow)
        waiting.start()
        waited = not lent.wait(timeout=0.3)
    waiting.join(timeout=10)
    pool.close()

    assert waited
    assert lent.is_set()
    with pytest.raises(sqlite3.ProgrammingError):
        connection.execute("SELECT 1")


def test_a_closed_pool_lends_nothing_and_opens_nothing(tmp_path: Path) -> None:
    opened: list[sqlite3.Connection] = []

    def open_connection() -> sqlite3.Connection:
        connection = sqlite3.connect(tmp_path / "pool.sqlite3", isolation_level=None, check_same_thread=False)
        opened.append(connection)
        return connection

    pool = _ConnectionPool(open_connection, size=2)
    with pool.borrowed() as connection:
        connection.execute("SELECT 1")

    pool.close()

    with pytest.raises(sqlite3.ProgrammingError, match="closed"), pool.borrowed():
        pass
    assert len(opened) == 1


def test_a_connection_returned_inside_a_transaction_is_rolled_back_before_it_is_lent_again(tmp_path: Path) -> None:
    pool = pool_of_one(tmp_path)
    with pool.borrowed() as connection:
        connection.execute("CREATE TABLE notes (text TEXT)")
    with pool.borrowed() as connection:
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("INSERT INTO notes VALUES ('left open')")

    with pool.borrowed() as connection:
        in_transaction = connection.in_transaction
        rows = connection.execute("SELECT count(*) FROM notes").fetchone()[0]
    pool.close()

    assert (in_transaction, rows) == (False, 0)


def test_removing_and_adding_the_same_id_in_one_change_replaces_it(store: SqliteProvenanceStore) -> None:
    add(store, "a", "b", links=(link("a", "b"),))

    store.apply(
        StoreChange(
            added=[(document("a", "New text about a ferry."), signatures(9))], removed_ids=["a"], first_sequence=3
        )
    )

    stored = store.get_document("a")
    assert stored is not None
    assert (stored.document.text, stored.sequence) == ("New text about a ferry.", 3)
    assert store.links_of("b") == []


def test_the_last_sequence_never_goes_back_even_after_deletes_and_reopening(tmp_path: Path) -> None:
    store = SqliteProvenanceStore(tmp_path)
    add(store, "a", "b", "c")
    store.apply(StoreChange(removed_ids=["c", "b"]))
    assert store.last_sequence() == 3
    store.close()

    reopened = SqliteProvenanceStore(tmp_path)
    try:
        assert reopened.last_sequence() == 3
        add(reopened, "d")
        stored = reopened.get_document("d")
        assert stored is not None
        assert stored.sequence == 4
    finally:
        reopened.close()


def test_counts_count_documents_passages_and_unsuppressed_links(store: SqliteProvenanceStore) -> None:
    add(store, "a", "b", "c", links=(link("a", "b"), link("c", "b", suppressed=True)))

    assert store.counts() == (3, 6, 1)


def test_counting_reads_indexes_only_never_the_texts(store: SqliteProvenanceStore) -> None:
    connection = sqlite3.connect(store.path)
    try:
        plans = [
            " ".join(str(step[3]) for step in connection.execute(f"EXPLAIN QUERY PLAN {query}"))
            for query in COUNT_QUERIES
        ]
    finally:
        connection.close()

    assert all("COVERING INDEX" in plan for plan in plans), plans


def test_size_bytes_grows_as_documents_are_added(store: SqliteProvenanceStore) -> None:
    empty = store.size_bytes()

    store.apply(StoreChange(added=[(document("big", "word " * 50_000), signatures(1))], first_sequence=1))

    assert store.size_bytes() > empty + 200_000


def test_parameters_are_saved_once_and_can_be_overwritten(store: SqliteProvenanceStore) -> None:
    first, second = MinHashLshIndex(num_perm=64).parameters, MinHashLshIndex(num_perm=128, seed=5).parameters

    store.save_parameters(first)
    assert store.load_parameters() == first
    store.save_parameters(second)
    assert store.load_parameters() == second


def test_a_store_of_another_schema_version_is_refused(tmp_path: Path) -> None:
    SqliteProvenanceStore(tmp_path).close()
    with sqlite3.connect(tmp_path / DATABASE_NAME) as connection:
        connection.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    connection.close()

    with pytest.raises(RuntimeError, match="schema version 999"):
        SqliteProvenanceStore(tmp_path)


def test_a_text_the_store_cannot_encode_is_rejected_and_the_good_documents_are_stored(tmp_path: Path) -> None:
    # A lone surrogate is not UTF-8: SQLite cannot store it, so the document must be refused up front.
    store = SqliteProvenanceStore(tmp_path)
    try:
        results = Deduplicator(store, MinHashLshIndex()).ingest(
            [Document("good", seed_texts()[WIRE_ID]), Document("bad", seed_texts()[REWRITE_ID] + "\ud800")]
        )

        assert [result.status for result in results] == [IngestStatus.CREATED, IngestStatus.REJECTED]
        assert isinstance(results[1].error, InvalidDocumentError)
        assert store.counts()[0] == 1
    finally:
        store.close()


def test_the_seed_provenance_survives_a_restart(tmp_path: Path) -> None:
    texts = seed_texts()
    store = SqliteProvenanceStore(tmp_path)
    Deduplicator(store, MinHashLshIndex()).ingest(
        [Document(document_id, texts[document_id]) for document_id in SEED_IDS]
    )
    store.close()

    reopened = SqliteProvenanceStore(tmp_path)
    try:
        restarted = Deduplicator(reopened, MinHashLshIndex())
        # The first deduplicator never loaded an index, so no tokenization version was recorded: the texts are read.
        assert restarted.load_index() == IndexLoad(len(SEED_IDS), len(SEED_IDS), checked=len(SEED_IDS))
        assert restarted.provenance(REWRITE_ID).origin_id == WIRE_ID
        assert restarted.provenance(EXCERPT_ID).origin_id == WIRE_ID
        assert [match.document_id for match in restarted.find_similar(document_id=WIRE_ID)] == [REWRITE_ID, EXCERPT_ID]
        assert reopened.counts()[0::2] == (5, 2)
    finally:
        reopened.close()


def test_texts_are_read_a_page_at_a_time_and_signatures_replaced_in_place(store: SqliteProvenanceStore) -> None:
    # More documents than a page of texts.
    count = 2500
    store.apply(
        StoreChange(
            added=[(document(f"doc-{number}", f"Text {number}"), signatures(number % 200)) for number in range(count)],
            first_sequence=1,
        )
    )

    texts = list(store.iter_texts())
    store.replace_signatures({1: signatures(207, passages=3), count: signatures(208, passages=1)})

    assert texts == [(number + 1, f"Text {number}") for number in range(count)]
    assert store.get_signatures("doc-0") == signatures(207, passages=3)
    assert store.get_signatures(f"doc-{count - 1}") == signatures(208, passages=1)
    assert store.get_signatures("doc-1") == signatures(1)
    assert store.counts()[1] == 2 * (count - 2) + 3 + 1


def test_texts_signed_under_older_tokenization_are_signed_again_and_reindexed_at_start(tmp_path: Path) -> None:
    # Lines cut at 40 characters, some starting in lower case: since version 2 they continue the line before.
    wrapped = textwrap.fill(BRIDGE_STORY, width=40)

    def started() -> tuple[SqliteProvenanceStore, MinHashLshIndex, Deduplicator]:
        store = SqliteProvenanceStore(tmp_path)
        # Saved at every checkpoint, so that a restart reloads the windows the index had.
        index = MinHashLshIndex(directory=tmp_path / "index", save_windows=1)
        return store, index, Deduplicator(store, index)

    store, index, deduplicator = started()
    deduplicator.load_index()
    deduplicator.ingest([Document("wrapped", wrapped), Document("wire", seed_texts()[WIRE_ID])])
    # As if signed under older rules, which read the text otherwise: its stored signatures are another text's, and
    # so are its windows in the saved index once it is rebuilt from them.
    wrapped_sequence = store.sequence_of("wrapped")
    assert wrapped_sequence is not None
    store.replace_signatures({wrapped_sequence: index.sign(FOOTBALL_STORY)})
    index.close()
    store.close()
    shutil.rmtree(tmp_path / "index")
    store, index, deduplicator = started()
    assert deduplicator.load_index() == IndexLoad(2, 2)
    store.save_tokenization_version(1)
    index.close()
    store.close()

    store, index, deduplicator = started()
    try:
        loaded = deduplicator.load_index()

        # Only the wrapped text changes under the new rules; the wire story has no line in lower case.
        assert loaded == IndexLoad(indexed=2, added=1, checked=2, resigned=1)
        assert store.tokenization_version() == TOKENIZATION_VERSION
        # The store keeps what is indexed; the second minima a text probes with are never stored.
        assert store.get_signatures("wrapped") == dataclasses.replace(index.sign(wrapped), second_minima=())
        assert wrapped_sequence in index.screen(index.sign(wrapped), max_pairs=1000)
        assert wrapped_sequence not in index.screen(index.sign(FOOTBALL_STORY), max_pairs=1000)
        assert [match.document_id for match in deduplicator.find_similar(text=wrapped)][:1] == ["wrapped"]
    finally:
        index.close()
        store.close()


def test_a_store_signed_under_a_newer_tokenization_is_refused(tmp_path: Path) -> None:
    store = SqliteProvenanceStore(tmp_path)
    store.save_tokenization_version(TOKENIZATION_VERSION + 1)
    try:
        with pytest.raises(ValueError, match="newer than this server"):
            Deduplicator(store, MinHashLshIndex()).load_index()
        assert store.tokenization_version() == TOKENIZATION_VERSION + 1
    finally:
        store.close()

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.domain import provenance
from server.domain.link_cache import LinkCache
from server.domain.model import DirectionBasis, Document, Link
from server.domain.ports import Signatures, StoreChange
from tests.fakes import MemoryStore, link

DOCUMENTS = ("a", "b", "c", "d", "e")


class CountingStore(MemoryStore):
    """A MemoryStore that records each read of links, by kind and document."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[str] = []

    def links_of(self, document_id: str) -> list[Link]:
        self.reads.append(f"all {document_id}")
        return super().links_of(document_id)

    def undated_links_of(self, document_id: str) -> list[Link]:
        self.reads.append(f"undated {document_id}")
        return super().undated_links_of(document_id)

    def dated_links_of(self, document_id: str) -> list[Link]:
        self.reads.append(f"dated {document_id}")
        return super().dated_links_of(document_id)

    def sources_of(self, document_id: str) -> list[Link]:
        self.reads.append(f"sources {document_id}")
        return super().sources_of(document_id)


def added(document_id: str) -> tuple[Document, Signatures]:
    """A new document, as a StoreChange adds it (its signatures do not matter to the cache)."""
    return Document(document_id, "Some text."), Signatures(document=b"", passages=())


def views(reader: MemoryStore | LinkCache, document_id: str) -> list[set[Link]]:
    readers: list[Callable[[str], list[Link]]] = [
        reader.links_of,
        reader.undated_links_of,
        reader.dated_links_of,
        reader.sources_of,
    ]
    return [set(read(document_id)) for read in readers]


_LINKS = st.builds(
    lambda ends, start, dated, score: link(
        *ends,
        (start, start + 100, 0, 100),
        score=score,
        basis=DirectionBasis.PUBLISHED_AT if dated else DirectionBasis.CONTAINMENT,
    ),
    st.lists(st.sampled_from(DOCUMENTS), min_size=2, max_size=2, unique=True),
    st.integers(0, 500),
    st.booleans(),
    st.sampled_from((0.25, 0.5, 0.75)),
)
_STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("upsert"), st.lists(_LINKS, max_size=4)),
        st.tuples(st.just("remove"), st.sampled_from(DOCUMENTS)),
        st.tuples(st.just("read"), st.sampled_from(DOCUMENTS)),
        # A new document with no links, so that what was not read for a while is dropped.
        st.tuples(st.just("add"), st.none()),
    ),
    max_size=30,
)


def walked(steps: list[tuple[str, object]], room: int) -> Iterator[tuple[MemoryStore, LinkCache]]:
    """Take the steps `_STEPS` drew through a new cache (write links, add or remove a document, read one's links).

    Yield the store and the cache after each.
    """
    store = MemoryStore()
    # Any document is tallied: the few links a document has here are what the tallies are tested on.
    cache = LinkCache(store, room=room, min_tallied_links=0, min_kept_links=0, unread_documents_kept=2)
    for step, (kind, argument) in enumerate(steps):
        if kind == "add":
            cache.apply(StoreChange(added=[added(f"added-{step}")]))
        elif kind == "upsert":
            assert isinstance(argument, list)
            cache.apply(StoreChange(upserted_links=argument))
        elif kind == "remove":
            assert isinstance(argument, str)
            cache.apply(StoreChange(removed_ids=[argument]))
        else:
            assert isinstance(argument, str)
            cache.links_of(argument)
        yield store, cache


@settings(max_examples=200, deadline=None)
@given(steps=_STEPS, room=st.integers(1, 12))
def test_what_is_kept_reads_as_the_store_does_whatever_was_written_through_it(
    steps: list[tuple[str, object]], room: int
) -> None:
    for store, cache in walked(steps, room):
        for document_id in DOCUMENTS:
            assert views(cache, document_id) == views(store, document_id)


def test_a_document_read_whole_is_read_from_the_store_once_until_it_is_dropped_for_room() -> None:
    store = CountingStore()
    cache = LinkCache(store, room=5, min_kept_links=0)
    cache.apply(StoreChange(upserted_links=[link("a", "b"), link("c", "b"), link("d", "e")]))

    assert len(cache.links_of("b")) == 2
    cache.links_of("b")
    cache.undated_links_of("b")
    cache.sources_of("b")
    assert store.reads == ["all b"]

    # A link laid over b through the cache is there without a read.
    turned = link("b", "a", (0, 50, 0, 50))
    cache.apply(StoreChange(upserted_links=[turned, link("b", "e")]))
    assert set(cache.links_of("b")) == {turned, link("c", "b"), link("b", "e")}
    assert store.reads == ["all b"]

    # b and its three links take four of the five: keeping e and its two drops b, the least recently read.
    cache.links_of("e")
    cache.links_of("b")
    assert store.reads == ["all b", "all e", "all b"]


def test_the_links_of_a_document_not_kept_are_read_in_part_and_not_kept() -> None:
    store = CountingStore()
    cache = LinkCache(store, min_kept_links=0)
    dated = link("copy", "wire", basis=DirectionBasis.PUBLISHED_AT)
    cache.apply(StoreChange(upserted_links=[dated, link("excerpt", "wire")]))

    assert cache.undated_links_of("wire") == [link("excerpt", "wire")]
    assert cache.dated_links_of("wire") == [dated]
    cache.undated_links_of("wire")
    # Only the part asked for is read, each time: a dated story's links are not all read to find its undated ones.
    assert store.reads == ["undated wire", "dated wire", "undated wire"]

    # What a caller read in parts and put together is kept as the whole.
    cache.remember("wire", [dated, link("excerpt", "wire")])
    assert set(cache.links_of("wire")) == {dated, link("excerpt", "wire")}
    assert store.reads == ["undated wire", "dated wire", "undated wire"]


def test_the_room_holds_as_links_are_laid_over_and_documents_kept_again() -> None:
    store = CountingStore()
    cache = LinkCache(store, room=5, min_kept_links=0)
    cache.apply(StoreChange(upserted_links=[link("a", "b"), link("c", "b"), link("x", "y")]))
    cache.links_of("b")
    cache.remember("b", cache.links_of("b"))
    # b and its two links count three however often b is kept: y and its one link fit beside them.
    cache.links_of("y")
    cache.links_of("b")
    assert store.reads == ["all b", "all y"]

    # Laid over through the cache, b's links grow past the room: y, read less recently, makes way, and b when y
    # is read again.
    cache.apply(StoreChange(upserted_links=[link("d", "b")]))
    cache.links_of("y")
    cache.links_of("b")
    assert store.reads == ["all b", "all y", "all y", "all b"]


def test_documents_with_no_link_take_room_too() -> None:
    # Most documents of a feed have no link; kept for nothing, every one read would stay kept.
    store = CountingStore()
    cache = LinkCache(store, room=3, min_kept_links=0)

    for document_id in ("a", "b", "c", "d"):
        assert cache.links_of(document_id) == []
    cache.links_of("b")
    cache.links_of("a")

    assert store.reads == ["all a", "all b", "all c", "all d", "all a"]


def test_a_document_with_few_links_is_read_from_the_store_each_time() -> None:
    store = CountingStore()
    cache = LinkCache(store, min_kept_links=2)
    cache.apply(StoreChange(upserted_links=[link("copy", "wire"), link("excerpt", "wire")]))

    cache.links_of("copy")
    cache.links_of("copy")
    cache.links_of("wire")
    cache.links_of("wire")

    assert store.reads == ["all copy", "all copy", "all wire"]


def test_a_document_not_read_while_many_documents_were_added_is_dropped() -> None:
    store = CountingStore()
    cache = LinkCache(store, min_kept_links=0, unread_documents_kept=2)
    cache.apply(StoreChange(upserted_links=[link("copy", "wire"), link("excerpt", "wire")]))
    cache.links_of("wire")
    cache.links_of("excerpt")

    def add(document_id: str) -> None:
        cache.apply(StoreChange(added=[added(document_id)]))

    add("one")
    add("two")
    # Two documents added since either was read: both still kept. wire is read again, excerpt is not.
    cache.links_of("wire")
    assert store.reads == ["all wire", "all excerpt"]

    add("three")
    # Three added since excerpt was read: dropped, and read from the store again; wire, read one ago, stays.
    cache.links_of("wire")
    cache.links_of("excerpt")
    assert store.reads == ["all wire", "all excerpt", "all excerpt"]

    add("four")
    add("five")
    add("six")
    cache.links_of("wire")
    assert store.reads == ["all wire", "all excerpt", "all excerpt", "all wire"]


def test_a_document_with_more_links_than_the_room_is_not_kept() -> None:
    store = CountingStore()
    cache = LinkCache(store, room=1, min_kept_links=0)
    cache.apply(StoreChange(upserted_links=[link("a", "hub"), link("b", "hub")]))

    cache.links_of("hub")
    cache.links_of("hub")

    assert store.reads == ["all hub", "all hub"]


def test_a_change_the_store_refuses_leaves_nothing_kept() -> None:
    store = CountingStore()
    cache = LinkCache(store, min_kept_links=0)
    cache.apply(StoreChange(added=[added("a")]))
    cache.apply(StoreChange(upserted_links=[link("a", "b")]))
    cache.links_of("b")
    refused = StoreChange(
        added=[added("a")],
        upserted_links=[link("b", "c")],
    )

    with pytest.raises(ValueError, match="already stored"):
        cache.apply(refused)

    assert cache.links_of("b") == [link("a", "b")]
    assert store.reads == ["all b", "all b"]


Counted = dict[provenance._Part, tuple[int, set[str], int]]


def standings_counted_afresh(store: MemoryStore, document_id: str) -> Counted:
    parts: dict[provenance._Part, list[str]] = {}
    for one in store.links_of(document_id):
        parts.setdefault(provenance._Part.of(document_id, one), []).append(one.other(document_id))
    return counted({part: provenance._standing(part, parts) for part in parts})


def tallied(tally: provenance.PartTally, parts: Iterable[provenance._Part]) -> Counted:
    return counted({part: tally.standing(part) for part in parts})


def counted(standings: dict[provenance._Part, provenance._Standing]) -> Counted:
    """Each part's count of other parts, its holders, and their count (which a tally keeps apart from who they are)."""
    return {part: (one.other_parts, set(one.holders), len(one.holders)) for part, one in standings.items()}


@settings(max_examples=200, deadline=None)
@given(steps=_STEPS, room=st.integers(1, 12))
def test_a_kept_tally_stands_each_part_as_counting_the_stored_links_afresh_does(
    steps: list[tuple[str, object]], room: int
) -> None:
    for store, cache in walked(steps, room):
        for document_id in DOCUMENTS:
            tally = cache.tally_of(document_id)
            if tally is None:
                continue
            # Measured now, the parts are counted up by the links the next steps lay over the store.
            afresh = standings_counted_afresh(store, document_id)
            assert tallied(tally, afresh) == afresh
        # A document dropped for room takes its tally with it: tallies are as many as the documents kept.
        assert set(cache._tallies) <= set(cache._kept)


def test_a_tally_is_counted_up_by_new_pairs_and_built_again_when_a_pair_shares_other_text() -> None:
    store = CountingStore()
    cache = LinkCache(store, min_tallied_links=2, min_kept_links=0)
    excerpt = link("e", "s", (0, 100, 200, 300))
    cache.apply(StoreChange(upserted_links=[excerpt, link("c1", "s", (0, 1000, 0, 1000))]))
    assert cache.tally_of("s") is None  # s is not kept yet
    cache.links_of("s")
    tally = cache.tally_of("s")
    assert tally is not None
    excerpt_part = provenance._Part.of("s", excerpt)
    assert set(tally.standing(excerpt_part).holders) == {"c1"}

    # A new copy holds the excerpt's part within more; the excerpt's link turned round shares the same text.
    turned = excerpt.derived_from("e", DirectionBasis.REPRINTS, 0.9)
    cache.apply(StoreChange(upserted_links=[link("c2", "s", (0, 900, 0, 900)), turned]))
    assert cache.tally_of("s") is tally
    assert set(tally.standing(excerpt_part).holders) == {"c1", "c2"}

    # A pair that now shares other text of s: what was counted no longer holds, and the tally is built again.
    cache.apply(StoreChange(upserted_links=[link("c2", "s", (0, 100, 5000, 5100))]))
    rebuilt = cache.tally_of("s")
    assert rebuilt is not None
    assert rebuilt is not tally
    assert set(rebuilt.standing(excerpt_part).holders) == {"c1"}
    # Kept again by whoever read it in parts, a kept document keeps its tally; a removal takes every tally.
    cache.remember("s", cache.links_of("s"))
    assert cache.tally_of("s") is rebuilt
    cache.apply(StoreChange(removed_ids=["c1"]))
    assert cache.tally_of("s") is None
    assert store.reads == ["all s"]


def test_a_document_dropped_for_room_loses_its_tally_with_its_links() -> None:
    store = MemoryStore()
    cache = LinkCache(store, room=4, min_tallied_links=0, min_kept_links=0)
    excerpt = link("e", "s", (0, 100, 200, 300))
    cache.apply(
        StoreChange(upserted_links=[excerpt, link("c1", "s", (0, 1000, 0, 1000)), link("x", "y"), link("z", "y")])
    )
    cache.links_of("s")
    tally = cache.tally_of("s")
    assert tally is not None
    assert len(tally.standing(provenance._Part.of("s", excerpt)).holders) == 1

    # Keeping y drops s; a copy laid over the store meanwhile is not counted into what s no longer has kept.
    cache.links_of("y")
    cache.apply(StoreChange(upserted_links=[link("c2", "s", (0, 900, 0, 900))]))
    cache.links_of("s")

    kept_again = cache.tally_of("s")
    assert kept_again is not None
    assert set(kept_again.standing(provenance._Part.of("s", excerpt)).holders) == {"c1", "c2"}


def test_a_document_with_few_links_is_not_tallied() -> None:
    store = MemoryStore()
    cache = LinkCache(store, min_tallied_links=3, min_kept_links=0)
    cache.apply(StoreChange(upserted_links=[link("a", "s"), link("b", "s")]))
    cache.links_of("s")

    assert cache.tally_of("s") is None
    cache.apply(StoreChange(upserted_links=[link("c", "s")]))
    assert cache.tally_of("s") is not None

"""LinkCache: the stored links of the documents around recent ingests, kept between them and written through."""

from __future__ import annotations

from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable
from typing import Final

from server.domain.model import DirectionBasis, Link
from server.domain.ports import ProvenanceStore, StoreChange
from server.domain.provenance import PartTally

# The room, counted in kept documents and the ends of their links. A story with 1,024 undated copies has 49,938
# links, kept at both ends: with room for 65,536, deciding the last quarter of them took 21.8 s in process, against
# 15.6 s with this room and 23.0 s with nothing kept. Those 100,901 units took 56.8 MB when each end kept a link of its
# own with strings of its own for the ids, and 25.8 MB with one link for both ends and the ids interned.
CACHE_ROOM: Final = 131_072
# A document is kept only with at least this many links. A news feed's documents mostly have one to three or none
# (74,760 link ends over the benchmark store's 100,000 documents, 813 of them with four or more), which cost little
# to read again and are seldom read again; kept, they took more of the room all through a load (23,104 documents and
# 50,878 link ends after 330 s of a closed loop on that store). The documents read batch after batch are a
# much-copied story's, with dozens to thousands of links.
MIN_KEPT_LINKS: Final = 4
# A kept document is dropped once this many documents have been added without it being read, so that what is kept
# follows the stories being copied now rather than what was read once. Ingesting `dedup load`'s documents in batches
# of 16 (30 % of them copies of one of the 200 before), 99.3 % of the reads that found a document kept came within
# 4,096 documents of its read before. A story still being copied is read with each copy, so it stays; so does an old
# document that new ones keep linking to, and in that load those kept coming (chance rewrites among articles built
# from the same phrases), so the room still fills there, only more slowly.
UNREAD_DOCUMENTS_KEPT: Final = 4_096
# A document is tallied (`tally_of`) only with at least this many links: measuring a few parts afresh costs less than
# keeping them, and in a feed of mostly unrelated news a tally for each document doubled the time spent deciding.
MIN_TALLIED_LINKS: Final = 16


class LinkCache:
    """Every stored link of the documents read most recently, kept up to date by the changes applied through it.

    Deciding the links around an ingest reads every link of the documents near it, and those of a much-copied
    story are the same documents batch after batch: at 512 undated copies, reading and decoding their rows again
    was a third of deciding. A change is applied to the store first and then laid over what is kept, the way the
    store lays it (a removed document takes its links with it; one link per pair of documents), so a kept list is
    what the store would return; a change that fails clears everything, whatever it did or did not write.

    Only for the deduplicator's writes and the reads that decide them, under its write lock (a reader beside a
    writer could keep what the store held before a change), and while it is the store's one writer, as the data
    directory's lock makes it: a store shared by several servers would need what is kept dropped each time the
    lock is taken. `room` bounds what is kept: each document kept counts one, and each of its links one more.
    Most documents of a news feed have no link: were a document kept with none to count nothing, every document
    read would stay kept until the links alone filled the room, one for each document the server ever ingested.
    A kept document not read while `unread_documents_kept` documents were added is dropped, so that what is kept
    follows the stories being copied now rather than every document read once.

    Of a kept document it also keeps the tally of the parts its links share (`PartTally`), built when first asked
    for and counted up by the links of new pairs laid over it; a link laid over its pair's stored one that shares
    other text drops it, and a document that leaves takes its tally with it.
    """

    def __init__(
        self,
        store: ProvenanceStore,
        room: int = CACHE_ROOM,
        min_tallied_links: int | None = None,
        min_kept_links: int = MIN_KEPT_LINKS,
        unread_documents_kept: int = UNREAD_DOCUMENTS_KEPT,
    ) -> None:
        self._store = store
        self._room = room
        self._min_kept_links = min_kept_links
        self._unread_documents_kept = unread_documents_kept
        # Documents added through the cache so far, and when (in those) each kept document was last read.
        self._added = 0
        self._read_at: dict[str, int] = {}
        self._min_tallied_links = MIN_TALLIED_LINKS if min_tallied_links is None else min_tallied_links
        # Per document, its links by the document at their other end; least recently read first.
        self._kept: OrderedDict[str, dict[str, Link]] = OrderedDict()
        self._room_used = 0
        # Of kept documents, the tallies of their parts built so far (`tally_of`), kept up to date with their links.
        self._tallies: dict[str, PartTally] = {}

    def links_of(self, document_id: str) -> list[Link]:
        """Return every stored link of `document_id`, in either direction; kept for later reads."""
        kept = self._read(document_id)
        if kept is not None:
            return list(kept.values())
        links = self._store.links_of(document_id)
        self.remember(document_id, links)
        return links

    def undated_links_of(self, document_id: str) -> list[Link]:
        """Return the stored links of `document_id` that dates did not direct."""
        return self._filtered(document_id, _undated, self._store.undated_links_of)

    def dated_links_of(self, document_id: str) -> list[Link]:
        """Return the stored links of `document_id` that dates directed."""
        return self._filtered(document_id, _dated, self._store.dated_links_of)

    def sources_of(self, document_id: str) -> list[Link]:
        """Return the stored links of which `document_id` is the derived end."""
        return self._filtered(document_id, lambda link: link.document_id == document_id, self._store.sources_of)

    def tally_of(self, document_id: str) -> PartTally | None:
        """Return the tally of the parts of a kept document's stored links (None when not kept, or with few links)."""
        kept = self._read(document_id)
        if kept is None or len(kept) < self._min_tallied_links:
            return None
        tally = self._tallies.get(document_id)
        if tally is None:
            tally = self._tallies[document_id] = PartTally(document_id, kept.values())
        return tally

    def remember(self, document_id: str, links: Iterable[Link]) -> None:
        """Keep `links` as every stored link of `document_id` (read by the caller, in parts)."""
        if self._read(document_id) is not None:
            # What is kept is what the store holds, and so are the parts the caller read: the tally kept stands.
            return
        by_other = {}
        for link in links:
            other = link.other(document_id)
            # A link whose other end is kept is kept there too, read separately: one object serves both ends.
            at_other = self._kept.get(other)
            same = None if at_other is None else at_other.get(document_id)
            by_other[other] = same if same == link else link
        self._forget(document_id)
        if len(by_other) < self._min_kept_links or _room_taken(by_other) > self._room:
            return
        self._kept[document_id] = by_other
        self._read_at[document_id] = self._added
        self._room_used += _room_taken(by_other)
        self._trim()

    def apply(self, change: StoreChange) -> None:
        """Apply `change` to the store, then to the links kept."""
        try:
            self._store.apply(change)
        except BaseException:
            self._clear()
            raise
        self._added += len(change.added)
        if change.removed_ids:
            # Rare (a delete or a replacement), and every kept document might have had a link to one of them.
            self._clear()
            return
        added: defaultdict[str, list[Link]] = defaultdict(list)
        for link in change.upserted_links:
            for end, other in ((link.document_id, link.source_id), (link.source_id, link.document_id)):
                kept = self._kept.get(end)
                if kept is None:
                    continue
                stored = kept.get(other)
                if stored is None:
                    added[end].append(link)
                    self._room_used += 1
                elif end in self._tallies and not self._tallies[end].shares_alike(stored, link):
                    del self._tallies[end]
                kept[other] = link
        for end, links in added.items():
            if end in self._tallies:
                self._tallies[end].add(links)
        self._trim()

    def _read(self, document_id: str) -> dict[str, Link] | None:
        kept = self._kept.get(document_id)
        if kept is not None:
            self._kept.move_to_end(document_id)
            self._read_at[document_id] = self._added
        return kept

    def _filtered(
        self, document_id: str, keep: Callable[[Link], bool], read: Callable[[str], list[Link]]
    ) -> list[Link]:
        kept = self._read(document_id)
        if kept is None:
            # Not kept: the store reads only these (an index holds the undated ones; a dated story's thousands of
            # links are not read to find none), and they are not all of the document's, so they are not kept.
            return read(document_id)
        return [link for link in kept.values() if keep(link)]

    def _clear(self) -> None:
        self._kept.clear()
        self._tallies.clear()
        self._read_at.clear()
        self._room_used = 0

    def _trim(self) -> None:
        # Least recently read first: the front is the document read longest ago.
        while self._kept:
            oldest = next(iter(self._kept))
            unread_for = self._added - self._read_at[oldest]
            if self._room_used <= self._room and unread_for <= self._unread_documents_kept:
                return
            self._forget(oldest)

    def _forget(self, document_id: str) -> None:
        kept = self._kept.pop(document_id, None)
        self._tallies.pop(document_id, None)
        self._read_at.pop(document_id, None)
        if kept is not None:
            self._room_used -= _room_taken(kept)


def _room_taken(kept: dict[str, Link]) -> int:
    # The document, and each of its links.
    return 1 + len(kept)


def _undated(link: Link) -> bool:
    return link.basis is not DirectionBasis.PUBLISHED_AT


def _dated(link: Link) -> bool:
    return link.basis is DirectionBasis.PUBLISHED_AT

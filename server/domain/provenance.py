"""The link graph: which links are siblings' shared text, best sources, origins and clusters."""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Final, NamedTuple

from server.domain.model import Cluster, ClusterMember, DirectionBasis, Link, PairwiseDirection, Provenance, Relation

# Two documents that reuse one common source are siblings, not source and copy, when at least this
# share of the text they have in common (on each side) is text each of them has in common with that source.
SIBLING_EXPLAINED_SHARE: Final = 0.5
# A source is on a document's origin chain only if at least this share of the text taken from the
# document by the previous link lies in the passages the document took from that source.
CARRIED_SHARE: Final = 0.2
# A document is a compilation, and the derived end of a link, when at least COMPILATION_MIN_PARTS other
# documents each share another part of it than the link does, and more than COMPILATION_FACTOR times as
# many as share another part of the link's other end. Three, because a news page embedding two agency
# stories is left to the texts' own evidence (context), which decides that case well.
COMPILATION_MIN_PARTS: Final = 3
COMPILATION_FACTOR: Final = 2
# Two links share another part of a document when they overlap on less than this share of the shorter.
OTHER_PART_OVERLAP: Final = 0.5
# The version of the rules by which the links around a pair turn it (`decide_directions`) or make it a sibling link
# (`decide_suppression`), recorded with the store: links decided under an older version are decided again at start.
# 1: compilations; 2: reprints and embedding pages; 3: a copy's own wording where the common source rewords it.
DIRECTION_RULES_VERSION: Final = 3
REPRINTS_RULES_VERSION: Final = 2
COPIED_WORDING_RULES_VERSION: Final = 3
# A story that many pages reprint whole and others excerpt shares each excerpt's part with a different document,
# like a compilation does; what sets it apart is that the whole of it is carried again and again. A document is
# the source of a link when at least REPRINT_MIN_DOCUMENTS other documents share text of it that holds the link's
# part within more (see `_Part.lies_within`), more than COMPILATION_FACTOR times as many as at the other end, and
# more than share its other parts: a compilation that a few pages copy whole stays a compilation of its sources.
REPRINT_MIN_DOCUMENTS: Final = 3
# How far beyond a link's part another part of the same document must reach to hold it within more: a fifth of
# the part's length, so that copies of one excerpt, which differ by a headline or a sentence, do not.
REPRINT_MARGIN: Final = 0.2
# A text lies whole in a link when at least this share of it is in the shared passages (as a duplicate's two texts
# do), and a page embeds it when the page's share is lower: it has text of its own around it. A short story that
# REPRINT_MIN_DOCUMENTS pages embed, each with text of its own (not text they share with the page of the link), is
# the source of each, although every one of those pages holds it, and the two texts alone call it the excerpt.
WHOLE_COVERAGE: Final = 0.8


def rank_key(link: Link) -> tuple[float, float, str]:
    """Order links best first: the strongest reuse, then the surest direction, then by id for stability."""
    return (-link.score, -link.confidence, link.source_id)


def decide_suppression(candidates: Iterable[Link], context: Iterable[Link]) -> list[Link]:
    """Return `candidates` with `suppressed` set for links between siblings.

    A link between x and y is a sibling link when some third document z is a source of both x and
    y (per `context`, which must hold every link of which x or y is the derived end), and the text x
    and y share is mostly text each of them took from z. Not when x and y share it word for word and
    z has it only reworded (a link of z's is a rewrite): then one of them copied the other's words,
    which z does not hold. The rule reads only the three documents, so the result does not depend on
    the order in which they were ingested.
    """
    sources_of: defaultdict[str, dict[str, Link]] = defaultdict(dict)
    for link in context:
        sources_of[link.document_id][link.source_id] = link
    decided = []
    for link in candidates:
        x, y = link.document_id, link.source_id
        common = (sources_of[x].keys() & sources_of[y].keys()) - {x, y}
        suppressed = any(_explained(link, sources_of[x][z], sources_of[y][z]) for z in sorted(common))
        decided.append(link if link.suppressed == suppressed else replace(link, suppressed=suppressed))
    return decided


def _explained(link: Link, x_from_z: Link, y_from_z: Link) -> bool:
    x, y = link.document_id, link.source_id
    if link.relation is not Relation.REWRITE and Relation.REWRITE in (x_from_z.relation, y_from_z.relation):
        # The relations are of whole links, so a z that reworded one part and was copied word for word in another
        # explains neither: x then keeps y as a source beside z, rather than losing the one whose words it holds.
        return False
    return (
        _covered_share(_part_of(x, link), _part_of(x, x_from_z)) >= SIBLING_EXPLAINED_SHARE
        and _covered_share(_part_of(y, link), _part_of(y, y_from_z)) >= SIBLING_EXPLAINED_SHARE
    )


def _covered_share(ranges: list[tuple[int, int]], cover: list[tuple[int, int]]) -> float:
    total = _length(ranges)
    return min(1.0, _overlap(ranges, cover) / total) if total else 0.0


LinksOf = Callable[[str], list[Link]]


def decide_directions(links: Iterable[Link], links_of: LinksOf, tallies_of: TalliesOf | None = None) -> list[Link]:
    """Return `links` pointed the way the documents around them say, else the way their two texts said.

    A compilation (an essay stitched from web pages, a page of agency stories) shares each of its parts
    with a different document, while each of its sources shares one part with it and little else. Its
    sources often cover more of themselves in the shared text than the compilation does, so the texts
    alone would call the source the excerpt; the graph shows which text was put together from others.
    A wire story that pages reprint whole and others excerpt shares its parts with different documents
    too, but the reprints carry the whole of it around each excerpt's part: reprints decide first, and
    make the story the source of its excerpts. A story short enough for a page to quote all of it lies
    whole in each such page, and the texts alone call it the excerpt; several pages that each hold it
    among text of their own make it their source. A summary stays derived (reprinting a summary whole
    does not make it the source of what it condenses). Publication dates, when both texts have them,
    are not overridden.

    `links_of(id)` must return every link of `id` as decided so far, in either direction and
    suppressed or not: the parts counted do not depend on directions or on sibling status, so the
    result depends only on which documents share which text, not on the order they were ingested in.
    `tallies_of(id)`, when given, may return a `TallyView` of `id`: a tally of the parts of its stored links with
    those `links_of` adds laid over it; its parts then stand as the tally counts them, not measured against all of
    its links again.
    """
    # Every link of a hub is counted against all the others: its parts are read once, not once per link.
    # And a part's counts once per distinct part: the copies of a story mostly share one stretch of it, and an
    # undated story with a thousand copies was counted part against part for each of its links.
    standing = _standing_once(_parts_once(links_of), tallies_of)
    embedders = _embedders_once(links_of)
    decided = []
    for link in links:
        pairwise = link.pairwise or PairwiseDirection(link.source_id, link.basis, link.confidence)
        if pairwise.basis is DirectionBasis.PUBLISHED_AT:
            decided.append(link)
            continue
        ends = _Ends(link, standing(link.document_id, link), standing(link.source_id, link))
        by_links = _decided_by_links(ends, pairwise) or _embedded_whole(ends, pairwise, embedders)
        if by_links is None:
            restored = link.derived_from(pairwise.source_id, pairwise.basis, pairwise.confidence)
            decided.append(restored.with_pairwise(None))
            continue
        source_id, basis, confidence = by_links
        decided.append(link.derived_from(source_id, basis, confidence).with_pairwise(pairwise))
    return decided


class _Ends(NamedTuple):
    """A link, and how its part stands at each end: at its derived end (`x`) and its source (`y`) as stored."""

    link: Link
    x: _Standing
    y: _Standing

    def at(self, document_id: str) -> _Standing:
        return self.x if document_id == self.link.document_id else self.y


def _decided_by_links(ends: _Ends, pairwise: PairwiseDirection) -> tuple[str, DirectionBasis, float] | None:
    """Return (source id, basis, confidence) when the documents around a link decide its direction, else None."""
    x, y = ends.link.document_id, ends.link.source_id
    parts_x, parts_y = ends.x.other_parts, ends.y.other_parts
    if pairwise.basis is not DirectionBasis.CONDENSATION:
        # A document has one link with each other, so the documents holding the part are as many as their links.
        reprints_x, reprints_y = len(ends.x.holders), len(ends.y.holders)
        if _outnumbers(reprints_x, reprints_y, REPRINT_MIN_DOCUMENTS) and reprints_x > parts_x:
            return x, DirectionBasis.REPRINTS, _graph_confidence(reprints_x, reprints_y)
        if _outnumbers(reprints_y, reprints_x, REPRINT_MIN_DOCUMENTS) and reprints_y > parts_y:
            return y, DirectionBasis.REPRINTS, _graph_confidence(reprints_y, reprints_x)
    if _outnumbers(parts_x, parts_y, COMPILATION_MIN_PARTS):
        return y, DirectionBasis.COMPILATION, _graph_confidence(parts_x, parts_y)
    if _outnumbers(parts_y, parts_x, COMPILATION_MIN_PARTS):
        return x, DirectionBasis.COMPILATION, _graph_confidence(parts_y, parts_x)
    return None


Embedders = Callable[[str], frozenset[str]]


def _embedded_whole(
    ends: _Ends, pairwise: PairwiseDirection, embedders: Embedders
) -> tuple[str, DirectionBasis, float] | None:
    """Return (source id, basis, confidence) when one end lies whole in the link and enough other pages embed it.

    The pages that count embed the whole text with text of their own, and are not pages that hold the link's
    part of the other end within more (those are copies of the other end, whose own text is the same text):
    a short excerpt that lies whole in a story and in the story's reprints is not the story's source.
    """
    if pairwise.basis is DirectionBasis.CONDENSATION:
        return None
    link = ends.link
    for whole, other in ((link.source_id, link.document_id), (link.document_id, link.source_id)):
        if not _embeds(whole, link):
            continue
        holders = ends.at(other).holders
        others = [embedder for embedder in embedders(whole) if embedder not in holders and embedder != other]
        if len(others) >= REPRINT_MIN_DOCUMENTS:
            return whole, DirectionBasis.REPRINTS, _graph_confidence(len(others), 0)
    return None


def _coverage(document_id: str, link: Link) -> float:
    return link.containment if link.document_id == document_id else link.source_containment


def _embeds(document_id: str, link: Link) -> bool:
    """Tell whether the other end of `link` embeds `document_id`: holds it whole, with text of its own around it."""
    return _coverage(document_id, link) >= WHOLE_COVERAGE > _coverage(link.other(document_id), link)


def _embedders_once(links_of: LinksOf) -> Embedders:
    embedders: dict[str, frozenset[str]] = {}

    def embedders_of(document_id: str) -> frozenset[str]:
        if document_id not in embedders:
            embedders[document_id] = frozenset(
                link.other(document_id) for link in links_of(document_id) if _embeds(document_id, link)
            )
        return embedders[document_id]

    return embedders_of


def unsettled(links: Iterable[Link], changed_links_of: LinksOf) -> list[Link]:
    """Return the links among `links` whose direction a change may have altered, for `decide_directions`.

    `changed_links_of(id)` returns the links of `id` that the change added, removed or altered, each as it
    was and as it is. What `decide_directions` makes of a link depends on the link and, at each end, on how
    many other links share another part of that end and how many hold its part within more, and on which
    documents embed that end; a changed link that shares the same part of the end, and does not embed it,
    leaves all three as they were. So the links of a wire story with a
    thousand copies are not all counted again, each against all the others, whenever one more copy arrives:
    only the new copy's link is (and, when the new copy carries the whole story, the links of its excerpts).
    """
    changes: dict[str, _ChangeAt] = {}

    def change_at(document_id: str) -> _ChangeAt:
        if document_id not in changes:
            changed = changed_links_of(document_id)
            changes[document_id] = _ChangeAt(
                frozenset(pair for other in changed for pair in _both_ways(other)),
                frozenset(_Part.of(document_id, c) for c in changed),
                any(_embeds(document_id, c) for c in changed),
            )
        return changes[document_id]

    # The ends are read as a pair, not as `Link.ends`, which makes a set: 2.2 million links are asked about while
    # an undated story takes in 1,024 copies.
    return [
        link
        for link in links
        if change_at(link.document_id).may_turn(link.document_id, link)
        or change_at(link.source_id).may_turn(link.source_id, link)
    ]


def _both_ways(link: Link) -> tuple[tuple[str, str], tuple[str, str]]:
    return (link.document_id, link.source_id), (link.source_id, link.document_id)


@dataclass(frozen=True, slots=True)
class _ChangeAt:
    """What a change did at one document: the pairs of the links it touched there, and the parts they share.

    `pairs` holds each touched link's two ends in both orders. `embedded` tells whether one of them embeds the
    document (`_embeds`).
    """

    pairs: frozenset[tuple[str, str]]
    parts: frozenset[_Part]
    embedded: bool
    # Whether a part of the document is another part than some changed link's, asked once per distinct part.
    verdicts: dict[_Part, bool] = field(default_factory=dict)

    def may_turn(self, document_id: str, link: Link) -> bool:
        """Tell whether the change may alter what decides `link` at its end `document_id`."""
        if (link.document_id, link.source_id) in self.pairs or (self.embedded and _embeds(document_id, link)):
            return True
        part = _Part.of(document_id, link)
        if part not in self.verdicts:
            self.verdicts[part] = any(part.is_another(other) or part.lies_within(other) for other in self.parts)
        return self.verdicts[part]


class _Part(NamedTuple):
    """The text of one document that one of its links shares: its character ranges, and their total length.

    `first` and `last` bound all the ranges (the source side's need not be in order): parts whose bounds do not
    meet have nothing in common, which is most pairs of a story's excerpts.
    """

    ranges: tuple[tuple[int, int], ...]
    length: int
    first: int
    last: int

    @classmethod
    def of(cls, document_id: str, link: Link) -> _Part:
        if len(link.evidence) == 1:
            # Most links are one stretch, and deciding the links around a much-copied story makes a part of each
            # end of each link around it: about 55,000 a batch at 512 undated copies.
            (span,) = link.evidence
            start, end = (
                (span.start, span.end) if document_id == link.document_id else (span.source_start, span.source_end)
            )
            return cls(((start, end),), end - start, start, end)
        ranges = tuple(_part_of(document_id, link))
        first = min((start for start, _ in ranges), default=0)
        last = max((end for _, end in ranges), default=0)
        return cls(ranges, _length(ranges), first, last)

    def overlap(self, other: _Part) -> int:
        """Return how many characters the two parts have in common."""
        if other.last <= self.first or self.last <= other.first:
            return 0
        if len(self.ranges) == 1 == len(other.ranges):
            # Most parts are one stretch, and a story's hundreds of parts are measured against one another.
            (start, end), (other_start, other_end) = self.ranges[0], other.ranges[0]
            return max(0, min(end, other_end) - max(start, other_start))
        return _overlap(self.ranges, other.ranges)

    def is_another(self, other: _Part) -> bool:
        """Tell whether `other` is another part: the two overlap on less than OTHER_PART_OVERLAP of the shorter."""
        return self.overlap(other) < OTHER_PART_OVERLAP * min(self.length, other.length)

    def lies_within(self, other: _Part) -> bool:
        """Tell whether `other` holds this part within more (a reprint around an excerpt's part of a story).

        It must cover at least OTHER_PART_OVERLAP of this part and reach beyond it by at least REPRINT_MARGIN
        of this part's length.
        """
        overlap = self.overlap(other)
        return overlap >= OTHER_PART_OVERLAP * self.length and other.length - overlap >= REPRINT_MARGIN * self.length


PartsOf = Callable[[str], dict[_Part, list[str]]]


def _parts_once(links_of: LinksOf) -> PartsOf:
    """Return, per document, the documents whose link shares each distinct part of it, worked out once per document.

    Copies of one story mostly share the same stretch of it, so a story with a thousand copies has a few
    distinct parts to count against, not a thousand.
    """
    parts: dict[str, dict[_Part, list[str]]] = {}

    def parts_of(document_id: str) -> dict[_Part, list[str]]:
        if document_id not in parts:
            parts[document_id] = dict(_sharing(document_id, links_of(document_id)))
        return parts[document_id]

    return parts_of


def _sharing(document_id: str, links: Iterable[Link]) -> defaultdict[_Part, list[str]]:
    """Return each distinct part of `document_id` that `links` share, with the documents at their other ends."""
    sharing: defaultdict[_Part, list[str]] = defaultdict(list)
    for link in links:
        sharing[_Part.of(document_id, link)].append(link.other(document_id))
    return sharing


@dataclass(frozen=True, slots=True)
class _Standing:
    """How one part of a document stands among the document's other shared parts.

    `other_parts` counts the links that share another part of it (`_Part.is_another`); `holders` are the documents
    whose shared text holds the part within more (`_Part.lies_within`): the reprints rule counts them, and the
    embedding rule leaves them out.
    """

    other_parts: int
    holders: Collection[str]


def _standing_once(parts_of: PartsOf, tallies_of: TalliesOf | None = None) -> Callable[[str, Link], _Standing]:
    """Return a function giving a link's part's `_Standing` at one of its ends, worked out once per distinct part.

    `parts_of` lists who shares each part of a document (`_parts_once`); the link's own part is not another
    part than itself, so counting it adds nothing. A document that `tallies_of` has a tally view of is counted
    from it instead.
    """
    standings: dict[tuple[str, _Part], _Standing] = {}
    views: dict[str, TallyView | None] = {}

    def standing_of(document_id: str, link: Link) -> _Standing:
        part = _Part.of(document_id, link)
        if (document_id, part) not in standings:
            if document_id not in views:
                views[document_id] = tallies_of(document_id) if tallies_of is not None else None
            view = views[document_id]
            standings[document_id, part] = (
                view.standing(part) if view is not None else _standing(part, parts_of(document_id))
            )
        return standings[document_id, part]

    return standing_of


def _standing(part: _Part, parts: dict[_Part, list[str]]) -> _Standing:
    """Measure `part` against every distinct part in `parts` in one pass.

    A story with hundreds of distinct parts (its excerpts each take a stretch of their own) asks this once for
    each of them whenever a new copy may turn its links: at 512 undated copies, about 150,000 pairs a batch. So
    the two relations (`_Part.is_another`, `_Part.lies_within`) are written out here, on one overlap per pair and
    with this part's bounds worked out once, rather than called: the calls took half the time of deciding
    directions. A property test holds the two to the methods.
    """
    other_parts = 0
    holders: list[str] = []
    first, last, length = part.first, part.last, part.length
    one_range = len(part.ranges) == 1
    half, margin = OTHER_PART_OVERLAP * length, REPRINT_MARGIN * length
    for other, sharing in parts.items():
        if other.last <= first or last <= other.first:
            overlap = 0
        elif one_range and len(other.ranges) == 1:
            # The bounds of a one-range part are its range, and these meet.
            overlap = min(last, other.last) - max(first, other.first)
        else:
            overlap = _overlap(part.ranges, other.ranges)
        if overlap < half and overlap < OTHER_PART_OVERLAP * other.length:
            other_parts += len(sharing)
        # Never both: a part that lies within a longer one overlaps it on at least OTHER_PART_OVERLAP of itself.
        elif overlap >= half and other.length - overlap >= margin:
            holders.extend(sharing)
    return _Standing(other_parts, frozenset(holders))


class _Counts:
    """A part's standing as a tally keeps it, counted up as links are added.

    Counts only, so that a tally grows with the links of its document, not with its parts times their holders
    (hundreds each around a much-copied story).
    """

    __slots__ = ("holders", "other_parts")

    def __init__(self, standing: _Standing) -> None:
        self.other_parts = standing.other_parts
        self.holders = len(standing.holders)


class _Holders(Collection[str]):
    """The documents holding a part within more, counted; found among the tally's parts only if asked which they are.

    The rules count them; only the embedding rule asks which, for the few texts that lie whole in a link.
    """

    __slots__ = ("_count", "_find", "_found")

    def __init__(self, count: int, find: Callable[[], frozenset[str]]) -> None:
        self._count = count
        self._find = find
        self._found: frozenset[str] | None = None

    def __len__(self) -> int:
        return self._count

    def __contains__(self, document_id: object) -> bool:
        return document_id in self._which()

    def __iter__(self) -> Iterator[str]:
        return iter(self._which())

    def _which(self) -> frozenset[str]:
        if self._found is None:
            self._found = self._find()
        return self._found


class _Joined(Collection[str]):
    """Two disjoint collections of documents read as one, without copying either (a story's holders number hundreds)."""

    __slots__ = ("_first", "_second")

    def __init__(self, first: Collection[str], second: Collection[str]) -> None:
        self._first = first
        self._second = second

    def __len__(self) -> int:
        return len(self._first) + len(self._second)

    def __contains__(self, document_id: object) -> bool:
        return document_id in self._first or document_id in self._second

    def __iter__(self) -> Iterator[str]:
        return itertools.chain(self._first, self._second)


class PartTally:
    """Who shares each distinct part of one document, and how the parts asked about stand, kept as links are added.

    Deciding the links around a much-copied undated story measures each distinct part of each document near it
    against all of that document's parts (`_standing`), batch after batch, while a batch adds a few links to each.
    A standing adds up link by link (each link's part is another part, holds the part within more, or neither), so
    a tally built once from all of a document's links is kept up to date by `add` for one more link, and what it
    measured is counted up rather than measured again: at 1,024 undated copies of a story, deciding the last quarter
    of them took 11.3 s in process against 16.0 s measuring every part again. Only links of new pairs are added: a
    link laid over its pair's stored one shares the same text (turning a link round turns its evidence round with
    it), and a change that alters the text a pair shares, or removes a link, needs a tally built again.
    """

    __slots__ = ("_document_id", "_parts", "_standings")

    def __init__(self, document_id: str, links: Iterable[Link]) -> None:
        self._document_id = document_id
        self._parts = _sharing(document_id, links)
        self._standings: dict[_Part, _Counts] = {}

    def add(self, links: Iterable[Link]) -> None:
        """Count in more links of the document, each to a document it had no link with."""
        # The copies of a story mostly share the same text of each document they link to: one measure per part.
        for added_part, others in _sharing(self._document_id, links).items():
            for part, counts in self._standings.items():
                # As `_standing` counts: never both.
                if part.is_another(added_part):
                    counts.other_parts += len(others)
                elif part.lies_within(added_part):
                    counts.holders += len(others)
            self._parts[added_part].extend(others)

    def shares_alike(self, link: Link, other_link: Link) -> bool:
        """Tell whether two links of the document share the same text of it."""
        return _Part.of(self._document_id, link) == _Part.of(self._document_id, other_link)

    def standing(self, part: _Part) -> _Standing:
        """Return how `part` stands among the document's parts, for one decision: `add` changes what it holds."""
        counts = self._standings.get(part)
        if counts is None:
            standing = _standing(part, self._parts)
            self._standings[part] = _Counts(standing)
            return standing
        return _Standing(counts.other_parts, _Holders(counts.holders, lambda: self._holders_of(part)))

    def _holders_of(self, part: _Part) -> frozenset[str]:
        return frozenset(other for held, others in self._parts.items() if part.lies_within(held) for other in others)


class TallyView:
    """A document's `PartTally` of its stored links, with the links a change adds laid over it."""

    __slots__ = ("_added", "_tally")

    def __init__(self, tally: PartTally, added: dict[_Part, list[str]]) -> None:
        self._tally = tally
        self._added = added

    @classmethod
    def of(cls, document_id: str, tally: PartTally, laid: Iterable[tuple[Link | None, Link]]) -> TallyView | None:
        """Return the view of a tally of `document_id` under `laid` links, each with the stored link of its pair.

        None when a laid link shares other text than the stored one it replaces: the tally would need building again.
        """
        laid = list(laid)
        if any(
            stored is not None and not _alike(stored, link) and not tally.shares_alike(stored, link)
            for stored, link in laid
        ):
            return None
        return cls(tally, dict(_sharing(document_id, (link for stored, link in laid if stored is None))))

    def standing(self, part: _Part) -> _Standing:
        stored = self._tally.standing(part)
        if not self._added:
            return stored
        added = _standing(part, self._added)
        # A laid link's pair had no stored link: the documents holding the part through one are not stored holders.
        holders = _Joined(stored.holders, added.holders) if added.holders else stored.holders
        return _Standing(stored.other_parts + added.other_parts, holders)


TalliesOf = Callable[[str], TallyView | None]


def _alike(stored: Link, link: Link) -> bool:
    # A link decided again without turning keeps its evidence: most of a story's laid links, told apart cheaply.
    return link.evidence is stored.evidence and link.document_id == stored.document_id


def _outnumbers(count: int, other_end_count: int, least: int) -> bool:
    return count >= least and count > COMPILATION_FACTOR * other_end_count


def _graph_confidence(count: int, other_end_count: int) -> float:
    return round(0.5 + 0.45 * (count - other_end_count) / (count + other_end_count), 6)


def _part_of(document_id: str, link: Link) -> list[tuple[int, int]]:
    if link.document_id == document_id:
        return [(span.start, span.end) for span in link.evidence]
    return [(span.source_start, span.source_end) for span in link.evidence]


def _length(ranges: Sequence[tuple[int, int]]) -> int:
    return sum(end - start for start, end in ranges)


def _overlap(ranges: Sequence[tuple[int, int]], others: Sequence[tuple[int, int]]) -> int:
    return sum(
        max(0, min(end, other_end) - max(start, other_start))
        for start, end in ranges
        for other_start, other_end in others
    )


def _read_once(links_of: LinksOf) -> LinksOf:
    """Cache `links_of` for one query: chains and clusters revisit the same documents many times."""
    read: dict[str, list[Link]] = {}

    def cached(document_id: str) -> list[Link]:
        if document_id not in read:
            read[document_id] = links_of(document_id)
        return read[document_id]

    return cached


def provenance_of(document_id: str, links_of: LinksOf, sources_of: LinksOf | None = None) -> Provenance:
    """Return the sources, derivatives and origin chain of a document.

    `links_of(id)` returns every stored link touching `id`; suppressed (sibling) links are ignored. The chain is
    walked with `sources_of(id)`, the links of which `id` is the derived end (links_of when not given): a wire
    story reprinted a thousand times is the origin of every copy's chain, and its derivatives are not read for it.
    """
    links_of = _read_once(links_of)
    links = [link for link in links_of(document_id) if not link.suppressed]
    sources = sorted((link for link in links if link.document_id == document_id), key=rank_key)
    derivatives = sorted((link for link in links if link.source_id == document_id), key=rank_key)
    sources_above = links_of if sources_of is None else sources_of

    def walked_sources_of(walked_id: str) -> list[Link]:
        # The document's own links are read already, and its sources are among them.
        return links_of(walked_id) if walked_id == document_id else sources_above(walked_id)

    chain = origin_chain(document_id, walked_sources_of)
    return Provenance(
        document_id=document_id,
        origin_id=chain[-1].source_id if chain else None,
        sources=tuple(sources),
        derivatives=tuple(derivatives),
        origin_chain=tuple(chain),
    )


def best_source(document_id: str, sources_of: LinksOf, carrying: Link | None = None) -> Link | None:
    """Return the best unsuppressed source link of `document_id`.

    `sources_of(id)` returns the links of which `id` is the derived end, and may return its others too.
    With `carrying` (the link by which some document took text from `document_id`), only sources that
    the taken text came from count: a roundup that quotes two unrelated stories is not a bridge
    from one to the other.
    """
    sources = [link for link in sources_of(document_id) if link.document_id == document_id and not link.suppressed]
    if carrying is not None:
        taken = _part_of(document_id, carrying)
        sources = [link for link in sources if _covered_share(taken, _part_of(document_id, link)) >= CARRIED_SHARE]
    return min(sources, key=rank_key) if sources else None


def origin_chain(document_id: str, sources_of: LinksOf) -> list[Link]:
    """Follow best sources from `document_id` up to the document its text first appeared in.

    Each step must carry the text the previous step took (see `best_source`). Directions are decided
    pair by pair, so in rare cases they can form a loop; the walk stops before revisiting a document.
    """
    chain: list[Link] = []
    visited = {document_id}
    current = document_id
    while (link := best_source(current, sources_of, chain[-1] if chain else None)) is not None:
        if link.source_id in visited:
            break
        chain.append(link)
        visited.add(link.source_id)
        current = link.source_id
    return chain


def cluster_of(document_id: str, links_of: LinksOf) -> Cluster:
    """Return the origin of `document_id` and every document whose origin chain ends there.

    Every member's links are read to find its derivatives, so its chain is walked over the same reads.
    """
    links_of = _read_once(links_of)
    chain = origin_chain(document_id, links_of)
    origin_id = chain[-1].source_id if chain else document_id
    members = [ClusterMember(origin_id, None, None, 0)]
    seen = {origin_id}
    frontier = [origin_id]
    while frontier:
        next_frontier = []
        for parent in frontier:
            children = sorted(
                {link.document_id for link in links_of(parent) if link.source_id == parent and not link.suppressed}
            )
            for child in children:
                if child in seen:
                    continue
                child_chain = origin_chain(child, links_of)
                if not child_chain or child_chain[-1].source_id != origin_id:
                    continue
                seen.add(child)
                first = child_chain[0]
                members.append(ClusterMember(child, first.relation, first.source_id, len(child_chain)))
                next_frontier.append(child)
        frontier = next_frontier
    members[1:] = sorted(members[1:], key=lambda member: (member.depth, member.document_id))
    return Cluster(origin_id, tuple(members))

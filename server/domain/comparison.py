"""Compare two texts: verify reuse on the real text, classify the relation and decide its direction."""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Final

from server.domain.alignment import (
    Alignment,
    SentenceIndex,
    Weigher,
    align,
    copied_share,
    index_sentences,
    stands_alone,
    weigh,
)
from server.domain.model import Comparison, DirectionBasis, Document, Relation, Span
from server.domain.passages import SHINGLE_WORDS
from server.domain.tokenization import TokenizedText, Tokenizer, tokenize

# Two texts are related when one aligned fragment stands on its own (alignment.STANDALONE_SEEDS seed sentences
# holding alignment.STANDALONE_WORDS words on each side, a sentence or two), or when the alignment covers at
# least RELATED_COVERAGE of one of them (a one-sentence text aligned with one sentence) with at least
# MIN_SHORT_TEXT_WORDS words.
RELATED_COVERAGE: Final = 0.5
MIN_SHORT_TEXT_WORDS: Final = 5
# Aligned passages are copied, not reworded, when at least this share of their words lie in copied sentences
# (alignment.COPIED_SENTENCE_SHARE). Measured with the n-grams of the passages as a whole (half of them verbatim)
# until 2026-11-25, which called 152 of 300 rewrites in the bench corpus (3,000 documents, seed 2) copies, and 927
# of MSRP's 2,496 aligned paraphrases; by sentences, none of the first and 595 of the second, while PAN-13's
# verbatim cases stay copies (992 of 1,000, against 993) and its translated ones are rewrites (9 of 990 called
# copies, against 46).
COPIED_WORDS_SHARE: Final = 0.5
# Reading sentences one by one costs a third of comparing a related pair (0.19 of 0.61 ms at the median, on the
# bench corpus's planted reuse), so the 4-grams of the passages as a whole settle the clear cases: a copy keeps nine
# in ten of them or more, and with fewer than three in ten shared too few sentences are copied to make one. Of 7,626
# related pairs of the bench corpus (3,000 documents, seed 2: planted reuse, and pairs of copies of one original),
# PAN-13 and MSRP, those bars settled 4,683, and reading the sentences decided none of those otherwise.
CLEARLY_COPIED_VERBATIM: Final = 0.9
CLEARLY_REWORDED_VERBATIM: Final = 0.3
# A copy that covers at least this share of both texts is a duplicate of the whole.
DUPLICATE_COVERAGE: Final = 0.8
# The words either side of each aligned fragment (about a paragraph) are its surroundings, and
# surroundings with fewer content words than MIN_CONTEXT_CONTENT_WORDS say too little to compare.
CONTEXT_WORDS: Final = 100
MIN_CONTEXT_CONTENT_WORDS: Final = 20
# Cosines of content-stem counts between windows of about a hundred words move by this much from
# one window to the next of the same text; smaller differences decide nothing.
AFFINITY_MARGIN: Final = 0.05
# Condensations (summaries) decide direction when they hold at least this share of the aligned seeds.
CONDENSED_MIN_SHARE: Final = 0.5
# Coverage must differ by this much before "the excerpt lies inside its source" decides direction.
CONTAINMENT_MARGIN: Final = 0.05

_ATTRIBUTION_BEFORE: Final = r"(?:according to|reported by|cited by|courtesy of|via|source:|credit:)\s+(?:the\s+)?"
_ATTRIBUTION_AFTER: Final = r"\s+(?:said|says|reported|reports|notes|noted|wrote|writes|quoted|added)\b"


@dataclass(frozen=True)
class TextProfile:
    """A text analysed once for comparisons: tokens, sentences, and what is known of its origin.

    `sequence` is the ingest order of a stored document; None for a text that is not stored, which
    counts as newer than everything stored. Not slotted, so that `shingles` can be kept once made.
    """

    sentences: SentenceIndex
    document: Document | None = None
    sequence: int | None = None

    @property
    def tokens(self) -> TokenizedText:
        return self.sentences.tokens

    @cached_property
    def shingles(self) -> set[int]:
        # Made on first use, for texts found related to another: most candidates a text is compared with
        # are not, while a text related to several (a wire story, a query) is shingled once. The word 5-grams
        # the signatures hash as joined strings, kept here as the hashes of tuples of the words: the same sets
        # (a word holds no space) unless two 64-bit hashes collide, without making and hashing a new string per
        # n-gram (SentenceIndex.ngrams).
        return self.sentences.ngrams(0, len(self.tokens), SHINGLE_WORDS)


def profile_text(
    text: str, document: Document | None = None, sequence: int | None = None, tokenizer: Tokenizer = tokenize
) -> TextProfile:
    tokens = tokenizer(text)
    return TextProfile(index_sentences(tokens), document, sequence)


def compare_profiles(a: TextProfile, b: TextProfile, weigher: Weigher = weigh) -> Comparison | None:
    """Return how `a` relates to `b` (spans from a to b), or None when neither reuses the other.

    >>> source = profile_text(
    ...     "The council met on Monday. The mayor opened the new bridge over the river. Crowds cheered"
    ...     " the long awaited opening of the bridge. Traffic will flow from Tuesday. Tolls start in May."
    ... )
    >>> excerpt = profile_text(
    ...     "The mayor opened the new bridge over the river. Crowds cheered the long awaited opening of the bridge."
    ... )
    >>> comparison = compare_profiles(excerpt, source)
    >>> comparison.relation.name, comparison.a_is_derived, comparison.basis.name
    ('EXCERPT', True, 'CONTAINMENT')
    """
    alignment = align(a.sentences, b.sentences, weigher)
    if not is_related(alignment):
        return None
    a_is_derived, basis, confidence = decide_direction(a, b, alignment)
    covered_derived = alignment.coverage_a if a_is_derived else alignment.coverage_b
    similarity = _mean_fragment_cosine(alignment)
    return Comparison(
        relation=classify_relation(alignment, _copied(alignment, a, b)),
        a_is_derived=a_is_derived,
        score=_rounded(min(1.0, covered_derived * similarity)),
        jaccard=_rounded(_jaccard(a.shingles, b.shingles)),
        containment_a=_rounded(alignment.coverage_a),
        containment_b=_rounded(alignment.coverage_b),
        confidence=_rounded(confidence),
        basis=basis,
        spans=tuple(
            Span(*a.tokens.passage_span(f.a_start, f.a_end), *b.tokens.passage_span(f.b_start, f.b_end))
            for f in alignment.fragments
        ),
    )


def is_related(alignment: Alignment) -> bool:
    if not alignment.fragments:
        return False
    shared_words = min(alignment.aligned_words_a, alignment.aligned_words_b)
    if max(alignment.coverage_a, alignment.coverage_b) >= RELATED_COVERAGE:
        return shared_words >= MIN_SHORT_TEXT_WORDS
    # One run of aligned sentences must stand on its own: scattered single sentences that happen to
    # share words (advice columns, boilerplate phrases) add up across long texts without being reuse.
    return any(stands_alone(fragment) for fragment in alignment.fragments)


def _copied(alignment: Alignment, a: TextProfile, b: TextProfile) -> bool:
    """Tell whether the aligned passages are copied rather than reworded (see COPIED_WORDS_SHARE)."""
    if alignment.verbatim >= CLEARLY_COPIED_VERBATIM:
        return True
    if alignment.verbatim < CLEARLY_REWORDED_VERBATIM:
        return False
    return copied_share(alignment, a.sentences, b.sentences) >= COPIED_WORDS_SHARE


def classify_relation(alignment: Alignment, copied: bool) -> Relation:
    """Return the relation of the aligned texts, given whether they are copied rather than reworded."""
    if not copied:
        return Relation.REWRITE
    # A summary made of sentences copied whole covers its source's stretch, but is not a copy of all of it.
    condensed = any(fragment.condensed is not None for fragment in alignment.fragments)
    if min(alignment.coverage_a, alignment.coverage_b) >= DUPLICATE_COVERAGE and not condensed:
        return Relation.DUPLICATE
    return Relation.EXCERPT


def decide_direction(a: TextProfile, b: TextProfile, alignment: Alignment) -> tuple[bool, DirectionBasis, float]:
    """Return (a is the derived text, what decided it, confidence), strongest evidence first.

    The decision depends only on the two texts and their metadata, never on which of them is
    being ingested, so links come out the same whatever order documents arrive in; only an exact
    tie falls back to ingest order.
    """
    published_a = _aware(a.document.published_at) if a.document else None
    published_b = _aware(b.document.published_at) if b.document else None
    if published_a is not None and published_b is not None and published_a != published_b:
        return published_a > published_b, DirectionBasis.PUBLISHED_AT, 0.95
    ranges_a = [(f.a_start, f.a_end) for f in alignment.fragments]
    ranges_b = [(f.b_start, f.b_end) for f in alignment.fragments]
    # Reused text continues the topic of the text around it in its source, and is a foreign body
    # where it was inserted: a page that embeds a wire story, a compilation of sources. (b's is not
    # measured when a's cannot be: a copy of a whole text has nothing around it.)
    affinity_a = context_affinity(a.sentences, ranges_a)
    affinity_b = None if affinity_a is None else context_affinity(b.sentences, ranges_b)
    if affinity_a is not None and affinity_b is not None and abs(affinity_a - affinity_b) >= AFFINITY_MARGIN:
        return affinity_a < affinity_b, DirectionBasis.CONTEXT, 0.5 + min(0.45, abs(affinity_a - affinity_b))
    # A summary restates a longer stretch of its source in fewer sentences, so it is the derived text,
    # although its source lies more inside the shared fragments than it does.
    condensed = _condensed_side(alignment)
    if condensed is not None:
        side, share = condensed
        return side == "a", DirectionBasis.CONDENSATION, 0.5 + 0.45 * share
    margin = alignment.coverage_a - alignment.coverage_b
    # Two whole copies of one text differ by what each adds around it, and a reprint adds a headline or a
    # footer as often as it drops the source's own: which is covered more says nothing of which came first.
    whole_copies = min(alignment.coverage_a, alignment.coverage_b) >= DUPLICATE_COVERAGE
    if abs(margin) >= CONTAINMENT_MARGIN and not whole_copies:
        return margin > 0, DirectionBasis.CONTAINMENT, 0.5 + min(0.45, abs(margin))
    a_credits_b, b_credits_a = _credits(a, b), _credits(b, a)
    if a_credits_b != b_credits_a:
        return a_credits_b, DirectionBasis.ATTRIBUTION, 0.75
    return _ingested_later(a, b), DirectionBasis.INGEST_ORDER, 0.5


def context_affinity(text: SentenceIndex, ranges: list[tuple[int, int]]) -> float | None:
    """Return how alike the aligned token `ranges` and the words around them are; None when too little surrounds them.

    The measure is the cosine of content-stem counts, so it reads only this text: each side of a
    pair is measured on its own and the decision is the same whichever text is compared first.

    >>> text = index_sentences(tokenize(" ".join(["the river bridge opened to traffic on monday"] * 30)))
    >>> round(context_affinity(text, [(100, 140)]), 3)
    1.0
    >>> context_affinity(text, [(0, len(text.tokens))]) is None
    True
    """
    # Counted over merged intervals of tokens, not sets of positions: a fragment is hundreds of words long.
    inside = _merged(ranges)
    around = _merged(
        [(max(0, start - CONTEXT_WORDS), start) for start, _ in ranges]
        + [(end, min(len(text.word_stems), end + CONTEXT_WORDS)) for _, end in ranges]
    )
    around_stems = _content_stems(text, _without(around, inside))
    if sum(around_stems.values()) < MIN_CONTEXT_CONTENT_WORDS:
        return None
    inside_stems = _content_stems(text, inside)
    if not inside_stems:
        return None
    return _rounded(_cosine(inside_stems, around_stems))


def _condensed_side(alignment: Alignment) -> tuple[str, float] | None:
    """Return the side that summarises the other and its condensations' share of the seeds, when they hold most."""
    condensed = {"a": 0, "b": 0}
    for fragment in alignment.fragments:
        if fragment.condensed is not None:
            condensed[fragment.condensed] += fragment.seeds
    if condensed["a"] and condensed["b"]:
        return None
    side = "a" if condensed["a"] else "b"
    share = condensed[side] / alignment.seeds if alignment.seeds else 0.0
    return (side, share) if share >= CONDENSED_MIN_SHARE else None


def _cosine(one: Counter[str], other: Counter[str]) -> float:
    norms = math.sqrt(sum(c * c for c in one.values()) * sum(c * c for c in other.values()))
    return sum(count * other[term] for term, count in one.items()) / norms if norms else 0.0


def _content_stems(text: SentenceIndex, intervals: list[tuple[int, int]]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for start, end in intervals:
        # A function word's entry is "", which filter(None, ...) drops.
        counts.update(filter(None, text.word_stems[start:end]))
    return counts


def _merged(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Return the tokens of `intervals` ([start, end) each) as disjoint, non-empty intervals, in order."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(intervals):
        if start >= end:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _without(intervals: list[tuple[int, int]], removed: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Return the tokens of disjoint, ordered `intervals` that are outside the disjoint, ordered `removed` ones."""
    kept = []
    for start, end in intervals:
        for removed_start, removed_end in removed:
            if removed_end <= start or removed_start >= end:
                continue
            if removed_start > start:
                kept.append((start, removed_start))
            start = max(start, removed_end)
        if start < end:
            kept.append((start, end))
    return kept


def _aware(moment: datetime | None) -> datetime | None:
    # A date without a zone is taken as UTC, so that it can be compared with one that has a zone.
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def _credits(derived: TextProfile, source: TextProfile) -> bool:
    """Tell whether `derived` names `source`'s publisher as where its content came from."""
    publisher = source.document.source.strip() if source.document else ""
    if len(publisher) < 2 or derived.document is None:
        return False
    name = re.escape(publisher)
    pattern = rf"{_ATTRIBUTION_BEFORE}{name}\b|\b{name}{_ATTRIBUTION_AFTER}|\({name}\)"
    return re.search(pattern, derived.document.text, re.IGNORECASE) is not None


def _ingested_later(a: TextProfile, b: TextProfile) -> bool:
    if a.sequence is None:
        return True
    if b.sequence is None:
        return False
    return a.sequence > b.sequence


def _mean_fragment_cosine(alignment: Alignment) -> float:
    # Weighted by both sides' lengths, so the score is the same whichever text is a.
    weights = [f.a_end - f.a_start + f.b_end - f.b_start for f in alignment.fragments]
    total = sum(weights)
    return sum(f.cosine * w for f, w in zip(alignment.fragments, weights, strict=True)) / total if total else 0.0


def _rounded(value: float) -> float:
    # Sums taken in another order differ in the last bits; rounding keeps a pair's figures
    # identical whichever of its texts is compared with the other.
    return round(value, 6)


def _jaccard(a: set[int], b: set[int]) -> float:
    shared = len(a & b)
    # Counted, not built: the union of two long texts' n-gram sets is the larger half of the work.
    union = len(a) + len(b) - shared
    return shared / union if union else 0.0

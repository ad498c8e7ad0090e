from __future__ import annotations

import itertools
import math
from collections import Counter
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.domain.alignment import align
from server.domain.comparison import (
    CONTEXT_WORDS,
    MIN_CONTEXT_CONTENT_WORDS,
    TextProfile,
    compare_profiles,
    context_affinity,
    profile_text,
)
from server.domain.model import Comparison, DirectionBasis, Document, Link, Relation
from server.domain.passages import document_shingles
from server.domain.tokenization import tokenize
from tests.stories import (
    BRIDGE_COPY,
    BRIDGE_EXCERPT,
    BRIDGE_INDEPENDENT,
    BRIDGE_REWRITE,
    BRIDGE_SENTENCES,
    BRIDGE_STORY,
    DAM_EXCERPT,
    DAM_STORY,
    DIGEST_WITH_EXCERPT,
    EXCERPT_BODY,
    EXCERPT_ID,
    FLOOD_REPORT,
    FLOOD_SENTENCES,
    FLOOD_SUMMARY,
    FOOTBALL_STORY,
    GARDEN_STORY,
    REWRITE_ID,
    WIRE_ID,
    seed_texts,
)

# The story with a credit to Reuters worked into one sentence: the same coverage as the story itself.
CREDITED_STORY = BRIDGE_STORY.replace(
    "during an inspection last winter.", "during an inspection last winter, according to Reuters."
)


def stored(
    document_id: str,
    text: str,
    sequence: int,
    *,
    source: str = "",
    published_at: datetime | None = None,
) -> TextProfile:
    return profile_text(text, Document(document_id, text, source=source, published_at=published_at), sequence)


def compared(a: TextProfile, b: TextProfile) -> Comparison:
    comparison = compare_profiles(a, b)
    assert comparison is not None
    return comparison


def seed_profiles() -> dict[str, TextProfile]:
    return {
        document_id: stored(document_id, text, sequence)
        for sequence, (document_id, text) in enumerate(seed_texts().items(), start=1)
    }


@pytest.mark.parametrize(("a", "b"), list(itertools.permutations(sorted(seed_texts()), 2)))
def test_comparing_seed_b_with_a_is_the_reverse_of_comparing_a_with_b(a: str, b: str) -> None:
    profiles = seed_profiles()

    forward = compare_profiles(profiles[a], profiles[b])
    backward = compare_profiles(profiles[b], profiles[a])

    assert (forward is None) == (backward is None)
    if forward is not None and backward is not None:
        assert forward == backward.reversed()


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (BRIDGE_EXCERPT, BRIDGE_STORY),
        (BRIDGE_REWRITE, BRIDGE_STORY),
        (BRIDGE_COPY, BRIDGE_STORY),
        (CREDITED_STORY, BRIDGE_STORY),
        (f"{BRIDGE_EXCERPT} {FOOTBALL_STORY}", BRIDGE_REWRITE),
        (DIGEST_WITH_EXCERPT, DAM_STORY),
        (FLOOD_SUMMARY, FLOOD_REPORT),
    ],
)
def test_comparing_constructed_texts_is_symmetric(a: str, b: str) -> None:
    one, other = stored("a", a, 1, source="Reuters"), stored("b", b, 2, source="Reuters")

    assert compared(one, other) == compared(other, one).reversed()


def test_the_seed_rewrite_derives_from_the_wire_copy() -> None:
    profiles = seed_profiles()

    comparison = compared(profiles[REWRITE_ID], profiles[WIRE_ID])

    assert comparison.relation is Relation.REWRITE
    assert comparison.a_is_derived
    assert comparison.basis is DirectionBasis.CONTEXT


def test_the_seed_excerpt_derives_from_the_wire_copy() -> None:
    profiles = seed_profiles()

    comparison = compared(profiles[EXCERPT_ID], profiles[WIRE_ID])

    assert comparison.relation is Relation.EXCERPT
    assert comparison.a_is_derived
    assert comparison.containment_a > comparison.containment_b


def test_an_excerpt_with_other_material_around_it_is_an_excerpt_of_the_story() -> None:
    comparison = compared(stored("excerpt", BRIDGE_EXCERPT, 1), stored("story", BRIDGE_STORY, 2))

    assert comparison.relation is Relation.EXCERPT
    assert comparison.a_is_derived
    assert comparison.basis is DirectionBasis.CONTAINMENT
    assert comparison.containment_a > comparison.containment_b
    (span,) = comparison.spans
    # The span covers what was copied, the stop that ends its last sentence included.
    assert BRIDGE_EXCERPT[span.start : span.end] == EXCERPT_BODY
    assert BRIDGE_STORY[span.source_start : span.source_end] == EXCERPT_BODY


def test_text_pasted_among_unrelated_items_derives_from_the_story_it_continues() -> None:
    # Ingested first and far less covered, so neither ingest order nor containment would pick it.
    digest = stored("digest", DIGEST_WITH_EXCERPT, 1)
    story = stored("story", DAM_STORY, 2)

    comparison = compared(digest, story)

    assert comparison.relation is Relation.EXCERPT
    assert comparison.containment_a < comparison.containment_b
    assert comparison.a_is_derived
    assert comparison.basis is DirectionBasis.CONTEXT
    (span,) = comparison.spans
    assert DIGEST_WITH_EXCERPT[span.start : span.end] == DAM_EXCERPT


def test_surroundings_that_say_nothing_leave_direction_to_containment() -> None:
    # Short news sentences share few words with their neighbours in either text.
    excerpt = stored("excerpt", f"{EXCERPT_BODY} {GARDEN_STORY}", 1)

    comparison = compared(excerpt, stored("story", BRIDGE_STORY, 2))

    assert comparison.basis is DirectionBasis.CONTAINMENT
    assert comparison.a_is_derived


def test_a_reworded_story_is_a_rewrite() -> None:
    comparison = compared(stored("rewrite", BRIDGE_REWRITE, 2), stored("story", BRIDGE_STORY, 1))

    assert comparison.relation is Relation.REWRITE
    assert comparison.containment_a == comparison.containment_b == 1.0
    assert comparison.score > 0.3


def lightly_reworded(sentence: str, every: int) -> str:
    """Return `sentence` with one word in `every` changed: each sentence of a story passed through it is reworded."""
    words = sentence.split()
    return " ".join(
        f"{word}ish" if place % every == every // 2 and word.isalpha() else word for place, word in enumerate(words)
    )


def test_a_story_reworded_lightly_in_every_sentence_is_a_rewrite_though_half_its_wording_is_kept() -> None:
    reworded = " ".join(lightly_reworded(sentence, 8) for sentence in BRIDGE_SENTENCES)
    story, rewrite = profile_text(BRIDGE_STORY), profile_text(reworded)

    comparison = compared(stored("rewrite", reworded, 2), stored("story", BRIDGE_STORY, 1))

    # Half the word 4-grams are the story's: by the passage as a whole, it would read as a copy.
    assert align(rewrite.sentences, story.sentences).verbatim >= 0.5
    assert comparison.relation is Relation.REWRITE


def test_an_excerpt_that_rewords_a_few_of_its_sentences_is_still_an_excerpt() -> None:
    kept, reworded = BRIDGE_SENTENCES[1:5], [lightly_reworded(sentence, 3) for sentence in BRIDGE_SENTENCES[5:7]]
    excerpt = " ".join([*kept, *reworded])

    comparison = compared(stored("excerpt", excerpt, 2), stored("story", BRIDGE_STORY, 1))

    assert comparison.relation is Relation.EXCERPT
    assert comparison.a_is_derived


def test_a_near_verbatim_whole_copy_is_a_duplicate() -> None:
    comparison = compared(stored("copy", BRIDGE_COPY, 2), stored("story", BRIDGE_STORY, 1))

    assert comparison.relation is Relation.DUPLICATE
    assert comparison.jaccard > 0.8


# The story reprinted under a headline of its own, with a credit line after it.
REPRINTED_STORY = (
    f"Riverton will rebuild its cracked harbour bridge\n\n{BRIDGE_STORY}\n\n"
    "(Reporting by the Riverside Gazette staff; editing by the city desk)"
)


@pytest.mark.parametrize("reprint_first", [True, False])
def test_a_reprint_that_adds_a_headline_and_a_footer_is_not_the_source_for_being_less_covered(
    reprint_first: bool,
) -> None:
    reprint = stored("reprint", REPRINTED_STORY, 1 if reprint_first else 2)
    story = stored("story", BRIDGE_STORY, 2 if reprint_first else 1)

    comparison = compared(reprint, story)

    # Reprints add lines around a story as often as they drop the story's own, so nothing in two whole
    # copies says which came first: the tie goes to ingest order, not to the text covered less.
    assert comparison.relation is Relation.DUPLICATE
    assert comparison.containment_a < comparison.containment_b == 1.0
    assert (comparison.a_is_derived, comparison.basis) == (not reprint_first, DirectionBasis.INGEST_ORDER)


@pytest.mark.parametrize(
    ("text", "other"),
    [
        (BRIDGE_COPY, BRIDGE_STORY),
        (BRIDGE_EXCERPT, BRIDGE_STORY),
        (BRIDGE_REWRITE, BRIDGE_STORY),
        (DAM_EXCERPT, DAM_STORY),
    ],
)
def test_jaccard_is_that_of_the_two_texts_word_5_gram_sets(text: str, other: str) -> None:
    comparison = compare_profiles(profile_text(text), profile_text(other))
    assert comparison is not None
    shingles, other_shingles = (document_shingles(tokenize(each)) for each in (text, other))

    expected = len(shingles & other_shingles) / len(shingles | other_shingles)

    assert comparison.jaccard == round(expected, 6)
    assert 0.0 < comparison.jaccard < 1.0


def test_a_summary_derives_from_the_report_it_condenses_whichever_was_stored_first() -> None:
    for summary_sequence, report_sequence in ((1, 2), (2, 1)):
        summary = stored("summary", FLOOD_SUMMARY, summary_sequence)
        report = stored("report", FLOOD_REPORT, report_sequence)

        # The report lies whole inside the shared stretch and the summary does too: containment ties, and
        # ingest order would decide it either way.
        comparison = compared(summary, report)
        assert comparison.a_is_derived
        assert comparison.basis is DirectionBasis.CONDENSATION
        assert comparison.relation is Relation.REWRITE
        assert not compared(report, summary).a_is_derived


def test_a_summary_of_sentences_copied_whole_is_an_excerpt_not_a_duplicate() -> None:
    # Four report sentences, five apart, copied verbatim: the whole report is the stretch they condense.
    picked = " ".join(FLOOD_SENTENCES[0::5])

    comparison = compared(stored("picked", picked, 2), stored("report", FLOOD_REPORT, 1))

    assert comparison.relation is Relation.EXCERPT
    assert comparison.containment_a == comparison.containment_b == 1.0
    assert comparison.basis is DirectionBasis.CONDENSATION


@pytest.mark.parametrize("text", [BRIDGE_INDEPENDENT, FOOTBALL_STORY])
def test_independent_texts_on_the_same_topic_are_not_compared_as_reuse(text: str) -> None:
    assert compare_profiles(stored("other", text, 2), stored("story", BRIDGE_STORY, 1)) is None


def test_an_earlier_published_at_makes_the_excerpt_the_source_despite_containment() -> None:
    excerpt = stored("excerpt", BRIDGE_EXCERPT, 2, published_at=datetime(2017, 3, 7, tzinfo=UTC))
    story = stored("story", BRIDGE_STORY, 1, published_at=datetime(2017, 3, 8, tzinfo=UTC))

    comparison = compared(excerpt, story)

    assert not comparison.a_is_derived
    assert comparison.basis is DirectionBasis.PUBLISHED_AT
    link = Link.from_comparison("excerpt", "story", comparison)
    assert (link.document_id, link.source_id) == ("story", "excerpt")


def test_published_at_on_one_side_only_leaves_the_decision_to_containment() -> None:
    excerpt = stored("excerpt", BRIDGE_EXCERPT, 2, published_at=datetime(2017, 3, 7, tzinfo=UTC))
    story = stored("story", BRIDGE_STORY, 1)

    comparison = compared(excerpt, story)

    assert comparison.a_is_derived
    assert comparison.basis is DirectionBasis.CONTAINMENT


def test_an_attribution_cue_decides_when_containment_ties() -> None:
    # The crediting text was ingested first, so ingest order alone would make it the source.
    credited = stored("credited", CREDITED_STORY, 1)
    reuters = stored("reuters", BRIDGE_STORY, 2, source="Reuters")

    comparison = compared(credited, reuters)

    assert comparison.containment_a == comparison.containment_b
    assert comparison.a_is_derived
    assert comparison.basis is DirectionBasis.ATTRIBUTION
    assert not compared(reuters, credited).a_is_derived


def test_an_attribution_cue_naming_another_publisher_decides_nothing() -> None:
    credited = stored("credited", CREDITED_STORY, 1)
    other = stored("other", BRIDGE_STORY, 2, source="Associated Press")

    comparison = compared(credited, other)

    assert comparison.basis is DirectionBasis.INGEST_ORDER
    assert not comparison.a_is_derived


@pytest.mark.parametrize(
    "credit",
    ["the sources say, according to the Reuters", "Reuters reported", "(Reuters)", "via Reuters"],
)
def test_attribution_cues_are_recognised_in_their_usual_forms(credit: str) -> None:
    text = BRIDGE_STORY.replace(BRIDGE_SENTENCES[1], f"{BRIDGE_SENTENCES[1].rstrip('.')}, {credit}.")
    credited = stored("credited", text, 1)
    reuters = stored("reuters", BRIDGE_STORY, 2, source="Reuters")

    comparison = compared(credited, reuters)

    assert comparison.basis is DirectionBasis.ATTRIBUTION
    assert comparison.a_is_derived


def test_ingest_order_breaks_an_exact_tie() -> None:
    first, second = stored("first", BRIDGE_STORY, 1), stored("second", BRIDGE_STORY, 2)

    comparison = compared(second, first)

    assert comparison.relation is Relation.DUPLICATE
    assert comparison.basis is DirectionBasis.INGEST_ORDER
    assert comparison.a_is_derived
    assert not compared(first, second).a_is_derived


def test_a_text_that_is_not_stored_counts_as_newer_than_a_stored_one() -> None:
    query = profile_text(BRIDGE_STORY)
    stored_story = stored("story", BRIDGE_STORY, 5)

    assert compared(query, stored_story).a_is_derived
    assert not compared(stored_story, query).a_is_derived


def test_spans_of_a_comparison_point_at_shared_text_in_both_texts() -> None:
    comparison = compared(stored("copy", BRIDGE_COPY, 2), stored("story", BRIDGE_STORY, 1))

    for span in comparison.spans:
        assert 0 <= span.start < span.end <= len(BRIDGE_COPY)
        assert 0 <= span.source_start < span.source_end <= len(BRIDGE_STORY)
        assert BRIDGE_COPY[span.start : span.start + 40] == BRIDGE_STORY[span.source_start : span.source_start + 40]


def test_a_link_built_from_either_side_of_a_comparison_is_the_same_link() -> None:
    excerpt, story = stored("excerpt", BRIDGE_EXCERPT, 1), stored("story", BRIDGE_STORY, 2)

    from_excerpt = Link.from_comparison("excerpt", "story", compared(excerpt, story))
    from_story = Link.from_comparison("story", "excerpt", compared(story, excerpt))

    assert from_excerpt == from_story
    assert from_excerpt.document_id == "excerpt"
    assert from_excerpt.containment > from_excerpt.source_containment


_AFFINITY_TEXT = profile_text(" ".join([BRIDGE_STORY, DAM_STORY, FOOTBALL_STORY, BRIDGE_REWRITE]))


@settings(max_examples=200, deadline=None)
@given(
    ranges=st.lists(
        st.tuples(st.integers(0, len(_AFFINITY_TEXT.tokens)), st.integers(0, 400)).map(
            lambda start_length: (start_length[0], min(len(_AFFINITY_TEXT.tokens), sum(start_length)))
        ),
        min_size=1,
        max_size=4,
    )
)
def test_context_affinity_counts_each_word_inside_or_around_the_ranges_once(ranges: list[tuple[int, int]]) -> None:
    # Ranges may overlap, touch, be empty, or reach the ends of the text: the words inside any of them are the
    # inside, and the words within CONTEXT_WORDS of a range's ends that are not inside are its surroundings.
    words = _AFFINITY_TEXT.tokens.words
    inside = {position for start, end in ranges for position in range(start, end)}
    around = {
        position
        for start, end in ranges
        for position in [
            *range(max(0, start - CONTEXT_WORDS), start),
            *range(end, min(len(words), end + CONTEXT_WORDS)),
        ]
    } - inside
    inside_stems = Counter(_AFFINITY_TEXT.sentences.word_stems[position] for position in inside) - Counter(
        {"": len(inside)}
    )
    around_stems = Counter(_AFFINITY_TEXT.sentences.word_stems[position] for position in around) - Counter(
        {"": len(around)}
    )

    affinity = context_affinity(_AFFINITY_TEXT.sentences, ranges)

    if sum(around_stems.values()) < MIN_CONTEXT_CONTENT_WORDS or not inside_stems:
        assert affinity is None
    else:
        norms = math.sqrt(sum(c * c for c in inside_stems.values()) * sum(c * c for c in around_stems.values()))
        expected = sum(count * around_stems[stem] for stem, count in inside_stems.items()) / norms
        assert affinity == round(expected, 6)

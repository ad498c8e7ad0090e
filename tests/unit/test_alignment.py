from __future__ import annotations

import itertools
from typing import Final

import pytest

from server.domain.alignment import (
    VERBATIM_NGRAM,
    Alignment,
    Fragment,
    align,
    copied_share,
    index_sentences,
    verbatim_share,
    weigh,
)
from server.domain.comparison import is_related
from server.domain.tokenization import TokenizedText, tokenize
from tests.stories import (
    AP_ID,
    BRIDGE_COPY,
    BRIDGE_EXCERPT,
    BRIDGE_INDEPENDENT,
    BRIDGE_REWRITE,
    BRIDGE_SENTENCES,
    BRIDGE_STORY,
    DAM_SENTENCES,
    DAM_STORY,
    EXCERPT_BODY,
    EXCERPT_LEAD,
    EXCERPT_TAIL,
    FLOOD_REPORT,
    FLOOD_SENTENCES,
    FLOOD_SUMMARY,
    FOOTBALL_STORY,
    GARDEN_STORY,
    VOA_ID,
    WIRE_ID,
    seed_texts,
)

# A page that runs three sentences of the story under a headline of its own, which shares the words of one of
# them, with two sentences on something else in between.
HEADLINE: Final = "Harbour bridge works: lanes, ferries and forty thousand cars."
PAGE_WITH_HEADLINE: Final = f"{HEADLINE} {GARDEN_STORY.rsplit('. ', 1)[0]}. {EXCERPT_BODY}"
# Two closing reports of one index on different days: the same stock words, none of the same numbers. The
# numbers share pieces ("0", "25"), which a number read as written does not match on.
INDEX_REPORT: Final = (
    "The Riverton composite index rose 12.50 points, or 0.81 percent, to 1,548.25 in late trading on Tuesday."
)
OTHER_DAYS_INDEX_REPORT: Final = (
    "The Riverton composite index fell 3.10 points, or 0.2 percent, to 1,536.25 in late trading on Tuesday."
)
INDEX_REPORT_REWORDED: Final = (
    "In late Tuesday trading the Riverton composite index gained 12.50 points, or 0.81 percent, closing at 1,548.25."
)
# The flood report between two other stories, which the summary does not restate: its restated sentences still
# span most of the text.
FLOOD_REPORT_BETWEEN_STORIES: Final = f"{GARDEN_STORY} {FLOOD_REPORT} {FOOTBALL_STORY}"


def mirrored(fragment: Fragment) -> Fragment:
    return Fragment(
        a_start=fragment.b_start,
        a_end=fragment.b_end,
        b_start=fragment.a_start,
        b_end=fragment.a_end,
        seeds=fragment.seeds,
        cosine=fragment.cosine,
        verbatim=fragment.verbatim,
        condensed={"a": "b", "b": "a", None: None}[fragment.condensed],
    )


def text_between(text: str, tokens: TokenizedText, start: int, end: int) -> str:
    """Return the characters of `text` from token `start` to the end of token `end - 1`."""
    first, last = tokens.char_span(start, end)
    return text[first:last]


def assert_mirror_images(forward: Alignment, backward: Alignment) -> None:
    backward_mirrored = sorted((mirrored(f) for f in backward.fragments), key=lambda f: f.a_start)
    assert [(f.a_start, f.a_end, f.b_start, f.b_end, f.seeds, f.condensed) for f in forward.fragments] == [
        (f.a_start, f.a_end, f.b_start, f.b_end, f.seeds, f.condensed) for f in backward_mirrored
    ]
    assert [f.cosine for f in forward.fragments] == pytest.approx([f.cosine for f in backward_mirrored])
    assert [f.verbatim for f in forward.fragments] == pytest.approx([f.verbatim for f in backward_mirrored])
    assert forward.coverage_a == pytest.approx(backward.coverage_b)
    assert forward.coverage_b == pytest.approx(backward.coverage_a)
    assert forward.aligned_words_a == backward.aligned_words_b
    assert forward.aligned_words_b == backward.aligned_words_a


def test_a_verbatim_excerpt_aligns_to_the_sentences_it_copies() -> None:
    excerpt, story = tokenize(BRIDGE_EXCERPT), tokenize(BRIDGE_STORY)

    alignment = align(excerpt, story)

    (fragment,) = alignment.fragments
    start, end = excerpt.char_span(fragment.a_start, fragment.a_end)
    source_start, source_end = story.char_span(fragment.b_start, fragment.b_end)
    # Spans run from the first word to the last: the closing full stop is not a token.
    assert BRIDGE_EXCERPT[start:end] == EXCERPT_BODY.rstrip(".")
    assert BRIDGE_STORY[source_start:source_end] == EXCERPT_BODY.rstrip(".")
    assert fragment.seeds == 3
    assert fragment.verbatim == 1.0


def test_an_excerpt_covers_more_of_itself_than_of_its_source() -> None:
    alignment = align(tokenize(BRIDGE_EXCERPT), tokenize(BRIDGE_STORY))

    body_words = len(tokenize(EXCERPT_BODY))
    assert alignment.aligned_words_a == alignment.aligned_words_b == body_words
    assert alignment.coverage_a == pytest.approx(body_words / len(tokenize(BRIDGE_EXCERPT)))
    assert alignment.coverage_b == pytest.approx(body_words / len(tokenize(BRIDGE_STORY)))
    assert alignment.coverage_a > alignment.coverage_b


def test_a_single_copied_sentence_in_the_middle_of_other_text_aligns_to_that_sentence() -> None:
    sentence = BRIDGE_SENTENCES[4]
    text = f"{FOOTBALL_STORY} {sentence} {BRIDGE_INDEPENDENT}"
    tokens, story = tokenize(text), tokenize(BRIDGE_STORY)

    fragments = [f for f in align(tokens, story).fragments if f.verbatim == 1.0]

    (fragment,) = fragments
    start, end = tokens.char_span(fragment.a_start, fragment.a_end)
    assert text[start:end] == sentence.rstrip(".")
    source_start, source_end = story.char_span(fragment.b_start, fragment.b_end)
    assert BRIDGE_STORY[source_start:source_end] == sentence.rstrip(".")


def test_two_one_sentence_texts_that_share_most_content_words_are_aligned() -> None:
    # Eight content stems shared, five of their own on one side and two on the other: weighed over the two
    # sentences alone, each shared stem counted for less than each of the others, and the cosine fell under the
    # seeds' bar.
    report = (
        "The Ministry of Health in Lorvania said the measles outbreak that started in March had spread to four "
        "northern provinces despite vaccination."
    )
    retold = "Lorvania's measles outbreak, which started in March, has spread to four provinces, doctors warned."
    tokens, other = tokenize(report), tokenize(retold)

    (fragment,) = align(tokens, other).fragments

    assert fragment.seeds == 1
    assert (fragment.a_start, fragment.a_end) == (0, len(tokens))
    assert (fragment.b_start, fragment.b_end) == (0, len(other))
    assert is_related(align(tokens, other))


def test_a_lone_shared_sentence_beside_a_reused_run_is_not_evidence() -> None:
    # Three sentences of the story taken together, then, after two unrelated stories, one more on its own.
    run = " ".join(BRIDGE_SENTENCES[:3])
    lone = BRIDGE_SENTENCES[6]
    text = f"{run} {FOOTBALL_STORY} {GARDEN_STORY} {lone}"
    tokens, story = tokenize(text), tokenize(BRIDGE_STORY)
    assert len(tokenize(lone)) < 25

    alignment = align(tokens, story)

    (fragment,) = alignment.fragments
    start, end = tokens.char_span(fragment.a_start, fragment.a_end)
    assert text[start:end] == run.rstrip(".")
    assert fragment.seeds == 3
    assert alignment.aligned_words_a == len(tokenize(run))
    # Alone, the same sentence is all the evidence there is, and is kept.
    (kept,) = align(tokenize(f"{FOOTBALL_STORY} {lone} {GARDEN_STORY}"), story).fragments
    assert kept.seeds == 1


@pytest.mark.parametrize(
    ("opening", "reached"),
    [
        # Shares "council" and "rebuild" with the story's first sentence: too little to seed (cosine 0.18).
        ("The council met again, and the question of rebuilding was answered at last.", True),
        # Shares "council" and "Riverton" only (cosine 0.15, under half the seeds' bar).
        ("Riverton's council has answered the question that residents asked all year.", False),
    ],
)
def test_a_fragment_reaches_over_the_reworded_sentence_beside_it_only_when_that_pair_is_alike(
    opening: str, reached: bool
) -> None:
    # The opening rewrites the story's first sentence, and three copied sentences follow; then a line of its own.
    text = " ".join([opening, *BRIDGE_SENTENCES[1:4], EXCERPT_TAIL])
    tokens, story = tokenize(text), tokenize(BRIDGE_STORY)

    (fragment,) = align(tokens, story).fragments

    start, end = tokens.char_span(fragment.a_start, fragment.a_end)
    source_start, source_end = story.char_span(fragment.b_start, fragment.b_end)
    copied = " ".join(BRIDGE_SENTENCES[1:4]).rstrip(".")
    assert text[start:end] == (f"{opening} {copied}" if reached else copied)
    assert BRIDGE_STORY[source_start:source_end] == " ".join(BRIDGE_SENTENCES[0 if reached else 1 : 4]).rstrip(".")
    assert fragment.seeds == 3


LIBRARY_STORY = (
    "The city council approved the budget for the new library on Tuesday evening. "
    "Construction of the building on Mill Street will begin in the spring and take two years. "
    "The library will hold two hundred thousand books, a children's reading room and a cafe, and the mayor said it "
    "would open its doors to readers from every part of the county."
)
LIBRARY_REWRITE = (
    "Local news in brief. On Tuesday evening the city council approved a budget for the new library. "
    "Building work on Mill Street begins in spring and will take two years. "
    "The library is to hold two hundred thousand books, a children's reading room and a cafe."
)


@pytest.mark.parametrize(
    ("closing", "reached"),
    [
        # The rest of the story's last sentence, too reworded to seed: with it, the sentence is more alike.
        ("Readers will come from all over the county, the mayor said.", True),
        # Alike the story's last sentence on its own, but adding words the story does not have.
        ("Readers from the whole county may visit, the mayor said.", False),
    ],
)
def test_a_fragment_reaches_over_the_second_half_of_a_sentence_the_other_text_split_in_two(
    closing: str, reached: bool
) -> None:
    text = f"{LIBRARY_REWRITE} {closing} In other news, the swimming pool closes for repairs."
    tokens, story = tokenize(text), tokenize(LIBRARY_STORY)

    for derived_first in (True, False):
        alignment = align(tokens, story) if derived_first else align(story, tokens)
        (fragment,) = alignment.fragments
        derived_start, derived_end = (
            (fragment.a_start, fragment.a_end) if derived_first else (fragment.b_start, fragment.b_end)
        )
        source_start, source_end = (
            (fragment.b_start, fragment.b_end) if derived_first else (fragment.a_start, fragment.a_end)
        )
        start, end = tokens.char_span(derived_start, derived_end)
        assert text[start:end].endswith(closing.rstrip(".") if reached else "a cafe")
        source_first, source_end_char = story.char_span(source_start, source_end)
        assert source_first == 0
        # Not reached, the rewrite leaves the story's last words unsaid, a run of them (FOREIGN_RUN_WORDS).
        assert LIBRARY_STORY[:source_end_char].endswith("county" if reached else "a cafe")


@pytest.mark.parametrize(
    ("opening", "evidence_from"),
    [
        # A caption without a full stop, run into the rewrite's first sentence: none of its words is the story's.
        ("Photo gallery of the weekend marathon winners with their families and friends", "Riverton's"),
        # A rewrite's own few words at the start of its first sentence are part of the rewrite.
        ("Late yesterday evening", "Late"),
    ],
)
def test_a_rewrites_evidence_leaves_out_a_run_of_foreign_words_at_its_edge(opening: str, evidence_from: str) -> None:
    text = f"{opening} {BRIDGE_REWRITE}"
    tokens, story = tokenize(text), tokenize(BRIDGE_STORY)

    for rewrite_first in (True, False):
        (fragment,) = (align(tokens, story) if rewrite_first else align(story, tokens)).fragments
        start, end = tokens.char_span(
            *((fragment.a_start, fragment.a_end) if rewrite_first else (fragment.b_start, fragment.b_end))
        )
        assert text[start:end].startswith(evidence_from)
        assert text[start:end].endswith("in two years")


def test_a_copys_evidence_leaves_out_the_words_run_into_its_edge_sentences() -> None:
    # A heading without a full stop runs into the first copied sentence, and the page's own words go on from the
    # last one: each edge sentence is partly copied.
    body = " ".join(BRIDGE_SENTENCES[2:5]).rstrip(".")
    text = f"Commuter news in brief {body}, our reporter on the quay adds. {EXCERPT_TAIL}"
    tokens, story = tokenize(text), tokenize(BRIDGE_STORY)

    (fragment,) = align(tokens, story).fragments

    start, end = tokens.char_span(fragment.a_start, fragment.a_end)
    source_start, source_end = story.char_span(fragment.b_start, fragment.b_end)
    assert text[start:end] == body
    assert BRIDGE_STORY[source_start:source_end] == body
    assert fragment.seeds == 3


def test_a_reworded_story_aligns_with_its_source_throughout() -> None:
    rewrite, story = tokenize(BRIDGE_REWRITE), tokenize(BRIDGE_STORY)

    alignment = align(rewrite, story)

    assert alignment.seeds == len(BRIDGE_SENTENCES)
    assert alignment.coverage_a == 1.0
    assert alignment.coverage_b == 1.0
    assert alignment.verbatim < 0.5
    assert is_related(alignment)


def test_a_reworded_sentence_pair_is_a_seed_but_a_sentence_of_another_story_is_not() -> None:
    reworded = "Ferries are to run every twenty minutes while the works last, Mayor Helen Ortiz promised."
    unrelated = "The coach said the squad needed experience before the cup final in May."

    assert align(tokenize(reworded), tokenize(BRIDGE_SENTENCES[4])).seeds == 1
    assert align(tokenize(unrelated), tokenize(BRIDGE_SENTENCES[4])).seeds == 0


def test_a_near_verbatim_copy_aligns_whole_and_is_mostly_verbatim() -> None:
    alignment = align(tokenize(BRIDGE_COPY), tokenize(BRIDGE_STORY))

    assert alignment.coverage_a == alignment.coverage_b == 1.0
    assert alignment.verbatim > 0.9


@pytest.mark.parametrize("text", [BRIDGE_INDEPENDENT, FOOTBALL_STORY])
def test_a_text_on_the_same_topic_written_independently_is_not_related(text: str) -> None:
    assert not is_related(align(tokenize(text), tokenize(BRIDGE_STORY)))
    assert not is_related(align(tokenize(BRIDGE_STORY), tokenize(text)))


@pytest.mark.parametrize(("one", "other"), [(VOA_ID, WIRE_ID), (AP_ID, WIRE_ID), (VOA_ID, AP_ID)])
def test_independent_seed_articles_on_the_same_topic_are_not_related(one: str, other: str) -> None:
    texts = seed_texts()

    assert not is_related(align(tokenize(texts[one]), tokenize(texts[other])))


def test_aligning_a_text_with_nothing_gives_no_fragments() -> None:
    alignment = align(tokenize(BRIDGE_STORY), tokenize(""))

    assert alignment.fragments == ()
    assert alignment.coverage_a == alignment.coverage_b == 0.0


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (BRIDGE_EXCERPT, BRIDGE_STORY),
        (BRIDGE_REWRITE, BRIDGE_STORY),
        (BRIDGE_COPY, BRIDGE_STORY),
        (BRIDGE_INDEPENDENT, BRIDGE_STORY),
        (f"{BRIDGE_EXCERPT} {BRIDGE_REWRITE}", BRIDGE_STORY),
        (FLOOD_SUMMARY, FLOOD_REPORT),
        (f"{FOOTBALL_STORY} {FLOOD_SUMMARY} {GARDEN_STORY}", FLOOD_REPORT),
        (FLOOD_SUMMARY, FLOOD_REPORT_BETWEEN_STORIES),
        (PAGE_WITH_HEADLINE, BRIDGE_STORY),
        (f"{BRIDGE_STORY} {EXCERPT_BODY}", BRIDGE_STORY),
        (INDEX_REPORT, OTHER_DAYS_INDEX_REPORT),
        (INDEX_REPORT, INDEX_REPORT_REWORDED),
    ],
)
def test_aligning_b_with_a_is_the_mirror_image_of_aligning_a_with_b(a: str, b: str) -> None:
    assert_mirror_images(align(tokenize(a), tokenize(b)), align(tokenize(b), tokenize(a)))


@pytest.mark.parametrize(("a", "b"), list(itertools.combinations(sorted(seed_texts()), 2)))
def test_aligning_seed_texts_is_symmetric(a: str, b: str) -> None:
    texts = seed_texts()
    first, second = tokenize(texts[a]), tokenize(texts[b])

    assert_mirror_images(align(first, second), align(second, first))


def test_a_headline_that_seeds_with_a_copied_sentence_does_not_stretch_the_copy_back_to_it() -> None:
    story, page = tokenize(BRIDGE_STORY), tokenize(PAGE_WITH_HEADLINE)

    alignment = align(story, page)

    # The headline seeds with the story's third sentence, three sentences before that sentence's copy: near
    # enough to join the copy's fragment, but the copy is the story sentence's best match.
    (fragment,) = alignment.fragments
    assert fragment.seeds == 3
    start, end = page.char_span(fragment.b_start, fragment.b_end)
    assert PAGE_WITH_HEADLINE[start:end] == EXCERPT_BODY.rstrip(".")
    start, end = story.char_span(fragment.a_start, fragment.a_end)
    assert BRIDGE_STORY[start:end] == EXCERPT_BODY.rstrip(".")


def test_a_sentence_cut_into_four_in_the_copy_seeds_with_every_piece() -> None:
    # The source runs the story's first four sentences together as one; the copy keeps them apart. Each piece
    # seeds with the long sentence, and only the first is its best match. The second lies next to it, the fourth
    # next to the seed of the sentence that follows, and the third is kept only through those two.
    long_sentence = ", ".join(sentence.rstrip(".") for sentence in BRIDGE_SENTENCES[:4]) + "."
    rest = " ".join(BRIDGE_SENTENCES[4:])
    copy, source = tokenize(BRIDGE_STORY), tokenize(f"{long_sentence} {rest}")

    (fragment,) = align(copy, source).fragments

    assert fragment.seeds == 8  # four pieces of the long sentence, then the four sentences after it
    assert (fragment.a_start, fragment.a_end) == (0, len(copy))
    assert (fragment.b_start, fragment.b_end) == (0, len(source))


def test_a_summary_aligns_as_one_fragment_over_the_stretch_it_condenses() -> None:
    summary, report = tokenize(FLOOD_SUMMARY), tokenize(FLOOD_REPORT)

    alignment = align(summary, report)

    # Its four sentences restate report sentences five apart: no two of them are near enough on the
    # report's side to make an ordinary fragment.
    (fragment,) = alignment.fragments
    assert fragment.condensed == "a"
    assert fragment.seeds == 4
    assert (fragment.a_start, fragment.a_end) == (0, len(summary))
    source_start, source_end = report.char_span(fragment.b_start, fragment.b_end)
    assert FLOOD_REPORT[source_start:source_end] == FLOOD_REPORT.rstrip(".")
    assert is_related(alignment)


def test_a_summary_inside_other_material_spans_only_the_summary() -> None:
    text = f"{FOOTBALL_STORY} {FLOOD_SUMMARY} {GARDEN_STORY}"
    tokens = tokenize(text)

    (fragment,) = align(tokens, tokenize(FLOOD_REPORT)).fragments

    start, end = tokens.char_span(fragment.a_start, fragment.a_end)
    assert text[start:end] == FLOOD_SUMMARY.rstrip(".")
    assert fragment.condensed == "a"


def test_a_summary_restating_points_from_most_of_a_text_has_the_whole_text_as_its_stretch() -> None:
    report_tokens = tokenize(FLOOD_REPORT_BETWEEN_STORIES)

    (fragment,) = align(tokenize(FLOOD_SUMMARY), report_tokens).fragments

    assert fragment.condensed == "a"
    assert (fragment.b_start, fragment.b_end) == (0, len(report_tokens))


def test_a_summary_whose_points_and_their_margins_span_half_a_text_has_the_whole_text_as_its_stretch() -> None:
    # The report is under half of this text, but its four restated points, spread over its 217 words, imply a
    # margin of a third of that after the last one: more than half of the text in all.
    text = f"{FLOOD_REPORT} {GARDEN_STORY} {FOOTBALL_STORY} {BRIDGE_INDEPENDENT} {GARDEN_STORY} {FOOTBALL_STORY}"
    tokens = tokenize(text)
    report_words = len(tokenize(FLOOD_REPORT))
    assert report_words < len(tokens) / 2 <= report_words * 4 / 3

    (fragment,) = align(tokenize(FLOOD_SUMMARY), tokens).fragments

    assert fragment.condensed == "a"
    assert (fragment.b_start, fragment.b_end) == (0, len(tokens))


def test_a_summary_restating_points_from_less_than_half_a_text_spans_them_and_their_margins() -> None:
    padding = " ".join([GARDEN_STORY, FOOTBALL_STORY, BRIDGE_INDEPENDENT] * 2)
    report = f"{padding} {FLOOD_REPORT} {padding}"
    report_tokens = tokenize(report)
    report_start = len(tokenize(padding))
    report_end = report_start + len(tokenize(FLOOD_REPORT))
    margin = (report_end - report_start) / 3  # four restated points, from the report's first sentence to its last
    longest_sentence = max(s.token_end - s.token_start for s in report_tokens.sentences)

    (fragment,) = align(tokenize(FLOOD_SUMMARY), report_tokens).fragments

    assert fragment.condensed == "a"
    # The whole sentences that hold the words a margin before the report and a margin after it.
    assert report_start - margin - longest_sentence < fragment.b_start <= report_start - margin
    assert report_end + margin <= fragment.b_end < report_end + margin + longest_sentence
    assert fragment.b_end - fragment.b_start < len(report_tokens) / 2


def test_a_reworded_story_that_moves_one_for_one_is_not_a_condensation() -> None:
    alignment = align(tokenize(BRIDGE_REWRITE), tokenize(BRIDGE_STORY))

    assert [fragment.condensed for fragment in alignment.fragments] == [None]


def test_restated_sentences_scattered_among_other_sentences_are_not_a_condensation() -> None:
    # The same four restating sentences, each followed by two about something else: no longer a run of the
    # text that restates the report, so each stays a single seed.
    restating = FLOOD_SUMMARY.split(". ")
    filler = [*FOOTBALL_STORY.split(". "), *GARDEN_STORY.split(". ")]
    text = ". ".join(part for n, sentence in enumerate(restating) for part in (sentence, *filler[2 * n : 2 * n + 2]))

    alignment = align(tokenize(text), tokenize(FLOOD_REPORT))

    assert alignment.seeds == 4
    assert all(fragment.condensed is None for fragment in alignment.fragments)
    assert not is_related(alignment)


def test_condensed_sentences_out_of_the_reports_order_are_not_a_condensation() -> None:
    restating = FLOOD_SUMMARY.rstrip(".").split(". ")
    shuffled = ". ".join([restating[2], restating[0], restating[3], restating[1]]) + "."

    alignment = align(tokenize(shuffled), tokenize(FLOOD_REPORT))

    assert alignment.seeds == 4
    assert all(fragment.condensed is None for fragment in alignment.fragments)


def test_restated_sentences_spread_over_a_stretch_too_long_for_a_summary_are_not_a_condensation() -> None:
    # The report's four restated sentences with ten other stories between each: 62 words against
    # some 1,500.
    restated = [FLOOD_SENTENCES[n] for n in (0, 5, 10, 15)]
    padding = " ".join([FOOTBALL_STORY, GARDEN_STORY, BRIDGE_INDEPENDENT] * 3)
    stretched = f" {padding} ".join(restated)
    summary, long_text = tokenize(FLOOD_SUMMARY), tokenize(stretched)
    assert len(long_text) > 20 * len(summary)

    alignment = align(summary, long_text)

    assert alignment.seeds == 4
    assert all(fragment.condensed is None for fragment in alignment.fragments)


def test_a_run_whose_sentences_each_meet_several_of_the_other_text_is_not_a_condensation() -> None:
    # Each restated report sentence is there three times over, so each summary sentence seeds with three:
    # whichever chain is picked, as many others would fit.
    report = " ".join(FLOOD_SENTENCES[:16] + FLOOD_SENTENCES[:16] + FLOOD_SENTENCES[:16])

    alignment = align(tokenize(FLOOD_SUMMARY), tokenize(report))

    assert alignment.fragments
    assert all(fragment.condensed is None for fragment in alignment.fragments)


def test_two_reports_in_the_same_words_of_different_numbers_are_not_aligned() -> None:
    report, other_days = tokenize(INDEX_REPORT), tokenize(OTHER_DAYS_INDEX_REPORT)
    # Their words alone would seed them.
    assert weigh(index_sentences(report), index_sentences(other_days)).seeds()

    assert align(report, other_days).fragments == ()


def test_a_report_reworded_around_the_same_numbers_is_aligned() -> None:
    (fragment,) = align(tokenize(INDEX_REPORT), tokenize(INDEX_REPORT_REWORDED)).fragments

    assert fragment.seeds == 1


def test_a_number_written_out_in_one_text_is_no_clash() -> None:
    # "forty thousand" states no number the tokens can read, so the copy that writes it in digits still seeds.
    story = tokenize(BRIDGE_SENTENCES[2])
    in_digits = tokenize(BRIDGE_SENTENCES[2].replace("forty thousand", "40,000"))

    assert len(align(story, in_digits).fragments) == 1


def test_a_copied_sentence_whose_number_changed_stays_inside_the_copy() -> None:
    # An updated copy: one sentence of eight gives another year, and its neighbours are copied around it.
    story = tokenize(DAM_STORY)
    updated = tokenize(DAM_STORY.replace("built in 1931", "built in 1913"))

    (fragment,) = align(story, updated).fragments

    assert fragment.seeds == len(DAM_SENTENCES)
    assert (fragment.a_start, fragment.a_end, fragment.b_start, fragment.b_end) == (0, len(story), 0, len(updated))


def test_numbers_are_read_as_written() -> None:
    text = "Shares rose 5.1 percent to $1,234.56 on Sept 5, 2003. In 2004 10,000 people came. Version 2.6.0 is 3,5 MB."
    sentences = index_sentences(tokenize(text))

    # The compiled tokenizer gives the same words, spans and text (tests/integration/test_compiled_tokenizer.py).
    assert [sentences.numbers(row) for row in range(sentences.sentence_count)] == [
        {"5.1", "1234.56", "5", "2003"},
        {"2004", "10000"},
        {"2.6.0", "3.5"},
    ]


def test_thousands_written_with_or_without_a_comma_are_one_number() -> None:
    with_comma = tokenize("More than 1,800 soldiers were sent to the port last year to guard the new harbour.")
    without = tokenize("More than 1800 soldiers were sent to the port last year to guard the harbour.")

    assert len(align(with_comma, without).fragments) == 1


def test_verbatim_share_measures_the_shorter_side() -> None:
    words = index_sentences(tokenize("one two three four five six seven eight nine ten eleven twelve"))
    long, short = words.ngrams(0, 8), words.ngrams(2, 6)

    assert verbatim_share(short, long) == 1.0
    assert verbatim_share(long, short) == 1.0
    assert verbatim_share(short, words.ngrams(8, 12)) == 0.0


def test_the_same_words_have_the_same_ngram_keys_in_any_text() -> None:
    story = index_sentences(tokenize(BRIDGE_STORY))
    excerpt = index_sentences(tokenize(BRIDGE_EXCERPT))
    lead_words = len(tokenize(EXCERPT_LEAD))
    body_words = len(tokenize(EXCERPT_BODY))
    body_in_story = len(tokenize(" ".join(BRIDGE_SENTENCES[:2])))

    body = excerpt.ngrams(lead_words, lead_words + body_words)
    assert len(body) == body_words - 3  # one key per word 4-gram
    assert body == story.ngrams(body_in_story, body_in_story + body_words)
    assert not body & story.ngrams(0, body_in_story)
    # Fewer words than an n-gram: one key, for those words together.
    council = index_sentences(tokenize("Council of Riverton"))
    assert story.tokens.words[2:5] == council.tokens.words
    assert len(council.ngrams(0, 3)) == 1
    assert council.ngrams(0, 3) == story.ngrams(2, 5)


def test_ngram_keys_are_the_hashes_of_the_word_ngrams_in_every_range() -> None:
    story = index_sentences(tokenize(BRIDGE_STORY))
    words = story.tokens.words

    for start in range(len(words) + 1):
        for end in range(start, len(words) + 1):
            for size in (2, VERBATIM_NGRAM):
                grams = [words[place : place + size] for place in range(start, end - size + 1)]
                expected = (
                    {hash(gram) for gram in grams} if grams else ({hash(words[start:end])} if end > start else set())
                )
                assert story.ngrams(start, end, size) == expected
        for size in (2, VERBATIM_NGRAM):
            assert story.ngram_key(start, size) == hash(words[start : start + size])


# A blog's sign-off line, which closes every post.
SIGN_OFF: Final = "Posted by the Riverton news team at 10:31 AM with no comments yet."


def test_two_posts_copied_in_the_other_order_are_two_fragments_though_a_repeated_line_joins_them() -> None:
    # The blog signs off above its first post and below its last; the page copies the second post, one sign-off,
    # then the first. The sign-off's seeds join both copies' runs in one group, and the two runs' fragments share
    # the page's sign-off: the larger takes it, and the smaller keeps the rest of its run.
    first_post, second_post = " ".join(DAM_SENTENCES[:4]), " ".join(BRIDGE_SENTENCES[:5])
    blog_text = f"{SIGN_OFF} {first_post} {second_post} {SIGN_OFF}"
    page_text = f"{second_post} {SIGN_OFF} {first_post}"
    page, blog = tokenize(page_text), tokenize(blog_text)

    fragments = align(page, blog).fragments

    assert [(f.seeds, text_between(page_text, page, f.a_start, f.a_end)) for f in fragments] == [
        (6, f"{second_post} {SIGN_OFF}".rstrip(".")),
        (4, first_post.rstrip(".")),
    ]
    assert [text_between(blog_text, blog, f.b_start, f.b_end) for f in fragments] == [
        f"{second_post} {SIGN_OFF}".rstrip("."),
        first_post.rstrip("."),
    ]


def test_a_loose_match_beside_a_copy_does_not_stretch_it_over_a_sentence_copied_elsewhere() -> None:
    # The page copies four sentences of the source, and two others further down. A reworded sentence two
    # sentences before the first copy matches the second of those two loosely, which lies two sentences before
    # the four in the source: near enough to join their run, but that sentence is copied word for word elsewhere.
    copied_run, copied_pair = " ".join(DAM_SENTENCES[:4]), " ".join(BRIDGE_SENTENCES[:2])
    loose_match = "An inspection last winter had found that the steel supports were deeply cracked, engineers said."
    source_text = f"{copied_pair} {EXCERPT_TAIL} {copied_run}"
    page_text = f"{loose_match} {EXCERPT_LEAD} {copied_run} {FOOTBALL_STORY} {GARDEN_STORY} {copied_pair}"
    page, source = tokenize(page_text), tokenize(source_text)

    fragments = align(page, source).fragments

    assert [
        (text_between(page_text, page, f.a_start, f.a_end), text_between(source_text, source, f.b_start, f.b_end))
        for f in fragments
    ] == [
        (copied_run.rstrip("."), copied_run.rstrip(".")),
        (copied_pair.rstrip("."), copied_pair.rstrip(".")),
    ]


# Five short lines of a page (a caption, sharing buttons, a related link): 30 words, each line a sentence.
PAGE_FURNITURE: Final = (
    "Photo by the Riverton council press office",
    "Share this story with your friends",
    "Follow us on all our pages",
    "Related: the new ferry timetable",
    "Advertisement from our local sponsors",
)


def page_breaking_the_story(lines: tuple[str, ...]) -> str:
    """Return the story with `lines` between its fourth and fifth sentences, each on a line of its own."""
    return "\n".join((" ".join(BRIDGE_SENTENCES[:4]), *lines, " ".join(BRIDGE_SENTENCES[4:])))


def test_a_copy_that_leaves_out_a_run_of_short_lines_is_one_fragment() -> None:
    # The copy leaves out the page's short lines. Its seeds on either side are six sentences apart on the page,
    # too far to be one run, but 30 words apart: one copied passage.
    page_text = page_breaking_the_story(PAGE_FURNITURE)
    page, copy = tokenize(page_text), tokenize(BRIDGE_STORY)

    (fragment,) = align(copy, page).fragments

    assert fragment.seeds == len(BRIDGE_SENTENCES)
    assert (fragment.a_start, fragment.a_end) == (0, len(copy))
    assert text_between(page_text, page, fragment.b_start, fragment.b_end) == page_text.rstrip(".")


def test_two_runs_of_a_copy_further_apart_than_a_passage_window_stay_two_fragments() -> None:
    page_text = page_breaking_the_story(PAGE_FURNITURE * 2)  # 60 words between the two halves
    page, copy = tokenize(page_text), tokenize(BRIDGE_STORY)

    fragments = align(copy, page).fragments

    assert [fragment.seeds for fragment in fragments] == [4, 4]


def test_the_copied_share_counts_the_words_of_sentences_copied_nearly_whole() -> None:
    story = index_sentences(tokenize(BRIDGE_STORY))
    # Four sentences copied, the fifth with a word in three changed: 4 in 5 of a sentence's 4-grams make a copy.
    copied = list(BRIDGE_SENTENCES[:4])
    changed = " ".join(f"{word}x" if place % 3 == 1 else word for place, word in enumerate(BRIDGE_SENTENCES[4].split()))
    text = index_sentences(tokenize(" ".join([*copied, changed])))
    alignment = align(text, story)

    share = copied_share(alignment, text, story)

    copied_words = sum(len(sentence.split()) for sentence in copied)
    assert share == pytest.approx(copied_words / (copied_words + len(changed.split())), abs=0.05)
    assert copied_share(align(story, text), story, text) == share

from __future__ import annotations

import itertools

import pytest

from server.domain.alignment import Alignment, Fragment, align, verbatim_share
from server.domain.comparison import is_related
from server.domain.tokenization import tokenize
from tests.stories import (
    AP_ID,
    BRIDGE_COPY,
    BRIDGE_EXCERPT,
    BRIDGE_INDEPENDENT,
    BRIDGE_REWRITE,
    BRIDGE_SENTENCES,
    BRIDGE_STORY,
    EXCERPT_BODY,
    FOOTBALL_STORY,
    VOA_ID,
    WIRE_ID,
    seed_texts,
)


def mirrored(fragment: Fragment) -> Fragment:
    return Fragment(
        a_start=fragment.b_start,
        a_end=fragment.b_end,
        b_start=fragment.a_start,
        b_end=fragment.a_end,
        seeds=fragment.seeds,
        cosine=fragment.cosine,
        verbatim=fragment.verbatim,
    )


def assert_mirror_images(forward: Alignment, backward: Alignment) -> None:
    backward_mirrored = sorted((mirrored(f) for f in backward.fragments), key=lambda f: f.a_start)
    assert [(f.a_start, f.a_end, f.b_start, f.b_end, f.seeds) for f in forward.fragments] == [
        (f.a_start, f.a_end, f.b_start, f.b_end, f.seeds) for f in backward_mirrored
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
    ],
)
def test_aligning_b_with_a_is_the_mirror_image_of_aligning_a_with_b(a: str, b: str) -> None:
    assert_mirror_images(align(tokenize(a), tokenize(b)), align(tokenize(b), tokenize(a)))


@pytest.mark.parametrize(("a", "b"), list(itertools.combinations(sorted(seed_texts()), 2)))
def test_aligning_seed_texts_is_symmetric(a: str, b: str) -> None:
    texts = seed_texts()
    first, second = tokenize(texts[a]), tokenize(texts[b])

    assert_mirror_images(align(first, second), align(second, first))


def test_verbatim_share_measures_the_shorter_side() -> None:
    long = ("one", "two", "three", "four", "five", "six", "seven", "eight")
    short = ("three", "four", "five", "six")

    assert verbatim_share(short, long) == 1.0
    assert verbatim_share(long, short) == 1.0
    assert verbatim_share(short, ("nine", "ten", "eleven", "twelve")) == 0.0

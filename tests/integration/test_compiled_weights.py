from __future__ import annotations

import itertools
from collections.abc import Mapping

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.adapters import compiled_weights
from server.domain import alignment
from server.domain.alignment import SentenceIndex, index_sentences
from server.domain.tokenization import tokenize
from tests.stories import (
    BRIDGE_COPY,
    BRIDGE_EXCERPT,
    BRIDGE_INDEPENDENT,
    BRIDGE_REWRITE,
    BRIDGE_STORY,
    DAM_EXCERPT,
    DAM_STORY,
    FOOTBALL_STORY,
    seed_texts,
)

# Content words that stem apart, few enough that generated sentences share many and repeat some.
WORDS = ("bridge", "council", "harbour", "ferry", "mayor", "steel", "crack", "festival", "estuary", "lane")


def same_float(found: float, expected: float) -> bool:
    # Equal to the last bit on Python 3.11, whose sum() adds floats one after another as the kernels do; from
    # 3.12, sum() compensates its rounding, and the reference may differ in the last bits.
    return found == pytest.approx(expected, rel=1e-12, abs=0)


def assert_same_seeds(found: Mapping[tuple[int, int], float], expected: Mapping[tuple[int, int], float]) -> None:
    assert found.keys() == expected.keys()
    assert all(same_float(found[pair], cosine) for pair, cosine in expected.items())


def runs(index: SentenceIndex) -> list[range]:
    """Every run of consecutive sentences of a short text; of a long one, each sentence, the whole, and halves."""
    count = index.sentence_count
    if count <= 6:
        return [range(first, last + 1) for first in range(count) for last in range(first, count)]
    return [*(range(row, row + 1) for row in range(count)), range(count), range(count // 2), range(count // 2, count)]


def assert_same_weights(a: SentenceIndex, b: SentenceIndex) -> int:
    """Assert that both weighers give the same seeds, run cosines and alignment; return how many seeds."""
    expected, found = alignment.weigh(a, b), compiled_weights.weigh(a, b)
    seeds = expected.seeds()
    assert_same_seeds(found.seeds(), seeds)
    for rows_a, rows_b in itertools.product(runs(a), runs(b)):
        assert same_float(found.cosine(rows_a, rows_b), expected.cosine(rows_a, rows_b)), (rows_a, rows_b)
    # Rows out of order and repeated, as a condensation's chain may give them.
    scattered_a, scattered_b = list(range(a.sentence_count))[::-2], list(range(b.sentence_count))[::3] * 2
    assert same_float(found.cosine(scattered_a, scattered_b), expected.cosine(scattered_a, scattered_b))
    assert alignment.align(a, b, compiled_weights.weigh) == alignment.align(a, b)
    return len(seeds)


def test_the_compiled_weights_are_the_references_in_stories_and_the_seed_corpus() -> None:
    texts = [
        *seed_texts().values(),
        BRIDGE_STORY,
        BRIDGE_COPY,
        BRIDGE_EXCERPT,
        BRIDGE_REWRITE,
        BRIDGE_INDEPENDENT,
        FOOTBALL_STORY,
        DAM_STORY,
        DAM_EXCERPT,
    ]
    indexes = [index_sentences(tokenize(text)) for text in texts]

    seeds = sum(assert_same_weights(a, b) for a, b in itertools.permutations(indexes, 2))

    # Copies, excerpts and rewrites among them: the comparison is not vacuous.
    assert seeds >= 100


sentences = st.lists(st.sampled_from(WORDS), min_size=1, max_size=12).map(lambda words: " ".join(words) + ".")
texts = st.lists(sentences, min_size=1, max_size=8).map(" ".join)


@settings(max_examples=300, deadline=None)
@given(text_a=texts, text_b=texts)
def test_the_compiled_weights_are_the_references_in_any_two_texts(text_a: str, text_b: str) -> None:
    # Short texts of few words: repeated stems, sentences that share everything or nothing, and fewer sentences
    # than alignment.MIN_WEIGHING_SENTENCES, all of which the weights and the Dice overlap must count alike.
    assert_same_weights(index_sentences(tokenize(text_a)), index_sentences(tokenize(text_b)))


def test_texts_that_share_no_stem_have_no_seeds_and_no_likeness() -> None:
    a = index_sentences(tokenize("The harbour bridge cracked."))
    b = index_sentences(tokenize("Tickets for the jazz concert sold out."))

    assert compiled_weights.weigh(a, b).seeds() == {}
    assert compiled_weights.weigh(a, b).cosine(range(1), range(1)) == 0.0
    assert compiled_weights.weigh(a, index_sentences(tokenize(""))).seeds() == {}


def test_a_sentence_row_past_the_end_is_an_index_error_not_a_read_past_the_array() -> None:
    a = index_sentences(tokenize("The harbour bridge cracked in the storm. The ferry kept to the estuary lane."))
    b = index_sentences(tokenize("The harbour bridge cracked in the night."))
    weights = compiled_weights.weigh(a, b)

    with pytest.raises(IndexError):
        weights.cosine(range(2), range(2))
    with pytest.raises(IndexError):
        weights.cosine([-1], [0])

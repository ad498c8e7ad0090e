from __future__ import annotations

import itertools
from collections.abc import Mapping

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.adapters import compiled_seeds
from server.domain import alignment
from server.domain.alignment import index_sentences
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


def assert_same_seeds(found: Mapping[tuple[int, int], float], expected: Mapping[tuple[int, int], float]) -> None:
    assert found.keys() == expected.keys()
    for pair, cosine in expected.items():
        # Equal to the last bit on Python 3.11, whose sum() adds floats one after another as the kernel does; from
        # 3.12, sum() compensates its rounding, and the reference may differ in the last bits.
        assert found[pair] == pytest.approx(cosine, rel=1e-12, abs=0)


def test_the_compiled_finder_finds_the_references_seeds_in_stories_and_the_seed_corpus() -> None:
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
    seeds = 0
    for a, b in itertools.permutations(indexes, 2):
        expected = alignment.find_seeds(a, b)
        assert_same_seeds(compiled_seeds.find_seeds(a, b), expected)
        seeds += len(expected)
    # Copies, excerpts and rewrites among them: the comparison is not vacuous.
    assert seeds >= 100


sentences = st.lists(st.sampled_from(WORDS), min_size=1, max_size=12).map(lambda words: " ".join(words) + ".")
texts = st.lists(sentences, min_size=1, max_size=8).map(" ".join)


@settings(max_examples=300, deadline=None)
@given(text_a=texts, text_b=texts)
def test_the_compiled_finder_finds_the_references_seeds_in_any_two_texts(text_a: str, text_b: str) -> None:
    # Short texts of few words: repeated stems, sentences that share everything or nothing, and fewer sentences
    # than alignment.MIN_WEIGHING_SENTENCES, all of which the weights and the Dice overlap must count alike.
    a, b = index_sentences(tokenize(text_a)), index_sentences(tokenize(text_b))

    assert_same_seeds(compiled_seeds.find_seeds(a, b), alignment.find_seeds(a, b))


def test_texts_that_share_no_stem_have_no_seeds() -> None:
    a = index_sentences(tokenize("The harbour bridge cracked."))
    b = index_sentences(tokenize("Tickets for the jazz concert sold out."))

    assert compiled_seeds.find_seeds(a, b) == {}
    assert compiled_seeds.find_seeds(a, index_sentences(tokenize(""))) == {}

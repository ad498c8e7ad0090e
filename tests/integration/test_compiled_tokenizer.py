from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.corpus import generate
from server.adapters import compiled_tokenizer
from server.adapters.compiled_signer import IMPLEMENTS_DOMAIN_SENTENCE_ENDS, character_tables
from server.adapters.compiled_weights import weigh as compiled_weigh
from server.domain.comparison import compare_profiles, profile_text
from server.domain.tokenization import TokenizedText, TokenOffsets, tokenize
from tests.stories import seed_texts
from tests.text_strategies import ASCII_LINKS, ASCII_WORDS, OTHER_LINKS, OTHER_WORDS, TRICKY_TEXTS, texts


def cut(tokens: TokenizedText) -> tuple[object, ...]:
    """Everything a tokenized text tells: its words, its sentences, every token's span and the text they index."""
    return tokens.words, tokens.sentences, tokens.starts, tokens.ends, tokens.text


def assert_cuts_like_the_domain(text: str) -> None:
    assert cut(compiled_tokenizer.tokenize(text)) == cut(tokenize(text))


def takes_the_compiled_path(text: str) -> bool:
    return isinstance(compiled_tokenizer.tokenize(text).token_spans, TokenOffsets)


def test_the_kernel_implements_the_domains_sentence_ends() -> None:
    # When this fails, the domain changed where sentences end: the compiled tokenizer hands every text to the
    # domain (still exact, but slow) until `_ends_sentence` learns the new pattern.
    assert IMPLEMENTS_DOMAIN_SENTENCE_ENDS


def test_no_tabled_normal_form_holds_the_separator_the_words_are_joined_with() -> None:
    assert 0 not in character_tables().folded


@pytest.mark.parametrize("text", TRICKY_TEXTS)
def test_tricky_texts_cut_like_the_domain(text: str) -> None:
    assert_cuts_like_the_domain(text)


def test_seed_articles_and_generated_news_cut_like_the_domain_on_the_compiled_path() -> None:
    articles = [*seed_texts().values(), *(document.text for document in generate(200, 3))]

    assert all(takes_the_compiled_path(text) for text in articles)
    for text in articles:
        assert_cuts_like_the_domain(text)


def test_texts_the_kernel_turns_down_are_cut_by_the_domain() -> None:
    text = "The \ufb01rst line has a ligature in it\nand the second line is plain"

    assert not takes_the_compiled_path(text)
    assert_cuts_like_the_domain(text)


def test_a_long_unpunctuated_text_is_cut_every_sixty_words_like_the_domain() -> None:
    text = " ".join(f"word{index % 97}" for index in range(1000))

    assert len(compiled_tokenizer.tokenize(text).sentences) == 17
    assert_cuts_like_the_domain(text)


@settings(max_examples=300, deadline=None)
@given(text=st.one_of(texts(st.one_of(ASCII_WORDS, OTHER_WORDS), st.one_of(ASCII_LINKS, OTHER_LINKS)), st.text()))
def test_any_text_cuts_like_the_domain(text: str) -> None:
    assert_cuts_like_the_domain(text)


@settings(max_examples=100, deadline=None)
@given(text=texts(ASCII_WORDS, ASCII_LINKS))
def test_ascii_words_with_any_punctuation_and_links_take_the_compiled_path(text: str) -> None:
    assert takes_the_compiled_path(text)
    assert_cuts_like_the_domain(text)


def test_comparisons_of_texts_cut_by_either_tokenizer_are_equal() -> None:
    documents = list(generate(300, 5))
    texts_by_id = {document.id: document.text for document in documents}
    pairs = [(document.text, texts_by_id[document.source_id]) for document in documents if document.source_id]
    assert len(pairs) > 50

    for derived, source in pairs:
        expected = compare_profiles(profile_text(derived), profile_text(source), compiled_weigh)
        found = compare_profiles(
            profile_text(derived, tokenizer=compiled_tokenizer.tokenize),
            profile_text(source, tokenizer=compiled_tokenizer.tokenize),
            compiled_weigh,
        )
        assert found == expected

from __future__ import annotations

import itertools
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.domain.passages import cut_passages, document_shingles
from server.domain.tokenization import (
    MAX_SENTENCE_WORDS,
    MIN_CONTENT_LINE_WORDS,
    TokenizedText,
    normalise_word,
    tokenize,
)


def sentence_words(tokens: TokenizedText) -> list[tuple[str, ...]]:
    return [tokens.words[s.token_start : s.token_end] for s in tokens.sentences]


def assert_spans_point_at_original(text: str, tokens: TokenizedText) -> None:
    assert len(tokens.words) == len(tokens.starts) == len(tokens.ends)
    for word, start, end in zip(tokens.words, tokens.starts, tokens.ends, strict=True):
        assert 0 <= start < end <= len(text)
        assert normalise_word(text[start:end]) == word


def test_words_are_case_folded_and_nfkc_normalised() -> None:
    tokens = tokenize("The ＭＡＹＯＲ of Ｍｏｓｕｌ opened the ﬁnal bridge")

    assert tokens.words == ("the", "mayor", "of", "mosul", "opened", "the", "final", "bridge")


@pytest.mark.parametrize(
    "text",
    [
        "The ＭＡＹＯＲ of Ｍｏｓｕｌ opened the new bridge on Monday.",
        "Ｆｕｌｌ－ｗｉｄｔｈ ｌｅｔｔｅｒｓ ａｎｄ ﬁne ligatures (ﬂow) change length under NFKC.",
        "Straße, İstanbul and ΣΊΣΥΦΟΣ fold differently from lower-casing.",
        "Read https://example.com/a-very-long-link first, then ask @someone about the ＵＲＬ.",
    ],
)
def test_token_spans_point_at_the_original_text(text: str) -> None:
    assert_spans_point_at_original(text, tokenize(text))


# Letters of every kind the token pattern tells apart: ASCII, accented and combining, digits and the underscore, a
# script written without spaces (Han, kana, Hangul, Thai), half-width katakana and their sound marks, full-width
# letters, and what ends words and sentences.
_MIXED_CHARACTERS = st.sampled_from(
    [*"aZ9_ éßİ\u0301", *"日本語かカ한ก", *"\uff76\uff9e\uff9f", *"ＭＡ", *'.!?\u3002"\u201d(-\n']
)


@settings(max_examples=300, deadline=None)
@given(text=st.lists(_MIXED_CHARACTERS, max_size=60).map("".join))
def test_words_are_the_tokens_of_the_token_pattern_in_any_script(text: str) -> None:
    # The spans are found with the full token pattern; the words of a text with no character of a script written
    # without spaces, nor half-width katakana, are read as plain runs of word characters. Both must agree.
    assert_spans_point_at_original(text, tokenize(text))


@pytest.mark.parametrize(
    ("text", "first", "end", "passage"),
    [
        ('He said: "The bridge is open." Crowds cheered.', 2, 6, '"The bridge is open."'),
        ("Crowds cheered.", 0, 2, "Crowds cheered."),
        ("The plan (approved in May) was dropped.", 2, 5, "(approved in May)"),
        ("It ended.Then it began again.", 0, 2, "It ended."),
        ("He said, wait for it.", 0, 2, "He said"),
        ("Prices rose 3.5 percent.", 0, 3, "Prices rose 3"),
        ("See e.g. the list.", 0, 2, "See e"),
        ("東京に行った。次に", 0, 6, "東京に行った。"),
    ],
)
def test_a_passage_span_takes_the_marks_that_open_and_close_it(text: str, first: int, end: int, passage: str) -> None:
    tokens = tokenize(text)

    start, stop = tokens.passage_span(first, end)

    assert text[start:stop] == passage


@settings(max_examples=300, deadline=None)
@given(text=st.lists(_MIXED_CHARACTERS, max_size=60).map("".join), data=st.data())
def test_a_passage_span_only_adds_marks_to_its_words_span(text: str, data: st.DataObject) -> None:
    tokens = tokenize(text)
    if not tokens.words:
        return
    first = data.draw(st.integers(0, len(tokens) - 1))
    end = data.draw(st.integers(first + 1, len(tokens)))

    start, stop = tokens.passage_span(first, end)
    word_start, word_end = tokens.char_span(first, end)

    assert start <= word_start < word_end <= stop
    assert all(character in "\"'\u201c\u2018([" for character in text[start:word_start])
    assert all(character in ".!?\u3002\uff01\uff1f\"'\u201d\u2019)]" for character in text[word_end:stop])


def test_spans_of_tokens_after_a_length_changing_character_are_not_shifted() -> None:
    # "ﬁ" is one code point that NFKC turns into two; the words after it must keep their positions.
    text = "The ﬁrst ferry crossed the river at dawn"

    tokens = tokenize(text)

    position = tokens.words.index("river")
    assert text[tokens.starts[position] : tokens.ends[position]] == "river"
    assert tokens.char_span(0, len(tokens)) == (0, len(text))


def test_links_and_handles_are_not_tokens() -> None:
    tokens = tokenize("The full report is online at https://example.com/report?id=7 says @newsdesk today")

    assert "https" not in tokens.words
    assert "newsdesk" not in tokens.words
    assert tokens.words == ("the", "full", "report", "is", "online", "at", "says", "today")


def test_boilerplate_lines_are_dropped() -> None:
    text = (
        "Scroll down\n"
        "Share this story\n"
        "The mayor opened the new bridge over the river on Monday.\n"
        "Advertisement\n"
        "Crowds cheered the long awaited opening.\n"
        "https://t.co/abc pic.twitter.com/xyz\n"
    )

    tokens = tokenize(text)

    assert "scroll" not in tokens.words
    assert "story" not in tokens.words
    assert "advertisement" not in tokens.words
    assert tokens.words[:4] == ("the", "mayor", "opened", "the")
    assert tokens.words[-1] == "opening"
    assert_spans_point_at_original(text, tokens)


def test_a_short_text_keeps_all_its_words() -> None:
    tokens = tokenize("Breaking news\nMayor resigns")

    assert tokens.words == ("breaking", "news", "mayor", "resigns")


def test_a_line_with_enough_words_is_kept_even_when_others_are_boilerplate() -> None:
    tokens = tokenize("Home\nNews\nThe mayor resigned today")

    assert tokens.words == ("the", "mayor", "resigned", "today")


def test_japanese_text_without_spaces_gives_one_token_per_character() -> None:
    tokens = tokenize("東京都は新しい橋を開いた。")

    assert tokens.words == ("東", "京", "都", "は", "新", "し", "い", "橋", "を", "開", "い", "た")
    assert_spans_point_at_original("東京都は新しい橋を開いた。", tokens)


def test_a_copy_of_chinese_text_shares_tokens_with_its_source() -> None:
    source = tokenize("市长星期一为新桥剪彩。市民欢呼雀跃，庆祝大桥终于通车。交通将于周二恢复。")
    copy = tokenize("据报道，市民欢呼雀跃，庆祝大桥终于通车。")

    shared = set(source.words) & set(copy.words)

    assert {"市", "民", "欢", "呼", "大", "桥", "通", "车"} <= shared
    assert len(cut_passages(copy)) == 1
    assert document_shingles(copy) & document_shingles(source)


def test_mixed_latin_and_japanese_cut_at_the_script_boundary() -> None:
    assert tokenize("ISISの指導者").words == ("isis", "の", "指", "導", "者")


@pytest.mark.parametrize(
    ("half_width", "full_width"),
    [("ｶﾀｶﾅのﾃｷｽﾄです。", "カタカナのテキストです。"), ("ｶﾞｲﾄﾞﾌﾞｯｸを買った", "ガイドブックを買った")],
)
def test_half_width_katakana_tokenizes_like_full_width_katakana(half_width: str, full_width: str) -> None:
    # NFKC maps half-width katakana onto full-width; a copy in either form must give the same tokens.
    tokens = tokenize(half_width)

    assert tokens.words == tokenize(full_width).words
    assert_spans_point_at_original(half_width, tokens)


def test_sentences_end_at_full_stops_before_a_capital() -> None:
    tokens = tokenize(
        "The leader left Mosul last week. He hid in the desert villages! Was he seen by anyone? Nobody knows that yet."
    )

    # The last sentence has four words, too few to stand alone, so it joins the one before it.
    assert sentence_words(tokens) == [
        ("the", "leader", "left", "mosul", "last", "week"),
        ("he", "hid", "in", "the", "desert", "villages"),
        ("was", "he", "seen", "by", "anyone", "nobody", "knows", "that", "yet"),
    ]


def test_short_sentences_join_a_neighbour_so_a_lone_word_cannot_seed_a_match() -> None:
    tokens = tokenize("3. The leader left Mosul last week. He hid. Nobody has seen him since the battle.")

    assert sentence_words(tokens) == [
        ("3", "the", "leader", "left", "mosul", "last", "week"),
        ("he", "hid", "nobody", "has", "seen", "him", "since", "the", "battle"),
    ]


def test_an_abbreviation_followed_by_a_lower_case_word_does_not_end_a_sentence() -> None:
    tokens = tokenize("U.S. and Iraqi officials believe the leader has left. He hides in the desert.")

    assert sentence_words(tokens) == [
        ("u", "s", "and", "iraqi", "officials", "believe", "the", "leader", "has", "left"),
        ("he", "hides", "in", "the", "desert"),
    ]


def test_a_stop_glued_to_a_capitalised_word_ends_a_sentence_unless_it_follows_an_abbreviation() -> None:
    # Blocks of a scraped page run together without a space; an abbreviation glued to a name does not split.
    tokens = tokenize("Answer what the passage implies.Directions for the next part follow. The U.S.Army band plays.")

    assert sentence_words(tokens) == [
        ("answer", "what", "the", "passage", "implies"),
        ("directions", "for", "the", "next", "part", "follow"),
        ("the", "u", "s", "army", "band", "plays"),
    ]


def test_closing_quotes_stay_with_the_sentence_they_end() -> None:
    tokens = tokenize('He said "the game is up." Then he left the city for good.')

    assert sentence_words(tokens) == [
        ("he", "said", "the", "game", "is", "up"),
        ("then", "he", "left", "the", "city", "for", "good"),
    ]


def test_cjk_full_stops_end_sentences() -> None:
    tokens = tokenize("市长为新桥剪彩。市民们热烈欢呼！")

    assert sentence_words(tokens) == [
        ("市", "长", "为", "新", "桥", "剪", "彩"),
        ("市", "民", "们", "热", "烈", "欢", "呼"),
    ]


def test_each_line_starts_a_new_sentence() -> None:
    tokens = tokenize("The first line has no full stop\nThe second line has none either")

    assert len(tokens.sentences) == 2
    assert tokens.sentences[1].token_start == 7


def test_a_line_that_starts_in_lower_case_continues_the_line_before_it() -> None:
    # Text wrapped at a fixed width: its short pieces of lines are not boilerplate, and its sentences go on.
    text = (
        "Students must identify themselves to the officer and provide the papers as\n"
        "outlined\n"
        "in the requirements below. Their\r\n"
        "accommodation is arranged within thirty days.\n"
        "Advertisement\n"
        "http://example.com/apply to apply online today\n"
        "Applications close in May."
    )

    tokens = tokenize(text)

    assert [" ".join(words) for words in sentence_words(tokens)] == [
        "students must identify themselves to the officer and provide the papers as outlined in the requirements below",
        "their accommodation is arranged within thirty days",
        "to apply online today",
        "applications close in may",
    ]
    assert_spans_point_at_original(text, tokens)


def test_a_line_that_starts_with_a_link_does_not_continue_the_line_before_it() -> None:
    tokens = tokenize("The council approved the plan on Monday\nwww.example.com has the full text of it")

    assert len(tokens.sentences) == 2
    assert tokens.sentences[1].token_start == 7


def test_unpunctuated_text_is_cut_into_bounded_sentences() -> None:
    tokens = tokenize(" ".join(f"word{index}" for index in range(3 * MAX_SENTENCE_WORDS + 5)))

    assert all(s.token_end - s.token_start <= MAX_SENTENCE_WORDS for s in tokens.sentences)
    assert tokens.sentences[0].token_start == 0
    assert tokens.sentences[-1].token_end == len(tokens)
    assert all(one.token_end == two.token_start for one, two in itertools.pairwise(tokens.sentences))


def test_punctuation_only_text_has_no_tokens_and_no_passages() -> None:
    tokens = tokenize("... !!! ??? --- ***")

    assert len(tokens) == 0
    assert tokens.sentences == ()
    assert cut_passages(tokens) == ()
    assert document_shingles(tokens) == frozenset()


def test_passages_overlap_and_the_last_one_reaches_the_end() -> None:
    tokens = tokenize(" ".join(f"topic{index}" for index in range(120)))

    passages = cut_passages(tokens, words=50, stride=25)

    assert [(p.token_start, p.token_end) for p in passages] == [(0, 50), (25, 75), (50, 100), (70, 120)]


def test_passage_features_are_content_stems_without_stopwords() -> None:
    (passage,) = cut_passages(tokenize("The communications of the communication office were intercepted"))

    assert passage.features == frozenset({"commu", "offic", "inter"})


# Pieces of lines that put sentence ends, links, handles, quotes and other scripts next to each other and to
# the ends of lines, where scanning the whole text at once could differ from scanning each line alone.
_LINE_PIECES = st.sampled_from(
    [
        "The",
        "mayor",
        "said",
        "bridge",
        "U.S.",
        "and",
        "Zoë",
        "İstanbul",
        "ＭＡＹＯＲ",
        "ﬁnal",
        "東京",
        "。",
        ".",
        "!",
        "?",
        "”",
        "“",
        "'",
        ")",
        "(",
        " ",
        "  ",
        ",",
        "http://a.b/c",
        "www.X.org",
        "pic.twitter.com/z",
        "@desk",
        "HTTPS://Q",
        "W",
        "h",
        "p",
        "x@y",
        "3.5",
        "no.",
    ]
)
_LINE_BREAKS = st.sampled_from(["\n", "\r\n", "\r", "\u2028", "\x0b", "\x85"])


@settings(max_examples=300, deadline=None)
@given(
    lines=st.lists(st.lists(_LINE_PIECES, max_size=30).map(" ".join), min_size=1, max_size=6),
    breaks=st.lists(_LINE_BREAKS, min_size=6, max_size=6),
)
def test_a_text_tokenizes_as_its_kept_lines_do_one_by_one(lines: list[str], breaks: list[str]) -> None:
    text = "".join(line + line_break for line, line_break in zip(lines, breaks, strict=False))
    # A line whose first character is a lower-case ASCII letter starting a word (not a link) continues the one before.
    # Lines as str.splitlines reads them: "\r", an empty line and "\n" are one line break.
    joined: list[str] = []
    for line in text.splitlines(keepends=True):
        if joined and line[:1] in string.ascii_lowercase and tokenize(line).starts[:1] == (0,):
            joined[-1] += line
        else:
            joined.append(line)
    kept = [tokenize(line) for line in joined if len(tokenize(line)) >= MIN_CONTENT_LINE_WORDS]

    tokens = tokenize(text)

    if kept:
        assert tokens.words == tuple(word for line in kept for word in line.words)
        assert sentence_words(tokens) == [words for line in kept for words in sentence_words(line)]
    assert_spans_point_at_original(text, tokens)
    if len(tokens):
        assert tokens.char_span(0, len(tokens)) == (tokens.starts[0], tokens.ends[-1])

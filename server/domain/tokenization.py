"""Normalise text into word tokens with their character spans, sentences, and boilerplate removed."""

from __future__ import annotations

import bisect
import itertools
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

# Scripts written without spaces between words: each character is a token, so that copies in these
# scripts still share shingles (a whole run of Han characters would otherwise be one giant "word").
_UNSPACED_SCRIPTS: Final = (
    "\u3040-\u30ff"  # Hiragana, Katakana
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # CJK ideographs
    "\uac00-\ud7af"  # Hangul syllables
    "\u0e00-\u0e7f"  # Thai
)
# Half-width katakana keep their voiced-sound mark with the letter, so NFKC composes them as it
# does the full-width forms ("\uff76\uff9e" → "\u30ac").
_HALF_WIDTH_KANA: Final = "[\uff66-\uff9d][\uff9e\uff9f]?"
_TOKEN_PATTERN: Final = re.compile(rf"{_HALF_WIDTH_KANA}|[{_UNSPACED_SCRIPTS}]|[^\W{_UNSPACED_SCRIPTS}\uff66-\uff9f]+")
# In a text with no character of the first two alternatives, which the third excludes, the tokens are the runs of
# word characters: the same tokens, which re finds in a little over half the time (on generated news).
_WORD_RUN: Final = re.compile(r"\w+")
_UNSPACED_OR_KANA: Final = re.compile(rf"[{_UNSPACED_SCRIPTS}\uff66-\uff9f]")
_URL_PATTERN: Final = re.compile(r"(?:https?://|www\.|pic\.twitter\.com/)\S*|@\w+", re.IGNORECASE)
# The same links, looked for only where one can begin: the scan skips every other character at once,
# which halves its cost. Links never run past the end of a line (line breaks are white space), so the
# whole text is scanned in one pass.
_LINK_SCAN: Final = re.compile(rf"(?=[hwp@])(?:{_URL_PATTERN.pattern})", _URL_PATTERN.flags)
# A sentence ends at . ! ? (or their CJK forms), possibly followed by closing quotes or brackets,
# when what follows starts a new sentence. Lower-case continuations ("U.S. and Iraqi") do not split.
# Text scraped from pages often glues a block to the one before it without a space ("in the world.Directions"):
# a stop between a lower-case word and a capitalised one ends a sentence too ("U.S.Army" has no lower-case word).
_CJK_STOPS: Final = "\u3002\uff01\uff1f"  # ideographic full stop, full-width ! and ?
_CLOSERS: Final = "\"'\u201d\u2019)\\]"  # quotes (straight and curly) and brackets that close a sentence
_OPENERS: Final = "\"'\u201c\u2018(\\["
# The same marks as characters, for a passage's span (TokenizedText.passage_span): what opens a sentence, and what
# closes one (its stop, then closing quotes and brackets). Taken from the character classes above, less their escapes.
_OPENING_MARKS: Final = frozenset(_OPENERS) - {"\\"}
_CLOSING_MARKS: Final = frozenset(".!?" + _CJK_STOPS + _CLOSERS) - {"\\"}
# Every alternative begins at a stop. Said first, as a lookahead, it spares trying the three alternatives at every
# other character: the scan takes a little over half the time (on generated news).
_SENTENCE_END: Final = re.compile(
    rf"(?=[.!?{_CJK_STOPS}])"
    rf"(?:[.!?{_CJK_STOPS}][{_CLOSERS}]*(?=\s+[{_OPENERS}]?[^\sa-z])|[{_CJK_STOPS}]|(?<=[a-z][a-z])[.!?](?=[A-Z][a-z]))"
)

# Text wrapped at a fixed width (mail, books, pages converted from PDF) breaks lines inside sentences. A line that
# starts with a lower-case letter continues the line before it: its sentence goes on, and a short piece of it
# ("states.", "evaluation") is not a boilerplate line. Only ASCII letters are looked at, so that the compiled
# signer can apply the same rule byte by byte. A link or handle at the start of a line is blanked first, and does
# not continue anything.
_LOWER_CASE_ASCII: Final = frozenset("abcdefghijklmnopqrstuvwxyz")
# What str.splitlines ends a line at.
_LINE_BREAK_CHARACTERS: Final = "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"
# Raised whenever a change to these rules changes which words some text keeps, and so its signatures; a store
# records the version its signatures were made under, and signatures made under another are made again at start.
# Version 2 joins continued lines (version 1 read each line on its own).
TOKENIZATION_VERSION: Final = 2
_CONTINUED_LINE: Final = re.compile(rf"[{_LINE_BREAK_CHARACTERS}][a-z]")

# Words that carry grammar rather than content: rewrites change them freely, so content
# comparisons leave them out. English only; other languages keep all their words as content.
STOPWORDS: Final = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "also",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "myself",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
        "s",
        "t",
        "don",
        "didn",
        "doesn",
        "isn",
        "wasn",
        "weren",
        "won",
        "wouldn",
        "shouldn",
        "couldn",
        "said",
        "says",
        "say",
    ]
)
# Stems are word prefixes: crude, language-agnostic and enough to tie "proved" to "proven" and
# "communication" to "communications", which is what passage comparison of rewrites needs.
STEM_LENGTH: Final = 5
# Lines with fewer words than this (bylines, "Share this article", photo credits) carry no content.
MIN_CONTENT_LINE_WORDS: Final = 4
# Sentences shorter than this many words are joined to a neighbour: alone they match too easily.
MIN_SENTENCE_WORDS: Final = 5
# Sentences longer than this many words are cut, so that unpunctuated text still yields comparable units.
MAX_SENTENCE_WORDS: Final = 60


@dataclass(frozen=True, slots=True)
class Sentence:
    """A run of tokens, `[token_start, token_end)`, forming one comparison unit."""

    token_start: int
    token_end: int


class TokenSpans(Protocol):
    """Where each token of a tokenized text stands in the original text, in code points."""

    def span(self, index: int) -> tuple[int, int]: ...

    def spans(self) -> list[tuple[int, int]]: ...


@dataclass(frozen=True, slots=True)
class TokenizedText:
    """A text cut into normalised word tokens and sentences, which can tell each token's span in the original.

    Tokens of boilerplate lines are already dropped.
    """

    words: tuple[str, ...]
    sentences: tuple[Sentence, ...]
    token_spans: TokenSpans
    # The text that was cut, which the spans index into.
    text: str

    def __len__(self) -> int:
        return len(self.words)

    def token_span(self, index: int) -> tuple[int, int]:
        """Return token `index`'s span in code points of the original text."""
        return self.token_spans.span(index)

    def char_span(self, token_start: int, token_end: int) -> tuple[int, int]:
        """Return the original-text span covering tokens `[token_start, token_end)`."""
        return self.token_span(token_start)[0], self.token_span(token_end - 1)[1]

    def passage_span(self, token_start: int, token_end: int) -> tuple[int, int]:
        """Return the span of tokens `[token_start, token_end)` with the marks that open and close it.

        Tokens are words, so their span leaves out the stop that ends the last sentence and the quote that opens
        the first: evidence of a copied sentence should cover what was copied, `"Done."` and not `Done`. Taken
        are the opening quotes and brackets just before the first word, and the stops, closing quotes and
        brackets just after the last, unless a digit or a lower-case letter follows them at once (`3.5`,
        `e.g`), where the mark is inside a word.

        >>> tokens = tokenize('He said: "The bridge is open." Crowds cheered.')
        >>> start, end = tokens.passage_span(2, 6)
        >>> tokens.text[start:end]
        '"The bridge is open."'
        >>> start, end = tokens.passage_span(0, 1)
        >>> tokens.text[start:end]
        'He'
        """
        start, end = self.char_span(token_start, token_end)
        text = self.text
        while start > 0 and text[start - 1] in _OPENING_MARKS:
            start -= 1
        closed = end
        while closed < len(text) and text[closed] in _CLOSING_MARKS:
            closed += 1
        if closed == len(text) or not (text[closed].isdigit() or text[closed].islower()):
            end = closed
        return start, end

    @property
    def starts(self) -> tuple[int, ...]:
        """Where each token starts in the original text (every span found: for checks, not for comparisons)."""
        return tuple(start for start, _ in self.token_spans.spans())

    @property
    def ends(self) -> tuple[int, ...]:
        return tuple(end for _, end in self.token_spans.spans())


@dataclass(frozen=True, slots=True)
class TokenOffsets:
    """Token spans known up front, as the compiled tokenizer finds them: token i is `[starts[i], ends[i])`."""

    starts: Sequence[int]
    ends: Sequence[int]

    def span(self, index: int) -> tuple[int, int]:
        return self.starts[index], self.ends[index]

    def spans(self) -> list[tuple[int, int]]:
        return [self.span(index) for index in range(len(self.starts))]


@dataclass(frozen=True, slots=True)
class _LineSpans:
    """Token spans found when asked for, from the kept lines of `masked`.

    `masked` is the text with links and handles blanked out, the same length as the text. A comparison needs
    the spans of a few fragment ends, and finding every token's span up front cost a third of cutting a text
    in Python.
    """

    masked: str
    lines: tuple[TokenLine, ...]

    def span(self, index: int) -> tuple[int, int]:
        line = self.lines[bisect.bisect_right(self.lines, index, key=_first_token) - 1]
        matches = _TOKEN_PATTERN.finditer(self.masked, line.start, line.end)
        match = next(itertools.islice(matches, index - line.first_token, None))
        return match.start(), match.end()

    def spans(self) -> list[tuple[int, int]]:
        return [
            match.span() for line in self.lines for match in _TOKEN_PATTERN.finditer(self.masked, line.start, line.end)
        ]


@dataclass(frozen=True, slots=True)
class TokenLine:
    """A kept line, code points `[start, end)` of the text; its first token is token `first_token`."""

    start: int
    end: int
    first_token: int


def _first_token(line: TokenLine) -> int:
    return line.first_token


def normalise_word(word: str) -> str:
    """Return the comparable form of a word: NFKC, case-folded.

    >>> normalise_word("\uff2d\uff4f\uff53\uff55\uff4c")  # full-width letters
    'mosul'
    """
    if word.isascii():
        # NFKC leaves ASCII as it is and case-folds it to lower case; most words of most texts take this path.
        return word.lower()
    return unicodedata.normalize("NFKC", word).casefold()


def stem(word: str) -> str:
    """Return the prefix stem of a normalised word.

    >>> stem("communications") == stem("communication")
    True
    """
    return word[:STEM_LENGTH]


def is_content_word(word: str) -> bool:
    """Tell whether a normalised word carries content rather than grammar.

    >>> is_content_word("the"), is_content_word("mosul")
    (False, True)
    """
    return word not in STOPWORDS


def word_stems(words: Iterable[str]) -> list[str]:
    """Return, word by word, the stem of each content word among normalised `words`, and "" for each function word.

    A normalised word is never empty, so a text's content stems are the non-empty entries, at their words' positions.

    >>> word_stems(["the", "communications", "of", "mosul"])
    ['', 'commu', '', 'mosul']
    """
    # `stem` and `is_content_word` written out: this runs for every word of every text compared, and the two
    # calls per word cost more than the work they do.
    return [word[:STEM_LENGTH] if word not in STOPWORDS else "" for word in words]


def words_may_differ_since(version: int, text: str) -> bool:
    r"""Tell whether `text` may keep other words under these rules than under those of `version` (TOKENIZATION_VERSION).

    >>> words_may_differ_since(1, "A line that is cut\nin two"), words_may_differ_since(1, "One\nTwo")
    (True, False)
    """
    return version < TOKENIZATION_VERSION and _CONTINUED_LINE.search(text) is not None


# What cuts a text: `tokenize`, or a faster implementation of it (the compiled tokenizer).
Tokenizer = Callable[[str], TokenizedText]


def tokenize(text: str) -> TokenizedText:
    r"""Cut `text` into normalised word tokens and sentences, dropping boilerplate lines.

    A line that starts with a lower-case ASCII letter continues the one before it (wrapped text). A line is
    boilerplate when, once links and handles are removed, it has fewer than MIN_CONTENT_LINE_WORDS words. When
    every line is boilerplate (a short text), nothing is dropped.

    >>> tokens = tokenize("Scroll down\nThe Leader LEFT Mosul last week. He hid in the desert villages.")
    >>> tokens.words[:5]
    ('the', 'leader', 'left', 'mosul', 'last')
    >>> [(s.token_start, s.token_end) for s in tokens.sentences]
    [(0, 6), (6, 12)]
    >>> tokens.char_span(0, 2)
    (12, 22)
    """
    # Links and handles become as many spaces as they had characters, so offsets stay offsets into text.
    masked = _LINK_SCAN.sub(_blank, text)
    # A sentence end is punctuation before white space, a CJK full stop, or a stop glued to a capitalised word:
    # never inside a token. Found over the whole text, the only ends that scanning each line alone would not
    # find are those whose white space runs to the end of their line: no word follows them on the line, so they
    # cut nothing.
    sentence_ends = [match.end() for match in _SENTENCE_END.finditer(masked)]
    tokens = _TOKEN_PATTERN if _UNSPACED_OR_KANA.search(masked) else _WORD_RUN
    lines = _content_lines(masked, sentence_ends, tokens)
    if not lines:
        lines = [_scanned_line(masked, 0, len(masked), sentence_ends, tokens)]
    words: list[str] = []
    kept: list[TokenLine] = []
    for line in lines:
        kept.append(TokenLine(line.start, line.end, len(words)))
        for piece in line.pieces:
            words.extend(piece)
    return TokenizedText(
        tuple(words),
        sentences_of([[len(piece) for piece in line.pieces] for line in lines]),
        _LineSpans(masked, tuple(kept)),
        text,
    )


def sentences_of(lines: Iterable[Iterable[int]]) -> tuple[Sentence, ...]:
    """Return the sentences of a text's kept words, given as the word counts of each line's pieces, in order.

    A piece is the run of a line's words between two sentence ends. Unpunctuated text still yields comparable
    units: a piece is cut every MAX_SENTENCE_WORDS words. Then each line's short sentences are merged.
    """
    sentences: list[Sentence] = []
    first = 0
    for piece_words in lines:
        line_sentences: list[Sentence] = []
        for words in piece_words:
            for offset in range(0, words, MAX_SENTENCE_WORDS):
                end = first + min(MAX_SENTENCE_WORDS, words - offset)
                line_sentences.append(Sentence(first, end))
                first = end
        sentences.extend(_merge_short(line_sentences))
    return tuple(sentences)


def _blank(link: re.Match[str]) -> str:
    return " " * (link.end() - link.start())


@dataclass(frozen=True, slots=True)
class _ScannedLine:
    """Code points `[start, end)` of the masked text, one line, and its normalised words.

    `pieces` holds the words of each run of the line between sentence ends.
    """

    start: int
    end: int
    pieces: list[list[str]]

    @property
    def word_count(self) -> int:
        return sum(len(piece) for piece in self.pieces)


def _scanned_line(masked: str, start: int, end: int, sentence_ends: list[int], tokens: re.Pattern[str]) -> _ScannedLine:
    # Words are read with findall, which makes strings and no match objects, a piece at a time.
    pieces = []
    previous = start
    first_end = bisect.bisect_right(sentence_ends, start)
    last_end = bisect.bisect_left(sentence_ends, end, lo=first_end)
    for end_of_sentence in [*sentence_ends[first_end:last_end], end]:
        words = tokens.findall(masked, previous, end_of_sentence)
        if words:
            pieces.append(_normalised(words))
        previous = end_of_sentence
    return _ScannedLine(start, end, pieces)


def _normalised(words: list[str]) -> list[str]:
    # Lower-casing is all that normalising does to ASCII words, and most pieces hold nothing else (the
    # curly quotes around them are not words): one joined string is lower-cased and split again.
    joined = "\0".join(words)
    if joined.isascii():
        return joined.lower().split("\0")
    return [normalise_word(word) for word in words]


def _content_lines(masked: str, sentence_ends: list[int], tokens: re.Pattern[str]) -> list[_ScannedLine]:
    # Each line is scanned once: the words that decide whether it is boilerplate are its tokens.
    lines = []
    for start, end in _joined_lines(masked):
        scanned = _scanned_line(masked, start, end, sentence_ends, tokens)
        if scanned.word_count >= MIN_CONTENT_LINE_WORDS:
            lines.append(scanned)
    return lines


def _joined_lines(masked: str) -> list[tuple[int, int]]:
    """Return the lines of `masked` as [start, end) without their line breaks, continued lines joined (see tokenize)."""
    lines: list[tuple[int, int]] = []
    position = 0
    for line in masked.splitlines(keepends=True):
        start, position = position, position + len(line)
        end = start + len(line.rstrip("\r\n"))
        if lines and line[:1] in _LOWER_CASE_ASCII:
            lines[-1] = (lines[-1][0], end)
        else:
            lines.append((start, end))
    return lines


def _merge_short(sentences: list[Sentence]) -> list[Sentence]:
    """Join sentences shorter than MIN_SENTENCE_WORDS to the next one of the line (the last to the one before).

    A two-word sentence ("He left.") or a lone number matches any other that shares one word, which
    would seed alignments between texts that share nothing but that word.
    """
    merged: list[Sentence] = []
    pending: int | None = None
    for sentence in sentences:
        start = sentence.token_start if pending is None else pending
        if sentence.token_end - start < MIN_SENTENCE_WORDS:
            pending = start
            continue
        merged.append(Sentence(start, sentence.token_end))
        pending = None
    if pending is not None:
        end = sentences[-1].token_end
        if merged:
            merged[-1] = Sentence(merged[-1].token_start, end)
        else:
            merged.append(Sentence(pending, end))
    return merged

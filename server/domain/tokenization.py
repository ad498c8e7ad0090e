"""Normalise text into word tokens with their character spans, sentences, and boilerplate removed."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Final

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
_URL_PATTERN: Final = re.compile(r"(?:https?://|www\.|pic\.twitter\.com/)\S*|@\w+", re.IGNORECASE)
# A sentence ends at . ! ? (or their CJK forms), possibly followed by closing quotes or brackets,
# when what follows starts a new sentence. Lower-case continuations ("U.S. and Iraqi") do not split.
_CJK_STOPS: Final = "\u3002\uff01\uff1f"  # ideographic full stop, full-width ! and ?
_CLOSERS: Final = "\"'\u201d\u2019)\\]"  # quotes (straight and curly) and brackets that close a sentence
_OPENERS: Final = "\"'\u201c\u2018(\\["
_SENTENCE_END: Final = re.compile(rf"[.!?{_CJK_STOPS}][{_CLOSERS}]*(?=\s+[{_OPENERS}]?[^\sa-z])|[{_CJK_STOPS}]")

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


@dataclass(frozen=True, slots=True)
class TokenizedText:
    """A text cut into normalised word tokens, each with its span in the original text.

    Tokens of boilerplate lines are already dropped. `starts[i]:ends[i]` is token i's span in
    code points of the original text.
    """

    words: tuple[str, ...]
    starts: tuple[int, ...]
    ends: tuple[int, ...]
    sentences: tuple[Sentence, ...]

    def __len__(self) -> int:
        return len(self.words)

    def char_span(self, token_start: int, token_end: int) -> tuple[int, int]:
        """Return the original-text span covering tokens `[token_start, token_end)`."""
        return self.starts[token_start], self.ends[token_end - 1]


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


def tokenize(text: str) -> TokenizedText:
    r"""Cut `text` into normalised word tokens and sentences, dropping boilerplate lines.

    A line is boilerplate when, once links and handles are removed, it has fewer than
    MIN_CONTENT_LINE_WORDS words. When every line is boilerplate (a short text), nothing is dropped.

    >>> tokens = tokenize("Scroll down\nThe Leader LEFT Mosul last week. He hid in the desert villages.")
    >>> tokens.words[:5]
    ('the', 'leader', 'left', 'mosul', 'last')
    >>> [(s.token_start, s.token_end) for s in tokens.sentences]
    [(0, 6), (6, 12)]
    """
    lines = _content_lines(text)
    if not lines:
        lines = [_scanned_line(text, 0, len(text))]
    words: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    sentences: list[Sentence] = []
    for line in lines:
        boundaries = [match.end() for match in _SENTENCE_END.finditer(line.masked)]
        boundary_index = 0
        sentence_start = len(words)
        line_sentences: list[Sentence] = []
        for match in line.tokens:
            while boundary_index < len(boundaries) and match.start() >= boundaries[boundary_index]:
                boundary_index += 1
                sentence_start = _close_sentence(line_sentences, sentence_start, len(words))
            if len(words) - sentence_start >= MAX_SENTENCE_WORDS:
                sentence_start = _close_sentence(line_sentences, sentence_start, len(words))
            words.append(normalise_word(match.group()))
            starts.append(line.start + match.start())
            ends.append(line.start + match.end())
        _close_sentence(line_sentences, sentence_start, len(words))
        sentences.extend(_merge_short(line_sentences))
    return TokenizedText(tuple(words), tuple(starts), tuple(ends), tuple(sentences))


@dataclass(frozen=True, slots=True)
class _ScannedLine:
    """A line of the text from code point `start` on, with links and handles blanked out, and its word matches."""

    start: int
    masked: str
    tokens: list[re.Match[str]]


def _scanned_line(text: str, start: int, end: int) -> _ScannedLine:
    # Links and handles become as many spaces as they had characters, so token offsets stay offsets into text.
    masked = _URL_PATTERN.sub(lambda match: " " * len(match.group()), text[start:end])
    return _ScannedLine(start, masked, list(_TOKEN_PATTERN.finditer(masked)))


def _content_lines(text: str) -> list[_ScannedLine]:
    # Each line is scanned once: the matches that decide whether it is boilerplate are its tokens.
    lines = []
    position = 0
    for line in text.splitlines(keepends=True):
        start, position = position, position + len(line)
        scanned = _scanned_line(text, start, start + len(line.rstrip("\r\n")))
        if len(scanned.tokens) >= MIN_CONTENT_LINE_WORDS:
            lines.append(scanned)
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


def _close_sentence(sentences: list[Sentence], start: int, end: int) -> int:
    if end > start:
        sentences.append(Sentence(start, end))
    return end

"""Cut a tokenised text into overlapping passages and the feature sets their signatures are built from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from server.domain.tokenization import TokenizedText, is_content_word, stem

# Words per passage window and how far the window moves: 50 words is two or three sentences of
# news prose, and a stride of half a window means any reused run of 75 words fills one window.
PASSAGE_WORDS: Final = 50
PASSAGE_STRIDE: Final = 25
# Words between the passages a stored document is indexed at: every other passage by default (half the index
# memory), or every one.
INDEX_STRIDE: Final = 2 * PASSAGE_STRIDE
INDEX_STRIDES: Final = (PASSAGE_STRIDE, INDEX_STRIDE)
# How many of each band's values a screening window also looks a band up with, one at a time swapped for its
# second minimum (multi-probe; server/adapters/band_index.probe_keys): 0 to a band's rows, 3.
SCREENING_PROBES: Final = 3
# Word n-gram length of the document-level shingles (near-verbatim whole copies).
SHINGLE_WORDS: Final = 5


@dataclass(frozen=True, slots=True)
class Passage:
    """A window of tokens `[token_start, token_end)` and the content stems it contains."""

    token_start: int
    token_end: int
    features: frozenset[str]


def cut_passages(
    tokens: TokenizedText, words: int = PASSAGE_WORDS, stride: int = PASSAGE_STRIDE
) -> tuple[Passage, ...]:
    """Return the passage windows of `tokens`; a text shorter than one window is one passage.

    Passages are compared by their sets of content stems, which survive rewording far better than
    word n-grams do: a rewrite keeps the content words and changes the grammar around them.

    >>> from server.domain.tokenization import tokenize
    >>> [(p.token_start, p.token_end) for p in cut_passages(tokenize("one two three four five six"), 4, 2)]
    [(0, 4), (2, 6)]
    """
    total = len(tokens.words)
    starts = list(range(0, max(total - words, 0) + 1, stride))
    if starts[-1] + words < total:
        starts.append(total - words)
    passages = []
    for start in starts:
        end = min(start + words, total)
        features = frozenset(stem(word) for word in tokens.words[start:end] if is_content_word(word))
        if features:
            passages.append(Passage(start, end, features))
    return tuple(passages)


def document_shingles(tokens: TokenizedText, size: int = SHINGLE_WORDS) -> frozenset[str]:
    """Return the word `size`-grams of the whole text (the text itself when it is shorter).

    >>> sorted(document_shingles(__import__("server.domain.tokenization").domain.tokenization.tokenize("a b c"), 2))
    ['a b', 'b c']
    """
    words = tokens.words
    if len(words) < size:
        return frozenset({" ".join(words)}) if words else frozenset()
    # The n-grams are zipped from shifted views and joined in C, not sliced one by one in a generator.
    return frozenset(map(" ".join, zip(*(words[offset:] for offset in range(size)), strict=False)))

"""The domain's `tokenize` from one compiled pass over the text, for the verification workers.

Cutting a text with Python's `re` (masking links, finding sentence ends, reading words piece by piece) is most of
what analysing a candidate costs; the signer's kernel (`compiled_signer._scan_tokens`) already finds the same
words in a single pass, and also reports each token's span and where sentences and lines begin.
"""

from __future__ import annotations

import array
from typing import Final

import numba
import numpy as np
import numpy.typing as npt

from server.adapters.compiled_signer import (
    IMPLEMENTS_DOMAIN_PATTERNS,
    IMPLEMENTS_DOMAIN_SENTENCE_ENDS,
    _scan_tokens,
    character_tables,
)
from server.domain import tokenization
from server.domain.tokenization import (
    MAX_SENTENCE_WORDS,
    MIN_CONTENT_LINE_WORDS,
    MIN_SENTENCE_WORDS,
    Sentence,
    TokenizedText,
    TokenOffsets,
)

# Joins the words for one decode and one split: NUL is no word character, and no tabled normal form holds it.
_SEPARATOR: Final = 0


def tokenize(text: str) -> TokenizedText:
    r"""Return `tokenization.tokenize(text)`: the same words, sentences and token spans.

    They come from compiled code when the text qualifies as it does for signing
    (`MinHashSigner.sign_text_compiled`), and from the domain when not.

    >>> tokens = tokenize("Scroll down\nThe Leader LEFT Mosul last week. He hid in the desert villages.")
    >>> tokens.words[:5], [(s.token_start, s.token_end) for s in tokens.sentences], tokens.char_span(0, 2)
    (('the', 'leader', 'left', 'mosul', 'last'), [(0, 6), (6, 12)], (12, 22))
    """
    if not (IMPLEMENTS_DOMAIN_PATTERNS and IMPLEMENTS_DOMAIN_SENTENCE_ENDS):
        return tokenization.tokenize(text)  # the domain cuts otherwise than the kernel knows how to
    tables = character_tables()
    words, starts, ends, count, char_starts, char_ends, after_sentence_end, starts_line, any_line_kept = _scan_tokens(
        np.frombuffer(text.encode("utf-8", "surrogatepass"), dtype=np.uint8),
        tables.classes,
        tables.folded_offsets,
        tables.folded,
        tables.expansion,
        MIN_CONTENT_LINE_WORDS,
        True,
    )
    if count < 0:
        return tokenization.tokenize(text)
    if count == 0:
        return TokenizedText((), (), TokenOffsets((), ()), text)
    joined = _joined_words(words, starts, ends, count).tobytes().decode("utf-8", "surrogatepass")
    sentence_starts, sentence_ends = _sentence_bounds(
        after_sentence_end, starts_line, count, any_line_kept, MAX_SENTENCE_WORDS, MIN_SENTENCE_WORDS
    )
    return TokenizedText(
        tuple(joined.split(chr(_SEPARATOR))),
        tuple(map(Sentence, sentence_starts.tolist(), sentence_ends.tolist())),
        TokenOffsets(_int_array(char_starts[:count]), _int_array(char_ends[:count])),
        text,
    )


def _int_array(values: npt.NDArray[np.int64]) -> array.array[int]:
    # Code point offsets fit in a C int; an array of them takes half the room of the kernel's, and indexing it
    # gives Python ints.
    return array.array("i", values.astype(np.intc).tobytes())


@numba.njit(cache=True, nogil=True)
def _sentence_bounds(
    after_sentence_end: npt.NDArray[np.bool_],
    starts_line: npt.NDArray[np.bool_],
    count: int,
    any_line_kept: bool,
    max_words: int,
    min_words: int,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Return the sentences of `count` kept words as [starts[i], ends[i]), as `tokenization.sentences_of` cuts them.

    A piece is a run of a line's words between sentence ends, cut every `max_words` words; a line's sentences
    shorter than `min_words` are merged with the next (the last with the one before: `_merge_short`). When every
    line is boilerplate, all the words are kept as one line, as the domain does.
    """
    starts = np.empty(count, dtype=np.int64)
    ends = np.empty(count, dtype=np.int64)
    written = 0
    line_first = 0  # the first of the current line's sentences among those written
    pending = -1  # where a short sentence waiting to be merged with the next begins
    piece_start = 0
    for token in range(count + 1):
        new_line = token == count or (token > 0 and any_line_kept and starts_line[token])
        if token < count and not new_line and not (token > 0 and after_sentence_end[token]):
            continue
        # Words piece_start..token are a piece, cut into sentences of at most max_words.
        for first in range(piece_start, token, max_words):
            end = min(first + max_words, token)
            start = first if pending < 0 else pending
            if end - start < min_words:
                pending = start
                continue
            starts[written] = start
            ends[written] = end
            written += 1
            pending = -1
        piece_start = token
        if new_line:
            if pending >= 0:
                if written > line_first:
                    ends[written - 1] = token
                else:
                    starts[written] = pending
                    ends[written] = token
                    written += 1
                pending = -1
            line_first = written
    return starts[:written], ends[:written]


@numba.njit(cache=True, nogil=True)
def _joined_words(
    words: npt.NDArray[np.uint8], starts: npt.NDArray[np.int64], ends: npt.NDArray[np.int64], count: int
) -> npt.NDArray[np.uint8]:
    # The first `count` words `words[starts[i]:ends[i]]`, with the separator between them.
    size = count - 1
    for token in range(count):
        size += ends[token] - starts[token]
    joined = np.empty(size, dtype=np.uint8)
    written = 0
    for token in range(count):
        if token > 0:
            joined[written] = _SEPARATOR
            written += 1
        for offset in range(starts[token], ends[token]):
            joined[written] = words[offset]
            written += 1
    return joined

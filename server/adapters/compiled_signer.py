"""Numba kernels that tokenise, shingle and MinHash-sign a text in one compiled pass (MinHashSigner.sign_text).

The tokenising pass (`_scan_tokens`) also finds each token's span and where sentences and lines begin, for the
compiled tokenizer (`compiled_tokenizer.tokenize`); signing ignores those.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

import numba
import numpy as np
import numpy.typing as npt
import xxhash

# The domain's patterns are private to it; the kernel re-implements them, so it reads their parts from the
# domain and checks the whole (`IMPLEMENTS_DOMAIN_PATTERNS`), rather than keep copies that could drift apart.
from server.domain.tokenization import _SENTENCE_END, _TOKEN_PATTERN, _UNSPACED_SCRIPTS, _URL_PATTERN, normalise_word

# The two patterns the kernel implements by hand. A token is a half-width katakana letter with its optional
# sound mark, or one character of a script written without spaces, or a run of the other word characters.
_KANA_LETTERS: Final = "\uff66-\uff9d"
_KANA_MARKS: Final = "\uff9e\uff9f"
TOKEN_PATTERN: Final = (
    rf"[{_KANA_LETTERS}][{_KANA_MARKS}]?|[{_UNSPACED_SCRIPTS}]|[^\W{_UNSPACED_SCRIPTS}\uff66-\uff9f]+"
)
LINK_PATTERN: Final = r"(?:https?://|www\.|pic\.twitter\.com/)\S*|@\w+"
IMPLEMENTS_DOMAIN_PATTERNS: Final = (
    _TOKEN_PATTERN.pattern == TOKEN_PATTERN
    and _TOKEN_PATTERN.flags == re.UNICODE
    and _URL_PATTERN.pattern == LINK_PATTERN
    and _URL_PATTERN.flags == re.UNICODE | re.IGNORECASE
)
# The sentence ends the kernel finds for the compiled tokenizer (`_ends_sentence`): a stop with closing quotes or
# brackets before white space and then neither white space nor a-z, a CJK stop, or a stop glued between a
# lower-case word and a capitalised one.
_CJK_STOP_CHARACTERS: Final = "\u3002\uff01\uff1f"
SENTENCE_END_PATTERN: Final = (
    f"(?=[.!?{_CJK_STOP_CHARACTERS}])"
    f"(?:[.!?{_CJK_STOP_CHARACTERS}][\"'\u201d\u2019)\\]]*(?=\\s+[\"'\u201c\u2018(\\[]?[^\\sa-z])"
    f"|[{_CJK_STOP_CHARACTERS}]|(?<=[a-z][a-z])[.!?](?=[A-Z][a-z]))"
)
IMPLEMENTS_DOMAIN_SENTENCE_ENDS: Final = (
    _SENTENCE_END.pattern == SENTENCE_END_PATTERN and _SENTENCE_END.flags == re.UNICODE
)

# Bits of the per-code-point class table (`CharacterTables.classes`).
WORD: Final = 1  # re's \w: a letter, digit or underscore (what a handle is made of)
SPACE: Final = 2  # re's \s: ends a link
LINE_BREAK: Final = 4  # str.splitlines ends a line after it
LINK_START: Final = 8  # the first character of a link or handle, as the kernel matches them (ASCII only)
RUN: Final = 16  # a word character of the third alternative, which runs into a token
SINGLE: Final = 32  # a character of a script written without spaces: a token on its own
KANA: Final = 64  # a half-width katakana letter, a token with the sound mark that may follow it
KANA_MARK: Final = 128  # a half-width sound mark
_CODE_POINTS: Final = 0x110000
# Normal forms are tabled for the Basic Multilingual Plane only: word characters beyond it leave the compiled path.
_FOLDED_CODE_POINTS: Final = 0x10000
# Below U+1100 and in Latin Extended Additional and Greek Extended, no word character composes with the
# one before it under NFKC (a test checks this against unicodedata); Hangul jamo from U+1100 on do.
_PER_CHARACTER_RANGES: Final = ((0x80, 0x1100), (0x1E00, 0x2000))

# xxHash32's primes and MurmurHash3's finalizer constants, typed so that numba keeps the arithmetic in uint32.
_PRIME1: Final = np.uint32(0x9E3779B1)
_PRIME2: Final = np.uint32(0x85EBCA77)
_PRIME3: Final = np.uint32(0xC2B2AE3D)
_PRIME4: Final = np.uint32(0x27D4EB2F)
_PRIME5: Final = np.uint32(0x165667B1)
_FMIX1: Final = np.uint32(0x85EBCA6B)
_FMIX2: Final = np.uint32(0xC2B2AE35)
_MAX_HASH: Final = np.uint32(0xFFFFFFFF)
# xxHash32's initial accumulators for seed 0 (the first and last wrap around 2**32).
_V1: Final = np.uint32((0x9E3779B1 + 0x85EBCA77) & 0xFFFFFFFF)
_V4: Final = np.uint32(-0x9E3779B1 & 0xFFFFFFFF)

# The link prefixes of LINK_PATTERN, lower-case; the kernel compares them case-insensitively over ASCII.
_HTTP: Final = np.frombuffer(b"http", dtype=np.uint8)
_COLON_SLASHES: Final = np.frombuffer(b"://", dtype=np.uint8)
_WWW: Final = np.frombuffer(b"www.", dtype=np.uint8)
_PIC_TWITTER: Final = np.frombuffer(b"pic.twitter.com/", dtype=np.uint8)
_SPACE_BYTE: Final = 0x20
_AT_BYTE: Final = 0x40
_S_BYTE: Final = 0x73
_LOWER_A_BYTE: Final = 0x61
_LOWER_Z_BYTE: Final = 0x7A
_CARRIAGE_RETURN: Final = 0x0D
_LINE_FEED: Final = 0x0A
_UPPER_A_BYTE: Final = 0x41
_UPPER_Z_BYTE: Final = 0x5A
_FULL_STOP: Final = 0x2E
_EXCLAMATION: Final = 0x21
_QUESTION: Final = 0x3F
_CJK_FULL_STOP: Final = 0x3002
_FULL_WIDTH_EXCLAMATION: Final = 0xFF01
_FULL_WIDTH_QUESTION: Final = 0xFF1F


@dataclass(frozen=True, slots=True)
class CharacterTables:
    """What the kernel needs to know of each code point, read off Python's own `re`, `str` and the domain.

    `classes[c]` holds c's class bits. `folded[folded_offsets[c]:folded_offsets[c + 1]]` is the UTF-8 of
    `normalise_word(chr(c))` when a token's normal form is the concatenation of its characters' (see
    `_PER_CHARACTER_RANGES`), and empty when it is not: a kept token with such a character sends the text
    to the reference path. `expansion` bounds how many times longer a normal form is than its character.
    """

    classes: npt.NDArray[np.uint8]
    folded_offsets: npt.NDArray[np.int32]
    folded: npt.NDArray[np.uint8]
    expansion: int


@functools.cache
def character_tables() -> CharacterTables:
    """Return the tables of every code point, built once (in some 0.1 s) for the running interpreter's Unicode."""
    everything = np.arange(_CODE_POINTS, dtype="<u4").tobytes().decode("utf-32-le", "surrogatepass")
    classes = np.zeros(_CODE_POINTS, dtype=np.uint8)
    for pattern, bits in (
        (r"\w+", WORD | RUN),
        (r"\s+", SPACE),
        (rf"[{_UNSPACED_SCRIPTS}]+", SINGLE),
        (rf"[{_KANA_LETTERS}]+", KANA),
        (rf"[{_KANA_MARKS}]+", KANA_MARK),
    ):
        for match in re.finditer(pattern, everything):
            classes[match.start() : match.end()] |= bits
    classes[(classes & (SINGLE | KANA | KANA_MARK)) != 0] &= ~np.uint8(RUN)
    position = 0
    for line in everything.splitlines(keepends=True):
        position += len(line)
        if line.splitlines()[0] != line:
            classes[position - 1] |= LINE_BREAK
    for character in "@hHwWpP":
        classes[ord(character)] |= LINK_START

    per_character = [
        code_point
        for low, high in _PER_CHARACTER_RANGES
        for code_point in range(low, high)
        if classes[code_point] & RUN
        and unicodedata.normalize("NFKC", chr(code_point)) == chr(code_point)
        and unicodedata.combining(chr(code_point)) == 0
    ]
    singles = np.flatnonzero(classes[:_FOLDED_CODE_POINTS] & SINGLE).tolist()
    code_points = [*range(0x80), *per_character, *singles]
    # One call of the domain's own normalise_word over all of them: NUL is a starter that composes with
    # nothing, so NFKC and casefold treat each character between the NULs on its own.
    forms = normalise_word("\0".join(map(chr, code_points))).split("\0")
    if len(forms) != len(code_points):
        forms = [normalise_word(chr(code_point)) for code_point in code_points]
    # re.IGNORECASE lets "\u0131" and "\u0130" stand for the "i" of a link prefix, and "\u017f" for the "s"; the kernel
    # matches prefixes in ASCII only, so these letters get no normal form: a link they begin is not masked, and the
    # token left in its place sends the text to the reference path whenever it counts (see `_scan_tokens`).
    case_variants = {
        match.start() for match in re.finditer(r"[a-z]", everything, re.IGNORECASE) if match.start() >= 0x80
    }
    lengths = np.zeros(_FOLDED_CODE_POINTS, dtype=np.int32)
    encoded: dict[int, bytes] = {}
    for code_point, form in zip(code_points, forms, strict=True):
        if classes[code_point] & (RUN | SINGLE) and code_point not in case_variants:
            encoded[code_point] = form.encode("utf-8", "surrogatepass")
            lengths[code_point] = len(encoded[code_point])
    folded_offsets = np.zeros(_FOLDED_CODE_POINTS + 1, dtype=np.int32)
    np.cumsum(lengths, out=folded_offsets[1:])
    expansion = max(-(-len(form) // len(chr(code_point).encode("utf-8"))) for code_point, form in encoded.items())
    folded = np.frombuffer(b"".join(encoded[code_point] for code_point in sorted(encoded)), dtype=np.uint8)
    return CharacterTables(classes, folded_offsets, folded, expansion)


class StopwordTable:
    """An open-addressing hash table of stopwords, as arrays the kernel can probe.

    A probe compares the word's bytes with the stopword's on a hash hit, so membership is exact.
    """

    def __init__(self, stopwords: Iterable[str]) -> None:
        encoded = sorted({word.encode("utf-8") for word in stopwords})
        size = 1 << max(4, (4 * len(encoded)).bit_length())  # at most a quarter full: short probe runs
        self.slots: npt.NDArray[np.int32] = np.full(size, -1, dtype=np.int32)
        self.offsets: npt.NDArray[np.int64] = np.zeros(len(encoded) + 1, dtype=np.int64)
        self.bytes: npt.NDArray[np.uint8] = np.frombuffer(b"".join(encoded), dtype=np.uint8)
        self.max_length = max((len(word) for word in encoded), default=0)
        for index, word in enumerate(encoded):
            self.offsets[index + 1] = self.offsets[index] + len(word)
            slot = xxhash.xxh32_intdigest(word) & (size - 1)
            while self.slots[slot] >= 0:
                slot = (slot + 1) & (size - 1)
            self.slots[slot] = index


# The kernels. nogil: the server signs from gRPC worker threads, which then run in parallel. cache: compiling
# them takes some 8 s of CPU; the on-disk cache (in __pycache__) makes that a one-off per installation.
# inline="always" on the helpers called per byte or per token: left as calls they stay calls (LLVM does not
# inline across numba's functions), each passing its arrays with reference counts taken and dropped
# atomically; inlined, a 1000-word text signs in 65 us rather than 110.


@numba.njit(cache=True, nogil=True, inline="always")
def xxh32(data: npt.NDArray[np.uint8], start: int, end: int) -> np.uint32:
    """Return xxHash32 (seed 0) of `data[start:end]`, equal to `xxhash.xxh32_intdigest`."""
    length = end - start
    position = start
    if length >= 16:
        v1 = _V1
        v2 = _PRIME2
        v3 = np.uint32(0)
        v4 = _V4
        while position + 16 <= end:
            v1 = _xxh32_round(v1, _read32(data, position))
            v2 = _xxh32_round(v2, _read32(data, position + 4))
            v3 = _xxh32_round(v3, _read32(data, position + 8))
            v4 = _xxh32_round(v4, _read32(data, position + 12))
            position += 16
        state = np.uint32(_rotl(v1, 1) + _rotl(v2, 7) + _rotl(v3, 12) + _rotl(v4, 18))
    else:
        state = _PRIME5
    state = np.uint32(state + np.uint32(length))
    while position + 4 <= end:
        state = np.uint32(state + _read32(data, position) * _PRIME3)
        state = np.uint32(_rotl(state, 17) * _PRIME4)
        position += 4
    while position < end:
        state = np.uint32(state + np.uint32(data[position]) * _PRIME5)
        state = np.uint32(_rotl(state, 11) * _PRIME1)
        position += 1
    state = np.uint32(state ^ (state >> np.uint32(15)))
    state = np.uint32(state * _PRIME2)
    state = np.uint32(state ^ (state >> np.uint32(13)))
    state = np.uint32(state * _PRIME3)
    return np.uint32(state ^ (state >> np.uint32(16)))


@numba.njit(cache=True, nogil=True, inline="always")
def _read32(data: npt.NDArray[np.uint8], position: int) -> np.uint32:
    # Little-endian, as xxHash reads its input.
    return np.uint32(
        np.uint32(data[position])
        | (np.uint32(data[position + 1]) << np.uint32(8))
        | (np.uint32(data[position + 2]) << np.uint32(16))
        | (np.uint32(data[position + 3]) << np.uint32(24))
    )


@numba.njit(cache=True, nogil=True, inline="always")
def _rotl(value: np.uint32, bits: int) -> np.uint32:
    return np.uint32((value << np.uint32(bits)) | (value >> np.uint32(32 - bits)))


@numba.njit(cache=True, nogil=True, inline="always")
def _xxh32_round(accumulator: np.uint32, lane: np.uint32) -> np.uint32:
    accumulator = np.uint32(accumulator + lane * _PRIME2)
    return np.uint32(_rotl(accumulator, 13) * _PRIME1)


@numba.njit(cache=True, nogil=True, inline="always")
def _fmix32(value: np.uint32) -> np.uint32:
    # MurmurHash3's 32-bit finalizer, which datasketch's affine32 scheme applies to each token hash.
    value = np.uint32(value ^ (value >> np.uint32(16)))
    value = np.uint32(value * _FMIX1)
    value = np.uint32(value ^ (value >> np.uint32(13)))
    value = np.uint32(value * _FMIX2)
    return np.uint32(value ^ (value >> np.uint32(16)))


@numba.njit(cache=True, nogil=True, inline="always")
def _permute_min(
    token_hash: np.uint32,
    a: npt.NDArray[np.uint32],
    b: npt.NDArray[np.uint32],
    rows: npt.NDArray[np.uint32],
    row: int,
) -> None:
    # datasketch's affine32 permutation, `a * h + b` wrapping in uint32; an unconditional store vectorises.
    minima = rows[row]
    for permutation in range(a.shape[0]):
        minima[permutation] = min(minima[permutation], np.uint32(a[permutation] * token_hash + b[permutation]))


@numba.njit(cache=True, nogil=True, inline="always")
def _permute_min_and_second(
    token_hash: np.uint32,
    a: npt.NDArray[np.uint32],
    b: npt.NDArray[np.uint32],
    rows: npt.NDArray[np.uint32],
    seconds: npt.NDArray[np.uint32],
    row: int,
) -> None:
    # As _permute_min, and keeps the second-smallest distinct value of the first seconds.shape[1] permutations
    # (none when `seconds` has no columns: then this is _permute_min). One loop over every permutation, the second
    # minima kept under a test of the permutation: so written, it permuted 300 tokens in 11-15 µs, against 52-79 µs
    # as a loop of `_insert` over the first permutations and `_permute_min` over the rest, and 35-52 µs as two such
    # loops over one-dimensional views of the rows. A news document with its second minima was signed in 78-87 µs
    # against 120-123 (73-84 without them).
    minima = rows[row]
    second_minima = seconds[row]
    kept = seconds.shape[1]
    for permutation in range(a.shape[0]):
        value = np.uint32(a[permutation] * token_hash + b[permutation])
        smallest = minima[permutation]
        if permutation < kept:
            second_minima[permutation] = _second(smallest, value, second_minima[permutation])
        minima[permutation] = min(smallest, value)


@numba.njit(cache=True, nogil=True, inline="always")
def _insert(
    value: np.uint32, rows: npt.NDArray[np.uint32], seconds: npt.NDArray[np.uint32], row: int, permutation: int
) -> None:
    smallest = rows[row, permutation]
    seconds[row, permutation] = _second(smallest, value, seconds[row, permutation])
    rows[row, permutation] = min(smallest, value)


@numba.njit(cache=True, nogil=True, inline="always")
def _second(smallest: np.uint32, value: np.uint32, second: np.uint32) -> np.uint32:
    # The second-smallest distinct value once `value` is seen beside minimum `smallest` and second `second`. A value
    # below the minimum makes the minimum second; one between them is second; a word seen twice in a window is one
    # feature, so a value equal to the minimum is no second one. Written without branches (a mask of all ones for
    # that case, then minima), so that loops over permutations vectorise: with an if/elif per value, signing took
    # eight times as long.
    again = np.uint32(0) - np.uint32(value == smallest)
    return min(second, max(smallest, value) | again)


@numba.njit(cache=True, nogil=True, inline="always")
def _decode(text: npt.NDArray[np.uint8], position: int) -> tuple[int, int]:
    # One UTF-8 sequence: its code point and its length. Python encoded the text, so the sequence is well
    # formed (lone surrogates come through "surrogatepass" as the three bytes of their code point).
    lead = int(text[position])
    if lead < 0x80:
        return lead, 1
    if lead < 0xE0:
        return ((lead & 0x1F) << 6) | (int(text[position + 1]) & 0x3F), 2
    if lead < 0xF0:
        return ((lead & 0x0F) << 12) | ((int(text[position + 1]) & 0x3F) << 6) | (int(text[position + 2]) & 0x3F), 3
    return (
        ((lead & 0x07) << 18)
        | ((int(text[position + 1]) & 0x3F) << 12)
        | ((int(text[position + 2]) & 0x3F) << 6)
        | (int(text[position + 3]) & 0x3F)
    ), 4


@numba.njit(cache=True, nogil=True, inline="always")
def _lower(byte: np.uint8) -> np.uint8:
    return np.uint8(byte + 32) if 0x41 <= byte <= 0x5A else byte


@numba.njit(cache=True, nogil=True, inline="always")
def _literal_end(text: npt.NDArray[np.uint8], start: int, literal: npt.NDArray[np.uint8]) -> int:
    # Where `literal` (lower-case) ends if it stands at `start`, compared case-insensitively over ASCII; else -1.
    # The non-ASCII letters that re.IGNORECASE also matches are dealt with in `character_tables`.
    end = start + len(literal)
    if end > len(text):
        return -1
    for offset in range(len(literal)):
        if _lower(text[start + offset]) != literal[offset]:
            return -1
    return end


@numba.njit(cache=True, nogil=True, inline="always")
def _link_end(text: npt.NDArray[np.uint8], start: int, classes: npt.NDArray[np.uint8]) -> int:
    # Where the match of LINK_PATTERN at `start` ends, or `start` when there is none there.
    size = text.shape[0]
    if text[start] == _AT_BYTE:
        end = start + 1
        while end < size:
            code_point, width = _decode(text, end)
            if not classes[code_point] & WORD:
                break
            end += width
        return end if end > start + 1 else start
    end = _literal_end(text, start, _HTTP)
    if end >= 0:
        if end < size and _lower(text[end]) == _S_BYTE:
            end += 1
        end = _literal_end(text, end, _COLON_SLASHES)
    else:
        end = _literal_end(text, start, _WWW)
        if end < 0:
            end = _literal_end(text, start, _PIC_TWITTER)
    if end < 0:
        return start
    while end < size:
        code_point, width = _decode(text, end)
        if classes[code_point] & SPACE:
            break
        end += width
    return end


@numba.njit(cache=True, nogil=True, inline="always")
def _continues_line(text: npt.NDArray[np.uint8], start: int, classes: npt.NDArray[np.uint8]) -> bool:
    # Whether the line beginning at `start` continues the one before it, as the domain joins lines: it starts with a
    # lower-case ASCII letter that does not begin a link or handle (those are blanked before the domain looks).
    if start >= text.shape[0] or not _LOWER_A_BYTE <= text[start] <= _LOWER_Z_BYTE:
        return False
    return not (classes[text[start]] & LINK_START and _link_end(text, start, classes) > start)


@numba.njit(cache=True, nogil=True, inline="always")
def _masked_at(text: npt.NDArray[np.uint8], position: int, classes: npt.NDArray[np.uint8]) -> tuple[int, int]:
    # The code point at `position` as the domain's masked text has it, and where it ends: a link or handle is
    # blanked to spaces, so it reads as one space that ends where the link does.
    code_point, width = _decode(text, position)
    if classes[code_point] & LINK_START:
        link_end = _link_end(text, position, classes)
        if link_end > position:
            return _SPACE_BYTE, link_end
    return code_point, position + width


@numba.njit(cache=True, nogil=True, inline="always")
def _ends_sentence(
    text: npt.NDArray[np.uint8],
    position: int,
    code_point: int,
    before: int,
    before_that: int,
    classes: npt.NDArray[np.uint8],
) -> bool:
    # Whether the domain's sentence-end pattern (`_SENTENCE_END`) matches at the stop `code_point`, which starts at
    # `position` outside any link, with `before` and `before_that` the two masked code points ahead of it. Only
    # whether an end lies between two tokens matters, not where it ends: no end falls inside a token.
    size = text.shape[0]
    ascii_stop = code_point in (_FULL_STOP, _EXCLAMATION, _QUESTION)
    cjk_stop = code_point in (_CJK_FULL_STOP, _FULL_WIDTH_EXCLAMATION, _FULL_WIDTH_QUESTION)
    if not (ascii_stop or cjk_stop):
        return False
    if cjk_stop:
        return True  # the second alternative: a CJK stop ends a sentence wherever it stands
    # The first alternative: closing quotes or brackets, white space, then neither white space nor a-z (an opening
    # quote or bracket before the a-z letter changes nothing: it is neither itself).
    after, width = _decode(text, position + 1) if position + 1 < size else (0, 0)
    next_position = position + 1
    while next_position < size and _is_closer(after):
        next_position += width
        if next_position < size:
            after, width = _decode(text, next_position)
    spaced = next_position
    while spaced < size:
        masked, spaced_end = _masked_at(text, spaced, classes)
        if not classes[masked] & SPACE:
            break
        spaced = spaced_end
    if spaced > next_position and spaced < size:
        following, _ = _masked_at(text, spaced, classes)
        if not _LOWER_A_BYTE <= following <= _LOWER_Z_BYTE:
            return True
    # The third alternative: a stop glued between a lower-case word and a capitalised one ("world.Directions").
    if not (_LOWER_A_BYTE <= before <= _LOWER_Z_BYTE and _LOWER_A_BYTE <= before_that <= _LOWER_Z_BYTE):
        return False
    if position + 2 >= size:
        return False
    capital, capital_end = _masked_at(text, position + 1, classes)
    if not _UPPER_A_BYTE <= capital <= _UPPER_Z_BYTE or capital_end >= size:
        return False
    lower, _ = _masked_at(text, capital_end, classes)
    return _LOWER_A_BYTE <= lower <= _LOWER_Z_BYTE


@numba.njit(cache=True, nogil=True, inline="always")
def _is_closer(code_point: int) -> bool:
    # A character of the domain's `_CLOSERS`: straight and curly closing quotes, and closing brackets.
    return code_point in (0x22, 0x27, 0x29, 0x5D, 0x201D, 0x2019)


@numba.njit(cache=True, nogil=True)
def _scan_tokens(
    text: npt.NDArray[np.uint8],
    classes: npt.NDArray[np.uint8],
    folded_offsets: npt.NDArray[np.int32],
    folded: npt.NDArray[np.uint8],
    expansion: int,
    min_line_words: int,
    find_sentences: bool,
) -> tuple[
    npt.NDArray[np.uint8],
    npt.NDArray[np.int64],
    npt.NDArray[np.int64],
    int,
    npt.NDArray[np.int64],
    npt.NDArray[np.int64],
    npt.NDArray[np.bool_],
    npt.NDArray[np.bool_],
    bool,
]:
    """Return the normal forms of the words `tokenize` keeps, as `words[starts[i]:ends[i]]`, and their count.

    Links and handles are skipped as the domain masks them; a line with fewer than `min_line_words`
    tokens is dropped unless every line is. The count is -1 when a kept token has a character whose
    normal form depends on its neighbours, or is not tabled (`CharacterTables`).

    Then, with `find_sentences`, for each kept token: its span in code points of the text (`char_starts`,
    `char_ends`); whether a sentence ends between it and the token before (`after_sentence_end`, the domain's
    `_SENTENCE_END`); whether it is the first of its line (`starts_line`, meaningful only when some line was kept:
    the last value). Signing needs none of them, and skips their bookkeeping.
    """
    size = text.shape[0]
    words = np.empty(size * expansion + 1, dtype=np.uint8)
    # A token takes two bytes at least with what separates it from the next; one that needs no separator, a
    # character of a script without spaces or a katakana letter, takes three.
    starts = np.empty(size // 2 + 1, dtype=np.int64)
    ends = np.empty(size // 2 + 1, dtype=np.int64)
    unfolded = np.zeros(size // 2 + 1, dtype=np.bool_)
    extras = size // 2 + 1 if find_sentences else 0
    char_starts = np.empty(extras, dtype=np.int64)
    char_ends = np.empty(extras, dtype=np.int64)
    after_sentence_end = np.zeros(extras, dtype=np.bool_)
    starts_line = np.zeros(extras, dtype=np.bool_)
    count = 0  # tokens stored
    kept = 0  # tokens of content lines, moved to the front as each such line ends
    any_kept = False
    line_start = 0  # index of the current line's first token
    in_run = False
    run_unfolded = False
    written = 0
    position = 0
    character = 0  # code points before `position`
    before = 0  # the two masked code points before `position`, for the sentence-end pattern's look-behind
    before_that = 0
    sentence_ended = False  # a sentence end since the last token
    while position <= size:
        characters = 1
        if position == size:
            code_point, width, kind = 0, 1, LINE_BREAK  # the end of the text ends its last line
        else:
            code_point, width = _decode(text, position)
            kind = classes[code_point]
            if kind & LINK_START:
                link_end = _link_end(text, position, classes)
                if link_end > position:
                    kind = 0
                    width = link_end - position
                    code_point = _SPACE_BYTE
                    if find_sentences:
                        characters = 0
                        for offset in range(position, link_end):
                            characters += text[offset] & 0xC0 != 0x80
            if kind & RUN:
                if not in_run:
                    in_run = True
                    run_unfolded = False
                    starts[count] = written
                    if find_sentences:
                        char_starts[count] = character
                        after_sentence_end[count] = sentence_ended
                        sentence_ended = False
                if code_point < 0x80:
                    words[written] = _lower(text[position])
                    written += 1
                elif code_point < _FOLDED_CODE_POINTS and folded_offsets[code_point + 1] > folded_offsets[code_point]:
                    for offset in range(folded_offsets[code_point], folded_offsets[code_point + 1]):
                        words[written] = folded[offset]
                        written += 1
                else:
                    run_unfolded = True
                position += width
                character += 1
                before_that, before = before, code_point
                continue
        if in_run:
            ends[count] = written
            if find_sentences:
                char_ends[count] = character
            unfolded[count] = run_unfolded
            count += 1
            in_run = False
        if kind & SINGLE:
            starts[count] = written
            if code_point < _FOLDED_CODE_POINTS:
                for offset in range(folded_offsets[code_point], folded_offsets[code_point + 1]):
                    words[written] = folded[offset]
                    written += 1
            ends[count] = written
            unfolded[count] = ends[count] == starts[count]
            if find_sentences:
                char_starts[count] = character
                char_ends[count] = character + 1
                after_sentence_end[count] = sentence_ended
                sentence_ended = False
            count += 1
        elif kind & KANA:
            # The sound mark joins the letter; the pair's normal form is a composed character, not tabled.
            if position + width < size:
                next_code_point, next_width = _decode(text, position + width)
                if classes[next_code_point] & KANA_MARK:
                    width += next_width
                    characters = 2
            starts[count] = written
            ends[count] = written
            unfolded[count] = True
            if find_sentences:
                char_starts[count] = character
                char_ends[count] = character + characters
                after_sentence_end[count] = sentence_ended
                sentence_ended = False
            count += 1
        elif kind & LINE_BREAK:
            if text[position] == _CARRIAGE_RETURN and position + 1 < size and text[position + 1] == _LINE_FEED:
                width = 2  # one line break, as str.splitlines reads it
                characters = 2
            if not _continues_line(text, position + width, classes):
                if count - line_start >= min_line_words:
                    starts[kept : kept + count - line_start] = starts[line_start:count]
                    ends[kept : kept + count - line_start] = ends[line_start:count]
                    unfolded[kept : kept + count - line_start] = unfolded[line_start:count]
                    if find_sentences:
                        char_starts[kept : kept + count - line_start] = char_starts[line_start:count]
                        char_ends[kept : kept + count - line_start] = char_ends[line_start:count]
                        after_sentence_end[kept : kept + count - line_start] = after_sentence_end[line_start:count]
                        starts_line[kept] = True
                    kept += count - line_start
                    any_kept = True
                if any_kept:
                    count = kept
                line_start = count
        elif find_sentences and kind == 0 and not sentence_ended:
            sentence_ended = _ends_sentence(text, position, code_point, before, before_that, classes)
        position += width
        character += characters
        before_that, before = before, code_point
    for token in range(count):
        if unfolded[token]:
            return words, starts, ends, -1, char_starts, char_ends, after_sentence_end, starts_line, any_kept
    return words, starts, ends, count, char_starts, char_ends, after_sentence_end, starts_line, any_kept


@numba.njit(cache=True, nogil=True, inline="always")
def _is_stopword(
    text: npt.NDArray[np.uint8],
    start: int,
    end: int,
    slots: npt.NDArray[np.int32],
    offsets: npt.NDArray[np.int64],
    words: npt.NDArray[np.uint8],
    max_length: int,
) -> bool:
    length = end - start
    if length > max_length:
        return False
    mask = slots.shape[0] - 1
    slot = np.int64(xxh32(text, start, end)) & mask
    while slots[slot] >= 0:
        index = slots[slot]
        if offsets[index + 1] - offsets[index] == length:
            same = True
            for offset in range(length):
                if words[offsets[index] + offset] != text[start + offset]:
                    same = False
                    break
            if same:
                return True
        slot = (slot + 1) & mask
    return False


@numba.njit(cache=True, nogil=True)
def sign_utf8(
    text: npt.NDArray[np.uint8],
    classes: npt.NDArray[np.uint8],
    folded_offsets: npt.NDArray[np.int32],
    folded: npt.NDArray[np.uint8],
    expansion: int,
    stopword_slots: npt.NDArray[np.int32],
    stopword_offsets: npt.NDArray[np.int64],
    stopword_bytes: npt.NDArray[np.uint8],
    stopword_max_length: int,
    a: npt.NDArray[np.uint32],
    b: npt.NDArray[np.uint32],
    empty: npt.NDArray[np.uint32],
    shingle_words: int,
    passage_words: int,
    passage_stride: int,
    stem_length: int,
    min_line_words: int,
    second_count: int,
) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.uint32], bool]:
    """Return the MinHash rows of a UTF-8 text, the document's and then each passage's, and whether it qualified.

    The rows equal `MinHashSigner.hash_values([document_shingles(tokens), *passage features])` of
    `tokens = tokenize(text)`. The second array holds, for each passage, the second-smallest distinct value of
    each of its first `second_count` permutations (`MinHashSigner.second_values` of the same features; none
    when `second_count` is 0). When `_scan_tokens` turns the text down, there are no rows and the flag is False.
    """
    num_perm = a.shape[0]
    words, starts, ends, count, _, _, _, _, _ = _scan_tokens(
        text, classes, folded_offsets, folded, expansion, min_line_words, False
    )
    if count < 0:
        return np.empty((0, num_perm), dtype=np.uint32), np.empty((0, second_count), dtype=np.uint32), False
    # The kept words joined by spaces, so that every shingle is a slice: no copying per shingle.
    joined = np.empty(max(ends[count - 1] + count, 1) if count > 0 else 1, dtype=np.uint8)
    written = 0
    for token in range(count):
        if token > 0:
            joined[written] = _SPACE_BYTE
            written += 1
        start = written
        for offset in range(starts[token], ends[token]):
            joined[written] = words[offset]
            written += 1
        starts[token] = start
        ends[token] = written

    aligned_windows = max(count - passage_words, 0) // passage_stride + 1
    last_aligned_end = (aligned_windows - 1) * passage_stride + passage_words
    windows = aligned_windows + 1 if last_aligned_end < count else aligned_windows
    rows = np.full((1 + windows, num_perm), _MAX_HASH, dtype=np.uint32)
    # Row r of `seconds` belongs to row r of `rows`; the document's row 0 has none that is used.
    seconds = np.full((1 + windows, second_count), _MAX_HASH, dtype=np.uint32)

    # The document: word shingles " ".join(words[i : i + shingle_words]), or all words when there are fewer.
    if count == 0:
        rows[0] = empty
    for first in range(max(count - shingle_words + 1, 1) if count > 0 else 0):
        last = min(first + shingle_words, count) - 1
        _permute_min(_fmix32(xxh32(joined, starts[first], ends[last])), a, b, rows, 0)

    # The passages: each content word's stem (its first stem_length code points) hashed once.
    stem_hashes = np.empty(count, dtype=np.uint32)
    content = np.zeros(count, dtype=np.bool_)
    for token in range(count):
        if not _is_stopword(
            joined, starts[token], ends[token], stopword_slots, stopword_offsets, stopword_bytes, stopword_max_length
        ):
            content[token] = True
            stem_end = starts[token]
            characters = 0
            while stem_end < ends[token]:
                if joined[stem_end] & 0xC0 != 0x80:  # a lead byte starts the next code point
                    if characters == stem_length:
                        break
                    characters += 1
                stem_end += 1
            stem_hashes[token] = _fmix32(xxh32(joined, starts[token], stem_end))
    # Window starts are multiples of the stride and windows span passage_words, so every window is a union
    # of blocks of gcd(passage_words, passage_stride) tokens: permuting each token once, into its block, and
    # taking the minimum of a window's blocks halves the work of permuting each window's tokens.
    block_words, remainder = passage_words, passage_stride
    while remainder:
        block_words, remainder = remainder, block_words % remainder
    block_count = (count + block_words - 1) // block_words
    blocks = np.full((block_count, num_perm), _MAX_HASH, dtype=np.uint32)
    block_seconds = np.full((block_count, second_count), _MAX_HASH, dtype=np.uint32)
    block_has_content = np.zeros(block_count, dtype=np.bool_)
    for token in range(count):
        if content[token]:
            # Branched rather than always the combined kernel: with no second minima to keep, it signed a news
            # document in 76-81 µs against 73-76 for _permute_min alone (three runs each, alternating).
            if second_count:
                _permute_min_and_second(stem_hashes[token], a, b, blocks, block_seconds, token // block_words)
            else:
                _permute_min(stem_hashes[token], a, b, blocks, token // block_words)
            block_has_content[token // block_words] = True

    row = 1
    for window in range(windows):
        # The last window is aligned to the end of the text when the stride does not reach it.
        start = window * passage_stride if window < aligned_windows else count - passage_words
        end = min(start + passage_words, count)
        has_content = False
        if window < aligned_windows:
            for block in range(start // block_words, (end + block_words - 1) // block_words):
                if block_has_content[block]:
                    has_content = True
                    # A window's two smallest values are among its blocks' two smallest.
                    for permutation in range(second_count):
                        _insert(blocks[block, permutation], rows, seconds, row, permutation)
                        _insert(block_seconds[block, permutation], rows, seconds, row, permutation)
                    for permutation in range(second_count, num_perm):
                        rows[row, permutation] = min(rows[row, permutation], blocks[block, permutation])
        else:
            for token in range(start, end):
                if content[token]:
                    has_content = True
                    if second_count:
                        _permute_min_and_second(stem_hashes[token], a, b, rows, seconds, row)
                    else:
                        _permute_min(stem_hashes[token], a, b, rows, row)
        if has_content:  # a window of stopwords only has no features, and no passage (its row is reused)
            row += 1
    return rows[:row], seconds[1:row], True

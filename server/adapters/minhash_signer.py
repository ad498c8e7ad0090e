"""MinHashSigner: datasketch-identical MinHash signatures, for many feature sets at once or for a whole text."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final

import numpy as np
import numpy.typing as npt
import xxhash
from datasketch import MinHash

from server.adapters.compiled_signer import IMPLEMENTS_DOMAIN_PATTERNS, StopwordTable, character_tables, sign_utf8
from server.domain.passages import PASSAGE_STRIDE, PASSAGE_WORDS, SHINGLE_WORDS, cut_passages, document_shingles
from server.domain.tokenization import MIN_CONTENT_LINE_WORDS, STEM_LENGTH, STOPWORDS, tokenize

HASH_SCHEME: Final = "affine32"
HASH_FUNCTION: Final = "xxh32"


def token_hash(feature: bytes) -> int:
    """The token hash fed to MinHash: 32-bit xxHash, seed 0 (datasketch's `hashfunc`)."""
    return xxhash.xxh32_intdigest(feature)


class MinHashSigner:
    """Computes the same hash values as datasketch's `MinHash(scheme="affine32", hashfunc=token_hash)`.

    datasketch hashes each token in Python and then applies the permutations to one set at a time.
    Here the tokens of all of a document's passages are hashed in one pass and permuted in one
    matrix operation, and each passage's minimum is taken with `np.minimum.reduceat`. The arithmetic
    (MurmurHash3 finalizer, then `a * h + b` wrapping in uint32) is datasketch's own, so the values
    are identical; a test checks that against datasketch itself.

    `sign_text` goes further for the signatures of a text: it tokenises, shingles and signs it in one
    compiled pass (`compiled_signer`), with exactly the rows the domain's features give `hash_values`.
    """

    def __init__(self, num_perm: int = 128, seed: int = 1) -> None:
        reference = MinHash(num_perm=num_perm, seed=seed, scheme=HASH_SCHEME, hashfunc=token_hash)
        a, b = reference.permutations
        self.num_perm = num_perm
        self.seed = seed
        self._a: npt.NDArray[np.uint32] = np.asarray(a, dtype=np.uint32)
        self._b: npt.NDArray[np.uint32] = np.asarray(b, dtype=np.uint32)
        self._empty: npt.NDArray[np.uint32] = np.asarray(reference.hashvalues, dtype=np.uint32)
        self._stopwords = StopwordTable(STOPWORDS)

    def sign_text(self, text: str, passage_stride: int = PASSAGE_STRIDE) -> npt.NDArray[np.uint32]:
        r"""Return the rows of a text: its document shingles' first, then each of its passages'.

        The rows are exactly `hash_values([document_shingles(tokens), *(p.features for p in
        cut_passages(tokens, PASSAGE_WORDS, passage_stride))])` of `tokens = tokenize(text)`, for every text.
        They come from compiled code (`sign_text_compiled`) when the text qualifies, and from the domain and
        `hash_values` when not.

        >>> MinHashSigner().sign_text("Mosul fell.\nThe leader left the city last week, officials said.").shape
        (2, 128)
        """
        return self.sign_text_and_seconds(text, passage_stride, 0)[0]

    def sign_text_and_seconds(
        self, text: str, passage_stride: int, second_count: int
    ) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.uint32]]:
        """Return `sign_text(text, passage_stride)` and each passage's `second_values` of its first `second_count`.

        Both come from one compiled pass when the text qualifies (`sign_text_compiled`).
        """
        signed = self._signed_compiled(text, passage_stride, second_count)
        if signed is not None:
            return signed
        tokens = tokenize(text)
        features = [passage.features for passage in cut_passages(tokens, PASSAGE_WORDS, passage_stride)]
        return self.hash_values([document_shingles(tokens), *features]), self.second_values(features, second_count)

    def sign_text_compiled(self, text: str, passage_stride: int = PASSAGE_STRIDE) -> npt.NDArray[np.uint32] | None:
        """Return `sign_text(text, passage_stride)` computed in one compiled pass; None when the text does not qualify.

        A text qualifies unless a token that `tokenize` keeps (links masked, boilerplate lines dropped) has a
        character whose normal form the kernel does not table: a half-width katakana letter, a compatibility
        form (a ligature, a full-width or circled letter, a superscript), a Hangul jamo, a letter beyond the
        Basic Multilingual Plane, or a letter past U+1100 outside Latin Extended Additional, Greek Extended
        and the scripts written without spaces. So ASCII words with any punctuation, spaces, symbols or emoji
        around them (curly quotes, dashes, ellipses) qualify, and so do accented Latin, Greek, Cyrillic, CJK,
        Hangul syllables and Thai. The compiled code takes no lock and releases the GIL.
        """
        signed = self._signed_compiled(text, passage_stride, 0)
        return None if signed is None else signed[0]

    def _signed_compiled(
        self, text: str, passage_stride: int, second_count: int
    ) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.uint32]] | None:
        if not IMPLEMENTS_DOMAIN_PATTERNS:
            return None  # the domain tokenises otherwise than the kernel knows how to
        tables = character_tables()
        rows, seconds, qualified = sign_utf8(
            np.frombuffer(text.encode("utf-8", "surrogatepass"), dtype=np.uint8),
            tables.classes,
            tables.folded_offsets,
            tables.folded,
            tables.expansion,
            self._stopwords.slots,
            self._stopwords.offsets,
            self._stopwords.bytes,
            self._stopwords.max_length,
            self._a,
            self._b,
            self._empty,
            SHINGLE_WORDS,
            PASSAGE_WORDS,
            passage_stride,
            STEM_LENGTH,
            MIN_CONTENT_LINE_WORDS,
            second_count,
        )
        return (rows, seconds) if qualified else None

    def hash_values(self, feature_sets: Sequence[Iterable[str]]) -> npt.NDArray[np.uint32]:
        """Return one row of `num_perm` MinHash values per feature set (the empty-set value for an empty one)."""
        hashes: list[int] = []
        bounds: list[int] = []
        for features in feature_sets:
            bounds.append(len(hashes))
            hashes.extend(token_hash(feature.encode("utf-8")) for feature in features)
        result = np.tile(self._empty, (len(bounds), 1))
        if not hashes:
            return result
        mixed = _fmix32(np.asarray(hashes, dtype=np.uint32))
        permuted = mixed[:, np.newaxis] * self._a + self._b
        sizes = np.diff([*bounds, len(hashes)])
        nonempty = sizes > 0
        starts = np.asarray(bounds)[nonempty]
        result[nonempty] = np.minimum.reduceat(permuted, starts, axis=0)
        return result

    def second_values(self, feature_sets: Sequence[Iterable[str]], count: int) -> npt.NDArray[np.uint32]:
        """Return, per feature set, the second-smallest distinct value of each of the first `count` permutations.

        A set with one distinct value under a permutation (one feature, or features whose values collide) has
        2**32 - 1 there, the value of an empty MinHash. The reference for the compiled pass; see `probe_keys`.

        >>> signer = MinHashSigner()
        >>> int(signer.second_values([["a", "b"]], 1)[0, 0]) == int(signer.hash_values([["a", "b"]])[0, 0])
        False
        >>> int(signer.second_values([["a"]], 1)[0, 0]) == 2**32 - 1
        True
        """
        result = np.full((len(feature_sets), count), np.iinfo(np.uint32).max, dtype=np.uint32)
        if count == 0:
            return result
        columns = np.arange(count)
        for place, features in enumerate(feature_sets):
            hashes = np.asarray([token_hash(feature.encode("utf-8")) for feature in set(features)], dtype=np.uint32)
            if len(hashes) < 2:
                continue
            permuted = np.sort(_fmix32(hashes)[:, np.newaxis] * self._a[:count] + self._b[:count], axis=0)
            larger = permuted > permuted[0]
            found = larger.any(axis=0)
            first_larger = np.argmax(larger, axis=0)
            result[place, found] = permuted[first_larger[found], columns[found]]
        return result


def _fmix32(values: npt.NDArray[np.uint32]) -> npt.NDArray[np.uint32]:
    # MurmurHash3's 32-bit finalizer, as datasketch applies it before the affine permutations.
    values = values ^ (values >> np.uint32(16))
    values = values * np.uint32(0x85EBCA6B)
    values = values ^ (values >> np.uint32(13))
    values = values * np.uint32(0xC2B2AE35)
    return values ^ (values >> np.uint32(16))

"""MinHashSigner: datasketch-identical MinHash signatures, computed for many feature sets at once."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final

import numpy as np
import numpy.typing as npt
import xxhash
from datasketch import MinHash

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
    """

    def __init__(self, num_perm: int = 128, seed: int = 1) -> None:
        reference = MinHash(num_perm=num_perm, seed=seed, scheme=HASH_SCHEME, hashfunc=token_hash)
        a, b = reference.permutations
        self.num_perm = num_perm
        self.seed = seed
        self._a: npt.NDArray[np.uint32] = np.asarray(a, dtype=np.uint32)
        self._b: npt.NDArray[np.uint32] = np.asarray(b, dtype=np.uint32)
        self._empty: npt.NDArray[np.uint32] = np.asarray(reference.hashvalues, dtype=np.uint32)

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


def _fmix32(values: npt.NDArray[np.uint32]) -> npt.NDArray[np.uint32]:
    # MurmurHash3's 32-bit finalizer, as datasketch applies it before the affine permutations.
    values = values ^ (values >> np.uint32(16))
    values = values * np.uint32(0x85EBCA6B)
    values = values ^ (values >> np.uint32(13))
    values = values * np.uint32(0xC2B2AE35)
    return values ^ (values >> np.uint32(16))

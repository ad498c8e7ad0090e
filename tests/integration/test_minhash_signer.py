from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from datasketch import MinHash

from server.adapters.minhash_signer import HASH_SCHEME, MinHashSigner, token_hash

# Letters from several scripts, CJK, emoji and combining marks: whatever tokenisation can produce.
ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789 éøßçЖжπλ東京都市民アイウ한국어ไทย😀🙂\u0301\u200d-'"
SIZES = [0, 1, 2, 3, 7, 50, 128, 499, 1000, 2000]


def random_features(rng: np.random.Generator, size: int) -> list[str]:
    lengths = rng.integers(1, 13, size=size)
    characters = "".join(rng.choice(list(ALPHABET), size=int(lengths.sum())))
    ends = np.cumsum(lengths)
    # The position suffix keeps the features distinct, so a set of `size` has `size` members.
    return [
        f"{characters[end - length : end]}{position}"
        for position, (end, length) in enumerate(zip(ends, lengths, strict=True))
    ]


def datasketch_values(features: list[str], num_perm: int, seed: int) -> npt.NDArray[np.uint64]:
    minhash = MinHash(num_perm=num_perm, seed=seed, scheme=HASH_SCHEME, hashfunc=token_hash)
    minhash.update_batch([feature.encode("utf-8") for feature in features])
    return np.asarray(minhash.hashvalues)


@pytest.mark.parametrize("seed", [1, 42])
@pytest.mark.parametrize("num_perm", [64, 128, 256])
def test_hash_values_equal_datasketch_for_random_feature_sets(num_perm: int, seed: int) -> None:
    rng = np.random.default_rng(num_perm * 1000 + seed)
    sizes = SIZES + [int(size) for size in rng.integers(0, 2001, size=20)]
    feature_sets = [random_features(rng, size) for size in sizes]
    feature_sets = [feature_sets[position] for position in rng.permutation(len(feature_sets))]
    signer = MinHashSigner(num_perm=num_perm, seed=seed)

    rows = signer.hash_values(feature_sets)

    assert rows.shape == (len(feature_sets), num_perm)
    assert rows.dtype == np.uint32
    for row, features in zip(rows, feature_sets, strict=True):
        np.testing.assert_array_equal(row, datasketch_values(features, num_perm, seed))


def test_each_feature_set_is_signed_on_its_own_whatever_its_neighbours() -> None:
    rng = np.random.default_rng(7)
    feature_sets = [random_features(rng, size) for size in (5, 0, 300, 0, 0, 1, 40)]
    signer = MinHashSigner()

    together = signer.hash_values(feature_sets)

    for row, features in zip(together, feature_sets, strict=True):
        np.testing.assert_array_equal(row, signer.hash_values([features])[0])


def test_repeated_features_count_once() -> None:
    signer = MinHashSigner()

    np.testing.assert_array_equal(signer.hash_values([["a", "b", "a", "b"]])[0], signer.hash_values([["a", "b"]])[0])


def test_an_empty_feature_set_gets_the_empty_minhash() -> None:
    signer = MinHashSigner(num_perm=64, seed=3)

    rows = signer.hash_values([[], []])

    expected = MinHash(num_perm=64, seed=3, scheme=HASH_SCHEME, hashfunc=token_hash).hashvalues
    np.testing.assert_array_equal(rows[0], expected)
    np.testing.assert_array_equal(rows[1], expected)


def test_no_feature_sets_give_no_rows() -> None:
    assert MinHashSigner().hash_values([]).shape == (0, 128)


def test_equal_feature_sets_in_another_order_give_equal_signatures() -> None:
    features = random_features(np.random.default_rng(9), 200)
    signer = MinHashSigner()

    np.testing.assert_array_equal(signer.hash_values([features])[0], signer.hash_values([list(reversed(features))])[0])


def test_the_seed_changes_the_signature() -> None:
    features = [["mosul", "baghdadi", "desert"]]

    assert not np.array_equal(MinHashSigner(seed=1).hash_values(features), MinHashSigner(seed=2).hash_values(features))


def test_signatures_estimate_jaccard_like_datasketch() -> None:
    shared = [f"shared{index}" for index in range(300)]
    one = shared + [f"one{index}" for index in range(100)]
    other = shared + [f"other{index}" for index in range(100)]
    rows = MinHashSigner(num_perm=256).hash_values([one, other])

    estimate = float(np.mean(rows[0] == rows[1]))

    assert abs(estimate - 300 / 500) < 0.1

from __future__ import annotations

import unicodedata
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import xxhash
from datasketch import MinHash
from hypothesis import given, settings
from hypothesis import strategies as st

from server.adapters.compiled_signer import IMPLEMENTS_DOMAIN_PATTERNS, RUN, character_tables, xxh32
from server.adapters.minhash_signer import HASH_SCHEME, MinHashSigner, token_hash
from server.domain.passages import PASSAGE_STRIDE, PASSAGE_WORDS, cut_passages, document_shingles
from server.domain.tokenization import STOPWORDS, tokenize
from tests.text_strategies import ASCII_LINKS, ASCII_WORDS, OTHER_LINKS, OTHER_WORDS, TRICKY_TEXTS, texts

CORPUS = sorted((Path(__file__).resolve().parents[2] / "corpus").glob("*.txt"))

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


# sign_text: the compiled path must give exactly what the domain's features and hash_values give.
# The first test to sign compiles the kernels (some 8 s of CPU) unless numba's cache in __pycache__ has them.

SIGNER = MinHashSigner()
# The index probes with the second minima of its 63 banded values (21 bands of 3 rows).
SECOND_COUNT = 63


def reference_rows(text: str) -> npt.NDArray[np.uint32]:
    tokens = tokenize(text)
    return SIGNER.hash_values([document_shingles(tokens), *(passage.features for passage in cut_passages(tokens))])


def reference_seconds(text: str, stride: int = PASSAGE_STRIDE) -> npt.NDArray[np.uint32]:
    passages = cut_passages(tokenize(text), PASSAGE_WORDS, stride)
    return SIGNER.second_values([passage.features for passage in passages], SECOND_COUNT)


def assert_signs_like_the_reference(text: str) -> None:
    rows = SIGNER.sign_text(text)
    expected = reference_rows(text)
    assert rows.dtype == np.uint32
    assert rows.shape == expected.shape
    np.testing.assert_array_equal(rows, expected)
    with_seconds, seconds = SIGNER.sign_text_and_seconds(text, PASSAGE_STRIDE, SECOND_COUNT)
    np.testing.assert_array_equal(with_seconds, expected)
    assert seconds.dtype == np.uint32
    np.testing.assert_array_equal(seconds, reference_seconds(text))


def brute_force_seconds(features: list[str], count: int) -> list[int]:
    """The second-smallest distinct value per permutation, by Python integers from datasketch's parameters."""
    # The signer's first `count` permutations, of its 128.
    a, b = MinHash(num_perm=128, seed=1, scheme=HASH_SCHEME, hashfunc=token_hash).permutations
    hashes = {_fmix(token_hash(feature.encode("utf-8"))) for feature in features}
    seconds = []
    for permutation in range(count):
        values = sorted({(int(a[permutation]) * value + int(b[permutation])) % 2**32 for value in hashes})
        seconds.append(values[1] if len(values) > 1 else 2**32 - 1)
    return seconds


def _fmix(value: int) -> int:
    # MurmurHash3's finalizer in Python integers, as datasketch applies it before permuting.
    value ^= value >> 16
    value = (value * 0x85EBCA6B) % 2**32
    value ^= value >> 13
    value = (value * 0xC2B2AE35) % 2**32
    return value ^ (value >> 16)


@pytest.mark.parametrize("size", [0, 1, 2, 3, 50, 500])
def test_second_values_are_each_permutations_second_smallest_distinct_value(size: int) -> None:
    features = random_features(np.random.default_rng(size), size)
    # A repeated feature is one member of the set, not a second value equal to the first.
    repeated = features + features[:2]

    seconds = MinHashSigner().second_values([repeated], 8)

    assert seconds.tolist() == [brute_force_seconds(features, 8)]
    if size:
        assert (seconds[0] > MinHashSigner().hash_values([features])[0, :8]).all()


def test_xxh32_equals_xxhash_on_random_bytes_of_every_length_up_to_100() -> None:
    rng = np.random.default_rng(5)
    for length in range(101):
        for offset in (0, 1, 3):
            data = rng.integers(0, 256, size=offset + length + 2, dtype=np.uint8)
            expected = xxhash.xxh32_intdigest(data[offset : offset + length].tobytes())
            assert int(xxh32(data, offset, offset + length)) == expected, (length, offset)


def test_the_kernel_implements_the_domains_token_and_link_patterns() -> None:
    # When this fails, the domain changed how it tokenises: sign_text falls back to the reference path
    # (still exact, but slow) until compiled_signer learns the new patterns.
    assert IMPLEMENTS_DOMAIN_PATTERNS


@pytest.mark.parametrize("stride", [1, 7, 10, 50])
def test_seed_articles_sign_like_the_reference_at_other_passage_strides(stride: int) -> None:
    for path in CORPUS:
        text = path.read_text(encoding="utf-8")
        tokens = tokenize(text)
        passages = cut_passages(tokens, PASSAGE_WORDS, stride)
        expected = SIGNER.hash_values([document_shingles(tokens), *(passage.features for passage in passages)])

        compiled = SIGNER.sign_text_compiled(text, stride)

        assert compiled is not None
        np.testing.assert_array_equal(compiled, expected)
        np.testing.assert_array_equal(SIGNER.sign_text(text, stride), expected)
        rows, seconds = SIGNER.sign_text_and_seconds(text, stride, SECOND_COUNT)
        np.testing.assert_array_equal(rows, expected)
        np.testing.assert_array_equal(seconds, reference_seconds(text, stride))


@pytest.mark.parametrize("path", CORPUS, ids=lambda path: path.stem)
def test_seed_articles_sign_like_the_reference_on_the_compiled_path(path: Path) -> None:
    text = path.read_text(encoding="utf-8")

    compiled = SIGNER.sign_text_compiled(text)

    assert compiled is not None  # curly quotes, dashes, links and a Cyrillic byline keep it compiled
    np.testing.assert_array_equal(compiled, reference_rows(text))
    assert_signs_like_the_reference(text)


def test_ascii_news_text_takes_the_compiled_path() -> None:
    text = "\n".join(
        [
            "By Staff Reporter",
            "The leader of Islamic State left Mosul last week, leaving the fight to local commanders.",
            "Officials said on Tuesday \u201cthe city is nearly surrounded\u201d \u2014 and aid is on the way\u2026",
            "Follow @reporter or read https://example.com/story for more.",
        ]
    )

    assert SIGNER.sign_text_compiled(text) is not None
    assert_signs_like_the_reference(text)


def test_a_long_unpunctuated_text_signs_like_the_reference() -> None:
    rng = np.random.default_rng(3)
    vocabulary = [*sorted(STOPWORDS), *(f"word{index}" for index in range(400))]
    text = " ".join(rng.choice(vocabulary, size=6000))

    assert SIGNER.sign_text_compiled(text) is not None
    assert_signs_like_the_reference(text)


@pytest.mark.parametrize("text", TRICKY_TEXTS)
def test_tricky_texts_sign_like_the_reference(text: str) -> None:
    assert_signs_like_the_reference(text)


def test_texts_the_kernel_turns_down_still_sign_like_the_reference() -> None:
    text = "The \ufb01rst line has a ligature in it\nand the second line is plain"

    assert SIGNER.sign_text_compiled(text) is None
    assert_signs_like_the_reference(text)


def test_signatures_of_text_equal_datasketch_fed_the_same_features() -> None:
    text = CORPUS[0].read_text(encoding="utf-8")
    tokens = tokenize(text)
    feature_sets = [document_shingles(tokens), *(passage.features for passage in cut_passages(tokens))]
    signer = MinHashSigner(num_perm=64, seed=42)

    rows = signer.sign_text(text)

    assert rows.shape == (len(feature_sets), 64)
    for row, features in zip(rows, feature_sets, strict=True):
        np.testing.assert_array_equal(row, datasketch_values(sorted(features), 64, 42))


def test_signing_from_threads_gives_the_same_rows() -> None:
    texts = [path.read_text(encoding="utf-8") for path in CORPUS] * 4
    expected = [SIGNER.sign_text(text) for text in texts]

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(SIGNER.sign_text, texts))

    for rows, wanted in zip(results, expected, strict=True):
        np.testing.assert_array_equal(rows, wanted)


def test_no_character_with_a_per_character_normal_form_composes_with_the_one_before_it() -> None:
    # The kernel normalises a run of word characters one character at a time. That is NFKC only when no
    # character of the run composes with the one before it: the second of a canonical pair, or a Hangul
    # vowel or trailing consonant. Such characters must have no tabled normal form (they leave the compiled path).
    tables = character_tables()
    tabled = np.flatnonzero(np.diff(tables.folded_offsets) > 0)
    runs = {int(code_point) for code_point in tabled if tables.classes[code_point] & RUN}
    seconds = set(range(0x1161, 0x1176)) | set(range(0x11A8, 0x11C3))
    for code_point in range(0x110000):
        decomposition = unicodedata.decomposition(chr(code_point)).split()
        if len(decomposition) == 2 and not decomposition[0].startswith("<"):
            seconds.add(int(decomposition[1], 16))
    assert not runs & seconds


@settings(max_examples=300, deadline=None)
@given(text=st.one_of(texts(st.one_of(ASCII_WORDS, OTHER_WORDS), st.one_of(ASCII_LINKS, OTHER_LINKS)), st.text()))
def test_sign_text_equals_the_reference_for_any_text(text: str) -> None:
    assert_signs_like_the_reference(text)


@settings(max_examples=100, deadline=None)
@given(text=texts(ASCII_WORDS, ASCII_LINKS))
def test_ascii_words_with_any_punctuation_and_links_take_the_compiled_path(text: str) -> None:
    compiled = SIGNER.sign_text_compiled(text)

    assert compiled is not None
    np.testing.assert_array_equal(compiled, reference_rows(text))

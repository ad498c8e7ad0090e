"""Compiled SentenceWeights: the seed sentence pairs of two texts and the cosines of runs of their sentences.

In pure Python, finding seeds was about half of comparing two related news texts (counting the stems each
sentence pair shares, then weighing the pairs that pass the Dice bar), and weighing the runs of sentences a
fragment spans was a large part of the rest: each run's stems counted, weighed and normalised in dictionaries, a
few hundred stems at a time. Here the stems of each text are numbered once (SentenceIndex.stem_numbers), and
seeds and runs are compiled passes over those numbers.

The results are the reference's (alignment.weigh), pair for pair and cosine for cosine: the same integer
tests, the same products and quotients summed in the same order (stems in order of first appearance, as a
Counter holds them), the C library's logarithm on both sides. That holds to the last bit on Python 3.11; from
3.12, sum() compensates its rounding, and the reference may differ in the last bits
(tests/integration/test_compiled_weights.py allows for that).
"""

from __future__ import annotations

import array
import math
from collections.abc import Sequence

import numba
import numpy as np
import numpy.typing as npt

from server.domain.alignment import SEED_COSINE, SEED_DICE, SentenceIndex, SentenceWeights, weighing_sentences

_Ints = npt.NDArray[np.int64]
_Floats = npt.NDArray[np.float64]


def weigh(a: SentenceIndex, b: SentenceIndex) -> SentenceWeights:
    """Return what alignment.weigh returns for `a` and `b`, compiled.

    >>> from server.domain.alignment import index_sentences
    >>> from server.domain.tokenization import tokenize
    >>> copy = index_sentences(tokenize("Floods closed the old bridge. The mayor spoke to the press on Monday."))
    >>> source = index_sentences(tokenize("The mayor spoke to reporters on Monday. Rain fell all week."))
    >>> weights = weigh(copy, source)
    >>> {pair: round(cosine, 3) for pair, cosine in weights.seeds().items()}
    {(1, 0): 0.407}
    >>> round(weights.cosine(range(2), range(1)), 3)
    0.253
    """
    vocabulary_a, stems_a, starts_a = _numbered(a)
    vocabulary_b, stems_b, starts_b = _numbered(b)
    # Each of a's stems as b numbers it, -1 where b lacks it: one look-up per stem, in a's numbering order.
    to_b = _int64s([vocabulary_b.get(stem, -1) for stem in vocabulary_a])
    if not len(to_b) or to_b.max() < 0:
        return _NOTHING_SHARED
    sentences = weighing_sentences(a, b)
    weights_a, weights_b, rows_a, rows_b, cosines = _weighed(
        stems_a, starts_a, len(vocabulary_a), stems_b, starts_b, len(vocabulary_b), to_b, sentences
    )
    seeds = dict(zip(zip(rows_a.tolist(), rows_b.tolist(), strict=True), cosines.tolist(), strict=True))
    return _CompiledWeights(seeds, (stems_a, starts_a, weights_a), (stems_b, starts_b, weights_b), to_b)


class _CompiledWeights:
    def __init__(
        self,
        seeds: dict[tuple[int, int], float],
        side_a: tuple[_Ints, _Ints, _Floats],
        side_b: tuple[_Ints, _Ints, _Floats],
        to_b: _Ints,
    ) -> None:
        self._seeds = seeds
        self._side_a, self._side_b, self._to_b = side_a, side_b, to_b

    def seeds(self) -> dict[tuple[int, int], float]:
        return self._seeds

    def cosine(self, rows_a: Sequence[int], rows_b: Sequence[int]) -> float:
        return float(_run_cosine(*self._side_a, _rows(rows_a), *self._side_b, _rows(rows_b), self._to_b))


class _NothingShared:
    """Two texts without a stem in common: no seeds, and every cosine 0."""

    def seeds(self) -> dict[tuple[int, int], float]:
        return {}

    def cosine(self, rows_a: Sequence[int], rows_b: Sequence[int]) -> float:
        return 0.0


_NOTHING_SHARED = _NothingShared()


def _rows(rows: Sequence[int]) -> _Ints:
    if isinstance(rows, range):
        return np.arange(rows.start, rows.stop, rows.step, dtype=np.int64)
    return _int64s(list(rows))


def _numbered(text: SentenceIndex) -> tuple[dict[str, int], _Ints, _Ints]:
    """Return the text's stem numbers (SentenceIndex.stem_numbers) as numpy arrays over the same memory."""
    vocabulary, numbers, starts = text.stem_numbers
    return vocabulary, np.frombuffer(numbers, dtype=np.int64), np.frombuffer(starts, dtype=np.int64)


def _int64s(values: list[int]) -> _Ints:
    # Through array.array: numpy's constructor inspects each element of a list, which took as long as the numbering.
    return np.frombuffer(array.array("q", values), dtype=np.int64)


@numba.njit(cache=True, nogil=True)
def _counted(stems: _Ints, starts: _Ints, vocabulary_size: int) -> tuple[_Ints, _Floats, _Ints, _Ints]:
    """Return each sentence's distinct stems, with their counts, and how many sentences hold each stem.

    A sentence's stems are in order of first appearance, as a Counter holds them; `bounds` says where each
    sentence's begin.
    """
    slot = np.full(vocabulary_size, -1, dtype=np.int64)
    distinct = np.empty(len(stems), dtype=np.int64)
    counts = np.zeros(len(stems), dtype=np.float64)
    bounds = np.zeros(len(starts), dtype=np.int64)
    frequency = np.zeros(vocabulary_size, dtype=np.int64)
    size = 0
    for sentence in range(len(starts) - 1):
        first = size
        for place in range(starts[sentence], starts[sentence + 1]):
            stem = stems[place]
            # A slot before this sentence's first is an earlier sentence's: the stem is new to this one.
            if slot[stem] < first:
                slot[stem] = size
                distinct[size] = stem
                frequency[stem] += 1
                size += 1
            counts[slot[stem]] += 1.0
        bounds[sentence + 1] = size
    return distinct[:size], counts[:size], bounds, frequency


@numba.njit(cache=True, nogil=True)
def _weights(frequency: _Ints, other_frequency: _Ints, to_other: _Ints, sentences: int) -> _Floats:
    # As alignment._InverseSentenceFrequency: an integer quotient taken as a float, then its logarithm.
    weights = np.empty(len(frequency), dtype=np.float64)
    for stem in range(len(frequency)):
        holding = frequency[stem]
        if to_other[stem] >= 0:
            holding += other_frequency[to_other[stem]]
        weights[stem] = math.log((sentences + 1) / holding)
    return weights


@numba.njit(cache=True, nogil=True)
def _norms(distinct: _Ints, counts: _Floats, bounds: _Ints, weights: _Floats) -> _Floats:
    norms = np.zeros(len(bounds) - 1, dtype=np.float64)
    for sentence in range(len(bounds) - 1):
        total = 0.0
        for place in range(bounds[sentence], bounds[sentence + 1]):
            value = counts[place] * weights[distinct[place]]
            total += value * value
        norms[sentence] = math.sqrt(total)
    return norms


@numba.njit(cache=True, nogil=True)
def _weighed(
    stems_a: _Ints,
    starts_a: _Ints,
    vocabulary_a: int,
    stems_b: _Ints,
    starts_b: _Ints,
    vocabulary_b: int,
    to_b: _Ints,
    sentences: int,
) -> tuple[_Floats, _Floats, _Ints, _Ints, _Floats]:
    """Return the weights of a's and b's stems, and the seeds: a's rows, b's rows and the cosines."""
    distinct_a, counts_a, bounds_a, frequency_a = _counted(stems_a, starts_a, vocabulary_a)
    distinct_b, counts_b, bounds_b, frequency_b = _counted(stems_b, starts_b, vocabulary_b)
    to_a = np.full(vocabulary_b, -1, dtype=np.int64)
    for stem in range(vocabulary_a):
        if to_b[stem] >= 0:
            to_a[to_b[stem]] = stem
    weights_a = _weights(frequency_a, frequency_b, to_b, sentences)
    weights_b = _weights(frequency_b, frequency_a, to_a, sentences)
    norms_a = _norms(distinct_a, counts_a, bounds_a, weights_a)
    norms_b = _norms(distinct_b, counts_b, bounds_b, weights_b)
    # b's sentences by stem, in order (its postings).
    posting_starts = np.zeros(vocabulary_b + 1, dtype=np.int64)
    posting_starts[1:] = np.cumsum(frequency_b)
    filled = posting_starts[:-1].copy()
    posting_rows = np.empty(len(distinct_b), dtype=np.int64)
    for sentence in range(len(bounds_b) - 1):
        for place in range(bounds_b[sentence], bounds_b[sentence + 1]):
            stem = distinct_b[place]
            posting_rows[filled[stem]] = sentence
            filled[stem] += 1
    # For each sentence of a, the stems it shares with each sentence of b, counted in one pass over its stems.
    shared = np.zeros(len(bounds_b) - 1, dtype=np.int64)
    met = np.empty(len(bounds_b) - 1, dtype=np.int64)
    rows_a, rows_b, cosines = [], [], []
    for i in range(len(bounds_a) - 1):
        met_count = 0
        for place in range(bounds_a[i], bounds_a[i + 1]):
            stem = to_b[distinct_a[place]]
            if stem < 0:
                continue
            for posting in range(posting_starts[stem], posting_starts[stem + 1]):
                j = posting_rows[posting]
                if shared[j] == 0:
                    met[met_count] = j
                    met_count += 1
                shared[j] += 1
        size_a = bounds_a[i + 1] - bounds_a[i]
        for index in range(met_count):
            j = met[index]
            overlap = shared[j]
            shared[j] = 0
            if 2 * overlap / (size_a + bounds_b[j + 1] - bounds_b[j]) < SEED_DICE:
                continue
            # The dot product of the two normalised vectors, summed over a's stems in their order, as alignment._dot.
            cosine = 0.0
            for place in range(bounds_a[i], bounds_a[i + 1]):
                stem_a = distinct_a[place]
                stem = to_b[stem_a]
                if stem < 0:
                    continue
                for other in range(bounds_b[j], bounds_b[j + 1]):
                    if distinct_b[other] == stem:
                        value_a = counts_a[place] * weights_a[stem_a] / norms_a[i]
                        value_b = counts_b[other] * weights_b[stem] / norms_b[j]
                        cosine += value_a * value_b
                        break
            if cosine >= SEED_COSINE:
                rows_a.append(i)
                rows_b.append(j)
                cosines.append(cosine)
    return (
        weights_a,
        weights_b,
        np.array(rows_a, dtype=np.int64),
        np.array(rows_b, dtype=np.int64),
        np.array(cosines, dtype=np.float64),
    )


@numba.njit(cache=True, nogil=True)
def _run_counts(stems: _Ints, starts: _Ints, rows: _Ints, vocabulary_size: int) -> tuple[_Floats, _Ints]:
    """Return the stem counts of sentences `rows` taken together, and their stems in order of first appearance."""
    counts = np.zeros(vocabulary_size, dtype=np.float64)
    size = 0
    for row in rows:
        # Checked because compiled code reads past an array's end without a word; the reference raises IndexError.
        if row < 0 or row >= len(starts) - 1:
            raise IndexError("sentence row out of range")
        size += starts[row + 1] - starts[row]
    order = np.empty(size, dtype=np.int64)
    distinct = 0
    for row in rows:
        for place in range(starts[row], starts[row + 1]):
            stem = stems[place]
            if counts[stem] == 0.0:
                order[distinct] = stem
                distinct += 1
            counts[stem] += 1.0
    return counts, order[:distinct]


@numba.njit(cache=True, nogil=True)
def _run_norm(counts: _Floats, order: _Ints, weights: _Floats) -> float:
    total = 0.0
    for stem in order:
        value = counts[stem] * weights[stem]
        total += value * value
    return math.sqrt(total)


@numba.njit(cache=True, nogil=True)
def _run_cosine(
    stems_a: _Ints,
    starts_a: _Ints,
    weights_a: _Floats,
    rows_a: _Ints,
    stems_b: _Ints,
    starts_b: _Ints,
    weights_b: _Floats,
    rows_b: _Ints,
    to_b: _Ints,
) -> float:
    """The cosine of sentences `rows_a` of a against `rows_b` of b, as alignment._WeighedSentences.cosine makes it."""
    counts_a, order_a = _run_counts(stems_a, starts_a, rows_a, len(weights_a))
    counts_b, order_b = _run_counts(stems_b, starts_b, rows_b, len(weights_b))
    norm_a = _run_norm(counts_a, order_a, weights_a)
    norm_b = _run_norm(counts_b, order_b, weights_b)
    if norm_a == 0.0 or norm_b == 0.0:
        return 0.0
    # Each side normalised first, then the products summed over a's stems in their order, as alignment._dot.
    cosine = 0.0
    for stem in order_a:
        other = to_b[stem]
        if other < 0 or counts_b[other] == 0.0:
            continue
        cosine += counts_a[stem] * weights_a[stem] / norm_a * (counts_b[other] * weights_b[other] / norm_b)
    return cosine

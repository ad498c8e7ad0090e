"""MinHashLshIndex: the SignatureIndex: datasketch-equal MinHash signatures, banded into a compact BandIndex."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
from datasketch import MinHashLSH

from server.adapters.band_index import SAVE_WINDOWS, BandIndex
from server.adapters.minhash_signer import HASH_FUNCTION, HASH_SCHEME, MinHashSigner
from server.domain.model import IndexParameters
from server.domain.passages import (
    INDEX_STRIDE,
    INDEX_STRIDES,
    PASSAGE_STRIDE,
    PASSAGE_WORDS,
    SCREENING_PROBES,
    SHINGLE_WORDS,
)
from server.domain.ports import Signatures

# Passages of a rewrite keep about a third or more of their content stems (measured on the seed
# rewrite: best windows 0.7, unrelated reports on the same event at most 0.2).
PASSAGE_THRESHOLD: Final = 0.3
# Candidates whose closest passage pair is estimated below the threshold by more than three standard
# errors of a MinHash estimate (sqrt(J(1-J)/num_perm), 0.04 at 128 values) are chance band collisions:
# two texts on one subject sharing a few names. Their texts are not read or aligned.
CLOSENESS_STANDARD_ERRORS: Final = 3.0
# Candidates that the link graph suggests (`alike`) need one standard error less: of the second-hop candidates of
# PAN-13 (seed 1, 33,740 verified without a bar), 6,882 reach it, and 333 of the 336 found related.
ALIKE_STANDARD_ERRORS: Final = 4.0
# A document whose closest passage pair is estimated below the threshold must be close to at least this many of
# the query's passages (every 25 words, whatever the screening stride), counting all pairs, not only those that
# met in a band. Of the thousands of passage pairs that collide, the closest is the largest of many noisy
# estimates, and a text on the same subject reaches the floor in one pair by chance; reuse of two sentences or
# more fills overlapping query passages, each close to the stored window it shares. On the 1M-document news
# benchmark store (400 queries, half of them stored texts) this dropped 3,917 of the 4,700 candidates that were
# then verified unrelated and none of the 699 related ones; on PAN-13 (400 suspicious documents, seed 1) 651 of
# 1,687 unrelated and 10 of 2,669 related, two of them labelled (short translated passages); of verbatim runs of
# 30 and 40 words placed in unrelated pages it lost 3 of 44 and 2 of 66, and none from 50 words up. A query or a
# document with a single passage (a sentence, a short note) is exempt: it has no second one.
CORROBORATING_PASSAGES: Final = 2
# Banding uses the first 64 of the signature's values: datasketch's optimum for 0.3 over 64 values is
# 21 bands of 3, an 8-byte entry each, so a stored passage costs 168 bytes. All 128 values (37 bands)
# would cost 296 bytes for a recall gain only on passages already near the threshold.
BANDED_PERMUTATIONS: Final = 64


class MinHashLshIndex:
    """Finds candidate documents by their passages' MinHash signatures, banded as in datasketch's MinHashLSH.

    Stored documents are indexed at every other passage by default (a window of 50 words every
    `index_stride` = 50 words), while a query uses all its passages (every 25 words): any 75-word run of
    reused text still fills one query window that overlaps a stored window by at least 37 words, and the
    index keeps half the entries. With `index_stride` 25 every passage is stored: twice the index memory,
    for shorter reworded passages that straddle two stored windows.
    A whole copy needs no index of its own: every one of its passages collides in every band.

    With a `screening_stride` below the passage stride, a query is screened with windows taken that much
    more often (signed apart, and never stored): a stored window that lies inside a reused run then meets a
    query window overlapping it by at least 50 - stride / 2 words, not 37. Reworded text, whose windows are
    less alike to begin with, collides more often; so do texts that only share a subject, which then cost a
    verification.

    With `probes` above 0, the windows a text is screened with carry the second minima of their banded values
    (`Signatures.second_minima`), and also meet stored windows under each band's key with one of its first
    `probes` values swapped for its second minimum (`band_index.probe_keys`): with all three, reworded windows
    meet their source's about twice as often, for nothing stored, and screening does about three times the work.
    """

    def __init__(
        self,
        num_perm: int = 128,
        seed: int = 1,
        passage_threshold: float = PASSAGE_THRESHOLD,
        directory: Path | None = None,
        save_windows: int = SAVE_WINDOWS,
        screening_stride: int = PASSAGE_STRIDE,
        merge_in_background: bool = False,
        index_stride: int = INDEX_STRIDE,
        probes: int = SCREENING_PROBES,
    ) -> None:
        if not 1 <= screening_stride <= PASSAGE_WORDS:
            raise ValueError(f"screening_stride must be in [1, {PASSAGE_WORDS}] words, got {screening_stride}")
        if index_stride not in INDEX_STRIDES:
            raise ValueError(f"index_stride must be one of {INDEX_STRIDES} words, got {index_stride}")
        self._stored_step = index_stride // PASSAGE_STRIDE
        self._screening_stride = screening_stride
        self._signer = MinHashSigner(num_perm=num_perm, seed=seed)
        banded = min(num_perm, BANDED_PERMUTATIONS)
        # datasketch chooses the bands and rows; BandIndex lays out band j over the same values as it does.
        optimum = MinHashLSH(threshold=passage_threshold, num_perm=banded)
        if not 0 <= probes <= optimum.r:
            raise ValueError(
                f"screening_probes must be from 0 (no probes) to {optimum.r} (each value of a band), got {probes}"
            )
        self._bands = BandIndex(
            optimum.b,
            optimum.r,
            directory,
            save_windows,
            sketch_width=num_perm,
            merge_in_background=merge_in_background,
            window_stride=index_stride,
            probes=probes,
        )
        # Second minima of the banded values, for the probe keys (band_index.probe_keys).
        self._second_count = optimum.b * optimum.r if probes else 0
        standard_error = math.sqrt(passage_threshold * (1.0 - passage_threshold) / num_perm)
        self._closeness_floor = passage_threshold - CLOSENESS_STANDARD_ERRORS * standard_error
        self._alike_floor = passage_threshold - ALIKE_STANDARD_ERRORS * standard_error
        self._parameters = IndexParameters(
            num_perm=num_perm,
            hash_scheme=HASH_SCHEME,
            hash_function=HASH_FUNCTION,
            seed=seed,
            shingle_words=SHINGLE_WORDS,
            passage_words=PASSAGE_WORDS,
            passage_stride=PASSAGE_STRIDE,
            document_threshold=0.0,
            passage_threshold=passage_threshold,
            document_bands=0,
            document_rows=0,
            passage_bands=optimum.b,
            passage_rows=optimum.r,
        )

    @property
    def parameters(self) -> IndexParameters:
        return self._parameters

    def sign(self, text: str) -> Signatures:
        screened_apart = self._screening_stride != PASSAGE_STRIDE
        rows, seconds = self._signer.sign_text_and_seconds(
            text, PASSAGE_STRIDE, 0 if screened_apart else self._second_count
        )
        screening: tuple[bytes, ...] = ()
        if screened_apart:
            screening_rows, seconds = self._signer.sign_text_and_seconds(
                text, self._screening_stride, self._second_count
            )
            screening = tuple(row.tobytes() for row in screening_rows[1:])
        return Signatures(
            document=rows[0].tobytes(),
            passages=tuple(row.tobytes() for row in rows[1:]),
            screening=screening,
            second_minima=tuple(row.tobytes() for row in seconds) if self._second_count else (),
        )

    def add(self, sequence: int, signatures: Signatures) -> None:
        stored = self._stored_rows(signatures)
        if len(stored):
            self._bands.add(sequence, stored)

    def _stored_rows(self, signatures: Signatures) -> npt.NDArray[np.uint32]:
        """Return the passage rows a document is indexed at: every index_stride words, and the last passage."""
        passages = _rows(signatures.passages)
        if len(passages) == 0:
            return passages
        stored = list(range(0, len(passages), self._stored_step))
        if stored[-1] != len(passages) - 1:
            stored.append(len(passages) - 1)
        return passages[stored]

    def remove(self, sequence: int) -> None:
        self._bands.remove(sequence)

    def screen(self, signatures: Signatures, max_pairs: int) -> dict[int, float]:
        """Return stored documents with a passage close to one of the query's, each with that closeness.

        Closeness is the estimated Jaccard similarity of the closest pair of passages that collide in a band,
        from their sketches (the low byte of all 128 values); documents estimated below the floor are chance
        collisions and left out.
        """
        return self._screened([(signatures, None)], max_pairs)[0]

    def alike(self, signatures: Signatures, sequences: Iterable[int]) -> set[int]:
        close = self._bands.close_windows(_rows(signatures.passages), sequences, self._alike_floor)
        return {sequence for sequence, (close_passages, _) in close.items() if close_passages}

    def add_and_screen(self, documents: Sequence[tuple[int, Signatures]], max_pairs: int) -> list[dict[int, float]]:
        # Screened in one pass once all are added, each against the sequences below its own (BandIndex.screen_many).
        self._bands.add_many([(sequence, self._stored_rows(signatures)) for sequence, signatures in documents])
        return self._screened([(signatures, sequence) for sequence, signatures in documents], max_pairs)

    def _screened(self, queries: Sequence[tuple[Signatures, int | None]], max_pairs: int) -> list[dict[int, float]]:
        passages = [_rows(signatures.passages) for signatures, _ in queries]
        # BandIndex.screen_many answers a query without rows with nothing, and so does _corroborated.
        closeness = self._bands.screen_many(
            [
                (_rows(signatures.screening) if signatures.screening else query_passages, bound)
                for (signatures, bound), query_passages in zip(queries, passages, strict=True)
            ],
            self._closeness_floor,
            max_pairs,
            [_rows(signatures.second_minima) if signatures.second_minima else None for signatures, _ in queries],
        )
        return [
            self._corroborated(found, query_passages) for found, query_passages in zip(closeness, passages, strict=True)
        ]

    def _corroborated(self, closeness: dict[int, float], passages: npt.NDArray[np.uint32]) -> dict[int, float]:
        """Drop the documents below the passage threshold that too few query passages are close to."""
        if len(passages) < CORROBORATING_PASSAGES:
            return closeness
        threshold = self._parameters.passage_threshold
        weak = [sequence for sequence, value in closeness.items() if value < threshold]
        if not weak:
            return closeness
        close_windows = self._bands.close_windows(passages, weak, self._closeness_floor)
        return {
            sequence: value
            for sequence, value in closeness.items()
            if value >= threshold or (sequence in close_windows and _corroborates(*close_windows[sequence]))
        }

    def checkpoint(self) -> None:
        self._bands.checkpoint()

    def close(self) -> None:
        self._bands.close()

    def restore(self, stored_sequences: Iterable[int]) -> set[int]:
        return self._bands.restore(stored_sequences)

    def memory_bytes(self) -> int:
        return self._bands.memory_bytes()

    def __len__(self) -> int:
        return len(self._bands)


def _corroborates(close_passages: int, stored_windows: int) -> bool:
    return close_passages >= CORROBORATING_PASSAGES or stored_windows < CORROBORATING_PASSAGES


def _rows(passages: Sequence[bytes]) -> npt.NDArray[np.uint32]:
    if not passages:
        return np.zeros((0, 0), dtype=np.uint32)
    return np.frombuffer(b"".join(passages), dtype=np.uint32).reshape(len(passages), -1)

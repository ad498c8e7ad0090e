"""MinHashLshIndex: a SignatureIndex over datasketch MinHashLSH, one index for documents, one for passages."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Final

import numpy as np
from datasketch import LeanMinHash, MinHashLSH

from server.adapters.minhash_signer import HASH_FUNCTION, HASH_SCHEME, MinHashSigner
from server.domain.model import IndexParameters
from server.domain.passages import PASSAGE_STRIDE, PASSAGE_WORDS, SHINGLE_WORDS
from server.domain.ports import Signatures

# Whole copies share most of their 5-word shingles; 0.5 still catches a copy with a changed lead.
DOCUMENT_THRESHOLD: Final = 0.5
# Passages of a rewrite keep about a third or more of their content stems (measured on the seed
# rewrite: best windows 0.7, unrelated reports on the same event at most 0.2).
PASSAGE_THRESHOLD: Final = 0.3


class MinHashLshIndex:
    """Finds candidate documents through datasketch MinHashLSH, at document and passage level."""

    def __init__(
        self,
        num_perm: int = 128,
        seed: int = 1,
        document_threshold: float = DOCUMENT_THRESHOLD,
        passage_threshold: float = PASSAGE_THRESHOLD,
    ) -> None:
        self._signer = MinHashSigner(num_perm=num_perm, seed=seed)
        self._documents = MinHashLSH(threshold=document_threshold, num_perm=num_perm)
        self._passages = MinHashLSH(threshold=passage_threshold, num_perm=num_perm)
        self._passage_counts: dict[str, int] = {}
        # MinHashLSH is not thread-safe, and gRPC serves requests from a thread pool.
        self._lock = threading.Lock()
        self._parameters = IndexParameters(
            num_perm=num_perm,
            hash_scheme=HASH_SCHEME,
            hash_function=HASH_FUNCTION,
            seed=seed,
            shingle_words=SHINGLE_WORDS,
            passage_words=PASSAGE_WORDS,
            passage_stride=PASSAGE_STRIDE,
            document_threshold=document_threshold,
            passage_threshold=passage_threshold,
            document_bands=self._documents.b,
            document_rows=self._documents.r,
            passage_bands=self._passages.b,
            passage_rows=self._passages.r,
        )

    @property
    def parameters(self) -> IndexParameters:
        return self._parameters

    def sign(self, document_features: Iterable[str], passage_features: Sequence[Iterable[str]]) -> Signatures:
        rows = self._signer.hash_values([document_features, *passage_features])
        return Signatures(document=rows[0].tobytes(), passages=tuple(row.tobytes() for row in rows[1:]))

    def add(self, document_id: str, signatures: Signatures) -> None:
        document = self._minhash(signatures.document)
        passages = [self._minhash(passage) for passage in signatures.passages]
        with self._lock:
            if document_id in self._passage_counts:
                self._remove_locked(document_id)
            self._documents.insert(document_id, document, check_duplication=False)
            for position, passage in enumerate(passages):
                self._passages.insert((document_id, position), passage, check_duplication=False)
            self._passage_counts[document_id] = len(passages)

    def remove(self, document_id: str) -> None:
        with self._lock:
            if document_id in self._passage_counts:
                self._remove_locked(document_id)

    def candidates(self, signatures: Signatures) -> dict[str, int]:
        """Return candidate ids with their strength: how many bands the closest pair of passages shares.

        The share of colliding bands grows with the passages' Jaccard similarity (J^rows per band), so
        a copied passage collides in many bands while passages that merely share a subject collide in
        one or two, however many of them there are. A whole-document hit adds every passage band.
        """
        document = self._minhash(signatures.document)
        passages = [self._minhash(passage) for passage in signatures.passages]
        strength: Counter[str] = Counter()
        with self._lock:
            for document_id in self._documents.query(document):
                strength[document_id] += self._passages.b
            best: dict[str, int] = {}
            for passage in passages:
                for (document_id, _), bands in self._colliding_bands(passage).items():
                    if bands > best.get(document_id, 0):
                        best[document_id] = bands
            strength.update(best)
        return dict(strength)

    def _colliding_bands(self, passage: LeanMinHash) -> Counter[tuple[str, int]]:
        # MinHashLSH.query only says which keys collide in some band; counting the bands needs its
        # band tables. `_H` is how datasketch keys a band; tests/integration/test_minhash_lsh_index.py
        # checks the keys found here are exactly those query() returns, so an upgrade cannot drift.
        bands: Counter[tuple[str, int]] = Counter()
        index = self._passages
        for (start, end), table in zip(index.hashranges, index.hashtables, strict=True):
            bands.update(table.get(index._H(passage.hashvalues[start:end])))
        return bands

    def __len__(self) -> int:
        return len(self._passage_counts)

    def _remove_locked(self, document_id: str) -> None:
        self._documents.remove(document_id)
        for position in range(self._passage_counts.pop(document_id)):
            self._passages.remove((document_id, position))

    def _minhash(self, signature: bytes) -> LeanMinHash:
        values = np.frombuffer(signature, dtype=np.uint32)
        return LeanMinHash(seed=self._parameters.seed, hashvalues=values, scheme=HASH_SCHEME)

"""VerificationJob and LocalVerifier: compare a text with its candidates on the real texts, caching analyses."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from server.domain.alignment import Weigher, weigh
from server.domain.comparison import TextProfile, compare_profiles, profile_text
from server.domain.model import Comparison, Document
from server.domain.tokenization import Tokenizer, tokenize

# Analysed texts of stored documents are cached: verifying a candidate needs its tokens, and the
# same popular sources come up again and again while a news cycle is ingested. An analysis of a
# 500-word article takes about 110 KB (tokens, spans, the sentence index), so the cache
# is kept to recent texts: 256 of them are about 30 MB per process that verifies.
PROFILE_CACHE_SIZE: Final = 256
# A text a verifier compares with itself before its first request (see LocalVerifier.warm_up); it seeds an alignment.
_WARM_UP_TEXT: Final = "The verifier compares this text with itself before the first request. It aligns with itself."


@dataclass(frozen=True, slots=True)
class TextToCompare:
    """A text and what is known about it: a stored (or being stored) document, or a query that is neither.

    `sequence` is the document's ingest position (None for a query). A stored document's analysis is
    cached under (id, sequence): sequence numbers are never reused, so a replaced text never meets the
    analysis of the text it replaced.
    """

    text: str
    document: Document | None = None
    sequence: int | None = None

    @property
    def cache_key(self) -> tuple[str, int] | None:
        if self.document is None or self.sequence is None:
            return None
        return (self.document.id, self.sequence)


@dataclass(frozen=True, slots=True)
class VerificationJob:
    """One text to compare with each of its candidates (the closest first)."""

    query: TextToCompare
    candidates: tuple[TextToCompare, ...]


@dataclass(frozen=True, slots=True)
class VerifiedComparisons:
    """Comparisons already made, for a verifier that runs jobs as they are submitted."""

    comparisons: list[list[Comparison | None]]

    def result(self) -> list[list[Comparison | None]]:
        return self.comparisons


class LocalVerifier:
    """Runs verification jobs one after another in this process, keeping recent analyses.

    `weigher` weighs the sentences of the two texts of each comparison (alignment.weigh, or a faster
    implementation of it), and `tokenizer` cuts each text (tokenization.tokenize, or a faster one).

    Thread-safe: concurrent jobs may analyse the same text twice, but never corrupt the cache.

    >>> verifier = LocalVerifier()
    >>> source = TextToCompare("The mayor opened the new bridge over the river. Crowds cheered the opening.")
    >>> (comparisons,) = verifier.verify([VerificationJob(source, (source,))])
    >>> comparisons[0].relation.name
    'DUPLICATE'
    """

    def __init__(
        self, cache_size: int = PROFILE_CACHE_SIZE, weigher: Weigher = weigh, tokenizer: Tokenizer = tokenize
    ) -> None:
        self._cache_size = cache_size
        self._weigher = weigher
        self._tokenizer = tokenizer
        self._profiles: OrderedDict[tuple[str, int], TextProfile] = OrderedDict()
        self._lock = threading.Lock()

    def verify(self, jobs: Sequence[VerificationJob]) -> list[list[Comparison | None]]:
        """Return, per job, how its query relates to each candidate (None where it does not)."""
        return [self.verify_one(job) for job in jobs]

    def submit(self, jobs: Sequence[VerificationJob]) -> VerifiedComparisons:
        """Verify `jobs` now, in the caller's thread: this verifier has nothing to run beside it."""
        return VerifiedComparisons(self.verify(jobs))

    def verify_one(self, job: VerificationJob) -> list[Comparison | None]:
        if not job.candidates:
            return []
        query = self.profile(job.query)
        return [compare_profiles(query, self.profile(candidate), self._weigher) for candidate in job.candidates]

    def profile(self, item: TextToCompare) -> TextProfile:
        key = item.cache_key
        if key is not None:
            with self._lock:
                cached = self._profiles.get(key)
                if cached is not None:
                    self._profiles.move_to_end(key)
                    return cached
        profile = profile_text(item.text, item.document, item.sequence, self._tokenizer)
        if key is not None:
            with self._lock:
                self._profiles[key] = profile
                while len(self._profiles) > self._cache_size:
                    self._profiles.popitem(last=False)
        return profile

    def warm_up(self) -> None:
        """Compare a text with itself, so that what comparing loads on first use is loaded before the first request.

        Compiled weights load their code from numba's cache on first use: about half a second.
        """
        text = TextToCompare(_WARM_UP_TEXT)
        self.verify([VerificationJob(text, (text,))])

    def forget(self, document_id: str) -> None:
        """Drop the cached analyses of a deleted or replaced document (they would only take room)."""
        with self._lock:
            for key in [key for key in self._profiles if key[0] == document_id]:
                del self._profiles[key]

    def close(self) -> None:
        with self._lock:
            self._profiles.clear()

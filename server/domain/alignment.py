"""Align two texts passage by passage: seed sentence pairs, extend them into fragments, measure reuse."""

from __future__ import annotations

import array
import bisect
import itertools
import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from functools import cached_property
from typing import Final, Literal, Protocol

from server.domain.passages import PASSAGE_WORDS
from server.domain.tokenization import Sentence, TokenizedText, word_stems

# Two sentences seed an alignment when both their weighted cosine and their Dice overlap of content
# stems reach these values; 0.33 is where Sanchez-Perez, Sidorov & Gelbukh (PAN 2014) put both.
SEED_COSINE: Final = 0.33
SEED_DICE: Final = 0.33
# Seeds this many sentences apart (on both sides) belong to one fragment: reuse interleaves
# inserted material (captions, tweets, an author's own sentences) with the reused sentences.
MAX_SEED_GAP: Final = 4
# Numbers are facts: two sentences that each state numbers, none of them the same, report different facts
# however many other words they share. Two closing reports of an index ("rose 12.50 points, or 0.81 percent, to
# 1,548.25" and "fell 3.10 points, or 0.2 percent, to 1,536.25") or two quarters' earnings are written in the
# same stock words, and seeded as a rewrite of each other. Such a pair does not seed unless another seed lies
# within MAX_SEED_GAP sentences of it in either text: inside a run of reused sentences, a changed number is an
# update or a slip of the copy. On MSRP (seed 1) the links fell from 2,197 to 1,960: 224 fewer that the truth
# does not pair as paraphrases, 13 fewer paraphrase pairs. On PAN-13 it moved the evidence of 4 documents and no
# link. A number is read as written: digit runs joined by single commas or points are one number ("9,113.75"),
# so that two numbers do not match on a shared piece ("9", "75"); a comma before three digits separates
# thousands ("1,800" is "1800").
NUMBER_JOINERS: Final = ",."
THOUSANDS_DIGITS: Final = 3
# A fragment whose two sides, taken whole, are less similar than this is split with a smaller gap.
MIN_FRAGMENT_COSINE: Final = 0.30
# Two fragments in order on both sides, at most this many words apart on each and as alike taken together as a
# fragment must be (MIN_FRAGMENT_COSINE), are one: a text that keeps a list or a programme as short lines puts
# more than MAX_SEED_GAP sentences between seeds that the other, running the lines together, keeps one or two
# apart, and one copied passage became two fragments. A passage window of words, the span the index compares
# texts over. On PAN-13 (seed 1) granularity went from 1.0096 to 1.0079 and plagdet from 0.8444 to 0.8459;
# 100 words gave 0.8464, with passage precision down from 0.950 to 0.947.
JOIN_GAP_WORDS: Final = PASSAGE_WORDS
# A sentence may seed with several sentences of the other text near one another: a headline, a repeated line or a
# stock phrase meets many. Its counterpart is the one it matches best. A fragment reaches only as far as the seeds
# that are each other's best match within it, and the seeds reached from those in steps of at most
# COUNTERPART_REACH sentences on both sides (where one text cut into several sentences one that the other kept
# whole). Without this, a headline that seeds with a copied sentence stretched the copy's fragment back to it.
COUNTERPART_REACH: Final = 1
_COUNTERPART_STEPS: Final = tuple(itertools.product(range(-COUNTERPART_REACH, COUNTERPART_REACH + 1), repeat=2))
# Two cosines closer than this are the same one (a sentence repeated word for word matches equally well twice).
SAME_COSINE: Final = 1e-9
# A run of at least STANDALONE_SEEDS seed sentences holding STANDALONE_WORDS words on each side is reuse on its
# own (comparison.is_related takes the same bar). Independent reports of one event share names and quotes,
# which makes single seeds, not runs.
STANDALONE_SEEDS: Final = 2
STANDALONE_WORDS: Final = 25
# A summary condenses: consecutive sentences of one text each restate a sentence of a longer stretch of the
# other, in its order. Its seeds lie close together on the condensed side and far apart on the other, where
# clustering within MAX_SEED_GAP on both sides leaves them single. A chain of at least CONDENSED_MIN_SEEDS
# such seeds, in order on both sides, is one fragment (the summary and the stretch it summarises) when
# seeds fill at least CONDENSED_MIN_DENSITY of the condensed run's sentences and, from seed to seed, the
# other side moves on at least CONDENSATION_STEP times as many words at the lower median step. Steps are
# counted in words because the same text can be cut into sentences differently on each side (a list kept
# as short lines in one, run together in the other); a copied or reworded passage moves about one word for
# one, now and then jumping to another passage, and is left to the ordinary fragments.
CONDENSED_MIN_SEEDS: Final = 3
CONDENSED_MIN_DENSITY: Final = 0.5
CONDENSATION_STEP: Final = 2.0
# The stretch may be at most CONDENSATION_MAX_RATIO times the run's words, and the run's sentences may seed with
# at most CONDENSED_MAX_AMBIGUITY times as many sentences of the other text as the chain holds. Past those, the
# chain is more likely made of chance seeds: a long text offers a sentence that shares a third of its content
# words with almost any sentence on its subject, and a few of them always fall in order.
CONDENSATION_MAX_RATIO: Final = 20.0
CONDENSED_MAX_AMBIGUITY: Final = 2.0
# A summary restates a few points picked from across what it summarises, and rarely the very first or last
# sentences: its chain stops short of the ends. Taken as spread evenly over the stretch summarised, k restated
# points leave on average one spacing between them, span / (k - 1), before the first and after the last (for k
# points drawn evenly over a stretch, each end's gap and each spacing have the same expectation). The stretch
# is the restated sentences and those margins, in whole sentences; when it spans at least this share of the
# other text's words, the summary is of that text as a whole, and the whole text is its stretch. On PAN-13 the
# margins raised plagdet from 0.8348, 0.8362 and 0.8345 (three ingest orders) to 0.8417, 0.8427 and 0.8411.
WHOLE_TEXT_SHARE: Final = 0.5
# A fragment reaches on over the sentence pair just before it, and just after it, while that pair's cosine is at
# least EDGE_COSINE: beside sentences that are reused, a pair too reworded to seed is still more likely reused
# than not. The first and last sentences of a reworded passage are often its most changed (an opening or
# closing phrase rewritten to fit its new surroundings); half the seeds' bar still asks for a shared
# content word of weight.
# One text may also cut into two sentences what the other keeps as one: a heading line run into the first sentence,
# a long sentence split by an editor. So at each edge, past the alike pairs, a fragment reaches over the next
# sentence of one text alone when that sentence is alike the other's edge sentence (at least EDGE_COSINE) and the
# two together are more alike it than the edge sentence alone. On PAN-13 (three ingest orders) plagdet went from
# 0.8514, 0.8535 and 0.8513 to 0.8539, 0.8560 and 0.8538, with 5 or 6 more reuse pairs linked; on MSRP, 3 fewer of
# the 1,985 links were paraphrase pairs (1,179).
EDGE_COSINE: Final = SEED_COSINE / 2
# Stems are weighed by how few of the two texts' sentences hold them, and two short texts have too few sentences
# to weigh by: of two one-sentence texts, every stem they share is in both sentences, and so weighs less than every
# stem they do not share. Two reworded sentences then rarely seed (in-process, 1,289 of MSRP's 2,753 paraphrase
# pairs were related; 2,570 with this floor). Texts with fewer sentences between them than this are weighed as if
# the rest were sentences holding none of their stems, as two paragraphs would be; longer texts as they are.
MIN_WEIGHING_SENTENCES: Final = 10
# Shingle length used for whole-document Jaccard and for measuring how verbatim a fragment is.
VERBATIM_NGRAM: Final = 4
# A sentence is copied when at least this share of its word n-grams occur in the passage it is aligned with: a word
# edited here and there in a copy leaves most of them, a reworded sentence (a word in four or five changed, clauses
# turned round) about half. Whether reuse is copied or reworded is decided by sentences, not by n-grams over the
# whole passage: an excerpt copies sentences and rewords or inserts a few, a rewrite rewords every sentence, and
# both can keep about two thirds of their n-grams (the seed excerpt 0.73, the bench corpus's rewrites 0.28 to 0.76).
COPIED_SENTENCE_SHARE: Final = 0.8
# A fragment whose word n-grams are at least this share verbatim is a copy, and a copy ends where its words stop
# matching: words of its edge sentences before the first shared n-gram, or after the last, were not copied (a
# heading run into the copied sentence, the host's words around an insertion).
COPY_SHARE: Final = 0.5
# A reworded fragment's edge sentence may hold host words that the sentence splitter ran into it (a caption
# without a full stop, "areas.1998"): a run of at least FOREIGN_RUN_WORDS words at either end of an edge sentence,
# none of them a content stem of the other side's passage, was not reworded from it, and the fragment ends where
# the shared stems do. A shorter run stays: a rewrite changes a word here and there, and cutting at the first
# shared stem cut reused words (in-process over PAN-13's truth pairs: detected-character precision 0.939 against
# 0.923, recall 0.797 against 0.816). On PAN-13 (three ingest orders) plagdet went from 0.8539, 0.8560 and 0.8538
# to 0.8562, 0.8585 and 0.8562, passage precision from 0.946 to 0.954 on seed 1 (with 6 words, 0.8563 on seed 1,
# condensations trimmed too). On MSRP (seed 1), 1,178 of 1,993 links were paraphrase pairs, against 1,179 of 1,985.
FOREIGN_RUN_WORDS: Final = 8

# Seeds as (sentence row of a, sentence row of b); the best seed cosine of each sentence of a, and of b.
_Seeds = list[tuple[int, int]]
_BestCosines = tuple[dict[int, float], dict[int, float]]


@dataclass(frozen=True, slots=True)
class Fragment:
    """An aligned pair of token ranges `[a_start, a_end)` in text a and `[b_start, b_end)` in text b.

    `verbatim` is measured over the whole sentences the fragment spans, before a copy's ends are trimmed to its
    copied words (see COPY_SHARE).
    """

    a_start: int
    a_end: int
    b_start: int
    b_end: int
    seeds: int
    cosine: float
    verbatim: float
    # Which side restates the other in fewer sentences, for a fragment found as a condensation (a summary).
    condensed: Literal["a", "b"] | None = None


@dataclass(frozen=True, slots=True)
class Alignment:
    """What two texts share: the aligned fragments and how much of each text they cover."""

    fragments: tuple[Fragment, ...]
    coverage_a: float
    coverage_b: float
    aligned_words_a: int
    aligned_words_b: int
    verbatim: float

    @property
    def seeds(self) -> int:
        return sum(fragment.seeds for fragment in self.fragments)


EMPTY_ALIGNMENT: Final = Alignment((), 0.0, 0.0, 0, 0, 0.0)


@dataclass(frozen=True)
class SentenceIndex:
    """A text's sentences as content stems, indexed once so the text can be aligned with many others.

    `word_stems` holds each token's content stem ("" for a function word), and `stem_lists` each sentence's
    content stems in order, from which the counts of a run of sentences are made in one call. The counts of each
    sentence (`stems`), the sentences holding each stem (`frequency`) and its postings are made on first use: the
    reference `weigh` reads them, while compiled weights read `stem_numbers` (counting every sentence up front
    was about a seventh of analysing a news text). Not slotted, so that what is made on first use can be kept.
    """

    tokens: TokenizedText
    word_stems: tuple[str, ...]
    stem_lists: tuple[list[str], ...]

    @property
    def sentence_count(self) -> int:
        return len(self.stem_lists)

    @cached_property
    def stem_numbers(self) -> tuple[dict[str, int], array.array[int], array.array[int]]:
        """Return the text's stems numbered in order of first appearance, and its sentences' stems as those numbers.

        The numbers come as one array, with where each sentence's begin in it (and the end after the last). Made on
        first use, for compiled weights: a text compared with several others is numbered once. Arrays of 64-bit
        integers, which compiled code reads in place: made into arrays for each comparison, the numbers of two
        news texts took about as long to convert as the compiled weighing took to run.
        """
        vocabulary: dict[str, int] = {}
        stems = itertools.chain.from_iterable(self.stem_lists)
        numbers = array.array("q", [vocabulary.setdefault(stem, len(vocabulary)) for stem in stems])
        starts = array.array("q", [0, *itertools.accumulate(map(len, self.stem_lists))])
        return vocabulary, numbers, starts

    def numbers(self, row: int) -> frozenset[str]:
        """Return the numbers sentence `row` states (see NUMBER_JOINERS), found on first asking: few sentences are."""
        numbers = self._numbers_by_row.get(row)
        if numbers is None:
            numbers = self._numbers_by_row[row] = frozenset(_numbers_in(self.tokens, self.tokens.sentences[row]))
        return numbers

    @cached_property
    def _numbers_by_row(self) -> dict[int, frozenset[str]]:
        return {}

    def ngrams(self, start: int, end: int, size: int = VERBATIM_NGRAM) -> set[int]:
        """Return the keys of the word `size`-grams within tokens [start, end); of all those words when fewer.

        A key is the hash of the tuple of words (`ngram_key`): two different n-grams share one only if their 64-bit
        hashes collide. A set of keys takes about two thirds of the time of a set of the tuples (67 against 101 µs for
        a news text) and seven tenths of the memory.
        """
        words = self.tokens.words
        if end - start < size:
            return {hash(words[start:end])} if end > start else set()
        if size == VERBATIM_NGRAM:
            return set(self._verbatim_keys[start : end - size + 1])
        shifted = (words[start + offset : end] for offset in range(size))
        return set(map(hash, zip(*shifted, strict=False)))

    def ngram_key(self, start: int, size: int = VERBATIM_NGRAM) -> int:
        """Return the key of the word `size`-gram that begins at token `start` (see `ngrams`)."""
        if size == VERBATIM_NGRAM and start + size <= len(self.tokens.words):
            return self._verbatim_keys[start]
        return hash(self.tokens.words[start : start + size])

    @cached_property
    def _verbatim_keys(self) -> tuple[int, ...]:
        """The key of the VERBATIM_NGRAM-gram that begins at each token that has one.

        Hashed once per analysed text: fragments measure their n-grams range by range, and a stored text stays
        analysed in a verifier's cache while it is compared with copy after copy. Taking a range of keys made
        sets about four times as fast as hashing its n-grams again (10 against 48 µs for 600 words), for about
        20 KB a news text.
        """
        words = self.tokens.words
        shifted = (words[offset:] for offset in range(VERBATIM_NGRAM))
        return tuple(map(hash, zip(*shifted, strict=False)))

    @cached_property
    def stems(self) -> tuple[Counter[str], ...]:
        return tuple(Counter(stem_list) for stem_list in self.stem_lists)

    @cached_property
    def frequency(self) -> Mapping[str, int]:
        # Each sentence's Counter holds a stem once, so counting over their keys counts sentences.
        return Counter(itertools.chain.from_iterable(self.stems))

    @cached_property
    def postings(self) -> Mapping[str, list[int]]:
        """Map each stem to the sentences holding it, in order."""
        postings: dict[str, list[int]] = {}
        for row, counts in enumerate(self.stems):
            for term in counts:
                rows = postings.get(term)
                if rows is None:
                    postings[term] = [row]
                else:
                    rows.append(row)
        return postings


def index_sentences(text: TokenizedText) -> SentenceIndex:
    stems = tuple(word_stems(text.words))
    stem_lists = tuple([stem for stem in stems[s.token_start : s.token_end] if stem] for s in text.sentences)
    return SentenceIndex(tokens=text, word_stems=stems, stem_lists=stem_lists)


class SentenceWeights(Protocol):
    """Two texts' sentences with their content stems weighed by how few of both texts' sentences hold them.

    `weigh` is the reference; a faster implementation must return the same seeds and cosines
    (server/adapters/compiled_weights.py).
    """

    def seeds(self) -> Mapping[tuple[int, int], float]:
        """Return the sentence pairs (row of a, row of b) whose cosine and Dice overlap reach SEED_COSINE, SEED_DICE."""
        ...

    def cosine(self, rows_a: Sequence[int], rows_b: Sequence[int]) -> float:
        """Return the weighted cosine of the stems of sentences `rows_a` of a, counted together, and `rows_b` of b."""
        ...


# Weighs the sentences of two texts against each other (see SentenceWeights).
Weigher = Callable[[SentenceIndex, SentenceIndex], SentenceWeights]


def weigh(a: SentenceIndex, b: SentenceIndex) -> SentenceWeights:
    """Weigh the sentences of `a` and `b` against each other, in pure Python (the reference)."""
    return _WeighedSentences(a, b)


class _WeighedSentences:
    def __init__(self, a: SentenceIndex, b: SentenceIndex) -> None:
        self._a, self._b = a, b
        self._weights = _InverseSentenceFrequency(a, b)

    def seeds(self) -> dict[tuple[int, int], float]:
        # Count shared stems only for sentence pairs that share one, and weigh only the pairs whose
        # Dice overlap passes: most candidate texts share no sentence at all.
        # Pairs are counted under one integer key each: a Counter per sentence, updated per shared stem, cost
        # more in calls than the counting itself.
        a, b, weights = self._a, self._b, self._weights
        width = b.sentence_count
        shared: dict[int, int] = {}
        for term, rows_a in a.postings.items():
            rows_b = b.postings.get(term)
            if rows_b is None:
                continue
            for i in rows_a:
                for j in rows_b:
                    key = i * width + j
                    shared[key] = shared.get(key, 0) + 1
        vectors_a: dict[int, dict[str, float]] = {}
        vectors_b: dict[int, dict[str, float]] = {}
        seeds = {}
        for key, overlap in shared.items():
            i, j = divmod(key, width)
            if 2 * overlap / (len(a.stems[i]) + len(b.stems[j])) < SEED_DICE:
                continue
            if i not in vectors_a:
                vectors_a[i] = _weighted(a.stems[i], weights)
            if j not in vectors_b:
                vectors_b[j] = _weighted(b.stems[j], weights)
            cosine = _dot(vectors_a[i], vectors_b[j])
            if cosine >= SEED_COSINE:
                seeds[i, j] = cosine
        return seeds

    def cosine(self, rows_a: Sequence[int], rows_b: Sequence[int]) -> float:
        side_a = _summed([self._a.stem_lists[row] for row in rows_a])
        side_b = _summed([self._b.stem_lists[row] for row in rows_b])
        return _dot(_weighted(side_a, self._weights), _weighted(side_b, self._weights))


def align(a: TokenizedText | SentenceIndex, b: TokenizedText | SentenceIndex, weigher: Weigher = weigh) -> Alignment:
    """Find the passages of `a` that reuse passages of `b`, verbatim or reworded.

    Pass SentenceIndex values to align one text with many without re-reading it each time.

    >>> from server.domain.tokenization import tokenize
    >>> source = tokenize("The mayor opened the new bridge on Monday. Crowds cheered the long awaited opening.")
    >>> copy = tokenize(
    ...     "The weather was fine all day. The mayor opened a new bridge on Monday. Crowds cheered the opening."
    ... )
    >>> alignment = align(copy, source)
    >>> [(f.a_start, f.a_end, f.b_start, f.b_end) for f in alignment.fragments]
    [(6, 18, 0, 14)]
    """
    index_a = a if isinstance(a, SentenceIndex) else index_sentences(a)
    index_b = b if isinstance(b, SentenceIndex) else index_sentences(b)
    weights = weigher(index_a, index_b)
    seed_cosines = _without_lone_number_clashes(weights.seeds(), index_a, index_b)
    if not seed_cosines:
        return EMPTY_ALIGNMENT
    seeds = list(seed_cosines)
    cosines = _RangeCosines(weights)
    extended = _extend(seeds, cosines, MAX_SEED_GAP)
    best_in_runs = _best_in_runs(extended, seed_cosines)
    groups = [kept for group in extended if (kept := _counterparts(group, seed_cosines, best_in_runs))]

    def fragment_of(group: _Seeds, taken: Sequence[Fragment] = ()) -> Fragment:
        return _fragment(group, index_a, index_b, weights, cosines, taken)

    candidates: list[tuple[Fragment, _Seeds | None]] = [(fragment_of(group), group) for group in groups]
    candidates.extend((fragment, None) for fragment in _condensations(seeds, index_a, index_b, weights))
    disjoint = _drop_overlaps(candidates, fragment_of, index_a.tokens, index_b.tokens)
    fragments = _without_echoes(_joined(disjoint, index_a, index_b, weights))
    return _summarise(fragments, index_a.tokens, index_b.tokens)


def _numbers_in(tokens: TokenizedText, sentence: Sentence) -> list[str]:
    """Return the numbers of `sentence` as written: "9,113.75" is "9113.75", "2.6.0" is "2.6.0", "3,5" is "3.5"."""
    numbers: list[str] = []
    previous_end = -1
    for index in range(sentence.token_start, sentence.token_end):
        word = tokens.words[index]
        if not word.isdigit():
            previous_end = -1
            continue
        start, end = tokens.token_span(index)
        joiner = tokens.text[previous_end] if previous_end >= 0 and start == previous_end + 1 else ""
        if joiner == "," and len(word) == THOUSANDS_DIGITS:
            numbers[-1] += word
        elif joiner and joiner in NUMBER_JOINERS:
            numbers[-1] = f"{numbers[-1]}.{word}"
        else:
            numbers.append(word)
        previous_end = end
    return numbers


def _without_lone_number_clashes(
    seed_cosines: Mapping[tuple[int, int], float], a: SentenceIndex, b: SentenceIndex
) -> Mapping[tuple[int, int], float]:
    """Drop the seeds that no other seed lies near and whose sentences state different numbers (see NUMBER_JOINERS)."""
    # Which seeds are alone is asked first: most seeds lie in runs, and their sentences' numbers are not read.
    rows_a = sorted(i for i, _ in seed_cosines)
    rows_b = sorted(j for _, j in seed_cosines)
    clashing = {
        (i, j)
        for i, j in seed_cosines
        if _alone(rows_a, i) and _alone(rows_b, j) and _numbers_clash(a.numbers(i), b.numbers(j))
    }
    if not clashing:
        return seed_cosines
    return {pair: cosine for pair, cosine in seed_cosines.items() if pair not in clashing}


def _alone(rows: list[int], row: int) -> bool:
    """Tell whether `row` is the only one of sorted `rows` within MAX_SEED_GAP of it."""
    return bisect.bisect_right(rows, row + MAX_SEED_GAP) - bisect.bisect_left(rows, row - MAX_SEED_GAP) == 1


def _numbers_clash(numbers_a: frozenset[str], numbers_b: frozenset[str]) -> bool:
    return bool(numbers_a) and bool(numbers_b) and numbers_a.isdisjoint(numbers_b)


def weighing_sentences(a: SentenceIndex, b: SentenceIndex) -> int:
    """Return the number of sentences stems are weighed over: both texts', at least MIN_WEIGHING_SENTENCES."""
    return max(a.sentence_count + b.sentence_count, MIN_WEIGHING_SENTENCES)


class _InverseSentenceFrequency(dict[str, float]):
    """Weights of stems over the sentences of both texts, computed for the stems that are looked up."""

    def __init__(self, a: SentenceIndex, b: SentenceIndex) -> None:
        super().__init__()
        self._a, self._b = a.frequency, b.frequency
        self._total = weighing_sentences(a, b)

    def __missing__(self, term: str) -> float:
        weight = math.log((self._total + 1) / (self._a.get(term, 0) + self._b.get(term, 0)))
        self[term] = weight
        return weight


def _weighted(counts: Counter[str], weights: dict[str, float]) -> dict[str, float]:
    vector = {term: count * weights[term] for term, count in counts.items()}
    norm = math.sqrt(sum(value * value for value in vector.values()))
    return {term: value / norm for term, value in vector.items()} if norm else {}


def _best_in_runs(groups: list[_Seeds], seed_cosines: Mapping[tuple[int, int], float]) -> _BestCosines:
    """Return the best seed cosine of each sentence of a and of b in the groups of STANDALONE_SEEDS seeds or more."""
    best_a: dict[int, float] = {}
    best_b: dict[int, float] = {}
    for group in groups:
        if len(group) < STANDALONE_SEEDS:
            continue
        for i, j in group:
            cosine = seed_cosines[i, j]
            best_a[i] = max(cosine, best_a.get(i, cosine))
            best_b[j] = max(cosine, best_b.get(j, cosine))
    return best_a, best_b


def _counterparts(group: _Seeds, seed_cosines: Mapping[tuple[int, int], float], best_in_runs: _BestCosines) -> _Seeds:
    """Return the seeds of a group that set its extent (see COUNTERPART_REACH), in the group's order; maybe none.

    A seed sets it when it is the best match of both its sentences, among the group's seeds and those of every run
    of seeds (`_best_in_runs`), or lies within COUNTERPART_REACH of one that is. A sentence whose best match lies in
    another run is taken there: a weak seed at a run's edge must not stretch the run over a passage copied word for
    word elsewhere in the other text. Lone seeds elsewhere do not count, as most are chance matches of one sentence:
    letting them win cost PAN-13 three reworded pairs, whose two-seed runs each lost a seed to one.
    """
    runs_a, runs_b = best_in_runs
    if len({i for i, _ in group}) == len({j for _, j in group}) == len(group) and all(
        seed_cosines[i, j] >= max(runs_a.get(i, 0.0), runs_b.get(j, 0.0)) - SAME_COSINE for i, j in group
    ):
        return group  # every sentence seeds once here, and nowhere better in a run: each seed is its best match
    best_a = {i: runs_a.get(i, 0.0) for i, _ in group}
    best_b = {j: runs_b.get(j, 0.0) for _, j in group}
    for i, j in group:
        cosine = seed_cosines[i, j]
        best_a[i] = max(cosine, best_a[i])
        best_b[j] = max(cosine, best_b[j])
    # Empty only when every seed's sentence is matched better in another run. Cosines are summed in a's order, so
    # the same pair may differ in its last bits when b is a: ties are judged within SAME_COSINE.
    kept = [
        (i, j)
        for i, j in group
        if seed_cosines[i, j] >= best_a[i] - SAME_COSINE and seed_cosines[i, j] >= best_b[j] - SAME_COSINE
    ]
    members, reached = set(group), set(kept)
    while kept:
        i, j = kept.pop()
        for di, dj in _COUNTERPART_STEPS:
            neighbour = (i + di, j + dj)
            if neighbour in members and neighbour not in reached:
                reached.add(neighbour)
                kept.append(neighbour)
    return [seed for seed in group if seed in reached]


class _RangeCosines:
    """Cosines of the summed content stems of runs of sentences, one run per text, each computed once.

    A group of seeds is judged by the cosine of the runs it spans while it is split into fragments, and
    the fragment it becomes reports the same cosine.
    """

    def __init__(self, weights: SentenceWeights) -> None:
        self._weights = weights
        self._known: dict[tuple[int, int, int, int], float] = {}

    def of_group(self, group: list[tuple[int, int]]) -> float:
        a_rows = [i for i, _ in group]
        b_rows = [j for _, j in group]
        key = (min(a_rows), max(a_rows), min(b_rows), max(b_rows))
        cosine = self._known.get(key)
        if cosine is None:
            first_a, last_a, first_b, last_b = key
            cosine = self._known[key] = self._weights.cosine(range(first_a, last_a + 1), range(first_b, last_b + 1))
        return cosine


def _extend(seeds: list[tuple[int, int]], cosines: _RangeCosines, gap: int) -> list[list[tuple[int, int]]]:
    groups = _cluster(seeds, gap)
    if gap <= 1:
        return groups
    result = []
    for group in groups:
        if len(group) > 1 and cosines.of_group(group) < MIN_FRAGMENT_COSINE:
            result.extend(_extend(group, cosines, gap - 1))
        else:
            result.append(group)
    return result


def _cluster(seeds: list[tuple[int, int]], gap: int) -> list[list[tuple[int, int]]]:
    """Group seeds that lie within `gap` sentences of another seed of the group, on both sides."""
    ordered = sorted(seeds)
    parent = list(range(len(ordered)))

    def find(index: int) -> int:
        while parent[index] != index:
            parent[index] = parent[parent[index]]
            index = parent[index]
        return index

    for index, (i, j) in enumerate(ordered):
        for other in range(index + 1, len(ordered)):
            i2, j2 = ordered[other]
            if i2 - i > gap:
                break
            if abs(j2 - j) <= gap:
                parent[find(other)] = find(index)
    groups: defaultdict[int, list[tuple[int, int]]] = defaultdict(list)
    for index, seed in enumerate(ordered):
        groups[find(index)].append(seed)
    return list(groups.values())


def _dot(vector_a: dict[str, float], vector_b: dict[str, float]) -> float:
    # Summed in a's order, for seeds and runs alike.
    return sum(weight * vector_b.get(term, 0.0) for term, weight in vector_a.items())


def _summed(rows: Sequence[list[str]]) -> Counter[str]:
    # Counted in one call over the runs' stems in order, which gives the same counts, in the same order
    # of first appearance, as adding each sentence's counts in turn.
    return Counter(itertools.chain.from_iterable(rows))


def _fragment(
    group: list[tuple[int, int]],
    a: SentenceIndex,
    b: SentenceIndex,
    weights: SentenceWeights,
    cosines: _RangeCosines,
    taken: Sequence[Fragment] = (),
) -> Fragment:
    """Return the fragment a group of seeds spans, reaching on over alike sentence pairs at its edges.

    The reach stops before a sentence of a fragment in `taken` (see _drop_overlaps).
    """
    first_a, first_b = min(i for i, _ in group), min(j for _, j in group)
    last_a, last_b = max(i for i, _ in group), max(j for _, j in group)
    while _alike_beside(a, b, first_a - 1, first_b - 1, weights) and _untaken(
        a.tokens, b.tokens, (first_a - 1, first_b - 1), taken
    ):
        first_a, first_b = first_a - 1, first_b - 1
    while _alike_beside(a, b, last_a + 1, last_b + 1, weights) and _untaken(
        a.tokens, b.tokens, (last_a + 1, last_b + 1), taken
    ):
        last_a, last_b = last_a + 1, last_b + 1
    first_a, first_b = _reach_one_side(a, b, weights, taken, first_a, first_b, -1)
    last_a, last_b = _reach_one_side(a, b, weights, taken, last_a, last_b, 1)
    # The seeds and their cosine stay the group's: what was reached on is not evidence of reuse by itself.
    return _fragment_over((first_a, last_a, first_b, last_b), a, b, len(group), cosines.of_group(group))


def _reach_one_side(
    a: SentenceIndex,
    b: SentenceIndex,
    weights: SentenceWeights,
    taken: Sequence[Fragment],
    row_a: int,
    row_b: int,
    step: int,
) -> tuple[int, int]:
    """Return edge rows (row_a, row_b) moved `step` on the side that cut the other's edge sentence in two, if any.

    See EDGE_COSINE. When both sides could move, the one that leaves the edge more alike does, and neither on a tie,
    so that aligning b with a stays the mirror image of aligning a with b.
    """
    alone = weights.cosine((row_a,), (row_b,))
    next_a, next_b = row_a + step, row_b + step
    reach_a = reach_b = 0.0
    if _alike_beside(a, b, row_a, next_b, weights) and _untaken(a.tokens, b.tokens, (row_a, next_b), taken):
        reach_b = weights.cosine((row_a,), (row_b, next_b))
    if _alike_beside(a, b, next_a, row_b, weights) and _untaken(a.tokens, b.tokens, (next_a, row_b), taken):
        reach_a = weights.cosine((row_a, next_a), (row_b,))
    if reach_b > max(alone, reach_a):
        return row_a, next_b
    if reach_a > max(alone, reach_b):
        return next_a, row_b
    return row_a, row_b


def _alike_beside(a: SentenceIndex, b: SentenceIndex, row_a: int, row_b: int, weights: SentenceWeights) -> bool:
    """Tell whether sentences row_a of a and row_b of b both exist and are alike enough to reach over (EDGE_COSINE)."""
    if not (0 <= row_a < a.sentence_count and 0 <= row_b < b.sentence_count):
        return False
    return weights.cosine((row_a,), (row_b,)) >= EDGE_COSINE


def _fragment_over(
    rows: tuple[int, int, int, int],
    a: SentenceIndex,
    b: SentenceIndex,
    seeds: int,
    cosine: float,
    condensed: Literal["a", "b"] | None = None,
) -> Fragment:
    """Return the fragment from sentence rows[0] to rows[1] of a, and rows[2] to rows[3] of b (inclusive)."""
    first_a, last_a, first_b, last_b = rows
    a_start, a_end = a.tokens.sentences[first_a].token_start, a.tokens.sentences[last_a].token_end
    b_start, b_end = b.tokens.sentences[first_b].token_start, b.tokens.sentences[last_b].token_end
    a_ngrams, b_ngrams = a.ngrams(a_start, a_end), b.ngrams(b_start, b_end)
    verbatim = verbatim_share(a_ngrams, b_ngrams)
    if verbatim >= COPY_SHARE:
        a_start, a_end = _copied_within(a, first_a, last_a, b_ngrams)
        b_start, b_end = _copied_within(b, first_b, last_b, a_ngrams)
    elif condensed is None:
        # (A summary's stretch is meant to reach past what it restates: see WHOLE_TEXT_SHARE.)
        a_start, a_end = _reworded_within(a, first_a, last_a, _stems_of(b, first_b, last_b))
        b_start, b_end = _reworded_within(b, first_b, last_b, _stems_of(a, first_a, last_a))
    return Fragment(
        a_start=a_start,
        a_end=a_end,
        b_start=b_start,
        b_end=b_end,
        seeds=seeds,
        cosine=cosine,
        verbatim=verbatim,
        condensed=condensed,
    )


def _copied_within(index: SentenceIndex, first: int, last: int, other: set[int]) -> tuple[int, int]:
    """Return sentences first..last of a text as tokens, less the words of the edge sentences before (after) the copy.

    The copy begins with the edge sentence's first word n-gram whose key (`SentenceIndex.ngrams`) is in `other`, and
    ends with its last; an edge sentence with none is kept whole.
    """
    sentences, size = index.tokens.sentences, VERBATIM_NGRAM
    start, end = sentences[first].token_start, sentences[last].token_end
    if end - start < size:
        return start, end
    head_end = min(sentences[first].token_end, end - size + 1)
    head = next((place for place in range(start, head_end) if index.ngram_key(place) in other), start)
    tail_start = max(sentences[last].token_start + size, head + size)
    tail = next((place for place in range(end, tail_start - 1, -1) if index.ngram_key(place - size) in other), end)
    return head, tail


def _reworded_within(index: SentenceIndex, first: int, last: int, other: set[str]) -> tuple[int, int]:
    """Return sentences first..last of a text as tokens, less a foreign run at either end (see FOREIGN_RUN_WORDS).

    A run ends at the first (last) token whose content stem is in `other`; an edge sentence with none is kept whole.
    """
    sentences, stems = index.tokens.sentences, index.word_stems
    start, end = sentences[first].token_start, sentences[last].token_end
    head = next((place for place in range(start, sentences[first].token_end) if stems[place] in other), start)
    tail_floor = max(sentences[last].token_start, head)
    tail = next((place + 1 for place in range(end - 1, tail_floor - 1, -1) if stems[place] in other), end)
    return (
        head if head - start >= FOREIGN_RUN_WORDS else start,
        tail if end - tail >= FOREIGN_RUN_WORDS else end,
    )


def _stems_of(index: SentenceIndex, first: int, last: int) -> set[str]:
    """Return the content stems of sentences first..last."""
    return set(itertools.chain.from_iterable(index.stem_lists[first : last + 1]))


def _condensations(
    seeds: list[tuple[int, int]], a: SentenceIndex, b: SentenceIndex, weights: SentenceWeights
) -> list[Fragment]:
    """Return the fragments in which one side summarises a longer stretch of the other (see CONDENSED_MIN_SEEDS)."""
    fragments = []
    for condensed in ("a", "b"):
        # Seeds as (condensed row, other row): the same steps whichever text is a, so links do not depend on
        # which document arrived first.
        pairs = sorted(seeds) if condensed == "a" else sorted((j, i) for i, j in seeds)
        dense, other = (a, b) if condensed == "a" else (b, a)
        for run in _runs(pairs, MAX_SEED_GAP):
            chain = _longest_chain(run)
            if len(run) > CONDENSED_MAX_AMBIGUITY * len(chain) or not _condenses(chain, dense.tokens, other.tokens):
                continue
            rows = chain if condensed == "a" else [(i, j) for j, i in chain]
            fragment = _condensation(rows, condensed, a, b, weights)
            if fragment is not None:
                fragments.append(fragment)
    return fragments


def _runs(pairs: list[tuple[int, int]], gap: int) -> list[list[tuple[int, int]]]:
    """Split pairs sorted by their first row wherever that row jumps by more than `gap`."""
    runs: list[list[tuple[int, int]]] = []
    for pair in pairs:
        if runs and pair[0] - runs[-1][-1][0] <= gap:
            runs[-1].append(pair)
        else:
            runs.append([pair])
    return runs


def _longest_chain(pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Return the longest run of `pairs` (sorted) rising on both rows; of equally long ones, the first found."""
    if all(i0 < i and j0 < j for (i0, j0), (i, j) in itertools.pairwise(pairs)):
        # All of them, as the search below finds: the seeds of a copy, each sentence matched once, in order.
        # The search takes time in the square of their number, and most runs of seeds are these.
        return list(pairs)
    lengths: list[int] = []
    previous: list[int] = []
    for index, (i, j) in enumerate(pairs):
        length, before = 1, -1
        for earlier in range(index):
            i0, j0 = pairs[earlier]
            if i0 < i and j0 < j and lengths[earlier] + 1 > length:
                length, before = lengths[earlier] + 1, earlier
        lengths.append(length)
        previous.append(before)
    if not pairs:
        return []
    chain = []
    index = lengths.index(max(lengths))
    while index >= 0:
        chain.append(pairs[index])
        index = previous[index]
    return chain[::-1]


def _condenses(chain: list[tuple[int, int]], dense: TokenizedText, other: TokenizedText) -> bool:
    """Tell whether (dense row, other row) seeds are a run of `dense` restating a longer stretch of `other`."""
    if len(chain) < CONDENSED_MIN_SEEDS:
        return False
    if len(chain) / (chain[-1][0] - chain[0][0] + 1) < CONDENSED_MIN_DENSITY:
        return False
    starts_dense = [dense.sentences[i].token_start for i, _ in chain]
    starts_other = [other.sentences[j].token_start for _, j in chain]
    steps = [
        (other_end - other_start) / max(1, dense_end - dense_start)
        for dense_start, dense_end, other_start, other_end in zip(
            starts_dense, starts_dense[1:], starts_other, starts_other[1:], strict=False
        )
    ]
    if statistics.median_low(steps) < CONDENSATION_STEP:
        return False
    first_dense, last_dense = dense.sentences[chain[0][0]], dense.sentences[chain[-1][0]]
    first_other, last_other = other.sentences[chain[0][1]], other.sentences[chain[-1][1]]
    run_words = last_dense.token_end - first_dense.token_start
    return last_other.token_end - first_other.token_start <= CONDENSATION_MAX_RATIO * run_words


def _condensation(
    chain: list[tuple[int, int]],
    condensed: Literal["a", "b"],
    a: SentenceIndex,
    b: SentenceIndex,
    weights: SentenceWeights,
) -> Fragment | None:
    """Return the fragment of a condensing chain of (a row, b row) seeds; None when it is not alike enough."""
    first_a, last_a = chain[0][0], chain[-1][0]
    first_b, last_b = chain[0][1], chain[-1][1]
    # The condensed run against the sentences it restates: the rest of the summarised stretch is what the
    # summary left out, and would dilute the cosine of two texts that agree wherever they meet.
    if condensed == "a":
        cosine = weights.cosine(range(first_a, last_a + 1), [j for _, j in chain])
    else:
        cosine = weights.cosine([i for i, _ in chain], range(first_b, last_b + 1))
    if cosine < MIN_FRAGMENT_COSINE:
        return None
    if condensed == "a":
        first_b, last_b = _whole_when_mostly_spanned(
            b.tokens, *_summarised_stretch(b.tokens, first_b, last_b, len(chain))
        )
    else:
        first_a, last_a = _whole_when_mostly_spanned(
            a.tokens, *_summarised_stretch(a.tokens, first_a, last_a, len(chain))
        )
    return _fragment_over((first_a, last_a, first_b, last_b), a, b, len(chain), cosine, condensed)


def _summarised_stretch(text: TokenizedText, first: int, last: int, points: int) -> tuple[int, int]:
    """Return the sentence rows of `text` that sentences first..last, holding `points` restated ones, and margins span.

    The margins are one mean spacing of the restated points on each side (see WHOLE_TEXT_SHARE).
    """
    start, end = text.sentences[first].token_start, text.sentences[last].token_end
    margin = (end - start) / (points - 1)
    # The sentences that hold the first and last words within the margins.
    return (
        bisect.bisect_right(text.sentences, start - margin, key=_sentence_end),
        bisect.bisect_left(text.sentences, end + margin, key=_sentence_start) - 1,
    )


def _sentence_start(sentence: Sentence) -> int:
    return sentence.token_start


def _sentence_end(sentence: Sentence) -> int:
    return sentence.token_end


def _whole_when_mostly_spanned(text: TokenizedText, first: int, last: int) -> tuple[int, int]:
    """Return all of `text`'s sentence rows when rows first..last span WHOLE_TEXT_SHARE of its words, else them."""
    spanned = text.sentences[last].token_end - text.sentences[first].token_start
    if spanned >= WHOLE_TEXT_SHARE * len(text):
        return 0, len(text.sentences) - 1
    return first, last


def copied_share(alignment: Alignment, a: SentenceIndex, b: SentenceIndex) -> float:
    """Return the share of the aligned words that lie in copied sentences (see COPIED_SENTENCE_SHARE).

    Each fragment is read on its side with fewer words, its sentences cut to the fragment; of two sides of one
    length, the larger share counts, so that aligning b with a gives the same figure.
    """
    words = copied = 0
    for fragment in alignment.fragments:
        a_start, a_end, b_start, b_end = fragment.a_start, fragment.a_end, fragment.b_start, fragment.b_end
        # Only the shorter side's sentences are read one by one: the n-grams of a fragment's side are made in a
        # hash per word, and a related pair is classified once, after every candidate has been aligned.
        if a_end - a_start < b_end - b_start:
            side_words, side_copied = _copied_words(a, a_start, a_end, b.ngrams(b_start, b_end))
        elif b_end - b_start < a_end - a_start:
            side_words, side_copied = _copied_words(b, b_start, b_end, a.ngrams(a_start, a_end))
        else:
            side_words, a_copied = _copied_words(a, a_start, a_end, b.ngrams(b_start, b_end))
            _, b_copied = _copied_words(b, b_start, b_end, a.ngrams(a_start, a_end))
            side_copied = max(a_copied, b_copied)
        words += side_words
        copied += side_copied
    return copied / words if words else 0.0


def _copied_words(index: SentenceIndex, start: int, end: int, other: set[int]) -> tuple[int, int]:
    """Return the words of tokens [start, end), and how many of them lie in sentences copied from `other`."""
    words = copied = 0
    sentences = index.tokens.sentences
    for row in range(_row_at(index.tokens, start), len(sentences)):
        sentence = sentences[row]
        if sentence.token_start >= end:
            break
        first, last = max(sentence.token_start, start), min(sentence.token_end, end)
        if last <= first:
            continue
        ngrams = index.ngrams(first, last)
        words += last - first
        if ngrams and len(ngrams & other) >= COPIED_SENTENCE_SHARE * len(ngrams):
            copied += last - first
    return words, copied


def verbatim_share(a_ngrams: AbstractSet[Hashable], b_ngrams: AbstractSet[Hashable]) -> float:
    """Return the share of the smaller side's word n-grams (`SentenceIndex.ngrams`) that occur in the other side."""
    smaller = min(len(a_ngrams), len(b_ngrams))
    return len(a_ngrams & b_ngrams) / smaller if smaller else 0.0


def _drop_overlaps(
    candidates: list[tuple[Fragment, _Seeds | None]],
    rebuild: Callable[[_Seeds, Sequence[Fragment]], Fragment],
    a: TokenizedText,
    b: TokenizedText,
) -> list[Fragment]:
    """Keep, of fragments that overlap in either text, the one with most seeds (then the most similar).

    Both sides are checked, and ties broken on both, so that aligning b with a gives the mirror
    image of aligning a with b: links must not depend on which document arrived first.

    A fragment that overlaps one kept is built again (`rebuild`) from its seeds (None for a condensation, which is
    dropped) whose sentences lie outside every kept fragment, reaching no further into them, and competes again
    with what is left. Two passages copied side by side in a different order are one group of seeds when a line
    repeated in both texts (a blog's "Posted by" line) seeds across them; whole, the smaller one was lost.
    """

    def strength(candidate: tuple[Fragment, _Seeds | None]) -> tuple[int, float, int, int]:
        fragment = candidate[0]
        return (-fragment.seeds, -fragment.cosine, fragment.a_start, fragment.b_start)

    pending = sorted(candidates, key=strength)
    kept: list[Fragment] = []
    while pending:
        fragment, group = pending.pop(0)
        if all(_disjoint(fragment, other) for other in kept):
            kept.append(fragment)
            continue
        left = [seed for seed in group or () if _untaken(a, b, seed, kept)]
        if not left:
            continue
        # Unchanged when its seeds' own span overlaps a kept fragment: then it can only be dropped.
        rebuilt = rebuild(left, kept)
        if rebuilt != fragment:
            bisect.insort(pending, (rebuilt, left), key=strength)
    return sorted(kept, key=lambda f: f.a_start)


def _untaken(a: TokenizedText, b: TokenizedText, seed: tuple[int, int], taken: Sequence[Fragment]) -> bool:
    """Tell whether sentence seed[0] of a and seed[1] of b each lie outside every fragment of `taken`."""
    sentence_a, sentence_b = a.sentences[seed[0]], b.sentences[seed[1]]
    return all(
        _apart(sentence_a.token_start, sentence_a.token_end, other.a_start, other.a_end)
        and _apart(sentence_b.token_start, sentence_b.token_end, other.b_start, other.b_end)
        for other in taken
    )


def _joined(fragments: list[Fragment], a: SentenceIndex, b: SentenceIndex, weights: SentenceWeights) -> list[Fragment]:
    """Return `fragments` (sorted by a_start, disjoint) with each pair that JOIN_GAP_WORDS allows made one.

    Condensations are left alone: a summary's stretch is not a run of alike sentences. A pair is joined only when
    no other fragment lies between them in either text, so that the joined fragments stay disjoint.
    """
    joined: list[Fragment] = []
    for fragment in fragments:
        if joined and _joinable(joined[-1], fragment, fragments):
            before = joined[-1]
            rows = (
                _row_at(a.tokens, before.a_start),
                _row_at(a.tokens, fragment.a_end - 1),
                _row_at(b.tokens, before.b_start),
                _row_at(b.tokens, fragment.b_end - 1),
            )
            cosine = weights.cosine(range(rows[0], rows[1] + 1), range(rows[2], rows[3] + 1))
            if cosine >= MIN_FRAGMENT_COSINE:
                joined[-1] = _fragment_over(rows, a, b, before.seeds + fragment.seeds, cosine)
                continue
        joined.append(fragment)
    return joined


def _joinable(before: Fragment, after: Fragment, fragments: list[Fragment]) -> bool:
    if before.condensed is not None or after.condensed is not None:
        return False
    if not (
        0 <= after.a_start - before.a_end <= JOIN_GAP_WORDS and 0 <= after.b_start - before.b_end <= JOIN_GAP_WORDS
    ):
        return False
    # Nothing lies between them in a (fragments are sorted and disjoint); in b, a fragment from elsewhere in a may.
    return not any(before.b_end <= other.b_start and other.b_end <= after.b_start for other in fragments)


def _row_at(text: TokenizedText, token: int) -> int:
    """Return the row of the sentence holding token `token`."""
    return bisect.bisect_right(text.sentences, token, key=_sentence_start) - 1


def _without_echoes(fragments: list[Fragment]) -> list[Fragment]:
    """Drop the fragments shorter than STANDALONE_WORDS on either side when another stands on its own.

    Beside a run of reused sentences, a lone sentence pair elsewhere in two long texts on one subject is as
    likely an echo (the same names, a common phrase) as reuse, and reported as evidence it points at text
    that was not taken. Where no fragment stands on its own (two short texts, one sentence each), the short
    fragments are all the evidence there is, and stay.
    """
    if not any(stands_alone(fragment) for fragment in fragments):
        return fragments
    return [fragment for fragment in fragments if _shorter_side(fragment) >= STANDALONE_WORDS]


def stands_alone(fragment: Fragment) -> bool:
    """Tell whether a fragment is a run of reused sentences on its own (see STANDALONE_SEEDS)."""
    return fragment.seeds >= STANDALONE_SEEDS and _shorter_side(fragment) >= STANDALONE_WORDS


def _shorter_side(fragment: Fragment) -> int:
    return min(fragment.a_end - fragment.a_start, fragment.b_end - fragment.b_start)


def _disjoint(one: Fragment, other: Fragment) -> bool:
    return _apart(one.a_start, one.a_end, other.a_start, other.a_end) and _apart(
        one.b_start, one.b_end, other.b_start, other.b_end
    )


def _apart(start: int, end: int, other_start: int, other_end: int) -> bool:
    """Tell whether token ranges [start, end) and [other_start, other_end) share no token."""
    return end <= other_start or other_end <= start


def _summarise(fragments: list[Fragment], a: TokenizedText, b: TokenizedText) -> Alignment:
    aligned_a = sum(f.a_end - f.a_start for f in fragments)
    aligned_b = sum(f.b_end - f.b_start for f in fragments)
    verbatim = sum(f.verbatim * (f.a_end - f.a_start) for f in fragments) / aligned_a if aligned_a else 0.0
    return Alignment(
        fragments=tuple(fragments),
        coverage_a=aligned_a / len(a) if len(a) else 0.0,
        coverage_b=aligned_b / len(b) if len(b) else 0.0,
        aligned_words_a=aligned_a,
        aligned_words_b=aligned_b,
        verbatim=verbatim,
    )

"""A seeded generator of news-sized English documents with planted copies, excerpts and rewrites.

Nothing here is copied from real text: the vocabulary is a list of English function words written for
this module plus content words, names and places built from syllables, so the corpus can be published
and regenerated anywhere. What it imitates is the shape of news that matters to a provenance service:

* lengths are lognormal (median about 450 words, clipped to 150-1500), in sentences of 9-34 words grouped
  into short paragraphs under a headline and a byline;
* word frequencies are Zipf-like, about half the tokens are function words, and each article draws on
  the vocabulary and the people, places and organisations of one of a few hundred topics, so independent
  articles on the same topic share names and words the way real reports of one event do;
* there are numbers, money, percentages, years, quotes in curly quotes (U+201C, U+201D) and curly
  apostrophes (U+2019), and a few foreign names keep their diacritics;
* a share of the documents reuses an earlier original: a verbatim **copy** (sometimes under another
  headline, always under another byline), an **excerpt** (150-400 words of the source inside a new text),
  or a **rewrite** (content words substituted, function words dropped, clauses swapped, sentences dropped
  and added, most content words kept).

The stream is deterministic for a seed and cheap: documents are produced one at a time, and only a
bounded pool of recent originals is kept to draw sources from (news reuse follows the news cycle).

>>> documents = list(generate(20, seed=7))
>>> [document.id for document in documents[:2]]
['news-00000000', 'news-00000001']
>>> documents[0].kind, documents[0].source_id
(<Kind.ORIGINAL: 'original'>, None)
>>> documents == list(generate(20, seed=7))
True
>>> all(d.source_id is not None for d in documents if d.kind is not Kind.ORIGINAL)
True
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import json
import math
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Final, cast

import numpy as np
import numpy.typing as npt

# Raised whenever a change makes the same seed give other documents, so stores built from an older corpus are
# not mistaken for this one (bench_query records it beside the store it builds).
CORPUS_VERSION: Final = 1
# The language (vocabulary, names, topics) is the same for every corpus seed: two seeds are two sets of
# documents in one language, as two days of news are.
LANGUAGE_SEED: Final = 20_240_601
CONTENT_WORDS: Final = 30_000
TOPICS: Final = 400
TOPIC_WORDS: Final = 250

# Share of person and place names written with a diacritic, as foreign names are in English news.
ACCENTED_NAME_SHARE: Final = 0.01

MEDIAN_WORDS: Final = 450
WORDS_SIGMA: Final = 0.45  # ln(1500 / 450) is 2.7 sigma: about 1 document in 300 reaches the clip
MIN_WORDS: Final = 150
MAX_WORDS: Final = 1500
MIN_SENTENCE_WORDS: Final = 9
MAX_SENTENCE_WORDS: Final = 34

# Names and numbers that stand for one token, the headline and the byline add about 9 % to the words a
# body's tokens make (measured on the originals of seed 2).
_WORDS_PER_BODY_TOKEN: Final = 1.09
# Token mix of running text: function words, the topic's own words, and the general vocabulary.
FUNCTION_SHARE: Final = 0.47
TOPIC_SHARE: Final = 0.18
_TOKEN_DRAW: Final = 1 << 17  # tokens of running text drawn at once
_TOKEN_TABLE_SIZE: Final = 1 << 21
_PLAN_DRAW: Final = 1 << 13  # sentence plans drawn at once
# Chances that a sentence names an entity, has a number, has a clause boundary, is a quote.
_SENTENCE_CHANCES: Final = np.asarray([0.6, 0.22, 0.5, 0.12])

EXCERPT_MIN_WORDS: Final = 150
EXCERPT_MAX_WORDS: Final = 400
REWRITE_SUBSTITUTE: Final = 0.2  # share of content words replaced by another word
REWRITE_DROP_FUNCTION: Final = 0.15
REWRITE_SWAP_CLAUSES: Final = 0.5  # of the sentences that have a clause boundary
REWRITE_DROP_SENTENCE: Final = 0.1
REWRITE_ADD_SENTENCE: Final = 0.15  # per paragraph
DEFAULT_POOL_SIZE: Final = 10_000
DEFAULT_ID_PREFIX: Final = "news-"

# Typographic punctuation, as edited news prints it; written as escapes so no reader takes them for ASCII.
OPEN_QUOTE: Final = "\u201c"
CLOSE_QUOTE: Final = "\u201d"
APOSTROPHE: Final = "\u2019"


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# Written for this module, most frequent first (roughly); "said" leads because news is reported speech.
_FUNCTION_WORDS: Final = _words(
    "the of to and a in that said for on is was with he it as at by from his be have has had are were "
    "this which but not they an or their will been would who its after more also there than she about "
    "over into when could can her some up out two we new last first one our what all them i you if no "
    "so other only most any such these those may might should must while where how then because before "
    "between during under against through since until both each few many much very just even still now "
    "here again same own another every three four five told added week year years people according "
    "whether although though around without within among across per including despite however "
    f"it{APOSTROPHE}s don{APOSTROPHE}t didn{APOSTROPHE}t isn{APOSTROPHE}t won{APOSTROPHE}t can{APOSTROPHE}t"
)
_ONSETS: Final = _words("b c d f g h k l m n p r s t v w b c d g h l m n p r s t br cr dr fl gr pl pr st tr ch sh th")
_VOWELS: Final = _words("a e i o u a e i o a e i o u ai ea ou oo")
_CODAS: Final = _words("- - - - - - - - n r s t l m n r s t nd st ck ng rt ld nt")  # "-": no coda
_SUFFIXES: Final = _words("- - - - - - - - - - - - - ing ed er s s s tion ment ly al ity")  # "-": no suffix
_ACCENTS: Final = {
    "a": "\u00e1",
    "e": "\u00e9",
    "o": "\u00f6",
    "u": "\u00fc",
    "n": "\u00f1",
    "c": "\u00e7",
    "i": "\u00ed",
}
_PLACE_PATTERNS: Final = _words("{} {} {}ville {}burg {}ton {}ia {}stan Port_{} New_{} San_{} {}_City")
_ORG_NOUNS: Final = _words(
    "Ministry Council Group Bank Party Agency Commission Institute University Authority Corporation "
    "Holdings Airlines Energy Police Court Union Alliance Foundation Federation Board Association"
)
_TITLES: Final = _words(
    "President Minister Senator Mayor Professor Judge General Governor Director Chairman Spokeswoman Spokesman"
)
_SAY_VERBS: Final = ("said", "told reporters", "added", "said in a statement", "wrote", "warned")
_AGENCY_PATTERNS: Final = ("{} Press", "{} News", "{} Wire", "The {} Times", "{} Herald", "{} Daily", "{} Post")


class Kind(StrEnum):
    """How a generated document was made."""

    ORIGINAL = "original"
    COPY = "copy"
    EXCERPT = "excerpt"
    REWRITE = "rewrite"


@dataclass(frozen=True, slots=True)
class GeneratedDocument:
    """A generated document: its id and text, how it was made, and the original it reuses (None for an original)."""

    id: str
    text: str
    kind: Kind
    source_id: str | None


@dataclass(frozen=True, slots=True)
class Shares:
    """The share of each kind among the generated documents.

    Raises:
        ValueError: A share is negative, there are no originals, or the shares do not add up to 1.
    """

    original: float = 0.7
    copy: float = 0.1
    excerpt: float = 0.1
    rewrite: float = 0.1

    def __post_init__(self) -> None:
        shares = (self.original, self.copy, self.excerpt, self.rewrite)
        if any(share < 0 for share in shares):
            raise ValueError(f"shares must not be negative, got {shares}")
        if self.original <= 0:
            raise ValueError("the original share must be above 0: copies, excerpts and rewrites need sources")
        if not math.isclose(sum(shares), 1.0, abs_tol=1e-9):
            raise ValueError(f"shares must add up to 1, got {sum(shares):g} from {shares}")


def generate(
    count: int,
    seed: int = 1,
    *,
    shares: Shares | None = None,
    pool_size: int = DEFAULT_POOL_SIZE,
    id_prefix: str = DEFAULT_ID_PREFIX,
) -> Iterator[GeneratedDocument]:
    """Yield `count` documents, deterministically for `seed`; ids are `id_prefix` and an 8-digit position.

    Args:
        count: How many documents to yield.
        seed: The corpus seed: the same seed and arguments give the same documents.
        shares: The share of originals, copies, excerpts and rewrites (default 70/10/10/10 %).
        pool_size: How many of the most recent originals reused documents draw their sources from.
        id_prefix: Put before each position to make the id.

    Raises:
        ValueError: `count` is negative or `pool_size` is below 1.
    """
    if count < 0:
        raise ValueError(f"count must be 0 or more, got {count}")
    if pool_size < 1:
        raise ValueError(f"pool_size must be at least 1, got {pool_size}")
    writer = _Writer(_language(), seed)
    shares = shares or Shares()
    bounds = list(itertools.accumulate((shares.original, shares.copy, shares.excerpt)))
    pool: list[_Article] = []  # a ring of the most recent originals
    originals = 0
    uniform = writer.random.random
    for position in range(count):
        document_id = f"{id_prefix}{position:08d}"
        draw = uniform()
        if not pool or draw < bounds[0]:
            article = writer.original(document_id)
            if len(pool) < pool_size:
                pool.append(article)
            else:
                pool[originals % pool_size] = article
            originals += 1
            yield GeneratedDocument(document_id, article.render(), Kind.ORIGINAL, None)
            continue
        source = pool[writer.random.randrange(len(pool))]
        if draw < bounds[1]:
            yield GeneratedDocument(document_id, writer.copy(source), Kind.COPY, source.id)
        elif draw < bounds[2]:
            yield GeneratedDocument(document_id, writer.excerpt(source), Kind.EXCERPT, source.id)
        else:
            yield GeneratedDocument(document_id, writer.rewrite(source), Kind.REWRITE, source.id)


@dataclass(frozen=True, slots=True)
class _Topic:
    words: tuple[str, ...]  # the topic's own words, most frequent first (_Language.topic_cdf)
    people: tuple[tuple[str, str], ...]  # (first name, surname)
    places: tuple[str, ...]
    mentions: tuple[str, ...]  # how the text names the topic's people, places and organisations, by frequency


@dataclass(frozen=True, slots=True)
class _Language:
    vocabulary: npt.NDArray[np.object_]  # function words, then content words by falling frequency
    topic_cdf: npt.NDArray[np.float64]  # frequencies of a topic's words by rank, the same for every topic
    # The inverse of the token distribution, tabled: a uniform draw times its length indexes the code of a
    # token, a vocabulary index or, from len(vocabulary) on, the rank of a word of the document's topic.
    token_table: npt.NDArray[np.int32]
    function_cdf: npt.NDArray[np.float64]
    content_cdf: npt.NDArray[np.float64]
    function_count: int
    function_words: frozenset[str]
    substitutes: dict[str, str]  # content word -> another content word of about the same frequency
    words: frozenset[str]  # every lower-case vocabulary word
    first_names: tuple[str, ...]
    surnames: tuple[str, ...]
    agencies: tuple[str, ...]
    topics: tuple[_Topic, ...]


@dataclass(frozen=True, slots=True)
class _Article:
    id: str
    topic: _Topic
    headline: str
    byline: str
    paragraphs: tuple[tuple[str, ...], ...]  # sentences by paragraph
    footer: str = ""

    def render(self) -> str:
        lines = [self.headline, self.byline, "", "\n\n".join(" ".join(sentences) for sentences in self.paragraphs)]
        if self.footer:
            lines += ["", self.footer]
        return "\n".join(lines)


def _zipf_cdf(size: int, exponent: float, offset: float) -> npt.NDArray[np.float64]:
    # Zipf-Mandelbrot: weight 1 / (rank + offset) ** exponent; the offset flattens the head as in real text.
    weights = 1.0 / np.power(np.arange(1, size + 1, dtype=np.float64) + offset, exponent)
    cdf = np.cumsum(weights)
    cdf /= cdf[-1]
    return cdf


def _built_word(rng: random.Random, syllables: int) -> str:
    parts = []
    for _ in range(syllables):
        coda = rng.choice(_CODAS)
        parts.append(rng.choice(_ONSETS) + rng.choice(_VOWELS) + ("" if coda == "-" else coda))
    return "".join(parts)


def _distinct_words(rng: random.Random, count: int, syllables: Sequence[int], taken: set[str]) -> list[str]:
    words: list[str] = []
    while len(words) < count:
        word = _built_word(rng, rng.choice(syllables))
        suffix = rng.choice(_SUFFIXES)
        word += "" if suffix == "-" else suffix
        if word not in taken:
            taken.add(word)
            words.append(word)
    return words


def _accented(rng: random.Random, name: str) -> str:
    # English news spells foreign names with their diacritics (Zoë, São, Ibáñez); a few names here do too.
    if rng.random() >= ACCENTED_NAME_SHARE:
        return name
    positions = [position for position, letter in enumerate(name) if letter in _ACCENTS]
    if not positions:
        return name
    position = rng.choice(positions)
    return name[:position] + _ACCENTS[name[position]] + name[position + 1 :]


@cache
def _language() -> _Language:
    rng = random.Random(LANGUAGE_SEED)  # noqa: S311 - benchmark text, not a secret
    function_words = list(dict.fromkeys(_FUNCTION_WORDS))
    taken = set(function_words)
    content = _distinct_words(rng, CONTENT_WORDS, (1, 1, 1, 2, 2, 2, 2, 3, 3, 4), taken)
    # Common words are short (Zipf's law of abbreviation): rank the words by length, loosely.
    content.sort(key=lambda word: len(word) + rng.uniform(-2.5, 2.5))
    names = [_accented(rng, word.capitalize()) for word in _distinct_words(rng, 6_000, (2, 2, 2, 3), taken)]
    first_names, surnames = tuple(names[:600]), tuple(names[600:])
    place_roots = [_accented(rng, word.capitalize()) for word in _distinct_words(rng, 1_500, (1, 2, 2), taken)]
    places = [rng.choice(_PLACE_PATTERNS).format(root).replace("_", " ") for root in place_roots]
    agencies = tuple(
        rng.choice(_AGENCY_PATTERNS).format(word.capitalize()) for word in _distinct_words(rng, 40, (2,), taken)
    )

    # Neighbours in frequency swap places: a rewrite's substitute is about as common as the word it replaces.
    substitutes: dict[str, str] = {}
    for start in range(0, len(content) - 1, 2):
        substitutes[content[start]] = content[start + 1]
        substitutes[content[start + 1]] = content[start]

    topics = []
    for _ in range(TOPICS):
        # Topic words come from the middle of the frequency range: common enough to recur, rare enough to mark.
        word_ranks = rng.sample(range(100, CONTENT_WORDS), TOPIC_WORDS)
        people = tuple((rng.choice(first_names), rng.choice(surnames)) for _ in range(10))
        topic_places = tuple(rng.sample(places, 5))
        organisations = [f"the {rng.choice(places).split()[-1]} {rng.choice(_ORG_NOUNS)}" for _ in range(4)]
        # About half the mentions are people (by full name, title, surname, possessive), 30 % places, 20 % bodies.
        mentions = [
            mention
            for first, surname in people
            for mention in (
                f"{first} {surname}",
                f"{rng.choice(_TITLES)} {surname}",
                surname,
                surname,
                f"{surname}{APOSTROPHE}s",
            )
        ]
        mentions += [place for place in topic_places for _ in range(6)]
        mentions += [organisation for organisation in organisations for _ in range(5)]
        topics.append(
            _Topic(
                words=tuple(content[rank] for rank in word_ranks),
                people=people,
                places=topic_places,
                mentions=tuple(mentions),
            )
        )
    function_cdf = _zipf_cdf(len(function_words), 1.1, 1.5)
    content_cdf = _zipf_cdf(len(content), 1.05, 10.0)
    topic_cdf = _zipf_cdf(TOPIC_WORDS, 1.0, 2.0)
    return _Language(
        vocabulary=np.asarray(function_words + content, dtype=object),
        topic_cdf=topic_cdf,
        token_table=_token_table(len(function_words), len(content), function_cdf, topic_cdf, content_cdf),
        function_cdf=function_cdf,
        content_cdf=content_cdf,
        function_count=len(function_words),
        function_words=frozenset(function_words),
        substitutes=substitutes,
        words=frozenset(function_words + content),
        first_names=first_names,
        surnames=surnames,
        agencies=agencies,
        topics=tuple(topics),
    )


def _token_table(
    function_count: int,
    content_count: int,
    function_cdf: npt.NDArray[np.float64],
    topic_cdf: npt.NDArray[np.float64],
    content_cdf: npt.NDArray[np.float64],
) -> npt.NDArray[np.int32]:
    # 2**21 cells resolve probabilities down to 5e-7, about the rarest content word's: a search per token would
    # be exact and several times slower.
    draws = (np.arange(_TOKEN_TABLE_SIZE, dtype=np.float64) + 0.5) / _TOKEN_TABLE_SIZE
    general = FUNCTION_SHARE + TOPIC_SHARE
    codes = np.where(
        draws < FUNCTION_SHARE,
        np.searchsorted(function_cdf, draws / FUNCTION_SHARE),
        np.where(
            draws < general,
            function_count + content_count + np.searchsorted(topic_cdf, (draws - FUNCTION_SHARE) / TOPIC_SHARE),
            function_count + np.searchsorted(content_cdf, (draws - general) / (1 - general)),
        ),
    )
    return codes.astype(np.int32)


def _capitalised(word: str) -> str:
    # str.capitalize() would lower-case the rest ("New York" -> "New york").
    return word[:1].upper() + word[1:]


class _Writer:
    """Writes articles; all randomness comes from one Python and one numpy generator, both seeded."""

    def __init__(self, language: _Language, seed: int) -> None:
        self.language = language
        self.random = random.Random(seed)  # noqa: S311 - benchmark text, not a secret
        self.numpy = np.random.default_rng(seed)
        self._mu = math.log(MEDIAN_WORDS)
        self._topic_weights = cast("list[float]", language.topic_cdf.tolist())
        # Random draws are made for many documents at once and consumed in order (numpy is fast per array and
        # slow per call): running text with its topic slots, and the plan of each sentence.
        self._tokens: list[str] = []
        self._slots: list[int] = []  # positions in _tokens that take a word of the document's topic
        self._ranks: list[int] = []  # which of the topic's words, for each slot
        self._next_token = 0
        self._plans: list[tuple[int, bool, bool, bool, bool, float, float, float]] = []
        self._next_plan = 0

    def length(self) -> int:
        """Return how many body tokens to write for a text of a lognormal number of words."""
        words = min(MAX_WORDS, max(MIN_WORDS, self.random.lognormvariate(self._mu, WORDS_SIGMA)))
        return round(words / _WORDS_PER_BODY_TOKEN)

    def original(self, document_id: str) -> _Article:
        topic = self.random.choice(self.language.topics)
        sentences = self.sentences(topic, self.length())
        if self.random.random() < 0.5:
            place = self.random.choice(topic.places).upper()
            sentences[0] = f"{place} ({self.random.choice(self.language.agencies)}) — {sentences[0]}"
        return _Article(document_id, topic, self.headline(topic), self.byline(), self.paragraphs(sentences))

    def copy(self, source: _Article) -> str:
        headline = source.headline if self.random.random() < 0.5 else self.headline(source.topic)
        footer = f"© {self.random.choice(self.language.agencies)}" if self.random.random() < 0.3 else ""
        return _Article(source.id, source.topic, headline, self.byline(), source.paragraphs, footer).render()

    def excerpt(self, source: _Article) -> str:
        flat = [(number, sentence) for number, sentences in enumerate(source.paragraphs) for sentence in sentences]
        sizes = [sentence.count(" ") + 1 for _, sentence in flat]
        wanted = self.random.randint(EXCERPT_MIN_WORDS, EXCERPT_MAX_WORDS)
        start = self.random.randrange(len(flat))
        # Move the start back until the run from it can hold the excerpt (or the run is the whole source).
        while start > 0 and sum(sizes[start:]) < wanted:
            start -= 1
        end, words = start, 0
        while end < len(flat) and words < wanted:
            words += sizes[end]
            end += 1
        excerpt: list[list[str]] = []
        previous = -1
        for number, sentence in flat[start:end]:
            if not excerpt or number != previous:
                excerpt.append([])
            excerpt[-1].append(sentence)
            previous = number
        topic = source.topic if self.random.random() < 0.5 else self.random.choice(self.language.topics)
        own = self.paragraphs(self.sentences(topic, max(MIN_WORDS // 2, self.length() - words)))
        cut = self.random.randint(0, len(own))
        paragraphs = own[:cut] + tuple(tuple(sentences) for sentences in excerpt) + own[cut:]
        return _Article(source.id, topic, self.headline(topic), self.byline(), paragraphs).render()

    def rewrite(self, source: _Article) -> str:
        paragraphs: list[tuple[str, ...]] = []
        for sentences in source.paragraphs:
            kept = [self.reworded(sentence) for sentence in sentences if self.random.random() >= REWRITE_DROP_SENTENCE]
            if self.random.random() < REWRITE_ADD_SENTENCE:
                kept.extend(self.sentences(source.topic, MIN_SENTENCE_WORDS + 8))
            if kept:
                paragraphs.append(tuple(kept))
        headline = self.headline(source.topic)
        return _Article(source.id, source.topic, headline, self.byline(), tuple(paragraphs)).render()

    def reworded(self, sentence: str) -> str:
        if OPEN_QUOTE in sentence and self.random.random() < 0.7:
            return sentence  # quotes are usually kept word for word
        language, uniform = self.language, self.random.random
        tokens: list[str] = []
        for token in sentence.split(" "):
            core = token.rstrip(",.")
            lower = core.lower()
            substitute = language.substitutes.get(lower)
            if substitute is not None:
                # Capitalised words inside a sentence are names ("San Remo"), which rewrites keep.
                if (core == lower or not tokens) and uniform() < REWRITE_SUBSTITUTE:
                    token = (substitute if core == lower else _capitalised(substitute)) + token[len(core) :]
            elif lower in language.function_words and token == core and tokens and uniform() < REWRITE_DROP_FUNCTION:
                continue
            tokens.append(token)
        commas = [position for position, token in enumerate(tokens[3:-3], 3) if token.endswith(",")]
        if commas and tokens[-1].endswith(".") and uniform() < REWRITE_SWAP_CLAUSES:
            cut = commas[0]
            first, second = tokens[: cut + 1], tokens[cut + 1 :]
            first[-1] = first[-1][:-1]
            second[-1] = second[-1][:-1] + ","
            if first[0].lower() in language.words:
                first[0] = first[0].lower()
            second[0] = _capitalised(second[0])
            first[-1] += "."
            tokens = second + first
        return " ".join(tokens)

    def sentences(self, topic: _Topic, words: int) -> list[str]:
        plans = []
        total = 0
        while total < words:
            if self._next_plan == len(self._plans):
                self._plan_sentences()
            plans.append(self._plans[self._next_plan])
            self._next_plan += 1
            total += plans[-1][0]
        tokens = self._running_text(topic, total)
        mentions = topic.mentions
        sentences = []
        start = 0
        for length, entity, number, comma, quote, entity_at, number_at, mention_at in plans:
            words_of = tokens[start : start + length]
            start += length
            if entity:
                words_of[int(entity_at * length)] = mentions[int(mention_at * len(mentions))]
            if number:
                words_of[int(number_at * length)] = self.number()
            if comma and length > 10:
                words_of[4 + int(number_at * (length - 8))] += ","
            words_of[0] = _capitalised(words_of[0])
            body = " ".join(words_of)
            if not quote:
                sentences.append(body + ".")
                continue
            first, surname = topic.people[int(mention_at * len(topic.people))]
            style = int(entity_at * 3)
            if style == 0:
                verb = _SAY_VERBS[int(number_at * len(_SAY_VERBS))]
                sentences.append(f"{OPEN_QUOTE}{body},{CLOSE_QUOTE} {surname} {verb}.")
            elif style == 1:
                title = _TITLES[int(number_at * len(_TITLES))]
                sentences.append(f"{OPEN_QUOTE}{body},{CLOSE_QUOTE} said {title} {first} {surname}.")
            else:
                sentences.append(f"{first} {surname} said: {OPEN_QUOTE}{body}.{CLOSE_QUOTE}")
        return sentences

    def _running_text(self, topic: _Topic, count: int) -> list[str]:
        """Return the next `count` tokens of running text, with the topic's words in its slots."""
        if self._next_token + count > len(self._tokens):
            self._draw_tokens(max(count, _TOKEN_DRAW))
        start, end = self._next_token, self._next_token + count
        self._next_token = end
        tokens = self._tokens[start:end]
        low, high = bisect.bisect_left(self._slots, start), bisect.bisect_left(self._slots, end)
        words = topic.words
        for slot, rank in zip(self._slots[low:high], self._ranks[low:high], strict=True):
            tokens[slot - start] = words[rank]
        return tokens

    def _draw_tokens(self, count: int) -> None:
        language = self.language
        table = language.token_table
        codes = table[(self.numpy.random(count) * len(table)).astype(np.intp)]
        is_topic = codes >= len(language.vocabulary)
        self._tokens = cast("list[str]", language.vocabulary[np.where(is_topic, 0, codes)].tolist())
        self._slots = np.flatnonzero(is_topic).tolist()
        self._ranks = cast("list[int]", (codes[is_topic] - len(language.vocabulary)).tolist())
        self._next_token = 0

    def _plan_sentences(self) -> None:
        # Per sentence: its length, whether it names an entity, has a number, a clause boundary, is a quote,
        # and three uniform draws that place the entity and the number and choose the mention.
        rng = self.numpy
        lengths = rng.integers(MIN_SENTENCE_WORDS, MAX_SENTENCE_WORDS + 1, size=_PLAN_DRAW).tolist()
        flags = (rng.random((_PLAN_DRAW, 4)) < _SENTENCE_CHANCES).tolist()
        places = rng.random((_PLAN_DRAW, 3)).tolist()
        self._plans = [
            (length, entity, number, comma, quote, entity_at, number_at, mention_at)
            for length, (entity, number, comma, quote), (entity_at, number_at, mention_at) in zip(
                lengths, flags, places, strict=True
            )
        ]
        self._next_plan = 0

    def paragraphs(self, sentences: list[str]) -> tuple[tuple[str, ...], ...]:
        paragraphs = []
        start = 0
        while start < len(sentences):
            size = self.random.choice((1, 2, 2, 2, 3, 3, 4))
            paragraphs.append(tuple(sentences[start : start + size]))
            start += size
        return tuple(paragraphs)

    def number(self) -> str:
        draw, integer = self.random.random(), self.random.randint
        if draw < 0.3:
            return str(integer(2, 99))
        if draw < 0.5:
            return f"{integer(1_000, 999_999):,}"
        if draw < 0.65:
            return f"{integer(1, 99)}.{integer(0, 9)} percent"
        if draw < 0.8:
            return f"${integer(1, 950)} {self.random.choice(('million', 'billion'))}"
        return str(integer(1990, 2025))

    def headline(self, topic: _Topic) -> str:
        count = self.random.randint(6, 11)
        words = self.random.choices(topic.words, cum_weights=self._topic_weights, k=count)
        words[self.random.randrange(count)] = self.random.choice(topic.mentions).removeprefix("the ")
        return _capitalised(" ".join(words))

    def byline(self) -> str:
        language = self.language
        return f"By {self.random.choice(language.first_names)} {self.random.choice(language.surnames)}"


def main(argv: Sequence[str] | None = None) -> int:
    """Generate a corpus, print its shape and the generation rate, and optionally write it as JSONL."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.corpus", description="Generate the benchmark corpus and describe it."
    )
    parser.add_argument("--documents", type=int, default=10_000, help="how many documents (default 10000)")
    parser.add_argument("--seed", type=int, default=1, help="corpus seed (default 1)")
    parser.add_argument(
        "--output",
        type=Path,
        help='write {"id", "text", "meta": {"kind", "source_id"}} lines here (dedup ingest reads them)',
    )
    parser.add_argument("--show", type=int, default=0, metavar="N", help="print the first N documents")
    arguments = parser.parse_args(argv)
    out = sys.stdout
    kinds: Counter[Kind] = Counter()
    words: list[int] = []
    characters = 0
    shown = 0
    output = arguments.output.open("w", encoding="utf-8") if arguments.output else None
    started = time.perf_counter()
    try:
        for document in generate(arguments.documents, arguments.seed):
            kinds[document.kind] += 1
            words.append(len(document.text.split()))
            characters += len(document.text)
            if shown < arguments.show:
                shown += 1
                out.write(f"--- {document.id} {document.kind} source={document.source_id}\n{document.text}\n\n")
            if output is not None:
                meta = {"kind": str(document.kind), "source_id": document.source_id or ""}
                output.write(json.dumps({"id": document.id, "text": document.text, "meta": meta}) + "\n")
    finally:
        if output is not None:
            output.close()
    seconds = time.perf_counter() - started
    if not words:
        out.write("no documents\n")
        return 0
    quantiles = statistics.quantiles(words, n=100) if len(words) > 1 else [words[0]] * 99
    out.write(f"documents: {len(words)} in {seconds:.1f} s ({len(words) / seconds:,.0f}/s), seed {arguments.seed}\n")
    out.write("kinds: " + ", ".join(f"{kind} {kinds[kind]}" for kind in Kind) + "\n")
    out.write(
        f"words per document: median {statistics.median(words):.0f}, p1 {quantiles[0]:.0f}, "
        f"p99 {quantiles[98]:.0f}, min {min(words)}, max {max(words)}; "
        f"{characters / len(words):,.0f} characters on average\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Score provenance predictions against a labelled dataset: document, pair and passage (PAN plagdet) figures.

The figures are those of ``shared/datasets/README.md``, and agree with the reference scorer
``shared/tools/score_provenance.py`` to the last digit (``tests/unit/test_evaluation.py`` checks it, also on
random inputs). This is the team's own implementation: passages are compared as character ranges, merged
and intersected, rather than as sets of characters, so a long PAN document costs a few comparisons per
passage instead of one set element per character.

Truth files come in two kinds, told apart by their rows:

* **One row per document** (the seeds): scored on the document's origin. A row whose relation is
  ``original`` is not scored; a row that is ``unrelated`` or names no origin must get no origin; any other
  row must get one of its ``origin_candidates`` (or its ``origin``).
* **Rows that name a** ``candidate`` **(PAN) or** ``pair_with`` **(MSRP)**: scored on whether the document's
  prediction links the other one (as a direct source or as its origin). A link from an evaluated document
  to anything that is not its pair in the truth is a false positive. When rows carry ``passages``, PAN's
  plagdet scores the evidence spans of each link against them.

Relations are compared coarsely: duplicate | excerpt | rewrite, with light and heavy rewrites as rewrites.

Example:
    >>> truth = [TruthRow("copy", relation="excerpt", origin="wire"), TruthRow("wire", relation="original")]
    >>> scores = score_predictions(truth, [Prediction("copy", origin="wire", relation="excerpt")])
    >>> scores.origin_accuracy, scores.relation_accuracy
    (1.0, 1.0)
"""

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

COARSE_RELATIONS: Final[Mapping[str, str]] = {
    "duplicate": "duplicate",
    "excerpt": "excerpt",
    "rewrite": "rewrite",
    "light_rewrite": "rewrite",
    "heavy_rewrite": "rewrite",
}
# Truth relations that say "there is no reuse here"; a pair row without a relation is not reuse either.
_NO_REUSE: Final = frozenset({"unrelated", "original"})

_Range = tuple[int, int]
_PairKey = tuple[str, str | None]


@dataclass(frozen=True, slots=True)
class Span:
    """Aligned character ranges: ``[start, end)`` in a document and ``[source_start, source_end)`` in its source.

    Offsets count Unicode code points, like Python's str indexes and the API's ``Span``.
    """

    start: int
    end: int
    source_start: int
    source_end: int


@dataclass(frozen=True, slots=True)
class TruthRow:
    """One row of a dataset's ``truth.jsonl`` (the format is in ``shared/datasets/README.md``).

    Attributes:
        id: The document the row is about (PAN's suspicious document).
        relation: The dataset's relation: ``excerpt``, ``rewrite``, ``heavy_rewrite``, ``unrelated``,
            ``original``, ...; None when the row has none.
        origin: The document's source when it is a reuse case.
        origin_candidates: Several acceptable origins, when the dataset gives them; they win over `origin`.
        other: The other document of a pair row (``candidate`` in PAN, ``pair_with`` in MSRP).
        passages: The reuse cases of a pair, in this document (``start``, ``end``) and in `other`.
    """

    id: str
    relation: str | None = None
    origin: str | None = None
    origin_candidates: tuple[str, ...] = ()
    other: str | None = None
    passages: tuple[Span, ...] = ()

    @property
    def true_origins(self) -> frozenset[str]:
        """The origins a prediction may give for this row to be right; empty when it must give none."""
        if self.relation == "unrelated":
            return frozenset()
        if self.origin_candidates:
            return frozenset(self.origin_candidates)
        return frozenset({self.origin}) if self.origin else frozenset()


@dataclass(frozen=True, slots=True)
class SourceLink:
    """A direct source the service gave for a document, with the aligned passages as evidence."""

    source_id: str
    relation: str | None = None
    score: float = 0.0
    evidence: tuple[Span, ...] = ()


@dataclass(frozen=True, slots=True)
class Prediction:
    """What the service says about one document: its origin, its relation to its best source, its sources.

    Attributes:
        id: The document.
        origin: The root of its provenance chain; None for an origin.
        relation: The relation of the link to its best source (e.g. ``excerpt``); None without sources.
        sources: The direct sources, best first.
    """

    id: str
    origin: str | None = None
    relation: str | None = None
    sources: tuple[SourceLink, ...] = ()

    @property
    def linked_ids(self) -> frozenset[str]:
        """Every document this prediction links the document to: its direct sources and its origin."""
        linked = {source.source_id for source in self.sources}
        if self.origin:
            linked.add(self.origin)
        return frozenset(linked)


@dataclass(frozen=True, slots=True)
class DocumentScores:
    """Document-level figures: is the origin found a right one, and is the relation to it right.

    Attributes:
        derived: Scored rows that have a true origin.
        unrelated: Scored rows that must get no origin.
        claimed: Scored rows for which the service gave an origin, right or wrong.
        correct: Derived rows whose origin was found right.
        false_links: Unrelated rows that got an origin.
        relation_confusion: Among the right origins, how often each (truth, predicted) pair of coarse relations
            occurred.
    """

    derived: int
    unrelated: int
    claimed: int
    correct: int
    false_links: int
    relation_confusion: Mapping[tuple[str | None, str | None], int] = field(default_factory=dict)

    @property
    def precision(self) -> float:
        return _ratio(self.correct, self.claimed)

    @property
    def recall(self) -> float:
        return _ratio(self.correct, self.derived)

    @property
    def origin_accuracy(self) -> float:
        """Share of derived documents whose origin was found right (the same number as `recall`)."""
        return self.recall

    @property
    def f1(self) -> float:
        return harmonic_mean(self.precision, self.recall)

    @property
    def false_link_rate(self) -> float:
        return _ratio(self.false_links, self.unrelated)

    @property
    def relation_accuracy(self) -> float:
        return _ratio(relations_right(self.relation_confusion), self.correct)


@dataclass(frozen=True, slots=True)
class PassageScores:
    """PAN's micro-averaged passage figures over all pairs (Potthast et al. 2010, "An Evaluation Framework").

    A detection (an evidence span of a link to the pair's other document) detects a case (a truth passage)
    when they overlap on both sides. Both precision and recall count the characters where a case and a
    detection that detects it overlap, on both sides; that set is the same seen from either, so the two
    share one numerator.

    Attributes:
        case_characters: Characters, on both sides, covered by truth passages.
        detected_characters: Characters, on both sides, covered by evidence spans.
        overlap_characters: Characters where a case and a detection that detects it overlap.
        found_cases: Cases detected at least once.
        detections_of_found_cases: Over the found cases, how many detections detect each, summed.
    """

    case_characters: int
    detected_characters: int
    overlap_characters: int
    found_cases: int
    detections_of_found_cases: int

    @property
    def precision(self) -> float:
        return _ratio(self.overlap_characters, self.detected_characters)

    @property
    def recall(self) -> float:
        return _ratio(self.overlap_characters, self.case_characters)

    @property
    def granularity(self) -> float:
        """Detections per found case, on average; 1 is best, and 1 when nothing was found."""
        return self.detections_of_found_cases / self.found_cases if self.found_cases else 1.0

    @property
    def plagdet(self) -> float:
        return harmonic_mean(self.precision, self.recall) / math.log2(1 + self.granularity)


@dataclass(frozen=True, slots=True)
class PairScores:
    """Pair-level figures: does the service link the two documents of each pair, and nothing else.

    Attributes:
        pairs: Distinct (document, other) pairs in the truth.
        true_positives: Reuse pairs that are linked.
        false_positives: Linked pairs that are not reuse, plus links to documents outside the truth pairs.
        false_negatives: Reuse pairs that are not linked.
        passages: The passage-level figures, when the truth has passages.
        relation_confusion: Among the linked reuse pairs, how often each (truth, predicted) pair of coarse
            relations occurs; the predicted relation is that of the direct source link to the other document.
            The reference scorer has no pair-level relation figure; this one follows its document-level rule.
    """

    pairs: int
    true_positives: int
    false_positives: int
    false_negatives: int
    passages: PassageScores | None = None
    relation_confusion: Mapping[tuple[str | None, str | None], int] = field(default_factory=dict)

    @property
    def relation_accuracy(self) -> float:
        return _ratio(relations_right(self.relation_confusion), sum(self.relation_confusion.values()))

    @property
    def positives(self) -> int:
        """Pairs that are reuse cases in the truth."""
        return self.true_positives + self.false_negatives

    @property
    def precision(self) -> float:
        return _ratio(self.true_positives, self.true_positives + self.false_positives)

    @property
    def recall(self) -> float:
        return _ratio(self.true_positives, self.positives)

    @property
    def f1(self) -> float:
        return harmonic_mean(self.precision, self.recall)


Scores = DocumentScores | PairScores


def coarse_relation(relation: str | None) -> str | None:
    """Return a relation as it is compared: lower case, without ``RELATION_``, light and heavy rewrites as rewrites.

    >>> coarse_relation("RELATION_EXCERPT"), coarse_relation("heavy_rewrite"), coarse_relation("unrelated")
    ('excerpt', 'rewrite', 'unrelated')
    >>> coarse_relation("") is None
    True
    """
    if not relation:
        return None
    relation = relation.lower().removeprefix("relation_")
    return COARSE_RELATIONS.get(relation, relation)


def relations_right(confusion: Mapping[tuple[str | None, str | None], int]) -> int:
    """Return how many (truth, predicted) relation pairs of a confusion count agree."""
    return sum(count for (truth, predicted), count in confusion.items() if truth == predicted)


def harmonic_mean(precision: float, recall: float) -> float:
    """Return F1, the harmonic mean of precision and recall; 0 when both are 0.

    >>> harmonic_mean(1.0, 0.5), harmonic_mean(0.0, 0.0)
    (0.6666666666666666, 0.0)
    """
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def _ratio(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def index_predictions(predictions: Iterable[Prediction]) -> dict[str, Prediction]:
    """Return the predictions by document id; when an id comes twice, the first prediction counts."""
    by_id: dict[str, Prediction] = {}
    for prediction in predictions:
        by_id.setdefault(prediction.id, prediction)
    return by_id


def score_predictions(truth: Sequence[TruthRow], predictions: Iterable[Prediction]) -> Scores:
    """Score predictions against a truth file: at pair level when its rows name another document, else per document.

    A document of the truth without a prediction counts as "no origin found, nothing linked".
    """
    by_id = index_predictions(predictions)
    if any(row.other for row in truth):
        return score_pairs(truth, by_id)
    return score_documents(truth, by_id)


def score_documents(truth: Sequence[TruthRow], predictions: Mapping[str, Prediction]) -> DocumentScores:
    """Score each truth row on the origin found for its document (rows of relation ``original`` are skipped)."""
    derived = unrelated = claimed = correct = false_links = 0
    confusion: Counter[tuple[str | None, str | None]] = Counter()
    for row in truth:
        if row.relation == "original":
            continue
        prediction = predictions.get(row.id, Prediction(row.id))
        found = prediction.origin is not None
        claimed += found
        true_origins = row.true_origins
        if not true_origins:
            unrelated += 1
            false_links += found
        else:
            derived += 1
            if prediction.origin in true_origins:
                correct += 1
                confusion[coarse_relation(row.relation), coarse_relation(prediction.relation)] += 1
    return DocumentScores(
        derived=derived,
        unrelated=unrelated,
        claimed=claimed,
        correct=correct,
        false_links=false_links,
        relation_confusion=dict(confusion),
    )


def truth_pairs(truth: Iterable[TruthRow]) -> dict[_PairKey, TruthRow]:
    """Return the truth's rows by (document, other document); when a pair comes twice, the last row counts."""
    pairs: dict[_PairKey, TruthRow] = {}
    for row in truth:
        pairs[row.id, row.other] = row
    return pairs


def score_pairs(truth: Sequence[TruthRow], predictions: Mapping[str, Prediction]) -> PairScores:
    """Score whether each pair's document links the other, and count every other link of those documents as false.

    PAN's plagdet is added when any row has passages.
    """
    pairs = truth_pairs(truth)
    true_positives = false_positives = false_negatives = 0
    for document_id in dict.fromkeys(document_id for document_id, _ in pairs):
        linked_ids = predictions.get(document_id, Prediction(document_id)).linked_ids
        false_positives += sum((document_id, other) not in pairs for other in linked_ids)
    confusion: Counter[tuple[str | None, str | None]] = Counter()
    for (document_id, other), row in pairs.items():
        reuse = row.relation is not None and row.relation not in _NO_REUSE
        prediction = predictions.get(document_id, Prediction(document_id))
        linked = other in prediction.linked_ids
        true_positives += reuse and linked
        false_negatives += reuse and not linked
        false_positives += linked and not reuse
        if reuse and linked:
            found = next((source.relation for source in prediction.sources if source.source_id == other), None)
            confusion[coarse_relation(row.relation), coarse_relation(found)] += 1
    return PairScores(
        pairs=len(pairs),
        true_positives=true_positives,
        false_positives=false_positives,
        false_negatives=false_negatives,
        passages=score_passages(pairs, predictions) if any(row.passages for row in truth) else None,
        relation_confusion=dict(confusion),
    )


def score_passages(pairs: Mapping[_PairKey, TruthRow], predictions: Mapping[str, Prediction]) -> PassageScores:
    """Return PAN's passage figures over the given truth pairs, from the evidence of links between them.

    Characters count separately per pair and per side (the document's, the other document's).
    """
    case_characters = detected_characters = overlap_characters = found_cases = detections_of_found_cases = 0
    for (document_id, other), row in pairs.items():
        prediction = predictions.get(document_id, Prediction(document_id))
        cases = [_clipped(passage) for passage in row.passages]
        detections = [
            _clipped(span) for source in prediction.sources if source.source_id == other for span in source.evidence
        ]
        case_characters += _covered_length(case[0] for case in cases) + _covered_length(case[1] for case in cases)
        detected_characters += _covered_length(d[0] for d in detections) + _covered_length(d[1] for d in detections)
        overlaps: tuple[list[_Range], list[_Range]] = ([], [])
        for case in cases:
            detected_by = 0
            for detection in detections:
                here, there = _intersection(case[0], detection[0]), _intersection(case[1], detection[1])
                if here is not None and there is not None:
                    detected_by += 1
                    overlaps[0].append(here)
                    overlaps[1].append(there)
            if detected_by:
                found_cases += 1
                detections_of_found_cases += detected_by
        overlap_characters += _covered_length(overlaps[0]) + _covered_length(overlaps[1])
    return PassageScores(
        case_characters=case_characters,
        detected_characters=detected_characters,
        overlap_characters=overlap_characters,
        found_cases=found_cases,
        detections_of_found_cases=detections_of_found_cases,
    )


def _clipped(span: Span) -> tuple[_Range, _Range]:
    # A negative offset is taken as 0, and an end before its start makes an empty range.
    return _range(span.start, span.end), _range(span.source_start, span.source_end)


def _range(start: int, end: int) -> _Range:
    start = max(0, start)
    return start, max(start, end)


def _intersection(a: _Range, b: _Range) -> _Range | None:
    start, end = max(a[0], b[0]), min(a[1], b[1])
    return (start, end) if start < end else None


def _covered_length(ranges: Iterable[_Range]) -> int:
    """Return how many characters the union of half-open ranges covers.

    >>> _covered_length([(5, 10), (0, 3), (2, 4), (12, 12)])
    9
    """
    total = 0
    reach = 0
    for start, end in sorted(ranges):
        # Sorted by start, a range adds only what lies beyond the furthest end seen so far.
        if end > reach:
            total += end - max(start, reach)
            reach = end
    return total


# JSON: reading truth and prediction rows, writing predictions and figures.


def truth_row_from_json(record: object) -> TruthRow:
    """Return the truth row of one parsed ``truth.jsonl`` line.

    Raises:
        ValueError: The record is not a JSON object with a string ``id``, or a field has the wrong type.
    """
    fields = _json_object(record, "a truth row")
    passages = _json_list(fields.get("passages"), "passages")
    return TruthRow(
        id=_required_string(fields, "id"),
        relation=_optional_string(fields, "relation"),
        origin=_optional_string(fields, "origin"),
        origin_candidates=tuple(
            _string(value, "origin_candidates[]")
            for value in _json_list(fields.get("origin_candidates"), "origin_candidates")
        ),
        other=_optional_string(fields, "candidate") or _optional_string(fields, "pair_with"),
        passages=tuple(_passage_from_json(passage) for passage in passages),
    )


def _passage_from_json(record: object) -> Span:
    fields = _json_object(record, "a passage")
    start = _integer(fields, "this_offset")
    source_start = _integer(fields, "source_offset")
    return Span(
        start=start,
        end=start + _integer(fields, "this_length"),
        source_start=source_start,
        source_end=source_start + _integer(fields, "source_length"),
    )


def prediction_from_json(record: object) -> Prediction:
    """Return the prediction of one parsed predictions line (the format `prediction_to_json` writes).

    An empty ``origin`` means none, as an empty ``origin_id`` does in a GetProvenance answer.

    Raises:
        ValueError: The record does not have the fields and types of a prediction.
    """
    fields = _json_object(record, "a prediction")
    return Prediction(
        id=_required_string(fields, "id"),
        origin=_optional_string(fields, "origin") or None,
        relation=_optional_string(fields, "relation"),
        sources=tuple(_source_from_json(source) for source in _json_list(fields.get("sources"), "sources")),
    )


def _source_from_json(record: object) -> SourceLink:
    fields = _json_object(record, "a source")
    score = fields.get("score", 0.0)
    if not isinstance(score, int | float) or isinstance(score, bool):
        raise ValueError(f'"score" must be a number, got {score!r}')
    return SourceLink(
        source_id=_required_string(fields, "source_id"),
        relation=_optional_string(fields, "relation"),
        score=float(score),
        evidence=tuple(_span_from_json(span) for span in _json_list(fields.get("evidence"), "evidence")),
    )


def _span_from_json(record: object) -> Span:
    fields = _json_object(record, "an evidence span")
    return Span(*(_integer(fields, key) for key in ("start", "end", "source_start", "source_end")))


def prediction_to_json(prediction: Prediction) -> dict[str, object]:
    """Return a prediction as the JSON object the reference scorer reads (see its docstring).

    >>> link = SourceLink("wire", "excerpt", 0.5, (Span(0, 9, 40, 49),))
    >>> row = prediction_to_json(Prediction("copy", origin="wire", relation="excerpt", sources=(link,)))
    >>> row["origin"], row["sources"][0]["source_id"], row["sources"][0]["evidence"]
    ('wire', 'wire', [{'start': 0, 'end': 9, 'source_start': 40, 'source_end': 49}])
    """
    return {
        "id": prediction.id,
        "origin": prediction.origin,
        "relation": prediction.relation,
        "sources": [
            {
                "source_id": source.source_id,
                "relation": source.relation,
                "score": source.score,
                "evidence": [
                    {
                        "start": span.start,
                        "end": span.end,
                        "source_start": span.source_start,
                        "source_end": span.source_end,
                    }
                    for span in source.evidence
                ],
            }
            for source in prediction.sources
        ],
    }


def scores_to_json(scores: Scores) -> dict[str, object]:
    """Return the figures under the reference scorer's keys, so the JSON of either compares equal.

    >>> scores_to_json(PairScores(pairs=2, true_positives=1, false_positives=0, false_negatives=1))
    {'level': 'pair', 'pairs': 2, 'positives': 2, 'precision': 1.0, 'recall': 0.5, 'f1': 0.6666666666666666}
    """
    if isinstance(scores, DocumentScores):
        return {
            "level": "document",
            "derived": scores.derived,
            "unrelated": scores.unrelated,
            "origin_accuracy": scores.origin_accuracy,
            "precision": scores.precision,
            "recall": scores.recall,
            "f1": scores.f1,
            "false_link_rate": scores.false_link_rate,
            "relation_accuracy": scores.relation_accuracy,
            # Keys as the reference scorer writes them ("excerpt->rewrite", "None" for no relation).
            "relation_confusion": {
                f"{truth}->{predicted}": count
                for (truth, predicted), count in sorted(scores.relation_confusion.items(), key=str)
            },
        }
    figures: dict[str, object] = {
        "level": "pair",
        "pairs": scores.pairs,
        "positives": scores.positives,
        "precision": scores.precision,
        "recall": scores.recall,
        "f1": scores.f1,
    }
    if scores.passages is not None:
        figures |= {
            "passage_precision": scores.passages.precision,
            "passage_recall": scores.passages.recall,
            "granularity": scores.passages.granularity,
            "plagdet": scores.passages.plagdet,
        }
    return figures


def _json_object(record: object, what: str) -> Mapping[str, object]:
    if not isinstance(record, dict):
        raise ValueError(f"expected {what} as a JSON object, got {type(record).__name__}")
    return record


def _json_list(value: object, key: str) -> list[object]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f'"{key}" must be a list, got {type(value).__name__}')
    return value


def _string(value: object, key: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f'"{key}" must be a string, got {value!r}'[:120])
    return value


def _required_string(fields: Mapping[str, object], key: str) -> str:
    return _string(fields.get(key), key)


def _optional_string(fields: Mapping[str, object], key: str) -> str | None:
    value = fields.get(key)
    return None if value is None else _string(value, key)


def _integer(fields: Mapping[str, object], key: str) -> int:
    value = fields.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f'"{key}" must be a whole number, got {value!r}'[:120])
    return value

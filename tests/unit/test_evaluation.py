"""client.evaluation: the figures by hand, and agreement with the reference scorer shared/tools/score_provenance.py."""

import math
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from client.evaluation import (
    DocumentScores,
    PairScores,
    Prediction,
    Scores,
    SourceLink,
    Span,
    coarse_relation,
    prediction_from_json,
    prediction_to_json,
    score_predictions,
    scores_to_json,
    truth_row_from_json,
)
from tests.reference_scorer import Json, assert_same_figures, load_reference_scorer, reference_figures, skip_reason

# The reference scorer lives beside the checkout (/work/shared/tools here, and on CI), not in the repository.
REFERENCE_SCORER = Path(__file__).resolve().parents[3] / "shared" / "tools" / "score_provenance.py"
REFERENCE = load_reference_scorer(REFERENCE_SCORER)
needs_reference = pytest.mark.skipif(REFERENCE is None, reason=skip_reason(REFERENCE_SCORER))


def own_figures(truth: Sequence[Json], predictions: Sequence[Json]) -> dict[str, object]:
    return scores_to_json(own_scores(truth, predictions))


def own_scores(truth: Sequence[Json], predictions: Sequence[Json]) -> Scores:
    return score_predictions(
        [truth_row_from_json(row) for row in truth], [prediction_from_json(row) for row in predictions]
    )


def assert_agrees_with_reference(truth: Sequence[Json], predictions: Sequence[Json]) -> None:
    assert_same_figures(own_figures(truth, predictions), reference_figures(REFERENCE, truth, predictions))


def link(source_id: str, relation: str, *spans: tuple[int, int, int, int]) -> Json:
    return {
        "source_id": source_id,
        "relation": relation,
        "score": 0.5,
        "evidence": [{"start": a, "end": b, "source_start": c, "source_end": d} for a, b, c, d in spans],
    }


def passage(start: int, end: int, source_start: int, source_end: int) -> Json:
    return {
        "this_offset": start,
        "this_length": end - start,
        "source_offset": source_start,
        "source_length": source_end - source_start,
        "obfuscation": "none",
    }


# Document level, on truth like the seeds': one row per document.

SEED_TRUTH: list[Json] = [
    {"id": "000", "origin": "001", "relation": "rewrite"},
    {"id": "001", "origin": None, "relation": "original"},
    {"id": "002", "origin": "001", "relation": "excerpt"},
    {"id": "003", "origin": None, "relation": "original"},
    {"id": "004", "origin": None, "relation": "unrelated"},
]

SEED_ANSWERS: list[Json] = [
    {"id": "000", "origin": "001", "relation": "rewrite", "sources": [link("001", "rewrite", (0, 178, 109, 229))]},
    {"id": "001", "origin": None, "relation": None, "sources": []},
    {"id": "002", "origin": "001", "relation": "excerpt", "sources": [link("001", "excerpt", (0, 90, 0, 90))]},
    {"id": "003", "origin": None, "relation": None, "sources": []},
    {"id": "004", "origin": None, "relation": None, "sources": []},
]

# Wrong origin, missing prediction, a false link, a coarse relation match and a relation mismatch.
MIXED_TRUTH: list[Json] = [
    {"id": "a", "origin": "wire", "relation": "heavy_rewrite"},
    {"id": "b", "origin": "wire", "relation": "excerpt"},
    {"id": "c", "origin": "wire", "relation": "rewrite"},
    {"id": "d", "origin": "wire", "relation": "duplicate"},
    {"id": "e", "origin": None, "relation": "unrelated"},
    {"id": "f", "origin": "wire", "relation": "unrelated"},
    {"id": "g", "origin": None, "relation": "excerpt", "origin_candidates": ["wire", "mirror"]},
    {"id": "wire", "origin": None, "relation": "original"},
]

MIXED_ANSWERS: list[Json] = [
    {"id": "a", "origin": "wire", "relation": "RELATION_REWRITE", "sources": []},
    {"id": "b", "origin": "wire", "relation": "rewrite", "sources": []},
    {"id": "c", "origin": "blog", "relation": "rewrite", "sources": []},
    {"id": "e", "origin": "wire", "relation": "excerpt", "sources": []},
    {"id": "f", "origin": None, "relation": None, "sources": []},
    {"id": "g", "origin": "mirror", "relation": "excerpt", "sources": []},
    {"id": "g", "origin": None, "relation": None, "sources": []},
    {"id": "wire", "origin": "blog", "relation": "excerpt", "sources": []},
]


def test_seed_answers_score_full_marks_and_originals_are_not_scored() -> None:
    scores = own_scores(SEED_TRUTH, SEED_ANSWERS)

    assert isinstance(scores, DocumentScores)
    assert (scores.derived, scores.unrelated) == (2, 1)
    assert scores.origin_accuracy == scores.precision == scores.recall == scores.f1 == 1.0
    assert scores.false_link_rate == 0.0
    assert scores.relation_accuracy == 1.0
    assert scores.relation_confusion == {("rewrite", "rewrite"): 1, ("excerpt", "excerpt"): 1}


def test_document_figures_count_wrong_missing_and_false_origins() -> None:
    scores = own_scores(MIXED_TRUTH, MIXED_ANSWERS)

    assert isinstance(scores, DocumentScores)
    # Derived: a, b, c, d, g. Unrelated: e, and f (an "unrelated" row with an origin). wire is an original.
    assert (scores.derived, scores.unrelated) == (5, 2)
    # a, b and g (the first of its two predictions) are right; c names another origin; d has no prediction.
    assert scores.correct == 3
    # Origins given on scored rows: a, b, c, e, g.
    assert scores.claimed == 5
    assert scores.origin_accuracy == pytest.approx(3 / 5)
    assert scores.precision == pytest.approx(3 / 5)
    assert scores.f1 == pytest.approx(3 / 5)
    assert scores.false_link_rate == pytest.approx(1 / 2)
    # heavy_rewrite is a rewrite, so a is right; b is an excerpt found as a rewrite.
    assert scores.relation_confusion == {
        ("rewrite", "rewrite"): 1,
        ("excerpt", "rewrite"): 1,
        ("excerpt", "excerpt"): 1,
    }
    assert scores.relation_accuracy == pytest.approx(2 / 3)


def test_nothing_predicted_scores_zero_without_dividing_by_zero() -> None:
    scores = own_scores(SEED_TRUTH, [])

    assert isinstance(scores, DocumentScores)
    assert (scores.precision, scores.recall, scores.f1, scores.relation_accuracy) == (0.0, 0.0, 0.0, 0.0)


@needs_reference
@pytest.mark.parametrize(
    ("truth", "predictions"),
    [(SEED_TRUTH, SEED_ANSWERS), (SEED_TRUTH, []), (MIXED_TRUTH, MIXED_ANSWERS)],
    ids=["seeds", "seeds-unanswered", "mixed"],
)
def test_document_figures_agree_with_the_reference_scorer(truth: list[Json], predictions: list[Json]) -> None:
    assert_agrees_with_reference(truth, predictions)


# Pair level with passages, on truth like PAN's.

PAN_TRUTH: list[Json] = [
    # Two cases; the first is detected twice, by detections that overlap each other.
    {
        "id": "s1",
        "candidate": "r1",
        "relation": "rewrite",
        "origin": "r1",
        "passages": [passage(0, 100, 200, 300), passage(500, 550, 0, 50)],
    },
    # Unrelated, but linked with evidence: a false positive, and its evidence counts as detected characters.
    {"id": "s2", "candidate": "r2", "relation": "unrelated", "origin": None, "passages": []},
    # A case whose document has no prediction at all.
    {"id": "s3", "candidate": "r3", "relation": "excerpt", "origin": "r3", "passages": [passage(10, 20, 30, 40)]},
]

PAN_ANSWERS: list[Json] = [
    {
        "id": "s1",
        "origin": "r1",
        "relation": "rewrite",
        "sources": [
            # The first two detect case 1; the third touches case 2 in s1 only, so it detects nothing.
            link("r1", "rewrite", (0, 60, 200, 250), (40, 100, 240, 300), (500, 550, 1000, 1050)),
            # A link to a document outside the truth pairs: a false positive; its evidence is not scored.
            link("r9", "excerpt", (0, 100, 0, 100)),
        ],
    },
    {"id": "s2", "origin": "r2", "relation": "excerpt", "sources": [link("r2", "excerpt", (0, 10, 0, 10))]},
]


def test_pan_pairs_count_links_outside_the_truth_as_false_positives() -> None:
    scores = own_scores(PAN_TRUTH, PAN_ANSWERS)

    assert isinstance(scores, PairScores)
    assert (scores.pairs, scores.positives) == (3, 2)
    # s1-r1 is found; s3-r3 is not; s2-r2 (unrelated) and s1-r9 (outside the truth) are false.
    assert (scores.true_positives, scores.false_negatives, scores.false_positives) == (1, 1, 2)
    assert scores.precision == pytest.approx(1 / 3)
    assert scores.recall == pytest.approx(1 / 2)
    assert scores.f1 == pytest.approx(0.4)


def test_pair_relation_accuracy_reads_the_link_to_the_other_document_among_linked_reuse_pairs() -> None:
    truth = [
        {"id": "s1", "candidate": "r1", "relation": "heavy_rewrite", "origin": "r1"},
        {"id": "s1", "candidate": "r2", "relation": "excerpt", "origin": "r2"},
        {"id": "s2", "candidate": "r3", "relation": "excerpt", "origin": "r3"},
        {"id": "s3", "candidate": "r4", "relation": "excerpt", "origin": "r4"},
    ]
    answers = [
        # The best source's relation is excerpt, but the pair s1-r1 is judged on its own link: rewrite.
        {"id": "s1", "origin": "r2", "relation": "excerpt", "sources": [link("r2", "excerpt"), link("r1", "rewrite")]},
        {"id": "s2", "origin": "r3", "relation": "rewrite", "sources": [link("r3", "rewrite")]},
    ]

    scores = own_scores(truth, answers)

    assert isinstance(scores, PairScores)
    # s3-r4 is not linked, so its relation is not judged.
    assert scores.relation_confusion == {
        ("rewrite", "rewrite"): 1,
        ("excerpt", "excerpt"): 1,
        ("excerpt", "rewrite"): 1,
    }
    assert scores.relation_accuracy == pytest.approx(2 / 3)


def test_pan_plagdet_merges_overlapping_detections_and_counts_granularity() -> None:
    scores = own_scores(PAN_TRUTH, PAN_ANSWERS)

    assert isinstance(scores, PairScores)
    passages = scores.passages
    assert passages is not None
    # Cases: 100 + 100 and 50 + 50 characters in s1-r1, 10 + 10 in s3-r3.
    assert passages.case_characters == 320
    # Detections of s1-r1: [0, 100) and [500, 550) in s1, [200, 300) and [1000, 1050) in r1; s2-r2: 10 + 10.
    assert passages.detected_characters == 320
    # Case 1 is covered whole by its two overlapping detections, counted once: 100 + 100.
    assert passages.overlap_characters == 200
    assert passages.precision == passages.recall == pytest.approx(200 / 320)
    assert (passages.found_cases, passages.detections_of_found_cases) == (1, 2)
    assert passages.granularity == 2.0
    assert passages.plagdet == pytest.approx((200 / 320) / math.log2(3))


def test_detection_touching_a_case_on_one_side_only_does_not_detect_it() -> None:
    truth = [{"id": "s", "candidate": "r", "relation": "excerpt", "passages": [passage(0, 10, 0, 10)]}]
    answers = [{"id": "s", "origin": "r", "sources": [link("r", "excerpt", (0, 10, 50, 60))]}]

    scores = own_scores(truth, answers)

    assert isinstance(scores, PairScores)
    assert scores.passages is not None
    assert (scores.passages.precision, scores.passages.recall, scores.passages.granularity) == (0.0, 0.0, 1.0)
    assert scores.true_positives == 1


def test_evidence_with_negative_or_reversed_offsets_covers_nothing_below_zero() -> None:
    truth = [{"id": "s", "candidate": "r", "relation": "excerpt", "passages": [passage(0, 10, 0, 10)]}]
    answers = [{"id": "s", "sources": [link("r", "excerpt", (-5, 5, 0, 10), (8, 3, 0, 4))]}]

    scores = own_scores(truth, answers)

    assert isinstance(scores, PairScores)
    assert scores.passages is not None
    assert scores.passages.detected_characters == 5 + 10
    assert scores.passages.overlap_characters == 5 + 10


@needs_reference
@pytest.mark.parametrize(
    ("truth", "predictions"),
    [
        (PAN_TRUTH, PAN_ANSWERS),
        (PAN_TRUTH, []),
        (PAN_TRUTH, [{"id": "s1", "origin": None, "relation": None, "sources": [link("r1", "excerpt")]}]),
        (
            [{"id": "s", "candidate": "r", "relation": "excerpt", "passages": [passage(0, 10, 0, 10)]}],
            [{"id": "s", "origin": "r", "sources": [link("r", "excerpt", (0, 10, 50, 60))]}],
        ),
        (
            [{"id": "s", "candidate": "r", "relation": "excerpt", "passages": [passage(0, 10, 0, 10)]}],
            [{"id": "s", "sources": [link("r", "excerpt", (-5, 5, 0, 10), (8, 3, 0, 4))]}],
        ),
    ],
    ids=["pan", "pan-unanswered", "pan-link-without-evidence", "one-side-only", "negative-and-reversed"],
)
def test_pan_figures_agree_with_the_reference_scorer(truth: list[Json], predictions: list[Json]) -> None:
    assert_agrees_with_reference(truth, predictions)


# Pair level without passages, on truth like MSRP's.

MSRP_TRUTH: list[Json] = [
    {"id": "m2", "origin": None, "pair_with": "m1", "relation": "rewrite", "label": "paraphrase"},
    {"id": "m4", "origin": None, "pair_with": "m3", "relation": "unrelated", "label": "non_paraphrase"},
    {"id": "m6", "origin": None, "pair_with": "m5", "relation": "rewrite", "label": "paraphrase"},
    {"id": "m8", "origin": None, "pair_with": "m7", "relation": "rewrite", "label": "paraphrase"},
    # The same pair twice: the last row counts.
    {"id": "m8", "origin": None, "pair_with": "m7", "relation": "unrelated", "label": "non_paraphrase"},
]

MSRP_ANSWERS: list[Json] = [
    {"id": "m2", "origin": "m1", "relation": "rewrite", "sources": [link("m1", "rewrite", (0, 40, 0, 38))]},
    {"id": "m4", "origin": "m3", "relation": "excerpt", "sources": [link("m3", "excerpt", (0, 40, 0, 38))]},
    # Linked through its origin only, and to a sentence of another pair.
    {"id": "m6", "origin": "m5", "relation": "rewrite", "sources": [link("m1", "rewrite")]},
]


def test_msrp_pairs_count_the_origin_as_a_link_and_the_last_row_of_a_pair() -> None:
    scores = own_scores(MSRP_TRUTH, MSRP_ANSWERS)

    assert isinstance(scores, PairScores)
    assert scores.passages is None
    assert (scores.pairs, scores.positives) == (4, 2)
    # m2-m1 and m6-m5 found; m4-m3 is unrelated, m6-m1 is outside the truth; m8-m7 is unrelated after all.
    assert (scores.true_positives, scores.false_negatives, scores.false_positives) == (2, 0, 2)
    assert (scores.precision, scores.recall) == (0.5, 1.0)


@needs_reference
@pytest.mark.parametrize(
    ("truth", "predictions"),
    [(MSRP_TRUTH, MSRP_ANSWERS), (MSRP_TRUTH, []), (MSRP_TRUTH[:1], MSRP_ANSWERS[2:])],
    ids=["msrp", "msrp-unanswered", "msrp-only-false-links"],
)
def test_msrp_figures_agree_with_the_reference_scorer(truth: list[Json], predictions: list[Json]) -> None:
    assert_agrees_with_reference(truth, predictions)


# Random truth and predictions: the two scorers must agree on every figure.

IDS = ("a", "b", "c", "d")
TRUTH_RELATIONS = (None, "duplicate", "excerpt", "rewrite", "light_rewrite", "heavy_rewrite", "unrelated", "original")
PREDICTED_RELATIONS = (None, "duplicate", "excerpt", "rewrite", "RELATION_EXCERPT", "REWRITE", "unspecified")
ids = st.sampled_from(IDS)
offsets = st.integers(min_value=-5, max_value=50)
nudges = st.integers(min_value=-8, max_value=8)


@st.composite
def truth_rows(draw: st.DrawFn, *, pairs: bool) -> Json:
    row: Json = {"id": draw(ids), "relation": draw(st.sampled_from(TRUTH_RELATIONS)), "origin": draw(st.none() | ids)}
    if draw(st.integers(0, 4)) == 0:
        row["origin_candidates"] = draw(st.lists(ids, max_size=2))
    # Now and then a row of a pair file names no other document, or names it under the other dataset's key.
    if pairs and draw(st.integers(0, 9)) > 0:
        row[draw(st.sampled_from(("candidate", "pair_with")))] = draw(ids)
        row["passages"] = draw(st.lists(truth_passages(), max_size=3))
    return row


@st.composite
def truth_passages(draw: st.DrawFn) -> Json:
    start, source_start = draw(st.integers(0, 40)), draw(st.integers(0, 40))
    return passage(start, start + draw(st.integers(0, 25)), source_start, source_start + draw(st.integers(0, 25)))


@st.composite
def evidence_near(draw: st.DrawFn, passages: list[Json]) -> tuple[int, int, int, int]:
    """A span around one of the passages, moved a little on each side, or anywhere when there are none."""
    if not passages or draw(st.integers(0, 3)) == 0:
        return draw(st.tuples(offsets, offsets, offsets, offsets))
    case = draw(st.sampled_from(passages))
    start, source_start = case["this_offset"], case["source_offset"]
    return (
        start + draw(nudges),
        start + case["this_length"] + draw(nudges),
        source_start + draw(nudges),
        source_start + case["source_length"] + draw(nudges),
    )


@st.composite
def answer_to(draw: st.DrawFn, row: Json) -> Json:
    """A prediction for a truth row's document, often naming the row's origin or other document."""
    near = [value for value in (row.get("origin"), row.get("candidate"), row.get("pair_with")) if value]
    # Mostly the row's own documents, so that links are often right and evidence often meets the passages.
    linked = st.one_of(st.sampled_from(near), st.sampled_from(near), ids) if near else ids
    passages: list[Json] = row.get("passages") or []
    sources = [
        link(draw(linked), "excerpt", *draw(st.lists(evidence_near(passages), max_size=4)))
        for _ in range(draw(st.integers(0, 2)))
    ]
    return {
        "id": row["id"],
        "origin": draw(st.none() | linked),
        "relation": draw(st.sampled_from(PREDICTED_RELATIONS)),
        "sources": sources,
    }


@st.composite
def truth_and_answers(draw: st.DrawFn) -> tuple[list[Json], list[Json]]:
    pairs = draw(st.booleans())
    truth = draw(st.lists(truth_rows(pairs=pairs), min_size=1, max_size=8))
    answers = [draw(answer_to(row)) for row in truth if draw(st.integers(0, 3)) > 0]
    # Predictions for documents outside the truth, and second predictions for an id, which must not count.
    answers += draw(st.lists(answer_to({"id": draw(ids)}), max_size=2))
    return truth, draw(st.permutations(answers))


@needs_reference
@settings(max_examples=500, deadline=None)
@given(truth_and_answers())
def test_random_truth_and_predictions_score_as_the_reference_scorer_does(data: tuple[list[Json], list[Json]]) -> None:
    truth, answers = data
    assert_agrees_with_reference(truth, answers)


# Reading and writing JSON.


def test_prediction_round_trips_through_json() -> None:
    prediction = Prediction(
        "copy", origin="wire", relation="excerpt", sources=(SourceLink("wire", "excerpt", 0.75, (Span(0, 9, 4, 13),)),)
    )

    assert prediction_from_json(prediction_to_json(prediction)) == prediction


def test_empty_origin_in_a_prediction_means_none() -> None:
    assert prediction_from_json({"id": "a", "origin": "", "sources": []}).origin is None


def test_truth_row_reads_the_other_document_from_candidate_or_pair_with_and_passages_as_spans() -> None:
    pan = truth_row_from_json({"id": "s", "candidate": "r", "relation": "excerpt", "passages": [passage(5, 9, 1, 2)]})
    msrp = truth_row_from_json({"id": "m2", "pair_with": "m1", "relation": "rewrite"})

    assert (pan.other, pan.passages) == ("r", (Span(5, 9, 1, 2),))
    assert (msrp.other, msrp.passages) == ("m1", ())


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (["s"], "expected a truth row as a JSON object"),
        ({"relation": "excerpt"}, '"id" must be a string'),
        ({"id": "s", "origin": 7}, '"origin" must be a string'),
        ({"id": "s", "passages": {"this_offset": 0}}, '"passages" must be a list'),
        ({"id": "s", "passages": [{"this_offset": "0"}]}, '"this_offset" must be a whole number'),
    ],
)
def test_malformed_truth_row_is_a_value_error_naming_the_field(record: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        truth_row_from_json(record)


def test_coarse_relation_folds_case_prefix_and_rewrite_kinds() -> None:
    assert [coarse_relation(name) for name in ("RELATION_DUPLICATE", "light_rewrite", "Excerpt", None)] == [
        "duplicate",
        "rewrite",
        "excerpt",
        None,
    ]

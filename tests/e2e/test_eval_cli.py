"""`dedup eval` against a real server: a tiny labelled dataset built from the seed corpus, scored end to end."""

import json
from pathlib import Path

import pytest

from client.cli import main
from tests.e2e.conftest import CORPUS
from tests.reference_scorer import Json, assert_same_figures, load_reference_scorer, reference_figures, skip_reason

# The reference scorer lives beside the checkout (/work/shared/tools here, and on CI), not in the repository.
REFERENCE_SCORER = Path(__file__).resolve().parents[3] / "shared" / "tools" / "score_provenance.py"
REFERENCE = load_reference_scorer(REFERENCE_SCORER)

# The seeds' provenance (corpus/README.md), as a dataset's truth: one row per document.
SEED_TRUTH: list[Json] = [
    {"id": "seed:000", "origin": "seed:001", "relation": "rewrite", "label": "blog rewrite"},
    {"id": "seed:001", "origin": None, "relation": "original", "label": "Reuters wire"},
    {"id": "seed:002", "origin": "seed:001", "relation": "excerpt", "label": "news site excerpt"},
    {"id": "seed:003", "origin": None, "relation": "original", "label": "VOA, written independently"},
    {"id": "seed:004", "origin": None, "relation": "unrelated", "label": "AP, written independently"},
]


def write_seed_dataset(directory: Path) -> Path:
    """Write the five seeds as a dataset (documents.jsonl, truth.jsonl) in the shared datasets' format."""
    directory.mkdir()
    documents = [
        {"id": f"seed:{path.name[:3]}", "text": path.read_text(encoding="utf-8"), "meta": {"source": "seed corpus"}}
        for path in sorted(CORPUS.glob("*.txt"))
    ]
    (directory / "documents.jsonl").write_text("".join(json.dumps(row) + "\n" for row in documents), encoding="utf-8")
    (directory / "truth.jsonl").write_text("".join(json.dumps(row) + "\n" for row in SEED_TRUTH), encoding="utf-8")
    return directory


def run_eval(server_address: str, dataset: Path, predictions: Path, capsys: pytest.CaptureFixture[str]) -> Json:
    exit_code = main(["--target", server_address, "eval", str(dataset), "--predictions", str(predictions), "--json"])
    assert exit_code == 0
    report: Json = json.loads(capsys.readouterr().out)
    return report


def read_jsonl(path: Path) -> list[Json]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_eval_scores_the_seeds_right(server_address: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dataset = write_seed_dataset(tmp_path / "seeds")

    report = run_eval(server_address, dataset, tmp_path / "predictions.jsonl", capsys)

    assert report["documents"] == 5
    assert report["ingest"]["created"] == 5
    assert report["ingest"]["documents_per_second"] > 0
    scores = report["scores"]
    assert (scores["level"], scores["derived"], scores["unrelated"]) == ("document", 2, 1)
    assert scores["origin_accuracy"] == 1.0
    assert scores["precision"] == 1.0
    assert scores["false_link_rate"] == 0.0
    assert scores["relation_accuracy"] == 1.0


def test_eval_predictions_file_scores_the_same_with_the_reference_scorer(
    server_address: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if REFERENCE is None:
        pytest.skip(skip_reason(REFERENCE_SCORER))
    dataset = write_seed_dataset(tmp_path / "seeds")
    predictions_file = tmp_path / "predictions.jsonl"

    report = run_eval(server_address, dataset, predictions_file, capsys)

    predictions = read_jsonl(predictions_file)
    assert [prediction["id"] for prediction in predictions] == [row["id"] for row in SEED_TRUTH]
    by_id = {prediction["id"]: prediction for prediction in predictions}
    assert (by_id["seed:002"]["origin"], by_id["seed:002"]["relation"]) == ("seed:001", "excerpt")
    assert by_id["seed:002"]["sources"][0]["evidence"]
    assert_same_figures(report["scores"], reference_figures(REFERENCE, SEED_TRUTH, predictions))


def test_eval_on_a_warm_server_finds_the_documents_unchanged_and_scores_the_same(
    server_address: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dataset = write_seed_dataset(tmp_path / "seeds")
    first = run_eval(server_address, dataset, tmp_path / "first.jsonl", capsys)

    again = main(["--target", server_address, "eval", str(dataset), "--seed", "7", "--json"])

    assert again == 0
    second = json.loads(capsys.readouterr().out)
    assert second["ingest"]["unchanged"] == 5
    assert second["scores"] == first["scores"]

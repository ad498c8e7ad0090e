"""The `dedup` command against a real server: ingest the corpus, then ask for provenance."""

import json
from pathlib import Path

import pytest

from client.cli import main
from tests.e2e.conftest import CORPUS


def test_cli_ingests_the_corpus_and_reports_provenance(server_address: str, capsys: pytest.CaptureFixture[str]) -> None:
    paths = [str(path) for path in sorted(CORPUS.glob("*.txt"))]
    assert main(["--target", server_address, "ingest", *paths]) == 0
    capsys.readouterr()
    assert main(["--target", server_address, "--json", "provenance", "002_534b010889ca0eb9"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["origin_id"] == "001_83c010ac56584491"
    assert answer["sources"][0]["relation"] == "RELATION_EXCERPT"
    assert main(["--target", server_address, "provenance", "000_687f1ee267ab1df4"]) == 0
    assert "001_83c010ac56584491" in capsys.readouterr().out
    assert main(["--target", server_address, "--json", "stats"]) == 0
    assert json.loads(capsys.readouterr().out)["document_count"] == "5"


def test_cli_ingests_jsonl_with_metadata(
    server_address: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    records = [
        {
            "id": "wire",
            "text": (CORPUS / "001_83c010ac56584491.txt").read_text(encoding="utf-8"),
            "meta": {"source": "Reuters", "published_at": "2017-03-08"},
        },
        {
            "id": "blog",
            "text": (CORPUS / "000_687f1ee267ab1df4.txt").read_text(encoding="utf-8"),
            "meta": {"source": "blog", "published_at": "2017-03-09T10:00:00Z"},
        },
    ]
    corpus = tmp_path / "feed.jsonl"
    corpus.write_text("\n".join(json.dumps(record) for record in records) + "\n", encoding="utf-8")
    assert main(["--target", server_address, "ingest", str(corpus)]) == 0
    capsys.readouterr()
    assert main(["--target", server_address, "--json", "provenance", "blog"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["origin_id"] == "wire"
    assert answer["sources"][0]["direction_basis"] == "DIRECTION_BASIS_PUBLISHED_AT"


def test_cli_reports_an_unknown_id_and_exits_1(server_address: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--target", server_address, "provenance", "nope"]) == 1
    assert "NOT_FOUND" in capsys.readouterr().err

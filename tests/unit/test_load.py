"""`dedup load`'s engine without a server: --mix parsing, percentiles, and the generated documents."""

import math
import random
import re
from fractions import Fraction
from pathlib import Path

import pytest

from client.cli import main
from client.load import (
    DEFAULT_COPY_SHARE,
    DEFAULT_MIX,
    OPERATIONS,
    DocumentGenerator,
    GeneratedDocument,
    LatencySummary,
    LoadConfig,
    LoadReport,
    MemorySample,
    OperationReport,
    format_report,
    parse_mix,
    percentile,
    report_to_json,
)

# --mix


def test_mix_gives_unnamed_operations_weight_zero() -> None:
    assert parse_mix(" ingest = 1 , find=4.5") == {
        "ingest": 1.0,
        "find": 4.5,
        "find-text": 0.0,
        "provenance": 0.0,
        "cluster": 0.0,
        "compare": 0.0,
        "stats": 0.0,
    }


def test_default_mix_names_every_operation() -> None:
    assert list(parse_mix(DEFAULT_MIX)) == list(OPERATIONS)
    assert parse_mix(DEFAULT_MIX)["find"] == 4.0


@pytest.mark.parametrize(
    ("mix", "message"),
    [
        ("ingest=1,search=2", "unknown operation 'search'; the operations are ingest, find, find-text"),
        ("ingest=1,find=-1", "the weight of 'find' must be a finite number at least 0, got '-1'"),
        ("ingest=one", "the weight of 'ingest' must be a number, got 'one'"),
        ("ingest=nan", "must be a finite number"),
        ("ingest=inf", "must be a finite number"),
        ("ingest", "'ingest' is not name=weight"),
        ("ingest=1,", "'' is not name=weight"),
        ("=1", "'=1' is not name=weight"),
        ("ingest=1,ingest=2", "'ingest' is given twice"),
        ("ingest=0,find=0", "every weight is 0"),
        ("", "the mix is empty"),
        ("Ingest=1", "unknown operation 'Ingest'"),
    ],
)
def test_a_bad_mix_is_refused_with_a_message_saying_what_to_write(mix: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_mix(mix)


@pytest.mark.parametrize(
    "arguments",
    [
        ["--mix", "ingest=1,bogus=2"],
        ["--mix", "find=-3"],
        ["--concurrency", "0"],
        ["--duration", "0"],
        ["--requests", "-5"],
        ["--rate", "fast"],
        ["--warmup", "-1"],
        ["--batch-size", "0"],
    ],
)
def test_bad_load_options_are_usage_errors_with_exit_code_2(
    arguments: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    # argparse refuses them before anything connects, so no server is needed.
    with pytest.raises(SystemExit) as exited:
        main(["--target", "127.0.0.1:1", "load", *arguments])
    assert exited.value.code == 2
    assert f"argument {arguments[0]}" in capsys.readouterr().err


def test_mix_errors_reach_the_command_line_with_the_list_of_operations(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["load", "--mix", "ingest=1,bogus=2"])
    assert (
        "unknown operation 'bogus'; the operations are ingest, find, find-text, provenance" in capsys.readouterr().err
    )


def test_an_ids_file_without_ids_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "ids.txt"
    empty.write_text("\n\n")
    # The file is read before any call, so an unreachable target does not matter.
    assert main(["--target", "127.0.0.1:1", "load", "--ids-from", str(empty), "--requests", "1"]) == 2
    assert "no ids to query" in capsys.readouterr().err


def test_a_load_run_needs_a_bound() -> None:
    with pytest.raises(ValueError, match="duration, a number of requests, or both"):
        LoadConfig(mix=parse_mix("find=1"), duration=None, requests=None)


# Percentiles: nearest rank.


@pytest.mark.parametrize(
    ("percent", "expected"),
    # The worked example of the nearest-rank method (Wikipedia, "Percentile").
    [(0, 15), (5, 15), (30, 20), (40, 20), (50, 35), (100, 50)],
)
def test_nearest_rank_percentiles_of_five_values(percent: float, expected: float) -> None:
    assert percentile([15, 20, 35, 40, 50], percent) == expected


def test_percentiles_of_one_to_a_hundred_are_the_values_themselves() -> None:
    values = list(range(1, 101))
    assert [percentile(values, p) for p in (1, 50, 90, 95, 99, 100)] == [1, 50, 90, 95, 99, 100]


def test_fractional_percentiles_take_the_exact_rank() -> None:
    values = list(range(1, 1001))
    # 99.9 % of 1000 is 999 exactly; in floating point it is 999.0000000000001, whose ceiling would be 1000.
    assert percentile(values, 99.9) == 999
    assert percentile(values, 0.1) == 1


def test_percentile_is_the_smallest_value_that_covers_the_share() -> None:
    rng = random.Random(3)  # noqa: S311 -- test data, not a secret
    for size in (1, 2, 3, 7, 10, 99, 100, 101, 1000):
        values = sorted(rng.uniform(0, 1) for _ in range(size))
        for p in (50, 90, 95, 99, 99.9):
            share = Fraction(str(p)) / 100 * size
            value = percentile(values, p)
            assert sum(1 for other in values if other <= value) >= share
            # ...and no smaller value of the data covers it.
            smaller = [other for other in values if other < value]
            assert not smaller or sum(1 for other in values if other <= smaller[-1]) < share


@pytest.mark.parametrize(("values", "percent"), [([], 50), ([1.0], -1), ([1.0], 100.5)])
def test_percentile_refuses_no_values_and_shares_outside_0_to_100(values: list[float], percent: float) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 -- the two messages are checked by their own callers
        percentile(values, percent)


def test_latency_summary_is_in_milliseconds_whatever_the_order() -> None:
    seconds = [0.001 * n for n in range(100, 0, -1)]  # 100 ms down to 1 ms
    summary = LatencySummary.of(seconds)
    assert summary is not None
    assert summary.percentiles == {50: 50.0, 90: 90.0, 95: 95.0, 99: 99.0}
    assert summary.max == 100.0
    assert LatencySummary.of([]) is None


# Generated documents.


def _words(text: str) -> list[str]:
    return re.findall(r"[\w$%.,'-]+", text.lower())


def _shingles(text: str, size: int = 4) -> set[tuple[str, ...]]:
    words = _words(text)
    return {tuple(words[i : i + size]) for i in range(len(words) - size + 1)}


def test_the_same_seed_gives_the_same_documents_in_any_order() -> None:
    forward = DocumentGenerator(seed=11, id_prefix="a-").documents(range(300))
    # A fresh generator asked for the last documents first builds their sources on its own, and agrees.
    backward = DocumentGenerator(seed=11, id_prefix="a-")
    assert [backward.document(index) for index in reversed(range(300))] == list(reversed(forward))
    assert forward[7].id == "a-00000007"


def test_another_seed_gives_other_documents() -> None:
    one = DocumentGenerator(seed=1).documents(range(20))
    two = DocumentGenerator(seed=2).documents(range(20))
    assert not {document.text for document in one} & {document.text for document in two}


def test_documents_are_news_sized_english() -> None:
    documents = DocumentGenerator(seed=5).documents(range(200))
    counts = [len(document.text.split()) for document in documents]
    assert 250 <= sum(counts) / len(counts) <= 500
    assert min(counts) >= 80
    assert max(counts) <= 900
    first = documents[0].text
    headline, body = first.split("\n\n", 1)
    assert headline
    assert not headline.endswith(".")
    assert re.match(r"[A-Z ]+, [A-Z][a-z]+ \d+ \([A-Za-z ]+\) - [A-Z]", body)
    # Sentences start with a capital letter and end with a full stop, and no markup is left in the text.
    assert all(sentence[0].isupper() or sentence[0] in "\"'$" for sentence in re.split(r"(?<=\.) ", body.strip()))
    assert not set("[]|*{}") & set(first)


def test_about_the_copy_share_of_documents_are_planted_copies_of_earlier_ones() -> None:
    generator = DocumentGenerator(seed=9, source_window=200)
    plans = [generator.plan(index) for index in range(5000)]
    derived = [(index, kind, source) for index, (kind, source) in enumerate(plans) if source is not None]
    assert abs(len(derived) / len(plans) - DEFAULT_COPY_SHARE) < 0.03
    assert {kind for _, kind, _ in derived} == {"duplicate", "excerpt", "rewrite"}
    assert all(index - 200 <= source < index for index, _, source in derived)
    assert DocumentGenerator(seed=9, copy_share=0).plan(17) == ("original", None)


def _sentences(document: GeneratedDocument) -> list[str]:
    # Without the dateline, which is glued to the first sentence.
    body = document.text.split("\n\n", 1)[1].split(" - ", 1)[1]
    return re.split(r"(?<=\.)\s+", body.strip())


def test_planted_copies_carry_their_source_text() -> None:
    generator = DocumentGenerator(seed=4)
    seen: set[str] = set()
    for document in generator.documents(range(400)):
        if document.source_index is None:
            continue
        source = generator.document(document.source_index)
        source_shingles = _shingles(source.text)
        verbatim = len(_shingles(document.text) & source_shingles) / len(_shingles(document.text))
        source_numbers = set(re.findall(r"\d[\d,.]*\d", source.text))
        if document.kind == "duplicate":
            # Near-verbatim and near-whole, both ways.
            assert verbatim > 0.85
            assert len(_shingles(document.text) & source_shingles) / len(source_shingles) > 0.8
        elif document.kind == "excerpt":
            # A run of at least three of the source's sentences, verbatim, inside other text.
            source_sentences = set(_sentences(source))
            runs = [sentence in source_sentences for sentence in _sentences(document)]
            assert any(all(runs[i : i + 3]) for i in range(len(runs) - 2))
            assert not all(runs)
        else:
            # The same names and figures, mostly other word sequences: a rewrite, not a copy.
            numbers = set(re.findall(r"\d[\d,.]*\d", document.text))
            assert len(numbers & source_numbers) / len(numbers) > 0.6
            assert verbatim < 0.5
        seen.add(document.kind)
    assert seen == {"duplicate", "excerpt", "rewrite"}


def test_query_texts_derive_from_the_document_they_are_made_from() -> None:
    generator = DocumentGenerator(seed=2)
    source = generator.document(10)
    text = generator.derived_text(10, random.Random(1))  # noqa: S311 -- test data, not a secret
    shared = set(re.findall(r"\d[\d,.]*\d", text)) & set(re.findall(r"\d[\d,.]*\d", source.text))
    assert len(shared) >= 3
    assert text != source.text


def test_copy_share_outside_0_to_1_is_refused() -> None:
    with pytest.raises(ValueError, match="copy_share"):
        DocumentGenerator(seed=1, copy_share=1.5)
    assert math.isclose(DocumentGenerator(seed=1).copy_share, DEFAULT_COPY_SHARE)


# The server's memory in the report


def memory_report(samples: list[MemorySample], error: str | None = None) -> LoadReport:
    total = OperationReport("total", 0, 0, 0.0, 0, 0.0, None)
    return LoadReport(
        config=LoadConfig(mix=parse_mix("stats=1")),
        target="127.0.0.1:1",
        seconds=30.0,
        interrupted_by=None,
        operations=[],
        total=total,
        statuses=[],
        rejected_documents=[],
        ingest_results={},
        warmup_calls=0,
        warmup_statuses=[],
        start_lag=None,
        memory=samples,
        memory_error=error,
    )


def test_the_report_gives_the_servers_memory_growth_by_half_and_the_indexes_share() -> None:
    mib = 2**20
    samples = [
        MemorySample(0.0, 500 * mib, 10 * mib, 1000),
        MemorySample(10.0, 530 * mib, 12 * mib, 1500),
        MemorySample(20.0, 540 * mib, 14 * mib, 2000),
        MemorySample(30.5, 545 * mib, 16 * mib, 2600),
    ]

    lines = format_report(memory_report(samples)).splitlines()

    first = next(number for number, line in enumerate(lines) if line.startswith("server memory"))
    assert lines[first] == (
        "server memory (GetStats: the server and its workers, resident): 500.0 MiB when measuring began, "
        "545.0 MiB at the end, 545.0 MiB at most (4 readings)"
    )
    # Halved at the reading nearest the middle of the run (15.25 s): the one at 20 s.
    assert lines[first + 1] == (
        "  +45.0 MiB (+40.0 MiB by 20 s, +5.0 MiB after) while 1600 documents were added; of it the indexes +6.0 MiB"
    )
    assert report_to_json(memory_report(samples))["server_memory"] == {
        "samples": [
            {
                "seconds": s.seconds,
                "resident_bytes": s.resident_bytes,
                "index_bytes": s.index_bytes,
                "documents": s.documents,
            }
            for s in samples
        ],
        "error": None,
    }


def test_the_report_says_why_the_servers_memory_is_not_known() -> None:
    report = memory_report([], "GetStats failed: PERMISSION_DENIED")

    assert "server memory: not known (GetStats failed: PERMISSION_DENIED)" in format_report(report).splitlines()

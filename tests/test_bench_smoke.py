"""Each benchmark in bench/ runs end to end on a tiny corpus and prints its figures, so none of them can rot.

These are not measurements: tens of documents say nothing about speed. They check that the corpus is
deterministic and planted as described, that every script still runs against the current server, client and
signer, and that it prints the figures and targets its README promises.
"""

from __future__ import annotations

import io
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from difflib import SequenceMatcher
from pathlib import Path

import pytest

from bench import bench_copies, bench_ingest, bench_merges, bench_query, bench_signatures, bench_verify, corpus
from bench.corpus import GeneratedDocument, Kind, Shares, generate
from bench.ingestion import Batch, batches_of, ingest
from bench.report import Report
from bench.server_process import ServerProcess


def test_corpus_is_deterministic_for_a_seed_and_differs_between_seeds() -> None:
    first = list(generate(40, seed=5))

    assert first == list(generate(40, seed=5))
    assert [document.text for document in first] != [document.text for document in generate(40, seed=6)]


def test_corpus_plants_each_kind_with_a_source_generated_before_it() -> None:
    documents = list(generate(300, seed=2))
    position = {document.id: number for number, document in enumerate(documents)}
    kinds = Counter(document.kind for document in documents)

    assert len(position) == len(documents)
    assert set(kinds) == set(Kind)
    assert kinds[Kind.ORIGINAL] > len(documents) / 2
    for number, document in enumerate(documents):
        if document.kind is Kind.ORIGINAL:
            assert document.source_id is None
        else:
            assert document.source_id is not None
            assert documents[position[document.source_id]].kind is Kind.ORIGINAL
            assert position[document.source_id] < number


def test_corpus_documents_are_news_sized_with_curly_quotes() -> None:
    documents = list(generate(300, seed=3))
    words = sorted(len(document.text.split()) for document in documents)

    assert 350 <= words[len(words) // 2] <= 550
    assert words[0] >= 100
    assert words[-1] <= 1800
    assert any(corpus.OPEN_QUOTE in document.text and corpus.APOSTROPHE in document.text for document in documents)


def test_corpus_copies_keep_the_body_excerpts_embed_a_run_and_rewrites_keep_most_words() -> None:
    documents = list(generate(300, seed=4))
    by_id = {document.id: document for document in documents}

    for document in documents:
        if document.kind is Kind.ORIGINAL:
            continue
        source = by_id[document.source_id or ""].text
        if document.kind is Kind.COPY:
            assert source.split("\n\n", 1)[1] in document.text  # everything below the headline and byline
        elif document.kind is Kind.EXCERPT:
            words, source_words = document.text.split(), source.split()
            run = SequenceMatcher(None, words, source_words, autojunk=False).find_longest_match()
            assert run.size >= min(100, len(source_words) // 2)
        else:
            kept = set(source.lower().split()) & set(document.text.lower().split())
            assert len(kept) >= 0.6 * len(set(source.lower().split()))


def test_corpus_refuses_shares_that_do_not_add_up() -> None:
    with pytest.raises(ValueError, match="add up to 1"):
        Shares(original=0.5, copy=0.1, excerpt=0.1, rewrite=0.1)
    assert Counter(document.kind for document in generate(50, shares=Shares(1, 0, 0, 0))) == {Kind.ORIGINAL: 50}


def test_corpus_command_describes_the_corpus(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "corpus.jsonl"

    assert corpus.main(["--documents", "30", "--output", str(output)]) == 0

    printed = capsys.readouterr().out
    assert "documents: 30" in printed
    assert "words per document: median" in printed
    assert len(output.read_text(encoding="utf-8").splitlines()) == 30


def test_signature_benchmark_verifies_and_prints_medians_and_ratios(capsys: pytest.CaptureFixture[str]) -> None:
    code = bench_signatures.main(["--documents", "12", "--rounds", "1", "--verify", "6"])

    printed = capsys.readouterr().out
    assert "VERIFY FAILED" not in printed
    assert "MISSING" not in printed, "MinHashSigner.sign_text is missing: the benchmark measures nothing of ours"
    assert code == 0
    assert "verified: sign_text and hash_values equal datasketch" in printed
    assert "ours: sign_text" in printed
    assert "(a) same features vs sign_text" in printed
    assert "(a) same features vs sign_text and second minima" in printed
    assert "target ≥ 10x (aim 20x)" in printed


def test_signature_benchmark_runs_each_path_after_different_neighbours() -> None:
    calls: list[str] = []

    def recording(name: str) -> Callable[[int], object]:
        return lambda index: calls.append(name)

    paths = {name: recording(name) for name in "abcde"}

    best = bench_signatures.time_paths(paths, count=40, rounds=1)

    assert sorted(best) == list("abcde")
    assert all(len(times) == 40 for times in best.values())
    orders = [calls[start : start + 5] for start in range(0, len(calls), 5)]
    assert all(sorted(order) == list("abcde") for order in orders)
    # A rotation of one order would put each path after the same one whenever it is not first.
    predecessors = {order[order.index("a") - 1] for order in orders if order[0] != "a"}
    assert len(predecessors) > 1


def test_verification_benchmark_times_each_kind_of_pair_and_counts_those_found_related(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = bench_verify.main(["--documents", "60", "--rounds", "1"])

    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "analyse a text (profile_text)" in printed
    for kind in ("copy", "excerpt", "rewrite", "unrelated", "all pairs"):
        assert f"compare analysed texts, {kind}" in printed
    for kind in ("copy", "excerpt", "rewrite", "unrelated"):
        assert f"analyse both and compare, {kind}" in printed
    # Every planted copy is verified as related to its original, and no two consecutive originals are.
    copies = re.search(r"copy +(\d+) of (\d+)", printed)
    assert copies is not None
    assert copies.group(1) == copies.group(2) != "0"
    assert re.search(r"unrelated +0 of [1-9]", printed)


def test_ingest_benchmark_runs_both_pipelines_and_checks_links(capsys: pytest.CaptureFixture[str]) -> None:
    code = bench_ingest.main(["--documents", "40", "--batch-size", "8"])

    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "INGEST_STATUS_CREATED 40" in printed
    assert "ratio gRPC / datasketch" in printed
    assert "target ≥ 2x" in printed
    assert "linked to their source" in printed


def test_ingest_and_query_benchmarks_pass_server_arguments_to_the_servers_they_start(tmp_path: Path) -> None:
    # A stride the server refuses: the server's own message shows the argument reached it.
    with pytest.raises(RuntimeError, match="screening_stride must be from 1 to 50"):
        bench_ingest.main(["--documents", "8", "--server-arg=--screening-stride=0", "--no-check"])
    with pytest.raises(RuntimeError, match="screening_stride must be from 1 to 50"):
        bench_query.main(["--documents", "8", "--store", str(tmp_path / "store"), "--server-arg=--screening-stride=0"])


def test_copies_benchmark_times_each_quarter_and_traces_the_copies_to_the_story(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = bench_copies.main(["--copies", "24", "--batch-size", "4"])

    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "statuses: INGEST_STATUS_CREATED 25" in printed
    assert "copies 18 to 24" in printed
    assert "last quarter / first quarter" in printed
    # Dated as a feed is, every copy, excerpt and rewrite traces back to the story, and the story to nothing.
    assert "24 of 24 documents checked have the story as their origin" in printed
    assert "the story's own origin: none" in printed


def test_query_benchmark_builds_a_store_and_prints_latency_memory_and_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "store"
    arguments = ["--documents", "30", "--store", str(store), "--queries", "16", "--clients", "2", "--batch-size", "8"]

    code = bench_query.main([*arguments, "--restarts", "1"])

    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "store: building" in printed
    assert "start to serving (median)" in printed
    assert "memory per document" in printed
    for phase in ("FindSimilar by id", "FindSimilar by text", "GetProvenance"):
        assert f"{phase}: 16 calls" in printed
        assert f"{phase} p99" in printed
    assert "errors" in printed
    assert " 0 errors" in printed

    # A second run on the same --store reuses it rather than ingesting again.
    stored = bench_query.build_store(Report(), store, tmp_path / "again.log", 30, seed=1, streams=2, batch_size=8)

    assert stored == 30
    assert "store: reusing" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="seed 1, not 2"):
        bench_query.build_store(Report(), store, tmp_path / "again.log", 30, seed=2, streams=2, batch_size=8)


def test_query_benchmark_refuses_a_store_built_from_another_corpus_version(tmp_path: Path) -> None:
    store = tmp_path / "store"
    store.mkdir()
    (store / bench_query.MARKER_NAME).write_text('{"corpus_version": 0, "seed": 1, "id_prefix": "news-"}')

    with pytest.raises(SystemExit, match="build the store again"):
        bench_query.build_store(Report(), store, tmp_path / "server.log", 30, seed=1, streams=2, batch_size=8)


def test_memory_per_document_is_not_called_met_when_the_empty_server_was_the_larger() -> None:
    measured_lines, mismeasured_lines = io.StringIO(), io.StringIO()
    measured, mismeasured = Report(measured_lines), Report(mismeasured_lines)
    mib = 2**20

    bench_query.report_memory(measured, resident=900 * mib, peak=950 * mib, empty_resident=540 * mib, stored=200_000)
    bench_query.report_memory(
        mismeasured, resident=900 * mib, peak=950 * mib, empty_resident=3_400 * mib, stored=200_000
    )

    assert (measured.met, measured.missed) == (1, 0)
    assert "1,887 B" in measured_lines.getvalue()
    assert (mismeasured.met, mismeasured.missed) == (0, 1)
    assert "not measured: the empty server (3,400.0 MiB) was larger" in mismeasured_lines.getvalue()


def test_an_interrupted_ingest_stops_its_streams(tmp_path: Path) -> None:
    def interrupted(batches: Iterator[Batch]) -> Iterator[Batch]:
        for number, batch in enumerate(batches):
            if number == 3:
                raise KeyboardInterrupt  # as Ctrl-C arrives while the next batch is being generated
            yield batch

    documents: Iterator[GeneratedDocument] = generate(40, seed=7)
    with ServerProcess(tmp_path / "data", tmp_path / "server.log") as server:
        server.start()
        with pytest.raises(KeyboardInterrupt):
            ingest(server.address, interrupted(batches_of(documents, 4)), streams=3)

        # Left waiting on their queue, the streams would keep the interpreter from exiting after Ctrl-C.
        deadline = time.monotonic() + 10
        while any(thread.name.startswith("ingest-") for thread in threading.enumerate()):
            assert time.monotonic() < deadline, [thread.name for thread in threading.enumerate()]
            time.sleep(0.05)


def test_merges_benchmark_keeps_segments_under_the_limit_and_prints_both_configurations(
    capsys: pytest.CaptureFixture[str],
) -> None:
    limited = bench_merges.fill(limit=60, documents=120, windows=4, batch=4, stride=40, seed=2)
    unlimited = bench_merges.fill(limit=None, documents=120, windows=4, batch=4, stride=40, seed=2)
    assert max(limited.segments) <= 60 < max(unlimited.segments)
    assert sum(limited.segments) == sum(unlimited.segments) == 4 * 121
    assert limited.index_bytes > 0

    code = bench_merges.main(["--documents", "60", "--windows", "3", "--batch", "4", "--stride", "20", "--limit", "40"])
    output = capsys.readouterr().out
    assert code == 0
    assert "no limit" in output
    assert "limit 40 windows" in output
    assert output.count("largest rise of the peak above resident") == 2
    assert "look-up median" in output

"""`dedup load` against a real server process: counts add up, runs stop on time, failures are counted, pacing holds."""

from __future__ import annotations

import json
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from client.cli import main
from client.load import PERCENTILES
from tests.e2e.conftest import ROOT, ServerProcess

Json = dict[str, Any]  # parsed JSON
# Cheap calls, for the tests that are about timing rather than about the work.
LIGHT_MIX = "ingest=1,stats=2,find-text=1"


@dataclass(frozen=True)
class GuardedServer:
    address: str
    write_token: str
    read_token: str


@pytest.fixture(scope="module")
def guarded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GuardedServer]:
    """One server process for the module, requiring bearer tokens; the runs use id prefixes of their own."""
    directory = tmp_path_factory.mktemp("load")
    write_token, read_token = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    tokens = directory / "tokens"
    tokens.write_text(f"{write_token} write\n{read_token} read\n")
    server = ServerProcess(directory / "data", directory / "server.log", arguments=["--tokens-file", str(tokens)])
    server.start()
    yield GuardedServer(server.address, write_token, read_token)
    server.kill()


@pytest.fixture
def load_server(guarded_server: GuardedServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """The server's address, with the write token in DEDUP_TOKEN as a load test would have it."""
    monkeypatch.setenv("DEDUP_TOKEN", guarded_server.write_token)
    return guarded_server.address


@pytest.fixture(autouse=True)
def _no_token_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests that want a token say so (load_server sets one); the caller's own must not leak in.
    monkeypatch.delenv("DEDUP_TOKEN", raising=False)


def run_load(address: str, *arguments: str) -> int:
    return main(["--target", address, "--wait", "10", "load", *arguments])


def table_rows(stdout: str) -> dict[str, list[str]]:
    """The report's table, by operation: calls, non-OK, req/s, docs/s, the percentiles and max, as printed."""
    lines = stdout.splitlines()
    start = next(number for number, line in enumerate(lines) if line.startswith("operation"))
    rows: dict[str, list[str]] = {}
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        name, *cells = line.split()
        rows[name] = cells
    return rows


def operation(report: Json, name: str) -> Json:
    operations = report["operations"]
    assert isinstance(operations, dict)
    entry = operations[name] if name != "total" else report["total"]
    assert isinstance(entry, dict)
    return entry


def test_a_run_by_request_count_adds_up_and_its_json_matches_the_table(
    load_server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report_file = tmp_path / "report.json"
    mix = "ingest=1,find=2,find-text=1,provenance=1,cluster=1,compare=1,stats=1"
    exit_code = run_load(
        load_server,
        *("--requests", "48", "--concurrency", "3", "--mix", mix, "--batch-size", "4"),
        *("--seed", "3", "--id-prefix", "count-", "--json", str(report_file)),
    )
    captured = capsys.readouterr()
    assert exit_code == 0, captured.out + captured.err
    report: Json = json.loads(report_file.read_text())

    assert report["all_ok"] is True
    assert report["statuses"] == []
    total = operation(report, "total")
    assert total["count"] == total["ok"] == 48
    names = ["ingest", "find", "find-text", "provenance", "cluster", "compare", "stats"]
    assert sum(operation(report, name)["count"] for name in names) == 48
    ingest = operation(report, "ingest")
    assert ingest["documents"] == 4 * ingest["count"]
    assert report["ingest_results"] == {"created": ingest["documents"], "unchanged": 0, "replaced": 0, "rejected": 0}
    assert "all calls OK" in captured.out

    # Every figure of the table is the JSON's, as printed.
    rows = table_rows(captured.out)
    assert set(rows) == {*names, "total"}
    for name, cells in rows.items():
        entry = operation(report, name)
        assert int(cells[0]) == entry["count"]
        assert int(cells[1]) == entry["non_ok"]
        assert cells[2] == f"{entry['requests_per_second']:.1f}"
        if name in ("ingest", "total"):
            assert cells[3] == f"{entry['documents_per_second']:.1f}"
        latency = entry["latency_ms"]
        assert isinstance(latency, dict)
        expected = [f"{latency[f'p{p}']:.2f}" for p in PERCENTILES] + [f"{latency['max']:.2f}"]
        assert cells[4:] == expected
        assert float(cells[4]) <= float(cells[5]) <= float(cells[6]) <= float(cells[7]) <= float(cells[8])
    # The progress line went to stderr, a line per second, not to stdout.
    assert "requests" not in captured.out.split("operation")[0]


def test_a_duration_bounded_run_stops_soon_after_its_duration_and_leaves_out_the_warmup(
    load_server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    started = time.monotonic()
    exit_code = run_load(
        load_server,
        *("--duration", "1", "--warmup", "0.3", "--concurrency", "2", "--mix", LIGHT_MIX, "--batch-size", "2"),
        *("--id-prefix", "duration-", "--json"),
    )
    elapsed = time.monotonic() - started
    captured = capsys.readouterr()
    assert exit_code == 0, captured.err
    report: Json = json.loads(captured.out)
    # 1.3 s of load, plus the calls in flight at the end: a generous bound, for a busy machine.
    assert 1.3 <= elapsed < 7.0
    assert 0.8 <= report["seconds"] < 6.0
    warmup = report["warmup"]
    assert isinstance(warmup, dict)
    assert warmup["calls"] > 0
    assert operation(report, "total")["count"] > 0
    # One progress line a second on stderr (not a terminal here, so plain lines).
    progress = [line for line in captured.err.splitlines() if " s  requests " in line]
    assert len(progress) >= 1
    assert "p50" in progress[0]
    # The server's memory, asked once the warm-up was over and again at the end.
    memory = report["server_memory"]
    assert memory["error"] is None
    samples = memory["samples"]
    assert len(samples) >= 2
    assert all(sample["resident_bytes"] > sample["index_bytes"] >= 0 for sample in samples)
    assert samples[-1]["index_bytes"] > 0
    assert [sample["seconds"] for sample in samples] == sorted(sample["seconds"] for sample in samples)
    assert samples[-1]["documents"] > samples[0]["documents"]


def test_queries_for_ids_that_are_not_stored_are_counted_as_not_found_and_exit_1(
    load_server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = tmp_path / "ids.txt"
    ids.write_text("nowhere-1\nnowhere-2\n\nnowhere-3\n")
    exit_code = run_load(
        load_server, "--ids-from", str(ids), "--requests", "30", "--mix", "find=1,provenance=1,cluster=1", "--json"
    )
    captured = capsys.readouterr()
    assert exit_code == 1
    report: Json = json.loads(captured.out)
    assert report["all_ok"] is False
    assert report["query_ids"] == 3
    total = operation(report, "total")
    assert (total["count"], total["ok"], total["non_ok"]) == (30, 0, 30)
    statuses = report["statuses"]
    assert isinstance(statuses, list)
    assert {status["operation"] for status in statuses} == {"find", "provenance", "cluster"}
    assert {status["code"] for status in statuses} == {"NOT_FOUND"}
    assert sum(status["count"] for status in statuses) == 30
    assert all("nowhere-" in status["example"] for status in statuses)


def test_the_table_lists_every_non_ok_status_with_an_example(
    load_server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = tmp_path / "ids.txt"
    ids.write_text("missing\n")
    assert run_load(load_server, "--ids-from", str(ids), "--requests", "5", "--mix", "provenance=1") == 1
    out = capsys.readouterr().out
    assert table_rows(out)["provenance"][:2] == ["5", "5"]
    [line] = [line for line in out.splitlines() if "NOT_FOUND" in line]
    assert line.split()[:3] == ["provenance", "NOT_FOUND", "5"]
    assert "e.g." in line
    assert "missing" in line
    assert "not OK: 5 calls or documents failed" in out


def test_calls_without_a_token_are_counted_as_unauthenticated_and_exit_1(
    guarded_server: GuardedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    exit_code = run_load(guarded_server.address, "--requests", "12", "--mix", "ingest=1,stats=1,find-text=1", "--json")
    captured = capsys.readouterr()
    assert exit_code == 1
    report: Json = json.loads(captured.out)
    statuses = report["statuses"]
    assert isinstance(statuses, list)
    assert {status["code"] for status in statuses} == {"UNAUTHENTICATED"}
    assert sum(status["count"] for status in statuses) == 12
    assert operation(report, "total")["non_ok"] == 12
    # Its memory is not known either, and the report says why.
    assert report["server_memory"]["samples"] == []
    assert "UNAUTHENTICATED" in report["server_memory"]["error"]


def test_a_read_token_is_refused_ingest_and_allowed_queries(
    guarded_server: GuardedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    exit_code = run_load(
        guarded_server.address,
        # One argument: a random token may begin with "-", which argparse would take for an option.
        f"--token={guarded_server.read_token}",
        "--requests",
        "20",
        "--mix",
        "ingest=1,stats=1",
        "--json",
    )
    report: Json = json.loads(capsys.readouterr().out)
    assert exit_code == 1
    ingest, stats = operation(report, "ingest"), operation(report, "stats")
    assert ingest["ok"] == 0
    assert ingest["non_ok"] == ingest["count"]
    assert stats["non_ok"] == 0
    assert ingest["count"] + stats["count"] == 20
    statuses = report["statuses"]
    assert isinstance(statuses, list)
    assert [(status["operation"], status["code"], status["count"]) for status in statuses] == [
        ("ingest", "PERMISSION_DENIED", ingest["count"])
    ]


def test_rate_paces_the_calls_roughly(load_server: str, capsys: pytest.CaptureFixture[str]) -> None:
    exit_code = run_load(
        load_server,
        *("--rate", "30", "--duration", "1.5", "--concurrency", "4", "--mix", "stats=3,find-text=1", "--json"),
    )
    report: Json = json.loads(capsys.readouterr().out)
    assert exit_code == 0
    assert report["loop"] == "open"
    # 30 calls/s for 1.5 s is 45 calls on the schedule, never more; a loaded machine may start the last few late.
    count = operation(report, "total")["count"]
    assert isinstance(count, int)
    assert 30 <= count <= 45
    lag = report["start_lag_ms"]
    assert isinstance(lag, dict)
    assert set(lag) == {"p50", "p90", "p95", "p99", "max"}


def stopped_under_way(command: list[str], stop: signal.Signals, sigint: signal.Handlers) -> tuple[int, str, float]:
    """Run `command` with SIGINT set to `sigint`, send it `stop` once its first progress line is out.

    Returns its exit code, its stdout and how long it took to exit after the signal.
    """
    process = subprocess.Popen(  # noqa: S603 - this interpreter running the project's own client
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        preexec_fn=lambda: signal.signal(signal.SIGINT, sigint),
    )
    try:
        deadline = time.monotonic() + 20
        assert process.stderr is not None
        # Stop it once it is under way: its first progress line says so.
        while " s  requests " not in process.stderr.readline() and time.monotonic() < deadline:
            pass
        stopped = time.monotonic()
        process.send_signal(stop)
        out, _ = process.communicate(timeout=20)
    finally:
        process.kill()
    return process.returncode, out, time.monotonic() - stopped


@pytest.mark.slow
def test_ctrl_c_stops_the_run_and_still_prints_the_report(load_server: str) -> None:
    command = [sys.executable, "-m", "client", "--target", load_server, "load", "--duration", "60"]
    # The child reads DEDUP_TOKEN from the environment load_server set.
    command += ["--mix", LIGHT_MIX, "--id-prefix", "interrupted-"]

    # A shell without job control starts background commands with SIGINT ignored; a terminal user's Ctrl-C
    # reaches a process that has the default handler.
    exit_code, out, seconds = stopped_under_way(command, signal.SIGINT, signal.SIG_DFL)

    assert seconds < 10
    assert exit_code == 130
    assert "interrupted (Ctrl-C)" in out
    assert int(table_rows(out)["total"][0]) > 0


@pytest.mark.slow
def test_sigterm_stops_the_run_and_still_prints_the_report(load_server: str) -> None:
    command = [sys.executable, "-m", "client", "--target", load_server, "load", "--duration", "60", "--json", "-"]
    command += ["--mix", LIGHT_MIX, "--id-prefix", "terminated-"]

    # `kill PID` and `timeout` send SIGTERM: how a background run, which ignores Ctrl-C, is stopped.
    exit_code, out, seconds = stopped_under_way(command, signal.SIGTERM, signal.SIG_IGN)

    assert seconds < 10
    assert exit_code == 128 + signal.SIGTERM
    report: Json = json.loads(out)
    assert report["interrupted"] is True
    assert report["interrupted_by"] == "SIGTERM"
    count = operation(report, "total")["count"]
    assert isinstance(count, int)
    assert count > 0

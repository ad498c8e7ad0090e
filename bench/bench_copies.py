"""Ingest of one story's many copies over gRPC: does a copy cost more as the copies before it pile up?

A wire story is reprinted, cut and reworded by hundreds of sites. Each new copy is verified against the closest
stored texts (at most the verification budget), and its links join the story's; deciding them reads the links
around it. This benchmark starts a real ``dedup-server`` on a new store, ingests one generated original and then
``--copies`` documents made from it (copies, excerpts and rewrites, seeded), one batch at a time from one client,
and prints the ingest rate over each quarter of them and the last quarter's rate against the first's. Then it
asks GetProvenance of each of them (at most 500, evenly spread) whether its origin is the story.

Documents carry ``published_at``, a minute apart in the order they are sent (the story first), as a news feed's
do; with ``--undated`` they carry none, and direction comes from the texts and the links around them alone.

    python -m bench.bench_copies --copies 2000
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from google.protobuf.timestamp_pb2 import Timestamp

from bench.corpus import GeneratedDocument, Kind, Shares, generate
from bench.ingestion import status_names
from bench.report import Report
from bench.server_process import ServerProcess
from client import DedupClient
from dedup.v1 import document_pb2

# The story's publication time; each later document is published a minute after the one before.
FIRST_PUBLISHED: Final = 1_767_225_600  # 2026-01-01 00:00 UTC

# Nearly every document is made from the one original in the pool: a new original has a chance in a million.
SHARES: Final = Shares(original=1e-6, copy=0.5, excerpt=0.4, rewrite=0.1 - 1e-6)
MAX_CHECKED: Final = 500
_DESCRIPTION: Final = "Time ingest of many copies of one story, quarter by quarter, and check they trace to it."


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_copies", description=_DESCRIPTION)
    parser.add_argument("--copies", type=int, default=2000, help="documents made from the story (default 2000)")
    parser.add_argument("--seed", type=int, default=1, help="corpus seed (default 1)")
    parser.add_argument("--batch-size", type=int, default=32, help="documents per call (default 32)")
    parser.add_argument("--undated", action="store_true", help="send no published_at (direction from the texts)")
    parser.add_argument("--work-dir", type=Path, help="keep the store and server log here instead of a temp dir")
    arguments = parser.parse_args(argv)
    if arguments.copies < 4 or arguments.batch_size < 1:
        parser.error("--copies must be at least 4 and --batch-size at least 1")
    report = Report()
    report.header("ingest of one story's copies over gRPC", ["python -m bench.bench_copies", *(argv or sys.argv[1:])])
    story, *derived = generate(arguments.copies + 1, arguments.seed, shares=SHARES, pool_size=1)
    kinds = Counter(document.kind for document in derived)
    report.line(
        f"corpus: 1 original ({len(story.text.split())} words) and {len(derived)} documents made from it (seed "
        f"{arguments.seed}): " + ", ".join(f"{kinds[kind]} {kind.value}" for kind in Kind if kind in kinds)
    )
    with tempfile.TemporaryDirectory(prefix="bench-copies-") as temporary:
        root = arguments.work_dir or Path(temporary)
        root.mkdir(parents=True, exist_ok=True)
        server = ServerProcess(root / "data", root / "server.log")
        server.start()
        try:
            with DedupClient(server.address, timeout=600.0) as client:
                messages = as_messages([story, *derived], arguments.undated)
                statuses = Counter(status_names(client.ingest(messages[:1])))
                # Per batch: the documents stored before it and the seconds it took.
                timings: list[tuple[int, int, float]] = []
                for first in range(1, len(messages), arguments.batch_size):
                    batch = messages[first : first + arguments.batch_size]
                    started = time.perf_counter()
                    results = client.ingest(batch)
                    timings.append((first - 1, len(batch), time.perf_counter() - started))
                    statuses.update(status_names(results))
                report.line("statuses: " + ", ".join(f"{name} {count}" for name, count in sorted(statuses.items())))
                report_quarters(report, timings, len(derived))
                check_origins(report, client, story.id, [document.id for document in derived])
        finally:
            server.stop()
    report.summary()
    return 0


def as_messages(documents: Sequence[GeneratedDocument], undated: bool) -> list[document_pb2.Document]:
    """Make the request messages, each published a minute after the one before (none with `undated`)."""
    return [
        document_pb2.Document(
            id=document.id,
            text=document.text,
            published_at=None if undated else Timestamp(seconds=FIRST_PUBLISHED + 60 * position),
        )
        for position, document in enumerate(documents)
    ]


def report_quarters(report: Report, timings: list[tuple[int, int, float]], total: int) -> None:
    """Print the rate over each quarter of the copies (by how many were stored before each batch)."""
    report.heading("documents per second, by how many copies were stored before (one client)")
    rates = []
    for quarter in range(4):
        low, high = quarter * total / 4, (quarter + 1) * total / 4
        batches = [(count, seconds) for before, count, seconds in timings if low <= before < high]
        documents, seconds = sum(count for count, _ in batches), sum(seconds for _, seconds in batches)
        rates.append(documents / seconds if seconds > 0 else 0.0)
        report.figure(f"copies {low:,.0f} to {high:,.0f}", rates[-1], "docs/s", digits=1)
    if rates[0] > 0:
        report.figure("last quarter / first quarter", rates[-1] / rates[0], "x", digits=2)


def check_origins(report: Report, client: DedupClient, story_id: str, derived_ids: Sequence[str]) -> None:
    """Count the documents (an even spread of at most MAX_CHECKED) whose origin is the story."""
    step = math.ceil(len(derived_ids) / MAX_CHECKED)
    checked = derived_ids[::step]
    traced = sum(client.provenance(document_id).origin_id == story_id for document_id in checked)
    story_origin = client.provenance(story_id).origin_id
    report.heading("provenance")
    report.line(f"  {traced} of {len(checked)} documents checked have the story as their origin")
    report.line(f"  the story's own origin: {story_origin or 'none (it is an origin)'}")


if __name__ == "__main__":
    sys.exit(main())

"""End-to-end ingest over gRPC against a plain in-process datasketch pipeline, on the same documents in one run.

* **gRPC**: a real ``dedup-server`` child process on a free loopback port with a fresh ``--data-dir`` in a
  temporary directory; ``--streams`` clients (default 2), each on its own channel, send the documents in
  batches of ``--batch-size`` (default 64, as ``dedup ingest`` does), after one FindSimilar by text has warmed
  the server. The rate is documents per second from the first send to the last ack: normalising, signing,
  LSH look-ups, verifying candidates on the texts, deciding links and committing every batch to SQLite
  (``synchronous=FULL``) all happen inside it. The client threads run on the same 2 cores as the server.
* **datasketch**: in this process, for each document ``text.lower().split()``, its word 5-gram shingles,
  ``MinHash(num_perm=128, seed=1).update_batch`` and ``MinHashLSH(threshold=0.5, num_perm=128).insert``; no
  store, no passages, no verification.

With ``--repeat N`` both run N times, alternating which goes first, each gRPC run on a new empty store; the
figures are medians. Afterwards the service is asked for the provenance of every planted copy, excerpt and
rewrite (and of the originals) as a sanity check that it found what the corpus planted.

    python -m bench.bench_ingest --documents 2000
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from datasketch import MinHash, MinHashLSH

from bench.corpus import GeneratedDocument, Kind, generate
from bench.ingestion import DEFAULT_BATCH_SIZE, DEFAULT_STREAMS, IngestOutcome, batches_of, ingest
from bench.report import Report, Target
from bench.server_process import ServerProcess, add_server_arguments
from client import DedupClient
from dedup.v1 import document_pb2

NUM_PERM: Final = 128
SHINGLE_WORDS: Final = 5
INGEST_TARGET: Final = Target(2, at_least=True)
_DESCRIPTION: Final = "Time ingest over gRPC against an in-process datasketch pipeline on the same documents."
_RELATION_OF_KIND: Final = {
    Kind.COPY: document_pb2.RELATION_DUPLICATE,
    Kind.EXCERPT: document_pb2.RELATION_EXCERPT,
    Kind.REWRITE: document_pb2.RELATION_REWRITE,
}


def datasketch_pipeline(documents: Sequence[GeneratedDocument]) -> float:
    """Run the plain datasketch pipeline over `documents`; return the documents per second."""
    started = time.perf_counter()
    lsh = MinHashLSH(threshold=0.5, num_perm=NUM_PERM)
    for document in documents:
        words = document.text.lower().split()
        shingles = {" ".join(words[index : index + SHINGLE_WORDS]) for index in range(len(words) - SHINGLE_WORDS + 1)}
        minhash = MinHash(num_perm=NUM_PERM, seed=1)
        minhash.update_batch([shingle.encode("utf-8") for shingle in shingles])
        lsh.insert(document.id, minhash)
    return len(documents) / (time.perf_counter() - started)


def grpc_ingest(
    documents: Sequence[GeneratedDocument],
    work_dir: Path,
    streams: int,
    batch_size: int,
    keep_running: bool,
    server_arguments: tuple[str, ...] = (),
) -> tuple[IngestOutcome, ServerProcess]:
    """Ingest into a new server over a new store; return the outcome and the server (stopped unless asked)."""
    server = ServerProcess(work_dir / "data", work_dir / "server.log", server_arguments)
    server.start()
    try:
        # A text query signs a text and stores nothing: it warms the server (lazily compiled or loaded code,
        # first allocations) so the clock measures ingest, not the first call's one-off costs.
        with DedupClient(server.address, timeout=600.0) as client:
            client.find_similar(text=documents[0].text, limit=1)
        batches = list(batches_of(documents, batch_size))  # built before the clock starts
        outcome = ingest(server.address, batches, streams=streams)
    except BaseException:
        server.stop()
        raise
    if not keep_running:
        server.stop()
    return outcome, server


def check_links(address: str, documents: Sequence[GeneratedDocument], report: Report) -> None:
    """Ask the service for each document's provenance and count what it found of the planted reuse."""
    planted: Counter[Kind] = Counter()
    found: Counter[Kind] = Counter()
    reversed_: Counter[Kind] = Counter()
    relation_right: Counter[Kind] = Counter()
    derived_from: dict[str, set[str]] = {}
    for document in documents:
        if document.source_id is not None:
            derived_from.setdefault(document.source_id, set()).add(document.id)
    falsely_sourced = 0
    with DedupClient(address, timeout=60.0) as client:
        for document in documents:
            provenance = client.provenance(document.id)
            if document.kind is Kind.ORIGINAL:
                # A source among its own derivatives is a reversed link, counted with the derivative's kind.
                own = derived_from.get(document.id, set())
                falsely_sourced += any(link.source_id not in own for link in provenance.sources)
                continue
            planted[document.kind] += 1
            # Directly, or through the chain to the origin (a copy may be linked to a sibling copy first).
            links = [*provenance.sources, *provenance.origin_chain]
            link = next((link for link in links if link.source_id == document.source_id), None)
            if link is not None:
                found[document.kind] += 1
                relation_right[document.kind] += link.relation == _RELATION_OF_KIND[document.kind]
            elif any(link.document_id == document.source_id for link in provenance.derivatives):
                reversed_[document.kind] += 1
    report.heading("sanity: planted reuse the service linked (GetProvenance after the last gRPC run)")
    for kind, plural in ((Kind.COPY, "copies"), (Kind.EXCERPT, "excerpts"), (Kind.REWRITE, "rewrites")):
        if planted[kind]:
            report.line(
                f"  {plural:<10} {found[kind]:>6} of {planted[kind]:<6} linked to their source "
                f"({100 * found[kind] / planted[kind]:5.1f} %), {relation_right[kind]} with the planted relation; "
                f"{reversed_[kind]} linked the other way round"
            )
    originals = sum(document.kind is Kind.ORIGINAL for document in documents)
    report.line(
        f"  originals  {falsely_sourced:>6} of {originals:<6} given a source that is not one of their own "
        "derivatives (false links)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_ingest", description=_DESCRIPTION)
    parser.add_argument("--documents", type=int, default=2000, help="generated documents (default 2000)")
    parser.add_argument("--seed", type=int, default=1, help="corpus seed (default 1)")
    parser.add_argument("--streams", type=int, default=DEFAULT_STREAMS, help="concurrent gRPC clients (default 2)")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="documents per call (default 64)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each pipeline; medians are reported")
    parser.add_argument("--no-check", action="store_true", help="skip the provenance sanity check")
    parser.add_argument("--work-dir", type=Path, help="keep stores and server logs here instead of a temp dir")
    add_server_arguments(parser)
    arguments = parser.parse_args(argv)
    if min(arguments.documents, arguments.streams, arguments.batch_size, arguments.repeat) < 1:
        parser.error("--documents, --streams, --batch-size and --repeat must be at least 1")
    report = Report()
    report.header(
        "ingest: gRPC end to end vs in-process datasketch", ["python -m bench.bench_ingest", *(argv or sys.argv[1:])]
    )

    documents = list(generate(arguments.documents, arguments.seed))
    kinds = Counter(document.kind for document in documents)
    words = sum(len(document.text.split()) for document in documents)
    report.line(
        f"corpus: {len(documents)} documents (seed {arguments.seed}): "
        + ", ".join(f"{kinds[kind]} {kind.value}" for kind in Kind)
        + f"; {words / len(documents):.0f} words per document on average"
    )
    report.line(f"gRPC: {arguments.streams} streams, batches of {arguments.batch_size}, {arguments.repeat} run(s)")

    datasketch_rates: list[float] = []
    grpc_rates: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as temporary:
        root = arguments.work_dir or Path(temporary)
        server: ServerProcess | None = None
        for run in range(arguments.repeat):
            last = run == arguments.repeat - 1
            order = ("datasketch", "grpc") if run % 2 == 0 else ("grpc", "datasketch")
            for pipeline in order:
                if pipeline == "datasketch":
                    datasketch_rates.append(datasketch_pipeline(documents))
                    report.line(f"  run {run + 1}: datasketch {datasketch_rates[-1]:,.0f} docs/s")
                    continue
                work_dir = root / f"run-{run + 1}"
                work_dir.mkdir(parents=True, exist_ok=True)
                outcome, server = grpc_ingest(
                    documents,
                    work_dir,
                    arguments.streams,
                    arguments.batch_size,
                    keep_running=last,
                    server_arguments=tuple(arguments.server_arguments),
                )
                if outcome.errors or outcome.documents != len(documents):
                    report.line(f"INGEST FAILED: {outcome.documents} of {len(documents)} acknowledged")
                    report.line("\n".join(outcome.errors[:5]))
                    report.line(server.log_tail())
                    server.stop()
                    return 1
                grpc_rates.append(outcome.rate)
                statuses = ", ".join(f"{name} {count}" for name, count in sorted(outcome.statuses.items()))
                report.line(f"  run {run + 1}: gRPC {outcome.rate:,.0f} docs/s in {outcome.seconds:.1f} s ({statuses})")
        if server is None:
            raise RuntimeError("no gRPC run kept its server")  # the last run always does
        try:
            report.heading("documents per second (median of runs)")
            grpc_rate, datasketch_rate = statistics.median(grpc_rates), statistics.median(datasketch_rates)
            report.figure("gRPC end to end (server + store + verification)", grpc_rate, "docs/s", digits=1)
            report.figure("datasketch in-process (update_batch + LSH insert)", datasketch_rate, "docs/s", digits=1)
            report.figure("ratio gRPC / datasketch", grpc_rate / datasketch_rate, "x", INGEST_TARGET, digits=2)
            memory = server.memory()
            report.line(
                f"  server memory after the last run: VmRSS {memory.resident / 2**20:,.0f} MiB, "
                f"VmHWM {memory.peak / 2**20:,.0f} MiB"
            )
            if not arguments.no_check:
                check_links(server.address, documents, report)
        finally:
            server.stop()
    report.summary()
    return 0


if __name__ == "__main__":
    sys.exit(main())

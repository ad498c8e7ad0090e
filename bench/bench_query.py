"""Query latency, memory per document and start-to-serving time of a dedup-server holding N generated documents.

1. **Empty server**: ``dedup-server`` on a new empty store; its VmRSS, with its verification workers', after
   two warm-up calls (GetStats, and FindSimilar by a text of words the corpus cannot contain, which loads the
   signing code and finds nothing) is the baseline. The loaded server gets the same two calls before its memory is read.
2. **Store**: N generated documents ingested over gRPC (``--streams`` clients, batches of ``--batch-size``),
   with progress. ``--store DIR`` keeps the store, and a later run with the same ``--store`` and ``--seed``
   reuses it, completing it first if an earlier build was interrupted (ingest is idempotent).
3. **Start to serving**: the server is stopped and started again on the store ``--restarts`` times (default 3);
   each time from launching the process to the gRPC health service answering SERVING. Median reported.
4. **Memory per document**: (VmRSS of the server just loaded with the store - VmRSS of the empty server) / N,
   from ``/proc/PID/status``, with the peak (VmHWM) beside it; not measured (and not met) when the empty server
   was the larger.
5. **Latency**: ``--clients`` threads (default 4), each with its own channel, send ``--queries`` calls per
   phase (default 2000, at most ``--max-seconds`` each): FindSimilar by a stored id, FindSimilar by text (half
   texts that are stored, half new texts in the corpus's language and topics, which store nothing), and
   GetProvenance by a stored id. p50/p95/p99 of the client-side latency of each call.

    python -m bench.bench_query --documents 100000 --store /tmp/bench-store-100k
    python -m bench.bench_query --documents 1000000 --store /tmp/bench-store-1m
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from bench.corpus import CORPUS_VERSION, DEFAULT_ID_PREFIX, GeneratedDocument, generate
from bench.ingestion import DEFAULT_BATCH_SIZE, DEFAULT_STREAMS, batches_of, ingest
from bench.report import Report, Target
from bench.server_process import ServerProcess, add_server_arguments
from client import DedupClient, DedupClientError
from client.load import percentile
from server.adapters.process_memory import ProcessMemory

FIND_SIMILAR_TARGET: Final = Target(20, at_least=False)  # p99, ms, at 1M documents with 4 clients
PROVENANCE_TARGET: Final = Target(5, at_least=False)  # p99, ms, at 1M documents
MEMORY_TARGET: Final = Target(2048, at_least=False)  # bytes of resident memory per stored document
START_TARGET: Final = Target(30, at_least=False)  # seconds from start to serving on a large store
MARKER_NAME: Final = "bench_corpus.json"  # beside the server's files in the store directory
WARM_UP_CALLS: Final = 10  # per client and phase, not recorded
NEW_TEXT_SEED_OFFSET: Final = 7919  # new query texts come from another seed in the same language
# Words the corpus cannot contain (it builds words from syllables with vowels): a text query of them runs the
# server's signing code but finds no candidate, so it loads code without filling caches with stored texts.
WARM_UP_TEXT: Final = " ".join(f"xq{number}z" for number in range(80))
_DESCRIPTION: Final = "Measure query latency, memory per document and start-to-serving time at N documents."


@dataclass
class Latencies:
    """Client-side latencies of one phase, in milliseconds, and how long the phase took."""

    milliseconds: list[float] = field(default_factory=list)
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)


Call = Callable[[DedupClient, int], object]


def measure(address: str, clients: int, queries: int, max_seconds: float, call: Call) -> Latencies:
    """Run `call(client, number)` for numbers 0..queries-1, spread over `clients` threads, timing each call."""
    result = Latencies()
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)

    def run(worker: int) -> None:
        timings: list[float] = []
        with DedupClient(address, timeout=60.0) as client:
            try:
                for number in range(WARM_UP_CALLS):
                    call(client, queries + worker * WARM_UP_CALLS + number)
            except DedupClientError as error:
                with lock:
                    result.errors.append(f"warm-up: {error}")
            start.wait()
            clock = time.perf_counter
            deadline = clock() + max_seconds
            for number in range(worker, queries, clients):
                if clock() > deadline:
                    break
                started = clock()
                try:
                    call(client, number)
                except DedupClientError as error:
                    with lock:
                        result.errors.append(str(error))
                    continue
                timings.append((clock() - started) * 1000)
        with lock:
            result.milliseconds.extend(timings)

    threads = [threading.Thread(target=run, args=(worker,), name=f"query-{worker}") for worker in range(clients)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    result.seconds = time.perf_counter() - began
    return result


def report_latencies(report: Report, name: str, latencies: Latencies, target: Target) -> None:
    # The same nearest-rank percentiles as `dedup load` reports: a p99 is a latency some call really had.
    values = sorted(latencies.milliseconds)
    if not values:
        report.line(f"  {name}: no call succeeded ({len(latencies.errors)} errors: {latencies.errors[:1]})")
        return
    report.line(
        f"  {name}: {len(values)} calls in {latencies.seconds:.1f} s ({len(values) / latencies.seconds:,.0f}/s), "
        f"{len(latencies.errors)} errors"
    )
    report.figure(f"{name} p50", percentile(values, 50), "ms")
    report.figure(f"{name} p95", percentile(values, 95), "ms")
    report.figure(f"{name} p99", percentile(values, 99), "ms", target)
    report.figure(f"{name} max", max(values), "ms")


def build_store(
    report: Report,
    store: Path,
    log: Path,
    documents: int,
    seed: int,
    streams: int,
    batch_size: int,
    server_arguments: tuple[str, ...] = (),
) -> int:
    """Make sure `store` holds the first `documents` of the corpus for `seed`; return the stored count."""
    marker = store / MARKER_NAME
    if marker.exists():
        recorded = json.loads(marker.read_text(encoding="utf-8"))
        if recorded.get("corpus_version") != CORPUS_VERSION or recorded.get("id_prefix") != DEFAULT_ID_PREFIX:
            raise SystemExit(
                f"{store} holds documents of corpus version {recorded.get('corpus_version')}, and this is version "
                f"{CORPUS_VERSION}: the same seed now gives other documents, so build the store again in another "
                "--store directory"
            )
        if recorded.get("seed") != seed:
            raise SystemExit(
                f"{store} holds the corpus of seed {recorded.get('seed')}, not {seed}: "
                f"pass --seed {recorded.get('seed')} or another --store"
            )
    store.mkdir(parents=True, exist_ok=True)
    with ServerProcess(store, log, server_arguments) as server:
        server.start()
        with DedupClient(server.address, timeout=60.0) as client:
            stored = client.stats().document_count
        if stored >= documents:
            report.line(f"store: reusing {store}, {stored:,} documents")
            return stored
        # An interrupted build may have stored some batches after one that failed: resend a margin before the
        # count; documents stored already come back UNCHANGED.
        resume = max(0, stored - 2 * streams * batch_size) if marker.exists() else 0
        marker.write_text(
            json.dumps(
                {"corpus_version": CORPUS_VERSION, "seed": seed, "id_prefix": DEFAULT_ID_PREFIX, "documents": documents}
            ),
            encoding="utf-8",
        )
        report.line(f"store: building {store}: {documents:,} documents, {stored:,} stored, sending from {resume:,}")

        last = [0, 0.0]  # documents and seconds at the previous progress line

        def progress(acknowledged: int, seconds: float) -> None:
            # The rate falls as the store grows, so the time left is estimated from the latest interval.
            recent = (acknowledged - last[0]) / (seconds - last[1]) if seconds > last[1] else 0.0
            last[:] = [acknowledged, seconds]
            done = resume + acknowledged
            left = (documents - done) / recent / 60 if recent > 0 else float("inf")
            report.line(
                f"  ingested {done:,} / {documents:,} ({100 * done / documents:.1f} %) in {seconds / 60:,.1f} min, "
                f"{acknowledged / seconds if seconds > 0 else 0:,.0f} docs/s overall, {recent:,.0f} docs/s lately; "
                f"about {left:,.0f} min left"
            )

        outcome = ingest(
            server.address,
            batches_of(_skip(generate(documents, seed), resume), batch_size),
            streams=streams,
            progress=progress,
        )
        if outcome.errors:
            raise SystemExit("ingest failed: " + "; ".join(outcome.errors[:3]) + "\n" + server.log_tail())
        statuses = ", ".join(f"{name} {count:,}" for name, count in sorted(outcome.statuses.items()))
        report.line(f"store: built at {outcome.rate:,.0f} docs/s over {outcome.seconds / 60:,.1f} min ({statuses})")
        with DedupClient(server.address, timeout=60.0) as client:
            return client.stats().document_count


def _skip(documents: Iterator[GeneratedDocument], count: int) -> Iterator[GeneratedDocument]:
    for position, document in enumerate(documents):
        if position >= count:
            yield document


def empty_server_memory(work: Path, server_arguments: tuple[str, ...] = ()) -> ProcessMemory:
    with ServerProcess(work / "empty-store", work / "empty-server.log", server_arguments) as server:
        server.start()
        with DedupClient(server.address, timeout=60.0) as client:
            warm_up(client)
        return server.memory()


def report_memory(report: Report, resident: float, peak: float, empty_resident: float, stored: int) -> None:
    """Print the loaded server's memory per stored document, over the empty server's, against the target.

    An empty server larger than the loaded one measured something else (before numba's kernels were compiled apart,
    a first start on a new checkout held the compiler's memory: -4,071 B a document), and is no figure to call met.
    """
    if resident < empty_resident:
        report.not_measured(
            "memory per document",
            f"the empty server ({empty_resident / 2**20:,.1f} MiB) was larger than the loaded one "
            f"({resident / 2**20:,.1f} MiB); run the benchmark again",
        )
    else:
        report.figure(
            "memory per document: VmRSS - empty VmRSS",
            (resident - empty_resident) / stored,
            "B",
            MEMORY_TARGET,
            digits=0,
        )
        report.figure("peak per document: VmHWM - empty VmRSS", (peak - empty_resident) / stored, "B", digits=0)
    report.figure("server VmRSS loaded", resident / 2**20, "MiB", digits=1)


def warm_up(client: DedupClient) -> None:
    """Make the calls the empty and the loaded server both get before their memory is read.

    Both then count the same lazily loaded code, and neither counts caches of stored texts.
    """
    client.stats()
    client.find_similar(text=WARM_UP_TEXT, limit=1)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_query", description=_DESCRIPTION)
    parser.add_argument("--documents", type=int, default=100_000, help="documents in the store (default 100000)")
    parser.add_argument("--seed", type=int, default=1, help="corpus seed (default 1)")
    parser.add_argument("--store", type=Path, help="build the store here, or reuse the one built here before")
    parser.add_argument("--streams", type=int, default=DEFAULT_STREAMS, help="ingest clients for the build")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="documents per ingest call")
    parser.add_argument("--clients", type=int, default=4, help="concurrent query clients (default 4)")
    parser.add_argument("--queries", type=int, default=2000, help="calls per phase (default 2000)")
    parser.add_argument("--max-seconds", type=float, default=60.0, help="longest a phase may run (default 60)")
    parser.add_argument("--restarts", type=int, default=3, help="timed starts on the store (default 3)")
    parser.add_argument("--limit", type=int, default=10, help="FindSimilar limit (default 10)")
    add_server_arguments(parser)
    arguments = parser.parse_args(argv)
    if min(arguments.documents, arguments.streams, arguments.batch_size, arguments.clients) < 1:
        parser.error("--documents, --streams, --batch-size and --clients must be at least 1")
    if arguments.queries < 1 or arguments.restarts < 1:
        parser.error("--queries and --restarts must be at least 1")
    report = Report()
    report.header(
        "queries, memory and start-up at N documents", ["python -m bench.bench_query", *(argv or sys.argv[1:])]
    )
    report.line("targets are those at 1M documents: FindSimilar p99 ≤ 20 ms with 4 clients, GetProvenance p99 ≤ 5 ms,")
    report.line("≤ 2 KB resident memory per document, start to serving ≤ 30 s")

    with tempfile.TemporaryDirectory(prefix="bench-query-") as temporary:
        work = Path(temporary)
        server_arguments = tuple(arguments.server_arguments)
        empty = empty_server_memory(work, server_arguments)
        report.line(f"empty server: VmRSS {empty.resident / 2**20:,.1f} MiB, VmHWM {empty.peak / 2**20:,.1f} MiB")

        store = arguments.store or work / "store"
        log = store.parent / f"{store.name}-server.log" if arguments.store else work / "server.log"
        stored = build_store(
            report,
            store,
            log,
            arguments.documents,
            arguments.seed,
            arguments.streams,
            arguments.batch_size,
            server_arguments,
        )

        server = ServerProcess(store, log, server_arguments)
        starts: list[float] = []
        memories: list[ProcessMemory] = []
        try:
            for restart in range(arguments.restarts):
                starts.append(server.start())
                with DedupClient(server.address, timeout=60.0) as client:
                    warm_up(client)
                    stats = client.stats()
                memories.append(server.memory())
                report.line(
                    f"  start {restart + 1}: serving after {starts[-1]:.2f} s; VmRSS "
                    f"{memories[-1].resident / 2**20:,.1f} MiB, VmHWM {memories[-1].peak / 2**20:,.1f} MiB"
                )
                if restart < arguments.restarts - 1:
                    server.stop()
            report.line(
                f"store: {stats.document_count:,} documents, {stats.passage_count:,} passages, "
                f"{stats.link_count:,} links, {stats.store_bytes / 2**20:,.1f} MiB on disk"
            )

            report.heading(f"start and memory at {stored:,} documents")
            report.figure("start to serving (median)", statistics.median(starts), "s", START_TARGET)
            resident = statistics.median(memory.resident for memory in memories)
            report_memory(report, resident, max(memory.peak for memory in memories), empty.resident, stored)

            chooser = random.Random(arguments.seed)  # noqa: S311 - choosing benchmark queries, not a secret
            ids = [f"{DEFAULT_ID_PREFIX}{chooser.randrange(min(stored, arguments.documents)):08d}" for _ in range(4096)]
            seen = [document.text for document in generate(min(stored, arguments.documents, 400), arguments.seed)]
            new = [
                document.text for document in generate(400, arguments.seed + NEW_TEXT_SEED_OFFSET, id_prefix="query-")
            ]
            texts = [text for pair in zip(seen, new, strict=False) for text in pair]
            limit = arguments.limit

            def by_id(client: DedupClient, number: int) -> object:
                return client.find_similar(document_id=ids[number % len(ids)], limit=limit)

            def by_text(client: DedupClient, number: int) -> object:
                return client.find_similar(text=texts[number % len(texts)], limit=limit)

            def provenance(client: DedupClient, number: int) -> object:
                return client.provenance(ids[number % len(ids)])

            report.heading(f"latency at {stored:,} documents, {arguments.clients} concurrent clients (client side, ms)")
            for name, call, target in (
                ("FindSimilar by id", by_id, FIND_SIMILAR_TARGET),
                ("FindSimilar by text", by_text, FIND_SIMILAR_TARGET),
                ("GetProvenance", provenance, PROVENANCE_TARGET),
            ):
                latencies = measure(server.address, arguments.clients, arguments.queries, arguments.max_seconds, call)
                report_latencies(report, name, latencies, target)
            after = server.memory()
            report.line(
                f"  server after the queries: VmRSS {after.resident / 2**20:,.1f} MiB, "
                f"VmHWM {after.peak / 2**20:,.1f} MiB"
            )
        finally:
            server.stop()
    report.summary()
    return 0


if __name__ == "__main__":
    sys.exit(main())

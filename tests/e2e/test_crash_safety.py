"""Crash safety: kill -9 the real server again and again under concurrent ingest; nothing acknowledged is lost."""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest

from client import DedupClient, DedupClientError, make_document
from dedup.v1 import dedup_service_pb2
from server.adapters.sqlite_store import DATABASE_NAME, SqliteProvenanceStore
from tests.e2e.conftest import ServerProcess

CLIENT_THREADS = 4
KILLS = 12
# The seed is fixed so that a failure can be replayed; the kill moments still vary with thread timing.
SEED = 20240611
# Statuses a call may end with when the server dies under it or is not up yet: the outcome is unknown.
IN_DOUBT = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED, grpc.StatusCode.DEADLINE_EXCEEDED}

_SYLLABLES = ("ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "de", "par", "men", "gol", "tri", "sun", "bel", "dor")
_STOP_WORDS = ("the", "of", "and", "a", "to", "in", "was", "for", "on", "with")


def _sentence(rng: random.Random) -> str:
    # Made-up words, so that two independent documents share no content words and never link.
    words = [
        "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4)))
        if rng.random() < 0.7
        else rng.choice(_STOP_WORDS)
        for _ in range(rng.randint(10, 18))
    ]
    return " ".join(words).capitalize() + "."


@dataclass(frozen=True)
class Sent:
    document_id: str
    text: str
    source_id: str | None  # for an excerpt, the source it copies


@dataclass
class Ledger:
    """What the clients sent and what the server acknowledged, shared by the client threads."""

    acknowledged: dict[str, Sent] = field(default_factory=dict)
    # Batches whose call failed in a way that leaves the outcome unknown: each must be all there or not at all.
    in_doubt: list[list[Sent]] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def acknowledged_count(self) -> int:
        with self.lock:
            return len(self.acknowledged)


def _ingest_until_stopped(address: str, worker: int, ledger: Ledger, stop: threading.Event) -> None:
    try:
        _ingest(address, worker, ledger, stop)
    # Reported to the test thread, which fails on it; an exception left in a thread would only print a warning.
    except Exception as error:
        with ledger.lock:
            ledger.unexpected.append(f"client thread {worker} died: {error!r}")


def _ingest(address: str, worker: int, ledger: Ledger, stop: threading.Event) -> None:
    rng = random.Random(SEED + worker)  # noqa: S311 - test data, not a secret
    own_sources: list[Sent] = []
    number = 0
    with DedupClient(address, timeout=10.0) as client:
        while not stop.is_set():
            batch: list[Sent] = []
            for _ in range(rng.randint(1, 3)):
                number += 1
                document_id = f"w{worker}-{number}"
                if own_sources and rng.random() < 0.5:
                    # An excerpt of an acknowledged source, with new sentences around it: it must link to it.
                    source = own_sources.pop(rng.randrange(len(own_sources)))
                    sentences = source.text.split(". ")
                    middle = ". ".join(sentences[2:10]).rstrip(".") + "."
                    text = " ".join([_sentence(rng), _sentence(rng), middle, _sentence(rng)])
                    batch.append(Sent(document_id, text, source.document_id))
                else:
                    batch.append(Sent(document_id, " ".join(_sentence(rng) for _ in range(12)), None))
            documents = [
                make_document(
                    sent.document_id,
                    sent.text,
                    # Dates make the direction certain: a source is always older than its excerpts.
                    published_at="2020-02-01" if sent.source_id else "2020-01-01",
                )
                for sent in batch
            ]
            try:
                results = client.ingest(documents)
            except DedupClientError as error:
                with ledger.lock:
                    if error.code in IN_DOUBT:
                        ledger.in_doubt.append(batch)
                    else:
                        ledger.unexpected.append(f"{error.code.name}: {error.details}")
                time.sleep(0.02)  # the server is down or restarting; do not spin
                continue
            with ledger.lock:
                for sent, result in zip(batch, results, strict=True):
                    if result.status != dedup_service_pb2.INGEST_STATUS_CREATED:
                        ledger.unexpected.append(f"{sent.document_id}: {result}")
                    ledger.acknowledged[sent.document_id] = sent
            own_sources.extend(sent for sent in batch if sent.source_id is None)


@pytest.mark.slow
def test_kill_9_during_concurrent_ingest_loses_nothing_acknowledged_and_leaves_nothing_half_written(
    server_process: ServerProcess,
) -> None:
    server = server_process
    # Small index segments are saved to disk often, so that kills land while they are written and
    # restarts load a saved index plus documents read back from the store.
    server.arguments = ["--index-save-windows", "24"]
    server.start()
    ledger = Ledger()
    stop = threading.Event()
    rng = random.Random(SEED)  # noqa: S311 - test timing, not a secret
    threads = [
        threading.Thread(target=_ingest_until_stopped, args=(server.address, worker, ledger, stop), daemon=True)
        for worker in range(CLIENT_THREADS)
    ]
    for thread in threads:
        thread.start()
    try:
        for _ in range(KILLS):
            # Let some ingests through since the last start, then kill at a random moment among the next ones.
            floor = ledger.acknowledged_count() + 20
            deadline = time.monotonic() + 30
            while ledger.acknowledged_count() < floor and time.monotonic() < deadline and not ledger.unexpected:
                time.sleep(0.01)
            time.sleep(rng.uniform(0.0, 0.4))
            server.kill()
            server.start()
        time.sleep(0.3)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)

    assert not ledger.unexpected, ledger.unexpected[:5]
    assert len(ledger.acknowledged) > 20 * KILLS
    sent_by_id = {sent.document_id: sent for sent in ledger.acknowledged.values()}
    sent_by_id.update({sent.document_id: sent for batch in ledger.in_doubt for sent in batch})

    stored = _check_store(server.data_dir, ledger, sent_by_id)
    _check_answers(server.address, ledger, stored)


def _check_store(data_dir: Path, ledger: Ledger, sent_by_id: dict[str, Sent]) -> dict[str, Sent]:
    """Check the SQLite file itself, beside the running server; return what is stored."""
    with sqlite3.connect(data_dir / DATABASE_NAME) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    store = SqliteProvenanceStore(data_dir)
    try:
        sequences = store.sequences()
        ids = store.ids_of(sequences)
        signatures = {ids[sequence]: signed for sequence, signed in store.iter_signatures(sequences)}
        stored_ids = set(signatures)
        # Everything acknowledged is there, with its text as sent and its signatures.
        missing = set(ledger.acknowledged) - stored_ids
        assert not missing, f"{len(missing)} acknowledged documents lost, e.g. {sorted(missing)[:3]}"
        # Nothing is there that was not sent, and nothing is half there: the text is whole and signed.
        assert stored_ids <= set(sent_by_id)
        for document_id in stored_ids:
            stored_document = store.get_document(document_id)
            assert stored_document is not None
            assert stored_document.document.text == sent_by_id[document_id].text
            assert signatures[document_id].document
            assert signatures[document_id].passages
        # A batch is one transaction: whatever the kill interrupted is all there or not at all.
        for batch in ledger.in_doubt:
            present = [sent.document_id in stored_ids for sent in batch]
            assert all(present) or not any(present), f"half a batch stored: {batch}"
        # Every link joins two stored documents, and every stored excerpt links to its stored source.
        for document_id in stored_ids:
            links = store.links_of(document_id)
            assert all({link.document_id, link.source_id} <= stored_ids for link in links)
            source_id = sent_by_id[document_id].source_id
            if source_id in stored_ids:
                assert any(
                    link.document_id == document_id and link.source_id == source_id and not link.suppressed
                    for link in links
                ), f"{document_id} lost its link to {source_id}"
        counts = store.counts()
        assert counts[0] == len(stored_ids)
        assert counts[1] == sum(len(signature.passages) for signature in signatures.values())
    finally:
        store.close()
    return {document_id: sent_by_id[document_id] for document_id in stored_ids}


def _check_answers(address: str, ledger: Ledger, stored: dict[str, Sent]) -> None:
    """Ask the restarted server: its indexes must agree with the store."""
    with DedupClient(address, timeout=30.0) as client:
        stats = client.stats()
        assert stats.document_count == len(stored)

        def found_by_find_similar(sent: Sent) -> list[str]:
            matches = client.find_similar(text=sent.text, limit=5)
            problems = [] if matches and matches[0].document_id == sent.document_id else [sent.document_id]
            # The index holds no ghosts: every match is a stored document.
            problems.extend(f"ghost {match.document_id}" for match in matches if match.document_id not in stored)
            return problems

        def provenance_problems(sent: Sent) -> list[str]:
            if sent.source_id is None or sent.source_id not in stored:
                return []
            answer = client.provenance(sent.document_id)
            return [] if answer.origin_id == sent.source_id else [f"{sent.document_id} origin {answer.origin_id!r}"]

        with ThreadPoolExecutor(max_workers=4) as pool:
            problems = [problem for found in pool.map(found_by_find_similar, stored.values()) for problem in found]
            problems += [problem for found in pool.map(provenance_problems, stored.values()) for problem in found]
        assert not problems, problems[:5]
        assert set(ledger.acknowledged) <= set(stored)
        assert all(
            client.get_document(document_id).document.text == sent.text
            for document_id, sent in list(ledger.acknowledged.items())[:50]
        )

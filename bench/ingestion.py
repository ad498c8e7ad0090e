"""Ingest generated documents over gRPC in batches from concurrent streams, timed from first send to last ack."""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Final

from bench.corpus import GeneratedDocument
from client import DedupClient, DedupClientError
from dedup.v1 import dedup_service_pb2, document_pb2

DEFAULT_BATCH_SIZE: Final = 64  # as `dedup ingest` sends
DEFAULT_STREAMS: Final = 2

Batch = list[document_pb2.Document]
Progress = Callable[[int, float], None]  # (documents acknowledged, seconds since the first send)


def batches_of(documents: Iterable[GeneratedDocument], size: int) -> Iterator[Batch]:
    """Yield the documents as `Document` messages, `size` at a time (the last batch may be smaller)."""
    batch: Batch = []
    for document in documents:
        batch.append(document_pb2.Document(id=document.id, text=document.text))
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def status_names(results: Iterable[dedup_service_pb2.IngestResult]) -> list[str]:
    """Return the name of each ingest result's status, as the reports count them."""
    return [dedup_service_pb2.IngestStatus.Name(result.status) for result in results]


@dataclass
class IngestOutcome:
    """What an ingest run sent, how long it took from the first send to the last ack, and how it ended."""

    documents: int = 0
    seconds: float = 0.0
    statuses: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.documents / self.seconds if self.seconds > 0 else 0.0


@dataclass
class _Shared:
    lock: threading.Lock = field(default_factory=threading.Lock)
    acknowledged: int = 0
    first_send: float = float("inf")
    last_ack: float = 0.0
    statuses: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)


def ingest(
    address: str,
    batches: Iterable[Batch],
    *,
    streams: int = DEFAULT_STREAMS,
    timeout: float = 600.0,
    progress: Progress | None = None,
    progress_seconds: float = 10.0,
) -> IngestOutcome:
    """Send `batches` to the server at `address` from `streams` concurrent clients, each on its own channel.

    Batches are handed out in order from a short queue, so a generator can feed a store larger than memory.
    Each stream connects before the clock starts; the time runs from the first send to the last ack.
    A failed call is recorded in `errors` and its documents are not counted as acknowledged.
    """
    if streams < 1:
        raise ValueError(f"streams must be at least 1, got {streams}")
    pending: queue.Queue[Batch | None] = queue.Queue(maxsize=2 * streams)
    shared = _Shared()
    clients = [DedupClient(address, timeout=timeout) for _ in range(streams)]
    workers: list[threading.Thread] = []
    try:
        for client in clients:
            client.wait_until_ready(timeout=60.0)
        workers = [
            threading.Thread(target=_send_batches, args=(client, pending, shared), name=f"ingest-{number}")
            for number, client in enumerate(clients)
        ]
        for worker in workers:
            worker.start()
        last_report = time.perf_counter()
        for batch in batches:
            while True:
                try:
                    pending.put(batch, timeout=1.0)
                    break
                except queue.Full:
                    pass
                finally:
                    now = time.perf_counter()
                    if progress is not None and now - last_report >= progress_seconds and shared.acknowledged:
                        last_report = now
                        progress(shared.acknowledged, now - shared.first_send)
            if shared.errors:
                break  # report the failure rather than keep sending into it
        for _ in workers:
            pending.put(None)
        for worker in workers:
            worker.join()
    except BaseException:
        # Interrupted (Ctrl-C) or failed while sending: the workers wait on the queue and would keep the
        # interpreter from exiting. Empty it and tell each to stop; closing the channels below cancels any
        # call in flight, which the worker records as an error before it takes its stop.
        with contextlib.suppress(queue.Empty):
            while True:
                pending.get_nowait()
        for _ in workers:
            pending.put_nowait(None)
        raise
    finally:
        for client in clients:
            client.close()
    seconds = max(0.0, shared.last_ack - shared.first_send) if shared.acknowledged else 0.0
    if progress is not None and shared.acknowledged:
        progress(shared.acknowledged, seconds)
    return IngestOutcome(shared.acknowledged, seconds, shared.statuses, shared.errors)


def _send_batches(client: DedupClient, pending: queue.Queue[Batch | None], shared: _Shared) -> None:
    while (batch := pending.get()) is not None:
        if shared.errors:
            continue  # drain the queue without sending, so the producer is never blocked
        sent = time.perf_counter()
        with shared.lock:
            shared.first_send = min(shared.first_send, sent)
        try:
            results = client.ingest(batch)
        except DedupClientError as error:
            with shared.lock:
                shared.errors.append(f"batch starting {batch[0].id}: {error}")
            continue
        # Anything else would end the thread silently and leave the producer waiting: record it instead.
        except Exception as error:
            with shared.lock:
                shared.errors.append(f"batch starting {batch[0].id}: unexpected {error!r}")
            continue
        acknowledged = time.perf_counter()
        with shared.lock:
            shared.acknowledged += len(results)
            shared.last_ack = max(shared.last_ack, acknowledged)
            shared.statuses.update(status_names(results))

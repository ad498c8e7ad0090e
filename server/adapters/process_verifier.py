"""ProcessVerifier: the Verifier spread over worker processes, so that verification uses every core."""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Final

from server.domain.alignment import Weigher, weigh
from server.domain.model import Comparison
from server.domain.verification import LocalVerifier, VerificationJob

_LOGGER = logging.getLogger(__name__)

# How often a worker checks that the server that started it is still alive.
_WATCH_SECONDS: Final = 1.0
# Jobs sent to a worker in one message: a batch of short jobs costs one round trip per chunk, not per job,
# while a few chunks per worker still share out long and short jobs evenly.
_JOBS_PER_TASK: Final = 8

# A worker runs the cyclic garbage collector itself, once per this many jobs, instead of letting it run on
# allocation counts. Its cache holds a few hundred analysed texts, about a million small objects without a
# reference cycle among them (refcounting frees them when they leave the cache), and every automatic full
# collection walked all of them: with it on, verifying took 1.4 to 1.8 times as long (in-process, 2,000 news
# jobs against cached texts). Once per thousand jobs still frees any cycle a job leaves behind.
COLLECT_EVERY_JOBS: Final = 1000

# Each worker process's own verifier, with its own cache of analysed texts, and its jobs since the last collection.
_worker_verifier: LocalVerifier | None = None
_jobs_since_collection = 0


def _start_worker(server_pid: int, weigher: Weigher) -> None:
    global _worker_verifier
    # Ctrl-C reaches the whole process group; the server shuts the pool down itself, after in-flight calls.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    gc.disable()
    _worker_verifier = LocalVerifier(weigher=weigher)
    # Paid here, while the server waits for its workers to start, not by the first request.
    _worker_verifier.warm_up()
    threading.Thread(target=_exit_with_server, args=(server_pid,), name="server-watch", daemon=True).start()


def _exit_with_server(server_pid: int) -> None:
    # A server killed with SIGKILL cannot stop its workers, and they would wait for work forever: each holds
    # the pool's queues open itself, so no end-of-file tells them. An orphan is handed to another parent.
    while os.getppid() == server_pid:
        time.sleep(_WATCH_SECONDS)
    os._exit(0)


def _verify_in_worker(jobs: Sequence[VerificationJob]) -> list[list[Comparison | None]]:
    global _jobs_since_collection
    assert _worker_verifier is not None  # noqa: S101 - set by the pool's initializer
    _jobs_since_collection += len(jobs)
    if _jobs_since_collection >= COLLECT_EVERY_JOBS:
        _jobs_since_collection = 0
        gc.collect()
    return _worker_verifier.verify(jobs)


def _ready() -> None:
    """A task that only proves a worker has started."""


class ProcessVerifier:
    """Runs verification jobs in `workers` processes, each keeping its own cache of analysed texts.

    Verification is pure-Python work on the texts (tokenising, sentence alignment) that holds the GIL;
    in the server process it would use one core however many requests wait. The workers are spawned, not
    forked: a fork would copy the gRPC server's threads and locks mid-flight.

    `weigher` is passed to each worker's LocalVerifier; it must be a module-level function, which is sent to
    the workers by name.

    A worker that dies (killed, out of memory) breaks the pool; the jobs in flight are run again once in a
    fresh pool, and only a second failure reaches the caller.
    """

    def __init__(self, workers: int, weigher: Weigher = weigh) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self._workers = workers
        self._weigher = weigher
        self._lock = threading.Lock()
        self._pool = self._new_pool()
        self._closed = False

    @property
    def workers(self) -> int:
        return self._workers

    def start(self) -> None:
        """Start the workers now rather than on the first request, and wait until they answer."""
        pool = self._current_pool()
        # Tasks submitted before any worker is idle each start a worker, up to the pool's size.
        for task in [pool.submit(_ready) for _ in range(self._workers)]:
            task.result()

    def verify(self, jobs: Sequence[VerificationJob]) -> list[list[Comparison | None]]:
        return self.submit(jobs).result()

    def submit(self, jobs: Sequence[VerificationJob]) -> _PendingInPool:
        """Send `jobs` to the workers and return without waiting for them."""
        pool = self._current_pool()
        try:
            return _PendingInPool(self, pool, jobs, self._submit_to(pool, jobs))
        except BrokenProcessPool:
            pool = self._replace_broken_pool(pool)
            return _PendingInPool(self, pool, jobs, self._submit_to(pool, jobs))

    def forget(self, document_id: str) -> None:
        # Workers cache analyses under (id, sequence), and a sequence is never given twice: what they keep
        # of a deleted text is never used again, and leaves their caches as newer texts come in.
        pass

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._pool.shutdown(wait=True, cancel_futures=True)

    def _submit_to(
        self, pool: ProcessPoolExecutor, jobs: Sequence[VerificationJob]
    ) -> list[Future[list[list[Comparison | None]]]]:
        chunk = max(1, min(_JOBS_PER_TASK, -(-len(jobs) // (2 * self._workers))))
        return [pool.submit(_verify_in_worker, jobs[start : start + chunk]) for start in range(0, len(jobs), chunk)]

    def _current_pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._closed:
                raise RuntimeError("the verifier is closed")
            return self._pool

    def _replace_broken_pool(self, broken: ProcessPoolExecutor) -> ProcessPoolExecutor:
        """Return a working pool in place of `broken`; another caller may have replaced it already."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the verifier is closed")
            if self._pool is broken:
                _LOGGER.warning("a verification worker died; starting new workers and verifying again")
                broken.shutdown(wait=False, cancel_futures=True)
                self._pool = self._new_pool()
            return self._pool

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self._workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(os.getpid(), self._weigher),
        )


class _PendingInPool:
    """Jobs sent to a pool. If a worker dies before they are done, they are run once more in a fresh pool."""

    def __init__(
        self,
        verifier: ProcessVerifier,
        pool: ProcessPoolExecutor,
        jobs: Sequence[VerificationJob],
        tasks: list[Future[list[list[Comparison | None]]]],
    ) -> None:
        self._verifier = verifier
        self._pool = pool
        self._jobs = jobs
        self._tasks = tasks

    def result(self) -> list[list[Comparison | None]]:
        try:
            return _gathered(self._tasks)
        except BrokenProcessPool:
            pool = self._verifier._replace_broken_pool(self._pool)
            return _gathered(self._verifier._submit_to(pool, self._jobs))


def _gathered(tasks: list[Future[list[list[Comparison | None]]]]) -> list[list[Comparison | None]]:
    results: list[list[Comparison | None]] = []
    for task in tasks:
        results.extend(task.result())
    return results

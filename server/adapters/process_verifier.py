"""ProcessVerifier: the Verifier spread over worker processes, so that verification uses every core."""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from functools import partial
from typing import Final

from server.domain.alignment import Weigher, weigh
from server.domain.model import Comparison
from server.domain.tokenization import Tokenizer, tokenize
from server.domain.verification import LocalVerifier, VerificationJob

_LOGGER = logging.getLogger(__name__)

# How often a worker checks that the server that started it is still alive.
_WATCH_SECONDS: Final = 1.0
# Jobs sent to a worker in one message: a batch of short jobs costs one round trip per chunk, not per job,
# while a few chunks per worker still share out long and short jobs evenly.
_JOBS_PER_TASK: Final = 8
# Tasks handed to the pool beyond one per worker. The pool runs what it is given first come, first served, so
# every task it holds is one a query's task would wait behind; the rest wait here, where a query's go first.
# One extra, as the pool's own call queue keeps, so that a worker finishing a task finds the next one ready.
_TASKS_QUEUED_IN_POOL: Final = 1

# A worker runs the cyclic garbage collector itself, once per this many jobs, instead of letting it run on
# allocation counts. Its cache holds a few hundred analysed texts, about a million small objects without a
# reference cycle among them (refcounting frees them when they leave the cache), and every automatic full
# collection walked all of them: with it on, verifying took 1.4 to 1.8 times as long (in-process, 2,000 news
# jobs against cached texts). Once per thousand jobs still frees any cycle a job leaves behind.
COLLECT_EVERY_JOBS: Final = 1000

# Each worker process's own verifier, with its own cache of analysed texts, and its jobs since the last collection.
_worker_verifier: LocalVerifier | None = None
_jobs_since_collection = 0


def _start_worker(server_pid: int, weigher: Weigher, tokenizer: Tokenizer) -> None:
    global _worker_verifier
    # Ctrl-C reaches the whole process group; the server shuts the pool down itself, after in-flight calls.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    gc.disable()
    _worker_verifier = LocalVerifier(weigher=weigher, tokenizer=tokenizer)
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


def _shares(job: VerificationJob, workers: int) -> list[VerificationJob]:
    """Return `job` cut into up to `workers` jobs, dealt its candidates in turn (the closest go one to each share).

    Each share analyses the query text again, about half a candidate's cost for a news article; a job of one
    candidate is not cut.
    """
    count = min(workers, len(job.candidates))
    if count < 2:
        return [job]
    return [VerificationJob(job.query, job.candidates[start::count]) for start in range(count)]


def _interleaved(share_answers: list[list[Comparison | None]]) -> list[Comparison | None]:
    """Return the shares' answers in the order of the candidates they were dealt from (see _shares)."""
    answers: list[Comparison | None] = []
    for turn in range(max(len(share) for share in share_answers)):
        answers.extend(share[turn] for share in share_answers if turn < len(share))
    return answers


def _ready() -> None:
    """A task that only proves a worker has started."""


class ProcessVerifier:
    """Runs verification jobs in `workers` processes, each keeping its own cache of analysed texts.

    Verification is pure-Python work on the texts (tokenising, sentence alignment) that holds the GIL;
    in the server process it would use one core however many requests wait. The workers are spawned, not
    forked: a fork would copy the gRPC server's threads and locks mid-flight.

    Jobs go to the workers in tasks of a few jobs, and a query's (`verify`) go before an ingest's (`submit`):
    the pool holds only one task per worker and one more, and the others wait here in two queues. Without
    that, a FindSimilar by text during an ingest waited behind every job the ingest had handed out. Queries
    enough to keep every worker busy hold an ingest back until they thin out; the server's request threads
    bound how many there can be. A query that finds workers idle is cut into one share of its candidates each.

    `weigher` and `tokenizer` are passed to each worker's LocalVerifier; they must be module-level functions,
    which are sent to the workers by name.

    A worker that dies (killed, out of memory) breaks the pool; the tasks it held are run again once in a
    fresh pool, and only a second failure reaches the caller.
    """

    def __init__(self, workers: int, weigher: Weigher = weigh, tokenizer: Tokenizer = tokenize) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self._workers = workers
        self._weigher = weigher
        self._tokenizer = tokenizer
        self._lock = threading.Lock()
        self._pool = self._new_pool()
        self._closed = False
        self._queries: deque[_Task] = deque()
        self._ingests: deque[_Task] = deque()
        self._tasks_in_pool = 0

    @property
    def workers(self) -> int:
        return self._workers

    def start(self) -> None:
        """Start the workers now rather than on the first request, and wait until they answer."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the verifier is closed")
            pool = self._pool
        # Tasks submitted before any worker is idle each start a worker, up to the pool's size.
        for task in [pool.submit(_ready) for _ in range(self._workers)]:
            task.result()

    def verify(self, jobs: Sequence[VerificationJob]) -> list[list[Comparison | None]]:
        # A query's candidates are shared out among the idle workers, so that one FindSimilar by text is answered in
        # about the time of its share. Each share analyses the query again (see _shares): work that only pays while
        # a worker would otherwise wait, so a busy pool is given the job whole.
        with self._lock:
            idle = self._workers - self._tasks_in_pool - len(self._queries) - len(self._ingests)
        shares = [_shares(job, idle) for job in jobs]
        answers = iter(self._send([share for job_shares in shares for share in job_shares], query=True).result())
        return [_interleaved([next(answers) for _ in job_shares]) for job_shares in shares]

    def submit(self, jobs: Sequence[VerificationJob]) -> _PendingInPool:
        """Send `jobs` to the workers behind any query's, and return without waiting for them."""
        return self._send(jobs, query=False)

    def forget(self, document_id: str) -> None:
        # Workers cache analyses under (id, sequence), and a sequence is never given twice: what they keep
        # of a deleted text is never used again, and leaves their caches as newer texts come in.
        pass

    def close(self) -> None:
        with self._lock:
            self._closed = True
            waiting = [*self._queries, *self._ingests]
            self._queries.clear()
            self._ingests.clear()
            pool = self._pool
        for task in waiting:
            task.future.cancel()
        # Outside the lock: the pool cancels its own waiting tasks, and their callbacks take the lock.
        pool.shutdown(wait=True, cancel_futures=True)

    def _send(self, jobs: Sequence[VerificationJob], *, query: bool, again: bool = False) -> _PendingInPool:
        chunk = max(1, min(_JOBS_PER_TASK, -(-len(jobs) // (2 * self._workers))))
        tasks = [_Task(jobs[start : start + chunk]) for start in range(0, len(jobs), chunk)]
        with self._lock:
            if self._closed:
                raise RuntimeError("the verifier is closed")
            (self._queries if query else self._ingests).extend(tasks)
        self._hand_out()
        return _PendingInPool(self, tasks, query=query, again=again)

    def _hand_out(self) -> None:
        """Give the pool waiting tasks, queries' first, while it holds fewer than it should."""
        while True:
            with self._lock:
                waiting = self._queries or self._ingests
                if self._closed or not waiting or self._tasks_in_pool >= self._workers + _TASKS_QUEUED_IN_POOL:
                    return
                task = waiting.popleft()
                task.pool = self._pool
                self._tasks_in_pool += 1
            try:
                in_pool = task.pool.submit(_verify_in_worker, task.jobs)
            except (BrokenProcessPool, RuntimeError) as error:
                # Broken or shut down since it was read; the caller decides whether to run the task again.
                with self._lock:
                    self._tasks_in_pool -= 1
                task.future.set_exception(error)
                continue
            in_pool.add_done_callback(partial(self._finished, task))

    def _finished(self, task: _Task, in_pool: Future[list[list[Comparison | None]]]) -> None:
        # Called in the pool's own thread, or in this one if the task is done already.
        with self._lock:
            self._tasks_in_pool -= 1
        if in_pool.cancelled():
            task.future.cancel()
        elif (error := in_pool.exception()) is not None:
            task.future.set_exception(error)
        else:
            task.future.set_result(in_pool.result())
        self._hand_out()

    def _replace_broken_pool(self, broken: ProcessPoolExecutor) -> None:
        """Put a working pool in place of `broken`, unless another caller has already."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the verifier is closed")
            if self._pool is not broken:
                return
            _LOGGER.warning("a verification worker died; starting new workers and verifying again")
            self._pool = self._new_pool()
        broken.shutdown(wait=False, cancel_futures=True)

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self._workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(os.getpid(), self._weigher, self._tokenizer),
        )


@dataclass(slots=True)
class _Task:
    """A few jobs sent to one worker in one message, and where their answers go."""

    jobs: Sequence[VerificationJob]
    future: Future[list[list[Comparison | None]]] = field(default_factory=Future)
    # The pool it was handed to, once it has been.
    pool: ProcessPoolExecutor | None = None


class _PendingInPool:
    """Tasks sent to the workers. A task lost with a dead worker is run once more in a fresh pool."""

    def __init__(self, verifier: ProcessVerifier, tasks: list[_Task], *, query: bool, again: bool) -> None:
        self._verifier = verifier
        self._tasks = tasks
        self._query = query
        self._again = again

    def done(self) -> bool:
        """Tell whether every task has finished, answered or not (one lost with a worker is run again by `result`)."""
        return all(task.future.done() for task in self._tasks)

    def result(self) -> list[list[Comparison | None]]:
        results: list[list[Comparison | None]] = []
        for task in self._tasks:
            try:
                results.extend(task.future.result())
            except BrokenProcessPool:
                if self._again or task.pool is None:
                    raise
                self._verifier._replace_broken_pool(task.pool)
                results.extend(self._verifier._send(task.jobs, query=self._query, again=True).result())
        return results

"""ProcessVerifier: the Verifier spread over worker processes, so that verification uses every core."""

from __future__ import annotations

import gc
import logging
import multiprocessing
import signal
import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import CancelledError, Future
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, Final

from server.domain.alignment import Weigher, weigh
from server.domain.model import Comparison
from server.domain.tokenization import Tokenizer, tokenize
from server.domain.verification import LocalVerifier, VerificationJob

_LOGGER = logging.getLogger(__name__)

# How often the server's thread for an idle worker checks that the worker is alive.
_WATCH_SECONDS: Final = 1.0
# Jobs sent to a worker in one message: a batch of short jobs costs one round trip per chunk, not per job,
# while a few chunks per worker still share out long and short jobs evenly.
_JOBS_PER_TASK: Final = 8
# How long closing waits for a worker to exit once its pipe is closed, before killing it.
_EXIT_SECONDS: Final = 10.0

# A worker runs the cyclic garbage collector itself, once per this many jobs, instead of letting it run on
# allocation counts. Its cache holds a few hundred analysed texts, about a million small objects without a
# reference cycle among them (refcounting frees them when they leave the cache), and every automatic full
# collection walked all of them: with it on, verifying took 1.4 to 1.8 times as long (in-process, 2,000 news
# jobs against cached texts). Once per thousand jobs still frees any cycle a job leaves behind.
COLLECT_EVERY_JOBS: Final = 1000

# Each worker process's own verifier, with its own cache of analysed texts, and its jobs since the last collection.
_worker_verifier: LocalVerifier | None = None
_jobs_since_collection = 0


def _worker_main(connection: Connection, weigher: Weigher, tokenizer: Tokenizer) -> None:
    """A worker process's life: answer each (function, argument) message with (True, result) or (False, error)."""
    _start_worker(weigher, tokenizer)
    while True:
        try:
            function, argument = connection.recv()
        except EOFError:
            # The server closed the pipe: it is closing, or it died (a killed process's pipes close with it, so
            # no worker is left waiting for work that cannot come).
            return
        try:
            answer: tuple[bool, Any] = (True, function(*argument))
        except Exception as error:  # the server raises it in the caller that sent the work
            answer = (False, error)
        try:
            connection.send(answer)
        except OSError:
            # The server died while this worker was busy.
            return
        except Exception as error:  # pickling fails before anything is written: say what failed
            connection.send((False, RuntimeError(f"a verification worker's answer could not be sent: {error}")))


def _start_worker(weigher: Weigher, tokenizer: Tokenizer) -> None:
    global _worker_verifier
    # Ctrl-C reaches the whole process group; the server stops its workers itself, after in-flight calls.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    gc.disable()
    _worker_verifier = LocalVerifier(weigher=weigher, tokenizer=tokenizer)
    # Paid here, while the server waits for its workers to start, not by the first request.
    _worker_verifier.warm_up()


def _verify_in_worker(jobs: Sequence[VerificationJob]) -> list[list[Comparison | None]]:
    global _jobs_since_collection
    assert _worker_verifier is not None  # noqa: S101 - set by _start_worker before any work
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

    Each worker has a thread in the server that takes the next task (a few jobs), sends it down the worker's own
    pipe, and waits for the answer. A query's tasks (`verify`) go before an ingest's (`submit`): they wait here in
    two queues, and a worker takes a query's first. Without that, a FindSimilar by text during an ingest waited
    behind every job the ingest had handed out. Queries enough to keep every worker busy hold an ingest back until
    they thin out; the server's request threads bound how many there can be. A query that finds workers idle is
    cut into one share of its candidates each.

    A ProcessPoolExecutor did this before. Its feeder thread pickled each task and its manager thread read each
    answer, two more threads wanting the GIL beside the request threads, and a worker that died broke the pool and
    every task in it. With the pipes, `bench_ingest` went from 0.96-0.97x datasketch to 1.03-1.07x (three runs each,
    alternating); FindSimilar by text over gRPC did not move (bench/README.md).

    `weigher` and `tokenizer` are passed to each worker's LocalVerifier; they must be module-level functions,
    which are sent to the workers by name.

    A worker that dies (killed, out of memory) is replaced; the task it held is run again once, first in its
    queue, and only a second failure reaches the caller.
    """

    def __init__(self, workers: int, weigher: Weigher = weigh, tokenizer: Tokenizer = tokenize) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self._workers = workers
        self._weigher = weigher
        self._tokenizer = tokenizer
        self._context = multiprocessing.get_context("spawn")
        self._changed = threading.Condition()
        self._closed = False
        self._queries: deque[_Task] = deque()
        self._ingests: deque[_Task] = deque()
        self._running = 0
        self._threads: list[threading.Thread] = []

    @property
    def workers(self) -> int:
        return self._workers

    def start(self) -> None:
        """Start the workers now rather than on the first request, and wait until they answer."""
        for pending in [self._call_in_worker(_ready) for _ in range(self._workers)]:
            pending.result()

    def verify(self, jobs: Sequence[VerificationJob]) -> list[list[Comparison | None]]:
        # A query's candidates are shared out among the idle workers, so that one FindSimilar by text is answered in
        # about the time of its share. Each share analyses the query again (see _shares): work that only pays while
        # a worker would otherwise wait, so busy workers are given the job whole.
        with self._changed:
            idle = self._workers - self._running - len(self._queries) - len(self._ingests)
        shares = [_shares(job, idle) for job in jobs]
        answers = iter(self._send([share for job_shares in shares for share in job_shares], query=True).result())
        return [_interleaved([next(answers) for _ in job_shares]) for job_shares in shares]

    def submit(self, jobs: Sequence[VerificationJob]) -> _Pending:
        """Send `jobs` to the workers behind any query's, and return without waiting for them."""
        return self._send(jobs, query=False)

    def forget(self, document_id: str) -> None:
        # Workers cache analyses under (id, sequence), and a sequence is never given twice: what they keep
        # of a deleted text is never used again, and leaves their caches as newer texts come in.
        pass

    def close(self) -> None:
        """Cancel the tasks still waiting, let the workers finish the ones they hold, and stop them."""
        with self._changed:
            self._closed = True
            waiting = [*self._queries, *self._ingests]
            self._queries.clear()
            self._ingests.clear()
            self._changed.notify_all()
            threads = list(self._threads)
        for task in waiting:
            # A task waiting to run again after its worker died is running as far as its future knows.
            if not task.future.cancel():
                task.future.set_exception(CancelledError())
        for thread in threads:
            thread.join()

    def _call_in_worker(self, function: Callable[..., Any], *argument: Any) -> _Pending:
        """Run a module-level `function` in whichever worker is free first (for tests and for `start`)."""
        task = _Task((), call=(function, argument))
        self._enqueue([task], query=True)
        return _Pending([task])

    def _send(self, jobs: Sequence[VerificationJob], *, query: bool) -> _Pending:
        chunk = max(1, min(_JOBS_PER_TASK, -(-len(jobs) // (2 * self._workers))))
        tasks = [_Task(jobs[start : start + chunk]) for start in range(0, len(jobs), chunk)]
        self._enqueue(tasks, query=query)
        return _Pending(tasks)

    def _enqueue(self, tasks: list[_Task], *, query: bool) -> None:
        for task in tasks:
            task.query = query
        with self._changed:
            if self._closed:
                raise RuntimeError("the verifier is closed")
            if not self._threads:
                self._start_threads()
            (self._queries if query else self._ingests).extend(tasks)
            self._changed.notify(len(tasks))

    def _start_threads(self) -> None:
        # Called holding `_changed`, so that `close` never joins a thread not started yet.
        self._threads = [
            threading.Thread(target=self._serve_worker, name=f"verify-worker-{slot}", daemon=True)
            for slot in range(self._workers)
        ]
        for thread in self._threads:
            thread.start()

    def _serve_worker(self) -> None:
        """One worker's thread: start the worker, then send it tasks one after another until closing."""
        worker: _Worker | None = None
        try:
            while not self._closing():
                if worker is None or not worker.alive():
                    if worker is not None:
                        _LOGGER.warning("a verification worker died; starting a new one")
                        worker.stop()
                        worker = None
                    try:
                        worker = self._new_worker()
                    except OSError as error:
                        # Out of processes or file descriptors: the next task fails rather than waiting for ever.
                        _LOGGER.error("cannot start a verification worker: %s", error)
                        self._fail_next_task(BrokenProcessPool(f"cannot start a verification worker: {error}"))
                        continue
                task = self._next_task(worker)
                if task is None:
                    continue
                if not self._run(task, worker):
                    _LOGGER.warning("a verification worker died; starting a new one and running its task again")
                    worker.stop()
                    worker = None
        finally:
            if worker is not None:
                worker.stop()

    def _new_worker(self) -> _Worker:
        connection, worker_end = self._context.Pipe()
        process = self._context.Process(
            target=_worker_main,
            args=(worker_end, self._weigher, self._tokenizer),
            name="verify-worker",
            daemon=True,
        )
        process.start()
        # The worker holds its own end; this process's copy would keep the pipe open after the worker died.
        worker_end.close()
        return _Worker(process, connection)

    def _fail_next_task(self, error: BaseException) -> None:
        """Fail the next task to run with `error`, waiting for one a while."""
        with self._changed:
            if not (self._queries or self._ingests):
                self._changed.wait(_WATCH_SECONDS)
            waiting = self._queries or self._ingests
            if self._closed or not waiting:
                return
            task = waiting.popleft()
        if _claimed(task):
            task.future.set_exception(error)

    def _closing(self) -> bool:
        with self._changed:
            return self._closed

    def _next_task(self, worker: _Worker) -> _Task | None:
        """Return the next task to run, queries' first; None when closing, or after a while idle to check `worker`."""
        with self._changed:
            while True:
                if self._closed:
                    return None
                waiting = self._queries or self._ingests
                if waiting:
                    task = waiting.popleft()
                    # A cancelled one is dropped, and the next is taken.
                    if _claimed(task):
                        self._running += 1
                        return task
                    continue
                if not self._changed.wait(_WATCH_SECONDS) and not worker.alive():
                    return None

    def _run(self, task: _Task, worker: _Worker) -> bool:
        """Run `task` in `worker` and answer it; False when the worker died with it (then it waits to run again)."""
        died: BaseException | None = None
        try:
            succeeded, answer = worker.run(task.message())
        except (EOFError, OSError) as error:
            died = error
        except Exception as error:  # a task that did not pickle, or an answer that did not unpickle
            succeeded, answer = False, error
        with self._changed:
            self._running -= 1
        if died is not None:
            self._retry(task, died)
            return False
        if succeeded:
            task.future.set_result(answer)
        else:
            task.future.set_exception(answer)
        return True

    def _retry(self, task: _Task, error: BaseException) -> None:
        if task.retried:
            task.future.set_exception(
                BrokenProcessPool(f"a verification worker died twice with the same task: {error}")
            )
            return
        task.retried = True
        with self._changed:
            if self._closed:
                task.future.set_exception(BrokenProcessPool(f"a verification worker died while closing: {error}"))
                return
            # First in its queue: it had its turn already.
            (self._queries if task.query else self._ingests).appendleft(task)
            self._changed.notify()


def _claimed(task: _Task) -> bool:
    """Mark a task taken from a queue as running; False when it was cancelled. A task run again is running already."""
    return task.retried or task.future.set_running_or_notify_cancel()


@dataclass(slots=True)
class _Worker:
    """A worker process and the server's end of its pipe."""

    process: BaseProcess
    connection: Connection

    def alive(self) -> bool:
        return self.process.is_alive()

    def run(self, message: tuple[Callable[..., Any], tuple[Any, ...]]) -> tuple[bool, Any]:
        self.connection.send(message)
        answer: tuple[bool, Any] = self.connection.recv()
        return answer

    def stop(self) -> None:
        # A closed pipe ends the worker's loop; one that does not exit in time (or is stuck) is killed.
        self.connection.close()
        self.process.join(_EXIT_SECONDS)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


@dataclass(slots=True)
class _Task:
    """A few jobs sent to one worker in one message (or a function to call there), and where the answer goes."""

    jobs: Sequence[VerificationJob]
    future: Future[Any] = field(default_factory=Future)
    call: tuple[Callable[..., Any], tuple[Any, ...]] | None = None
    query: bool = True
    retried: bool = False

    def message(self) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        return self.call if self.call is not None else (_verify_in_worker, (self.jobs,))


class _Pending:
    """Tasks sent to the workers (a task lost with a dead worker is run again by its replacement)."""

    def __init__(self, tasks: list[_Task]) -> None:
        self._tasks = tasks

    def done(self) -> bool:
        """Tell whether every task has finished, answered or not."""
        return all(task.future.done() for task in self._tasks)

    def result(self) -> list[Any]:
        results: list[Any] = []
        for task in self._tasks:
            answer = task.future.result()
            if task.call is None:
                results.extend(answer)
            else:
                results.append(answer)
        return results

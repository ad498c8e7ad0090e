from __future__ import annotations

import gc
import multiprocessing
import os
import signal
import time
from collections.abc import Iterator
from concurrent.futures import CancelledError
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import pytest

from server.adapters import compiled_weights
from server.adapters.process_verifier import ProcessVerifier
from server.domain.model import Document
from server.domain.verification import LocalVerifier, TextToCompare, VerificationJob
from tests.stories import BRIDGE_COPY, BRIDGE_EXCERPT, BRIDGE_REWRITE, BRIDGE_STORY, FOOTBALL_STORY, seed_texts


def running(workers: int) -> Iterator[ProcessVerifier]:
    """A started verifier with `workers` processes, closed when the test is done with it (for fixtures)."""
    verifier = ProcessVerifier(workers=workers)
    verifier.start()
    yield verifier
    verifier.close()


@pytest.fixture
def verifier() -> Iterator[ProcessVerifier]:
    yield from running(2)


@pytest.fixture
def one_worker() -> Iterator[ProcessVerifier]:
    yield from running(1)


def stored(document_id: str, text: str, sequence: int) -> TextToCompare:
    return TextToCompare(text, Document(document_id, text), sequence)


def stored_texts() -> list[TextToCompare]:
    texts = {
        **seed_texts(),
        "story": BRIDGE_STORY,
        "copy": BRIDGE_COPY,
        "excerpt": BRIDGE_EXCERPT,
        "rewrite": BRIDGE_REWRITE,
        "football": FOOTBALL_STORY,
    }
    return [stored(document_id, text, sequence) for sequence, (document_id, text) in enumerate(texts.items(), 1)]


def unstored_query_job() -> VerificationJob:
    """A text that is not stored, so analysed anew each time, against every stored one: about 5 ms of work."""
    return VerificationJob(TextToCompare(BRIDGE_COPY), tuple(stored_texts()))


def jobs() -> list[VerificationJob]:
    items = stored_texts()
    every = [VerificationJob(item, tuple(other for other in items if other is not item)) for item in items]
    # A query that is not stored, a job with no candidates, and the same job twice.
    return [*every, unstored_query_job(), VerificationJob(items[0], ()), every[0]]


def worker_pids() -> list[int]:
    return [child.pid for child in multiprocessing.active_children() if child.pid is not None]


def test_workers_find_exactly_what_verifying_in_process_finds(verifier: ProcessVerifier) -> None:
    expected = LocalVerifier().verify(jobs())

    found = verifier.verify(jobs())

    assert found == expected
    # The jobs hold real reuse, so the comparison is not vacuous.
    assert sum(comparison is not None for comparisons in found for comparison in comparisons) >= 10


def test_workers_compare_with_the_weigher_they_are_given() -> None:
    # The compiled weigher reaches the workers by name and weighs as the reference does, so every comparison is
    # the one made in process with the reference.
    verifier = ProcessVerifier(workers=1, weigher=compiled_weights.weigh)
    try:
        assert verifier.verify(jobs()) == LocalVerifier().verify(jobs())
    finally:
        verifier.close()


def test_workers_run_the_cycle_collector_on_their_own_schedule(verifier: ProcessVerifier) -> None:
    # Automatic collection is off in the workers (see COLLECT_EVERY_JOBS): it walked every cached analysis.
    # The server process keeps its own.
    assert verifier._call_in_worker(gc.isenabled).result() == [False]
    assert gc.isenabled()
    assert verifier.verify(jobs()) == LocalVerifier().verify(jobs())


@pytest.fixture
def sent(verifier: ProcessVerifier, monkeypatch: pytest.MonkeyPatch) -> list[list[VerificationJob]]:
    """The jobs of each task `verifier` queues for its workers from now on, one list per task."""
    tasks: list[list[VerificationJob]] = []
    enqueue = verifier._enqueue

    def recording_enqueue(queued: list[Any], *, query: bool) -> None:
        tasks.extend(list(task.jobs) for task in queued)
        enqueue(queued, query=query)

    monkeypatch.setattr(verifier, "_enqueue", recording_enqueue)
    return tasks


def test_a_query_is_shared_out_among_the_workers_and_answered_in_its_candidates_order(
    verifier: ProcessVerifier, sent: list[list[VerificationJob]]
) -> None:
    job = unstored_query_job()

    found = verifier.verify([job])

    assert found == LocalVerifier().verify([job])
    # One task per worker, the candidates dealt to them in turn (first, third, ... and second, fourth, ...).
    assert sent == [
        [VerificationJob(job.query, job.candidates[0::2])],
        [VerificationJob(job.query, job.candidates[1::2])],
    ]


def test_a_query_is_given_whole_to_busy_workers(verifier: ProcessVerifier, sent: list[list[VerificationJob]]) -> None:
    slow = unstored_query_job()
    ingests = [verifier.submit([slow]) for _ in range(20)]
    job = VerificationJob(TextToCompare(BRIDGE_EXCERPT), tuple(stored_texts()))

    found = verifier.verify([job])
    for pending in ingests:
        pending.result()

    assert found == LocalVerifier().verify([job])
    # Cut, each share would analyse the query again while the ingest's jobs wait for the workers.
    assert [jobs for jobs in sent if jobs[0].query == job.query] == [[job]]


def test_a_query_with_one_candidate_is_not_cut(verifier: ProcessVerifier, sent: list[list[VerificationJob]]) -> None:
    job = VerificationJob(TextToCompare(BRIDGE_EXCERPT), (stored("story", BRIDGE_STORY, 1),))

    (comparisons,) = verifier.verify([job])

    assert sent == [[job]]
    assert comparisons[0] is not None


def test_no_jobs_is_no_work(verifier: ProcessVerifier) -> None:
    assert verifier.verify([]) == []


def test_a_query_overtakes_the_ingest_jobs_waiting_before_it(one_worker: ProcessVerifier) -> None:
    # One worker, and many slow ingest tasks queued before the query: first come, first served, the query
    # would be answered last.
    slow = unstored_query_job()
    ingests = [one_worker.submit([slow]) for _ in range(60)]
    done_before = sum(pending.done() for pending in ingests)
    one_worker.verify([VerificationJob(TextToCompare(BRIDGE_EXCERPT), (stored("story", BRIDGE_STORY, 1),))])
    done_after = sum(pending.done() for pending in ingests)
    for pending in ingests:
        pending.result()

    # Most ingest tasks were still waiting when the query was sent: first come, first served, at least 45 more
    # would be done once it is answered.
    assert done_before <= 15
    # Ahead of the query only the task the worker was running; the worker goes on with the others while the answer
    # comes back, and a busy machine may keep this thread waiting for a while.
    assert done_after - done_before <= 20


def test_a_killed_worker_is_replaced_and_the_jobs_still_answered(verifier: ProcessVerifier) -> None:
    expected = LocalVerifier().verify(jobs())
    before = worker_pids()
    assert len(before) >= 2

    os.kill(before[0], signal.SIGKILL)
    # A signal is delivered when the process next runs: on a busy machine the jobs could otherwise all be answered
    # before the worker is dead.
    for child in multiprocessing.active_children():
        if child.pid == before[0]:
            child.join(timeout=30)
    found = verifier.verify(jobs())

    assert found == expected
    # A fresh worker answered in place of the dead one.
    assert before[0] not in worker_pids()
    assert set(worker_pids()) - set(before)


def test_ingest_tasks_waiting_when_a_worker_dies_are_still_answered(one_worker: ProcessVerifier) -> None:
    slow = unstored_query_job()
    (expected,) = LocalVerifier().verify([slow])
    ingests = [one_worker.submit([slow]) for _ in range(12)]
    (worker,) = worker_pids()
    os.kill(worker, signal.SIGKILL)

    assert [pending.result() for pending in ingests] == [[expected]] * 12


def test_an_idle_worker_that_dies_is_replaced_before_work_comes(one_worker: ProcessVerifier) -> None:
    (worker,) = worker_pids()
    os.kill(worker, signal.SIGKILL)

    deadline = time.monotonic() + 30
    while worker_pids() in ([], [worker]) and time.monotonic() < deadline:
        time.sleep(0.05)

    replacement = worker_pids()
    assert len(replacement) == 1
    assert replacement != [worker]


def test_a_task_that_kills_its_worker_twice_reaches_the_caller_and_the_worker_is_replaced(
    one_worker: ProcessVerifier,
) -> None:
    with pytest.raises(BrokenProcessPool, match="died twice"):
        one_worker._call_in_worker(os._exit, 3).result()

    assert one_worker.verify(jobs()) == LocalVerifier().verify(jobs())


def test_an_error_raised_in_a_worker_reaches_the_caller_and_the_worker_goes_on(one_worker: ProcessVerifier) -> None:
    (worker,) = worker_pids()

    with pytest.raises(ValueError, match="invalid literal"):
        one_worker._call_in_worker(int, "not a number").result()

    assert one_worker.verify(jobs()) == LocalVerifier().verify(jobs())
    assert worker_pids() == [worker]


def test_work_fails_rather_than_waits_when_no_worker_can_be_started(monkeypatch: pytest.MonkeyPatch) -> None:
    verifier = ProcessVerifier(workers=1)

    def out_of_processes() -> None:
        raise OSError("Resource temporarily unavailable")

    monkeypatch.setattr(verifier, "_new_worker", out_of_processes)
    try:
        with pytest.raises(BrokenProcessPool, match="cannot start a verification worker"):
            verifier.verify(jobs())
    finally:
        verifier.close()


def test_closing_cancels_the_tasks_still_waiting_rather_than_leaving_them(one_worker: ProcessVerifier) -> None:
    slow = unstored_query_job()
    ingests = [one_worker.submit([slow]) for _ in range(60)]

    one_worker.close()

    outcomes: list[int | str] = []
    for pending in ingests:
        try:
            outcomes.append(len(pending.result()))
        except CancelledError:
            outcomes.append("cancelled")
    # The tasks in the workers' hands finish; those behind them are cancelled.
    assert outcomes.count("cancelled") >= 45
    assert set(outcomes) <= {1, "cancelled"}


def test_a_closed_verifier_refuses_work_and_stops_its_workers() -> None:
    verifier = ProcessVerifier(workers=1)
    verifier.start()
    started = worker_pids()

    verifier.close()

    assert not set(started) & set(worker_pids())
    with pytest.raises(RuntimeError, match="closed"):
        verifier.verify(jobs())
    verifier.close()


def test_at_least_one_worker_is_required() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        ProcessVerifier(workers=0)

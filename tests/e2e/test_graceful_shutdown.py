"""SIGTERM drains the real server process: NOT_SERVING first, in-flight calls finish, nothing acknowledged is lost."""

from __future__ import annotations

import random
import threading
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2

from client import DedupClient, DedupClientError, make_document
from dedup.v1 import dedup_service_pb2, document_pb2
from tests.e2e.conftest import ServerProcess

_SYLLABLES = ("ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "de", "par", "men", "gol", "tri", "sun", "bel")


def _prose(rng: random.Random, sentences: int) -> str:
    return " ".join(
        " ".join("".join(rng.choice(_SYLLABLES) for _ in range(3)) for _ in range(rng.randint(10, 18))).capitalize()
        + "."
        for _ in range(sentences)
    )


def _documents(prefix: str, count: int, sentences: int, seed: int) -> list[document_pb2.Document]:
    rng = random.Random(seed)  # noqa: S311 - test data, not a secret
    return [make_document(f"{prefix}-{number}", _prose(rng, sentences)) for number in range(count)]


def _wait_for(condition: threading.Event, timeout: float, what: str) -> None:
    assert condition.wait(timeout), f"timed out waiting for {what}"


@pytest.mark.slow
def test_sigterm_reports_not_serving_finishes_in_flight_calls_and_loses_nothing(
    server_process: ServerProcess,
) -> None:
    server_process.arguments = ["--grace-seconds", "30"]
    address = server_process.start()
    early = _documents("early", 5, 20, seed=1)
    # A batch that takes the server seconds to ingest, so that it is in flight when SIGTERM arrives: 40 of these
    # documents took 1.4-1.7 s on the 2-core development machine once comparisons got cheaper, too close to the
    # second waited below; 100 took 6.7 s.
    slow_batch = _documents("slow", 100, 300, seed=2)
    with DedupClient(address) as client:
        client.ingest(early)

    statuses: list[int] = []
    serving, not_serving = threading.Event(), threading.Event()
    watch_channel = grpc.insecure_channel(address)
    watch = watch_channel.unary_stream(
        "/grpc.health.v1.Health/Watch",
        request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
        response_deserializer=health_pb2.HealthCheckResponse.FromString,
    )
    responses = watch(health_pb2.HealthCheckRequest(service=""), timeout=60)

    def follow_health() -> None:
        try:
            for response in responses:
                statuses.append(response.status)
                (serving if response.status == health_pb2.HealthCheckResponse.SERVING else not_serving).set()
        except grpc.RpcError:
            pass  # cancelled below, once NOT_SERVING has been seen

    watcher = threading.Thread(target=follow_health, daemon=True)
    watcher.start()
    _wait_for(serving, 10, "SERVING")

    outcome: dict[str, object] = {}
    sent = threading.Event()

    def ingest_slowly() -> None:
        with DedupClient(address, timeout=60) as client:
            client.wait_until_ready(5)
            sent.set()
            try:
                outcome["results"] = client.ingest(slow_batch)
            except DedupClientError as error:
                outcome["error"] = error

    ingester = threading.Thread(target=ingest_slowly, daemon=True)
    ingester.start()
    _wait_for(sent, 10, "the slow ingest to start")
    # Time for the request to reach the server and its handler to start, even on a busy machine; ingesting it
    # takes several seconds more. A call that has not started when the server stops is refused, not drained.
    time.sleep(1.0)
    assert not outcome, "the slow ingest was not slow; enlarge it"
    terminated_at = time.monotonic()
    server_process.terminate()

    _wait_for(not_serving, 10, "NOT_SERVING")
    # A watch is an in-flight call too; left open, it would hold the drain for the whole grace period.
    responses.cancel()
    watch_channel.close()
    # New calls are refused once the server stops accepting, a moment after it reports NOT_SERVING.
    refusal: grpc.StatusCode | None = None
    with DedupClient(address, timeout=5) as late:
        deadline = time.monotonic() + 10
        while refusal is None:
            try:
                late.stats()
            except DedupClientError as error:
                refusal = error.code
                continue
            assert time.monotonic() < deadline, "the draining server still accepts new calls"
            time.sleep(0.05)
    # A call that reaches the server while gRPC stops it, before a handler takes it, is cancelled rather than refused
    # as unavailable (grpc/grpc#41785): refused all the same, and never run.
    assert refusal in {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED}

    ingester.join(timeout=60)
    assert "error" not in outcome, outcome
    results = outcome["results"]
    assert isinstance(results, list)
    assert [result.status for result in results] == [dedup_service_pb2.INGEST_STATUS_CREATED] * len(slow_batch)
    assert server_process.wait(timeout=30) == 0
    assert time.monotonic() - terminated_at < 30, "the drain waited for the whole grace period"
    log = server_process.log()
    assert "draining for up to 30.0 s" in log
    assert "abandoned" not in log

    with DedupClient(server_process.start()) as client:
        for document in early + slow_batch:
            assert client.get_document(document.id).document.text == document.text
        assert client.stats().document_count == len(early) + len(slow_batch)


@pytest.mark.slow
def test_sigterm_gives_up_on_a_call_that_outlasts_the_grace_period(server_process: ServerProcess) -> None:
    server_process.arguments = ["--grace-seconds", "0.5"]
    address = server_process.start()
    with DedupClient(address) as client:
        client.ingest(_documents("kept", 3, 20, seed=3))
    # Comparing two texts of 8,000 sentences takes the server several seconds.
    rng = random.Random(4)  # noqa: S311 - test data, not a secret
    text = _prose(rng, 8000)
    outcome: dict[str, object] = {}

    def compare_slowly() -> None:
        with DedupClient(address, timeout=120) as client:
            try:
                outcome["response"] = client.compare(text, text)
            except DedupClientError as error:
                outcome["error"] = error

    comparer = threading.Thread(target=compare_slowly, daemon=True)
    comparer.start()
    time.sleep(0.5)
    terminated_at = time.monotonic()
    server_process.terminate()

    assert server_process.wait(timeout=30) == 0
    # Grace period, one second for cancelled handlers to return, and start-up slack: not the Compare's minutes.
    assert time.monotonic() - terminated_at < 5
    comparer.join(timeout=30)
    error = outcome.get("error")
    assert isinstance(error, DedupClientError), outcome
    assert error.code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED)
    assert "abandoned" in server_process.log()

    with DedupClient(server_process.start()) as client:
        assert client.stats().document_count == 3

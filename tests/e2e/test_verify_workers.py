"""The real server process verifies in worker processes, which use CPU under load and leave with the server."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from client import DedupClient
from tests.e2e.conftest import ServerProcess, seed_documents
from tests.stories import EXCERPT_ID, REWRITE_ID, WIRE_ID


def verify_workers_of(pid: int) -> dict[int, int]:
    """Return the server's verification workers, each with the CPU time it has used, in clock ticks."""
    workers = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        # The command name may hold spaces and parentheses; the fields after its closing parenthesis do not.
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == pid and b"multiprocessing.spawn" in command:
            workers[int(entry.name)] = int(fields[11]) + int(fields[12])
    return workers


def wait_until_gone(pids: set[int], timeout: float) -> set[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = {pid for pid in pids if Path(f"/proc/{pid}").exists()}
        if not pids:
            break
        time.sleep(0.1)
    return pids


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc")
def test_verification_runs_in_the_worker_processes_and_they_leave_with_a_killed_server(
    server_process: ServerProcess,
) -> None:
    server_process.arguments = ["--verify-workers", "2"]
    address = server_process.start()
    assert server_process.process is not None
    before = verify_workers_of(server_process.process.pid)
    assert len(before) == 2

    with DedupClient(address, timeout=60.0) as client:
        client.ingest(seed_documents())
        wire_text = client.get_document(WIRE_ID).document.text
        # Text queries are never cached, so each one is analysed and aligned again.
        for _ in range(20):
            assert {match.document_id for match in client.find_similar(text=wire_text)} >= {
                WIRE_ID,
                REWRITE_ID,
                EXCERPT_ID,
            }
        assert client.provenance(REWRITE_ID).origin_id == WIRE_ID
    after = verify_workers_of(server_process.process.pid)

    assert set(after) == set(before)
    assert sum(after.values()) > sum(before.values())
    server_process.kill()
    assert wait_until_gone(set(after), timeout=10.0) == set()


def test_without_workers_the_server_verifies_itself_and_finds_the_same(server_process: ServerProcess) -> None:
    server_process.arguments = ["--verify-workers", "0"]
    address = server_process.start()
    assert server_process.process is not None

    with DedupClient(address, timeout=60.0) as client:
        client.ingest(seed_documents())
        assert client.provenance(REWRITE_ID).origin_id == WIRE_ID
        assert client.provenance(EXCERPT_ID).origin_id == WIRE_ID

    assert verify_workers_of(server_process.process.pid) == {}


def test_sigterm_stops_the_workers_with_the_server(server_process: ServerProcess) -> None:
    server_process.arguments = ["--verify-workers", "1"]
    server_process.start()
    assert server_process.process is not None
    workers = set(verify_workers_of(server_process.process.pid))
    assert len(workers) == 1

    server_process.terminate()

    assert server_process.wait(timeout=30.0) == 0
    assert wait_until_gone(workers, timeout=5.0) == set()


def resident_bytes_of(pid: int) -> int:
    # Read here rather than through server.adapters.process_memory: the test checks that module's figure.
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for process {pid}")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc")
def test_stats_report_the_memory_of_the_server_and_its_workers_and_the_indexes_share(
    server_process: ServerProcess,
) -> None:
    server_process.arguments = ["--verify-workers", "2"]
    address = server_process.start()
    assert server_process.process is not None
    pid = server_process.process.pid

    with DedupClient(address, timeout=60.0) as client:
        empty = client.stats()
        client.ingest(seed_documents())
        stats = client.stats()
    own = resident_bytes_of(pid)
    workers = sum(resident_bytes_of(worker) for worker in verify_workers_of(pid))

    # Memory moves between the server's answer and the test's own reading, so within a fifth.
    assert stats.resident_bytes >= 0.8 * (own + workers)
    assert stats.resident_bytes <= 1.2 * (own + workers) + 64 * 2**20  # multiprocessing's resource tracker
    assert empty.index_bytes < stats.index_bytes < stats.resident_bytes

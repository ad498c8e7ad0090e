"""One server per data directory: a second is refused at start, and a server that stops or fails lets go."""

from __future__ import annotations

from pathlib import Path

import pytest

from client import DedupClient, make_document
from server.adapters.directory_lock import DataDirectoryInUseError
from server.rpc.app import RunningServer, build_running_server
from server.settings import Settings
from tests.e2e.conftest import ServerHandle, ServerProcess

STORY = "The harbour reopened on Monday after the storm. Ferries ran to the islands again."


def build_on(data_dir: Path, **overrides: object) -> RunningServer:
    """A server in this process on `data_dir`, verifying in-process (no worker to start)."""
    return build_running_server(
        Settings(listen="127.0.0.1:0", data_dir=data_dir, verify_workers=0, **overrides)  # type: ignore[arg-type]
    )


def test_a_second_server_on_a_data_directory_in_use_is_refused_and_the_first_serves_on(
    server_process: ServerProcess, tmp_path: Path
) -> None:
    with DedupClient(server_process.start()) as client:
        client.ingest([make_document("harbour", STORY)])
        second = ServerProcess(server_process.data_dir, tmp_path / "second.log")
        with pytest.raises(RuntimeError, match="exited with 1") as refused:
            second.start()
        assert server_process.process is not None
        assert f"another server (pid {server_process.process.pid}) is using {server_process.data_dir}" in str(
            refused.value
        )
        assert client.stats().document_count == 1

    # Killed, as by a crash: the kernel lets go of the lock with the process.
    server_process.kill()
    with DedupClient(second.start()) as client:
        assert client.get_document("harbour").document.text == STORY
    second.kill()


def test_a_server_in_this_process_is_refused_too_until_it_stops(server: ServerHandle) -> None:
    with pytest.raises(DataDirectoryInUseError, match="another server"):
        build_on(server.data_dir)
    server.stop()
    running = build_on(server.data_dir)
    assert running.stop(grace=None)


def test_a_server_that_cannot_start_lets_go_of_its_data_directory(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    assert build_on(data_dir).stop(grace=None)
    with pytest.raises(ValueError, match="cannot be compared"):
        build_on(data_dir, num_perm=64)
    running = build_on(data_dir)
    assert running.stop(grace=None)


def test_a_second_server_on_a_port_in_use_is_refused_and_the_first_keeps_every_call(
    server: ServerHandle, tmp_path: Path
) -> None:
    # gRPC binds with SO_REUSEPORT unless told not to, and the kernel would then share the port's calls between the
    # two servers: each with its own store, each answering for half of the documents.
    with DedupClient(server.address) as client:
        client.ingest([make_document("harbour", STORY)])
        with pytest.raises(OSError, match=f"cannot listen on {server.address}: the address is in use"):
            build_running_server(Settings(listen=server.address, data_dir=tmp_path / "second", verify_workers=0))
        for _ in range(20):
            assert client.stats().document_count == 1
    # The refused server let go of its data directory.
    assert build_on(tmp_path / "second").stop(grace=None)

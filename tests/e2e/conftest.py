"""Fixtures for end-to-end tests: a real dedup server on a free loopback port, over a real SQLite store."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from client import DedupClient
from dedup.v1 import document_pb2
from server.rpc.app import RunningServer, build_running_server
from server.settings import Settings

CORPUS = Path(__file__).resolve().parents[2] / "corpus"


@dataclass
class ServerHandle:
    """A server over `data_dir` that a test can stop and start again on the same store."""

    data_dir: Path
    settings_overrides: dict[str, object] = field(default_factory=dict)
    running: RunningServer | None = None

    @property
    def address(self) -> str:
        assert self.running is not None
        return f"127.0.0.1:{self.running.port}"

    def start(self) -> str:
        settings = Settings(listen="127.0.0.1:0", data_dir=self.data_dir, **self.settings_overrides)  # type: ignore[arg-type]
        self.running = build_running_server(settings)
        self.running.server.start()
        return self.address

    def stop(self) -> None:
        if self.running is not None:
            self.running.stop(grace=None)
            self.running = None

    def restart(self) -> str:
        self.stop()
        return self.start()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerHandle]:
    handle = ServerHandle(tmp_path / "data")
    handle.start()
    yield handle
    handle.stop()


@pytest.fixture
def server_address(server: ServerHandle) -> str:
    return server.address


@pytest.fixture
def dedup_client(server_address: str) -> Iterator[DedupClient]:
    with DedupClient(server_address, timeout=30.0) as client:
        yield client


def seed_documents() -> list[document_pb2.Document]:
    """The five seed articles of corpus/, with ids as `dedup ingest` gives them (file name without .txt)."""
    return [
        document_pb2.Document(id=path.stem, text=path.read_text(encoding="utf-8"))
        for path in sorted(CORPUS.glob("*.txt"))
    ]

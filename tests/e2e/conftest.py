"""Fixtures for end-to-end tests: a real dedup server on a free loopback port, over a real SQLite store."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2

from client import DedupClient
from dedup.v1 import document_pb2
from server.adapters.sqlite_store import DATABASE_NAME
from server.rpc.app import RunningServer, build_running_server
from server.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "corpus"
_SERVING_LINE = re.compile(rb"serving dedup\.v1\.DedupService on port (\d+)")


@contextmanager
def store_write_lock_held(data_dir: Path) -> Iterator[None]:
    """Hold the write lock of the store in `data_dir` from a connection of the test's own, as another process would."""
    holder = sqlite3.connect(data_dir / DATABASE_NAME, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        yield
    finally:
        if holder.in_transaction:
            holder.execute("ROLLBACK")
        holder.close()


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
        # One verification worker, unless a test says otherwise: enough to verify in a worker process as the server
        # does by default, while each worker's start (importing numba and loading its kernels, about a second of
        # CPU) is paid by nearly every test here. Two workers' sharing is tested with the server as a command.
        overrides = {"verify_workers": 1, **self.settings_overrides}
        settings = Settings(listen="127.0.0.1:0", data_dir=self.data_dir, **overrides)  # type: ignore[arg-type]
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


@dataclass
class ServerProcess:
    """`python -m server` in a child process, for what only a real process shows: signals, kill -9, flags, logs.

    The first start listens on a free port; later starts reuse it, so clients reconnect to the same address.
    Everything the server logs goes to `log_path`.
    """

    data_dir: Path
    log_path: Path
    arguments: list[str] = field(default_factory=list)
    environment: dict[str, str] = field(default_factory=dict)
    host: str = "127.0.0.1"
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 60.0) -> str:
        """Start the server and return its address once it serves."""
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        # The test's own DEDUP_* variables must not reach the server: only what the test says counts.
        environment = {name: value for name, value in os.environ.items() if not name.startswith("DEDUP_")}
        environment.update(self.environment)
        command = [
            sys.executable,
            "-m",
            "server",
            "--data-dir",
            str(self.data_dir),
            "--listen",
            self.address,
            *self.arguments,
        ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - this interpreter running the project's own server
                command, stdout=log, stderr=subprocess.STDOUT, env=environment, cwd=ROOT
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = _SERVING_LINE.search(self.log_path.read_bytes()[offset:])
            if match:
                self.port = int(match.group(1))
                return self.address
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}:\n{self.log_since(offset)}")
            time.sleep(0.02)
        self.kill()
        raise RuntimeError(f"the server did not start within {timeout} s:\n{self.log_since(offset)}")

    def kill(self) -> None:
        """Kill the server with SIGKILL, as a crash or the OOM killer would, and reap it."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
        self.process = None

    def terminate(self) -> None:
        """Send SIGTERM, as an orchestrator does to stop a server; the server drains, then exits."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)

    def wait(self, timeout: float) -> int:
        assert self.process is not None
        return self.process.wait(timeout=timeout)

    def log(self) -> str:
        return self.log_since(0)

    def log_since(self, offset: int) -> str:
        return self.log_path.read_bytes()[offset:].decode("utf-8", errors="replace") if self.log_path.exists() else ""


@pytest.fixture
def server_process(tmp_path: Path) -> Iterator[ServerProcess]:
    handle = ServerProcess(tmp_path / "data", tmp_path / "server.log")
    yield handle
    handle.kill()


def health_status(channel: grpc.Channel, service: str = "", timeout: float = 5.0) -> int:
    """Return the health service's answer for `service` (health_pb2.HealthCheckResponse.SERVING, ...)."""
    # Called by method path: the typeshed stubs of the generated Health stub declare no methods.
    check = channel.unary_unary(
        "/grpc.health.v1.Health/Check",
        request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
        response_deserializer=health_pb2.HealthCheckResponse.FromString,
    )
    response: health_pb2.HealthCheckResponse = check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
    return response.status

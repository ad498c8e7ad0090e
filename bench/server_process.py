"""A dedup-server child process on a free loopback port: start it, time it until it serves, read its memory, stop it."""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Final, Self

import grpc
from grpc_health.v1 import health_pb2

from server.adapters.process_memory import ProcessMemory, process_tree_memory

# Reconnect quickly while polling a server that is still starting: gRPC's default backoff (1 s, growing to
# 2 min) would add up to seconds to the measured start-to-serving time.
_POLL_CHANNEL_OPTIONS: Final = [
    ("grpc.initial_reconnect_backoff_ms", 10),
    ("grpc.min_reconnect_backoff_ms", 10),
    ("grpc.max_reconnect_backoff_ms", 50),
]


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    """Add `--server-arg ARG` (repeatable): arguments for every server the benchmark starts, to measure a setting."""
    parser.add_argument(
        "--server-arg",
        dest="server_arguments",
        action="append",
        type=str,
        default=[],
        metavar="ARG",
        help="pass ARG to every server the benchmark starts, once per ARG (e.g. --server-arg=--screening-stride=10)",
    )


def free_port() -> int:
    """Return a loopback TCP port that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class ServerProcess:
    """`dedup-server --data-dir DIR --listen 127.0.0.1:PORT` as a child process, logging to `log_path`.

    It runs `python -m server`, the same `server.cli:main` as the `dedup-server` script, with this interpreter,
    so the benchmark measures the checkout it is run from. The port is chosen once, so a restart serves at the
    same address.
    """

    data_dir: Path
    log_path: Path
    arguments: tuple[str, ...] = ()
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError("the server is not running: start() it first")
        return self.process.pid

    def start(self, timeout: float = 600.0) -> float:
        """Start the server and return the seconds from launching the process to health reporting SERVING.

        Raises:
            RuntimeError: The server exited, or did not serve within `timeout`; the message holds its log.
        """
        if self.process is not None:
            raise RuntimeError("the server is already running: stop() it first")
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        # Only the flags given here count: the caller's DEDUP_* variables must not change the server measured.
        environment = {name: value for name, value in os.environ.items() if not name.startswith("DEDUP_")}
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
        with grpc.insecure_channel(self.address, options=_POLL_CHANNEL_OPTIONS) as channel:
            check = channel.unary_unary(
                "/grpc.health.v1.Health/Check",
                request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
                response_deserializer=health_pb2.HealthCheckResponse.FromString,
            )
            with self.log_path.open("ab") as log:
                started = time.perf_counter()
                self.process = subprocess.Popen(  # noqa: S603 - this interpreter running the project's own server
                    command, stdout=log, stderr=subprocess.STDOUT, env=environment
                )
            deadline = started + timeout
            while time.perf_counter() < deadline:
                try:
                    response: health_pb2.HealthCheckResponse = check(
                        health_pb2.HealthCheckRequest(service=""), timeout=0.5, wait_for_ready=True
                    )
                except grpc.RpcError:
                    response = health_pb2.HealthCheckResponse()
                if response.status == health_pb2.HealthCheckResponse.SERVING:
                    return time.perf_counter() - started
                if self.process.poll() is not None:
                    code = self.process.returncode
                    self.process = None
                    raise RuntimeError(f"the server exited with {code}:\n{self._log_since(offset)}")
        self.kill()
        raise RuntimeError(f"the server did not serve within {timeout:g} s:\n{self._log_since(offset)}")

    def memory(self) -> ProcessMemory:
        """Read VmRSS and VmHWM from /proc (Linux only), summed over the server and its worker processes.

        The verification workers hold caches of analysed texts, so they count.
        """
        return process_tree_memory(self.pid)

    def stop(self, timeout: float = 60.0) -> None:
        """Stop the server with SIGTERM, as an orchestrator would, and wait for it; SIGKILL it if it hangs."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self.process = None

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(self._log_since(0).splitlines()[-lines:])

    def _log_since(self, offset: int) -> str:
        if not self.log_path.exists():
            return ""
        return self.log_path.read_bytes()[offset:].decode("utf-8", errors="replace")

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

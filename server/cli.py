"""`dedup-server`: flags and environment → Settings; configures logging; serves until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from server.rpc.app import build_running_server
from server.settings import Settings

_LOGGER = logging.getLogger(__name__)


def parse_settings(argv: Sequence[str] | None = None) -> Settings:
    """Return the environment's settings (DEDUP_*) with command-line flags applied on top."""
    base = Settings.from_env()
    parser = argparse.ArgumentParser(prog="dedup-server", description="Serve the text provenance API over gRPC.")
    parser.add_argument("--data-dir", type=Path, help=f"directory of the embedded store (default {base.data_dir})")
    parser.add_argument("--listen", help=f"HOST:PORT to listen on (default {base.listen})")
    parser.add_argument("--max-workers", type=int, help=f"threads serving requests (default {base.max_workers})")
    parser.add_argument("--num-perm", type=int, help=f"MinHash permutations, fixed per store (default {base.num_perm})")
    parser.add_argument("--max-text-bytes", type=int, help=f"largest text accepted (default {base.max_text_bytes})")
    parser.add_argument(
        "--max-batch-documents", type=int, help=f"most documents per ingest call (default {base.max_batch_documents})"
    )
    parser.add_argument("--log-level", help=f"DEBUG, INFO, WARNING or ERROR (default {base.log_level})")
    arguments = parser.parse_args(argv)
    overrides = {
        name: value
        for name, value in vars(arguments).items()
        if value is not None and name in {field.name for field in dataclasses.fields(Settings)}
    }
    try:
        return dataclasses.replace(base, **overrides)
    except ValueError as error:
        parser.error(str(error))


def main(argv: Sequence[str] | None = None) -> int:
    try:
        settings = parse_settings(argv)
    except ValueError as error:
        sys.stderr.write(f"dedup-server: {error}\n")
        return 2
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        running = build_running_server(settings)
    except (OSError, ValueError, RuntimeError) as error:
        _LOGGER.error("cannot start: %s", error)
        return 1
    running.server.start()
    _LOGGER.info("serving dedup.v1.DedupService on port %d, store %s", running.port, settings.data_dir)
    stopping = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        _LOGGER.info("received signal %d; draining for up to %.1f s", signum, settings.grace_seconds)
        stopping.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    while not stopping.wait(timeout=1.0):
        pass
    # Stop accepting new RPCs, but give in-flight ones the grace period to finish.
    running.stop(grace=settings.grace_seconds)
    _LOGGER.info("stopped")
    return 0

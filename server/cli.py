"""`dedup-server`: flags and environment → Settings; configures logging; serves until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
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
    parser.add_argument(
        "--max-id-length", type=int, help=f"longest document id, in characters (default {base.max_id_length})"
    )
    parser.add_argument(
        "--max-metadata-bytes",
        type=int,
        help=f"most bytes of source, url, title and metadata per document (default {base.max_metadata_bytes})",
    )
    parser.add_argument(
        "--max-message-bytes", type=int, help=f"gRPC message size limit, both ways (default {base.max_message_bytes})"
    )
    parser.add_argument(
        "--grace-seconds",
        type=float,
        help=f"on SIGTERM, how long in-flight calls may take to finish (default {base.grace_seconds:g})",
    )
    parser.add_argument(
        "--busy-timeout-seconds",
        type=float,
        help="how long a write waits for another process's lock on the store before its call fails with UNAVAILABLE "
        f"(default {base.busy_timeout_seconds:g})",
    )
    parser.add_argument(
        "--index-save-windows",
        type=int,
        help="passage windows an index segment must hold before it is saved, so a restart need not re-read "
        f"its documents (default {base.index_save_windows})",
    )
    parser.add_argument(
        "--verify-workers",
        type=int,
        help="processes that verify candidates on the real texts; 0 verifies in the server process "
        f"(default {base.verify_workers}, one per core)",
    )
    parser.add_argument(
        "--screening-stride",
        type=int,
        help="words between the windows a text is screened with; below 25 finds more reworded reuse and "
        f"verifies more chance candidates (default {base.screening_stride})",
    )
    parser.add_argument(
        "--index-stride",
        type=int,
        help="words between the passages a stored document is indexed at: 25 stores every passage and finds "
        f"shorter reworded reuse, for twice the index memory (default {base.index_stride})",
    )
    parser.add_argument(
        "--screening-probes",
        type=int,
        help="how many of a band's 3 values a text's windows also look it up with, each swapped for the next "
        f"smallest: more find more reworded reuse, for more screening work; 0 none (default {base.screening_probes})",
    )
    parser.add_argument("--log-level", help=f"DEBUG, INFO, WARNING or ERROR (default {base.log_level})")
    security = parser.add_argument_group("security", "Without these, listen on a loopback address only.")
    security.add_argument("--tls-cert", type=Path, metavar="PEM", help="serve TLS with this certificate chain")
    security.add_argument("--tls-key", type=Path, metavar="PEM", help="the private key of --tls-cert")
    security.add_argument(
        "--tls-client-ca", type=Path, metavar="PEM", help="require client certificates signed by this CA (mutual TLS)"
    )
    security.add_argument(
        "--tokens-file",
        type=Path,
        metavar="FILE",
        help="require a bearer token: one per line with its role, read or write (e.g. 'TOKEN write')",
    )
    security.add_argument(
        "--insecure",
        action="store_const",
        const=True,
        help="allow a non-loopback --listen without TLS and client authentication (logs a warning)",
    )
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
        # The objects of a started server are alive until it stops: the collector need not walk them again.
        running = build_running_server(settings, exempt_from_collection=True)
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
    if not running.stop(grace=settings.grace_seconds):
        # The calls were cancelled at the end of the grace period, but their handlers compute on, and the
        # interpreter would wait for them at exit: for minutes, after a Compare of two 4 MiB texts. Nobody can
        # receive their answers, and every write is one SQLite transaction that is all there or not at all (the
        # kill -9 test shows it), so leave now, as the orchestrator's SIGKILL would a little later.
        _LOGGER.warning("stopped; handlers of cancelled calls were still running, and are abandoned")
        logging.shutdown()
        os._exit(0)
    _LOGGER.info("stopped")
    return 0

"""build_server(settings) -> (grpc.Server, port): the composition root, the one place adapters are chosen."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from dedup.v1 import dedup_service_pb2, dedup_service_pb2_grpc
from server.adapters import compiled_tokenizer, compiled_weights
from server.adapters.directory_lock import DirectoryLock
from server.adapters.heap import exempt_started_objects, limit_heap_arenas, map_large_blocks, release_free_heap
from server.adapters.kernels import compile_apart_unless_cached, warm_index_kernels
from server.adapters.minhash_lsh_index import MinHashLshIndex
from server.adapters.process_memory import process_tree_memory
from server.adapters.process_verifier import ProcessVerifier
from server.adapters.sqlite_store import SqliteProvenanceStore
from server.domain.deduplicator import Deduplicator, Limits
from server.domain.model import IndexParameters
from server.domain.ports import Verifier
from server.domain.provenance import DIRECTION_RULES_VERSION
from server.domain.tokenization import TOKENIZATION_VERSION
from server.domain.verification import LocalVerifier
from server.rpc.interceptors import BearerTokenInterceptor, RequestDecodingInterceptor
from server.rpc.servicer import DedupServicer
from server.rpc.tokens import load_tokens
from server.settings import Settings

_LOGGER = logging.getLogger(__name__)

SERVICE_NAME = dedup_service_pb2.DESCRIPTOR.services_by_name["DedupService"].full_name


# Blocks from this size up are mapped and unmapped on their own rather than taken from the heap (see
# map_large_blocks): bigger than what a request allocates many times a second, smaller than the index's arrays.
MAPPED_BLOCK_BYTES: Final = 4 * 1024 * 1024
# After the grace period, how long cancelled handlers get to notice and return before they are given up on.
HANDLER_SETTLE_SECONDS: Final = 1.0
# The saved index, beside the store it is derived from.
INDEX_DIRECTORY: Final = "index"


@dataclass(frozen=True, slots=True)
class RunningServer:
    """A started-or-startable server and what it needs at shutdown."""

    server: grpc.Server
    port: int
    health: health.HealthServicer
    store: SqliteProvenanceStore
    executor: futures.ThreadPoolExecutor
    verifier: Verifier
    index: MinHashLshIndex
    directory_lock: DirectoryLock

    def stop(self, grace: float | None) -> bool:
        """Report NOT_SERVING, let in-flight calls finish within `grace` seconds, then close the store and its lock.

        Returns:
            Whether every handler has returned. gRPC cancels the calls still running when the grace period ends,
            but Python cannot stop a thread: a handler deep in a long computation runs on, its answer going
            nowhere. Then the store is left open under it, and the data directory locked, since it may still
            write; the caller decides whether to wait for it.
        """
        self.health.enter_graceful_shutdown()
        self.server.stop(grace).wait()
        handlers_done = threading.Event()

        def shut_down_executor() -> None:
            self.executor.shutdown(wait=True)
            handlers_done.set()

        threading.Thread(target=shut_down_executor, name="handler-shutdown", daemon=True).start()
        if not handlers_done.wait(HANDLER_SETTLE_SECONDS):
            return False
        self.verifier.close()
        self.index.close()
        self.store.close()
        self.directory_lock.close()
        return True


def build_server(settings: Settings) -> tuple[grpc.Server, int]:
    """Return a gRPC server (not yet started) and the port it is bound to."""
    running = build_running_server(settings)
    return running.server, running.port


def build_running_server(settings: Settings, *, exempt_from_collection: bool = False) -> RunningServer:
    """Open the store, load the index, start the verification workers, and build the gRPC server (not started).

    With `exempt_from_collection`, the objects alive once it is built are left out of the garbage collector's later
    passes (see exempt_started_objects): for the process that will serve, not for one that builds many servers.
    """
    # Before the request threads exist, which would each get an arena of the C heap (see limit_heap_arenas), and
    # before the index loads, whose freed temporaries would raise glibc's own mapping threshold (map_large_blocks).
    limit_heap_arenas(os.cpu_count() or 1)
    map_large_blocks(MAPPED_BLOCK_BYTES)
    # Who may connect is settled first: a bad certificate or tokens file fails in a moment, not after loading
    # the index.
    interceptors: list[grpc.ServerInterceptor] = []
    if settings.tokens_file is not None:
        tokens = load_tokens(settings.tokens_file)
        interceptors.append(BearerTokenInterceptor(tokens))
        _LOGGER.info("bearer tokens required: %d accepted, from %s", len(tokens), settings.tokens_file)
    # Decoding comes after the token check, so a refused caller's bytes are never parsed.
    interceptors.append(RequestDecodingInterceptor())
    credentials = _server_credentials(settings)
    # What is opened is closed again, last first, if the server cannot start; once it has, stop() closes it.
    with contextlib.ExitStack() as on_failure:
        running = _open_and_build(settings, interceptors, credentials, on_failure)
        on_failure.pop_all()
    if exempt_from_collection:
        _LOGGER.debug("%d objects alive at start left out of later garbage collections", exempt_started_objects())
    return running


def _open_and_build(
    settings: Settings,
    interceptors: list[grpc.ServerInterceptor],
    credentials: grpc.ServerCredentials | None,
    on_failure: contextlib.ExitStack,
) -> RunningServer:
    directory_lock = DirectoryLock(settings.data_dir)
    on_failure.callback(directory_lock.close)
    # Before anything here compiles: a process that compiles a kernel keeps the compiler's memory (see kernels).
    compile_apart_unless_cached(settings.num_perm, settings.seed)
    store = SqliteProvenanceStore(settings.data_dir, settings.busy_timeout_seconds)
    on_failure.callback(store.close)
    index = MinHashLshIndex(
        num_perm=settings.num_perm,
        seed=settings.seed,
        directory=settings.data_dir / INDEX_DIRECTORY,
        save_windows=settings.index_save_windows,
        screening_stride=settings.screening_stride,
        merge_in_background=True,
        index_stride=settings.index_stride,
        probes=settings.screening_probes,
    )
    on_failure.callback(index.close)
    # The signing and index kernels load from numba's cache on first use (compiled apart above when it lacked them):
    # pay that before serving, so that the first request does not wait for it.
    warm_index_kernels(index)
    stored_parameters = store.load_parameters()
    if stored_parameters is not None and _signature_parameters(stored_parameters) != _signature_parameters(
        index.parameters
    ):
        raise ValueError(
            f"the store in {settings.data_dir} was built with {stored_parameters}; signatures made with other "
            f"parameters ({index.parameters}) cannot be compared with them: start with the store's "
            "num_perm and seed, or use a new --data-dir"
        )
    if stored_parameters != index.parameters:
        # Only the banding differs (or the store is new): the index is derived, and is rebuilt from the signatures.
        store.save_parameters(index.parameters)
    verifier: Verifier
    if settings.verify_workers:
        verifier = ProcessVerifier(
            settings.verify_workers, weigher=compiled_weights.weigh, tokenizer=compiled_tokenizer.tokenize
        )
    else:
        local_verifier = LocalVerifier(weigher=compiled_weights.weigh, tokenizer=compiled_tokenizer.tokenize)
        local_verifier.warm_up()  # as each worker does when it starts
        verifier = local_verifier
    on_failure.callback(verifier.close)
    deduplicator = Deduplicator(
        store,
        index,
        Limits(
            max_text_bytes=settings.max_text_bytes,
            max_batch_documents=settings.max_batch_documents,
            max_id_length=settings.max_id_length,
        ),
        verifier,
    )
    loaded = deduplicator.load_index()
    release_free_heap()
    _LOGGER.info(
        "indexed %d documents from %s (%d read from the store, the rest from the saved index)",
        loaded.indexed,
        store.path,
        loaded.added,
    )
    if loaded.checked:
        _LOGGER.info(
            "read %d texts signed under older tokenization rules (now version %d): %d signed again",
            loaded.checked,
            TOKENIZATION_VERSION,
            loaded.resigned,
        )
    upgrade = deduplicator.upgrade_directions()
    if upgrade.documents:
        _LOGGER.info(
            "decided again the links of %d documents under direction rules version %d (they were decided under %d):"
            " %d changed",
            upgrade.documents,
            DIRECTION_RULES_VERSION,
            upgrade.from_version,
            upgrade.changed,
        )
    if isinstance(verifier, ProcessVerifier):
        verifier.start()
        _LOGGER.info("verifying candidates in %d worker processes", verifier.workers)

    executor = futures.ThreadPoolExecutor(max_workers=settings.max_workers, thread_name_prefix="rpc")
    server = grpc.server(
        executor,
        interceptors=interceptors,
        options=[
            ("grpc.max_receive_message_length", settings.max_message_bytes),
            ("grpc.max_send_message_length", settings.max_message_bytes),
            # gRPC binds with SO_REUSEPORT by default, so a second server started on a port in use would share its
            # calls with the first, each answering from its own store. Without it, the bind fails and the second
            # server says so.
            ("grpc.so_reuseport", 0),
        ],
    )
    dedup_service_pb2_grpc.add_DedupServiceServicer_to_server(
        DedupServicer(
            deduplicator,
            max_metadata_bytes=settings.max_metadata_bytes,
            resident_memory=lambda: process_tree_memory(os.getpid()).resident,
        ),
        server,
    )
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for service in ("", SERVICE_NAME):
        health_servicer.set(service, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection((SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    try:
        if credentials is None:
            port = server.add_insecure_port(settings.listen)
        else:
            port = server.add_secure_port(settings.listen, credentials)
    except RuntimeError:
        port = 0
    if port == 0:
        reason = "the address is in use or not valid here"
        if credentials is not None:
            reason += ", or gRPC refused the TLS certificate and key (do they belong together?)"
        raise OSError(f"cannot listen on {settings.listen}: {reason}")
    if not settings.listens_on_loopback and settings.exposure_gaps:
        _LOGGER.warning(
            "listening on %s with %s (--insecure): anyone who can reach this address can read and change the store",
            settings.listen,
            " and ".join(settings.exposure_gaps),
        )
    return RunningServer(server, port, health_servicer, store, executor, verifier, index, directory_lock)


def _signature_parameters(parameters: IndexParameters) -> tuple[object, ...]:
    """The parameters stored signatures depend on; bands and thresholds only shape the derived index."""
    return (
        parameters.num_perm,
        parameters.hash_scheme,
        parameters.hash_function,
        parameters.seed,
        parameters.shingle_words,
        parameters.passage_words,
        parameters.passage_stride,
    )


def _server_credentials(settings: Settings) -> grpc.ServerCredentials | None:
    """Return TLS credentials when a certificate is set, requiring client certificates when a client CA is."""
    if settings.tls_cert is None or settings.tls_key is None:
        return None
    certificate_chain = _read_pem(settings.tls_cert, "tls_cert", b"CERTIFICATE-----")
    private_key = _read_pem(settings.tls_key, "tls_key", b"PRIVATE KEY-----")
    client_ca = None
    if settings.tls_client_ca is not None:
        client_ca = _read_pem(settings.tls_client_ca, "tls_client_ca", b"CERTIFICATE-----")
    _LOGGER.info("TLS on%s", ", client certificates required" if client_ca is not None else "")
    return grpc.ssl_server_credentials(
        [(private_key, certificate_chain)], root_certificates=client_ca, require_client_auth=client_ca is not None
    )


def _read_pem(path: Path, setting: str, marker: bytes) -> bytes:
    # gRPC reports a file that is not PEM only as "failed to bind", so the content is checked here first.
    try:
        content = path.read_bytes()
    except OSError as error:
        raise OSError(f"cannot read {setting} {path}: {error.strerror or error}") from error
    if b"-----BEGIN " not in content or marker not in content:
        raise ValueError(f"{setting} {path} is not a PEM file with a {marker.decode().strip('-')}")
    return content

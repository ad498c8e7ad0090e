"""build_server(settings) -> (grpc.Server, port): the composition root, the one place adapters are chosen."""

from __future__ import annotations

import logging
from concurrent import futures
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from dedup.v1 import dedup_service_pb2, dedup_service_pb2_grpc
from server.adapters.minhash_lsh_index import MinHashLshIndex
from server.adapters.sqlite_store import SqliteProvenanceStore
from server.domain.deduplicator import Deduplicator, Limits
from server.rpc.servicer import DedupServicer
from server.settings import Settings

_LOGGER = logging.getLogger(__name__)

SERVICE_NAME = dedup_service_pb2.DESCRIPTOR.services_by_name["DedupService"].full_name


@dataclass(frozen=True, slots=True)
class RunningServer:
    """A started-or-startable server and what it needs at shutdown."""

    server: grpc.Server
    port: int
    health: health.HealthServicer
    store: SqliteProvenanceStore

    def stop(self, grace: float | None) -> None:
        """Report NOT_SERVING, let in-flight calls finish within `grace` seconds, then close the store."""
        self.health.enter_graceful_shutdown()
        self.server.stop(grace).wait()
        self.store.close()


def build_server(settings: Settings) -> tuple[grpc.Server, int]:
    """Return a gRPC server (not yet started) and the port it is bound to."""
    running = build_running_server(settings)
    return running.server, running.port


def build_running_server(settings: Settings) -> RunningServer:
    store = SqliteProvenanceStore(settings.data_dir)
    index = MinHashLshIndex(num_perm=settings.num_perm, seed=settings.seed)
    stored_parameters = store.load_parameters()
    if stored_parameters is None:
        store.save_parameters(index.parameters)
    elif stored_parameters != index.parameters:
        store.close()
        raise ValueError(
            f"the store in {settings.data_dir} was built with {stored_parameters}; signatures made with other "
            f"parameters ({index.parameters}) cannot be compared with them: start with the store's "
            "num_perm and seed, or use a new --data-dir"
        )
    deduplicator = Deduplicator(
        store,
        index,
        Limits(
            max_text_bytes=settings.max_text_bytes,
            max_batch_documents=settings.max_batch_documents,
            max_id_length=settings.max_id_length,
        ),
    )
    loaded = deduplicator.load_index()
    _LOGGER.info("loaded %d documents from %s", loaded, store.path)

    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=settings.max_workers),
        options=[
            ("grpc.max_receive_message_length", settings.max_message_bytes),
            ("grpc.max_send_message_length", settings.max_message_bytes),
        ],
    )
    dedup_service_pb2_grpc.add_DedupServiceServicer_to_server(DedupServicer(deduplicator), server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for service in ("", SERVICE_NAME):
        health_servicer.set(service, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection((SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    try:
        port = server.add_insecure_port(settings.listen)
    except RuntimeError:
        port = 0
    if port == 0:
        store.close()
        raise OSError(f"cannot listen on {settings.listen}: the address is in use or not valid here")
    return RunningServer(server, port, health_servicer, store)

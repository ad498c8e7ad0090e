import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from tests.e2e.conftest import ServerHandle


def test_health_reports_serving_for_the_server_and_the_service(server_address: str) -> None:
    with grpc.insecure_channel(server_address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for service in ("", "dedup.v1.DedupService"):
            response = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            assert response.status == health_pb2.HealthCheckResponse.SERVING


def test_health_reports_not_serving_once_shutdown_begins(server: ServerHandle) -> None:
    assert server.running is not None
    server.running.health.enter_graceful_shutdown()
    with grpc.insecure_channel(server.address) as channel:
        response = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
    assert response.status == health_pb2.HealthCheckResponse.NOT_SERVING


def test_reflection_lists_the_dedup_service(server_address: str) -> None:
    with grpc.insecure_channel(server_address) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        responses = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
        services = {service.name for response in responses for service in response.list_services_response.service}
    assert "dedup.v1.DedupService" in services
    assert "grpc.health.v1.Health" in services

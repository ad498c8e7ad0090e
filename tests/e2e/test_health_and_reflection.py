import grpc
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2

from tests.e2e.conftest import ServerHandle


def _check(channel: grpc.Channel, service: str) -> health_pb2.HealthCheckResponse:
    # Called by method path: the typeshed stubs of the generated Health stub declare no methods.
    check = channel.unary_unary(
        "/grpc.health.v1.Health/Check",
        request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
        response_deserializer=health_pb2.HealthCheckResponse.FromString,
    )
    response: health_pb2.HealthCheckResponse = check(health_pb2.HealthCheckRequest(service=service), timeout=5)
    return response


def test_health_reports_serving_for_the_server_and_the_service(server_address: str) -> None:
    with grpc.insecure_channel(server_address) as channel:
        for service in ("", "dedup.v1.DedupService"):
            assert _check(channel, service).status == health_pb2.HealthCheckResponse.SERVING


def test_health_reports_not_serving_once_shutdown_begins(server: ServerHandle) -> None:
    assert server.running is not None
    server.running.health.enter_graceful_shutdown()
    with grpc.insecure_channel(server.address) as channel:
        assert _check(channel, "").status == health_pb2.HealthCheckResponse.NOT_SERVING


def test_reflection_lists_the_dedup_service(server_address: str) -> None:
    with grpc.insecure_channel(server_address) as channel:
        info = channel.stream_stream(
            "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
            request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
            response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
        )
        responses = info(iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5)
        services = {service.name for response in responses for service in response.list_services_response.service}
    assert "dedup.v1.DedupService" in services
    assert "grpc.health.v1.Health" in services

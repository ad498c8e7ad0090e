"""Who gets in: TLS, client certificates and bearer tokens, against a real server with certificates made here."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2

from client import (
    DedupClient,
    PermissionDeniedError,
    ServerUnavailableError,
    TlsOptions,
    UnauthenticatedError,
    make_document,
)
from client.cli import main as dedup_main
from dedup.v1 import dedup_service_pb2
from tests.certificates import CertificateAuthority, Issued
from tests.e2e.conftest import ServerHandle, ServerProcess, health_status

TEXT = "The harbour authority approved the new pier on Tuesday after a long debate about ferries and fishing boats."


@dataclass(frozen=True)
class Credentials:
    authority: CertificateAuthority
    server: Issued
    client: Issued
    tokens_file: Path
    write_token: str
    read_token: str

    @property
    def tls(self) -> TlsOptions:
        return TlsOptions(root_certificates=self.authority.certificate)

    @property
    def mutual_tls(self) -> TlsOptions:
        return TlsOptions(self.authority.certificate, self.client.certificate, self.client.private_key)


@pytest.fixture
def credentials(tmp_path: Path) -> Credentials:
    authority = CertificateAuthority(tmp_path / "pki")
    write_token, read_token = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    tokens_file = tmp_path / "tokens"
    tokens_file.write_text(f"# ingest pipeline\n{write_token} write\n\n# dashboards\n{read_token} read\n")
    return Credentials(
        authority, authority.issue_server(), authority.issue_client(), tokens_file, write_token, read_token
    )


@contextmanager
def _serving(tmp_path: Path, **overrides: object) -> Iterator[ServerHandle]:
    handle = ServerHandle(tmp_path / "data", dict(overrides))
    handle.start()
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture
def guarded_server(tmp_path: Path, credentials: Credentials) -> Iterator[ServerHandle]:
    """TLS and bearer tokens."""
    with _serving(
        tmp_path,
        tls_cert=credentials.server.certificate_path,
        tls_key=credentials.server.key_path,
        tokens_file=credentials.tokens_file,
    ) as handle:
        yield handle


@pytest.fixture
def mutual_tls_server(tmp_path: Path, credentials: Credentials) -> Iterator[ServerHandle]:
    """TLS that requires a client certificate signed by the test CA, and no tokens."""
    with _serving(
        tmp_path,
        tls_cert=credentials.server.certificate_path,
        tls_key=credentials.server.key_path,
        tls_client_ca=credentials.authority.certificate_path,
    ) as handle:
        yield handle


# Every DedupService RPC, called through the typed client with a request that would succeed on an empty store
# or fail with NOT_FOUND: what matters is whether the call gets past the door.
RPCS: dict[str, Callable[[DedupClient], object]] = {
    "IngestDocuments": lambda client: client.ingest([make_document("a", TEXT)]),
    "GetDocument": lambda client: client.get_document("a"),
    "DeleteDocument": lambda client: client.delete("a"),
    "FindSimilar": lambda client: client.find_similar(text=TEXT),
    "GetProvenance": lambda client: client.provenance("a"),
    "GetCluster": lambda client: client.cluster("a"),
    "Compare": lambda client: client.compare(TEXT, TEXT),
    "GetStats": lambda client: client.stats(),
}
WRITE_RPCS = {"IngestDocuments", "DeleteDocument"}


def _secure_channel(address: str, tls: TlsOptions) -> grpc.Channel:
    return grpc.secure_channel(address, tls.credentials())


@pytest.mark.parametrize("rpc", sorted(RPCS))
def test_without_a_token_every_rpc_is_unauthenticated_with_a_message_saying_how_to_send_one(
    guarded_server: ServerHandle, credentials: Credentials, rpc: str
) -> None:
    with (
        DedupClient(guarded_server.address, tls=credentials.tls) as client,
        pytest.raises(UnauthenticatedError) as raised,
    ):
        RPCS[rpc](client)
    assert "authorization: Bearer <token>" in raised.value.details


@pytest.mark.parametrize("rpc", sorted(RPCS))
def test_an_unknown_token_is_unauthenticated_and_never_echoed(
    guarded_server: ServerHandle, credentials: Credentials, rpc: str
) -> None:
    wrong = credentials.write_token[:-4] + "XXXX"
    with (
        DedupClient(guarded_server.address, tls=credentials.tls, token=wrong) as client,
        pytest.raises(UnauthenticatedError) as raised,
    ):
        RPCS[rpc](client)
    assert "not one this server accepts" in raised.value.details
    assert wrong not in raised.value.details


@pytest.mark.parametrize("rpc", sorted(RPCS))
def test_a_read_token_may_query_but_writing_is_permission_denied(
    guarded_server: ServerHandle, credentials: Credentials, rpc: str
) -> None:
    with DedupClient(guarded_server.address, tls=credentials.tls, token=credentials.write_token) as writer:
        writer.ingest([make_document("a", TEXT)])
    with DedupClient(guarded_server.address, tls=credentials.tls, token=credentials.read_token) as reader:
        if rpc in WRITE_RPCS:
            with pytest.raises(PermissionDeniedError, match=f"{rpc} changes the store and needs a write token"):
                RPCS[rpc](reader)
            # The refused call changed nothing.
            assert reader.stats().document_count == 1
            assert reader.get_document("a").document.text == TEXT
        else:
            RPCS[rpc](reader)


def test_a_write_token_may_call_every_rpc(guarded_server: ServerHandle, credentials: Credentials) -> None:
    with DedupClient(guarded_server.address, tls=credentials.tls, token=credentials.write_token) as client:
        for rpc in ("IngestDocuments", "GetDocument", "FindSimilar", "GetProvenance", "GetCluster", "Compare"):
            RPCS[rpc](client)
        RPCS["DeleteDocument"](client)
        assert client.stats().document_count == 0


def test_health_needs_no_token_so_probes_can_check(guarded_server: ServerHandle, credentials: Credentials) -> None:
    with _secure_channel(guarded_server.address, credentials.tls) as channel:
        assert health_status(channel) == health_pb2.HealthCheckResponse.SERVING
        assert health_status(channel, "dedup.v1.DedupService") == health_pb2.HealthCheckResponse.SERVING


def _list_services(channel: grpc.Channel, metadata: tuple[tuple[str, str], ...] = ()) -> set[str]:
    info = channel.stream_stream(
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
        response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
    )
    requests = iter([reflection_pb2.ServerReflectionRequest(list_services="")])
    responses = info(requests, timeout=5, metadata=metadata)
    return {service.name for response in responses for service in response.list_services_response.service}


def test_reflection_needs_a_read_token(guarded_server: ServerHandle, credentials: Credentials) -> None:
    with _secure_channel(guarded_server.address, credentials.tls) as channel:
        with pytest.raises(grpc.RpcError) as raised:
            _list_services(channel)
        assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
        services = _list_services(channel, (("authorization", f"Bearer {credentials.read_token}"),))
    assert "dedup.v1.DedupService" in services


@pytest.mark.parametrize(
    "authorization",
    ["", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "token-without-scheme", "Bearer a b"],
    ids=["empty", "scheme-only", "scheme-and-space", "basic", "no-scheme", "two-words"],
)
def test_malformed_authorization_headers_are_unauthenticated(
    guarded_server: ServerHandle, credentials: Credentials, authorization: str
) -> None:
    with _secure_channel(guarded_server.address, credentials.tls) as channel:
        stats = channel.unary_unary(
            "/dedup.v1.DedupService/GetStats",
            request_serializer=dedup_service_pb2.GetStatsRequest.SerializeToString,
            response_deserializer=dedup_service_pb2.GetStatsResponse.FromString,
        )
        with pytest.raises(grpc.RpcError) as raised:
            stats(dedup_service_pb2.GetStatsRequest(), timeout=5, metadata=(("authorization", authorization),))
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_a_plain_text_client_cannot_reach_a_tls_server(guarded_server: ServerHandle, credentials: Credentials) -> None:
    with (
        DedupClient(guarded_server.address, token=credentials.write_token, timeout=5) as client,
        pytest.raises(ServerUnavailableError),
    ):
        client.stats()


def test_a_client_that_trusts_another_ca_refuses_the_server(
    guarded_server: ServerHandle, credentials: Credentials, tmp_path: Path
) -> None:
    stranger = CertificateAuthority(tmp_path / "other-pki", name="another CA")
    tls = TlsOptions(root_certificates=stranger.certificate)
    with (
        DedupClient(guarded_server.address, tls=tls, token=credentials.write_token, timeout=5) as client,
        pytest.raises(ServerUnavailableError),
    ):
        client.stats()


def test_mutual_tls_admits_a_client_with_a_certificate_from_the_client_ca(
    mutual_tls_server: ServerHandle, credentials: Credentials
) -> None:
    with DedupClient(mutual_tls_server.address, tls=credentials.mutual_tls) as client:
        client.ingest([make_document("a", TEXT)])
        assert client.stats().document_count == 1


def test_mutual_tls_refuses_a_client_without_a_certificate(
    mutual_tls_server: ServerHandle, credentials: Credentials
) -> None:
    with (
        DedupClient(mutual_tls_server.address, tls=credentials.tls, timeout=5) as client,
        pytest.raises(ServerUnavailableError),
    ):
        client.stats()


def test_mutual_tls_refuses_a_certificate_from_another_ca(
    mutual_tls_server: ServerHandle, credentials: Credentials, tmp_path: Path
) -> None:
    impostor = CertificateAuthority(tmp_path / "other-pki", name="another CA").issue_client("impostor")
    tls = TlsOptions(credentials.authority.certificate, impostor.certificate, impostor.private_key)
    with (
        DedupClient(mutual_tls_server.address, tls=tls, timeout=5) as client,
        pytest.raises(ServerUnavailableError),
    ):
        client.stats()


def test_client_certificates_and_tokens_together_need_both(tmp_path: Path, credentials: Credentials) -> None:
    with _serving(
        tmp_path,
        tls_cert=credentials.server.certificate_path,
        tls_key=credentials.server.key_path,
        tls_client_ca=credentials.authority.certificate_path,
        tokens_file=credentials.tokens_file,
    ) as handle:
        with DedupClient(handle.address, tls=credentials.mutual_tls) as client, pytest.raises(UnauthenticatedError):
            client.stats()
        with (
            DedupClient(handle.address, tls=credentials.tls, token=credentials.read_token, timeout=5) as client,
            pytest.raises(ServerUnavailableError),
        ):
            client.stats()
        with DedupClient(handle.address, tls=credentials.mutual_tls, token=credentials.read_token) as client:
            assert client.stats().document_count == 0


def test_tokens_work_without_tls_on_loopback(tmp_path: Path, credentials: Credentials) -> None:
    with _serving(tmp_path, tokens_file=credentials.tokens_file) as handle:
        with DedupClient(handle.address) as client, pytest.raises(UnauthenticatedError):
            client.stats()
        with DedupClient(handle.address, token=credentials.read_token) as client:
            assert client.stats().document_count == 0


# The dedup command.


def test_dedup_command_takes_the_ca_and_the_token_from_flags_or_the_environment(
    guarded_server: ServerHandle,
    credentials: Credentials,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    document = tmp_path / "pier.txt"
    document.write_text(TEXT, encoding="utf-8")
    target = ["--target", guarded_server.address, "--ca-cert", str(credentials.authority.certificate_path)]

    assert dedup_main([*target, "stats"]) == 1
    err = capsys.readouterr().err
    assert "UNAUTHENTICATED" in err
    assert "--token or DEDUP_TOKEN" in err

    assert dedup_main([*target, f"--token={credentials.write_token}", "ingest", str(document)]) == 0
    monkeypatch.setenv("DEDUP_TOKEN", credentials.read_token)
    assert dedup_main([*target, "--json", "stats"]) == 0
    assert '"document_count": "1"' in capsys.readouterr().out
    assert dedup_main([*target, "delete", "pier"]) == 1
    assert "PERMISSION_DENIED" in capsys.readouterr().err

    monkeypatch.setenv("DEDUP_CA_CERT", str(credentials.authority.certificate_path))
    assert dedup_main(["--target", guarded_server.address, "get", "pier"]) == 0


def test_dedup_command_presents_a_client_certificate(
    mutual_tls_server: ServerHandle, credentials: Credentials, capsys: pytest.CaptureFixture[str]
) -> None:
    target = ["--target", mutual_tls_server.address, "--ca-cert", str(credentials.authority.certificate_path)]
    client_certificate = [
        "--client-cert",
        str(credentials.client.certificate_path),
        "--client-key",
        str(credentials.client.key_path),
    ]
    assert dedup_main([*target, *client_certificate, "stats"]) == 0
    assert dedup_main([*target, "--timeout", "5", "stats"]) == 1
    assert "UNAVAILABLE" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--ca-cert", "/nonexistent/ca.pem"], "/nonexistent/ca.pem"),
        (["--client-cert", "{cert}"], "give both"),
        (["--token", "has a space"], "printable ASCII without spaces"),
    ],
)
def test_dedup_command_reports_unusable_credentials_as_input_errors(
    credentials: Credentials, capsys: pytest.CaptureFixture[str], arguments: list[str], message: str
) -> None:
    arguments = [argument.format(cert=credentials.client.certificate_path) for argument in arguments]
    assert dedup_main(["--target", "127.0.0.1:1", *arguments, "stats"]) == 2
    assert message in capsys.readouterr().err


# The server process: where it listens, what it logs.


def test_the_server_refuses_a_non_loopback_address_without_tls_and_tokens(server_process: ServerProcess) -> None:
    server_process.host = "0.0.0.0"  # noqa: S104 - the point of the test
    with pytest.raises(RuntimeError, match="exited with 2"):
        server_process.start()
    log = server_process.log()
    assert "is reachable from other machines" in log
    assert "--insecure" in log


def test_insecure_allows_a_non_loopback_address_and_logs_a_warning(server_process: ServerProcess) -> None:
    server_process.host = "0.0.0.0"  # noqa: S104 - the point of the test
    server_process.arguments = ["--insecure"]
    server_process.start()
    with DedupClient(f"127.0.0.1:{server_process.port}") as client:
        assert client.stats().document_count == 0
    assert "WARNING" in server_process.log()
    assert "no TLS and no client authentication (--insecure)" in server_process.log()


def test_a_tls_and_token_server_may_listen_on_every_interface_and_never_logs_tokens(
    server_process: ServerProcess, credentials: Credentials
) -> None:
    server_process.host = "0.0.0.0"  # noqa: S104 - the point of the test
    server_process.arguments = [
        "--tls-cert",
        str(credentials.server.certificate_path),
        "--tls-key",
        str(credentials.server.key_path),
        "--tokens-file",
        str(credentials.tokens_file),
        "--log-level",
        "DEBUG",
    ]
    server_process.start()
    address = f"localhost:{server_process.port}"
    wrong = secrets.token_urlsafe(32)
    with DedupClient(address, tls=credentials.tls, token=credentials.write_token) as client:
        client.ingest([make_document("a", TEXT)])
    with (
        DedupClient(address, tls=credentials.tls, token=credentials.read_token) as client,
        pytest.raises(PermissionDeniedError),
    ):
        client.delete("a")
    with DedupClient(address, tls=credentials.tls, token=wrong) as client, pytest.raises(UnauthenticatedError):
        client.stats()
    server_process.terminate()
    assert server_process.wait(timeout=30) == 0
    log = server_process.log()
    assert "refused /dedup.v1.DedupService/DeleteDocument" in log
    assert "unknown bearer token" in log
    assert "WARNING server.rpc.app" not in log
    for token in (credentials.write_token, credentials.read_token, wrong):
        assert token not in log

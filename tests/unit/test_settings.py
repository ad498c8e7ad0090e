"""Settings and the dedup-server flags: defaults, DEDUP_* variables, and validation that says what to change."""

from pathlib import Path

import pytest

from server.cli import parse_settings
from server.settings import DEFAULT_LISTEN, GRPC_MAX_MESSAGE_BYTES, Settings

SECURE = {"tls_cert": Path("cert.pem"), "tls_key": Path("key.pem"), "tokens_file": Path("tokens")}


def test_by_default_the_server_listens_on_loopback_only() -> None:
    settings = Settings()
    assert settings.listen == DEFAULT_LISTEN == "127.0.0.1:50051"
    assert settings.listens_on_loopback
    assert not settings.insecure


@pytest.mark.parametrize(
    ("listen", "loopback"),
    [
        ("127.0.0.1:1", True),
        ("127.8.9.10:1", True),
        ("localhost:1", True),
        ("[::1]:1", True),
        ("0.0.0.0:1", False),
        ("[::]:1", False),
        ("10.1.2.3:1", False),
        ("example.org:1", False),
        (":1", False),
    ],
)
def test_only_loopback_addresses_count_as_loopback(listen: str, loopback: bool) -> None:
    assert Settings(listen=listen, insecure=True).listens_on_loopback is loopback


@pytest.mark.parametrize("listen", ["0.0.0.0:50051", "[::]:50051", "10.1.2.3:50051", "example.org:50051"])
def test_a_non_loopback_address_without_tls_and_client_authentication_needs_insecure(listen: str) -> None:
    with pytest.raises(ValueError, match=r"reachable from other machines.*no TLS and no client authentication"):
        Settings(listen=listen)
    with pytest.raises(ValueError, match="no client authentication"):
        Settings(listen=listen, tls_cert=Path("c"), tls_key=Path("k"))
    with pytest.raises(ValueError, match="has no TLS: "):
        Settings(listen=listen, tokens_file=Path("t"))
    assert Settings(listen=listen, insecure=True).exposure_gaps == ["no TLS", "no client authentication"]
    assert Settings(listen=listen, **SECURE).exposure_gaps == []  # type: ignore[arg-type]
    assert Settings(listen=listen, tls_cert=Path("c"), tls_key=Path("k"), tls_client_ca=Path("ca")).exposure_gaps == []


def test_tls_certificate_and_key_go_together_and_a_client_ca_needs_them() -> None:
    with pytest.raises(ValueError, match="tls_cert and tls_key go together"):
        Settings(tls_cert=Path("c"))
    with pytest.raises(ValueError, match="tls_cert and tls_key go together"):
        Settings(tls_key=Path("k"))
    with pytest.raises(ValueError, match="tls_client_ca needs TLS"):
        Settings(tls_client_ca=Path("ca"))


def test_the_message_limit_must_hold_one_document_at_every_limit() -> None:
    settings = Settings()
    assert settings.max_message_bytes >= settings.largest_document_bytes
    with pytest.raises(ValueError, match="must hold one document at every limit"):
        Settings(max_text_bytes=1_000_000, max_message_bytes=1_000_000)
    with pytest.raises(ValueError, match="gRPC's own limit"):
        Settings(max_message_bytes=GRPC_MAX_MESSAGE_BYTES + 1)
    assert Settings(max_text_bytes=1000, max_message_bytes=Settings(max_text_bytes=1000).largest_document_bytes)


@pytest.mark.parametrize(
    "name", ["max_text_bytes", "max_batch_documents", "max_id_length", "max_metadata_bytes", "max_message_bytes"]
)
def test_limits_must_be_positive(name: str) -> None:
    with pytest.raises(ValueError, match=f"{name} must be positive"):
        Settings(**{name: 0})  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["grace_seconds", "busy_timeout_seconds"])
def test_waits_cannot_be_negative(name: str) -> None:
    with pytest.raises(ValueError, match=f"{name} must be 0 or more, got -1"):
        Settings(**{name: -1.0})  # type: ignore[arg-type]


@pytest.mark.parametrize("stride", [0, 51])
def test_the_screening_stride_must_fit_in_a_passage_window(stride: int) -> None:
    with pytest.raises(ValueError, match="screening_stride must be from 1 to 50 words"):
        Settings(screening_stride=stride)


@pytest.mark.parametrize("stride", [0, 10, 100])
def test_the_index_stride_is_one_or_two_passages(stride: int) -> None:
    with pytest.raises(ValueError, match=r"index_stride must be 50 \(every other passage\) or 25"):
        Settings(index_stride=stride)


@pytest.mark.parametrize(
    ("name", "default", "from_environment", "from_flag"),
    [("screening_stride", 25, 12, 10), ("index_stride", 50, 25, 50)],
)
def test_a_stride_comes_from_the_flag_over_the_environment(
    monkeypatch: pytest.MonkeyPatch, name: str, default: int, from_environment: int, from_flag: int
) -> None:
    assert getattr(Settings(), name) == default
    monkeypatch.setenv(f"DEDUP_{name.upper()}", str(from_environment))
    assert getattr(parse_settings([]), name) == from_environment
    assert getattr(parse_settings([f"--{name.replace('_', '-')}", str(from_flag)]), name) == from_flag


def test_screening_probes_come_from_the_flag_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_settings([]).screening_probes == 3
    assert parse_settings(["--screening-probes", "0"]).screening_probes == 0
    monkeypatch.setenv("DEDUP_SCREENING_PROBES", "1")
    assert parse_settings([]).screening_probes == 1
    assert parse_settings(["--screening-probes", "2"]).screening_probes == 2


def test_screening_probes_cannot_be_negative() -> None:
    with pytest.raises(ValueError, match="screening_probes must be 0 \\(no probes\\) or more, got -1"):
        Settings(screening_probes=-1)


def test_environment_variables_set_paths_flags_and_numbers() -> None:
    settings = Settings.from_env(
        {
            "DEDUP_LISTEN": "0.0.0.0:9",
            "DEDUP_TLS_CERT": "/pki/cert.pem",
            "DEDUP_TLS_KEY": "/pki/key.pem",
            "DEDUP_TLS_CLIENT_CA": "",
            "DEDUP_TOKENS_FILE": "/pki/tokens",
            "DEDUP_MAX_METADATA_BYTES": "1024",
            "DEDUP_GRACE_SECONDS": "2.5",
            "DEDUP_BUSY_TIMEOUT_SECONDS": "0.25",
            "UNRELATED": "x",
        }
    )
    assert settings.tls_cert == Path("/pki/cert.pem")
    assert settings.tls_client_ca is None
    assert settings.tokens_file == Path("/pki/tokens")
    assert settings.max_metadata_bytes == 1024
    assert settings.grace_seconds == 2.5
    assert settings.busy_timeout_seconds == 0.25


@pytest.mark.parametrize(("raw", "value"), [("1", True), ("true", True), ("Yes", True), ("0", False), ("false", False)])
def test_dedup_insecure_is_read_as_yes_or_no(raw: str, value: bool) -> None:
    assert Settings.from_env({"DEDUP_INSECURE": raw}).insecure is value


def test_a_yes_no_variable_that_is_neither_is_an_error() -> None:
    with pytest.raises(ValueError, match="DEDUP_INSECURE='maybe' is not a yes/no value"):
        Settings.from_env({"DEDUP_INSECURE": "maybe"})


def test_flags_set_security_and_limits_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEDUP_MAX_ID_LENGTH", "100")
    settings = parse_settings(
        [
            "--listen",
            "0.0.0.0:50051",
            "--tls-cert",
            "c.pem",
            "--tls-key",
            "k.pem",
            "--tls-client-ca",
            "ca.pem",
            "--tokens-file",
            "tokens",
            "--max-id-length",
            "64",
            "--max-metadata-bytes",
            "4096",
            "--max-message-bytes",
            "33554432",
            "--grace-seconds",
            "1.5",
            "--busy-timeout-seconds",
            "4",
        ]
    )
    assert (settings.tls_cert, settings.tls_key, settings.tls_client_ca) == (
        Path("c.pem"),
        Path("k.pem"),
        Path("ca.pem"),
    )
    assert settings.tokens_file == Path("tokens")
    assert (settings.max_id_length, settings.max_metadata_bytes, settings.max_message_bytes) == (64, 4096, 33554432)
    assert settings.grace_seconds == 1.5
    assert settings.busy_timeout_seconds == 4.0
    assert not settings.insecure


def test_the_insecure_flag_allows_a_plain_non_loopback_server() -> None:
    assert parse_settings(["--listen", "0.0.0.0:50051", "--insecure"]).insecure


def test_a_non_loopback_listen_without_insecure_exits_with_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        parse_settings(["--listen", "0.0.0.0:50051"])
    assert raised.value.code == 2
    assert "--insecure" in capsys.readouterr().err

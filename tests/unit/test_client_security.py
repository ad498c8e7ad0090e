"""The client's TLS options and bearer token: what it accepts, and what it refuses before connecting."""

import argparse
import secrets
from pathlib import Path

import pytest

from client import DedupClient, TlsOptions
from client.cli import InputError, build_parser, tls_options_from_args


def test_tls_options_need_a_client_certificate_and_its_key_together() -> None:
    with pytest.raises(ValueError, match="give both"):
        TlsOptions(certificate_chain=b"cert")
    with pytest.raises(ValueError, match="give both"):
        TlsOptions(private_key=b"key")
    assert TlsOptions() == TlsOptions(None, None, None)


def test_tls_options_read_the_files_given_and_name_a_missing_one(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_bytes(b"ca")
    assert TlsOptions.from_files(ca_cert=tmp_path / "ca.pem").root_certificates == b"ca"
    with pytest.raises(OSError, match=r"missing\.pem"):
        TlsOptions.from_files(ca_cert=tmp_path / "missing.pem")


@pytest.mark.parametrize("token", ["", "has space", "new\nline", "tab\there", "naïve-token"])
def test_a_token_that_cannot_travel_in_a_header_is_refused_without_repeating_it(token: str) -> None:
    with pytest.raises(ValueError, match="printable ASCII without spaces") as raised:
        DedupClient("127.0.0.1:1", token=token)
    assert not token or token not in str(raised.value)


def _args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args([*argv, "stats"])


def test_the_command_connects_in_plain_text_unless_tls_is_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("DEDUP_CA_CERT", "DEDUP_CLIENT_CERT", "DEDUP_CLIENT_KEY", "DEDUP_TOKEN"):
        monkeypatch.delenv(variable, raising=False)
    assert tls_options_from_args(_args()) is None
    assert tls_options_from_args(_args("--tls")) == TlsOptions()


def test_the_command_reads_ca_and_client_certificate_from_flags_or_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("ca.pem", "client.pem", "client.key"):
        (tmp_path / name).write_bytes(name.encode())
    monkeypatch.setenv("DEDUP_CA_CERT", str(tmp_path / "ca.pem"))
    from_environment, after_the_command = secrets.token_urlsafe(), secrets.token_urlsafe()
    monkeypatch.setenv("DEDUP_TOKEN", from_environment)
    args = _args("--client-cert", str(tmp_path / "client.pem"), "--client-key", str(tmp_path / "client.key"))
    assert tls_options_from_args(args) == TlsOptions(b"ca.pem", b"client.pem", b"client.key")
    assert args.token == from_environment
    assert build_parser().parse_args(["stats", f"--token={after_the_command}"]).token == after_the_command


def test_a_client_certificate_without_its_key_is_an_input_error(tmp_path: Path) -> None:
    (tmp_path / "client.pem").write_bytes(b"cert")
    with pytest.raises(InputError, match="give both"):
        tls_options_from_args(_args("--client-cert", str(tmp_path / "client.pem")))

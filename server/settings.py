"""Settings: every default in one place; from_env() reads DEDUP_* variables."""

from __future__ import annotations

import dataclasses
import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from server.domain.passages import INDEX_STRIDE, INDEX_STRIDES, PASSAGE_STRIDE, PASSAGE_WORDS, SCREENING_PROBES

DEFAULT_LISTEN: Final = "127.0.0.1:50051"
# Verification (tokenising and aligning real texts) holds the GIL, so it runs in worker processes,
# one per core: the server process itself mostly waits on them, on SQLite and on the network.
DEFAULT_VERIFY_WORKERS: Final = os.cpu_count() or 1
# Each call holds a request thread until it returns, and ingests queue for the one write lock. With eight
# threads, a burst of ingests held them all and reads waited seconds for a thread; a thread waiting on a
# lock costs little, so there are enough for reads to pass a backlog of ingests.
DEFAULT_MAX_WORKERS: Final = 32
# gRPC keeps message lengths in a signed 32-bit integer.
GRPC_MAX_MESSAGE_BYTES: Final = 2**31 - 1
# Room for what surrounds the text, id and metadata in an IngestDocuments message: field tags, lengths,
# published_at and the request's own framing. Far more than they take, far less than any text limit.
MESSAGE_FRAMING_BYTES: Final = 64 * 1024
# The settings that name files; an empty DEDUP_* variable leaves them unset.
_PATH_SETTINGS: Final = frozenset({"tls_cert", "tls_key", "tls_client_ca", "tokens_file"})
_TRUE_WORDS: Final = frozenset({"1", "true", "yes", "on"})
_FALSE_WORDS: Final = frozenset({"0", "false", "no", "off", ""})


@dataclass(frozen=True, slots=True)
class Settings:
    """How the server runs. Validated on creation, with messages that say what to change."""

    listen: str = DEFAULT_LISTEN
    data_dir: Path = Path("data")
    max_workers: int = DEFAULT_MAX_WORKERS
    num_perm: int = 128
    seed: int = 1
    max_text_bytes: int = 4 * 1024 * 1024
    max_batch_documents: int = 512
    max_id_length: int = 256
    max_metadata_bytes: int = 64 * 1024
    max_message_bytes: int = 64 * 1024 * 1024
    grace_seconds: float = 5.0
    # How long a write waits for another process's lock on the store file before its call fails with
    # UNAVAILABLE. The server's own writes take turns in-process, so only a backup or another tool makes one wait.
    busy_timeout_seconds: float = 30.0
    # Passage windows a segment of the index must hold before it is saved for fast restarts.
    index_save_windows: int = 16_384
    # Processes that verify candidates on the real texts; 0 verifies in the server process itself.
    verify_workers: int = DEFAULT_VERIFY_WORKERS
    # Words between the windows a text is screened with (the stored passages are every index_stride words).
    screening_stride: int = PASSAGE_STRIDE
    # Words between the passages a stored document is indexed at: 50 (every other passage) or 25 (every one).
    index_stride: int = INDEX_STRIDE
    # How many of a band's values a text's windows swap for their second minima, one at a time (0: none).
    screening_probes: int = SCREENING_PROBES
    log_level: str = "INFO"
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_client_ca: Path | None = None
    tokens_file: Path | None = None
    insecure: bool = False

    def __post_init__(self) -> None:
        if ":" not in self.listen:
            raise ValueError(f"listen must be HOST:PORT (for example {DEFAULT_LISTEN}), got {self.listen!r}")
        if self.max_workers < 1:
            raise ValueError(f"max_workers must be at least 1, got {self.max_workers}")
        if not 16 <= self.num_perm <= 1024:
            raise ValueError(f"num_perm must be in [16, 1024], got {self.num_perm}")
        for name in (
            "max_text_bytes",
            "max_batch_documents",
            "max_id_length",
            "max_metadata_bytes",
            "max_message_bytes",
            "index_save_windows",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.max_message_bytes > GRPC_MAX_MESSAGE_BYTES:
            raise ValueError(f"max_message_bytes must be at most {GRPC_MAX_MESSAGE_BYTES} (gRPC's own limit)")
        if self.max_message_bytes < self.largest_document_bytes:
            raise ValueError(
                f"max_message_bytes ({self.max_message_bytes}) must hold one document at every limit: at least "
                f"{self.largest_document_bytes} bytes (max_text_bytes + max_metadata_bytes + 4 bytes per id character "
                f"+ {MESSAGE_FRAMING_BYTES} of framing); raise it, or lower max_text_bytes"
            )
        if self.verify_workers < 0:
            raise ValueError(
                f"verify_workers must be 0 (verify in the server process) or more, got {self.verify_workers}"
            )
        if not 1 <= self.screening_stride <= PASSAGE_WORDS:
            raise ValueError(
                f"screening_stride must be from 1 to {PASSAGE_WORDS} words (a passage window's length), "
                f"got {self.screening_stride}"
            )
        # The upper bound, a band's rows, is the index's to check: datasketch chooses the bands.
        if self.screening_probes < 0:
            raise ValueError(f"screening_probes must be 0 (no probes) or more, got {self.screening_probes}")
        if self.index_stride not in INDEX_STRIDES:
            raise ValueError(
                f"index_stride must be {INDEX_STRIDE} (every other passage) or {PASSAGE_STRIDE} (every "
                f"passage, twice the index memory) words, got {self.index_stride}"
            )
        for name in ("grace_seconds", "busy_timeout_seconds"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be 0 or more, got {getattr(self, name)}")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together: give the certificate chain and its private key")
        if self.tls_client_ca is not None and self.tls_cert is None:
            raise ValueError("tls_client_ca needs TLS: give tls_cert and tls_key as well")
        if not self.listens_on_loopback and not self.insecure and self.exposure_gaps:
            raise ValueError(
                f"listen {self.listen} is reachable from other machines, but the server has "
                f"{' and '.join(self.exposure_gaps)}: give tls_cert and tls_key, and tokens_file or tls_client_ca "
                "(--tls-cert, --tls-key, --tokens-file, --tls-client-ca), listen on 127.0.0.1, "
                "or pass --insecure (DEDUP_INSECURE=1) to serve this way anyway"
            )

    @property
    def largest_document_bytes(self) -> int:
        """The size of an IngestDocuments message holding one document at every limit."""
        # A UTF-8 character takes at most 4 bytes; the id limit counts characters.
        return self.max_text_bytes + self.max_metadata_bytes + 4 * self.max_id_length + MESSAGE_FRAMING_BYTES

    @property
    def listens_on_loopback(self) -> bool:
        """Whether only this machine can reach the listen address (a loopback address or "localhost").

        >>> Settings(listen="[::1]:50051").listens_on_loopback
        True
        >>> Settings(listen="0.0.0.0:50051", insecure=True).listens_on_loopback
        False
        """
        host = self.listen.rsplit(":", 1)[0].strip("[]")
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            # A host name other than localhost may resolve to any interface.
            return False

    @property
    def exposure_gaps(self) -> list[str]:
        """What keeps the server from being safe to reach over a network: missing TLS, missing client auth."""
        gaps = []
        if self.tls_cert is None:
            gaps.append("no TLS")
        if self.tokens_file is None and self.tls_client_ca is None:
            gaps.append("no client authentication")
        return gaps

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Return the defaults overridden by DEDUP_<SETTING> variables (e.g. DEDUP_DATA_DIR)."""
        environ = os.environ if environ is None else environ
        defaults = cls()
        values: dict[str, object] = {}
        for field in dataclasses.fields(cls):
            variable = f"DEDUP_{field.name.upper()}"
            raw = environ.get(variable)
            if raw is None:
                continue
            values[field.name] = _value_from_env(variable, raw, getattr(defaults, field.name), field.name)
        return cls(**values)  # type: ignore[arg-type]


def _value_from_env(variable: str, raw: str, default: object, name: str) -> object:
    if name in _PATH_SETTINGS:
        return Path(raw) if raw.strip() else None
    if isinstance(default, bool):
        # bool("false") is True, so words are read explicitly.
        word = raw.strip().lower()
        if word in _TRUE_WORDS | _FALSE_WORDS:
            return word in _TRUE_WORDS
        raise ValueError(f"{variable}={raw!r} is not a yes/no value; use 1 or 0")
    parse: Callable[[str], object] = type(default)
    try:
        return parse(raw)
    except ValueError as error:
        raise ValueError(f"{variable}={raw!r} is not a valid {type(default).__name__}") from error

"""Settings: every default in one place; from_env() reads DEDUP_* variables."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

DEFAULT_LISTEN: Final = "127.0.0.1:50051"


@dataclass(frozen=True, slots=True)
class Settings:
    """How the server runs. Validated on creation, with messages that say what to change."""

    listen: str = DEFAULT_LISTEN
    data_dir: Path = Path("data")
    max_workers: int = 8
    num_perm: int = 128
    seed: int = 1
    max_text_bytes: int = 4 * 1024 * 1024
    max_batch_documents: int = 512
    max_id_length: int = 256
    max_message_bytes: int = 64 * 1024 * 1024
    grace_seconds: float = 5.0
    log_level: str = "INFO"

    def __post_init__(self) -> None:
        if ":" not in self.listen:
            raise ValueError(f"listen must be HOST:PORT (for example {DEFAULT_LISTEN}), got {self.listen!r}")
        if self.max_workers < 1:
            raise ValueError(f"max_workers must be at least 1, got {self.max_workers}")
        if not 16 <= self.num_perm <= 1024:
            raise ValueError(f"num_perm must be in [16, 1024], got {self.num_perm}")
        for name in ("max_text_bytes", "max_batch_documents", "max_id_length", "max_message_bytes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.max_text_bytes > self.max_message_bytes:
            raise ValueError(
                f"max_text_bytes ({self.max_text_bytes}) must not exceed max_message_bytes "
                f"({self.max_message_bytes}): a text at the limit must fit in one gRPC message"
            )
        if self.grace_seconds < 0:
            raise ValueError(f"grace_seconds must be 0 or more, got {self.grace_seconds}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Return the defaults overridden by DEDUP_<SETTING> variables (e.g. DEDUP_DATA_DIR)."""
        environ = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for field in dataclasses.fields(cls):
            raw = environ.get(f"DEDUP_{field.name.upper()}")
            if raw is None:
                continue
            default = getattr(cls(), field.name)
            try:
                values[field.name] = type(default)(raw)
            except ValueError as error:
                raise ValueError(
                    f"DEDUP_{field.name.upper()}={raw!r} is not a valid {type(default).__name__}"
                ) from error
        return cls(**values)  # type: ignore[arg-type]

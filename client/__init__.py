"""Dedup client: a typed gRPC client for DedupService and the `dedup` command."""

from client.dedup_client import DedupClient, TlsOptions, make_document
from client.errors import (
    DeadlineExceededError,
    DedupClientError,
    DocumentAlreadyExistsError,
    DocumentNotFoundError,
    InternalServerError,
    InvalidArgumentError,
    PermissionDeniedError,
    ResourceExhaustedError,
    ServerUnavailableError,
    UnauthenticatedError,
)

__all__ = [
    "DeadlineExceededError",
    "DedupClient",
    "DedupClientError",
    "DocumentAlreadyExistsError",
    "DocumentNotFoundError",
    "InternalServerError",
    "InvalidArgumentError",
    "PermissionDeniedError",
    "ResourceExhaustedError",
    "ServerUnavailableError",
    "TlsOptions",
    "UnauthenticatedError",
    "make_document",
]

"""DedupClientError hierarchy, built from status codes.

Every failed call raises one exception type, chosen by the gRPC status code the call ended with::

    DedupClientError                 any failed call; `code` and `details` are what the server sent
    ├── InvalidArgumentError         INVALID_ARGUMENT: the request is wrong whatever the server holds (fix it)
    ├── DocumentNotFoundError        NOT_FOUND: no stored document has the id
    ├── DocumentAlreadyExistsError   ALREADY_EXISTS: the id is stored with another text (ingest with replace)
    ├── ResourceExhaustedError       RESOURCE_EXHAUSTED: a quota or capacity limit was hit (smaller batches)
    ├── UnauthenticatedError         UNAUTHENTICATED: the call carried no valid credentials
    ├── PermissionDeniedError        PERMISSION_DENIED: the credentials do not allow the call
    ├── DeadlineExceededError        DEADLINE_EXCEEDED: the call's timeout ran out (raise the timeout)
    ├── ServerUnavailableError       UNAVAILABLE: no server answered, or another process kept its store locked;
    │                                retrying later with backoff may succeed
    └── InternalServerError          INTERNAL: a bug in the server; its log has the traceback

Any other code (UNKNOWN, CANCELLED, ...) raises the base class itself, so ``except DedupClientError``
catches every failure and callers never have to dig through ``grpc.RpcError``.
"""

from collections.abc import Mapping
from typing import Final

import grpc


class DedupClientError(Exception):
    """A call to the dedup server failed; `code` and `details` are what the server sent.

    >>> str(DedupClientError(grpc.StatusCode.NOT_FOUND, "no document has id 'x'"))
    "NOT_FOUND: no document has id 'x'"
    """

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(f"{code.name}: {details}")
        self.code = code
        self.details = details


class InvalidArgumentError(DedupClientError):
    """The request is wrong whatever the server holds; the details say what to fix."""


class DocumentNotFoundError(DedupClientError):
    """No stored document has the requested id."""


class DocumentAlreadyExistsError(DedupClientError):
    """The id is already stored with another text; ingest with ``replace=True`` to overwrite it."""


class ResourceExhaustedError(DedupClientError):
    """A quota or capacity limit was hit, such as the largest batch or message the server accepts."""


class UnauthenticatedError(DedupClientError):
    """The call carried no valid credentials."""


class PermissionDeniedError(DedupClientError):
    """The credentials are valid but do not allow this call."""


class DeadlineExceededError(DedupClientError):
    """The call did not finish within its timeout."""


class ServerUnavailableError(DedupClientError):
    """No server answered, or the server's store stayed locked by another process; a later retry may succeed."""


class InternalServerError(DedupClientError):
    """The server hit a bug; its log has the details, the client only gets a generic message."""


ERROR_BY_STATUS: Final[Mapping[grpc.StatusCode, type[DedupClientError]]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgumentError,
    grpc.StatusCode.NOT_FOUND: DocumentNotFoundError,
    grpc.StatusCode.ALREADY_EXISTS: DocumentAlreadyExistsError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhaustedError,
    grpc.StatusCode.UNAUTHENTICATED: UnauthenticatedError,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDeniedError,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceededError,
    grpc.StatusCode.UNAVAILABLE: ServerUnavailableError,
    grpc.StatusCode.INTERNAL: InternalServerError,
}


def from_rpc_error(error: grpc.RpcError) -> DedupClientError:
    """Return the typed client error for a failed gRPC call.

    Args:
        error: What a stub call raised.

    Returns:
        An instance of the subclass for the call's status code, or of `DedupClientError` itself for a code
        without one.
    """
    # Errors raised by a finished call are also grpc.Call, which carries the status; a bare RpcError
    # (raised by an interceptor, say) has none, so it is reported as UNKNOWN rather than crashing here.
    if isinstance(error, grpc.Call):
        code, details = error.code(), error.details() or ""
    else:
        code, details = grpc.StatusCode.UNKNOWN, str(error)
    return ERROR_BY_STATUS.get(code, DedupClientError)(code, details)

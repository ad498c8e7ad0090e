"""STATUS_BY_ERROR and @translate_errors: the only module that aborts an RPC.

InvalidRequestError (and InvalidDocumentError) → INVALID_ARGUMENT
DocumentNotFoundError                          → NOT_FOUND
DocumentAlreadyExistsError                     → ALREADY_EXISTS
CapacityExceededError                          → RESOURCE_EXHAUSTED
StoreBusyError                                 → UNAVAILABLE
any other exception                            → INTERNAL, "internal error" (traceback in the server log)

Before a handler runs, server/rpc/interceptors.py refuses calls through abort_with below:

no bearer token, or an unknown one              → UNAUTHENTICATED
a read token calling a write RPC                → PERMISSION_DENIED
request bytes that do not parse as the message  → INVALID_ARGUMENT (gRPC itself would say INTERNAL)

gRPC itself answers RESOURCE_EXHAUSTED for a message over max_message_bytes, DEADLINE_EXCEEDED when the
caller's deadline passes, and UNAVAILABLE while the server drains.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from typing import Final, NoReturn, TypeVar

import grpc

from server.domain.errors import (
    CapacityExceededError,
    DedupError,
    DocumentAlreadyExistsError,
    DocumentNotFoundError,
    InvalidRequestError,
    StoreBusyError,
)

_LOGGER = logging.getLogger(__name__)

STATUS_BY_ERROR: Final[Mapping[type[DedupError], grpc.StatusCode]] = {
    InvalidRequestError: grpc.StatusCode.INVALID_ARGUMENT,
    DocumentNotFoundError: grpc.StatusCode.NOT_FOUND,
    DocumentAlreadyExistsError: grpc.StatusCode.ALREADY_EXISTS,
    CapacityExceededError: grpc.StatusCode.RESOURCE_EXHAUSTED,
    StoreBusyError: grpc.StatusCode.UNAVAILABLE,
}

ServicerT = TypeVar("ServicerT")
RequestT = TypeVar("RequestT")
ResponseT = TypeVar("ResponseT")
Handler = Callable[[ServicerT, RequestT, grpc.ServicerContext], ResponseT]


def status_for(error: DedupError) -> grpc.StatusCode:
    """Return the status of the nearest class of `error` in STATUS_BY_ERROR (INTERNAL if none)."""
    for cls in type(error).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return grpc.StatusCode.INTERNAL


def abort_with(context: grpc.ServicerContext, code: grpc.StatusCode, message: str) -> NoReturn:
    """Abort the RPC; the one call site of context.abort, for the rare status that is not a DedupError."""
    context.abort(code, message)
    raise AssertionError("context.abort returned")  # pragma: no cover - grpc raises


def translate_errors(handler: Handler[ServicerT, RequestT, ResponseT]) -> Handler[ServicerT, RequestT, ResponseT]:
    """Turn a handler's DedupError into its status, and anything else into a generic INTERNAL.

    Left alone, gRPC answers an unhandled exception with UNKNOWN and the exception's text, which
    leaks internals to clients; the catch-all logs the traceback here and sends "internal error".
    """

    @functools.wraps(handler)
    def wrapper(servicer: ServicerT, request: RequestT, context: grpc.ServicerContext) -> ResponseT:
        try:
            return handler(servicer, request, context)
        except DedupError as error:
            abort_with(context, status_for(error), str(error))
        except Exception:
            _LOGGER.exception("unexpected error in %s", handler.__qualname__)
            abort_with(context, grpc.StatusCode.INTERNAL, "internal error")

    return wrapper

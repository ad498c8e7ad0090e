"""Server interceptors: bearer-token access control and request decoding, before any handler runs."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final, TypeAlias

import grpc
from grpc_health.v1 import health

from dedup.v1 import dedup_service_pb2
from server.rpc.status import abort_with
from server.rpc.tokens import Role, TokenTable, bearer_token

_LOGGER = logging.getLogger(__name__)

DEDUP_SERVICE: Final = dedup_service_pb2.DESCRIPTOR.services_by_name["DedupService"].full_name
# Probes (load balancers, orchestrators) ask whether the server is up without holding a secret.
OPEN_SERVICES: Final = frozenset({health.SERVICE_NAME})
# tests/test_architecture.py fails when an RPC of the descriptor is missing here, so that a new RPC that changes
# the store cannot slip in as a read; an RPC missing anyway needs WRITE, the stricter role.
ROLE_BY_DEDUP_RPC: Final[Mapping[str, Role]] = {
    "IngestDocuments": Role.WRITE,
    "DeleteDocument": Role.WRITE,
    "GetDocument": Role.READ,
    "FindSimilar": Role.READ,
    "GetProvenance": Role.READ,
    "GetCluster": Role.READ,
    "Compare": Role.READ,
    "GetStats": Role.READ,
}

# Quoted because grpc's runtime classes are not generic; only their typeshed stubs are.
_Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"
_Continuation: TypeAlias = "Callable[[grpc.HandlerCallDetails], _Handler | None]"
_Behaviour: TypeAlias = Callable[[Any, grpc.ServicerContext], Any]


def required_role(method: str) -> Role | None:
    """Return the role a call to `method` (``/package.Service/Rpc``) needs, or None when it is open to all.

    >>> required_role("/dedup.v1.DedupService/DeleteDocument"), required_role("/grpc.health.v1.Health/Check")
    (<Role.WRITE: 'write'>, None)
    """
    service, _, rpc = method.lstrip("/").rpartition("/")
    if service in OPEN_SERVICES:
        return None
    if service == DEDUP_SERVICE:
        return ROLE_BY_DEDUP_RPC.get(rpc, Role.WRITE)
    # Server reflection and anything registered later: the API's shape is no secret (the protos are public),
    # but only probes need to call without a token, and a reader can already do everything reflection offers.
    return Role.READ


class BearerTokenInterceptor(grpc.ServerInterceptor):
    """Lets a call through only with a known bearer token whose role allows the RPC.

    No token, or one the server does not know: UNAUTHENTICATED. A read token calling a write RPC:
    PERMISSION_DENIED. Refused requests are never decoded, and no log line or message shows a token.
    """

    def __init__(self, tokens: TokenTable) -> None:
        self._tokens = tokens

    def intercept_service(self, continuation: _Continuation, handler_call_details: grpc.HandlerCallDetails) -> Any:
        handler = continuation(handler_call_details)
        method = handler_call_details.method
        needed = required_role(method)
        if handler is None or needed is None:
            return handler
        authorization = [
            value
            for key, value in handler_call_details.invocation_metadata
            if key.lower() == "authorization" and isinstance(value, str)
        ]
        token = bearer_token(authorization)
        if token is None:
            return _refusing(
                handler,
                method,
                grpc.StatusCode.UNAUTHENTICATED,
                "this server needs a bearer token: send the metadata 'authorization: Bearer <token>' "
                "(dedup --token, or DEDUP_TOKEN)",
                reason="no bearer token",
            )
        role = self._tokens.role_of(token)
        if role is None:
            return _refusing(
                handler,
                method,
                grpc.StatusCode.UNAUTHENTICATED,
                "the bearer token is not one this server accepts; check the token you were given",
                reason="unknown bearer token",
            )
        if not role.allows(needed):
            rpc = method.rpartition("/")[2]
            return _refusing(
                handler,
                method,
                grpc.StatusCode.PERMISSION_DENIED,
                f"{rpc} changes the store and needs a {needed.value} token; this token may only {role.value}",
                reason=f"a {role.value} token cannot call it",
            )
        return handler


class RequestDecodingInterceptor(grpc.ServerInterceptor):
    """Parses requests itself, so that bytes that are not a valid message are INVALID_ARGUMENT.

    Left to gRPC, a request that does not parse (invalid UTF-8 in a string field, truncated or garbage bytes)
    ends with INTERNAL "Exception deserializing request!", which blames the server for the caller's bytes.
    """

    def intercept_service(self, continuation: _Continuation, handler_call_details: grpc.HandlerCallDetails) -> Any:
        handler = continuation(handler_call_details)
        if handler is None or handler.request_deserializer is None:
            return handler
        decode = handler.request_deserializer
        serve = _behaviour_of(handler)
        method = handler_call_details.method

        def decoded(raw: bytes, context: grpc.ServicerContext) -> Any:
            try:
                return decode(raw)
            # Whatever the parser raises, the cause is the bytes the caller sent; nothing has run yet.
            except Exception:
                abort_with(
                    context,
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"the request to {method} is not a valid message of its type (string fields must be UTF-8); "
                    "build it with the dedup.v1 protos",
                )

        if handler.request_streaming:

            def serve_stream(raw_requests: Iterator[bytes], context: grpc.ServicerContext) -> Any:
                return serve((decoded(raw, context) for raw in raw_requests), context)

            return _handler_like(handler, serve_stream, request_deserializer=None)

        def serve_unary(raw: bytes, context: grpc.ServicerContext) -> Any:
            return serve(decoded(raw, context), context)

        return _handler_like(handler, serve_unary, request_deserializer=None)


def _refusing(handler: _Handler, method: str, code: grpc.StatusCode, message: str, *, reason: str) -> _Handler:
    def refuse(_request: object, context: grpc.ServicerContext) -> None:
        _LOGGER.warning("refused %s from %s: %s", method, context.peer(), reason)
        abort_with(context, code, message)

    # The request stays undecoded bytes: a caller without the right token gets no parser to attack.
    return _handler_like(handler, refuse, request_deserializer=None)


def _behaviour_of(handler: _Handler) -> _Behaviour:
    behaviour = handler.unary_unary or handler.unary_stream or handler.stream_unary or handler.stream_stream
    if behaviour is None:
        raise ValueError("a gRPC method handler without a behaviour")
    return behaviour


def _handler_like(handler: _Handler, behaviour: _Behaviour, *, request_deserializer: None) -> _Handler:
    """Return a handler of the same streaming kind and response serializer as `handler`, doing `behaviour`."""
    factory = {
        (False, False): grpc.unary_unary_rpc_method_handler,
        (False, True): grpc.unary_stream_rpc_method_handler,
        (True, False): grpc.stream_unary_rpc_method_handler,
        (True, True): grpc.stream_stream_rpc_method_handler,
    }[(handler.request_streaming, handler.response_streaming)]
    return factory(behaviour, request_deserializer, handler.response_serializer)

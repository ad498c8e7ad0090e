"""client.errors: every status code becomes its typed error, carrying what the server sent."""

import grpc
import pytest

import client
from client import errors
from client.errors import DedupClientError, from_rpc_error


class FakeCallError(grpc.RpcError):
    """What a failed unary call raises: an RpcError that is also the finished grpc.Call, with its status."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__()
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details


# grpc's own error class inherits grpc.Call. Registering the fake as one spares it the Call methods that
# from_rpc_error never uses, which typeshed's RpcError and Call also type in ways no class can satisfy at once.
grpc.Call.register(FakeCallError)


@pytest.mark.parametrize(
    ("code", "error_type"),
    [
        (grpc.StatusCode.INVALID_ARGUMENT, errors.InvalidArgumentError),
        (grpc.StatusCode.NOT_FOUND, errors.DocumentNotFoundError),
        (grpc.StatusCode.ALREADY_EXISTS, errors.DocumentAlreadyExistsError),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, errors.ResourceExhaustedError),
        (grpc.StatusCode.UNAUTHENTICATED, errors.UnauthenticatedError),
        (grpc.StatusCode.PERMISSION_DENIED, errors.PermissionDeniedError),
        (grpc.StatusCode.DEADLINE_EXCEEDED, errors.DeadlineExceededError),
        (grpc.StatusCode.UNAVAILABLE, errors.ServerUnavailableError),
        (grpc.StatusCode.INTERNAL, errors.InternalServerError),
    ],
    ids=lambda value: value.name if isinstance(value, grpc.StatusCode) else "",
)
def test_each_status_code_becomes_its_own_error_type(code: grpc.StatusCode, error_type: type[DedupClientError]) -> None:
    error = from_rpc_error(FakeCallError(code, "what went wrong"))

    assert type(error) is error_type
    assert isinstance(error, DedupClientError)


@pytest.mark.parametrize(
    "code", [grpc.StatusCode.UNKNOWN, grpc.StatusCode.CANCELLED, grpc.StatusCode.FAILED_PRECONDITION]
)
def test_a_code_without_its_own_type_becomes_the_base_error(code: grpc.StatusCode) -> None:
    assert type(from_rpc_error(FakeCallError(code, "details"))) is DedupClientError


def test_error_carries_code_and_details_and_shows_both() -> None:
    error = from_rpc_error(FakeCallError(grpc.StatusCode.NOT_FOUND, "no document has id 'wire-9'"))

    assert error.code is grpc.StatusCode.NOT_FOUND
    assert error.details == "no document has id 'wire-9'"
    assert str(error) == "NOT_FOUND: no document has id 'wire-9'"


def test_an_rpc_error_without_a_status_is_unknown_with_its_text() -> None:
    error = from_rpc_error(grpc.RpcError("interceptor gave up"))

    assert type(error) is DedupClientError
    assert error.code is grpc.StatusCode.UNKNOWN
    assert error.details == "interceptor gave up"


def test_every_error_type_is_exported_from_the_package() -> None:
    for name in dir(errors):
        value = getattr(errors, name)
        if isinstance(value, type) and issubclass(value, DedupClientError):
            assert getattr(client, name) is value

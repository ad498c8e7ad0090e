"""DedupClient: typed facade over the stub; timeouts; context manager."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from types import TracebackType
from typing import Final, Self, TypeVar

import grpc
from google.protobuf import timestamp_pb2

from client.errors import ServerUnavailableError, from_rpc_error
from dedup.v1 import dedup_service_pb2, dedup_service_pb2_grpc, document_pb2

# gRPC's default 4 MiB receive limit is smaller than an ingest batch of long documents or a provenance answer
# with many evidence spans; 64 MiB leaves the server's own limits (GetStats) as the ones that bite.
MAX_MESSAGE_BYTES: Final = 64 * 1024 * 1024

# gRPC waits longer and longer between attempts to reach a server that does not answer, up to two minutes: a client
# waiting out a first start (about 40 s while numba's kernels compile) connected some 30 s after the server served.
# Two seconds at most between attempts costs a down server one connection attempt per client every two seconds.
MAX_RECONNECT_BACKOFF_MS: Final = 2000

_DEFAULT_CHANNEL_OPTIONS: Final[Mapping[str, int | str]] = {
    "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
    "grpc.max_send_message_length": MAX_MESSAGE_BYTES,
    "grpc.max_reconnect_backoff_ms": MAX_RECONNECT_BACKOFF_MS,
}

_RequestT = TypeVar("_RequestT")
_ResponseT = TypeVar("_ResponseT")


@dataclass(frozen=True, slots=True)
class TlsOptions:
    """How the client checks the server's certificate, and which certificate it shows for mutual TLS.

    Attributes:
        root_certificates: PEM of the CA that signed the server's certificate; None trusts the system's CAs.
        certificate_chain: PEM of the client's certificate, for a server that requires one (``--tls-client-ca``).
        private_key: PEM of the client certificate's private key.

    Raises:
        ValueError: Only one of `certificate_chain` and `private_key` was given.
    """

    root_certificates: bytes | None = None
    certificate_chain: bytes | None = None
    private_key: bytes | None = None

    def __post_init__(self) -> None:
        if (self.certificate_chain is None) != (self.private_key is None):
            raise ValueError("a client certificate needs its private key, and a key its certificate: give both")

    @classmethod
    def from_files(
        cls, *, ca_cert: Path | None = None, client_cert: Path | None = None, client_key: Path | None = None
    ) -> "TlsOptions":
        """Read the PEM files that are given.

        Raises:
            OSError: A file cannot be read; the message names it.
            ValueError: Only one of `client_cert` and `client_key` was given.
        """

        def read(path: Path | None) -> bytes | None:
            if path is None:
                return None
            try:
                return path.read_bytes()
            except OSError as error:
                raise OSError(f"{path}: {error.strerror or error}") from error

        return cls(read(ca_cert), read(client_cert), read(client_key))

    def credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(self.root_certificates, self.private_key, self.certificate_chain)


class DedupClient:
    """A connection to a dedup server, with one typed method per RPC.

    Every call has a timeout, and every failure raises a `client.errors.DedupClientError` subclass chosen by
    the call's status code. The channel connects lazily, on the first call.

    Args:
        target: The server's ``HOST:PORT``.
        timeout: Seconds each call may take before it fails with `DeadlineExceededError`.
        channel_options: Extra gRPC channel arguments; they override the defaults (64 MiB message limits, at most
            2 s between attempts to reach the server).
        tls: Connect with TLS, checking the server's certificate as these options say; None connects in plain text.
        token: A bearer token sent with every call, for a server started with ``--tokens-file``. Without `tls` it
            crosses the network in the clear, so use it in plain text only over loopback.

    Raises:
        ValueError: The token is empty or not printable ASCII without spaces.

    Example:
        >>> with DedupClient("127.0.0.1:50051") as client:  # doctest: +SKIP
        ...     client.wait_until_ready(timeout=5)
        ...     [result] = client.ingest([make_document("wire-1", "Markets fell on Monday.", source="Reuters")])
        ...     client.find_similar(text="On Monday, markets fell.", limit=5)
    """

    def __init__(
        self,
        target: str,
        *,
        timeout: float = 30.0,
        channel_options: Sequence[tuple[str, int | str]] = (),
        tls: TlsOptions | None = None,
        token: str | None = None,
    ) -> None:
        self.target = target
        self.timeout = timeout
        self._metadata = _authorization_metadata(token)
        self._channel = self._open_channel(dict(_DEFAULT_CHANNEL_OPTIONS) | dict(channel_options), tls)
        self._stub = dedup_service_pb2_grpc.DedupServiceStub(self._channel)

    def _open_channel(self, options: Mapping[str, int | str], tls: TlsOptions | None) -> grpc.Channel:
        # The one place that knows the transport.
        if tls is None:
            return grpc.insecure_channel(self.target, options=list(options.items()))
        return grpc.secure_channel(self.target, tls.credentials(), options=list(options.items()))

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the channel; calls made afterwards fail."""
        self._channel.close()

    def wait_until_ready(self, timeout: float) -> None:
        """Block until the channel has connected to the server.

        Args:
            timeout: Seconds to wait.

        Raises:
            ServerUnavailableError: No server became reachable at the target within `timeout`.
        """
        try:
            grpc.channel_ready_future(self._channel).result(timeout=timeout)
        except grpc.FutureTimeoutError as error:
            raise ServerUnavailableError(
                grpc.StatusCode.UNAVAILABLE, f"no server became ready at {self.target} within {timeout:g} s"
            ) from error

    def ingest(
        self, documents: Sequence[document_pb2.Document], *, replace: bool = False
    ) -> list[dedup_service_pb2.IngestResult]:
        """Store documents and return what became of each, in request order.

        A bad document comes back with status ``INGEST_STATUS_REJECTED`` and an error message, and does not
        affect the others; only when every document is rejected does the call itself fail.

        Args:
            documents: At most the server's ``max_batch_documents`` (see `stats`), with unique ids.
            replace: Overwrite a stored id that has another text, instead of rejecting it.
        """
        request = dedup_service_pb2.IngestDocumentsRequest(documents=documents, replace=replace)
        return list(self._call(self._stub.IngestDocuments, request).results)

    def get_document(self, document_id: str) -> dedup_service_pb2.GetDocumentResponse:
        """Return a stored document and when it was ingested."""
        return self._call(self._stub.GetDocument, dedup_service_pb2.GetDocumentRequest(document_id=document_id))

    def delete(self, document_id: str) -> dedup_service_pb2.DeleteDocumentResponse:
        """Remove a document, its signatures and its links; the response lists the documents re-decided."""
        request = dedup_service_pb2.DeleteDocumentRequest(document_id=document_id)
        return self._call(self._stub.DeleteDocument, request)

    def find_similar(
        self, *, document_id: str | None = None, text: str | None = None, limit: int = 10, min_score: float = 0.0
    ) -> list[document_pb2.Match]:
        """Return the stored documents sharing passages with a stored document or a text, strongest first.

        Args:
            document_id: A stored document to query with; it is left out of its own matches.
            text: A text to query with; it is not stored.
            limit: Most matches to return.
            min_score: Smallest score a match must have, in [0, 1].

        Raises:
            ValueError: Not exactly one of `document_id` and `text` was given.
        """
        request = dedup_service_pb2.FindSimilarRequest(limit=limit, min_score=min_score)
        if document_id is not None and text is None:
            request.document_id = document_id
        elif text is not None and document_id is None:
            request.text = text
        else:
            raise ValueError("find_similar needs exactly one of document_id= (a stored document) or text=")
        return list(self._call(self._stub.FindSimilar, request).matches)

    def provenance(self, document_id: str) -> dedup_service_pb2.GetProvenanceResponse:
        """Return a document's origin, its sources, its derivatives and the chain of links up to the origin."""
        request = dedup_service_pb2.GetProvenanceRequest(document_id=document_id)
        return self._call(self._stub.GetProvenance, request)

    def cluster(self, document_id: str) -> dedup_service_pb2.GetClusterResponse:
        """Return the story cluster a document belongs to: its origin, then every member by depth."""
        return self._call(self._stub.GetCluster, dedup_service_pb2.GetClusterRequest(document_id=document_id))

    def compare(self, text_a: str, text_b: str) -> dedup_service_pb2.CompareResponse:
        """Compare two texts without storing either; spans run into `text_a`, source spans into `text_b`."""
        return self._call(self._stub.Compare, dedup_service_pb2.CompareRequest(text_a=text_a, text_b=text_b))

    def stats(self) -> dedup_service_pb2.GetStatsResponse:
        """Return the store's counts, index parameters, size and input limits."""
        return self._call(self._stub.GetStats, dedup_service_pb2.GetStatsRequest())

    # Quoted because grpc's runtime class is not generic; only its typeshed stub is.
    def _call(self, method: "grpc.UnaryUnaryMultiCallable[_RequestT, _ResponseT]", request: _RequestT) -> _ResponseT:
        try:
            return method(request, timeout=self.timeout, metadata=self._metadata)
        except grpc.RpcError as error:
            raise from_rpc_error(error) from error


def _authorization_metadata(token: str | None) -> tuple[tuple[str, str], ...] | None:
    # Sent as plain call metadata rather than grpc.access_token_call_credentials, which gRPC refuses on a channel
    # without TLS: a server on loopback may want tokens without certificates.
    if token is None:
        return None
    if not token or not token.isascii() or not token.isprintable() or any(char.isspace() for char in token):
        # The token itself is not repeated here: error messages end up in logs.
        raise ValueError("the token must be printable ASCII without spaces, as given in the server's tokens file")
    return (("authorization", f"Bearer {token}"),)


def make_document(
    id: str,
    text: str,
    *,
    source: str = "",
    url: str = "",
    title: str = "",
    published_at: datetime | date | str | None = None,
    metadata: Mapping[str, str] | None = None,
) -> document_pb2.Document:
    """Build a Document message, parsing `published_at` from ISO 8601.

    A date or date-time without a time zone is taken as UTC. An empty string means "not known", like the
    other optional fields.

    Args:
        id: The client-chosen id, unique in the store.
        text: The full text.
        source: The publisher, feed or collection, e.g. "Reuters".
        url: Where the text was found.
        title: The headline.
        published_at: A datetime, a date, or an ISO 8601 string such as "2017-03-08" or "2017-03-08T10:00:00Z".
        metadata: Free key-value pairs kept with the document.

    Raises:
        ValueError: `published_at` is not an ISO 8601 date or date-time.

    >>> make_document("wire-1", "Markets fell.", published_at="2017-03-08").published_at.ToJsonString()
    '2017-03-08T00:00:00Z'
    >>> make_document("wire-1", "Markets fell.", published_at="2017-03-08T12:00:00+02:00").published_at.ToJsonString()
    '2017-03-08T10:00:00Z'
    """
    document = document_pb2.Document(id=id, text=text, source=source, url=url, title=title, metadata=metadata)
    timestamp = timestamp_from_iso(published_at)
    if timestamp is not None:
        document.published_at.CopyFrom(timestamp)
    return document


def timestamp_from_iso(value: datetime | date | str | None) -> timestamp_pb2.Timestamp | None:
    """Return `value` as a Timestamp, or None when it is None or an empty string.

    Raises:
        ValueError: `value` is a string that is not an ISO 8601 date or date-time.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(
                f"published_at {value!r} is not an ISO 8601 date or date-time; "
                "write it like '2017-03-08' or '2017-03-08T10:00:00Z'"
            ) from None
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    timestamp = timestamp_pb2.Timestamp()
    timestamp.FromDatetime(value)
    return timestamp

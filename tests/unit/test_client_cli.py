"""The `dedup` command and its helpers: reading corpus files, building requests, printing answers."""

import json
import runpy
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import TypeVar

import grpc
import pytest
from google.protobuf import json_format, message

from client import DedupClient, make_document
from client.cli import (
    InputError,
    document_from_record,
    documents_from_paths,
    expand_paths,
    format_cluster,
    main,
)
from dedup.v1 import dedup_service_pb2, dedup_service_pb2_grpc, document_pb2

_MessageT = TypeVar("_MessageT", bound=message.Message)


class FakeDedupServicer(dedup_service_pb2_grpc.DedupServiceServicer):
    """A fake DedupService for testing the client's request building and output formatting.

    This is not the product server and decides nothing: it records every request it receives, with the time
    the caller left it, and answers with the canned response a test put in `responses`, or fails with the
    status a test put in `errors`. IngestDocuments answers each document CREATED, unless `ingest_results`
    holds a canned result for its id.
    """

    def __init__(self) -> None:
        self.requests: list[tuple[str, message.Message]] = []
        self.time_remaining: list[float | None] = []
        self.responses: dict[str, message.Message] = {}
        self.errors: dict[str, tuple[grpc.StatusCode, str]] = {}
        self.ingest_results: dict[str, dedup_service_pb2.IngestResult] = {}

    def received(self, rpc: str, request_type: type[_MessageT]) -> list[_MessageT]:
        requests = [request for name, request in self.requests if name == rpc]
        assert all(isinstance(request, request_type) for request in requests)
        return [request for request in requests if isinstance(request, request_type)]

    def _answer(
        self, rpc: str, request: message.Message, context: grpc.ServicerContext, response_type: type[_MessageT]
    ) -> _MessageT:
        self.requests.append((rpc, request))
        self.time_remaining.append(context.time_remaining())
        if rpc in self.errors:
            context.abort(*self.errors[rpc])
        response = self.responses.get(rpc, response_type())
        assert isinstance(response, response_type)
        return response

    def IngestDocuments(  # noqa: N802 -- gRPC handlers keep the RPC's name
        self, request: dedup_service_pb2.IngestDocumentsRequest, context: grpc.ServicerContext
    ) -> dedup_service_pb2.IngestDocumentsResponse:
        response = self._answer("IngestDocuments", request, context, dedup_service_pb2.IngestDocumentsResponse)
        for document in request.documents:
            created = dedup_service_pb2.IngestResult(
                document_id=document.id, status=dedup_service_pb2.INGEST_STATUS_CREATED
            )
            response.results.append(self.ingest_results.get(document.id, created))
        return response

    def GetDocument(  # noqa: N802 -- gRPC handlers keep the RPC's name
        self, request: dedup_service_pb2.GetDocumentRequest, context: grpc.ServicerContext
    ) -> dedup_service_pb2.GetDocumentResponse:
        return self._answer("GetDocument", request, context, dedup_service_pb2.GetDocumentResponse)

    def DeleteDocument(  # noqa: N802 -- gRPC handlers keep the RPC's name
        self, request: dedup_service_pb2.DeleteDocumentRequest, context: grpc.ServicerContext
    ) -> dedup_service_pb2.DeleteDocumentResponse:
        return self._answer("DeleteDocument", request, context, dedup_service_pb2.DeleteDocumentResponse)

    def FindSimilar(  # noqa: N802 -- gRPC handlers keep the RPC's name
        self, request: dedup_service_pb2.FindSimilarRequest, context: grpc.ServicerContext
    ) -> dedup_service_pb2.FindSimilarResponse:
        return self._answer("FindSimilar", request, context, dedup_service_pb2.FindSimilarResponse)

    def GetProvenance(  # noqa: N802 -- gRPC handlers keep the RPC's name
        self, request: dedup_service_pb2.GetProvenanceRequest, context: grpc.ServicerContext
    ) -> dedup_service_pb2.GetProvenanceResponse:
        return self._answer("GetProvenance", request, context, dedup_service_pb2.GetProvenanceResponse)

    def GetCluster(  # noqa: N802 -- gRPC handlers keep the RPC's name
        self, request: dedup_service_pb2.GetClusterRequest, context: grpc.ServicerContext
    ) -> dedup_service_pb2.GetClusterResponse:
        return self._answer("GetCluster", request, context, dedup_service_pb2.GetClusterResponse)

    def Compare(  # noqa: N802 -- gRPC handlers keep the RPC's name
        self, request: dedup_service_pb2.CompareRequest, context: grpc.ServicerContext
    ) -> dedup_service_pb2.CompareResponse:
        return self._answer("Compare", request, context, dedup_service_pb2.CompareResponse)

    def GetStats(  # noqa: N802 -- gRPC handlers keep the RPC's name
        self, request: dedup_service_pb2.GetStatsRequest, context: grpc.ServicerContext
    ) -> dedup_service_pb2.GetStatsResponse:
        return self._answer("GetStats", request, context, dedup_service_pb2.GetStatsResponse)


@pytest.fixture
def fake() -> FakeDedupServicer:
    return FakeDedupServicer()


@pytest.fixture
def target(fake: FakeDedupServicer) -> Iterator[str]:
    server = grpc.server(ThreadPoolExecutor(max_workers=2))
    dedup_service_pb2_grpc.add_DedupServiceServicer_to_server(fake, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}"
    server.stop(grace=None)


def run_dedup(target: str, *args: str) -> int:
    return main(["--target", target, *args])


def link(
    document_id: str, source_id: str, relation: document_pb2.Relation.ValueType, score: float, spans: int = 1
) -> document_pb2.Link:
    return document_pb2.Link(
        document_id=document_id,
        source_id=source_id,
        relation=relation,
        score=score,
        confidence=0.75,
        evidence=[document_pb2.Span(start=0, end=10, source_start=5, source_end=15)] * spans,
    )


# Reading corpus files.


def test_txt_file_id_is_its_name_without_txt(tmp_path: Path) -> None:
    (tmp_path / "001_83c010ac56584491.txt").write_text("Shares fell.")

    [document] = documents_from_paths([tmp_path / "001_83c010ac56584491.txt"])

    assert document.id == "001_83c010ac56584491"
    assert document.text == "Shares fell."


def test_txt_text_is_the_file_content_exactly_as_utf8(tmp_path: Path) -> None:
    content = "Zürich — line one\r\nline two\n"
    (tmp_path / "wire.txt").write_bytes(content.encode("utf-8"))

    [document] = documents_from_paths([tmp_path / "wire.txt"])

    assert document.text == content


def test_txt_file_that_is_not_utf8_is_an_input_error(tmp_path: Path) -> None:
    (tmp_path / "latin.txt").write_bytes("café".encode("latin-1"))

    with pytest.raises(InputError, match=r"latin\.txt: not UTF-8"):
        documents_from_paths([tmp_path / "latin.txt"])


def test_jsonl_meta_fills_document_fields_and_other_keys_become_string_metadata(tmp_path: Path) -> None:
    record = {
        "id": "msrp:702876",
        "text": "Amrozi accused his brother.",
        "meta": {
            "source": "Reuters",
            "url": "https://example.com/a",
            "title": "Accused",
            "published_at": "2017-03-08T10:00:00Z",
            "lang": "en",
            "splits": ["train"],
            "chars": 27,
        },
    }
    (tmp_path / "docs.jsonl").write_text(json.dumps(record) + "\n")

    [document] = documents_from_paths([tmp_path / "docs.jsonl"])

    assert (document.id, document.text) == ("msrp:702876", "Amrozi accused his brother.")
    assert (document.source, document.url, document.title) == ("Reuters", "https://example.com/a", "Accused")
    assert document.published_at.ToJsonString() == "2017-03-08T10:00:00Z"
    assert dict(document.metadata) == {"lang": "en", "splits": '["train"]', "chars": "27"}


def test_jsonl_record_without_meta_is_a_bare_document() -> None:
    document = document_from_record({"id": "a", "text": "Some text."})

    assert not document.HasField("published_at")
    assert (document.source, document.url, document.title, dict(document.metadata)) == ("", "", "", {})


def test_jsonl_null_meta_values_are_left_unset() -> None:
    document = document_from_record({"id": "a", "text": "t", "meta": {"source": None, "published_at": None, "x": None}})

    assert document.source == ""
    assert not document.HasField("published_at")
    assert dict(document.metadata) == {}


def test_jsonl_blank_lines_are_skipped(tmp_path: Path) -> None:
    (tmp_path / "docs.jsonl").write_text('{"id": "a", "text": "one"}\n\n{"id": "b", "text": "two"}\n\n')

    assert [document.id for document in documents_from_paths([tmp_path / "docs.jsonl"])] == ["a", "b"]


def test_jsonl_texts_keep_unicode_line_separators_and_crlf_lines_are_read(tmp_path: Path) -> None:
    text = "one\u2028two\x85three\x1cfour\x0cfive"
    record = json.dumps({"id": "a", "text": text}, ensure_ascii=False)
    (tmp_path / "docs.jsonl").write_bytes(f'{record}\r\n{{"id": "b", "text": "x"}}\r\n'.encode())

    documents = list(documents_from_paths([tmp_path / "docs.jsonl"]))

    assert [document.text for document in documents] == [text, "x"]


def test_directory_expands_to_its_txt_and_jsonl_files_sorted_by_name(tmp_path: Path) -> None:
    for name in ("b.txt", "a.jsonl", "c.txt", "README.md", "notes.json"):
        (tmp_path / name).write_text("")
    (tmp_path / "nested.txt").mkdir()

    assert [path.name for path in expand_paths([tmp_path])] == ["a.jsonl", "b.txt", "c.txt"]


def test_paths_keep_their_order_and_directories_expand_in_place(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "x.txt").write_text("x")
    (tmp_path / "y.txt").write_text("y")
    (tmp_path / "z.txt").write_text("z")

    documents = documents_from_paths([tmp_path / "z.txt", tmp_path / "dir", tmp_path / "y.txt"])

    assert [document.id for document in documents] == ["z", "x", "y"]


def test_missing_path_and_unknown_suffix_are_input_errors(tmp_path: Path) -> None:
    (tmp_path / "notes.md").write_text("")

    with pytest.raises(InputError, match="no such file or directory"):
        expand_paths([tmp_path / "absent.txt"])
    with pytest.raises(InputError, match=r"notes\.md: not a \.txt or \.jsonl file"):
        expand_paths([tmp_path / "notes.md"])


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"id": "a", "text": ', "not valid JSON"),
        ('["a", "text"]', "expected a JSON object"),
        ('{"text": "no id"}', '"id" must be a string'),
        ('{"id": "a", "text": 42}', '"text" must be a string'),
        ('{"id": "a", "text": "t", "meta": "Reuters"}', '"meta" must be a JSON object'),
        ('{"id": "a", "text": "t", "meta": {"title": 7}}', '"meta.title" must be a string'),
        ('{"id": "a", "text": "t", "meta": {"published_at": "last Tuesday"}}', "not an ISO 8601 date"),
    ],
)
def test_malformed_jsonl_line_is_an_input_error_naming_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "docs.jsonl"
    path.write_text('{"id": "ok", "text": "fine"}\n' + line + "\n")

    with pytest.raises(InputError, match=rf"^{path}:2: .*") as raised:
        documents_from_paths([path])
    assert message in str(raised.value)


def test_an_id_given_twice_is_an_input_error_naming_both_places(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("one")
    (tmp_path / "more.jsonl").write_text('{"id": "b", "text": "two"}\n{"id": "a", "text": "three"}\n')

    with pytest.raises(InputError, match=r"more\.jsonl:2: id 'a' was already given at .*a\.txt"):
        documents_from_paths([tmp_path])


def test_ingest_of_a_malformed_jsonl_line_exits_2_and_sends_nothing(
    tmp_path: Path, target: str, fake: FakeDedupServicer, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a.txt").write_text("fine")
    (tmp_path / "b.jsonl").write_text('{"id": "b1", "text": "fine"}\n{"id": "b2", "text": }\n')

    assert run_dedup(target, "ingest", str(tmp_path)) == 2

    assert fake.requests == []
    assert f"error: {tmp_path / 'b.jsonl'}:2: not valid JSON" in capsys.readouterr().err


# make_document and its dates.


@pytest.mark.parametrize(
    ("published_at", "expected"),
    [
        ("2017-03-08", "2017-03-08T00:00:00Z"),
        ("2017-03-08T10:00:00Z", "2017-03-08T10:00:00Z"),
        ("2017-03-08T12:00:00+02:00", "2017-03-08T10:00:00Z"),
        ("2017-03-08 10:00:00.250", "2017-03-08T10:00:00.250Z"),
        (" 2017-03-08T10:00 ", "2017-03-08T10:00:00Z"),
        (datetime(2017, 3, 8, 10, 0), "2017-03-08T10:00:00Z"),
        (datetime(2017, 3, 8, 5, 0, tzinfo=timezone(timedelta(hours=-5))), "2017-03-08T10:00:00Z"),
        (datetime(2017, 3, 8, 10, 0, tzinfo=UTC), "2017-03-08T10:00:00Z"),
        (date(2017, 3, 8), "2017-03-08T00:00:00Z"),
    ],
)
def test_published_at_is_read_as_iso_8601_and_naive_times_as_utc(
    published_at: datetime | date | str, expected: str
) -> None:
    document = make_document("a", "text", published_at=published_at)

    assert document.published_at.ToJsonString() == expected


@pytest.mark.parametrize("published_at", [None, "", "   "])
def test_missing_or_empty_published_at_is_left_unset(published_at: str | None) -> None:
    assert not make_document("a", "text", published_at=published_at).HasField("published_at")


@pytest.mark.parametrize("published_at", ["08/03/2017", "2017-13-01", "yesterday", "2017-03-08T25:00"])
def test_unparsable_published_at_is_a_value_error_that_shows_the_format(published_at: str) -> None:
    with pytest.raises(ValueError, match=r"is not an ISO 8601 date or date-time; write it like '2017-03-08'"):
        make_document("a", "text", published_at=published_at)


def test_make_document_fills_every_field() -> None:
    document = make_document("a", "text", source="Reuters", url="u", title="t", metadata={"lang": "en"})

    assert (document.id, document.text, document.source, document.url, document.title) == (
        "a",
        "text",
        "Reuters",
        "u",
        "t",
    )
    assert dict(document.metadata) == {"lang": "en"}


# DedupClient against the fake server.


def test_every_call_carries_the_client_timeout(target: str, fake: FakeDedupServicer) -> None:
    with DedupClient(target, timeout=7.0) as client:
        client.stats()
        client.provenance("a")
        client.ingest([make_document("a", "text")])

    assert len(fake.time_remaining) == 3
    for remaining in fake.time_remaining:
        assert remaining is not None
        # The server's clock reading adds a few milliseconds; without a timeout it would be None.
        assert 0 < remaining <= 7.5


def test_client_accepts_answers_larger_than_grpc_default_4_mib(target: str, fake: FakeDedupServicer) -> None:
    big = "word " * (1_200_000)
    fake.responses["GetDocument"] = dedup_service_pb2.GetDocumentResponse(document=make_document("big", big))

    with DedupClient(target) as client:
        assert client.get_document("big").document.text == big


@pytest.mark.parametrize(("document_id", "text"), [(None, None), ("a", "some text")])
def test_find_similar_needs_exactly_one_of_id_and_text(target: str, document_id: str | None, text: str | None) -> None:
    with DedupClient(target) as client, pytest.raises(ValueError, match="exactly one of document_id"):
        client.find_similar(document_id=document_id, text=text)


def test_wait_until_ready_returns_once_the_server_answers(target: str) -> None:
    with DedupClient(target) as client:
        client.wait_until_ready(timeout=5)


def test_a_client_waiting_for_a_server_connects_within_seconds_of_its_start() -> None:
    # A first start compiles numba's kernels for about 40 s. gRPC's reconnect backoff would by then wait tens of
    # seconds between attempts, and a client waiting ten seconds already would try again about six seconds later.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with DedupClient(f"127.0.0.1:{port}") as client, ThreadPoolExecutor(1) as pool:
        waited = pool.submit(client.wait_until_ready, 60)
        time.sleep(10)
        server = grpc.server(ThreadPoolExecutor(1))
        server.add_insecure_port(f"127.0.0.1:{port}")
        server.start()
        started = time.monotonic()
        try:
            waited.result(timeout=30)
            assert time.monotonic() - started < 3.5
        finally:
            server.stop(None)


# The dedup command against the fake server.


def write_corpus(directory: Path, count: int) -> list[str]:
    ids = [f"doc-{number}" for number in range(count)]
    directory.mkdir(exist_ok=True)
    for document_id in ids:
        (directory / f"{document_id}.txt").write_text(f"text of {document_id}")
    return ids


def test_ingest_sends_batches_of_batch_size_in_file_order(
    tmp_path: Path, target: str, fake: FakeDedupServicer, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = write_corpus(tmp_path / "corpus", 5)

    assert run_dedup(target, "ingest", str(tmp_path / "corpus"), "--batch-size", "2") == 0

    batches = fake.received("IngestDocuments", dedup_service_pb2.IngestDocumentsRequest)
    assert [[document.id for document in batch.documents] for batch in batches] == [ids[0:2], ids[2:4], ids[4:5]]
    assert not any(batch.replace for batch in batches)
    assert capsys.readouterr().out.splitlines()[0] == "5 created, 0 unchanged, 0 replaced, 0 rejected"


def test_ingest_batch_size_defaults_to_64_and_replace_is_sent(
    tmp_path: Path, target: str, fake: FakeDedupServicer
) -> None:
    write_corpus(tmp_path / "corpus", 65)

    assert run_dedup(target, "ingest", "--replace", str(tmp_path / "corpus")) == 0

    batches = fake.received("IngestDocuments", dedup_service_pb2.IngestDocumentsRequest)
    assert [len(batch.documents) for batch in batches] == [64, 1]
    assert all(batch.replace for batch in batches)


def test_ingest_batch_size_is_lowered_to_the_servers_limit_with_a_note(
    tmp_path: Path, target: str, fake: FakeDedupServicer, capsys: pytest.CaptureFixture[str]
) -> None:
    write_corpus(tmp_path / "corpus", 5)
    fake.responses["GetStats"] = dedup_service_pb2.GetStatsResponse(max_batch_documents=2)

    assert run_dedup(target, "ingest", str(tmp_path / "corpus"), "--batch-size", "4") == 0

    batches = fake.received("IngestDocuments", dedup_service_pb2.IngestDocumentsRequest)
    assert [len(batch.documents) for batch in batches] == [2, 2, 1]
    assert "note: --batch-size 4 is over the server's limit; sending 2 documents per call" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["0", "-3", "many"])
def test_ingest_batch_size_must_be_a_positive_whole_number(target: str, value: str) -> None:
    with pytest.raises(SystemExit) as raised:
        run_dedup(target, "ingest", "--batch-size", value, "corpus")
    assert raised.value.code == 2


def test_ingest_summary_counts_statuses_lists_rejections_and_new_links(
    tmp_path: Path, target: str, fake: FakeDedupServicer, capsys: pytest.CaptureFixture[str]
) -> None:
    write_corpus(tmp_path / "corpus", 4)
    fake.ingest_results["doc-1"] = dedup_service_pb2.IngestResult(
        document_id="doc-1",
        status=dedup_service_pb2.INGEST_STATUS_CREATED,
        links=[link("doc-1", "doc-0", document_pb2.RELATION_EXCERPT, 0.9)],
    )
    fake.ingest_results["doc-2"] = dedup_service_pb2.IngestResult(
        document_id="doc-2",
        status=dedup_service_pb2.INGEST_STATUS_REJECTED,
        error_code=grpc.StatusCode.INVALID_ARGUMENT.value[0],
        error_message="text is empty; send at least one word",
    )
    fake.ingest_results["doc-3"] = dedup_service_pb2.IngestResult(
        document_id="doc-3", status=dedup_service_pb2.INGEST_STATUS_UNCHANGED
    )
    # The source gets the link too, as the document that something now derives from; it is shown once.
    fake.ingest_results["doc-0"] = dedup_service_pb2.IngestResult(
        document_id="doc-0",
        status=dedup_service_pb2.INGEST_STATUS_CREATED,
        links=[link("doc-1", "doc-0", document_pb2.RELATION_EXCERPT, 0.9)],
    )

    assert run_dedup(target, "ingest", str(tmp_path / "corpus")) == 1

    assert capsys.readouterr().out.splitlines() == [
        "2 created, 1 unchanged, 0 replaced, 1 rejected",
        "rejected:",
        "  doc-2: INVALID_ARGUMENT: text is empty; send at least one word",
        "links:",
        "  doc-1 -> doc-0 (EXCERPT, 0.900)",
    ]


def test_ingest_batch_failed_as_a_whole_is_reported_as_rejected_and_later_batches_go_on(
    tmp_path: Path, target: str, fake: FakeDedupServicer, capsys: pytest.CaptureFixture[str]
) -> None:
    write_corpus(tmp_path / "corpus", 2)
    fake.errors["IngestDocuments"] = (grpc.StatusCode.ALREADY_EXISTS, "doc-0 is stored with another text")

    assert run_dedup(target, "ingest", str(tmp_path / "corpus"), "--batch-size", "1") == 1

    assert len(fake.received("IngestDocuments", dedup_service_pb2.IngestDocumentsRequest)) == 2
    out = capsys.readouterr().out
    assert out.startswith("0 created, 0 unchanged, 0 replaced, 2 rejected\n")
    assert "  doc-1: ALREADY_EXISTS: doc-0 is stored with another text" in out


def test_ingest_json_wraps_the_results_like_the_response_with_proto_field_names(
    tmp_path: Path, target: str, fake: FakeDedupServicer, capsys: pytest.CaptureFixture[str]
) -> None:
    write_corpus(tmp_path / "corpus", 3)
    fake.ingest_results["doc-1"] = dedup_service_pb2.IngestResult(
        document_id="doc-1",
        status=dedup_service_pb2.INGEST_STATUS_CREATED,
        links=[link("doc-1", "doc-0", document_pb2.RELATION_DUPLICATE, 0.99)],
    )

    assert run_dedup(target, "--json", "ingest", str(tmp_path / "corpus"), "--batch-size", "2") == 0

    captured = capsys.readouterr()
    answer = json.loads(captured.out)
    assert [result["document_id"] for result in answer["results"]] == ["doc-0", "doc-1", "doc-2"]
    assert answer["results"][1]["status"] == "INGEST_STATUS_CREATED"
    assert answer["results"][1]["links"][0]["source_id"] == "doc-0"
    assert answer["results"][1]["links"][0]["relation"] == "RELATION_DUPLICATE"
    assert captured.err == ""


def test_similar_by_id_sends_the_id_limit_and_min_score_and_prints_each_match(
    target: str, fake: FakeDedupServicer, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.responses["FindSimilar"] = dedup_service_pb2.FindSimilarResponse(
        matches=[
            document_pb2.Match(
                document_id="001",
                relation=document_pb2.RELATION_REWRITE,
                score=0.8,
                jaccard=0.12,
                containment=0.7,
                match_containment=0.6,
                is_source=True,
                confidence=0.9,
                evidence=[document_pb2.Span(start=0, end=5, source_start=0, source_end=5)] * 3,
            )
        ]
    )

    assert run_dedup(target, "similar", "000", "--limit", "5", "--min-score", "0.25") == 0

    [request] = fake.received("FindSimilar", dedup_service_pb2.FindSimilarRequest)
    assert (request.WhichOneof("query"), request.document_id, request.limit, request.min_score) == (
        "document_id",
        "000",
        5,
        0.25,
    )
    assert capsys.readouterr().out.splitlines() == [
        "1 match for 000:",
        "  001  REWRITE  score 0.800  jaccard 0.120  containment 0.700/0.600"
        "  source of the query (confidence 0.900)  3 evidence spans",
    ]


def test_similar_by_text_or_file_sends_the_text(
    tmp_path: Path, target: str, fake: FakeDedupServicer, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "query.txt").write_text("from a file")

    assert run_dedup(target, "similar", "--text", "given inline") == 0
    assert run_dedup(target, "similar", "--file", str(tmp_path / "query.txt")) == 0

    requests = fake.received("FindSimilar", dedup_service_pb2.FindSimilarRequest)
    assert [(request.WhichOneof("query"), request.text) for request in requests] == [
        ("text", "given inline"),
        ("text", "from a file"),
    ]
    assert requests[0].limit == 10
    assert capsys.readouterr().out.splitlines() == ["no matches for the text", f"no matches for {tmp_path}/query.txt"]


@pytest.mark.parametrize(
    "args", [["similar"], ["similar", "a", "--text", "b"], ["similar", "--text", "a", "--file", "b"]]
)
def test_similar_without_exactly_one_query_is_a_usage_error(target: str, args: list[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        run_dedup(target, *args)
    assert raised.value.code == 2


def test_similar_json_wraps_the_matches_like_the_response(
    target: str, fake: FakeDedupServicer, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.responses["FindSimilar"] = dedup_service_pb2.FindSimilarResponse(
        matches=[document_pb2.Match(document_id="001", match_containment=0.5, is_source=True)]
    )

    assert run_dedup(target, "similar", "000", "--json") == 0

    (match,) = json.loads(capsys.readouterr().out)["matches"]
    assert (match["document_id"], match["match_containment"], match["is_source"]) == ("001", 0.5, True)
    # Fields at their default value are printed too, so a reader never has to know proto3's omissions.
    assert match["score"] == 0.0
    assert match["evidence"] == []


def test_provenance_prints_origin_sources_derivatives_and_chain(
    target: str, fake: FakeDedupServicer, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.responses["GetProvenance"] = dedup_service_pb2.GetProvenanceResponse(
        origin_id="001",
        sources=[link("002", "000", document_pb2.RELATION_EXCERPT, 0.5, spans=2)],
        origin_chain=[
            link("002", "000", document_pb2.RELATION_EXCERPT, 0.5, spans=2),
            link("000", "001", document_pb2.RELATION_REWRITE, 0.8, spans=1),
        ],
    )

    assert run_dedup(target, "provenance", "002") == 0

    [request] = fake.received("GetProvenance", dedup_service_pb2.GetProvenanceRequest)
    assert request.document_id == "002"
    assert capsys.readouterr().out.splitlines() == [
        "origin: 001",
        "sources:",
        "  002 -> 000  EXCERPT  score 0.500  confidence 0.750  2 evidence spans",
        "derivatives: none",
        "origin chain:",
        "  002 -> 000  EXCERPT  score 0.500  confidence 0.750  2 evidence spans",
        "  000 -> 001  REWRITE  score 0.800  confidence 0.750  1 evidence span",
    ]


def test_provenance_of_an_origin_says_so(
    target: str, fake: FakeDedupServicer, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.responses["GetProvenance"] = dedup_service_pb2.GetProvenanceResponse(
        derivatives=[link("001", "wire", document_pb2.RELATION_DUPLICATE, 0.95)]
    )

    assert run_dedup(target, "provenance", "wire") == 0

    assert capsys.readouterr().out.splitlines() == [
        "wire is an origin",
        "sources: none",
        "derivatives:",
        "  001 -> wire  DUPLICATE  score 0.950  confidence 0.750  1 evidence span",
        "origin chain: none",
    ]


def test_provenance_json_parses_and_uses_proto_field_names(
    target: str, fake: FakeDedupServicer, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.responses["GetProvenance"] = dedup_service_pb2.GetProvenanceResponse(
        origin_id="001", origin_chain=[link("000", "001", document_pb2.RELATION_REWRITE, 0.8)]
    )

    assert run_dedup(target, "provenance", "000", "--json") == 0

    out = capsys.readouterr().out
    answer = json.loads(out)
    assert answer["origin_id"] == "001"
    [chain_link] = answer["origin_chain"]
    assert (chain_link["document_id"], chain_link["source_id"]) == ("000", "001")
    # Proto3 JSON leaves out fields at their default, such as a span's start of 0.
    assert chain_link["evidence"] == [{"start": 0, "end": 10, "source_start": 5, "source_end": 15}]
    assert json_format.Parse(out, dedup_service_pb2.GetProvenanceResponse()) == fake.responses["GetProvenance"]


def test_cluster_prints_the_origin_then_members_as_a_tree(
    target: str, fake: FakeDedupServicer, capsys: pytest.CaptureFixture[str]
) -> None:
    member = document_pb2.ClusterMember
    fake.responses["GetCluster"] = dedup_service_pb2.GetClusterResponse(
        origin_id="001",
        members=[
            member(document_id="001"),
            member(document_id="000", relation=document_pb2.RELATION_REWRITE, source_id="001", depth=1),
            member(document_id="002", relation=document_pb2.RELATION_EXCERPT, source_id="001", depth=1),
            member(document_id="005", relation=document_pb2.RELATION_DUPLICATE, source_id="000", depth=2),
        ],
    )

    assert run_dedup(target, "cluster", "005") == 0

    assert fake.received("GetCluster", dedup_service_pb2.GetClusterRequest)[0].document_id == "005"
    assert capsys.readouterr().out.splitlines() == [
        "origin: 001 (4 members)",
        "001  (origin)",
        "  000  REWRITE",
        "    005  DUPLICATE",
        "  002  EXCERPT",
    ]


def test_cluster_member_whose_source_is_missing_is_still_shown_at_its_depth() -> None:
    response = dedup_service_pb2.GetClusterResponse(
        origin_id="001",
        members=[
            document_pb2.ClusterMember(document_id="001"),
            document_pb2.ClusterMember(
                document_id="009", relation=document_pb2.RELATION_EXCERPT, source_id="gone", depth=2
            ),
        ],
    )

    assert format_cluster(response).splitlines()[-1] == "    009  EXCERPT of gone"


def test_compare_reads_both_files_and_prints_relation_direction_scores_and_span_excerpts(
    tmp_path: Path, target: str, fake: FakeDedupServicer, capsys: pytest.CaptureFixture[str]
) -> None:
    text_a = "Breaking: shares of Acme fell 5% on Monday after the recall."
    text_b = "Reuters - Shares of Acme fell 5% on Monday after the recall of its cars, the company said in a statement."
    (tmp_path / "a.txt").write_text(text_a)
    (tmp_path / "b.txt").write_text(text_b)
    fake.responses["Compare"] = dedup_service_pb2.CompareResponse(
        relation=document_pb2.RELATION_EXCERPT,
        direction=dedup_service_pb2.DIRECTION_A_FROM_B,
        direction_basis=document_pb2.DIRECTION_BASIS_CONTAINMENT,
        score=0.7,
        jaccard=0.3,
        containment_a=0.9,
        containment_b=0.4,
        confidence=0.8,
        evidence=[document_pb2.Span(start=10, end=len(text_a), source_start=9, source_end=len(text_b))],
    )

    assert run_dedup(target, "compare", str(tmp_path / "a.txt"), str(tmp_path / "b.txt")) == 0

    [request] = fake.received("Compare", dedup_service_pb2.CompareRequest)
    assert (request.text_a, request.text_b) == (text_a, text_b)
    assert capsys.readouterr().out.splitlines() == [
        f"a: {tmp_path}/a.txt",
        f"b: {tmp_path}/b.txt",
        "relation: EXCERPT",
        "direction: a derives from b (basis CONTAINMENT, confidence 0.800)",
        "score 0.700  jaccard 0.300  containment a 0.900  containment b 0.400",
        "evidence: 1 span",
        f'  a[10:{len(text_a)}] "shares of Acme fell 5% on Monday after the recall."',
        f'  b[9:{len(text_b)}] "Shares of Acme fell 5% on Monday after the recall of its car…"',
    ]


def test_compare_takes_texts_inline_and_reports_unrelated_texts(
    target: str, fake: FakeDedupServicer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_dedup(target, "compare", "--text-a", "one text", "--text-b", "another") == 0

    [request] = fake.received("Compare", dedup_service_pb2.CompareRequest)
    assert (request.text_a, request.text_b) == ("one text", "another")
    out = capsys.readouterr().out.splitlines()
    assert out[2:4] == ["relation: none (the texts are unrelated)", "direction: neither derives from the other"]


@pytest.mark.parametrize("args", [["compare"], ["compare", "only-one.txt"], ["compare", "a", "b", "--text-a", "x"]])
def test_compare_without_two_texts_exits_2_and_sends_nothing(
    target: str, fake: FakeDedupServicer, args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_dedup(target, *args) == 2

    assert fake.requests == []
    assert "compare needs two texts" in capsys.readouterr().err


def test_delete_prints_the_documents_whose_provenance_was_re_decided(
    target: str, fake: FakeDedupServicer, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.responses["DeleteDocument"] = dedup_service_pb2.DeleteDocumentResponse(affected_ids=["000", "002"])

    assert run_dedup(target, "delete", "001") == 0

    assert fake.received("DeleteDocument", dedup_service_pb2.DeleteDocumentRequest)[0].document_id == "001"
    assert capsys.readouterr().out.splitlines() == ["deleted 001", "re-decided the provenance of: 000, 002"]


def test_stats_prints_counts_limits_and_every_index_parameter(
    target: str, fake: FakeDedupServicer, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.responses["GetStats"] = dedup_service_pb2.GetStatsResponse(
        document_count=5,
        passage_count=120,
        link_count=3,
        store_bytes=3 * 1024 * 1024,
        max_text_bytes=1024 * 1024,
        max_batch_documents=256,
        resident_bytes=300 * 1024 * 1024,
        index_bytes=2 * 1024 * 1024,
        index_parameters=dedup_service_pb2.IndexParameters(num_perm=128, hash_scheme="affine32", seed=1),
    )

    assert run_dedup(target, "stats") == 0

    out = capsys.readouterr().out.splitlines()
    assert out[:8] == [
        "documents: 5",
        "passages: 120",
        "links: 3",
        "store size: 3.0 MiB (3145728 bytes)",
        "memory: 300.0 MiB (314572800 bytes) resident (the server and its workers), "
        "of which indexes 2.0 MiB (2097152 bytes)",
        "largest text: 1.0 MiB (1048576 bytes)",
        "largest batch: 256 documents",
        "index parameters:",
    ]
    assert out[8:11] == ["  num_perm: 128", "  hash_scheme: affine32", "  hash_function: "]
    assert len(out) == 8 + len(dedup_service_pb2.IndexParameters.DESCRIPTOR.fields)


def test_stats_say_when_the_server_does_not_report_its_memory(
    target: str, fake: FakeDedupServicer, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.responses["GetStats"] = dedup_service_pb2.GetStatsResponse(document_count=5, index_bytes=4096)

    assert run_dedup(target, "stats") == 0

    assert "memory: not reported by the server (indexes 4.0 KiB (4096 bytes))" in capsys.readouterr().out.splitlines()


def test_stats_json_keeps_int64_fields_as_proto_json_strings(
    target: str, fake: FakeDedupServicer, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.responses["GetStats"] = dedup_service_pb2.GetStatsResponse(document_count=5, max_batch_documents=256)

    assert run_dedup(target, "stats", "--json") == 0

    answer = json.loads(capsys.readouterr().out)
    assert (answer["document_count"], answer["max_batch_documents"]) == ("5", 256)


def test_get_prints_metadata_and_the_first_lines_of_text(
    target: str, fake: FakeDedupServicer, capsys: pytest.CaptureFixture[str]
) -> None:
    text = "headline " * 40 + "\n" + "\n".join(f"line {number}" for number in range(1, 13))
    document = make_document(
        "wire-1", text, source="Reuters", title="Acme recall", published_at="2017-03-08", metadata={"lang": "en"}
    )
    fake.responses["GetDocument"] = dedup_service_pb2.GetDocumentResponse(document=document)

    assert run_dedup(target, "get", "wire-1") == 0

    assert capsys.readouterr().out.splitlines() == [
        "id: wire-1",
        "source: Reuters",
        "title: Acme recall",
        "published_at: 2017-03-08T00:00:00Z",
        "metadata:",
        "  lang: en",
        f"text: {len(text)} characters, 13 lines",
        "  | " + "headline " * 17 + "headlin…",  # cut at 160 characters
        *(f"  | line {number}" for number in range(1, 10)),
        "  … 3 more lines",
    ]


def write_dataset(directory: Path, count: int, truth: list[dict[str, object]]) -> list[str]:
    ids = [f"doc-{number}" for number in range(count)]
    directory.mkdir()
    records = [
        {
            "id": document_id,
            "text": f"text of {document_id}",
            "meta": {"source": "Reuters", "published_at": "2017-03-08"},
        }
        for document_id in ids
    ]
    (directory / "documents.jsonl").write_text("".join(json.dumps(record) + "\n" for record in records))
    (directory / "truth.jsonl").write_text("".join(json.dumps(row) + "\n" for row in truth))
    return ids


def test_eval_ingests_a_seeded_shuffle_in_batches_within_the_servers_limit(
    tmp_path: Path, target: str, fake: FakeDedupServicer
) -> None:
    ids = write_dataset(tmp_path / "set", 6, [{"id": "doc-1", "origin": "doc-0", "relation": "excerpt"}])
    fake.responses["GetStats"] = dedup_service_pb2.GetStatsResponse(max_batch_documents=2)

    for seed in ("3", "3", "4"):
        assert run_dedup(target, "eval", str(tmp_path / "set"), "--seed", seed, "--batch-size", "4") == 0
    batches = fake.received("IngestDocuments", dedup_service_pb2.IngestDocumentsRequest)

    assert [len(batch.documents) for batch in batches] == [2, 2, 2] * 3
    orders = [[document.id for batch in batches[run : run + 3] for document in batch.documents] for run in (0, 3, 6)]
    # The same seed gives the same order, another seed another one; every document is sent once either way.
    assert orders[0] == orders[1] != orders[2]
    assert orders[0] != ids
    assert sorted(orders[0]) == sorted(orders[2]) == ids
    # The dataset's meta is mapped onto the Document as `dedup ingest` maps it.
    document = batches[0].documents[0]
    assert (document.source, document.published_at.ToJsonString()) == ("Reuters", "2017-03-08T00:00:00Z")


def test_eval_predictions_come_from_get_provenance_and_the_table_shows_the_figures(
    tmp_path: Path, target: str, fake: FakeDedupServicer, capsys: pytest.CaptureFixture[str]
) -> None:
    truth: list[dict[str, object]] = [
        {"id": "doc-1", "origin": "doc-0", "relation": "excerpt"},
        {"id": "doc-0", "origin": None, "relation": "original"},
    ]
    write_dataset(tmp_path / "set", 2, truth)
    fake.responses["GetProvenance"] = dedup_service_pb2.GetProvenanceResponse(
        origin_id="doc-0", sources=[link("doc-1", "doc-0", document_pb2.RELATION_EXCERPT, 0.5, spans=2)]
    )
    predictions = tmp_path / "predictions.jsonl"

    assert run_dedup(target, "eval", str(tmp_path / "set"), "--predictions", str(predictions)) == 0

    asked = fake.received("GetProvenance", dedup_service_pb2.GetProvenanceRequest)
    assert [request.document_id for request in asked] == ["doc-1", "doc-0"]
    first = json.loads(predictions.read_text().splitlines()[0])
    span = {"start": 0, "end": 10, "source_start": 5, "source_end": 15}
    assert first == {
        "id": "doc-1",
        "origin": "doc-0",
        "relation": "excerpt",
        "sources": [{"source_id": "doc-0", "relation": "excerpt", "score": 0.5, "evidence": [span, span]}],
    }
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "dataset: " + str(tmp_path / "set") + " (2 documents, 2 truth rows)"
    assert out[1].startswith("ingest: 2 documents in ")
    assert "documents/s (shuffled with seed 1): 2 created, 0 unchanged, 0 replaced, 0 rejected" in out[1]
    assert "  origin accuracy    1.0000  1 of 1 derived" in out
    assert "  relations (truth -> found): excerpt -> excerpt 1" in out


def test_eval_of_pair_truth_prints_pair_and_passage_figures(
    tmp_path: Path, target: str, fake: FakeDedupServicer, capsys: pytest.CaptureFixture[str]
) -> None:
    passage = {"this_offset": 0, "this_length": 10, "source_offset": 5, "source_length": 10}
    write_dataset(
        tmp_path / "set", 2, [{"id": "doc-1", "candidate": "doc-0", "relation": "excerpt", "passages": [passage]}]
    )
    fake.responses["GetProvenance"] = dedup_service_pb2.GetProvenanceResponse(
        origin_id="doc-0", sources=[link("doc-1", "doc-0", document_pb2.RELATION_EXCERPT, 0.5)]
    )

    assert run_dedup(target, "eval", str(tmp_path / "set"), "--json") == 0

    scores = json.loads(capsys.readouterr().out)["scores"]
    assert scores == {
        "level": "pair",
        "pairs": 1,
        "positives": 1,
        "precision": 1.0,
        "recall": 1.0,
        "f1": 1.0,
        "passage_precision": 1.0,
        "passage_recall": 1.0,
        "granularity": 1.0,
        "plagdet": 1.0,
    }


def test_eval_counts_documents_the_server_does_not_have_as_unanswered_and_exits_1(
    tmp_path: Path, target: str, fake: FakeDedupServicer, capsys: pytest.CaptureFixture[str]
) -> None:
    write_dataset(tmp_path / "set", 2, [{"id": "doc-1", "origin": "doc-0", "relation": "excerpt"}])
    fake.errors["GetProvenance"] = (grpc.StatusCode.NOT_FOUND, "no document has id 'doc-1'")

    assert run_dedup(target, "eval", str(tmp_path / "set"), "--json") == 1

    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["provenance"]["not_found"] == 1
    assert report["scores"]["origin_accuracy"] == 0.0
    assert "warning: documents of the truth not on the server: 1, e.g. 'doc-1'" in captured.err


def test_eval_of_a_directory_without_a_dataset_exits_2_and_sends_nothing(
    tmp_path: Path, target: str, fake: FakeDedupServicer, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty").mkdir()

    assert run_dedup(target, "eval", str(tmp_path / "empty")) == 2
    assert run_dedup(target, "eval", str(tmp_path / "absent")) == 2
    assert run_dedup(target, "eval", str(tmp_path / "empty"), "--predictions", str(tmp_path / "no" / "p.jsonl")) == 2

    assert fake.requests == []
    err = capsys.readouterr().err.splitlines()
    assert err[0].endswith("documents.jsonl: no such file or directory")
    assert err[1].endswith("absent: not a directory with documents.jsonl and truth.jsonl")
    assert err[2].endswith("p.jsonl: no such directory to write the predictions in")


def test_eval_truth_line_that_is_malformed_names_file_and_line(
    tmp_path: Path, target: str, capsys: pytest.CaptureFixture[str]
) -> None:
    write_dataset(tmp_path / "set", 1, [{"id": "doc-0", "relation": "original"}])
    with (tmp_path / "set" / "truth.jsonl").open("a") as handle:
        handle.write('{"id": 7}\n')

    assert run_dedup(target, "eval", str(tmp_path / "set")) == 2

    assert capsys.readouterr().err == f'error: {tmp_path / "set" / "truth.jsonl"}:2: "id" must be a string, got 7\n'


def test_server_error_exits_1_with_code_and_details_on_stderr(
    target: str, fake: FakeDedupServicer, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.errors["GetProvenance"] = (grpc.StatusCode.NOT_FOUND, "no document has id 'nope'")

    assert run_dedup(target, "provenance", "nope") == 1

    captured = capsys.readouterr()
    assert captured.err == "error: NOT_FOUND: no document has id 'nope'\n"
    assert captured.out == ""


def test_unreachable_server_exits_1_naming_the_target(capsys: pytest.CaptureFixture[str]) -> None:
    # A port that was just free: nothing listens there, so the connection is refused at once.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    assert run_dedup(f"127.0.0.1:{port}", "--timeout", "5", "stats") == 1

    err = capsys.readouterr().err
    assert err.startswith("error: UNAVAILABLE: ")
    assert f"is a dedup server listening on 127.0.0.1:{port}?" in err


def test_global_options_are_accepted_after_the_subcommand(
    target: str, fake: FakeDedupServicer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["stats", "--target", target, "--json", "--timeout", "9"]) == 0

    assert json.loads(capsys.readouterr().out)["document_count"] == "0"
    [remaining] = fake.time_remaining
    assert remaining is not None
    assert 0 < remaining <= 9.5


def test_target_comes_from_dedup_target_when_not_given(
    target: str, fake: FakeDedupServicer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEDUP_TARGET", target)

    assert main(["stats"]) == 0

    assert len(fake.requests) == 1


def test_python_m_client_runs_the_command(
    target: str, fake: FakeDedupServicer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.argv", ["dedup", "--target", target, "stats"])

    with pytest.raises(SystemExit) as raised:
        runpy.run_module("client", run_name="__main__")

    assert raised.value.code == 0
    assert len(fake.requests) == 1

"""The status-code contract: bad input gets a precise status and a message that says what to fix."""

from collections.abc import Callable

import grpc
import pytest

from client import DedupClient
from client.errors import (
    DedupClientError,
    DocumentAlreadyExistsError,
    DocumentNotFoundError,
    InvalidArgumentError,
    ServerUnavailableError,
)
from dedup.v1 import dedup_service_pb2, dedup_service_pb2_grpc, document_pb2
from tests.e2e.conftest import ServerHandle, store_write_lock_held

GOOD_TEXT = "The council approved the new budget on Tuesday after a long debate about schools and roads."


def _document(doc_id: str, text: str = GOOD_TEXT) -> document_pb2.Document:
    return document_pb2.Document(id=doc_id, text=text)


@pytest.mark.parametrize(
    ("document", "fragment"),
    [
        (_document(""), "id is empty"),
        (_document("   "), "id is empty"),
        (_document("x" * 257), "at most 256"),
        (_document("bad\x07id"), "control characters"),
        (_document("a", ""), "text is empty"),
        (_document("a", " \n\t "), "text is empty"),
        (_document("a", "?!... --- ;;;"), "no content words"),
    ],
)
def test_invalid_document_is_invalid_argument_with_a_helpful_message(
    dedup_client: DedupClient, document: document_pb2.Document, fragment: str
) -> None:
    with pytest.raises(InvalidArgumentError) as raised:
        dedup_client.ingest([document])
    assert raised.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert fragment in raised.value.details
    assert dedup_client.stats().document_count == 0


def test_text_over_the_size_limit_is_invalid_argument(server: ServerHandle) -> None:
    server.settings_overrides = {"max_text_bytes": 1000}
    address = server.restart()
    with DedupClient(address) as client:
        client.ingest([_document("at-limit", ("word " * 200)[:1000])])
        with pytest.raises(InvalidArgumentError, match="limit is 1000 bytes"):
            client.ingest([_document("over", "word " * 201)])
        assert client.stats().document_count == 1


def test_over_large_batch_is_invalid_argument_and_stores_nothing(server: ServerHandle) -> None:
    server.settings_overrides = {"max_batch_documents": 3}
    address = server.restart()
    with DedupClient(address) as client:
        with pytest.raises(InvalidArgumentError, match="at most 3 per request"):
            client.ingest([_document(f"d{i}") for i in range(4)])
        assert client.stats().document_count == 0


def test_empty_batch_is_invalid_argument(dedup_client: DedupClient) -> None:
    with pytest.raises(InvalidArgumentError, match="at least one document"):
        dedup_client.ingest([])


def test_a_bad_document_in_a_batch_does_not_lose_the_good_ones(dedup_client: DedupClient) -> None:
    results = dedup_client.ingest([_document("good-1"), _document("", GOOD_TEXT), _document("good-2", "Other words.")])
    assert [r.status for r in results] == [
        dedup_service_pb2.INGEST_STATUS_CREATED,
        dedup_service_pb2.INGEST_STATUS_REJECTED,
        dedup_service_pb2.INGEST_STATUS_CREATED,
    ]
    assert results[1].error_code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert "documents[1].id is empty" in results[1].error_message
    assert dedup_client.get_document("good-1").document.text == GOOD_TEXT
    assert dedup_client.stats().document_count == 2


def test_same_id_with_other_text_is_already_exists_unless_replace(dedup_client: DedupClient) -> None:
    dedup_client.ingest([_document("a")])
    with pytest.raises(DocumentAlreadyExistsError, match="set replace"):
        dedup_client.ingest([_document("a", "A different text about harbours and ships.")])
    assert dedup_client.get_document("a").document.text == GOOD_TEXT
    (replaced,) = dedup_client.ingest([_document("a", "A different text about harbours and ships.")], replace=True)
    assert replaced.status == dedup_service_pb2.INGEST_STATUS_REPLACED
    assert dedup_client.get_document("a").document.text.startswith("A different text")


def test_an_ingest_kept_waiting_by_another_process_is_unavailable_and_stores_nothing(server: ServerHandle) -> None:
    server.settings_overrides = {"busy_timeout_seconds": 0.5}
    address = server.restart()
    with DedupClient(address) as client:
        with store_write_lock_held(server.data_dir):
            with pytest.raises(ServerUnavailableError, match=r"held the write lock .* for 0\.5 s") as raised:
                client.ingest([_document("waited")])
            assert raised.value.code == grpc.StatusCode.UNAVAILABLE
        assert client.stats().document_count == 0
        # The index let go of it too: its own text finds nothing.
        assert list(client.find_similar(text=GOOD_TEXT)) == []
        (stored,) = client.ingest([_document("waited")])
        assert stored.status == dedup_service_pb2.INGEST_STATUS_CREATED


def test_same_id_twice_in_one_batch_rejects_the_second(dedup_client: DedupClient) -> None:
    results = dedup_client.ingest([_document("a"), _document("a", "Another text entirely, with words.")])
    assert [r.status for r in results] == [
        dedup_service_pb2.INGEST_STATUS_CREATED,
        dedup_service_pb2.INGEST_STATUS_REJECTED,
    ]
    assert "more than once" in results[1].error_message


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.get_document("missing"),
        lambda c: c.delete("missing"),
        lambda c: c.provenance("missing"),
        lambda c: c.cluster("missing"),
        lambda c: c.find_similar(document_id="missing"),
    ],
    ids=["GetDocument", "DeleteDocument", "GetProvenance", "GetCluster", "FindSimilar"],
)
def test_unknown_id_is_not_found_everywhere(dedup_client: DedupClient, call: Callable[[DedupClient], object]) -> None:
    with pytest.raises(DocumentNotFoundError, match="no document has id 'missing'"):
        call(dedup_client)


@pytest.mark.parametrize(
    ("request_message", "fragment"),
    [
        (dedup_service_pb2.FindSimilarRequest(), "set the query"),
        (dedup_service_pb2.FindSimilarRequest(text=""), "text is empty"),
        (dedup_service_pb2.FindSimilarRequest(text=GOOD_TEXT, limit=-1), "limit is -1"),
        (dedup_service_pb2.FindSimilarRequest(text=GOOD_TEXT, limit=10**6), "at most 1000"),
        (dedup_service_pb2.FindSimilarRequest(text=GOOD_TEXT, min_score=1.5), "min_score is 1.5"),
        (dedup_service_pb2.FindSimilarRequest(text=GOOD_TEXT, min_score=float("nan")), "min_score is nan"),
        (dedup_service_pb2.FindSimilarRequest(document_id=""), "document_id is empty"),
    ],
)
def test_bad_find_similar_queries_are_invalid_argument(
    server_address: str, request_message: dedup_service_pb2.FindSimilarRequest, fragment: str
) -> None:
    with grpc.insecure_channel(server_address) as channel:
        stub = dedup_service_pb2_grpc.DedupServiceStub(channel)
        with pytest.raises(grpc.RpcError) as raised:
            stub.FindSimilar(request_message, timeout=10)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert fragment in (raised.value.details() or "")


def test_compare_with_an_empty_text_is_invalid_argument(dedup_client: DedupClient) -> None:
    with pytest.raises(InvalidArgumentError, match="text_b is empty"):
        dedup_client.compare(GOOD_TEXT, "")


def test_hostile_but_valid_input_never_yields_internal(dedup_client: DedupClient) -> None:
    texts = [
        "\x00\x01 control \x02 characters \x00 in the middle of words",
        "مرحبا بالعالم هذا نص عربي من اليمين إلى اليسار",
        "zero\u200bwidth\u200bjoiners and emoji 🎉🎉 everywhere 👍",
        "这是一个没有空格的中文句子用于测试复制检测是否有效",
        "x" * 100_000,
    ]
    codes = []
    for index, text in enumerate(texts):
        try:
            dedup_client.ingest([_document(f"hostile-{index}", text)])
            dedup_client.find_similar(text=text)
            dedup_client.compare(text, text)
        except DedupClientError as error:
            codes.append(error.code)
    assert grpc.StatusCode.INTERNAL not in codes
    assert grpc.StatusCode.UNKNOWN not in codes


def test_chinese_copy_without_spaces_is_found(dedup_client: DedupClient) -> None:
    original = (
        "北京时间昨天晚上，国家统计局发布了最新的经济数据。数据显示，第三季度国内生产总值同比增长百分之五。"
        "专家认为，消费和投资的回暖是推动经济增长的主要原因。与此同时，出口增速有所放缓。"
    )
    dedup_client.ingest([_document("zh-original", original)])
    matches = dedup_client.find_similar(text="据报道，" + original[:60])
    assert [m.document_id for m in matches] == ["zh-original"]

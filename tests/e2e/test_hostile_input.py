"""Hostile input over the wire: every request succeeds or gets a precise status, and a refusal changes nothing.

Property tests send random requests to every RPC of one real server with small limits (so that random sizes cross
them); the named cases below them each pin down one kind of input the issue lists.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Final, TypeVar

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_health.v1 import health_pb2
from hypothesis import event, given, settings
from hypothesis import strategies as st

from client import (
    DeadlineExceededError,
    DedupClient,
    DocumentNotFoundError,
    InvalidArgumentError,
    ResourceExhaustedError,
    make_document,
)
from dedup.v1 import dedup_service_pb2, dedup_service_pb2_grpc, document_pb2
from tests.e2e.conftest import ServerHandle, health_status, store_write_lock_held

_ResponseT = TypeVar("_ResponseT")

# Limits of the property-test server: small, so that random requests cross every one of them.
MAX_TEXT_BYTES: Final = 8_000
MAX_BATCH_DOCUMENTS: Final = 16
MAX_ID_LENGTH: Final = 64
MAX_METADATA_BYTES: Final = 2_000
MAX_MESSAGE_BYTES: Final = 80_000
LIMITS: Final = {
    "max_text_bytes": MAX_TEXT_BYTES,
    "max_batch_documents": MAX_BATCH_DOCUMENTS,
    "max_id_length": MAX_ID_LENGTH,
    "max_metadata_bytes": MAX_METADATA_BYTES,
    "max_message_bytes": MAX_MESSAGE_BYTES,
}

# What a request may end with: success, or a status that names the caller's mistake. Never INTERNAL or UNKNOWN.
PRECISE: Final = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
}
PRECISE_NUMBERS: Final = {code.value[0] for code in PRECISE}

PROSE: Final = (
    "The city council approved the harbour budget on Tuesday after a long debate. "
    "Ferry operators said the new pier would shorten crossings to the islands. "
    "Fishing crews asked for more berths and cheaper fuel before the winter season. "
    "The mayor promised a second vote on the fuel subsidy next month."
)
HOSTILE_TEXTS: Final = (
    "",
    "   \n\t  ",
    "?!... --- ;;; ,,, ''' \"\"\" ((( )))",
    "\x00",
    "Markets\x00 fell\x01 sharply\x1b[31m on Monday\x7f after the bank raised rates.\r\n\x0cTraders shrugged.",
    "\u202eمرحبا بالعالم\u202c هذا نص عربي عن الاقتصاد. שלום עולם, זהו טקסט בעברית על הכלכלה.",
    "zero\u200bwidth\u200djoiners\ufeff and emoji 👍🏽 👨‍👩‍👧 🎉 everywhere in the harbour debate",
    "北京时间昨天晚上国家统计局发布了最新的经济数据数据显示第三季度国内生产总值同比增长百分之五",
    "昨日の午後東京の港区で新しい図書館の開館式が行われました区長は式典で話しました",
    "x" * 5_000,
    PROSE,
)
HOSTILE_IDS: Final = (
    "",
    " ",
    "\t\n",
    "a" * MAX_ID_LENGTH,
    "a" * (MAX_ID_LENGTH + 1),
    "/",
    "../../etc/passwd",
    "a/b//c/",
    "with spaces  inside ",
    "文書/ü/🙂",
    "\u202eevil",
    "id\x00nul",
    "id\x7fdel",
    "%s%n%x",
    "'; DROP TABLE documents; --",
)

# Hostile values are mixed with ordinary ones, so that batches are often partly accepted and lookups often hit.
plain_ids = st.from_regex(r"[a-d][0-9]?", fullmatch=True)
ids = st.one_of(plain_ids, plain_ids, st.sampled_from(HOSTILE_IDS), st.text(max_size=MAX_ID_LENGTH + 8))
prose = st.lists(st.sampled_from(PROSE.split()), min_size=8, max_size=120).map(" ".join)
texts = st.one_of(
    prose,
    prose,
    st.sampled_from(HOSTILE_TEXTS),
    st.text(max_size=300),
    # Around the text limit, in bytes of UTF-8.
    st.integers(MAX_TEXT_BYTES - 3, MAX_TEXT_BYTES + 3).map(lambda size: (PROSE * 100)[:size]),
)
timestamps = st.one_of(
    st.none(),
    st.builds(Timestamp, seconds=st.integers(0, 2_000_000_000)),
    st.builds(Timestamp, seconds=st.integers(-(2**63), 2**63 - 1), nanos=st.integers(-(2**31), 2**31 - 1)),
)
limits = st.one_of(st.integers(0, 20), st.integers(-2, 1002), st.integers(-(2**31), 2**31 - 1))
scores = st.one_of(st.floats(0.0, 1.0), st.floats())


@st.composite
def documents(draw: st.DrawFn, *, wild_fields: bool) -> document_pb2.Document:
    """A document; with `wild_fields`, its url and published_at may be out of bounds too."""
    document = document_pb2.Document(
        id=draw(ids),
        text=draw(texts),
        source=draw(st.text(max_size=20)),
        url=draw(st.one_of(st.text(max_size=20), st.just("u" * (MAX_METADATA_BYTES + 1)))) if wild_fields else "",
        title=draw(st.text(max_size=20)),
        metadata=draw(st.dictionaries(st.text(max_size=10), st.text(max_size=30), max_size=3)),
    )
    published_at = draw(timestamps if wild_fields else st.builds(Timestamp, seconds=st.integers(0, 2_000_000_000)))
    if published_at is not None:
        document.published_at.CopyFrom(published_at)
    return document


@st.composite
def batches(draw: st.DrawFn) -> list[document_pb2.Document]:
    # A field that cannot be decoded refuses the whole request; kept to one batch in four, the others exercise
    # batches in which some documents are accepted and some rejected.
    wild_fields = draw(st.integers(0, 3)) == 0
    small = st.lists(documents(wild_fields=wild_fields), max_size=3)
    large = st.lists(
        documents(wild_fields=wild_fields), min_size=MAX_BATCH_DOCUMENTS - 1, max_size=MAX_BATCH_DOCUMENTS + 2
    )
    return draw(st.one_of(small, small, large))


@st.composite
def find_similar_requests(draw: st.DrawFn) -> dedup_service_pb2.FindSimilarRequest:
    request = dedup_service_pb2.FindSimilarRequest(limit=draw(limits), min_score=draw(scores))
    query = draw(st.sampled_from(["document_id", "text", None]))
    if query == "document_id":
        request.document_id = draw(ids)
    elif query == "text":
        request.text = draw(texts)
    return request


@pytest.fixture(scope="module")
def hostile_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    handle = ServerHandle(tmp_path_factory.mktemp("hostile") / "data", dict(LIMITS))
    handle.start()
    yield handle
    handle.stop()


@pytest.fixture(scope="module")
def channel(hostile_server: ServerHandle) -> Iterator[grpc.Channel]:
    # The channel may send more than the server takes, so that RESOURCE_EXHAUSTED is the server's answer.
    options = [("grpc.max_send_message_length", 4 * MAX_MESSAGE_BYTES)]
    with grpc.insecure_channel(hostile_server.address, options=options) as opened:
        yield opened


@pytest.fixture(scope="module")
def stub(channel: grpc.Channel) -> dedup_service_pb2_grpc.DedupServiceStub:
    return dedup_service_pb2_grpc.DedupServiceStub(channel)


def _outcome(call: Callable[[], _ResponseT]) -> tuple[grpc.StatusCode, str, _ResponseT | None]:
    try:
        return grpc.StatusCode.OK, "", call()
    except grpc.RpcError as error:
        if not isinstance(error, grpc.Call):
            raise
        return error.code(), error.details() or "", None


def _assert_precise(code: grpc.StatusCode, details: str) -> None:
    event(code.name)  # `pytest --hypothesis-show-statistics` shows how often each status came up
    assert code in PRECISE, f"{code.name}: {details}"
    if code != grpc.StatusCode.OK:
        assert len(details.strip()) > 10, f"{code.name} without a message that says what to fix"


def _counts(stub: dedup_service_pb2_grpc.DedupServiceStub) -> tuple[int, int, int]:
    stats = stub.GetStats(dedup_service_pb2.GetStatsRequest(), timeout=10)
    return stats.document_count, stats.passage_count, stats.link_count


def _assert_healthy(channel: grpc.Channel) -> None:
    assert health_status(channel) == health_pb2.HealthCheckResponse.SERVING


HYPOTHESIS = settings(max_examples=100, deadline=None)


@HYPOTHESIS
@given(batch=batches(), replace=st.booleans())
def test_any_ingest_succeeds_or_is_refused_precisely_and_a_refusal_stores_nothing(
    stub: dedup_service_pb2_grpc.DedupServiceStub,
    channel: grpc.Channel,
    batch: list[document_pb2.Document],
    replace: bool,
) -> None:
    before = _counts(stub)
    request = dedup_service_pb2.IngestDocumentsRequest(documents=batch, replace=replace)
    code, details, response = _outcome(lambda: stub.IngestDocuments(request, timeout=30))
    _assert_precise(code, details)
    if response is None:
        assert _counts(stub) == before
    else:
        for result in response.results:
            if result.status == dedup_service_pb2.INGEST_STATUS_REJECTED:
                assert result.error_code in PRECISE_NUMBERS - {0}
                assert len(result.error_message) > 10
        created = sum(result.status == dedup_service_pb2.INGEST_STATUS_CREATED for result in response.results)
        assert _counts(stub)[0] == before[0] + created
    _assert_healthy(channel)


@HYPOTHESIS
@given(request=find_similar_requests())
def test_any_find_similar_succeeds_or_is_refused_precisely_and_stores_nothing(
    stub: dedup_service_pb2_grpc.DedupServiceStub, channel: grpc.Channel, request: dedup_service_pb2.FindSimilarRequest
) -> None:
    before = _counts(stub)
    code, details, response = _outcome(lambda: stub.FindSimilar(request, timeout=30))
    _assert_precise(code, details)
    if response is not None:
        limit = request.limit or 10
        assert len(response.matches) <= limit
        assert all(match.score >= request.min_score for match in response.matches)
    assert _counts(stub) == before
    _assert_healthy(channel)


@HYPOTHESIS
@given(rpc=st.sampled_from(["GetDocument", "GetProvenance", "GetCluster", "DeleteDocument"]), document_id=ids)
def test_any_id_lookup_or_delete_succeeds_or_is_refused_precisely(
    stub: dedup_service_pb2_grpc.DedupServiceStub, channel: grpc.Channel, rpc: str, document_id: str
) -> None:
    calls: dict[str, Callable[[], object]] = {
        "GetDocument": lambda: stub.GetDocument(
            dedup_service_pb2.GetDocumentRequest(document_id=document_id), timeout=30
        ),
        "GetProvenance": lambda: stub.GetProvenance(
            dedup_service_pb2.GetProvenanceRequest(document_id=document_id), timeout=30
        ),
        "GetCluster": lambda: stub.GetCluster(dedup_service_pb2.GetClusterRequest(document_id=document_id), timeout=30),
        "DeleteDocument": lambda: stub.DeleteDocument(
            dedup_service_pb2.DeleteDocumentRequest(document_id=document_id), timeout=30
        ),
    }
    before = _counts(stub)
    code, details, response = _outcome(calls[rpc])
    _assert_precise(code, details)
    deleted = rpc == "DeleteDocument" and response is not None
    assert _counts(stub)[0] == before[0] - deleted
    _assert_healthy(channel)


@HYPOTHESIS
@given(text_a=texts, text_b=texts)
def test_any_compare_succeeds_or_is_refused_precisely_and_stores_nothing(
    stub: dedup_service_pb2_grpc.DedupServiceStub, channel: grpc.Channel, text_a: str, text_b: str
) -> None:
    before = _counts(stub)
    request = dedup_service_pb2.CompareRequest(text_a=text_a, text_b=text_b)
    code, details, response = _outcome(lambda: stub.Compare(request, timeout=30))
    _assert_precise(code, details)
    if response is not None:
        assert 0.0 <= response.score <= 1.0
    assert _counts(stub) == before
    _assert_healthy(channel)


DEDUP_METHODS: Final = [
    f"/dedup.v1.DedupService/{method.name}"
    for method in dedup_service_pb2.DESCRIPTOR.services_by_name["DedupService"].methods
]


@settings(max_examples=150, deadline=None)
@given(method=st.sampled_from([*DEDUP_METHODS, "/grpc.health.v1.Health/Check"]), payload=st.binary(max_size=300))
def test_any_bytes_sent_to_any_method_are_answered_precisely(
    stub: dedup_service_pb2_grpc.DedupServiceStub, channel: grpc.Channel, method: str, payload: bytes
) -> None:
    before = _counts(stub)
    raw: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(method)
    code, details, _ = _outcome(lambda: raw(payload, timeout=30))
    _assert_precise(code, details)
    if not method.endswith(("IngestDocuments", "DeleteDocument")):
        assert _counts(stub) == before
    _assert_healthy(channel)


# Named cases.


@pytest.fixture
def limited_client(server: ServerHandle) -> Iterator[DedupClient]:
    """A client of a fresh server with the small limits above."""
    server.settings_overrides = dict(LIMITS)
    with DedupClient(server.restart()) as client:
        yield client


def _at_size(size: int) -> str:
    """Prose of exactly `size` bytes of UTF-8."""
    return (PROSE * (size // len(PROSE) + 1))[:size]


@pytest.mark.parametrize(
    "text", ["", " ", "\n\t \r\n", "\u3000\u00a0 "], ids=["empty", "space", "whitespace", "unicode"]
)
def test_empty_and_whitespace_only_text_is_invalid_argument_everywhere(dedup_client: DedupClient, text: str) -> None:
    with pytest.raises(InvalidArgumentError, match=r"documents\[0\]\.text is empty or only whitespace"):
        dedup_client.ingest([make_document("a", text)])
    with pytest.raises(InvalidArgumentError, match="text is empty"):
        dedup_client.find_similar(text=text)
    with pytest.raises(InvalidArgumentError, match="text_a is empty"):
        dedup_client.compare(text, PROSE)
    assert dedup_client.stats().document_count == 0


def test_a_text_at_the_size_limit_is_served_and_one_byte_over_is_invalid_argument(
    limited_client: DedupClient,
) -> None:
    at_limit, over = _at_size(MAX_TEXT_BYTES), _at_size(MAX_TEXT_BYTES + 1)
    [result] = limited_client.ingest([make_document("at-limit", at_limit)])
    assert result.status == dedup_service_pb2.INGEST_STATUS_CREATED
    assert limited_client.find_similar(text=at_limit)[0].document_id == "at-limit"
    assert limited_client.compare(at_limit, at_limit).score > 0.9
    message = f"is {MAX_TEXT_BYTES + 1} bytes of UTF-8; the limit is {MAX_TEXT_BYTES} bytes: split the text"
    with pytest.raises(InvalidArgumentError, match=message):
        limited_client.ingest([make_document("over", over)])
    with pytest.raises(InvalidArgumentError, match=message):
        limited_client.find_similar(text=over)
    with pytest.raises(InvalidArgumentError, match=message):
        limited_client.compare(at_limit, over)
    assert limited_client.stats().document_count == 1


def test_the_size_limit_counts_utf8_bytes_not_characters(limited_client: DedupClient) -> None:
    # 'é' is two bytes: half as many characters as the limit already go over it.
    text = "é" * (MAX_TEXT_BYTES // 2 + 1)
    assert len(text) < MAX_TEXT_BYTES < len(text.encode("utf-8"))
    with pytest.raises(InvalidArgumentError, match="bytes of UTF-8"):
        limited_client.ingest([make_document("accents", text)])


def test_a_text_over_the_default_limit_is_refused_before_any_work(dedup_client: DedupClient) -> None:
    limit = dedup_client.stats().max_text_bytes
    assert limit == 4 * 1024 * 1024
    with pytest.raises(InvalidArgumentError, match=f"the limit is {limit} bytes"):
        dedup_client.ingest([make_document("huge", "a" * (limit + 1))])


def test_a_five_megabyte_single_word_is_refused_at_the_default_limit(dedup_client: DedupClient) -> None:
    word = "a" * 5_000_000
    with pytest.raises(InvalidArgumentError, match="the limit is 4194304 bytes"):
        dedup_client.ingest([make_document("word", word)])
    with pytest.raises(InvalidArgumentError, match="the limit is 4194304 bytes"):
        dedup_client.compare(word, word)


def test_a_five_megabyte_single_word_is_served_where_the_limit_allows_it(server: ServerHandle) -> None:
    server.settings_overrides = {"max_text_bytes": 8 * 1024 * 1024}
    word = "a" * 5_000_000
    with DedupClient(server.restart(), timeout=60) as client:
        [result] = client.ingest([make_document("word", word)])
        assert result.status == dedup_service_pb2.INGEST_STATUS_CREATED
        assert client.get_document("word").document.text == word
        # One word is too little evidence of reuse for the comparison, so these find nothing; they must still be
        # answered, and quickly.
        client.find_similar(text=word)
        client.compare(word, word)
        client.find_similar(document_id="word")


@pytest.mark.parametrize("text", ["?!... --- ;;;", "…—–•·", "!!!\n???\n...", "$%&/()=*+~#'<>|"])
def test_only_punctuation_is_invalid_argument_saying_there_is_nothing_to_compare(
    dedup_client: DedupClient, text: str
) -> None:
    with pytest.raises(InvalidArgumentError, match="no content words"):
        dedup_client.ingest([make_document("a", text)])
    with pytest.raises(InvalidArgumentError, match="no content words"):
        dedup_client.find_similar(text=text)
    with pytest.raises(InvalidArgumentError, match="no content words"):
        dedup_client.compare(PROSE, text)


@pytest.mark.parametrize(
    "text",
    [
        HOSTILE_TEXTS[4],
        "\x00" + PROSE + "\x00",
        PROSE.replace(" ", "\x00 "),
        PROSE.replace(" ", "\u0085"),
    ],
    ids=["control-characters", "nul-around", "nul-between-words", "next-line"],
)
def test_nul_and_control_characters_are_stored_exactly_and_found(dedup_client: DedupClient, text: str) -> None:
    [result] = dedup_client.ingest([make_document("control", text)])
    assert result.status == dedup_service_pb2.INGEST_STATUS_CREATED
    assert dedup_client.get_document("control").document.text == text
    assert dedup_client.find_similar(text=text)[0].document_id == "control"


@pytest.mark.parametrize(
    "text",
    [
        HOSTILE_TEXTS[5],
        "\u202e" + PROSE + "\u202c",
        PROSE.replace("e", "e\u200b").replace("a", "a\u200d"),
        PROSE.replace(" ", " 👍🏽 ") + " 👨‍👩‍👧🎉",
    ],
    ids=["arabic-hebrew", "right-to-left-override", "zero-width", "emoji"],
)
def test_right_to_left_zero_width_and_emoji_text_is_stored_exactly_and_found(
    dedup_client: DedupClient, text: str
) -> None:
    [result] = dedup_client.ingest([make_document("unicode", text)])
    assert result.status == dedup_service_pb2.INGEST_STATUS_CREATED
    assert dedup_client.get_document("unicode").document.text == text
    assert dedup_client.find_similar(text=text)[0].document_id == "unicode"


CHINESE: Final = (
    "北京时间昨天晚上，国家统计局发布了最新的经济数据。数据显示，第三季度国内生产总值同比增长百分之五。"
    "专家认为，消费和投资的回暖是推动经济增长的主要原因。与此同时，出口增速有所放缓。"
    "分析人士指出，未来几个月的政策走向将取决于就业市场的表现。多家机构已经上调了全年增长预期。"
)
JAPANESE: Final = (
    "昨日の午後、東京の港区で新しい図書館の開館式が行われました。区長は式典で、子どもたちが本に親しむ場所を増やしたいと話しました。"
    "図書館には約十万冊の本が並び、週末には読み聞かせの会も開かれる予定です。建物は地元の建築家が設計し、屋上には小さな庭園があります。"
    "開館初日には千人以上の住民が訪れ、入口には長い列ができました。区は来年、同じような施設を北部にも建てる計画を発表しています。"
)


@pytest.mark.parametrize(
    ("original", "preface", "postscript"),
    [(CHINESE, "据报道，", "更多新闻请关注本台。"), (JAPANESE, "この記事は転載です。", "以上、編集部より。")],
    ids=["chinese", "japanese"],
)
def test_copies_in_scripts_without_spaces_are_found_and_traced_to_their_source(
    dedup_client: DedupClient, original: str, preface: str, postscript: str
) -> None:
    excerpt = original[len(original) // 5 : len(original) * 4 // 5]
    dedup_client.ingest([make_document("original", original, published_at="2020-01-01")])
    dedup_client.ingest([make_document("copy", preface + excerpt + postscript, published_at="2020-02-01")])
    assert dedup_client.provenance("copy").origin_id == "original"
    assert "original" in [match.document_id for match in dedup_client.find_similar(text=excerpt)]


@pytest.mark.parametrize(
    "document_id",
    ["a" * MAX_ID_LENGTH, "/", "a/b//c/", "../../etc/passwd", "with spaces  inside ", " leading", "文書/ü/🙂", "%s%n"],
)
def test_ids_with_slashes_spaces_and_unicode_work_exactly_as_given_everywhere(
    limited_client: DedupClient, document_id: str
) -> None:
    [result] = limited_client.ingest([make_document(document_id, PROSE)])
    assert result.document_id == document_id
    assert limited_client.get_document(document_id).document.id == document_id
    assert limited_client.provenance(document_id).origin_id == ""
    assert limited_client.cluster(document_id).origin_id == document_id
    assert limited_client.find_similar(text=PROSE)[0].document_id == document_id
    limited_client.find_similar(document_id=document_id)
    # Ids are compared exactly: no trimming, no path normalisation.
    for near in {document_id.strip(), document_id + "/", document_id.replace("//", "/")} - {document_id}:
        if len(near) <= MAX_ID_LENGTH:
            with pytest.raises(DocumentNotFoundError, match="no document has id"):
                limited_client.get_document(near)
    limited_client.delete(document_id)
    assert limited_client.stats().document_count == 0


@pytest.mark.parametrize(
    ("document_id", "message"),
    [
        ("", "is empty"),
        ("   ", "is empty"),
        ("a" * (MAX_ID_LENGTH + 1), f"at most {MAX_ID_LENGTH}"),
        ("a\x00b", "control"),
    ],
    ids=["empty", "spaces", "too-long", "nul"],
)
def test_empty_too_long_and_control_character_ids_are_invalid_argument_everywhere(
    limited_client: DedupClient, document_id: str, message: str
) -> None:
    calls: list[Callable[[], object]] = [
        lambda: limited_client.ingest([make_document(document_id, PROSE)]),
        lambda: limited_client.get_document(document_id),
        lambda: limited_client.delete(document_id),
        lambda: limited_client.find_similar(document_id=document_id),
        lambda: limited_client.provenance(document_id),
        lambda: limited_client.cluster(document_id),
    ]
    for call in calls:
        with pytest.raises(InvalidArgumentError, match=message):
            call()


def test_a_batch_over_the_document_limit_is_invalid_argument_and_stores_nothing(limited_client: DedupClient) -> None:
    batch = [make_document(f"d{number}", f"{PROSE} Number {number}.") for number in range(MAX_BATCH_DOCUMENTS + 1)]
    with pytest.raises(InvalidArgumentError, match=f"send at most {MAX_BATCH_DOCUMENTS} per request"):
        limited_client.ingest(batch)
    assert limited_client.stats().document_count == 0
    assert len(limited_client.ingest(batch[:MAX_BATCH_DOCUMENTS])) == MAX_BATCH_DOCUMENTS


def test_a_batch_over_the_message_limit_is_resource_exhausted_and_stores_nothing(limited_client: DedupClient) -> None:
    # Each document is within every limit, and so is their number; together they are more than one message holds.
    count = MAX_MESSAGE_BYTES // MAX_TEXT_BYTES + 1
    batch = [make_document(f"d{number}", _at_size(MAX_TEXT_BYTES)) for number in range(count)]
    assert sum(document.ByteSize() for document in batch) > MAX_MESSAGE_BYTES
    with pytest.raises(ResourceExhaustedError, match="larger than max"):
        limited_client.ingest(batch)
    assert limited_client.stats().document_count == 0


def test_metadata_over_its_limit_is_invalid_argument_and_stores_nothing(limited_client: DedupClient) -> None:
    bulky = make_document("bulky", PROSE, title="t" * MAX_METADATA_BYTES, metadata={"k": "v"})
    with pytest.raises(InvalidArgumentError, match=f"the limit is {MAX_METADATA_BYTES} bytes"):
        limited_client.ingest([bulky])
    assert limited_client.stats().document_count == 0


def test_a_published_at_out_of_range_is_invalid_argument(dedup_client: DedupClient) -> None:
    document = make_document("a", PROSE)
    document.published_at.seconds = 2**62
    with pytest.raises(InvalidArgumentError, match="published_at is out of range"):
        dedup_client.ingest([document])


@pytest.mark.parametrize(
    ("limit", "min_score"),
    [
        (-1, 0.0),
        (-(2**31), 0.0),
        (1001, 0.0),
        (2**31 - 1, 0.0),
        (0, -0.1),
        (0, 1.0001),
        (0, float("inf")),
        (0, float("-inf")),
        (0, float("nan")),
        (0, -1e-300),
    ],
)
def test_negative_or_huge_limits_and_scores_outside_0_to_1_are_invalid_argument(
    dedup_client: DedupClient, limit: int, min_score: float
) -> None:
    with pytest.raises(InvalidArgumentError, match=r"limit is|min_score is"):
        dedup_client.find_similar(text=PROSE, limit=limit, min_score=min_score)


@pytest.mark.parametrize(("limit", "min_score"), [(0, 0.0), (1, 0.9), (1000, 0.5), (0, -0.0)])
def test_limits_and_scores_at_their_bounds_are_served(dedup_client: DedupClient, limit: int, min_score: float) -> None:
    dedup_client.ingest([make_document("a", PROSE)])
    assert len(dedup_client.find_similar(text=PROSE, limit=limit, min_score=min_score)) == 1


@pytest.mark.parametrize("method", DEDUP_METHODS)
def test_bytes_that_are_not_a_valid_message_are_invalid_argument_not_internal(server_address: str, method: str) -> None:
    # Field 1 of every request is a string or a message; 0xff is never valid UTF-8, and 0x0a 0x7f claims 127
    # bytes that never come.
    with grpc.insecure_channel(server_address) as channel:
        raw: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(method)
        # GetStatsRequest has no fields, so its field 1 is an unknown field, kept as bytes without a UTF-8 check.
        invalid_utf8 = () if method.endswith("GetStats") else (b"\x0a\x02\xff\xfe",)
        for payload in (*invalid_utf8, b"\x0a\x7f", b"\xff\xff\xff\xff"):
            with pytest.raises(grpc.RpcError) as raised:
                raw(payload, timeout=5)
            assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "is not a valid message of its type" in (raised.value.details() or "")


def _prose_sentences(count: int, seed: int) -> str:
    rng = random.Random(seed)  # noqa: S311 - test data, not a secret
    syllables = ("ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "de", "par", "men", "gol", "tri", "sun", "bel")
    return " ".join(
        " ".join("".join(rng.choice(syllables) for _ in range(3)) for _ in range(rng.randint(10, 18))).capitalize()
        + "."
        for _ in range(count)
    )


def test_a_deadline_shorter_than_a_compare_is_deadline_exceeded_and_the_server_stays_healthy(
    server: ServerHandle,
) -> None:
    text = _prose_sentences(1500, seed=1)
    with DedupClient(server.address, timeout=0.05) as hurried, pytest.raises(DeadlineExceededError):
        hurried.compare(text, text)
    with grpc.insecure_channel(server.address) as channel:
        assert health_status(channel) == health_pb2.HealthCheckResponse.SERVING
    with DedupClient(server.address) as client:
        assert client.stats().document_count == 0


def test_an_ingest_past_its_deadline_is_stored_whole_or_not_at_all(server: ServerHandle) -> None:
    batch = [make_document(f"slow-{number}", _prose_sentences(200, seed=number)) for number in range(10)]
    # Another connection holds the store's write lock, so the ingest cannot finish inside its deadline however fast
    # the machine is (on a quiet one, this batch was stored within 0.1 s); it goes on waiting after the client gave up.
    with (
        store_write_lock_held(server.data_dir),
        DedupClient(server.address, timeout=0.5) as hurried,
        pytest.raises(DeadlineExceededError),
    ):
        hurried.ingest(batch)
    # Ingests take turns, so the second one starts after the first has committed or given up.
    with DedupClient(server.address, timeout=60) as client:
        statuses = {result.status for result in client.ingest(batch)}
        assert statuses in ({dedup_service_pb2.INGEST_STATUS_UNCHANGED}, {dedup_service_pb2.INGEST_STATUS_CREATED})
        assert client.stats().document_count == len(batch)

"""The tokens file and the token table: parsing, roles, constant-time lookup, and secrets kept out of messages."""

from pathlib import Path

import pytest

from server.rpc.interceptors import DEDUP_SERVICE, required_role
from server.rpc.tokens import MIN_TOKEN_LENGTH, Role, TokenTable, bearer_token, load_tokens

WRITER = "w" * MIN_TOKEN_LENGTH
READER = "r" * MIN_TOKEN_LENGTH + "-reader"


def _tokens_file(tmp_path: Path, content: str) -> Path:
    path = tmp_path / "tokens"
    path.write_text(content, encoding="utf-8")
    return path


def test_tokens_file_lines_give_each_token_its_role_and_skip_comments_and_blanks(tmp_path: Path) -> None:
    table = load_tokens(_tokens_file(tmp_path, f"# pipeline\n{WRITER} write\n\n   \n  {READER}\tREAD  \n"))
    assert len(table) == 2
    assert table.role_of(WRITER) is Role.WRITE
    assert table.role_of(READER) is Role.READ
    assert table.role_of("x" * MIN_TOKEN_LENGTH) is None
    assert table.role_of("") is None
    assert table.role_of(WRITER[:-1]) is None
    assert table.role_of(WRITER + "w") is None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (f"{WRITER}\n", "line 1: write a token and its role"),
        (f"# comment\n{WRITER} write extra\n", "line 2: write a token and its role"),
        (f"{WRITER} admin\n", "the role must be read or write, not 'admin'"),
        ("short write\n", f"shorter than {MIN_TOKEN_LENGTH} characters"),
        (f"{WRITER}é write\n", "printable ASCII"),
        (f"{WRITER} write\n{WRITER} read\n", "line 2: the token is listed twice"),
        ("# nothing but a comment\n\n", "lists no tokens"),
    ],
)
def test_a_malformed_tokens_file_names_the_line_and_never_the_token(tmp_path: Path, content: str, message: str) -> None:
    with pytest.raises(ValueError, match="tokens") as raised:
        load_tokens(_tokens_file(tmp_path, content))
    assert message in str(raised.value)
    assert WRITER not in str(raised.value)


def test_a_missing_tokens_file_is_a_value_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"cannot read the tokens file .*missing"):
        load_tokens(tmp_path / "missing")


def test_a_write_token_may_read_and_a_read_token_may_not_write() -> None:
    assert Role.WRITE.allows(Role.WRITE)
    assert Role.WRITE.allows(Role.READ)
    assert Role.READ.allows(Role.READ)
    assert not Role.READ.allows(Role.WRITE)


@pytest.mark.parametrize(
    ("values", "token"),
    [
        (["Bearer abc"], "abc"),
        (["bearer abc"], "abc"),
        (["BEARER   abc  "], "abc"),
        ([], None),
        ([""], None),
        (["Bearer"], None),
        (["Bearer "], None),
        (["Basic abc"], None),
        (["abc"], None),
        (["Bearer abc", "Bearer def"], None),
    ],
)
def test_the_bearer_token_comes_from_exactly_one_authorization_header(values: list[str], token: str | None) -> None:
    assert bearer_token(values) == token


def test_a_token_table_built_in_code_looks_up_like_a_loaded_one() -> None:
    table = TokenTable({WRITER: Role.WRITE})
    assert table.role_of(WRITER) is Role.WRITE
    assert table.role_of(READER) is None


@pytest.mark.parametrize(
    ("method", "role"),
    [
        (f"/{DEDUP_SERVICE}/IngestDocuments", Role.WRITE),
        (f"/{DEDUP_SERVICE}/DeleteDocument", Role.WRITE),
        (f"/{DEDUP_SERVICE}/GetStats", Role.READ),
        (f"/{DEDUP_SERVICE}/SomeFutureRpc", Role.WRITE),
        ("/grpc.health.v1.Health/Check", None),
        ("/grpc.health.v1.Health/Watch", None),
        ("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", Role.READ),
        ("/unknown.Service/Method", Role.READ),
    ],
)
def test_each_method_needs_the_role_its_effect_calls_for(method: str, role: Role | None) -> None:
    assert required_role(method) is role

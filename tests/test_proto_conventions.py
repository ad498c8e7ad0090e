"""Buf naming rules, checked on the compiled descriptors."""

import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Final

import pytest
from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor, FileDescriptor, MethodDescriptor

from dedup.v1 import dedup_service_pb2, document_pb2

PROTO_ROOT: Final = Path(__file__).resolve().parent.parent / "proto"
FILES: Final[tuple[FileDescriptor, ...]] = (document_pb2.DESCRIPTOR, dedup_service_pb2.DESCRIPTOR)

LOWER_SNAKE_CASE: Final = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)*")
UPPER_SNAKE_CASE: Final = re.compile(r"[A-Z][A-Z0-9]*(_[A-Z0-9]+)*")
PASCAL_CASE: Final = re.compile(r"[A-Z][a-zA-Z0-9]*")

# Repeated fields whose DESIGN.md contract names are collective nouns: the evidence is many spans, the chain many links.
COLLECTIVE_NOUNS: Final = frozenset({"evidence", "origin_chain"})

CONTRACT_RPCS: Final = (
    "IngestDocuments",
    "GetDocument",
    "DeleteDocument",
    "FindSimilar",
    "GetProvenance",
    "GetCluster",
    "Compare",
    "GetStats",
)

CONTRACT_FIELDS: Final[Mapping[str, tuple[str, ...]]] = {
    "Document": ("id", "text", "source", "url", "title", "published_at", "metadata"),
    "IngestDocumentsRequest": ("documents",),
    "IngestDocumentsResponse": ("results",),
    "IngestResult": ("document_id", "status", "links"),
    "GetDocumentRequest": ("document_id",),
    "GetDocumentResponse": ("document",),
    "DeleteDocumentRequest": ("document_id",),
    "FindSimilarRequest": ("document_id", "text", "limit", "min_score"),
    "FindSimilarResponse": ("matches",),
    "Match": ("document_id", "relation", "score", "jaccard", "containment", "evidence"),
    "GetProvenanceRequest": ("document_id",),
    "GetProvenanceResponse": ("origin_id", "sources", "derivatives", "origin_chain"),
    "GetClusterRequest": ("document_id",),
    "GetClusterResponse": ("origin_id", "members"),
    "CompareRequest": ("text_a", "text_b"),
    "CompareResponse": ("relation", "direction", "evidence"),
    "Link": ("document_id", "source_id", "relation", "score", "jaccard", "containment", "confidence", "evidence"),
    "Span": ("start", "end", "source_start", "source_end"),
}

CONTRACT_FIELD_TYPES: Final[Mapping[tuple[str, str], str]] = {
    ("IngestDocumentsRequest", "documents"): "repeated Document",
    ("IngestDocumentsResponse", "results"): "repeated IngestResult",
    ("IngestResult", "links"): "repeated Link",
    ("GetDocumentResponse", "document"): "Document",
    ("FindSimilarResponse", "matches"): "repeated Match",
    ("Match", "relation"): "Relation",
    ("Match", "evidence"): "repeated Span",
    ("GetProvenanceResponse", "sources"): "repeated Link",
    ("GetProvenanceResponse", "derivatives"): "repeated Link",
    ("GetProvenanceResponse", "origin_chain"): "repeated Link",
    ("CompareResponse", "relation"): "Relation",
    ("CompareResponse", "evidence"): "repeated Span",
    ("Link", "relation"): "Relation",
    ("Link", "evidence"): "repeated Span",
}

CONTRACT_RELATIONS: Final = ("RELATION_UNSPECIFIED", "RELATION_DUPLICATE", "RELATION_EXCERPT", "RELATION_REWRITE")


def _is_map_entry(message: Descriptor) -> bool:
    return message.GetOptions().map_entry


def _all_messages() -> list[Descriptor]:
    pending = [message for file in FILES for message in file.message_types_by_name.values()]
    found: list[Descriptor] = []
    while pending:
        message = pending.pop()
        # protoc synthesises a <Name>Entry message for each map field; it isn't a declaration of ours.
        if not _is_map_entry(message):
            found.append(message)
            pending.extend(message.nested_types)
    return sorted(found, key=lambda message: message.full_name)


MESSAGES: Final = _all_messages()
MESSAGES_BY_NAME: Final = {message.name: message for message in MESSAGES}
FIELDS: Final = [field for message in MESSAGES for field in message.fields]
ENUMS: Final[list[EnumDescriptor]] = sorted(
    [enum for file in FILES for enum in file.enum_types_by_name.values()]
    + [enum for message in MESSAGES for enum in message.enum_types],
    key=lambda enum: enum.full_name,
)
METHODS: Final[list[MethodDescriptor]] = [
    method for file in FILES for service in file.services_by_name.values() for method in service.methods
]


def _full_name(declaration: Descriptor | EnumDescriptor | FieldDescriptor | MethodDescriptor) -> str:
    return declaration.full_name


def _upper_snake_case(pascal_case: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", pascal_case).upper()


def _is_map(field: FieldDescriptor) -> bool:
    return field.message_type is not None and _is_map_entry(field.message_type)


def _type_of(field: FieldDescriptor) -> str:
    if field.message_type is not None:
        element = field.message_type.name
    elif field.enum_type is not None:
        element = field.enum_type.name
    else:
        element = "a scalar"
    return f"repeated {element}" if field.is_repeated else element


def test_every_file_is_in_package_dedup_v1() -> None:
    assert {file.name: file.package for file in FILES} == {
        "dedup/v1/document.proto": "dedup.v1",
        "dedup/v1/dedup_service.proto": "dedup.v1",
    }


def test_service_names_end_in_service() -> None:
    for file in FILES:
        for service in file.services_by_name.values():
            assert service.name.endswith("Service"), service.full_name


@pytest.mark.parametrize("method", METHODS, ids=_full_name)
def test_rpc_messages_are_named_after_their_rpc(method: MethodDescriptor) -> None:
    assert (method.input_type.name, method.output_type.name) == (f"{method.name}Request", f"{method.name}Response")


def test_no_request_or_response_message_serves_two_rpcs() -> None:
    uses = Counter(message.full_name for method in METHODS for message in (method.input_type, method.output_type))
    assert [name for name, count in uses.items() if count > 1] == []


@pytest.mark.parametrize("method", METHODS, ids=_full_name)
def test_rpcs_do_not_stream(method: MethodDescriptor) -> None:
    assert not method.client_streaming
    assert not method.server_streaming


@pytest.mark.parametrize("enum", ENUMS, ids=_full_name)
def test_enum_values_are_upper_snake_case_and_prefixed_with_the_enum_name(enum: EnumDescriptor) -> None:
    prefix = f"{_upper_snake_case(enum.name)}_"
    for value in enum.values:
        assert UPPER_SNAKE_CASE.fullmatch(value.name), value.name
        assert value.name.startswith(prefix), f"{value.name} should start with {prefix}"


@pytest.mark.parametrize("enum", ENUMS, ids=_full_name)
def test_enum_value_zero_is_unspecified(enum: EnumDescriptor) -> None:
    assert enum.values_by_number[0].name == f"{_upper_snake_case(enum.name)}_UNSPECIFIED"


@pytest.mark.parametrize(
    "field",
    # A map is keyed, not a list, so the plural rule doesn't apply to it.
    [field for field in FIELDS if field.is_repeated and not _is_map(field)],
    ids=_full_name,
)
def test_repeated_fields_have_plural_names(field: FieldDescriptor) -> None:
    assert field.name.endswith("s") or field.name in COLLECTIVE_NOUNS, field.full_name


@pytest.mark.parametrize("field", FIELDS, ids=_full_name)
def test_field_names_are_lower_snake_case(field: FieldDescriptor) -> None:
    assert LOWER_SNAKE_CASE.fullmatch(field.name), field.full_name


def test_oneof_names_are_lower_snake_case() -> None:
    for message in MESSAGES:
        for oneof in message.oneofs:
            assert LOWER_SNAKE_CASE.fullmatch(oneof.name), oneof.full_name


def test_message_enum_service_and_rpc_names_are_pascal_case() -> None:
    names = [
        *(message.name for message in MESSAGES),
        *(enum.name for enum in ENUMS),
        *(service.name for file in FILES for service in file.services_by_name.values()),
        *(method.name for method in METHODS),
    ]
    assert [name for name in names if not PASCAL_CASE.fullmatch(name)] == []


def test_design_contract_rpcs_exist_on_dedup_service() -> None:
    service = dedup_service_pb2.DESCRIPTOR.services_by_name["DedupService"]
    assert service.full_name == "dedup.v1.DedupService"
    assert [rpc for rpc in CONTRACT_RPCS if rpc not in service.methods_by_name] == []


@pytest.mark.parametrize(("message_name", "field_names"), CONTRACT_FIELDS.items())
def test_design_contract_fields_exist(message_name: str, field_names: tuple[str, ...]) -> None:
    assert message_name in MESSAGES_BY_NAME, f"message {message_name} is missing"
    fields = MESSAGES_BY_NAME[message_name].fields_by_name
    assert [name for name in field_names if name not in fields] == []


@pytest.mark.parametrize(("field_path", "expected_type"), CONTRACT_FIELD_TYPES.items(), ids=".".join)
def test_design_contract_fields_have_the_design_types(field_path: tuple[str, str], expected_type: str) -> None:
    message_name, field_name = field_path
    assert _type_of(MESSAGES_BY_NAME[message_name].fields_by_name[field_name]) == expected_type


def test_find_similar_query_is_a_oneof_of_document_id_and_text() -> None:
    fields = MESSAGES_BY_NAME["FindSimilarRequest"].fields_by_name
    query = fields["document_id"].containing_oneof
    assert query is not None
    assert sorted(field.name for field in query.fields) == ["document_id", "text"]
    assert fields["limit"].containing_oneof is None
    assert fields["min_score"].containing_oneof is None


def test_relation_enum_has_the_design_values() -> None:
    relation = document_pb2.DESCRIPTOR.enum_types_by_name["Relation"]
    assert [name for name in CONTRACT_RELATIONS if name not in relation.values_by_name] == []
    assert relation.values_by_name["RELATION_UNSPECIFIED"].number == 0


def _declarations_in_message(
    message: descriptor_pb2.DescriptorProto, path: tuple[int, ...], scope: str
) -> Iterator[tuple[str, tuple[int, ...]]]:
    full_name = f"{scope}.{message.name}"
    yield full_name, path
    # A proto3 `optional` field lives in a synthetic oneof that has no source of its own.
    synthetic_oneofs = {field.oneof_index for field in message.field if field.proto3_optional}
    for index, field in enumerate(message.field):
        yield f"{full_name}.{field.name}", (*path, descriptor_pb2.DescriptorProto.FIELD_FIELD_NUMBER, index)
    for index, oneof in enumerate(message.oneof_decl):
        if index not in synthetic_oneofs:
            yield f"{full_name}.{oneof.name}", (*path, descriptor_pb2.DescriptorProto.ONEOF_DECL_FIELD_NUMBER, index)
    for index, nested in enumerate(message.nested_type):
        if not nested.options.map_entry:
            nested_path = (*path, descriptor_pb2.DescriptorProto.NESTED_TYPE_FIELD_NUMBER, index)
            yield from _declarations_in_message(nested, nested_path, full_name)
    for index, enum in enumerate(message.enum_type):
        enum_path = (*path, descriptor_pb2.DescriptorProto.ENUM_TYPE_FIELD_NUMBER, index)
        yield from _declarations_in_enum(enum, enum_path, full_name)


def _declarations_in_enum(
    enum: descriptor_pb2.EnumDescriptorProto, path: tuple[int, ...], scope: str
) -> Iterator[tuple[str, tuple[int, ...]]]:
    yield f"{scope}.{enum.name}", path
    for index, value in enumerate(enum.value):
        yield f"{scope}.{enum.name}.{value.name}", (*path, descriptor_pb2.EnumDescriptorProto.VALUE_FIELD_NUMBER, index)


def _declarations_in_file(file: descriptor_pb2.FileDescriptorProto) -> Iterator[tuple[str, tuple[int, ...]]]:
    for index, message in enumerate(file.message_type):
        yield from _declarations_in_message(
            message, (descriptor_pb2.FileDescriptorProto.MESSAGE_TYPE_FIELD_NUMBER, index), file.package
        )
    for index, enum in enumerate(file.enum_type):
        yield from _declarations_in_enum(
            enum, (descriptor_pb2.FileDescriptorProto.ENUM_TYPE_FIELD_NUMBER, index), file.package
        )
    for index, service in enumerate(file.service):
        service_path = (descriptor_pb2.FileDescriptorProto.SERVICE_FIELD_NUMBER, index)
        yield f"{file.package}.{service.name}", service_path
        for method_index, method in enumerate(service.method):
            method_path = (*service_path, descriptor_pb2.ServiceDescriptorProto.METHOD_FIELD_NUMBER, method_index)
            yield f"{file.package}.{service.name}.{method.name}", method_path


def test_every_declaration_has_a_leading_comment(tmp_path: Path) -> None:
    # Compiled descriptors drop comments, so compile again with source info. A subprocess keeps
    # grpc_tools.protoc's import-time hook, which compiles any *_pb2 import it can find a .proto for, out of this run.
    descriptor_set = tmp_path / "dedup.binpb"
    protos = sorted(path.relative_to(PROTO_ROOT).as_posix() for path in PROTO_ROOT.rglob("*.proto"))
    protoc = subprocess.run(  # noqa: S603  # argv is this interpreter and paths inside the repository
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{PROTO_ROOT}",
            "--include_source_info",
            f"--descriptor_set_out={descriptor_set}",
            *protos,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert protoc.returncode == 0, protoc.stderr
    files = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set.read_bytes()).file
    assert sorted(file.name for file in files) == protos

    undocumented: list[str] = []
    for file in files:
        comments = {
            tuple(location.path): location.leading_comments.strip() for location in file.source_code_info.location
        }
        undocumented.extend(name for name, path in _declarations_in_file(file) if not comments.get(path))
    assert undocumented == []

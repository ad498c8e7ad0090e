"""The domain's enums and the dedup.v1 enums they are sent as."""

from __future__ import annotations

import enum
from collections.abc import Mapping

import pytest
from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper

from dedup.v1 import dedup_service_pb2, document_pb2
from server.domain.model import DirectionBasis, IngestStatus, Relation
from server.rpc.convert import BASIS_TO_PROTO, RELATION_TO_PROTO, STATUS_TO_PROTO


@pytest.mark.parametrize(
    ("domain", "mapping", "proto", "prefix"),
    [
        (Relation, RELATION_TO_PROTO, document_pb2.Relation, "RELATION_"),
        (DirectionBasis, BASIS_TO_PROTO, document_pb2.DirectionBasis, "DIRECTION_BASIS_"),
        (IngestStatus, STATUS_TO_PROTO, dedup_service_pb2.IngestStatus, "INGEST_STATUS_"),
    ],
    ids=["relation", "direction-basis", "ingest-status"],
)
def test_every_domain_value_is_sent_as_the_proto_value_of_its_name(
    domain: type[enum.Enum], mapping: Mapping[enum.Enum, int], proto: EnumTypeWrapper, prefix: str
) -> None:
    # A value missing here would fail the call that returns it (a KeyError, sent as INTERNAL), not its tests.
    assert {member: proto.Name(mapping[member]) for member in domain} == {
        member: prefix + member.name for member in domain
    }
    # And every proto value but UNSPECIFIED has a domain value that is sent as it.
    assert set(proto.keys()) - {prefix + "UNSPECIFIED"} == {prefix + member.name for member in domain}

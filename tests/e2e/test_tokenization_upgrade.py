from __future__ import annotations

import textwrap

import pytest

from client import DedupClient, make_document
from server.adapters.minhash_lsh_index import MinHashLshIndex
from server.adapters.sqlite_store import SqliteProvenanceStore
from server.domain.tokenization import TOKENIZATION_VERSION
from tests.e2e.conftest import ServerProcess
from tests.stories import BRIDGE_STORY, FOOTBALL_STORY, WIRE_ID, seed_texts

# Lines cut at 40 characters, some starting in lower case: since version 2 a line like that continues the one before.
WRAPPED_STORY = textwrap.fill(BRIDGE_STORY, width=40)


def test_a_server_over_a_store_signed_under_older_rules_signs_its_wrapped_texts_again(
    server_process: ServerProcess,
) -> None:
    with DedupClient(server_process.start()) as client:
        client.ingest([make_document("wrapped", WRAPPED_STORY), make_document(WIRE_ID, seed_texts()[WIRE_ID])])
    server_process.terminate()
    assert server_process.wait(timeout=30) == 0
    # As an earlier server left it: no version recorded, and signatures that its rules gave the wrapped text, which
    # here are another text's, so that a query of the wrapped text cannot find it until it is signed again.
    store = SqliteProvenanceStore(server_process.data_dir)
    wrapped_sequence = store.sequence_of("wrapped")
    assert wrapped_sequence is not None
    store.replace_signatures({wrapped_sequence: MinHashLshIndex().sign(FOOTBALL_STORY)})
    store.save_tokenization_version(1)
    store.close()
    offset = len(server_process.log())

    with DedupClient(server_process.start()) as client:
        matches = client.find_similar(text=WRAPPED_STORY)

    log = server_process.log_since(offset)
    assert f"read 2 texts signed under older tokenization rules (now version {TOKENIZATION_VERSION}): 1 signed" in log
    assert [match.document_id for match in matches][:1] == ["wrapped"]


def test_a_server_refuses_a_store_signed_under_newer_rules(server_process: ServerProcess) -> None:
    server_process.data_dir.mkdir(parents=True)
    store = SqliteProvenanceStore(server_process.data_dir)
    store.save_tokenization_version(TOKENIZATION_VERSION + 1)
    store.close()

    with pytest.raises(RuntimeError, match="newer than this server"):
        server_process.start()

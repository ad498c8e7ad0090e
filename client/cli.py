"""`dedup` command: ingest a corpus, query it, show provenance, evaluate on a labelled dataset."""

import argparse
import json
import os
import random
import signal
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import grpc
from google.protobuf import json_format, message
from google.protobuf.descriptor import EnumDescriptor
from tqdm import tqdm

from client.dedup_client import DedupClient, TlsOptions, make_document
from client.errors import (
    DeadlineExceededError,
    DedupClientError,
    DocumentAlreadyExistsError,
    DocumentNotFoundError,
    InvalidArgumentError,
    ServerUnavailableError,
    UnauthenticatedError,
)
from client.evaluation import (
    DocumentScores,
    Prediction,
    Scores,
    SourceLink,
    Span,
    TruthRow,
    prediction_to_json,
    relations_right,
    score_predictions,
    scores_to_json,
    truth_row_from_json,
)
from client.load import DEFAULT_MIX, LoadConfig, StopRequest, format_report, parse_mix, report_to_json, run_load
from dedup.v1 import dedup_service_pb2, document_pb2

DEFAULT_TARGET: Final = "127.0.0.1:50051"
DEFAULT_BATCH_SIZE: Final = 64
# `dedup load`: a minute unless told otherwise, and batches the size a live feed sends rather than a bulk load.
DEFAULT_LOAD_SECONDS: Final = 60.0
DEFAULT_LOAD_BATCH_SIZE: Final = 16
# Long enough to recognise a passage, short enough to keep one span per line.
EXCERPT_CHARS: Final = 60
DOCUMENT_PREVIEW_LINES: Final = 10
DOCUMENT_PREVIEW_CHARS: Final = 160

# The two files of a labelled dataset (shared/datasets/README.md).
DATASET_DOCUMENTS: Final = "documents.jsonl"
DATASET_TRUTH: Final = "truth.jsonl"
# Enough rejections to see what went wrong, few enough not to bury the figures.
_REJECTIONS_SHOWN: Final = 10

_TEXT_SUFFIX: Final = ".txt"
_JSONL_SUFFIX: Final = ".jsonl"
# The "meta" keys of the datasets' JSONL format that become Document fields; the others go into metadata.
_META_FIELDS: Final = ("source", "url", "title", "published_at")
_STATUS_NAME_BY_NUMBER: Final[Mapping[int, str]] = {code.value[0]: code.name for code in grpc.StatusCode}

_Command = Callable[[DedupClient, argparse.Namespace], int]


class InputError(Exception):
    """A file or text given on the command line cannot be used; the message says where and why."""


# Reading documents from files.


def expand_paths(paths: Sequence[Path]) -> list[Path]:
    """Return the files to ingest: each file as given, and each directory's .txt and .jsonl files by name.

    Raises:
        InputError: A path does not exist, or a file given by name is neither .txt nor .jsonl.
    """
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(child for child in path.iterdir() if child.is_file() and _is_corpus_file(child)))
        elif not path.exists():
            raise InputError(f"{path}: no such file or directory")
        elif _is_corpus_file(path):
            files.append(path)
        else:
            raise InputError(f"{path}: not a {_TEXT_SUFFIX} or {_JSONL_SUFFIX} file")
    return files


def _is_corpus_file(path: Path) -> bool:
    return path.suffix in (_TEXT_SUFFIX, _JSONL_SUFFIX)


def documents_from_paths(paths: Sequence[Path]) -> list[document_pb2.Document]:
    """Read every document from the given files and directories, before anything is sent.

    Raises:
        InputError: A file cannot be read, a JSONL line is malformed, or an id is given twice; the message
            names the file and line.
    """
    documents: list[document_pb2.Document] = []
    where_by_id: dict[str, str] = {}
    for path in expand_paths(paths):
        for where, document in _documents_from_file(path):
            # The server rejects repeated ids within a request, and across batches the second copy would be
            # reported as unchanged or conflicting: both hide a mistake in the input, so say it up front.
            if document.id in where_by_id:
                raise InputError(f"{where}: id {document.id!r} was already given at {where_by_id[document.id]}")
            where_by_id[document.id] = where
            documents.append(document)
    return documents


def _documents_from_file(path: Path) -> Iterator[tuple[str, document_pb2.Document]]:
    if path.suffix == _TEXT_SUFFIX:
        yield str(path), document_from_txt(path)
    else:
        yield from documents_from_jsonl(path)


def document_from_txt(path: Path) -> document_pb2.Document:
    """Return the document in a .txt file: its id is the file name without .txt, its text the whole file."""
    return make_document(path.name.removesuffix(_TEXT_SUFFIX), read_text_file(path))


def read_text_file(path: Path) -> str:
    """Return a file's content decoded as UTF-8, exactly (no newline translation, so offsets match the file).

    Raises:
        InputError: The file cannot be read or is not UTF-8.
    """
    try:
        return path.read_bytes().decode("utf-8")
    except OSError as error:
        raise InputError(f"{path}: {error.strerror or error}") from error
    except UnicodeDecodeError as error:
        raise InputError(f"{path}: not UTF-8 text (byte {error.start}: {error.reason})") from error


def documents_from_jsonl(path: Path) -> Iterator[tuple[str, document_pb2.Document]]:
    """Yield ``(file:line, document)`` for each line of a JSONL file, skipping blank lines.

    Each line is ``{"id": str, "text": str, "meta": {"source", "url", "title", "published_at", ...}}``; "meta"
    is optional, and its other keys go into the document's metadata as strings.

    Raises:
        InputError: The file cannot be read, or a line is malformed; the message starts with ``file:line``.
    """
    for where, record in json_records(path):
        try:
            yield where, document_from_record(record)
        except ValueError as error:
            raise InputError(f"{where}: {error}") from error


def json_records(path: Path) -> Iterator[tuple[str, object]]:
    """Yield ``(file:line, parsed JSON)`` for each line of a JSONL file, skipping blank lines.

    Raises:
        InputError: The file cannot be read, or a line is not JSON; the message starts with ``file:line``.
    """
    # Only "\n" ends a JSONL record: str.splitlines() would also cut at U+2028, U+0085 and other
    # separators that JSON writers leave unescaped inside strings.
    for number, line in enumerate(read_text_file(path).split("\n"), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise InputError(f"{where}: not valid JSON ({error.msg} at column {error.colno})") from error
        yield where, record


def document_from_record(record: object) -> document_pb2.Document:
    """Return the document described by one parsed JSONL record.

    Raises:
        ValueError: The record is not ``{"id": str, "text": str, "meta": {...}}``, or its date is unparsable.
    """
    if not isinstance(record, dict):
        raise ValueError(f'expected a JSON object {{"id", "text", "meta"}}, got {type(record).__name__}')
    for key in ("id", "text"):
        if not isinstance(record.get(key), str):
            raise ValueError(f'"{key}" must be a string, got {json.dumps(record.get(key))[:40]}')
    meta = record.get("meta") or {}
    if not isinstance(meta, dict):
        raise ValueError(f'"meta" must be a JSON object, got {type(meta).__name__}')
    fields: dict[str, str] = {}
    for key in _META_FIELDS:
        value = meta.get(key)
        if value is not None and not isinstance(value, str):
            raise ValueError(f'"meta.{key}" must be a string, got {json.dumps(value)[:40]}')
        fields[key] = value or ""
    # Datasets carry lists and numbers in meta (MSRP's "splits", PAN's "chars"); metadata is string to string,
    # so they travel as their JSON text, which a reader can parse back.
    metadata = {
        key: value if isinstance(value, str) else json.dumps(value)
        for key, value in meta.items()
        if key not in _META_FIELDS and value is not None
    }
    return make_document(
        record["id"],
        record["text"],
        source=fields["source"],
        url=fields["url"],
        title=fields["title"],
        published_at=fields["published_at"],
        metadata=metadata,
    )


# Formatting responses as text: one function per response type.


def relation_name(relation: int) -> str:
    """Return a relation as the CLI prints it, e.g. "EXCERPT" for RELATION_EXCERPT."""
    return _enum_label(document_pb2.Relation.DESCRIPTOR, relation, "RELATION_")


def _enum_label(descriptor: EnumDescriptor, number: int, prefix: str) -> str:
    value = descriptor.values_by_number.get(number)
    # A newer server may send a value this client does not know yet; show its number rather than fail.
    return value.name.removeprefix(prefix) if value is not None else str(number)


def format_link(link: document_pb2.Link) -> str:
    spans = len(link.evidence)
    return (
        f"{link.document_id} -> {link.source_id}  {relation_name(link.relation)}  score {link.score:.3f}"
        f"  confidence {link.confidence:.3f}  {spans} evidence span{'' if spans == 1 else 's'}"
    )


def count_ingest_statuses(results: Sequence[dedup_service_pb2.IngestResult]) -> dict[str, int]:
    """Return how many results have each status, by its short name ("CREATED", ...), the four known ones first."""
    counts = dict.fromkeys(("CREATED", "UNCHANGED", "REPLACED", "REJECTED"), 0)
    for result in results:
        status = _enum_label(dedup_service_pb2.IngestStatus.DESCRIPTOR, result.status, "INGEST_STATUS_")
        counts[status] = counts.get(status, 0) + 1
    return counts


def _format_status_counts(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{count} {status.lower()}" for status, count in counts.items())


def format_rejection(result: dedup_service_pb2.IngestResult) -> str:
    code = _STATUS_NAME_BY_NUMBER.get(result.error_code, str(result.error_code))
    return f"{result.document_id}: {code}: {result.error_message}"


def format_ingest_summary(results: Sequence[dedup_service_pb2.IngestResult]) -> str:
    rejected: list[str] = []
    # Keyed by (derived, source): a link between two documents of one batch comes back in both their results.
    links: dict[tuple[str, str], str] = {}
    for result in results:
        if result.status == dedup_service_pb2.INGEST_STATUS_REJECTED:
            rejected.append(f"  {format_rejection(result)}")
        # A replaced document's links are as new as a created one's; an unchanged one's were shown before.
        elif result.status in (dedup_service_pb2.INGEST_STATUS_CREATED, dedup_service_pb2.INGEST_STATUS_REPLACED):
            for link in result.links:
                links[link.document_id, link.source_id] = (
                    f"  {link.document_id} -> {link.source_id} ({relation_name(link.relation)}, {link.score:.3f})"
                )
    lines = [_format_status_counts(count_ingest_statuses(results))]
    if rejected:
        lines += ["rejected:", *rejected]
    if links:
        lines += ["links:", *links.values()]
    return "\n".join(lines)


def format_matches(matches: Sequence[document_pb2.Match], query: str) -> str:
    if not matches:
        return f"no matches for {query}"
    lines = [f"{len(matches)} match{'' if len(matches) == 1 else 'es'} for {query}:"]
    for match in matches:
        direction = "source of the query" if match.is_source else "derived from the query"
        lines.append(
            f"  {match.document_id}  {relation_name(match.relation)}  score {match.score:.3f}"
            f"  jaccard {match.jaccard:.3f}  containment {match.containment:.3f}/{match.match_containment:.3f}"
            f"  {direction} (confidence {match.confidence:.3f})  {len(match.evidence)} evidence spans"
        )
    return "\n".join(lines)


def format_provenance(document_id: str, response: dedup_service_pb2.GetProvenanceResponse) -> str:
    lines = [f"origin: {response.origin_id}" if response.origin_id else f"{document_id} is an origin"]
    for title, links in (
        ("sources", response.sources),
        ("derivatives", response.derivatives),
        ("origin chain", response.origin_chain),
    ):
        lines.append(f"{title}:" if links else f"{title}: none")
        lines.extend(f"  {format_link(link)}" for link in links)
    return "\n".join(lines)


def format_cluster(response: dedup_service_pb2.GetClusterResponse) -> str:
    members = response.members
    lines = [f"origin: {response.origin_id} ({len(members)} member{'' if len(members) == 1 else 's'})"]
    children: dict[str, list[document_pb2.ClusterMember]] = {}
    for member in members:
        if member.document_id != response.origin_id:
            children.setdefault(member.source_id, []).append(member)
    lines.append(f"{response.origin_id}  (origin)")
    seen = {response.origin_id}
    # An explicit stack rather than recursion: a long chain of copies of copies must not hit the recursion limit.
    stack = [(child, 1) for child in reversed(children.get(response.origin_id, []))]
    while stack:
        member, depth = stack.pop()
        if member.document_id in seen:
            continue
        seen.add(member.document_id)
        lines.append(f"{'  ' * depth}{member.document_id}  {relation_name(member.relation)}")
        stack.extend((child, depth + 1) for child in reversed(children.get(member.document_id, [])))
    # Members whose source is missing from the answer are still shown, at the depth the server gave them.
    lines.extend(
        f"{'  ' * max(member.depth, 1)}{member.document_id}  {relation_name(member.relation)} of {member.source_id}"
        for member in members
        if member.document_id not in seen
    )
    return "\n".join(lines)


def format_compare(
    response: dedup_service_pb2.CompareResponse, text_a: str, text_b: str, *, label_a: str = "a", label_b: str = "b"
) -> str:
    if response.relation == document_pb2.RELATION_UNSPECIFIED:
        relation = "none (the texts are unrelated)"
    else:
        relation = relation_name(response.relation)
    basis = _enum_label(document_pb2.DirectionBasis.DESCRIPTOR, response.direction_basis, "DIRECTION_BASIS_")
    if response.direction == dedup_service_pb2.DIRECTION_A_FROM_B:
        direction = f"a derives from b (basis {basis}, confidence {response.confidence:.3f})"
    elif response.direction == dedup_service_pb2.DIRECTION_B_FROM_A:
        direction = f"b derives from a (basis {basis}, confidence {response.confidence:.3f})"
    else:
        direction = "neither derives from the other"
    lines = [
        f"a: {label_a}",
        f"b: {label_b}",
        f"relation: {relation}",
        f"direction: {direction}",
        f"score {response.score:.3f}  jaccard {response.jaccard:.3f}"
        f"  containment a {response.containment_a:.3f}  containment b {response.containment_b:.3f}",
        f"evidence: {len(response.evidence)} span{'' if len(response.evidence) == 1 else 's'}",
    ]
    for span in response.evidence:
        lines.append(f"  a[{span.start}:{span.end}] {excerpt(text_a, span.start, span.end)}")
        lines.append(
            f"  b[{span.source_start}:{span.source_end}] {excerpt(text_b, span.source_start, span.source_end)}"
        )
    return "\n".join(lines)


def excerpt(text: str, start: int, end: int) -> str:
    """Return the start of ``text[start:end]`` on one line, quoted, for showing a span.

    Spans count code points, as Python's str indexes do.

    >>> excerpt("Shares   fell on Monday.  Markets rose.", 0, 24)
    '"Shares fell on Monday."'
    >>> excerpt("word " * 30, 0, 150).endswith(' word…"')
    True
    """
    return json.dumps(_shorten(" ".join(text[start:end].split()), EXCERPT_CHARS), ensure_ascii=False)


def _shorten(text: str, length: int) -> str:
    return text if len(text) <= length else text[:length].rstrip() + "…"


def format_document(response: dedup_service_pb2.GetDocumentResponse) -> str:
    document = response.document
    lines = [f"id: {document.id}"]
    lines.extend(
        f"{name}: {value}"
        for name, value in (("source", document.source), ("title", document.title), ("url", document.url))
        if value
    )
    if document.HasField("published_at"):
        lines.append(f"published_at: {document.published_at.ToJsonString()}")
    if response.HasField("ingested_at"):
        lines.append(f"ingested_at: {response.ingested_at.ToJsonString()}")
    if document.metadata:
        lines.append("metadata:")
        lines.extend(f"  {key}: {value}" for key, value in sorted(document.metadata.items()))
    text_lines = document.text.splitlines()
    lines.append(f"text: {len(document.text)} characters, {len(text_lines)} lines")
    lines.extend(f"  | {_shorten(line, DOCUMENT_PREVIEW_CHARS)}" for line in text_lines[:DOCUMENT_PREVIEW_LINES])
    if len(text_lines) > DOCUMENT_PREVIEW_LINES:
        lines.append(f"  … {len(text_lines) - DOCUMENT_PREVIEW_LINES} more lines")
    return "\n".join(lines)


def format_deleted(document_id: str, response: dedup_service_pb2.DeleteDocumentResponse) -> str:
    lines = [f"deleted {document_id}"]
    if response.affected_ids:
        lines.append(f"re-decided the provenance of: {', '.join(response.affected_ids)}")
    return "\n".join(lines)


def format_stats(response: dedup_service_pb2.GetStatsResponse) -> str:
    lines = [
        f"documents: {response.document_count}",
        f"passages: {response.passage_count}",
        f"links: {response.link_count}",
        f"store size: {format_bytes(response.store_bytes)}",
        f"memory: {format_memory(response)}",
        f"largest text: {format_bytes(response.max_text_bytes)}",
        f"largest batch: {response.max_batch_documents} documents",
        "index parameters:",
    ]
    # Walking the descriptor keeps this list in step with IndexParameters as the proto grows.
    parameters = response.index_parameters
    lines.extend(f"  {field.name}: {getattr(parameters, field.name)}" for field in parameters.DESCRIPTOR.fields)
    return "\n".join(lines)


def format_memory(response: dedup_service_pb2.GetStatsResponse) -> str:
    """Return the server's resident memory and its indexes' share, or say that the server does not report it."""
    if not response.resident_bytes:
        return f"not reported by the server (indexes {format_bytes(response.index_bytes)})"
    return (
        f"{format_bytes(response.resident_bytes)} resident (the server and its workers), "
        f"of which indexes {format_bytes(response.index_bytes)}"
    )


def format_bytes(count: int) -> str:
    """Return a byte count for people to read.

    >>> format_bytes(512), format_bytes(3 * 1024 * 1024)
    ('512 bytes', '3.0 MiB (3145728 bytes)')
    """
    size = float(count)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{count} bytes" if unit == "bytes" else f"{size:.1f} {unit} ({count} bytes)"
        size /= 1024
    raise AssertionError("unreachable: the loop returns at GiB")


def message_to_json(response: message.Message) -> str:
    # Fields at their default are printed too: a span starting at offset 0 or an empty origin_id is an answer.
    return json_format.MessageToJson(
        response, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


# Evaluating against a labelled dataset.


@dataclass(frozen=True, slots=True)
class EvaluationRun:
    """What one `dedup eval` did and measured.

    Attributes:
        dataset: The dataset directory.
        seed: The seed of the ingest order.
        documents: Documents read from ``documents.jsonl``.
        truth_rows: Rows read from ``truth.jsonl``.
        ingest_statuses: Ingest results by status ("CREATED", "UNCHANGED", "REPLACED", "REJECTED").
        ingest_seconds: Wall-clock time of the ingest calls.
        predicted: Documents of the truth whose provenance was asked for.
        not_found: Documents of the truth the server does not have; they count as "no origin found".
        query_seconds: Wall-clock time of the GetProvenance calls.
        scores: The figures.
    """

    dataset: Path
    seed: int
    documents: int
    truth_rows: int
    ingest_statuses: Mapping[str, int]
    ingest_seconds: float
    predicted: int
    not_found: Sequence[str]
    query_seconds: float
    scores: Scores

    @property
    def documents_per_second(self) -> float:
        return self.documents / self.ingest_seconds if self.ingest_seconds > 0 else 0.0


def truth_rows_from_jsonl(path: Path) -> list[TruthRow]:
    """Read a dataset's ``truth.jsonl`` (format in ``shared/datasets/README.md``).

    Raises:
        InputError: The file cannot be read, has no rows, or a line is malformed; the message names file and line.
    """
    rows: list[TruthRow] = []
    for where, record in json_records(path):
        try:
            rows.append(truth_row_from_json(record))
        except ValueError as error:
            raise InputError(f"{where}: {error}") from error
    if not rows:
        raise InputError(f"{path}: no truth rows; nothing to score")
    return rows


def prediction_from_provenance(document_id: str, response: dedup_service_pb2.GetProvenanceResponse) -> Prediction:
    """Return what a GetProvenance answer says about a document, as the scorer reads it.

    The relation is that of the best (first) source, lower case without ``RELATION_``; an empty ``origin_id``
    (the document is an origin) becomes None.
    """
    sources = tuple(
        SourceLink(
            source_id=link.source_id,
            relation=relation_name(link.relation).lower(),
            score=link.score,
            evidence=tuple(Span(span.start, span.end, span.source_start, span.source_end) for span in link.evidence),
        )
        for link in response.sources
    )
    return Prediction(
        id=document_id,
        origin=response.origin_id or None,
        relation=sources[0].relation if sources else None,
        sources=sources,
    )


def predict_provenance(
    client: DedupClient, document_ids: Sequence[str], *, progress: bool | None = None
) -> tuple[list[Prediction], list[str]]:
    """Ask for the provenance of each document; return the predictions and the ids the server does not have."""
    predictions: list[Prediction] = []
    not_found: list[str] = []
    disable = None if progress is None else not progress
    for document_id in tqdm(document_ids, unit="doc", desc="provenance", file=sys.stderr, disable=disable):
        try:
            predictions.append(prediction_from_provenance(document_id, client.provenance(document_id)))
        except DocumentNotFoundError:
            not_found.append(document_id)
    return predictions, not_found


def write_predictions(path: Path, predictions: Sequence[Prediction]) -> None:
    """Write predictions as JSONL, one document per line, in the format the reference scorer reads.

    Raises:
        InputError: The file cannot be written.
    """
    try:
        with path.open("w", encoding="utf-8") as handle:
            for prediction in predictions:
                handle.write(json.dumps(prediction_to_json(prediction), ensure_ascii=False) + "\n")
    except OSError as error:
        raise InputError(f"{path}: {error.strerror or error}") from error


def evaluation_run_to_json(run: EvaluationRun) -> dict[str, object]:
    return {
        "dataset": str(run.dataset),
        "seed": run.seed,
        "documents": run.documents,
        "truth_rows": run.truth_rows,
        "ingest": {
            "seconds": run.ingest_seconds,
            "documents_per_second": run.documents_per_second,
            **{status.lower(): count for status, count in run.ingest_statuses.items()},
        },
        "provenance": {"documents": run.predicted, "not_found": len(run.not_found), "seconds": run.query_seconds},
        "scores": scores_to_json(run.scores),
    }


def format_evaluation_run(run: EvaluationRun) -> str:
    lines = [
        f"dataset: {run.dataset} ({run.documents} documents, {run.truth_rows} truth rows)",
        f"ingest: {run.documents} documents in {run.ingest_seconds:.1f} s, {run.documents_per_second:.1f} documents/s"
        f" (shuffled with seed {run.seed}): {_format_status_counts(run.ingest_statuses)}",
        f"provenance: {run.predicted} documents in {run.query_seconds:.1f} s"
        + (f", {len(run.not_found)} not on the server (scored as no origin found)" if run.not_found else ""),
        "",
        format_scores(run.scores),
    ]
    return "\n".join(lines)


def _relation_lines(accuracy: float, confusion: Mapping[tuple[str | None, str | None], int], judged: str) -> list[str]:
    lines = [_figure("relation accuracy", accuracy, f"{relations_right(confusion)} of {judged}")]
    if confusion:
        ordered = sorted(confusion.items(), key=str)
        pairs = ", ".join(f"{truth} -> {found} {count}" for (truth, found), count in ordered)
        lines.append(f"  relations (truth -> found): {pairs}")
    return lines


def format_scores(scores: Scores) -> str:
    """Return the figures as a table: name, value, and what the value is a ratio of."""
    if isinstance(scores, DocumentScores):
        lines = [
            f"document level: {scores.derived} derived, {scores.unrelated} unrelated (originals are not scored)",
            _figure("origin accuracy", scores.origin_accuracy, f"{scores.correct} of {scores.derived} derived"),
            _figure("precision", scores.precision, f"{scores.correct} of {scores.claimed} origins found"),
            _figure("recall", scores.recall, f"{scores.correct} of {scores.derived} derived"),
            _figure("f1", scores.f1),
            _figure("false-link rate", scores.false_link_rate, f"{scores.false_links} of {scores.unrelated} unrelated"),
        ]
        lines += _relation_lines(scores.relation_accuracy, scores.relation_confusion, f"{scores.correct} right")
        return "\n".join(lines)
    linked = scores.true_positives + scores.false_positives
    lines = [
        f"pair level: {scores.pairs} pairs, {scores.positives} reuse",
        _figure("precision", scores.precision, f"{scores.true_positives} of {linked} links"),
        _figure("recall", scores.recall, f"{scores.true_positives} of {scores.positives} reuse pairs"),
        _figure("f1", scores.f1),
    ]
    if scores.relation_confusion:
        judged = sum(scores.relation_confusion.values())
        lines += _relation_lines(scores.relation_accuracy, scores.relation_confusion, f"{judged} linked reuse pairs")
    passages = scores.passages
    if passages is not None:
        lines += [
            "passage level (PAN, micro-averaged):",
            _figure(
                "passage precision",
                passages.precision,
                f"{passages.overlap_characters} of {passages.detected_characters} detected characters",
            ),
            _figure(
                "passage recall",
                passages.recall,
                f"{passages.overlap_characters} of {passages.case_characters} case characters",
            ),
            _figure(
                "granularity",
                passages.granularity,
                f"{passages.detections_of_found_cases} detections of {passages.found_cases} found cases",
            ),
            _figure("plagdet", passages.plagdet),
        ]
    return "\n".join(lines)


def _figure(name: str, value: float, basis: str = "") -> str:
    return f"  {name:<18} {value:.4f}  {basis}".rstrip()


# The subcommands.


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")


def _run_ingest(client: DedupClient, args: argparse.Namespace) -> int:
    documents = documents_from_paths(args.paths)
    # --json asks for quiet machine output.
    results = ingest_in_batches(
        client, documents, batch_size=args.batch_size, replace=args.replace, progress=False if args.json else None
    )
    if args.json:
        _out(message_to_json(dedup_service_pb2.IngestDocumentsResponse(results=results)))
    else:
        _out(format_ingest_summary(results))
    return 1 if any(result.status == dedup_service_pb2.INGEST_STATUS_REJECTED for result in results) else 0


def ingest_in_batches(
    client: DedupClient,
    documents: Sequence[document_pb2.Document],
    *,
    batch_size: int,
    replace: bool,
    progress: bool | None = None,
) -> list[dedup_service_pb2.IngestResult]:
    """Send documents in order, `batch_size` per call (fewer if the server allows fewer), and return every result.

    A batch the server fails as a whole comes back as a rejection of each of its documents, and the batches after
    it are still sent.

    Args:
        client: The server.
        documents: What to ingest; ids must be unique.
        batch_size: Documents per call; lowered, with a note on stderr, to the server's ``max_batch_documents``.
        replace: Overwrite stored ids that have another text.
        progress: Show a progress bar on stderr: always (True), never (False), or when stderr is a terminal (None).
    """
    results: list[dedup_service_pb2.IngestResult] = []
    # A batch over the server's limit fails whole, and so would every batch after it: ask for the limit first.
    limit = client.stats().max_batch_documents if documents else 0
    if 0 < limit < batch_size:
        _err(f"note: --batch-size {batch_size} is over the server's limit; sending {limit} documents per call")
        batch_size = limit
    disable = None if progress is None else not progress
    with tqdm(total=len(documents), unit="doc", desc="ingest", file=sys.stderr, disable=disable) as bar:
        for start in range(0, len(documents), batch_size):
            batch = documents[start : start + batch_size]
            results.extend(_ingest_batch(client, batch, replace=replace))
            bar.update(len(batch))
    return results


def _ingest_batch(
    client: DedupClient, batch: Sequence[document_pb2.Document], *, replace: bool
) -> list[dedup_service_pb2.IngestResult]:
    try:
        return client.ingest(batch, replace=replace)
    except (InvalidArgumentError, DocumentAlreadyExistsError) as error:
        # The server fails the whole call when every document of a batch is rejected. Reporting them as
        # rejected, as it would have in a mixed batch, keeps the batches after it going and the summary whole.
        return [
            dedup_service_pb2.IngestResult(
                document_id=document.id,
                status=dedup_service_pb2.INGEST_STATUS_REJECTED,
                error_code=error.code.value[0],
                error_message=error.details,
            )
            for document in batch
        ]


def _run_eval(client: DedupClient, args: argparse.Namespace) -> int:
    dataset: Path = args.dataset
    if not dataset.is_dir():
        raise InputError(f"{dataset}: not a directory with {DATASET_DOCUMENTS} and {DATASET_TRUTH}")
    predictions_file: Path | None = args.predictions
    # Said now rather than after an ingest that may take minutes.
    if predictions_file is not None and not predictions_file.parent.is_dir():
        raise InputError(f"{predictions_file}: no such directory to write the predictions in")
    documents = documents_from_paths([dataset / DATASET_DOCUMENTS])
    truth = truth_rows_from_jsonl(dataset / DATASET_TRUTH)
    # A fixed order would let a result depend on it unseen (which copy arrives first); a seeded shuffle varies
    # it and still repeats exactly.
    random.Random(args.seed).shuffle(documents)  # noqa: S311 -- an ingest order, not a secret
    # An evaluation runs for minutes, so the bars stay on with --json: that goes to stdout, they go to stderr.
    started = time.perf_counter()
    results = ingest_in_batches(client, documents, batch_size=args.batch_size, replace=False)
    ingest_seconds = time.perf_counter() - started
    rejected = [result for result in results if result.status == dedup_service_pb2.INGEST_STATUS_REJECTED]
    for result in rejected[:_REJECTIONS_SHOWN]:
        _err(f"rejected: {format_rejection(result)}")
    if len(rejected) > _REJECTIONS_SHOWN:
        _err(f"rejected: … and {len(rejected) - _REJECTIONS_SHOWN} more")
    started = time.perf_counter()
    predictions, not_found = predict_provenance(client, list(dict.fromkeys(row.id for row in truth)))
    query_seconds = time.perf_counter() - started
    if not_found:
        _err(f"warning: documents of the truth not on the server: {len(not_found)}, e.g. {not_found[0]!r}")
    if predictions_file is not None:
        write_predictions(predictions_file, predictions)
    run = EvaluationRun(
        dataset=dataset,
        seed=args.seed,
        documents=len(documents),
        truth_rows=len(truth),
        ingest_statuses=count_ingest_statuses(results),
        ingest_seconds=ingest_seconds,
        predicted=len(predictions),
        not_found=not_found,
        query_seconds=query_seconds,
        scores=score_predictions(truth, predictions),
    )
    _out(json.dumps(evaluation_run_to_json(run), indent=2) if args.json else format_evaluation_run(run))
    # The figures are printed either way, but they understate the service when part of the data never got in.
    return 1 if rejected or not_found else 0


def _run_similar(client: DedupClient, args: argparse.Namespace) -> int:
    if args.document_id is not None:
        matches = client.find_similar(document_id=args.document_id, limit=args.limit, min_score=args.min_score)
        query = args.document_id
    else:
        text = args.text if args.text is not None else read_text_file(args.file)
        matches = client.find_similar(text=text, limit=args.limit, min_score=args.min_score)
        query = "the text" if args.text is not None else str(args.file)
    if args.json:
        _out(message_to_json(dedup_service_pb2.FindSimilarResponse(matches=matches)))
    else:
        _out(format_matches(matches, query))
    return 0


def _run_provenance(client: DedupClient, args: argparse.Namespace) -> int:
    response = client.provenance(args.document_id)
    _out(message_to_json(response) if args.json else format_provenance(args.document_id, response))
    return 0


def _run_cluster(client: DedupClient, args: argparse.Namespace) -> int:
    response = client.cluster(args.document_id)
    _out(message_to_json(response) if args.json else format_cluster(response))
    return 0


def _run_compare(client: DedupClient, args: argparse.Namespace) -> int:
    files: list[Path] = list(args.files)
    given = [args.text_a, args.text_b]
    if len(files) != given.count(None):
        raise InputError("compare needs two texts: FILE_A FILE_B, --text-a TEXT --text-b TEXT, or one of each")
    sides: list[tuple[str, str]] = []
    for option, text in zip(("--text-a", "--text-b"), given, strict=True):
        if text is not None:
            sides.append((text, option))
        else:
            path = files.pop(0)
            sides.append((read_text_file(path), str(path)))
    (text_a, label_a), (text_b, label_b) = sides
    response = client.compare(text_a, text_b)
    if args.json:
        _out(message_to_json(response))
    else:
        _out(format_compare(response, text_a, text_b, label_a=label_a, label_b=label_b))
    return 0


def _run_delete(client: DedupClient, args: argparse.Namespace) -> int:
    response = client.delete(args.document_id)
    _out(message_to_json(response) if args.json else format_deleted(args.document_id, response))
    return 0


def _run_stats(client: DedupClient, args: argparse.Namespace) -> int:
    response = client.stats()
    _out(message_to_json(response) if args.json else format_stats(response))
    return 0


def _run_get(client: DedupClient, args: argparse.Namespace) -> int:
    response = client.get_document(args.document_id)
    _out(message_to_json(response) if args.json else format_document(response))
    return 0


def _run_load(client: DedupClient, args: argparse.Namespace) -> int:
    query_ids = read_ids(args.ids_from) if args.ids_from is not None else []
    report_file: str | None = None if args.json_report in (None, "-") else args.json_report
    # Said now rather than after a run that may take minutes.
    if report_file is not None and not Path(report_file).parent.is_dir():
        raise InputError(f"{report_file}: no such directory to write the report in")
    _check_batch_size(client, args.batch_size)
    try:
        config = LoadConfig(
            mix=args.mix,
            concurrency=args.concurrency,
            # Bounded either way: by default a minute.
            duration=args.duration if args.duration is not None or args.requests is not None else DEFAULT_LOAD_SECONDS,
            requests=args.requests,
            batch_size=args.batch_size,
            rate=args.rate,
            warmup=args.warmup,
            seed=args.seed,
            id_prefix=args.id_prefix if args.id_prefix is not None else _default_id_prefix(),
            query_ids=query_ids,
        )
    except ValueError as error:
        raise InputError(str(error)) from error
    tls = tls_options_from_args(args)

    def connect() -> DedupClient:
        return DedupClient(args.target, timeout=args.timeout, tls=tls, token=args.token)

    with _stopping_on_sigterm():
        report = run_load(config, connect, target=args.target, progress=sys.stderr)
    report_json = json.dumps(report_to_json(report), indent=2)
    if report_file is not None:
        try:
            Path(report_file).write_text(report_json + "\n", encoding="utf-8")
        except OSError as error:
            raise InputError(f"{report_file}: {error.strerror or error}") from error
    _out(report_json if args.json or args.json_report == "-" else format_report(report))
    if not report.all_ok:
        return 1
    # A run cut short is not the run that was asked for: say so to scripts, as shells do (128 + the signal).
    if report.interrupted_by == "SIGTERM":
        return 128 + signal.SIGTERM
    return 130 if report.interrupted else 0


@contextmanager
def _stopping_on_sigterm() -> Iterator[None]:
    """Within the block, SIGTERM stops a load run early as Ctrl-C does, so that its report is still printed.

    `kill PID` and `timeout` send SIGTERM; a shell without job control starts background commands with SIGINT
    ignored, so there SIGTERM is the only polite way to stop one, and by default it would end the process before
    the report. SIGINT's handling is left as the process found it.
    """

    def stop(signum: int, frame: object) -> None:
        raise StopRequest(signal.Signals(signum).name)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _default_id_prefix() -> str:
    # New for every run, to the millisecond, so that two runs never collide on ids by accident.
    now = datetime.now(UTC)
    return f"load-{now:%Y%m%dT%H%M%S}.{now.microsecond // 1000:03d}Z-"


def read_ids(path: Path) -> list[str]:
    """Return the document ids in a file, one per line, exactly as written; blank lines are skipped.

    Raises:
        InputError: The file cannot be read, or holds no ids.
    """
    ids = [line.removesuffix("\r") for line in read_text_file(path).split("\n")]
    ids = [document_id for document_id in ids if document_id]
    if not ids:
        raise InputError(f"{path}: no ids to query (expected one document id per line)")
    return ids


def _check_batch_size(client: DedupClient, batch_size: int) -> None:
    """Refuse a --batch-size over the server's limit, which would fail every ingest call.

    A server that does not answer ends the command here; one that refuses this call (no token, say) refuses the
    load's calls too, and the report shows it.
    """
    try:
        limit = client.stats().max_batch_documents
    except (ServerUnavailableError, DeadlineExceededError):
        raise
    except DedupClientError:
        return
    if 0 < limit < batch_size:
        raise InputError(f"--batch-size {batch_size} is over the server's limit of {limit} documents per call")


def _load_mix(value: str) -> dict[str, float]:
    try:
        return parse_mix(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _non_negative_float(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {value!r}") from None
    if not 0 <= number < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number at least 0, got {value}")
    return number


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number


def _positive_float(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {value!r}") from None
    if not 0 < number < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number above 0, got {value}")
    return number


def _add_global_options(
    parser: argparse.ArgumentParser, *, target: str, timeout: float | str, json: bool | str | None, wait: float | str
) -> None:
    """Add --target, --timeout, --json and --wait; with `json` None, leave --json out (for `load --json FILE`)."""
    parser.add_argument(
        "--target",
        default=target,
        metavar="HOST:PORT",
        help=f"the server (default: $DEDUP_TARGET, else {DEFAULT_TARGET})",
    )
    parser.add_argument(
        "--timeout",
        default=timeout,
        type=_positive_float,
        metavar="SECONDS",
        help="how long each call may take (default: 30)",
    )
    if json is not None:
        parser.add_argument(
            "--json", default=json, action="store_true", help="print the response as JSON with proto field names"
        )
    parser.add_argument(
        "--wait",
        default=wait,
        type=float,
        metavar="SECONDS",
        help="wait up to this long for the server to come up before the command (default: 0, do not wait)",
    )


def _add_security_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """Add --tls, --ca-cert, --client-cert, --client-key and --token; their defaults come from DEDUP_* variables."""

    def default(variable: str) -> str | None:
        return argparse.SUPPRESS if suppress else os.environ.get(variable) or None

    group = parser.add_argument_group("security", "For a server started with TLS or --tokens-file.")
    group.add_argument(
        "--tls",
        default=argparse.SUPPRESS if suppress else False,
        action="store_true",
        help="connect with TLS, trusting the system's CAs (implied by --ca-cert and --client-cert)",
    )
    group.add_argument(
        "--ca-cert",
        default=default("DEDUP_CA_CERT"),
        metavar="PEM",
        help="connect with TLS, trusting this CA for the server's certificate (default: $DEDUP_CA_CERT)",
    )
    group.add_argument(
        "--client-cert",
        default=default("DEDUP_CLIENT_CERT"),
        metavar="PEM",
        help="client certificate, for a server that requires one (default: $DEDUP_CLIENT_CERT)",
    )
    group.add_argument(
        "--client-key",
        default=default("DEDUP_CLIENT_KEY"),
        metavar="PEM",
        help="the client certificate's private key (default: $DEDUP_CLIENT_KEY)",
    )
    group.add_argument(
        "--token",
        default=default("DEDUP_TOKEN"),
        help="bearer token (default: $DEDUP_TOKEN, which is better: other users can see command lines)",
    )


def tls_options_from_args(args: argparse.Namespace) -> TlsOptions | None:
    """Return the TLS options the command line asks for, or None for a plain-text connection.

    Raises:
        InputError: A certificate or key file cannot be read, or only one of --client-cert and --client-key is set.
    """
    paths = (args.ca_cert, args.client_cert, args.client_key)
    if not args.tls and all(path is None for path in paths):
        return None
    ca_cert, client_cert, client_key = (Path(path) if path is not None else None for path in paths)
    try:
        return TlsOptions.from_files(ca_cert=ca_cert, client_cert=client_cert, client_key=client_key)
    except (OSError, ValueError) as error:
        raise InputError(str(error)) from error


def build_parser() -> argparse.ArgumentParser:
    """Return the `dedup` argument parser; each subcommand sets ``run`` to the function that carries it out."""
    parser = argparse.ArgumentParser(
        prog="dedup",
        description="Find copies, excerpts and rewrites of texts on a dedup server, and where they came from.",
    )
    _add_global_options(
        parser, target=os.environ.get("DEDUP_TARGET") or DEFAULT_TARGET, timeout=30.0, json=False, wait=0.0
    )
    # The global options are accepted after the subcommand too (`dedup stats --json`). There they default to
    # SUPPRESS, so a subcommand that does not repeat them keeps the values parsed before it.
    common = argparse.ArgumentParser(add_help=False)
    _add_global_options(
        common, target=argparse.SUPPRESS, timeout=argparse.SUPPRESS, json=argparse.SUPPRESS, wait=argparse.SUPPRESS
    )
    # `load` writes its report to a file with --json FILE, so its copy of the global options leaves --json out.
    common_without_json = argparse.ArgumentParser(add_help=False)
    _add_global_options(
        common_without_json, target=argparse.SUPPRESS, timeout=argparse.SUPPRESS, json=None, wait=argparse.SUPPRESS
    )
    _add_security_options(parser, suppress=False)
    _add_security_options(common, suppress=True)
    _add_security_options(common_without_json, suppress=True)
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    def add_command(
        name: str, run: _Command, help_text: str, parent: argparse.ArgumentParser = common
    ) -> argparse.ArgumentParser:
        command = commands.add_parser(name, parents=[parent], help=help_text, description=help_text)
        command.set_defaults(run=run)
        return command

    ingest = add_command("ingest", _run_ingest, "store .txt and .jsonl files, and show the links found")
    ingest.add_argument("paths", nargs="+", type=Path, metavar="PATH", help=".txt or .jsonl file, or a directory")
    ingest.add_argument(
        "--batch-size",
        type=_positive_int,
        default=DEFAULT_BATCH_SIZE,
        metavar="N",
        help=f"documents per call (default: {DEFAULT_BATCH_SIZE})",
    )
    ingest.add_argument("--replace", action="store_true", help="overwrite stored ids that have another text")

    evaluate = add_command(
        "eval",
        _run_eval,
        "ingest a labelled dataset in shuffled order, ask for the provenance of its documents, and score the answers",
    )
    evaluate.add_argument(
        "dataset",
        type=Path,
        metavar="DATASET_DIR",
        help=f"a directory with {DATASET_DOCUMENTS} and {DATASET_TRUTH} (see shared/datasets/README.md)",
    )
    evaluate.add_argument("--seed", type=int, default=1, metavar="N", help="seed of the ingest order (default: 1)")
    evaluate.add_argument(
        "--batch-size",
        type=_positive_int,
        default=DEFAULT_BATCH_SIZE,
        metavar="N",
        help=f"documents per call (default: {DEFAULT_BATCH_SIZE})",
    )
    evaluate.add_argument(
        "--predictions",
        type=Path,
        metavar="FILE",
        help="also write the predictions as JSONL, in the format shared/tools/score_provenance.py reads",
    )

    similar = add_command("similar", _run_similar, "find stored documents similar to a document or a text")
    query = similar.add_mutually_exclusive_group(required=True)
    query.add_argument("document_id", nargs="?", metavar="ID", help="a stored document")
    query.add_argument("--text", help="a text, which is not stored")
    query.add_argument("--file", type=Path, metavar="PATH", help="a UTF-8 file whose text is looked up, not stored")
    similar.add_argument("--limit", type=_positive_int, default=10, metavar="N", help="most matches (default: 10)")
    similar.add_argument("--min-score", type=float, default=0.0, metavar="X", help="smallest score, in [0, 1]")

    for name, run, help_text in (
        ("provenance", _run_provenance, "show where a document came from and what derives from it"),
        ("cluster", _run_cluster, "show the story cluster of a document, as a tree from its origin"),
        ("delete", _run_delete, "remove a document and its links"),
        ("get", _run_get, "show a stored document"),
    ):
        add_command(name, run, help_text).add_argument("document_id", metavar="ID")

    compare = add_command("compare", _run_compare, "compare two texts without storing them")
    compare.add_argument("files", nargs="*", type=Path, metavar="FILE", help="FILE_A and FILE_B")
    compare.add_argument("--text-a", metavar="TEXT", help="the first text, instead of FILE_A")
    compare.add_argument("--text-b", metavar="TEXT", help="the second text, instead of FILE_B")

    add_command("stats", _run_stats, "show the server's counts, index parameters and limits")
    _add_load_command(
        add_command(
            "load",
            _run_load,
            "send generated documents and queries at a steady load, and report throughput and latency",
            common_without_json,
        )
    )
    return parser


def _add_load_command(load: argparse.ArgumentParser) -> None:
    load.epilog = (
        "Runs for 60 s unless --duration or --requests says otherwise (with both, it stops at whichever comes "
        "first), then prints a report: calls, req/s, docs/s and latency percentiles (nearest-rank, of the calls "
        "answered OK) per operation, and every non-OK status. Ctrl-C or SIGTERM stops early and still reports. Exit "
        "code: 0 when every call was OK, 1 when any was not, 2 for usage errors, 130 after Ctrl-C, 143 after SIGTERM."
    )
    load.add_argument(
        "--concurrency", type=_positive_int, default=4, metavar="N", help="worker threads, one call each (default: 4)"
    )
    load.add_argument("--duration", type=_positive_float, metavar="SECONDS", help="how long to measure (default: 60 s)")
    load.add_argument("--requests", type=_positive_int, metavar="N", help="how many calls to measure")
    load.add_argument(
        "--mix",
        type=_load_mix,
        default=DEFAULT_MIX,
        metavar="OP=W,...",
        help=f"relative weights of the operations ingest, find (FindSimilar by id), find-text (by text), "
        f"provenance, cluster, compare, stats; unnamed ones get 0 (default: {DEFAULT_MIX})",
    )
    load.add_argument(
        "--batch-size",
        type=_positive_int,
        default=DEFAULT_LOAD_BATCH_SIZE,
        metavar="N",
        help=f"documents per IngestDocuments call (default: {DEFAULT_LOAD_BATCH_SIZE})",
    )
    load.add_argument(
        "--rate",
        type=_positive_float,
        metavar="R",
        help="start R calls per second in all, on a fixed schedule (open loop); latency then counts from each "
        "call's scheduled start (default: closed loop, each worker's next call as soon as its last is answered)",
    )
    load.add_argument(
        "--seed", type=int, default=1, metavar="N", help="seed of the generated documents and choices (default: 1)"
    )
    load.add_argument(
        "--warmup",
        type=_non_negative_float,
        default=0.0,
        metavar="SECONDS",
        help="send load this long first, and leave it out of the figures (default: 0)",
    )
    load.add_argument(
        "--json",
        dest="json_report",
        nargs="?",
        const="-",
        metavar="FILE",
        help="also write the report as JSON to FILE; without FILE, print JSON instead of the table",
    )
    load.add_argument(
        "--id-prefix",
        metavar="PREFIX",
        help="prefix of the generated documents' ids (default: load-<UTC date and time>-, new for every run)",
    )
    load.add_argument(
        "--ids-from",
        type=Path,
        metavar="FILE",
        help="query these stored ids (one per line) instead of the documents the run ingests",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `dedup` command and return its exit code: 0 done, 1 failed or rejected, 2 bad input."""
    args = build_parser().parse_args(argv)
    run: _Command = args.run
    try:
        tls = tls_options_from_args(args)
        try:
            client = DedupClient(args.target, timeout=args.timeout, tls=tls, token=args.token)
        except ValueError as error:
            raise InputError(str(error)) from error
        with client:
            if args.wait > 0:
                client.wait_until_ready(args.wait)
            return run(client, args)
    except InputError as error:
        _err(f"error: {error}")
        return 2
    except UnauthenticatedError as error:
        _err(f"error: {error.code.name}: {error.details} (give a token with --token or DEDUP_TOKEN)")
        return 1
    except ServerUnavailableError as error:
        _err(f"error: {error.code.name}: {error.details} (is a dedup server listening on {args.target}?)")
        return 1
    except DeadlineExceededError as error:
        _err(f"error: {error.code.name}: {error.details} (no answer within {args.timeout:g} s; see --timeout)")
        return 1
    except DedupClientError as error:
        _err(f"error: {error.code.name}: {error.details}")
        return 1

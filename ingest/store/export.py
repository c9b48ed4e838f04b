"""Export of stored documents: JSON lines (`ingest export`) and Parquet, both streamed."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ingest.store.core import Store


def document_to_export(document: dict[str, Any]) -> dict[str, Any]:
    """The JSON shape of `ingest export`: stable keys, aligned paragraphs, ISO timestamps."""
    paras = document["paragraphs"]
    body = [p for p in paras if p.get("kind", "body") == "body"]  # the texts leave comments out
    return {
        "url": document["url"],
        "source": document["source"],
        "canonical_url": document["canonical_url"],
        "title": document["title"],
        "title_english": document["title_english"],
        "title_confidence": document.get("title_confidence"),
        "title_low_confidence": document.get("title_low_confidence"),
        "author": document["author"],
        "published": document["published"],
        "sitename": document["sitename"],
        "language": document["language"],
        "language_confidence": document["language_confidence"],
        "status": document["status"],
        "reason": document["reason"],
        "translation_status": document["translation_status"],
        "text_english": "\n".join(p["english"] for p in body if p["english"] is not None),
        "text_original": "\n".join(p["original"] for p in body),
        "paragraphs": paras,
        "near_duplicate_group": document.get("near_duplicate_group"),
        "content_hash": document["content_hash"],
        "provenance": {
            "extractor": document["extractor"],
            "detector": document["detector"],
            "translator": document["translator"],
            "archive_path": document["archive_path"],
            "archive_offset": document["archive_offset"],
        },
        "fetched_at": _iso(document["fetched_at"]),
        "processed_at": _iso(document["processed_at"]),
    }


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def export_jsonl(store: Store, out: Any, *, status: str | None = None) -> int:
    """Write every stored document as one JSON line to ``out``; returns the count."""
    count = 0
    for document in store.iter_documents(status=status):
        out.write(json.dumps(document_to_export(document), ensure_ascii=False) + "\n")
        count += 1
    return count


def parquet_schema() -> Any:
    """Arrow schema of the Parquet export: the JSONL fields, nested ones as structs/lists."""
    import pyarrow as pa

    paragraph = pa.struct(
        [
            ("language", pa.string()),
            ("original", pa.string()),
            ("english", pa.string()),
            ("confidence", pa.float64()),
            ("low_confidence", pa.bool_()),
            ("kind", pa.string()),
        ]
    )
    provenance = pa.struct(
        [
            ("extractor", pa.string()),
            ("detector", pa.string()),
            ("translator", pa.string()),
            ("archive_path", pa.string()),
            ("archive_offset", pa.int64()),
        ]
    )
    strings = [
        "url",
        "source",
        "canonical_url",
        "title",
        "title_english",
        "author",
        "published",
        "sitename",
        "language",
    ]
    fields: list[tuple[str, Any]] = [(name, pa.string()) for name in strings]
    fields += [
        ("language_confidence", pa.float64()),
        ("title_confidence", pa.float64()),
        ("title_low_confidence", pa.bool_()),
        ("status", pa.string()),
        ("reason", pa.string()),
        ("translation_status", pa.string()),
        ("text_english", pa.string()),
        ("text_original", pa.string()),
        ("paragraphs", pa.list_(paragraph)),
        ("near_duplicate_group", pa.int64()),
        ("content_hash", pa.string()),
        ("provenance", provenance),
        ("fetched_at", pa.timestamp("us", tz="UTC")),
        ("processed_at", pa.timestamp("us", tz="UTC")),
    ]
    return pa.schema(fields)


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def export_parquet(
    store: Store,
    out: str | Path | IO[bytes],
    *,
    status: str | None = None,
    row_group_size: int = 1000,
) -> int:
    """Write stored documents to a Parquet file, ``row_group_size`` documents at a time."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = parquet_schema()
    count = 0
    buffer: list[dict[str, Any]] = []

    def flush(writer: Any) -> None:
        if buffer:
            writer.write_table(pa.Table.from_pylist(buffer, schema=schema))
            buffer.clear()

    sink = str(out) if isinstance(out, Path) else out
    with pq.ParquetWriter(sink, schema, compression="zstd") as writer:
        for document in _export_rows(store, status):
            buffer.append(document)
            count += 1
            if len(buffer) >= row_group_size:
                flush(writer)
        flush(writer)
    return count


def _export_rows(store: Store, status: str | None) -> Iterable[dict[str, Any]]:
    for document in store.iter_documents(status=status):
        row = document_to_export(document)
        row["fetched_at"] = _utc(document["fetched_at"])
        row["processed_at"] = _utc(document["processed_at"])
        yield row

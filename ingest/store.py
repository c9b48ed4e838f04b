"""Storage: SQLAlchemy Core schema, idempotent upserts, translation memory, export.

SQLite (WAL mode) by default; any SQLAlchemy URL works, e.g. ``postgresql+psycopg://…``.
A document is keyed by its URL; saving it again replaces its row and paragraphs in one
transaction, so a rerun never duplicates and a crash never leaves half a document.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    delete,
    event,
    insert,
    select,
    update,
)
from sqlalchemy.engine import make_url

from ingest.models import Document, Failure

metadata = MetaData()

documents = Table(
    "documents",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("url", Text, nullable=False, unique=True),
    Column("source", Text, nullable=False),
    Column("final_url", Text),
    Column("canonical_url", Text),
    Column("http_status", Integer),
    Column("title", Text),
    Column("title_english", Text),
    Column("author", Text),
    Column("published", String(64)),
    Column("sitename", Text),
    Column("language", String(16)),
    Column("language_confidence", Float),
    Column("title_language", String(16)),
    # "ok" | "partial" | "untranslated" | "failed"; the reason says why when not "ok"
    Column("status", String(16), nullable=False),
    Column("reason", Text),
    Column("failed_stage", String(16)),
    Column("translation_status", Text),
    Column("paragraph_count", Integer, nullable=False, default=0),
    Column("translated_count", Integer, nullable=False, default=0),
    Column("memory_hits", Integer, nullable=False, default=0),
    Column("model_sentences", Integer, nullable=False, default=0),
    Column("content_hash", String(64)),
    Column("extractor", Text),
    Column("detector", Text),
    Column("translator", Text),
    Column("translation_fingerprint", Text),
    Column("archive_path", Text),
    Column("archive_offset", Integer),
    Column("fetched_at", DateTime(timezone=True)),
    Column("processed_at", DateTime(timezone=True), nullable=False),
)

paragraphs = Table(
    "paragraphs",
    metadata,
    Column(
        "document_id",
        Integer,
        ForeignKey("documents.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("position", Integer, primary_key=True),
    Column("language", String(16)),
    Column("original", Text, nullable=False),
    Column("english", Text),  # None when this paragraph could not be translated
)

translation_memory = Table(
    "translation_memory",
    metadata,
    Column("package", String(200), primary_key=True),  # package id @ version
    Column("source_hash", String(64), primary_key=True),  # sha256 of the source sentence
    Column("source", Text, nullable=False),
    Column("target", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)


def _sentence_hash(sentence: str) -> str:
    return hashlib.sha256(sentence.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class StoredVersion:
    """What a stored document was made from; used to skip unchanged documents."""

    content_hash: str | None
    extractor: str | None
    detector: str | None
    translation_fingerprint: str | None
    status: str


class Store:
    """The document store. One instance per process; safe to share between threads."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = _make_engine(url)
        metadata.create_all(self.engine)

    # -- writing -------------------------------------------------------------------------------

    def save_document(self, document: Document) -> None:
        """Insert or replace the document with this URL, paragraphs included, atomically."""
        row = {
            "url": document.url,
            "source": document.source,
            "final_url": document.final_url,
            "canonical_url": document.canonical_url,
            "http_status": document.http_status,
            "title": document.title,
            "title_english": document.title_english,
            "author": document.author,
            "published": document.date,
            "sitename": document.sitename,
            "language": document.language,
            "language_confidence": document.language_confidence,
            "title_language": document.title_language,
            "status": document.status,
            "reason": None if document.status == "ok" else document.translation_status,
            "failed_stage": None,
            "translation_status": document.translation_status,
            "paragraph_count": len(document.paragraphs),
            "translated_count": document.translated_paragraphs(),
            "memory_hits": document.memory_hits,
            "model_sentences": document.model_sentences,
            "content_hash": document.content_hash,
            "extractor": document.extractor,
            "detector": document.detector,
            "translator": document.translator,
            "translation_fingerprint": document.translation_fingerprint,
            "archive_path": document.archive_path,
            "archive_offset": document.archive_offset,
            "fetched_at": document.fetched_at,
            "processed_at": document.processed_at,
        }
        paragraph_rows = [
            {"position": i, "language": lang, "original": original, "english": text}
            for i, (original, lang, text) in enumerate(
                zip(
                    document.paragraphs, document.paragraph_languages, document.english, strict=True
                )
            )
        ]
        with self.engine.begin() as conn:
            document_id = self._upsert(conn, row)
            conn.execute(delete(paragraphs).where(paragraphs.c.document_id == document_id))
            if paragraph_rows:
                conn.execute(
                    insert(paragraphs),
                    [{**p, "document_id": document_id} for p in paragraph_rows],
                )

    def save_failure(self, failure: Failure) -> None:
        """Record a per-document failure, keeping any good version already stored.

        A document that was stored successfully before keeps its text: only its reason is
        updated, so a transient failure on a rerun never loses what was already there.
        """
        with self.engine.begin() as conn:
            existing = conn.execute(
                select(documents.c.id, documents.c.status).where(documents.c.url == failure.url)
            ).first()
            if existing is not None and existing.status != "failed":
                conn.execute(
                    update(documents)
                    .where(documents.c.id == existing.id)
                    .values(reason=f"last run failed at {failure.stage}: {failure.reason}")
                )
                return
            self._upsert(
                conn,
                {
                    "url": failure.url,
                    "source": failure.source,
                    "status": "failed",
                    "reason": failure.reason,
                    "failed_stage": failure.stage,
                    "content_hash": failure.content_hash,
                    "archive_path": failure.archive_path,
                    "archive_offset": failure.archive_offset,
                    "paragraph_count": 0,
                    "translated_count": 0,
                    "processed_at": failure.at,
                },
            )

    def _upsert(self, conn: Any, row: dict[str, Any]) -> int:
        existing = conn.execute(select(documents.c.id).where(documents.c.url == row["url"])).first()
        if existing is None:
            result = conn.execute(insert(documents).values(**row))
            return int(result.inserted_primary_key[0])
        full_row = {c.name: None for c in documents.columns if c.name not in ("id", "url")}
        full_row.update({"paragraph_count": 0, "translated_count": 0})
        full_row.update({"memory_hits": 0, "model_sentences": 0})
        full_row.update({k: v for k, v in row.items() if k != "url"})
        conn.execute(update(documents).where(documents.c.id == existing.id).values(**full_row))
        return int(existing.id)

    # -- reading -------------------------------------------------------------------------------

    def stored_version(self, url: str) -> StoredVersion | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(
                    documents.c.content_hash,
                    documents.c.extractor,
                    documents.c.detector,
                    documents.c.translation_fingerprint,
                    documents.c.status,
                ).where(documents.c.url == url)
            ).first()
        return None if row is None else StoredVersion(*row)

    def get_document(self, url: str) -> dict[str, Any] | None:
        """One stored document as a plain dict, with its aligned paragraphs."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(documents).where(
                    (documents.c.url == url) | (documents.c.canonical_url == url)
                )
            ).first()
            if row is None:
                return None
            return self._with_paragraphs(conn, row._asdict())

    def iter_documents(self, *, status: str | None = None) -> Iterator[dict[str, Any]]:
        """Every stored document (ordered by URL), with paragraphs; streams, never loads all."""
        query = select(documents).order_by(documents.c.url)
        if status is not None:
            query = query.where(documents.c.status == status)
        with self.engine.connect() as conn:
            for row in conn.execute(query).all():
                yield self._with_paragraphs(conn, row._asdict())

    def count_documents(self) -> int:
        with self.engine.connect() as conn:
            return len(conn.execute(select(documents.c.id)).all())

    @staticmethod
    def _with_paragraphs(conn: Any, document: dict[str, Any]) -> dict[str, Any]:
        rows = conn.execute(
            select(paragraphs.c.language, paragraphs.c.original, paragraphs.c.english)
            .where(paragraphs.c.document_id == document["id"])
            .order_by(paragraphs.c.position)
        ).all()
        document["paragraphs"] = [
            {"language": r.language, "original": r.original, "english": r.english} for r in rows
        ]
        return document

    # -- translation memory --------------------------------------------------------------------

    def translation_memory(self) -> SqlTranslationMemory:
        return SqlTranslationMemory(self.engine)

    def close(self) -> None:
        self.engine.dispose()


class SqlTranslationMemory:
    """(package id@version, source sentence) → English, persisted in the store.

    Implements ``ingest.translate.TranslationMemory``. Keys are sentence hashes so the primary
    key index stays small whatever the sentence length.
    """

    _CHUNK = 500  # keep IN (...) lists well under SQLite's variable limit

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def lookup(self, package_key: str, sentences: Sequence[str]) -> dict[str, str]:
        by_hash = {_sentence_hash(s): s for s in sentences}
        found: dict[str, str] = {}
        hashes = list(by_hash)
        with self.engine.connect() as conn:
            for start in range(0, len(hashes), self._CHUNK):
                chunk = hashes[start : start + self._CHUNK]
                rows = conn.execute(
                    select(translation_memory.c.source_hash, translation_memory.c.target).where(
                        (translation_memory.c.package == package_key)
                        & translation_memory.c.source_hash.in_(chunk)
                    )
                )
                for source_hash, target in rows:
                    found[by_hash[source_hash]] = target
        return found

    def remember(self, package_key: str, pairs: Mapping[str, str]) -> None:
        if not pairs:
            return
        now = datetime.now(UTC)
        rows = {
            _sentence_hash(s): {
                "package": package_key,
                "source_hash": _sentence_hash(s),
                "source": s,
                "target": t,
                "created_at": now,
            }
            for s, t in pairs.items()
        }
        with self.engine.begin() as conn:
            hashes = list(rows)
            known: set[str] = set()
            for start in range(0, len(hashes), self._CHUNK):
                chunk = hashes[start : start + self._CHUNK]
                known.update(
                    conn.execute(
                        select(translation_memory.c.source_hash).where(
                            (translation_memory.c.package == package_key)
                            & translation_memory.c.source_hash.in_(chunk)
                        )
                    ).scalars()
                )
            new_rows = [row for h, row in rows.items() if h not in known]
            if new_rows:
                conn.execute(insert(translation_memory), new_rows)

    def size(self, package_key: str | None = None) -> int:
        query = select(translation_memory.c.source_hash)
        if package_key is not None:
            query = query.where(translation_memory.c.package == package_key)
        with self.engine.connect() as conn:
            return len(conn.execute(query).all())


def _make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    database = parsed.database
    if database and database != ":memory:":
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 60})

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.close()

    return engine


def document_to_export(document: dict[str, Any]) -> dict[str, Any]:
    """The JSON shape of `ingest export`: stable keys, aligned paragraphs, ISO timestamps."""
    paras = document["paragraphs"]
    return {
        "url": document["url"],
        "source": document["source"],
        "canonical_url": document["canonical_url"],
        "title": document["title"],
        "title_english": document["title_english"],
        "author": document["author"],
        "published": document["published"],
        "sitename": document["sitename"],
        "language": document["language"],
        "language_confidence": document["language_confidence"],
        "status": document["status"],
        "reason": document["reason"],
        "translation_status": document["translation_status"],
        "text_english": "\n".join(p["english"] for p in paras if p["english"] is not None),
        "text_original": "\n".join(p["original"] for p in paras),
        "paragraphs": paras,
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

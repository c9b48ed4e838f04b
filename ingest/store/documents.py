"""Documents: save (or record a failure), stored versions, and reading them back.

A document is keyed by its URL; saving it again replaces its row, paragraphs, search entry and
near-duplicate signature in one transaction, so a rerun never duplicates and a crash never
leaves half a document. On PostgreSQL the transaction holds a lock on that URL only, so
writers of different documents store in parallel.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Connection

from ingest.grouping import GroupingText, grouping_site, grouping_text
from ingest.models import BODY, Document, Failure, web_site_of
from ingest.store.neardup import group_near_duplicates
from ingest.store.schema import documents, near_duplicates, paragraphs
from ingest.store.search import index_text
from ingest.store.templates import learned_template
from ingest.store.transactions import StorePart


@dataclass(frozen=True)
class StoredVersion:
    """What a stored document was made from; used to skip unchanged documents."""

    content_hash: str | None
    extractor: str | None
    detector: str | None
    translation_fingerprint: str | None
    status: str
    fetched_at: datetime | None = None

    def fetched_after(self, moment: datetime) -> bool:
        """Whether the stored copy is newer than ``moment`` (SQLite returns naive UTC times)."""
        if self.fetched_at is None:
            return False
        stored = self.fetched_at
        if stored.tzinfo is None:
            stored = stored.replace(tzinfo=UTC)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return stored > moment


def _version_columns() -> list[Any]:
    """The columns of ``StoredVersion``, in its field order."""
    return [getattr(documents.c, f.name) for f in dataclasses.fields(StoredVersion)]


def english_text(document: Document) -> str:
    """Title and paragraphs in English (translated or originally English), one per line;
    reader comments left out (they are not the source's text)."""
    parts = [document.title_english] if document.title_english else []
    parts += [p for p in body_english(document) if p]
    return "\n".join(parts)


def body_english(document: Document) -> list[str | None]:
    """The English of the document's own paragraphs (reader comments left out)."""
    return [document.english[i] for i in document.body_indices()]


def _grouping_text(conn: Connection, document: Document) -> GroupingText:
    """What the document is grouped by, without its site's learned template (pages stored
    before the template was learned still carry it)."""
    site = grouping_site(document.url, document.final_url, document.canonical_url)
    template = learned_template(conn, site) if site is not None else frozenset()
    return grouping_text(document, template)


def _aligned(values: list[Any], length: int, missing: Any) -> list[Any]:
    """Per-paragraph values, ``missing`` for each paragraph when they are unknown (empty)."""
    return list(values) if values else [missing] * length


def document_lock(url: str) -> str:
    """The name of the lock writers of this document hold (see ``ingest.store.transactions``)."""
    return f"document:{url}"


def _document_row(document: Document) -> dict[str, Any]:
    """The ``documents`` row of a processed document."""
    return {
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
        "site": web_site_of(document.final_url or document.url),
        "language": document.language,
        "language_confidence": document.language_confidence,
        "title_language": document.title_language,
        "title_confidence": document.title_confidence,
        "title_low_confidence": (
            document.title_low_confidence if document.title_confidence is not None else None
        ),
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


def _upsert(conn: Connection, row: dict[str, Any]) -> int:
    """Insert the row or replace every column of the one with its URL; returns its id."""
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


class DocumentWrites(StorePart):
    """``Store.save_document`` and ``Store.save_failure``."""

    def save_document(self, document: Document) -> None:
        """Insert or replace the document with this URL, paragraphs included, atomically."""
        row = _document_row(document)
        paragraph_rows = [
            {
                "position": i,
                "language": lang,
                "original": original,
                "english": text,
                "confidence": confidence,
                "low_confidence": low if confidence is not None else None,
                "kind": document.kind_of(i),
            }
            for i, (original, lang, text, confidence, low) in enumerate(
                zip(
                    document.paragraphs,
                    document.paragraph_languages,
                    document.english,
                    _aligned(document.paragraph_confidence, len(document.paragraphs), None),
                    _aligned(document.low_confidence, len(document.paragraphs), False),
                    strict=True,
                )
            )
        ]
        body = "\n".join(p for p in body_english(document) if p)  # search: the source's text
        with self._writing(document_lock(document.url)) as conn:
            document_id = _upsert(conn, row)
            conn.execute(delete(paragraphs).where(paragraphs.c.document_id == document_id))
            if paragraph_rows:
                conn.execute(
                    insert(paragraphs),
                    [{**p, "document_id": document_id} for p in paragraph_rows],
                )
            index_text(conn, document_id, document.title_english, body)
            group_near_duplicates(conn, document_id, _grouping_text(conn, document))

    def save_failure(self, failure: Failure) -> None:
        """Record a per-document failure, keeping any good version already stored.

        A document that was stored successfully before keeps its text: only its reason is
        updated, so a transient failure on a rerun never loses what was already there.
        """
        with self._writing(document_lock(failure.url)) as conn:
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
            _upsert(
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


class DocumentReads(StorePart):
    """Stored versions (skip unchanged documents) and documents with their paragraphs."""

    _local: threading.local  # per-thread prefetched versions

    def prefetch_versions(self, urls: Sequence[str]) -> None:
        """Read the stored versions of a whole batch in one query.

        The next ``stored_version`` call for each of these URLs (in this thread) is answered
        from it, once: an unchanged pass costs one query per batch, not one per document.
        """
        found: dict[str, StoredVersion | None] = dict.fromkeys(urls)
        keys = list(found)
        with self.engine.connect() as conn:
            for start in range(0, len(keys), 500):
                rows = conn.execute(
                    select(documents.c.url, *_version_columns()).where(
                        documents.c.url.in_(keys[start : start + 500])
                    )
                )
                for url, *version in rows:
                    found[url] = StoredVersion(*version)
        self._local.versions = found

    def peek_version(self, url: str) -> StoredVersion | None:
        """Like ``stored_version`` but leaves a prefetched answer for the next call."""
        prefetched = getattr(self._local, "versions", None)
        if prefetched is not None and url in prefetched:
            return prefetched[url]
        return self._query_version(url)

    def stored_version(self, url: str) -> StoredVersion | None:
        prefetched = getattr(self._local, "versions", None)
        if prefetched is not None and url in prefetched:
            return prefetched.pop(url)
        return self._query_version(url)

    def _query_version(self, url: str) -> StoredVersion | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(*_version_columns()).where(documents.c.url == url)).first()
        return None if row is None else StoredVersion(*row)

    def get_document(self, url: str) -> dict[str, Any] | None:
        """One stored document as a plain dict, with its aligned paragraphs."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(*self._readable(documents))
                .where((documents.c.url == url) | (documents.c.canonical_url == url))
                .order_by((documents.c.url == url).desc(), documents.c.id)
            ).first()
            if row is None:
                return None
            return self._with_paragraphs(conn, row._asdict())

    def iter_documents(
        self, *, status: str | None = None, page_size: int = 200
    ) -> Iterator[dict[str, Any]]:
        """Every stored document (ordered by URL), with paragraphs; streams, never loads all.

        Keyset pages of ``page_size`` documents, each read in its own short transaction, so a
        long export neither holds memory nor blocks writers.
        """
        last: str | None = None
        while True:
            query = select(*self._readable(documents)).order_by(documents.c.url).limit(page_size)
            if status is not None:
                query = query.where(documents.c.status == status)
            if last is not None:
                query = query.where(documents.c.url > last)
            with self.engine.connect() as conn:
                rows = [row._asdict() for row in conn.execute(query)]
                if not rows:
                    return
                self._attach(conn, rows)
            yield from rows
            last = rows[-1]["url"]

    def count_documents(self, *, status: str | None = None) -> int:
        query = select(func.count()).select_from(documents)
        if status is not None:
            query = query.where(documents.c.status == status)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def status_counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(documents.c.status, func.count()).group_by(documents.c.status)
            ).all()
        return {status: int(n) for status, n in rows}

    def _with_paragraphs(self, conn: Connection, document: dict[str, Any]) -> dict[str, Any]:
        self._attach(conn, [document])
        return document

    def _attach(self, conn: Connection, docs: list[dict[str, Any]]) -> None:
        """Add ``paragraphs`` and ``near_duplicate_group`` to each document dict, in bulk."""
        by_id = {d["id"]: d for d in docs}
        for d in docs:
            d["paragraphs"] = []
            d["near_duplicate_group"] = None
        ids = list(by_id)
        wanted = (
            "document_id",
            "language",
            "original",
            "english",
            "confidence",
            "low_confidence",
            "kind",
        )
        columns = [c for c in self._readable(paragraphs) if c.name in wanted]
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            rows = conn.execute(
                select(*columns)
                .where(paragraphs.c.document_id.in_(chunk))
                .order_by(paragraphs.c.document_id, paragraphs.c.position)
            )
            for r in rows:
                by_id[r.document_id]["paragraphs"].append(
                    {
                        "language": r.language,
                        "original": r.original,
                        "english": r.english,
                        "confidence": r.confidence,
                        "low_confidence": r.low_confidence,
                        "kind": r.kind or BODY,
                    }
                )
            for document_id, group_id in conn.execute(
                select(near_duplicates.c.document_id, near_duplicates.c.group_id).where(
                    near_duplicates.c.document_id.in_(chunk)
                )
            ):
                by_id[document_id]["near_duplicate_group"] = group_id

"""Storage: SQLAlchemy Core schema, idempotent upserts, translation memory, search, export.

SQLite (WAL mode) by default; PostgreSQL by URL (``postgresql+psycopg://…``), for a store shared
by several machines. A document is keyed by its URL; saving it again replaces its row,
paragraphs, search entry and near-duplicate signature in one transaction, so a rerun never
duplicates and a crash never leaves half a document.

Writers are serialised per store (SQLite ``BEGIN IMMEDIATE``, a PostgreSQL advisory lock held
for the transaction): a document save takes milliseconds next to extraction and translation,
and serialising them makes two concurrent runs on one store as consistent as one run.

Also here: full-text search over the English text (SQLite FTS5 / PostgreSQL tsvector + GIN),
near-duplicate groups (LSH buckets from ``ingest.dedup``), run statistics, per-archive
checkpoints used by ``ingest.reprocess`` to resume, and JSONL / Parquet export.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib.util
import json
import os
import re
import socket
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    delete,
    event,
    func,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from ingest.errors import StoreUnwritable, unwritable_cause
from ingest.models import Document, Failure, web_site_of

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
    Column("site", String(255), index=True),  # host of web pages; site templates are per site
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
    Column("archive_offset", BigInteger),  # WARC files pass 2 GB
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

# Near-duplicate groups: every document with enough English text has a row; ``group_id`` is
# the smallest document id of its group (its own id when it has no near-duplicate).
near_duplicates = Table(
    "near_duplicates",
    metadata,
    Column("document_id", Integer, primary_key=True),
    Column("group_id", Integer, nullable=False, index=True),
    Column("features", Text, nullable=False),  # the feature set, space-separated (exact check)
)

# LSH buckets (band number hashed in): documents sharing one are near-duplicate candidates.
dedup_bands = Table(
    "dedup_bands",
    metadata,
    Column("bucket", String(16), primary_key=True),
    Column("document_id", Integer, primary_key=True),
)
Index("ix_dedup_bands_document", dedup_bands.c.document_id)

runs = Table(
    "runs",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("kind", String(32), nullable=False),  # "reprocess", …
    # "running", "finished", "failed", "interrupted" (died), "refused" (archive busy)
    Column("state", String(16), nullable=False),
    Column("inputs", Text, nullable=False),  # JSON list
    Column("force", Boolean, nullable=False, default=False),
    Column("host", Text),
    Column("pid", Integer),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("seconds", Float),
    Column("records", Integer, nullable=False, default=0),
    Column("stats", Text),  # JSON: counts per status, memory hits, model sentences, docs/s, …
)

# One row per archive (file or folder) being reprocessed: how many records of it are done.
# Lines learned as a site's template (normalised by ingest.extract.normalize_line): removed
# from every page of that site when it is extracted again.
site_boilerplate = Table(
    "site_boilerplate",
    metadata,
    Column("site", String(255), primary_key=True),
    Column("line_hash", String(64), primary_key=True),
    Column("line", Text, nullable=False),
    Column("learned_at", DateTime(timezone=True), nullable=False),
)

checkpoints = Table(
    "checkpoints",
    metadata,
    Column("archive", Text, primary_key=True),  # resolved path
    Column("identity", Text, nullable=False),  # size and mtime: a changed file starts over
    Column("records_done", BigInteger, nullable=False, default=0),
    Column("completed", Boolean, nullable=False, default=False),
    Column("force", Boolean, nullable=False, default=False),
    Column("run_id", String(36)),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

_PG_LOCK_WRITE = 7_301_002  # advisory lock key of writers (arbitrary, fixed)


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


@dataclass(frozen=True)
class SearchHit:
    """One search result: the document and a highlighted extract of its English text."""

    url: str
    title: str | None
    language: str | None
    status: str
    snippet: str
    score: float  # higher is better (bm25 negated on SQLite, ts_rank_cd on PostgreSQL)


@dataclass(frozen=True)
class Checkpoint:
    archive: str
    identity: str
    records_done: int
    completed: bool
    force: bool
    run_id: str | None


STALE_RUN_SECONDS = 3600.0  # a run on another host whose checkpoint did not move is dead


@dataclass(frozen=True)
class Claim:
    """Where a run starts on an archive: records to skip, and whose work they were."""

    skip: int
    resumed_run: str | None  # the run that did the skipped records (None: a new pass)
    resumed_state: str | None  # its state: "interrupted", "failed", …


class ArchiveBusyError(RuntimeError):
    """Another live run is reprocessing this archive; its checkpoint is not ours to resume."""

    def __init__(self, archive: str, run_id: str, pid: int | None, host: str | None) -> None:
        self.archive, self.run_id, self.pid, self.host = archive, run_id, pid, host
        super().__init__(
            f"archive {archive} is being reprocessed by run {run_id} "
            f"(pid {pid} on host {host}); run again when it has finished"
        )


def english_text(document: Document) -> str:
    """Title and paragraphs in English (translated or originally English), one per line."""
    parts = [document.title_english] if document.title_english else []
    parts += [p for p in document.english if p]
    return "\n".join(parts)


class StoreError(RuntimeError):
    """The store cannot be used (bad URL, unsupported backend, unreachable, not a database).

    ``str(error)`` is one line for the user, with any password in the URL hidden.
    """


SUPPORTED_BACKENDS = ("sqlite", "postgresql")
_SQLITE_HEADER = b"SQLite format 3\x00"
_CONNECT_TIMEOUT = 10  # seconds to reach a PostgreSQL server before giving up


def safe_store_url(url: str) -> str:
    """The URL for messages: the password replaced by ``***`` (unparsable URLs as given)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def check_store_url(url: str) -> None:
    """Refuse, with one clear line, a store URL that cannot work, before connecting.

    Catches what would otherwise surface as a driver traceback: text that is not a URL, an
    unsupported backend (``mysql://``), an SQLite path that is a folder or a file that is not
    an SQLite database. (An unreachable server is reported when connecting.)
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError(
            f"invalid store URL {url!r}: expected sqlite:///PATH/ingest.db or "
            "postgresql+psycopg://USER@HOST/DATABASE"
        ) from None
    backend = parsed.get_backend_name()
    if backend not in SUPPORTED_BACKENDS:
        raise StoreError(
            f"unsupported store backend {backend!r} in {safe_store_url(url)} "
            f"(supported: {', '.join(SUPPORTED_BACKENDS)})"
        )
    path = _sqlite_path(url)
    if path is None:
        return
    try:
        if path.is_dir():
            raise StoreError(f"the store is a folder, not a database file: {path}")
        if not path.exists():
            return
        with path.open("rb") as handle:
            header = handle.read(len(_SQLITE_HEADER))
    except OSError as error:
        reason = (error.strerror or str(error)).lower()
        raise StoreError(f"cannot open the store {path}: {reason}") from None
    if header and header != _SQLITE_HEADER:
        raise StoreError(f"not an SQLite database: {path}")


def _nothing_in_wal(path: Path) -> bool:
    """Whether an SQLite database has no write-ahead log waiting to be checkpointed."""
    try:
        return path.with_name(path.name + "-wal").stat().st_size == 0
    except FileNotFoundError:
        return True
    except OSError:
        return False


def _sqlite_path(url: str) -> Path | None:
    """The database file of an SQLite URL (None for other backends, memory or URI forms)."""
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    if database.startswith("file:"):
        return None
    return Path(database).expanduser()


def describe_database_error(error: BaseException) -> str:
    """First line of the driver's message (no SQL, no "Background on this error" link)."""
    original = getattr(error, "orig", None) or error
    lines = str(original).strip().splitlines()
    first = lines[0].strip() if lines else type(original).__name__
    if "readonly database" in first or "read-only" in first:
        return f"the store is read-only ({first})"
    return first


class Store:
    """The document store. One instance per process; safe to share between threads.

    ``read_only=True`` (export, show, search, runs) never writes: an existing SQLite file is
    opened with ``mode=ro`` and no schema is created, so a read-only store file can be read.
    """

    def __init__(self, url: str, *, read_only: bool = False) -> None:
        check_store_url(url)
        self.url = url
        path = _sqlite_path(url)
        # a store that does not exist yet is created (empty) as before, even for reading
        in_memory = path is None and make_url(url).get_backend_name() == "sqlite"
        self.read_only = read_only and not in_memory and (path is None or path.exists())
        self.engine = _make_engine(url, read_only=self.read_only)
        self.dialect = self.engine.dialect.name
        self._local = threading.local()  # per-thread prefetched versions
        try:
            if not self._readable_schema_present(path):
                if self.read_only:
                    raise StoreError(
                        f"{safe_store_url(url)} has no ingest tables: nothing was stored there"
                    )
                self._create_schema()
        except DBAPIError as error:
            self.engine.dispose()
            raise StoreError(
                f"cannot open the store {safe_store_url(url)}: {describe_database_error(error)}"
            ) from error

    def check_writable(self) -> None:
        """Raise ``StoreError`` now, before any work, if this store cannot be written to."""
        try:
            with self.engine.connect() as conn:
                conn.execution_options(ingest_write=True)
                transaction = conn.begin()
                try:  # a real write, rolled back: SQLite only refuses a read-only file then
                    if self.dialect == "sqlite":
                        conn.exec_driver_sql("CREATE TABLE ingest_write_probe (x INTEGER)")
                finally:
                    transaction.rollback()
        except DBAPIError as error:
            raise StoreError(
                f"cannot write to the store {safe_store_url(self.url)}: "
                f"{describe_database_error(error)}"
            ) from error

    def _readable_schema_present(self, path: Path | None) -> bool:
        """``_schema_present``, reopening a read-only SQLite store as immutable if need be.

        A WAL-mode file in a folder the user cannot write cannot even be read with
        ``mode=ro`` (SQLite must create its ``-shm`` file). With no pending ``-wal`` file
        beside it, everything is in the database file: ``immutable=1`` reads it as it is.
        """
        try:
            return self._schema_present()
        except DBAPIError:
            if not (self.read_only and path is not None and _nothing_in_wal(path)):
                raise
        self.engine.dispose()
        self.engine = _make_engine(self.url, read_only=True, immutable=True)
        return self._schema_present()

    def _schema_present(self) -> bool:
        """Whether every table exists, checked without a write transaction."""
        with self.engine.connect() as conn:
            present = set(inspect(conn).get_table_names())
        wanted = set(metadata.tables)
        wanted.add("document_fts" if self.dialect == "sqlite" else "document_search")
        return wanted <= present

    def _create_schema(self) -> None:
        # Under the writers' lock: two runs starting at once on a fresh database would race
        # on CREATE TABLE.
        with self._writing() as conn:
            metadata.create_all(conn)
            if self.dialect == "sqlite":
                conn.exec_driver_sql(
                    "CREATE VIRTUAL TABLE IF NOT EXISTS document_fts USING fts5("
                    "title, body, tokenize = 'porter unicode61 remove_diacritics 2')"
                )
            elif self.dialect == "postgresql":
                conn.exec_driver_sql(
                    "CREATE TABLE IF NOT EXISTS document_search ("
                    " document_id integer PRIMARY KEY REFERENCES documents(id) ON DELETE CASCADE,"
                    " title text, body text NOT NULL, tsv tsvector NOT NULL)"
                )
                conn.exec_driver_sql(
                    "CREATE INDEX IF NOT EXISTS ix_document_search_tsv "
                    "ON document_search USING GIN (tsv)"
                )

    def _writing(self) -> contextlib.AbstractContextManager[Connection]:
        """A write transaction, serialised against every other writer of this store."""
        return _write_transaction(self.engine)

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
            "site": web_site_of(document.final_url or document.url),
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
        body = "\n".join(p for p in document.english if p)
        with self._writing() as conn:
            document_id = self._upsert(conn, row)
            conn.execute(delete(paragraphs).where(paragraphs.c.document_id == document_id))
            if paragraph_rows:
                conn.execute(
                    insert(paragraphs),
                    [{**p, "document_id": document_id} for p in paragraph_rows],
                )
            self._index_text(conn, document_id, document.title_english, body)
            self._group_near_duplicates(conn, document_id, english_text(document))

    def save_failure(self, failure: Failure) -> None:
        """Record a per-document failure, keeping any good version already stored.

        A document that was stored successfully before keeps its text: only its reason is
        updated, so a transient failure on a rerun never loses what was already there.
        """
        with self._writing() as conn:
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

    def _upsert(self, conn: Connection, row: dict[str, Any]) -> int:
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

    def _index_text(self, conn: Connection, document_id: int, title: str | None, body: str) -> None:
        """(Re)write the full-text entry of a document: English title and English text."""
        if self.dialect == "sqlite":
            conn.execute(text("DELETE FROM document_fts WHERE rowid = :id"), {"id": document_id})
            if body or title:
                conn.execute(
                    text("INSERT INTO document_fts(rowid, title, body) VALUES (:id, :t, :b)"),
                    {"id": document_id, "t": title or "", "b": body},
                )
        elif self.dialect == "postgresql":
            conn.execute(
                text("DELETE FROM document_search WHERE document_id = :id"), {"id": document_id}
            )
            if body or title:
                conn.execute(
                    text(
                        "INSERT INTO document_search(document_id, title, body, tsv) VALUES "
                        "(:id, :t, :b, setweight(to_tsvector('english', :t), 'A') || "
                        "setweight(to_tsvector('english', :b), 'B'))"
                    ),
                    {"id": document_id, "t": title or "", "b": body},
                )

    def _group_near_duplicates(self, conn: Connection, document_id: int, english: str) -> None:
        """Put the document in the group of its near-duplicates (ingest.dedup), merging groups."""
        from ingest import dedup

        features = dedup.features(english)
        old = conn.execute(
            select(near_duplicates.c.features, near_duplicates.c.group_id).where(
                near_duplicates.c.document_id == document_id
            )
        ).first()
        joined = " ".join(sorted(features))
        if old is not None and old.features == joined:
            return  # same text as before: same buckets, same group
        conn.execute(delete(dedup_bands).where(dedup_bands.c.document_id == document_id))
        conn.execute(delete(near_duplicates).where(near_duplicates.c.document_id == document_id))
        if old is not None and old.group_id == document_id:
            # it represented a group: the rest of the group keeps its smallest remaining id
            rest = conn.execute(
                select(func.min(near_duplicates.c.document_id)).where(
                    near_duplicates.c.group_id == document_id
                )
            ).scalar()
            if rest is not None:
                conn.execute(
                    update(near_duplicates)
                    .where(near_duplicates.c.group_id == document_id)
                    .values(group_id=rest)
                )
        if len(features) < dedup.MIN_FEATURES:
            return
        buckets = dedup.band_buckets(features)
        # The candidates sharing most buckets (the most similar ones), a bounded number.
        shared = func.count().label("shared")
        candidates = conn.execute(
            select(dedup_bands.c.document_id, shared)
            .where(dedup_bands.c.bucket.in_(buckets) & (dedup_bands.c.document_id != document_id))
            .group_by(dedup_bands.c.document_id)
            .order_by(shared.desc(), dedup_bands.c.document_id)
            .limit(dedup.MAX_CANDIDATES)
        ).all()
        groups: set[int] = set()
        best = 0.0
        if candidates:
            rows = conn.execute(
                select(near_duplicates.c.features, near_duplicates.c.group_id).where(
                    near_duplicates.c.document_id.in_([c.document_id for c in candidates])
                )
            )
            for other_features, other_group in rows:
                other = set(other_features.split())
                if dedup.similar(features, other):
                    groups.add(int(other_group))
                    best = max(best, dedup.jaccard(features, other))
        group_id = min(groups | {document_id})
        if groups - {group_id}:
            conn.execute(
                update(near_duplicates)
                .where(near_duplicates.c.group_id.in_(sorted(groups - {group_id})))
                .values(group_id=group_id)
            )
        conn.execute(
            insert(near_duplicates).values(
                document_id=document_id, group_id=group_id, features=joined
            )
        )
        if best < dedup.NOVELTY:
            # A (near-)copy of a stored document adds no buckets: whatever would find it finds
            # that document, so buckets stay small however often a page is syndicated.
            conn.execute(
                insert(dedup_bands),
                [{"bucket": bucket, "document_id": document_id} for bucket in buckets],
            )

    # -- reading -------------------------------------------------------------------------------

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
                select(documents)
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
            query = select(documents).order_by(documents.c.url).limit(page_size)
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

    # -- site templates ------------------------------------------------------------------------

    def site_paragraphs(self, site: str, *, limit: int = 50) -> list[list[str]]:
        """Original paragraphs of the site's most recently processed documents."""
        with self.engine.connect() as conn:
            ids = (
                conn.execute(
                    select(documents.c.id)
                    .where((documents.c.site == site) & (documents.c.status != "failed"))
                    .order_by(documents.c.processed_at.desc())
                    .limit(limit)
                )
                .scalars()
                .all()
            )
            pages: dict[int, list[str]] = {i: [] for i in ids}
            if ids:
                rows = conn.execute(
                    select(paragraphs.c.document_id, paragraphs.c.original)
                    .where(paragraphs.c.document_id.in_(ids))
                    .order_by(paragraphs.c.document_id, paragraphs.c.position)
                )
                for document_id, original in rows:
                    pages[document_id].append(original)
        return list(pages.values())

    def site_boilerplate(self, site: str) -> frozenset[str]:
        with self.engine.connect() as conn:
            lines = conn.execute(
                select(site_boilerplate.c.line).where(site_boilerplate.c.site == site)
            ).scalars()
            return frozenset(lines)

    def add_site_boilerplate(self, site: str, lines: Iterable[str]) -> int:
        """Remember lines as the site's template; returns how many were new."""
        wanted = {_sentence_hash(line): line for line in lines}
        if not wanted:
            return 0
        with self._writing() as conn:
            known = set(
                conn.execute(
                    select(site_boilerplate.c.line_hash).where(site_boilerplate.c.site == site)
                ).scalars()
            )
            new = [
                {"site": site, "line_hash": h, "line": line, "learned_at": datetime.now(UTC)}
                for h, line in wanted.items()
                if h not in known
            ]
            if new:
                conn.execute(insert(site_boilerplate), new)
        return len(new)

    @staticmethod
    def _with_paragraphs(conn: Connection, document: dict[str, Any]) -> dict[str, Any]:
        Store._attach(conn, [document])
        return document

    @staticmethod
    def _attach(conn: Connection, docs: list[dict[str, Any]]) -> None:
        """Add ``paragraphs`` and ``near_duplicate_group`` to each document dict, in bulk."""
        by_id = {d["id"]: d for d in docs}
        for d in docs:
            d["paragraphs"] = []
            d["near_duplicate_group"] = None
        ids = list(by_id)
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            rows = conn.execute(
                select(
                    paragraphs.c.document_id,
                    paragraphs.c.language,
                    paragraphs.c.original,
                    paragraphs.c.english,
                )
                .where(paragraphs.c.document_id.in_(chunk))
                .order_by(paragraphs.c.document_id, paragraphs.c.position)
            )
            for r in rows:
                by_id[r.document_id]["paragraphs"].append(
                    {"language": r.language, "original": r.original, "english": r.english}
                )
            for document_id, group_id in conn.execute(
                select(near_duplicates.c.document_id, near_duplicates.c.group_id).where(
                    near_duplicates.c.document_id.in_(chunk)
                )
            ):
                by_id[document_id]["near_duplicate_group"] = group_id

    # -- near-duplicates -----------------------------------------------------------------------

    def near_duplicates_of(self, url: str, *, limit: int | None = None) -> list[dict[str, Any]]:
        """The other documents of this document's near-duplicate group (may be in any language)."""
        with self.engine.connect() as conn:
            group_id = self._group_of(conn, url)
            if group_id is None:
                return []
            query = (
                select(
                    documents.c.url,
                    documents.c.title,
                    documents.c.title_english,
                    documents.c.language,
                    documents.c.status,
                )
                .join(near_duplicates, documents.c.id == near_duplicates.c.document_id)
                .where((near_duplicates.c.group_id == group_id) & (documents.c.url != url))
                .order_by(documents.c.url)
            )
            if limit is not None:
                query = query.limit(limit)
            rows = conn.execute(query).all()
        return [row._asdict() for row in rows]

    def group_size(self, url: str) -> int:
        """Documents in this document's near-duplicate group, itself included (0: not grouped)."""
        with self.engine.connect() as conn:
            group_id = self._group_of(conn, url)
            if group_id is None:
                return 0
            return int(
                conn.execute(
                    select(func.count()).where(near_duplicates.c.group_id == group_id)
                ).scalar_one()
            )

    @staticmethod
    def _group_of(conn: Connection, url: str) -> int | None:
        return conn.execute(
            select(near_duplicates.c.group_id)
            .join(documents, documents.c.id == near_duplicates.c.document_id)
            .where((documents.c.url == url) | (documents.c.canonical_url == url))
            .limit(1)
        ).scalar()

    def near_duplicate_groups(self, *, min_size: int = 2) -> list[list[str]]:
        """Every group with at least ``min_size`` documents, as sorted URL lists."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(near_duplicates.c.group_id, documents.c.url)
                .join(documents, documents.c.id == near_duplicates.c.document_id)
                .order_by(near_duplicates.c.group_id, documents.c.url)
            ).all()
        groups: dict[int, list[str]] = {}
        for group_id, url in rows:
            groups.setdefault(group_id, []).append(url)
        return [urls for urls in groups.values() if len(urls) >= min_size]

    # -- search --------------------------------------------------------------------------------

    def search(self, query: str, *, limit: int = 10) -> list[SearchHit]:
        """Full-text search over English titles and text, best first.

        Query syntax (both backends): words (all must match, English stemming), ``"a phrase"``,
        ``OR`` between words, ``-word`` to exclude.
        """
        if not query.strip():
            return []
        with self.engine.connect() as conn:
            if self.dialect == "sqlite":
                match = fts5_query(query)
                if not match:
                    return []
                rows = conn.execute(
                    text(
                        "SELECT d.url, coalesce(d.title_english, d.title) AS title, d.language, "
                        "d.status, snippet(document_fts, 1, '[', ']', '…', 16) AS snippet, "
                        "-bm25(document_fts, 2.0, 1.0) AS score "
                        "FROM document_fts JOIN documents d ON d.id = document_fts.rowid "
                        "WHERE document_fts MATCH :q ORDER BY bm25(document_fts, 2.0, 1.0) "
                        "LIMIT :n"
                    ),
                    {"q": match, "n": limit},
                ).all()
            elif self.dialect == "postgresql":
                rows = conn.execute(
                    text(
                        "SELECT d.url, coalesce(d.title_english, d.title) AS title, d.language, "
                        "d.status, ts_headline('english', s.body, q, "
                        "'StartSel=[, StopSel=], MaxWords=24, MinWords=8') AS snippet, "
                        "ts_rank_cd(s.tsv, q) AS score "
                        "FROM document_search s JOIN documents d ON d.id = s.document_id, "
                        "websearch_to_tsquery('english', :q) q "
                        "WHERE s.tsv @@ q ORDER BY score DESC, d.url LIMIT :n"
                    ),
                    {"q": query, "n": limit},
                ).all()
            else:
                raise NotImplementedError(f"search on {self.dialect} is not supported")
        return [
            SearchHit(r.url, r.title, r.language, r.status, r.snippet, float(r.score)) for r in rows
        ]

    # -- runs and checkpoints ------------------------------------------------------------------

    def start_run(self, kind: str, inputs: Sequence[str], *, force: bool = False) -> str:
        run_id = str(uuid.uuid4())
        with self._writing() as conn:
            conn.execute(
                insert(runs).values(
                    id=run_id,
                    kind=kind,
                    state="running",
                    inputs=json.dumps(list(inputs), ensure_ascii=False),
                    force=force,
                    host=socket.gethostname(),
                    pid=os.getpid(),
                    started_at=datetime.now(UTC),
                    records=0,
                )
            )
        return run_id

    def update_run(
        self,
        run_id: str,
        *,
        records: int,
        stats: Mapping[str, Any],
        state: str | None = None,
        seconds: float | None = None,
    ) -> None:
        values: dict[str, Any] = {
            "records": records,
            "stats": json.dumps(dict(stats), ensure_ascii=False, default=str),
        }
        if seconds is not None:
            values["seconds"] = seconds
        if state is not None:
            values["state"] = state
            if state != "running":
                values["finished_at"] = datetime.now(UTC)
        with self._writing() as conn:
            conn.execute(update(runs).where(runs.c.id == run_id).values(**values))

    def reap_runs(self) -> int:
        """Mark "running" runs of this host whose process is gone (e.g. kill -9) "interrupted"."""
        host = socket.gethostname()
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(runs.c.id, runs.c.pid).where(
                    (runs.c.state == "running") & (runs.c.host == host)
                )
            ).all()
        dead = [run_id for run_id, pid in rows if pid is not None and not _alive(pid)]
        if dead:
            with self._writing() as conn:
                conn.execute(
                    update(runs)
                    .where(runs.c.id.in_(dead) & (runs.c.state == "running"))
                    .values(state="interrupted")
                )
        return len(dead)

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(runs).where(runs.c.id == run_id)).first()
        return None if row is None else _run_dict(row._asdict())

    def list_runs(self, *, limit: int = 20) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(runs).order_by(runs.c.started_at.desc()).limit(limit)).all()
        return [_run_dict(r._asdict()) for r in rows]

    def get_checkpoint(self, archive: str) -> Checkpoint | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(checkpoints).where(checkpoints.c.archive == archive)).first()
        if row is None:
            return None
        return Checkpoint(
            row.archive,
            row.identity,
            int(row.records_done),
            bool(row.completed),
            bool(row.force),
            row.run_id,
        )

    def set_checkpoint(
        self,
        archive: str,
        *,
        identity: str,
        records_done: int,
        completed: bool = False,
        force: bool = False,
        run_id: str | None = None,
        restart: bool = False,
    ) -> None:
        """Record progress on an archive. Never moves backwards unless ``restart`` (a new pass)."""
        now = datetime.now(UTC)
        with self._writing() as conn:
            current = conn.execute(
                select(checkpoints.c.records_done, checkpoints.c.identity).where(
                    checkpoints.c.archive == archive
                )
            ).first()
            values = {
                "identity": identity,
                "records_done": records_done,
                "completed": completed,
                "force": force,
                "run_id": run_id,
                "updated_at": now,
            }
            if current is None:
                conn.execute(insert(checkpoints).values(archive=archive, **values))
                return
            if not restart and current.identity == identity:
                # a concurrent run on the same archive may be further along
                values["records_done"] = max(records_done, int(current.records_done))
            conn.execute(
                update(checkpoints).where(checkpoints.c.archive == archive).values(**values)
            )

    def check_not_busy(self, archive: str, *, stale_after: float = STALE_RUN_SECONDS) -> None:
        """Raise ``ArchiveBusyError`` if a live run is reprocessing ``archive`` (read only).

        For an early, clean refusal (e.g. before a Prefect flow starts); the binding check is
        the atomic one in ``claim_checkpoint``.
        """
        with self.engine.connect() as conn:
            row, owner = _checkpoint_and_owner(conn, archive)
        busy = _busy_error(archive, row, owner, None, datetime.now(UTC), stale_after)
        if busy is not None:
            raise busy

    def claim_checkpoint(
        self,
        archive: str,
        *,
        identity: str,
        run_id: str,
        force: bool = False,
        stale_after: float = STALE_RUN_SECONDS,
    ) -> Claim:
        """Make ``run_id`` the owner of the archive's checkpoint, atomically; say where to start.

        An unfinished checkpoint owned by another run that is still alive (its pid exists on
        this host, or, on another host, it moved in the last ``stale_after`` seconds) raises
        ``ArchiveBusyError``: its records are that run's work in progress, not "done". A
        checkpoint of a dead or ended run with the same archive identity is resumed (unless
        this run is forced and that one was not); anything else starts a new pass.
        """
        now = datetime.now(UTC)
        with self._writing() as conn:
            row, owner = _checkpoint_and_owner(conn, archive)
            busy = _busy_error(archive, row, owner, run_id, now, stale_after)
            if busy is not None:
                raise busy
            resume = (
                row is not None
                and not row.completed
                and row.identity == identity
                and (bool(row.force) or not force)  # a forced run never trusts a lazy one
            )
            if resume:
                assert row is not None
                conn.execute(
                    update(checkpoints)
                    .where(checkpoints.c.archive == archive)
                    .values(run_id=run_id, updated_at=now)
                )
                return Claim(
                    int(row.records_done),
                    row.run_id if row.records_done else None,
                    owner.state if owner is not None and row.records_done else None,
                )
            values = {
                "identity": identity,
                "records_done": 0,
                "completed": False,
                "force": force,
                "run_id": run_id,
                "updated_at": now,
            }
            if row is None:
                conn.execute(insert(checkpoints).values(archive=archive, **values))
            else:
                conn.execute(
                    update(checkpoints).where(checkpoints.c.archive == archive).values(**values)
                )
            return Claim(0, None, None)

    # -- translation memory --------------------------------------------------------------------

    def translation_memory(self) -> SqlTranslationMemory:
        return SqlTranslationMemory(self.engine)

    def close(self) -> None:
        self.engine.dispose()


def _checkpoint_and_owner(conn: Connection, archive: str) -> tuple[Any, Any]:
    """The checkpoint row of an archive and (state, pid, host) of the run that owns it."""
    row = conn.execute(select(checkpoints).where(checkpoints.c.archive == archive)).first()
    owner = None
    if row is not None and row.run_id:
        owner = conn.execute(
            select(runs.c.state, runs.c.pid, runs.c.host).where(runs.c.id == row.run_id)
        ).first()
    return row, owner


def _busy_error(
    archive: str, row: Any, owner: Any, run_id: str | None, now: datetime, stale: float
) -> ArchiveBusyError | None:
    """The error to raise when another live run owns the unfinished checkpoint, else None."""
    if (
        row is not None
        and not row.completed
        and row.run_id != run_id
        and owner is not None
        and owner.state == "running"
        and _run_is_live(owner.host, owner.pid, row.updated_at, now, stale)
    ):
        return ArchiveBusyError(archive, row.run_id, owner.pid, owner.host)
    return None


def _run_is_live(
    host: str | None, pid: int | None, updated_at: datetime | None, now: datetime, stale: float
) -> bool:
    """Whether a "running" run still works: its process exists (this host) or it moved lately."""
    if host == socket.gethostname():
        return pid is not None and _alive(pid)
    if updated_at is None:
        return False
    if updated_at.tzinfo is None:  # SQLite returns naive UTC times
        updated_at = updated_at.replace(tzinfo=UTC)
    return (now - updated_at).total_seconds() < stale


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def _run_dict(row: dict[str, Any]) -> dict[str, Any]:
    row["inputs"] = json.loads(row["inputs"]) if row["inputs"] else []
    row["stats"] = json.loads(row["stats"]) if row["stats"] else {}
    return row


_FTS_TOKEN = re.compile(r'-?"[^"]*"?|\S+')


def fts5_query(query: str) -> str:
    """A web-search-style query (words, "phrases", OR, -word) as a safe FTS5 MATCH expression.

    Every term is quoted, so punctuation in user input can never be an FTS5 syntax error.
    """
    positive: list[str] = []
    negative: list[str] = []
    pending_or = False
    for raw in _FTS_TOKEN.findall(query):
        if raw == "OR":
            pending_or = bool(positive)
            continue
        exclude = raw.startswith("-") and len(raw) > 1
        term = raw[1:] if exclude else raw
        words = re.findall(r"[^\W_]+", term.strip('"'))
        if not words:
            continue
        quoted = '"' + " ".join(words) + '"'
        if exclude:
            negative.append(quoted)
        elif pending_or:
            positive[-1] = f"{positive[-1]} OR {quoted}"
            pending_or = False
        else:
            positive.append(quoted)
    if not positive:
        return ""
    expression = " AND ".join(f"({p})" if " OR " in p else p for p in positive)
    if negative:
        grouped = len(positive) == 1 and expression.startswith("(")
        expression = expression if grouped else f"({expression})"
        expression += "".join(f" NOT {term}" for term in negative)
    return expression


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
        """Add translations; ones already known (e.g. from a concurrent run) are kept."""
        if not pairs:
            return
        now = datetime.now(UTC)
        rows = sorted(
            (
                {
                    "package": package_key,
                    "source_hash": _sentence_hash(s),
                    "source": s,
                    "target": t,
                    "created_at": now,
                }
                for s, t in pairs.items()
            ),
            key=lambda row: row["source_hash"],  # one lock order for concurrent writers
        )
        statement = _insert_ignore(self.engine, translation_memory)
        with _write_transaction(self.engine) as conn:
            for start in range(0, len(rows), self._CHUNK):
                conn.execute(statement, rows[start : start + self._CHUNK])

    def size(self, package_key: str | None = None) -> int:
        query = select(func.count()).select_from(translation_memory)
        if package_key is not None:
            query = query.where(translation_memory.c.package == package_key)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())


@contextlib.contextmanager
def _write_transaction(engine: Engine) -> Iterator[Connection]:
    """BEGIN IMMEDIATE on SQLite, an advisory transaction lock on PostgreSQL; commit on exit.

    Reads use plain transactions and never wait for writers (SQLite WAL, PostgreSQL MVCC).
    A write that fails because nothing can be written any more (disk full, read-only)
    raises `StoreUnwritable`, so callers stop instead of failing every document in turn.
    """
    try:
        with engine.connect() as conn:
            conn.execution_options(ingest_write=True)
            with conn.begin():
                if engine.dialect.name == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_WRITE})
                yield conn
    except (DBAPIError, OSError) as error:
        location = _store_location(engine)
        cause = unwritable_cause(error, location if engine.dialect.name == "sqlite" else None)
        if cause is None:
            raise
        raise StoreUnwritable.of("store", cause, location) from error


def _store_location(engine: Engine) -> str:
    """Where the store is, for messages: the SQLite file, or the URL without its password."""
    if engine.dialect.name == "sqlite" and engine.url.database:
        return engine.url.database
    return engine.url.render_as_string(hide_password=True)


def _insert_ignore(engine: Engine, table: Table) -> Any:
    """INSERT … ON CONFLICT DO NOTHING for SQLite and PostgreSQL."""
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing()
    if engine.dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table).on_conflict_do_nothing()
    return insert(table)


def _make_engine(url: str, *, read_only: bool = False, immutable: bool = False) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        if parsed.drivername == "postgresql" and importlib.util.find_spec("psycopg2") is None:
            url = parsed.set(drivername="postgresql+psycopg")  # the driver we depend on
        # fail fast on an unreachable server instead of the OS's minutes-long TCP timeout
        return create_engine(
            url, pool_pre_ping=True, connect_args={"connect_timeout": _CONNECT_TIMEOUT}
        )
    database = parsed.database
    path = _sqlite_path(url)
    if read_only and path is not None:
        # SQLite's own read-only mode: any write attempt fails instead of touching the file
        uri = f"file:{quote(str(path.resolve()))}"
        query = {**parsed.query, "mode": "ro", "uri": "true"}
        if immutable:  # only when nothing can be in a -wal file (see _readable_schema_present)
            query["immutable"] = "1"
        url = parsed.set(database=uri, query=query)
    elif database and database != ":memory:" and path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 60})

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        # Transactions are begun by SQLAlchemy's "begin" event below, not by the driver.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if not read_only:  # switching the journal mode is a write
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _sqlite_begin(conn: Connection) -> None:
        # A write transaction takes the write lock up front (IMMEDIATE, waiting up to
        # busy_timeout): a deferred one that reads then writes fails at once with "database is
        # locked" when another process wrote in between. Reads stay deferred.
        immediate = conn.get_execution_options().get("ingest_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

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
        [("language", pa.string()), ("original", pa.string()), ("english", pa.string())]
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

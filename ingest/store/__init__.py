"""Storage: SQLAlchemy Core schema, idempotent upserts, translation memory, search, export.

SQLite (WAL mode) by default; PostgreSQL by URL (``postgresql+psycopg://…``), for a store shared
by several machines. A document is keyed by its URL; saving it again replaces its row,
paragraphs, search entry and near-duplicate signature in one transaction, so a rerun never
duplicates and a crash never leaves half a document.

Writers: SQLite has one at a time (``BEGIN IMMEDIATE``). PostgreSQL writers run concurrently,
each holding an advisory lock on what it must not share — the document's URL, an archive's
checkpoint, a site's template; grouping near-duplicates keeps one lock of its own
(``ingest.store.transactions``, ``ingest.store.neardup``).

One module per concern; ``Store`` (``core``) is the facade composed of them:

- ``schema``: tables, engine creation, SQLite pragmas, read-only open, URL checks
- ``transactions``: write transactions and their locks
- ``documents``: save a document or a failure, stored versions, reading documents back
- ``memory``: the translation memory (``SqlTranslationMemory``)
- ``search``: full-text search (SQLite FTS5 / PostgreSQL tsvector + GIN)
- ``neardup``: near-duplicate groups (LSH buckets from ``ingest.dedup``)
- ``templates``: site templates (boilerplate lines learned per site)
- ``runs``: run statistics and per-archive checkpoints used by ``ingest.reprocess``
- ``validators``: ETag / Last-Modified of fetched URLs, for conditional GET
- ``export``: JSONL / Parquet export
"""

from ingest.store.core import Store
from ingest.store.documents import StoredVersion, english_text
from ingest.store.export import (
    document_to_export,
    export_jsonl,
    export_parquet,
    parquet_schema,
)
from ingest.store.memory import SqlTranslationMemory
from ingest.store.runs import (
    STALE_RUN_SECONDS,
    ArchiveBusyError,
    Checkpoint,
    Claim,
)
from ingest.store.schema import (
    SUPPORTED_BACKENDS,
    StoreError,
    check_store_url,
    checkpoints,
    dedup_bands,
    describe_database_error,
    documents,
    fetch_validators,
    metadata,
    near_duplicates,
    paragraphs,
    runs,
    site_boilerplate,
    translation_memory,
)
from ingest.store.search import SearchHit, fts5_query
from ingest.store.validators import SqlFetchValidators

__all__ = [
    "STALE_RUN_SECONDS",
    "SUPPORTED_BACKENDS",
    "ArchiveBusyError",
    "Checkpoint",
    "Claim",
    "SearchHit",
    "SqlFetchValidators",
    "SqlTranslationMemory",
    "Store",
    "StoreError",
    "StoredVersion",
    "check_store_url",
    "checkpoints",
    "dedup_bands",
    "describe_database_error",
    "document_to_export",
    "documents",
    "english_text",
    "export_jsonl",
    "export_parquet",
    "fetch_validators",
    "fts5_query",
    "metadata",
    "near_duplicates",
    "paragraphs",
    "parquet_schema",
    "runs",
    "site_boilerplate",
    "translation_memory",
]

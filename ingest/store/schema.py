"""The store's tables, engine creation (SQLite pragmas, read-only open) and URL checks.

SQLite (WAL mode) by default; PostgreSQL by URL (``postgresql+psycopg://…``), for a store shared
by several machines. Full-text search tables are created here with the rest of the schema
(SQLite FTS5 / PostgreSQL tsvector + GIN); ``ingest.store.search`` queries them.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any
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
    event,
    inspect,
)
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError

from ingest.security import display_store_url

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
    # the model's confidence in the English title (ingest.translate.confidence), and whether it
    # was below the threshold in force then; NULL: not translated by a model, or stored before
    Column("title_confidence", Float),
    Column("title_low_confidence", Boolean),
    # "ok" | "partial" | "untranslated" | "low-confidence" | "failed"; the reason says why
    # when not "ok"
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
    # the model's confidence in ``english`` and whether it was below the threshold in force
    # then; NULL: no model translation (English, untranslated) or stored before they existed
    Column("confidence", Float),
    Column("low_confidence", Boolean),
    # "body" or "comment" (a reader comment, kept with --comments); NULL (rows stored before
    # this column existed) reads as "body"
    Column("kind", String(16), nullable=True),
)

translation_memory = Table(
    "translation_memory",
    metadata,
    Column("package", String(200), primary_key=True),  # package id @ version
    Column("source_hash", String(64), primary_key=True),  # sha256 of the source sentence
    Column("source", Text, nullable=False),
    Column("target", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("confidence", Float),  # the model's, when it translated; NULL: remembered before
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

# The lines behind a grouped document's features (``ingest.grouping.GroupingLine``): two pages
# of one site are compared without the lines they share (see ``ingest.dedup.compared_features``).
near_duplicate_lines = Table(
    "near_duplicate_lines",
    metadata,
    Column("document_id", Integer, primary_key=True),
    Column("line_key", String(16), primary_key=True),  # digest of the normalised original line
    Column("chars", Integer, nullable=False),
    Column("features", Text, nullable=False),  # space-separated
)

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

# HTTP validators of the last successful fetch of a URL, for conditional GET (If-None-Match,
# If-Modified-Since). In the store, so every machine fetching into one PostgreSQL shares them.
fetch_validators = Table(
    "fetch_validators",
    metadata,
    Column("url", Text, primary_key=True),
    Column("etag", Text),
    Column("last_modified", Text),
    # the archived 200 answer the validators came from: a later 304 points at it
    Column("content_hash", Text),
    Column("archive_path", Text),
    Column("archive_offset", Integer),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)


class StoreError(RuntimeError):
    """The store cannot be used (bad URL, unsupported backend, unreachable, not a database).

    ``str(error)`` is one line for the user, with any password in the URL hidden.
    """


SUPPORTED_BACKENDS = ("sqlite", "postgresql")
_SQLITE_HEADER = b"SQLite format 3\x00"
_CONNECT_TIMEOUT = 10  # seconds to reach a PostgreSQL server before giving up


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
            f"unsupported store backend {backend!r} in {display_store_url(url)} "
            f"(supported: {', '.join(SUPPORTED_BACKENDS)})"
        )
    path = sqlite_path(url)
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


def nothing_in_wal(path: Path) -> bool:
    """Whether an SQLite database has no write-ahead log waiting to be checkpointed."""
    try:
        return path.with_name(path.name + "-wal").stat().st_size == 0
    except FileNotFoundError:
        return True
    except OSError:
        return False


def sqlite_path(url: str) -> Path | None:
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


# Tables added after stores already existed, that only writing runs use: a read-only open of
# an older store does without them (a writable open creates them).
TABLES_ADDED_LATER = frozenset({"fetch_validators", "near_duplicate_lines"})


def schema_present(engine: Engine, *, for_reading: bool = False) -> bool:
    """Whether every table exists (``for_reading``: every table reading needs) with every
    column (``for_reading``: missing columns read as NULL, see ``missing_columns``), checked
    without a write transaction."""
    with engine.connect() as conn:
        present = set(inspect(conn).get_table_names())
        wanted = set(metadata.tables) - (TABLES_ADDED_LATER if for_reading else frozenset())
        wanted.add("document_fts" if engine.dialect.name == "sqlite" else "document_search")
        if not wanted <= present:
            return False
        return for_reading or not missing_columns(conn)


def missing_columns(conn: Connection) -> dict[str, list[Column[Any]]]:
    """Columns of the schema that existing tables lack (stores created by an older version),
    by table name; tables that do not exist are left to ``create_all``."""
    inspector = inspect(conn)
    present_tables = set(inspector.get_table_names())
    missing: dict[str, list[Column[Any]]] = {}
    for name, table in metadata.tables.items():
        if name not in present_tables:
            continue
        have = {column["name"] for column in inspector.get_columns(name)}
        lacking = [column for column in table.columns if column.name not in have]
        if lacking:
            missing[name] = lacking
    return missing


def add_missing_columns(conn: Connection) -> list[str]:
    """The store's one migration mechanism: add the columns existing tables lack.

    Every column added after a table first shipped must be nullable (old rows read NULL =
    unknown). Works on SQLite and PostgreSQL; returns the ``table.column`` names added.
    """
    added = []
    for name, columns in missing_columns(conn).items():
        for column in columns:
            if not column.nullable or column.primary_key:
                raise StoreError(f"cannot add the non-nullable column {name}.{column.name}")
            kind = column.type.compile(dialect=conn.dialect)
            preparer = conn.dialect.identifier_preparer
            conn.exec_driver_sql(
                f"ALTER TABLE {preparer.quote(name)} "
                f"ADD COLUMN {preparer.quote(column.name)} {kind}"
            )
            added.append(f"{name}.{column.name}")
    return added


def create_schema(conn: Connection) -> None:
    """Create every missing table, column and the full-text index (inside a write
    transaction)."""
    metadata.create_all(conn)
    add_missing_columns(conn)
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(
            "CREATE VIRTUAL TABLE IF NOT EXISTS document_fts USING fts5("
            "title, body, tokenize = 'porter unicode61 remove_diacritics 2')"
        )
    elif conn.dialect.name == "postgresql":
        conn.exec_driver_sql(
            "CREATE TABLE IF NOT EXISTS document_search ("
            " document_id integer PRIMARY KEY REFERENCES documents(id) ON DELETE CASCADE,"
            " title text, body text NOT NULL, tsv tsvector NOT NULL)"
        )
        conn.exec_driver_sql(
            "CREATE INDEX IF NOT EXISTS ix_document_search_tsv ON document_search USING GIN (tsv)"
        )


def make_engine(url: str, *, read_only: bool = False, immutable: bool = False) -> Engine:
    """An engine for the store: PostgreSQL with a connect timeout, SQLite in WAL mode.

    SQLite write transactions (execution option ``ingest_write``) begin IMMEDIATE.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        if parsed.drivername == "postgresql" and importlib.util.find_spec("psycopg2") is None:
            url = parsed.set(drivername="postgresql+psycopg")  # the driver we depend on
        # fail fast on an unreachable server instead of the OS's minutes-long TCP timeout
        return create_engine(
            url, pool_pre_ping=True, connect_args={"connect_timeout": _CONNECT_TIMEOUT}
        )
    database = parsed.database
    path = sqlite_path(url)
    if read_only and path is not None:
        # SQLite's own read-only mode: any write attempt fails instead of touching the file
        uri = f"file:{quote(str(path.resolve()))}"
        query = {**parsed.query, "mode": "ro", "uri": "true"}
        if (
            immutable
        ):  # only when nothing can be in a -wal file (see Store._readable_schema_present)
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

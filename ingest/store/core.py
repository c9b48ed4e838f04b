"""``Store``: the one object users and the pipeline call, composed of the store's parts.

Each part (documents, search, near-duplicates, site templates, runs, checkpoints) lives in its
own module; this class opens the database, creates the schema, and hands out the translation
memory and the fetch validators.
"""

from __future__ import annotations

import threading
import weakref
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from ingest.security import display_store_url
from ingest.store.documents import DocumentReads, DocumentWrites
from ingest.store.memory import SqlTranslationMemory
from ingest.store.neardup import NearDuplicateQueries
from ingest.store.runs import Checkpoints, RunRecords
from ingest.store.schema import (
    StoreError,
    check_store_url,
    create_schema,
    describe_database_error,
    make_engine,
    missing_columns,
    nothing_in_wal,
    schema_present,
    sqlite_path,
)
from ingest.store.search import SearchQueries
from ingest.store.templates import SiteTemplates
from ingest.store.transactions import SCHEMA_LOCK
from ingest.store.validators import SqlFetchValidators


class Store(
    DocumentWrites,
    DocumentReads,
    SiteTemplates,
    NearDuplicateQueries,
    SearchQueries,
    RunRecords,
    Checkpoints,
):
    """The document store. One instance per process; safe to share between threads.

    ``read_only=True`` (export, show, search, runs) never writes: an existing SQLite file is
    opened with ``mode=ro`` and no schema is created, so a read-only store file can be read.
    """

    def __init__(self, url: str, *, read_only: bool = False) -> None:
        check_store_url(url)
        self.url = url
        path = sqlite_path(url)
        # a store that does not exist yet is created (empty) as before, even for reading
        in_memory = path is None and make_url(url).get_backend_name() == "sqlite"
        self.read_only = read_only and not in_memory and (path is None or path.exists())
        self.engine = make_engine(url, read_only=self.read_only)
        _OPEN_STORES.add(self)
        self.dialect = self.engine.dialect.name
        self._local = threading.local()  # per-thread prefetched versions
        try:
            if not self._readable_schema_present(path):
                if self.read_only:
                    raise StoreError(
                        f"{display_store_url(url)} has no ingest tables: nothing was stored there"
                    )
                self._create_schema()
            elif self.read_only:
                with self.engine.connect() as conn:
                    self.absent_columns = frozenset(
                        f"{table}.{column.name}"
                        for table, columns in missing_columns(conn).items()
                        for column in columns
                    )
        except DBAPIError as error:
            self.engine.dispose()
            raise StoreError(
                f"cannot open the store {display_store_url(url)}: {describe_database_error(error)}"
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
                f"cannot write to the store {display_store_url(self.url)}: "
                f"{describe_database_error(error)}"
            ) from error

    def _readable_schema_present(self, path: Path | None) -> bool:
        """``schema_present``, reopening a read-only SQLite store as immutable if need be.

        A WAL-mode file in a folder the user cannot write cannot even be read with
        ``mode=ro`` (SQLite must create its ``-shm`` file). With no pending ``-wal`` file
        beside it, everything is in the database file: ``immutable=1`` reads it as it is.
        """
        try:
            return schema_present(self.engine, for_reading=self.read_only)
        except DBAPIError:
            if not (self.read_only and path is not None and nothing_in_wal(path)):
                raise
        self.engine.dispose()
        self.engine = make_engine(self.url, read_only=True, immutable=True)
        return schema_present(self.engine, for_reading=True)

    def _create_schema(self) -> None:
        # Under a lock of its own: two runs starting at once on a fresh database would race
        # on CREATE TABLE.
        with self._writing(SCHEMA_LOCK) as conn:
            create_schema(conn)

    def translation_memory(self) -> SqlTranslationMemory:
        return SqlTranslationMemory(self.engine)

    @property
    def fetch_validators(self) -> SqlFetchValidators:
        """ETag / Last-Modified of fetched URLs, for conditional GET (shared by every fetcher
        using this store)."""
        return SqlFetchValidators(self.engine)

    def close(self) -> None:
        self.engine.dispose()
        _OPEN_STORES.discard(self)


_OPEN_STORES: weakref.WeakSet[Store] = weakref.WeakSet()


def close_open_stores() -> None:
    """Close every store this process still has open: a command's end, where the process does
    not wait for the garbage collector (SQLite then checkpoints its WAL into the file)."""
    for store in list(_OPEN_STORES):
        store.close()

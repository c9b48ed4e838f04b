"""Write transactions and what serialises them: one writer on SQLite, narrow locks on PostgreSQL.

SQLite has one writer at a time anyway: a write transaction begins IMMEDIATE (waiting for the
file's write lock), so no further locking is needed there.

PostgreSQL writers run concurrently (several Dask workers or machines on one store). A write
transaction names what it must not share — usually one document URL — and takes a transaction
advisory lock on a stable 64-bit hash of that name, so two writers of the same document queue
while writers of different documents proceed. Keys are namespaced (``document:…``,
``checkpoint:…``) and taken in sorted order, so writers never deadlock on them.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from typing import Any

from sqlalchemy import ColumnElement, Engine, Table, insert, null, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from ingest.errors import StoreUnwritable, unwritable_cause

SCHEMA_LOCK = "schema"  # two runs starting at once on a fresh database would race on CREATE TABLE


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for ``pg_advisory_xact_lock`` (same on every machine)."""
    digest = hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def advisory_lock(conn: Connection, name: str) -> None:
    """Hold the PostgreSQL lock called ``name`` until this transaction ends (no-op on SQLite,
    whose write transactions are already exclusive)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_key(name)})


@contextlib.contextmanager
def write_transaction(engine: Engine, *locks: str) -> Iterator[Connection]:
    """BEGIN IMMEDIATE on SQLite; on PostgreSQL the advisory locks named ``locks``; commit on exit.

    Reads use plain transactions and never wait for writers (SQLite WAL, PostgreSQL MVCC).
    A write that fails because nothing can be written any more (disk full, read-only)
    raises `StoreUnwritable`, so callers stop instead of failing every document in turn.
    """
    try:
        with engine.connect() as conn:
            conn.execution_options(ingest_write=True)
            with conn.begin():
                for name in sorted(set(locks)):
                    advisory_lock(conn, name)
                yield conn
    except (DBAPIError, OSError) as error:
        location = store_location(engine)
        cause = unwritable_cause(error, location if engine.dialect.name == "sqlite" else None)
        if cause is None:
            raise
        raise StoreUnwritable.of("store", cause, location) from error


def store_location(engine: Engine) -> str:
    """Where the store is, for messages: the SQLite file, or the URL without its password."""
    if engine.dialect.name == "sqlite" and engine.url.database:
        return engine.url.database
    return engine.url.render_as_string(hide_password=True)


def insert_ignore(engine: Engine, table: Table) -> Any:
    """INSERT … ON CONFLICT DO NOTHING for SQLite and PostgreSQL."""
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing()
    if engine.dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table).on_conflict_do_nothing()
    return insert(table)


class StorePart:
    """What every part of the ``Store`` facade shares: its engine and write transactions."""

    engine: Engine
    dialect: str
    # "table.column" names a read-only open of an older store lacks: read as NULL
    absent_columns: frozenset[str] = frozenset()

    def _readable(self, table: Table) -> list[ColumnElement[Any]]:
        """The columns of ``table`` to select: the stored ones, NULL for absent ones."""
        return [
            null().label(column.name)
            if f"{table.name}.{column.name}" in self.absent_columns
            else column
            for column in table.columns
        ]

    def _writing(self, *locks: str) -> contextlib.AbstractContextManager[Connection]:
        """A write transaction holding the named locks (see ``write_transaction``)."""
        return write_transaction(self.engine, *locks)

"""HTTP validators (ETag, Last-Modified) of fetched URLs, kept in the store for conditional GET.

In the store rather than a file beside it, so every machine fetching into one PostgreSQL
store sends ``If-None-Match`` / ``If-Modified-Since`` from what any of them fetched before.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, delete, select, update

from ingest.fetch.validators import ArchivedCopy
from ingest.store.schema import fetch_validators
from ingest.store.transactions import write_transaction


class SqlFetchValidators:
    """url → (etag, last_modified) of its last successful fetch, and where that answer was
    archived (``ingest.fetch.validators.ArchivedCopies``); ``Store.fetch_validators``.

    Writes are single-row upserts (INSERT … ON CONFLICT DO UPDATE), so concurrent fetchers
    need no lock: the last writer of a URL wins.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def get(self, url: str) -> tuple[str | None, str | None] | None:
        """(etag, last_modified) stored for ``url``, or None when there is nothing to send."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(fetch_validators.c.etag, fetch_validators.c.last_modified).where(
                    fetch_validators.c.url == url
                )
            ).first()
        return None if row is None else (row.etag, row.last_modified)

    def put(self, url: str, etag: str | None, last_modified: str | None) -> None:
        """Remember the validators of ``url``'s latest response (replacing older ones).

        A response with neither removes the entry: there is nothing to revalidate with.
        """
        with write_transaction(self.engine) as conn:
            if etag is None and last_modified is None:
                conn.execute(delete(fetch_validators).where(fetch_validators.c.url == url))
                return
            values = {"etag": etag, "last_modified": last_modified, "updated_at": datetime.now(UTC)}
            conn.execute(_upsert(self.engine).values(url=url, **values))

    def copy_of(self, url: str) -> ArchivedCopy | None:
        """The archived answer behind the validators of ``url`` (what a 304 refers to)."""
        table = fetch_validators
        with self.engine.connect() as conn:
            row = conn.execute(
                select(table.c.content_hash, table.c.archive_path, table.c.archive_offset).where(
                    table.c.url == url
                )
            ).first()
        if row is None or (row.content_hash is None and row.archive_path is None):
            return None
        return ArchivedCopy(row.content_hash, row.archive_path, row.archive_offset)

    def put_copy(self, url: str, copy: ArchivedCopy | None) -> None:
        """Record where the answer behind ``url``'s validators was archived (None forgets it);
        a URL without validators keeps nothing: no 304 can refer to it."""
        values = {
            "content_hash": copy.content_hash if copy else None,
            "archive_path": copy.archive_path if copy else None,
            "archive_offset": copy.archive_offset if copy else None,
        }
        with write_transaction(self.engine) as conn:
            conn.execute(
                update(fetch_validators).where(fetch_validators.c.url == url).values(**values)
            )


def _upsert(engine: Engine) -> Any:
    """INSERT … ON CONFLICT (url) DO UPDATE for SQLite and PostgreSQL."""
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    statement = insert(fetch_validators)
    excluded = statement.excluded
    return statement.on_conflict_do_update(
        index_elements=[fetch_validators.c.url],
        set_={
            "etag": excluded.etag,
            "last_modified": excluded.last_modified,
            "updated_at": excluded.updated_at,
        },
    )

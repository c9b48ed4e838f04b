"""Site templates: lines learned as a site's boilerplate, and the pages they are learned from."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import insert, or_, select
from sqlalchemy.engine import Connection

from ingest.models import COMMENT
from ingest.store.memory import sentence_hash
from ingest.store.schema import documents, paragraphs, site_boilerplate
from ingest.store.transactions import StorePart


def learned_template(conn: Connection, site: str) -> frozenset[str]:
    """The lines learned as ``site``'s boilerplate, read on ``conn`` (a writer's transaction
    sees its own)."""
    lines = conn.execute(select(site_boilerplate.c.line).where(site_boilerplate.c.site == site))
    return frozenset(lines.scalars())


class SiteTemplates(StorePart):
    """``Store.site_paragraphs``, ``site_boilerplate``, ``add_site_boilerplate``."""

    def site_paragraphs(self, site: str, *, limit: int = 50) -> list[list[str]]:
        """Original paragraphs (reader comments left out) of the site's most recently
        processed documents."""
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
                    .where(or_(paragraphs.c.kind.is_(None), paragraphs.c.kind != COMMENT))
                    .order_by(paragraphs.c.document_id, paragraphs.c.position)
                )
                for document_id, original in rows:
                    pages[document_id].append(original)
        return list(pages.values())

    def site_boilerplate(self, site: str) -> frozenset[str]:
        with self.engine.connect() as conn:
            return learned_template(conn, site)

    def add_site_boilerplate(self, site: str, lines: Iterable[str]) -> int:
        """Remember lines as the site's template; returns how many were new."""
        wanted = {sentence_hash(line): line for line in lines}
        if not wanted:
            return 0
        # a lock per site: two writers learning the same site would insert the same lines
        with self._writing(f"site-template:{site}") as conn:
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

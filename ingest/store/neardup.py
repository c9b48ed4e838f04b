"""Near-duplicate groups: LSH buckets from ``ingest.dedup``, kept while documents are saved.

Every document with enough trusted text (``ingest.grouping``) has a ``near_duplicates`` row whose
``group_id`` is the smallest document id of its group; ``dedup_bands`` holds its LSH buckets and
``near_duplicate_lines`` the lines behind its features (for pages with a site).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Connection

from ingest.grouping import GroupingLine, GroupingText, grouping_site
from ingest.store.schema import dedup_bands, documents, near_duplicate_lines, near_duplicates
from ingest.store.transactions import StorePart, advisory_lock

# Grouping reads other documents' groups and rewrites them (merges, a representative leaving),
# so on PostgreSQL it keeps a lock of its own: without it two similar documents saved at once
# would not see each other and form two groups, or one writer would merge a group into an id
# that another writer just renamed. It is taken at the end of a document's save (the grouping
# is its last step), so extraction-sized work and the document's other rows stay concurrent.
NEAR_DUPLICATES_LOCK = "near-duplicates"


def group_near_duplicates(conn: Connection, document_id: int, text: GroupingText) -> None:
    """Put the document in the group of its near-duplicates (ingest.dedup), merging groups.

    ``text`` is what the document is grouped by (``ingest.grouping.grouping_text``); a stored
    document of the same site is compared without the lines both carry.
    """
    from ingest import dedup

    features = text.features
    joined = " ".join(sorted(features))
    keys = sorted(line.key for line in text.lines) if text.site else []
    if _unchanged(conn, document_id, joined, keys):
        return  # same text as before: same buckets, same group (own row: no lock needed)
    advisory_lock(conn, NEAR_DUPLICATES_LOCK)
    if _unchanged(conn, document_id, joined, keys):  # again, now that no other writer regroups
        return
    _leave_group(conn, document_id, _grouping_of(conn, document_id))
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
        ids = [c.document_id for c in candidates]
        rows = conn.execute(
            select(
                near_duplicates.c.document_id,
                near_duplicates.c.features,
                near_duplicates.c.group_id,
                documents.c.url,
                documents.c.final_url,
                documents.c.canonical_url,
            )
            .join(documents, documents.c.id == near_duplicates.c.document_id)
            .where(near_duplicates.c.document_id.in_(ids))
        ).all()
        # Similar on all their lines first: leaving out the lines two pages of one site share
        # only removes common features, so it can turn a similar pair apart, never the reverse.
        similar = [row for row in rows if dedup.similar(features, set(row.features.split()))]
        same_site = [
            row.document_id
            for row in similar
            if text.site and grouping_site(row.url, row.final_url, row.canonical_url) == text.site
        ]
        lines = _lines_of(conn, same_site)
        for row in similar:
            mine, other = features, set(row.features.split())
            if lines.get(row.document_id):
                mine, other = dedup.compared_features(text.lines, lines[row.document_id])
                if not dedup.similar(mine, other):
                    continue
            groups.add(int(row.group_id))
            best = max(best, dedup.jaccard(mine, other))
    group_id = min(groups | {document_id})
    if groups - {group_id}:
        conn.execute(
            update(near_duplicates)
            .where(near_duplicates.c.group_id.in_(sorted(groups - {group_id})))
            .values(group_id=group_id)
        )
    conn.execute(
        insert(near_duplicates).values(document_id=document_id, group_id=group_id, features=joined)
    )
    if keys:
        conn.execute(
            insert(near_duplicate_lines),
            [
                {
                    "document_id": document_id,
                    "line_key": line.key,
                    "chars": line.chars,
                    "features": " ".join(sorted(line.features)),
                }
                for line in text.lines
            ],
        )
    if best < dedup.NOVELTY:
        # A (near-)copy of a stored document adds no buckets: whatever would find it finds
        # that document, so buckets stay small however often a page is syndicated.
        conn.execute(
            insert(dedup_bands),
            [{"bucket": bucket, "document_id": document_id} for bucket in buckets],
        )


def _unchanged(conn: Connection, document_id: int, joined: str, keys: list[str]) -> bool:
    """Whether the document is grouped by these features and lines already."""
    old = _grouping_of(conn, document_id)
    if old is None or old.features != joined:
        return False
    stored = conn.execute(
        select(near_duplicate_lines.c.line_key)
        .where(near_duplicate_lines.c.document_id == document_id)
        .order_by(near_duplicate_lines.c.line_key)
    ).scalars()
    return list(stored) == keys


def _lines_of(conn: Connection, ids: list[int]) -> dict[int, list[GroupingLine]]:
    """The stored grouping lines of these documents (none for documents grouped before lines
    were kept: those are compared on their whole feature set)."""
    out: dict[int, list[GroupingLine]] = {}
    if not ids:
        return out
    rows = conn.execute(
        select(near_duplicate_lines).where(near_duplicate_lines.c.document_id.in_(ids))
    )
    for row in rows:
        line = GroupingLine(row.line_key, int(row.chars), frozenset(row.features.split()))
        out.setdefault(int(row.document_id), []).append(line)
    return out


def _grouping_of(conn: Connection, document_id: int) -> Any:
    """The document's (features, group_id) row, or None when it is in no group."""
    return conn.execute(
        select(near_duplicates.c.features, near_duplicates.c.group_id).where(
            near_duplicates.c.document_id == document_id
        )
    ).first()


def _leave_group(conn: Connection, document_id: int, old: Any) -> None:
    """Drop the document's buckets and group row; a group it represented keeps its next id."""
    conn.execute(delete(dedup_bands).where(dedup_bands.c.document_id == document_id))
    conn.execute(delete(near_duplicates).where(near_duplicates.c.document_id == document_id))
    conn.execute(
        delete(near_duplicate_lines).where(near_duplicate_lines.c.document_id == document_id)
    )
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


class NearDuplicateQueries(StorePart):
    """``Store.near_duplicates_of``, ``group_size``, ``near_duplicate_groups``."""

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

"""Full-text search over the English text: SQLite FTS5 (bm25) or PostgreSQL tsvector + GIN."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import Connection

from ingest.store.transactions import StorePart


@dataclass(frozen=True)
class SearchHit:
    """One search result: the document and a highlighted extract of its English text."""

    url: str
    title: str | None
    language: str | None
    status: str
    snippet: str
    score: float  # higher is better (bm25 negated on SQLite, ts_rank_cd on PostgreSQL)


def index_text(conn: Connection, document_id: int, title: str | None, body: str) -> None:
    """(Re)write the full-text entry of a document: English title and English text."""
    if conn.dialect.name == "sqlite":
        conn.execute(text("DELETE FROM document_fts WHERE rowid = :id"), {"id": document_id})
        if body or title:
            conn.execute(
                text("INSERT INTO document_fts(rowid, title, body) VALUES (:id, :t, :b)"),
                {"id": document_id, "t": title or "", "b": body},
            )
    elif conn.dialect.name == "postgresql":
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


class SearchQueries(StorePart):
    """``Store.search``."""

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

"""Translation memory persisted in the store: (package id@version, sentence) → English."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from sqlalchemy import Engine, func, select

from ingest.store.schema import translation_memory
from ingest.store.transactions import insert_ignore, write_transaction
from ingest.translate.confidence import Translation
from ingest.translate.memory import as_translation


def sentence_hash(sentence: str) -> str:
    """The key of a sentence (or template line): its SHA-256, so indexes stay small."""
    return hashlib.sha256(sentence.encode("utf-8")).hexdigest()


class SqlTranslationMemory:
    """(package id@version, source sentence) → English, persisted in the store.

    Implements ``ingest.translate.TranslationMemory``. Keys are sentence hashes so the primary
    key index stays small whatever the sentence length.
    """

    _CHUNK = 500  # keep IN (...) lists well under SQLite's variable limit

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def lookup(self, package_key: str, sentences: Sequence[str]) -> dict[str, Translation]:
        """Known translations, with the confidence the model gave them (None: remembered
        before confidences were recorded)."""
        by_hash = {sentence_hash(s): s for s in sentences}
        found: dict[str, Translation] = {}
        hashes = list(by_hash)
        with self.engine.connect() as conn:
            for start in range(0, len(hashes), self._CHUNK):
                chunk = hashes[start : start + self._CHUNK]
                rows = conn.execute(
                    select(
                        translation_memory.c.source_hash,
                        translation_memory.c.target,
                        translation_memory.c.confidence,
                    ).where(
                        (translation_memory.c.package == package_key)
                        & translation_memory.c.source_hash.in_(chunk)
                    )
                )
                for source_hash, target, confidence in rows:
                    found[by_hash[source_hash]] = Translation(target, confidence)
        return found

    def remember(self, package_key: str, pairs: Mapping[str, Translation | str]) -> None:
        """Add translations (a plain string: confidence unknown); ones already known (e.g.
        from a concurrent run) are kept.

        No lock: INSERT … ON CONFLICT DO NOTHING makes concurrent writers of the same sentence
        safe, and the rows' single sort order keeps them from deadlocking on PostgreSQL.
        """
        if not pairs:
            return
        now = datetime.now(UTC)
        rows = sorted(
            (
                {
                    "package": package_key,
                    "source_hash": sentence_hash(s),
                    "source": s,
                    "target": t.english,
                    "confidence": t.confidence,
                    "created_at": now,
                }
                for s, t in ((s, as_translation(v)) for s, v in pairs.items())
            ),
            key=lambda row: row["source_hash"],  # one lock order for concurrent writers
        )
        statement = insert_ignore(self.engine, translation_memory)
        with write_transaction(self.engine) as conn:
            for start in range(0, len(rows), self._CHUNK):
                conn.execute(statement, rows[start : start + self._CHUNK])

    def size(self, package_key: str | None = None) -> int:
        query = select(func.count()).select_from(translation_memory)
        if package_key is not None:
            query = query.where(translation_memory.c.package == package_key)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

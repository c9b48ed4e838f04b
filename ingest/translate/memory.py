"""Translation memory: (package id@version, source sentence) -> English sentence and confidence.

The engine asks the memory before the model and tells it every new translation, so a sentence
translated once by a given package version is never sent to the model again, and keeps the
confidence the model gave it. The SQL-backed memory in ``ingest.store`` implements the same
protocol and persists them.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable

from ingest.translate.confidence import Translation


def as_translation(value: Translation | str) -> Translation:
    """A remembered value: a plain string is an English sentence of unknown confidence."""
    return value if isinstance(value, Translation) else Translation(value, None)


@runtime_checkable
class TranslationMemory(Protocol):
    def lookup(self, package_key: str, sentences: Sequence[str]) -> dict[str, Translation]:
        """Known translations of ``sentences`` (only those found) for that package version."""
        ...

    def remember(self, package_key: str, pairs: Mapping[str, Translation | str]) -> None:
        """Store new source -> translation pairs for that package version (a plain string has
        an unknown confidence)."""
        ...


class InMemoryTranslationMemory:
    """Dict-backed memory for one process (tests, the ``ingest translate`` command)."""

    def __init__(self) -> None:
        self._pairs: dict[tuple[str, str], Translation] = {}
        self._lock = threading.Lock()

    def lookup(self, package_key: str, sentences: Sequence[str]) -> dict[str, Translation]:
        with self._lock:
            found = {}
            for sentence in sentences:
                translation = self._pairs.get((package_key, sentence))
                if translation is not None:
                    found[sentence] = translation
            return found

    def remember(self, package_key: str, pairs: Mapping[str, Translation | str]) -> None:
        with self._lock:
            for source, value in pairs.items():
                self._pairs[(package_key, source)] = as_translation(value)

    def __len__(self) -> int:
        return len(self._pairs)

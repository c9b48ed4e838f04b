"""Translation memory: (package id@version, source sentence) -> English sentence.

The engine asks the memory before the model and tells it every new pair, so a sentence
translated once by a given package version is never sent to the model again. The lead's
SQL-backed memory in ``ingest.store`` implements the same protocol and persists the pairs.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable


@runtime_checkable
class TranslationMemory(Protocol):
    def lookup(self, package_key: str, sentences: Sequence[str]) -> dict[str, str]:
        """Known translations of ``sentences`` (only those found) for that package version."""
        ...

    def remember(self, package_key: str, pairs: Mapping[str, str]) -> None:
        """Store new source -> English pairs for that package version."""
        ...


class InMemoryTranslationMemory:
    """Dict-backed memory for one process (tests, the ``ingest translate`` command)."""

    def __init__(self) -> None:
        self._pairs: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()

    def lookup(self, package_key: str, sentences: Sequence[str]) -> dict[str, str]:
        with self._lock:
            found = {}
            for sentence in sentences:
                english = self._pairs.get((package_key, sentence))
                if english is not None:
                    found[sentence] = english
            return found

    def remember(self, package_key: str, pairs: Mapping[str, str]) -> None:
        with self._lock:
            for source, english in pairs.items():
                self._pairs[(package_key, source)] = english

    def __len__(self) -> int:
        return len(self._pairs)

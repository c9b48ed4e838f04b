"""Conditional GET validators (ETag / Last-Modified per URL), kept wherever the caller says.

``Fetcher`` is handed a ``ValidatorStore``: the store's ``fetch_validators`` shares them between
machines on one database; ``MemoryValidators`` keeps them for one process (tests, and runs that
were given no store). URLs are the redacted ones, so no secret is ever kept.

A 304 answer says "same as the copy you have": ``ArchivedCopies`` (optional, implemented by
``MemoryValidators``) also remembers where that copy was archived and its content hash, so the
304 can point at it and the pipeline can replay it when the store lacks the page.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = ["ArchivedCopies", "ArchivedCopy", "MemoryValidators", "ValidatorStore"]


class ValidatorStore(Protocol):
    """Where ``Fetcher`` keeps the validators of each URL's last 200 answer."""

    def get(self, url: str) -> tuple[str | None, str | None] | None:
        """(etag, last-modified) of ``url``, or None when nothing is known."""
        ...

    def put(self, url: str, etag: str | None, last_modified: str | None) -> None:
        """Remember (or replace) the validators of ``url``; both None forgets them."""
        ...


@dataclass(frozen=True)
class ArchivedCopy:
    """The archived 200 answer that a later 304 refers to."""

    content_hash: str | None
    archive_path: str | None
    archive_offset: int | None


@runtime_checkable
class ArchivedCopies(Protocol):
    """Optional extra of a ``ValidatorStore``: the archived copy behind each URL's validators."""

    def copy_of(self, url: str) -> ArchivedCopy | None:
        """The archived copy recorded with the validators of ``url``."""
        ...

    def put_copy(self, url: str, copy: ArchivedCopy | None) -> None:
        """Record (None: forget) the archived copy of ``url``."""
        ...


class MemoryValidators:
    """Validators and archived copies in a dict: shared by the Fetchers of one process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._validators: dict[str, tuple[str | None, str | None]] = {}
        self._copies: dict[str, ArchivedCopy] = {}

    def get(self, url: str) -> tuple[str | None, str | None] | None:
        with self._lock:
            return self._validators.get(url)

    def put(self, url: str, etag: str | None, last_modified: str | None) -> None:
        with self._lock:
            if etag is None and last_modified is None:
                self._validators.pop(url, None)
            else:
                self._validators[url] = (etag, last_modified)

    def copy_of(self, url: str) -> ArchivedCopy | None:
        with self._lock:
            return self._copies.get(url)

    def put_copy(self, url: str, copy: ArchivedCopy | None) -> None:
        with self._lock:
            if copy is None:
                self._copies.pop(url, None)
            else:
                self._copies[url] = copy

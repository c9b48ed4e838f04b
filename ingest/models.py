"""The one document model that flows one way through the pipeline.

Each stage returns a new object of the next class, which extends the previous one with the fields
that stage adds: ``RawPage`` -> ``Extracted`` -> ``Detected`` -> ``Translated`` -> ``Document``.
No stage mutates or reaches back into an earlier one. A stage that cannot go on returns a
``Failure`` for that document instead, so a batch always keeps going.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Self
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ingest.security import redact_text, redact_url

UNDETERMINED = "und"


def utcnow() -> datetime:
    return datetime.now(UTC)


def site_key(url: str) -> str:
    """Host that groups the pages of one site (lower case, without ``www.``)."""
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    return host[4:] if host.startswith("www.") else host


def web_site_of(url: str) -> str | None:
    """The site of a page fetched from the web; None for local files and archives of files,
    whose pages have no site in common to learn a template from."""
    return site_key(url) or None if url.startswith(("http://", "https://")) else None


class _Stage(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    @classmethod
    def extend(cls, previous: BaseModel, **fields: Any) -> Self:
        """Build this stage from the previous stage's object plus the fields this stage adds."""
        return cls(**{**dict(previous), **fields})


class RawPage(_Stage):
    """Bytes as received (or read from disk / an archive), before any processing."""

    url: str  # identity of the document: the requested URL, or a file:// URI for local files
    source: str  # what the user gave: a path, URL, feed or archive this page came from
    body: bytes
    final_url: str | None = None  # after redirects
    http_status: int | None = None  # None for files
    headers: dict[str, str] = Field(default_factory=dict)
    fetched_at: datetime = Field(default_factory=utcnow)
    language_hint: str | None = None  # e.g. from a sources file; a hint, never forced
    archive_path: str | None = None  # WARC file holding the raw record, when archived
    archive_offset: int | None = None

    @field_validator("url", "source", "final_url")
    @classmethod
    def _without_secrets(cls, value: str | None) -> str | None:
        """Identity and provenance never carry credentials: everything downstream (store, WARC,
        logs, summaries, Prefect) sees the redacted URL; only the request used the original."""
        return redact_url(value) if value else value

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(self.body).hexdigest()


BODY = "body"
COMMENT = "comment"


class Extracted(RawPage):
    """Main text and metadata of the page, boilerplate removed.

    ``paragraph_kinds`` is aligned with ``paragraphs``: ``"body"`` (the source's own text) or
    ``"comment"`` (a reader comment, kept only when asked for; always after the body). An
    empty list means every paragraph is body (documents extracted before comments existed).
    """

    paragraphs: list[str]
    paragraph_kinds: list[str] = Field(default_factory=list)
    title: str | None = None
    author: str | None = None
    date: str | None = None  # ISO 8601 date as published, when the page states it
    sitename: str | None = None
    canonical_url: str | None = None
    extractor: str  # name and version, e.g. "trafilatura-2.3.1+ingest-0.1.0"

    def kind_of(self, index: int) -> str:
        """``"body"`` or ``"comment"`` for paragraph ``index``."""
        return paragraph_kind(self.paragraph_kinds, index)

    def body_indices(self) -> list[int]:
        """Positions of the paragraphs that are the source's own text (not reader comments)."""
        return [i for i in range(len(self.paragraphs)) if self.kind_of(i) == BODY]


class Detected(Extracted):
    """Language of the document and of each paragraph (aligned with ``paragraphs``)."""

    language: str  # ISO 639-1 code, or "und" when undetermined
    language_confidence: float
    paragraph_languages: list[str]
    title_language: str | None = None
    detector: str  # name and version


class Translated(Detected):
    """English for each paragraph, aligned: ``english[i]`` renders ``paragraphs[i]``.

    Paragraphs already in English are copied; paragraphs that could not be translated are None.
    """

    english: list[str | None]
    title_english: str | None = None
    translator: str | None = None  # package id and version(s) used, e.g. "translate-ko_en@1.1"
    # "english", "translated", "partial: …", "untranslated: …", "low-confidence: …"
    translation_status: str
    # "lang:package-key" (or "lang:none") for every non-English language met; a rerun is a no-op
    # only while the installed packages still give the same fingerprint
    translation_fingerprint: str = ""
    memory_hits: int = 0  # sentences answered by the translation memory
    model_sentences: int = 0  # sentences sent to a model
    # The model's own confidence in each English paragraph, aligned with ``paragraphs``:
    # exp(token-weighted mean log-probability of its sentences), in (0, 1], higher = more
    # trusted (see ingest.translate.confidence). None = no model translation (English original,
    # untranslated, language-neutral); an empty list = unknown (stored before scores existed).
    paragraph_confidence: list[float | None] = Field(default_factory=list)
    title_confidence: float | None = None
    # True = translated by a model with a confidence below the threshold in force then
    # (``Settings.min_confidence``); aligned with ``paragraphs``, empty = unknown.
    low_confidence: list[bool] = Field(default_factory=list)
    title_low_confidence: bool = False

    def foreign_paragraphs(self, target: str = "en") -> int:
        """Paragraphs that need translation (not in the target language, not language-neutral)."""
        return count_foreign(self.paragraphs, self.paragraph_languages, target)

    def translated_paragraphs(self, target: str = "en") -> int:
        return count_translated(self.paragraphs, self.paragraph_languages, self.english, target)


def paragraph_kind(kinds: Sequence[str | None], index: int) -> str:
    """The kind of paragraph ``index`` given a (possibly empty or stored-NULL) kinds list."""
    kind = kinds[index] if index < len(kinds) else None
    return kind or BODY


def count_foreign(paragraphs: Sequence[str], languages: Sequence[str], target: str) -> int:
    """Paragraphs not in ``target`` that carry language (see ``language_neutral``)."""
    return sum(
        1
        for text, lang in zip(paragraphs, languages, strict=True)
        if lang != target and not language_neutral(text, lang)
    )


def count_translated(
    paragraphs: Sequence[str],
    languages: Sequence[str],
    english: Sequence[str | None],
    target: str,
) -> int:
    """Foreign paragraphs (as in ``count_foreign``) that have a translation."""
    return sum(
        1
        for text, lang, out in zip(paragraphs, languages, english, strict=True)
        if out is not None and lang != target and not language_neutral(text, lang)
    )


def language_neutral(paragraph: str, language: str) -> bool:
    """Undetermined paragraphs without letters (dates, scores, symbols) need no translation."""
    return language == UNDETERMINED and not any(ch.isalpha() for ch in paragraph)


class Document(Translated):
    """What the store keeps, with provenance."""

    status: str  # "ok" or a short reason why the document is incomplete
    processed_at: datetime = Field(default_factory=utcnow)


class Failure(_Stage):
    """A document that could not be processed, and why. Stored so a run never loses it silently."""

    url: str
    source: str
    stage: str  # "read", "fetch", "extract", "detect", "translate", "store"
    reason: str
    content_hash: str | None = None
    archive_path: str | None = None
    archive_offset: int | None = None
    at: datetime = Field(default_factory=utcnow)

    @field_validator("url", "source")
    @classmethod
    def _without_secrets(cls, value: str) -> str:
        """As for pages: identity and provenance never carry credentials."""
        return redact_url(value)

    @field_validator("reason")
    @classmethod
    def _reason_without_secrets(cls, value: str) -> str:
        """Error messages (httpx's, redirect loops, refusals) name URLs: redact those too."""
        return redact_text(value)

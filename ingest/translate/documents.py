"""The translate stage of the pipeline: detected documents of a batch -> translated documents.

Translation is batched across the whole batch: all paragraphs (and titles) of one language go
to the engine in a single call. A document whose translation is missing or failed is still
stored, with its originals and a status that says why.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from ingest.errors import StoreUnwritable
from ingest.models import (
    UNDETERMINED,
    Detected,
    Document,
    Translated,
    count_foreign,
    count_translated,
    language_neutral,
)
from ingest.translate.confidence import LOW_CONFIDENCE_SHARE, is_low, threshold_for
from ingest.translate.engine import ModelError, TranslationEngine, short_error
from ingest.translate.packages import NoPackageError

log = logging.getLogger(__name__)

Slot = tuple[int, int]  # (document index, paragraph index or -1 for the title)


@dataclass
class _BatchResults:
    """What the engine calls of one batch gave each document (by index)."""

    english: dict[int, list[str | None]]
    titles: dict[int, str | None]
    confidence: dict[int, list[float | None]]
    low: dict[int, list[bool]]
    title_confidence: dict[int, float | None] = field(default_factory=dict)
    title_low: dict[int, bool] = field(default_factory=dict)
    thresholds: dict[int, set[float]] = field(default_factory=lambda: defaultdict(set))
    packages: dict[int, set[str]] = field(default_factory=lambda: defaultdict(set))
    missing: dict[int, set[str]] = field(default_factory=lambda: defaultdict(set))
    failed: dict[int, set[str]] = field(default_factory=lambda: defaultdict(set))  # languages
    hits: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    sent: dict[int, int] = field(default_factory=lambda: defaultdict(int))


class DocumentTranslator:
    """Translates the documents of a batch and fingerprints which packages did it.

    The package chosen for each language is looked up once per batch (:meth:`new_batch`):
    packages may be installed between batches, not during one.
    """

    def __init__(
        self,
        engine: TranslationEngine,
        target_language: str,
        min_confidence: float | None = None,
    ) -> None:
        """Paragraphs translated with a confidence below the threshold of their package
        (``min_confidence`` for every package when given, see ``threshold_for``) are marked low."""
        self.engine = engine
        self.target = target_language
        self.min_confidence = min_confidence
        self._package_keys: dict[str, str | None] = {}  # per batch: language -> package key
        self._reported_errors: set[str] = set()  # translation errors already logged once

    def new_batch(self) -> None:
        """Forget the package choices: packages may be installed between batches."""
        self._package_keys = {}

    def translate(self, detected: dict[int, Detected]) -> dict[int, Document]:
        """Translate every non-English paragraph and title of the batch, one call per language."""
        target = self.target
        # language -> list of (doc index, slot) where slot is a paragraph index or -1 for the title
        wanted: dict[str, list[Slot]] = defaultdict(list)
        for index, doc in detected.items():
            for slot, lang in enumerate(doc.paragraph_languages):
                if lang not in (target, UNDETERMINED):
                    wanted[lang].append((index, slot))
            if doc.title and doc.title_language not in (None, target, UNDETERMINED):
                wanted[doc.title_language].append((index, -1))

        results = _BatchResults(
            english={
                i: [
                    p if lang == target or language_neutral(p, lang) else None
                    for p, lang in zip(d.paragraphs, d.paragraph_languages, strict=True)
                ]
                for i, d in detected.items()
            },
            titles={
                i: d.title if d.title_language in (None, target) else None
                for i, d in detected.items()
            },
            confidence={i: [None] * len(d.paragraphs) for i, d in detected.items()},
            low={i: [False] * len(d.paragraphs) for i, d in detected.items()},
        )
        for lang, slots in wanted.items():
            self._translate_language(lang, slots, detected, results)
        return {index: self._document(doc, index, results) for index, doc in detected.items()}

    def _translate_language(
        self, lang: str, slots: list[Slot], detected: dict[int, Detected], results: _BatchResults
    ) -> None:
        """One engine call for every text of the batch in ``lang``; results go into ``results``."""
        texts = [
            detected[i].title if slot < 0 else detected[i].paragraphs[slot] for i, slot in slots
        ]
        try:
            batch = self.engine.translate(lang, texts, to_code=self.target)
        except NoPackageError as error:
            for i, _ in slots:
                results.missing[i].add(str(error))
            return
        except StoreUnwritable:  # the translation memory cannot be written either
            raise
        except Exception as error:  # a broken model: store the originals, say why
            reason = self._translation_failed(lang, error)
            for i, _ in slots:
                results.missing[i].add(reason)
                results.failed[i].add(lang)
            return
        confidences = batch.confidence or [None] * len(batch.texts)
        package = self.engine.package_for(lang, self.target)
        threshold = threshold_for(package.min_confidence if package else None, self.min_confidence)
        for (i, slot), text, confidence in zip(slots, batch.texts, confidences, strict=True):
            low = is_low(confidence, threshold)
            if slot < 0:
                results.titles[i] = text
                results.title_confidence[i] = confidence
                results.title_low[i] = low
            else:
                results.english[i][slot] = text
                results.confidence[i][slot] = confidence
                results.low[i][slot] = low
            results.packages[i].add(batch.package_key)
            results.thresholds[i].add(threshold)
        # Memory hits and model sentences are per call; attribute them by share of texts.
        docs_in_call = {i for i, _ in slots}
        for i in docs_in_call:
            share = sum(1 for j, _ in slots if j == i) / len(slots)
            results.hits[i] += round(batch.memory_hits * share)
            results.sent[i] += round(batch.model_sentences * share)

    def _document(self, doc: Detected, index: int, results: _BatchResults) -> Document:
        """The stored form of one document: its translations and a status saying what is missing."""
        target = self.target
        english = results.english[index]
        foreign = count_foreign(doc.paragraphs, doc.paragraph_languages, target)
        done = count_translated(doc.paragraphs, doc.paragraph_languages, english, target)
        if foreign == 0:
            translation_status, status = "english", "ok"
        elif done == foreign:
            translation_status, status = "translated", "ok"
        else:
            reasons = sorted(results.missing[index])
            if any(
                lang == UNDETERMINED and text is None
                for text, lang in zip(english, doc.paragraph_languages, strict=True)
            ):
                reasons.append("paragraphs in an undetermined or unsupported language")
            status = "partial" if done else "untranslated"
            translation_status = f"{status}: {'; '.join(reasons)}"
        confidence = results.confidence[index]
        low = results.low[index]
        title_confidence = results.title_confidence.get(index)
        doubt = self._low_confidence_reason(doc, low, results.thresholds[index])
        if doubt is not None:
            # the English is there but mostly untrustworthy: say so before what is missing
            status = "low-confidence"
            translation_status = (
                f"{status}: {doubt}"
                if translation_status == "translated"
                else f"{status}: {doubt}; {translation_status}"
            )
        translated = Translated.extend(
            doc,
            english=english,
            title_english=results.titles[index],
            translator=",".join(sorted(results.packages[index])) or None,
            translation_fingerprint=self.fingerprint(
                [*doc.paragraph_languages, doc.title_language or target],
                failed=results.failed[index],
            ),
            translation_status=translation_status,
            memory_hits=results.hits[index],
            model_sentences=results.sent[index],
            paragraph_confidence=confidence,
            low_confidence=low,
            title_confidence=title_confidence,
            title_low_confidence=results.title_low.get(index, False),
        )
        return Document.extend(translated, status=status)

    def _low_confidence_reason(
        self, doc: Detected, low: list[bool], thresholds: set[float]
    ) -> str | None:
        """Why the document is low-confidence (its low-confidence paragraphs hold most of its
        foreign text, in characters), or None when it is not."""
        target = self.target
        foreign = [
            (len(text), flag)
            for text, lang, flag in zip(doc.paragraphs, doc.paragraph_languages, low, strict=True)
            if lang != target and not language_neutral(text, lang)
        ]
        total = sum(size for size, _ in foreign)
        doubtful = sum(size for size, flag in foreign if flag)
        if not total or doubtful / total <= LOW_CONFIDENCE_SHARE:
            return None
        paragraphs = sum(1 for _, flag in foreign if flag)
        below = "/".join(f"{t:g}" for t in sorted(thresholds))
        return (
            f"{paragraphs} of {len(foreign)} foreign paragraphs ({doubtful / total:.0%} of the "
            f"text) translated with confidence below {below}"
        )

    def _translation_failed(self, lang: str, error: Exception) -> str:
        """The short reason stored for documents whose translation failed; logged once per
        process (one line, not one traceback per batch), the details at debug level."""
        target = self.target
        reason = f"{lang}→{target} translation failed: {short_error(error)}"
        if reason not in self._reported_errors:
            self._reported_errors.add(reason)
            kind = "" if isinstance(error, ModelError) else f"{type(error).__name__}: "
            log.error("%s→%s translation failed: %s%s", lang, target, kind, short_error(error))
        log.debug("translating %s failed", lang, exc_info=error)
        return reason

    def fingerprint(self, languages: Iterable[str], failed: Iterable[str] = ()) -> str:
        """Which package would translate each language now: "ko:translate-ko_en@1.9,zh:none".

        A language in ``failed`` (its package's model broke) is recorded as "ko:failed", so the
        next run redoes the document instead of finding it unchanged."""
        target = self.target
        failed = set(failed)
        entries = []
        for lang in sorted(set(languages) - {target}):
            if lang in failed:
                entries.append(f"{lang}:failed")
                continue
            if lang not in self._package_keys:
                package = None if lang == UNDETERMINED else self.engine.package_for(lang, target)
                self._package_keys[lang] = package.key if package else None
            entries.append(f"{lang}:{self._package_keys[lang] or 'none'}")
        return ",".join(entries)

    def fingerprint_unchanged(self, stored_fingerprint: str | None) -> bool:
        """Whether the packages that would translate a stored document's languages now are the
        ones recorded in its fingerprint."""
        languages = [entry.split(":", 1)[0] for entry in (stored_fingerprint or "").split(",")]
        return stored_fingerprint == self.fingerprint(lang for lang in languages if lang)

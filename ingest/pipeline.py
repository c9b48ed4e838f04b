"""Stage composition for a batch of pages: extract → detect → translate → store.

No orchestration here (that is `flows/`): one call processes one batch and returns one
`Outcome` per input, whatever happens to each document. Translation is batched across the
whole batch: all paragraphs of one language go to the engine in a single call.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field

from ingest.config import Settings
from ingest.errors import StoreUnwritable
from ingest.extract import EXTRACTOR_VERSION, ExtractionError, extract, learn_site_boilerplate
from ingest.language import LanguageDetector, detect_document, get_detector
from ingest.models import (
    UNDETERMINED,
    Detected,
    Document,
    Extracted,
    Failure,
    RawPage,
    Translated,
    count_foreign,
    count_translated,
    language_neutral,
    web_site_of,
)
from ingest.store import Store
from ingest.translate import ModelError, NoPackageError, TranslationEngine
from ingest.translate.engine import short_error

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    """One row of a run summary."""

    url: str
    source: str
    status: str  # "ok", "partial", "untranslated", "failed", "unchanged"
    language: str | None = None
    title: str | None = None
    paragraphs: int = 0
    translated: int = 0  # paragraphs translated into English
    foreign: int = 0  # paragraphs not in English
    memory_hits: int = 0
    model_sentences: int = 0
    reason: str | None = None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class StageTimes:
    """Seconds spent per stage, summed over a run."""

    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    def add(self, stage: str, started: float) -> None:
        self.seconds[stage] += time.perf_counter() - started


class Pipeline:
    """Everything a worker process needs, built once: store, detector, translation engine."""

    TEMPLATE_MIN_PAGES = 3  # a site's template is learned once this many of its pages are stored
    TEMPLATE_SAMPLE = 50  # from its most recent pages

    def __init__(
        self,
        settings: Settings,
        *,
        store: Store | None = None,
        detector: LanguageDetector | None = None,
        engine: TranslationEngine | None = None,
        force: bool = False,
    ) -> None:
        self.settings = settings
        self.store = store or Store(settings.resolved_store_url())
        self.detector = detector or get_detector(settings.languages)
        self.engine = engine or TranslationEngine.from_settings(
            settings, memory=self.store.translation_memory()
        )
        self.force = force
        self.times = StageTimes()
        # provenance of the language decision: the model and the languages it may choose from
        languages = ",".join(sorted(settings.languages))
        digest = hashlib.sha256(languages.encode()).hexdigest()[:8]
        self.detector_name = f"{self.detector.name}+languages-{digest}"
        self._package_keys: dict[str, str | None] = {}  # per batch: language -> package key
        self._reported_errors: set[str] = set()  # translation errors already logged once

    # -- public --------------------------------------------------------------------------------

    def process(self, pages: Sequence[RawPage | Failure]) -> list[Outcome]:
        """Run one batch through every stage; store each document; never raise for one page.

        Any error that concerns one document (a bad record, a detector or store error) becomes
        that document's failure row; the rest of the batch goes on. `StoreUnwritable` (disk
        full, read-only store) concerns every document: it is raised, so the caller stops.
        """
        pages = [self._replay_unchanged(page) for page in pages]
        self._package_keys = {}  # packages may be installed between batches
        outcomes: dict[int, Outcome] = {}
        detected: dict[int, Detected] = {}
        # one query for the batch's unchanged / superseded checks, not one per page
        self.store.prefetch_versions([p.url for p in pages if isinstance(p, RawPage)])
        # site -> (its learned template, the extractor version that removes it), once per batch
        templates: dict[str, tuple[frozenset[str], str]] = {}
        for index, page in enumerate(pages):
            if isinstance(page, Failure):
                outcomes[index] = self._record_failure(page)
                continue
            stage = "extract"
            try:
                site = web_site_of(page.final_url or page.url)
                if site is not None and site not in templates:
                    lines = self.store.site_boilerplate(site)
                    templates[site] = (lines, extractor_version(lines))
                template, extractor = templates[site] if site else (frozenset(), EXTRACTOR_VERSION)
                if self._superseded(page):
                    outcomes[index] = Outcome(
                        page.url, page.source, "unchanged", reason="older than the stored copy"
                    )
                    continue
                if not self.force and self._unchanged(page, extractor):
                    outcomes[index] = Outcome(page.url, page.source, "unchanged")
                    continue
                extracted = self._extract(page, template, extractor)
                stage = "detect"
                detected[index] = self._detect(extracted)
            except ExtractionError as error:
                outcomes[index] = self._record_failure(_failure_of(page, "extract", error.reason))
            except StoreUnwritable:
                raise
            except Exception as error:  # a bug or bad record must cost one document, not a batch
                log.exception("%s failed on %s", stage, page.url)
                outcomes[index] = self._record_failure(
                    _failure_of(page, stage, f"error: {type(error).__name__}: {error}")
                )
        for index, document in self._translate(detected).items():
            try:
                outcomes[index] = self._store(document)
            except StoreUnwritable:
                raise
            except Exception as error:
                log.exception("storing %s failed", document.url)
                outcomes[index] = self._record_failure(
                    _failure_of(document, "store", f"error: {type(error).__name__}: {error}")
                )
        # only sites that stored something new can have a new template to learn
        stored_sites = {web_site_of(doc.final_url or doc.url) for doc in detected.values()}
        for site in stored_sites - {None}:
            try:
                self._learn_template(site)
            except StoreUnwritable:
                raise
            except Exception:  # learning is an optimisation: never fail a stored batch for it
                log.exception("learning the template of %s failed", site)
        return [outcomes[i] for i in range(len(pages))]

    def _replay_unchanged(self, page: RawPage | Failure) -> RawPage | Failure:
        """A 304 means "same as the copy we archived", not "already stored": replay that copy so
        the usual unchanged check decides (the store may lack it, or need it redone)."""
        if not (
            isinstance(page, Failure)
            and page.reason.startswith("unchanged")
            and page.archive_path is not None
            and page.archive_offset is not None
        ):
            return page
        from ingest.read import read_record

        try:
            copy = read_record(page.archive_path, page.archive_offset)
        except Exception as error:  # missing or unreadable copy: let the store decide below
            log.info("no archived copy for %s: %s", page.url, error)
            return page
        return copy.model_copy(update={"url": page.url, "source": page.source})

    # -- stages --------------------------------------------------------------------------------

    def _extract(self, page: RawPage, template: frozenset[str], extractor: str) -> Extracted:
        started = time.perf_counter()
        try:
            extracted = extract(
                page, site_boilerplate=template, max_bytes=self.settings.extract_max_bytes
            )
            return extracted.model_copy(update={"extractor": extractor})
        finally:
            self.times.add("extract", started)

    def _learn_template(self, site: str) -> None:
        """Lines recurring across the site's stored pages become its template (never forgotten:
        stored paragraphs no longer hold lines already learned)."""
        started = time.perf_counter()
        pages = self.store.site_paragraphs(site, limit=self.TEMPLATE_SAMPLE)
        if len(pages) >= self.TEMPLATE_MIN_PAGES:
            lines = learn_site_boilerplate(pages, min_pages=self.TEMPLATE_MIN_PAGES)
            if self.store.add_site_boilerplate(site, lines):
                log.info("learned %d template line(s) for %s", len(lines), site)
        self.times.add("extract", started)

    def _detect(self, extracted: Extracted) -> Detected:
        started = time.perf_counter()
        result = detect_document(
            extracted.paragraphs,
            extracted.title,
            detector=self.detector,
            hint=extracted.language_hint,
        )
        self.times.add("detect", started)
        return Detected.extend(
            extracted,
            language=result.language,
            language_confidence=result.confidence,
            paragraph_languages=[guess.language for guess in result.paragraphs],
            title_language=result.title.language if result.title else None,
            detector=self.detector_name,
        )

    def _translate(self, detected: dict[int, Detected]) -> dict[int, Document]:
        """Translate every non-English paragraph and title of the batch, one call per language."""
        started = time.perf_counter()
        target = self.settings.target_language
        # language -> list of (doc index, slot) where slot is a paragraph index or -1 for the title
        wanted: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for index, doc in detected.items():
            for slot, lang in enumerate(doc.paragraph_languages):
                if lang not in (target, UNDETERMINED):
                    wanted[lang].append((index, slot))
            if doc.title and doc.title_language not in (None, target, UNDETERMINED):
                wanted[doc.title_language].append((index, -1))

        english: dict[int, list[str | None]] = {
            i: [
                p if lang == target or language_neutral(p, lang) else None
                for p, lang in zip(d.paragraphs, d.paragraph_languages, strict=True)
            ]
            for i, d in detected.items()
        }
        titles: dict[int, str | None] = {
            i: d.title if d.title_language in (None, target) else None for i, d in detected.items()
        }
        packages: dict[int, set[str]] = defaultdict(set)
        missing: dict[int, set[str]] = defaultdict(set)
        failed: dict[int, set[str]] = defaultdict(set)  # languages whose model call failed
        hits: dict[int, int] = defaultdict(int)
        sent: dict[int, int] = defaultdict(int)
        for lang, slots in wanted.items():
            texts = [
                detected[i].title if slot < 0 else detected[i].paragraphs[slot] for i, slot in slots
            ]
            try:
                batch = self.engine.translate(lang, texts, to_code=target)
            except NoPackageError as error:
                for i, _ in slots:
                    missing[i].add(str(error))
                continue
            except StoreUnwritable:  # the translation memory cannot be written either
                raise
            except Exception as error:  # a broken model: store the originals, say why
                reason = self._translation_failed(lang, error)
                for i, _ in slots:
                    missing[i].add(reason)
                    failed[i].add(lang)
                continue
            for (i, slot), text in zip(slots, batch.texts, strict=True):
                if slot < 0:
                    titles[i] = text
                else:
                    english[i][slot] = text
                packages[i].add(batch.package_key)
            # Memory hits and model sentences are per call; attribute them by share of texts.
            docs_in_call = {i for i, _ in slots}
            for i in docs_in_call:
                share = sum(1 for j, _ in slots if j == i) / len(slots)
                hits[i] += round(batch.memory_hits * share)
                sent[i] += round(batch.model_sentences * share)
        self.times.add("translate", started)

        documents: dict[int, Document] = {}
        for index, doc in detected.items():
            foreign = count_foreign(doc.paragraphs, doc.paragraph_languages, target)
            done = count_translated(doc.paragraphs, doc.paragraph_languages, english[index], target)
            if foreign == 0:
                translation_status, status = "english", "ok"
            elif done == foreign:
                translation_status, status = "translated", "ok"
            else:
                reasons = sorted(missing[index])
                if any(
                    lang == UNDETERMINED and text is None
                    for text, lang in zip(english[index], doc.paragraph_languages, strict=True)
                ):
                    reasons.append("paragraphs in an undetermined or unsupported language")
                status = "partial" if done else "untranslated"
                translation_status = f"{status}: {'; '.join(reasons)}"
            translated = Translated.extend(
                doc,
                english=english[index],
                title_english=titles[index],
                translator=",".join(sorted(packages[index])) or None,
                translation_fingerprint=self._fingerprint(
                    [*doc.paragraph_languages, doc.title_language or target],
                    failed=failed[index],
                ),
                translation_status=translation_status,
                memory_hits=hits[index],
                model_sentences=sent[index],
            )
            documents[index] = Document.extend(translated, status=status)
        return documents

    def _translation_failed(self, lang: str, error: Exception) -> str:
        """The short reason stored for documents whose translation failed; logged once per
        process (one line, not one traceback per batch), the details at debug level."""
        target = self.settings.target_language
        reason = f"{lang}→{target} translation failed: {short_error(error)}"
        if reason not in self._reported_errors:
            self._reported_errors.add(reason)
            kind = "" if isinstance(error, ModelError) else f"{type(error).__name__}: "
            log.error("%s→%s translation failed: %s%s", lang, target, kind, short_error(error))
        log.debug("translating %s failed", lang, exc_info=error)
        return reason

    def _store(self, document: Document) -> Outcome:
        started = time.perf_counter()
        self.store.save_document(document)
        self.times.add("store", started)
        target = self.settings.target_language
        return Outcome(
            url=document.url,
            source=document.source,
            status=document.status,
            language=document.language,
            title=document.title_english or document.title,
            paragraphs=len(document.paragraphs),
            translated=document.translated_paragraphs(target),
            foreign=document.foreign_paragraphs(target),
            memory_hits=document.memory_hits,
            model_sentences=document.model_sentences,
            reason=None if document.status == "ok" else document.translation_status,
        )

    def _record_failure(self, failure: Failure) -> Outcome:
        if failure.reason.startswith("unchanged"):
            stored = self.store.stored_version(failure.url)
            if stored is not None and stored.status != "failed":
                return Outcome(failure.url, failure.source, "unchanged", reason=failure.reason)
            failure = failure.model_copy(
                update={
                    "reason": f"{failure.reason} but not stored and no archived copy: "
                    "run again with --force to refetch"
                }
            )
        try:
            self.store.save_failure(failure)
        except StoreUnwritable:
            raise
        except Exception as error:  # e.g. a URL the database refuses: still reported, not raised
            log.exception("recording the failure of %s failed", failure.url)
            failure = failure.model_copy(
                update={"reason": f"{failure.reason}; not stored: {type(error).__name__}"}
            )
        log.info("failed %s at %s: %s", failure.url, failure.stage, failure.reason)
        return Outcome(failure.url, failure.source, "failed", reason=failure.reason)

    def _superseded(self, page: RawPage) -> bool:
        """An archive may hold several copies of a URL (refetches, crawl revisits), and batches
        may finish in any order: an older copy never replaces a newer stored one."""
        stored = self.store.peek_version(page.url)
        return (
            stored is not None
            and stored.status != "failed"
            and stored.content_hash != page.content_hash
            and stored.fetched_after(page.fetched_at)
        )

    def _unchanged(self, page: RawPage, extractor: str) -> bool:
        """Stored from the same bytes, by the same extractor (and site template), detector and
        translation packages."""
        stored = self.store.stored_version(page.url)
        if stored is None or stored.status == "failed":
            return False
        if (stored.content_hash, stored.extractor, stored.detector) != (
            page.content_hash,
            extractor,
            self.detector_name,
        ):
            return False
        languages = [
            entry.split(":", 1)[0] for entry in (stored.translation_fingerprint or "").split(",")
        ]
        current = self._fingerprint(lang for lang in languages if lang)
        return stored.translation_fingerprint == current

    def _fingerprint(self, languages: Iterable[str], failed: Iterable[str] = ()) -> str:
        """Which package would translate each language now: "ko:translate-ko_en@1.9,zh:none".

        A language in ``failed`` (its package's model broke) is recorded as "ko:failed", so the
        next run redoes the document instead of finding it unchanged."""
        target = self.settings.target_language
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


def extractor_version(template: frozenset[str]) -> str:
    """The extractor's version, plus a digest of the site template it removed, if any: a
    template that grows makes the site's documents changed, so reprocessing redoes them."""
    if not template:
        return EXTRACTOR_VERSION
    digest = hashlib.sha256("\n".join(sorted(template)).encode("utf-8")).hexdigest()[:12]
    return f"{EXTRACTOR_VERSION}+site-{digest}"


def _failure_of(page: RawPage, stage: str, reason: str) -> Failure:
    return Failure(
        url=page.url,
        source=page.source,
        stage=stage,
        reason=reason,
        content_hash=page.content_hash,
        archive_path=page.archive_path,
        archive_offset=page.archive_offset,
    )

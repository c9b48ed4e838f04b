"""Stage composition for a batch of pages: extract → detect → translate → store.

No orchestration here (that is `flows/`): one call processes one batch and returns one
`Outcome` per input, whatever happens to each document. Per batch: pages a 304 said are
unchanged are replayed from the archive (`ingest.replay`), what the batch needs from the store
is read once (stored versions, site templates), then extract (`ingest.extract.Extractor`,
which records its own version) → detect (`ingest.language.detect_extracted`) → translate
(`ingest.translate.documents`, one engine call per language for the whole batch) → store.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from ingest.config import Settings
from ingest.errors import StoreUnwritable
from ingest.extract import ExtractionError, Extractor, learn_site_boilerplate
from ingest.language import LanguageDetector, detect_extracted, detector_provenance, get_detector
from ingest.models import Detected, Document, Extracted, Failure, RawPage, web_site_of
from ingest.replay import replay_unchanged
from ingest.store import Store
from ingest.translate import TranslationEngine
from ingest.translate.documents import DocumentTranslator

if TYPE_CHECKING:
    from ingest.store import StoredVersion

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    """One row of a run summary."""

    url: str
    source: str
    status: str  # "ok", "partial", "untranslated", "low-confidence", "failed", "unchanged"
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


@dataclass(frozen=True)
class Batch:
    """What one batch needs from the store, read once before any of its pages is extracted."""

    versions: Mapping[str, StoredVersion | None]  # url -> its stored version (None: not stored)
    extractor: Extractor  # with the learned templates of the batch's web sites


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
        self.translator = DocumentTranslator(
            self.engine, settings.target_language, settings.min_confidence
        )
        self.force = force
        self.times = StageTimes()
        # provenance of the language decision: the model and the languages it may choose from
        self.detector_name = detector_provenance(self.detector, settings.languages)

    # -- public --------------------------------------------------------------------------------

    def process(self, pages: Sequence[RawPage | Failure]) -> list[Outcome]:
        """Run one batch through every stage; store each document; never raise for one page.

        Any error that concerns one document (a bad record, a detector or store error) becomes
        that document's failure row; the rest of the batch goes on. `StoreUnwritable` (disk
        full, read-only store) concerns every document: it is raised, so the caller stops.
        """
        pages = [replay_unchanged(page) for page in pages]
        batch = self._load_batch(pages)
        outcomes, detected = self._extract_and_detect(pages, batch)
        for index, document in self._translate(detected).items():
            try:
                outcomes[index] = self._store(document)
            except StoreUnwritable:
                raise
            except Exception as error:
                log.exception("storing %s failed", document.url)
                outcomes[index] = self._record_failure(
                    _failure_of(document, "store", f"error: {type(error).__name__}: {error}"),
                    batch.versions,
                )
        # only sites that stored something new can have a new template to learn
        self._learn_templates({web_site_of(doc.final_url or doc.url) for doc in detected.values()})
        return [outcomes[i] for i in range(len(pages))]

    # -- stages --------------------------------------------------------------------------------

    def _load_batch(self, pages: Sequence[RawPage | Failure]) -> Batch:
        """One read of the store for the whole batch: stored versions (for the unchanged and
        superseded checks) and the templates of its web sites; package choices start afresh."""
        self.translator.new_batch()  # packages may be installed between batches
        urls = [
            page.url
            for page in pages
            if isinstance(page, RawPage) or page.reason.startswith("unchanged")
        ]
        urls = list(dict.fromkeys(urls))
        self.store.prefetch_versions(urls)
        versions = {url: self.store.stored_version(url) for url in urls}  # from the prefetch
        sites: set[str] = set()
        for page in pages:
            if isinstance(page, RawPage):
                try:
                    site = web_site_of(page.final_url or page.url)
                except Exception:  # a malformed URL: that page's extraction reports it
                    continue
                if site is not None:
                    sites.add(site)
        templates = {site: self.store.site_boilerplate(site) for site in sorted(sites)}
        extractor = Extractor(
            templates,
            max_bytes=self.settings.extract_max_bytes,
            include_comments=self.settings.include_comments,
        )
        return Batch(versions=versions, extractor=extractor)

    def _extract_and_detect(
        self, pages: Sequence[RawPage | Failure], batch: Batch
    ) -> tuple[dict[int, Outcome], dict[int, Detected]]:
        """Extract and detect each page that needs it; the others get their outcome now."""
        outcomes: dict[int, Outcome] = {}
        detected: dict[int, Detected] = {}
        for index, page in enumerate(pages):
            if isinstance(page, Failure):
                outcomes[index] = self._record_failure(page, batch.versions)
                continue
            stage = "extract"
            try:
                skipped = self._skip(page, batch)
                if skipped is not None:
                    outcomes[index] = skipped
                    continue
                extracted = self._extract(page, batch.extractor)
                stage = "detect"
                detected[index] = self._detect(extracted)
            except ExtractionError as error:
                outcomes[index] = self._record_failure(
                    _failure_of(page, "extract", error.reason), batch.versions
                )
            except StoreUnwritable:
                raise
            except Exception as error:  # a bug or bad record must cost one document, not a batch
                log.exception("%s failed on %s", stage, page.url)
                outcomes[index] = self._record_failure(
                    _failure_of(page, stage, f"error: {type(error).__name__}: {error}"),
                    batch.versions,
                )
        return outcomes, detected

    def _skip(self, page: RawPage, batch: Batch) -> Outcome | None:
        """The "unchanged" outcome of a page that needs no work, else None."""
        version = batch.extractor.version_of(page)
        stored = batch.versions.get(page.url)
        if self._superseded(page, stored):
            return Outcome(page.url, page.source, "unchanged", reason="older than the stored copy")
        if not self.force and self._unchanged(page, version, stored):
            return Outcome(page.url, page.source, "unchanged")
        return None

    def _extract(self, page: RawPage, extractor: Extractor) -> Extracted:
        started = time.perf_counter()
        try:
            return extractor.extract(page)
        finally:
            self.times.add("extract", started)

    def _learn_templates(self, sites: Iterable[str | None]) -> None:
        """Learn the template of each site that stored something; never fail a stored batch
        for it (learning is an optimisation)."""
        for site in set(sites) - {None}:
            try:
                self._learn_template(site)
            except StoreUnwritable:
                raise
            except Exception:
                log.exception("learning the template of %s failed", site)

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
        detected = detect_extracted(extracted, self.detector, provenance=self.detector_name)
        self.times.add("detect", started)
        return detected

    def _translate(self, detected: dict[int, Detected]) -> dict[int, Document]:
        started = time.perf_counter()
        documents = self.translator.translate(detected)
        self.times.add("translate", started)
        return documents

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

    def _record_failure(
        self, failure: Failure, versions: Mapping[str, StoredVersion | None]
    ) -> Outcome:
        if failure.reason.startswith("unchanged"):
            url = failure.url
            stored = versions[url] if url in versions else self.store.stored_version(url)
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

    @staticmethod
    def _superseded(page: RawPage, stored: StoredVersion | None) -> bool:
        """An archive may hold several copies of a URL (refetches, crawl revisits), and batches
        may finish in any order: an older copy never replaces a newer stored one."""
        return (
            stored is not None
            and stored.status != "failed"
            and stored.content_hash != page.content_hash
            and stored.fetched_after(page.fetched_at)
        )

    def _unchanged(self, page: RawPage, extractor: str, stored: StoredVersion | None) -> bool:
        """Stored from the same bytes, by the same extractor (and site template), detector and
        translation packages."""
        if stored is None or stored.status == "failed":
            return False
        if (stored.content_hash, stored.extractor, stored.detector) != (
            page.content_hash,
            extractor,
            self.detector_name,
        ):
            return False
        return self.translator.fingerprint_unchanged(stored.translation_fingerprint)


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

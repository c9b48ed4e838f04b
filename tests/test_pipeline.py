"""Pipeline: site templates are learned from stored pages and removed on reprocessing."""

from __future__ import annotations

from ingest.config import load_settings
from ingest.models import RawPage
from ingest.pipeline import Pipeline

TEMPLATE_LINE = (
    "The Harbour Ledger is an independent newspaper published every morning by Ledger Media "
    "Group in Busan."
)
STORIES = [
    "The city council approved a new budget for public libraries on Monday after a long debate "
    "about opening hours, staff numbers and the cost of new buildings in the eastern districts.",
    "Fishermen in the southern port reported their best anchovy season in a decade, crediting "
    "cooler water temperatures and new rules that limit trawling near the breeding grounds.",
    "A local startup unveiled a ferry powered by batteries that it says can cross the harbour "
    "forty times a day without charging, cutting fuel costs and noise for nearby residents.",
    "Organisers of the film festival said ticket sales rose by a third this year, with many "
    "screenings sold out and visitors arriving from Seoul, Osaka and Taipei for the opening.",
]


def page(i: int, story: str) -> RawPage:
    html = f"""<html><head><title>Story {i}</title></head><body>
    <article><h1>Story number {i} from the harbour</h1>
    <p>{story}</p>
    <p>{story.replace("a ", "one ").replace("the ", "this ")}</p>
    <p>{TEMPLATE_LINE}</p>
    </article></body></html>"""
    return RawPage(url=f"https://harbour-ledger.example/news/{i}", source="t", body=html.encode())


def test_site_template_is_learned_then_removed_on_reprocessing(home):
    settings = load_settings()
    pages = [page(i, story) for i, story in enumerate(STORIES)]
    pipeline = Pipeline(settings)
    first = pipeline.process(pages)
    assert {o.status for o in first} == {"ok"}
    store = pipeline.store
    stored = store.get_document(pages[0].url)
    assert TEMPLATE_LINE in [p["original"] for p in stored["paragraphs"]]
    assert stored["site"] == "harbour-ledger.example"
    assert store.site_boilerplate("harbour-ledger.example")  # learned from the 4 stored pages

    second = Pipeline(settings).process(pages)  # same bytes, but the site template changed
    assert {o.status for o in second} == {"ok"}
    for raw in pages:
        originals = [p["original"] for p in store.get_document(raw.url)["paragraphs"]]
        assert TEMPLATE_LINE not in originals
        assert len(originals) == 2  # the story paragraphs are all kept
    third = Pipeline(settings).process(pages)
    assert {o.status for o in third} == {"unchanged"}


def test_local_files_never_share_a_template(home, tmp_path):
    settings = load_settings()
    paths = []
    for i, story in enumerate(STORIES):
        path = tmp_path / f"{i}.html"
        path.write_bytes(page(i, story).body)
        paths.append(path)
    pages = [RawPage(url=p.resolve().as_uri(), source="t", body=p.read_bytes()) for p in paths]
    pipeline = Pipeline(settings)
    pipeline.process(pages)
    pipeline.process(pages)
    stored = pipeline.store.get_document(pages[0].url)
    assert TEMPLATE_LINE in [p["original"] for p in stored["paragraphs"]]
    assert stored["site"] is None


class FlakyDetector:
    """The real detector, except that it breaks on one text: fault injection, not a mock."""

    def __init__(self, real, poison: str) -> None:
        self.real, self.poison, self.name = real, poison, real.name

    def detect(self, text):
        if self.poison in text:
            raise RuntimeError("detector exploded")
        return self.real.detect(text)

    def detect_many(self, texts):
        return [self.detect(t) for t in texts]


def test_an_unexpected_error_costs_one_document_not_the_batch(home):
    from ingest.language import get_detector

    settings = load_settings()
    detector = FlakyDetector(get_detector(settings.languages), poison="anchovy")
    pages = [page(i, story) for i, story in enumerate(STORIES)]
    outcomes = Pipeline(settings, detector=detector).process(pages)
    assert [o.status for o in outcomes] == ["ok", "failed", "ok", "ok"]
    assert outcomes[1].reason == "error: RuntimeError: detector exploded"
    row = Pipeline(settings).store.get_document(pages[1].url)
    assert (row["status"], row["failed_stage"]) == ("failed", "detect")


def test_a_304_for_a_page_never_stored_replays_the_archived_copy(home, monkeypatch):
    """Fetched and archived, then the run died before storing: the next run gets 304s and
    must still store the pages, from the archive."""
    import functools
    import http.server
    import threading

    from conftest import SAMPLES, load_gold

    from ingest.fetch import MemoryValidators
    from ingest.inputs import load_targets, resolve_inputs

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(SAMPLES))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("INGEST_ALLOW_LOOPBACK", "true")
        monkeypatch.setenv("INGEST_PER_HOST_DELAY", "0")
        settings = load_settings()
        url = f"http://127.0.0.1:{server.server_port}/german-article.html"
        targets = resolve_inputs([url], settings).targets
        validators = MemoryValidators()  # one validator store for all the "runs" below
        first = load_targets(targets, settings, validators=validators)  # then "crash"
        assert first[0].http_status == 200
        again = load_targets(targets, settings, validators=validators)
        assert again[0].reason == "unchanged (304)" and again[0].archive_path
        outcome = Pipeline(settings).process(again)[0]
        assert outcome.status == "untranslated" and outcome.language == "de"
        expected = len(load_gold()["german-article.html"]["paragraphs"])
        assert Pipeline(settings).store.get_document(url)["paragraph_count"] == expected
        third = load_targets(targets, settings, validators=validators)
        assert Pipeline(settings).process(third)[0].status == "unchanged"
        forced = load_targets(targets, settings, force=True, validators=validators)
        assert forced[0].http_status == 200  # --force fetches unconditionally
    finally:
        server.shutdown()


def test_an_older_copy_of_a_url_never_replaces_a_newer_stored_one(home):
    from datetime import UTC, datetime

    settings = load_settings()
    newer = page(1, STORIES[1]).model_copy(update={"fetched_at": datetime(2024, 5, 2, tzinfo=UTC)})
    older = page(1, STORIES[2]).model_copy(update={"fetched_at": datetime(2024, 5, 1, tzinfo=UTC)})
    pipeline = Pipeline(settings)
    assert pipeline.process([newer])[0].status == "ok"
    for force in (False, True):
        outcome = Pipeline(settings, force=force).process([older])[0]
        assert (outcome.status, outcome.reason) == ("unchanged", "older than the stored copy")
    stored = pipeline.store.get_document(newer.url)
    assert stored["content_hash"] == newer.content_hash


def test_changing_the_configured_languages_redoes_documents(home, monkeypatch):
    settings = load_settings()
    pages = [page(0, STORIES[0])]
    assert Pipeline(settings).process(pages)[0].status == "ok"
    assert Pipeline(settings).process(pages)[0].status == "unchanged"
    monkeypatch.setenv("INGEST_LANGUAGES", '["en","ko","de"]')
    assert Pipeline(load_settings()).process(pages)[0].status == "ok"


def test_an_unchanged_batch_reads_the_store_once_whatever_its_size(home):
    """Stored versions and site templates are read once per batch, not once per page."""
    from sqlalchemy import event

    settings = load_settings()
    pages = [page(i, STORIES[i % len(STORIES)]) for i in range(8)]
    Pipeline(settings).process(pages)
    Pipeline(settings).process(pages)  # the template learned from the first pass is applied
    pipeline = Pipeline(settings)
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append(statement)

    event.listen(pipeline.store.engine, "before_cursor_execute", count)
    small = pipeline.process(pages[:2])
    small_reads = len(statements)
    statements.clear()
    large = pipeline.process(pages)
    assert {o.status for o in small + large} == {"unchanged"}
    assert small_reads > 0
    assert len(statements) == small_reads

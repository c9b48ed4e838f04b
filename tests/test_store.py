"""Store: schema, idempotent upserts, failures never erase good rows, translation memory, export.

Every test that takes ``store_url`` runs on SQLite and on PostgreSQL (see store_backends.py).
"""

from __future__ import annotations

import io
import json
import sqlite3
import threading

from ingest.models import Document, Failure
from ingest.store import Store, export_jsonl
from ingest.translate.confidence import Translation

pytest_plugins = ["store_backends"]  # the store_url fixture: SQLite and PostgreSQL


def make_document(url: str = "https://news.example/a", body: bytes = b"<html>a</html>", **over):
    fields = dict(
        url=url,
        source="test",
        body=body,
        paragraphs=["첫 문단이다.", "An English quote."],
        title="제목",
        extractor="ex-1",
        language="ko",
        language_confidence=0.98,
        paragraph_languages=["ko", "en"],
        detector="det-1",
        english=["It is the first paragraph.", "An English quote."],
        title_english="Title",
        translator="translate-ko_en@1.0",
        translation_fingerprint="ko:translate-ko_en@1.0",
        translation_status="translated",
        status="ok",
    )
    fields.update(over)
    return Document(**fields)


def test_schema_is_created_and_sqlite_uses_wal(tmp_path):
    db_path = tmp_path / "sub" / "ingest.db"
    store = Store(f"sqlite:///{db_path}")
    store.save_document(make_document())
    store.close()
    connection = sqlite3.connect(db_path)
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in connection.execute("select name from sqlite_master where type='table'")}
    assert {"documents", "paragraphs", "translation_memory"} <= tables


def test_closing_the_open_stores_folds_the_wal_into_the_file(tmp_path):
    """A command's end closes every store it opened (the CLI then skips Python's final garbage
    collection): the data is in ingest.db itself, not only in its WAL beside it."""
    from ingest.store.core import close_open_stores

    db_path = tmp_path / "ingest.db"
    store = Store(f"sqlite:///{db_path}")
    store.save_document(make_document())
    wal = db_path.with_name("ingest.db-wal")
    assert wal.exists() and wal.stat().st_size > 0  # written, not yet checkpointed
    close_open_stores()
    assert not wal.exists() or wal.stat().st_size == 0
    copy = tmp_path / "copy.db"
    copy.write_bytes(db_path.read_bytes())  # the file alone, as a user would copy it
    assert sqlite3.connect(copy).execute("select count(*) from documents").fetchone()[0] == 1
    close_open_stores()  # closing twice is harmless


def test_saving_twice_replaces_without_duplicating(store_url):
    store = Store(store_url)
    store.save_document(make_document())
    store.save_document(make_document(paragraphs=["둘째.", "x"], english=["Second.", "x"]))
    assert store.count_documents() == 1
    stored = store.get_document("https://news.example/a")
    assert [p["original"] for p in stored["paragraphs"]] == ["둘째.", "x"]
    assert [p["english"] for p in stored["paragraphs"]] == ["Second.", "x"]


def test_paragraphs_stay_aligned_and_untranslated_is_none(store_url):
    store = Store(store_url)
    store.save_document(
        make_document(
            english=[None, "An English quote."],
            status="partial",
            translation_status="partial: no ko→en package (run: ingest models install ko)",
        )
    )
    stored = store.get_document("https://news.example/a")
    first = {
        "language": "ko",
        "original": "첫 문단이다.",
        "english": None,
        "confidence": None,
        "low_confidence": None,
        "kind": "body",
    }
    assert stored["paragraphs"][0] == first
    assert stored["status"] == "partial"
    assert "ingest models install ko" in stored["reason"]
    assert stored["translated_count"] == 0


def test_failure_never_erases_a_good_document(store_url):
    store = Store(store_url)
    store.save_document(make_document())
    store.save_failure(
        Failure(url="https://news.example/a", source="t", stage="fetch", reason="HTTP 503")
    )
    stored = store.get_document("https://news.example/a")
    assert stored["status"] == "ok"
    assert len(stored["paragraphs"]) == 2
    assert "HTTP 503" in stored["reason"]


def test_failure_row_is_recorded_then_replaced_by_success(store_url):
    store = Store(store_url)
    store.save_failure(
        Failure(url="https://news.example/b", source="t", stage="extract", reason="no main text")
    )
    failed = store.get_document("https://news.example/b")
    assert (failed["status"], failed["failed_stage"], failed["reason"]) == (
        "failed",
        "extract",
        "no main text",
    )
    store.save_document(make_document(url="https://news.example/b"))
    again = store.get_document("https://news.example/b")
    assert again["status"] == "ok" and again["failed_stage"] is None and again["reason"] is None


def test_stored_version_reflects_provenance(store_url):
    store = Store(store_url)
    document = make_document()
    store.save_document(document)
    version = store.stored_version(document.url)
    assert version.content_hash == document.content_hash
    assert (version.extractor, version.detector) == ("ex-1", "det-1")
    assert version.translation_fingerprint == "ko:translate-ko_en@1.0"
    assert store.stored_version("https://nowhere.example/") is None


def test_translation_memory_round_trip_and_package_isolation(store_url):
    store = Store(store_url)
    memory = store.translation_memory()
    memory.remember(
        "translate-ko_en@1.0",
        {"안녕하세요.": Translation("Hello.", 0.93), "감사합니다.": "Thank you."},
    )
    memory.remember("translate-ko_en@1.0", {"안녕하세요.": "Hello."})  # no duplicate error
    assert memory.lookup("translate-ko_en@1.0", ["안녕하세요.", "감사합니다.", "모르는 문장."]) == {
        "안녕하세요.": Translation("Hello.", 0.93),  # the model's confidence is kept
        "감사합니다.": Translation("Thank you.", None),  # remembered without one: unknown
    }
    # a new package version must not reuse old translations
    assert memory.lookup("translate-ko_en@1.1", ["안녕하세요."]) == {}
    assert memory.size("translate-ko_en@1.0") == 2


def test_translation_memory_handles_large_batches(store_url):
    memory = Store(store_url).translation_memory()
    pairs = {f"문장 {i}.": f"Sentence {i}." for i in range(2500)}
    memory.remember("p@1", pairs)
    found = memory.lookup("p@1", list(pairs))
    assert {source: found[source].english for source in found} == pairs


def test_concurrent_writers_do_not_lose_documents(store_url):
    url = store_url
    Store(url)  # create the schema once

    def writer(offset: int) -> None:
        store = Store(url)
        for i in range(20):
            store.save_document(make_document(url=f"https://news.example/{offset + i}"))

    threads = [threading.Thread(target=writer, args=(k * 100,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert Store(url).count_documents() == 60


def test_export_jsonl_has_aligned_text_and_provenance(store_url):
    store = Store(store_url)
    store.save_document(make_document())
    store.save_failure(Failure(url="file:///x.bin", source="x", stage="extract", reason="binary"))
    out = io.StringIO()
    assert export_jsonl(store, out) == 2
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    by_url = {line["url"]: line for line in lines}
    good = by_url["https://news.example/a"]
    assert good["text_english"] == "It is the first paragraph.\nAn English quote."
    assert good["text_original"] == "첫 문단이다.\nAn English quote."
    assert good["provenance"]["translator"] == "translate-ko_en@1.0"
    assert good["language"] == "ko" and good["title_english"] == "Title"
    assert by_url["file:///x.bin"]["status"] == "failed"
    only_failed = io.StringIO()
    assert export_jsonl(store, only_failed, status="failed") == 1


def test_fetch_validators_are_upserted_and_shared_by_every_store_instance(store_url):
    first, second = Store(store_url), Store(store_url)  # e.g. two machines on one database
    validators = first.fetch_validators
    assert validators.get("https://news.example/a") is None
    validators.put("https://news.example/a", '"v1"', None)
    assert second.fetch_validators.get("https://news.example/a") == ('"v1"', None)
    modified = "Wed, 02 Dec 2026 05:00:00 GMT"
    second.fetch_validators.put("https://news.example/a", '"v2"', modified)  # replaces
    assert first.fetch_validators.get("https://news.example/a") == ('"v2"', modified)
    validators.put("https://news.example/b", None, modified)
    assert validators.get("https://news.example/b") == (None, modified)
    validators.put("https://news.example/a", None, None)  # nothing left to revalidate with
    assert validators.get("https://news.example/a") is None
    assert validators.get("https://news.example/b") == (None, modified)


def test_fetch_validators_remember_the_archived_copy_a_304_refers_to(store_url):
    from ingest.fetch.validators import ArchivedCopies, ArchivedCopy

    first, second = Store(store_url), Store(store_url)
    validators = first.fetch_validators
    assert isinstance(validators, ArchivedCopies)  # what the Fetcher checks for
    copy = ArchivedCopy("sha256:abc", "/data/archive/ingest-1.warc.gz", 1234)
    validators.put_copy("https://news.example/a", copy)  # no validators yet: nothing kept
    assert validators.copy_of("https://news.example/a") is None
    validators.put("https://news.example/a", '"v1"', None)
    validators.put_copy("https://news.example/a", copy)
    assert second.fetch_validators.copy_of("https://news.example/a") == copy
    validators.put("https://news.example/a", '"v2"', None)  # new validators, same row
    newer = ArchivedCopy("sha256:def", "/data/archive/ingest-2.warc.gz", 99)
    second.fetch_validators.put_copy("https://news.example/a", newer)
    assert first.fetch_validators.copy_of("https://news.example/a") == newer
    validators.put_copy("https://news.example/a", None)
    assert validators.copy_of("https://news.example/a") is None
    assert validators.get("https://news.example/a") == ('"v2"', None)


def test_a_store_from_before_fetch_validators_opens_read_only_and_gains_the_table(tmp_path):
    url = f"sqlite:///{tmp_path / 'older.db'}"
    Store(url).save_document(make_document())
    with sqlite3.connect(tmp_path / "older.db") as connection:  # as an older version left it
        connection.execute("DROP TABLE fetch_validators")
    assert Store(url, read_only=True).count_documents() == 1
    with sqlite3.connect(tmp_path / "older.db") as connection:
        tables = {r[0] for r in connection.execute("SELECT name FROM sqlite_master")}
    assert "fetch_validators" not in tables  # reading wrote nothing
    writable = Store(url)
    writable.fetch_validators.put("https://news.example/a", '"v1"', None)
    assert writable.fetch_validators.get("https://news.example/a") == ('"v1"', None)

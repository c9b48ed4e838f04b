"""Concurrent writer processes on one store (SQLite and PostgreSQL): nothing lost or duplicated.

PostgreSQL writers lock per document, not the whole store; SQLite keeps one writer at a time.
Each writer is a real process (multiprocessing, spawn) with its own ``Store``.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from typing import Any

from ingest.models import Document
from ingest.store import Store
from ingest.store.documents import document_lock
from ingest.store.transactions import write_transaction

pytest_plugins = ["store_backends"]  # the store_url fixture: SQLite and PostgreSQL

WRITERS = 4
SHARED = 12  # URLs every writer stores (the same URL from several writers at once)
OWN = 12  # URLs only one writer stores
COPIES = 1  # copies of one syndicated story each writer stores, all at once, under its own URL
PARAGRAPHS = 5
# Capitalised names are the features ingest.dedup compares: every copy is the same story.
STORY = (
    "Seoul Busan Incheon Daegu Gwangju Daejeon Ulsan Suwon Changwon Goyang Yongin "
    "Samsung Hyundai Kia Posco 2024 1998"
)


def shared_url(i: int) -> str:
    return f"https://shared.example/{i}"


def own_url(writer: int, i: int) -> str:
    return f"https://own.example/{writer}/{i}"


def story_url(writer: int, copy: int) -> str:
    return f"https://story.example/{writer}/{copy}"


def document(url: str, writer: int, english_body: str | None = None) -> Document:
    """A document whose every paragraph names its writer (to check none are mixed)."""
    originals = [f"writer {writer} paragraph {p} of {url}" for p in range(PARAGRAPHS)]
    english = [english_body or text for text in originals]
    return Document(
        url=url,
        source="test",
        body=b"<html></html>",
        paragraphs=originals,
        paragraph_languages=["en"] * PARAGRAPHS,
        english=english,
        title=f"title by writer {writer}",
        language="en",
        language_confidence=1.0,
        extractor="test-extractor",
        detector="test-detector",
        status="ok",
        translation_status="english",
    )


def write(store_url: str, writer: int, start: Any, errors: Any) -> None:
    """One writer process: wait for the others, then store shared, own and story documents."""
    try:
        store = Store(store_url)
        start.wait(timeout=120)
        for i in range(max(SHARED, OWN, COPIES)):
            if i < COPIES:  # first: all writers group their copies at the same moment
                body = f"{STORY} Copy{writer}x{i}"
                store.save_document(document(story_url(writer, i), writer, body))
            if i < SHARED:
                store.save_document(document(shared_url(i), writer))
            if i < OWN:
                store.save_document(document(own_url(writer, i), writer))
        store.close()
    except BaseException as error:  # noqa: BLE001 - reported to the test, which fails on it
        errors.put(f"writer {writer}: {type(error).__name__}: {error}")


def test_concurrent_writer_processes_store_everything_exactly_once(store_url):
    Store(store_url).close()  # the schema, created once before the writers start
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(WRITERS)
    errors = context.Queue()
    writers = [
        context.Process(target=write, args=(store_url, k, start, errors)) for k in range(WRITERS)
    ]
    for process in writers:
        process.start()
    for process in writers:
        process.join(timeout=300)
    reported = []
    while not errors.empty():
        reported.append(errors.get())
    assert reported == []  # no deadlock, no unique-constraint error, nothing else
    assert [p.exitcode for p in writers] == [0] * WRITERS

    store = Store(store_url, read_only=True)
    stored = {d["url"]: d for d in store.iter_documents()}
    expected = {shared_url(i) for i in range(SHARED)}
    expected |= {own_url(k, i) for k in range(WRITERS) for i in range(OWN)}
    expected |= {story_url(k, c) for k in range(WRITERS) for c in range(COPIES)}
    assert set(stored) == expected
    assert store.count_documents() == len(expected)  # each URL exactly once
    for url, row in stored.items():
        texts = [p["original"] for p in row["paragraphs"]]
        writer = int(row["title"].rsplit(" ", 1)[1])
        # complete, in order, and all from the writer whose row won (never a mix)
        assert texts == [f"writer {writer} paragraph {p} of {url}" for p in range(PARAGRAPHS)]
        assert row["paragraph_count"] == PARAGRAPHS
    # every copy of the story, saved concurrently by different writers, is in one group
    story = sorted(story_url(k, c) for k in range(WRITERS) for c in range(COPIES))
    assert store.near_duplicate_groups() == [story]
    assert store.search("Posco")  # the search index has the story too
    assert {hit.url for hit in store.search("Posco", limit=100)} == set(story)


def test_postgresql_writers_of_other_documents_do_not_wait(postgres_url):
    """The lock is the document's: a writer holding one URL blocks that URL only."""
    store = Store(postgres_url)
    held = "https://held.example/"
    done: dict[str, float] = {}

    def save(url: str) -> None:
        Store(postgres_url).save_document(document(url, 1))
        done[url] = time.monotonic()

    with write_transaction(store.engine, document_lock(held)):
        other = threading.Thread(target=save, args=("https://other.example/",))
        same = threading.Thread(target=save, args=(held,))
        other.start()
        same.start()
        other.join(timeout=30)
        assert "https://other.example/" in done  # stored while the lock is held
        time.sleep(1.0)
        assert held not in done  # the same URL waits for the lock
        released = time.monotonic()
    same.join(timeout=30)
    assert done[held] >= released
    assert store.count_documents() == 2

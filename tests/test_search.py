"""Full-text search over English text (SQLite FTS5 / PostgreSQL tsvector), the `ingest search`
command, and Parquet export — on both backends."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ingest.models import Document
from ingest.store import Store, export_jsonl, export_parquet, fts5_query

pytest_plugins = ["store_backends"]  # the store_url fixture: SQLite and PostgreSQL

ROOT = Path(__file__).resolve().parent.parent


def document(url: str, title: str, english: list[str | None], language: str = "en", **over):
    originals = over.pop("paragraphs", None) or [e or "원문" for e in english]
    fields = dict(
        url=url,
        source="test",
        body=url.encode(),
        paragraphs=originals,
        title=title,
        extractor="ex",
        language=language,
        language_confidence=0.9,
        paragraph_languages=[language] * len(english),
        detector="det",
        english=english,
        title_english=title,
        translation_status="english" if language == "en" else "translated",
        status="ok",
    )
    fields.update(over)
    return Document(**fields)


@pytest.fixture
def filled(store_url) -> Store:
    store = Store(store_url)
    store.save_document(
        document(
            "https://ko.example/1",
            "Blinken meets Yang Jiechi in Alaska",
            [
                "The two sides held elections talks in Anchorage.",
                "Officials described the meeting as frank.",
            ],
            language="ko",
            paragraphs=["양측은 앵커리지에서 회담을 열었다.", "관리들은 회담이 솔직했다고 말했다."],
        )
    )
    store.save_document(
        document(
            "https://en.example/2",
            "Heatwave warning for the coast",
            ["Temperatures will climb above 40 degrees, forecasters said."],
        )
    )
    store.save_document(
        document(
            "https://en.example/3",
            "Markets rally",
            ["Oil prices eased; markets in Asia rallied after the election."],
        )
    )
    store.save_document(
        document(
            "https://ko.example/4",
            "제목",
            [None],
            language="ko",
            paragraphs=["번역되지 않은 문단."],
            title_english=None,
            status="untranslated",
            translation_status="untranslated: no ko→en package",
        )
    )
    return store


def urls(hits) -> list[str]:
    return [hit.url for hit in hits]


def test_search_finds_translated_text_with_english_stemming(filled):
    hits = filled.search("election")
    # "elections" (translated Korean) and "election" (English) both match the stem
    assert set(urls(hits)) == {"https://ko.example/1", "https://en.example/3"}
    assert all("[" in hit.snippet and "]" in hit.snippet for hit in hits)
    assert filled.search("frank meeting")[0].url == "https://ko.example/1"
    assert filled.search("앵커리지에서") == []  # originals are not indexed: English only


def test_title_matches_rank_first_and_all_words_must_match(filled):
    filled.save_document(
        document(
            "https://en.example/5",
            "Weekend roundup",
            ["A long piece that mentions Alaska once among many other words about travel."],
        )
    )
    hits = filled.search("Alaska")
    assert urls(hits)[0] == "https://ko.example/1"  # in the title
    assert set(urls(hits)) == {"https://ko.example/1", "https://en.example/5"}
    assert urls(filled.search("Alaska heatwave")) == []
    assert hits[0].score >= hits[1].score


def test_phrases_or_and_exclusion(filled):
    assert urls(filled.search('"oil prices"')) == ["https://en.example/3"]
    assert urls(filled.search('"prices oil"')) == []
    assert set(urls(filled.search("heatwave OR rally"))) == {
        "https://en.example/2",
        "https://en.example/3",
    }
    assert urls(filled.search("election -markets")) == ["https://ko.example/1"]


def test_punctuation_never_breaks_a_query(filled):
    for query in ['"', "AND", "(", "NOT", "a*b", "-", "'; DROP TABLE documents; --", "NEAR("]:
        filled.search(query)  # no syntax error on either backend
    assert filled.count_documents() == 4
    assert filled.search("   ") == []


def test_replacing_a_document_replaces_its_search_entry(filled):
    filled.save_document(
        document("https://en.example/2", "Cold snap", ["Snow is expected tonight."])
    )
    assert filled.search("heatwave") == []
    assert urls(filled.search("snow")) == ["https://en.example/2"]
    filled.save_document(
        document("https://en.example/2", "Cold snap", ["Snow is expected tonight."])
    )
    assert urls(filled.search("snow")) == ["https://en.example/2"]  # one entry, not two


def test_fts5_query_quotes_every_term():
    assert fts5_query("oil prices") == '"oil" AND "prices"'
    assert fts5_query('"oil prices" OR gas -coal') == '("oil prices" OR "gas") NOT "coal"'
    assert fts5_query("-only") == ""
    assert fts5_query('NEAR("x"') == '"NEAR x"'  # one token: its words as a phrase


def test_search_command(filled, store_url):
    env = {**os.environ, "INGEST_STORE_URL": store_url, "COLUMNS": "200"}
    found = subprocess.run(
        [sys.executable, "-m", "ingest.cli.main", "search", "elections", "--json"],
        env=env,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert found.returncode == 0, found.stderr[-2000:]
    rows = [json.loads(line) for line in found.stdout.splitlines()]
    assert {row["url"] for row in rows} == {"https://ko.example/1", "https://en.example/3"}
    missing = subprocess.run(
        [sys.executable, "-m", "ingest.cli.main", "search", "zebra"],
        env=env,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert missing.returncode == 1 and "no match" in missing.stderr
    missing_json = subprocess.run(
        [sys.executable, "-m", "ingest.cli.main", "search", "zebra", "--json"],
        env=env,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert missing_json.returncode == 1, missing_json.stderr[-2000:]
    assert missing_json.stdout == "" and "no match" in missing_json.stderr


def test_parquet_export_matches_jsonl(filled, tmp_path):
    import io

    import pyarrow.parquet as pq

    path = tmp_path / "out.parquet"
    assert export_parquet(filled, path, row_group_size=3) == 4
    table = pq.read_table(path)
    assert table.num_rows == 4
    assert pq.ParquetFile(path).metadata.num_row_groups == 2  # written in groups, not at once
    from_parquet = {row["url"]: row for row in table.to_pylist()}
    buffer = io.StringIO()
    export_jsonl(filled, buffer)
    from_jsonl = {row["url"]: row for row in map(json.loads, buffer.getvalue().splitlines())}
    assert from_parquet.keys() == from_jsonl.keys()
    for url, row in from_jsonl.items():
        parquet_row = from_parquet[url]
        for key in ("title_english", "language", "status", "text_english", "text_original"):
            assert parquet_row[key] == row[key]
        assert parquet_row["paragraphs"] == row["paragraphs"]
        assert parquet_row["provenance"] == row["provenance"]
        assert parquet_row["processed_at"].isoformat()[:19] == row["processed_at"][:19]
    assert from_parquet["https://ko.example/4"]["paragraphs"][0]["english"] is None
    only_ok = tmp_path / "ok.parquet"
    assert export_parquet(filled, only_ok, status="ok") == 3
